import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres from "postgres";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";
import { TestSocket } from "./support/ws";

const servers: TestServer[] = [];
const sockets: TestSocket[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await start();
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  for (const s of servers) if (s.process.exitCode === null) await s.stop();
});

async function start(options: Parameters<typeof startServer>[0] = {}) {
  const started = await startServer(options);
  servers.push(started);
  return started;
}
async function api(on: TestServer, method: string, path: string, body?: unknown, token = TEST_API_TOKEN) {
  const res = await on.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function subscribe(on: TestServer, id: string, token = TEST_API_TOKEN) {
  const ws = await TestSocket.open(`${on.url.replace("http", "ws")}/ws?token=${token}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, offset: "-1" });
  return ws;
}
async function runStatus(on: TestServer, id: string, runId: string, want: string) {
  for (let i = 0; i < 200; i++) {
    const run = (await api(on, "GET", `/api/sessions/${id}`)).body.runs.find((r: any) => r.runId === runId);
    if (run?.status === want) return;
    await Bun.sleep(50);
  }
  throw new Error(`run ${runId} never became ${want}`);
}
async function startApproval(on: TestServer, input: Record<string, unknown> = {}) {
  const id = (await api(on, "POST", "/api/sessions", { title: "approvals" })).body.id as string;
  const ws = await subscribe(on, id);
  const { runId } = (await api(on, "POST", `/api/sessions/${id}/runs`, { agent: "approval", input: { prompt: "announce the spring sale", ...input } })).body;
  const request = (await ws.waitFor((f) => f.event?.type === "input.request" && f.event.runId === runId)).event;
  await runStatus(on, id, runId, "suspended");
  return { id, ws, runId, request };
}
const runEnd = (ws: TestSocket, id: string, runId: string, timeoutMs = 30_000) =>
  ws.waitFor((f) => f.session === id && f.event?.type === "run.end" && f.event.runId === runId, timeoutMs).then((f) => f.event);
const texts = (ws: TestSocket, id: string, runId: string) => {
  const byId = new Map<string, string>();
  for (const e of ws.events(id).map((f) => f.event)) if (e.type === "message.delta" && e.runId === runId) byId.set(e.id, (byId.get(e.id) ?? "") + e.text);
  return [...byId.values()];
};

describe("durable approvals", () => {
  test("a suspended run holds no job; answered from a second client after SIGKILL and a restart, it resumes once", async () => {
    const databaseUrl = await freshDatabase();
    const first = await start({ databaseUrl });
    const { id, runId, request } = await startApproval(first);
    expect(request).toMatchObject({ type: "input.request", runId, kind: "approval", prompt: expect.stringContaining("send_email") });
    // Suspended = no active job for the run: no worker or job slot is held while it waits.
    const db = postgres(databaseUrl, { max: 1 });
    const active = await db`select count(*)::int as n from pgboss.job where name = 'agent-run' and state = 'active' and data->>'runId' = ${runId}`;
    expect(active[0]!.n).toBe(0);
    await db.end();
    await first.kill();

    const second = await start({ databaseUrl });
    const { clientToken } = (await api(second, "POST", `/api/sessions/${id}/client-tokens`, { clientId: "phone" })).body;
    const phone = await subscribe(second, id, clientToken);
    const answered = await phone.request({ type: "control", session: id, action: "respond", requestId: request.requestId, value: true });
    expect(answered.type).toBe("ack");
    expect((await runEnd(phone, id, runId)).status).toBe("completed");
    // A second answer (another client, or a retry) is refused: the run resumes exactly once.
    const again = await api(second, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: false });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("request_closed");
    await Bun.sleep(300);
    const events = phone.events(id).map((f) => f.event).filter((e) => e.runId === runId);
    expect(events.filter((e) => e.type === "run.start")).toHaveLength(1);
    expect(events.filter((e) => e.type === "run.end")).toHaveLength(1);
    expect(events.filter((e) => e.type === "control" && e.action === "respond")).toEqual([expect.objectContaining({ requestId: request.requestId, value: true, clientId: "phone" })]);
    const said = texts(phone, id, runId);
    expect(said).toHaveLength(2);
    expect(said[1]).toStartWith("Approved. Called send_email");
  }, 120_000);

  test("declined over HTTP; a wrong value is a 400 and stores nothing", async () => {
    const { id, ws, runId, request } = await startApproval(server);
    const wrong = await api(server, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: "sure" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe("invalid_value");
    const unknown = await api(server, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: "req_nope", value: true });
    expect(unknown.status).toBe(404);
    expect(ws.events(id).some((f) => f.event.type === "control" && f.event.action === "respond")).toBe(false);
    expect((await api(server, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: false })).status).toBe(202);
    expect((await runEnd(ws, id, runId)).status).toBe("completed");
    expect(texts(ws, id, runId).at(-1)).toBe("Declined: send_email was not called.");
  });

  test("an unanswered question expires at its deadline and the run goes on without the tool", async () => {
    const { id, ws, runId, request } = await startApproval(server, { timeoutMs: 300 });
    expect((await runEnd(ws, id, runId, 30_000)).status).toBe("completed");
    expect(texts(ws, id, runId).at(-1)).toBe("No answer in time: send_email was not called.");
    const late = await api(server, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: true });
    expect(late.status).toBe(409);
  }, 60_000);

  test("cancel while suspended ends the run cancelled; the question takes no answer after", async () => {
    const { id, ws, runId, request } = await startApproval(server);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId });
    expect((await runEnd(ws, id, runId)).status).toBe("cancelled");
    const late = await api(server, "POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: true });
    expect(late.status).toBe(409);
  });
});
