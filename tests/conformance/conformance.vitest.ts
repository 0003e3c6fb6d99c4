/**
 * The Durable Streams conformance suite (`@durable-streams/server-conformance-tests`, all 338 tests
 * with subscriptions) against our real server, started as a child process with STREAMS_AUTH=off on
 * its own embedded Postgres (or on a fresh database of DATABASE_URL's server when that is set), and
 * with IMPORT_ALLOW_PRIVATE=on: the suite's webhook receivers listen on 127.0.0.1, which the guarded
 * fetch refuses by default.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import postgres from "postgres";

const root = join(__dirname, "../..");
const config = { baseUrl: "", subscriptions: true, longPollTimeoutMs: 500 };
let child: ChildProcess | undefined;
let dataDir = "";
let database: { admin: string; name: string } | undefined;

async function databaseUrl(): Promise<string | undefined> {
  const base = process.env.DATABASE_URL;
  if (!base) return undefined;
  const name = `ds_conformance_${Date.now().toString(36)}`;
  const sql = postgres(base, { max: 1, onnotice: () => {} });
  await sql.unsafe(`create database ${name}`);
  await sql.end();
  database = { admin: base, name };
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

describe("Durable Streams conformance", () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "ds-conformance-"));
    // Reachable by the postgres system user when run as root (mkdtemp makes it private).
    chmodSync(dataDir, 0o755);
    const url = await databaseUrl();
    const env: Record<string, string> = { ...(process.env as Record<string, string>), PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, STREAMS_AUTH: "off", LONG_POLL_TIMEOUT_MS: "500", LOG_LEVEL: "warn", IMPORT_ALLOW_PRIVATE: "on" };
    if (url) env.DATABASE_URL = url;
    else delete env.DATABASE_URL;
    // warn-level logs still print the listening/ready lines we wait for: read them at info.
    env.LOG_LEVEL = "info";
    child = spawn("bun", [join(root, "src/main.ts")], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
    config.baseUrl = await new Promise<string>((resolve, reject) => {
      let buffer = "";
      let listening = "";
      const timer = setTimeout(() => reject(new Error(`server did not become ready:\n${buffer.slice(-2000)}`)), 90_000);
      child!.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const line of buffer.split("\n")) {
          if (line.includes('"msg":"listening"')) listening = JSON.parse(line).url;
          if (line.includes('"msg":"ready"') && listening) {
            clearTimeout(timer);
            resolve(listening);
          }
        }
        if (buffer.length > 100_000) buffer = buffer.slice(-10_000);
      });
      child!.once("exit", (code) => reject(new Error(`server exited with ${code}:\n${buffer.slice(-2000)}`)));
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => child!.once("exit", resolve));
    }
    rmSync(dataDir, { recursive: true, force: true });
    if (database) {
      const sql = postgres(database.admin, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${database.name} with (force)`).catch(() => {});
      await sql.end();
    }
  });

  runConformanceTests(config);
});
