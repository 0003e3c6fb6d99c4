import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres from "postgres";
import { AbstractChat, type ChatState, type ChatStatus, type UIMessage } from "ai";
import { createDurableChatTransport } from "@durable-streams/aisdk-transport";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { OfflineProvider } from "../src/agents/providers/offline";

/**
 * The AI SDK's own chat class (`AbstractChat` from `ai`, what `useChat` wraps) with
 * `@durable-streams/aisdk-transport` as is, against the real server, holding only a client token.
 */
class MemoryState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[] = [];
  pushMessage = (message: UIMessage) => void this.messages.push(message);
  popMessage = () => void this.messages.pop();
  replaceMessage = (index: number, message: UIMessage) => void (this.messages[index] = message);
  snapshot = <T,>(thing: T): T => structuredClone(thing);
}
class Chat extends AbstractChat<UIMessage> {
  constructor(init: ConstructorParameters<typeof AbstractChat<UIMessage>>[0] extends infer I ? Omit<I & object, "state"> : never) {
    super({ ...(init as object), state: new MemoryState() } as never);
  }
  get all() {
    return this.state.messages;
  }
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const PROMPT = "Tell me about durable tulips";
const TOKENS = 40;
const answer = () => new OfflineProvider().compose({ messages: [{ role: "user", content: PROMPT }], tokens: TOKENS });
const textOf = (message: UIMessage | undefined) => (message?.parts ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");

async function chatSession(options: Record<string, unknown>) {
  const res = await server.fetch("/api/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "ai sdk", agent: "chat", provider: "offline", options, doubleTexting: "enqueue" }) });
  return (await res.json()) as { id: string; clientToken: string };
}
/**
 * The one line an app adds so stop() reaches the server (docs/protocol.md, "Stop"): the transport
 * sends nothing on stop(), and the server cannot tell an aborted read from a closed tab, which must
 * never cancel. The send is let finish (so the turn exists), then `…/chat/stop` is posted.
 */
const STOP_LINE = 'fetchClient: (url, init) => { const sent = fetch(url, { ...init, signal: undefined }); init?.signal?.addEventListener("abort", () => sent.finally(() => fetch(`${api}/stop`, { method: "POST", headers }))); return sent; },';
/** What an app passes: `api`, the client token as a header, and (to make stop() cancel) STOP_LINE. */
function transport(id: string, clientToken: string, options: { stop?: boolean } = { stop: true }) {
  const api = `${server.url}/api/sessions/${id}/chat`;
  const headers = { authorization: `Bearer ${clientToken}` };
  if (!options.stop) return createDurableChatTransport({ api, headers });
  // The documented line itself, evaluated with the app's `api` and `headers` in scope.
  const extra = new Function("api", "headers", `return { ${STOP_LINE} };`)(api, headers) as { fetchClient: typeof fetch };
  return createDurableChatTransport({ api, headers, ...extra });
}
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await Bun.sleep(25);
  }
}

describe("AI SDK useChat over a session (client token only)", () => {
  test("send starts a turn and streams the answer; a reload resumes it; a second tab follows it", async () => {
    const { id, clientToken } = await chatSession({ tokens: TOKENS, tokensPerSecond: 20 });
    const tab = new Chat({ id, transport: transport(id, clientToken) });
    const sent = tab.sendMessage({ text: PROMPT });
    await until(() => tab.status === "streaming" && textOf(tab.all[1]).length > 0);
    // A reload: a fresh chat instance with the same id resumes the running turn from its stream.
    const reloaded = new Chat({ id, transport: transport(id, clientToken) });
    reloaded.all.push(tab.all[0]!);
    // A second tab on another device follows the same turn.
    const second = new Chat({ id, transport: transport(id, clientToken) });
    await Promise.all([reloaded.resumeStream(), second.resumeStream(), sent]);
    for (const chat of [tab, reloaded, second]) {
      expect(chat.status).toBe("ready");
      expect(chat.error).toBeUndefined();
      expect(textOf(chat.all.at(-1))).toBe(answer());
    }
    expect(tab.all.map((m) => m.role)).toEqual(["user", "assistant"]);
    // Nothing runs now: a resume finds no stream (204) and leaves the chat ready.
    const idle = new Chat({ id, transport: transport(id, clientToken) });
    await idle.resumeStream();
    expect(idle.status).toBe("ready");
    expect(idle.all).toEqual([]);
    // The session has the same conversation.
    const messages = (await (await server.fetch(`/api/sessions/${id}/messages`)).json()).messages;
    expect(messages.map((m: any) => [m.role, m.status])).toEqual([["user", "complete"], ["assistant", "complete"]]);
    expect(messages[1].text).toBe(answer());
  }, 60_000);

  test("a resume the instant the answer has finished gets 204, not a replay of the ended turn", async () => {
    const { id, clientToken } = await chatSession({ tokens: 24, tokensPerSecond: 60 });
    const tab = new Chat({ id, transport: transport(id, clientToken) });
    const sent = tab.sendMessage({ text: PROMPT });
    await until(() => textOf(tab.all[1]).length > 0);
    const runId = (await (await server.fetch(`/api/sessions/${id}`)).json()).runs[0].runId as string;
    // As soon as the send has read the finished answer: a raw resume, then a fresh chat's resume.
    const resumed = sent.then(async () => {
      const status = (await server.fetch(`/api/sessions/${id}/chat/${id}/stream`, { headers: { authorization: `Bearer ${clientToken}` } })).status;
      const idle = new Chat({ id, transport: transport(id, clientToken) });
      await idle.resumeStream();
      return { status, idle };
    });
    // The run ends while its row is held locked (a stand-in for a slow database), so a moment in
    // which the answer has finished but the run is not yet closed, if there is one, is met.
    const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      await sql.begin(async (tx) => {
        await tx`select 1 from runs where id = ${runId} for update`;
        await Bun.sleep(1_000);
      });
    } finally {
      await sql.end();
    }
    const { status, idle } = await resumed;
    expect(textOf(tab.all.at(-1))).toBe(new OfflineProvider().compose({ messages: [{ role: "user", content: PROMPT }], tokens: 24 }));
    expect(status).toBe(204);
    expect(idle.status).toBe("ready");
    expect(idle.all).toEqual([]);
  }, 60_000);

  test("stop() cancels the turn on the server", async () => {
    const { id, clientToken } = await chatSession({ tokens: 2_000, tokensPerSecond: 20 });
    const tab = new Chat({ id, transport: transport(id, clientToken) });
    void tab.sendMessage({ text: PROMPT });
    await until(() => textOf(tab.all[1]).length > 0);
    await tab.stop();
    expect(tab.status).toBe("ready");
    await until(async () => {
      const session = await (await server.fetch(`/api/sessions/${id}`)).json();
      return session.runs[0]?.status === "cancelled";
    });
    const messages = (await (await server.fetch(`/api/sessions/${id}/messages`)).json()).messages;
    expect(messages[1].status).toBe("cancelled");
  }, 60_000);

  test("stop() while the send is still in flight (submitted) cancels the turn it starts", async () => {
    for (let round = 0; round < 3; round++) {
      const { id, clientToken } = await chatSession({ tokens: 2_000, tokensPerSecond: 20 });
      const tab = new Chat({ id, transport: transport(id, clientToken) });
      // A slow network: the send POST leaves after 300 ms, and stop() comes while it is in flight.
      const realFetch = globalThis.fetch;
      let sendStarted = false;
      globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
        if (String(input).endsWith("/chat") && init?.method === "POST") {
          sendStarted = true;
          await Bun.sleep(300);
        }
        return realFetch(input, init);
      }) as typeof fetch;
      try {
        void tab.sendMessage({ text: PROMPT });
        await until(() => sendStarted);
        expect(tab.status).toBe("submitted");
        await tab.stop();
      } finally {
        globalThis.fetch = realFetch;
      }
      expect(tab.status).toBe("ready");
      await until(async () => {
        const session = await (await server.fetch(`/api/sessions/${id}`)).json();
        return session.runs.length === 1 && session.runs[0].status === "cancelled";
      });
    }
  }, 60_000);

  test("without the line, stop() ends only the tab's read: the turn runs on (closing a read never cancels)", async () => {
    const { id, clientToken } = await chatSession({ tokens: 30, tokensPerSecond: 60 });
    const tab = new Chat({ id, transport: transport(id, clientToken, { stop: false }) });
    void tab.sendMessage({ text: PROMPT });
    await until(() => textOf(tab.all[1]).length > 0);
    await tab.stop();
    expect(tab.status).toBe("ready");
    await until(async () => (await (await server.fetch(`/api/sessions/${id}`)).json()).runs[0]?.status === "completed");
  }, 60_000);

  test("docs/protocol.md shows exactly the line these tests use", async () => {
    const doc = await Bun.file(new URL("../docs/protocol.md", import.meta.url)).text();
    expect(doc).toContain(STOP_LINE);
  });

  test("the stream is readable with the read token it names, and nothing else gets in", async () => {
    const { id, clientToken } = await chatSession({ tokens: 5, tokensPerSecond: 200 });
    const res = await fetch(`${server.url}/api/sessions/${id}/chat`, { method: "POST", headers: { authorization: `Bearer ${clientToken}`, "content-type": "application/json" }, body: JSON.stringify({ id, messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }] }) });
    expect(res.status).toBe(201);
    const location = res.headers.get("location")!;
    expect(location).toContain(`/v1/stream/sessions/${id}/ui/`);
    const bare = location.split("?")[0]!;
    expect((await fetch(bare)).status).toBe(401);
    // The read token in the URL reads, and cannot write.
    expect((await fetch(location)).status).toBe(200);
    expect((await fetch(location, { method: "POST", headers: { "content-type": "application/json" }, body: "[]" })).status).toBe(403);
    // An API token without the session's client token sees it too (a backend).
    expect((await fetch(bare, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })).status).toBe(200);
  }, 60_000);
});
