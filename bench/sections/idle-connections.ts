import { spawn } from "bun";
import { join } from "node:path";
import { ClientPool, CLIENT_OPEN_FILES } from "../clients/pool";
import { clientToken, createSessions, isOurs, rssBytes, serverPid, wsUrl } from "../ours";
import { formatCount, type Column, type Outcome, type RunOptions, type Section } from "../section";
import type { RunningTarget } from "../targets";

/** The goal of issue 9: under this many bytes per idle connection beyond the baseline. */
const GOAL_BYTES_PER_CONNECTION = 4 * 1024;
/** Sockets opened and closed first, so the allocator and JIT are warm before the baseline. */
const WARMUP_CONNECTIONS = 500;
/** After opening (or closing) sockets, memory is read this long later, three times, and averaged. */
const SETTLE_MS = 1_500;
const SAMPLES = 3;
const SAMPLE_GAP_MS = 200;
/** Connections per client process. */
const CONNECTIONS_PER_CLIENT_PROCESS = 5_000;

const FULL = { connections: 10_000 };
const QUICK = { connections: 2_000 };

interface Memory {
  connections: number;
  baselineBytes: number;
  loadedBytes: number;
  bytesPerConnection: number;
  openSeconds: number;
}

export interface IdleResult {
  ours: Outcome<Memory>;
  bare: Outcome<Memory>;
}

/**
 * Idle WebSocket connections: server memory (VmRSS) per open, idle connection, beside a bare Bun
 * WebSocket server's. Measured only while our server is up; the reference has no WebSocket.
 */
export const idleConnectionsSection: Section<IdleResult | null> = {
  id: "idle-connections",
  title: "Idle WebSocket connections: memory",

  async measure(target: RunningTarget, options: RunOptions): Promise<IdleResult | null> {
    if (!isOurs(target)) return null;
    const { connections } = options.quick ? QUICK : FULL;
    const pid = serverPid(target);
    const [session] = await createSessions(target, 1, "idle");
    // Every socket has its own client token: the server allows 50 sockets per token.
    const tokens = Array.from({ length: connections }, (_, i) => ({ token: clientToken(session!, `idle-${i}`) }));
    const ours = await attempt(() => memoryPerConnection({ url: wsUrl(target), pid, sockets: tokens }));
    const bare = await attempt(async () => {
      const peer = await startBareServer();
      try {
        return await memoryPerConnection({ url: peer.url.replace(/^http/, "ws"), pid: peer.pid, sockets: tokens });
      } finally {
        peer.stop();
      }
    });
    return { ours, bare };
  },

  render(columns: Column<IdleResult | null>[], options: RunOptions): string {
    const { connections } = options.quick ? QUICK : FULL;
    const ours = columns.find((column) => column.target.id === "ours");
    const method = `${formatCount(connections)} WebSockets are opened from client processes (${formatCount(CONNECTIONS_PER_CLIENT_PROCESS)} each, open-files limit raised with \`ulimit -n ${CLIENT_OPEN_FILES}\`) and left idle: ours with a client token each and no subscription, the peer a bare \`Bun.serve\` echo server (bench/bare-ws-server.ts) with the same idle timeout and pings. Server memory is VmRSS from \`/proc/<pid>/status\` of the server process (not its Postgres), averaged over ${SAMPLES} readings ${SETTLE_MS / 1000} s after the last socket opened, against a baseline taken after ${WARMUP_CONNECTIONS} warm-up sockets were opened and closed.`;
    if (!ours) return `${method}\n\n_Not measured: this run did not include our server._`;
    if (!ours.outcome.ok) return `${method}\n\nfailed: ${ours.outcome.reason.split("\n")[0]}`;
    const result = ours.outcome.value;
    if (!result) return method;
    const notes: string[] = [];
    const cell = (outcome: Outcome<Memory>, show: (m: Memory) => string) => (outcome.ok ? show(outcome.value) : "error");
    for (const [name, outcome] of [["ours", result.ours], ["bare Bun WebSocket", result.bare]] as const) if (!outcome.ok) notes.push(`- **${name}**: ${outcome.reason.split("\n")[0]}`);
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    const rows = [
      "| | ours | bare Bun WebSocket (peer) |",
      "|---|--:|--:|",
      `| Memory per idle connection (KB) | ${cell(result.ours, (m) => (m.bytesPerConnection / 1024).toFixed(2))} | ${cell(result.bare, (m) => (m.bytesPerConnection / 1024).toFixed(2))} |`,
      `| Server RSS before → with ${formatCount(connections)} connections (MiB) | ${cell(result.ours, (m) => `${mib(m.baselineBytes)} → ${mib(m.loadedBytes)}`)} | ${cell(result.bare, (m) => `${mib(m.baselineBytes)} → ${mib(m.loadedBytes)}`)} |`,
      `| Time to open them all (s) | ${cell(result.ours, (m) => m.openSeconds.toFixed(1))} | ${cell(result.bare, (m) => m.openSeconds.toFixed(1))} |`,
    ];
    if (result.ours.ok) {
      const met = result.ours.value.bytesPerConnection < GOAL_BYTES_PER_CONNECTION;
      notes.push(`- Goal: under ${GOAL_BYTES_PER_CONNECTION / 1024} KB per connection beyond the baseline: ${met ? "**met**" : "**not met**"}.`);
    }
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

async function averageRss(pid: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await Bun.sleep(SAMPLE_GAP_MS);
    sum += rssBytes(pid);
  }
  return sum / SAMPLES;
}

async function memoryPerConnection(options: { url: string; pid: number; sockets: Array<{ token: string }> }): Promise<Memory> {
  const { url, pid, sockets } = options;
  const warm = await ClientPool.start(1);
  try {
    await warm.openSockets(url, sockets.slice(0, WARMUP_CONNECTIONS), 0);
  } finally {
    await warm.close();
  }
  await Bun.sleep(SETTLE_MS);
  const baselineBytes = await averageRss(pid);
  const pool = await ClientPool.start(Math.ceil(sockets.length / CONNECTIONS_PER_CLIENT_PROCESS));
  try {
    const started = performance.now();
    const opened = await pool.openSockets(url, sockets, 0);
    const openSeconds = (performance.now() - started) / 1000;
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${sockets.length} sockets failed to open: ${opened.firstError}`);
    await Bun.sleep(SETTLE_MS);
    const loadedBytes = await averageRss(pid);
    return { connections: sockets.length, baselineBytes, loadedBytes, bytesPerConnection: (loadedBytes - baselineBytes) / sockets.length, openSeconds };
  } finally {
    await pool.close();
  }
}

/** Starts bench/bare-ws-server.ts with a raised open-files limit; resolves once it is listening. */
async function startBareServer(): Promise<{ url: string; pid: number; stop(): void }> {
  const script = join(import.meta.dir, "..", "bare-ws-server.ts");
  const child = spawn(["sh", "-c", `ulimit -n ${CLIENT_OPEN_FILES} 2>/dev/null; exec bun "$0"`, script], { stdout: "pipe", stderr: "inherit" });
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const deadline = performance.now() + 10_000;
  while (!text.includes("\n")) {
    if (performance.now() > deadline) throw new Error("the bare WebSocket server did not start within 10 s");
    const { value, done } = await reader.read();
    if (done) throw new Error("the bare WebSocket server exited before listening");
    text += new TextDecoder().decode(value);
  }
  const listening = JSON.parse(text.slice(0, text.indexOf("\n"))) as { url: string; pid: number };
  return { url: listening.url, pid: listening.pid, stop: () => child.kill() };
}
