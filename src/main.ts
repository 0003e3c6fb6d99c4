import { loadConfig, ConfigError } from "./infra/config";
import { createLogger } from "./infra/log";
import { startService } from "./app";

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

let service;
try {
  service = await startService({ config, log });
} catch (error) {
  const message = (error as Error).message ?? String(error);
  log.error("start-up failed", { error: message });
  process.stderr.write(`durable-studio: start-up failed: ${message}\n`);
  process.exit(1);
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info("signal received", { signal });
    try {
      await service.stop();
      process.exit(0);
    } catch (error) {
      log.error("shutdown failed", { error });
      process.exit(1);
    }
  });
}
