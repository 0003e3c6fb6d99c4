import { describe, test, expect, afterAll } from "bun:test";
import { existsSync, readFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import postgres from "postgres";
import { spawn } from "bun";
import { startServer, removeDataDir, ROOT, TEST_API_TOKEN, type TestServer } from "./support/server";

const started: TestServer[] = [];
afterAll(async () => {
  for (const server of started) await server.stop();
});

async function start(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  started.push(server);
  return server;
}

/** Runs the server with `env` and returns its exit code and stderr (for configuration errors). */
async function runExpectingExit(env: Record<string, string>) {
  const child = spawn(["bun", "src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", DATA_DIR: mkdtempSync(join(tmpdir(), "ds-cfg-")), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, stderr: await new Response(child.stderr).text() };
}

function clusterDir(server: TestServer): string {
  return JSON.parse(server.logs.find((line) => line.includes("embedded postgres ready"))!).dir;
}

function embeddedUrl(server: TestServer): string {
  const ready = JSON.parse(server.logs.find((line) => line.includes("embedded postgres ready"))!);
  const password = readFileSync(join(server.dataDir, "postgres.password"), "utf8").trim();
  return `postgres://postgres:${password}@127.0.0.1:${ready.port}/durable_studio`;
}

describe("health", () => {
  test("GET /healthz answers 200 {ok:true} once database, migrations and jobs are ready", async () => {
    const server = await start();
    const res = await server.fetch("/healthz", { auth: false });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  test("GET /healthz answers 503 naming what is not ready while the database does not answer", async () => {
    // A TCP server that accepts connections and never speaks: the database step cannot finish.
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const server = await start({ databaseUrl: `postgres://nobody@127.0.0.1:${silent.port}/none`, waitReady: false });
      const res = await server.fetch("/healthz", { auth: false });
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.ok).toBe(false);
      expect(body.notReady).toEqual(["database", "migrations", "jobs"]);
      expect(body.error.code).toBe("not_ready");
      // Those 503s are expected while starting (a health check polls them): never logged as errors.
      expect((await server.fetch("/api/anything")).status).toBe(503);
      await server.waitForLog(/"level":"error","time":"[^"]+","msg":"request".*"path":"\/api\/anything"/);
      expect(server.logs.filter((line) => line.includes('"path":"/healthz"') && /"level":"(error|warn)"/.test(line))).toEqual([]);
      await server.kill();
    } finally {
      silent.stop(true);
    }
  });

  test("unknown routes answer 404 in the error shape", async () => {
    const server = await start();
    const res = await server.fetch("/no/such/route");
    expect(res.status).toBe(404);
    const body = await res.json();
    expect(body.error.code).toBe("not_found");
    expect(typeof body.error.message).toBe("string");
  });
});

describe("configuration", () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ["PORT", { PORT: "eighty" }, /PORT="eighty" is invalid: expected an integer port/],
    ["PORT range", { PORT: "70000" }, /PORT="70000" is invalid/],
    ["STREAMS_AUTH", { STREAMS_AUTH: "maybe" }, /STREAMS_AUTH="maybe" is invalid: expected on or off/],
    ["DATABASE_URL", { DATABASE_URL: "mysql://localhost/db" }, /DATABASE_URL="mysql:\/\/localhost\/db" is invalid: expected a postgres:\/\//],
    ["ROLE", { ROLE: "boss" }, /ROLE="boss" is invalid: expected all, web or worker/],
    ["AI_PROVIDER", { AI_PROVIDER: "gpt" }, /AI_PROVIDER="gpt" is invalid/],
    ["OPENAI_BASE_URL", { OPENAI_BASE_URL: "ftp://x" }, /OPENAI_BASE_URL="ftp:\/\/x" is invalid: expected an http\(s\) URL/],
    ["API_TOKEN too short", { API_TOKEN: "short" }, /API_TOKEN=\(hidden\) is invalid: expected a bootstrap admin token of at least 16/],
  ];
  for (const [name, env, message] of cases) {
    test(`a bad ${name} stops start-up with one clear line`, async () => {
      const { code, stderr } = await runExpectingExit(env);
      expect(code).toBe(2);
      const lines = stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }

  test("a secret value is never echoed in the error line", async () => {
    const { stderr } = await runExpectingExit({ SECRET_KEY: "too-short-secret" });
    expect(stderr).toContain("SECRET_KEY=(hidden) is invalid");
    expect(stderr).not.toContain("too-short-secret");
  });
});

describe("embedded postgres, restart and shutdown", () => {
  // Deliberately private (0700): as root this exercises the fallback location for the cluster.
  const dataDir = mkdtempSync(join(tmpdir(), "ds-embedded-"));
  let fallbackCluster: string | undefined;
  afterAll(() => {
    removeDataDir(dataDir);
    if (fallbackCluster?.startsWith("/var/lib/durable-studio/")) removeDataDir(join(fallbackCluster, ".."));
  });

  test("with no DATABASE_URL it starts an embedded Postgres in DATA_DIR and becomes healthy", async () => {
    const started = performance.now();
    const server = await start({ dataDir, databaseUrl: null });
    expect((await server.fetch("/healthz")).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(60_000);
    expect(existsSync(join(clusterDir(server), "PG_VERSION"))).toBe(true);
    fallbackCluster = clusterDir(server);
    if (process.getuid?.() === 0) {
      // mkdtemp made DATA_DIR private (0700): as root, the postgres user cannot enter it, so the
      // cluster lives elsewhere and the log and a note in DATA_DIR say where.
      expect(server.logs.some((line) => line.includes("DATA_DIR is not reachable by the postgres system user"))).toBe(true);
      expect(readFileSync(join(dataDir, "POSTGRES_LOCATION.txt"), "utf8")).toContain(clusterDir(server));
    }
    expect(readFileSync(join(dataDir, "secret.key"), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);

    // Leave a row behind to prove the next start reuses the data.
    const sql = postgres(embeddedUrl(server), { max: 1 });
    await sql`create table restart_probe (value text)`;
    await sql`insert into restart_probe values ('kept')`;
    await sql.end();

    const code = await server.stop();
    expect(code).toBe(0);
    const order = server.logs.map((line) => JSON.parse(line).msg).filter((msg) => ["signal received", "shutting down", "stopped"].includes(msg));
    expect(order).toEqual(["signal received", "shutting down", "stopped"]);
  });

  test("a second start on the same DATA_DIR reuses the data and the secret key", async () => {
    const key = readFileSync(join(dataDir, "secret.key"), "utf8");
    const server = await start({ dataDir, databaseUrl: null });
    expect(server.logs.some((line) => line.includes("initialising embedded postgres"))).toBe(false);
    const sql = postgres(embeddedUrl(server), { max: 1 });
    expect([...(await sql`select value from restart_probe`)]).toEqual([{ value: "kept" }]);
    await sql.end();
    expect(readFileSync(join(dataDir, "secret.key"), "utf8")).toBe(key);
    expect(await server.stop()).toBe(0);
  });

  test("after SIGKILL (Postgres left running, stale pid file) a restart on the same DATA_DIR works", async () => {
    const first = await start({ dataDir, databaseUrl: null });
    const orphanPid = Number(readFileSync(join(clusterDir(first), "postmaster.pid"), "utf8").split("\n")[0]);
    await first.kill();
    // The orphaned postmaster is still alive after its parent was killed.
    expect(() => process.kill(orphanPid, 0)).not.toThrow();

    const second = await start({ dataDir, databaseUrl: null });
    expect((await second.fetch("/healthz")).status).toBe(200);
    expect(second.logs.some((line) => line.includes("stopping a Postgres left running by a previous instance"))).toBe(true);
    const sql = postgres(embeddedUrl(second), { max: 1 });
    expect([...(await sql`select value from restart_probe`)]).toEqual([{ value: "kept" }]);
    await sql.end();
    expect(await second.stop()).toBe(0);
    expect(() => process.kill(orphanPid, 0)).toThrow();
  });
});

describe("logging", () => {
  test("request logs are structured lines with status and duration, and never carry tokens", async () => {
    const server = await start();
    await server.fetch("/missing?token=query-secret-value", { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } });
    const line = await server.waitForLog(/"msg":"request".*"path":"\/missing"/);
    const record = JSON.parse(line);
    expect(record).toMatchObject({ level: "info", msg: "request", method: "GET", path: "/missing", status: 404 });
    expect(typeof record.time).toBe("string");
    expect(typeof record.durationMs).toBe("number");
    const all = server.logs.join("\n");
    expect(all).not.toContain("query-secret-value");
    expect(all).not.toContain(TEST_API_TOKEN);
  });
});
