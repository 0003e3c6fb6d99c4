import { readSse } from "../sse-reader";
import { settlesWithin } from "../timeout";
import { machineCpuSample, stealPercent } from "../processes";
import { formatCount, formatMs, metricTable, percentile, type Column, type Outcome, type Row, type RunOptions, type Section } from "../section";
import type { RunningTarget } from "../targets";

/** Concurrent writers in the throughput runs, each awaiting its previous append before the next. */
const WRITERS = 16;
/** Every appended message is one JSON object of exactly this many bytes. */
const MESSAGE_BYTES = 100;
/** SSE readers attached to the one fan-out stream. */
const SSE_READERS = 50;
/** The fan-out writer appends on this fixed schedule (it waits for each append before the next). */
const SSE_INTERVAL_MS = 20;
/** How long the long-poll reader gets to reach the server and park before the append is sent. */
const LONG_POLL_PARK_MS = 20;
/** A long-poll still unanswered this long after the append counts as not woken. */
const LONG_POLL_WAKE_TIMEOUT_MS = 5_000;
/** Any other request unanswered this long counts as failed (a hung server must not hang the run). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Above this much hypervisor steal the report warns that a server's figures are unreliable. */
const STEAL_WARNING_PERCENT = 5;
/** Give up on a measurement after this many consecutive failed long-polls. */
const MAX_CONSECUTIVE_FAILURES = 5;
/** How long the fan-out waits for all readers to connect, and for the last deliveries after the last append. */
const SSE_CONNECT_TIMEOUT_MS = 15_000;
const SSE_DRAIN_TIMEOUT_MS = 5_000;

interface Timing {
  /** Appends before the throughput window opens (connections, JIT, caches). */
  warmupMs: number;
  /** Length of the throughput window. */
  measureMs: number;
  longPollWarmup: number;
  longPollSamples: number;
  sseWarmupMessages: number;
  sseMessages: number;
}

const FULL: Timing = { warmupMs: 1_000, measureMs: 5_000, longPollWarmup: 10, longPollSamples: 200, sseWarmupMessages: 10, sseMessages: 200 };
const QUICK: Timing = { warmupMs: 300, measureMs: 1_500, longPollWarmup: 5, longPollSamples: 50, sseWarmupMessages: 5, sseMessages: 50 };

/** Requests that did not get the expected status, with the first one described. */
interface Failures {
  count: number;
  first?: string;
}

interface Throughput {
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Appends acknowledged over the whole run, warm-up included … */
  accepted: number;
  /** … and the messages a catch-up GET found afterwards: they must be equal. */
  readBack: number;
  /** How long that catch-up took, all pages of all the run's streams. */
  readBackMs: number;
  /** CPU the server (with its Postgres) spent per 1 000 appends in the window. */
  serverCpuMsPer1000: number;
  /** CPU busy in the window, in % of one core: the server's and the load generator's. */
  serverCpuPercent: number;
  clientCpuPercent: number;
  failures: Failures;
}

interface LongPoll {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  failures: Failures;
}

interface FanOut {
  readers: number;
  expected: number;
  received: number;
  duplicates: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: Failures;
}

export interface StreamsHttpResult {
  /** % of the machine's CPU stolen by the hypervisor while this server was measured. */
  stealPercent: number;
  ownStreams: Outcome<Throughput>;
  sharedStream: Outcome<Throughput>;
  longPoll: Outcome<LongPoll>;
  fanOut: Outcome<FanOut>;
}

/**
 * The Durable Streams HTTP protocol: append throughput, long-poll wake-up latency and SSE fan-out
 * latency, each measured with plain `fetch` from the harness process.
 */
export const streamsHttpSection: Section<StreamsHttpResult> = {
  id: "streams-http",
  title: "Durable Streams over HTTP",

  async measure(target: RunningTarget, options: RunOptions): Promise<StreamsHttpResult> {
    const timing = options.quick ? QUICK : FULL;
    const base = `${target.url}/v1/stream/bench-${Date.now().toString(36)}`;
    const cpuBefore = machineCpuSample();
    // One after another, never overlapping: each figure is the server's whole attention.
    const ownStreams = await attempt(() => appendThroughput({ target, base: `${base}-own`, layout: "own", timing }));
    const sharedStream = await attempt(() => appendThroughput({ target, base: `${base}-shared`, layout: "shared", timing }));
    const longPoll = await attempt(() => longPollRoundTrip({ streamUrl: `${base}-long-poll`, timing }));
    const fanOut = await attempt(() => sseFanOut({ streamUrl: `${base}-sse`, timing }));
    return { stealPercent: stealPercent(cpuBefore, machineCpuSample()), ownStreams, sharedStream, longPoll, fanOut };
  },

  render(columns: Column<StreamsHttpResult>[], options: RunOptions): string {
    const timing = options.quick ? QUICK : FULL;
    const notes: string[] = [];
    const part = <T>(column: string, name: string, outcome: Outcome<T>, cell: (value: T) => string): string => {
      if (outcome.ok) return cell(outcome.value);
      notes.push(`- **${column}**, ${name}: ${outcome.reason.split("\n")[0]}`);
      return "error";
    };
    const firstFailures = (label: string, result: StreamsHttpResult) => {
      for (const [name, outcome] of parts(result)) {
        if (outcome.ok && outcome.value.failures.first) notes.push(`- **${label}**, ${name}: ${outcome.value.failures.count} failed, first: ${outcome.value.failures.first}`);
      }
    };
    const rows: Row<StreamsHttpResult>[] = [
      [`Appends/s, ${WRITERS} writers, one stream each`, (r, t) => part(t.label, "appends, one stream each", r.ownStreams, (v) => formatCount(v.appendsPerSecond))],
      [`Appends/s, ${WRITERS} writers, one shared stream`, (r, t) => part(t.label, "appends, shared stream", r.sharedStream, (v) => formatCount(v.appendsPerSecond))],
      ["Append latency p50 / p99 (ms), one stream each", (r) => (r.ownStreams.ok ? `${formatMs(r.ownStreams.value.p50Ms)} / ${formatMs(r.ownStreams.value.p99Ms)}` : "error")],
      ["Append latency p50 / p99 (ms), shared stream", (r) => (r.sharedStream.ok ? `${formatMs(r.sharedStream.value.p50Ms)} / ${formatMs(r.sharedStream.value.p99Ms)}` : "error")],
      ["Server CPU per 1 000 appends (ms), one stream each / shared", (r) => `${r.ownStreams.ok ? formatMs(r.ownStreams.value.serverCpuMsPer1000) : "error"} / ${r.sharedStream.ok ? formatMs(r.sharedStream.value.serverCpuMsPer1000) : "error"}`],
      ["CPU busy, server / load generator (% of a core), one stream each", (r) => (r.ownStreams.ok ? `${formatCount(r.ownStreams.value.serverCpuPercent)} / ${formatCount(r.ownStreams.value.clientCpuPercent)}` : "error")],
      ["Messages read back / acknowledged", (r) => readBackCell(r)],
      ["Catch-up reads (messages/s), reading all of it back", (r) => readRateCell(r)],
      [`Long-poll round trip p50 / p99 (ms), ${timing.longPollSamples} samples`, (r, t) => part(t.label, "long-poll", r.longPoll, (l) => `${formatMs(l.p50Ms)} / ${formatMs(l.p99Ms)}`)],
      [`SSE delivery p50 / p99 (ms), ${SSE_READERS} readers`, (r, t) => part(t.label, "SSE fan-out", r.fanOut, (f) => `${formatMs(f.p50Ms)} / ${formatMs(f.p99Ms)}`)],
      ["SSE deliveries received / expected", (r) => (r.fanOut.ok ? `${formatCount(r.fanOut.value.received)} / ${formatCount(r.fanOut.value.expected)}${r.fanOut.value.duplicates ? ` (+${r.fanOut.value.duplicates} duplicates)` : ""}` : "error")],
      ["Failed requests", (r) => formatCount(totalFailures(r))],
      ["Hypervisor steal while measuring (% of the machine's CPU)", (r) => (Number.isFinite(r.stealPercent) ? r.stealPercent.toFixed(1) : "—")],
    ];
    const table = metricTable(columns, rows);
    for (const column of columns) if (column.outcome.ok) firstFailures(column.target.label, column.outcome.value);
    const stolen = columns.flatMap((column) => (column.outcome.ok && column.outcome.value.stealPercent > STEAL_WARNING_PERCENT ? [column.target.label] : []));
    if (stolen.length > 0) notes.push(`- The hypervisor took over ${STEAL_WARNING_PERCENT} % of the CPU while measuring ${stolen.join(", ")}: those figures are pessimistic; run again on a quieter host.`);

    const method = [
      `Each figure is measured alone, one server at a time, with plain \`fetch\` from the harness process (a separate process from every server). Messages are ${MESSAGE_BYTES}-byte JSON objects POSTed to \`application/json\` streams.`,
      "",
      `- **Appends/s**: ${WRITERS} writers, each sending its next POST as soon as the previous one is acknowledged, for ${timing.measureMs / 1000} s after ${timing.warmupMs / 1000} s of warm-up; once with one stream per writer, once all on one stream. Latency is per POST, as the writer sees it. Server CPU is user + system time of the server process and everything it started (for ours, its Postgres), read from \`/proc\` at the window's start and end. Afterwards catch-up GETs (following \`Stream-Next-Offset\` from \`-1\`, one stream after another) count the messages in the streams: they must equal the appends acknowledged; their rate is the catch-up read figure.`,
      `- **Long-poll round trip**: a reader waits at the tail with \`?offset=<tail>&live=long-poll\`; ${LONG_POLL_PARK_MS} ms later a writer appends; the time from sending the append to the reader having the whole response. ${timing.longPollSamples} samples after ${timing.longPollWarmup} warm-up rounds.`,
      `- **SSE delivery**: ${SSE_READERS} readers on one stream with \`?offset=now&live=sse\`; once all have their first control event, a writer appends ${timing.sseMessages} messages (after ${timing.sseWarmupMessages} warm-up messages), one every ${SSE_INTERVAL_MS} ms (or as soon as the previous one is acknowledged, if that takes longer), each carrying the time its POST was sent; latency is from that time to the \`event: data\` carrying it at each reader, over all deliveries.`,
    ].join("\n");
    return [method, "", table, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
  },
};

function readBackCell(result: StreamsHttpResult): string {
  const runs = [result.ownStreams, result.sharedStream].flatMap((outcome) => (outcome.ok ? [outcome.value] : []));
  if (runs.length === 0) return "error";
  const acknowledged = runs.reduce((sum, run) => sum + run.accepted, 0);
  const found = runs.reduce((sum, run) => sum + run.readBack, 0);
  return found === acknowledged ? `${formatCount(found)} / ${formatCount(acknowledged)} ✓` : `**${formatCount(found)} / ${formatCount(acknowledged)}** ✗`;
}

function readRateCell(result: StreamsHttpResult): string {
  const runs = [result.ownStreams, result.sharedStream].flatMap((outcome) => (outcome.ok ? [outcome.value] : []));
  const ms = runs.reduce((sum, run) => sum + run.readBackMs, 0);
  return runs.length === 0 || ms === 0 ? "error" : formatCount(runs.reduce((sum, run) => sum + run.readBack, 0) / (ms / 1000));
}

function parts(result: StreamsHttpResult): Array<[string, Outcome<{ failures: Failures }>]> {
  return [
    ["appends, one stream each", result.ownStreams],
    ["appends, shared stream", result.sharedStream],
    ["long-poll", result.longPoll],
    ["SSE fan-out", result.fanOut],
  ];
}

function totalFailures(result: StreamsHttpResult): number {
  return parts(result).reduce((sum, [, outcome]) => sum + (outcome.ok ? outcome.value.failures.count : 0), 0);
}

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

// ---------------------------------------------------------------------------------------------
// Appends/s

async function appendThroughput(options: { target: RunningTarget; base: string; layout: "own" | "shared"; timing: Timing }): Promise<Throughput> {
  const { target, base, layout, timing } = options;
  const streamUrls = layout === "own" ? Array.from({ length: WRITERS }, (_, writer) => `${base}-${writer}`) : [base];
  await Promise.all(streamUrls.map(createJsonStream));

  const windowStart = performance.now() + timing.warmupMs;
  const windowEnd = windowStart + timing.measureMs;
  const latencies: number[] = [];
  const failures: Failures = { count: 0 };
  let inWindow = 0;
  let accepted = 0;
  const cpu = { serverStart: Number.NaN, serverEnd: Number.NaN, clientStart: process.cpuUsage(), clientEnd: process.cpuUsage() };
  const windowOpens = setTimeout(() => {
    cpu.serverStart = target.cpuTimeMs();
    cpu.clientStart = process.cpuUsage();
  }, timing.warmupMs);
  const windowCloses = setTimeout(() => {
    cpu.serverEnd = target.cpuTimeMs();
    cpu.clientEnd = process.cpuUsage();
  }, timing.warmupMs + timing.measureMs);

  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      const streamUrl = streamUrls[layout === "own" ? writer : 0]!;
      for (let seq = 0; performance.now() < windowEnd; seq++) {
        const sent = performance.now();
        const result = await append(streamUrl, jsonMessage({ w: writer, s: seq }));
        const done = performance.now();
        if (!result.ok) {
          failures.count++;
          failures.first ??= result.error;
          // A refused connection fails instantly; don't spin on it.
          if (result.thrown) await Bun.sleep(10);
          continue;
        }
        accepted++;
        if (done >= windowStart && done <= windowEnd) {
          inWindow++;
          latencies.push(done - sent);
        }
      }
    }),
  );

  clearTimeout(windowOpens);
  clearTimeout(windowCloses);
  const serverCpuMs = cpu.serverEnd - cpu.serverStart;
  const clientCpuMs = (cpu.clientEnd.user + cpu.clientEnd.system - cpu.clientStart.user - cpu.clientStart.system) / 1000;

  let readBack = 0;
  const readStart = performance.now();
  for (const streamUrl of streamUrls) readBack += await countMessages(streamUrl);
  const readBackMs = performance.now() - readStart;
  return {
    serverCpuMsPer1000: (serverCpuMs / inWindow) * 1000,
    serverCpuPercent: (serverCpuMs / timing.measureMs) * 100,
    clientCpuPercent: (clientCpuMs / timing.measureMs) * 100,
    appendsPerSecond: inWindow / (timing.measureMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    accepted,
    readBack,
    readBackMs,
    failures,
  };
}

// ---------------------------------------------------------------------------------------------
// Long-poll round trip

async function longPollRoundTrip(options: { streamUrl: string; timing: Timing }): Promise<LongPoll> {
  const { streamUrl, timing } = options;
  let tail = await createJsonStream(streamUrl);
  const samples: number[] = [];
  const failures: Failures = { count: 0 };
  let consecutiveFailures = 0;
  const fail = (message: string) => {
    failures.count++;
    failures.first ??= message;
    if (++consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) throw new Error(`${MAX_CONSECUTIVE_FAILURES} long-polls in a row failed; first: ${failures.first}`);
  };

  for (let round = 0; round < timing.longPollWarmup + timing.longPollSamples; round++) {
    const cancel = new AbortController();
    const reader = fetch(`${streamUrl}?offset=${encodeURIComponent(tail)}&live=long-poll`, { signal: cancel.signal }).then(async (response) => ({
      response,
      text: await response.text(),
      at: performance.now(),
    }));
    reader.catch(() => {});
    await Bun.sleep(LONG_POLL_PARK_MS);
    const sent = performance.now();
    const appended = await append(streamUrl, jsonMessage({ m: round }));
    if (!appended.ok) {
      // The reader would wait out the server's long-poll timeout for an append that never came.
      cancel.abort();
      fail(appended.error);
      continue;
    }
    let read: Awaited<typeof reader>;
    try {
      if (!(await settlesWithin(reader, LONG_POLL_WAKE_TIMEOUT_MS))) {
        cancel.abort();
        fail(`the long-poll did not answer within ${LONG_POLL_WAKE_TIMEOUT_MS / 1000} s of the append`);
        continue;
      }
      read = await reader;
    } catch (error) {
      fail(`long-poll GET failed: ${(error as Error).message}`);
      continue;
    }
    const messages = read.response.status === 200 ? parseJsonArray(read.text) : undefined;
    if (!messages?.some((message) => (message as { m?: number }).m === round)) {
      fail(`long-poll GET → ${read.response.status} without the appended message: ${read.text.slice(0, 120)}`);
      tail = read.response.headers.get("stream-next-offset") ?? tail;
      continue;
    }
    consecutiveFailures = 0;
    tail = read.response.headers.get("stream-next-offset") ?? tail;
    if (round >= timing.longPollWarmup) samples.push(read.at - sent);
  }

  return { samples: samples.length, p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99), failures };
}

// ---------------------------------------------------------------------------------------------
// SSE fan-out

interface ReaderState {
  connected: boolean;
  seen: Set<number>;
}

async function sseFanOut(options: { streamUrl: string; timing: Timing }): Promise<FanOut> {
  const { streamUrl, timing } = options;
  await createJsonStream(streamUrl);
  const total = timing.sseWarmupMessages + timing.sseMessages;
  const abort = new AbortController();
  const latencies: number[] = [];
  const failures: Failures = { count: 0 };
  let duplicates = 0;
  const readerErrors: string[] = [];

  let connected = 0;
  let finished = 0;
  let onConnected = () => {};
  let onFinished = () => {};
  const allConnected = new Promise<void>((resolve) => (onConnected = resolve));
  const allFinished = new Promise<void>((resolve) => (onFinished = resolve));

  const readers = Array.from({ length: SSE_READERS }, async () => {
    const state: ReaderState = { connected: false, seen: new Set() };
    const response = await fetch(`${streamUrl}?offset=now&live=sse`, { signal: abort.signal });
    if (response.status !== 200 || !response.body) {
      throw new Error(`SSE GET → ${response.status}: ${(await response.text()).slice(0, 120)}`);
    }
    await readSse(response.body, (event) => {
      const now = performance.now();
      if (event.event === "control") {
        if (!state.connected) {
          state.connected = true;
          if (++connected === SSE_READERS) onConnected();
        }
        return;
      }
      if (event.event !== "data") return;
      const messages = parseJsonArray(event.data);
      if (!messages) throw new Error(`SSE data event is not a JSON array: ${event.data.slice(0, 120)}`);
      for (const message of messages as Array<{ i: number; t: number }>) {
        if (state.seen.has(message.i)) {
          duplicates++;
          continue;
        }
        state.seen.add(message.i);
        if (message.i >= timing.sseWarmupMessages) latencies.push(now - message.t);
      }
      if (state.seen.size === total && ++finished === SSE_READERS) onFinished();
    });
  });
  const settled = Promise.allSettled(readers).then((results) => {
    for (const result of results) if (result.status === "rejected" && (result.reason as Error).name !== "AbortError") readerErrors.push((result.reason as Error).message);
  });

  try {
    const ready = await settlesWithin(Promise.race([allConnected, settled]), SSE_CONNECT_TIMEOUT_MS);
    if (!ready || connected < SSE_READERS) {
      throw new Error(`only ${connected} of ${SSE_READERS} SSE readers got their first control event${readerErrors[0] ? `; ${readerErrors[0]}` : ""}`);
    }

    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + i * SSE_INTERVAL_MS;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      const result = await append(streamUrl, jsonMessage({ i, t: performance.now() }));
      if (!result.ok) {
        failures.count++;
        failures.first ??= result.error;
      }
    }
    await settlesWithin(allFinished, SSE_DRAIN_TIMEOUT_MS);
  } finally {
    abort.abort();
    await settled;
  }
  if (readerErrors.length > 0) {
    failures.count += readerErrors.length;
    failures.first ??= readerErrors[0];
  }

  return {
    readers: SSE_READERS,
    expected: SSE_READERS * timing.sseMessages,
    received: latencies.length,
    duplicates,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: Math.max(...latencies),
    failures,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

const JSON_HEADERS = { "content-type": "application/json" };

/** PUT an empty JSON stream; returns its tail offset. */
export async function createJsonStream(streamUrl: string): Promise<string> {
  const response = await fetch(streamUrl, { method: "PUT", headers: JSON_HEADERS, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`PUT ${new URL(streamUrl).pathname} → ${response.status}: ${body.slice(0, 120)}`);
  const tail = response.headers.get("stream-next-offset");
  if (!tail) throw new Error("PUT answered 201 without Stream-Next-Offset");
  return tail;
}

type AppendResult = { ok: true } | { ok: false; error: string; thrown: boolean };

async function append(streamUrl: string, body: string): Promise<AppendResult> {
  try {
    const response = await fetch(streamUrl, { method: "POST", headers: JSON_HEADERS, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await response.text();
    if (response.status === 204 || response.status === 200) return { ok: true };
    return { ok: false, error: `POST → ${response.status}: ${text.slice(0, 120)}`, thrown: false };
  } catch (error) {
    return { ok: false, error: `POST failed: ${(error as Error).message}`, thrown: true };
  }
}

/** Catch-up reads from the start, following Stream-Next-Offset until Stream-Up-To-Date. */
export async function countMessages(streamUrl: string): Promise<number> {
  let offset = "-1";
  let count = 0;
  for (let page = 0; page < 10_000; page++) {
    const response = await fetch(`${streamUrl}?offset=${encodeURIComponent(offset)}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`read-back GET → ${response.status}: ${text.slice(0, 120)}`);
    const messages = parseJsonArray(text);
    if (!messages) throw new Error(`read-back GET did not return a JSON array: ${text.slice(0, 120)}`);
    count += messages.length;
    const next = response.headers.get("stream-next-offset");
    if (response.headers.get("stream-up-to-date") === "true" || !next || next === offset) return count;
    offset = next;
  }
  throw new Error("read-back did not reach the tail in 10 000 pages");
}

function parseJsonArray(text: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `fields` as a JSON object padded (with a `p` string) to exactly MESSAGE_BYTES bytes. */
export function jsonMessage(fields: Record<string, number>): string {
  const bare = JSON.stringify({ ...fields, p: "" });
  if (bare.length > MESSAGE_BYTES) throw new Error(`message ${bare} is over ${MESSAGE_BYTES} bytes`);
  return JSON.stringify({ ...fields, p: "x".repeat(MESSAGE_BYTES - bare.length) });
}
