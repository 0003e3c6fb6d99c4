import { spawn, type Subprocess } from "bun";
import { join } from "node:path";
import type { Command, Reply } from "./subscribers";

/** Open files a client process asks for: a socket each, and 10 000 of them in the idle-connection figure. */
export const CLIENT_OPEN_FILES = 20_000;
/** A worker that has not answered a command by then is taken for hung. */
const REPLY_TIMEOUT_MS = 60_000;

/** One client process and its IPC channel. */
class ClientProcess {
  readonly process: Subprocess;
  #waiting: Array<(reply: Reply) => void> = [];

  constructor() {
    const script = join(import.meta.dir, "subscribers.ts");
    // A shell raises the open-files limit first (as far as the hard limit allows), then becomes the client.
    this.process = spawn(["sh", "-c", `ulimit -n ${CLIENT_OPEN_FILES} 2>/dev/null; exec bun "$0"`, script], {
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (message) => this.#waiting.shift()?.(message as Reply),
    });
  }

  request(command: Command): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client process did not answer ${command.op} within ${REPLY_TIMEOUT_MS / 1000} s`)), REPLY_TIMEOUT_MS);
      this.#waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.process.send(command);
    });
  }
}

/** What all client processes received since the last collect. */
export interface Collected {
  latencies: number[];
  /** The message each latency is of (same index). */
  seqs: number[];
  received: number;
  duplicates: number;
  closedEarly: number;
  firstClose?: string;
  /** CPU the client processes used in total (ms) since they started. */
  cpuMs: number;
}

/**
 * Several subscriber processes (bench/clients/subscribers.ts) driven as one.
 *
 * @example
 * const pool = await ClientPool.start(2);
 * await pool.openSockets(url, sockets, 5);
 * … append …
 * const { latencies } = await pool.collect();
 * await pool.close();
 */
export class ClientPool {
  #clients: ClientProcess[];

  private constructor(clients: ClientProcess[]) {
    this.#clients = clients;
  }

  static async start(processes: number): Promise<ClientPool> {
    return new ClientPool(Array.from({ length: processes }, () => new ClientProcess()));
  }

  get size(): number {
    return this.#clients.length;
  }

  /** Spreads `sockets` over the processes round-robin; throws if any failed to open. */
  async openSockets(url: string, sockets: Array<{ token: string; session?: string }>, warmupSeq: number): Promise<{ opened: number; failed: number; firstError?: string }> {
    const shares = this.#clients.map((_, k) => sockets.filter((__, i) => i % this.#clients.length === k));
    const replies = await Promise.all(this.#clients.map((client, k) => client.request({ op: "ws", url, sockets: shares[k]!, warmupSeq })));
    return sumReady(replies);
  }

  /** `readers` SSE or long-poll readers on one stream, spread over the processes. */
  async openReaders(mode: "sse" | "long-poll", streamUrl: string, readers: number, warmupSeq: number): Promise<{ opened: number; failed: number; firstError?: string }> {
    const replies = await Promise.all(
      this.#clients.map((client, k) => {
        const share = Math.floor(readers / this.#clients.length) + (k < readers % this.#clients.length ? 1 : 0);
        return client.request({ op: mode, streamUrl, readers: share, warmupSeq });
      }),
    );
    return sumReady(replies);
  }

  /** Counted deliveries so far, without resetting them. */
  async received(): Promise<number> {
    const replies = await Promise.all(this.#clients.map((client) => client.request({ op: "peek" })));
    return replies.reduce((sum, reply) => sum + (reply.op === "count" ? reply.received : 0), 0);
  }

  /** Waits until `expected` deliveries are counted or `timeoutMs` passes; returns the count. */
  async awaitReceived(expected: number, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const received = await this.received();
      if (received >= expected || performance.now() > deadline) return received;
      await Bun.sleep(50);
    }
  }

  async collect(): Promise<Collected> {
    const replies = await Promise.all(this.#clients.map((client) => client.request({ op: "collect" })));
    const total: Collected = { latencies: [], seqs: [], received: 0, duplicates: 0, closedEarly: 0, cpuMs: 0 };
    for (const reply of replies) {
      if (reply.op !== "samples") continue;
      for (const latency of reply.latencies) total.latencies.push(latency);
      for (const seq of reply.seqs) total.seqs.push(seq);
      total.received += reply.received;
      total.duplicates += reply.duplicates;
      total.closedEarly += reply.closedEarly;
      total.firstClose ??= reply.firstClose;
      total.cpuMs += reply.cpuMs;
    }
    return total;
  }

  /** Closes every subscriber and ends the processes. */
  async close(): Promise<void> {
    await Promise.all(
      this.#clients.map(async (client) => {
        await Promise.race([client.request({ op: "close" }).catch(() => {}), Bun.sleep(5_000)]);
        client.process.kill();
        await client.process.exited;
      }),
    );
  }
}

function sumReady(replies: Reply[]): { opened: number; failed: number; firstError?: string } {
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  for (const reply of replies) {
    if (reply.op !== "ready") continue;
    opened += reply.opened;
    failed += reply.failed;
    firstError ??= reply.firstError;
  }
  return { opened, failed, ...(firstError ? { firstError } : {}) };
}
