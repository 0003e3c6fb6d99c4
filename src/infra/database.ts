import postgres, { type Sql } from "postgres";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { join } from "node:path";
import type { Logger } from "./log";
import { Listener } from "./listener";

/** Connections in the app pool; the LISTEN connection and pg-boss's pool are separate. */
export const APP_POOL_SIZE = 20;
/** Key of the advisory lock held while migrations run, so instances can start together. */
export const MIGRATION_LOCK_KEY = 727_274_001;
export const MIGRATIONS_FOLDER = join(import.meta.dir, "../../db/migrations");

/** The one place that owns this process's Postgres connections. */
export interface Database {
  /** The app pool: every query is hand-written SQL (db/schema.ts is drizzle-kit's source for migrations). */
  sql: Sql;
  /** A single-connection client for the append writer only (see AppendWriter). */
  appendSql: Sql;
  /** The process's single LISTEN connection. */
  listener: Listener;
  url: string;
  close(): Promise<void>;
}

/**
 * Opens the app pool and the LISTEN connection.
 *
 * @example
 * const database = await openDatabase({ url, log });
 * await database.sql`select 1`;
 */
export async function openDatabase(options: { url: string; log: Logger; poolSize?: number; socketPath?: string }): Promise<Database> {
  const connect = (max: number) =>
    postgres(options.url, {
      max,
      // The embedded cluster's Unix socket, when it has one: the pools carry every query and append.
      ...(options.socketPath ? { path: options.socketPath } : {}),
      onnotice: () => {},
      prepare: true,
      connection: { application_name: "durable-studio" },
      // int8 as numbers: our ids, positions and epochs stay far below 2^53.
      types: { bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } },
    });
  const sql = connect(options.poolSize ?? APP_POOL_SIZE);
  // Apart from the pool, and max: 1, so the writer may send BEGIN … COMMIT itself, pipelined with its statements.
  const appendSql = connect(1);
  await sql`select 1`;
  const listener = new Listener({ url: options.url, socketPath: options.socketPath, log: options.log.child({ component: "listener" }) });
  return {
    sql,
    appendSql,
    listener,
    url: options.url,
    async close() {
      await listener.close();
      await Promise.all([sql, appendSql].map((client) => client.end({ timeout: 5 })));
    },
  };
}

/**
 * Applies pending drizzle migrations while holding a Postgres advisory lock: drizzle's migrator takes
 * none, and two instances starting together would otherwise race on the same DDL.
 */
export async function runMigrations(options: { url: string; log: Logger }): Promise<void> {
  const sql = postgres(options.url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const started = performance.now();
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
    options.log.info("migrations applied", { durationMs: Math.round(performance.now() - started) });
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
