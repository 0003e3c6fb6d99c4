import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

/**
 * A cancel by scope (`all`, or `own` from a client token) names no run, yet once it is acked no delta
 * of the runs it cancels may follow it in the stream: only their message.end and run.end. Fast runs
 * with a 1 ms roll-up have a delta in flight at almost any moment, so without a fence some land after it.
 */
let server: TestServer;
const sockets: TestSocket[] = [];
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
});

async function api(method: string, path: string, body?: unknown, token = TEST_API_TOKEN) {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function follow(id: string) {
  const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${TEST_API_TOKEN}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, offset: "-1" });
  return ws;
}
const FAST = { tokens: 5000, tokensPerSecond: 1000, rollupWindowMs: 1 };

/** After the control event at `offset`, each of `runIds` writes only its message.end and run.end (both cancelled). */
function expectOnlyEndsAfter(ws: TestSocket, id: string, offset: string, runIds: string[]) {
  const frames = ws.events(id);
  const at = frames.findIndex((f) => f.offset === offset && f.event.type === "control");
  expect(at).toBeGreaterThan(-1);
  for (const runId of runIds) {
    const after = frames.slice(at + 1).map((f) => f.event).filter((e) => e.runId === runId && e.type !== "control" && e.type !== "turn.state");
    expect({ runId, after: after.map((e) => `${e.type}:${e.status ?? ""}`) }).toEqual({ runId, after: ["message.end:cancelled", "run.end:cancelled"] });
  }
}

describe("cancel by scope fences the runs it cancels", () => {
  test("scope all: 30 runs (10 sessions × 3) — no delta of a cancelled run follows the acked cancel", async () => {
    for (let round = 0; round < 10; round++) {
      const id = (await api("POST", "/api/sessions", { title: `scope all ${round}` })).body.id as string;
      const ws = await follow(id);
      const runIds: string[] = [];
      for (let i = 0; i < 3; i++) runIds.push((await api("POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", input: { prompt: `race ${round}.${i}` }, options: FAST })).body.runId);
      for (const runId of runIds) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId, 20_000);
      const control = await api("POST", `/api/sessions/${id}/control`, { action: "cancel", scope: "all" });
      expect(control.status).toBe(202);
      for (const runId of runIds) await ws.waitFor((f) => f.event?.type === "run.end" && f.event.runId === runId, 20_000);
      expectOnlyEndsAfter(ws, id, control.body.offset, runIds);
      ws.ws.close();
    }
  }, 300_000);

  test("a cancel naming a fanout parent fences its sub-agents too (5 rounds)", async () => {
    for (let round = 0; round < 5; round++) {
      const id = (await api("POST", "/api/sessions", { title: `fanout ${round}` })).body.id as string;
      const ws = await follow(id);
      const parent = (await api("POST", `/api/sessions/${id}/runs`, { agent: "fanout", provider: "offline", input: { prompt: `tulips ${round}` }, options: FAST })).body.runId as string;
      await ws.waitFor(() => ws.events(id).filter((f) => f.event.type === "run.start" && f.event.parentRunId === parent).length === 2, 20_000);
      const children = ws.events(id).filter((f) => f.event.type === "run.start" && f.event.parentRunId === parent).map((f) => f.event.runId as string);
      for (const runId of children) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId, 20_000);
      const control = await api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId: parent });
      expect(control.status).toBe(202);
      for (const runId of [parent, ...children]) await ws.waitFor((f) => f.event?.type === "run.end" && f.event.runId === runId, 20_000);
      expectOnlyEndsAfter(ws, id, control.body.offset, children);
      ws.ws.close();
    }
  }, 300_000);

  test("scope own from a client token: its own turns are fenced, another client's turn runs on", async () => {
    for (let round = 0; round < 5; round++) {
      const created = (await api("POST", "/api/sessions", { title: `scope own ${round}`, agent: "chat", provider: "offline", options: FAST, doubleTexting: "parallel" })).body;
      const id = created.id as string;
      const other = (await api("POST", `/api/sessions/${id}/client-tokens`, { clientId: `other-${round}` })).body.clientToken as string;
      const ws = await follow(id);
      for (let i = 0; i < 3; i++) expect((await api("POST", `/api/sessions/${id}/messages`, { text: `mine ${i}` }, created.clientToken)).status).toBe(201);
      expect((await api("POST", `/api/sessions/${id}/messages`, { text: "theirs" }, other)).status).toBe(201);
      const starts = await (async () => {
        await ws.waitFor(() => ws.events(id).filter((f) => f.event.type === "run.start").length === 4, 20_000);
        return ws.events(id).filter((f) => f.event.type === "run.start").map((f) => f.event.runId as string);
      })();
      const runs = (await api("GET", `/api/sessions/${id}`)).body.runs as Array<{ runId: string }>;
      expect(runs.length).toBe(4);
      for (const runId of starts) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId, 20_000);
      // Own cancel: the token has control-own, so a cancel naming no run is narrowed to its own runs.
      const control = await api("POST", `/api/sessions/${id}/control`, { action: "cancel" }, created.clientToken);
      expect(control.status).toBe(202);
      const controlEvent = await ws.waitFor((f) => f.offset === control.body.offset && f.event?.type === "control");
      expect(controlEvent.event.scope).toBe("own");
      // Which run is whose: the turn answering "theirs" is the other client's.
      const sessionRuns = (await api("GET", `/api/sessions/${id}`)).body;
      const theirs = ws.events(id).find((f) => f.event.type === "message" && f.event.text === "theirs")!.event.id as string;
      const theirRun = ws.events(id).find((f) => f.event.type === "message.start" && f.event.inReplyTo === theirs)!.event.runId as string;
      const mine = starts.filter((runId) => runId !== theirRun);
      expect(mine.length).toBe(3);
      for (const runId of mine) await ws.waitFor((f) => f.event?.type === "run.end" && f.event.runId === runId, 20_000);
      expectOnlyEndsAfter(ws, id, control.body.offset, mine);
      // The other client's turn was not cancelled: it still streams after the cancel.
      await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === theirRun && f.offset > control.body.offset, 20_000);
      expect(sessionRuns.runs.length).toBe(4);
      await api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId: theirRun });
      ws.ws.close();
    }
  }, 300_000);
});
