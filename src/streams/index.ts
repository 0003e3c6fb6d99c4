import type { PgBoss } from "pg-boss";
import type { Database } from "../infra/database";
import type { Logger } from "../infra/log";
import { QUEUES } from "../../jobs/queues";
import { APPEND_CHANNEL, StreamHub } from "./hub";
import { StreamStore } from "./store";
import { AppendWriter } from "./writer";
import { StreamsHttp, STREAM_PREFIX, type ReservedApis } from "./http";

/** How often expired streams are reclaimed in the background (expiry is also enforced on every access). */
export const RECLAIM_CRON = "* * * * *";

export interface Streams {
  hub: StreamHub;
  store: StreamStore;
  writer: AppendWriter;
  http: StreamsHttp;
}

/**
 * Wires the Durable Streams feature: hub on the LISTEN connection, store, group-commit writer and
 * the HTTP handler.
 */
export async function createStreams(options: {
  database: Database;
  log: Logger;
  longPollTimeoutMs: number;
  /** Refuses requests that may not touch a path (undefined = open, STREAMS_AUTH=off). */
  authorize?: (request: Request, path: string) => Promise<Response | { teamId: string | null }>;
  reserved?: (host: { store: StreamStore; writer: AppendWriter }) => ReservedApis & { onAppend(path: string): void; onDelete(path: string): void };
}): Promise<Streams> {
  const log = options.log.child({ component: "streams" });
  const hub = new StreamHub({ log });
  const appendNotify = async (payload: string) => {
    await options.database.sql`select pg_notify(${APPEND_CHANNEL}, ${payload})`;
  };
  await hub.attach(options.database.listener, appendNotify);
  const store = new StreamStore({ sql: options.database.sql, hub, log });
  const writer = new AppendWriter({ sql: options.database.appendSql, hub, log });
  writer.onExpired = (path) => void store.reclaim(path).catch((error) => log.warn("reclaim failed", { path, error }));

  const reserved = options.reserved?.({ store, writer });
  if (reserved) {
    const rootRelative = (path: string) => path.slice(STREAM_PREFIX.length);
    writer.onAppended = (path) => {
      if (!path.startsWith(`${STREAM_PREFIX}__ds/`)) reserved.onAppend(rootRelative(path));
    };
    store.onDelete = (path) => reserved.onDelete(rootRelative(path));
  }

  const http = new StreamsHttp({
    store,
    writer,
    hub,
    log,
    longPollTimeoutMs: options.longPollTimeoutMs,
    reserved,
    authorize: options.authorize,
  });
  return { hub, store, writer, http };
}

/** Registers the scheduled reclaim of expired streams. */
export async function scheduleStreamJobs(boss: PgBoss, streams: Streams, log: Logger): Promise<void> {
  await boss.work(QUEUES.streamsReclaim.name, async () => {
    await streams.store.reclaimExpired();
  });
  await boss.schedule(QUEUES.streamsReclaim.name, RECLAIM_CRON);
  log.debug("stream reclaim scheduled", { cron: RECLAIM_CRON });
}
