import OpenAI, { toFile } from "openai";
import { CONTINUATION_PROMPT, ProviderError, type ChatRequest, type ImageRequest, type Provider, type StreamPart } from "./types";
import { toProviderError } from "./anthropic";

export const DEFAULT_OPENAI_CHAT_MODEL = "gpt-4.1-mini";
export const DEFAULT_OPENAI_IMAGE_MODEL = "gpt-image-1";
const MAX_RETRIES = 2;

/** The 400 an OpenAI-compatible server (llama.cpp, older vLLM or Ollama) answers when it lacks `json_schema` output. */
const NO_STRUCTURED_OUTPUT = /response_format|json_schema|structured|not supported|unsupported|unknown (field|parameter)|extra (inputs|fields)/i;

/**
 * OpenAI through the official SDK: chat streaming and gpt-image-1 images (generated, or drawn
 * from an input image through the images edit endpoint). With `OPENAI_BASE_URL` it speaks to any
 * OpenAI-compatible server (Ollama, llama.cpp, vLLM): a schema is asked for as structured output
 * (`json_schema`), and when the server refuses that, as JSON mode (`json_object`) with the schema in
 * the system prompt — remembered, so later requests go straight to JSON mode.
 */
export class OpenAIProvider implements Provider {
  readonly name = "openai" as const;
  #client: OpenAI;
  #chatModel: string;
  #imageModel: string;
  #jsonModeOnly = false;

  constructor(options: { apiKey: string; baseUrl?: string; chatModel?: string; imageModel?: string }) {
    this.#client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseUrl, maxRetries: MAX_RETRIES, timeout: 120_000 });
    this.#chatModel = options.chatModel ?? DEFAULT_OPENAI_CHAT_MODEL;
    this.#imageModel = options.imageModel ?? DEFAULT_OPENAI_IMAGE_MODEL;
  }

  /** The chat request's `response_format` and the extra system text JSON mode needs. */
  #format(request: ChatRequest): { responseFormat?: Record<string, unknown>; system?: string } {
    if (!request.schema) return {};
    if (this.#jsonModeOnly) return { responseFormat: { type: "json_object" }, system: `Answer with one JSON object that follows this JSON schema exactly:\n${JSON.stringify(request.schema)}` };
    return { responseFormat: { type: "json_schema", json_schema: { name: request.schemaName ?? "output", schema: request.schema, strict: false } } };
  }

  async *stream(request: ChatRequest): AsyncIterable<string | StreamPart> {
    try {
      yield* this.#stream(request);
    } catch (error) {
      if (request.signal.aborted) return;
      const failure = error instanceof ProviderError ? error : toProviderError(error, "OpenAI");
      if (request.schema && !this.#jsonModeOnly && failure.status === 400 && NO_STRUCTURED_OUTPUT.test(failure.message)) {
        this.#jsonModeOnly = true;
        yield* this.stream(request);
        return;
      }
      throw failure;
    }
  }

  async *#stream(request: ChatRequest): AsyncIterable<string | StreamPart> {
    {
      const format = this.#format(request);
      const system = [request.system, format.system].filter(Boolean).join("\n\n");
      const messages = [
        ...(system ? [{ role: "system" as const, content: system }] : []),
        ...request.messages.map((m) => ({
          role: m.role,
          content: typeof m.content === "string" ? m.content : m.content.map((p) => (p.type === "text" ? { type: "text" as const, text: p.text } : { type: "image_url" as const, image_url: { url: `data:${p.mediaType};base64,${p.base64}` } })),
        })),
        // Continuing a cut-off reply: the partial reply, then a prompt to go on from its last word.
        ...(request.continueFrom ? [{ role: "assistant" as const, content: request.continueFrom }, { role: "user" as const, content: CONTINUATION_PROMPT }] : []),
      ];
      const stream = await this.#client.chat.completions.create(
        {
          model: request.model ?? this.#chatModel,
          messages: messages as never,
          stream: true,
          ...(request.maxTokens ? { max_completion_tokens: request.maxTokens } : {}),
          ...(format.responseFormat ? { response_format: format.responseFormat } : {}),
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
    }
  }

  async image(request: ImageRequest): Promise<Uint8Array> {
    try {
      const size = request.size ?? "1536x1024";
      const result = request.image
        ? await this.#client.images.edit(
            { model: this.#imageModel, prompt: request.prompt, size, n: 1, image: await toFile(Buffer.from(request.image.bytes), `product.${request.image.mediaType.split("/")[1] ?? "png"}`, { type: request.image.mediaType }) } as never,
            { signal: request.signal },
          )
        : await this.#client.images.generate({ model: this.#imageModel, prompt: request.prompt, size, n: 1 } as never, { signal: request.signal });
      const b64 = (result as { data?: Array<{ b64_json?: string }> }).data?.[0]?.b64_json;
      if (!b64) throw new ProviderError("provider_error", "OpenAI returned no image data.");
      return new Uint8Array(Buffer.from(b64, "base64"));
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw toProviderError(error, "OpenAI");
    }
  }
}
