import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { freshDatabase } from "./support/postgres";
import { startServer, removeDataDir, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

/**
 * Scale-out: two ROLE=web processes and one ROLE=worker process on one database, as behind a load
 * balancer with no sticky sessions. They share SECRET_KEY, so a client token from one works on all.
 */
const SECRET_KEY = "scale-out-secret-key-0123456789abcdef0123456789";

let webA: TestServer;
let webB: TestServer;
let worker: TestServer;

beforeAll(async () => {
  const databaseUrl = await freshDatabase();
  [webA, webB, worker] = await Promise.all([
    startServer({ databaseUrl, env: { ROLE: "web", SECRET_KEY } }),
    startServer({ databaseUrl, env: { ROLE: "web", SECRET_KEY } }),
    startServer({ databaseUrl, env: { ROLE: "worker", SECRET_KEY } }),
  ]);
});

afterAll(async () => {
  for (const server of [webA, webB, worker]) {
    if (!server) continue;
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

async function api(server: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function wsUrl(server: TestServer, token: string): string {
  return `${server.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}`;
}

async function metrics(server: TestServer): Promise<string> {
  const response = await server.fetch("/metrics");
  expect(response.status).toBe(200);
  return response.text();
}

/** The events of `session` a socket has received, as the offsets and types a client would keep. */
function sequence(socket: TestSocket, session: string): string[] {
  return socket.events(session).map((frame) => `${frame.offset} ${frame.event.type} ${JSON.stringify(frame.event)}`);
}

describe("two web processes and one worker on one database", () => {
  test("the worker serves only /healthz and /metrics; the web processes serve the API", async () => {
    expect((await worker.fetch("/healthz")).status).toBe(200);
    expect((await api(worker, "GET", "/api/sessions")).status).toBe(404);
    expect((await worker.fetch("/ws", { auth: true })).status).toBe(404);
    expect(await metrics(worker)).toContain(`ds_info{role="worker"} 1`);
    for (const web of [webA, webB]) {
      expect((await api(web, "GET", "/api/sessions")).status).toBe(200);
      expect(await metrics(web)).toContain(`ds_info{role="web"} 1`);
    }
  });

  test("a client on each web process sees the same session; a run started through one is executed by the worker and cancelled through the other", async () => {
    const created = await api(webA, "POST", "/api/sessions", { title: "scale-out" });
    expect(created.status).toBe(201);
    const session = created.body.id as string;
    // The client token was signed by web A; web B accepts it because they share SECRET_KEY.
    const onA = await TestSocket.open(wsUrl(webA, created.body.clientToken));
    const onB = await TestSocket.open(wsUrl(webB, created.body.clientToken));
    expect((await onA.request({ type: "subscribe", session, offset: "-1" })).type).toBe("subscribed");
    expect((await onB.request({ type: "subscribe", session, offset: "-1" })).type).toBe("subscribed");

    // A message published through B reaches the client on A, and the other way round.
    expect((await onB.request({ type: "publish", session, event: { type: "message", id: "m-from-b", role: "user", text: "hello from B" } })).type).toBe("ack");
    expect((await api(webA, "POST", `/api/sessions/${session}/messages`, { text: "hello from A", id: "m-from-a" })).status).toBe(201);
    await onA.waitForEvents(session, 2);
    await onB.waitForEvents(session, 2);
    expect(sequence(onA, session)).toEqual(sequence(onB, session));

    // A long run, started through web A.
    const started = await api(webA, "POST", `/api/sessions/${session}/runs`, { agent: "chat", provider: "offline", input: { prompt: "a long answer" }, options: { tokens: 2000, tokensPerSecond: 40 } });
    expect(started.status).toBe(202);
    const runId = started.body.runId as string;
    for (const socket of [onA, onB]) {
      await socket.waitFor((f) => f.type === "event" && f.event.type === "run.start" && f.event.runId === runId, 15_000);
      await socket.waitFor((f) => f.type === "event" && f.event.type === "message.delta" && f.event.runId === runId, 15_000);
    }
    // Cancelled through web B, while it streams.
    const cancel = await api(webB, "POST", `/api/sessions/${session}/control`, { action: "cancel", runId });
    expect(cancel.status).toBe(202);
    for (const socket of [onA, onB]) {
      const end = await socket.waitFor((f) => f.type === "event" && f.event.type === "run.end" && f.event.runId === runId, 15_000);
      expect(end.event.status).toBe("cancelled");
    }
    const message = onA.events(session).find((f) => f.event.type === "message.end" && f.event.runId === runId);
    expect(message.event.status).toBe("cancelled");
    // The run appends its run.end just before it updates its row: give the row a moment to follow.
    const status = async () => (await api(webB, "GET", `/api/sessions/${session}`)).body.runs.find((r: { runId: string }) => r.runId === runId)?.status;
    for (let i = 0; i < 50 && (await status()) === "running"; i++) await Bun.sleep(20);
    expect(await status()).toBe("cancelled");
    // Both clients saw exactly the same log.
    await Bun.sleep(200);
    expect(sequence(onA, session)).toEqual(sequence(onB, session));

    // The worker executed it: only its log has the run ending, and only it measured the run.
    await worker.waitForLog(new RegExp(`"msg":"run ended".*"runId":"${runId}"`), 5_000);
    for (const web of [webA, webB]) expect(web.logs.some((line) => line.includes(`"runId":"${runId}"`) && line.includes("run ended"))).toBe(false);
    expect(await metrics(worker)).toMatch(/ds_run_duration_seconds_count\{agent="chat",status="cancelled"\} 1/);
    for (const web of [webA, webB]) expect(await metrics(web)).not.toContain("ds_run_duration_seconds_count{");
    await onA.close();
    await onB.close();
  });

  test("a client that reconnects to the other web process resumes from its offset with nothing lost or repeated", async () => {
    const created = await api(webA, "POST", "/api/sessions", {});
    const session = created.body.id as string;
    const watcher = await TestSocket.open(wsUrl(webB, created.body.clientToken));
    await watcher.request({ type: "subscribe", session, offset: "-1" });
    const first = await TestSocket.open(wsUrl(webA, created.body.clientToken));
    await first.request({ type: "subscribe", session, offset: "-1" });

    const started = await api(webA, "POST", `/api/sessions/${session}/runs`, { agent: "chat", provider: "offline", input: { prompt: "resume across instances" }, options: { tokens: 60, tokensPerSecond: 60 } });
    const runId = started.body.runId as string;
    await first.waitFor((f) => f.type === "event" && f.event.type === "message.delta" && f.event.runId === runId, 15_000);
    const seen = first.events(session);
    const lastOffset = seen[seen.length - 1].offset as string;
    await first.close();

    // Reconnect to web B from the last offset seen on web A.
    const second = await TestSocket.open(wsUrl(webB, created.body.clientToken));
    await second.request({ type: "subscribe", session, offset: lastOffset });
    await watcher.waitFor((f) => f.type === "event" && f.event.type === "run.end" && f.event.runId === runId, 15_000);
    await second.waitFor((f) => f.type === "event" && f.event.type === "run.end" && f.event.runId === runId, 15_000);
    const resumed = [...seen.filter((f) => f.offset <= lastOffset), ...second.events(session)].map((f) => `${f.offset} ${JSON.stringify(f.event)}`);
    expect(resumed).toEqual(watcher.events(session).map((f) => `${f.offset} ${JSON.stringify(f.event)}`));
    await second.close();
    await watcher.close();
  });
});
