import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres, { type Sql } from "postgres";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { COMPACTOR_FORMAT, Compactor } from "../src/sessions/events";
import { SessionService } from "../src/sessions/service";
import { decodeJsonValues, type StreamRow } from "../src/streams/store";
import type { Logger } from "../src/infra/log";

// Stored checkpoints of session compaction (session_checkpoints): a SessionService made here is a
// fresh process (nothing kept) against the server's database; its checkpoints are written after
// every compaction that folded anything new (checkpointAfterChars: 1), and what it folds is always
// compared with a full fold of the stored appends.

let server: TestServer;
let sql: Sql;
const warnings: string[] = [];
beforeAll(async () => {
  server = await startServer();
  sql = postgres(server.databaseUrl!, { max: 4, onnotice: () => {}, types: { bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } } });
}, 60_000);
afterAll(async () => {
  await sql?.end();
  await server?.stop();
});

const log: Logger = {
  debug() {},
  info() {},
  warn(message: string, fields?: Record<string, unknown>) {
    warnings.push(`${message} ${JSON.stringify(fields)}`);
  },
  error(message: string, fields?: Record<string, unknown>) {
    warnings.push(`${message} ${JSON.stringify(fields)}`);
  },
  child() {
    return log;
  },
} as unknown as Logger;

/** A new process's SessionService (only compaction is used: no store, writer or queue). */
function fresh(checkpointAfterChars = 1): SessionService {
  return new SessionService({ sql, store: {} as never, writer: {} as never, boss: {} as never, log, checkpointAfterChars });
}

async function api(method: string, path: string, body?: unknown) {
  const res = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function session(): Promise<string> {
  return (await api("POST", "/api/sessions", { title: "checkpoints" })).body.id as string;
}
/** One append of one event (or several, as one append). */
async function append(id: string, events: Record<string, unknown> | Record<string, unknown>[]) {
  const res = await server.fetch(`/v1/stream/sessions/${id}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_TOKEN}` }, body: JSON.stringify(events) });
  expect(res.status < 300 ? "" : await res.text()).toBe("");
}
async function row(id: string): Promise<StreamRow> {
  const [found] = await sql<StreamRow[]>`
    select id, tail_pos as "tailPos", forked_from_id as "forkedFromId", fork_offset as "forkOffset", fork_sub_offset as "forkSubOffset"
    from streams where path = ${`/v1/stream/sessions/${id}`}`;
  return found!;
}
/** Every event stored up to `uptoPos`, folded from the first. */
async function fullFold(streamId: number, uptoPos = Number.MAX_SAFE_INTEGER) {
  const rows = await sql<{ data: Uint8Array }[]>`select data from stream_messages where stream_id = ${streamId} and pos <= ${uptoPos} order by pos`;
  const compactor = new Compactor();
  for (const { data } of rows) for (const event of decodeJsonValues(data)) compactor.add(event);
  return compactor.messages();
}
async function stored(streamId: number) {
  const [found] = await sql<{ pos: number; state: string }[]>`select pos, state from session_checkpoints where stream_id = ${streamId} and format = ${COMPACTOR_FORMAT}`;
  return found;
}
/** Compacts in a fresh process and waits for its checkpoint. */
async function compactFresh(id: string, checkpointAfterChars = 1) {
  const service = fresh(checkpointAfterChars);
  const folded = await service.compacted(await row(id));
  await service.checkpointsWritten();
  return folded;
}

/** Events exercising what the Compactor keeps: copies, ownership by writer, streamed pieces, tool args, whole parts. */
function conversation(n: number): Record<string, unknown>[] {
  const m = `m${n}`;
  const run = `run-${n}`;
  return [
    { type: "message", id: `u${n}`, role: "user", text: `question ${n}`, clientId: "c1" },
    // A copy of a message id changes nothing.
    { type: "message", id: `u${n}`, role: "user", text: "forged copy" },
    { type: "message.start", id: m, role: "assistant", runId: run, agent: "chat", inReplyTo: `u${n}` },
    { type: "message.delta", id: m, runId: run, text: "thinking…", part: { type: "reasoning" } },
    { type: "message.delta", id: m, runId: run, text: `answer ${n} ` },
    { type: "message.delta", id: m, runId: "run-other", text: "forged delta" },
    { type: "message.delta", id: m, runId: run, text: '{"city":', part: { type: "tool-call", toolCallId: `call-${n}`, toolName: "weather" } },
    { type: "message.start", id: m, role: "assistant", runId: "run-other", agent: "x" },
    { type: "message.delta", id: m, runId: run, text: '"Paris"}', part: { type: "tool-call", toolCallId: `call-${n}`, toolName: "weather" } },
    { type: "message.delta", id: m, runId: run, text: "", part: { type: "tool-result", toolCallId: `call-${n}`, result: { temp: n, b: 1, a: 2 } } },
    { type: "message.delta", id: m, runId: run, text: "", part: { type: "data", name: "chart", data: [n, { z: 1 }] } },
    { type: "message.delta", id: m, runId: run, text: "more text" },
    { type: "message.end", id: m, runId: "run-other", status: "failed" },
    { type: "message.end", id: m, runId: run, status: "complete" },
  ];
}

describe("stored checkpoints of compaction", () => {
  test("a fresh process starts from the stored checkpoint and folds only what came after, the same as a full fold; a checkpoint skipping or repeating an append would differ", async () => {
    const id = await session();
    for (const event of conversation(1)) await append(id, event);
    // A message streaming across the checkpoint: text and tool arguments split by it.
    await append(id, [{ type: "message.start", id: "m-open", role: "assistant", runId: "run-open", agent: "chat" }, { type: "message.delta", id: "m-open", runId: "run-open", text: "half " }]);
    await append(id, { type: "message.delta", id: "m-open", runId: "run-open", text: '{"a":[1,', part: { type: "tool-call", toolCallId: "call-open", toolName: "t" } });
    const first = await row(id);
    expect((await compactFresh(id)).messages).toEqual(await fullFold(first.id));
    const checkpoint = await stored(first.id);
    expect(checkpoint?.pos).toBe(first.tailPos);
    expect(Compactor.restore(checkpoint!.state).messages()).toEqual(await fullFold(first.id, checkpoint!.pos));

    await append(id, { type: "message.delta", id: "m-open", runId: "run-open", text: "2]}", part: { type: "tool-call", toolCallId: "call-open", toolName: "t" } });
    await append(id, { type: "message.delta", id: "m-open", runId: "run-open", text: "and the rest" });
    const middle = await row(id);
    await append(id, { type: "message.end", id: "m-open", runId: "run-open", status: "complete" });
    for (const event of conversation(2)) await append(id, event);
    const expected = await fullFold(first.id);
    const late = await compactFresh(id);
    expect(late.messages).toEqual(expected);
    expect(late.messages.find((m) => m.id === "m-open")).toMatchObject({ text: "half and the rest", status: "complete", parts: [{ type: "text", text: "half " }, { type: "tool-call", args: '{"a":[1,2]}', input: { a: [1, 2] } }, { type: "text", text: "and the rest" }] });
    expect((await stored(first.id))?.pos).toBe((await row(id)).tailPos);

    // The comparison catches a wrong checkpoint (stored here by hand; these processes store none):
    const [{ pos: previous }] = (await sql<{ pos: number }[]>`select max(pos) as pos from stream_messages where stream_id = ${first.id} and pos < ${middle.tailPos}`) as unknown as [{ pos: number }];
    const place = (state: string, pos: number) => sql`update session_checkpoints set state = ${state}, pos = ${pos} where stream_id = ${first.id}`;
    const stateAt = async (pos: number) => {
      const compactor = new Compactor();
      for (const { data } of await sql<{ data: Uint8Array }[]>`select data from stream_messages where stream_id = ${first.id} and pos <= ${pos} order by pos`) for (const event of decodeJsonValues(data)) compactor.add(event);
      return compactor.save();
    };
    // …a position one append too early folds that append twice…
    await place(await stateAt(middle.tailPos), previous);
    expect((await fresh(1e9).compacted(await row(id))).messages).not.toEqual(expected);
    // …a position one append too late skips it…
    await place(await stateAt(previous), middle.tailPos);
    expect((await fresh(1e9).compacted(await row(id))).messages).not.toEqual(expected);
    // …and the true state at that position gives the full fold.
    await place(await stateAt(middle.tailPos), middle.tailPos);
    expect((await fresh(1e9).compacted(await row(id))).messages).toEqual(expected);
  });

  test("a checkpoint of another format is never read: the session is folded from its first event", async () => {
    const id = await session();
    for (const event of conversation(3)) await append(id, event);
    const { id: streamId, tailPos } = await row(id);
    const garbage = JSON.stringify([{ id: "not-from-this-format", role: "user", text: "wrong", status: "complete" }]);
    await sql`insert into session_checkpoints (stream_id, format, pos, state) values (${streamId}, ${COMPACTOR_FORMAT + 1}, ${tailPos}, ${garbage}), (${streamId}, ${COMPACTOR_FORMAT - 1}, ${tailPos}, ${"{not json"})`;
    expect((await compactFresh(id)).messages).toEqual(await fullFold(streamId));
    // Ours is stored beside it; the older format is dropped, a newer one (another release's) is left alone.
    const formats = await sql<{ format: number }[]>`select format from session_checkpoints where stream_id = ${streamId} order by format`;
    expect(formats.map((f) => f.format)).toEqual([COMPACTOR_FORMAT, COMPACTOR_FORMAT + 1]);
  });

  test("appends racing compactions in several processes: every view and every stored checkpoint equals a full fold up to its position", async () => {
    const id = await session();
    const processes = [fresh(), fresh(), fresh(200)];
    const { id: streamId } = await row(id);
    const views: Array<{ pos: number; messages: unknown }> = [];
    const checks: Promise<void>[] = [];
    for (let round = 0; round < 12; round++) {
      // A message streaming through every round: folding any append of it twice, or none, shows.
      const appends = [...conversation(100 + round), ...[0, 1, 2].map((i) => ({ type: "message.delta", id: "m-long", runId: "run-long", text: `${round}.${i} ` }))].map((event) => append(id, event));
      const compactions = processes.map(async (service) => {
        const folded = await service.compacted(await row(id));
        views.push({ pos: folded.pos, messages: folded.messages });
      });
      // Now and then a new process joins (reading whichever checkpoint is newest).
      if (round % 3 === 2) processes.push(fresh());
      await Promise.all([...appends, ...compactions]);
      const checkpoint = await stored(streamId);
      if (checkpoint) checks.push(fullFold(streamId, checkpoint.pos).then((expected) => expect(Compactor.restore(checkpoint.state).messages()).toEqual(expected)));
    }
    await Promise.all(processes.map((service) => service.checkpointsWritten()));
    await Promise.all(checks);
    for (const view of views) expect(view.messages).toEqual(await fullFold(streamId, view.pos));
    await append(id, { type: "message.delta", id: "m-long", runId: "run-long", text: "last" });
    const expected = await fullFold(streamId);
    for (const service of [...processes, fresh()]) expect((await service.compacted(await row(id))).messages).toEqual(expected);
    await Promise.all(processes.map((service) => service.checkpointsWritten()));
    // A checkpoint ending with that last delta, read by a new process.
    await sql`delete from session_checkpoints where stream_id = ${streamId}`;
    await compactFresh(id);
    expect((await stored(streamId))?.pos).toBe((await row(id)).tailPos);
    expect((await fresh().compacted(await row(id))).messages).toEqual(expected);
    expect(warnings).toEqual([]);
  }, 60_000);

  test("a branch folds its own stream: its parent's checkpoint serves only when it lies within the copied prefix", async () => {
    const root = await session();
    await api("POST", `/api/sessions/${root}/messages`, { text: "first", id: "q1" });
    for (const event of conversation(4)) await append(root, event);
    const parent = await row(root);
    await compactFresh(root);
    await api("POST", `/api/sessions/${root}/messages`, { text: "second", id: "q2" });
    await append(root, { type: "message.delta", id: "m4", runId: "run-4", text: " after the end: ignored" });
    await api("POST", `/api/sessions/${root}/messages`, { text: "third", id: "q3" });
    // Cut before q3: the parent's checkpoint (before q2) lies within the copied prefix.
    const late = await api("POST", `/api/sessions/${root}/branches`, { messageId: "q3", text: "third, edited" });
    expect(late.status).toBe(201);
    const lateRow = await row(late.body.id);
    expect(lateRow.forkedFromId).toBe(parent.id);
    expect(await stored(lateRow.id)).toBeUndefined();
    expect((await fresh(1e9).compacted(lateRow)).messages).toEqual(await fullFold(lateRow.id));
    // It was read: a doctored parent checkpoint shows through (and is put back).
    const parentCheckpoint = (await stored(parent.id))!;
    expect(parentCheckpoint.pos).toBe(parent.tailPos);
    const marked = Compactor.restore(parentCheckpoint.state);
    marked.add({ type: "message", id: "marker", role: "system", text: "from the checkpoint" });
    await sql`update session_checkpoints set state = ${marked.save()} where stream_id = ${parent.id}`;
    expect((await fresh(1e9).compacted(lateRow)).messages.map((m) => m.id)).toContain("marker");
    await sql`update session_checkpoints set state = ${parentCheckpoint.state} where stream_id = ${parent.id}`;
    // The parent's checkpoint moves past the next cut: a branch cut before it must not use it.
    await sql`delete from session_checkpoints where stream_id = ${parent.id}`;
    await compactFresh(root);
    expect((await stored(parent.id))!.pos).toBe((await row(root)).tailPos);
    const early = await api("POST", `/api/sessions/${root}/branches`, { messageId: "q2", text: "second, edited" });
    expect(early.status).toBe(201);
    const earlyRow = await row(early.body.id);
    const branchView = (await compactFresh(early.body.id)).messages;
    expect(branchView).toEqual(await fullFold(earlyRow.id));
    expect(branchView.map((m) => m.id)).not.toContain("q3");
    // Folded from its first event, it stores its own checkpoint; the parent's view is unchanged by the branch.
    expect((await stored(earlyRow.id))?.pos).toBe(earlyRow.tailPos);
    expect((await fresh().compacted(await row(root))).messages).toEqual(await fullFold(parent.id));
    expect(warnings).toEqual([]);
  });

  test("deleting a session's stream (as reclaiming an expired one does) deletes its checkpoint", async () => {
    const id = await session();
    for (const event of conversation(5)) await append(id, event);
    const { id: streamId } = await row(id);
    await compactFresh(id);
    expect(await stored(streamId)).toBeDefined();
    await sql`delete from streams where id = ${streamId}`;
    expect(await stored(streamId)).toBeUndefined();
  });
});

describe("shutdown", () => {
  test("a compaction under way when the service stops stores its checkpoint before the database closes", async () => {
    // A server of its own (it is stopped here), against its own database.
    const own = await startServer();
    const db = postgres(own.databaseUrl!, { max: 2, onnotice: () => {}, types: { bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } } });
    let release = () => {};
    let holding: Promise<unknown> = Promise.resolve();
    try {
      const created = await own.fetch("/api/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "shutdown" }) });
      const id = ((await created.json()) as { id: string }).id;
      // More event text than a server folds before it stores a checkpoint (4 MB).
      const text = "x".repeat(90_000);
      for (let i = 0; i < 5; i++) {
        const events = Array.from({ length: 10 }, (_, j) => ({ type: "message", id: `big-${i}-${j}`, role: "user", text }));
        const res = await own.fetch(`/v1/stream/sessions/${id}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(events) });
        expect(res.status < 300 ? "" : await res.text()).toBe("");
      }
      // The compaction of the next read stops at its first query (the checkpoints table is locked)...
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      holding = db.begin(async (tx) => {
        await tx`lock table session_checkpoints in access exclusive mode`;
        locked();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await isLocked;
      void own.fetch(`/api/sessions/${id}/messages`).catch(() => undefined);
      while ((await db`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%from session_checkpoints%'`).length === 0) await Bun.sleep(20);
      // ...and the server is told to stop meanwhile. The compaction goes on once the lock is gone:
      // when the server says it waits for it, or else when it has exited.
      own.process.kill("SIGTERM");
      await Promise.race([own.waitForLog(/waiting for session checkpoint writes/, 60_000).catch(() => undefined), own.process.exited]);
      release();
      await holding;
      expect(await own.process.exited).toBe(0);
      const [stream] = await db<{ id: number; tailPos: number }[]>`select id, tail_pos as "tailPos" from streams where path = ${`/v1/stream/sessions/${id}`}`;
      const [checkpoint] = await db<{ pos: number }[]>`select pos from session_checkpoints where stream_id = ${stream!.id} and format = ${COMPACTOR_FORMAT}`;
      expect(checkpoint?.pos).toBe(stream!.tailPos);
    } finally {
      release();
      await holding.catch(() => {});
      await db.end();
      await own.stop();
    }
  }, 90_000);
});
