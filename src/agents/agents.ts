import type { Provider } from "./providers/types";
import type { ChatMessage } from "./providers/types";
import { ProviderError } from "./providers/types";
import { newId } from "../sessions/service";
import { RunStopped, type MessageWriter, type RunContext, type SeenMessage } from "./run-context";
import type { CompactedMessage } from "../sessions/events";
import { approvalOf, type InputKind, type InputRequest } from "../sessions/input-requests";

/** What an agent can use besides its run context. */
export interface AgentTools {
  provider: Provider;
  /** The session's messages so far (compacted), for conversation history. */
  history(): Promise<CompactedMessage[]>;
  /** Starts a sub-agent run in the same session; it writes its own events there. */
  startChild(agent: string, input: unknown): Promise<string>;
  /**
   * Publishes this agent's presence status in the session. Written in the background, in order (a
   * status not yet written when the next is set is skipped): the promise resolves at once.
   */
  status(status: "thinking" | "streaming" | "idle"): Promise<void>;
  /** Asks a person (appends `input.request`); answer it later with `tools.answer`, after returning `{status:"suspended"}`. */
  ask(question: { kind: InputKind; prompt: string; schema?: Record<string, unknown>; timeoutMs?: number }): Promise<string>;
  /** A question's state: pending, answered (with `value`), expired or cancelled. */
  answer(requestId: string): Promise<InputRequest | undefined>;
  /** The turn a user message started, if any (a turn answers it; other runs leave it alone). */
  turnOf(messageId: string): Promise<string | undefined>;
}

/** How an agent's work ended. */
export type AgentOutcome =
  | { status: "completed" }
  | { status: "interrupted" }
  | { status: "cancelled" }
  | { status: "failed"; error: string }
  /** Waiting for an answer (`tools.ask`): the job ends, and the run starts again with `ctx.info.resumeState = state` once answered, expired or cancelled. */
  | { status: "suspended"; state?: unknown };

export interface Agent {
  name: string;
  description: string;
  /** Continues a message its dead predecessor left open (`ctx.info.resume`) instead of closing it as interrupted. */
  resumes?: boolean;
  run(ctx: RunContext, tools: AgentTools): Promise<AgentOutcome>;
}

/**
 * Streams one generation into `message`. Returns how it ended; a stop (cancel/interrupt/steer)
 * aborts the provider request at once through the run's signal.
 */
async function generate(ctx: RunContext, tools: AgentTools, messages: ChatMessage[], message: MessageWriter, system?: string): Promise<"complete" | "stopped"> {
  const options = ctx.info.options;
  for await (const chunk of tools.provider.stream({
    messages,
    system,
    // A message continued after a crash: the provider writes only what follows its text.
    ...(message.text ? { continueFrom: message.text } : {}),
    signal: ctx.signal,
    tokens: options.tokens,
    tokensPerSecond: options.tokensPerSecond,
    model: options.model,
    parts: true,
  })) {
    if (ctx.signal.aborted) break;
    if (typeof chunk === "string") message.delta(chunk);
    else message.part(chunk);
  }
  return ctx.signal.aborted ? "stopped" : "complete";
}

/**
 * The conversation as a provider sees it. For a turn: up to and including the message it answers
 * (later user messages are later turns' business), each answer placed after the message it replies to.
 */
export function historyToMessages(history: CompactedMessage[], upTo?: string | null): ChatMessage[] {
  let messages = history.filter((m) => (m.role === "user" || m.role === "assistant") && m.text.trim() !== "");
  if (upTo) {
    const index = messages.findIndex((m) => m.id === upTo);
    if (index >= 0) {
      const later = new Set(messages.slice(index + 1).filter((m) => m.role === "user").map((m) => m.id));
      messages = messages.filter((m) => !later.has(m.id) && !(m.inReplyTo && later.has(m.inReplyTo)));
    }
  }
  const ordered: CompactedMessage[] = [];
  const replies = messages.filter((m) => m.inReplyTo && messages.some((q) => q.id === m.inReplyTo));
  for (const m of messages) {
    if (replies.includes(m)) continue;
    ordered.push(m);
    ordered.push(...replies.filter((r) => r.inReplyTo === m.id));
  }
  return ordered.map((m) => ({ role: m.role as "user" | "assistant", content: m.text }));
}

/**
 * `chat`: answers the conversation (or `input.prompt`), obeying live control: cancel ends the run;
 * interrupt ends the message as interrupted — a turn then ends `interrupted` (the next message is
 * the next turn's), other runs answer a user message that arrived meanwhile or end `interrupted`;
 * steer adds the steering text as a user message and continues with it.
 */
export const chatAgent: Agent = {
  name: "chat",
  description: "Answers the conversation; obeys cancel, interrupt and steer.",
  resumes: true,
  async run(ctx, tools) {
    const input = (ctx.info.input ?? {}) as { prompt?: string; system?: string };
    let resume = ctx.info.resume;
    const history = typeof input.prompt === "string" ? [] : (await tools.history()).filter((m) => m.id !== resume?.messageId);
    let messages: ChatMessage[] = typeof input.prompt === "string" ? [{ role: "user", content: input.prompt }] : historyToMessages(history, ctx.info.messageId);
    if (messages.length === 0) messages = [{ role: "user", content: "Hello" }];
    // Only a top-level run of the conversation picks up user messages after an interrupt.
    const picksUpMessages = !ctx.info.turn && ctx.info.parentRunId === null && typeof input.prompt !== "string";
    let replyTo = ctx.info.messageId ?? undefined;
    while (true) {
      await tools.status("thinking");
      const message = resume ? ctx.continueMessage(resume.messageId, resume.text) : await ctx.startMessage(undefined, replyTo);
      resume = undefined;
      await tools.status("streaming");
      let ended: "complete" | "stopped";
      try {
        ended = await generate(ctx, tools, messages, message, input.system);
      } catch (error) {
        if (ctx.signal.aborted) ended = "stopped";
        else {
          await message.end("failed");
          return { status: "failed", error: error instanceof ProviderError ? error.message : `The agent failed: ${(error as Error).message}` };
        }
      }
      if (ended === "complete") {
        await message.end("complete");
        await tools.status("idle");
        return { status: "completed" };
      }
      const reason = ctx.stopReason;
      if (reason?.kind === "shutdown") {
        // The next attempt (after the restart, or on another process) continues this message.
        await message.handOff();
        throw new RunStopped(reason);
      }
      if (!reason || reason.kind === "cancel" || reason.kind === "fenced") {
        await message.end("cancelled");
        return { status: "cancelled" };
      }
      await message.end("interrupted");
      messages = [...messages, { role: "assistant", content: message.text }];
      if (reason.kind === "steer") {
        await ctx.emit({ type: "message", id: `${message.id}-steer`, role: "user", text: reason.text });
        messages.push({ role: "user", content: reason.text });
        replyTo = `${message.id}-steer`;
        ctx.resume();
        continue;
      }
      // Interrupted. Answer a message that arrived meanwhile (one no turn answers), or end: an idle
      // run never holds a worker waiting for someone to type.
      await tools.status("idle");
      let next: SeenMessage | undefined;
      if (picksUpMessages) {
        for (const seen of ctx.takeUserMessages()) if (!next && !(await tools.turnOf(seen.id))) next = seen;
      }
      if (!next) return { status: "interrupted" };
      messages.push({ role: "user", content: next.text });
      replyTo = next.id;
      ctx.resume();
    }
  },
};

/**
 * `fanout`: the built-in multi-agent example. Starts two `chat` sub-agents (for and against), which
 * write their own runs and messages into the session; waits for their `run.end`s from the session;
 * then writes a short synthesis. Cancelling it cancels both children.
 */
export const fanoutAgent: Agent = {
  name: "fanout",
  description: "Fans out to two chat sub-agents and sums up their answers.",
  async run(ctx, tools) {
    const input = (ctx.info.input ?? {}) as { prompt?: string };
    const history = await tools.history();
    const question = input.prompt ?? [...history].reverse().find((m) => m.role === "user")?.text ?? "the question";
    await ctx.progress("starting sub-agents", 0);
    const angles = ["the case for", "the case against"];
    let interrupted = false;
    const wait = await ctx.waitForRuns(() => Promise.all(angles.map((angle) => tools.startChild("chat", { prompt: `Give ${angle}: ${question}` }))), {
      onEnded: (_end, done, total) => ctx.progress(`${done} of ${total} sub-agents done`, done / total),
      // An interrupt reaches the sub-agents too (they follow their parent): keep waiting for their
      // ends and sum up what they wrote. Steering is for chat runs: say so and keep waiting.
      onStop: async (reason) => {
        if (reason.kind === "interrupt") interrupted = true;
        else await ctx.progress("fanout cannot be steered; still waiting for its sub-agents");
        return true;
      },
    });
    if (!wait.ok) {
      if (ctx.stopReason?.kind === "shutdown") throw new RunStopped(ctx.stopReason);
      return { status: "cancelled" };
    }
    const children = wait.runIds;
    const texts = (await tools.history()).filter((m) => m.role === "assistant" && m.runId && children.includes(m.runId));
    const message = await ctx.startMessage();
    message.delta(`Two sub-agents answered (${children.map((child) => wait.ends.get(child)!.status).join(", ")}). `);
    for (const [i, text] of texts.entries()) message.delta(`${i === 0 ? "For" : "Against"}: ${text.text.split(/(?<=[.!?])\s/)[0] ?? ""} `);
    await message.end("complete");
    return interrupted ? { status: "interrupted" } : { status: "completed" };
  },
};

/** Longest an `approval` run waits for its answer unless `input.timeoutMs` says otherwise. */
export const APPROVAL_TIMEOUT_MS = 24 * 60 * 60_000;

interface ApprovalState {
  requestId: string;
  toolCallId: string;
  tool: string;
  args: Record<string, unknown>;
}

/**
 * `approval`: the human-in-the-loop example. It proposes a tool call (`input.tool`, `input.args`;
 * by default `send_email` to the team), asks for approval (`input.request kind:"approval"`) and
 * suspends: the job ends and no worker holds the run. Once a client answers (`control respond`,
 * true/false), the deadline passes (`input.timeoutMs`) or a cancel arrives, the run starts again —
 * on any process, after a restart too — and reports what it did.
 */
export const approvalAgent: Agent = {
  name: "approval",
  description: "Proposes a tool call and runs it only after a person approves it (durable: waits without a worker).",
  async run(ctx, tools) {
    const input = (ctx.info.input ?? {}) as { prompt?: string; tool?: string; args?: Record<string, unknown>; timeoutMs?: number };
    const state = ctx.info.resumeState as ApprovalState | undefined;
    if (!state) {
      const history = await tools.history();
      const ask = input.prompt ?? [...history].reverse().find((m) => m.role === "user")?.text ?? "share the update";
      const tool = typeof input.tool === "string" ? input.tool.slice(0, 100) : "send_email";
      const args = input.args && typeof input.args === "object" ? input.args : { to: "team@example.com", subject: ask.slice(0, 120) };
      const message = await ctx.startMessage(undefined, ctx.info.messageId ?? undefined);
      const toolCallId = newId("call");
      message.delta(`To do this I would call ${tool} with ${JSON.stringify(args)}. It needs your approval first.`);
      message.part({ type: "tool-call", toolCallId, toolName: tool, argsDelta: JSON.stringify(args) });
      await message.end("complete");
      const timeoutMs = typeof input.timeoutMs === "number" && input.timeoutMs > 0 ? Math.min(input.timeoutMs, APPROVAL_TIMEOUT_MS) : APPROVAL_TIMEOUT_MS;
      const requestId = await tools.ask({ kind: "approval", prompt: `Allow ${tool}(${JSON.stringify(args)})?`, timeoutMs });
      return { status: "suspended", state: { requestId, toolCallId, tool, args } satisfies ApprovalState };
    }
    const request = await tools.answer(state.requestId);
    // Woken for someone else's cancel: keep waiting.
    if (!request || request.status === "pending") return { status: "suspended", state };
    if (request.status === "cancelled") return { status: "cancelled" };
    const message = await ctx.startMessage();
    const outcome = request.status === "expired" ? "expired" : approvalOf(request.value).approved ? "approved" : "declined";
    const result = outcome === "approved" ? { ok: true, id: state.requestId.replace(/^req_/, "out_") } : { ok: false, reason: outcome };
    message.part({ type: "tool-result", toolCallId: state.toolCallId, toolName: state.tool, result });
    if (outcome === "expired") message.delta(`No answer in time: ${state.tool} was not called.`);
    else if (outcome === "approved") message.delta(`Approved. Called ${state.tool}(${JSON.stringify(state.args)}): ${JSON.stringify(result)}`);
    else message.delta(`Declined: ${state.tool} was not called.`);
    await message.end("complete");
    return { status: "completed" };
  },
};

/** The agents runs can name. The email studio adds its own. */
export const BUILT_IN_AGENTS: Agent[] = [chatAgent, fanoutAgent, approvalAgent];
