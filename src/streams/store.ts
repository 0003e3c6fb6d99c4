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

/** StreamRow's fields and the SQL that reads each from `streams`. */
const STREAM_FIELDS: [field: keyof StreamRow, sql: string][] = [
  ["id", "id"], ["path", "path"], ["contentType", "content_type"], ["state", "state"], ["ttlSeconds", "ttl_seconds"],
  ["expiresAtMs", "(extract(epoch from expires_at) * 1000)::float8"], ["expiresAtRaw", "expires_at_raw"], ["lastAccessMs", "last_access_ms"],
  ["closed", "closed"], ["closedByProducer", "closed_by_producer"], ["closedByEpoch", "closed_by_epoch"], ["closedBySeq", "closed_by_seq"],
  ["tailPos", "tail_pos"], ["lastStreamSeq", "last_stream_seq"], ["forkedFromId", "forked_from_id"], ["forkedFromPath", "forked_from_path"],
  ["forkOffset", "fork_offset"], ["forkSubOffset", "fork_sub_offset"], ["refCount", "ref_count"],
];
export const STREAM_COLUMNS = STREAM_FIELDS.map(([field, sql]) => (field === sql ? sql : `${sql} as "${field}"`)).join(", ");
/** The same as one JSON object (ids, positions and epochs stay far below 2^53, so JSON numbers hold them). */
const STREAM_JSON = `json_build_object(${STREAM_FIELDS.map(([field, sql]) => `'${field}', ${sql}`).join(", ")})`;

/**
 * Messages read together with the row (see getWithRead): enough for a live reader's wake-up or a
 * short catch-up; the rest of a longer page is read on its own, which is cheaper per message.
 */
const ROW_READ_MESSAGES = 100;

/**
 * A stream's row, as JSON in the first result row, followed by its first messages after $2 up to
 * its tail (`row` null), from one snapshot: one round trip instead of a lookup and then a read.
 */
const ROW_WITH_MESSAGES_SQL = `
  select ${STREAM_JSON} as row, null::bigint as pos, null::bytea as data, null::int as count
  from streams where path = $1
  union all
  select null, m.pos, m.data, m.count
  from streams s cross join lateral (
    -- Limited inside the lateral, so it is an ordered walk of the primary key, however long the stream.
    select pos, data, count from stream_messages
    where stream_id = s.id and pos > $2 and pos <= s.tail_pos
    order by pos limit ${ROW_READ_MESSAGES}
  ) m
  where s.path = $1`;

/** A catch-up GET returns at most this many messages (READ_PAGE_BYTES still applies). */
export const CATCH_UP_PAGE_MESSAGES = 100_000;

/**
 * A catch-up page in one round trip, as one value: the stream's row (JSON), and its messages after
 * $2, up to the row's tail, at most $3 of them and $4 bytes (but at least one), concatenated by
 * Postgres in position order, with the last position and the message count. One result row,
 * however many messages: decoding thousands of rows costs more than the read itself. The
 * positions come from an ordered walk of the primary key from $2 (a seek, however long the stream).
 * (Summing the bytes with a window function instead took 40% of the query.)
 * A JSON stream's page comes as text (what we stored is UTF-8: checked or encoded by us, see parseJsonBody in http.ts): bytes travel
 * as hex, twice their size, and decoding that took longer than the query (10,000 appends: about
 * 50 ms as bytea, 30 as text, measured with postgres.js on the embedded cluster).
 */
const CATCH_UP_SQL = `
  select ${STREAM_JSON} as row, case when j.is_json then null else p.data end as data,
    case when j.is_json then convert_from(p.data, 'UTF8') end as text, p.last_pos as "lastPos", p.messages,
    exists(select 1 from stream_messages e where e.stream_id = s.id and e.pos = $2) as "atAppend"
  from streams s left join lateral (
    select string_agg(m.data, ''::bytea order by m.pos) as data, max(m.pos) as last_pos, count(*)::int as messages
    from (
      -- A position counts bytes, so "ends at most $4 bytes after $2" is a range of the primary key
      -- (no running sum, and the walk stops there); the first message always comes, however large.
      select pos, data from stream_messages
      where stream_id = s.id and pos > $2 and pos <= least(s.tail_pos, greatest($2::bigint + $4,
        (select min(f.pos) from stream_messages f where f.stream_id = s.id and f.pos > $2)))
      order by pos limit $3
    ) m
  ) p on true
  cross join lateral (select lower(trim(split_part(s.content_type, ';', 1))) = 'application/json' as is_json) j
  where s.path = $1`;

/** A catch-up page as one body: the messages' bytes back to back (see CATCH_UP_SQL). */
export interface CatchUpPage {
  /** The stored bytes of the page's messages, concatenated in order (empty for a JSON stream: see `text`). */
  data: Uint8Array;
  /** A JSON stream's page as text: its values, each followed by a comma (empty for other streams). */
  text: string;
  /** How many messages (appends) the page holds. */
  messages: number;
  /** An append ends exactly at the page's start (see StreamStore.isIssuedPosition). */
  atAppend: boolean;
  nextPos: number;
  upToDate: boolean;
}

/**
 * The read after `afterPos` that this process's own commits (`changes`, in the order the hub
 * delivered them) already hold, with `row` brought up to date: readers woken by a local append
 * need not read back from the table what was just written. Undefined when the changes do not
 * cover everything after `afterPos` (another process's NOTIFY, a deletion, a gap): read the table.
 */
export function readCommitted(row: StreamRow, afterPos: number, changes: StreamChange[]): { row: StreamRow; read: ReadResult } | undefined {
  if (changes.length === 0) return undefined;
  let cursor = afterPos;
  const messages: StoredMessage[] = [];
  for (const change of changes) {
    const committed = change.committed;
    if (!committed || change.deleted || change.streamId !== row.id || committed.afterPos > cursor) return undefined;
    for (const message of committed.messages) if (message.pos > cursor) messages.push(message);
    cursor = Math.max(cursor, change.tailPos);
  }
  const last = changes[changes.length - 1]!;
  const fresh = { ...row, tailPos: Math.max(row.tailPos, last.tailPos), closed: row.closed || last.closed };
  return { row: fresh, read: page(messages, Math.max(afterPos, fresh.tailPos)) };
}

/** At most READ_PAGE_BYTES (but at least one message) of `rows`, and where the reader goes next. */
function page(rows: StoredMessage[], tailPos: number): ReadResult {
  let bytes = 0;
  let end = rows.length;
  for (let i = 0; i < rows.length; i++) {
    bytes += rows[i]!.data.byteLength;
    if (bytes > READ_PAGE_BYTES && i > 0) {
      end = i;
      break;
    }
  }
  const messages = end === rows.length ? rows : rows.slice(0, end);
  const nextPos = messages.length > 0 ? messages[messages.length - 1]!.pos : tailPos;
  return { messages, nextPos, upToDate: nextPos >= tailPos };
}

/** The media type without parameters, lower-cased: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string | null | undefined): string {
  const raw = contentType ?? "";
  let type = MEDIA_TYPES.get(raw);
  if (type === undefined) {
    type = raw.split(";")[0]!.trim().toLowerCase();
    // Checked several times per append, with a handful of distinct values: remember a bounded few.
    if (MEDIA_TYPES.size >= MAX_REMEMBERED_MEDIA_TYPES) MEDIA_TYPES.clear();
    MEDIA_TYPES.set(raw, type);
  }
  return type;
}
const MAX_REMEMBERED_MEDIA_TYPES = 256;
const MEDIA_TYPES = new Map<string, string>();

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
  return Buffer.from(text);
}

/** Decodes one stored JSON append back into its values. */
export function decodeJsonValues(data: Uint8Array): unknown[] {
  const text = decoder.decode(data);
  return JSON.parse(`[${text.slice(0, -1)}]`);
}

const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * The JSON array for a run of stored JSON appends, as bytes: each append is stored as its values
 * each followed by a comma, so the array is `[`, the appends back to back, and the last comma
 * turned into `]`. No decoding or re-encoding.
 */
export function jsonArrayBytes(messages: StoredMessage[]): Uint8Array {
  let total = 1;
  for (const message of messages) total += message.data.byteLength;
  if (total === 1) return Buffer.from("[]");
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x5b; // [
  let at = 1;
  for (const message of messages) {
    out.set(message.data, at);
    at += message.data.byteLength;
  }
  out[total - 1] = 0x5d; // ] in place of the last comma
  return out;
}

/** The JSON array text for a run of stored JSON appends. */
export function jsonArrayText(messages: StoredMessage[]): string {
  return decoder.decode(jsonArrayBytes(messages));
}

/** A live stream's row (with `read` when the lookup read messages too), or why there is none. */
export type Lookup = { kind: "ok"; row: StreamRow; read?: ReadResult } | { kind: "missing" } | { kind: "gone" };

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
  /** Reads in flight that later identical reads join (see getAfter and read). */
  #sharedRows = new Map<string, Promise<StreamRow | undefined>>();
  #sharedReads = new Map<string, Promise<ReadResult>>();
  #sharedRowReads = new Map<string, Promise<{ row: StreamRow; read: ReadResult } | undefined>>();
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

  /**
   * `get`, for readers woken by a change: `version` is the stream's hub version they saw (see
   * StreamHub.version). Readers with the same version share one query: it was started after that
   * change was delivered, so it sees it. When many readers of one stream wake together (SSE
   * fan-out, long-polls) that is one query instead of one each. Each caller gets its own copy.
   */
  async getAfter(path: string, version: number | undefined): Promise<StreamRow | undefined> {
    if (version === undefined) return this.get(path);
    const key = `${version}\u0000${path}`;
    let pending = this.#sharedRows.get(key);
    if (!pending) {
      pending = this.get(path).finally(() => this.#sharedRows.delete(key));
      this.#sharedRows.set(key, pending);
    }
    const row = await pending;
    return row && { ...row };
  }

  /** The live stream at `path`: expired streams are reclaimed on sight and answer missing (or gone while forks remain). */
  async lookup(path: string): Promise<Lookup> {
    const row = await this.get(path);
    const refused = await this.#refuse(path, row);
    return refused ?? { kind: "ok", row: row! };
  }

  /**
   * `lookup`, and a catch-up page after `afterPos` as one body, in the same round trip (see
   * CATCH_UP_SQL): for plain catch-up GETs, which need the bytes, not the messages one by one.
   */
  async lookupWithPage(path: string, afterPos: number): Promise<{ kind: "ok"; row: StreamRow; page: CatchUpPage } | { kind: "missing" } | { kind: "gone" }> {
    const [found] = await this.#sql.unsafe<{ row: StreamRow; data: Uint8Array | null; text: string | null; lastPos: number | null; messages: number | null; atAppend: boolean }[]>(
      CATCH_UP_SQL, [path, afterPos, CATCH_UP_PAGE_MESSAGES, READ_PAGE_BYTES], { prepare: true });
    const refused = await this.#refuse(path, found?.row);
    if (refused) return refused;
    const { row, data, text, lastPos, messages, atAppend } = found!;
    const nextPos = lastPos ?? row.tailPos;
    return { kind: "ok", row, page: { data: data ?? EMPTY, text: text ?? "", messages: messages ?? 0, atAppend, nextPos, upToDate: nextPos >= row.tailPos } };
  }

  /** Why `row` cannot be used: missing, or gone (soft-deleted); an expired one is reclaimed on sight. */
  async #refuse(path: string, row: StreamRow | undefined): Promise<{ kind: "missing" } | { kind: "gone" } | undefined> {
    if (!row) return { kind: "missing" };
    if (row.state === "soft_deleted") return { kind: "gone" };
    if (isExpired(row)) {
      const outcome = await this.reclaim(path);
      return outcome === "soft_deleted" ? { kind: "gone" } : { kind: "missing" };
    }
    return undefined;
  }

  /** Restarts the sliding TTL window (only streams with a TTL have one). */
  async touch(row: StreamRow): Promise<void> {
    if (row.ttlSeconds === null) return;
    const now = Date.now();
    row.lastAccessMs = now;
    await this.#sql`update streams set last_access_ms = greatest(last_access_ms, ${now}) where id = ${row.id}`;
  }

  /**
   * True when `pos` is a position this server issues offsets for in `row`: the start, the fork
   * point, the end of one of its appends, or (treated as the tail) anything past the tail. A position
   * inside an append was never issued: reading from it would split an append (docs/protocol.md).
   */
  async isIssuedPosition(row: StreamRow, pos: number, page?: CatchUpPage): Promise<boolean> {
    if (pos === 0 || pos >= row.tailPos) return true;
    // A catch-up page read from `pos` has already looked.
    if (page?.atAppend) return true;
    if (row.forkOffset !== null && parseOffset(row.forkOffset) === pos) return true;
    const found = await this.#sql.unsafe("select 1 from stream_messages where stream_id = $1 and pos = $2", [row.id, pos], { prepare: true });
    return found.length > 0;
  }

  /**
   * Messages after `afterPos` up to the tail of `row` (the snapshot the caller read), paged.
   * Computing next-offset from the same snapshot as the data means a reader can never skip data.
   */
  async read(row: StreamRow, afterPos: number): Promise<ReadResult> {
    if (afterPos >= row.tailPos) return { messages: [], nextPos: row.tailPos, upToDate: true };
    // Messages up to a committed tail never change: concurrent reads of the same range share one
    // query (readers woken together by an append all ask for the same range). Callers must not
    // modify what they get.
    const key = `${row.id}:${afterPos}:${row.tailPos}`;
    let pending = this.#sharedReads.get(key);
    if (!pending) {
      pending = this.#read(row, afterPos).finally(() => this.#sharedReads.delete(key));
      this.#sharedReads.set(key, pending);
    }
    return pending;
  }

  async #read(row: StreamRow, afterPos: number): Promise<ReadResult> {
    return page(await this.#messages(row, afterPos, READ_PAGE_MESSAGES), row.tailPos);
  }

  /** Up to `limit` messages after `afterPos`, up to the tail of `row`. */
  #messages(row: StreamRow, afterPos: number, limit: number): Promise<StoredMessage[]> {
    return this.#sql.unsafe<StoredMessage[]>(
      "select pos, data, count from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit $4",
      [row.id, afterPos, row.tailPos, limit],
      { prepare: true },
    );
  }

  /**
   * `get` and `read(row, afterPos)` in one statement: one round trip, and the row and the messages
   * from one snapshot. For readers woken by a change, pass the hub `version` they saw: readers with
   * the same version and position share one query (see getAfter).
   */
  async getWithRead(path: string, afterPos: number, version?: number): Promise<{ row: StreamRow; read: ReadResult } | undefined> {
    if (version === undefined) return this.#getWithRead(path, afterPos);
    const key = `${version}\u0000${afterPos}\u0000${path}`;
    let pending = this.#sharedRowReads.get(key);
    if (!pending) {
      pending = this.#getWithRead(path, afterPos).finally(() => this.#sharedRowReads.delete(key));
      this.#sharedRowReads.set(key, pending);
    }
    const found = await pending;
    return found && { row: { ...found.row }, read: found.read };
  }

  async #getWithRead(path: string, afterPos: number): Promise<{ row: StreamRow; read: ReadResult } | undefined> {
    const rows = await this.#sql.unsafe<({ row: StreamRow } & StoredMessage)[]>(ROW_WITH_MESSAGES_SQL, [path, afterPos], { prepare: true });
    let row: StreamRow | undefined;
    const messages: StoredMessage[] = [];
    for (const r of rows) {
      if (r.row) row = r.row;
      else messages.push({ pos: r.pos, data: r.data, count: r.count });
    }
    if (!row) return undefined;
    // UNION ALL keeps each branch's order in practice, but SQL does not promise it.
    for (let i = 1; i < messages.length; i++) {
      if (messages[i]!.pos < messages[i - 1]!.pos) {
        messages.sort((a, b) => a.pos - b.pos);
        break;
      }
    }
    // More than a short read: the rest of the page on its own, up to the same snapshot's tail.
    const last = messages[messages.length - 1];
    if (messages.length === ROW_READ_MESSAGES && last!.pos < row.tailPos) messages.push(...(await this.#messages(row, last!.pos, READ_PAGE_MESSAGES - ROW_READ_MESSAGES)));
    return { row, read: page(messages, row.tailPos) };
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
