import type { Queue } from "pg-boss";

/**
 * Every pg-boss queue this service uses, created at start-up before any worker attaches
 * (pg-boss 12 refuses `work` on a queue that does not exist).
 */
export const QUEUES = {
  /**
   * Agent runs: woken by NOTIFY so a run starts in milliseconds, not at the next poll. Retried when a
   * worker dies (the runtime's reaper notices a stale run heartbeat within seconds; pg-boss's own job
   * heartbeat is the backstop).
   */
  agentRun: { name: "agent-run", options: { notify: true, retryLimit: 3, retryDelay: 0, expireInSeconds: 3600, heartbeatSeconds: 30 } },
  /** Reclaims expired streams; scheduled every minute. */
  streamsReclaim: { name: "streams-reclaim", options: { notify: false, retryLimit: 1 } },
} as const satisfies Record<string, { name: string; options: Omit<Queue, "name"> }>;

/**
 * NOTIFY channel that wakes the agent runtimes of every process when a run is queued (payload: the
 * run id). Only a wake-up: runtimes fetch from the queue, and poll it as a backstop.
 */
export const RUN_QUEUED_CHANNEL = "ds_run_queued";

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES]["name"];
