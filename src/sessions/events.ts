import { z } from "zod";

/** Longest text a single event may carry (a message, a delta, a steer). */
export const MAX_EVENT_TEXT_CHARS = 100_000;

const id = z.string().min(1).max(200);
const text = z.string().max(MAX_EVENT_TEXT_CHARS);
const turnRef = z.object({ runId: id, messageId: id });
/**
 * What a `message.delta` adds to (none: text). `reasoning` and `tool-call` stream (a tool call's
 * `text` pieces are its arguments, JSON text); `tool-result`, `data` and `file` come whole.
 */
const deltaPart = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("reasoning") }),
  z.object({ type: z.literal("tool-call"), toolCallId: id, toolName: id }),
  z.object({ type: z.literal("tool-result"), toolCallId: id, toolName: id.optional(), result: z.unknown() }),
  z.object({ type: z.literal("data"), name: id.optional(), data: z.unknown() }),
  z.object({ type: z.literal("file"), mediaType: z.string().min(1).max(200), url: z.string().min(1).max(2_000), name: z.string().max(500).optional() }),
]);
export type DeltaPart = z.infer<typeof deltaPart>;

/** The session event vocabulary (documented in docs/websocket.md). Every event appended to a session matches one of these. */
export const sessionEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message"), id, role: z.enum(["user", "assistant", "system"]), text, clientId: id.optional() }),
  z.object({ type: z.literal("message.start"), id, role: z.literal("assistant"), runId: id, agent: id, inReplyTo: id.optional() }),
  z.object({ type: z.literal("message.delta"), id, runId: id, text, part: deltaPart.optional() }),
  z.object({ type: z.literal("message.end"), id, runId: id, status: z.enum(["complete", "cancelled", "interrupted", "failed"]) }),
  z.object({ type: z.literal("run.start"), runId: id, agent: id, parentRunId: id.optional() }),
  z.object({ type: z.literal("run.progress"), runId: id, agent: id, label: z.string().max(500), progress: z.number().min(0).max(1).optional() }),
  z.object({ type: z.literal("run.end"), runId: id, status: z.enum(["completed", "interrupted", "cancelled", "failed"]), error: z.string().max(2_000).optional() }),
  /** The session's turns after a change: `active` are answering (several only under `parallel`), `queued` wait their turn. */
  z.object({ type: z.literal("turn.state"), active: z.array(turnRef).max(1_000), queued: z.array(turnRef).max(1_000) }),
  z.object({
    type: z.literal("control"),
    action: z.enum(["cancel", "interrupt", "steer", "respond"]),
    runId: id.optional(),
    clientId: id.optional(),
    text: text.optional(),
    /** For cancel: one run (`run`, the default when runId is given), this client's runs (`own`), or `all`. */
    scope: z.enum(["run", "own", "all"]).optional(),
    /** For respond: the `input.request` answered, and the answer. */
    requestId: id.optional(),
    value: z.unknown().optional(),
  }),
  /** A branch of the conversation (a forked session) was made from `fromMessageId`; written to the root session. */
  z.object({ type: z.literal("branch.created"), branchId: id, parentId: id, fromMessageId: id, reason: z.enum(["edit", "regenerate"]) }),
  /** The conversation's clients now follow this branch (the root's id for the root); written to every session of the tree. */
  z.object({ type: z.literal("branch.switched"), branchId: id, rootId: id.optional() }),
  /** A run asks a person: approve (true/false), choose (one of `schema.enum`) or type text; answered by `control` respond. */
  z.object({ type: z.literal("input.request"), requestId: id, runId: id, kind: z.enum(["approval", "choice", "text"]), prompt: text, schema: z.record(z.string(), z.unknown()).optional() }),
  z.object({ type: z.literal("artifact"), runId: id, kind: z.string().min(1).max(50), ref: z.string().min(1).max(2_000), data: z.unknown().optional() }),
]);

export type SessionEvent = z.infer<typeof sessionEvent>;
export type EventType = SessionEvent["type"];
export const EVENT_TYPES = sessionEvent.options.map((option) => option.shape.type.value);

/** Event types a client (browser, app) may publish itself; the rest are written by agents and the server. */
export const CLIENT_EVENT_TYPES: ReadonlySet<string> = new Set(["message", "control"]);

/**
 * Checks an event against the vocabulary, with a message a person can act on.
 *
 * @example
 * const checked = parseEvent({ type: "message", id: "m1", role: "user", text: "hi" });
 * if (!checked.ok) console.log(checked.code, checked.message);
 */
export function parseEvent(value: unknown): { ok: true; event: SessionEvent } | { ok: false; code: "unknown_event_type" | "invalid_event"; message: string } {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !(EVENT_TYPES as string[]).includes(type)) {
    return { ok: false, code: "unknown_event_type", message: `Unknown event type ${JSON.stringify(type)}; expected one of ${EVENT_TYPES.join(", ")}.` };
  }
  const parsed = sessionEvent.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, code: "invalid_event", message: `Invalid ${type} event: ${issue.path.join(".") || "event"}: ${issue.message}.` };
  }
  return { ok: true, event: parsed.data };
}

/** A whole message after folding its start/delta/end events. */
export interface CompactedMessage {
  id: string;
  role: "user" | "assistant" | "system";
  text: string;
  status: "complete" | "streaming" | "cancelled" | "interrupted" | "failed";
  runId?: string;
  agent?: string;
  clientId?: string;
  /** For an assistant message: the user message it answers (a turn's message). */
  inReplyTo?: string;
  /** The message's parts in order, when it has more than text (text parts hold the text deltas). */
  parts?: MessagePart[];
}

/** A part of a compacted message: streamed pieces folded (a tool call's `args` text, and `input` once it parses). */
export type MessagePart =
  | { type: "text"; text: string }
  | { type: "reasoning"; text: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; args: string; input?: unknown }
  | { type: "tool-result"; toolCallId: string; toolName?: string; result: unknown }
  | { type: "data"; name?: string; data: unknown }
  | { type: "file"; mediaType: string; url: string; name?: string };

/**
 * The shape of a Compactor's saved state (`save`, `Compactor.restore`), stored in session checkpoints.
 * Bump it with any change to CompactedMessage, MessagePart or what `add` keeps: a checkpoint of
 * another format is never read (the session is folded from its first event instead).
 */
export const COMPACTOR_FORMAT = 1;

/**
 * Folds a session's events into whole messages, so a late joiner gets a few messages rather than
 * thousands of deltas. Messages keep the order of their first event.
 *
 * @example
 * const compactor = new Compactor();
 * for (const event of events) compactor.add(event);
 * compactor.messages(); // [{ id, role, text, status, runId? }]
 */
export class Compactor {
  #messages = new Map<string, CompactedMessage>();

  /**
   * Folds one event. A message belongs to the writer that made it first: a second `message` with
   * the same id changes nothing, and start/delta/end apply only to the message of their own run, so
   * no writer can rewrite another's message in the compacted view.
   */
  add(event: unknown): void {
    const e = event as SessionEvent;
    switch (e?.type) {
      case "message":
        if (!this.#messages.has(e.id)) this.#messages.set(e.id, { id: e.id, role: e.role, text: e.text, status: "complete", ...(e.clientId ? { clientId: e.clientId } : {}) });
        break;
      case "message.start": {
        const message = this.#messages.get(e.id);
        if (!message) this.#messages.set(e.id, { id: e.id, role: "assistant", text: "", status: "streaming", runId: e.runId, agent: e.agent, ...(e.inReplyTo ? { inReplyTo: e.inReplyTo } : {}) });
        else if (message.runId === e.runId) message.status = "streaming";
        break;
      }
      case "message.delta": {
        let message = this.#messages.get(e.id);
        if (!message) this.#messages.set(e.id, (message = { id: e.id, role: "assistant", text: "", status: "streaming", runId: e.runId }));
        else if (message.runId !== e.runId) break;
        foldPart(message, e.part, e.text);
        break;
      }
      case "message.end": {
        const message = this.#messages.get(e.id);
        if (message && message.runId === e.runId) message.status = e.status;
        break;
      }
    }
  }

  /**
   * The state as JSON text: `Compactor.restore` of it folds on exactly as this compactor would
   * (the events it folds are JSON, so the messages are too; their order is kept).
   */
  save(): string {
    return JSON.stringify([...this.#messages.values()]);
  }

  /** A compactor with a state `save` returned (of this COMPACTOR_FORMAT). */
  static restore(saved: string): Compactor {
    const compactor = new Compactor();
    for (const message of JSON.parse(saved) as CompactedMessage[]) compactor.#messages.set(message.id, message);
    return compactor;
  }

  /** Copies of the messages so far: the compactor keeps folding into its own (SessionService keeps one per session). */
  messages(): CompactedMessage[] {
    return [...this.#messages.values()].map(({ parts, ...m }) => (parts && parts.some((p) => p.type !== "text") ? { ...m, parts: structuredClone(parts) } : m));
  }
}

/** Adds one delta to a message: text to its text (and last text part), other parts merged by kind and id. */
function foldPart(message: CompactedMessage, part: DeltaPart | undefined, text: string) {
  const parts = (message.parts ??= []);
  const last = parts[parts.length - 1];
  if (!part || part.type === "text") {
    message.text += text;
    if (last?.type === "text") last.text += text;
    else parts.push({ type: "text", text });
    return;
  }
  switch (part.type) {
    case "reasoning":
      if (last?.type === "reasoning") last.text += text;
      else parts.push({ type: "reasoning", text });
      return;
    case "tool-call": {
      let call = parts.find((p): p is Extract<MessagePart, { type: "tool-call" }> => p.type === "tool-call" && p.toolCallId === part.toolCallId);
      if (!call) parts.push((call = { type: "tool-call", toolCallId: part.toolCallId, toolName: part.toolName, args: "" }));
      call.args += text;
      try {
        call.input = JSON.parse(call.args);
      } catch {
        delete call.input; // not whole yet
      }
      return;
    }
    default:
      parts.push({ ...part });
  }
}
