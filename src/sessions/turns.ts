import type { Sql, TransactionSql } from "postgres";
import type { Logger } from "../infra/log";
import type { SessionEvent } from "./events";
import { newId, runEndKey, sessionStreamPath, type SessionService } from "./service";

/** What a user message does while another turn of the session is running. */
export const DOUBLE_TEXTING = ["enqueue", "interrupt", "reject", "parallel"] as const;
export type DoubleTexting = (typeof DOUBLE_TEXTING)[number];

/** Run statuses of a turn that is answering or about to (it holds the session's turn). */
export const ACTIVE_TURN_STATUSES = ["queued", "running", "retrying", "suspended"] as const;
/** A turn queued behind the active one (no job yet: it is enqueued when its turn comes). */
export const WAITING_TURN_STATUS = "waiting";

export interface TurnRef {
  runId: string;
  messageId: string;
}

export interface TurnState {
  active: TurnRef[];
  queued: TurnRef[];
}

export interface RunRequest {
  agent: string;
  provider?: string;
  options?: Record<string, unknown>;
}

export type PostMessageResult =
  | { ok: true; offset: string; duplicate: boolean; runId?: string; turn?: "active" | "queued" }
  | { ok: false; code: "session_not_found" | "session_closed" }
  | { ok: false; code: "turn_active"; runId: string };

/**
 * Turns: a user message that starts a run (its own `run`, or the session's default agent) is a turn.
 * The session's double-texting policy says what a message does while a turn runs: `enqueue` waits
 * for the turns before it, `interrupt` ends the running turn as interrupted first, `reject` refuses
 * (409), `parallel` starts at once. Decisions of one session are serialised by a row lock on the
 * session, so two messages arriving together cannot both see "no active turn".
 */
export class Turns {
  #sql: Sql;
  #sessions: SessionService;
  #log: Logger;

  constructor(options: { sql: Sql; sessions: SessionService; log: Logger }) {
    this.#sql = options.sql;
    this.#sessions = options.sessions;
    this.#log = options.log;
  }

  /** The session's turn state, as `GET /api/sessions/:id` and `turn.state` events show it. */
  async state(sessionId: string, sql: Sql | TransactionSql = this.#sql): Promise<TurnState> {
    const rows = await this.#turnRows(sessionId, sql);
    return {
      active: rows.filter((r) => r.status !== WAITING_TURN_STATUS).map(({ runId, messageId }) => ({ runId, messageId })),
      queued: rows.filter((r) => r.status === WAITING_TURN_STATUS).map(({ runId, messageId }) => ({ runId, messageId })),
    };
  }

  /**
   * The session's turns that hold it or wait for it. A turn whose row is closed but whose run.end is
   * not in the session yet (`heartbeat_at` still set and no `run.end:<runId>` key, see AgentRuntime
   * #finishEnds) still holds it: a turn started then would put its run.start before that run.end.
   * The key is written in the same statement as the run.end, so the turn stops holding the session
   * exactly when its run.end lands: a client that has seen run.end never meets it here (no 409).
   * Whoever appends the run.end advances the session afterwards.
   */
  async #turnRows(sessionId: string, sql: Sql | TransactionSql): Promise<{ runId: string; messageId: string; status: string }[]> {
    return sql<{ runId: string; messageId: string; status: string }[]>`
      select r.id as "runId", r.message_id as "messageId", r.status from runs r
      where r.session_id = ${sessionId} and r.turn and (r.status in ('waiting', 'queued', 'running', 'retrying', 'suspended')
        or (r.heartbeat_at is not null and not exists (
          select 1 from stream_dedupe d join streams s on s.id = d.stream_id
          where s.path = ${sessionStreamPath(sessionId)} and d.key = ${runEndKey("")} || r.id)))
      order by r.created_at, r.id`;
  }

  /**
   * Appends a user message and, when it names a run or the session has a default agent, starts a
   * turn for it under the double-texting policy. A rejected message stores nothing. A retried
   * message (same id) starts nothing new and answers with the turn the first one started.
   */
  async postUserMessage(input: {
    sessionId: string;
    event: Extract<SessionEvent, { type: "message" }>;
    run?: RunRequest;
    doubleTexting?: DoubleTexting;
    clientId?: string;
    /** More input for the turn's run (e.g. `uiStream`, the AI SDK stream it mirrors into). */
    runInput?: Record<string, unknown>;
  }): Promise<PostMessageResult> {
    const { sessionId, event } = input;
    const dedupeKey = `event:${event.id}`;
    const queue: string[] = [];
    const result = await this.#sql.begin(async (tx): Promise<PostMessageResult> => {
      const [session] = await tx<{ agent: string | null; runDefaults: string | null; doubleTexting: DoubleTexting }[]>`
        select agent, run_defaults as "runDefaults", double_texting as "doubleTexting" from sessions where id = ${sessionId} for update`;
      if (!session) return { ok: false, code: "session_not_found" };
      const defaults = session.runDefaults ? (JSON.parse(session.runDefaults) as Omit<RunRequest, "agent">) : {};
      const run: RunRequest | undefined = input.run ?? (session.agent ? { agent: session.agent, ...defaults } : undefined);
      if (!run) {
        const appended = await this.#sessions.append(sessionId, event, dedupeKey);
        return appended.ok ? { ok: true, offset: appended.offset, duplicate: appended.duplicate } : appended;
      }
      const policy = input.doubleTexting ?? session.doubleTexting;
      const [existing] = await tx<{ id: string; status: string }[]>`select id, status from runs where session_id = ${sessionId} and message_id = ${event.id} and turn`;
      const state = await this.state(sessionId, tx);
      const busy = [...state.active, ...state.queued];
      if (!existing && policy === "reject" && busy.length > 0) return { ok: false, code: "turn_active", runId: busy[0]!.runId };
      const appended = await this.#sessions.append(sessionId, event, dedupeKey);
      if (!appended.ok) return appended;
      if (existing || appended.duplicate) {
        return { ok: true, offset: appended.offset, duplicate: true, ...(existing ? { runId: existing.id, turn: existing.status === WAITING_TURN_STATUS ? "queued" : "active" } : {}) };
      }
      const waits = busy.length > 0 && (policy === "enqueue" || policy === "interrupt");
      if (policy === "interrupt") {
        for (const turn of state.active) await this.#interrupt(tx, sessionId, turn.runId);
      }
      const runId = newId("run");
      await tx`
        insert into runs (id, session_id, agent, status, provider, input, options, client_id, turn, message_id, start_pos)
        values (${runId}, ${sessionId}, ${run.agent}, ${waits ? WAITING_TURN_STATUS : "queued"}, ${run.provider ?? null}, ${JSON.stringify({ ...input.runInput, messageId: event.id })},
          ${run.options === undefined ? null : JSON.stringify(run.options)}, ${input.clientId ?? null}, true, ${event.id},
          coalesce((select tail_pos from streams where path = ${"/v1/stream/sessions/" + sessionId}), 0))`;
      if (!waits) queue.push(runId);
      await this.#appendState(tx, sessionId);
      return { ok: true, offset: appended.offset, duplicate: false, runId, turn: waits ? "queued" : "active" };
    });
    for (const runId of queue) await this.#sessions.enqueueRun(runId, sessionId);
    return result;
  }

  /**
   * Starts a turn answering a message already in the session (a regenerated answer in a branch),
   * with the session's default agent, queued behind any active turn. Returns the run id, or nothing
   * without a default agent.
   */
  async answer(sessionId: string, messageId: string, clientId?: string): Promise<string | undefined> {
    const queue: string[] = [];
    const runId = await this.#sql.begin(async (tx) => {
      const [session] = await tx<{ agent: string | null; runDefaults: string | null }[]>`
        select agent, run_defaults as "runDefaults" from sessions where id = ${sessionId} for update`;
      if (!session?.agent) return undefined;
      const defaults = session.runDefaults ? (JSON.parse(session.runDefaults) as Omit<RunRequest, "agent">) : {};
      const state = await this.state(sessionId, tx);
      const waits = state.active.length + state.queued.length > 0;
      const id = newId("run");
      await tx`
        insert into runs (id, session_id, agent, status, provider, input, options, client_id, turn, message_id, start_pos)
        values (${id}, ${sessionId}, ${session.agent}, ${waits ? WAITING_TURN_STATUS : "queued"}, ${defaults.provider ?? null}, ${JSON.stringify({ messageId })},
          ${defaults.options === undefined ? null : JSON.stringify(defaults.options)}, ${clientId ?? null}, true, ${messageId},
          coalesce((select tail_pos from streams where path = ${"/v1/stream/sessions/" + sessionId}), 0))`;
      if (!waits) queue.push(id);
      await this.#appendState(tx, sessionId);
      return id;
    });
    for (const id of queue) await this.#sessions.enqueueRun(id, sessionId);
    return runId;
  }

  /**
   * Called when a turn ended (and by the reaper as a backstop): when no turn of the session is
   * active, the oldest queued one gets its job.
   */
  async advance(sessionId: string): Promise<void> {
    const queue: string[] = [];
    await this.#sql.begin(async (tx) => {
      const [session] = await tx`select id from sessions where id = ${sessionId} for update`;
      if (!session) return;
      const state = await this.state(sessionId, tx);
      if (state.active.length === 0 && state.queued.length > 0) {
        const next = state.queued[0]!;
        await tx`update runs set status = 'queued' where id = ${next.runId} and status = ${WAITING_TURN_STATUS}`;
        queue.push(next.runId);
      }
      await this.#appendState(tx, sessionId);
    });
    for (const runId of queue) await this.#sessions.enqueueRun(runId, sessionId);
  }

  /**
   * Sessions with queued turns and none active (their advance was lost with a process): advanced now.
   * A turn whose row is closed but whose run.end is still owed (`heartbeat_at` set, see
   * AgentRuntime #finishEnds) holds the session until its run.end is appended, which then advances
   * it: the next turn's run.start never comes before the previous turn's run.end.
   */
  async advanceStalled(): Promise<void> {
    const stalled = await this.#sql<{ sessionId: string }[]>`
      select distinct w.session_id as "sessionId" from runs w
      where w.turn and w.status = ${WAITING_TURN_STATUS}
        and not exists (select 1 from runs a where a.session_id = w.session_id and a.turn and (a.status in ('queued', 'running', 'retrying', 'suspended') or a.heartbeat_at is not null))
      limit 100`;
    for (const { sessionId } of stalled) await this.advance(sessionId).catch((error) => this.#log.warn("advancing turns failed", { sessionId, error }));
  }

  /**
   * Ends a turn for a newer message: one not yet started is ended here (it never runs), a running one
   * is told through a control event and ends its message and run as `interrupted`.
   */
  async #interrupt(tx: TransactionSql, sessionId: string, runId: string) {
    const [notStarted] = await tx`update runs set status = 'interrupted', ended_at = now() where id = ${runId} and status = 'queued' and started_at is null returning id`;
    if (notStarted) {
      await this.#sessions.append(sessionId, { type: "run.end", runId, status: "interrupted" }, runEndKey(runId));
      return;
    }
    // A turn that has ended and only owes its run.end (see #turnRows) has nothing left to interrupt.
    const [running] = await tx`select 1 from runs where id = ${runId} and status in ${tx(ACTIVE_TURN_STATUSES)}`;
    if (!running) return;
    await this.#sessions.append(sessionId, { type: "control", action: "interrupt", runId });
  }

  async #appendState(tx: TransactionSql, sessionId: string) {
    const state = await this.state(sessionId, tx);
    await this.#sessions.append(sessionId, { type: "turn.state", ...state });
  }
}
