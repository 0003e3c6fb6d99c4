import type { Sql } from "postgres";
import { api, BENCH_API_TOKEN, committedTransactions, createSessions, inParallel, isOurs, ourDatabase, wsUrl } from "../ours";
import { formatCount, formatMs, percentile, type Column, type Outcome, type RunOptions, type Section } from "../section";
import type { RunningTarget } from "../targets";

/** Sessions one socket may follow (WS_LIMITS.MAX_SUBSCRIPTIONS). */
const SESSIONS_PER_SOCKET = 100;
/** Runs started at once while the sustained load ramps up. */
const START_CONCURRENCY = 20;
/** Whatever has not arrived by then failed. */
const EVENT_TIMEOUT_MS = 15_000;
/** After the window, runs still queued or streaming are cancelled; this is how long they get to end. */
const END_GRACE_MS = 10_000;
/** The window opens this long after the first run starts streaming, once the rest have had time to start. */
const WINDOW_RAMP_MS = 1_500;

interface Timing {
  startWarmup: number;
  startSamples: number;
  runs: number;
  tokensPerRun: number;
  tokensPerSecond: number;
}
const FULL: Timing = { startWarmup: 3, startSamples: 30, runs: 200, tokensPerRun: 320, tokensPerSecond: 40 };
const QUICK: Timing = { startWarmup: 2, startSamples: 10, runs: 200, tokensPerRun: 160, tokensPerSecond: 40 };

interface StartLatency {
  samples: number;
  p50Ms: number;
  p99Ms: number;
}

interface Sustained {
  runs: number;
  /** Runs that completed before the rest were cancelled. */
  completed: number;
  /** Most runs streaming (between message.start and message.end) at one time. */
  peakStreaming: number;
  /** Tokens received by subscribers per second while every run was streaming. */
  tokensPerSecond: number;
  /** What 200 runs at the asked rate would make. */
  targetTokensPerSecond: number;
  /** Session events (appends) per second received in that window. */
  eventsPerSecond: number;
  /** Each delta's arrival behind the provider's schedule (its message.start's arrival + its last token's due time). */
  deltaLagP50Ms: number;
  deltaLagP99Ms: number;
  /** Committed Postgres transactions per second (pg_stat_database.xact_commit) in the window. */
  transactionsPerSecond: number;
  windowSeconds: number;
  /** % of one core: the server with its Postgres. */
  serverCpuPercent: number;
}

export interface AgentsResult {
  start: Outcome<StartLatency>;
  sustained: Outcome<Sustained>;
}

/** Agents: request → `run.start` at a subscriber, and many offline runs streaming at once. */
export const agentsSection: Section<AgentsResult | null> = {
  id: "agents",
  title: "Agent runs",

  async measure(target: RunningTarget, options: RunOptions): Promise<AgentsResult | null> {
    if (!isOurs(target)) return null;
    const timing = options.quick ? QUICK : FULL;
    const start = await attempt(() => startLatency(target, timing));
    const sustained = await attempt(() => sustainedRuns(target, timing));
    return { start, sustained };
  },

  render(columns: Column<AgentsResult | null>[], options: RunOptions): string {
    const timing = options.quick ? QUICK : FULL;
    const ours = columns.find((column) => column.target.id === "ours");
    const method = `**Start latency**: one WebSocket subscriber follows a session; the harness POSTs \`/api/sessions/:id/runs\` \`{agent:"chat", provider:"offline"}\` (2 tokens) and times until the run's \`run.start\` event reaches the subscriber, then waits for its \`run.end\` before the next (${timing.startSamples} samples after ${timing.startWarmup} warm-up). **Sustained runs**: ${timing.runs} runs, one per session, each \`options: {tokens: ${timing.tokensPerRun}, tokensPerSecond: ${timing.tokensPerSecond}}\`, started ${START_CONCURRENCY} requests at a time; two sockets (${SESSIONS_PER_SOCKET} sessions each) follow every session. The window runs from ${WINDOW_RAMP_MS / 1000} s after the first \`message.start\` to the first \`message.end\` to arrive (every run still queued or streaming is cancelled after it); "most streaming at one time" counts runs between their \`message.start\` and \`message.end\`; tokens/s counts the tokens in the deltas received; delta lag is each delta's arrival minus (its message's \`message.start\` arrival + the due time of its last token at ${timing.tokensPerSecond}/s), so it holds the wait for the end of the token's roll-up window (windows of 40 ms shared by every run of the server: up to 40 ms), the write and the fan-out; CPU per 1,000 tokens is the server's CPU with its Postgres in the window over the tokens delivered in it; transactions/s is the \`xact_commit\` delta of the server's database in \`pg_stat_database\`.`;
    if (!ours) return `${method}\n\n_Not measured: this run did not include our server._`;
    if (!ours.outcome.ok) return `${method}\n\nfailed: ${ours.outcome.reason.split("\n")[0]}`;
    const result = ours.outcome.value;
    if (!result) return method;
    const notes: string[] = [];
    const cell = <T>(name: string, outcome: Outcome<T>, show: (value: T) => string) => {
      if (outcome.ok) return show(outcome.value);
      notes.push(`- ${name}: ${outcome.reason.split("\n")[0]}`);
      return "error";
    };
    const rows = [
      "| | ours |",
      "|---|--:|",
      `| Start latency: request → \`run.start\` at a subscriber, p50 / p99 (ms) | ${cell("start latency", result.start, (v) => `${formatMs(v.p50Ms)} / ${formatMs(v.p99Ms)}`)} |`,
      `| ${timing.runs} runs started at once: most streaming at one time | ${cell("sustained runs", result.sustained, (v) => `${v.peakStreaming} / ${v.runs}`)} |`,
      `| … tokens/s delivered (asked: ${formatCount(timing.runs * timing.tokensPerSecond)}) | ${result.sustained.ok ? formatCount(result.sustained.value.tokensPerSecond) : "error"} |`,
      `| … session events (appends)/s delivered | ${result.sustained.ok ? formatCount(result.sustained.value.eventsPerSecond) : "error"} |`,
      `| … delta lag p50 / p99 (ms) | ${result.sustained.ok ? `${formatMs(result.sustained.value.deltaLagP50Ms)} / ${formatMs(result.sustained.value.deltaLagP99Ms)}` : "error"} |`,
      `| … Postgres transactions/s | ${result.sustained.ok ? formatCount(result.sustained.value.transactionsPerSecond) : "error"} |`,
      `| … server CPU, with Postgres (% of a core) | ${result.sustained.ok ? formatCount(result.sustained.value.serverCpuPercent) : "error"} |`,
      `| … server CPU with Postgres per 1,000 tokens delivered (ms) | ${result.sustained.ok ? formatMs((result.sustained.value.serverCpuPercent * 10_000) / result.sustained.value.tokensPerSecond) : "error"} |`,
      `| … window (s) | ${result.sustained.ok ? result.sustained.value.windowSeconds.toFixed(1) : "error"} |`,
    ];
    return [method, "", ...rows, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
  },
};

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

interface SessionEventFrame {
  type: "event";
  session: string;
  event: { type: string; runId?: string; id?: string; text?: string; status?: string };
}

/** A socket with the API token subscribed at the tail of `sessions`; `onEvent` sees each event frame. */
async function follow(target: RunningTarget, sessions: string[], onEvent: (frame: SessionEventFrame, now: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${wsUrl(target)}?token=${encodeURIComponent(BENCH_API_TOKEN)}&device=bench`);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
  });
  let subscribed = 0;
  let allSubscribed = () => {};
  const ready = new Promise<void>((resolve) => (allSubscribed = resolve));
  ws.addEventListener("message", (message) => {
    const now = performance.now();
    const text = String(message.data);
    if (text.startsWith(`{"type":"event"`)) return onEvent(JSON.parse(text) as SessionEventFrame, now);
    if (text.startsWith(`{"type":"subscribed"`) && ++subscribed === sessions.length) allSubscribed();
  });
  for (const session of sessions) ws.send(JSON.stringify({ type: "subscribe", session, offset: "now" }));
  await Promise.race([ready, Bun.sleep(EVENT_TIMEOUT_MS).then(() => Promise.reject(new Error(`only ${subscribed} of ${sessions.length} subscriptions confirmed`)))]);
  return ws;
}

/** A promise per key, resolvable before or after anyone waits for it. */
class Arrivals {
  #times = new Map<string, number>();
  #waiters = new Map<string, (at: number) => void>();

  mark(key: string, at: number) {
    if (this.#times.has(key)) return;
    this.#times.set(key, at);
    this.#waiters.get(key)?.(at);
  }

  wait(key: string, what: string): Promise<number> {
    const at = this.#times.get(key);
    if (at !== undefined) return Promise.resolve(at);
    return Promise.race([
      new Promise<number>((resolve) => this.#waiters.set(key, resolve)),
      Bun.sleep(EVENT_TIMEOUT_MS).then(() => Promise.reject(new Error(`${what} did not arrive within ${EVENT_TIMEOUT_MS / 1000} s`))),
    ]);
  }
}

async function startLatency(target: RunningTarget, timing: Timing): Promise<StartLatency> {
  const [session] = await createSessions(target, 1, "agent start");
  const starts = new Arrivals();
  const ends = new Arrivals();
  const ws = await follow(target, [session!], (frame, now) => {
    if (frame.event.type === "run.start") starts.mark(frame.event.runId!, now);
    if (frame.event.type === "run.end") ends.mark(frame.event.runId!, now);
  });
  try {
    const samples: number[] = [];
    for (let i = 0; i < timing.startWarmup + timing.startSamples; i++) {
      const sent = performance.now();
      const { runId } = await api<{ runId: string }>(target, "POST", `/api/sessions/${session}/runs`, { agent: "chat", provider: "offline", input: { prompt: `start latency ${i}` }, options: { tokens: 2, tokensPerSecond: 1000 } });
      const startedAt = await starts.wait(runId, "run.start");
      await ends.wait(runId, "run.end");
      if (i >= timing.startWarmup) samples.push(startedAt - sent);
    }
    return { samples: samples.length, p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99) };
  } finally {
    ws.close();
  }
}

interface RunTrack {
  messageStartAt?: number;
  tokens: number;
  ended: boolean;
}

async function sustainedRuns(target: RunningTarget, timing: Timing): Promise<Sustained> {
  const sessions = await createSessions(target, timing.runs, "agent load");
  const runs = new Map<string, RunTrack>();
  const track = (runId: string) => {
    let found = runs.get(runId);
    if (!found) runs.set(runId, (found = { tokens: 0, ended: false }));
    return found;
  };
  const tokenMs = 1000 / timing.tokensPerSecond;
  // Deltas and events are kept with their arrival time and filtered to the window afterwards.
  const deltas: Array<{ at: number; tokens: number; lagMs: number }> = [];
  let events: number[] = [];
  const streaming: Array<{ at: number; change: 1 | -1 }> = [];
  let firstStartAt = Number.POSITIVE_INFINITY;
  let firstEndAt = Number.POSITIVE_INFINITY;
  let ended = 0;
  let completed = 0;
  let onAllEnded = () => {};
  const allEnded = new Promise<void>((resolve) => (onAllEnded = resolve));

  const onEvent = (frame: SessionEventFrame, now: number) => {
    const { event } = frame;
    if (!event.runId) return;
    events.push(now);
    const run = track(event.runId);
    switch (event.type) {
      case "message.start":
        run.messageStartAt = now;
        firstStartAt = Math.min(firstStartAt, now);
        streaming.push({ at: now, change: 1 });
        break;
      case "message.delta": {
        const tokens = (event.text ?? "").match(/\S+\s*/g)?.length ?? 0;
        run.tokens += tokens;
        if (run.messageStartAt !== undefined) deltas.push({ at: now, tokens, lagMs: now - (run.messageStartAt + (run.tokens - 1) * tokenMs) });
        break;
      }
      case "message.end":
        firstEndAt = Math.min(firstEndAt, now);
        streaming.push({ at: now, change: -1 });
        break;
      case "run.end":
        if (!run.ended) {
          run.ended = true;
          if (event.status === "completed") completed++;
          if (++ended === timing.runs) onAllEnded();
        }
        break;
    }
  };
  const sockets: WebSocket[] = [];
  for (let i = 0; i < sessions.length; i += SESSIONS_PER_SOCKET) sockets.push(await follow(target, sessions.slice(i, i + SESSIONS_PER_SOCKET), onEvent));

  let sql: Sql | undefined;
  try {
    sql = ourDatabase(target);
    events = [];
    await inParallel(timing.runs, START_CONCURRENCY, async (i) => {
      await api(target, "POST", `/api/sessions/${sessions[i]}/runs`, { agent: "chat", provider: "offline", input: { prompt: `load ${i}` }, options: { tokens: timing.tokensPerRun, tokensPerSecond: timing.tokensPerSecond } });
    });
    const runMs = (timing.tokensPerRun / timing.tokensPerSecond) * 1000;
    const startDeadline = performance.now() + EVENT_TIMEOUT_MS;
    while (firstStartAt === Number.POSITIVE_INFINITY && performance.now() < startDeadline) await Bun.sleep(20);
    if (firstStartAt === Number.POSITIVE_INFINITY) throw new Error(`no run started streaming within ${EVENT_TIMEOUT_MS / 1000} s`);
    // The window: from a ramp-up after the first run streams until the first run finishes.
    const windowStart = firstStartAt + WINDOW_RAMP_MS;
    if (performance.now() < windowStart) await Bun.sleep(windowStart - performance.now());
    const commitsAtStart = await committedTransactions(sql);
    const readStart = performance.now();
    const cpuAtWindow = target.cpuTimeMs();
    const cpuAt = performance.now();
    while (firstEndAt === Number.POSITIVE_INFINITY && performance.now() < firstStartAt + runMs + EVENT_TIMEOUT_MS) await Bun.sleep(20);
    const windowEnd = Math.min(performance.now(), firstEndAt);
    const serverCpuPercent = ((target.cpuTimeMs() - cpuAtWindow) / (performance.now() - cpuAt)) * 100;
    const commitsAtEnd = await committedTransactions(sql);
    const readEnd = performance.now();
    // Runs the server has not started yet would keep it busy into the next section: cancel them.
    await inParallel(sessions.length, START_CONCURRENCY, async (i) => {
      await api(target, "POST", `/api/sessions/${sessions[i]}/control`, { action: "cancel" });
    });
    await Promise.race([allEnded, Bun.sleep(END_GRACE_MS)]);

    const windowMs = windowEnd - windowStart;
    const inWindow = deltas.filter((d) => d.at >= windowStart && d.at <= windowEnd);
    const tokens = inWindow.reduce((sum, d) => sum + d.tokens, 0);
    const lags = inWindow.map((d) => d.lagMs);
    let concurrent = 0;
    let peak = 0;
    for (const { change } of streaming.sort((a, b) => a.at - b.at)) peak = Math.max(peak, (concurrent += change));
    return {
      runs: timing.runs,
      completed,
      peakStreaming: peak,
      tokensPerSecond: (tokens / windowMs) * 1000,
      targetTokensPerSecond: timing.runs * timing.tokensPerSecond,
      eventsPerSecond: (events.filter((at) => at >= windowStart && at <= windowEnd).length / windowMs) * 1000,
      deltaLagP50Ms: percentile(lags, 0.5),
      deltaLagP99Ms: percentile(lags, 0.99),
      transactionsPerSecond: ((commitsAtEnd - commitsAtStart) / (readEnd - readStart)) * 1000,
      windowSeconds: windowMs / 1000,
      serverCpuPercent,
    };
  } finally {
    for (const ws of sockets) ws.close();
    await sql?.end({ timeout: 2 });
  }
}
