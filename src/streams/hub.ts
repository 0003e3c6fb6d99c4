import type { Listener } from "../infra/listener";
import type { Logger } from "../infra/log";
import type { StoredMessage } from "./store";

/** The NOTIFY channel for appends; the payload carries only ids and positions. */
export const APPEND_CHANNEL = "ds_append";
/** NOTIFY payloads are capped at 8000 bytes by Postgres; past this we send a "catch up everything" hint. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7_000;

/** A change to a stream: its new tail position, whether it is closed, or that it is gone. */
export interface StreamChange {
  streamId: number;
  tailPos: number;
  closed: boolean;
  deleted?: boolean;
  /**
   * Only on changes this process committed (never in a NOTIFY): what the commit appended, every
   * message after `afterPos` up to `tailPos`, so local readers need not read them back from the
   * table. Shared by every watcher: do not mutate.
   */
  committed?: { afterPos: number; messages: StoredMessage[] };
}

type Watcher = (change: StreamChange | undefined) => void;

/** A wait for one stream's next change (see StreamHub.waiter). */
export interface Waiter {
  promise: Promise<"changed" | "timeout" | "aborted">;
  cancel(): void;
  version: number | undefined;
  /** The change that woke it (undefined: "something may have changed"). */
  change?: StreamChange;
}

/** The watchers of one stream, and the version of the last change delivered to them. */
interface Watching {
  watchers: Set<Watcher>;
  version: number;
}

/**
 * The in-process fan-out: readers (long-poll, SSE, WebSocket) wait here, never on their own
 * database connection. Local commits call `publish` directly; other processes' commits arrive as
 * NOTIFY hints through the process's one LISTEN connection. A hint only wakes: readers re-read the
 * table. `undefined` means "something may have changed" (after a listener reconnect).
 *
 * A process alone on its database has nobody to NOTIFY of its appends: its own readers are woken
 * by `publish`. So the writer NOTIFYs only once `peers` is true, and hubs find each other by a
 * handshake on the append channel: a hub that starts listening (and again after every reconnect
 * of its LISTEN connection) sends `hello`; every hub that hears a `hello` answers `here`; hearing
 * either (or any NOTIFY of another process) makes `peers` true for good. Appends a writer committed
 * unannounced before it learnt of a peer may have been missed by that peer's readers: when `peers`
 * turns true the writer, after its batch in flight, sends one `*` (wake everyone), and the
 * newcomer's readers re-read. Every process on a database must speak this handshake (one
 * release): an older process that never says `hello` is not told of appends.
 *
 * @example
 * const stop = hub.watch(streamId, (change) => pump());
 * hub.publish([{ streamId, tailPos: 120, closed: false }]);
 */
export class StreamHub {
  #watching = new Map<number, Watching>();
  /** Source of versions: strictly increasing, so a version is never reused, even for a stream watched again later. */
  #sequence = 0;
  #log: Logger;
  /** Marks our own NOTIFYs, which this process has already delivered locally. */
  readonly origin = Math.random().toString(36).slice(2, 10);
  #peers = false;
  #onPeers = new Set<() => void>();
  /** Sends a NOTIFY on the append channel (set by `attach`). */
  #notify: (payload: string) => Promise<void> = async () => {};

  constructor(options: { log: Logger }) {
    this.#log = options.log;
  }

  /**
   * Connects to the LISTEN connection: remote appends wake local readers, reconnects wake everyone.
   * Once listening (and after every reconnect) says `hello` through `notify`, which sends a NOTIFY
   * on the append channel.
   */
  async attach(listener: Listener, notify: (payload: string) => Promise<void>): Promise<void> {
    this.#notify = notify;
    await listener.on(APPEND_CHANNEL, (payload) => this.#onNotify(payload));
    listener.onResync(() => {
      this.wakeAll();
      this.#say("hello");
    });
    await notify(`${this.origin}|hello`);
  }

  /** Whether another process listens on this database (see the handshake above): until then appends need no NOTIFY. */
  get peers(): boolean {
    return this.#peers;
  }

  /** Calls `callback` once, when `peers` turns true (at once if it already is). */
  onPeers(callback: () => void): void {
    if (this.#peers) callback();
    else this.#onPeers.add(callback);
  }

  /** Calls `watcher` on every change to `streamId` until the returned function is called. */
  watch(streamId: number, watcher: Watcher): () => void {
    let watching = this.#watching.get(streamId);
    if (!watching) {
      watching = { watchers: new Set(), version: ++this.#sequence };
      this.#watching.set(streamId, watching);
    }
    const entry = watching;
    entry.watchers.add(watcher);
    return () => {
      entry.watchers.delete(watcher);
      if (entry.watchers.size === 0 && this.#watching.get(streamId) === entry) this.#watching.delete(streamId);
    };
  }

  /**
   * While `streamId` is watched: a number that changes whenever a change to it is delivered (else
   * undefined). A read started after seeing version v sees every change delivered up to v, so
   * readers that saw the same version can share one read (StreamStore.getAfter).
   */
  version(streamId: number): number | undefined {
    return this.#watching.get(streamId)?.version;
  }

  /**
   * Resolves when `streamId` changes, after `timeoutMs`, or when `signal` aborts, whichever is first.
   * Register before re-checking the table to avoid a lost wake-up. `version` is the stream's
   * version (see `version`) while waiting, and the one delivered with the change that woke it.
   */
  waiter(streamId: number, timeoutMs: number, signal?: AbortSignal): Waiter {
    let finish: (outcome: "changed" | "timeout" | "aborted") => void = () => {};
    const waiter: Waiter = { promise: undefined as never, cancel: () => finish("aborted"), version: undefined };
    waiter.promise = new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => finish("timeout"), timeoutMs);
      const onAbort = () => finish("aborted");
      const unwatch = this.watch(streamId, (change) => {
        waiter.version = this.version(streamId);
        waiter.change = change;
        finish("changed");
      });
      waiter.version = this.version(streamId);
      signal?.addEventListener("abort", onAbort, { once: true });
      finish = (outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unwatch();
        signal?.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      if (signal?.aborted) finish("aborted");
    });
    return waiter;
  }

  /** Delivers changes committed by this process (called after COMMIT). */
  publish(changes: StreamChange[]): void {
    for (const change of changes) this.#deliver(change.streamId, change);
  }

  /** Wakes every watcher: used after the LISTEN connection reconnects (NOTIFYs may have been lost). */
  wakeAll(): void {
    for (const streamId of [...this.#watching.keys()]) this.#deliver(streamId, undefined);
  }

  /** How many readers are waiting, for metrics and tests. */
  get watcherCount(): number {
    let count = 0;
    for (const watching of this.#watching.values()) count += watching.watchers.size;
    return count;
  }

  #deliver(streamId: number, change: StreamChange | undefined) {
    const watching = this.#watching.get(streamId);
    if (!watching) return;
    watching.version = ++this.#sequence;
    for (const watcher of [...watching.watchers]) {
      try {
        watcher(change);
      } catch (error) {
        this.#log.error("stream watcher failed", { streamId, error });
      }
    }
  }

  /** Encodes changes as a NOTIFY payload: `<origin>|[[streamId, tailPos, closed, deleted?], …]`, or `<origin>|*` when too large. */
  encode(changes: StreamChange[]): string {
    const entries = JSON.stringify(changes.map((c) => (c.deleted ? [c.streamId, c.tailPos, c.closed ? 1 : 0, 1] : [c.streamId, c.tailPos, c.closed ? 1 : 0])));
    return `${this.origin}|${entries.length > MAX_NOTIFY_PAYLOAD_BYTES ? "*" : entries}`;
  }

  /** The payload that wakes every reader of every process (see encode). */
  get wakeAllPayload(): string {
    return `${this.origin}|*`;
  }

  #say(word: "hello" | "here") {
    this.#notify(`${this.origin}|${word}`).catch((error) => this.#log.warn("append channel handshake failed", { word, error }));
  }

  #peerSeen() {
    if (this.#peers) return;
    this.#peers = true;
    this.#log.info("another process listens on this database: appends now NOTIFY it");
    const callbacks = [...this.#onPeers];
    this.#onPeers.clear();
    for (const callback of callbacks) {
      try {
        callback();
      } catch (error) {
        this.#log.error("peers callback failed", { error });
      }
    }
  }

  #onNotify(payload: string) {
    const bar = payload.indexOf("|");
    if (payload.slice(0, bar) === this.origin) return;
    this.#peerSeen();
    const body = payload.slice(bar + 1);
    if (body === "hello") return this.#say("here");
    if (body === "here") return;
    if (body === "*") return this.wakeAll();
    try {
      const entries = JSON.parse(body) as Array<[number, number, number, number?]>;
      for (const [streamId, tailPos, closed, deleted] of entries) {
        this.#deliver(streamId, { streamId, tailPos, closed: closed === 1, deleted: deleted === 1 });
      }
    } catch (error) {
      this.#log.warn("unreadable notify payload; waking everyone", { error });
      this.wakeAll();
    }
  }
}
