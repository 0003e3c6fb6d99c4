/**
 * How long a first snapshot takes in a process that has kept nothing: without a stored checkpoint
 * (every event folded) and with one (the state read, the appends after it folded). Fills one session
 * like the growth section (100-byte events, 100 to a message, bulk SQL) and compacts it with fresh
 * SessionService instances, each a new process as far as compaction goes.
 *
 *   bun bench/checkpoint-probe.ts [events=1000000] [after=10000]
 */
import postgres from "postgres";
import { startServer } from "../tests/support/server";
import { SessionService } from "../src/sessions/service";
import type { StreamRow } from "../src/streams/store";
import type { Logger } from "../src/infra/log";

const events = Number(process.argv[2] ?? 1_000_000);
const after = Number(process.argv[3] ?? 10_000);
const server = await startServer();
const sql = postgres(server.databaseUrl!, { max: 4, onnotice: () => {}, types: { bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } } });
const silent = { debug() {}, info() {}, warn: console.warn, error: console.error, child: () => silent } as unknown as Logger;
const fresh = () => new SessionService({ sql, store: {} as never, writer: {} as never, boss: {} as never, log: silent });
const cpu = () => process.cpuUsage();
try {
  const res = await server.fetch("/api/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "probe" }) });
  const { id } = (await res.json()) as { id: string };
  const path = `/v1/stream/sessions/${id}`;
  const fill = async (from: number, to: number) => {
    const delta = `{"type":"message.delta","id":"m0000000","runId":"run_growth","text":""},`;
    const start = `{"type":"message.start","id":"m0000000","role":"assistant","runId":"run_growth","agent":"chat"},`;
    const end = `{"type":"message.end","id":"m0000000","runId":"run_growth","status":"complete"},`;
    const [stream] = await sql<{ id: number }[]>`select id from streams where path = ${path}`;
    await sql`
      insert into stream_messages (stream_id, pos, data, count)
      select ${stream!.id}, g::bigint * 100, convert_to(body, 'UTF8'), 1
      from (select g, case
          when g % 100 = 1 then replace(${start.slice(0, -2)}, 'm0000000', 'm' || lpad(((g - 1) / 100)::text, 7, '0')) || repeat(' ', ${100 - start.length}) || '},'
          when g % 100 = 0 then replace(${end.slice(0, -2)}, 'm0000000', 'm' || lpad(((g - 1) / 100)::text, 7, '0')) || repeat(' ', ${100 - end.length}) || '},'
          else replace(${delta.slice(0, -3)}, 'm0000000', 'm' || lpad(((g - 1) / 100)::text, 7, '0')) || lpad((g % 100000)::text, ${100 - delta.length}, 'x') || '"},'
        end as body from generate_series(${from}, ${to}) as g) generated`;
    await sql`update streams set tail_pos = ${to * 100} where path = ${path}`;
  };
  await fill(1, events);
  await sql`vacuum (analyze) stream_messages`;
  const row = async () => (await sql<StreamRow[]>`select id, tail_pos as "tailPos", forked_from_id as "forkedFromId", fork_offset as "forkOffset", fork_sub_offset as "forkSubOffset" from streams where path = ${path}`)[0]!;
  const time = async (label: string) => {
    const service = fresh();
    const c0 = cpu();
    const t0 = performance.now();
    const folded = await service.compacted(await row());
    const ms = performance.now() - t0;
    const used = process.cpuUsage(c0);
    const t1 = performance.now();
    await service.checkpointsWritten();
    const [cp] = await sql<{ pos: number; chars: number }[]>`select pos, length(state) as chars from session_checkpoints`;
    console.log(`${label}: ${ms.toFixed(0)} ms (this process's CPU ${((used.user + used.system) / 1000).toFixed(0)} ms), ${folded.messages.length} messages; checkpoint after: ${(performance.now() - t1).toFixed(0)} ms more, stored pos ${cp?.pos ?? "none"} (${cp ? (cp.chars / 1e6).toFixed(1) : 0} M chars); load ${(await Bun.file("/proc/loadavg").text()).trim()}`);
  };
  await time(`first, no checkpoint (${events} events)`);
  await time("first in a new process, from the checkpoint");
  await fill(events + 1, events + after);
  await time(`first in a new process, checkpoint + ${after} events since`);
  await time("again, new process");
} finally {
  await sql.end();
  await server.stop();
}
