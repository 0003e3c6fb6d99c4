import { hostname } from "node:os";
import type { Sql } from "postgres";
import type { PgBoss, Job } from "pg-boss";
import type { Logger } from "../infra/log";
import type { AppendWriter } from "../streams/writer";
import { QUEUES, RUN_QUEUED_CHANNEL } from "../../jobs/queues";
import type { Listener } from "../infra/listener";
import type { Presence } from "../sessions/presence";
import { runEndKey, runProducerId, toOffsetEvents, type SessionService } from "../sessions/service";
import type { Following, SessionFollowers } from "../sessions/follower";
import type { Providers } from "./providers";
import type { Turns } from "../sessions/turns";
import type { InputRequests } from "../sessions/input-requests";
import { RunContext, RunStopped, type RunEnd, type RunInfo } from "./run-context";
import { jsonAppend } from "../streams/json-append";
import { UiChunkMapper } from "../sessions/ui-chunks";
import { storedRunOptions } from "./options";
import type { Agent, AgentOutcome, AgentTools } from "./agents";

/** This host, as written in `runs.worker`. */
const WORKER_HOST = hostname();
/** This process: host, pid and start time (a pid can be reused, e.g. pid 1 in a container). */
export const WORKER_ID = `${WORKER_HOST}/${process.pid}/${Date.now()}`;

/** Whether the process a `runs.worker` names (on this host) is still running. */
function workerAlive(worker: string): boolean {
  const [, pid, startedAtMs] = worker.split("/");
  if (!pid) return false;
  if (Number(pid) === process.pid) return `${WORKER_HOST}/${pid}/${startedAtMs}` === WORKER_ID;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else; only ESRCH means it is gone.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** How often a process refreshes the heartbeat of the runs it is executing. */
export const RUN_HEARTBEAT_MS = 2_000;
/** A running run whose heartbeat is older than this lost its process: its job is failed so pg-boss retries it. */
export const RUN_STALE_MS = 8_000;
/** Runs one process executes at once at most; past this, queued runs wait for another process or a free slot. */
export const MAX_RUNS_PER_PROCESS = 256;
/** Jobs taken from the queue per fetch at most. */
export const JOBS_PER_FETCH = 32;
/** The backstop poll for queued runs, when no wake-up NOTIFY arrives (a pg-boss retry, a lost NOTIFY). */
export const RUN_POLL_MS = 2_000;
/** How often pg-boss's heartbeat of the jobs this process holds is refreshed (the queue's heartbeatSeconds is 30). */
export const JOB_TOUCH_MS = 10_000;
/** On shutdown, how long runs get to hand themselves back before the process stops waiting. */
export const STOP_RUNS_TIMEOUT_MS = 10_000;

/** Statuses of a run that has ended (its run.end says the same). */
const ENDED_STATUSES = ["completed", "interrupted", "cancelled", "failed"] as const;

/** An ended run whose run.end may not be in its session yet (see #finishEnds). */
interface EndedRun {
  id: string;
  sessionId: string;
  status: (typeof ENDED_STATUSES)[number];
  error: string | null;
  turn: boolean;
  input: string | null;
}
const ENDED_RUN_COLUMNS = `id, session_id as "sessionId", status, error, turn, input`;

interface RunRow {
  id: string;
  sessionId: string;
  agent: string;
  status: string;
  provider: string | null;
  input: string | null;
  options: string | null;
  clientId: string | null;
  parentRunId: string | null;
  startPos: number;
  turn: boolean;
  messageId: string | null;
  resumeState: string | null;
}

/**
 * Runs agents as pg-boss jobs that write straight into their session. A run's worker watches the
 * session's control events through the process hub, fences stale attempts through the idempotent
 * producer (`run:<id>`, epoch = attempt), and a reaper hands the runs of a dead process back to
 * pg-boss for a retry. Session events reach a run through the process's session follower, the same
 * reader that feeds the WebSocket subscribers of that session.
 */
export class AgentRuntime {
  #sql: Sql;
  #boss: PgBoss;
  #followers: SessionFollowers;
  #writer: AppendWriter;
  #sessions: SessionService;
  #turns: Turns;
  #inputs: InputRequests;
  #presence: Presence;
  #providers: Providers;
  #log: Logger;
  #agents = new Map<string, Agent>();
  #local = new Map<string, RunContext>();
  /** Each local run's hold on its session's follower. */
  #watches = new Map<RunContext, Following>();
  /** Each local run's presence as a session member, written in the background. */
  #statuses = new Map<RunContext, AgentStatus>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #listener: Listener | undefined;
  /** Jobs this process has taken from the queue and not yet settled, by job id. */
  #jobs = new Map<string, Promise<void>>();
  #fetching = false;
  #fetchAgain = false;
  #touchedAt = 0;
  #stopping = false;
  /** Called when a run this process executed has ended (for metrics). */
  onRunEnded: (run: { runId: string; agent: string; status: string; durationMs: number }) => void = () => {};

  constructor(options: { sql: Sql; boss: PgBoss; followers: SessionFollowers; writer: AppendWriter; sessions: SessionService; turns: Turns; inputs: InputRequests; presence: Presence; providers: Providers; agents: Agent[]; log: Logger; listener?: Listener }) {
    this.#listener = options.listener;
    this.#sql = options.sql;
    this.#boss = options.boss;
    this.#followers = options.followers;
    this.#writer = options.writer;
    this.#sessions = options.sessions;
    this.#turns = options.turns;
    this.#inputs = options.inputs;
    this.#presence = options.presence;
    this.#providers = options.providers;
    this.#log = options.log;
    for (const agent of options.agents) this.#agents.set(agent.name, agent);
  }

  /** Names of the agents runs may ask for. */
  get agentNames(): string[] {
    return [...this.#agents.keys()];
  }

  /**
   * Starts taking runs (role all/worker), and the heartbeat and reaper loops. Jobs are fetched
   * from pg-boss by this runtime rather than by `boss.work()`, whose workers each wait for their
   * whole batch to finish before fetching again: with runs queued one by one, 16 workers × 16 jobs
   * ran only about 90 at once (docs/performance.md). Each job here settles on its own, and the next
   * fetch happens as soon as a run is queued (NOTIFY on RUN_QUEUED_CHANNEL, from any process) or a
   * slot frees up, with a poll as the backstop.
   */
  async start(): Promise<void> {
    this.#sessions.onRunQueued = () => void this.#fetchRuns();
    await this.#listener?.on(RUN_QUEUED_CHANNEL, () => void this.#fetchRuns());
    // A NOTIFY missed while the LISTEN connection was down is caught up at once.
    this.#listener?.onResync(() => void this.#fetchRuns());
    this.#timers.push(setInterval(() => void this.#fetchRuns(), RUN_POLL_MS));
    this.#timers.push(setInterval(() => void this.#heartbeat(), RUN_HEARTBEAT_MS));
    this.#timers.push(setInterval(() => void this.#reap(), RUN_STALE_MS / 2));
    await this.#reclaimOwnDead();
    void this.#reap();
    void this.#fetchRuns();
  }

  /** Shutdown: local runs end their current message as interrupted and go back to the queue. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const ctx of this.#local.values()) ctx.stop({ kind: "shutdown" });
    // Their jobs are failed (so pg-boss retries them) as they hand back; wait for that, within reason.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.allSettled([...this.#jobs.values()]), new Promise((resolve) => (timer = setTimeout(resolve, STOP_RUNS_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  /** Takes queued runs while this process has room; one fetch at a time, repeated while there may be more. */
  async #fetchRuns() {
    if (this.#stopping) return;
    if (this.#fetching) {
      this.#fetchAgain = true;
      return;
    }
    this.#fetching = true;
    try {
      do {
        this.#fetchAgain = false;
        const room = Math.min(JOBS_PER_FETCH, MAX_RUNS_PER_PROCESS - this.#jobs.size);
        if (room <= 0) break;
        const jobs = await this.#boss.fetch<{ runId: string }>(QUEUES.agentRun.name, { batchSize: room });
        for (const job of jobs) this.#take(job);
        if (jobs.length === room) this.#fetchAgain = true;
      } while (this.#fetchAgain && !this.#stopping);
    } catch (error) {
      this.#log.warn("fetching queued runs failed; the poll will retry", { error });
    } finally {
      this.#fetching = false;
    }
  }

  /** Executes a job; completes it, or fails it so pg-boss retries it (a crash, a shutdown hand-back). */
  #take(job: Job<{ runId: string }>) {
    const queue = QUEUES.agentRun.name;
    const settled = this.#execute(job)
      .then(
        () => this.#boss.complete(queue, job.id),
        (error: Error) => this.#boss.fail(queue, job.id, { message: error.message }),
      )
      .then(() => {}, (error) => this.#log.warn("settling a run's job failed", { jobId: job.id, error }))
      .finally(() => {
        this.#jobs.delete(job.id);
        void this.#fetchRuns();
      });
    this.#jobs.set(job.id, settled);
  }

  async #execute(job: Job<{ runId: string }>): Promise<void> {
    // The attempt number is the run's own (not the job's retry count): a run handed to a fresh job
    // must still get a new producer epoch, or its writes would be taken for duplicates.
    const [row] = await this.#sql<(RunRow & { attempt: number })[]>`
      update runs set status = 'running', attempt = case when started_at is null then 0 else attempt + 1 end,
        job_id = ${job.id}, heartbeat_at = now(), worker = ${WORKER_ID}, started_at = coalesce(started_at, now())
      where id = ${job.data.runId} and status in ('queued', 'running', 'retrying')
      returning attempt, id, session_id as "sessionId", agent, status, provider, input, options, client_id as "clientId", parent_run_id as "parentRunId", start_pos as "startPos",
        turn, message_id as "messageId", resume_state as "resumeState"`;
    if (!row) return; // Already finished (or cancelled while queued): nothing to do.
    const startedAt = performance.now();
    const attempt = row.attempt;
    const lineage = await this.#lineage(row);
    const info: RunInfo = {
      runId: row.id,
      sessionId: row.sessionId,
      agent: row.agent,
      clientId: row.clientId,
      parentRunId: row.parentRunId,
      lineage,
      attempt,
      provider: row.provider,
      input: row.input ? JSON.parse(row.input) : undefined,
      options: storedRunOptions(row.options ? JSON.parse(row.options) : {}),
      startPos: row.startPos,
      turn: row.turn,
      messageId: row.messageId,
      ...(row.resumeState ? { resumeState: JSON.parse(row.resumeState) } : {}),
    };
    const uiStream = (info.input as { uiStream?: unknown } | undefined)?.uiStream;
    const ctx = new RunContext({
      info, writer: this.#writer, log: this.#log,
      producerSeq: (epoch) => this.#sessions.producerSeq(row.sessionId, runProducerId(row.id), epoch),
      ...(typeof uiStream === "string" ? { uiStreamPath: uiStream } : {}),
    });
    this.#local.set(row.id, ctx);
    const log = this.#log.child({ runId: row.id, agent: row.agent, attempt });
    let outcome: AgentOutcome;
    try {
      await this.#watch(ctx);
      const history = await this.#runEvents(ctx);
      if (history.cancelled) ctx.stop({ kind: "cancel" });
      if (attempt > 0) {
        // The message the dead attempt was writing is continued by an agent that can (same id, from
        // its partial text); any other it left open is closed as interrupted.
        const open = [...history.openMessages];
        const last = this.#agents.get(row.agent)?.resumes && !history.cancelled ? open.pop() : undefined;
        if (last) info.resume = { messageId: last.id, text: last.text, ...(last.inReplyTo ? { inReplyTo: last.inReplyTo } : {}) };
        await this.#closeDangling(ctx, open.map((m) => m.id));
      }
      if (!history.started) await ctx.emit({ type: "run.start", runId: row.id, agent: row.agent, ...(row.parentRunId ? { parentRunId: row.parentRunId } : {}) });
      outcome = await this.#runAgent(ctx, row);
    } catch (error) {
      if (error instanceof RunStopped && error.reason.kind === "shutdown") {
        // Hand the run back: the next attempt (here after a restart, or on another process) continues it.
        await ctx.flush();
        await this.#sql`update runs set status = 'retrying', heartbeat_at = null where id = ${row.id}`;
        this.#forget(ctx);
        throw new Error("worker shutting down; run handed back for a retry");
      }
      log.error("run crashed", { error });
      outcome = { status: "failed", error: `The run crashed: ${(error as Error).message}` };
    }
    if (ctx.stopReason?.kind === "fenced") {
      this.#forget(ctx);
      return;
    }
    if (outcome.status === "suspended") {
      // Waiting for a person: the job ends here and no worker holds the run. Its question may have
      // been answered (or expired) already: then it is queued again at once.
      await ctx.flush();
      const [state] = await this.#sql<{ status: string }[]>`
        update runs set heartbeat_at = null, resume_state = ${JSON.stringify(outcome.state ?? null)},
          status = case when exists (select 1 from input_requests q where q.run_id = ${row.id} and q.status = 'pending') then 'suspended' else 'queued' end
        where id = ${row.id} returning status`;
      if (state?.status === "queued") await this.#sessions.enqueueRun(row.id, row.sessionId);
      await this.#leave(ctx);
      this.#forget(ctx);
      log.info("run suspended", { queuedAgain: state?.status === "queued" });
      return;
    }
    await this.#inputs.cancelFor(row.id).catch(() => {});
    // A run's end is one moment for clients: the run's row is closed first, and only then is its
    // run.end appended. Every API reads the row (turn state, `reject`, the AI SDK resume, the run
    // list), so a client that has seen run.end finds the run ended everywhere. Appending first left
    // a gap in which a `reject` message got 409 and a resume replayed the finished turn.
    // The row keeps `heartbeat_at` set until run.end is in the session: an ended run with a
    // heartbeat still owes its run.end. If this process dies in between, the reaper (or this host's
    // next process at start-up) appends it (#finishEnds); run.end carries an idempotency key, so
    // whichever of the two lands first is the only one.
    await ctx.flush(); // everything the run wrote is in the session before its row says it ended
    const [closed] = await this.#sql`
      update runs set status = ${outcome.status}, ended_at = now(), heartbeat_at = now(), error = ${outcome.status === "failed" ? outcome.error : null}
      where id = ${row.id} and attempt = ${attempt} and status in ('queued', 'running', 'retrying') returning id`;
    if (!closed) {
      // A newer attempt holds the run (this one was taken for dead): its end is that attempt's.
      log.warn("run ended but a newer attempt holds it; leaving its end to that attempt");
      await this.#leave(ctx);
      this.#forget(ctx);
      return;
    }
    // Counted once the row says this attempt ended the run (an attempt that lost to a newer one counts
    // nothing), and before run.end is appended, so whoever sees run.end also sees it in the metrics.
    this.onRunEnded({ runId: row.id, agent: row.agent, status: outcome.status, durationMs: performance.now() - startedAt });
    const end: RunEnd = { type: "run.end", runId: row.id, status: outcome.status, ...(outcome.status === "failed" ? { error: outcome.error } : {}) };
    const appended = await ctx.emit(end).then(() => ctx.stopReason?.kind !== "fenced", (error) => {
      log.error("run.end append failed; the reaper appends it", { error });
      return false;
    });
    if (appended) await this.#sql`update runs set heartbeat_at = null where id = ${row.id}`.catch((error) => log.warn("clearing an ended run's heartbeat failed", { error }));
    await this.#leave(ctx);
    this.#forget(ctx);
    log.info("run ended", { status: outcome.status });
    // The session's next queued turn (if any) starts now.
    if (row.turn) await this.#turns.advance(row.sessionId).catch((error) => log.warn("advancing turns failed", { error }));
  }

  /**
   * Appends the run.end of runs whose row was closed but whose process died before their run.end
   * was in the session (their `heartbeat_at` is still set, see #execute), closes their AI SDK
   * stream, and starts their session's next turn. Idempotent: run.end goes in with the same key the
   * run itself uses, and a closed AI SDK stream stays closed, so a run whose end did land (the
   * process died just after) gets nothing twice.
   */
  async #finishEnds(runs: EndedRun[]) {
    for (const run of runs) {
      // One run that cannot be finished now (its lease lapses and the reaper tries again) holds up
      // neither the others nor the rest of the reaper's pass.
      await this.#finishEnd(run).catch((error) => this.#log.warn("appending an ended run's run.end failed; the reaper retries", { runId: run.id, error }));
    }
  }

  /** One run of #finishEnds. */
  async #finishEnd(run: EndedRun) {
    const end: RunEnd = { type: "run.end", runId: run.id, status: run.status, ...(run.status === "failed" ? { error: run.error ?? "The run failed." } : {}) };
    const appended = await this.#sessions.append(run.sessionId, end, runEndKey(run.id));
    const uiStream = run.input ? (JSON.parse(run.input) as { uiStream?: unknown }).uiStream : undefined;
    if (typeof uiStream === "string") {
      // The run's messages ended before its row was closed (and were mirrored then): only the
      // closing chunk is left, without a `start` (the mapper is told the message was begun).
      const chunks = new UiChunkMapper(run.id, { messageId: run.id, text: "" }).map(end);
      const result = await this.#writer.append({ ...jsonAppend(uiStream, chunks), close: true });
      if (result.kind !== "appended" && result.kind !== "closed") this.#log.warn("closing an ended run's AI SDK stream failed", { runId: run.id, kind: result.kind });
    }
    // A session that is gone or closed takes no run.end: nothing is owed any more either.
    await this.#sql`update runs set heartbeat_at = null where id = ${run.id} and status = ${run.status}`;
    await this.#presence.leave(`agent:${run.id}`).catch(() => {});
    this.#log.warn("appended the run.end of a run whose process died while ending it", { runId: run.id, status: run.status, appended: appended.ok && !appended.duplicate });
    if (run.turn) await this.#turns.advance(run.sessionId);
  }

  async #runAgent(ctx: RunContext, row: RunRow): Promise<AgentOutcome> {
    const agent = this.#agents.get(row.agent);
    if (!agent) return { status: "failed", error: `No agent named ${row.agent}.` };
    if (ctx.stopReason?.kind === "cancel") return { status: "cancelled" };
    const provider = this.#providers.text(row.provider ?? undefined);
    if ("error" in provider) return { status: "failed", error: provider.error };
    const tools: AgentTools = {
      provider,
      history: async () => {
        const stream = await this.#sessions.stream(row.sessionId);
        return stream ? (await this.#sessions.compacted(stream)).messages : [];
      },
      startChild: (agentName, input) =>
        this.#sessions.startRun(row.sessionId, { agent: agentName, input, provider: row.provider ?? undefined, options: ctx.info.options, clientId: row.clientId ?? undefined, parentRunId: row.id }),
      ask: (question) => this.#inputs.ask({ ...question, sessionId: row.sessionId, runId: row.id, emit: (event) => ctx.emit(event).then(() => ctx.flush()) }),
      answer: (requestId) => this.#inputs.get(requestId),
      turnOf: async (messageId) => {
        const [turn] = await this.#sql<{ id: string }[]>`select id from runs where session_id = ${row.sessionId} and message_id = ${messageId} and turn limit 1`;
        return turn?.id;
      },
      status: async (status) => this.#statusOf(ctx).set(status),
    };
    return agent.run(ctx, tools);
  }

  #statusOf(ctx: RunContext): AgentStatus {
    let status = this.#statuses.get(ctx);
    if (!status) {
      const { sessionId, agent, runId } = ctx.info;
      const presence = this.#presence;
      status = new AgentStatus((value) => presence.join({ sessionId, clientId: `agent:${agent}`, device: "agent", status: value, memberId: `agent:${runId}` }).then(() => {}));
      this.#statuses.set(ctx, status);
    }
    return status;
  }

  /** The run is no longer a member of its session (no status of it is written after, so it never comes back). */
  async #leave(ctx: RunContext) {
    await this.#statuses.get(ctx)?.discard();
    await this.#presence.leave(`agent:${ctx.info.runId}`).catch(() => {});
  }

  /** This run's id and its ancestors' (a cancel aimed at a parent cancels its children). */
  async #lineage(row: RunRow): Promise<string[]> {
    const lineage = [row.id];
    let parent = row.parentRunId;
    while (parent && lineage.length < 20) {
      lineage.push(parent);
      const [next] = await this.#sql<{ parentRunId: string | null }[]>`select parent_run_id as "parentRunId" from runs where id = ${parent}`;
      parent = next?.parentRunId ?? null;
    }
    return lineage;
  }

  /**
   * What the session already says about this run since it was requested: whether it started, which
   * of its messages were left open by a dead attempt, and whether a cancel arrived while it was queued.
   */
  async #runEvents(ctx: RunContext): Promise<{ started: boolean; cancelled: boolean; openMessages: Array<{ id: string; text: string; inReplyTo?: string }> }> {
    const stream = await this.#sessions.stream(ctx.info.sessionId);
    if (!stream) throw new Error("the session's stream is gone");
    let pos = ctx.info.startPos;
    let started = false;
    let cancelled = false;
    const open = new Map<string, { id: string; text: string; inReplyTo?: string }>();
    while (pos < stream.tailPos) {
      const rows = await this.#sessions.page(stream.id, pos, stream.tailPos, 1_000);
      if (rows.length === 0) break;
      for (const { event } of toOffsetEvents(rows)) {
        if (event.type === "run.start" && event.runId === ctx.info.runId) started = true;
        if (event.type === "message.start" && event.runId === ctx.info.runId) open.set(event.id, { id: event.id, text: "", ...(event.inReplyTo ? { inReplyTo: event.inReplyTo } : {}) });
        if (event.type === "message.delta" && event.runId === ctx.info.runId) {
          const message = open.get(event.id);
          if (message) message.text += event.text;
        }
        if (event.type === "message.end" && event.runId === ctx.info.runId) open.delete(event.id);
        if (event.type === "control" && event.action === "cancel" && ctx.appliesTo(event)) cancelled = true;
      }
      pos = rows[rows.length - 1]!.pos;
    }
    return { started, cancelled, openMessages: [...open.values()] };
  }

  /** A retry closes the messages its dead predecessor left open, so clients see them end as interrupted. */
  async #closeDangling(ctx: RunContext, messageIds: string[]) {
    for (const id of messageIds) await ctx.emit({ type: "message.end", id, runId: ctx.info.runId, status: "interrupted" });
  }

  /** Shows the run every event of its session from now on (control, user messages, children's run.end). */
  async #watch(ctx: RunContext) {
    const { sessionId } = ctx.info;
    const stream = await this.#sessions.stream(sessionId);
    if (!stream) throw new Error("the session's stream is gone");
    const following = this.#followers.follow({ sessionId, streamId: stream.id, fromPos: stream.tailPos }, (batch) => {
      for (const { event } of batch.events) ctx.observe(event);
    });
    this.#watches.set(ctx, following);
  }

  /** The run is no longer this process's: stops watching its session and drops it from the runs held here. */
  #forget(ctx: RunContext) {
    this.#local.delete(ctx.info.runId);
    this.#watches.get(ctx)?.stop();
    this.#watches.delete(ctx);
    this.#statuses.delete(ctx);
  }

  async #heartbeat() {
    if (this.#jobs.size > 0 && performance.now() - this.#touchedAt >= JOB_TOUCH_MS) {
      this.#touchedAt = performance.now();
      await this.#boss.touch(QUEUES.agentRun.name, [...this.#jobs.keys()]).catch((error) => this.#log.warn("job heartbeat failed", { error }));
    }
    if (this.#local.size === 0) return;
    await this.#sql`update runs set heartbeat_at = now() where id = any(${[...this.#local.keys()]}) and status = 'running'`.catch((error) => this.#log.warn("run heartbeat failed", { error }));
  }

  /**
   * At start-up: runs still `running` under an earlier process on this host that no longer exists
   * (this process after a crash, typically) are retried at once, instead of after the reaper's
   * RUN_STALE_MS. The reaper stays the backstop for a process that never comes back.
   */
  async #reclaimOwnDead() {
    try {
      const candidates = await this.#sql<{ id: string; jobId: string | null; worker: string }[]>`
        select id, job_id as "jobId", worker from runs where status = 'running' and worker like ${`${WORKER_HOST}/%`}`;
      const dead = candidates.filter((run) => run.worker !== WORKER_ID && !workerAlive(run.worker));
      // Runs such a process closed but died before appending their run.end: appended now.
      const ending = await this.#sql<{ worker: string }[]>`
        select distinct worker from runs where status in ${this.#sql(ENDED_STATUSES)} and heartbeat_at is not null and worker like ${`${WORKER_HOST}/%`}`;
      for (const { worker } of ending.filter((run) => run.worker !== WORKER_ID && !workerAlive(run.worker))) {
        await this.#finishEnds(await this.#sql<EndedRun[]>`
          update runs set heartbeat_at = now() where worker = ${worker} and status in ${this.#sql(ENDED_STATUSES)} and heartbeat_at is not null
          returning ${this.#sql.unsafe(ENDED_RUN_COLUMNS)}`);
      }
      for (const run of dead) {
        const [claimed] = await this.#sql`update runs set status = 'retrying' where id = ${run.id} and status = 'running' and worker = ${run.worker} returning id`;
        if (!claimed) continue;
        this.#log.warn("reclaimed a run of a dead process at start-up; retrying", { runId: run.id, worker: run.worker });
        if (run.jobId) await this.#boss.fail(QUEUES.agentRun.name, run.jobId, { error: "worker died" }).catch((error) => this.#log.warn("could not fail the dead worker's job", { error }));
      }
    } catch (error) {
      this.#log.warn("reclaiming dead runs at start-up failed; the reaper will", { error });
    }
  }

  /** Runs whose process died (stale heartbeat) are failed in pg-boss, which retries them with the next attempt number. */
  async #reap() {
    if (this.#stopping) return;
    try {
      const stale = await this.#sql<{ id: string; jobId: string | null }[]>`
        update runs set status = 'retrying'
        where status = 'running' and heartbeat_at < now() - make_interval(secs => ${RUN_STALE_MS / 1000})
        returning id, job_id as "jobId"`;
      for (const run of stale) {
        if (this.#local.has(run.id)) continue;
        this.#log.warn("run lost its worker; retrying", { runId: run.id });
        if (run.jobId) await this.#boss.fail(QUEUES.agentRun.name, run.jobId, { error: "worker lost" }).catch((error) => this.#log.warn("could not fail lost job", { error }));
      }
      // Ended runs still owing their run.end long after their row closed (their process died in
      // between): leased for RUN_STALE_MS by a fresh heartbeat, so one reaper at a time appends it.
      await this.#finishEnds(await this.#sql<EndedRun[]>`
        update runs set heartbeat_at = now()
        where id in (select id from runs where status in ${this.#sql(ENDED_STATUSES)} and heartbeat_at < now() - make_interval(secs => ${RUN_STALE_MS / 1000})
          limit 100 for update skip locked)
        returning ${this.#sql.unsafe(ENDED_RUN_COLUMNS)}`);
      // Runs handed back at shutdown whose job is no longer active get a fresh job.
      const orphaned = await this.#sql<{ id: string; sessionId: string }[]>`
        select r.id, r.session_id as "sessionId" from runs r
        where r.status = 'retrying' and r.heartbeat_at is null
          and not exists (select 1 from pgboss.job j where j.name = ${QUEUES.agentRun.name} and j.id::text = r.job_id and j.state in ('created', 'retry', 'active'))
        limit 100`;
      for (const run of orphaned) {
        await this.#sql`update runs set status = 'queued' where id = ${run.id} and status = 'retrying'`;
        await this.#boss.send(QUEUES.agentRun.name, { runId: run.id, sessionId: run.sessionId }, { retryLimit: 3 });
      }
      // Queued turns whose session has no active turn (the advance was lost with its process).
      await this.#turns.advanceStalled();
      await this.#inputs.expireDue();
    } catch (error) {
      this.#log.warn("run reaper failed", { error });
    }
  }
}

/**
 * How long a run's presence status waits before it is written: a status replaced within this time
 * (`thinking` while message.start is appended, then `streaming`; `idle` just before the run leaves)
 * is never written. Presence frames go out at most every 50 ms anyway.
 */
export const STATUS_DELAY_MS = 50;

/**
 * A run's presence status, written one at a time in the order set, off the run's own path: a run
 * does not wait for a presence write (two round trips and a NOTIFY, and a read of the members for
 * each subscribed process) before it streams. A status waits STATUS_DELAY_MS and is replaced by any
 * status set meanwhile; failures are ignored (presence is best effort).
 */
class AgentStatus {
  #write: (status: string) => Promise<void>;
  #next: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;

  constructor(write: (status: string) => Promise<void>) {
    this.#write = write;
  }

  set(status: string): void {
    this.#next = status;
    if (!this.#timer && !this.#writing) this.#timer = setTimeout(() => void this.#drain(), STATUS_DELAY_MS);
  }

  /** Drops a status not yet written (the run is leaving) and resolves once none is being written. */
  async discard(): Promise<void> {
    this.#next = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }

  #drain(): Promise<void> {
    this.#timer = undefined;
    if (this.#next === undefined) return Promise.resolve();
    this.#writing ??= (async () => {
      while (this.#next !== undefined) {
        const status = this.#next;
        this.#next = undefined;
        await this.#write(status).catch(() => {});
      }
      this.#writing = undefined;
    })();
    return this.#writing;
  }
}
