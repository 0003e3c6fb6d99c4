import type { Sql } from "postgres";
import type { PgBoss } from "pg-boss";
import { Authenticator } from "./accounts/principal";
import type { Listener } from "./infra/listener";
import { DURATION_BUCKETS_SECONDS, Metrics, METRICS_CONTENT_TYPE } from "./infra/metrics";
import type { StreamHub } from "./streams/hub";
import type { AppendWriter } from "./streams/writer";
import type { SessionSockets } from "./sessions/socket";
import type { SessionFollowers } from "./sessions/follower";
import { QUEUES } from "../jobs/queues";

/** The channel of the NOTIFY round-trip probe sent on each scrape. */
export const NOTIFY_PROBE_CHANNEL = "ds_metrics_probe";
/** A probe NOTIFY not back by then counts as a timeout (and the lag gauge shows this value). */
export const NOTIFY_PROBE_TIMEOUT_MS = 2_000;

/** What the service's metrics read; every part is optional so a process reports what it runs. */
export interface MetricSources {
  role: "all" | "web" | "worker";
  sql: Sql;
  listener: Listener;
  hub: StreamHub;
  writer: AppendWriter;
  boss: PgBoss;
  sockets?: SessionSockets;
  followers?: SessionFollowers;
}

/**
 * The service's Prometheus metrics: WebSocket connections and subscriptions, stream readers,
 * appends and their group-commit batches, NOTIFY round-trip lag, job queue depth, runs, run
 * durations and provider errors. `GET /metrics` answers with them for the bootstrap API token or a
 * team API token.
 *
 * @example
 * const serviceMetrics = new ServiceMetrics(sources);
 * await serviceMetrics.start();
 * app.get("/metrics", (c) => serviceMetrics.handle(c.req.raw, auth));
 * runtime.onRunEnded = (run) => serviceMetrics.runEnded(run);
 */
export class ServiceMetrics {
  readonly registry = new Metrics();
  #sources: MetricSources;
  #runDurations;
  #providerErrors;
  #probeTimeouts;
  #probes = new Map<string, (at: number) => void>();
  #probeSeq = 0;
  #processTag = Math.random().toString(36).slice(2, 10);

  constructor(sources: MetricSources) {
    this.#sources = sources;
    const { registry } = this;
    const started = Date.now();
    registry.gauge("ds_info", "This process: its ROLE, as a label (value 1).", () => [{ labels: { role: sources.role }, value: 1 }], ["role"]);
    registry.gauge("ds_process_uptime_seconds", "Seconds since this process started serving.", () => (Date.now() - started) / 1000);
    registry.gauge("ds_process_resident_memory_bytes", "Resident memory of this process (RSS).", () => process.memoryUsage().rss);
    registry.gauge("ds_websocket_connections", "Open WebSocket connections on this process.", () => sources.sockets?.socketCount ?? 0);
    registry.gauge("ds_websocket_subscriptions", "Session subscriptions on this process's WebSockets (a socket may follow many sessions).", () => sources.sockets?.subscriptionCount ?? 0);
    registry.gauge("ds_websocket_feeds", "Sessions with at least one WebSocket subscriber on this process.", () => sources.sockets?.feedCount ?? 0);
    registry.gauge("ds_stream_watchers", "Readers waiting on this process's stream hub: long-polls, SSE responses, WebSocket feeds and agent watches.", () => sources.hub.watcherCount);
    registry.counterFrom("ds_appends_total", "Appends committed by this process's group-commit writer.", () => sources.writer.stats.appends);
    registry.counterFrom("ds_append_batches_total", "Group-commit transactions of this process's writer; appends_total / append_batches_total is the mean batch size.", () => sources.writer.stats.transactions);
    registry.counterFrom("ds_append_locked_batches_total", "Batches that took the writer's locking path (first sight of a stream, idempotency keys, another process wrote meanwhile).", () => sources.writer.stats.locked ?? 0);
    registry.counterFrom("ds_session_follower_reads_total", "Table reads by this process's session followers (another process's appends, catch-up after a gap).", () => sources.followers?.stats.tableReads ?? 0);
    registry.counterFrom("ds_session_follower_handed_batches_total", "Append batches this process committed and handed to its session followers with the wake-up, without a table read.", () => sources.followers?.stats.handedBatches ?? 0);
    registry.gauge("ds_notify_lag_seconds", "Round trip of a NOTIFY sent on this scrape through Postgres back to this process's LISTEN connection (commit → wake-up of readers).", () => this.#probeNotify());
    this.#probeTimeouts = registry.counter("ds_notify_probe_timeouts_total", `NOTIFY probes not back within ${NOTIFY_PROBE_TIMEOUT_MS} ms: the LISTEN connection is stuck or Postgres is overloaded.`);
    registry.gauge("ds_job_queue_jobs", "Jobs per pg-boss queue and state, as pg-boss last counted them (its monitor refreshes the counts about once a minute).", async () => {
      const samples: Array<{ labels: Record<string, string>; value: number }> = [];
      for (const queue of Object.values(QUEUES)) {
        const found = await sources.boss.getQueue(queue.name);
        if (!found) continue;
        samples.push({ labels: { queue: queue.name, state: "queued" }, value: found.queuedCount });
        samples.push({ labels: { queue: queue.name, state: "active" }, value: found.activeCount });
        samples.push({ labels: { queue: queue.name, state: "failed" }, value: found.failedCount });
      }
      return samples;
    }, ["queue", "state"]);
    registry.gauge("ds_runs", "Agent runs not yet finished, by status, across every process (read live from the runs table): queued is the backlog.", async () => {
      const rows = await sources.sql<{ status: string; count: number }[]>`
        select status, count(*)::int as count from runs where status in ('queued', 'running', 'retrying') group by status`;
      const counts = new Map(rows.map((row) => [row.status, row.count]));
      return ["queued", "running", "retrying"].map((status) => ({ labels: { status }, value: counts.get(status) ?? 0 }));
    }, ["status"]);
    this.#runDurations = registry.histogram("ds_run_duration_seconds", "Agent runs executed by this process, from start to end, by agent and final status.", DURATION_BUCKETS_SECONDS, ["agent", "status"]);
    this.#providerErrors = registry.counter("ds_provider_errors_total", "AI provider calls that failed, by provider and error code.", ["provider", "code"]);
  }

  /** Listens for this process's NOTIFY probes. */
  async start(): Promise<void> {
    await this.#sources.listener.on(NOTIFY_PROBE_CHANNEL, (payload) => this.#probes.get(payload)?.(performance.now()));
  }

  /** Records a run this process executed. */
  runEnded(run: { agent: string; status: string; durationMs: number }): void {
    this.#runDurations.observe({ agent: run.agent, status: run.status }, run.durationMs / 1000);
  }

  /** Records a failed provider call. */
  providerError(provider: string, code: string): void {
    this.#providerErrors.inc({ provider, code });
  }

  /**
   * `GET /metrics`: the text format for the bootstrap API token or a team API token; 401 otherwise.
   * Prometheus sends it with `authorization: { credentials: … }` (Bearer).
   */
  async handle(request: Request, auth: Authenticator): Promise<Response> {
    const principal = await auth.authenticate(Authenticator.bearer(request));
    if (!principal || (principal.kind !== "admin" && principal.kind !== "token")) {
      return Response.json({ error: { code: "unauthorized", message: "Send Authorization: Bearer <API_TOKEN or a team API token> to read metrics." } }, { status: 401, headers: { "www-authenticate": "Bearer" } });
    }
    return new Response(await this.registry.render(), { headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" } });
  }

  /** Sends a NOTIFY and waits for it to come back on the LISTEN connection; seconds. */
  async #probeNotify(): Promise<number> {
    const tag = `${this.#processTag}:${++this.#probeSeq}`;
    const sent = performance.now();
    const back = new Promise<number>((resolve) => this.#probes.set(tag, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), NOTIFY_PROBE_TIMEOUT_MS)));
    try {
      await this.#sources.sql`select pg_notify(${NOTIFY_PROBE_CHANNEL}, ${tag})`;
      const at = await Promise.race([back, timeout]);
      if (at === undefined) {
        this.#probeTimeouts.inc();
        return NOTIFY_PROBE_TIMEOUT_MS / 1000;
      }
      return (at - sent) / 1000;
    } finally {
      clearTimeout(timer);
      this.#probes.delete(tag);
    }
  }
}
