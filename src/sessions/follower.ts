import type { Logger } from "../infra/log";
import type { StreamChange, StreamHub } from "../streams/hub";
import type { StoredMessage } from "../streams/store";
import { toOffsetEvents, type OffsetEvent } from "./service";

/** Appends read per follower read at most; a longer backlog is read in several pages, in order. */
export const FOLLOW_PAGE_ROWS = 500;
/** After a failed read the follower tries again this much later (a NOTIFY may never come). */
export const FOLLOW_RETRY_MS = 1_000;

/** New appends of a followed session, in order, each delivered to every listener exactly once. */
export interface FollowedBatch {
  sessionId: string;
  /** The stored appends, `pos` ascending, all after the previous batch's `lastPos`. */
  rows: StoredMessage[];
  /** The same appends split into events (decoded once, shared by every listener: do not mutate). */
  events: OffsetEvent[];
  /** Position of the last append in `rows`. */
  lastPos: number;
}

export type FollowListener = (batch: FollowedBatch) => void;

/** How a follower reads the table: `afterPos < pos <= uptoPos`, ascending, at most `limit` appends. */
export interface RowReader {
  page(streamId: number, afterPos: number, uptoPos: number, limit: number): Promise<StoredMessage[]>;
}

/** A listener's hold on a followed session. */
export interface Following {
  /** The listener receives every append after this position (where the follower stood when it joined). */
  readonly fromPos: number;
  /** Stops delivery to this listener; the last listener to stop ends the follower. */
  stop(): void;
}

interface Follower {
  sessionId: string;
  streamId: number;
  /** Position up to which appends have been delivered. */
  pos: number;
  listeners: Set<FollowListener>;
  reading: boolean;
  dirty: boolean;
  retry: ReturnType<typeof setTimeout> | undefined;
  unwatch: () => void;
}

/**
 * The one session follower of a process: per followed session, one reader that turns the hub's
 * wake-ups into the new appends, handed to every local listener — the WebSocket feed
 * (`socket.ts`) and the agent runtime's control watch (`runtime.ts`) alike. Appends this process
 * committed come with their wake-up and are delivered without touching the table; another
 * process's appends are read once per wake-up, for all listeners.
 * A wake-up is only a hint: the follower always reads from its own position, so a lost or
 * duplicated hint costs nothing but latency, and a read that found nothing while an append was
 * committing is repeated (`dirty`).
 *
 * @example
 * const following = followers.follow({ sessionId, streamId, fromPos: row.tailPos }, (batch) => {
 *   for (const { offset, event } of batch.events) console.log(offset, event.type);
 * });
 * following.stop();
 */
export class SessionFollowers {
  #hub: StreamHub;
  #reader: RowReader;
  #log: Logger;
  #followers = new Map<string, Follower>();
  /** For metrics and tests: table reads, and batches delivered as a local commit handed them over. */
  readonly stats = { tableReads: 0, handedBatches: 0 };

  constructor(options: { hub: StreamHub; reader: RowReader; log: Logger }) {
    this.#hub = options.hub;
    this.#reader = options.reader;
    this.#log = options.log;
  }

  /**
   * Delivers every append of `sessionId` after `fromPos` to `listener`, or — when this process
   * already follows the session — every append after the shared follower's position (returned as
   * `fromPos`; read the table up to it to catch up without a gap).
   */
  follow(input: { sessionId: string; streamId: number; fromPos: number }, listener: FollowListener): Following {
    let follower = this.#followers.get(input.sessionId);
    if (!follower || follower.streamId !== input.streamId) {
      if (follower) this.#end(follower);
      const created: Follower = {
        sessionId: input.sessionId, streamId: input.streamId, pos: input.fromPos, listeners: new Set(),
        reading: false, dirty: false, retry: undefined, unwatch: () => {},
      };
      created.unwatch = this.#hub.watch(input.streamId, (change) => this.#wake(created, change));
      this.#followers.set(input.sessionId, created);
      follower = created;
      // An append may have landed between the caller's read of the tail and the watch: check once.
      void this.#read(created);
    }
    const joined = follower;
    joined.listeners.add(listener);
    let stopped = false;
    return {
      fromPos: joined.pos,
      stop: () => {
        if (stopped) return;
        stopped = true;
        joined.listeners.delete(listener);
        if (joined.listeners.size === 0) this.#end(joined);
      },
    };
  }

  /** Sessions followed in this process, for metrics and tests. */
  get count(): number {
    return this.#followers.size;
  }

  #end(follower: Follower) {
    follower.unwatch();
    if (follower.retry) clearTimeout(follower.retry);
    follower.retry = undefined;
    if (this.#followers.get(follower.sessionId) === follower) this.#followers.delete(follower.sessionId);
  }

  #active(follower: Follower): boolean {
    return this.#followers.get(follower.sessionId) === follower;
  }

  /**
   * A wake-up. A commit of this process carries its rows: when they continue exactly where the
   * follower stands (and no read is under way), they are delivered as they are, without reading
   * the table. Anything else — another process's NOTIFY, a gap, a read in flight — reads.
   */
  #wake(follower: Follower, change: StreamChange | undefined) {
    const committed = change?.committed;
    if (!committed || follower.reading || follower.dirty || follower.pos < committed.afterPos) return void this.#read(follower);
    if (follower.pos >= change.tailPos) return;
    const rows = follower.pos === committed.afterPos ? committed.messages : committed.messages.filter((row) => row.pos > follower.pos);
    if (rows.length === 0) return;
    this.stats.handedBatches++;
    this.#deliver(follower, rows);
  }

  /** Hands `rows` (the appends right after the follower's position) to every listener, decoded once. */
  #deliver(follower: Follower, rows: StoredMessage[]) {
    const batch: FollowedBatch = { sessionId: follower.sessionId, rows, events: toOffsetEvents(rows), lastPos: rows[rows.length - 1]!.pos };
    follower.pos = batch.lastPos;
    for (const listener of [...follower.listeners]) {
      try {
        listener(batch);
      } catch (error) {
        this.#log.error("session follower listener failed", { sessionId: follower.sessionId, error });
      }
    }
  }

  async #read(follower: Follower) {
    if (follower.reading) {
      follower.dirty = true;
      return;
    }
    follower.reading = true;
    try {
      do {
        follower.dirty = false;
        this.stats.tableReads++;
        const rows = await this.#reader.page(follower.streamId, follower.pos, Number.MAX_SAFE_INTEGER, FOLLOW_PAGE_ROWS);
        // An empty read may have raced a newer append: `dirty` says whether to read again.
        if (rows.length === 0 || !this.#active(follower)) continue;
        // Rows handed over by a wake-up while this read was in flight are not delivered twice.
        const fresh = rows[0]!.pos > follower.pos ? rows : rows.filter((row) => row.pos > follower.pos);
        if (fresh.length > 0) this.#deliver(follower, fresh);
        if (rows.length === FOLLOW_PAGE_ROWS) follower.dirty = true;
      } while (follower.dirty && this.#active(follower));
    } catch (error) {
      // Degrade, never crash: try again shortly, whether or not another wake-up comes.
      this.#log.warn("session follower read failed; retrying", { sessionId: follower.sessionId, error });
      if (this.#active(follower) && !follower.retry) {
        follower.retry = setTimeout(() => {
          follower.retry = undefined;
          void this.#read(follower);
        }, FOLLOW_RETRY_MS);
      }
    } finally {
      follower.reading = false;
    }
  }
}
