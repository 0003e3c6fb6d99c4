import { test, expect, afterAll } from "bun:test";
import postgres from "postgres";
import { openDatabase, type Database } from "../src/infra/database";
import { createLogger } from "../src/infra/log";
import { createStreams } from "../src/streams";
import { APPEND_CHANNEL, StreamHub } from "../src/streams/hub";
import { jsonAppend } from "../src/streams/json-append";
import { StreamStore } from "../src/streams/store";
import { AppendWriter } from "../src/streams/writer";
import { freshDatabase } from "./support/postgres";

// A process alone on its database NOTIFYs none of its appends (its own readers are woken in
// process); hubs find each other by a hello/here handshake on the append channel. These tests use
// two processes' worth of parts (each its own connections and LISTEN connection) on one real database,
// and a plain LISTEN connection that watches what is sent.

const log = createLogger({ level: "error" });
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
}, 60_000);

/** Everything NOTIFYed on the append channel, and a barrier: NOTIFYs arrive in commit order, so once the barrier's arrives every earlier one has. */
async function watchChannel(url: string) {
  const raw = postgres(url, { max: 1, onnotice: () => {} });
  closers.push(() => raw.end({ timeout: 2 }));
  const seen: string[] = [];
  const barriers = new Map<string, () => void>();
  await raw.listen(APPEND_CHANNEL, (payload) => seen.push(payload));
  await raw.listen("test_barrier", (payload) => barriers.get(payload)?.());
  let n = 0;
  return {
    seen,
    async barrier() {
      const tag = `b${n++}`;
      const arrived = new Promise<void>((resolve) => barriers.set(tag, resolve));
      await raw`select pg_notify('test_barrier', ${tag})`;
      await arrived;
    },
  };
}

/** One process's streams parts, its hub not yet listening. */
async function processParts(url: string) {
  const database: Database = await openDatabase({ url, log });
  closers.push(() => database.close());
  const hub = new StreamHub({ log });
  const store = new StreamStore({ sql: database.sql, hub, log });
  const writer = new AppendWriter({ sql: database.appendSql, hub, log });
  const listen = () => hub.attach(database.listener, async (payload) => {
    await database.sql`select pg_notify(${APPEND_CHANNEL}, ${payload})`;
  });
  return { database, hub, store, writer, listen };
}

test("alone on its database, a process's appends send no NOTIFY; once another turns up they do", async () => {
  const url = await freshDatabase();
  const channel = await watchChannel(url);
  const a = await processParts(url);
  await a.listen();
  const path = `/v1/stream/solo-${Date.now().toString(36)}`;
  expect((await a.store.create({ path, contentType: "application/json", ttlSeconds: undefined, expiresAt: undefined, closed: false, initial: undefined })).kind).toBe("created");
  await channel.barrier();
  const before = channel.seen.length;

  for (let i = 0; i < 3; i++) expect((await a.writer.append(jsonAppend(path, [{ i }]))).kind).toBe("appended");
  await channel.barrier();
  expect(a.hub.peers).toBe(false);
  expect(channel.seen.slice(before)).toEqual([]);

  // A second process starts listening: it says hello, the first answers, and both know of a peer.
  const bDatabase = await openDatabase({ url, log });
  closers.push(() => bDatabase.close());
  const b = await createStreams({ database: bDatabase, log, longPollTimeoutMs: 1_000 });
  await until(() => a.hub.peers && b.hub.peers);
  const tail = await a.writer.append(jsonAppend(path, [{ i: 3 }]));
  expect(tail.kind).toBe("appended");
  await channel.barrier();
  // The first process now NOTIFYs its appends (after one `*` for what it wrote unannounced).
  const fromA = channel.seen.slice(before).filter((payload) => payload.startsWith(`${a.hub.origin}|`));
  expect(fromA).toContain(a.hub.wakeAllPayload);
  expect(fromA.some((payload) => payload.startsWith(`${a.hub.origin}|[`) && tail.kind === "appended" && payload.includes(`,${tail.tailPos},`))).toBe(true);
}, 60_000);

test("a newcomer's reader is woken by appends committed unannounced before the writer knew of it", async () => {
  const url = await freshDatabase();
  const channel = await watchChannel(url);
  // The writer's process, not listening yet: it cannot hear the newcomer's hello (as if its LISTEN
  // connection were down when the newcomer started).
  const a = await processParts(url);
  const path = `/v1/stream/late-${Date.now().toString(36)}`;
  expect((await a.store.create({ path, contentType: "application/json", ttlSeconds: undefined, expiresAt: undefined, closed: false, initial: undefined })).kind).toBe("created");
  const row = await a.store.get(path);

  const b = await processParts(url);
  await b.listen();
  const waiter = b.hub.waiter(row!.id, 60_000);
  let woken = false;
  void waiter.promise.then(() => (woken = true));

  expect((await a.writer.append(jsonAppend(path, [{ unannounced: true }]))).kind).toBe("appended");
  await channel.barrier();
  // Nothing told the newcomer of that append.
  expect(woken).toBe(false);

  // The writer's LISTEN connection comes (back): its hello is answered, it learns of the newcomer, and
  // wakes every reader there once its unannounced batches are committed.
  await a.listen();
  expect(await waiter.promise).toBe("changed");
  expect(a.hub.peers).toBe(true);
  await channel.barrier();
  expect(channel.seen).toContain(a.hub.wakeAllPayload);
}, 90_000);

/** Waits for `condition` (checked every 10 ms); fails after 30 s. */
async function until(condition: () => boolean) {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 30 s");
    await Bun.sleep(10);
  }
}
