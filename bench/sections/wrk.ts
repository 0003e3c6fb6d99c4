import { spawn } from "node:child_process";
import { join } from "node:path";
import { formatCount, formatMs, metricTable, type Column, type Outcome, type RunOptions, type Section } from "../section";
import { ROOT, type RunningTarget } from "../targets";
import { countMessages, createJsonStream } from "./streams-http";

/** The native load generator (Debian's `wrk`), and its script for the POST bodies. */
const WRK = process.env.WRK_PATH ?? "/usr/bin/wrk";
const SCRIPT = join(ROOT, "bench/wrk-append.lua");
/** Connections (one wrk thread each, so each connection keeps to one stream). */
const CONNECTIONS = 16;
/** wrk's per-request timeout: a request slower than this counts as failed. */
const WRK_TIMEOUT = "10s";

interface Timing {
  warmupSeconds: number;
  measureSeconds: number;
}
const FULL: Timing = { warmupSeconds: 3, measureSeconds: 10 };
const QUICK: Timing = { warmupSeconds: 1, measureSeconds: 3 };

interface WrkRun {
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests that failed (socket errors, timeouts, non-2xx). */
  failed: number;
  /** Server (with its Postgres) CPU per 1 000 appends in the measured run. */
  serverCpuMsPer1000: number;
  serverCpuPercent: number;
  /** Appends acknowledged over warm-up and measured run, and the messages read back afterwards. */
  acknowledged: number;
  readBack: number;
}

export interface WrkResult {
  own: Outcome<WrkRun>;
  shared: Outcome<WrkRun>;
}

interface WrkOutput {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/**
 * Append throughput driven by `wrk` (C, epoll), a load generator that costs far less CPU per request
 * than the server under test, so the server is what saturates.
 */
export const wrkSection: Section<WrkResult> = {
  id: "wrk",
  title: "Appends with a native load generator (wrk)",

  async measure(target: RunningTarget, options: RunOptions): Promise<WrkResult> {
    const timing = options.quick ? QUICK : FULL;
    const base = `${target.url}/v1/stream/wrk-${Date.now().toString(36)}`;
    const own = await attempt(() => run({ target, urls: Array.from({ length: CONNECTIONS }, (_, i) => `${base}-own-${i}`), timing }));
    const shared = await attempt(() => run({ target, urls: [`${base}-shared`], timing }));
    return { own, shared };
  },

  render(columns: Column<WrkResult>[], options: RunOptions): string {
    const timing = options.quick ? QUICK : FULL;
    const cell = (outcome: Outcome<WrkRun>, show: (run: WrkRun) => string) => (outcome.ok ? show(outcome.value) : "error");
    const table = metricTable(columns, [
      [`Appends/s, ${CONNECTIONS} connections, one stream each`, (r) => cell(r.own, (v) => formatCount(v.appendsPerSecond))],
      [`Appends/s, ${CONNECTIONS} connections, one shared stream`, (r) => cell(r.shared, (v) => formatCount(v.appendsPerSecond))],
      ["Latency p50 / p99 (ms), one stream each", (r) => cell(r.own, (v) => `${formatMs(v.p50Ms)} / ${formatMs(v.p99Ms)}`)],
      ["Latency p50 / p99 (ms), shared stream", (r) => cell(r.shared, (v) => `${formatMs(v.p50Ms)} / ${formatMs(v.p99Ms)}`)],
      ["Server CPU per 1 000 appends (ms), one stream each / shared", (r) => `${cell(r.own, (v) => formatMs(v.serverCpuMsPer1000))} / ${cell(r.shared, (v) => formatMs(v.serverCpuMsPer1000))}`],
      ["Server CPU busy (% of a core), one stream each / shared", (r) => `${cell(r.own, (v) => formatCount(v.serverCpuPercent))} / ${cell(r.shared, (v) => formatCount(v.serverCpuPercent))}`],
      ["Messages read back / acknowledged", (r) => {
        const runs = [r.own, r.shared].flatMap((o) => (o.ok ? [o.value] : []));
        const found = runs.reduce((sum, v) => sum + v.readBack, 0);
        const acknowledged = runs.reduce((sum, v) => sum + v.acknowledged, 0);
        // wrk stops with up to one request in flight per connection: written, never counted.
        const inFlight = runs.length * 2 * CONNECTIONS;
        const consistent = found >= acknowledged && found <= acknowledged + inFlight;
        return consistent ? `${formatCount(found)} / ${formatCount(acknowledged)} ✓` : `**${formatCount(found)} / ${formatCount(acknowledged)}** ✗`;
      }],
      ["Failed requests", (r) => formatCount([r.own, r.shared].reduce((sum, o) => sum + (o.ok ? o.value.failed : 0), 0))],
    ]);
    const notes = columns.flatMap((column) => {
      const value = column.outcome.ok ? column.outcome.value : undefined;
      if (!value) return [];
      return [["one stream each", value.own], ["shared", value.shared]].flatMap(([name, outcome]) =>
        (outcome as Outcome<WrkRun>).ok ? [] : [`- **${column.target.label}**, ${name}: ${(outcome as { reason: string }).reason.split("\n")[0]}`]);
    });
    const method = `\`wrk\` (${CONNECTIONS} threads of one connection each, \`bench/wrk-append.lua\`) POSTs 100-byte JSON objects as fast as each connection is answered: once with one stream per connection, once all on one stream; ${timing.measureSeconds} s measured after a ${timing.warmupSeconds} s warm-up run. Server CPU is user + system time of the server and everything it started (for ours, its Postgres) over the measured run, from \`/proc\`. Afterwards catch-up GETs count the messages in the streams: at least the appends acknowledged over both runs, and at most one more per connection and run (wrk stops with requests in flight, which the server may have written).`;
    return [method, "", table, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
  },
};

async function run(options: { target: RunningTarget; urls: string[]; timing: Timing }): Promise<WrkRun> {
  const { target, urls, timing } = options;
  await Promise.all(urls.map(createJsonStream));
  const warmup = await wrk(urls, timing.warmupSeconds);
  const before = target.cpuTimeMs();
  const measured = await wrk(urls, timing.measureSeconds);
  const serverCpuMs = target.cpuTimeMs() - before;
  const failedOf = (o: WrkOutput) => o.connect + o.read + o.write + o.status + o.timeout;
  const ok = measured.requests - measured.status;
  const seconds = measured.durationUs / 1e6;
  let readBack = 0;
  for (const url of urls) readBack += await countMessages(url);
  return {
    appendsPerSecond: ok / seconds,
    p50Ms: measured.p50Us / 1000,
    p99Ms: measured.p99Us / 1000,
    failed: failedOf(warmup) + failedOf(measured),
    serverCpuMsPer1000: (serverCpuMs / ok) * 1000,
    serverCpuPercent: (serverCpuMs / (seconds * 1000)) * 100,
    acknowledged: warmup.requests - warmup.status + ok,
    readBack,
  };
}

/** Runs wrk against `urls` (all on one origin) for `seconds`; resolves with its done() summary. */
function wrk(urls: string[], seconds: number): Promise<WrkOutput> {
  const origin = new URL(urls[0]!).origin;
  const paths = urls.map((url) => new URL(url).pathname).join(",");
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, [`-t${CONNECTIONS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, `--timeout`, WRK_TIMEOUT, "-s", SCRIPT, `${origin}/`], {
      env: { ...process.env, STREAMS: paths },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("WRK_RESULT "));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${out.trim().split("\n").slice(-3).join(" | ")}`));
      resolve(JSON.parse(line.slice("WRK_RESULT ".length)) as WrkOutput);
    });
  });
}

async function attempt<T>(task: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await task() };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
