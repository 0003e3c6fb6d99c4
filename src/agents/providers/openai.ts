import OpenAI from "openai";
import { CONTINUATION_PROMPT, ProviderError, type ChatRequest, type ImageRequest, type Provider, type StreamPart } from "./types";
import { toProviderError } from "./anthropic";

export const DEFAULT_OPENAI_CHAT_MODEL = "gpt-4.1-mini";
export const DEFAULT_OPENAI_IMAGE_MODEL = "gpt-image-1";
const MAX_RETRIES = 2;

/** OpenAI through the official SDK: chat streaming and gpt-image-1 images. */
export class OpenAIProvider implements Provider {
  readonly name = "openai" as const;
  #client: OpenAI;

  constructor(options: { apiKey: string; baseUrl?: string }) {
    this.#client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseUrl, maxRetries: MAX_RETRIES, timeout: 120_000 });
  }

  async *stream(request: ChatRequest): AsyncIterable<string | StreamPart> {
    try {
      const messages = [
        ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
        ...request.messages.map((m) => ({
          role: m.role,
          content: typeof m.content === "string" ? m.content : m.content.map((p) => (p.type === "text" ? { type: "text" as const, text: p.text } : { type: "image_url" as const, image_url: { url: `data:${p.mediaType};base64,${p.base64}` } })),
        })),
        // Continuing a cut-off reply: the partial reply, then a prompt to go on from its last word.
        ...(request.continueFrom ? [{ role: "assistant" as const, content: request.continueFrom }, { role: "user" as const, content: CONTINUATION_PROMPT }] : []),
      ];
      const stream = await this.#client.chat.completions.create(
        {
          model: request.model ?? DEFAULT_OPENAI_CHAT_MODEL,
          messages: messages as never,
          stream: true,
          ...(request.maxTokens ? { max_completion_tokens: request.maxTokens } : {}),
          ...(request.schema ? { response_format: { type: "json_schema", json_schema: { name: "output", schema: request.schema, strict: false } } } : {}),
        } as never,
        { signal: request.signal },
      );
      // Tool calls stream by index: the first piece names the call (id, function name), later ones add arguments.
      const calls = new Map<number, { id: string; name: string }>();
      type ToolCallDelta = { index: number; id?: string; function?: { name?: string; arguments?: string } };
      for await (const chunk of stream as unknown as AsyncIterable<{ choices?: Array<{ delta?: { content?: string | null; reasoning_content?: string | null; tool_calls?: ToolCallDelta[] } }> }>) {
        const delta = chunk.choices?.[0]?.delta;
        if (request.parts && delta?.reasoning_content) yield { type: "reasoning", text: delta.reasoning_content };
        if (request.parts) {
          for (const call of delta?.tool_calls ?? []) {
            const known = calls.get(call.index) ?? { id: call.id ?? `call_${call.index}`, name: call.function?.name ?? "tool" };
            calls.set(call.index, known);
            yield { type: "tool-call", toolCallId: known.id, toolName: known.name, argsDelta: call.function?.arguments ?? "" };
          }
        }
        const text = delta?.content;
        if (text) yield text;
      }
    } catch (error) {
      if (request.signal.aborted) return;
      throw toProviderError(error, "OpenAI");
    }
  }

  async image(request: ImageRequest): Promise<Uint8Array> {
    try {
      const result = await this.#client.images.generate({ model: DEFAULT_OPENAI_IMAGE_MODEL, prompt: request.prompt, size: request.size ?? "1536x1024", n: 1 } as never, { signal: request.signal });
      const b64 = (result as { data?: Array<{ b64_json?: string }> }).data?.[0]?.b64_json;
      if (!b64) throw new ProviderError("provider_error", "OpenAI returned no image data.");
      return new Uint8Array(Buffer.from(b64, "base64"));
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw toProviderError(error, "OpenAI");
    }
  }
}
