import type { Logger } from "../infra/log";
import { jsonAppend } from "../streams/json-append";
import type { AppendWriter } from "../streams/writer";
import { formatOffset } from "../streams/offsets";
import type { DeltaPart, SessionEvent } from "../sessions/events";
import type { StreamPart } from "./providers/types";
import { UiChunkMapper } from "../sessions/ui-chunks";
import type { RunOptions } from "./options";
import { CANCEL_FENCE_EPOCH, newId, runEndKey, runProducerId, sessionStreamPath } from "../sessions/service";

/** Tokens are coalesced into one delta per window; the first token goes out at once. */
export const DEFAULT_ROLLUP_WINDOW_MS = 40;
/**
 * Longest text one `message.delta` carries: a window that gathers more (a fast provider, a long
 * window, one huge chunk) goes out at once in pieces of at most this size.
 */
export const MAX_DELTA_CHARS = 16_000;

/** How a run ended, as its `run.end` event says. */
export type RunEnd = Extract<SessionEvent, { type: "run.end" }>;

/** Why a run stopped generating: the agent loop reads this after an abort. */
export type StopReason = { kind: "cancel" } | { kind: "interrupt" } | { kind: "steer"; text: string } | { kind: "fenced" } | { kind: "shutdown" };

export class RunStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`run stopped: ${reason.kind}`);
  }
}

export interface RunInfo {
  runId: string;
  sessionId: string;
  agent: string;
  clientId: string | null;
  parentRunId: string | null;
  /** This run and its ancestors: a cancel aimed at any of them cancels this run. */
  lineage: string[];
  attempt: number;
  provider: string | null;
  input: unknown;
  options: RunOptions;
  startPos: number;
  /** A turn answers one user message of the session (`messageId`); see sessions/turns.ts. */
  turn?: boolean;
  messageId?: string | null;
  /** A suspended run's state, as its agent left it (`{status:"suspended", state}`), when it runs again. */
  resumeState?: unknown;
  /** On a retry: the message the dead attempt was writing, to continue (agents with `resumes`). */
  resume?: { messageId: string; text: string; inReplyTo?: string };
}

/** A user message the run saw while it was generating. */
export interface SeenMessage {
  id: string;
  text: string;
}

/**
 * Everything an agent needs to write into its session: appends as an idempotent producer
 * (`run:<runId>`, epoch = attempt, so a stale attempt is fenced and a retry never duplicates),
 * rolled-up message deltas, progress, and live control (cancel / interrupt / steer).
 */
export class RunContext {
  readonly info: RunInfo;
  #writer: AppendWriter;
  #log: Logger;
  #seq = 0;
  /** The producer epoch this run writes at: its attempt, or CANCEL_FENCE_EPOCH once a cancel fenced it. */
  #epoch: number;
  #producerSeq: (epoch: number) => Promise<number>;
  /** The turn's AI SDK stream, when it has one. */
  #ui: { path: string; mapper?: UiChunkMapper; seq: number } | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #abort = new AbortController();
  #stop: StopReason | undefined;
  #userMessages: SeenMessage[] = [];
  #eventWaiters = new Set<(event: SessionEvent) => void>();
  readonly rollupWindowMs: number;
  /** Offset of the last event this run appended. */
  lastOffset = formatOffset(0);

  constructor(options: { info: RunInfo; writer: AppendWriter; log: Logger; producerSeq?: (epoch: number) => Promise<number>; uiStreamPath?: string }) {
    this.info = options.info;
    if (options.uiStreamPath) this.#ui = { path: options.uiStreamPath, seq: 0 };
    this.#epoch = options.info.attempt;
    this.#producerSeq = options.producerSeq ?? (async () => -1);
    this.#writer = options.writer;
    this.#log = options.log;
    this.rollupWindowMs = options.info.options.rollupWindowMs ?? DEFAULT_ROLLUP_WINDOW_MS;
  }

  /** Aborts when the current generation must stop (cancel, interrupt, steer, fencing, shutdown). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get stopReason(): StopReason | undefined {
    return this.#stop;
  }

  /** Re-arms the signal after an interrupt or steer, for the next generation of the same run. */
  resume(): void {
    if (this.#stop?.kind === "interrupt" || this.#stop?.kind === "steer") {
      this.#stop = undefined;
      this.#abort = new AbortController();
    }
  }

  /** Stops the run from outside (shutdown). */
  stop(reason: StopReason): void {
    if (this.#stop && (this.#stop.kind === "cancel" || this.#stop.kind === "fenced")) return;
    this.#stop = reason;
    this.#abort.abort(new RunStopped(reason));
  }

  /** Appends an event in order, as this run's producer. */
  emit(event: SessionEvent): Promise<void> {
    const next = this.#chain.then(async () => {
      if (this.#stop?.kind === "fenced") return;
      if (this.#epoch >= CANCEL_FENCE_EPOCH && (event.type === "message.delta" || event.type === "run.progress")) return;
      let result = await this.#append(event);
      if (result.kind === "stale_epoch" && result.epoch >= CANCEL_FENCE_EPOCH && this.#epoch < CANCEL_FENCE_EPOCH) {
        // A cancel naming this run fenced it. What it was sending (a delta) is dropped: nothing may
        // follow the cancel but this run's ending, which it writes at the fence's epoch from here on.
        this.#epoch = CANCEL_FENCE_EPOCH;
        this.#seq = (await this.#producerSeq(CANCEL_FENCE_EPOCH)) + 1;
        this.stop({ kind: "cancel" });
        if (event.type === "message.delta" || event.type === "run.progress") return;
        result = await this.#append(event);
      }
      if (result.kind === "appended") this.lastOffset = formatOffset(result.tailPos);
      else if (result.kind === "stale_epoch") {
        this.#log.warn("run attempt fenced by a newer attempt", { runId: this.info.runId, attempt: this.info.attempt });
        this.stop({ kind: "fenced" });
      } else if (result.kind !== "duplicate" && result.kind !== "duplicate_key") {
        throw new Error(`append to session failed: ${result.kind}`);
      }
      if (this.#ui && result.kind !== "stale_epoch") await this.#appendUi(event);
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Mirrors the event into the turn's AI SDK stream (closed with the run's end). */
  async #appendUi(event: SessionEvent) {
    const ui = this.#ui!;
    // Created at the first event, after a retry has learnt which message it continues.
    ui.mapper ??= new UiChunkMapper(this.info.runId, this.info.resume);
    const chunks = ui.mapper.map(event);
    const close = event.type === "run.end" && event.runId === this.info.runId;
    if (chunks.length === 0 && !close) return;
    const seq = ui.seq++;
    const result = await this.#writer.append({ ...jsonAppend(ui.path, chunks, { producer: { id: `ui:${this.info.runId}`, epoch: this.info.attempt, seq } }), close });
    if (result.kind !== "appended" && result.kind !== "duplicate" && result.kind !== "closed") this.#log.warn("AI SDK stream append failed", { runId: this.info.runId, kind: result.kind });
  }

  #append(event: SessionEvent) {
    const seq = this.#seq++;
    // The run's own run.end also carries the key the runtime's recovery appends it with (see
    // AgentRuntime #finishEnds): whichever lands first is the one, the other appends nothing.
    const dedupeKey = event.type === "run.end" && event.runId === this.info.runId ? runEndKey(this.info.runId) : undefined;
    return this.#writer.append(jsonAppend(sessionStreamPath(this.info.sessionId), [event], { producer: { id: runProducerId(this.info.runId), epoch: this.#epoch, seq }, ...(dedupeKey ? { dedupeKey } : {}) }));
  }

  /** Waits for every append so far. */
  flush(): Promise<void> {
    return this.#chain.then(() => {});
  }

  progress(label: string, progress?: number): Promise<void> {
    return this.emit({ type: "run.progress", runId: this.info.runId, agent: this.info.agent, label, ...(progress === undefined ? {} : { progress: Math.max(0, Math.min(1, progress)) }) });
  }

  /** Starts an assistant message whose tokens are rolled up into deltas. */
  async startMessage(id = newId("msg"), inReplyTo?: string): Promise<MessageWriter> {
    await this.emit({ type: "message.start", id, role: "assistant", runId: this.info.runId, agent: this.info.agent, ...(inReplyTo ? { inReplyTo } : {}) });
    return new MessageWriter(this, id);
  }

  /**
   * Continues a message a dead attempt left open: no new `message.start`; its deltas follow the
   * ones already written, so subscribers see one message.
   */
  continueMessage(id: string, text: string): MessageWriter {
    const writer = new MessageWriter(this, id);
    writer.text = text;
    return writer;
  }

  /**
   * The user messages this run saw since it started (or since the last call), oldest first. An
   * interrupted run answers one of them rather than losing a message that arrived just before the
   * interrupt.
   */
  takeUserMessages(): SeenMessage[] {
    return this.#userMessages.splice(0);
  }

  /**
   * Starts child runs and waits until every one has ended (its `run.end` in the session), or until
   * this run is stopped. Listens before `start` runs, so no `run.end` slips past; wakes only for the
   * children's `run.end`s; holds one abort listener for the whole wait and removes it after.
   * `onEnded` runs after each newly ended child (one call at a time, in order), e.g. to report progress.
   *
   * @example
   * const wait = await ctx.waitForRuns(() => Promise.all([tools.startChild("chat", a), tools.startChild("chat", b)]));
   * if (!wait.ok) return { status: "cancelled" };
   * wait.ends.get(wait.runIds[0])!.status; // "completed" | "cancelled" | "failed"
   */
  async waitForRuns(
    start: () => Promise<string[]>,
    options: {
      onEnded?: (end: RunEnd, done: number, total: number) => Promise<void> | void;
      /**
       * Called when an interrupt or steer stops this run while it waits: return true to re-arm and
       * keep waiting (a parent whose children follow its interrupt), false to stop waiting.
       */
      onStop?: (reason: StopReason) => Promise<boolean> | boolean;
    } = {},
  ): Promise<{ ok: boolean; runIds: string[]; ends: Map<string, RunEnd> }> {
    const ends = new Map<string, RunEnd>();
    let runIds: string[] = [];
    let wake: (() => void) | undefined;
    const stopListening = this.onEvent((event) => {
      if (event.type !== "run.end" || event.runId === this.info.runId || ends.has(event.runId)) return;
      ends.set(event.runId, event);
      // Before `start` returns, the ids are unknown: keep every run.end, wake once they are.
      if (runIds.length === 0 || runIds.includes(event.runId)) wake?.();
    });
    let signal = this.signal;
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      runIds = await start();
      const reported = new Set<string>();
      while (true) {
        const fresh = [...ends.keys()].filter((id) => runIds.includes(id) && !reported.has(id));
        if (fresh.length > 0) {
          // More may end while `onEnded` writes: count again before waiting.
          for (const id of fresh) {
            reported.add(id);
            await options.onEnded?.(ends.get(id)!, reported.size, runIds.length);
          }
          continue;
        }
        if (reported.size === runIds.length) break;
        if (signal.aborted) {
          const reason = this.#stop;
          if ((reason?.kind === "interrupt" || reason?.kind === "steer") && (await options.onStop?.(reason))) {
            signal.removeEventListener("abort", onAbort);
            this.resume();
            signal = this.signal;
            signal.addEventListener("abort", onAbort);
            continue;
          }
          break;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      stopListening();
      signal.removeEventListener("abort", onAbort);
    }
    const mine = new Map(runIds.filter((id) => ends.has(id)).map((id) => [id, ends.get(id)!]));
    return { ok: mine.size === runIds.length, runIds, ends: mine };
  }

  /** Calls `listener` with every session event seen from now on, until the returned function is called. */
  onEvent(listener: (event: SessionEvent) => void): () => void {
    this.#eventWaiters.add(listener);
    return () => this.#eventWaiters.delete(listener);
  }

  /** Every session event after the run started is shown to it (by the runtime's session watcher). */
  observe(event: SessionEvent): void {
    if (event.type === "control") this.#onControl(event);
    else if (event.type === "message" && event.role === "user") this.#userMessages.push({ id: event.id, text: event.text });
    for (const waiter of [...this.#eventWaiters]) waiter(event);
  }

  /** Does a control event apply to this run? One run (its own id or an ancestor's), this client's runs, or all. */
  appliesTo(event: Extract<SessionEvent, { type: "control" }>): boolean {
    if (event.runId) return this.info.lineage.includes(event.runId);
    if (event.scope === "own") return event.clientId !== undefined && event.clientId === this.info.clientId;
    return true;
  }

  #onControl(event: Extract<SessionEvent, { type: "control" }>) {
    if (!this.appliesTo(event)) return;
    // Cancel and interrupt follow a run's ancestors (a parent's sub-agents stop with it); steer speaks
    // only to the run it names, or to top-level runs when it names none.
    if (event.action === "steer" && event.runId !== this.info.runId && (event.runId !== undefined || this.info.parentRunId !== null)) return;
    if (event.action === "interrupt" && event.runId === undefined && this.info.parentRunId !== null) return;
    if (event.action === "cancel") this.stop({ kind: "cancel" });
    else if (event.action === "interrupt") this.stop({ kind: "interrupt" });
    else if (event.action === "steer" && event.text) {
      this.stop({ kind: "steer", text: event.text });
    }
  }
}

/**
 * The moments gathered tokens go out: the boundaries of `windowMs` windows on the process's clock,
 * shared by every message with that window. One timer for all of them (not one per message), and
 * every run's delta of a window is appended in the same turn of the event loop, so the writer takes
 * them as one batch: one transaction and one wake-up of the subscribers for all runs, instead of one
 * per run spread over the window.
 */
class RollupClock {
  readonly windowMs: number;
  #due = new Set<MessageWriter>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  /** `writer` flushes at the next window boundary. */
  add(writer: MessageWriter): void {
    this.#due.add(writer);
    if (this.#timer) return;
    const now = performance.now();
    this.#timer = setTimeout(() => this.#tick(), (Math.floor(now / this.windowMs) + 1) * this.windowMs - now);
  }

  delete(writer: MessageWriter): void {
    this.#due.delete(writer);
  }

  #tick() {
    this.#timer = undefined;
    const due = [...this.#due];
    this.#due.clear();
    for (const writer of due) writer.flush();
  }
}

/** The process's roll-up clocks, by window length. */
const clocks = new Map<number, RollupClock>();
function rollupClock(windowMs: number): RollupClock {
  let clock = clocks.get(windowMs);
  if (!clock) clocks.set(windowMs, (clock = new RollupClock(windowMs)));
  return clock;
}

/** One assistant message: tokens in, rolled-up `message.delta`s out, then exactly one `message.end`. */
export class MessageWriter {
  #run: RunContext;
  readonly id: string;
  #buffer = "";
  /** The part the buffer belongs to (undefined: text). */
  #part: DeltaPart | undefined;
  #clock: RollupClock;
  #first = true;
  #ended = false;
  text = "";

  constructor(run: RunContext, id: string) {
    this.#run = run;
    this.id = id;
    this.#clock = rollupClock(run.rollupWindowMs);
  }

  delta(text: string): void {
    this.#gather(text, undefined);
  }

  /**
   * A streamed piece of a non-text part: reasoning text, or a tool call's arguments (JSON text) —
   * rolled up like text, per part. A finished part (`tool-result`, `data`, `file`) goes out whole.
   */
  part(part: StreamPart | Exclude<DeltaPart, { type: "text" | "reasoning" | "tool-call" }>): void {
    if (this.#ended) return;
    if (part.type === "reasoning") return this.#gather(part.text, { type: "reasoning" });
    if (part.type === "tool-call") return this.#gather(part.argsDelta, { type: "tool-call", toolCallId: part.toolCallId, toolName: part.toolName });
    this.flush();
    void this.#run.emit({ type: "message.delta", id: this.id, runId: this.#run.info.runId, text: "", part }).catch(() => {});
  }

  #gather(text: string, part: DeltaPart | undefined): void {
    if (this.#ended || !text) return;
    // A different part than the one being gathered: send what was gathered first, in order.
    if (this.#buffer && JSON.stringify(part) !== JSON.stringify(this.#part)) this.flush();
    this.#part = part;
    this.#buffer += text;
    if (!part) this.text += text;
    if (this.#first || this.#buffer.length >= MAX_DELTA_CHARS) {
      this.#first = false;
      this.flush();
    } else {
      this.#clock.add(this);
    }
  }

  /** Sends the gathered tokens now, as deltas of at most MAX_DELTA_CHARS each (never splitting a surrogate pair). */
  flush(): void {
    this.#clock.delete(this);
    if (this.#ended) return;
    while (this.#buffer) {
      let cut = Math.min(this.#buffer.length, MAX_DELTA_CHARS);
      const last = this.#buffer.charCodeAt(cut - 1);
      if (cut < this.#buffer.length && last >= 0xd800 && last <= 0xdbff) cut--;
      const text = this.#buffer.slice(0, cut);
      this.#buffer = this.#buffer.slice(cut);
      void this.#run.emit({ type: "message.delta", id: this.id, runId: this.#run.info.runId, text, ...(this.#part ? { part: this.#part } : {}) }).catch(() => {});
    }
  }

  /**
   * Hands the message to the next attempt (shutdown): what was generated is written, but the message
   * stays open, so the retry continues it rather than starting another.
   */
  async handOff(): Promise<void> {
    if (this.#ended) return;
    this.flush();
    this.#ended = true;
    await this.#run.flush();
  }

  /** Ends the message. A cancelled message drops unsent tokens: nothing follows a cancel. */
  async end(status: "complete" | "cancelled" | "interrupted" | "failed"): Promise<void> {
    if (this.#ended) return;
    if (status === "cancelled") {
      this.#clock.delete(this);
      this.#buffer = "";
    } else {
      this.flush();
    }
    this.#ended = true;
    await this.#run.emit({ type: "message.end", id: this.id, runId: this.#run.info.runId, status });
  }
}
