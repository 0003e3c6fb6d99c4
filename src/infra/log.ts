/** Structured one-line JSON logs: `{"level","time","msg",...fields}` on stdout. */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values are never written: tokens, passwords, keys, cookies. */
const SECRET_FIELD = /token|password|secret|api[_-]?key|authorization|cookie|signature/i;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether lines at `level` are written: lets hot paths skip building fields nobody reads. */
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/**
 * @example
 * const log = createLogger({ level: "info", base: { component: "http" } });
 * log.info("request", { method: "GET", status: 200, durationMs: 3.1 });
 */
export function createLogger(options: { level?: LogLevel; base?: LogFields; write?: (line: string) => void } = {}): Logger {
  const minimum = LEVEL_RANK[options.level ?? "info"];
  const base = options.base ?? {};
  const write = options.write ?? writeToStdout;

  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVEL_RANK[level] < minimum) return;
    const record = { level, time: new Date().toISOString(), msg, ...redact(base), ...redact(fields ?? {}) };
    write(JSON.stringify(record, errorReplacer));
  };

  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    enabled: (level) => LEVEL_RANK[level] >= minimum,
    child: (fields) => createLogger({ level: options.level, base: { ...base, ...fields }, write }),
  };
}

/** Set once standard output is gone (a closed pipe or socket): later lines are dropped. */
let stdoutGone = false;
let stdoutWatched = false;

/**
 * Writes a line to stdout, and never lets logging take the process down: when the reader has gone
 * (EPIPE: a dropped SSH session, a log shipper that died) the error is swallowed and logging stops,
 * whether Bun reports it by throwing or as an `error` event on the stream.
 */
function writeToStdout(line: string): void {
  if (stdoutGone) return;
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on("error", () => {
      stdoutGone = true;
    });
  }
  try {
    process.stdout.write(line + "\n");
  } catch {
    stdoutGone = true;
  }
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = SECRET_FIELD.test(key) && value !== undefined ? "[redacted]" : value;
  }
  return out;
}

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Strips credentials from a connection URL before it is logged. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable url)";
  }
}
