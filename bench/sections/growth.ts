import type { Sql } from "postgres";
import { formatCount, formatMs, percentile, type Column, type RunOptions, type Section } from "../section";
import type { RunningTarget } from "../targets";
import { BENCH_API_TOKEN, api, createSessions, isOurs, ourDatabase, wsUrl } from "../ours";

/** Events in the long session: 100,000 by default, 1,000,000 with `--growth=full`. */
const LONG_EVENTS_DEFAULT = 100_000;
const LONG_EVENTS_FULL = 1_000_000;
/** The short session the long one is compared with. */
const SHORT_EVENTS = 10_000;
/** Idle sessions added (sessions and their streams, no events). */
const IDLE_SESSIONS = 100_000;
/** Every generated event is stored in exactly this many bytes (its JSON and the separating comma). */
const EVENT_BYTES = 100;
/** Events per message: a `message.start`, deltas, a `message.end`. */
const EVENTS_PER_MESSAGE = 100;
/** Events per page of the events API (its maximum). */
const EVENTS_PAGE = 1_000;
/** Events read at the tail. */
const TAIL_EVENTS = 100;
const REPEATS = 5;
const QUICK_REPEATS = 2;
/** A snapshot of a long session is one read of all of it: allow it time. */
const SNAPSHOT_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 60_000;
/** Samples of the small operations timed before and after the idle sessions are added. */
const SMALL_SAMPLES = 30;

interface Reads {
  events: number;
  /** One catch-up GET from the middle: ms (median of the repeats) and the events it returned. */
  middleGetMs: number;
  middleGetEvents: number;
  /** The events API (`limit=1000`) from the middle: ms, median. */
  middlePageMs: number;
  /** A catch-up GET of the last TAIL_EVENTS events: ms, median. */
  tailMs: number;
  /** WebSocket snapshot subscription → `subscribed` frame, the first (nothing kept: compaction folds every event): ms. */
  snapshotColdMs: number;
  /** The same again (the server keeps the compacted state and folds only the appends since): ms, median. */
  snapshotMs: number;
}

export interface GrowthResult {
  short: Reads;
  long: Reads;
  /** Catch-up GET of the whole short session from `-1` (one page): ms, median. */
  shortWholeMs: number;
  /** stream_messages bytes on disk per generated event: table (with TOAST) and indexes. */
  tableBytesPerEvent: number;
  indexBytesPerEvent: number;
  /** Bulk insert rate of the generator (SQL, not the append path). */
  insertRowsPerSecond: number;
  idle: {
    sessions: number;
    /** p50 ms before → after the idle sessions were added. */
    createBefore: number;
    createAfter: number;
    appendBefore: number;
    appendAfter: number;
    /** Bytes on disk per idle session (sessions + streams rows and indexes). */
    bytesPerSession: number;
  };
}

/**
 * How costs grow with data: a long session (100,000 events, or 1,000,000 with `--growth=full`) next
 * to a 10,000-event one, read from the middle, at the tail and as a snapshot; the bytes on disk per
 * 100-byte event; and whether 100,000 idle sessions slow down creating sessions and appending. The
 * sessions are filled with a bulk SQL insert (generating them through HTTP would take most of the run).
 */
export const growthSection: Section<GrowthResult | undefined> = {
  id: "growth",
  title: "Growth: long sessions, many sessions, bytes on disk",

  async measure(target: RunningTarget, options: RunOptions): Promise<GrowthResult | undefined> {
    if (!isOurs(target)) return undefined;
    const repeats = options.quick ? QUICK_REPEATS : REPEATS;
    const longEvents = options.growthFull ? LONG_EVENTS_FULL : LONG_EVENTS_DEFAULT;
    const sql = ourDatabase(target);
    try {
      const [shortId, longId] = await createSessions(target, 2, "growth");
      const sizeBefore = await messageSizes(sql);
      await fill(sql, shortId!, SHORT_EVENTS);
      const insertStarted = performance.now();
      await fill(sql, longId!, longEvents);
      const insertMs = performance.now() - insertStarted;
      await sql`vacuum (analyze) stream_messages`;
      const sizeAfter = await messageSizes(sql);
      const generated = SHORT_EVENTS + longEvents;

      const short = await reads(target, shortId!, SHORT_EVENTS, repeats);
      const long = await reads(target, longId!, longEvents, repeats);
      const shortWholeMs = median(await times(repeats, () => catchUpGet(target, shortId!, "-1").then((r) => r.ms)));

      const idle = await idleSessions(target, sql);
      return {
        short, long, shortWholeMs,
        tableBytesPerEvent: (sizeAfter.table - sizeBefore.table) / generated,
        indexBytesPerEvent: (sizeAfter.indexes - sizeBefore.indexes) / generated,
        insertRowsPerSecond: longEvents / (insertMs / 1000),
        idle,
      };
    } finally {
      await sql.end();
    }
  },

  render(columns: Column<GrowthResult | undefined>[], options: RunOptions): string {
    const ours = columns.find((column) => column.target.id === "ours");
    const longEvents = options.growthFull ? LONG_EVENTS_FULL : LONG_EVENTS_DEFAULT;
    const method = [
      `Ours only (the reference server has no sessions). Two sessions are filled with a bulk SQL insert (not the append path): ${formatCount(SHORT_EVENTS)} events and ${formatCount(longEvents)} events${options.growthFull ? "" : " (`bun run bench --sections=growth --growth=full` builds 1,000,000)"}, every event stored in ${EVENT_BYTES} bytes, ${EVENTS_PER_MESSAGE} to a message (\`message.start\`, deltas, \`message.end\`), then \`VACUUM (ANALYZE)\`. Each read is timed ${options.quick ? QUICK_REPEATS : REPEATS} times; cells are medians in ms.`,
      "",
      `- **From the middle**: one catch-up GET (\`/v1/stream/sessions/<id>?offset=<offset of the middle event>\`; a page holds up to 100,000 appends or 4 MB) and one page of the events API (\`/api/sessions/<id>/events?offset=…&limit=${EVENTS_PAGE}\`).`,
      `- **Tail**: a catch-up GET of the last ${TAIL_EVENTS} events. **Snapshot**: a WebSocket \`subscribe\` with \`mode: "snapshot"\` until its \`subscribed\` frame: the first one folds every event into the compacted messages (no checkpoint is stored yet) and then stores a checkpoint of them in Postgres; the server keeps that state (for the 32 sessions used last, up to 64 MB of state), so the later ones (median) fold only the appends since — none here. A new process would start from the checkpoint instead of the first event (\`bun bench/checkpoint-probe.ts\` times that).`,
      `- **Idle sessions**: ${formatCount(IDLE_SESSIONS)} sessions with their (empty) streams are inserted by SQL; \`POST /api/sessions\` and \`POST /api/sessions/:id/messages\` are timed ${SMALL_SAMPLES} times (p50) before and after.`,
    ].join("\n");
    if (!ours) return `${method}\n\nNot measured (ours was not in this run).`;
    if (!ours.outcome.ok) return `${method}\n\nFailed: ${ours.outcome.reason.split("\n")[0]}`;
    const r = ours.outcome.value!;
    const rows = [
      `| | ${formatCount(r.short.events)} events | ${formatCount(r.long.events)} events | ratio |`,
      "|---|--:|--:|--:|",
      `| Catch-up GET from the middle (ms) | ${formatMs(r.short.middleGetMs)} | ${formatMs(r.long.middleGetMs)} | ${(r.long.middleGetMs / r.short.middleGetMs).toFixed(2)}× |`,
      `| … events in that page | ${formatCount(r.short.middleGetEvents)} | ${formatCount(r.long.middleGetEvents)} | |`,
      `| … µs per event | ${((r.short.middleGetMs * 1000) / r.short.middleGetEvents).toFixed(2)} | ${((r.long.middleGetMs * 1000) / r.long.middleGetEvents).toFixed(2)} | ${((r.long.middleGetMs / r.long.middleGetEvents) / (r.short.middleGetMs / r.short.middleGetEvents)).toFixed(2)}× |`,
      `| Events API, ${formatCount(EVENTS_PAGE)} events from the middle (ms) | ${formatMs(r.short.middlePageMs)} | ${formatMs(r.long.middlePageMs)} | ${(r.long.middlePageMs / r.short.middlePageMs).toFixed(2)}× |`,
      `| Catch-up GET of the last ${TAIL_EVENTS} events (ms) | ${formatMs(r.short.tailMs)} | ${formatMs(r.long.tailMs)} | ${(r.long.tailMs / r.short.tailMs).toFixed(2)}× |`,
      `| Snapshot subscribe → \`subscribed\`, first (ms) | ${formatMs(r.short.snapshotColdMs)} | ${formatMs(r.long.snapshotColdMs)} | ${(r.long.snapshotColdMs / r.short.snapshotColdMs).toFixed(2)}× |`,
      `| … again, from the kept state (ms) | ${formatMs(r.short.snapshotMs)} | ${formatMs(r.long.snapshotMs)} | ${(r.long.snapshotMs / r.short.snapshotMs).toFixed(2)}× |`,
    ];
    const disk = [
      "| | |",
      "|---|--:|",
      `| Catch-up GET of the whole ${formatCount(r.short.events)}-event session from \`-1\` (ms) | ${formatMs(r.shortWholeMs)} |`,
      `| Bytes on disk per ${EVENT_BYTES}-byte event: table / indexes / total | ${r.tableBytesPerEvent.toFixed(0)} / ${r.indexBytesPerEvent.toFixed(0)} / ${(r.tableBytesPerEvent + r.indexBytesPerEvent).toFixed(0)} |`,
      `| Bulk insert of the long session (events/s, SQL) | ${formatCount(r.insertRowsPerSecond)} |`,
      `| \`POST /api/sessions\` p50 (ms), before / with ${formatCount(r.idle.sessions)} idle sessions | ${formatMs(r.idle.createBefore)} / ${formatMs(r.idle.createAfter)} |`,
      `| \`POST …/messages\` p50 (ms), before / with ${formatCount(r.idle.sessions)} idle sessions | ${formatMs(r.idle.appendBefore)} / ${formatMs(r.idle.appendAfter)} |`,
      `| Bytes on disk per idle session (session and stream rows, indexes) | ${r.idle.bytesPerSession.toFixed(0)} |`,
    ];
    return [method, "", ...rows, "", ...disk].join("\n");
  },
};

/** Table (with TOAST) and index bytes of stream_messages. */
async function messageSizes(sql: Sql): Promise<{ table: number; indexes: number }> {
  const [row] = await sql<{ table: string; indexes: string }[]>`
    select pg_table_size('stream_messages')::text as table, pg_indexes_size('stream_messages')::text as indexes`;
  return { table: Number(row!.table), indexes: Number(row!.indexes) };
}

/**
 * Appends `events` generated events to a session's stream in one statement: messages of
 * EVENTS_PER_MESSAGE events, each event padded to EVENT_BYTES stored bytes, one event per append.
 */
async function fill(sql: Sql, sessionId: string, events: number): Promise<void> {
  const path = `/v1/stream/sessions/${sessionId}`;
  const delta = `{"type":"message.delta","id":"m0000000","runId":"run_growth","text":""},`;
  const pad = EVENT_BYTES - delta.length;
  const start = `{"type":"message.start","id":"m0000000","role":"assistant","runId":"run_growth","agent":"chat"},`;
  const end = `{"type":"message.end","id":"m0000000","runId":"run_growth","status":"complete"},`;
  // Padding keeps every event at EVENT_BYTES: starts and ends get spaces before their closing brace.
  const [stream] = await sql<{ id: string }[]>`select id::text from streams where path = ${path}`;
  await sql`
    insert into stream_messages (stream_id, pos, data, count)
    select ${Number(stream!.id)}, g::bigint * ${EVENT_BYTES}, convert_to(body, 'UTF8'), 1
    from (
      select g, case
        when g % ${EVENTS_PER_MESSAGE} = 1 then replace(${start.slice(0, -2)}, 'm0000000', 'm' || lpad(((g - 1) / ${EVENTS_PER_MESSAGE})::text, 7, '0')) || repeat(' ', ${EVENT_BYTES - start.length}) || '},'
        when g % ${EVENTS_PER_MESSAGE} = 0 then replace(${end.slice(0, -2)}, 'm0000000', 'm' || lpad(((g - 1) / ${EVENTS_PER_MESSAGE})::text, 7, '0')) || repeat(' ', ${EVENT_BYTES - end.length}) || '},'
        else replace(${delta.slice(0, -3)}, 'm0000000', 'm' || lpad(((g - 1) / ${EVENTS_PER_MESSAGE})::text, 7, '0')) || lpad((g % 100000)::text, ${pad}, 'x') || '"},'
      end as body
      from generate_series(1, ${events}) as g
    ) generated`;
  await sql`update streams set tail_pos = ${events * EVENT_BYTES} where path = ${path}`;
}

async function reads(target: RunningTarget, sessionId: string, events: number, repeats: number): Promise<Reads> {
  const middle = offsetOf(Math.floor(events / 2) * EVENT_BYTES);
  const middleGets = await times(repeats, () => catchUpGet(target, sessionId, middle));
  const middlePageMs = median(await times(repeats, async () => {
    const started = performance.now();
    const page = await api<{ events: unknown[] }>(target, "GET", `/api/sessions/${sessionId}/events?offset=${middle}&limit=${EVENTS_PAGE}`);
    if (page.events.length !== EVENTS_PAGE) throw new Error(`events API returned ${page.events.length} events, expected ${EVENTS_PAGE}`);
    return performance.now() - started;
  }));
  const tail = offsetOf((events - TAIL_EVENTS) * EVENT_BYTES);
  const tailMs = median(await times(repeats, () => catchUpGet(target, sessionId, tail).then((r) => r.ms)));
  const snapshotColdMs = await snapshotSubscribed(target, sessionId);
  const snapshotMs = median(await times(Math.min(repeats, 3), () => snapshotSubscribed(target, sessionId)));
  return {
    events,
    middleGetMs: median(middleGets.map((r) => r.ms)),
    middleGetEvents: middleGets[0]!.events,
    middlePageMs,
    tailMs,
    snapshotColdMs,
    snapshotMs,
  };
}

/** One catch-up GET of a session's stream; the events it returned, counted by parsing the body. */
async function catchUpGet(target: RunningTarget, sessionId: string, offset: string): Promise<{ ms: number; events: number }> {
  const started = performance.now();
  const response = await fetch(`${target.url}/v1/stream/sessions/${sessionId}?offset=${encodeURIComponent(offset)}`, {
    headers: { authorization: `Bearer ${BENCH_API_TOKEN}` },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET from ${offset} → ${response.status}: ${body.slice(0, 160)}`);
  const events = (JSON.parse(body) as unknown[]).length;
  return { ms: performance.now() - started, events };
}

async function snapshotSubscribed(target: RunningTarget, sessionId: string): Promise<number> {
  const ws = new WebSocket(`${wsUrl(target)}?token=${encodeURIComponent(BENCH_API_TOKEN)}`);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
    });
    const started = performance.now();
    const subscribed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no snapshot within ${SNAPSHOT_TIMEOUT_MS / 1000} s`)), SNAPSHOT_TIMEOUT_MS);
      ws.addEventListener("message", (event) => {
        const text = String(event.data);
        if (text.startsWith(`{"type":"subscribed"`)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        } else if (text.startsWith(`{"type":"error"`)) {
          clearTimeout(timer);
          reject(new Error(`snapshot subscribe failed: ${text.slice(0, 160)}`));
        }
      });
    });
    ws.send(JSON.stringify({ type: "subscribe", session: sessionId, mode: "snapshot" }));
    return await subscribed;
  } finally {
    ws.close();
  }
}

async function idleSessions(target: RunningTarget, sql: Sql): Promise<GrowthResult["idle"]> {
  const [probe] = await createSessions(target, 1, "growth probe");
  const small = async () => {
    const create: number[] = [];
    const append: number[] = [];
    for (let i = 0; i < SMALL_SAMPLES; i++) {
      let started = performance.now();
      await api(target, "POST", "/api/sessions", { title: "growth" });
      create.push(performance.now() - started);
      started = performance.now();
      await api(target, "POST", `/api/sessions/${probe}/messages`, { text: `growth ${i}` });
      append.push(performance.now() - started);
    }
    return { create: percentile(create, 0.5), append: percentile(append, 0.5) };
  };
  const sizes = async () => {
    const [row] = await sql<{ bytes: string }[]>`select (pg_total_relation_size('sessions') + pg_total_relation_size('streams'))::text as bytes`;
    return Number(row!.bytes);
  };
  const before = await small();
  const bytesBefore = await sizes();
  const tag = Date.now().toString(36);
  await sql`insert into sessions (id, title) select ${`ses_idle_${tag}_`} || g, 'idle' from generate_series(1, ${IDLE_SESSIONS}) as g`;
  await sql`
    insert into streams (path, content_type, last_access_ms)
    select ${`/v1/stream/sessions/ses_idle_${tag}_`} || g, 'application/json', ${Date.now()} from generate_series(1, ${IDLE_SESSIONS}) as g`;
  await sql`vacuum (analyze) sessions`;
  await sql`vacuum (analyze) streams`;
  const bytesAfter = await sizes();
  const after = await small();
  return {
    sessions: IDLE_SESSIONS,
    createBefore: before.create,
    createAfter: after.create,
    appendBefore: before.append,
    appendAfter: after.append,
    bytesPerSession: (bytesAfter - bytesBefore) / IDLE_SESSIONS,
  };
}

function offsetOf(pos: number): string {
  return `0000000000000000_${String(pos).padStart(16, "0")}`;
}

async function times<T>(count: number, run: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < count; i++) results.push(await run());
  return results;
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}
