/** The narrow seam between agents and model APIs. */

export type ContentPart = { type: "text"; text: string } | { type: "image"; mediaType: string; base64: string };

export interface ChatMessage {
  role: "user" | "assistant";
  content: string | ContentPart[];
}

export interface ChatRequest {
  system?: string;
  messages: ChatMessage[];
  maxTokens?: number;
  model?: string;
  /** A JSON schema the reply must follow (structured output); the text streamed is then JSON. */
  schema?: Record<string, unknown>;
  /** The schema's name where the API wants one (OpenAI's `json_schema.name`). */
  schemaName?: string;
  /** Offline pacing: `tokens` to produce at `tokensPerSecond`. */
  tokens?: number;
  tokensPerSecond?: number;
  /**
   * The start of this reply, already written by an attempt that died: the provider streams only
   * what follows it (offline: from the next token; Anthropic: an assistant prefill; OpenAI-compatible:
   * a continuation prompt).
   */
  continueFrom?: string;
  /** The caller takes parts: the provider may also yield reasoning and tool-call pieces (else text only). */
  parts?: boolean;
  signal: AbortSignal;
}

/** A non-text piece of a reply, as providers stream them (`parts: true`). */
export type StreamPart =
  | { type: "reasoning"; text: string }
  /** A tool call: its arguments (JSON text) stream in pieces under one `toolCallId`. */
  | { type: "tool-call"; toolCallId: string; toolName: string; argsDelta: string };

/** The prompt an OpenAI-compatible model gets to continue a cut-off reply. */
export const CONTINUATION_PROMPT = "Your previous reply was cut off. Continue it exactly where it stopped: do not repeat anything, do not add a preamble.";

export interface ImageRequest {
  prompt: string;
  size?: "1024x1024" | "1536x1024" | "1024x1536";
  /** Brand colours for the offline image. */
  palette?: string[];
  /** An input image to draw from (the product photo): OpenAI's images edit endpoint. */
  image?: { bytes: Uint8Array; mediaType: string };
  signal: AbortSignal;
}

/** A provider failure with a stable code and a message a person can act on. */
export class ProviderError extends Error {
  constructor(
    readonly code: "unauthorized" | "rate_limited" | "provider_unavailable" | "stream_interrupted" | "bad_request" | "provider_error",
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface Provider {
  readonly name: "offline" | "anthropic" | "openai";
  /** Streams text chunks (and, with `parts: true`, StreamParts); throws ProviderError; stops promptly when `signal` aborts. */
  stream(request: ChatRequest): AsyncIterable<string | StreamPart>;
  /** Generates one PNG image (as bytes). */
  image?(request: ImageRequest): Promise<Uint8Array>;
}
