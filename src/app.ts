import { Hono } from "hono";
import type { Server } from "bun";
import type { PgBoss } from "pg-boss";
import type { Config } from "./infra/config";
import type { Logger } from "./infra/log";
import { safeUrl } from "./infra/log";
import { EmbeddedPostgres } from "./infra/embedded-postgres";
import { openDatabase, runMigrations, type Database } from "./infra/database";
import { errorHandler, notFound, requestLog } from "./infra/http";
import { startJobQueue, JOB_STOP_TIMEOUT_MS } from "../jobs/boss";
import { createStreams, scheduleStreamJobs, type Streams } from "./streams";
import { SubscriptionManager } from "./streams/subscriptions";
import { subscriptionHost } from "./streams/subscription-host";

/** What start-up has finished; `/healthz` answers 200 only when all are true. */
export interface Readiness {
  database: boolean;
  migrations: boolean;
  jobs: boolean;
  shuttingDown: boolean;
}

/** A running service. */
export interface Service {
  url: string;
  port: number;
  readiness: Readiness;
  database: Database;
  stop(): Promise<void>;
}

/**
 * Starts the whole service: HTTP first (so `/healthz` can say what is not ready yet), then the
 * database (embedded unless DATABASE_URL is set), migrations under an advisory lock, and pg-boss.
 *
 * @example
 * const service = await startService({ config: loadConfig(process.env), log });
 * await service.stop();
 */
export async function startService(options: { config: Config; log: Logger }): Promise<Service> {
  const { config, log } = options;
  const readiness: Readiness = { database: false, migrations: false, jobs: false, shuttingDown: false };

  const app = new Hono();
  app.use(requestLog(log.child({ component: "http" })));
  app.onError(errorHandler(log));
  app.notFound(notFound);
  app.get("/healthz", (c) => {
    const waiting = (["database", "migrations", "jobs"] as const).filter((part) => !readiness[part]);
    if (readiness.shuttingDown) return c.json({ ok: false, error: { code: "shutting_down", message: "The service is shutting down." } }, 503);
    if (waiting.length > 0) {
      return c.json({ ok: false, notReady: waiting, error: { code: "not_ready", message: `Not ready yet: ${waiting.join(", ")}.` } }, 503);
    }
    return c.json({ ok: true });
  });

  let streams: Streams | undefined;
  let subscriptions: SubscriptionManager | undefined;
  app.all("/v1/stream/*", async (c) => {
    if (!streams) return Response.json({ error: { code: "not_ready", message: "The service is starting." } }, { status: 503 });
    return streams.http.handle(c.req.raw);
  });

  const server: Server<unknown> = Bun.serve({
    port: config.port,
    hostname: config.host,
    fetch: app.fetch,
    // Long-polls and SSE keep connections open; they send or finish well within this.
    idleTimeout: 120,
    maxRequestBodySize: 64 * 1024 * 1024,
  });
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  log.info("listening", { url, port: server.port, role: config.role });

  let embedded: EmbeddedPostgres | undefined;
  let database: Database | undefined;
  let boss: PgBoss | undefined;

  const stop = async () => {
    if (readiness.shuttingDown) return;
    readiness.shuttingDown = true;
    log.info("shutting down");
    // 1. Stop taking work: no new HTTP connections, no new jobs fetched; running jobs finish.
    const httpStopped = server.stop(false);
    subscriptions?.close();
    if (boss) await boss.stop({ graceful: true, timeout: JOB_STOP_TIMEOUT_MS }).catch((error) => log.warn("job queue stop failed", { error }));
    // 2. Close whatever connections are still open (long-polls, sockets).
    await Promise.race([httpStopped, Bun.sleep(2_000)]);
    await server.stop(true);
    // 3. Then the database.
    if (database) await database.close().catch((error) => log.warn("database close failed", { error }));
    if (embedded) await embedded.stop();
    log.info("stopped");
  };

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      embedded = new EmbeddedPostgres({ dataDir: config.dataDir, log: log.child({ component: "embedded-postgres" }) });
      databaseUrl = await embedded.start();
    } else {
      log.info("using external postgres", { url: safeUrl(databaseUrl) });
    }
    database = await openDatabase({ url: databaseUrl, log });
    readiness.database = true;
    await runMigrations({ url: databaseUrl, log });
    readiness.migrations = true;
    boss = await startJobQueue({ url: databaseUrl, log: log.child({ component: "jobs" }), schedule: config.role !== "web" });
    streams = await createStreams({
      database,
      log,
      longPollTimeoutMs: config.longPollTimeoutMs,
      auth: { required: config.streamsAuth, apiToken: config.apiToken },
      reserved: ({ store, writer }) => (subscriptions = new SubscriptionManager({ host: subscriptionHost(store, writer), log: log.child({ component: "subscriptions" }) })),
    });
    if (config.role !== "web") await scheduleStreamJobs(boss, streams, log);
    readiness.jobs = true;
    log.info("ready", { url });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  return { url, port: server.port!, readiness, database, stop };
}
