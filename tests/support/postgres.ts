import postgres from "postgres";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readdirSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { EmbeddedPostgres } from "../../src/infra/embedded-postgres";
import { MIGRATIONS_FOLDER, runMigrations } from "../../src/infra/database";
import { startJobQueue } from "../../jobs/boss";
import { createLogger } from "../../src/infra/log";

/**
 * One Postgres server for the whole test run (embedded, or DATABASE_URL when set) and one template
 * database with every migration and the pg-boss schema applied. Each test file clones the template
 * (`CREATE DATABASE … TEMPLATE`, tens of milliseconds), so files get their own database cheaply.
 */
const quiet = createLogger({ level: "error" });
let serverUrl: Promise<string> | undefined;
let embedded: EmbeddedPostgres | undefined;
let embeddedDir: string | undefined;
let template: Promise<string> | undefined;
const clones: string[] = [];

function baseUrl(): Promise<string> {
  serverUrl ??= (async () => {
    if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
    embeddedDir = join(tmpdir(), `ds-test-pg-${process.pid}`);
    mkdirSync(embeddedDir, { recursive: true });
    embedded = new EmbeddedPostgres({ dataDir: embeddedDir, log: quiet });
    return embedded.start();
  })();
  return serverUrl;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** A fingerprint of the migrations, so a changed schema never reuses a stale template. */
function migrationsHash(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith(".sql")).sort()) {
    hash.update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  return hash.digest("hex").slice(0, 12);
}

async function templateName(): Promise<string> {
  template ??= (async () => {
    const url = await baseUrl();
    const name = `ds_template_${migrationsHash()}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin`select pg_advisory_lock(4242)`;
      const exists = await admin`select 1 from pg_database where datname = ${name}`;
      if (exists.length === 0) {
        const building = `${name}_building_${randomBytes(3).toString("hex")}`;
        await admin.unsafe(`create database ${building}`);
        const buildingUrl = withDatabase(url, building);
        await runMigrations({ url: buildingUrl, log: quiet });
        const boss = await startJobQueue({ url: buildingUrl, log: quiet, schedule: false });
        await boss.stop({ graceful: false, close: true });
        await admin.unsafe(`alter database ${building} rename to ${name}`);
      }
      await admin`select pg_advisory_unlock(4242)`;
    } finally {
      await admin.end();
    }
    return name;
  })();
  return template;
}

/** A fresh database, cloned from the migrated template; returns its URL. */
export async function freshDatabase(): Promise<string> {
  const url = await baseUrl();
  const source = await templateName();
  const name = `ds_t_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${source}`);
  } finally {
    await admin.end();
  }
  clones.push(name);
  return withDatabase(url, name);
}

/** Drops the clones and stops the embedded server; called once at the end of the run. */
export async function releaseTestPostgres(): Promise<void> {
  if (!serverUrl) return;
  const url = await serverUrl;
  if (process.env.DATABASE_URL) {
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    for (const name of clones) await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end();
  }
  if (embedded) await embedded.stop();
  if (embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
}
