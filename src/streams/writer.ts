import type { Sql } from "postgres";
import type { Logger } from "../infra/log";
import { APPEND_CHANNEL, type StreamHub, type StreamChange } from "./hub";
import { STREAM_COLUMNS, isExpired, mediaType, type StoredMessage, type StreamRow } from "./store";

/** Appends gathered into one transaction at most. */
export const MAX_BATCH_APPENDS = 256;
/** Bytes gathered into one transaction at most; a larger single append gets a transaction of its own. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface ProducerHeaders {
  id: string;
  epoch: number;
  seq: number;
}

/** One append (or close) as checked at the HTTP edge. */
export interface AppendInput {
  path: string;
  /** The request's Content-Type (ignored for close-only requests). */
  contentType: string | undefined;
  /** Raw bytes for non-JSON streams. */
  body: Uint8Array;
  /** For JSON requests: the values already parsed and serialised at the edge, or why they could not be. */
  json?: { data: Uint8Array; count: number } | { error: string };
  close: boolean;
  streamSeq?: string;
  producer?: ProducerHeaders;
  /** An idempotency key: a second append with the same key on the same stream appends nothing. */
  dedupeKey?: string;
  /**
   * Producers this append fences, in the same commit: each is raised to `epoch` (as if it had
   * written sequence 0 there), so its later writes at a lower epoch are refused (`stale_epoch`)
   * instead of landing after this append. A producer already at `epoch` or past it is left as is.
   */
  fences?: { producerIds: string[]; epoch: number };
}

export type AppendResult =
  | { kind: "appended"; tailPos: number; closed: boolean; producer?: { epoch: number; seq: number } }
  | { kind: "duplicate"; tailPos: number; closed: boolean; epoch: number; seq: number }
  | { kind: "duplicate_key"; pos: number }
  | { kind: "missing" }
  | { kind: "gone" }
  | { kind: "closed"; tailPos: number }
  | { kind: "content_type_mismatch"; expected: string }
  | { kind: "stale_epoch"; epoch: number }
  | { kind: "producer_gap"; expected: number; received: number }
  | { kind: "epoch_seq_not_zero" }
  | { kind: "seq_conflict"; lastSeq: string }
  | { kind: "bad_json"; message: string };

interface Pending {
  input: AppendInput;
  bytes: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface ProducerState {
  epoch: number;
  lastSeq: number;
  dirty: boolean;
}

/** What the writer last committed (or read under lock) for a stream: enough to check appends without reading it again. */
interface CachedStream {
  row: StreamRow;
  /** Producer states by Producer-Id; `null`: known not to exist. Ids not in the map are unknown. */
  producers: Map<string, { epoch: number; lastSeq: number } | null>;
}

interface StoredAppend {
  stream_id: number;
  pos: number;
  data: Uint8Array;
  count: number;
}

/** The batch's checks done: results in batch order and what to write. */
interface Checked {
  results: AppendResult[];
  /** Rows of the streams that changed, as they are after the batch, with the state the checks started from. */
  written: { row: StreamRow; base: StreamRow }[];
  messages: StoredAppend[];
  producers: Map<string, ProducerState>;
  newKeys: { stream_id: number; key: string; pos: number }[];
  expired: string[];
  /** The batch's new producer states by stream id (made by #remember on first use). */
  newProducers?: Map<number, [string, { epoch: number; lastSeq: number }][]>;
}

/**
 * How long after a commit the next batch waits, at most, for the writers that commit answered
 * (see AppendWriter's #gather): about a round trip of a client on this host.
 */
export const MAX_GATHER_MS = 1;
/** After a wait that ran out before its appends came, this many batches go without waiting. */
export const GATHER_SKIPS_AFTER_MISS = 4;

/** Streams whose state the writer keeps between batches; past this the least recently written are forgotten. */
export const MAX_CACHED_STREAMS = 10_000;
/** Producer states kept per stream; past this they are forgotten (a session stream sees a producer per agent run). */
export const MAX_CACHED_PRODUCERS = 1_000;

/** Locks the batch's streams in id order, so writers in several processes never deadlock. */
const LOCK_STREAMS_SQL = `select ${STREAM_COLUMNS} from streams where path = any($1::text[]) order by id for update`;

const PRODUCERS_SQL = `
  select s.id as "streamId", k.producer_id as "producerId", p.epoch, p.last_seq as "lastSeq"
  from unnest($1::text[], $2::text[]) as k(path, producer_id)
  join streams s on s.path = k.path
  left join stream_producers p on p.stream_id = s.id and p.producer_id = k.producer_id`;

const DEDUPE_SQL = `
  select s.id as "streamId", d.key, d.pos
  from unnest($1::text[], $2::text[]) as k(path, key)
  join streams s on s.path = k.path
  join stream_dedupe d on d.stream_id = s.id and d.key = k.key`;

/**
 * Every write of a batch in one statement: stream rows, messages, and (only when the batch has
 * them) producer states and idempotency keys, then the NOTIFY. A stream row is only updated while
 * it is still in the state the batch was checked against (`base_*`), and its messages, producers
 * and keys are only written with it; the statement returns the ids written. Under the batch's row
 * locks every stream is written; without them (the one-round-trip path) a stream another process
 * wrote meanwhile is skipped and retried under lock. The few stream rows come as one JSON array;
 * the messages, which are most of the batch, as parallel arrays (`unnest`) sent as ready-made
 * array literals, and their bytes back to back in one `bytea` cut by length: no per-message
 * escaping on our side, no per-element parsing on Postgres's. The rows are found by id through the
 * primary key (`s.id = any($8)`) whatever the planner estimates: without it, a streams table not yet
 * analysed (a fresh install, the benchmark) was read whole and hashed on every batch, ~40 µs per
 * append more with 500 streams. Four fixed texts (with or without producers, with or without
 * keys), each prepared once: Postgres plans no empty parts.
 * A skipped stream may get a needless NOTIFY: a NOTIFY only ever wakes readers, who re-read the table.
 * The payload is null, and nothing is NOTIFYed, while no other process listens (StreamHub `peers`).
 */
function writeBatchSql(withProducers: boolean, withKeys: boolean): string {
  // $1 stream rows, $2–$6 messages (stream ids, positions, bytes, counts, lengths), $7 channel, $8 the
  // rows' ids, then the optional parts, then the payload.
  let next = 9;
  const param = () => `$${next++}`;
  const producers = withProducers ? `, producers as (
    insert into stream_producers (stream_id, producer_id, epoch, last_seq)
    select p.stream_id, p.producer_id, p.epoch, p.last_seq
    from unnest(${param()}::bigint[], ${param()}::text[], ${param()}::bigint[], ${param()}::bigint[]) as p(stream_id, producer_id, epoch, last_seq)
    where p.stream_id in (select id from rows)
    on conflict (stream_id, producer_id) do update set epoch = excluded.epoch, last_seq = excluded.last_seq, updated_at = now()
  )` : "";
  const keys = withKeys ? `, keys as (
    insert into stream_dedupe (stream_id, key, pos)
    select k.stream_id, k.key, k.pos
    from unnest(${param()}::bigint[], ${param()}::text[], ${param()}::bigint[]) as k(stream_id, key, pos)
    where k.stream_id in (select id from rows)
  )` : "";
  const payload = param();
  return `
  with rows as (
    update streams s set tail_pos = v.tail_pos, closed = v.closed, closed_by_producer = v.closed_by_producer,
      closed_by_epoch = v.closed_by_epoch, closed_by_seq = v.closed_by_seq, last_stream_seq = v.last_stream_seq,
      last_access_ms = greatest(s.last_access_ms, v.last_access_ms)
    from json_to_recordset($1::json) as v(id bigint, base_tail_pos bigint, base_closed boolean, base_last_stream_seq text,
      tail_pos bigint, closed boolean, closed_by_producer text, closed_by_epoch bigint, closed_by_seq bigint, last_stream_seq text, last_access_ms bigint)
    where s.id = any($8::bigint[]) and s.id = v.id and s.state = 'active' and s.tail_pos = v.base_tail_pos and s.closed = v.base_closed
      and s.last_stream_seq is not distinct from v.base_last_stream_seq
    returning s.id
  ), messages as (
    insert into stream_messages (stream_id, pos, data, count)
    select m.stream_id, m.pos, substring($4::bytea from m.start for m.length), m.count
    from (
      -- Where each message starts in the bytes: counted over every message, before any is skipped.
      select u.*, (sum(u.length) over (order by u.n) - u.length + 1)::int as start
      from unnest($2::bigint[], $3::bigint[], $5::int[], $6::int[]) with ordinality as u(stream_id, pos, count, length, n)
    ) m
    where m.stream_id in (select id from rows)
  )${producers}${keys}
  select array(select id from rows) as written, (select pg_notify($7::text, ${payload}::text) where ${payload}::text is not null) as notified`;
}
/** The four texts of writeBatchSql, by [withProducers][withKeys]. */
const WRITE_BATCH_SQL = [[writeBatchSql(false, false), writeBatchSql(false, true)], [writeBatchSql(true, false), writeBatchSql(true, true)]] as const;

/**
 * Group commit for appends. Appends queue; the next batch of them is written while later appends
 * gather, with one commit (one fsync) and one NOTIFY for the whole batch.
 *
 * A batch usually costs one round trip: the writer remembers each stream's state after its last
 * commit, checks the appends against it in memory, and sends one statement that writes only while
 * each stream is still in that state. Appends it cannot check from memory (a stream or producer it
 * has not seen yet, an idempotency key, a stream written by another process meanwhile) take the
 * locking path, two pipelined round trips: `BEGIN` with `SELECT … FOR UPDATE` of the streams in id
 * order (so writers in several processes never deadlock) and what the checks need, then the writes
 * with `COMMIT`. Batches run one at a time on a connection of their own, so appends to a stream
 * commit in the order they arrived.
 *
 * @example
 * const writer = new AppendWriter({ sql: appendSql, hub, log });
 * const result = await writer.append({ path, contentType: "application/json", body, json, close: false });
 */
export class AppendWriter {
  #sql: Sql;
  #hub: StreamHub;
  #log: Logger;
  #queue: Pending[] = [];
  #flushing = false;
  #cache = new Map<string, CachedStream>();
  /** The last batch: how many appends it answered, how many were queued when it committed, and when. */
  #answered: { count: number; left: number; at: number } | undefined;
  /** While #gather waits: the queue length it waits for, and how to stop waiting. */
  #gathered: { target: number; deadline: number; go(full: boolean): void } | undefined;
  /** Batches still to go without waiting, after a wait that ran out (GATHER_SKIPS_AFTER_MISS). */
  #gatherSkips = 0;
  /** Streams found expired during a batch; reclaimed after it. */
  onExpired: (path: string) => void = () => {};
  /** Called after a committed append, for subscriptions. */
  onAppended: (path: string) => void = () => {};
  /** Figures for tests and the benchmark: commits, appends, and batches that needed the locking path. */
  readonly stats = { transactions: 0, appends: 0, locked: 0 };

  /** Set when another process turned up (StreamHub `onPeers`): a `*` NOTIFY is owed once no batch is in flight. */
  #announce = false;
  #announceRetry: ReturnType<typeof setTimeout> | undefined;

  /** @param options.sql a single-connection client (`max: 1`) used by nothing else: the writer sends BEGIN and COMMIT itself. */
  constructor(options: { sql: Sql; hub: StreamHub; log: Logger }) {
    this.#sql = options.sql;
    this.#hub = options.hub;
    this.#log = options.log;
    // Batches committed before the writer knew of another process carried no NOTIFY: that process's
    // readers may have missed them, so once they are all committed (the flush loop runs one batch
    // at a time) every reader there is told to re-read.
    this.#hub.onPeers(() => {
      this.#announce = true;
      if (!this.#flushing) void this.#flush();
    });
  }

  append(input: AppendInput): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const bytes = input.json && "data" in input.json ? input.json.data.byteLength : input.body.byteLength;
      this.#queue.push({ input, bytes, resolve, reject });
      // The wait ends on a full batch, or on the first append after its deadline: a timer alone
      // can fire late, when the event loop is busy.
      const gathered = this.#gathered;
      if (gathered && (this.#queue.length >= gathered.target || performance.now() >= gathered.deadline)) gathered.go(this.#queue.length >= gathered.target);
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush() {
    this.#flushing = true;
    try {
      while (true) {
        if (this.#announce) await this.#wakeOthers();
        await this.#gather();
        if (this.#queue.length === 0) break;
        let bytes = 0;
        let count = 0;
        while (count < this.#queue.length && count < MAX_BATCH_APPENDS) {
          bytes += this.#queue[count]!.bytes;
          count++;
          if (bytes >= MAX_BATCH_BYTES) break;
        }
        await this.#commitBatch(this.#queue.splice(0, count));
        this.#answered = { count, left: this.#queue.length, at: performance.now() };
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Sends the owed `*` NOTIFY (see the constructor); on failure tries again in a second. */
  async #wakeOthers() {
    this.#announce = false;
    try {
      await this.#sql.unsafe("select pg_notify($1, $2)", [APPEND_CHANNEL, this.#hub.wakeAllPayload]);
    } catch (error) {
      this.#log.warn("could not wake other processes' readers; trying again", { error });
      this.#announce = true;
      clearTimeout(this.#announceRetry);
      this.#announceRetry = setTimeout(() => {
        if (!this.#flushing) void this.#flush();
      }, 1000);
      this.#announceRetry.unref?.();
    }
  }

  /**
   * Waits (at most MAX_GATHER_MS after the last commit) until the queue holds as many appends as
   * the last batch answered plus those that were waiting then. Writers that wait for their
   * acknowledgement (most do) send their next append as soon as they have it; without the wait,
   * the next batch would hold only the appends that arrived while the last one was in flight, and
   * under steady load the writers split into two halves taking turns, each paying a commit.
   * Whatever is queued when the time is up goes, and the next GATHER_SKIPS_AFTER_MISS batches do
   * not wait; a lone writer (its batch of one answered, nothing else queued) never waits.
   */
  async #gather() {
    const answered = this.#answered;
    if (!answered) return;
    this.#answered = undefined;
    const target = Math.min(MAX_BATCH_APPENDS, answered.count + answered.left);
    const waitMs = MAX_GATHER_MS - (performance.now() - answered.at);
    if (target <= 1 || this.#queue.length >= target || waitMs <= 0) return;
    if (this.#gatherSkips > 0) {
      this.#gatherSkips--;
      return;
    }
    const reached = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => go(false), waitMs);
      const go = (full: boolean) => {
        clearTimeout(timer);
        this.#gathered = undefined;
        resolve(full);
      };
      this.#gathered = { target, deadline: performance.now() + waitMs, go };
    });
    // Appends that do not wait for their answer (agent runs on their own clock) rarely fill the
    // batch: waiting for them only delays commits, so the next few batches do not wait.
    if (!reached) this.#gatherSkips = GATHER_SKIPS_AFTER_MISS;
  }

  /**
   * Writes a batch: from memory where it can, then under lock for the rest. The two parts commit
   * separately, so a failure retries (or fails) only the part that did not commit.
   */
  async #commitBatch(batch: Pending[]) {
    const now = Date.now();
    // A stream goes one way or the other as a whole, so its appends keep their order.
    const unknown = new Set<string>();
    for (const { input } of batch) {
      const cached = this.#cache.get(input.path);
      if (!cached || input.dedupeKey !== undefined || isExpired(cached.row, now) || (input.producer && !cached.producers.has(input.producer.id)) || input.fences?.producerIds.some((id) => !cached.producers.has(id))) unknown.add(input.path);
    }
    let locked = batch.filter((pending) => unknown.has(pending.input.path));
    const fromMemory = batch.filter((pending) => !unknown.has(pending.input.path));
    if (fromMemory.length > 0) {
      try {
        const results = await this.#writeFromMemory(fromMemory.map((pending) => pending.input), now);
        const retry = new Set<Pending>();
        fromMemory.forEach((pending, i) => (results[i] ? pending.resolve(results[i]) : retry.add(pending)));
        this.stats.appends += fromMemory.length - retry.size;
        locked = batch.filter((pending) => unknown.has(pending.input.path) || retry.has(pending));
      } catch (error) {
        return this.#failed(batch, error);
      }
    }
    if (locked.length === 0) return;
    try {
      const results = await this.#writeLocked(locked.map((pending) => pending.input), now);
      locked.forEach((pending, i) => pending.resolve(results[i]!));
      this.stats.appends += locked.length;
    } catch (error) {
      return this.#failed(locked, error);
    }
  }

  /** A batch that did not commit: one bad append must not fail its neighbours, so each is retried on its own. */
  async #failed(batch: Pending[], error: unknown) {
    // What is remembered may be what failed: read everything afresh from now on.
    this.#cache.clear();
    if (batch.length === 1) {
      batch[0]!.reject(error);
      return;
    }
    this.#log.warn("append batch failed; retrying one by one", { size: batch.length, error });
    for (const pending of batch) await this.#commitBatch([pending]);
  }

  /**
   * The one-round-trip path: checks `inputs` against the remembered state of their streams and
   * writes in one statement (its own transaction). A result is undefined where the stream must be
   * checked under lock after all: another process wrote it meanwhile, or (since only a write
   * proves the remembered state current) the batch had nothing to write to it.
   */
  async #writeFromMemory(inputs: AppendInput[], now: number): Promise<(AppendResult | undefined)[]> {
    const rows = new Map<string, StreamRow>();
    const producers = new Map<string, ProducerState>();
    for (const { path, producer, fences } of inputs) {
      const cached = this.#cache.get(path)!;
      if (!rows.has(path)) rows.set(path, { ...cached.row });
      for (const id of [...(producer ? [producer.id] : []), ...(fences?.producerIds ?? [])]) {
        const state = cached.producers.get(id);
        if (state) producers.set(streamKey(cached.row.id, id), { ...state, dirty: false });
      }
    }
    const checked = this.#check(inputs, rows, producers, new Map(), now);
    if (checked.written.length === 0) return inputs.map(() => undefined);
    const [result] = await this.#writeQuery(this.#sql, checked);
    const written = new Set(result!.written);
    for (const { row } of checked.written) {
      if (written.has(row.id)) this.#remember(row, this.#cache.get(row.path)?.producers ?? new Map(), checked);
      else this.#cache.delete(row.path);
    }
    this.#committed(checked, written);
    return inputs.map((input, k) => (written.has(rows.get(input.path)!.id) ? checked.results[k] : undefined));
  }

  /** The locking path: two pipelined round trips on the writer's connection. */
  async #writeLocked(inputs: AppendInput[], now: number): Promise<AppendResult[]> {
    const sql = this.#sql;
    const paths = [...new Set(inputs.map((input) => input.path))];
    const producerIds = inputs.flatMap((input) => [...(input.producer ? [input.producer.id] : []), ...(input.fences?.producerIds ?? [])].map((id) => ({ path: input.path, id })));
    const withKey = inputs.filter((input) => input.dedupeKey !== undefined);
    this.stats.locked++;
    try {
      // Round trip 1: BEGIN, the locks, and what the checks need to know.
      const [, rows, foundProducers, foundKeys] = await pipeline([
        sql.unsafe("begin"),
        sql.unsafe<StreamRow[]>(LOCK_STREAMS_SQL, [paths], { prepare: true }),
        producerIds.length === 0 ? [] : sql.unsafe<{ streamId: number; producerId: string; epoch: number | null; lastSeq: number | null }[]>(
          PRODUCERS_SQL, [producerIds.map((p) => p.path), producerIds.map((p) => p.id)], { prepare: true }),
        withKey.length === 0 ? [] : sql.unsafe<{ streamId: number; key: string; pos: number }[]>(
          DEDUPE_SQL, [withKey.map((input) => input.path), withKey.map((input) => input.dedupeKey!)], { prepare: true }),
      ] as const);

      const byPath = new Map(rows.map((row) => [row.path, row]));
      const known = new Map(rows.map((row) => [row.id, new Map<string, { epoch: number; lastSeq: number } | null>()]));
      const producers = new Map<string, ProducerState>();
      for (const f of foundProducers) {
        const state = f.epoch === null ? null : { epoch: f.epoch, lastSeq: f.lastSeq! };
        known.get(f.streamId)?.set(f.producerId, state);
        if (state) producers.set(streamKey(f.streamId, f.producerId), { ...state, dirty: false });
      }
      const seenKeys = new Map<string, number>();
      for (const f of foundKeys) seenKeys.set(streamKey(f.streamId, f.key), f.pos);
      const snapshots = new Map(rows.map((row) => [row.id, { ...row }]));

      const checked = this.#check(inputs, byPath, producers, seenKeys, now);
      // Round trip 2: the writes and the NOTIFY, then COMMIT (nothing written: nothing to make durable).
      if (checked.written.length === 0) await sql.unsafe("rollback");
      else {
        const [written] = await pipeline([this.#writeQuery(sql, checked), sql.unsafe("commit")] as const);
        // Under lock every row is written; anything else means the statement and the checks disagree.
        if (written[0]!.written.length !== checked.written.length) throw new Error("append batch: a locked stream was not written");
      }
      const written = new Set(checked.written.map((w) => w.row.id));
      this.#committed(checked, written);
      // Remember every locked stream, written or not: its state was read (or made) under lock.
      for (const row of rows) {
        if (row.state !== "active" || isExpired(row, now)) continue;
        const before = this.#cache.get(row.path);
        // Producer states known before stay true only if nobody else wrote the stream in between.
        const producersKnown = before && sameState(before.row, snapshots.get(row.id)!) ? before.producers : new Map<string, { epoch: number; lastSeq: number } | null>();
        for (const [id, state] of known.get(row.id)!) producersKnown.set(id, state);
        this.#remember(row, producersKnown, checked);
      }
      return checked.results;
    } catch (error) {
      // On a dead connection this fails too (and Postgres has rolled back); the next query reconnects.
      await sql.unsafe("rollback").catch(() => {});
      throw error;
    }
  }

  /** The statement that writes a checked batch (WRITE_BATCH_SQL). */
  #writeQuery(sql: Sql, checked: Checked) {
    const streams = checked.written.map(({ row, base }) => ({
      id: row.id, base_tail_pos: base.tailPos, base_closed: base.closed, base_last_stream_seq: base.lastStreamSeq,
      tail_pos: row.tailPos, closed: row.closed, closed_by_producer: row.closedByProducer, closed_by_epoch: row.closedByEpoch,
      closed_by_seq: row.closedBySeq, last_stream_seq: row.lastStreamSeq, last_access_ms: row.lastAccessMs,
    }));
    const { messages } = checked;
    // Array literals built here (numbers need no quoting), and the bytes as one buffer: postgres.js
    // would otherwise quote and escape every element of every array.
    let ids = "{", positions = "{", counts = "{", lengths = "{";
    let total = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const comma = i === 0 ? "" : ",";
      ids += comma + m.stream_id;
      positions += comma + m.pos;
      counts += comma + m.count;
      lengths += comma + m.data.byteLength;
      total += m.data.byteLength;
    }
    const data = Buffer.allocUnsafe(total);
    let at = 0;
    for (const m of messages) {
      data.set(m.data, at);
      at += m.data.byteLength;
    }
    const changes: StreamChange[] = this.#hub.peers ? checked.written.map(({ row }) => ({ streamId: row.id, tailPos: row.tailPos, closed: row.closed })) : [];
    // postgres.js sends json parameters through JSON.stringify.
    const params: unknown[] = [streams, ids + "}", positions + "}", data, counts + "}", lengths + "}", APPEND_CHANNEL, `{${checked.written.map(({ row }) => row.id).join(",")}}`];
    const producers = [...checked.producers].filter(([, state]) => state.dirty);
    if (producers.length > 0) {
      const at = producers.map(([key]) => key.indexOf("\u0000"));
      params.push(
        producers.map(([key], i) => Number(key.slice(0, at[i]))),
        producers.map(([key], i) => key.slice(at[i]! + 1)),
        producers.map(([, state]) => state.epoch),
        producers.map(([, state]) => state.lastSeq),
      );
    }
    if (checked.newKeys.length > 0) {
      params.push(checked.newKeys.map((k) => k.stream_id), checked.newKeys.map((k) => k.key), checked.newKeys.map((k) => k.pos));
    }
    // Alone on the database, nobody needs the NOTIFY: local readers are woken by #committed.
    params.push(this.#hub.peers ? this.#hub.encode(changes) : null);
    return sql.unsafe<{ written: number[] }[]>(WRITE_BATCH_SQL[producers.length > 0 ? 1 : 0][checked.newKeys.length > 0 ? 1 : 0], params as never[], { prepare: true });
  }

  /**
   * After a commit: wake local readers, handing them what was committed (so they need not read it
   * back), reclaim what expired, tell subscriptions.
   */
  #committed(checked: Checked, written: Set<number>) {
    if (written.size > 0) this.stats.transactions++;
    const changes: StreamChange[] = [];
    const byStream = new Map<number, StoredMessage[]>();
    for (const m of checked.messages) {
      let messages = byStream.get(m.stream_id);
      if (!messages) byStream.set(m.stream_id, (messages = []));
      messages.push({ pos: m.pos, data: m.data, count: m.count });
    }
    for (const { row, base } of checked.written) {
      if (!written.has(row.id)) continue;
      changes.push({ streamId: row.id, tailPos: row.tailPos, closed: row.closed, committed: { afterPos: base.tailPos, messages: byStream.get(row.id) ?? [] } });
    }
    if (changes.length > 0) this.#hub.publish(changes);
    for (const path of checked.expired) {
      this.#cache.delete(path);
      this.onExpired(path);
    }
    for (const { row } of checked.written) if (written.has(row.id)) this.onAppended(row.path);
  }

  /** Remembers `row` as committed, with `known` producer states and the batch's new ones. */
  #remember(row: StreamRow, known: Map<string, { epoch: number; lastSeq: number } | null>, checked: Checked) {
    // Indexed by stream once per batch: a scan of every producer for every stream was quadratic
    // (200 agent runs' deltas in one batch: 40,000 steps, ~3 ms).
    if (!checked.newProducers) {
      checked.newProducers = new Map();
      for (const [key, state] of checked.producers) {
        if (!state.dirty) continue;
        const at = key.indexOf("\u0000");
        const streamId = Number(key.slice(0, at));
        let states = checked.newProducers.get(streamId);
        if (!states) checked.newProducers.set(streamId, (states = []));
        states.push([key.slice(at + 1), { epoch: state.epoch, lastSeq: state.lastSeq }]);
      }
    }
    for (const [id, state] of checked.newProducers.get(row.id) ?? []) known.set(id, { ...state });
    // Forgetting is always safe: an unknown producer just takes the locking path once.
    if (known.size > MAX_CACHED_PRODUCERS) known.clear();
    this.#cache.delete(row.path);
    this.#cache.set(row.path, { row, producers: known });
    if (this.#cache.size > MAX_CACHED_STREAMS) this.#cache.delete(this.#cache.keys().next().value!);
  }

  /**
   * Runs the protocol's checks on `inputs` in order against `rows` (by path), mutating the rows and
   * `producers` as appends are accepted, and gathers what the batch writes.
   */
  #check(inputs: AppendInput[], rows: Map<string, StreamRow>, producers: Map<string, ProducerState>, seenKeys: Map<string, number>, now: number): Checked {
    const results: AppendResult[] = [];
    const messages: StoredAppend[] = [];
    const bases = new Map<StreamRow, StreamRow>();
    const newKeys: { stream_id: number; key: string; pos: number }[] = [];
    const expired: string[] = [];

    for (const input of inputs) {
      const row = rows.get(input.path);
      if (!row) {
        results.push({ kind: "missing" });
        continue;
      }
      if (row.state === "soft_deleted") {
        results.push({ kind: "gone" });
        continue;
      }
      if (isExpired(row, now)) {
        if (!expired.includes(row.path)) expired.push(row.path);
        results.push({ kind: "missing" });
        continue;
      }
      const dedupe = input.dedupeKey === undefined ? undefined : streamKey(row.id, input.dedupeKey);
      if (dedupe && seenKeys.has(dedupe)) {
        results.push({ kind: "duplicate_key", pos: seenKeys.get(dedupe)! });
        continue;
      }
      const base = bases.has(row) ? undefined : { ...row };
      const result = this.#applyOne(row, input, producers, messages, now);
      if (result.kind === "appended") {
        if (base) bases.set(row, base);
        if (dedupe) {
          seenKeys.set(dedupe, result.tailPos);
          newKeys.push({ stream_id: row.id, key: input.dedupeKey!, pos: result.tailPos });
        }
      }
      results.push(result);
    }
    return { results, written: [...bases].map(([row, base]) => ({ row, base })), messages, producers, newKeys, expired };
  }

  /**
   * The protocol's checks for one append, in the order the conformance suite pins: closed stream,
   * content type, producer sequencing, Stream-Seq, then the body. Mutates `row` and `producers` only
   * when the append is accepted.
   */
  #applyOne(row: StreamRow, input: AppendInput, producers: Map<string, ProducerState>, messages: StoredAppend[], now: number): AppendResult {
    const { producer } = input;
    const closeOnly = input.close && input.body.byteLength === 0;

    if (row.closed) {
      if (producer && row.closedByProducer === producer.id && row.closedByEpoch === producer.epoch && row.closedBySeq === producer.seq) {
        return { kind: "duplicate", tailPos: row.tailPos, closed: true, epoch: producer.epoch, seq: producer.seq };
      }
      if (closeOnly && !producer) {
        // Closing again is idempotent, and still a write for the sliding TTL.
        row.lastAccessMs = now;
        return { kind: "appended", tailPos: row.tailPos, closed: true };
      }
      return { kind: "closed", tailPos: row.tailPos };
    }
    if (!closeOnly && mediaType(input.contentType) !== mediaType(row.contentType)) {
      return { kind: "content_type_mismatch", expected: row.contentType };
    }

    let producerState: ProducerState | undefined;
    let stateKey = "";
    if (producer) {
      stateKey = streamKey(row.id, producer.id);
      producerState = producers.get(stateKey);
      if (!producerState) {
        if (producer.seq !== 0) return { kind: "producer_gap", expected: 0, received: producer.seq };
      } else if (producer.epoch < producerState.epoch) {
        return { kind: "stale_epoch", epoch: producerState.epoch };
      } else if (producer.epoch > producerState.epoch) {
        if (producer.seq !== 0) return { kind: "epoch_seq_not_zero" };
      } else if (producer.seq <= producerState.lastSeq) {
        return { kind: "duplicate", tailPos: row.tailPos, closed: row.closed, epoch: producerState.epoch, seq: producerState.lastSeq };
      } else if (producer.seq > producerState.lastSeq + 1) {
        return { kind: "producer_gap", expected: producerState.lastSeq + 1, received: producer.seq };
      }
    }

    // Byte-wise comparison, as the protocol requires ("2" sorts after "10").
    if (input.streamSeq !== undefined && row.lastStreamSeq !== null && Buffer.compare(Buffer.from(input.streamSeq), Buffer.from(row.lastStreamSeq)) <= 0) {
      return { kind: "seq_conflict", lastSeq: row.lastStreamSeq };
    }

    let stored: { data: Uint8Array; count: number } | undefined;
    if (!closeOnly) {
      if (input.json) {
        if ("error" in input.json) return { kind: "bad_json", message: input.json.error };
        stored = input.json;
      } else {
        stored = { data: input.body, count: 1 };
      }
    }

    // Accepted: apply to the in-memory row; the batch writes it once.
    if (stored) {
      row.tailPos += stored.data.byteLength;
      messages.push({ stream_id: row.id, pos: row.tailPos, data: stored.data, count: stored.count });
    }
    if (input.streamSeq !== undefined) row.lastStreamSeq = input.streamSeq;
    if (producer) producers.set(stateKey, { epoch: producer.epoch, lastSeq: producer.seq, dirty: true });
    for (const id of input.fences?.producerIds ?? []) {
      const key = streamKey(row.id, id);
      const state = producers.get(key);
      if (!state || state.epoch < input.fences!.epoch) producers.set(key, { epoch: input.fences!.epoch, lastSeq: 0, dirty: true });
    }
    if (input.close) {
      row.closed = true;
      row.closedByProducer = producer?.id ?? null;
      row.closedByEpoch = producer?.epoch ?? null;
      row.closedBySeq = producer?.seq ?? null;
    }
    row.lastAccessMs = now;
    return { kind: "appended", tailPos: row.tailPos, closed: row.closed, producer: producer ? { epoch: producer.epoch, seq: producer.seq } : undefined };
  }}

/** The map key for a stream's producer, or idempotency key. */
function streamKey(streamId: number, id: string): string {
  return `${streamId}\u0000${id}`;
}

/** Whether two reads of a stream show the same appends (every append moves the tail or closes it). */
function sameState(a: StreamRow, b: StreamRow): boolean {
  return a.id === b.id && a.tailPos === b.tailPos && a.closed === b.closed && a.lastStreamSeq === b.lastStreamSeq && a.state === b.state;
}

/** A postgres.js query not yet sent. */
type Pipelined = PromiseLike<unknown> & { execute(): unknown };

/**
 * Sends `queries` back to back on one connection, where postgres.js pipelines them into one write,
 * and waits for their results; `[]` stands in for a query that is not needed. Promise.all
 * observes every query, so a failure (and the aborted-transaction errors after it) is never unhandled.
 */
async function pipeline<T extends readonly (Pipelined | never[])[]>(queries: T): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  for (const query of queries) if (!Array.isArray(query)) (query as Pipelined).execute();
  return (await Promise.all(queries)) as { [K in keyof T]: Awaited<T[K]> };
}
