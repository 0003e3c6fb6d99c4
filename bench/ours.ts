import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import postgres, { type Sql } from "postgres";
import { signClientToken, CLIENT_TOKEN_TTL_MS } from "../src/sessions/tokens";
import type { RunningTarget } from "./targets";

/**
 * What the sections that measure our own features (sessions, WebSocket, agents, email) need to know
 * about our server: bench/targets.ts starts it with these two secrets, so the harness can call the
 * JSON API and sign client tokens the way a customer's backend would.
 */
export const BENCH_API_TOKEN = "bench-api-token-0123456789abcdef";
export const BENCH_SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789abcdef";

/** Any request of the harness that has not answered by then failed (a hung server must not hang the run). */
export const REQUEST_TIMEOUT_MS = 15_000;

/** The reference server has no sessions, WebSocket or agents: such figures exist only for ours. */
export function isOurs(target: RunningTarget): boolean {
  return target.id === "ours";
}

/** Log lines of a target (its stdout and stderr go to `target.logPath`). */
function logLines(target: RunningTarget): string[] {
  try {
    return readFileSync(target.logPath, "utf8").split("\n").filter((line) => line.startsWith("{"));
  } catch {
    return [];
  }
}

/** The server's own pid, from its `listening` log line (our logger stamps every line with it). */
export function serverPid(target: RunningTarget): number {
  for (const line of logLines(target)) {
    const parsed = JSON.parse(line) as { msg?: string; pid?: number };
    if (parsed.msg === "listening" && typeof parsed.pid === "number") return parsed.pid;
  }
  throw new Error("the server's pid is not in its listening log line");
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * A connection to our server's embedded Postgres, for `pg_stat_database`: the port from its
 * `embedded postgres ready` log line, the password from DATA_DIR/postgres.password (bench/targets.ts
 * puts DATA_DIR beside the log file).
 */
export function ourDatabase(target: RunningTarget): Sql {
  let port: number | undefined;
  for (const line of logLines(target)) {
    const parsed = JSON.parse(line) as { msg?: string; port?: number };
    if (parsed.msg === "embedded postgres ready") port = parsed.port;
  }
  if (port === undefined) throw new Error("no `embedded postgres ready` log line (is DATABASE_URL set?)");
  const password = readFileSync(join(dirname(target.logPath), "data", "postgres.password"), "utf8").trim();
  return postgres({ host: "127.0.0.1", port, user: "postgres", password, database: "durable_studio", max: 1, onnotice: () => {} });
}

/** Committed transactions of the server's database so far (Postgres flushes these counters about once a second). */
export async function committedTransactions(sql: Sql): Promise<number> {
  const [row] = await sql<{ commits: string }[]>`select xact_commit::text as commits from pg_stat_database where datname = current_database()`;
  return Number(row!.commits);
}

/** `fetch` to our JSON API with the bench's API token; throws on any status but `expect`. */
export async function api<T>(target: RunningTarget, method: string, path: string, body?: unknown, expect = method === "POST" ? [200, 201, 202] : [200]): Promise<T> {
  const response = await fetch(target.url + path, {
    method,
    headers: { authorization: `Bearer ${BENCH_API_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!expect.includes(response.status)) throw new Error(`${method} ${path} → ${response.status}: ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Creates `count` sessions, a few requests at a time; returns their ids. */
export async function createSessions(target: RunningTarget, count: number, title = "bench"): Promise<string[]> {
  const ids: string[] = [];
  await inParallel(count, 16, async (i) => {
    const created = await api<{ id: string }>(target, "POST", "/api/sessions", { title: `${title} ${i}` });
    ids[i] = created.id;
  });
  return ids;
}

/** A client token for one session, signed as `POST /api/sessions/:id/client-tokens` would sign it. */
export function clientToken(sessionId: string, clientId: string): string {
  return signClientToken(BENCH_SECRET_KEY, { sessionId, teamId: null, clientId, expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS });
}

/** `ws://…/ws` of a target. */
export function wsUrl(target: RunningTarget): string {
  return `${target.url.replace(/^http/, "ws")}/ws`;
}

/** Runs `task(0…count-1)` with at most `concurrency` at a time. */
export async function inParallel(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
