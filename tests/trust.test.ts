import { describe, test, expect, afterAll, beforeAll, setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);
import { freshDatabase } from "./support/postgres";
import { openDatabase, type Database } from "../src/infra/database";
import { createLogger } from "../src/infra/log";
import { createStreams, type Streams } from "../src/streams";
import { jsonAppend } from "../src/streams/json-append";
import { SessionFollowers, type FollowedBatch } from "../src/sessions/follower";
import type { StoredMessage } from "../src/streams/store";
import { RunContext, MAX_DELTA_CHARS, type RunInfo } from "../src/agents/run-context";
import { decodeJsonValues } from "../src/streams/store";
import type { SessionEvent } from "../src/sessions/events";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";
import { RUN_OPTION_BOUNDS } from "../src/agents/options";

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

// ---------------------------------------------------------------------------------------------
// The session API's authorisation and input holes of issue 13, each reproduced against real
// servers (two processes on one database, sharing SECRET_KEY) and real WebSockets.
// ---------------------------------------------------------------------------------------------

const SECRET_KEY = "trust-secret-key-0123456789abcdef0123456789abcdef";
let serverA: TestServer;
let serverB: TestServer;
const openSockets: TestSocket[] = [];

async function startPair() {
  if (serverA) return;
  const databaseUrl = await freshDatabase();
  [serverA, serverB] = await Promise.all([startServer({ databaseUrl, env: { SECRET_KEY } }), startServer({ databaseUrl, env: { SECRET_KEY } })]);
}

afterAll(async () => {
  for (const socket of openSockets) socket.ws.close();
  for (const server of [serverA, serverB]) if (server) await server.stop();
});

async function api(method: string, path: string, body?: unknown, token = TEST_API_TOKEN, on: TestServer = serverA) {
  const res = await fetch(on.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, body: parsed };
}

async function socketFor(token: string, on: TestServer = serverA) {
  const socket = await TestSocket.open(`${on.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}`);
  openSockets.push(socket);
  return socket;
}

async function newSession(body: Record<string, unknown> = {}, token = TEST_API_TOKEN) {
  const res = await api("POST", "/api/sessions", { title: "trust", ...body }, token);
  expect(res.status).toBe(201);
  return res.body as { id: string; clientToken: string; clientTokenId: string; capabilities: string[] };
}

async function newTeam(name: string): Promise<{ token: string; tokenId: string }> {
  const res = await api("POST", "/api/teams", { name, owner: { name, email: `${name}-${Date.now()}@example.com`, password: "correct horse battery" } });
  expect(res.status).toBe(201);
  return { token: res.body.apiToken, tokenId: res.body.apiTokenId };
}

async function events(sessionId: string): Promise<any[]> {
  const res = await api("GET", `/api/sessions/${sessionId}/events?limit=1000`);
  expect(res.status).toBe(200);
  return res.body.events.map((e: any) => e.event);
}

async function waitForEvent(sessionId: string, test: (event: any) => boolean): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const found = (await events(sessionId)).find(test);
    if (found) return found;
    await Bun.sleep(50);
  }
  throw new Error("event never came");
}

async function finishedRun(sessionId: string, options: Record<string, unknown> = { tokens: 8, tokensPerSecond: 200 }) {
  const run = await api("POST", `/api/sessions/${sessionId}/runs`, { agent: "chat", provider: "offline", input: { prompt: "tell me about trust" }, options });
  expect(run.status).toBe(202);
  await waitForEvent(sessionId, (e) => e.type === "run.end" && e.runId === run.body.runId);
  const start = (await events(sessionId)).find((e) => e.type === "message.start" && e.runId === run.body.runId);
  return { runId: run.body.runId as string, messageId: start.id as string };
}

describe("hole 1: a client publishes only its own user messages", () => {
  beforeAll(startPair, 60_000);

  test("a client token cannot overwrite an agent's message over /ws: the id is namespaced, the agent's text stays everywhere", async () => {
    const session = await newSession();
    const { messageId } = await finishedRun(session.id);
    const before = (await api("GET", `/api/sessions/${session.id}/messages`)).body.messages.find((m: any) => m.id === messageId);
    expect(before.role).toBe("assistant");
    const client = await socketFor(session.clientToken);
    const ack = await client.request({ type: "publish", session: session.id, event: { type: "message", id: messageId, role: "user", text: "HIJACKED" } });
    expect(ack.type).toBe("ack");
    expect(ack.messageId).not.toBe(messageId);
    expect(ack.messageId.endsWith(`:${messageId}`)).toBe(true);
    const after = (await api("GET", `/api/sessions/${session.id}/messages`)).body.messages;
    expect(after.find((m: any) => m.id === messageId)).toEqual(before);
    expect(after.find((m: any) => m.id === ack.messageId)).toMatchObject({ role: "user", text: "HIJACKED" });
    // A late joiner's snapshot shows the agent's text too.
    const joiner = await socketFor(TEST_API_TOKEN);
    await joiner.request({ type: "subscribe", session: session.id, mode: "snapshot" });
    const snap = await joiner.waitFor((f) => f.type === "event" && f.snapshot && f.event.id === messageId);
    expect(snap.event.text).toBe(before.text);
    // A retry of the same frame content is the same message, not a second one.
    const retry = await client.request({ type: "publish", session: session.id, event: { type: "message", id: messageId, role: "user", text: "HIJACKED" } });
    expect(retry.offset).toBe(ack.offset);
  });

  test("even a trusted writer cannot rewrite a message another writer made: the first message with an id wins", async () => {
    const session = await newSession();
    const { messageId } = await finishedRun(session.id);
    const before = (await api("GET", `/api/sessions/${session.id}/messages`)).body.messages.find((m: any) => m.id === messageId);
    const admin = await socketFor(TEST_API_TOKEN);
    const ack = await admin.request({ type: "publish", session: session.id, event: { type: "message", id: messageId, role: "assistant", text: "REWRITTEN" } });
    expect(ack.type).toBe("ack");
    expect((await api("GET", `/api/sessions/${session.id}/messages`)).body.messages.find((m: any) => m.id === messageId)).toEqual(before);
  });

  test("a client token may publish only role user messages (and control): other roles and agent events are refused over /ws", async () => {
    const session = await newSession();
    const client = await socketFor(session.clientToken);
    for (const role of ["assistant", "system"]) {
      const refused = await client.request({ type: "publish", session: session.id, event: { type: "message", id: `m-${role}`, role, text: "pretend" } });
      expect(refused).toMatchObject({ type: "error", code: "forbidden_role" });
    }
    for (const event of [
      { type: "message.start", id: "x", role: "assistant", runId: "run_x", agent: "chat" },
      { type: "message.delta", id: "x", runId: "run_x", text: "t" },
      { type: "run.end", runId: "run_x", status: "completed" },
      { type: "artifact", runId: "run_x", kind: "email", ref: "e" },
    ]) {
      expect(await client.request({ type: "publish", session: session.id, event })).toMatchObject({ type: "error", code: "forbidden_event" });
    }
    expect(await events(session.id)).toEqual([]);
  });

  test("over the JSON API a client token's message id is namespaced the same way, and cannot touch an agent's message", async () => {
    const session = await newSession();
    const { messageId } = await finishedRun(session.id);
    const posted = await api("POST", `/api/sessions/${session.id}/messages`, { text: "HIJACKED", id: messageId }, session.clientToken);
    expect(posted.status).toBe(201);
    expect(posted.body.messageId).not.toBe(messageId);
    const ws = await socketFor(session.clientToken);
    const viaWs = await ws.request({ type: "publish", session: session.id, event: { type: "message", id: messageId, role: "user", text: "HIJACKED" } });
    expect(viaWs.messageId).toBe(posted.body.messageId);
    expect(viaWs.offset).toBe(posted.body.offset);
    const messages = (await api("GET", `/api/sessions/${session.id}/messages`)).body.messages;
    expect(messages.find((m: any) => m.id === messageId).role).toBe("assistant");
  });
});

describe("hole 2: revoked and expired tokens lose their open sockets on every instance", () => {
  beforeAll(startPair, 60_000);

  test("revoking an API token closes its sockets on both processes (4003) and the token is refused afterwards", async () => {
    const team = await newTeam("revoke-api");
    const session = await newSession({}, team.token);
    const onA = await socketFor(team.token, serverA);
    const onB = await socketFor(team.token, serverB);
    for (const socket of [onA, onB]) expect((await socket.request({ type: "subscribe", session: session.id, offset: "now" })).type).toBe("subscribed");
    const revoked = await api("DELETE", `/api/tokens/${team.tokenId}`, undefined, team.token);
    expect(revoked.status).toBe(204);
    const [closedA, closedB] = await Promise.all([onA.closed(), onB.closed()]);
    expect(closedA.code).toBe(4003);
    expect(closedB.code).toBe(4003);
    expect((await api("GET", "/api/sessions", undefined, team.token)).status).toBe(401);
    expect((await fetch(`${serverB.url.replace("http", "ws")}/ws?token=${team.token}`.replace("ws", "http"))).status).toBe(401);
  });

  test("revoking a client token closes its sockets on both processes; HTTP refuses it; other tokens of the session keep working", async () => {
    const session = await newSession();
    const other = await api("POST", `/api/sessions/${session.id}/client-tokens`, {});
    expect(other.status).toBe(201);
    const onA = await socketFor(session.clientToken, serverA);
    const onB = await socketFor(session.clientToken, serverB);
    const keeps = await socketFor(other.body.clientToken, serverB);
    for (const socket of [onA, onB, keeps]) expect((await socket.request({ type: "subscribe", session: session.id, offset: "now" })).type).toBe("subscribed");
    const revoked = await api("DELETE", `/api/sessions/${session.id}/client-tokens/${session.clientTokenId}`);
    expect(revoked.status).toBe(204);
    expect((await onA.closed()).code).toBe(4003);
    expect((await onB.closed()).code).toBe(4003);
    expect((await api("GET", `/api/sessions/${session.id}`, undefined, session.clientToken)).status).toBe(401);
    expect((await keeps.request({ type: "ping" })).type).toBe("pong");
  });

  test("logging out closes the sockets that person's cookie opened, on both processes (4003)", async () => {
    const email = `logout-${Date.now()}@example.com`;
    expect((await api("POST", "/api/teams", { name: "logout", owner: { name: "Lou", email, password: "correct horse battery" } })).status).toBe(201);
    const login = await fetch(`${serverA.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: serverA.url }, body: new URLSearchParams({ email, password: "correct horse battery" }) });
    expect(login.status).toBe(302);
    const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const open = async (on: TestServer) => {
      const ws = new WebSocket(`${on.url.replace("http", "ws")}/ws`, { headers: { cookie, origin: on.url } } as never);
      const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
      await new Promise((resolve, reject) => {
        ws.addEventListener("open", resolve, { once: true });
        ws.addEventListener("error", reject, { once: true });
      });
      return { closed };
    };
    const { closed: closedA } = await open(serverA);
    const { closed: closedB } = await open(serverB);
    const page = await (await fetch(`${serverA.url}/settings/tokens`, { headers: { cookie } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
    const logout = await fetch(`${serverA.url}/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: serverA.url, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf }) });
    expect(logout.status).toBe(302);
    expect((await closedA).code).toBe(4003);
    expect((await closedB).code).toBe(4003);
  });

  test("a client token's socket is closed when the token expires (4001)", async () => {
    const session = await newSession();
    const issued = await api("POST", `/api/sessions/${session.id}/client-tokens`, { ttlSeconds: 1 });
    expect(issued.status).toBe(201);
    const socket = await socketFor(issued.body.clientToken, serverB);
    expect((await socket.request({ type: "subscribe", session: session.id, offset: "now" })).type).toBe("subscribed");
    expect((await socket.closed()).code).toBe(4001);
  });
});

describe("hole 3: run options have documented bounds", () => {
  beforeAll(startPair, 60_000);

  test("out-of-range and mistyped options are a 400 naming the option; nothing is queued", async () => {
    const session = await newSession();
    const bad = [
      { tokens: 2_000_000, tokensPerSecond: 1e9 },
      { tokens: -3 },
      { tokens: "many" },
      { tokens: 1.5 },
      { rollupWindowMs: -5 },
      { rollupWindowMs: 3_600_000 },
      { tokensPerSecond: 0 },
      { model: "x".repeat(500) },
      { surprise: true },
    ];
    for (const options of bad) {
      const res = await api("POST", `/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", options });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.message).toMatch(/options/);
      const posted = await api("POST", `/api/sessions/${session.id}/messages`, { text: "hi", run: { agent: "chat", provider: "offline", options } });
      expect(posted.status).toBe(400);
    }
    expect((await api("GET", `/api/sessions/${session.id}`)).body.runs).toEqual([]);
    expect(await events(session.id)).toEqual([]);
    const good = await api("POST", `/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", options: { tokens: RUN_OPTION_BOUNDS.tokens.max, tokensPerSecond: RUN_OPTION_BOUNDS.tokensPerSecond.max, rollupWindowMs: RUN_OPTION_BOUNDS.rollupWindowMs.max } });
    expect(good.status).toBe(202);
    await api("POST", `/api/sessions/${session.id}/control`, { action: "cancel", runId: good.body.runId });
  });
});

describe("hole 4: session streams are read-only on /v1/stream", () => {
  beforeAll(startPair, 60_000);

  test("DELETE, PUT, close and raw appends answer 403 read_only_stream for the owning team; reads work; the session is intact", async () => {
    const team = await newTeam("readonly");
    const session = await newSession({}, team.token);
    await api("POST", `/api/sessions/${session.id}/messages`, { text: "keep me" }, team.token);
    const url = `${serverA.url}/v1/stream/sessions/${session.id}`;
    const attempts: Array<[string, string, Record<string, string>, string | undefined]> = [
      [team.token, "DELETE", {}, undefined],
      [team.token, "PUT", {}, undefined],
      [team.token, "POST", {}, JSON.stringify({ type: "message", id: "raw", role: "assistant", text: "raw" })],
      [team.token, "POST", {}, JSON.stringify({ type: "nonsense" })],
      // The operator's bootstrap token may append (checked), but never delete, re-create or close.
      [TEST_API_TOKEN, "DELETE", {}, undefined],
      [TEST_API_TOKEN, "PUT", {}, undefined],
      [TEST_API_TOKEN, "POST", { "stream-closed": "true" }, undefined],
    ];
    for (const [token, method, headers, body] of attempts) {
      const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers }, body });
      expect([method, res.status]).toEqual([method, 403]);
      expect((await res.json()).error.code).toBe("read_only_stream");
    }
    const created = await fetch(`${serverA.url}/v1/stream/sessions/ses_not_a_session`, { method: "PUT", headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" } });
    expect(created.status).toBe(403);
    const read = await fetch(`${url}?offset=-1`, { headers: { authorization: `Bearer ${team.token}` } });
    expect(read.status).toBe(200);
    expect((await read.json()).map((e: any) => e.text)).toEqual(["keep me"]);
    expect((await api("GET", `/api/sessions/${session.id}`, undefined, team.token)).status).toBe(200);
    expect((await api("GET", "/api/sessions", undefined, team.token)).body.sessions.map((s: any) => s.id)).toContain(session.id);
  });

  test("the operator's raw appends get the same event validation as the session API and /ws", async () => {
    const session = await newSession();
    const url = `${serverA.url}/v1/stream/sessions/${session.id}`;
    const post = (body: unknown) => fetch(url, { method: "POST", headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const unknown = await post([{ type: "message", id: "a", role: "user", text: "ok" }, { type: "explode" }]);
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error).toMatchObject({ code: "unknown_event_type", message: expect.stringMatching(/^Event 1: /) });
    const invalid = await post({ type: "message", id: "a", role: "robot", text: "ok" });
    expect(invalid.status).toBe(400);
    expect((await invalid.json()).error.code).toBe("invalid_event");
    expect(await events(session.id)).toEqual([]);
    expect((await post([{ type: "message", id: "a", role: "user", text: "one" }, { type: "message", id: "b", role: "user", text: "two" }])).status).toBeLessThan(300);
    expect((await events(session.id)).map((e) => e.text)).toEqual(["one", "two"]);
  });
});

describe("hole 5: a rejected request stores nothing", () => {
  beforeAll(startPair, 60_000);

  test("POST /messages with a bad run answers 400 and stores no message; the corrected retry with the same id posts it and starts the run", async () => {
    const session = await newSession();
    for (const run of [{ agent: "nope" }, { agent: "chat", options: { tokens: -1 } }]) {
      const bad = await api("POST", `/api/sessions/${session.id}/messages`, { text: "hello", id: "m1", run });
      expect(bad.status).toBe(400);
    }
    expect((await api("GET", `/api/sessions/${session.id}/messages`)).body.messages).toEqual([]);
    const good = await api("POST", `/api/sessions/${session.id}/messages`, { text: "hello", id: "m1", run: { agent: "chat", provider: "offline", options: { tokens: 5, tokensPerSecond: 200 } } });
    expect(good.status).toBe(201);
    expect(good.body.runId).toMatch(/^run_/);
  });
});

describe("hole 6: an offset the server never issued is bad_offset", () => {
  beforeAll(startPair, 60_000);

  test("inside an append, unpadded, or with a non-zero first part: 400 bad_offset over /v1/stream and /events, an error frame over /ws; issued offsets work", async () => {
    const session = await newSession();
    const first = await api("POST", `/api/sessions/${session.id}/messages`, { text: "one two three" });
    const second = await api("POST", `/api/sessions/${session.id}/messages`, { text: "four" });
    const issued: string = first.body.offset;
    const pos = Number(issued.split("_")[1]);
    const never = [`0000000000000000_${String(pos - 3).padStart(16, "0")}`, `0_${pos}`, `1_${pos}`, `0000000000000001_${String(pos).padStart(16, "0")}`];
    for (const offset of never) {
      const stream = await fetch(`${serverA.url}/v1/stream/sessions/${session.id}?offset=${offset}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } });
      expect(stream.status).toBe(400);
      expect((await stream.json()).error.code).toBe("bad_offset");
      const page = await api("GET", `/api/sessions/${session.id}/events?offset=${offset}`);
      expect(page.status).toBe(400);
      expect(page.body.error.code).toBe("bad_offset");
      const ws = await socketFor(TEST_API_TOKEN);
      expect(await ws.request({ type: "subscribe", session: session.id, offset })).toMatchObject({ type: "error", code: "bad_offset" });
    }
    const ok = await fetch(`${serverA.url}/v1/stream/sessions/${session.id}?offset=${issued}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect((await ok.json()).map((e: any) => e.text)).toEqual(["four"]);
    expect((await api("GET", `/api/sessions/${session.id}/events?offset=${second.body.offset}`)).body.events).toEqual([]);
    const ws = await socketFor(TEST_API_TOKEN);
    expect((await ws.request({ type: "subscribe", session: session.id, offset: issued })).type).toBe("subscribed");
    expect((await ws.waitForEvents(session.id, 1))[0].event.text).toBe("four");
  });
});

describe("client token capabilities", () => {
  beforeAll(startPair, 60_000);

  test("the default is read, publish, control-own and presence: a bare cancel becomes scope own; another client's run and scope all are forbidden", async () => {
    const session = await newSession({ clientId: "alice" });
    expect(session.capabilities).toEqual(["read", "publish", "control-own", "presence"]);
    const bob = await api("POST", `/api/sessions/${session.id}/client-tokens`, { clientId: "bob" });
    const slow = { tokens: 2_000, tokensPerSecond: 5 };
    const alices = await api("POST", `/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", clientId: "alice", options: slow });
    const bobs = await api("POST", `/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", clientId: "bob", options: slow });
    await waitForEvent(session.id, (e) => e.type === "message.start" && e.runId === alices.body.runId);
    await waitForEvent(session.id, (e) => e.type === "message.start" && e.runId === bobs.body.runId);
    const alice = await socketFor(session.clientToken);
    expect(await alice.request({ type: "control", session: session.id, action: "cancel", runId: bobs.body.runId })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await alice.request({ type: "control", session: session.id, action: "cancel", scope: "all" })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await alice.request({ type: "publish", session: session.id, event: { type: "control", action: "cancel", scope: "all" } })).toMatchObject({ type: "error", code: "forbidden" });
    const viaApi = await api("POST", `/api/sessions/${session.id}/control`, { action: "interrupt", runId: bobs.body.runId }, session.clientToken);
    expect(viaApi.status).toBe(403);
    // A bare cancel is scope own: alice's run ends, bob's keeps going.
    expect((await alice.request({ type: "control", session: session.id, action: "cancel" })).type).toBe("ack");
    const control = await waitForEvent(session.id, (e) => e.type === "control" && e.clientId === "alice");
    expect(control.scope).toBe("own");
    await waitForEvent(session.id, (e) => e.type === "run.end" && e.runId === alices.body.runId);
    const runs = (await api("GET", `/api/sessions/${session.id}`)).body.runs;
    expect(runs.find((r: any) => r.runId === alices.body.runId).status).toBe("cancelled");
    expect(runs.find((r: any) => r.runId === bobs.body.runId).status).toBe("running");
    // Bob may cancel his own run by id.
    const bobSocket = await socketFor(bob.body.clientToken);
    expect((await bobSocket.request({ type: "control", session: session.id, action: "cancel", runId: bobs.body.runId })).type).toBe("ack");
    await waitForEvent(session.id, (e) => e.type === "run.end" && e.runId === bobs.body.runId);
  });

  test("control-all lets a client cancel every run; a read-only token subscribes but cannot publish or control; without presence a reader is not listed", async () => {
    const session = await newSession();
    const admin = await api("POST", `/api/sessions/${session.id}/client-tokens`, { clientId: "moderator", capabilities: ["read", "control-all"] });
    expect(admin.body.capabilities).toEqual(["read", "control-all"]);
    const reader = await api("POST", `/api/sessions/${session.id}/client-tokens`, { clientId: "reader", capabilities: ["read"] });
    const bad = await api("POST", `/api/sessions/${session.id}/client-tokens`, { capabilities: ["read", "root"] });
    expect(bad.status).toBe(400);
    const run = await api("POST", `/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", clientId: "someone", options: { tokens: 2_000, tokensPerSecond: 5 } });
    await waitForEvent(session.id, (e) => e.type === "message.start" && e.runId === run.body.runId);

    const readOnly = await socketFor(reader.body.clientToken);
    expect((await readOnly.request({ type: "subscribe", session: session.id, offset: "-1" })).type).toBe("subscribed");
    expect(await readOnly.request({ type: "publish", session: session.id, event: { type: "message", id: "r1", role: "user", text: "hi" } })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await readOnly.request({ type: "control", session: session.id, action: "cancel", runId: run.body.runId })).toMatchObject({ type: "error", code: "forbidden" });
    expect((await api("POST", `/api/sessions/${session.id}/messages`, { text: "hi" }, reader.body.clientToken)).status).toBe(403);
    const members = (await api("GET", `/api/sessions/${session.id}`)).body.presence;
    expect(members.find((m: any) => m.clientId === "reader")).toBeUndefined();

    const moderator = await socketFor(admin.body.clientToken);
    expect(await moderator.request({ type: "publish", session: session.id, event: { type: "message", id: "m1", role: "user", text: "hi" } })).toMatchObject({ type: "error", code: "forbidden" });
    expect((await moderator.request({ type: "control", session: session.id, action: "cancel", scope: "all" })).type).toBe("ack");
    await waitForEvent(session.id, (e) => e.type === "run.end" && e.runId === run.body.runId && e.status === "cancelled");
  });

  test("a token without read cannot subscribe or read the session's stream", async () => {
    const session = await newSession();
    const writer = await api("POST", `/api/sessions/${session.id}/client-tokens`, { capabilities: ["publish"] });
    const socket = await socketFor(writer.body.clientToken);
    expect(await socket.request({ type: "subscribe", session: session.id, offset: "-1" })).toMatchObject({ type: "error", code: "forbidden" });
    expect((await socket.request({ type: "publish", session: session.id, event: { type: "message", id: "w1", role: "user", text: "write only" } })).type).toBe("ack");
    expect((await fetch(`${serverA.url}/v1/stream/sessions/${session.id}?offset=-1`, { headers: { authorization: `Bearer ${writer.body.clientToken}` } })).status).toBe(403);
    expect((await api("GET", `/api/sessions/${session.id}/messages`, undefined, writer.body.clientToken)).status).toBe(403);
  });
});

describe("hole 3: a run's deltas respect the delta size limit", () => {
  test(`one huge chunk and a long roll-up window still give deltas of at most ${MAX_DELTA_CHARS} characters, in order, with the whole text`, async () => {
    const sessionId = "ses_delta1";
    const path = `/v1/stream/sessions/${sessionId}`;
    const row = await newStream(path);
    const ctx = new RunContext({ info: { ...runInfo("run_delta", sessionId), options: { rollupWindowMs: 1_000 } }, writer: streams.writer, log });
    const message = await ctx.startMessage("msg_big");
    const huge = "é🙂".repeat(60_000) + "tail";
    message.delta("first ");
    message.delta(huge);
    for (let i = 0; i < 5_000; i++) message.delta("x");
    await message.end("complete");
    await ctx.flush();
    const stored = await database.sql<StoredMessage[]>`select pos, data, count from stream_messages where stream_id = ${row.id} order by pos`;
    const deltas = stored.flatMap((m) => decodeJsonValues(m.data) as any[]).filter((e) => e.type === "message.delta");
    expect(deltas.length).toBeGreaterThan(2);
    for (const delta of deltas) expect(delta.text.length).toBeLessThanOrEqual(MAX_DELTA_CHARS);
    expect(deltas.map((d) => d.text).join("")).toBe("first " + huge + "x".repeat(5_000));
  });
});

describe("typed session responses", () => {
  beforeAll(startPair, 60_000);

  test("/openapi.json describes events with the event vocabulary and tokens with their capabilities (no free-form objects)", async () => {
    const doc = (await api("GET", "/openapi.json")).body;
    const schemas = doc.components.schemas;
    const variants = schemas.SessionEvent.oneOf ?? schemas.SessionEvent.anyOf;
    expect(variants.length).toBeGreaterThanOrEqual(9);
    expect(JSON.stringify(schemas.SessionEvent)).toContain('"message.delta"');
    expect(schemas.CreatedSession.properties.capabilities.items.enum).toEqual(["read", "publish", "control-own", "control-all", "presence"]);
    expect(schemas.CompactedMessage.properties.status.enum).toContain("streaming");
    const events = doc.paths["/api/sessions/{id}/events"].get.responses["200"].content["application/json"].schema;
    expect(JSON.stringify(events)).toContain("#/components/schemas/SessionEvent");
    expect(doc.paths["/api/sessions/{id}/client-tokens/{tokenId}"].delete).toBeDefined();
    expect(doc.paths["/api/tokens/{id}"].delete).toBeDefined();
  });
});

describe("one team gate for sessions", () => {
  beforeAll(startPair, 60_000);

  test("every /api/sessions/{id}… route in /openapi.json answers 404 session_not_found to another team, and stores nothing", async () => {
    const a = await newTeam("gate-a");
    const b = await newTeam("gate-b");
    const session = await newSession({}, b.token);
    await api("POST", `/api/sessions/${session.id}/messages`, { text: "private to B" }, b.token);
    const doc = (await api("GET", "/openapi.json")).body;
    // A valid body per route, so the answer shows the gate rather than input validation. A new route
    // with a required body fails here until it is listed: add it, and make sure it answers 404.
    const bodies: Record<string, unknown> = {
      "POST /api/sessions/{id}/messages": { text: "intrusion" },
      "POST /api/sessions/{id}/runs": { agent: "chat" },
      "POST /api/sessions/{id}/control": { action: "cancel" },
      "POST /api/sessions/{id}/client-tokens": {},
      "POST /api/sessions/{id}/chat": { messages: [{ role: "user", parts: [{ type: "text", text: "intrusion" }] }] },
      "POST /api/sessions/{id}/branches": { messageId: "m1", text: "intrusion" },
    };
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith("/api/sessions/{id}")) continue;
      for (const method of Object.keys(methods)) {
        const url = path.replace("{id}", session.id).replace(/\{[^}]+\}/g, "x1");
        const key = `${method.toUpperCase()} ${path}`;
        const res = await api(method.toUpperCase(), url, method === "get" || method === "delete" ? undefined : (bodies[key] ?? {}), a.token);
        expect({ key, status: res.status, code: res.body?.error?.code }).toEqual({ key, status: 404, code: "session_not_found" });
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect((await api("GET", "/api/sessions", undefined, a.token)).body.sessions.map((s: any) => s.id)).not.toContain(session.id);
    expect((await events(session.id)).map((e) => e.text)).toEqual(["private to B"]);
  });
});
