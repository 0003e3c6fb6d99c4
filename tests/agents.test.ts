import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres from "postgres";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";
import { TestSocket } from "./support/ws";
import { startFakeProviders, fakeReply, type FakeProviders } from "./support/fake-providers";
import { OfflineProvider } from "../src/agents/providers/offline";
import { AnthropicProvider } from "../src/agents/providers/anthropic";
import { OpenAIProvider } from "../src/agents/providers/openai";
import { CONTINUATION_PROMPT } from "../src/agents/providers/types";

const servers: TestServer[] = [];
const sockets: TestSocket[] = [];
let fakes: FakeProviders;
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  for (const server of servers) await server.stop();
  fakes?.stop();
});
async function start(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  servers.push(server);
  return server;
}
async function api(server: TestServer, method: string, path: string, body?: unknown) {
  const res = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function session(server: TestServer) {
  return (await api(server, "POST", "/api/sessions", { title: "agents" })).body.id as string;
}
async function subscribe(server: TestServer, id: string, offset = "-1") {
  const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${TEST_API_TOKEN}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, offset });
  return ws;
}
const runEvents = (ws: TestSocket, id: string, runId: string) => ws.events(id).map((f) => f.event).filter((e) => e.runId === runId);
async function waitForRunEnd(ws: TestSocket, id: string, runId: string, timeoutMs = 15_000) {
  return (await ws.waitFor((f) => f.type === "event" && f.session === id && f.event.type === "run.end" && f.event.runId === runId, timeoutMs)).event;
}

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await Bun.sleep(20);
  }
}

let server: TestServer;
beforeAll(async () => {
  fakes = startFakeProviders();
  server = await start({ env: { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fakes.anthropicUrl, OPENAI_API_KEY: "sk-openai-test", OPENAI_BASE_URL: fakes.openaiUrl } });
}, 60_000);

describe("runs", () => {
  test("an offline chat run streams rolled-up deltas that concatenate to the compacted message", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const posted = await api(server, "POST", `/api/sessions/${id}/messages`, { text: "How do durable sessions survive a dropped connection?", run: { agent: "chat", provider: "offline", options: { tokens: 60, tokensPerSecond: 400 } } });
    expect(posted.status).toBe(201);
    const runId = posted.body.runId;
    expect(await waitForRunEnd(ws, id, runId)).toEqual({ type: "run.end", runId, status: "completed" });
    const events = runEvents(ws, id, runId);
    expect(events.map((e) => e.type).filter((t) => t !== "message.delta")).toEqual(["run.start", "message.start", "message.end", "run.end"]);
    const deltas = events.filter((e) => e.type === "message.delta");
    // 60 tokens at 400/s in 40 ms windows: coalesced, far fewer deltas than tokens.
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.length).toBeLessThan(40);
    const text = deltas.map((e) => e.text).join("");
    const messages = (await api(server, "GET", `/api/sessions/${id}/messages`)).body.messages;
    expect(messages[1]).toMatchObject({ role: "assistant", status: "complete", runId, text });
    expect(text.startsWith("Here is an offline draft") || text.startsWith("Offline draft") || text.startsWith("Working offline")).toBe(true);
    expect(text).toContain("durable");
    // The run's row is closed before its run.end is appended: no wait.
    expect((await api(server, "GET", `/api/sessions/${id}`)).body.runs).toEqual([{ runId, agent: "chat", status: "completed" }]);
  });

  test("a streaming run is a presence member with status streaming, and is gone once it ended", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 40, tokensPerSecond: 40 } })).body;
    const agentMember = (f: any) => f.type === "presence" && f.session === id && f.members.some((m: any) => m.clientId === "agent:chat");
    const streaming = await ws.waitFor((f) => agentMember(f) && f.members.some((m: any) => m.clientId === "agent:chat" && m.status === "streaming"));
    expect(streaming.members.find((m: any) => m.clientId === "agent:chat")).toMatchObject({ device: "agent", status: "streaming" });
    await waitForRunEnd(ws, id, runId);
    const ended = ws.frames.length;
    // The last presence frame after run.end lists no agent (the run left; no status of it came back).
    await ws.waitFor((f) => f.type === "presence" && f.session === id && ws.frames.indexOf(f) >= ended && !agentMember(f));
    await Bun.sleep(300);
    const last = ws.frames.filter((f) => f.type === "presence" && f.session === id).at(-1);
    expect(last.members.some((m: any) => m.clientId === "agent:chat")).toBe(false);
    expect((await api(server, "GET", `/api/sessions/${id}`)).body.presence).toEqual(last.members);
  });

  test("offline output is deterministic for the same input", () => {
    const provider = new OfflineProvider();
    const request = { messages: [{ role: "user" as const, content: "Plan a spring launch email" }], tokens: 80 };
    expect(provider.compose(request)).toBe(provider.compose(request));
    expect(provider.compose(request)).not.toBe(provider.compose({ ...request, messages: [{ role: "user", content: "Something else entirely" }] }));
    expect(provider.compose(request).split(/\s+/).length).toBe(80);
  });

  test("cancel ends message and run as cancelled within 250 ms, with no delta after it", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    const sent = performance.now();
    const control = await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId });
    expect(control.status).toBe(202);
    const end = await waitForRunEnd(ws, id, runId);
    const elapsed = performance.now() - sent;
    expect(end.status).toBe("cancelled");
    expect(elapsed).toBeLessThan(250);
    const frames = ws.events(id);
    const controlIndex = frames.findIndex((f) => f.offset === control.body.offset);
    const after = frames.slice(controlIndex + 1).map((f) => f.event);
    expect(after.map((e) => e.type)).toEqual(["message.end", "run.end"]);
    expect(after[0].status).toBe("cancelled");
    await Bun.sleep(200);
    expect(ws.events(id).length).toBe(frames.length);
    expect((await api(server, "GET", `/api/sessions/${id}`)).body.runs[0].status).toBe("cancelled");
  });

  test("nothing but the run's message.end and run.end follows a cancel that names it, even with deltas in flight", async () => {
    // Fast runs with a 1 ms rollup have a delta in flight at almost any moment: without the fence,
    // some land after the cancel.
    const id = await session(server);
    const ws = await subscribe(server, id);
    const runIds: string[] = [];
    for (let i = 0; i < 12; i++) runIds.push((await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", input: { prompt: `race ${i}` }, options: { tokens: 5000, tokensPerSecond: 1000, rollupWindowMs: 1 } })).body.runId);
    for (const runId of runIds) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    const controls = await Promise.all(runIds.map((runId) => api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId })));
    for (const runId of runIds) expect((await waitForRunEnd(ws, id, runId)).status).toBe("cancelled");
    const frames = ws.events(id);
    runIds.forEach((runId, i) => {
      const at = frames.findIndex((f) => f.offset === controls[i]!.body.offset && f.event.type === "control");
      expect(at).toBeGreaterThan(-1);
      const after = frames.slice(at + 1).map((f) => f.event).filter((e) => e.runId === runId && e.type !== "control");
      expect(after.map((e) => e.type)).toEqual(["message.end", "run.end"]);
    });
    // A second cancel of the same run changes nothing and is not stored twice.
    const again = await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId: runIds[0] });
    expect(again.status).toBe(202);
  });

  test("closing every socket leaves a running run running", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 40, tokensPerSecond: 100 } })).body;
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    ws.ws.close();
    await ws.closed();
    const deadline = Date.now() + 10_000;
    let status = "running";
    while (Date.now() < deadline && status !== "completed" && status !== "cancelled") {
      await Bun.sleep(100);
      status = (await api(server, "GET", `/api/sessions/${id}`)).body.runs[0].status;
    }
    expect(status).toBe("completed");
    const messages = (await api(server, "GET", `/api/sessions/${id}/messages`)).body.messages;
    expect(messages.at(-1)).toMatchObject({ status: "complete", runId });
    expect(messages.at(-1).text.split(/\s+/).length).toBe(40);
  });

  test("interrupt with no message waiting ends the run interrupted at once (it never idles holding a worker)", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "interrupt", runId });
    const interrupted = await ws.waitFor((f) => f.event?.type === "message.end" && f.event.runId === runId);
    expect(interrupted.event.status).toBe("interrupted");
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("interrupted");
    expect((await api(server, "GET", `/api/sessions/${id}`)).body.runs[0].status).toBe("interrupted");
  });

  test("a message sent just before an interrupt is picked up: the run answers it in a new message", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    // The message lands before the interrupt (no waiting between them).
    await api(server, "POST", `/api/sessions/${id}/messages`, { text: "Shorter please, about tulips" });
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "interrupt", runId });
    const interrupted = await ws.waitFor((f) => f.event?.type === "message.end" && f.event.runId === runId);
    expect(interrupted.event.status).toBe("interrupted");
    const second = await ws.waitFor((f) => f.event?.type === "message.start" && f.event.runId === runId && f.event.id !== interrupted.event.id);
    const secondText = () => runEvents(ws, id, runId).filter((e) => e.type === "message.delta" && e.id === second.event.id).map((e) => e.text).join("");
    await until(() => secondText().includes("tulips"));
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId });
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("cancelled");
    expect(secondText()).toContain("tulips");
  });

  test("steer appends the steering text as a user message and the run continues with it", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "steer", runId, text: "Focus on lighthouses instead" });
    const steered = await ws.waitFor((f) => f.event?.type === "message" && f.event.role === "user" && f.event.text === "Focus on lighthouses instead");
    const next = await ws.waitFor((f) => f.event?.type === "message.start" && f.event.runId === runId && f.offset > steered.offset);
    const nextText = () => runEvents(ws, id, runId).filter((e) => e.type === "message.delta" && e.id === next.event.id).map((e) => e.text).join("");
    await until(() => nextText().includes("lighthouses"));
    const firstEnd = runEvents(ws, id, runId).find((e) => e.type === "message.end");
    expect(firstEnd.status).toBe("interrupted");
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId });
    await waitForRunEnd(ws, id, runId);
    expect(nextText()).toContain("lighthouses");
  });

  test("a parent with two sub-agents: all three write into the session, and cancelling the parent ends all three", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "fanout", provider: "offline", input: { prompt: "Should we ship on Friday?" }, options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    const childStarts: any[] = [];
    while (childStarts.length < 2) {
      const frame = await ws.waitFor((f) => f.event?.type === "run.start" && f.event.parentRunId === runId && !childStarts.some((c) => c.event.runId === f.event.runId));
      childStarts.push(frame);
    }
    const children = childStarts.map((f) => f.event.runId);
    for (const child of children) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === child);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId });
    const ends = await Promise.all([runId, ...children].map((r) => waitForRunEnd(ws, id, r)));
    expect(ends.map((e) => e.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    // A run appends its run.end just before it updates its row: give the rows a moment to follow.
    const statuses = async () => (await api(server, "GET", `/api/sessions/${id}`)).body.runs.map((r: any) => r.status);
    for (let i = 0; i < 50 && (await statuses()).includes("running"); i++) await Bun.sleep(20);
    expect(await statuses()).toEqual(["cancelled", "cancelled", "cancelled"]);
  });

  test("interrupting a fanout parent interrupts its sub-agents; the parent sums up and ends interrupted, none orphaned", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "fanout", provider: "offline", input: { prompt: "Should we ship on Friday?" }, options: { tokens: 2000, tokensPerSecond: 40 } })).body;
    const children: string[] = [];
    while (children.length < 2) children.push((await ws.waitFor((f) => f.event?.type === "run.start" && f.event.parentRunId === runId && !children.includes(f.event.runId))).event.runId);
    for (const child of children) await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === child);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "interrupt", runId });
    const ends = await Promise.all([runId, ...children].map((r) => waitForRunEnd(ws, id, r)));
    expect(ends.map((e) => e.status)).toEqual(["interrupted", "interrupted", "interrupted"]);
    const parentMessage = runEvents(ws, id, runId).filter((e) => e.type === "message.delta").map((e) => e.text).join("");
    expect(parentMessage).toContain("Two sub-agents answered (interrupted, interrupted)");
    const statuses = async () => (await api(server, "GET", `/api/sessions/${id}`)).body.runs.map((r: any) => r.status);
    for (let i = 0; i < 50 && (await statuses()).includes("running"); i++) await Bun.sleep(20);
    expect(await statuses()).toEqual(["interrupted", "interrupted", "interrupted"]);
  });

  test("steering a fanout parent does not cancel it: its sub-agents finish and it completes", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "fanout", provider: "offline", input: { prompt: "Tabs or spaces?" }, options: { tokens: 40, tokensPerSecond: 80 } })).body;
    await ws.waitFor((f) => f.event?.type === "run.start" && f.event.parentRunId === runId);
    await api(server, "POST", `/api/sessions/${id}/control`, { action: "steer", runId, text: "Consider tabs only" });
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("completed");
    const childEnds = ws.events(id).map((f) => f.event).filter((e) => e.type === "run.end" && e.runId !== runId);
    expect(childEnds.map((e) => e.status)).toEqual(["completed", "completed"]);
    expect(runEvents(ws, id, runId).some((e) => e.type === "run.progress" && /cannot be steered/.test(e.label))).toBe(true);
  });

  test("a parent whose sub-agents finish writes a synthesis after both run.ends", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "fanout", provider: "offline", input: { prompt: "Tabs or spaces?" }, options: { tokens: 20, tokensPerSecond: 400 } })).body;
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("completed");
    const events = ws.events(id).map((f) => f.event);
    const childEnds = events.filter((e) => e.type === "run.end" && e.runId !== runId);
    expect(childEnds).toHaveLength(2);
    const parentMessageStart = events.findIndex((e) => e.type === "message.start" && e.runId === runId);
    expect(events.findLastIndex((e) => e.type === "run.end" && e.runId !== runId)).toBeLessThan(parentMessageStart);
    const progress = events.filter((e) => e.type === "run.progress" && e.runId === runId);
    expect(progress.at(-1)).toMatchObject({ label: "2 of 2 sub-agents done", progress: 1 });
  });
});

describe("providers over their real wire formats", () => {
  test("Anthropic: the SDK's stream against a local Messages SSE server", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "anthropic", input: { prompt: "durable sessions are great" } })).body;
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("completed");
    const text = runEvents(ws, id, runId).filter((e) => e.type === "message.delta").map((e) => e.text).join("");
    expect(text).toBe(fakeReply("durable sessions are great").join(""));
    const request = fakes.requests.findLast((r) => r.provider === "anthropic")!;
    // The SDK authenticates with x-api-key or a bearer header depending on its version.
    expect(request.headers["x-api-key"] ?? request.headers.authorization).toContain("sk-ant-test");
    expect(request.body.stream).toBe(true);
    expect(request.body.messages).toEqual([{ role: "user", content: "durable sessions are great" }]);
  });

  test("OpenAI: the SDK's chat stream against a local chat-completions server", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "openai", input: { prompt: "hello from openai" } })).body;
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("completed");
    const text = runEvents(ws, id, runId).filter((e) => e.type === "message.delta").map((e) => e.text).join("");
    expect(text).toBe(fakeReply("hello from openai").join(""));
    expect(fakes.requests.findLast((r) => r.provider === "openai")!.headers.authorization).toBe("Bearer sk-openai-test");
  });

  test("continuing a cut-off reply: Anthropic gets an assistant prefill, OpenAI a continuation prompt, offline resumes at the token index", async () => {
    const signal = new AbortController().signal;
    const collect = async (stream: AsyncIterable<unknown>) => {
      let text = "";
      for await (const chunk of stream) if (typeof chunk === "string") text += chunk;
      return text;
    };
    const anthropic = new AnthropicProvider({ apiKey: "sk-ant-test", baseUrl: fakes.anthropicUrl });
    const written = "The first half of the answer, ";
    const rest = await collect(anthropic.stream({ messages: [{ role: "user", content: "tell me about prefill" }], continueFrom: written, signal }));
    const sent = fakes.requests.findLast((r) => r.provider === "anthropic")!.body;
    expect(sent.messages.at(-1)).toEqual({ role: "assistant", content: written.trimEnd() });
    // The whitespace the prefill could not end with comes back before the continuation.
    expect(rest).toBe(" " + fakeReply("tell me about prefill").join(""));
    const openai = new OpenAIProvider({ apiKey: "sk-openai-test", baseUrl: fakes.openaiUrl });
    await collect(openai.stream({ messages: [{ role: "user", content: "tell me about continuing" }], continueFrom: written, signal }));
    const openaiSent = fakes.requests.findLast((r) => r.provider === "openai")!.body;
    expect(openaiSent.messages.slice(-2)).toEqual([{ role: "assistant", content: written }, { role: "user", content: CONTINUATION_PROMPT }]);
    const offline = new OfflineProvider();
    const request = { messages: [{ role: "user" as const, content: "resume at a token" }], tokens: 30, tokensPerSecond: 10_000, signal };
    const whole = offline.compose(request);
    const cut = whole.split(" ").slice(0, 11).join(" ") + " ";
    expect(cut + (await collect(offline.stream({ ...request, continueFrom: cut })))).toBe(whole);
  });

  test("a 429 with retry-after is retried and the run completes", async () => {
    const id = await session(server);
    const ws = await subscribe(server, id);
    const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "anthropic", input: { prompt: "patience please [fail:429-once]" } })).body;
    expect((await waitForRunEnd(ws, id, runId)).status).toBe("completed");
  });

  for (const [failure, expected] of [
    ["[fail:401]", /Anthropic rejected the API key \(401\): invalid x-api-key/],
    ["[fail:error-event]", /Overloaded/],
    ["[fail:cut]", /Anthropic stream ended unexpectedly/],
  ] as const) {
    test(`provider failure ${failure} ends the run with a readable error`, async () => {
      const id = await session(server);
      const ws = await subscribe(server, id);
      const { runId } = (await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "anthropic", input: { prompt: `this will fail ${failure}` } })).body;
      const end = await waitForRunEnd(ws, id, runId);
      expect(end.status).toBe("failed");
      expect(end.error).toMatch(expected);
      expect(runEvents(ws, id, runId).find((e) => e.type === "message.end")?.status).toBe("failed");
    });
  }

  test("a provider without its key fails the run with a clear message", async () => {
    const plain = await start();
    const id = await session(plain);
    const ws = await subscribe(plain, id);
    const { runId } = (await api(plain, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "anthropic" })).body;
    const end = await waitForRunEnd(ws, id, runId);
    expect(end).toMatchObject({ status: "failed", error: "The anthropic provider needs ANTHROPIC_API_KEY." });
  });
});

describe("crash safety", () => {
  test("SIGKILL mid-run, then a restart: the retry continues the same message, one complete answer equal to an uninterrupted run", async () => {
    const databaseUrl = await freshDatabase();
    const first = await start({ databaseUrl });
    const id = await session(first);
    const prompt = "crash course in recovery";
    const { runId } = (await api(first, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", input: { prompt }, options: { tokens: 60, tokensPerSecond: 20 } })).body;
    const ws = await subscribe(first, id);
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    await Bun.sleep(300);
    await first.kill();
    const beforeCrash = ws.events(id).length;

    const second = await start({ databaseUrl, waitReady: false });
    await second.waitForLog(/"msg":"ready"/);
    const readyAt = performance.now();
    const ws2 = await subscribe(second, id);
    // The first event the retry writes, measured from the restarted server being ready.
    await ws2.waitFor((f) => f.type === "event" && ws2.events(id).indexOf(f) >= beforeCrash, 40_000);
    const firstNewEventMs = performance.now() - readyAt;
    expect((await waitForRunEnd(ws2, id, runId, 40_000)).status).toBe("completed");
    // Reclaimed at start-up (the process knew its dead self), not by the reaper after RUN_STALE_MS (8 s).
    expect(second.logs.some((line) => line.includes("reclaimed a run of a dead process at start-up") && line.includes(runId))).toBe(true);
    expect(firstNewEventMs).toBeLessThan(8_000);
    console.log(`first new event ${Math.round(firstNewEventMs)} ms after the restarted server was ready`);

    const events = runEvents(ws2, id, runId);
    expect(events.filter((e) => e.type === "run.start")).toHaveLength(1);
    const starts = events.filter((e) => e.type === "message.start");
    expect(starts).toHaveLength(1);
    const ends = events.filter((e) => e.type === "message.end");
    expect(ends.map((e) => [e.id, e.status])).toEqual([[starts[0].id, "complete"]]);
    // No event twice, and the deltas of the one message add up to exactly the uninterrupted answer.
    const frames = ws2.events(id);
    expect(new Set(frames.map((f) => `${f.offset}#${JSON.stringify(f.event)}`)).size).toBe(frames.length);
    const text = events.filter((e) => e.type === "message.delta").map((e) => e.text).join("");
    expect(text).toBe(new OfflineProvider().compose({ messages: [{ role: "user", content: prompt }], tokens: 60 }));
    const messages = (await api(second, "GET", `/api/sessions/${id}/messages`)).body.messages;
    expect(messages).toEqual([expect.objectContaining({ id: starts[0].id, status: "complete", text })]);
  }, 90_000);

  const recoveries = {
    "start-up": "the restarted process at start-up",
    reaper: "the reaper (the dead process was on another host)",
    turn: "the reaper, and a message sent meanwhile (enqueue) starts its turn only after that run.end",
  } as const;
  for (const by of ["start-up", "reaper", "turn"] as const) {
    test(`SIGKILL after the run's row is closed but before its run.end lands: exactly one run.end, appended by ${recoveries[by]}`, async () => {
      const databaseUrl = await freshDatabase();
      const first = await start({ databaseUrl });
      const options = { tokens: 24, tokensPerSecond: 60 };
      const id = by === "turn"
        ? ((await api(first, "POST", "/api/sessions", { title: "ending turn", agent: "chat", provider: "offline", options, doubleTexting: "enqueue" })).body.id as string)
        : await session(first);
      const ws = await subscribe(first, id);
      const { runId } = by === "turn"
        ? (await api(first, "POST", `/api/sessions/${id}/messages`, { text: "ending twice?" })).body
        : (await api(first, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", input: { prompt: "ending twice?" }, options })).body;
      await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
      // Hold the run's row while it writes its last message, so its close waits; then hold the
      // session's stream row too and let the close through: the run is closed, its run.end blocked.
      const rows = postgres(databaseUrl, { max: 1, onnotice: () => {} });
      const stream = postgres(databaseUrl, { max: 1, onnotice: () => {} });
      let releaseStream!: () => void;
      const streamHeld = new Promise<void>((resolve) => (releaseStream = resolve));
      let streamLocker: number | undefined;
      let streamTx: Promise<unknown> | undefined;
      try {
        await rows.begin(async (tx) => {
          await tx`select 1 from runs where id = ${runId} for update`;
          await ws.waitFor((f) => f.event?.type === "message.end" && f.event.runId === runId);
          await Bun.sleep(200);
          let locked!: () => void;
          const isLocked = new Promise<void>((resolve) => (locked = resolve));
          streamTx = stream.begin(async (tx2) => {
            streamLocker = (await tx2<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
            await tx2`select 1 from streams where path = ${`/v1/stream/sessions/${id}`} for update`;
            locked();
            await streamHeld;
          });
          await isLocked;
        });
        let row: { status: string; heartbeat: boolean } | undefined;
        for (let i = 0; i < 100 && row?.status !== "completed"; i++) {
          [row] = await rows<{ status: string; heartbeat: boolean }[]>`select status, heartbeat_at is not null as heartbeat from runs where id = ${runId}`;
          if (row?.status !== "completed") await Bun.sleep(20);
        }
        // Closed, still owing its run.end (the heartbeat says so), and no run.end in the session.
        expect(row).toEqual({ status: "completed", heartbeat: true });
        await first.kill();
        // The dead process's connections (one waits to append the run.end) go with it.
        await rows`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and pid <> ${streamLocker!}`;
        // A process on another host: only a reaper can tell it is gone (its heartbeat is 8 s old).
        // For the turn, the heartbeat is moved 5 s ahead, so the message below surely comes before the recovery.
        if (by !== "start-up") await rows`update runs set worker = ${"elsewhere/1/1"}, heartbeat_at = now() + ${by === "turn" ? "5 seconds" : "0 seconds"}::interval where id = ${runId}`;
      } finally {
        releaseStream();
        await streamTx;
        await Promise.all([rows.end(), stream.end()]);
      }
      expect(runEvents(ws, id, runId).filter((e) => e.type === "run.end")).toHaveLength(0);

      const second = await start({ databaseUrl });
      const ws2 = await subscribe(second, id);
      // The turn has ended but still owes its run.end: a message now waits behind it (its run.start
      // must not precede that run.end), and the recovery that appends the run.end starts it.
      const next = by === "turn" ? await api(second, "POST", `/api/sessions/${id}/messages`, { text: "and now?" }) : undefined;
      if (next) expect(next.body).toMatchObject({ turn: "queued" });
      expect((await waitForRunEnd(ws2, id, runId, 30_000)).status).toBe("completed");
      if (next) {
        expect((await waitForRunEnd(ws2, id, next.body.runId, 30_000)).status).toBe("completed");
        const order = ws2.events(id).map((f) => f.event).filter((e) => (e.type === "run.end" && e.runId === runId) || (e.type === "run.start" && e.runId === next.body.runId)).map((e) => e.type);
        expect(order).toEqual(["run.end", "run.start"]);
      }
      // Appended by the restarted process (not by the dead one's connection, nor twice).
      expect(await second.waitForLog(/appended the run.end of a run whose process died while ending it/)).toContain(`"appended":true`);
      const events = runEvents(ws2, id, runId);
      expect(events.map((e) => e.type).filter((t) => t !== "message.delta")).toEqual(["run.start", "message.start", "message.end", "run.end"]);
      expect((await api(second, "GET", `/api/sessions/${id}`)).body.runs).toEqual([{ runId, agent: "chat", status: "completed" }, ...(next ? [{ runId: next.body.runId, agent: "chat", status: "completed" }] : [])]);
      // Nothing more comes: the reaper finds nothing owed any more.
      await Bun.sleep(5_000);
      expect(runEvents(ws2, id, runId).filter((e) => e.type === "run.end")).toHaveLength(1);
    }, 90_000);
  }

  test("SIGTERM mid-run hands the message over: the next process continues it as one complete message", async () => {
    const databaseUrl = await freshDatabase();
    const first = await start({ databaseUrl });
    const id = await session(first);
    const prompt = "graceful hand over";
    const { runId } = (await api(first, "POST", `/api/sessions/${id}/runs`, { agent: "chat", provider: "offline", input: { prompt }, options: { tokens: 60, tokensPerSecond: 20 } })).body;
    const ws = await subscribe(first, id);
    await ws.waitFor((f) => f.event?.type === "message.delta" && f.event.runId === runId);
    await Bun.sleep(300);
    expect(await first.stop()).toBe(0);
    const second = await start({ databaseUrl });
    const ws2 = await subscribe(second, id);
    expect((await waitForRunEnd(ws2, id, runId, 40_000)).status).toBe("completed");
    const events = runEvents(ws2, id, runId);
    expect(events.filter((e) => e.type === "message.start")).toHaveLength(1);
    expect(events.filter((e) => e.type === "message.end").map((e) => e.status)).toEqual(["complete"]);
    expect(events.filter((e) => e.type === "message.delta").map((e) => e.text).join("")).toBe(new OfflineProvider().compose({ messages: [{ role: "user", content: prompt }], tokens: 60 }));
  }, 90_000);
});
