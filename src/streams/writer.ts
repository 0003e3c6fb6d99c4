import type { Sql, TransactionSql } from "postgres";
import type { Logger } from "../infra/log";
import { APPEND_CHANNEL, type StreamHub, type StreamChange } from "./hub";
import { STREAM_COLUMNS, isExpired, mediaType, type StreamRow } from "./store";

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

/**
 * Group commit for appends. The first append on an idle writer starts a transaction at once; while
 * it is in flight, later appends gather, and the next transaction commits them all together, with
 * one NOTIFY for the whole batch. Stream rows are locked `FOR UPDATE` in id order, so appends from
 * several processes to one stream serialise correctly and never deadlock.
 *
 * @example
 * const writer = new AppendWriter({ sql, hub, log });
 * const result = await writer.append({ path, contentType: "application/json", body, json, close: false });
 */
export class AppendWriter {
  #sql: Sql;
  #hub: StreamHub;
  #log: Logger;
  #queue: Pending[] = [];
  #flushing = false;
  /** Streams found expired during a batch; reclaimed after it. */
  onExpired: (path: string) => void = () => {};
  /** Called after a committed append, for subscriptions. */
  onAppended: (path: string) => void = () => {};
  /** Figures for the benchmark. */
  readonly stats = { transactions: 0, appends: 0 };

  constructor(options: { sql: Sql; hub: StreamHub; log: Logger }) {
    this.#sql = options.sql;
    this.#hub = options.hub;
    this.#log = options.log;
  }

  append(input: AppendInput): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const bytes = input.json && "data" in input.json ? input.json.data.byteLength : input.body.byteLength;
      this.#queue.push({ input, bytes, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush() {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        let bytes = 0;
        let count = 0;
        while (count < this.#queue.length && count < MAX_BATCH_APPENDS) {
          bytes += this.#queue[count]!.bytes;
          count++;
          if (bytes >= MAX_BATCH_BYTES) break;
        }
        const batch = this.#queue.splice(0, count);
        await this.#commitBatch(batch);
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #commitBatch(batch: Pending[]) {
    try {
      const { results, changes, appendedPaths, expired } = await this.#sql.begin((tx) => this.#apply(tx, batch));
      this.stats.transactions++;
      this.stats.appends += batch.length;
      if (changes.length > 0) this.#hub.publish(changes);
      batch.forEach((pending, i) => pending.resolve(results[i]!));
      for (const path of expired) this.onExpired(path);
      for (const path of appendedPaths) this.onAppended(path);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad append must not fail its neighbours: retry each on its own.
      this.#log.warn("append batch failed; retrying one by one", { size: batch.length, error });
      for (const pending of batch) await this.#commitBatch([pending]);
    }
  }

  async #apply(tx: TransactionSql, batch: Pending[]) {
    const paths = [...new Set(batch.map((p) => p.input.path))];
    const rows = await tx.unsafe<StreamRow[]>(`select ${STREAM_COLUMNS} from streams where path = any($1) order by id for update`, [paths]);
    const byPath = new Map(rows.map((row) => [row.path, row]));

    const producerKeys = batch.filter((p) => p.input.producer && byPath.has(p.input.path));
    const producers = new Map<string, ProducerState>();
    if (producerKeys.length > 0) {
      const ids = producerKeys.map((p) => byPath.get(p.input.path)!.id);
      const names = producerKeys.map((p) => p.input.producer!.id);
      const found = await tx<{ streamId: number; producerId: string; epoch: number; lastSeq: number }[]>`
        select stream_id as "streamId", producer_id as "producerId", epoch, last_seq as "lastSeq"
        from stream_producers p join unnest(${ids}::bigint[], ${names}::text[]) as k(stream_id, producer_id) using (stream_id, producer_id)`;
      for (const f of found) producers.set(`${f.streamId}\u0000${f.producerId}`, { epoch: f.epoch, lastSeq: f.lastSeq, dirty: false });
    }

    const keyed = batch.filter((p) => p.input.dedupeKey !== undefined && byPath.has(p.input.path));
    const seenKeys = new Map<string, number>();
    if (keyed.length > 0) {
      const ids = keyed.map((p) => byPath.get(p.input.path)!.id);
      const keys = keyed.map((p) => p.input.dedupeKey!);
      const found = await tx<{ streamId: number; key: string; pos: number }[]>`
        select stream_id as "streamId", key, pos from stream_dedupe d
        join unnest(${ids}::bigint[], ${keys}::text[]) as k(stream_id, key) using (stream_id, key)`;
      for (const f of found) seenKeys.set(`${f.streamId}\u0000${f.key}`, f.pos);
    }
    const newKeys: { stream_id: number; key: string; pos: number }[] = [];

    const now = Date.now();
    const results: AppendResult[] = [];
    const messages: { stream_id: number; pos: number; data: Uint8Array; count: number }[] = [];
    const touched = new Set<StreamRow>();
    const expired: string[] = [];
    const appendedPaths = new Set<string>();

    for (const { input } of batch) {
      const row = byPath.get(input.path);
      if (!row) {
        results.push({ kind: "missing" });
        continue;
      }
      if (row.state === "soft_deleted") {
        results.push({ kind: "gone" });
        continue;
      }
      if (isExpired(row, now)) {
        expired.push(row.path);
        results.push({ kind: "missing" });
        continue;
      }
      const dedupe = input.dedupeKey === undefined ? undefined : `${row.id}\u0000${input.dedupeKey}`;
      if (dedupe && seenKeys.has(dedupe)) {
        results.push({ kind: "duplicate_key", pos: seenKeys.get(dedupe)! });
        continue;
      }
      const result = this.#applyOne(row, input, producers, messages, now);
      if (dedupe && result.kind === "appended") {
        seenKeys.set(dedupe, result.tailPos);
        newKeys.push({ stream_id: row.id, key: input.dedupeKey!, pos: result.tailPos });
      }
      if (result.kind === "appended") {
        touched.add(row);
        appendedPaths.add(row.path);
      }
      results.push(result);
    }

    if (messages.length > 0) {
      await tx`insert into stream_messages ${tx(messages, "stream_id", "pos", "data", "count")}`;
    }
    if (newKeys.length > 0) await tx`insert into stream_dedupe ${tx(newKeys, "stream_id", "key", "pos")}`;
    if (touched.size > 0) {
      const updates = [...touched].map((row) => [
        row.id, row.tailPos, row.closed, row.closedByProducer, row.closedByEpoch, row.closedBySeq, row.lastStreamSeq, row.lastAccessMs,
      ]);
      await tx`
        update streams s set tail_pos = v.tail_pos::bigint, closed = v.closed::boolean, closed_by_producer = v.cbp,
          closed_by_epoch = v.cbe::bigint, closed_by_seq = v.cbs::bigint, last_stream_seq = v.lss, last_access_ms = v.lam::bigint
        from (values ${tx(updates as never)}) as v(id, tail_pos, closed, cbp, cbe, cbs, lss, lam)
        where s.id = v.id::bigint`;
    }
    const dirty = [...producers.entries()].filter(([, state]) => state.dirty);
    if (dirty.length > 0) {
      const values = dirty.map(([key, state]) => {
        const [streamId, producerId] = key.split("\u0000");
        return { stream_id: Number(streamId), producer_id: producerId!, epoch: state.epoch, last_seq: state.lastSeq };
      });
      await tx`insert into stream_producers ${tx(values, "stream_id", "producer_id", "epoch", "last_seq")}
        on conflict (stream_id, producer_id) do update set epoch = excluded.epoch, last_seq = excluded.last_seq, updated_at = now()`;
    }
    const changes: StreamChange[] = [...touched].map((row) => ({ streamId: row.id, tailPos: row.tailPos, closed: row.closed }));
    if (changes.length > 0) await tx`select pg_notify(${APPEND_CHANNEL}, ${this.#hub.encode(changes)})`;
    return { results, changes, appendedPaths: [...appendedPaths], expired };
  }

  /**
   * The protocol's checks for one append, in the order the conformance suite pins: closed stream,
   * content type, producer sequencing, Stream-Seq, then the body. Mutates `row` and `producers` only
   * when the append is accepted.
   */
  #applyOne(row: StreamRow, input: AppendInput, producers: Map<string, ProducerState>, messages: { stream_id: number; pos: number; data: Uint8Array; count: number }[], now: number): AppendResult {
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
    let producerKey = "";
    if (producer) {
      producerKey = `${row.id}\u0000${producer.id}`;
      producerState = producers.get(producerKey);
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
    if (producer) producers.set(producerKey, { epoch: producer.epoch, lastSeq: producer.seq, dirty: true });
    if (input.close) {
      row.closed = true;
      row.closedByProducer = producer?.id ?? null;
      row.closedByEpoch = producer?.epoch ?? null;
      row.closedBySeq = producer?.seq ?? null;
    }
    row.lastAccessMs = now;
    return { kind: "appended", tailPos: row.tailPos, closed: row.closed, producer: producer ? { epoch: producer.epoch, seq: producer.seq } : undefined };
  }
}
