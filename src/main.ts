import { loadConfig, ConfigError } from "./infra/config";
import { createLogger } from "./infra/log";
import { startService } from "./app";
import { stopEmbeddedPostgres } from "./infra/embedded-postgres";

/** Entry point of `bun run start`: read configuration once, start, and stop in order on a signal. */
let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`durable-studio: configuration error: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

const log = createLogger({ level: config.logLevel, base: { service: "durable-studio", pid: process.pid } });

/** A shutdown that has not finished by then stops Postgres anyway and exits non-zero. */
const SHUTDOWN_TIMEOUT_MS = 45_000;

let service: Awaited<ReturnType<typeof startService>> | undefined;
let stopping = false;

/**
 * SIGTERM, SIGINT and SIGHUP (a closed terminal) stop the service in order, and always stop the
 * embedded Postgres: also when the signal arrives during start-up, when the orderly stop fails, or
 * when it hangs. Installed before start-up, so no signal finds Bun's default (exit at once, Postgres
 * left running).
 */
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info("signal received", { signal });
  const deadline = setTimeout(() => {
    log.error("shutdown took too long; stopping postgres and exiting", { timeoutMs: SHUTDOWN_TIMEOUT_MS });
    void stopEmbeddedPostgres().finally(() => process.exit(1));
  }, SHUTDOWN_TIMEOUT_MS);
  let code = 0;
  try {
    // During start-up there is no service yet: start-up fails (see below), or we stop what it started.
    if (service) await service.stop();
  } catch (error) {
    log.error("shutdown failed", { error });
    code = 1;
  }
  await stopEmbeddedPostgres().catch((error) => log.error("stopping postgres failed", { error }));
  clearTimeout(deadline);
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));

try {
  service = await startService({ config, log });
} catch (error) {
  const message = (error as Error).message ?? String(error);
  log.error("start-up failed", { error: message });
  try {
    process.stderr.write(`durable-studio: start-up failed: ${message}\n`);
  } catch {
    // stderr is gone too; the exit code still says it.
  }
  await stopEmbeddedPostgres().catch(() => {});
  process.exit(1);
}
