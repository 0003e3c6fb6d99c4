import { spawn, type Subprocess } from "bun";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { freshDatabase } from "./postgres";

export const ROOT = join(import.meta.dir, "../..");
export const TEST_API_TOKEN = "test-admin-token-0123456789abcdef";

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  process: Subprocess;
  /** Every line the server has printed so far. */
  logs: string[];
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Resolves with the first log line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** `fetch` relative to the server, with the admin token unless `auth: false`. */
  fetch(path: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
}

export interface StartOptions {
  /** Extra environment; `DATABASE_URL: undefined` starts the embedded Postgres in dataDir. */
  env?: Record<string, string | undefined>;
  /** Reuse this DATA_DIR (for restart tests). */
  dataDir?: string;
  /** Use this database instead of a fresh clone. */
  databaseUrl?: string | null;
  /** Wait for the "ready" log line (default true). */
  waitReady?: boolean;
  /** Run the server from this copy of the project instead of this checkout. */
  root?: string;
}

/**
 * Starts the real server (`bun src/main.ts`) as a child process on a free port, against a fresh
 * clone of the migrated template database unless told otherwise.
 *
 * @example
 * const server = await startServer();
 * const res = await server.fetch("/healthz");
 * await server.stop();
 */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? publicTempDir("ds-data-");
  const databaseUrl = options.databaseUrl === null ? undefined : (options.databaseUrl ?? (await freshDatabase()));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, DATABASE_URL: databaseUrl, API_TOKEN: TEST_API_TOKEN, LOG_LEVEL: "info", ...options.env })) {
    if (value !== undefined) env[key] = value;
  }
  const root = options.root ?? ROOT;
  const child = spawn(["bun", join(root, "src/main.ts")], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const logs: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let index: number;
      while ((index = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 1);
        logs.push(line);
        if (process.env.TEST_SERVER_LOGS) console.log("[server]", line);
        for (const waiter of [...waiters]) {
          if (waiter.pattern.test(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    }
  };
  void pump(child.stdout as ReadableStream<Uint8Array>);
  void pump(child.stderr as ReadableStream<Uint8Array>);

  const waitForLog = (pattern: RegExp, timeoutMs = 30_000) => {
    const seen = logs.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = { pattern, resolve: (line: string) => { clearTimeout(timer); resolve(line); } };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`server did not log ${pattern} within ${timeoutMs} ms; logs:\n${logs.slice(-20).join("\n")}`));
      }, timeoutMs);
      waiters.push(waiter);
      child.exited.then(() => setTimeout(() => {
        if (waiters.includes(waiter)) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`server exited (code ${child.exitCode}) before logging ${pattern}; logs:\n${logs.slice(-20).join("\n")}`));
        }
      }, 50));
    });
  };

  const listening = JSON.parse(await waitForLog(/"msg":"listening"/));
  const url: string = listening.url;
  if (options.waitReady !== false) await waitForLog(/"msg":"ready"/);

  const server: TestServer = {
    url,
    port: listening.port,
    dataDir,
    databaseUrl,
    process: child,
    logs,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return await child.exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await child.exited;
    },
    waitForLog,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.auth !== false && !headers.has("authorization")) headers.set("authorization", `Bearer ${TEST_API_TOKEN}`);
      return fetch(url + path, { ...init, headers });
    },
  };
  return server;
}

/**
 * A temp DATA_DIR the `postgres` system user can enter (mkdtemp makes it 0700), so a test run as
 * root does not leave clusters in the /var/lib/durable-studio fallback.
 */
export function publicTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Removes a DATA_DIR made by startServer. */
export function removeDataDir(dir: string) {
  rmSync(dir, { recursive: true, force: true });
}
