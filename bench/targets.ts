import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { settlesWithin } from "./timeout";
import { killSurvivors, processTree, treeCpuMs } from "./processes";
import { BENCH_API_TOKEN, BENCH_SECRET_KEY } from "./ours";

/** The repository root (bench/ is one level down). */
export const ROOT = join(import.meta.dir, "..");

/** Our server needs initdb + Postgres start + migrations; the reference starts in well under a second. */
const OURS_START_TIMEOUT_MS = 90_000;
const REFERENCE_START_TIMEOUT_MS = 20_000;
/** The start-up check's PUT must answer within this. */
const PROBE_TIMEOUT_MS = 10_000;
/** How often the harness re-reads a child's log file while waiting for a line. */
const LOG_POLL_MS = 50;
/** SIGTERM first; the process group gets SIGKILL if the server has not exited by then. */
const STOP_TIMEOUT_MS = 20_000;

export type TargetId = "ours" | "reference-file" | "reference-memory";
export const TARGET_IDS: readonly TargetId[] = ["ours", "reference-file", "reference-memory"];

/** What the report says about a server, whether or not it started. */
export interface TargetInfo {
  id: TargetId;
  /** Column heading in the tables. */
  label: string;
  /** One line for the configuration list under the tables. */
  description: string;
}

/** A server under test, started and answering. */
export interface RunningTarget extends TargetInfo {
  /** Origin, e.g. `http://127.0.0.1:41234`; streams live under `${url}/v1/stream/`. */
  url: string;
  /** Runtime that served it, as the child reported it (e.g. `node v20.20.2`). */
  runtime: string;
  /** Where the child's stdout and stderr went. */
  logPath: string;
  /** CPU ms used so far by the server and the processes it started (NaN off Linux). */
  cpuTimeMs(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** `node` (the reference package's declared engine) or `bun`. */
  referenceRuntime: "node" | "bun";
}

/** A failure to start, with the reason to print in the report. */
export class TargetStartError extends Error {
  readonly code = "TARGET_START_FAILED";
}

/** The static description of each target, for the report. */
export function describeTarget(id: TargetId, options: StartOptions): TargetInfo {
  switch (id) {
    case "ours":
      return { id, label: "ours", description: `\`bun src/main.ts\` on Bun ${Bun.version}, embedded Postgres, \`STREAMS_AUTH=off\`, \`AI_PROVIDER=offline\`, default \`LOG_LEVEL\` (info: a log line per API request, to a file; successful \`/v1/stream\` requests log at debug)` };
    case "reference-file":
      return { id, label: "reference, file", description: `\`@durable-streams/server\` ${referenceVersion()} on ${referenceRuntime(options)}, file-backed (\`dataDir\`: log files + LMDB, fdatasync per append)` };
    case "reference-memory":
      return { id, label: "reference, memory", description: `\`@durable-streams/server\` ${referenceVersion()} on ${referenceRuntime(options)}, in-memory store` };
  }
}

/**
 * Starts one server as a child process (its own process group), waits for its `listening` and
 * `ready` log lines, then checks that it creates a stream (PUT → 201). Throws TargetStartError
 * (after cleaning up) when any of that fails.
 *
 * @example
 * const target = await startTarget("reference-memory", { referenceRuntime: "node" });
 * await fetch(`${target.url}/v1/stream/x`, { method: "PUT" });
 * await target.stop();
 */
export async function startTarget(id: TargetId, options: StartOptions): Promise<RunningTarget> {
  const info = describeTarget(id, options);
  const workDir = mkdtempSync(join(tmpdir(), `ds-bench-${id}-`));
  // Reachable by the `postgres` system user when we run as root, so the embedded cluster lives
  // inside DATA_DIR (and is removed with it) instead of under /var/lib/durable-studio.
  chmodSync(workDir, 0o755);
  const logPath = join(workDir, "server.log");
  const dataDir = join(workDir, "data");
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;

  let command: string[];
  let timeoutMs: number;
  if (id === "ours") {
    // No DATABASE_URL: the server starts its own embedded Postgres in DATA_DIR, as in a fresh install.
    delete env.DATABASE_URL;
    // The API token and secret key let the session, agent and email sections call the JSON API and sign client tokens.
    Object.assign(env, { PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, STREAMS_AUTH: "off", API_TOKEN: BENCH_API_TOKEN, SECRET_KEY: BENCH_SECRET_KEY, AI_PROVIDER: "offline" });
    command = ["bun", join(ROOT, "src/main.ts")];
    timeoutMs = OURS_START_TIMEOUT_MS;
  } else {
    delete env.REFERENCE_DATA_DIR;
    if (id === "reference-file") env.REFERENCE_DATA_DIR = dataDir;
    command = [options.referenceRuntime, join(ROOT, "bench/reference-server.mjs")];
    timeoutMs = REFERENCE_START_TIMEOUT_MS;
  }

  const child = new ChildServer({ command, env, logPath });
  const cleanUp = async () => {
    await child.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const listening = JSON.parse(await child.waitForLine(/"msg":"listening"/, timeoutMs)) as { url?: string; runtime?: string };
    if (!listening.url) throw new TargetStartError(`its "listening" log line has no url`);
    await child.waitForLine(/"msg":"ready"/, timeoutMs);
    await probe(listening.url);
    return { ...info, url: listening.url, runtime: listening.runtime ?? `bun ${Bun.version}`, logPath, cpuTimeMs: () => child.cpuTimeMs(), stop: cleanUp };
  } catch (error) {
    const tail = child.lastLines(8);
    await cleanUp();
    const reason = error instanceof Error ? error.message : String(error);
    const lastLine = tail.at(-1);
    // First line: for the report's footnote; the rest: for the console.
    throw new TargetStartError(lastLine ? `${reason}; last log line: ${lastLine.slice(0, 240)}\n    last log lines:\n    ${tail.join("\n    ")}` : reason);
  }
}

/** PUT a JSON stream and expect 201: the server is up *and* serves the protocol. */
async function probe(url: string) {
  const streamUrl = `${url}/v1/stream/bench-probe-${Date.now()}`;
  let response: Response;
  try {
    response = await fetch(streamUrl, { method: "PUT", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (error) {
    throw new TargetStartError(`PUT ${streamUrl} failed: ${(error as Error).message}`);
  }
  const body = (await response.text()).slice(0, 200);
  if (response.status !== 201) throw new TargetStartError(`PUT /v1/stream/… answered ${response.status}, expected 201${body ? `: ${body}` : ""}`);
}

let cachedReferenceVersion: string | undefined;
function referenceVersion(): string {
  if (cachedReferenceVersion === undefined) {
    try {
      cachedReferenceVersion = JSON.parse(readFileSync(join(ROOT, "node_modules/@durable-streams/server/package.json"), "utf8")).version as string;
    } catch {
      cachedReferenceVersion = "(not installed)";
    }
  }
  return cachedReferenceVersion;
}

function referenceRuntime(options: StartOptions): string {
  return options.referenceRuntime === "bun" ? `Bun ${Bun.version}` : `Node ${nodeVersion() ?? "(not installed)"}`;
}

/** `node --version`, or undefined when Node is not installed. */
export function nodeVersion(): string | undefined {
  if (cachedNodeVersion === null) {
    const result = spawnSync("node", ["--version"], { encoding: "utf8" });
    cachedNodeVersion = result.status === 0 ? result.stdout.trim() : undefined;
  }
  return cachedNodeVersion;
}
let cachedNodeVersion: string | undefined | null = null;

/**
 * A server process whose output goes to a file rather than a pipe, so a chatty server can never
 * block on a full pipe and the measuring process never spends time draining its logs.
 */
class ChildServer {
  #logPath: string;
  #pid: number | undefined;
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined = undefined;

  constructor(options: { command: string[]; env: Record<string, string>; logPath: string }) {
    this.#logPath = options.logPath;
    const fd = openSync(options.logPath, "w");
    const [file, ...args] = options.command as [string, ...string[]];
    // detached: a process group of its own, so a Ctrl-C on the harness reaches only the harness,
    // which then stops the server in order.
    const child = spawn(file, args, { cwd: ROOT, env: options.env, stdio: ["ignore", fd, fd], detached: true });
    closeSync(fd);
    this.#pid = child.pid;
    this.#exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.on("error", (error) => {
        Bun.write(`${options.logPath}.spawn-error`, error.message).catch(() => {});
        resolve(127);
      });
    });
    void this.#exited.then((code) => (this.#exitCode = code));
  }

  /** Resolves with the first log line matching `pattern`; rejects if the process exits or time runs out. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = this.#lines().find((candidate) => pattern.test(candidate));
      if (line) return line;
      if (this.#exitCode !== undefined) {
        const spawnError = existsSync(`${this.#logPath}.spawn-error`) ? readFileSync(`${this.#logPath}.spawn-error`, "utf8") : undefined;
        throw new TargetStartError(spawnError ? `could not run it: ${spawnError}` : `it exited (code ${this.#exitCode}) before logging ${pattern.source}`);
      }
      if (performance.now() > deadline) throw new TargetStartError(`it did not log ${pattern.source} within ${timeoutMs / 1000} s`);
      await Bun.sleep(LOG_POLL_MS);
    }
  }

  lastLines(count: number): string[] {
    return this.#lines().slice(-count);
  }

  /** User + system CPU ms of the server and everything it started (ours: its Postgres too). */
  cpuTimeMs(): number {
    return this.#pid === undefined ? Number.NaN : treeCpuMs(this.#pid);
  }

  /** SIGTERM and wait; then SIGKILL the server if it is still there, and whatever it started that outlived it. */
  async stop(): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined) return;
    // Postgres runs in a session of its own, so the process tree, not the process group, finds it.
    const started = processTree(pid);
    if (this.#exitCode === undefined) {
      signal(pid, "SIGTERM");
      if (!(await settlesWithin(this.#exited, STOP_TIMEOUT_MS))) signal(pid, "SIGKILL");
    }
    await settlesWithin(this.#exited, 2_000);
    killSurvivors(started);
  }

  #lines(): string[] {
    try {
      return readFileSync(this.#logPath, "utf8").split("\n").filter((line) => line.length > 0);
    } catch {
      return [];
    }
  }
}

/** process.kill that ignores a process already gone. */
function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // ESRCH: it exited on its own.
  }
}
