import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres from "postgres";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

const sockets: TestSocket[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
});

async function api(method: string, path: string, body?: unknown, token = TEST_API_TOKEN) {
  const res = await server.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function chatSession(doubleTexting: string, options: Record<string, unknown> = { tokens: 40, tokensPerSecond: 60 }) {
  const created = await api("POST", "/api/sessions", { title: `turns ${doubleTexting}`, agent: "chat", provider: "offline", options, doubleTexting });
  expect(created.status).toBe(201);
  return created.body as { id: string; clientToken: string };
}
async function subscribe(id: string, token = TEST_API_TOKEN) {
  const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${token}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, offset: "-1" });
  return ws;
}
const events = (ws: TestSocket, id: string) => ws.events(id).map((f) => f.event);
const runEnd = (ws: TestSocket, id: string, runId: string, timeoutMs = 20_000) =>
  ws.waitFor((f) => f.session === id && f.event?.type === "run.end" && f.event.runId === runId, timeoutMs).then((f) => f.event);
const answerOf = (ws: TestSocket, id: string, runId: string) =>
  events(ws, id).filter((e) => e.type === "message.delta" && e.runId === runId).map((e) => e.text).join("");
const say = (id: string, text: string, extra: Record<string, unknown> = {}) => api("POST", `/api/sessions/${id}/messages`, { text, ...extra });

describe("turns: a plain user message starts a turn with the session's agent", () => {
  test("the session shows its agent and policy, and a message is answered in reply to it", async () => {
    const { id } = await chatSession("enqueue", { tokens: 12, tokensPerSecond: 400 });
    const ws = await subscribe(id);
    const posted = await say(id, "Tell me about tulips");
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({ turn: "active" });
    expect((await runEnd(ws, id, posted.body.runId)).status).toBe("completed");
    const start = events(ws, id).find((e) => e.type === "message.start" && e.runId === posted.body.runId);
    expect(start.inReplyTo).toBe(posted.body.messageId);
    expect(answerOf(ws, id, posted.body.runId)).toContain("tulips");
    const session = (await api("GET", `/api/sessions/${id}`)).body;
    expect(session).toMatchObject({ agent: "chat", doubleTexting: "enqueue", turns: { active: [], queued: [] } });
  });

  test("a session without an agent leaves a plain message unanswered; an unknown agent is a 400", async () => {
    const plain = (await api("POST", "/api/sessions", { title: "plain" })).body.id;
    const posted = await say(plain, "anyone there?");
    expect(posted.status).toBe(201);
    expect(posted.body.runId).toBeUndefined();
    expect((await api("GET", `/api/sessions/${plain}`)).body).toMatchObject({ agent: null, doubleTexting: "parallel", runs: [] });
    const bad = await api("POST", "/api/sessions", { agent: "nope" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("unknown_agent");
    expect((await api("POST", "/api/sessions", { agent: "chat", doubleTexting: "sometimes" })).status).toBe(400);
  });
});

describe("double-texting: two messages during a run", () => {
  test("enqueue: answered in order, one turn at a time, each answering its own message", async () => {
    const { id } = await chatSession("enqueue");
    const ws = await subscribe(id);
    const first = await say(id, "Tell me about tulips");
    const second = await say(id, "Now about lighthouses");
    const third = await say(id, "Finally about volcanoes");
    expect([first.body.turn, second.body.turn, third.body.turn]).toEqual(["active", "queued", "queued"]);
    const during = (await api("GET", `/api/sessions/${id}`)).body.turns;
    expect(during.queued.map((t: any) => t.messageId)).toEqual([second.body.messageId, third.body.messageId]);
    const runIds = [first, second, third].map((p) => p.body.runId);
    for (const runId of runIds) expect((await runEnd(ws, id, runId)).status).toBe("completed");
    // Each run starts only after the one before has ended: no interleaving.
    const sequence = events(ws, id).filter((e) => (e.type === "run.start" || e.type === "run.end") && runIds.includes(e.runId)).map((e) => `${e.type}:${runIds.indexOf(e.runId)}`);
    expect(sequence).toEqual(["run.start:0", "run.end:0", "run.start:1", "run.end:1", "run.start:2", "run.end:2"]);
    expect(answerOf(ws, id, runIds[0])).toContain("tulips");
    expect(answerOf(ws, id, runIds[1])).toContain("lighthouses");
    expect(answerOf(ws, id, runIds[2])).toContain("volcanoes");
    // turn.state events tell subscribers the queue as it changes; the last one is empty.
    const states = events(ws, id).filter((e) => e.type === "turn.state");
    expect(states.some((s) => s.queued.length === 2)).toBe(true);
    await ws.waitFor((f) => f.session === id && f.event?.type === "turn.state" && f.event.active.length === 0 && f.event.queued.length === 0 && f.offset > ws.events(id).find((g: any) => g.event.type === "run.end" && g.event.runId === runIds[2]).offset);
  }, 30_000);

  test("interrupt: the running turn ends interrupted, then the new message is answered", async () => {
    const { id } = await chatSession("interrupt", { tokens: 400, tokensPerSecond: 40 });
    const ws = await subscribe(id);
    const first = await say(id, "Tell me about tulips");
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === first.body.runId);
    const second = await say(id, "Stop, tell me about lighthouses", { });
    expect(second.body.turn).toBe("queued");
    const firstEnd = await runEnd(ws, id, first.body.runId);
    expect(firstEnd.status).toBe("interrupted");
    const firstMessageEnd = events(ws, id).find((e) => e.type === "message.end" && e.runId === first.body.runId);
    expect(firstMessageEnd.status).toBe("interrupted");
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === second.body.runId && answerOf(ws, id, second.body.runId).includes("lighthouses"), 15_000);
    const all = events(ws, id);
    expect(all.findIndex((e) => e.type === "run.start" && e.runId === second.body.runId)).toBeGreaterThan(all.findIndex((e) => e.type === "run.end" && e.runId === first.body.runId));
    await api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId: second.body.runId });
    expect((await runEnd(ws, id, second.body.runId)).status).toBe("cancelled");
    const runs = (await api("GET", `/api/sessions/${id}`)).body.runs;
    expect(runs.find((r: any) => r.runId === first.body.runId).status).toBe("interrupted");
  }, 30_000);

  test("reject: a message during a turn is a 409 naming the active run, and nothing is stored", async () => {
    const { id } = await chatSession("reject", { tokens: 400, tokensPerSecond: 40 });
    const ws = await subscribe(id);
    const first = await say(id, "Tell me about tulips");
    const second = await say(id, "And lighthouses?", { id: "m-second" });
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: "turn_active", runId: first.body.runId });
    const messages = (await api("GET", `/api/sessions/${id}/messages`)).body.messages;
    expect(messages.some((m: any) => m.id === "m-second")).toBe(false);
    expect(events(ws, id).some((e) => e.type === "message" && e.id === "m-second")).toBe(false);
    // Over the socket, the same refusal.
    const refused = await ws.request({ type: "publish", session: id, event: { type: "message", id: "m-ws", role: "user", text: "me too" } });
    expect(refused).toMatchObject({ type: "error", code: "turn_active", runId: first.body.runId });
    await api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId: first.body.runId });
    await runEnd(ws, id, first.body.runId);
    // Once the turn's run.end is seen, the retried message is accepted and answered.
    const retried = await say(id, "And lighthouses?", { id: "m-second" });
    expect(retried.status).toBe(201);
    expect(retried.body.turn).toBe("active");
  }, 30_000);

  test("parallel: both messages are answered at once, their deltas keyed by run", async () => {
    const { id } = await chatSession("parallel", { tokens: 60, tokensPerSecond: 60 });
    const ws = await subscribe(id);
    const first = await say(id, "Tell me about tulips");
    const second = await say(id, "Tell me about lighthouses");
    expect([first.body.turn, second.body.turn]).toEqual(["active", "active"]);
    await Promise.all([runEnd(ws, id, first.body.runId), runEnd(ws, id, second.body.runId)]);
    const all = events(ws, id);
    const firstEnd = all.findIndex((e) => e.type === "run.end" && e.runId === first.body.runId);
    expect(all.findIndex((e) => e.type === "run.start" && e.runId === second.body.runId)).toBeLessThan(firstEnd);
    expect(all.some((e) => e.type === "turn.state" && e.active.length === 2)).toBe(true);
    expect(answerOf(ws, id, first.body.runId)).toContain("tulips");
    expect(answerOf(ws, id, second.body.runId)).toContain("lighthouses");
  }, 30_000);

  test("a message's own policy overrides the session's, over HTTP and over the socket with a client token", async () => {
    const { id, clientToken } = await chatSession("parallel", { tokens: 400, tokensPerSecond: 40 });
    const client = await subscribe(id, clientToken);
    const first = await client.request({ type: "publish", session: id, event: { type: "message", id: "c1", role: "user", text: "Tell me about tulips" } });
    expect(first).toMatchObject({ type: "ack", turn: "active" });
    const queued = await client.request({ type: "publish", session: id, doubleTexting: "enqueue", event: { type: "message", id: "c2", role: "user", text: "then lighthouses" } });
    expect(queued).toMatchObject({ type: "ack", turn: "queued" });
    const rejected = await say(id, "and volcanoes", { doubleTexting: "reject" });
    expect(rejected.status).toBe(409);
    await api("POST", `/api/sessions/${id}/control`, { action: "cancel", scope: "all" });
    await runEnd(client, id, first.runId);
    // The queued turn saw the cancel before it started: it ends at once, and the queue drains.
    expect((await runEnd(client, id, queued.runId)).status).toBe("cancelled");
  }, 30_000);
});

describe("a run's end is one moment: once run.end is seen, the turn is over for every API", () => {
  /**
   * Holds the run's row locked for `ms` (a stand-in for a slow database) while `end` makes the run
   * end, so a moment in which run.end is in the session but the row still says the run is going
   * (the old order: append run.end, then close the row) lasts long enough for a client to meet it.
   */
  async function endWhileRowLocked(runId: string, ms: number, end: () => Promise<unknown>) {
    const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      await sql.begin(async (tx) => {
        await tx`select 1 from runs where id = ${runId} for update`;
        await end();
        await Bun.sleep(ms);
      });
    } finally {
      await sql.end();
    }
  }

  for (const ending of ["completed", "cancelled"] as const) {
    for (const via of ["socket", "http"] as const) {
      test(`reject: a message sent over ${via === "http" ? "HTTP" : "the socket"} the instant run.end (${ending}) arrives is accepted`, async () => {
        const { id } = await chatSession("reject", ending === "completed" ? { tokens: 24, tokensPerSecond: 60 } : { tokens: 400, tokensPerSecond: 40 });
        const ws = await subscribe(id);
        const first = await say(id, "Tell me about tulips");
        expect(first.status).toBe(201);
        const runId = first.body.runId;
        await ws.waitFor((f) => f.session === id && f.event?.type === "message.delta" && f.event.runId === runId);
        // The client reacts to run.end at once: no wait for turn.state or anything else.
        const reply = runEnd(ws, id, runId).then(async (end) => {
          const sent = via === "socket"
            ? await ws.request({ type: "publish", session: id, event: { type: "message", id: `m-${via}`, role: "user", text: "And lighthouses?" } })
            : (await say(id, "And lighthouses?", { id: `m-${via}` })).body;
          return { end, sent };
        });
        await endWhileRowLocked(runId, 600, () => (ending === "cancelled" ? api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId }) : Promise.resolve()));
        const { end, sent } = await reply;
        expect(end.status).toBe(ending);
        expect(sent).not.toMatchObject({ code: "turn_active" });
        expect(sent.error).toBeUndefined();
        expect(sent).toMatchObject({ turn: "active" });
        expect(sent.runId).not.toBe(runId);
        // What the client saw is what the API says: the run is ended, no turn but the new one is active.
        const session = (await api("GET", `/api/sessions/${id}`)).body;
        expect(session.runs.find((r: any) => r.runId === runId).status).toBe(ending);
        expect(session.turns.active.map((t: any) => t.runId)).not.toContain(runId);
        await api("POST", `/api/sessions/${id}/control`, { action: "cancel", scope: "all" });
        await runEnd(ws, id, sent.runId);
        // Exactly one run.end per run.
        expect(events(ws, id).filter((e) => e.type === "run.end" && e.runId === runId)).toHaveLength(1);
      }, 60_000);
    }
  }
});

describe("a turn decision's events reach the session only once the decision has committed", () => {
  const allEvents = async (id: string) => (await api("GET", `/api/sessions/${id}/events?offset=-1&limit=1000`)).body.events.map((e: any) => e.event);

  test("interrupt: a decision that fails after its interrupts leaves no run.end, control or message behind; retried, each interrupted turn ends once, before the new turn starts", async () => {
    const { id } = await chatSession("interrupt", { tokens: 400, tokensPerSecond: 40 });
    const ws = await subscribe(id);
    const first = await say(id, "Tell me about tulips");
    await ws.waitFor((f) => f.session === id && f.event?.type === "message.delta" && f.event.runId === first.body.runId);
    const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
    const ghost = `run_ghost_${id}`;
    try {
      // A second turn, queued and not started (no job ever takes it): an interrupt ends it with its own run.end.
      await sql`insert into runs (id, session_id, agent, status, turn, message_id, start_pos) values (${ghost}, ${id}, 'chat', 'queued', true, 'm-ghost', 0)`;
      // The new turn's insert, which comes after the interrupts in the decision, fails: the decision rolls back.
      await sql.unsafe(`create function doomed_turn() returns trigger language plpgsql as $$ begin raise exception 'doomed turn'; end $$`);
      await sql.unsafe(`create trigger doomed_turn before insert on runs for each row when (new.message_id = 'm-doomed') execute function doomed_turn()`);
      const failed = await say(id, "Stop, tell me about lighthouses", { id: "m-doomed" });
      expect(failed.status).toBe(500);
      const left = await allEvents(id);
      expect(left.filter((e: any) => e.type === "run.end")).toEqual([]);
      expect(left.filter((e: any) => e.type === "control")).toEqual([]);
      expect(left.some((e: any) => e.type === "message" && e.id === "m-doomed")).toBe(false);
      const rows = await sql<{ id: string; status: string }[]>`select id, status from runs where id in ${sql([first.body.runId, ghost])} order by id = ${ghost}`;
      expect(rows.map((r) => r.status)).toEqual(["running", "queued"]);

      // The same message again, once it can be taken: both turns end interrupted, once each.
      await sql.unsafe(`drop trigger doomed_turn on runs`);
      const retried = await say(id, "Stop, tell me about lighthouses", { id: "m-doomed" });
      expect(retried.status).toBe(201);
      expect(retried.body.turn).toBe("queued");
      expect((await runEnd(ws, id, ghost)).status).toBe("interrupted");
      expect((await runEnd(ws, id, first.body.runId)).status).toBe("interrupted");
      // The ended turn owes nothing any more: its run.end is in the session.
      expect((await sql`select 1 from runs where id = ${ghost} and heartbeat_at is not null`).length).toBe(0);
      const next = retried.body.runId;
      await ws.waitFor((f) => f.session === id && f.event?.type === "message.delta" && f.event.runId === next, 15_000);
      await api("POST", `/api/sessions/${id}/control`, { action: "cancel", runId: next });
      await runEnd(ws, id, next);
      const all = await allEvents(id);
      const at = (type: string, runId: string) => all.findIndex((e: any) => e.type === type && e.runId === runId);
      expect(at("run.start", next)).toBeGreaterThan(at("run.end", ghost));
      expect(at("run.start", next)).toBeGreaterThan(at("run.end", first.body.runId));
      for (const runId of [ghost, first.body.runId, next]) expect(all.filter((e: any) => e.type === "run.end" && e.runId === runId)).toHaveLength(1);
      expect(all.filter((e: any) => e.type === "control" && e.action === "interrupt")).toHaveLength(1);
      expect(all.filter((e: any) => e.type === "message" && e.id === "m-doomed")).toHaveLength(1);
    } finally {
      await sql.end();
    }
  }, 60_000);

  test("a turn ended by an interrupt whose process died before its run.end: it holds the session until the reaper appends the run.end, then the next turn starts", async () => {
    const { id } = await chatSession("enqueue", { tokens: 12, tokensPerSecond: 400 });
    const ws = await subscribe(id);
    const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
    const ghost = `run_owed_${id}`;
    try {
      // What #interrupt committed, with the process gone before it appended (heartbeat_at: run.end owed).
      await sql`insert into runs (id, session_id, agent, status, turn, message_id, start_pos, ended_at, heartbeat_at)
        values (${ghost}, ${id}, 'chat', 'interrupted', true, 'm-owed', 0, now(), now() - interval '1 minute')`;
      const posted = await say(id, "Tell me about tulips");
      expect(posted.body.turn).toBe("queued");
      expect((await runEnd(ws, id, ghost)).status).toBe("interrupted");
      expect((await runEnd(ws, id, posted.body.runId)).status).toBe("completed");
      const all = events(ws, id);
      expect(all.findIndex((e) => e.type === "run.start" && e.runId === posted.body.runId)).toBeGreaterThan(all.findIndex((e) => e.type === "run.end" && e.runId === ghost));
    } finally {
      await sql.end();
    }
  }, 60_000);
});
