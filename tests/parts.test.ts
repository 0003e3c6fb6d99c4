import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";
import { startFakeProviders, fakeReply, FAKE_TOOL_ARGS, type FakeProviders } from "./support/fake-providers";
import { Compactor } from "../src/sessions/events";

const sockets: TestSocket[] = [];
let server: TestServer;
let fakes: FakeProviders;
beforeAll(async () => {
  fakes = startFakeProviders();
  server = await startServer({ env: { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fakes.anthropicUrl, OPENAI_API_KEY: "sk-openai-test", OPENAI_BASE_URL: fakes.openaiUrl } });
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
  fakes?.stop();
});

async function api(method: string, path: string, body?: unknown) {
  const res = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function session() {
  return (await api("POST", "/api/sessions", { title: "parts" })).body.id as string;
}
async function subscribe(id: string, frame: Record<string, unknown> = { offset: "-1" }) {
  const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${TEST_API_TOKEN}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, ...frame });
  return ws;
}
const runEnd = (ws: TestSocket, id: string, runId: string) => ws.waitFor((f) => f.session === id && f.event?.type === "run.end" && f.event.runId === runId, 20_000).then((f) => f.event);

describe("message parts", () => {
  for (const provider of ["anthropic", "openai"] as const) {
    test(`${provider}: a tool call streams its arguments as tool-call parts, folded in the compacted view and the snapshot`, async () => {
      const id = await session();
      const ws = await subscribe(id);
      const prompt = "what is the weather in Paris [tool]";
      const { runId } = (await api("POST", `/api/sessions/${id}/runs`, { agent: "chat", provider, input: { prompt } })).body;
      expect((await runEnd(ws, id, runId)).status).toBe("completed");
      const deltas = ws.events(id).map((f) => f.event).filter((e) => e.type === "message.delta" && e.runId === runId);
      const calls = deltas.filter((e) => e.part?.type === "tool-call");
      // Streamed: the arguments arrive in several deltas of one tool call.
      expect(calls.length).toBeGreaterThan(1);
      expect(calls.map((e) => e.text).join("")).toBe(FAKE_TOOL_ARGS.join(""));
      expect(new Set(calls.map((e) => e.part.toolCallId)).size).toBe(1);
      expect(calls[0].part.toolName).toBe("get_weather");
      const text = deltas.filter((e) => !e.part).map((e) => e.text).join("");
      expect(text).toBe(fakeReply(prompt).join(""));
      const expectedParts = [
        ...(provider === "anthropic" ? [{ type: "reasoning", text: "The user wants the weather." }] : []),
        { type: "text", text },
        { type: "tool-call", toolCallId: calls[0].part.toolCallId, toolName: "get_weather", args: FAKE_TOOL_ARGS.join(""), input: { city: "Paris", unit: "c" } },
      ];
      const [message] = (await api("GET", `/api/sessions/${id}/messages`)).body.messages;
      expect(message).toMatchObject({ runId, status: "complete", text, parts: expectedParts });
      const late = await subscribe(id, { mode: "snapshot" });
      const snap = await late.waitFor((f) => f.snapshot && f.event.id === message.id);
      expect(snap.event.parts).toEqual(expectedParts);
    });
  }

  test("the approval agent's tool call and its result are parts; plain text messages carry no parts", async () => {
    const id = await session();
    const ws = await subscribe(id);
    await api("POST", `/api/sessions/${id}/messages`, { text: "plain words", id: "m-plain" });
    const { runId } = (await api("POST", `/api/sessions/${id}/runs`, { agent: "approval", input: { prompt: "ship it", tool: "deploy", args: { env: "prod" } } })).body;
    const request = (await ws.waitFor((f) => f.event?.type === "input.request" && f.event.runId === runId)).event;
    for (let i = 0; i < 100 && (await api("GET", `/api/sessions/${id}`)).body.runs[0]?.status !== "suspended"; i++) await Bun.sleep(50);
    expect((await api("POST", `/api/sessions/${id}/control`, { action: "respond", requestId: request.requestId, value: true })).status).toBe(202);
    await runEnd(ws, id, runId);
    const messages = (await api("GET", `/api/sessions/${id}/messages`)).body.messages;
    expect(messages[0]).toEqual({ id: "m-plain", role: "user", text: "plain words", status: "complete" });
    const call = messages[1].parts.find((p: any) => p.type === "tool-call");
    expect(call).toMatchObject({ toolName: "deploy", input: { env: "prod" } });
    expect(messages[2].parts[0]).toEqual({ type: "tool-result", toolCallId: call.toolCallId, toolName: "deploy", result: { ok: true, id: expect.stringMatching(/^out_/) } });
  });

  test("GET /messages pages with a cursor", async () => {
    const id = await session();
    for (let i = 0; i < 5; i++) await api("POST", `/api/sessions/${id}/messages`, { text: `message ${i}`, id: `m${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api("GET", `/api/sessions/${id}/messages?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.messages.map((m: any) => m.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(pages).toBe(3);
    const bad = await api("GET", `/api/sessions/${id}/messages?cursor=nope`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_cursor");
  });

  test("compacting a session again folds what came since into the kept state: the same as folding every event", async () => {
    const id = await session();
    const append = async (event: Record<string, unknown>) => {
      const res = await server.fetch(`/v1/stream/sessions/${id}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_TOKEN}` }, body: JSON.stringify(event) });
      expect(res.status < 300 ? "" : await res.text()).toBe("");
    };
    const compacted = async () => (await api("GET", `/api/sessions/${id}/messages`)).body.messages;
    const foldedFromScratch = async () => {
      const { events } = (await api("GET", `/api/sessions/${id}/events?offset=-1&limit=1000`)).body as { events: Array<{ event: unknown }> };
      const compactor = new Compactor();
      for (const { event } of events) compactor.add(event);
      return compactor.messages();
    };
    await api("POST", `/api/sessions/${id}/messages`, { text: "hello", id: "m-user" });
    await append({ type: "message.start", id: "m-run", role: "assistant", runId: "run-a", agent: "chat" });
    await append({ type: "message.delta", id: "m-run", runId: "run-a", text: "one " });
    const early = await compacted();
    expect(early.map((m: { id: string }) => m.id)).toEqual(["m-user", "m-run"]);
    expect(early[1]).toMatchObject({ text: "one ", status: "streaming" });
    // Folded into the kept state: text onto the streaming message, a tool call whose input parses once whole, an end.
    await append({ type: "message.delta", id: "m-run", runId: "run-a", text: "two" });
    await append({ type: "message.delta", id: "m-run", runId: "run-a", text: '{"city":', part: { type: "tool-call", toolCallId: "call-1", toolName: "get_weather" } });
    // Another writer's delta for the same message changes nothing.
    await append({ type: "message.delta", id: "m-run", runId: "run-other", text: "forged" });
    // Several compactions at once, with an append among them: each sees a whole prefix, none folds twice.
    const [a, b] = await Promise.all([compacted(), compacted(), append({ type: "message.delta", id: "m-run", runId: "run-a", text: '"Paris"}', part: { type: "tool-call", toolCallId: "call-1", toolName: "get_weather" } }), compacted()]);
    for (const view of [a, b]) expect(view[1].text).toBe("one two");
    await append({ type: "message.end", id: "m-run", runId: "run-a", status: "complete" });
    const late = await compacted();
    // The JSON API leaves out the agent's name.
    expect(late).toEqual(JSON.parse(JSON.stringify((await foldedFromScratch()).map(({ agent: _agent, ...message }) => message))));
    expect(late[1]).toMatchObject({ text: "one two", status: "complete", parts: [{ type: "text", text: "one two" }, { type: "tool-call", toolCallId: "call-1", args: '{"city":"Paris"}', input: { city: "Paris" } }] });
    // A caller changing what it was given changes nothing kept.
    late[1].parts[1].input.city = "Rome";
    expect((await compacted())[1].parts[1].input).toEqual({ city: "Paris" });
  });

  test("a malformed part is refused with invalid_event", async () => {
    const id = await session();
    const ws = await subscribe(id);
    const bad = await ws.request({ type: "publish", session: id, event: { type: "message.delta", id: "x", runId: "r", text: "", part: { type: "tool-call" } } });
    expect(bad).toMatchObject({ type: "error", code: "invalid_event" });
  });
});
