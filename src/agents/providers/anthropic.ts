import Anthropic from "@anthropic-ai/sdk";
import { ProviderError, type ChatRequest, type ContentPart, type Provider, type StreamPart } from "./types";

export const DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5";
const DEFAULT_MAX_TOKENS = 4_096;
/** Retries of 429/5xx inside the SDK (it honours retry-after); past them the run fails with a clear error. */
const MAX_RETRIES = 2;

/** Claude through the official SDK's streaming Messages API (text, image input, JSON-schema output). */
export class AnthropicProvider implements Provider {
  readonly name = "anthropic" as const;
  #client: Anthropic;

  #model: string;

  constructor(options: { apiKey: string; baseUrl?: string; model?: string }) {
    this.#model = options.model ?? DEFAULT_ANTHROPIC_MODEL;
    this.#client = new Anthropic({ apiKey: options.apiKey, baseURL: options.baseUrl ?? null, maxRetries: MAX_RETRIES, timeout: 120_000 });
  }

  async *stream(request: ChatRequest): AsyncIterable<string | StreamPart> {
    const prefill = request.continueFrom?.trimEnd();
    // The whitespace the prefill could not end with, given back before the continuation unless it brings its own.
    let pending = request.continueFrom && prefill ? request.continueFrom.slice(prefill.length) : "";
    const params: Record<string, unknown> = {
      model: request.model ?? this.#model,
      max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
      messages: [
        ...request.messages.map((m) => ({ role: m.role, content: typeof m.content === "string" ? m.content : m.content.map(toBlock) })),
        // Continuing a cut-off reply: prefill it as the assistant's turn (the API refuses trailing whitespace there).
        ...(prefill ? [{ role: "assistant", content: prefill }] : []),
      ],
      ...(request.system ? { system: request.system } : {}),
      ...(request.schema ? { output_config: { format: { type: "json_schema", schema: request.schema } } } : {}),
    };
    try {
      const stream = this.#client.messages.stream(params as never, { signal: request.signal });
      // Content blocks by index: text, thinking (→ reasoning parts) and tool_use (→ tool-call parts).
      const blocks = new Map<number, { type: string; id?: string; name?: string }>();
      for await (const event of stream as AsyncIterable<{ type: string; index?: number; content_block?: { type: string; id?: string; name?: string }; delta?: { type: string; text?: string; thinking?: string; partial_json?: string } }>) {
        if (event.type === "content_block_start" && event.content_block && event.index !== undefined) blocks.set(event.index, event.content_block);
        if (request.parts && event.type === "content_block_delta" && event.index !== undefined) {
          const block = blocks.get(event.index);
          if (event.delta?.type === "thinking_delta" && event.delta.thinking) yield { type: "reasoning", text: event.delta.thinking };
          if (event.delta?.type === "input_json_delta" && block?.type === "tool_use") yield { type: "tool-call", toolCallId: block.id ?? `tool_${event.index}`, toolName: block.name ?? "tool", argsDelta: event.delta.partial_json ?? "" };
        }
        if (event.type === "content_block_delta" && event.delta?.type === "text_delta" && event.delta.text) {
          const text = pending && !/^\s/.test(event.delta.text) ? pending + event.delta.text : event.delta.text;
          pending = "";
          yield text;
        }
      }
    } catch (error) {
      if (request.signal.aborted) return;
      throw toProviderError(error, "Anthropic");
    }
  }
}

function toBlock(part: ContentPart) {
  return part.type === "text" ? { type: "text", text: part.text } : { type: "image", source: { type: "base64", media_type: part.mediaType, data: part.base64 } };
}

/** Maps SDK errors (both SDKs share the shape) to ProviderError with a readable message. */
export function toProviderError(error: unknown, provider: string): ProviderError {
  const status = (error as { status?: number }).status;
  const detail = (error as { error?: { error?: { message?: string }; message?: string } }).error;
  const message = detail?.error?.message ?? detail?.message ?? (error as Error).message ?? String(error);
  if (status === 401 || status === 403) return new ProviderError("unauthorized", `${provider} rejected the API key (${status}): ${message}`, status);
  if (status === 429) return new ProviderError("rate_limited", `${provider} rate limit reached after retries: ${message}`, status);
  if (status !== undefined && status >= 500) return new ProviderError("provider_unavailable", `${provider} is unavailable (${status}): ${message}`, status);
  if (status !== undefined && status >= 400) return new ProviderError("bad_request", `${provider} refused the request (${status}): ${message}`, status);
  return new ProviderError("stream_interrupted", `${provider} stream ended unexpectedly: ${message}`);
}
