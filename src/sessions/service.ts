import { randomBytes } from "node:crypto";
import type { Sql } from "postgres";
import type { PgBoss } from "pg-boss";
import type { Logger } from "../infra/log";
import type { StreamStore, StreamRow, StoredMessage } from "../streams/store";
import { decodeJsonValues } from "../streams/store";
import { jsonAppend } from "../streams/json-append";
import type { AppendWriter } from "../streams/writer";
import { eventOffset, formatOffset, parseOffset, parseResumeOffset } from "../streams/offsets";
import { QUEUES, RUN_QUEUED_CHANNEL } from "../../jobs/queues";
import type { RunOptions } from "../agents/options";
import { teamFilter, type TeamScope } from "../accounts/scope";
import { COMPACTOR_FORMAT, Compactor, type CompactedMessage, type SessionEvent } from "./events";
import { uiStreamPath } from "./ui-chunks";

export const SESSION_STREAM_PREFIX = "/v1/stream/sessions/";
/** Appends read per page while compacting a session. */
const COMPACT_PAGE_ROWS = 10_000;
/**
 * A page of a session's appends for compaction, concatenated by Postgres into one text value (the
 * stored bytes are UTF-8 JSON we encoded, each value followed by a comma), with its last position
 * and count: one result row per page, since decoding a row per append cost more than the folding.
 */
const COMPACT_PAGE_SQL = `
  select convert_from(string_agg(m.data, ''::bytea order by m.pos), 'UTF8') as text, max(m.pos) as "lastPos", count(*)::int as appends
  from (select pos, data from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit $4) m`;

/**
 * Sessions whose compacted state a process keeps, so compacting one again folds only the appends
 * since (the log is append-only: what was folded stays true), least recently used dropped first…
 */
const COMPACT_CACHE_SESSIONS = 32;
/**
 * …and the kept states' size at most, in characters, a rough bound on their memory (a larger state
 * is not kept). A state's size is its saved text when it was last stored or read as a checkpoint,
 * plus the event text folded in since (before any checkpoint: all the event text folded in).
 */
const COMPACT_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * A compaction stores its state as a checkpoint (session_checkpoints) once it has folded at least
 * this much event text, in characters, since the session's last checkpoint, and at least as much as
 * that checkpoint's own size: a write then costs no more than the folding it saves, and a session
 * smaller than this (tens of ms to fold) is never stored.
 */
const CHECKPOINT_AFTER_CHARS = 4 * 1024 * 1024;
/** A saved state longer than this (characters of JSON) is not stored: the session is folded from its last checkpoint or its start instead. */
const CHECKPOINT_MAX_CHARS = 128 * 1024 * 1024;
/** Checkpoint writes a process has under way at most (beyond it a due checkpoint waits for the session's next compaction). */
const CHECKPOINT_WRITES_AT_ONCE = 2;

interface KeptCompaction {
  /** Every append up to here is folded in. */
  pos: number;
  compactor: Compactor;
  /** Its size (see COMPACT_CACHE_BYTES). */
  bytes: number;
  /** Event text folded in since the checkpoint it started from or last stored (all of it if none). */
  sinceCheckpoint: number;
  /** That checkpoint's size (0: none). */
  checkpointChars: number;
}

const emptyCompaction = (): KeptCompaction => ({ pos: 0, compactor: new Compactor(), bytes: 0, sinceCheckpoint: 0, checkpointChars: 0 });

/** A compaction's result, and its state when a checkpoint of it is due. */
interface Folded {
  result: { messages: CompactedMessage[]; offset: string; pos: number };
  checkpoint?: KeptCompaction;
}

/** Events returned by one page of `GET /api/sessions/:id/events` at most. */
export const MAX_EVENTS_PAGE = 1_000;

export interface SessionRecord {
  id: string;
  teamId: string | null;
  title: string | null;
  /** The agent a plain user message starts a turn with, if any. */
  agent: string | null;
  /** What a user message does while a turn runs (see turns.ts). */
  doubleTexting: "enqueue" | "interrupt" | "reject" | "parallel";
  /** For a branch: the root of its conversation tree and the session it was forked from. */
  rootId: string | null;
  parentId: string | null;
  /** On a root: the branch its clients follow (null: the root itself). */
  currentBranch: string | null;
  createdAt: Date;
}

const SESSION_COLUMNS = `id, team_id as "teamId", title, agent, double_texting as "doubleTexting", root_id as "rootId", parent_id as "parentId", current_branch as "currentBranch", created_at as "createdAt"`;

export interface RunRecord {
  runId: string;
  agent: string;
  status: string;
  clientId: string | null;
  parentRunId: string | null;
}

/** One event with the offset of the append that carried it. */
export interface OffsetEvent {
  offset: string;
  pos: number;
  event: SessionEvent;
}

export type AppendEventResult = { ok: true; offset: string; duplicate: boolean } | { ok: false; code: "session_not_found" | "session_closed" };

/**
 * A run writes as the idempotent producer `run:<runId>` with epoch = its attempt. A cancel naming
 * the run is appended as that producer at this epoch (sequence 0), so any later write of the
 * running attempt is refused (stale epoch) instead of landing after the cancel; the run then closes
 * its message and itself at this epoch. Attempts never get near it.
 */
export const CANCEL_FENCE_EPOCH = 1_000_000_000;

export function runProducerId(runId: string): string {
  return `run:${runId}`;
}

/**
 * What every run.end key starts with: the key is this followed by the run id, and nothing else
 * (SQL that looks for a run's run.end builds the key from it, see turns.ts #turnRows).
 */
export const RUN_END_KEY_PREFIX = "run.end:";

/**
 * The idempotency key of a run's `run.end` in its session: every path that appends it (the run
 * itself, the recovery of a run whose process died while ending it, an interrupt of a turn that
 * never started) uses it, so a session holds exactly one `run.end` per run.
 */
export function runEndKey(runId: string): string {
  return RUN_END_KEY_PREFIX + runId;
}

/** A new id with a readable prefix: `ses_…`, `run_…`, `msg_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString("base64url")}`;
}

export function sessionStreamPath(sessionId: string): string {
  return SESSION_STREAM_PREFIX + sessionId;
}

/**
 * Splits stored appends into events, each with its own resumable offset (see `eventOffset`): the
 * last event of an append has the append's offset, the others sort between it and the previous one.
 */
export function toOffsetEvents(messages: StoredMessage[]): OffsetEvent[] {
  const events: OffsetEvent[] = [];
  for (const message of messages) {
    const values = decodeJsonValues(message.data);
    values.forEach((value, index) => events.push({ offset: eventOffset(message.pos, index, values.length), pos: message.pos, event: value as SessionEvent }));
  }
  return events;
}

/** Drops the events a resume offset inside an append has already covered. */
export function afterWithin(events: OffsetEvent[], within: { pos: number; offset: string } | undefined): OffsetEvent[] {
  return within ? events.filter((e) => e.pos !== within.pos || e.offset > within.offset) : events;
}

/**
 * Sessions: a durable, shared, ordered event log (a JSON-mode stream) with runs and presence on top.
 * Domain functions return values; the HTTP and WebSocket edges turn failures into errors.
 */
export class SessionService {
  #sql: Sql;
  #store: StreamStore;
  #writer: AppendWriter;
  #boss: PgBoss;
  #log: Logger;
  /** Compacted states by stream id, least recently used first (see COMPACT_CACHE_SESSIONS). */
  #kept = new Map<number, KeptCompaction>();
  #keptBytes = 0;
  /** The compaction under way per stream: the next waits for it, so a kept state is never folded into twice at once. */
  #compacting = new Map<number, Promise<unknown>>();
  /** Checkpoint writes under way, by stream id. */
  #checkpointWrites = new Map<number, Promise<void>>();
  #checkpointAfterChars: number;
  /** Set by the agent runtime: nudges a local worker when a run is queued. */
  onRunQueued: (runId: string) => void = () => {};

  constructor(options: { sql: Sql; store: StreamStore; writer: AppendWriter; boss: PgBoss; log: Logger; checkpointAfterChars?: number }) {
    this.#checkpointAfterChars = options.checkpointAfterChars ?? CHECKPOINT_AFTER_CHARS;
    this.#sql = options.sql;
    this.#store = options.store;
    this.#writer = options.writer;
    this.#boss = options.boss;
    this.#log = options.log;
  }

  async create(input: {
    title?: string;
    teamId: string | null;
    /** A default agent: a plain user message then starts a turn with it. */
    agent?: string;
    provider?: string;
    options?: Record<string, unknown>;
    doubleTexting?: SessionRecord["doubleTexting"];
    /** A branch: its stream forks this session's stream at `offset` (copy-on-fork). */
    branch?: { parentId: string; rootId: string; fromMessageId: string; offset: string };
    /** Not a conversation branch, a copy: its stream forks this session's stream at its tail (email variants). */
    copyOf?: string;
  }): Promise<SessionRecord> {
    const id = newId("ses");
    const defaults = input.provider || input.options ? JSON.stringify({ ...(input.provider ? { provider: input.provider } : {}), ...(input.options ? { options: input.options } : {}) }) : null;
    const [record] = await this.#sql<SessionRecord[]>`
      insert into sessions (id, team_id, title, agent, run_defaults, double_texting, parent_id, root_id, branch_from)
      values (${id}, ${input.teamId}, ${input.title ?? null}, ${input.agent ?? null}, ${defaults}, ${input.doubleTexting ?? "parallel"},
        ${input.branch?.parentId ?? null}, ${input.branch?.rootId ?? null}, ${input.branch?.fromMessageId ?? null})
      returning ${this.#sql.unsafe(SESSION_COLUMNS)}`;
    const created = await this.#store.create({ path: sessionStreamPath(id), contentType: "application/json", ttlSeconds: undefined, expiresAt: undefined, closed: false, initial: undefined, ...(input.branch ? { fork: { fromPath: sessionStreamPath(input.branch.parentId), offset: input.branch.offset, subOffset: 0 } } : input.copyOf ? { fork: { fromPath: sessionStreamPath(input.copyOf), offset: undefined, subOffset: 0 } } : {}) });
    if (created.kind !== "created") throw new Error(`session stream could not be created: ${created.kind}`);
    return record!;
  }

  /** The session if it exists and `teamId` may see it (`undefined` team = any, for the bootstrap admin). */
  /**
   * The session if it is inside `scope` (the team gate: another team's session is simply not found).
   * Every caller that starts from a session id a person or token sent goes through here first.
   */
  async get(id: string, scope: TeamScope): Promise<SessionRecord | undefined> {
    const [record] = await this.#sql<SessionRecord[]>`select ${this.#sql.unsafe(SESSION_COLUMNS)} from sessions where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return record;
  }

  /**
   * Whether a client token issued for session `tokenSessionId` may use `session`: its own session,
   * or another session of the same conversation tree (a branch of it, its root, a sibling branch).
   */
  async sameConversation(tokenSessionId: string, session: SessionRecord): Promise<boolean> {
    if (tokenSessionId === session.id) return true;
    const root = session.rootId ?? session.id;
    if (tokenSessionId === root) return true;
    const [own] = await this.#sql<{ rootId: string | null }[]>`select root_id as "rootId" from sessions where id = ${tokenSessionId}`;
    return own?.rootId === root;
  }

  /**
   * For a session of a branched conversation: its root, and the branch its clients follow (the last
   * `branch.switched`); undefined for a session that has no branches and is none.
   */
  async followed(session: SessionRecord): Promise<{ rootId: string; current: string } | undefined> {
    if (session.rootId) {
      const [root] = await this.#sql<{ currentBranch: string | null }[]>`select current_branch as "currentBranch" from sessions where id = ${session.rootId}`;
      return { rootId: session.rootId, current: root?.currentBranch ?? session.rootId };
    }
    if (session.currentBranch) return { rootId: session.id, current: session.currentBranch };
    const [branch] = await this.#sql`select 1 from sessions where root_id = ${session.id} limit 1`;
    return branch ? { rootId: session.id, current: session.id } : undefined;
  }

  /** The scope's sessions, newest first. */
  async list(scope: TeamScope, limit = 100): Promise<SessionRecord[]> {
    return this.#sql<SessionRecord[]>`select ${this.#sql.unsafe(SESSION_COLUMNS)} from sessions where ${teamFilter(this.#sql, scope)} order by created_at desc limit ${limit}`;
  }

  /** The client that started run `runId` of `sessionId` (null: a backend's run), or undefined when it is not this session's run. */
  async runClient(sessionId: string, runId: string): Promise<string | null | undefined> {
    const [row] = await this.#sql<{ clientId: string | null }[]>`select client_id as "clientId" from runs where id = ${runId} and session_id = ${sessionId}`;
    return row ? row.clientId : undefined;
  }

  async stream(sessionId: string): Promise<StreamRow | undefined> {
    const found = await this.#store.lookup(sessionStreamPath(sessionId));
    return found.kind === "ok" ? found.row : undefined;
  }

  async runs(sessionId: string): Promise<RunRecord[]> {
    return this.#sql<RunRecord[]>`
      select id as "runId", agent, status, client_id as "clientId", parent_run_id as "parentRunId"
      from runs where session_id = ${sessionId} order by created_at`;
  }

  /** Appends one validated event; `dedupeKey` makes it idempotent (a retry appends nothing and returns the first offset). */
  async append(sessionId: string, event: SessionEvent, dedupeKey?: string): Promise<AppendEventResult> {
    // A cancel that names a run fences that run's producer (see CANCEL_FENCE_EPOCH): nothing the run
    // sends after this append can land behind it, except its own closing message.end and run.end.
    const producer = event.type === "control" && event.action === "cancel" && event.runId ? { id: runProducerId(event.runId), epoch: CANCEL_FENCE_EPOCH, seq: 0 } : undefined;
    // The other runs it cancels (by scope, or as descendants of the run it names) are fenced in the
    // same commit, so no delta of theirs lands after it either.
    const fences = event.type === "control" && event.action === "cancel" ? { producerIds: (await this.cancelledBy(sessionId, event)).map(runProducerId), epoch: CANCEL_FENCE_EPOCH } : undefined;
    const result = await this.#writer.append(jsonAppend(sessionStreamPath(sessionId), [event], { dedupeKey, producer, fences }));
    if (event.type === "control" && event.action === "cancel" && (result.kind === "appended" || result.kind === "duplicate")) {
      // Suspended runs hold no worker to see the cancel: queue them, and each finds it when it starts.
      const suspended = await this.#sql<{ id: string }[]>`select id from runs where session_id = ${sessionId} and status = 'suspended'`;
      for (const run of suspended) await this.wake(run.id);
    }
    switch (result.kind) {
      case "appended":
        return { ok: true, offset: formatOffset(result.tailPos), duplicate: false };
      case "duplicate":
        // The run was cancelled before: this cancel changes nothing, and is not stored again.
        return { ok: true, offset: formatOffset(result.tailPos), duplicate: true };
      case "duplicate_key":
        return { ok: true, offset: formatOffset(result.pos), duplicate: true };
      case "closed":
        return { ok: false, code: "session_closed" };
      default:
        return { ok: false, code: "session_not_found" };
    }
  }

  /**
   * The unfinished runs of a session that a cancel applies to, besides the run it names: the same
   * rule as `RunContext.appliesTo` — a run and its descendants (`runId`), the runs the event's client
   * started (`scope: "own"`), or every run (no run named, any other scope).
   */
  async cancelledBy(sessionId: string, event: { runId?: string; scope?: string; clientId?: string }): Promise<string[]> {
    const active = await this.#sql<{ id: string; clientId: string | null; parentRunId: string | null }[]>`
      select id, client_id as "clientId", parent_run_id as "parentRunId" from runs
      where session_id = ${sessionId} and status in ('waiting', 'queued', 'running', 'retrying', 'suspended')`;
    if (event.runId) {
      // Descendants: runs whose parent chain reaches the named run (parents may have ended already).
      const parents = new Map((await this.#sql<{ id: string; parentRunId: string | null }[]>`
        select id, parent_run_id as "parentRunId" from runs where session_id = ${sessionId} and parent_run_id is not null`).map((r) => [r.id, r.parentRunId]));
      const descends = (id: string) => {
        for (let at = parents.get(id), depth = 0; at && depth < 20; at = parents.get(at), depth++) if (at === event.runId) return true;
        return false;
      };
      return active.filter((run) => run.id !== event.runId && descends(run.id)).map((run) => run.id);
    }
    if (event.scope === "own") return event.clientId === undefined ? [] : active.filter((run) => run.clientId === event.clientId).map((run) => run.id);
    return active.map((run) => run.id);
  }

  /**
   * Where a read from `offset` resumes in the session's stream (`-1` = the start, `now` = the tail,
   * an append's offset, or an event offset inside an append; past the tail = the tail), or undefined
   * for an offset this server never issued for this stream (malformed, or naming a position inside
   * an append that is no append's end).
   */
  async resumePoint(row: StreamRow, offset: string): Promise<ReturnType<typeof parseResumeOffset>> {
    const resume = parseResumeOffset(offset, row.tailPos);
    if (!resume || offset === "-1" || offset === "now") return resume;
    const appendEnd = resume.within ? resume.within.pos : resume.afterPos;
    return (await this.#store.isIssuedPosition(row, appendEnd)) ? resume : undefined;
  }

  /**
   * A page of events after `offset` (`-1` = from the start, `now` = the tail).
   * Returns undefined for an offset that is not one of ours.
   */
  async events(row: StreamRow, offset: string, limit: number): Promise<{ events: OffsetEvent[]; nextOffset: string; upToDate: boolean } | undefined> {
    const resume = await this.resumePoint(row, offset);
    if (!resume) return undefined;
    const afterPos = resume.afterPos;
    const rows = await this.#sql<StoredMessage[]>`
      select pos, data, count from stream_messages
      where stream_id = ${row.id} and pos > ${afterPos} and pos <= ${row.tailPos} order by pos limit ${limit}`;
    const events = afterWithin(toOffsetEvents(rows), resume.within);
    const nextPos = rows.length > 0 ? rows[rows.length - 1]!.pos : Math.min(afterPos, row.tailPos);
    return { events, nextOffset: formatOffset(nextPos), upToDate: nextPos >= row.tailPos };
  }

  /** The last sequence number the producer wrote at `epoch` in a session (-1: none). */
  async producerSeq(sessionId: string, producerId: string, epoch: number): Promise<number> {
    const [row] = await this.#sql<{ lastSeq: number }[]>`
      select p.last_seq as "lastSeq" from stream_producers p join streams s on s.id = p.stream_id
      where s.path = ${sessionStreamPath(sessionId)} and p.producer_id = ${producerId} and p.epoch = ${epoch}`;
    return row ? Number(row.lastSeq) : -1;
  }

  /** Stored appends of a stream with `afterPos < pos <= uptoPos`, in order (the socket layer's reads). */
  async page(streamId: number, afterPos: number, uptoPos: number, limit: number): Promise<StoredMessage[]> {
    return this.#sql.unsafe<StoredMessage[]>(
      "select pos, data, count from stream_messages where stream_id = $1 and pos > $2 and pos <= $3 order by pos limit $4",
      [streamId, afterPos, Math.min(uptoPos, Number.MAX_SAFE_INTEGER), limit],
      { prepare: true },
    );
  }

  /**
   * The session folded into whole messages, and the offset they reflect (subscribe from it to go live):
   * from the state this process kept, else the session's newest stored checkpoint, else its first event.
   */
  async compacted(row: StreamRow): Promise<{ messages: CompactedMessage[]; offset: string; pos: number }> {
    const run = (this.#compacting.get(row.id) ?? Promise.resolve()).catch(() => {}).then(() => this.#compact(row));
    // A due checkpoint is saved before the next compaction of the stream may fold into the state again.
    const done = run.then((folded) => (folded.checkpoint ? this.#checkpoint(row.id, folded.checkpoint) : undefined)).catch(() => {});
    this.#compacting.set(row.id, done);
    void done.then(() => {
      if (this.#compacting.get(row.id) === done) this.#compacting.delete(row.id);
    });
    return (await run).result;
  }

  /** Whether a compaction or a checkpoint write is under way (one that checkpointsWritten would wait for). */
  get checkpointsPending(): boolean {
    return this.#compacting.size > 0 || this.#checkpointWrites.size > 0;
  }

  /** Waits for the compactions and the checkpoint writes under way (tests; shutdown, before the database closes). */
  async checkpointsWritten(): Promise<void> {
    await Promise.all([...this.#compacting.values()]);
    await Promise.all([...this.#checkpointWrites.values()]);
  }

  /** Folds the appends after the kept state (or a checkpoint, or all of them) up to `row.tailPos`, and keeps the result. */
  async #compact(row: StreamRow): Promise<Folded> {
    let kept = this.#kept.get(row.id);
    if (kept) {
      // Taken out while folding: a failed read must not leave a half-advanced state behind.
      this.#kept.delete(row.id);
      this.#keptBytes -= kept.bytes;
      // A caller holding an older view of the stream than the kept state: fold from the start, keep the state.
      if (kept.pos > row.tailPos) {
        this.#keep(row.id, kept);
        return { result: await this.#fold(row, emptyCompaction()) };
      }
    }
    const state = kept ?? (await this.#stored(row)) ?? emptyCompaction();
    const result = await this.#fold(row, state);
    this.#keep(row.id, state);
    const due = state.sinceCheckpoint >= Math.max(this.#checkpointAfterChars, state.checkpointChars);
    return { result, ...(due ? { checkpoint: state } : {}) };
  }

  /**
   * The newest stored checkpoint of the stream at or before `row.tailPos`, of this COMPACTOR_FORMAT.
   * A branch (a fork) starts with a copy of its parent's appends up to the fork position, at the same
   * positions: until it has a checkpoint of its own, its parent's from within that prefix serves.
   */
  async #stored(row: StreamRow): Promise<KeptCompaction | undefined> {
    const forkPos = row.forkedFromId !== null && row.forkSubOffset === 0 && row.forkOffset !== null ? parseOffset(row.forkOffset) : undefined;
    const [found] = await this.#sql.unsafe<Array<{ pos: string; state: string }>>(
      `select pos::text, state from session_checkpoints
       where format = $1 and pos <= $2 and (stream_id = $3 or (stream_id = $4 and pos <= $5))
       order by (stream_id = $3) desc, pos desc limit 1`,
      [COMPACTOR_FORMAT, row.tailPos, row.id, row.forkedFromId ?? -1, forkPos ?? -1],
    );
    if (!found) return undefined;
    return { pos: Number(found.pos), compactor: Compactor.restore(found.state), bytes: found.state.length, sinceCheckpoint: 0, checkpointChars: found.state.length };
  }

  async #fold(row: StreamRow, state: KeptCompaction): Promise<{ messages: CompactedMessage[]; offset: string; pos: number }> {
    let afterPos = state.pos;
    while (afterPos < row.tailPos) {
      const [page] = await this.#sql.unsafe<Array<{ text: string | null; lastPos: number | null; appends: number }>>(COMPACT_PAGE_SQL, [row.id, afterPos, row.tailPos, COMPACT_PAGE_ROWS], { prepare: true });
      if (!page?.text || page.lastPos === null) break;
      // Every stored JSON value is followed by a comma: the page is one array, parsed once.
      for (const value of JSON.parse(`[${page.text.slice(0, -1)}]`) as unknown[]) state.compactor.add(value);
      state.bytes += page.text.length;
      state.sinceCheckpoint += page.text.length;
      afterPos = page.lastPos;
      if (page.appends < COMPACT_PAGE_ROWS) break;
    }
    state.pos = Math.max(state.pos, row.tailPos);
    return { messages: state.compactor.messages(), offset: formatOffset(row.tailPos), pos: row.tailPos };
  }

  /**
   * Saves a state that has folded enough since its last checkpoint and stores it, off the request
   * that compacted (the save waits for the next turn of the event loop; the write is not awaited by
   * anyone): one write per stream and CHECKPOINT_WRITES_AT_ONCE in all at a time, and a state longer
   * than CHECKPOINT_MAX_CHARS is not stored. Whoever writes the newer position wins; an older one
   * (another process's, say) changes nothing.
   */
  async #checkpoint(streamId: number, state: KeptCompaction): Promise<void> {
    if (this.#checkpointWrites.has(streamId) || this.#checkpointWrites.size >= CHECKPOINT_WRITES_AT_ONCE) return;
    await new Promise((resolve) => setImmediate(resolve));
    // Saved in one synchronous step, inside the stream's compaction chain: nothing folds into it meanwhile.
    const { pos, sinceCheckpoint } = state;
    const saved = state.compactor.save();
    // Its real size is now known: the kept state weighs that (and may be kept now if it was too large before).
    if (this.#kept.get(streamId) === state) {
      this.#kept.delete(streamId);
      this.#keptBytes -= state.bytes;
    }
    state.bytes = saved.length;
    this.#keep(streamId, state);
    if (saved.length > CHECKPOINT_MAX_CHARS) return;
    const write = this.#sql
      .unsafe(
        // Checkpoints of an older format are never read again: they go.
        `with older as (delete from session_checkpoints where stream_id = $1 and format < $2)
         insert into session_checkpoints (stream_id, format, pos, state) values ($1, $2, $3, $4)
         on conflict (stream_id, format) do update set pos = excluded.pos, state = excluded.state, written_at = now()
         where session_checkpoints.pos < excluded.pos`,
        [streamId, COMPACTOR_FORMAT, pos, saved],
      )
      .then(() => {
        state.sinceCheckpoint -= sinceCheckpoint;
        state.checkpointChars = saved.length;
      })
      // A stream deleted meanwhile (the foreign key refuses the row), or a database hiccup: the next compaction tries again.
      .catch((error: unknown) => this.#log.warn("session checkpoint not stored", { streamId, pos, error: String(error) }))
      .finally(() => this.#checkpointWrites.delete(streamId));
    this.#checkpointWrites.set(streamId, write);
  }

  #keep(streamId: number, state: KeptCompaction) {
    if (state.bytes > COMPACT_CACHE_BYTES) return;
    this.#kept.set(streamId, state);
    this.#keptBytes += state.bytes;
    for (const [oldest, dropped] of this.#kept) {
      if (this.#kept.size <= COMPACT_CACHE_SESSIONS && this.#keptBytes <= COMPACT_CACHE_BYTES) break;
      this.#kept.delete(oldest);
      this.#keptBytes -= dropped.bytes;
    }
  }

  /** Records a run and enqueues it; the agent runtime picks it up within milliseconds (NOTIFY wake-up). */
  async startRun(sessionId: string, input: { agent: string; input?: unknown; provider?: string; options?: RunOptions; clientId?: string; parentRunId?: string }): Promise<string> {
    const runId = newId("run");
    await this.#sql`
      insert into runs (id, session_id, agent, status, provider, input, options, client_id, parent_run_id, start_pos)
      values (${runId}, ${sessionId}, ${input.agent}, 'queued', ${input.provider ?? null}, ${input.input === undefined ? null : JSON.stringify(input.input)},
        ${input.options === undefined ? null : JSON.stringify(input.options)}, ${input.clientId ?? null}, ${input.parentRunId ?? null},
        coalesce((select tail_pos from streams where path = ${sessionStreamPath(sessionId)}), 0))`;
    await this.enqueueRun(runId, sessionId);
    this.#log.info("run queued", { runId, sessionId, agent: input.agent });
    return runId;
  }

  /** Creates a turn's AI SDK stream beside the session (JSON mode); returns its path. */
  async createUiStream(sessionId: string): Promise<string> {
    const path = uiStreamPath(sessionId, newId("ui"));
    const created = await this.#store.create({ path, contentType: "application/json", ttlSeconds: undefined, expiresAt: undefined, closed: false, initial: undefined });
    if (created.kind !== "created") throw new Error(`AI SDK stream could not be created: ${created.kind}`);
    return path;
  }

  /** Active turns of a session that mirror into an AI SDK stream, newest first (optionally one client's). */
  async uiTurns(sessionId: string, clientId?: string): Promise<Array<{ runId: string; uiStream: string }>> {
    const rows = await this.#sql<{ runId: string; input: string | null; clientId: string | null }[]>`
      select id as "runId", input, client_id as "clientId" from runs
      where session_id = ${sessionId} and turn and status in ('waiting', 'queued', 'running', 'retrying', 'suspended')
      order by created_at desc, id desc`;
    return rows
      .filter((r) => clientId === undefined || r.clientId === clientId)
      .map((r) => ({ runId: r.runId, uiStream: (r.input ? (JSON.parse(r.input) as { uiStream?: string }).uiStream : undefined) ?? "" }))
      .filter((r) => r.uiStream !== "");
  }

  /** Queues a suspended run again (its question was answered or expired, or a cancel arrived). */
  async wake(runId: string): Promise<void> {
    const [run] = await this.#sql<{ sessionId: string }[]>`update runs set status = 'queued' where id = ${runId} and status = 'suspended' returning session_id as "sessionId"`;
    if (run) await this.enqueueRun(runId, run.sessionId);
  }

  /** Gives a recorded run its job, and wakes the runtimes (this process's at once, others' by NOTIFY). */
  async enqueueRun(runId: string, sessionId: string): Promise<void> {
    const jobId = await this.#boss.send(QUEUES.agentRun.name, { runId, sessionId });
    if (jobId) {
      this.onRunQueued(runId);
      await this.#sql`select pg_notify(${RUN_QUEUED_CHANNEL}, ${runId})`;
    }
  }
}
