import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { freshDatabase } from "./support/postgres";
import { openDatabase, type Database } from "../src/infra/database";
import { createLogger } from "../src/infra/log";
import { createStreams, type Streams } from "../src/streams";
import { jsonAppend } from "../src/streams/json-append";
import { SessionFollowers, type FollowedBatch } from "../src/sessions/follower";
import type { StoredMessage } from "../src/streams/store";
import { RunContext, type RunInfo } from "../src/agents/run-context";
import type { SessionEvent } from "../src/sessions/events";

/**
 * Issue 13, trust: one mechanism each (the session follower, waiting for child runs, the JSON
 * append helper), driven against a real Postgres, writer and hub in this process.
 */

const log = createLogger({ level: "error" });
let database: Database;
let streams: Streams;

beforeAll(async () => {
  database = await openDatabase({ url: await freshDatabase(), log });
  streams = await createStreams({ database, log, longPollTimeoutMs: 1_000 });
});

afterAll(async () => {
  await database?.close();
});

async function newStream(path: string) {
  const created = await streams.store.create({ path, contentType: "application/json", ttlSeconds: undefined, expiresAt: undefined, closed: false, initial: undefined });
  if (created.kind !== "created") throw new Error(created.kind);
  const found = await streams.store.lookup(path);
  if (found.kind !== "ok") throw new Error(found.kind);
  return found.row;
}

function runInfo(runId: string, sessionId: string): RunInfo {
  return { runId, sessionId, agent: "test", clientId: null, parentRunId: null, lineage: [runId], attempt: 0, provider: null, input: undefined, options: {}, startPos: 0 };
}

describe("one session follower per session per process", () => {
  test("two listeners (a socket feed and a run watch) share one read per batch, each gets every append once, in order", async () => {
    const sessionId = "ses_follow1";
    const row = await newStream(`/v1/stream/sessions/${sessionId}`);
    let reads = 0;
    const reader = {
      page: async (streamId: number, afterPos: number, uptoPos: number, limit: number): Promise<StoredMessage[]> => {
        reads++;
        return database.sql.unsafe<StoredMessage[]>("select pos, data, count from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit $4", [streamId, afterPos, Math.min(uptoPos, Number.MAX_SAFE_INTEGER), limit]);
      },
    };
    const followers = new SessionFollowers({ hub: streams.hub, reader, log });
    const seenA: string[] = [];
    const seenB: string[] = [];
    const batchesA: FollowedBatch[] = [];
    const a = followers.follow({ sessionId, streamId: row.id, fromPos: row.tailPos }, (batch) => {
      batchesA.push(batch);
      for (const { event } of batch.events) seenA.push((event as { id: string }).id);
    });
    const b = followers.follow({ sessionId, streamId: row.id, fromPos: row.tailPos }, (batch) => {
      expect(batchesA).toContain(batch); // the very same batch object: read and decoded once
      for (const { event } of batch.events) seenB.push((event as { id: string }).id);
    });
    expect(followers.count).toBe(1);
    expect(b.fromPos).toBe(a.fromPos);
    const ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const id of ids) await streams.writer.append(jsonAppend(`/v1/stream/sessions/${sessionId}`, [{ type: "message", id, role: "user", text: id }]));
    for (let i = 0; i < 200 && seenB.length < ids.length; i++) await Bun.sleep(10);
    expect(seenA).toEqual(ids);
    expect(seenB).toEqual(ids);
    // Never more reads than appends plus the start-up check and at most one empty re-read per wake-up race.
    expect(reads).toBeLessThanOrEqual(ids.length * 2 + 1);
    a.stop();
    expect(followers.count).toBe(1);
    b.stop();
    expect(followers.count).toBe(0);
    expect(streams.hub.watcherCount).toBe(0);
  });

  test("a listener that joins a running follower gets every append after the position it is told, none before", async () => {
    const sessionId = "ses_follow2";
    const path = `/v1/stream/sessions/${sessionId}`;
    const row = await newStream(path);
    const followers = new SessionFollowers({ hub: streams.hub, reader: { page: (s, a, u, l) => database.sql.unsafe<StoredMessage[]>("select pos, data, count from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit $4", [s, a, Math.min(u, Number.MAX_SAFE_INTEGER), l]) }, log });
    const first: string[] = [];
    const a = followers.follow({ sessionId, streamId: row.id, fromPos: row.tailPos }, (batch) => batch.events.forEach((e) => first.push((e.event as { id: string }).id)));
    for (const id of ["a", "b", "c"]) await streams.writer.append(jsonAppend(path, [{ type: "message", id, role: "user", text: id }]));
    for (let i = 0; i < 200 && first.length < 3; i++) await Bun.sleep(10);
    const late: Array<{ pos: number; id: string }> = [];
    const b = followers.follow({ sessionId, streamId: row.id, fromPos: 0 }, (batch) => batch.events.forEach((e) => late.push({ pos: e.pos, id: (e.event as { id: string }).id })));
    for (const id of ["d", "e"]) await streams.writer.append(jsonAppend(path, [{ type: "message", id, role: "user", text: id }]));
    for (let i = 0; i < 200 && late.length < 2; i++) await Bun.sleep(10);
    expect(late.map((e) => e.id)).toEqual(["d", "e"]);
    expect(late.every((e) => e.pos > b.fromPos)).toBe(true);
    a.stop();
    b.stop();
  });
});

describe("RunContext.waitForRuns: the one wait for child runs", () => {
  test("listens before starting, wakes only for its children, holds one abort listener and removes it", async () => {
    const sessionId = "ses_wait1";
    await newStream(`/v1/stream/sessions/${sessionId}`);
    const ctx = new RunContext({ info: runInfo("run_parent", sessionId), writer: streams.writer, log });
    const signal = ctx.signal;
    let added = 0;
    let removed = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => (added++, add(...args))) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => (removed++, remove(...args))) as typeof remove;

    const progress: string[] = [];
    const waiting = ctx.waitForRuns(async () => {
      // A child that ends before start() has returned its id is still counted.
      ctx.observe({ type: "run.end", runId: "run_a", status: "completed" });
      return ["run_a", "run_b"];
    }, { onEnded: (end, done, total) => void progress.push(`${end.runId} ${done}/${total}`) });
    // A thousand unrelated events (deltas, other runs' ends) wake nothing and add no listener.
    for (let i = 0; i < 1_000; i++) {
      const event: SessionEvent = i % 2 ? { type: "message.delta", id: "m", runId: "run_x", text: "t" } : { type: "run.end", runId: `run_other${i}`, status: "completed" };
      ctx.observe(event);
      if (i % 100 === 0) await Bun.sleep(0);
    }
    ctx.observe({ type: "run.end", runId: "run_b", status: "failed", error: "boom" });
    const wait = await waiting;
    expect(wait.ok).toBe(true);
    expect(wait.runIds).toEqual(["run_a", "run_b"]);
    expect(wait.ends.get("run_b")?.status).toBe("failed");
    expect([...wait.ends.keys()].sort()).toEqual(["run_a", "run_b"]);
    expect(progress).toEqual(["run_a 1/2", "run_b 2/2"]);
    expect(added).toBe(1);
    expect(removed).toBe(1);
  });

  test("a cancel ends the wait at once with ok: false and the children that did end", async () => {
    const sessionId = "ses_wait2";
    await newStream(`/v1/stream/sessions/${sessionId}`);
    const ctx = new RunContext({ info: runInfo("run_parent2", sessionId), writer: streams.writer, log });
    const waiting = ctx.waitForRuns(async () => ["run_c", "run_d"]);
    ctx.observe({ type: "run.end", runId: "run_c", status: "completed" });
    await Bun.sleep(5);
    ctx.observe({ type: "control", action: "cancel", runId: "run_parent2" });
    const wait = await waiting;
    expect(wait.ok).toBe(false);
    expect([...wait.ends.keys()]).toEqual(["run_c"]);
  });
});
