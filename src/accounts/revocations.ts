import type { Listener } from "../infra/listener";
import type { Logger } from "../infra/log";
import { TOKEN_REVOKED_CHANNEL } from "./service";

/** How long a live read can last at most (the SSE limit, with room): a registration is dropped after it. */
export const MAX_LIVE_READ_MS = 120_000;

interface LiveRead {
  controller: AbortController;
  token: string;
}

/**
 * Open live reads (SSE, long-poll) by the credential that opened them, so revoking a token ends
 * them at once on every process — the same NOTIFY (`TOKEN_REVOKED_CHANNEL`) that closes its
 * WebSockets. A NOTIFY missed while the LISTEN connection was down is made up for by checking every
 * registered token again after it reconnects.
 *
 * @example
 * const { signal, release } = revocations.track(principal.tokenId, token, request.signal);
 * // … hand `signal` to the read, which ends when it aborts; call `release()` when it is over
 */
export class Revocations {
  #reads = new Map<string, Set<LiveRead>>();
  #authenticate: (token: string) => Promise<boolean>;
  #log: Logger;

  /** @param options.authenticate true while a token is still valid (used after a LISTEN reconnect). */
  constructor(options: { authenticate: (token: string) => Promise<boolean>; log: Logger }) {
    this.#authenticate = options.authenticate;
    this.#log = options.log;
  }

  async start(listener: Listener): Promise<void> {
    await listener.on(TOKEN_REVOKED_CHANNEL, (credentialId) => this.revoke(credentialId));
    listener.onResync(() => void this.#recheck());
  }

  /**
   * A signal that aborts when `credentialId` is revoked, and `release` to forget it once the read is
   * over; it is forgotten anyway after MAX_LIVE_READ_MS or when `done` aborts (the client went away).
   */
  track(credentialId: string, token: string, done?: AbortSignal): { signal: AbortSignal; release: () => void } {
    const read: LiveRead = { controller: new AbortController(), token };
    let reads = this.#reads.get(credentialId);
    if (!reads) this.#reads.set(credentialId, (reads = new Set()));
    reads.add(read);
    const forget = () => {
      clearTimeout(timer);
      reads!.delete(read);
      if (reads!.size === 0 && this.#reads.get(credentialId) === reads) this.#reads.delete(credentialId);
    };
    const timer = setTimeout(forget, MAX_LIVE_READ_MS);
    done?.addEventListener("abort", forget, { once: true });
    return { signal: read.controller.signal, release: forget };
  }

  /** Ends every live read opened with `credentialId` (in this process). */
  revoke(credentialId: string): void {
    const reads = this.#reads.get(credentialId);
    if (!reads) return;
    this.#reads.delete(credentialId);
    for (const read of reads) read.controller.abort(new Error("token revoked"));
    this.#log.info("live reads of a revoked token ended", { credentialId, reads: reads.size });
  }

  /** Registered reads whose token no longer authenticates end (one check per credential; a failed check keeps them). */
  async #recheck() {
    for (const [credentialId, reads] of [...this.#reads]) {
      const [first] = reads;
      if (first && !(await this.#authenticate(first.token).catch(() => true))) this.revoke(credentialId);
    }
  }

  /** Live reads registered now (for tests and metrics). */
  get size(): number {
    let count = 0;
    for (const reads of this.#reads.values()) count += reads.size;
    return count;
  }
}
