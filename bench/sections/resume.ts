import { api, BENCH_API_TOKEN, createSessions, inParallel, isOurs, REQUEST_TIMEOUT_MS, wsUrl } from "../ours";
import { formatCount, formatMs, metricTable, type Column, type Outcome, type RunOptions, type Section } from "../section";

/** Raw appends to session streams are the operator's (bootstrap token) alone; the reference server ignores the header. */
const APPEND_HEADERS = { "content-type": "application/json", authorization: `Bearer ${BENCH_API_TOKEN}` };
import type { RunningTarget } from "../targets";

/** Events in the session (stream) a client resumes. */
const EVENTS = 10_000;
/** …written as this many assistant messages: message.start, deltas, message.end, one append each. */
const MESSAGES = 100;
/** Concurrent writers filling it (each writes whole messages, in order). */
const FILL_WRITERS = 16;
/**
 * Events per POST when filling the reference's stream: its file store syncs every append on its own
 * (about 500/s here), and one event per POST would spend 20 s of the run on filling. Reads see the
 * same 10 000 JSON messages either way.
 */
const REFERENCE_EVENTS_PER_POST = 10;
/** Whatever a replay or a read has not finished by then failed. */
const READ_TIMEOUT_MS = 30_000;

const FULL = { repeats: 5 };
const QUICK = { repeats: 2 };

interface Timings {
  /** Median over the repeats, and the slowest. */
  medianMs: number;
  maxMs: number;
}

export interface ResumeResult {
  fill: { appendsPerSecond: number; perPost: number };
  /** Every event over HTTP: catch-up GETs from `-1` following Stream-Next-Offset. */
  httpCatchUp: Outcome<Timings & { messages: number }>;
  /** Ours: WebSocket subscribe from `-1` until the last event frame. */
  wsReplay?: Outcome<Timings & { frames: number }>;
  /** Ours: `mode: "snapshot"`: to the `subscribed` frame, to the first and to the last compacted message. */
  snapshot?: Outcome<{ subscribed: Timings; first: Timings; all: Timings; messages: number }>;
}

/**
 * Resuming a long session: a client that reconnects to a session of 10 000 events and replays it
 * (WebSocket and HTTP catch-up), or asks for a snapshot (compacted messages, then live).
 */
export const resumeSection: Section<ResumeResult> = {
  id: "resume",
  title: "Resume: a session of 10 000 events",

  async measure(target: RunningTarget, options: RunOptions): Promise<ResumeResult> {
    const { repeats } = options.quick ? QUICK : FULL;
    const ours = isOurs(target);
    let streamUrl: string;
    let sessionId: string | undefined;
    if (ours) {
      [sessionId] = await createSessions(target, 1, "resume");
      streamUrl = `${target.url}/v1/stream/sessions/${sessionId}`;
    } else {
      streamUrl = `${target.url}/v1/stream/bench-resume-${Date.now().toString(36)}`;
      const created = await fetch(streamUrl, { method: "PUT", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      if (created.status !== 201) throw new Error(`PUT stream → ${created.status}`);
    }
    // The same shape everywhere (one event per append), except for the file-backed reference, whose
    // fsync per append would make filling take most of the run. A stream of fewer, larger appends
    // reads back faster (measured: 10,000 one-event appends cost the in-memory reference 66 ms of
    // CPU per catch-up GET), so only like is compared with like.
    const fill = await fillSession(streamUrl, target.id === "reference-file" ? REFERENCE_EVENTS_PER_POST : 1);

    const httpCatchUp = await attempt(async () => {
      const runs = await repeat(repeats, () => catchUp(streamUrl));
      if (runs.some((run) => run.messages !== EVENTS)) throw new Error(`catch-up read ${runs.find((run) => run.messages !== EVENTS)!.messages} of ${EVENTS} messages`);
      return { ...summarise(runs.map((run) => run.ms)), messages: EVENTS };
    });
    if (!ours) return { fill, httpCatchUp };

    const wsReplay = await attempt(async () => {
      const runs = await repeat(repeats, () => replay(target, sessionId!));
      if (runs.some((run) => run.frames !== EVENTS)) throw new Error(`replay sent ${runs.find((run) => run.frames !== EVENTS)!.frames} of ${EVENTS} events`);
      return { ...summarise(runs.map((run) => run.ms)), frames: EVENTS };
    });
    const snapshot = await attempt(async () => {
      const runs = await repeat(repeats, () => snapshotSubscribe(target, sessionId!));
      if (runs.some((run) => run.messages !== MESSAGES)) throw new Error(`snapshot had ${runs.find((run) => run.messages !== MESSAGES)!.messages} of ${MESSAGES} messages`);
      return { subscribed: summarise(runs.map((run) => run.subscribedMs)), first: summarise(runs.map((run) => run.firstMs)), all: summarise(runs.map((run) => run.allMs)), messages: MESSAGES };
    });
    // The session's compacted form must match what was written.
    const compacted = await api<{ messages: unknown[] }>(target, "GET", `/api/sessions/${sessionId}/messages`);
    if (compacted.messages.length !== MESSAGES) throw new Error(`GET …/messages returned ${compacted.messages.length} of ${MESSAGES} messages`);
    return { fill, httpCatchUp, wsReplay, snapshot };
  },

  render(columns: Column<ResumeResult>[], options: RunOptions): string {
    const { repeats } = options.quick ? QUICK : FULL;
    const notes: string[] = [];
    const cell = <T>(column: string, name: string, outcome: Outcome<T> | undefined, show: (value: T) => string) => {
      if (!outcome) return "n/a";
      if (outcome.ok) return show(outcome.value);
      notes.push(`- **${column}**, ${name}: ${outcome.reason.split("\n")[0]}`);
      return "error";
    };
    const both = (t: Timings) => `${formatMs(t.medianMs)} (${formatMs(t.maxMs)})`;
    const table = metricTable(columns, [
      ["Replay over WebSocket: subscribe from `-1` → last event (ms)", (r, t) => cell(t.label, "WebSocket replay", r.wsReplay, (v) => both(v))],
      ["… events per second", (r, t) => cell(t.label, "WebSocket replay", r.wsReplay, (v) => formatCount((EVENTS / v.medianMs) * 1000))],
      ["Catch-up over HTTP: GETs from `-1` → up to date (ms)", (r, t) => cell(t.label, "HTTP catch-up", r.httpCatchUp, (v) => both(v))],
      ["Snapshot subscribe → `subscribed` frame (ms)", (r, t) => cell(t.label, "snapshot", r.snapshot, (v) => both(v.subscribed))],
      ["Snapshot subscribe → first message (ms)", (r, t) => cell(t.label, "snapshot", r.snapshot, (v) => both(v.first))],
      [`Snapshot subscribe → all ${MESSAGES} messages (ms)`, (r, t) => cell(t.label, "snapshot", r.snapshot, (v) => both(v.all))],
      ["Filling it: appends/s (16 writers; events per append)", (r) => `${formatCount(r.fill.appendsPerSecond)} (${r.fill.perPost})`],
    ]);
    const method = `The session holds ${formatCount(EVENTS)} events: ${MESSAGES} assistant messages, each a \`message.start\`, ${EVENTS / MESSAGES - 2} \`message.delta\`s and a \`message.end\`, appended one event per POST (for the reference, the same JSON objects on a plain JSON stream, one per POST as well, except ${REFERENCE_EVENTS_PER_POST} to a POST for the file-backed one: its file store syncs each append alone and would spend most of the run filling, and fewer appends read back faster, so its catch-up figure flatters it). A fresh client then reads all of it, ${repeats} times; cells are the median (slowest) in ms. The WebSocket replay is measured from sending \`subscribe\` on an open socket to the last \`event\` frame; the snapshot subscription (\`mode: "snapshot"\`) sends the ${MESSAGES} compacted messages instead of the events; the server keeps a session's compacted state, so the first snapshot folds every event (the slowest figure) and the later ones only the appends since.`;
    return [method, "", table, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
  },
};

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

async function repeat<T>(times: number, run: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < times; i++) results.push(await run());
  return results;
}

function summarise(samples: number[]): Timings {
  const sorted = [...samples].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor((sorted.length - 1) / 2)]!, maxMs: sorted[sorted.length - 1]! };
}

/** The events of message `m`, in order: start, deltas, end. */
function messageEvents(m: number): object[] {
  const id = `msg_resume_${m}`;
  const runId = `run_resume_${Math.floor(m / 2)}`;
  const perMessage = EVENTS / MESSAGES;
  const events: object[] = [{ type: "message.start", id, role: "assistant", runId, agent: "chat" }];
  for (let d = 0; d < perMessage - 2; d++) events.push({ type: "message.delta", id, runId, text: `token ${d} of message ${m}, about forty bytes. ` });
  events.push({ type: "message.end", id, runId, status: "complete" });
  return events;
}

/** Appends the events, `perPost` to a POST (a JSON array of them when more than one). */
async function fillSession(streamUrl: string, perPost: number): Promise<{ appendsPerSecond: number; perPost: number }> {
  const started = performance.now();
  await inParallel(MESSAGES, FILL_WRITERS, async (m) => {
    const events = messageEvents(m);
    for (let i = 0; i < events.length; i += perPost) {
      const body = perPost === 1 ? JSON.stringify(events[i]) : JSON.stringify(events.slice(i, i + perPost));
      const response = await fetch(streamUrl, { method: "POST", headers: APPEND_HEADERS, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await response.arrayBuffer();
      if (response.status !== 204 && response.status !== 200) throw new Error(`fill POST → ${response.status}`);
    }
  });
  return { appendsPerSecond: (EVENTS / perPost / (performance.now() - started)) * 1000, perPost };
}

async function catchUp(streamUrl: string): Promise<{ ms: number; messages: number }> {
  const started = performance.now();
  let offset = "-1";
  let messages = 0;
  for (;;) {
    const response = await fetch(`${streamUrl}?offset=${encodeURIComponent(offset)}`, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`catch-up GET → ${response.status}: ${body.slice(0, 120)}`);
    messages += (JSON.parse(body) as unknown[]).length;
    const next = response.headers.get("stream-next-offset");
    if (response.headers.get("stream-up-to-date") === "true" || !next || next === offset) break;
    offset = next;
  }
  return { ms: performance.now() - started, messages };
}

/** An open socket with the API token; `onText` sees every frame. */
async function openSocket(target: RunningTarget, onText: (text: string, now: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${wsUrl(target)}?token=${encodeURIComponent(BENCH_API_TOKEN)}`);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
  });
  ws.addEventListener("message", (event) => onText(String(event.data), performance.now()));
  return ws;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([promise, Bun.sleep(READ_TIMEOUT_MS).then(() => Promise.reject(new Error(`${what} did not finish within ${READ_TIMEOUT_MS / 1000} s`)))]);
}

async function replay(target: RunningTarget, sessionId: string): Promise<{ ms: number; frames: number }> {
  let frames = 0;
  let done = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  let lastAt = 0;
  const ws = await openSocket(target, (text, now) => {
    if (!text.startsWith(`{"type":"event"`)) return;
    lastAt = now;
    if (++frames === EVENTS) done();
  });
  try {
    const started = performance.now();
    ws.send(JSON.stringify({ type: "subscribe", session: sessionId, offset: "-1" }));
    await within(finished, "the replay");
    return { ms: lastAt - started, frames };
  } finally {
    ws.close();
  }
}

async function snapshotSubscribe(target: RunningTarget, sessionId: string): Promise<{ subscribedMs: number; firstMs: number; allMs: number; messages: number }> {
  let subscribedAt = 0;
  let firstAt = 0;
  let lastAt = 0;
  let messages = 0;
  let done = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const ws = await openSocket(target, (text, now) => {
    if (text.startsWith(`{"type":"subscribed"`)) subscribedAt = now;
    if (!text.startsWith(`{"type":"event"`)) return;
    firstAt ||= now;
    lastAt = now;
    if (++messages === MESSAGES) done();
  });
  try {
    const started = performance.now();
    ws.send(JSON.stringify({ type: "subscribe", session: sessionId, mode: "snapshot" }));
    await within(finished, "the snapshot");
    return { subscribedMs: subscribedAt - started, firstMs: firstAt - started, allMs: lastAt - started, messages };
  } finally {
    ws.close();
  }
}
