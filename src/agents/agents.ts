import type { Provider } from "./providers/types";
import type { ChatMessage } from "./providers/types";
import { ProviderError } from "./providers/types";
import { RunStopped, type MessageWriter, type RunContext } from "./run-context";
import type { CompactedMessage } from "../sessions/events";

/** What an agent can use besides its run context. */
export interface AgentTools {
  provider: Provider;
  /** The session's messages so far (compacted), for conversation history. */
  history(): Promise<CompactedMessage[]>;
  /** Starts a sub-agent run in the same session; it writes its own events there. */
  startChild(agent: string, input: unknown): Promise<string>;
  /** Publishes this agent's presence status in the session. */
  status(status: "thinking" | "streaming" | "idle"): Promise<void>;
}

/** How an agent's work ended. */
export type AgentOutcome = { status: "completed" } | { status: "cancelled" } | { status: "failed"; error: string };

export interface Agent {
  name: string;
  description: string;
  run(ctx: RunContext, tools: AgentTools): Promise<AgentOutcome>;
}

/** Waiting for the next user message after an interrupt ends the run after this long. */
export const INTERRUPT_WAIT_MS = 10 * 60_000;

/**
 * Streams one generation into `message`. Returns how it ended; a stop (cancel/interrupt/steer)
 * aborts the provider request at once through the run's signal.
 */
async function generate(ctx: RunContext, tools: AgentTools, messages: ChatMessage[], message: MessageWriter, system?: string): Promise<"complete" | "stopped"> {
  const options = ctx.info.options;
  for await (const chunk of tools.provider.stream({
    messages,
    system,
    signal: ctx.signal,
    tokens: options.tokens,
    tokensPerSecond: options.tokensPerSecond,
    model: options.model,
  })) {
    if (ctx.signal.aborted) break;
    message.delta(chunk);
  }
  return ctx.signal.aborted ? "stopped" : "complete";
}

function historyToMessages(history: CompactedMessage[]): ChatMessage[] {
  return history
    .filter((m) => (m.role === "user" || m.role === "assistant") && m.text.trim() !== "")
    .map((m) => ({ role: m.role as "user" | "assistant", content: m.text }));
}

/**
 * `chat`: answers the conversation (or `input.prompt`), obeying live control: cancel ends the run,
 * interrupt stops the message and waits for the next user message, steer adds the steering text as
 * a user message and continues with it.
 */
export const chatAgent: Agent = {
  name: "chat",
  description: "Answers the conversation; obeys cancel, interrupt and steer.",
  async run(ctx, tools) {
    const input = (ctx.info.input ?? {}) as { prompt?: string; system?: string };
    let messages: ChatMessage[] = typeof input.prompt === "string" ? [{ role: "user", content: input.prompt }] : historyToMessages(await tools.history());
    if (messages.length === 0) messages = [{ role: "user", content: "Hello" }];
    while (true) {
      await tools.status("thinking");
      const message = await ctx.startMessage();
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
      if (!reason || reason.kind === "cancel" || reason.kind === "fenced" || reason.kind === "shutdown") {
        await message.end(reason?.kind === "shutdown" ? "interrupted" : "cancelled");
        if (reason?.kind === "shutdown") throw new RunStopped(reason);
        return { status: "cancelled" };
      }
      await message.end("interrupted");
      messages = [...messages, { role: "assistant", content: message.text }];
      if (reason.kind === "steer") {
        await ctx.emit({ type: "message", id: `${message.id}-steer`, role: "user", text: reason.text });
        messages.push({ role: "user", content: reason.text });
        ctx.resume();
        continue;
      }
      // Interrupted: wait for the next user message (or a cancel).
      await tools.status("idle");
      const next = await Promise.race([ctx.nextUserMessage(), Bun.sleep(INTERRUPT_WAIT_MS).then(() => undefined)]);
      if (next === undefined) {
        const late = ctx.stopReason;
        if (late?.kind === "shutdown") throw new RunStopped(late);
        return late?.kind === "cancel" ? { status: "cancelled" } : { status: "completed" };
      }
      messages.push({ role: "user", content: next });
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
    const wait = await ctx.waitForRuns(() => Promise.all(angles.map((angle) => tools.startChild("chat", { prompt: `Give ${angle}: ${question}` }))), {
      onEnded: (_end, done, total) => ctx.progress(`${done} of ${total} sub-agents done`, done / total),
    });
    if (!wait.ok) return { status: "cancelled" };
    const children = wait.runIds;
    const texts = (await tools.history()).filter((m) => m.role === "assistant" && m.runId && children.includes(m.runId));
    const message = await ctx.startMessage();
    message.delta(`Two sub-agents answered (${children.map((child) => wait.ends.get(child)!.status).join(", ")}). `);
    for (const [i, text] of texts.entries()) message.delta(`${i === 0 ? "For" : "Against"}: ${text.text.split(/(?<=[.!?])\s/)[0] ?? ""} `);
    await message.end("complete");
    return { status: "completed" };
  },
};

/** The agents runs can name. The email studio adds its own. */
export const BUILT_IN_AGENTS: Agent[] = [chatAgent, fanoutAgent];
