import { test, expect, afterAll } from "bun:test";
import { startServer, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";

// Two processes writing the same streams: each remembers stream state between batches, so this
// checks that a write made by the other process is never overwritten, duplicated or lost.
const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();

}, 60_000);
const json = { "content-type": "application/json" };

test("two processes interleaving appends (plain, producers, Stream-Seq, close) on shared streams", async () => {
  const databaseUrl = await freshDatabase();
  const a = await startServer({ databaseUrl, env: { STREAMS_AUTH: "off" } });
  const b = await startServer({ databaseUrl, env: { STREAMS_AUTH: "off" } });
  servers.push(a, b);
  const paths = Array.from({ length: 3 }, (_, i) => `/v1/stream/xproc-${Date.now().toString(36)}-${i}`);
  for (const path of paths) expect((await a.fetch(path, { method: "PUT", headers: json })).status).toBe(201);

  const PER = 120;
  const writers: Promise<void>[] = [];
  for (const [w, server] of [a, b, a, b].entries()) {
    for (const path of paths) {
      // Plain appends.
      writers.push((async () => {
        for (let i = 0; i < PER; i++) {
          const res = await server.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ kind: "plain", w, i }) });
          expect(res.status).toBe(204);
        }
      })());
      // An idempotent producer per writer and stream, alternating servers each append.
      writers.push((async () => {
        for (let seq = 0; seq < PER; seq++) {
          const via = seq % 2 === 0 ? a : b;
          const headers = { ...json, "producer-id": `p${w}`, "producer-epoch": "0", "producer-seq": String(seq) };
          const body = JSON.stringify({ kind: "producer", w, seq });
          const res = await via.fetch(path, { method: "POST", headers, body });
          expect(res.status).toBe(200);
          if (seq % 7 === 0) {
            // A retry through the other process is a duplicate.
            const again = await (via === a ? b : a).fetch(path, { method: "POST", headers, body });
            expect(again.status).toBe(204);
          }
        }
      })());
    }
  }
  await Promise.all(writers);

  for (const path of paths) {
    const res = await a.fetch(`${path}?offset=-1`);
    const body = (await res.json()) as Array<{ kind: string; w: number; i?: number; seq?: number }>;
    expect(body.length).toBe(4 * PER * 2);
    for (let w = 0; w < 4; w++) {
      expect(body.filter((m) => m.kind === "plain" && m.w === w).map((m) => m.i)).toEqual(Array.from({ length: PER }, (_, i) => i));
      expect(body.filter((m) => m.kind === "producer" && m.w === w).map((m) => m.seq)).toEqual(Array.from({ length: PER }, (_, i) => i));
    }
    // Both processes agree on the tail, and the offsets page consistently.
    const tailA = (await a.fetch(path, { method: "HEAD" })).headers.get("stream-next-offset");
    const tailB = (await b.fetch(path, { method: "HEAD" })).headers.get("stream-next-offset");
    expect(tailA).toBe(tailB);
    let offset = "-1";
    let count = 0;
    for (;;) {
      const page = await b.fetch(`${path}?offset=${offset}`);
      const items = (await page.json()) as unknown[];
      count += items.length;
      const next = page.headers.get("stream-next-offset")!;
      if (page.headers.get("stream-up-to-date") === "true") break;
      expect(next > offset).toBe(true);
      offset = next;
    }
    expect(count).toBe(4 * PER * 2);
  }

  // Stream-Seq and close through alternating processes.
  const seqPath = paths[0]! + "-seq";
  await a.fetch(seqPath, { method: "PUT", headers: json });
  for (let i = 0; i < 30; i++) {
    const res = await (i % 2 ? a : b).fetch(seqPath, { method: "POST", headers: { ...json, "stream-seq": String(1000 + i) }, body: JSON.stringify({ i }) });
    expect(res.status).toBe(204);
    const stale = await (i % 2 ? b : a).fetch(seqPath, { method: "POST", headers: { ...json, "stream-seq": String(1000 + i) }, body: JSON.stringify({ i }) });
    expect(stale.status).toBe(409);
  }
  expect((await b.fetch(seqPath, { method: "POST", headers: { ...json, "stream-closed": "true" } })).status).toBe(204);
  const closed = await a.fetch(seqPath, { method: "POST", headers: json, body: "{}" });
  expect(closed.status).toBe(409);
  expect(closed.headers.get("stream-closed")).toBe("true");
}, 120_000);

test("a stream deleted and re-created by the other process, or expired, is never written through stale memory", async () => {
  const databaseUrl = await freshDatabase();
  const a = await startServer({ databaseUrl, env: { STREAMS_AUTH: "off" } });
  const b = await startServer({ databaseUrl, env: { STREAMS_AUTH: "off" } });
  servers.push(a, b);
  const path = `/v1/stream/xdel-${Date.now().toString(36)}`;
  await a.fetch(path, { method: "PUT", headers: json });
  for (let i = 0; i < 3; i++) expect((await a.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ old: i }) })).status).toBe(204);
  expect((await b.fetch(path, { method: "DELETE" })).status).toBe(204);
  expect((await a.fetch(path, { method: "POST", headers: json, body: "{}" })).status).toBe(404);
  await b.fetch(path, { method: "PUT", headers: json });
  expect((await a.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ fresh: 1 }) })).status).toBe(204);
  expect(await (await b.fetch(`${path}?offset=-1`)).json()).toEqual([{ fresh: 1 }]);

  // Soft delete: a fork keeps the source readable (410 for writers).
  const fork = `${path}-fork`;
  expect((await b.fetch(fork, { method: "PUT", headers: { ...json, "stream-forked-from": path } })).status).toBe(201);
  expect((await b.fetch(path, { method: "DELETE" })).status).toBe(204);
  expect((await a.fetch(path, { method: "POST", headers: json, body: "{}" })).status).toBe(410);

  // Sliding TTL: remembered state must not outlive the stream.
  const ttl = `${path}-ttl`;
  await a.fetch(ttl, { method: "PUT", headers: { ...json, "stream-ttl": "1" } });
  expect((await a.fetch(ttl, { method: "POST", headers: json, body: "{}" })).status).toBe(204);
  await Bun.sleep(1_300);
  expect((await a.fetch(ttl, { method: "POST", headers: json, body: "{}" })).status).toBe(404);
}, 60_000);
