import { writeOfflineEmail } from "../../src/email/offline-writer";
import { SECTION_TYPES, type Brand, type Brief, type SectionType } from "../../src/email/document";

/**
 * Local stand-ins for the external AI APIs, speaking their real wire formats so the official SDKs
 * run their real code paths: Anthropic's Messages SSE stream and OpenAI's chat-completion chunks
 * and image JSON. What a request asks for decides the behaviour: a prompt containing
 * `[fail:401]`, `[fail:error-event]`, `[fail:cut]` or `[fail:429-once]` fails that way.
 *
 * An Anthropic request with `output_config` (structured output) gets a JSON document streamed in
 * text deltas: for the email copy prompt, an email document in the prompt's formula written from
 * the prompt's brief (by the offline writer, without its `meta`); for a section rewrite, the
 * section with the instruction as its text.
 */
export interface FakeProviders {
  anthropicUrl: string;
  openaiUrl: string;
  /**
   * An OpenAI-compatible chat server (like llama.cpp or an older vLLM) that refuses
   * `response_format: json_schema` with a 400 and answers `json_object` (JSON mode) requests.
   */
  compatibleUrl: string;
  requests: Array<{ provider: "anthropic" | "openai" | "compatible"; path: string; headers: Record<string, string>; body: any }>;
  stop(): void;
}

const encoder = new TextEncoder();

function sse(event: string | undefined, data: unknown): Uint8Array {
  return encoder.encode(`${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

/** The reply the fakes stream: words of the prompt echoed back, so tests can predict the text. */
/** The arguments of the fake providers' tool call ("[tool]" in the prompt), in the pieces they stream. */
export const FAKE_TOOL_ARGS = ['{"city":', '"Paris",', '"unit":"c"}'];
/** Longer than the rollup window, so each piece becomes its own delta. */
const TOOL_PIECE_DELAY_MS = 80;

export function fakeReply(prompt: string): string[] {
  const words = prompt.replace(/\[fail:[^\]]+\]/g, "").trim().split(/\s+/).filter(Boolean).slice(0, 12);
  return ["Echo:", ...words].map((w) => `${w} `);
}

function promptOf(body: any): string {
  const last = [...(body.messages ?? [])].reverse().find((m: any) => m.role === "user");
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return last.content.filter((p: any) => p.type === "text").map((p: any) => p.text).join("\n");
}

/** Splits text into the small pieces a model streams. */
function chunks(text: string, size = 40): string[] {
  return text.match(new RegExp(`[\\s\\S]{1,${size}}`, "g")) ?? [];
}

/** The structured-output answer to a prompt, as the email agents phrase them. */
export function fakeStructuredReply(system: string, prompt: string): string {
  if (/^You write email subject lines for the brand/.test(system)) {
    // Subject-line proposals: three angles on the current subject, plus the subject itself (which we must drop).
    const current = /^Current subject: (.*)$/m.exec(prompt)?.[1]?.trim() ?? "";
    return JSON.stringify({ subjects: [current, `Model: ${current.toLowerCase()}`, `Model asks: ready for ${current.toLowerCase()}?`, `Model news: ${current}`] });
  }
  const rewrite = /keeping its id "([^"]+)"/.exec(system);
  if (rewrite) {
    const current = JSON.parse(/Current section:\n(.*?)\n\nSection before it:/s.exec(prompt)![1]!);
    const instruction = /^Instruction: (.*)$/m.exec(prompt)![1]!.trim();
    const fields = { ...current.fields };
    if (typeof fields.text === "string") fields.text = instruction;
    else if (typeof fields.headline === "string") fields.headline = instruction;
    else if (typeof fields.label === "string") fields.label = instruction.slice(0, 80);
    return JSON.stringify({ subject: "", preheader: "", sections: [{ ...current, fields }] });
  }
  const line = (label: string) => new RegExp(`^${label}: (.*)$`, "m").exec(prompt)?.[1]?.trim() ?? "";
  const formula = [...system.matchAll(/^\d+\. ([a-z-]+)/gm)].map((m) => m[1] as SectionType).filter((t) => (SECTION_TYPES as readonly string[]).includes(t));
  const footer = /^Footer address: (.*)\. Unsubscribe URL: (.*)\.$/m.exec(system);
  const brand: Brand = {
    name: /for the brand "(.*)"\.$/m.exec(system)?.[1] ?? "Brand",
    colors: { primary: "#222222" },
    formula: formula.map((type) => ({ type })),
    ...(footer ? { footer: { address: footer[1]!, unsubscribeUrl: footer[2]! } } : {}),
  };
  const productBlock = /^Products:\n((?:- .*\n?)*)/m.exec(prompt)?.[1] ?? "";
  const products = [...productBlock.matchAll(/^- (.+?)(?:: (.*?))?(?: \((https?:\/\/[^)\s]+)\))?$/gm)].map((m) => ({ name: m[1]!, ...(m[2] ? { description: m[2] } : {}), ...(m[3] ? { url: m[3] } : {}) }));
  const cta = /^Call to action: "(.*)" → (\S+)$/m.exec(prompt);
  const brief: Brief = {
    objective: line("Objective"),
    audience: line("Audience"),
    tone: line("Tone"),
    hook: line("Headline hook"),
    products,
    ...(cta ? { cta: { label: cta[1]!, url: cta[2]! } } : {}),
  };
  const { meta: _, ...document } = writeOfflineEmail({ brand, brief });
  return JSON.stringify(document);
}

export function startFakeProviders(options: { delayMs?: number } = {}): FakeProviders {
  const delayMs = options.delayMs ?? 5;
  const requests: FakeProviders["requests"] = [];
  const seen429 = new Set<string>();

  const anthropic = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      const body = await request.json().catch(() => ({}));
      requests.push({ provider: "anthropic", path: url.pathname, headers: Object.fromEntries(request.headers), body });
      if (url.pathname !== "/v1/messages") return Response.json({ type: "error", error: { type: "not_found_error", message: "no route" } }, { status: 404 });
      const prompt = promptOf(body);
      if (prompt.includes("[fail:401]")) return Response.json({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } }, { status: 401 });
      if (prompt.includes("[fail:429-once]") && !seen429.has(prompt)) {
        seen429.add(prompt);
        return Response.json({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }, { status: 429, headers: { "retry-after": "0" } });
      }
      const system = typeof body.system === "string" ? body.system : (body.system ?? []).map((b: any) => b.text).join("\n");
      const words = body.output_config ? chunks(fakeStructuredReply(system, prompt)) : fakeReply(prompt);
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(sse("message_start", { type: "message_start", message: { id: "msg_fake", type: "message", role: "assistant", model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } }));
          // "[tool]": a thinking block, then the text, then a tool_use block whose input streams in pieces.
          const tool = prompt.includes("[tool]");
          const text = tool ? 1 : 0;
          if (tool) {
            controller.enqueue(sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } }));
            for (const thought of ["The user wants ", "the weather."]) controller.enqueue(sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: thought } }));
            controller.enqueue(sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } }));
            controller.enqueue(sse("content_block_stop", { type: "content_block_stop", index: 0 }));
          }
          controller.enqueue(sse("content_block_start", { type: "content_block_start", index: text, content_block: { type: "text", text: "" } }));
          controller.enqueue(sse("ping", { type: "ping" }));
          for (const [i, word] of words.entries()) {
            await Bun.sleep(delayMs);
            if (prompt.includes("[fail:cut]") && i === 3) {
              controller.error(new Error("connection reset"));
              return;
            }
            if (prompt.includes("[fail:error-event]") && i === 3) {
              controller.enqueue(sse("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
              controller.close();
              return;
            }
            controller.enqueue(sse("content_block_delta", { type: "content_block_delta", index: text, delta: { type: "text_delta", text: word } }));
          }
          controller.enqueue(sse("content_block_stop", { type: "content_block_stop", index: text }));
          if (tool) {
            controller.enqueue(sse("content_block_start", { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_fake1", name: "get_weather", input: {} } }));
            for (const piece of FAKE_TOOL_ARGS) {
              await Bun.sleep(TOOL_PIECE_DELAY_MS);
              controller.enqueue(sse("content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: piece } }));
            }
            controller.enqueue(sse("content_block_stop", { type: "content_block_stop", index: 2 }));
          }
          controller.enqueue(sse("message_delta", { type: "message_delta", delta: { stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: words.length } }));
          controller.enqueue(sse("message_stop", { type: "message_stop" }));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream", "request-id": "req_fake" } });
    },
  });

  const openai = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/v1/images/edits") {
        // multipart/form-data, as the SDK sends it: the fields and the input image, kept for the tests.
        const form = await request.formData();
        const image = form.get("image") ?? form.get("image[]");
        const file = image instanceof Blob ? { name: (image as File).name, type: image.type, base64: Buffer.from(await image.arrayBuffer()).toString("base64") } : undefined;
        const fields = Object.fromEntries([...form.entries()].filter(([, v]) => typeof v === "string"));
        requests.push({ provider: "openai", path: url.pathname, headers: Object.fromEntries(request.headers), body: { ...fields, image: file } });
        const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        return Response.json({ created: Math.floor(Date.now() / 1000), data: [{ b64_json: png }] });
      }
      const body = await request.json().catch(() => ({}));
      requests.push({ provider: "openai", path: url.pathname, headers: Object.fromEntries(request.headers), body });
      if (url.pathname === "/v1/images/generations") {
        if (String(body.prompt).includes("[fail:401]")) return Response.json({ error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });
        // A real 1×1 PNG, base64, as gpt-image-1 returns it.
        const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        return Response.json({ created: Math.floor(Date.now() / 1000), data: [{ b64_json: png }], usage: { total_tokens: 10 } });
      }
      if (url.pathname !== "/v1/chat/completions") return Response.json({ error: { message: "no route", type: "invalid_request_error" } }, { status: 404 });
      const prompt = promptOf(body);
      if (prompt.includes("[fail:401]")) return Response.json({ error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });
      const system = (body.messages ?? []).filter((m: any) => m.role === "system").map((m: any) => m.content).join("\n");
      const words = body.response_format ? chunks(fakeStructuredReply(system, prompt)) : fakeReply(prompt);
      const chunk = (delta: Record<string, unknown>, finish: string | null) => ({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] });
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(sse(undefined, chunk({ role: "assistant", content: "" }, null)));
          for (const word of words) {
            await Bun.sleep(delayMs);
            controller.enqueue(sse(undefined, chunk({ content: word }, null)));
          }
          if (prompt.includes("[tool]")) {
            for (const [i, piece] of FAKE_TOOL_ARGS.entries()) {
              await Bun.sleep(TOOL_PIECE_DELAY_MS);
              const call = i === 0 ? { index: 0, id: "call_fake1", type: "function", function: { name: "get_weather", arguments: piece } } : { index: 0, function: { arguments: piece } };
              controller.enqueue(sse(undefined, chunk({ tool_calls: [call] }, null)));
            }
          }
          controller.enqueue(sse(undefined, chunk({}, prompt.includes("[tool]") ? "tool_calls" : "stop")));
          controller.enqueue(sse(undefined, "[DONE]"));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    },
  });

  const compatible = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      const body = await request.json().catch(() => ({}));
      requests.push({ provider: "compatible", path: url.pathname, headers: Object.fromEntries(request.headers), body });
      if (url.pathname !== "/v1/chat/completions") return Response.json({ error: { message: "no route", type: "invalid_request_error" } }, { status: 404 });
      if (body.response_format?.type === "json_schema") {
        return Response.json({ error: { message: "response_format type json_schema is not supported by this server", type: "invalid_request_error", code: null } }, { status: 400 });
      }
      const system = (body.messages ?? []).filter((m: any) => m.role === "system").map((m: any) => m.content).join("\n");
      const text = body.response_format?.type === "json_object" ? fakeStructuredReply(system, promptOf(body)) : fakeReply(promptOf(body)).join("");
      const chunk = (delta: Record<string, unknown>, finish: string | null) => ({ id: "chatcmpl-local", object: "chat.completion.chunk", created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] });
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(sse(undefined, chunk({ role: "assistant", content: "" }, null)));
          for (const piece of chunks(text)) {
            await Bun.sleep(delayMs);
            controller.enqueue(sse(undefined, chunk({ content: piece }, null)));
          }
          controller.enqueue(sse(undefined, chunk({}, "stop")));
          controller.enqueue(sse(undefined, "[DONE]"));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    },
  });

  return {
    anthropicUrl: `http://127.0.0.1:${anthropic.port}`,
    openaiUrl: `http://127.0.0.1:${openai.port}/v1`,
    compatibleUrl: `http://127.0.0.1:${compatible.port}/v1`,
    requests,
    stop() {
      anthropic.stop(true);
      openai.stop(true);
      compatible.stop(true);
    },
  };
}
