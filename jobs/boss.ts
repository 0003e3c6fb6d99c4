import { PgBoss } from "pg-boss";
import type { Logger } from "../src/infra/log";
import { QUEUES } from "./queues";

/** pg-boss keeps its own small `pg` pool; see docs/architecture.md for why. */
const BOSS_POOL_SIZE = 4;
/** How long running jobs get to finish on shutdown before pg-boss stops waiting. */
export const JOB_STOP_TIMEOUT_MS = 10_000;

/**
 * Starts pg-boss with LISTEN/NOTIFY wake-ups on and every queue created.
 *
 * @example
 * const boss = await startJobQueue({ url, log });
 * await boss.send(QUEUES.agentRun.name, { runId });
 */
export async function startJobQueue(options: { url: string; log: Logger; schedule?: boolean }): Promise<PgBoss> {
  const { log } = options;
  const boss = new PgBoss({
    connectionString: options.url,
    max: BOSS_POOL_SIZE,
    useListenNotify: true,
    schedule: options.schedule ?? true,
    application_name: "durable-studio-jobs",
  });
  boss.on("error", (error) => log.error("job queue error", { error }));
  boss.on("warning", (warning: { message?: string; type?: string }) => log.warn("job queue warning", { type: warning?.type, detail: warning?.message }));
  await boss.start();
  for (const queue of Object.values(QUEUES)) {
    const existing = await boss.getQueue(queue.name);
    if (!existing) await boss.createQueue(queue.name, queue.options);
  }
  return boss;
}
