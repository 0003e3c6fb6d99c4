import type { SessionEvent } from "./events";

/** A turn's AI SDK stream lives beside its session: `/v1/stream/sessions/<id>/ui/<uiId>`. */
export function uiStreamPath(sessionId: string, uiId: string): string {
  return `/v1/stream/sessions/${sessionId}/ui/${uiId}`;
}

/** The session a session-owned stream path belongs to (`…/sessions/<id>` or `…/sessions/<id>/ui/…`). */
export function sessionOfStreamPath(prefix: string, path: string): string | undefined {
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf("/");
  return slash === -1 ? rest : rest.slice(0, slash);
}

/** An AI SDK (ai@6) UI message chunk, as `useChat` reads them. */
export type UiChunk = { type: string; [field: string]: unknown };

/**
 * Turns one run's session events into AI SDK UI message chunks, so a `useChat` app reads a turn
 * through `@durable-streams/aisdk-transport` unchanged: `start`, text/reasoning start-delta-end,
 * tool input start/delta/available and output, `data-*`, `file`, then `finish` (completed), `abort`
 * (cancelled or interrupted) or `error` (failed). The first `message.start` opens the UI message;
 * later messages of the run (after a steer or an approval) are further steps of it.
 */
export class UiChunkMapper {
  #runId: string;
  #started = false;
  #text: string | undefined;
  #reasoning: string | undefined;
  #calls = new Map<string, { toolName: string; args: string; announced: boolean }>();

  /** `resumed`: a retry continuing a message whose start (and text start) were already written. */
  constructor(runId: string, resumed?: { messageId: string; text: string }) {
    this.#runId = runId;
    if (resumed) {
      this.#started = true;
      if (resumed.text) this.#text = `${resumed.messageId}-text`;
    }
  }

  map(event: SessionEvent): UiChunk[] {
    if (!("runId" in event) || event.runId !== this.#runId) return [];
    switch (event.type) {
      case "message.start": {
        const chunks: UiChunk[] = this.#started ? [] : [{ type: "start", messageId: event.id }];
        this.#started = true;
        return [...chunks, { type: "start-step" }];
      }
      case "message.delta": {
        const part = event.part;
        if (!part || part.type === "text") return [...this.#closeReasoning(), ...this.#openText(event.id), { type: "text-delta", id: this.#text!, delta: event.text }];
        switch (part.type) {
          case "reasoning": {
            const chunks = this.#closeText();
            if (!this.#reasoning) chunks.push({ type: "reasoning-start", id: (this.#reasoning = `${event.id}-reasoning`) });
            return [...chunks, { type: "reasoning-delta", id: this.#reasoning, delta: event.text }];
          }
          case "tool-call": {
            const chunks = [...this.#closeText(), ...this.#closeReasoning()];
            let call = this.#calls.get(part.toolCallId);
            if (!call) this.#calls.set(part.toolCallId, (call = { toolName: part.toolName, args: "", announced: false }));
            if (!call.announced) {
              call.announced = true;
              chunks.push({ type: "tool-input-start", toolCallId: part.toolCallId, toolName: part.toolName });
            }
            call.args += event.text;
            return [...chunks, { type: "tool-input-delta", toolCallId: part.toolCallId, inputTextDelta: event.text }];
          }
          case "tool-result":
            return [...this.#inputsAvailable(), { type: "tool-output-available", toolCallId: part.toolCallId, output: part.result }];
          case "data":
            return [{ type: `data-${part.name ?? "data"}`, data: part.data }];
          case "file":
            return [{ type: "file", url: part.url, mediaType: part.mediaType }];
        }
        return [];
      }
      case "message.end":
        return [...this.#closeText(), ...this.#closeReasoning(), ...this.#inputsAvailable(), { type: "finish-step" }];
      case "input.request":
        return [{ type: "data-input-request", data: { requestId: event.requestId, kind: event.kind, prompt: event.prompt, ...(event.schema ? { schema: event.schema } : {}) } }];
      case "run.end": {
        const start: UiChunk[] = this.#started ? [] : [{ type: "start" }];
        if (event.status === "completed") return [...start, { type: "finish" }];
        if (event.status === "failed") return [...start, { type: "error", errorText: event.error ?? "The run failed." }];
        return [...start, { type: "abort", reason: event.status }];
      }
      default:
        return [];
    }
  }

  #openText(messageId: string): UiChunk[] {
    if (this.#text) return [];
    this.#text = `${messageId}-text`;
    return [{ type: "text-start", id: this.#text }];
  }

  #closeText(): UiChunk[] {
    if (!this.#text) return [];
    const id = this.#text;
    this.#text = undefined;
    return [{ type: "text-end", id }];
  }

  #closeReasoning(): UiChunk[] {
    if (!this.#reasoning) return [];
    const id = this.#reasoning;
    this.#reasoning = undefined;
    return [{ type: "reasoning-end", id }];
  }

  /** Tool calls whose arguments are complete: their parsed input. */
  #inputsAvailable(): UiChunk[] {
    const chunks: UiChunk[] = [];
    for (const [toolCallId, call] of this.#calls) {
      if (call.args === "\u0000") continue;
      let input: unknown;
      try {
        input = JSON.parse(call.args || "{}");
      } catch {
        input = call.args;
      }
      chunks.push({ type: "tool-input-available", toolCallId, toolName: call.toolName, input });
      call.args = "\u0000"; // announced as available once
    }
    return chunks;
  }
}
