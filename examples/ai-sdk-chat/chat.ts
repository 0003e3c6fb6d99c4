/**
 * useChat's engine (the AI SDK's chat class) on a durable session, with
 * `@durable-streams/aisdk-transport` unchanged and only a client token on the client side.
 * No build step:
 *
 *   API_TOKEN=… bun examples/ai-sdk-chat/chat.ts "Plan a spring launch email"
 *
 * (SERVER defaults to http://127.0.0.1:3000). A React app does the same with
 * `useChat({ id, transport })` from `@ai-sdk/react` and the `transport` built below.
 */
import { AbstractChat, type ChatState, type ChatStatus, type UIMessage } from "ai";
import { createDurableChatTransport } from "@durable-streams/aisdk-transport";

const server = process.env.SERVER ?? "http://127.0.0.1:3000";
const apiToken = process.env.API_TOKEN;
if (!apiToken) throw new Error("Set API_TOKEN (your backend creates the session; the browser only gets its client token).");

// Backend: a session whose default agent answers every message, one turn at a time.
const created = await fetch(`${server}/api/sessions`, {
  method: "POST",
  headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
  body: JSON.stringify({ title: "AI SDK example", agent: "chat", doubleTexting: "enqueue" }),
});
const { id, clientToken } = (await created.json()) as { id: string; clientToken: string };

// Browser: the transport, pointed at the session's chat endpoint, with the client token.
const api = `${server}/api/sessions/${id}/chat`;
const headers = { authorization: `Bearer ${clientToken}` };
const transport = createDurableChatTransport({
  api,
  headers,
  // The one added line (docs/protocol.md, "Stop"): the transport sends nothing on stop(), so the
  // send is let finish and then …/chat/stop cancels the turn on the server.
  fetchClient: ((url: RequestInfo | URL, init?: RequestInit) => { const sent = fetch(url, { ...init, signal: undefined }); init?.signal?.addEventListener("abort", () => sent.finally(() => fetch(`${api}/stop`, { method: "POST", headers }))); return sent; }) as typeof fetch,
});

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
  readonly memory = new MemoryState();
  constructor() {
    const memory = new MemoryState();
    super({ id, transport, state: memory } as never);
    this.memory = memory;
  }
}

const chat = new Chat();
await chat.sendMessage({ text: process.argv[2] ?? "Plan a spring launch email" });
const reply = chat.memory.messages.at(-1);
console.log(reply?.parts.map((p) => (p.type === "text" ? p.text : "")).join(""));
console.log(`\nsession ${id}: open ${server}/sessions/${id} to see it, or resume it from another process.`);
