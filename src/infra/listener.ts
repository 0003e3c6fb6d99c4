import postgres, { type Sql } from "postgres";
import type { Logger } from "./log";

type Handler = (payload: string) => void;

/**
 * The process's one LISTEN connection. Every channel is multiplexed on it; local code registers
 * handlers. A NOTIFY is only a wake-up hint: after any (re)connect of this connection, NOTIFYs sent
 * meanwhile are lost, so `onResync` handlers run and must catch up from the tables.
 *
 * @example
 * listener.on("stream_append", (payload) => hub.wake(payload));
 * listener.onResync(() => hub.catchUpAll());
 */
export class Listener {
  #sql: Sql;
  #log: Logger;
  #handlers = new Map<string, Set<Handler>>();
  #listening = new Map<string, Promise<unknown>>();
  #resync = new Set<() => void>();
  #closed = false;

  constructor(options: { url: string; log: Logger; socketPath?: string }) {
    this.#log = options.log;
    // max 1: postgres.js keeps a dedicated connection for LISTEN and re-LISTENs after reconnects.
    this.#sql = postgres(options.url, { max: 1, onnotice: () => {}, ...(options.socketPath ? { path: options.socketPath } : {}), connection: { application_name: "durable-studio-listener" } });
  }

  /** Registers `handler` for NOTIFYs on `channel`; returns an unsubscribe function. */
  async on(channel: string, handler: Handler): Promise<() => void> {
    let set = this.#handlers.get(channel);
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
    }
    set.add(handler);
    if (!this.#listening.has(channel)) {
      let first = true;
      const request = this.#sql.listen(
        channel,
        (payload) => {
          for (const h of this.#handlers.get(channel) ?? []) {
            try {
              h(payload);
            } catch (error) {
              this.#log.error("notify handler failed", { channel, error });
            }
          }
        },
        () => {
          if (first) {
            first = false;
            return;
          }
          this.#log.info("listener reconnected; catching up", { channel });
          this.#fireResync();
        },
      );
      this.#listening.set(channel, request);
      await request;
    }
    return () => set!.delete(handler);
  }

  /** Runs after every reconnect of the LISTEN connection (not the first connect). */
  onResync(callback: () => void): () => void {
    this.#resync.add(callback);
    return () => this.#resync.delete(callback);
  }

  #fireResync() {
    for (const callback of this.#resync) {
      try {
        callback();
      } catch (error) {
        this.#log.error("resync handler failed", { error });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sql.end({ timeout: 2 });
  }
}
