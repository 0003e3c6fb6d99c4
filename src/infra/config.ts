import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { z } from "zod";

/** Where a variable came from and what it accepts: used to print one clear line on a bad value. */
const VARIABLES = {
  PORT: "an integer port from 0 to 65535 (0 picks a free port)",
  HOST: "a hostname or IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0",
  DATABASE_URL: "a postgres:// or postgresql:// connection URL (unset = embedded Postgres)",
  DATA_DIR: "a directory path (created if missing)",
  API_TOKEN: "a bootstrap admin token of at least 16 characters",
  SECRET_KEY: "at least 32 characters (unset = generated once and kept in DATA_DIR)",
  STREAMS_AUTH: "on or off",
  AI_PROVIDER: "auto, offline, anthropic or openai",
  ANTHROPIC_API_KEY: "an Anthropic API key",
  ANTHROPIC_BASE_URL: "an http(s) URL",
  OPENAI_API_KEY: "an OpenAI API key",
  OPENAI_BASE_URL: "an http(s) URL of the OpenAI API or any OpenAI-compatible server (Ollama, llama.cpp, vLLM), e.g. http://localhost:11434/v1",
  TEXT_PROVIDER: "auto, offline, anthropic or openai (the model that writes copy; unset = AI_PROVIDER)",
  TEXT_MODEL: "a model name of TEXT_PROVIDER, e.g. claude-sonnet-4-5, gpt-4.1-mini or llama3.1 (needs TEXT_PROVIDER anthropic or openai)",
  IMAGE_PROVIDER: "auto, offline or openai (what draws the hero image; unset = auto)",
  IMAGE_MODEL: "an image model name of IMAGE_PROVIDER, e.g. gpt-image-1 (needs IMAGE_PROVIDER=openai)",
  ROLE: "all, web or worker",
  LOG_LEVEL: "debug, info, warn or error",
  LONG_POLL_TIMEOUT_MS: "milliseconds from 100 to 120000 that a long-poll waits (also the SSE keep-alive interval)",
  PUBLIC_URL: "the absolute http(s) URL this service is reached at, e.g. https://studio.example.com",
  IMPORT_ALLOW_PRIVATE: "on or off (on lets brand import and webhooks reach private and loopback addresses; for tests, development and intranets)",
  SMTP_URL: "an smtp:// or smtps:// URL with optional user:password, e.g. smtps://user:pass@smtp.example.com:465 (unset = test sends are off)",
  MAIL_FROM: "the sender of test sends: an address or a name and address, e.g. Studio <studio@example.com> (required with SMTP_URL)",
} as const;

export type VariableName = keyof typeof VARIABLES;

/** `user@host` or `Display Name <user@host>` (no quotes, brackets or line breaks in the name). */
const MAIL_FROM_PATTERN = /^(?:[^<>"\r\n]{0,100} <[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)$/;

const httpUrl = z
  .string()
  .url()
  .refine((value) => /^https?:\/\//.test(value));

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .refine((value) => /^postgres(ql)?:\/\/.+/.test(value))
    .optional(),
  DATA_DIR: z.string().min(1).default("./data"),
  API_TOKEN: z.string().min(16).optional(),
  SECRET_KEY: z.string().min(32).optional(),
  STREAMS_AUTH: z.enum(["on", "off"]).default("on"),
  AI_PROVIDER: z.enum(["auto", "offline", "anthropic", "openai"]).default("auto"),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: httpUrl.optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: httpUrl.optional(),
  TEXT_PROVIDER: z.enum(["auto", "offline", "anthropic", "openai"]).optional(),
  TEXT_MODEL: z.string().min(1).max(200).optional(),
  IMAGE_PROVIDER: z.enum(["auto", "offline", "openai"]).optional(),
  IMAGE_MODEL: z.string().min(1).max(200).optional(),
  ROLE: z.enum(["all", "web", "worker"]).default("all"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  LONG_POLL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(30_000),
  PUBLIC_URL: httpUrl.optional(),
  IMPORT_ALLOW_PRIVATE: z.enum(["on", "off"]).default("off"),
  SMTP_URL: z
    .string()
    .url()
    .refine((value) => /^smtps?:\/\/[^/]+/.test(value))
    .optional(),
  MAIL_FROM: z
    .string()
    .max(320)
    .refine((value) => MAIL_FROM_PATTERN.test(value))
    .optional(),
});

/** The validated configuration, read once at start. */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  apiToken: string | undefined;
  secretKey: string;
  streamsAuth: boolean;
  aiProvider: "auto" | "offline" | "anthropic" | "openai";
  anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  openai: { apiKey: string | undefined; baseUrl: string | undefined };
  /** The copy model: provider (unset = AI_PROVIDER) and model name (unset = the provider's default). */
  text: { provider: "auto" | "offline" | "anthropic" | "openai" | undefined; model: string | undefined };
  /** The hero image model: provider (unset = auto: OpenAI when configured, else offline) and model name. */
  image: { provider: "auto" | "offline" | "openai" | undefined; model: string | undefined };
  role: "all" | "web" | "worker";
  logLevel: "debug" | "info" | "warn" | "error";
  longPollTimeoutMs: number;
  publicUrl: string | undefined;
  /** Brand import and webhooks may reach private, loopback and unique-local addresses (never link-local or metadata ones). */
  importAllowPrivate: boolean;
  /** Where test sends go out (`SMTP_URL`) and who they come from (`MAIL_FROM`); undefined = test sends are off. */
  mail: { smtpUrl: string; from: string } | undefined;
}

/** A configuration problem, with the one line to print. */
export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads and checks every variable once. Empty strings count as unset, so `FOO=` in a .env file
 * means "use the default" rather than "invalid".
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError naming the bad variable
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const name of Object.keys(VARIABLES)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") input[name] = value.trim();
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]) as VariableName;
    const shown = name === "API_TOKEN" || name === "SECRET_KEY" || name === "SMTP_URL" || name.endsWith("_API_KEY") ? "(hidden)" : JSON.stringify(input[name]);
    throw new ConfigError(name, `${name}=${shown} is invalid: expected ${VARIABLES[name]}`);
  }
  const values = parsed.data;
  checkModels(values);
  if (values.SMTP_URL && !values.MAIL_FROM) throw new ConfigError("MAIL_FROM", `MAIL_FROM is missing: SMTP_URL is set, so test sends need ${VARIABLES.MAIL_FROM}`);
  const dataDir = resolve(values.DATA_DIR);
  return {
    port: values.PORT,
    host: values.HOST,
    databaseUrl: values.DATABASE_URL,
    dataDir,
    apiToken: values.API_TOKEN,
    secretKey: values.SECRET_KEY ?? loadOrCreateSecretKey(dataDir),
    streamsAuth: values.STREAMS_AUTH === "on",
    aiProvider: values.AI_PROVIDER,
    anthropic: { apiKey: values.ANTHROPIC_API_KEY, baseUrl: values.ANTHROPIC_BASE_URL },
    openai: { apiKey: values.OPENAI_API_KEY, baseUrl: values.OPENAI_BASE_URL },
    text: { provider: values.TEXT_PROVIDER, model: values.TEXT_MODEL },
    image: { provider: values.IMAGE_PROVIDER, model: values.IMAGE_MODEL },
    role: values.ROLE,
    logLevel: values.LOG_LEVEL,
    longPollTimeoutMs: values.LONG_POLL_TIMEOUT_MS,
    publicUrl: values.PUBLIC_URL?.replace(/\/+$/, ""),
    importAllowPrivate: values.IMPORT_ALLOW_PRIVATE === "on",
    mail: values.SMTP_URL && values.MAIL_FROM ? { smtpUrl: values.SMTP_URL, from: values.MAIL_FROM } : undefined,
  };
}

/**
 * The text and image providers are chosen separately; a model name only means something for a named
 * provider, and a named provider needs its key (an OpenAI-compatible server at OPENAI_BASE_URL may
 * need none).
 */
function checkModels(values: z.infer<typeof schema>): void {
  const text = values.TEXT_PROVIDER ?? values.AI_PROVIDER;
  if (values.TEXT_MODEL && (text === "auto" || text === "offline")) {
    throw new ConfigError("TEXT_MODEL", `TEXT_MODEL=${JSON.stringify(values.TEXT_MODEL)} needs TEXT_PROVIDER=anthropic or openai (it names a model of that provider).`);
  }
  if (values.IMAGE_MODEL && values.IMAGE_PROVIDER !== "openai") {
    throw new ConfigError("IMAGE_MODEL", `IMAGE_MODEL=${JSON.stringify(values.IMAGE_MODEL)} needs IMAGE_PROVIDER=openai.`);
  }
  const openai = values.OPENAI_API_KEY !== undefined || values.OPENAI_BASE_URL !== undefined;
  if (values.TEXT_PROVIDER === "anthropic" && !values.ANTHROPIC_API_KEY) throw new ConfigError("TEXT_PROVIDER", "TEXT_PROVIDER=anthropic needs ANTHROPIC_API_KEY.");
  if (values.TEXT_PROVIDER === "openai" && !openai) throw new ConfigError("TEXT_PROVIDER", "TEXT_PROVIDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server.");
  if (values.IMAGE_PROVIDER === "openai" && !openai) throw new ConfigError("IMAGE_PROVIDER", "IMAGE_PROVIDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server.");
}

const SECRET_KEY_FILE = "secret.key";

/** The secret that signs client tokens and cookies survives restarts: generate it once per DATA_DIR. */
function loadOrCreateSecretKey(dataDir: string): string {
  const file = join(dataDir, SECRET_KEY_FILE);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new ConfigError("DATA_DIR", `DATA_DIR=${JSON.stringify(dataDir)} cannot be created: ${(error as Error).message}`);
  }
  if (existsSync(file)) {
    const existing = readFileSync(file, "utf8").trim();
    if (existing.length >= 32) return existing;
  }
  const key = randomBytes(32).toString("hex");
  writeFileSync(file, key + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}
