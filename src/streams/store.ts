import type { Sql, TransactionSql } from "postgres";
import type { Logger } from "../infra/log";
import { APPEND_CHANNEL, type StreamHub, type StreamChange } from "./hub";
import { formatOffset, parseOffset } from "./offsets";

/** A read returns at most this many bytes (at least one whole message); the client pages on. */
export const READ_PAGE_BYTES = 4 * 1024 * 1024;
/** …and at most this many messages. */
export const READ_PAGE_MESSAGES = 5_000;

type Tx = Sql | TransactionSql;

/** A stream's metadata row, as the protocol code sees it. */
export interface StreamRow {
  id: number;
  path: string;
  contentType: string;
  state: "active" | "soft_deleted";
  ttlSeconds: number | null;
  expiresAtMs: number | null;
  expiresAtRaw: string | null;
  lastAccessMs: number;
  closed: boolean;
  closedByProducer: string | null;
  closedByEpoch: number | null;
  closedBySeq: number | null;
  tailPos: number;
  lastStreamSeq: string | null;
  forkedFromId: number | null;
  forkedFromPath: string | null;
  forkOffset: string | null;
  forkSubOffset: number;
  refCount: number;
}

/** One stored append. */
export interface StoredMessage {
  pos: number;
  data: Uint8Array;
  count: number;
}

export const STREAM_COLUMNS = `id, path, content_type as "contentType", state, ttl_seconds as "ttlSeconds", (extract(epoch from expires_at) * 1000)::float8 as "expiresAtMs",
  expires_at_raw as "expiresAtRaw", last_access_ms as "lastAccessMs", closed, closed_by_producer as "closedByProducer",
  closed_by_epoch as "closedByEpoch", closed_by_seq as "closedBySeq", tail_pos as "tailPos", last_stream_seq as "lastStreamSeq",
  forked_from_id as "forkedFromId", forked_from_path as "forkedFromPath", fork_offset as "forkOffset",
  fork_sub_offset as "forkSubOffset", ref_count as "refCount"`;

/** The media type without parameters, lower-cased: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

export function isJsonType(contentType: string): boolean {
  return mediaType(contentType) === "application/json";
}

/** True once a stream's absolute expiry or sliding TTL has passed. */
export function isExpired(row: Pick<StreamRow, "expiresAtMs" | "ttlSeconds" | "lastAccessMs">, nowMs = Date.now()): boolean {
  if (row.expiresAtMs !== null && nowMs >= row.expiresAtMs) return true;
  if (row.ttlSeconds !== null && nowMs >= row.lastAccessMs + row.ttlSeconds * 1000) return true;
  return false;
}

/** JSON-mode storage: each append's values serialised and joined with a trailing comma. */
export function encodeJsonValues(values: unknown[]): Uint8Array {
  let text = "";
  for (const value of values) text += JSON.stringify(value) + ",";
  return new TextEncoder().encode(text);
}

/** Decodes one stored JSON append back into its values. */
export function decodeJsonValues(data: Uint8Array): unknown[] {
  const text = new TextDecoder().decode(data);
  return JSON.parse(`[${text.slice(0, -1)}]`);
}

/** The JSON array text for a run of stored JSON appends. */
export function jsonArrayText(messages: StoredMessage[]): string {
  const decoder = new TextDecoder();
  let body = "[";
  for (let i = 0; i < messages.length; i++) {
    const text = decoder.decode(messages[i]!.data);
    body += text.slice(0, -1);
    if (i < messages.length - 1) body += ",";
  }
  return body + "]";
}

export type Lookup = { kind: "ok"; row: StreamRow } | { kind: "missing" } | { kind: "gone" };

export interface CreateInput {
  path: string;
  /** The team that owns the new stream (null: nobody's). */
  teamId?: string | null;
  contentType: string | undefined;
  ttlSeconds: number | undefined;
  expiresAt: { date: Date; raw: string } | undefined;
  closed: boolean;
  /** The initial body, already split into stored messages (JSON values or raw bytes). */
  initial: { data: Uint8Array; count: number } | undefined;
  /** Parsed initial JSON values when the body is JSON (needed to validate against a forked JSON source). */
  fork?: { fromPath: string; offset: string | undefined; subOffset: number };
}

export type CreateResult =
  | { kind: "created"; row: StreamRow }
  | { kind: "exists"; row: StreamRow }
  | { kind: "conflict"; message: string }
  | { kind: "source_missing" }
  | { kind: "source_gone" }
  | { kind: "bad_request"; message: string };

export type DeleteResult = { kind: "deleted" } | { kind: "soft_deleted" } | { kind: "missing" } | { kind: "gone" };

export interface ReadResult {
  messages: StoredMessage[];
  /** Position of the last message returned, or the snapshot's tail when none. */
  nextPos: number;
  /** The response reaches the tail of the snapshot. */
  upToDate: boolean;
}

/**
 * The Postgres side of the Durable Streams protocol, other than appends (see AppendWriter):
 * lookups with lazy expiry, create and fork, delete with soft-delete while forks read through a
 * stream, reads, TTL touches and reclaiming expired streams.
 */
export class StreamStore {
  #sql: Sql;
  #hub: StreamHub;
  #log: Logger;
  /** Called after a stream is removed (subscriptions drop their links). */
  onDelete: (path: string) => void = () => {};

  constructor(options: { sql: Sql; hub: StreamHub; log: Logger }) {
    this.#sql = options.sql;
    this.#hub = options.hub;
    this.#log = options.log;
  }

  get sql(): Sql {
    return this.#sql;
  }

  /** The row at `path` with no expiry handling. */
  async get(path: string, tx: Tx = this.#sql): Promise<StreamRow | undefined> {
    const rows = await tx.unsafe<StreamRow[]>(`select ${STREAM_COLUMNS} from streams where path = $1`, [path], { prepare: true });
    return rows[0];
  }

  /** The live stream at `path`: expired streams are reclaimed on sight and answer missing (or gone while forks remain). */
  async lookup(path: string): Promise<Lookup> {
    const row = await this.get(path);
    if (!row) return { kind: "missing" };
    if (row.state === "soft_deleted") return { kind: "gone" };
    if (isExpired(row)) {
      const outcome = await this.reclaim(path);
      return outcome === "soft_deleted" ? { kind: "gone" } : { kind: "missing" };
    }
    return { kind: "ok", row };
  }

  /** Restarts the sliding TTL window (only streams with a TTL have one). */
  async touch(row: StreamRow): Promise<void> {
    if (row.ttlSeconds === null) return;
    const now = Date.now();
    row.lastAccessMs = now;
    await this.#sql`update streams set last_access_ms = greatest(last_access_ms, ${now}) where id = ${row.id}`;
  }

  /**
   * Messages after `afterPos` up to the tail of `row` (the snapshot the caller read), paged.
   * Computing next-offset from the same snapshot as the data means a reader can never skip data.
   */
  async read(row: StreamRow, afterPos: number): Promise<ReadResult> {
    if (afterPos >= row.tailPos) return { messages: [], nextPos: row.tailPos, upToDate: true };
    const rows = await this.#sql.unsafe<StoredMessage[]>(
      `select pos, data, count from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit ${READ_PAGE_MESSAGES}`,
      [row.id, afterPos, row.tailPos],
      { prepare: true },
    );
    let bytes = 0;
    let end = rows.length;
    for (let i = 0; i < rows.length; i++) {
      bytes += rows[i]!.data.byteLength;
      if (bytes > READ_PAGE_BYTES && i > 0) {
        end = i;
        break;
      }
    }
    const messages = rows.slice(0, end);
    const nextPos = messages.length > 0 ? messages[messages.length - 1]!.pos : row.tailPos;
    return { messages, nextPos, upToDate: nextPos >= row.tailPos };
  }

  /** PUT: create a stream (or a fork), idempotently. */
  async create(input: CreateInput): Promise<CreateResult> {
    // Expired leftovers at this path count as absent.
    const existing = await this.get(input.path);
    if (existing && existing.state === "active" && isExpired(existing)) await this.reclaim(input.path);

    const result = await this.#sql.begin(async (tx) => {
      const current = await this.get(input.path, tx);
      if (current) return this.#compareExisting(current, input);
      if (input.fork) return this.#createFork(tx, input, input.fork);
      const contentType = input.contentType ?? "application/octet-stream";
      const now = Date.now();
      const rows = await tx.unsafe<StreamRow[]>(
        `insert into streams (path, content_type, ttl_seconds, expires_at, expires_at_raw, last_access_ms, closed, team_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (path) do nothing returning ${STREAM_COLUMNS}`,
        [input.path, contentType, input.ttlSeconds ?? null, input.expiresAt?.date.toISOString() ?? null, input.expiresAt?.raw ?? null, now, input.closed, input.teamId ?? null],
      );
      const row = rows[0];
      // A concurrent PUT won the race: compare with what it created.
      if (!row) return this.#compareExisting((await this.get(input.path, tx))!, input);
      if (input.initial && input.initial.data.byteLength > 0) await this.#appendInitial(tx, row, input.initial);
      return { kind: "created", row } as const;
    });
    if (result.kind === "created") await this.#notify([{ streamId: result.row.id, tailPos: result.row.tailPos, closed: result.row.closed }]);
    return result;
  }

  #compareExisting(row: StreamRow, input: CreateInput): CreateResult {
    if (row.state === "soft_deleted") return { kind: "conflict", message: "A stream at this path was deleted while forks still reference it." };
    const mismatch = (what: string): CreateResult => ({ kind: "conflict", message: `A stream already exists at this path with a different ${what}.` });
    if (input.fork) {
      if (row.forkedFromPath !== input.fork.fromPath) return mismatch("fork source");
      if (input.fork.offset !== undefined && parseOffset(input.fork.offset) !== parseOffset(row.forkOffset ?? "")) return mismatch("fork offset");
      if (input.fork.subOffset !== row.forkSubOffset) return mismatch("fork sub-offset");
      if (input.contentType !== undefined && mediaType(input.contentType) !== mediaType(row.contentType)) return mismatch("content type");
    } else {
      if (row.forkedFromPath !== null) return mismatch("configuration (it is a fork)");
      if (mediaType(input.contentType ?? "application/octet-stream") !== mediaType(row.contentType)) return mismatch("content type");
      if ((input.ttlSeconds ?? null) !== row.ttlSeconds) return mismatch("Stream-TTL");
      if ((input.expiresAt?.raw ?? null) !== row.expiresAtRaw) return mismatch("Stream-Expires-At");
    }
    if (input.closed !== row.closed) return mismatch("closed state");
    return { kind: "exists", row };
  }

  async #appendInitial(tx: Tx, row: StreamRow, initial: { data: Uint8Array; count: number }) {
    row.tailPos += initial.data.byteLength;
    await tx`insert into stream_messages (stream_id, pos, data, count) values (${row.id}, ${row.tailPos}, ${initial.data}, ${initial.count})`;
    await tx`update streams set tail_pos = ${row.tailPos} where id = ${row.id}`;
  }

  /**
   * Copy-on-fork: the fork gets its own copy of the source's messages up to the fork offset, with the
   * same offsets. The fork stays readable whatever happens to its source later; `ref_count` on the
   * source keeps the protocol's soft-delete semantics.
   */
  async #createFork(tx: Tx, input: CreateInput, fork: NonNullable<CreateInput["fork"]>): Promise<CreateResult> {
    const sources = await tx.unsafe<StreamRow[]>(`select ${STREAM_COLUMNS} from streams where path = $1 for update`, [fork.fromPath]);
    const source = sources[0];
    if (!source) return { kind: "source_missing" };
    if (source.state === "soft_deleted") return { kind: "source_gone" };
    if (isExpired(source)) {
      // Reclaim happens outside this transaction; for this request the source is simply not there.
      queueMicrotask(() => void this.reclaim(fork.fromPath));
      return source.refCount > 0 ? { kind: "source_gone" } : { kind: "source_missing" };
    }
    if (input.contentType !== undefined && mediaType(input.contentType) !== mediaType(source.contentType)) {
      return { kind: "conflict", message: "A fork must have its source's content type." };
    }
    const forkPos = fork.offset === undefined ? source.tailPos : parseOffset(fork.offset)!;
    if (forkPos > source.tailPos) return { kind: "bad_request", message: "Stream-Fork-Offset is beyond the source stream's tail." };

    let prefix: { data: Uint8Array; count: number } | undefined;
    if (fork.subOffset > 0) {
      const next = await tx<StoredMessage[]>`select pos, data, count from stream_messages where stream_id = ${source.id} and pos > ${forkPos} order by pos limit 1`;
      const message = next[0];
      if (!message) return { kind: "bad_request", message: "Stream-Fork-Sub-Offset needs an append after the fork offset." };
      if (isJsonType(source.contentType)) {
        if (fork.subOffset > message.count) return { kind: "bad_request", message: `Stream-Fork-Sub-Offset ${fork.subOffset} is past the ${message.count} values of that append.` };
        prefix = { data: encodeJsonValues(decodeJsonValues(message.data).slice(0, fork.subOffset)), count: fork.subOffset };
      } else {
        if (fork.subOffset > message.data.byteLength) return { kind: "bad_request", message: `Stream-Fork-Sub-Offset ${fork.subOffset} is past the ${message.data.byteLength} bytes of that append.` };
        prefix = { data: message.data.slice(0, fork.subOffset), count: 1 };
      }
    }

    const ttlSeconds = input.ttlSeconds ?? (input.expiresAt ? null : source.ttlSeconds);
    const expiresAt = input.expiresAt ?? (input.ttlSeconds !== undefined ? undefined : source.expiresAtMs !== null ? { date: new Date(source.expiresAtMs), raw: source.expiresAtRaw! } : undefined);
    const now = Date.now();
    const rows = await tx.unsafe<StreamRow[]>(
      `insert into streams (path, content_type, ttl_seconds, expires_at, expires_at_raw, last_access_ms, closed, tail_pos,
         forked_from_id, forked_from_path, fork_offset, fork_sub_offset, team_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning ${STREAM_COLUMNS}`,
      [input.path, source.contentType, ttlSeconds, expiresAt?.date.toISOString() ?? null, expiresAt?.raw ?? null, now, input.closed, forkPos,
       source.id, source.path, formatOffset(forkPos), fork.subOffset, input.teamId ?? null],
    );
    const row = rows[0]!;
    await tx`insert into stream_messages (stream_id, pos, data, count)
             select ${row.id}, pos, data, count from stream_messages where stream_id = ${source.id} and pos <= ${forkPos}`;
    await tx`update streams set ref_count = ref_count + 1 where id = ${source.id}`;
    if (prefix) await this.#appendInitial(tx, row, prefix);
    if (input.initial && input.initial.data.byteLength > 0) await this.#appendInitial(tx, row, input.initial);
    return { kind: "created", row };
  }

  /** DELETE: removes the stream, or soft-deletes it while forks reference it. */
  async delete(path: string): Promise<DeleteResult> {
    const row = await this.get(path);
    if (!row) return { kind: "missing" };
    if (row.state === "soft_deleted") return { kind: "gone" };
    if (isExpired(row)) {
      const outcome = await this.reclaim(path);
      return outcome === "soft_deleted" ? { kind: "gone" } : { kind: "missing" };
    }
    const removed: StreamChange[] = [];
    const paths: string[] = [];
    const outcome = await this.#sql.begin(async (tx) => {
      const locked = await tx.unsafe<StreamRow[]>(`select ${STREAM_COLUMNS} from streams where path = $1 for update`, [path]);
      const current = locked[0];
      if (!current) return "missing" as const;
      if (current.state === "soft_deleted") return "gone" as const;
      return this.#remove(tx, current, removed, paths);
    });
    await this.#notify(removed);
    for (const p of paths) this.onDelete(p);
    if (outcome === "missing") return { kind: "missing" };
    if (outcome === "gone") return { kind: "gone" };
    return { kind: outcome };
  }

  /**
   * Removes `row` inside `tx`: soft-delete while forks reference it, otherwise delete it and release
   * its source, cascading up a chain of soft-deleted sources.
   */
  async #remove(tx: Tx, row: StreamRow, removed: StreamChange[], paths: string[]): Promise<"deleted" | "soft_deleted"> {
    removed.push({ streamId: row.id, tailPos: row.tailPos, closed: row.closed, deleted: true });
    paths.push(row.path);
    if (row.refCount > 0) {
      await tx`update streams set state = 'soft_deleted' where id = ${row.id}`;
      return "soft_deleted";
    }
    await tx`delete from streams where id = ${row.id}`;
    let parentId = row.forkedFromId;
    while (parentId !== null) {
      const parents = await tx.unsafe<StreamRow[]>(`update streams set ref_count = ref_count - 1 where id = $1 returning ${STREAM_COLUMNS}`, [parentId]);
      const parent = parents[0];
      if (!parent || parent.refCount > 0 || parent.state !== "soft_deleted") break;
      await tx`delete from streams where id = ${parent.id}`;
      paths.push(parent.path);
      parentId = parent.forkedFromId;
    }
    return "deleted";
  }

  /** Reclaims `path` if it has expired; returns what happened. */
  async reclaim(path: string): Promise<"deleted" | "soft_deleted" | "kept"> {
    const removed: StreamChange[] = [];
    const paths: string[] = [];
    const outcome = await this.#sql.begin(async (tx) => {
      const locked = await tx.unsafe<StreamRow[]>(`select ${STREAM_COLUMNS} from streams where path = $1 for update`, [path]);
      const row = locked[0];
      if (!row || row.state !== "active" || !isExpired(row)) return "kept" as const;
      return this.#remove(tx, row, removed, paths);
    });
    await this.#notify(removed);
    for (const p of paths) this.onDelete(p);
    return outcome;
  }

  /** Reclaims every expired stream (the scheduled `streams-reclaim` job). Returns how many were reclaimed. */
  async reclaimExpired(limit = 1_000): Promise<number> {
    const now = Date.now();
    const candidates = await this.#sql<{ path: string }[]>`
      select path from streams
      where state = 'active'
        and ((expires_at is not null and expires_at <= to_timestamp(${now} / 1000.0))
          or (ttl_seconds is not null and last_access_ms + ttl_seconds * 1000 <= ${now}))
      limit ${limit}`;
    let count = 0;
    for (const { path } of candidates) {
      if ((await this.reclaim(path)) !== "kept") count++;
    }
    if (count > 0) this.#log.info("reclaimed expired streams", { count });
    return count;
  }

  /** The team owning the stream at `path`: undefined when there is none, null when it is nobody's. */
  async ownerOf(path: string): Promise<string | null | undefined> {
    const rows = await this.#sql<{ teamId: string | null }[]>`select team_id as "teamId" from streams where path = ${path}`;
    return rows.length === 0 ? undefined : rows[0]!.teamId;
  }

  /** Every live stream path (for subscriptions' back-fill). */
  async listPaths(prefix: string): Promise<string[]> {
    const rows = await this.#sql<{ path: string }[]>`select path from streams where state = 'active' and starts_with(path, ${prefix})`;
    return rows.map((r) => r.path);
  }

  /** Local readers wake at once; other processes through one NOTIFY. */
  async #notify(changes: StreamChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.#hub.publish(changes);
    await this.#sql`select pg_notify(${APPEND_CHANNEL}, ${this.#hub.encode(changes)})`;
  }
}
