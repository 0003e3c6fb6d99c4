import type { Sql, TransactionSql } from "postgres";
import type { Logger } from "../infra/log";
import type { SessionEvent } from "./events";
import { newId, RUN_END_KEY_PREFIX, runEndKey, sessionStreamPath, type AppendEventResult, type SessionService } from "./service";

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

/** An event a turn decision owes the session, appended once the decision has committed (see #publish). */
interface Owed {
  event: SessionEvent;
  dedupeKey?: string;
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
          where s.path = ${sessionStreamPath(sessionId)} and d.key = ${RUN_END_KEY_PREFIX} || r.id)))
      order by r.created_at, r.id`;
  }

  /**
   * Appends a user message and, when it names a run or the session has a default agent, starts a
   * turn for it under the double-texting policy. A rejected message stores nothing. A retried
   * message (same id) starts nothing new and answers with the turn the first one started.
   * The decision is made and committed first; its events (the message, the interrupts) are appended
   * after (see #publish), so a decision that fails or rolls back leaves nothing in the session.
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
    // A turn decided (or a retry of one): what the message's append answers is known only after it.
    type Decided = { duplicate: boolean; runId?: string; turn?: "active" | "queued"; started: boolean; waits: boolean; interrupted: boolean };
    // The message comes first in what a decision owes; interrupts of the running turns follow it.
    const owed: Owed[] = [{ event, dedupeKey }];
    const decision = await this.#sql.begin(async (tx): Promise<PostMessageResult | { decided: Decided }> => {
      const [session] = await tx<{ agent: string | null; runDefaults: string | null; doubleTexting: DoubleTexting }[]>`
        select agent, run_defaults as "runDefaults", double_texting as "doubleTexting" from sessions where id = ${sessionId} for update`;
      if (!session) return { ok: false, code: "session_not_found" };
      const defaults = session.runDefaults ? (JSON.parse(session.runDefaults) as Omit<RunRequest, "agent">) : {};
      const run: RunRequest | undefined = input.run ?? (session.agent ? { agent: session.agent, ...defaults } : undefined);
      if (!run) {
        // No turn: this transaction changes nothing and only holds the lock (as #publish's does), so
        // the message may go in now.
        const appended = await this.#sessions.append(sessionId, event, dedupeKey);
        return appended.ok ? { ok: true, offset: appended.offset, duplicate: appended.duplicate } : appended;
      }
      // What the message's append will answer, asked before anything is decided (it is appended after the commit).
      const [stream] = await tx<{ open: boolean; closed: boolean; stored: boolean }[]>`
        select s.state = 'active' as open, s.closed, exists (select 1 from stream_dedupe d where d.stream_id = s.id and d.key = ${dedupeKey}) as stored
        from streams s where s.path = ${sessionStreamPath(sessionId)}`;
      if (!stream?.open) return { ok: false, code: "session_not_found" };
      if (stream.closed) return { ok: false, code: "session_closed" };
      const policy = input.doubleTexting ?? session.doubleTexting;
      const [existing] = await tx<{ id: string; status: string }[]>`select id, status from runs where session_id = ${sessionId} and message_id = ${event.id} and turn`;
      const state = await this.state(sessionId, tx);
      const busy = [...state.active, ...state.queued];
      if (!existing && policy === "reject" && busy.length > 0) return { ok: false, code: "turn_active", runId: busy[0]!.runId };
      // A retry: its message is appended again (nothing new, or what the first one's process, dying
      // between its commit and its appends, never appended), and nothing else.
      if (existing || stream.stored) {
        return { decided: { duplicate: true, started: false, waits: false, interrupted: false, ...(existing ? { runId: existing.id, turn: existing.status === WAITING_TURN_STATUS ? "queued" : "active" } : {}) } };
      }
      const waits = busy.length > 0 && (policy === "enqueue" || policy === "interrupt");
      let interrupted = false;
      if (policy === "interrupt") {
        for (const turn of state.active) interrupted = (await this.#interrupt(tx, turn.runId, owed)) || interrupted;
      }
      const runId = newId("run");
      await tx`
        insert into runs (id, session_id, agent, status, provider, input, options, client_id, turn, message_id, start_pos)
        values (${runId}, ${sessionId}, ${run.agent}, ${waits ? WAITING_TURN_STATUS : "queued"}, ${run.provider ?? null}, ${JSON.stringify({ ...input.runInput, messageId: event.id })},
          ${run.options === undefined ? null : JSON.stringify(run.options)}, ${input.clientId ?? null}, true, ${event.id},
          coalesce((select tail_pos from streams where path = ${sessionStreamPath(sessionId)}), 0))`;
      return { decided: { duplicate: false, runId, turn: waits ? "queued" : "active", started: true, waits, interrupted } };
    });
    if (!("decided" in decision)) return decision;
    const { decided } = decision;
    const [appended] = await this.#publish(sessionId, owed, { state: decided.started });
    // The stream was open when the turn was decided: only a close or a delete since fails here.
    if (!appended!.ok) return appended!;
    // A turn that never started ended with its run.end just appended: the turns waiting for it go on.
    if (decided.interrupted) await this.advance(sessionId);
    if (decided.started && !decided.waits) await this.#sessions.enqueueRun(decided.runId!, sessionId);
    const { runId, turn } = decided;
    return { ok: true, offset: appended!.offset, duplicate: decided.duplicate || appended!.duplicate, ...(runId ? { runId, turn } : {}) };
  }

  /**
   * Starts a turn answering a message already in the session (a regenerated answer in a branch),
   * with the session's default agent, queued behind any active turn. Returns the run id, or nothing
   * without a default agent.
   */
  async answer(sessionId: string, messageId: string, clientId?: string): Promise<string | undefined> {
    const decision = await this.#sql.begin(async (tx) => {
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
          coalesce((select tail_pos from streams where path = ${sessionStreamPath(sessionId)}), 0))`;
      return { runId: id, waits };
    });
    if (!decision) return undefined;
    await this.#publish(sessionId, [], { state: true });
    if (!decision.waits) await this.#sessions.enqueueRun(decision.runId, sessionId);
    return decision.runId;
  }

  /**
   * Called when a turn ended (and by the reaper as a backstop): when no turn of the session is
   * active, the oldest queued one gets its job.
   */
  async advance(sessionId: string): Promise<void> {
    const decision = await this.#sql.begin(async (tx) => {
      const [session] = await tx`select id from sessions where id = ${sessionId} for update`;
      if (!session) return undefined;
      const state = await this.state(sessionId, tx);
      if (state.active.length > 0 || state.queued.length === 0) return { next: undefined };
      const next = state.queued[0]!;
      await tx`update runs set status = 'queued' where id = ${next.runId} and status = ${WAITING_TURN_STATUS}`;
      return { next: next.runId };
    });
    if (!decision) return;
    await this.#publish(sessionId, [], { state: true });
    if (decision.next) await this.#sessions.enqueueRun(decision.next, sessionId);
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
   * is told through a control event and ends its message and run as `interrupted`. The events go
   * into `owed`, for #publish once the transaction has committed. Returns whether the turn ended
   * here: its row then keeps `heartbeat_at` set until its run.end is in the session (the convention
   * of AgentRuntime #finishEnds: a run.end still owed), so if this process dies before appending
   * it, the reaper does, and the turn holds the session until then (see #turnRows).
   */
  async #interrupt(tx: TransactionSql, runId: string, owed: Owed[]): Promise<boolean> {
    const [notStarted] = await tx`
      update runs set status = 'interrupted', ended_at = now(), heartbeat_at = now()
      where id = ${runId} and status = 'queued' and started_at is null returning id`;
    if (notStarted) {
      owed.push({ event: { type: "run.end", runId, status: "interrupted" }, dedupeKey: runEndKey(runId) });
      return true;
    }
    // A turn that has ended and only owes its run.end (see #turnRows) has nothing left to interrupt.
    const [running] = await tx`select 1 from runs where id = ${runId} and status in ${tx(ACTIVE_TURN_STATUSES)}`;
    if (running) owed.push({ event: { type: "control", action: "interrupt", runId } });
    return false;
  }

  /**
   * Appends what a committed turn decision owes the session, in order, then (`state`: the decision
   * changed the turns) the session's turn state as it is now. Only after the commit: an append
   * commits at once, on the writer's own connection, so one made inside the decision's transaction
   * stayed in the session when that transaction rolled back (a run.end for a run still queued, an
   * interrupt for a message never taken). The session's row is locked meanwhile, as the decision
   * held it: the appends of two decisions do not interleave, and each turn.state is read under the
   * lock, so the last one in the session is never older than one before it. This transaction
   * changes nothing; it only holds the lock. A run.end clears its run's `heartbeat_at` once
   * appended; if this process dies first, the reaper appends it (AgentRuntime #finishEnds). An
   * interrupt lost that way lets the running turn finish; a message lost that way is appended by
   * the client's retry (the same id).
   */
  async #publish(sessionId: string, owed: Owed[], options: { state: boolean }): Promise<AppendEventResult[]> {
    return this.#sql.begin(async (tx) => {
      await tx`select 1 from sessions where id = ${sessionId} for update`;
      const results: AppendEventResult[] = [];
      for (const { event, dedupeKey } of owed) {
        const appended = await this.#sessions.append(sessionId, event, dedupeKey);
        results.push(appended);
        if (event.type === "run.end" && appended.ok) await this.#sql`update runs set heartbeat_at = null where id = ${event.runId} and status = ${event.status}`;
      }
      if (options.state) await this.#sessions.append(sessionId, { type: "turn.state", ...(await this.state(sessionId, tx)) });
      return results;
    });
  }
}
