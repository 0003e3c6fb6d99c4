import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import postgres from "postgres";
import { connect } from "node:net";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";

/** Our own tests of the Durable Streams endpoint, beyond the conformance suite. */
const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
}, 60_000);
async function start(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

const json = { "content-type": "application/json" };
let counter = 0;
const name = (prefix: string) => `/v1/stream/${prefix}-${Date.now().toString(36)}-${counter++}`;

async function readAll(server: TestServer, path: string, offset = "-1") {
  const res = await server.fetch(`${path}?offset=${offset}`);
  return { status: res.status, body: await res.json(), next: res.headers.get("stream-next-offset")! };
}

describe("access", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  }, 60_000);

  test("with STREAMS_AUTH=on (the default) a request without the token is refused with 401", async () => {
    const res = await server.fetch(name("auth"), { method: "PUT", auth: false, headers: json });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe("unauthorized");
    const wrong = await server.fetch(name("auth"), { method: "PUT", headers: { ...json, authorization: "Bearer not-the-token-at-all" } });
    expect(wrong.status).toBe(401);
  });

  test("with the token the same request succeeds; CORS preflight needs no token", async () => {
    const path = name("auth");
    expect((await server.fetch(path, { method: "PUT", headers: json })).status).toBe(201);
    const preflight = await server.fetch(path, { method: "OPTIONS", auth: false });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
  });
});

describe("bad input", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ env: { STREAMS_AUTH: "off" } });
  }, 60_000);

  test("malformed JSON is a 400 with a readable message and appends nothing", async () => {
    const path = name("bad-json");
    await server.fetch(path, { method: "PUT", headers: json, body: JSON.stringify([{ a: 1 }]) });
    const res = await server.fetch(path, { method: "POST", headers: json, body: "{ not json" });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain("not valid JSON");
    expect((await readAll(server, path)).body).toEqual([{ a: 1 }]);
  });

  test("a request whose Host is not a host name is refused with 400 and stores nothing (its URL has no path to trust)", async () => {
    const path = name("bad-host");
    await server.fetch(path, { method: "PUT", headers: json, body: "[1]" });
    // Bun hands such a request over with a relative URL; a prefix segment then looks like a path to
    // whoever slices it differently (Hono routes `/ab/v1/stream/…` to the streams handler).
    const raw = (target: string, host: string, body: string) =>
      new Promise<string>((resolve, reject) => {
        const { port, hostname } = new URL(server.url);
        const socket = connect(Number(port), hostname, () =>
          socket.write(`POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
        let answer = "";
        socket.on("data", (chunk) => (answer += chunk));
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
      });
    for (const host of ["a b", "a?b", "a/b"]) {
      const answer = await raw(`/ab${path}`, host, "[2]");
      expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
      expect(answer).toContain("bad_request");
    }
    expect((await readAll(server, path)).body).toEqual([1]);
  });

  test("a body over the limit is refused with 413 and the stream is unchanged", async () => {
    const path = name("too-big");
    await server.fetch(path, { method: "PUT", headers: { "content-type": "application/octet-stream" } });
    const res = await server.fetch(path, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(17 * 1024 * 1024) });
    expect(res.status).toBe(413);
    const head = await server.fetch(path, { method: "HEAD" });
    expect(head.headers.get("stream-next-offset")).toBe("0000000000000000_0000000000000000");
  });

  test("append answers carry the same CORS and security headers as reads, whatever the outcome", async () => {
    const path = name("headers");
    await server.fetch(path, { method: "PUT", headers: json });
    const read = await server.fetch(`${path}?offset=-1`);
    const common = ["x-content-type-options", "cross-origin-resource-policy", "access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers", "access-control-expose-headers"];
    const expected = Object.fromEntries(common.map((header) => [header, read.headers.get(header)]));
    expect(expected["x-content-type-options"]).toBe("nosniff");
    expect(expected["access-control-allow-origin"]).toBe("*");
    const plain = await server.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ a: 1 }) });
    const producer = await server.fetch(path, { method: "POST", headers: { ...json, "producer-id": "p", "producer-epoch": "0", "producer-seq": "0" }, body: JSON.stringify({ a: 2 }) });
    // A streamed body has no Content-Length: it is read chunk by chunk, with the same answer.
    const chunked = await server.fetch(path, { method: "POST", headers: json, body: new Blob([JSON.stringify({ a: 3 })]).stream() });
    const closed = await server.fetch(path, { method: "POST", headers: { ...json, "stream-closed": "true" }, body: JSON.stringify({ a: 4 }) });
    const refused = await server.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ a: 5 }) });
    expect([plain.status, producer.status, chunked.status, closed.status, refused.status]).toEqual([204, 200, 204, 204, 409]);
    expect(producer.headers.get("producer-epoch")).toBe("0");
    expect(producer.headers.get("producer-seq")).toBe("0");
    expect(closed.headers.get("stream-closed")).toBe("true");
    for (const res of [plain, producer, chunked, closed, refused]) {
      expect(Object.fromEntries(common.map((header) => [header, res.headers.get(header)]))).toEqual(expected);
      expect(res.headers.get("stream-next-offset")).toMatch(/^\d+_\d+$/);
    }
    expect((await readAll(server, path)).body).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }]);
  });

  test("bad offsets are 400, unknown streams 404", async () => {
    const path = name("offsets");
    await server.fetch(path, { method: "PUT", headers: json });
    for (const offset of ["abc", "1", "-2", "%00"]) {
      expect((await server.fetch(`${path}?offset=${offset}`)).status).toBe(400);
    }
    expect((await server.fetch(`${name("nope")}?offset=-1`)).status).toBe(404);
  });
});

describe("SSE readers of one stream", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ env: { STREAMS_AUTH: "off" } });
  }, 60_000);

  /** An SSE reader that takes its events only when told to (`take`), so it can fall behind. */
  async function sseReader(url: string) {
    const res = await server.fetch(url);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    const events: { event: string; data: string }[] = [];
    return {
      events,
      /** Reads until `count` values have arrived. */
      async take(count: number) {
        while (events.filter((e) => e.event === "data").flatMap((e) => JSON.parse(e.data) as unknown[]).length < count) {
          const { done, value } = await reader.read();
          if (done) throw new Error("SSE ended");
          buffered += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buffered.indexOf("\n\n")) !== -1) {
            const lines = buffered.slice(0, end).split("\n");
            buffered = buffered.slice(end + 2);
            events.push({ event: lines[0]!.slice("event: ".length), data: lines.slice(1).map((l) => l.slice("data:".length)).join("\n") });
          }
        }
      },
      values: () => events.filter((e) => e.event === "data").flatMap((e) => JSON.parse(e.data) as unknown[]),
      close: () => reader.cancel(),
    };
  }

  test("readers at the tail and one that fell behind each get every value once, each with its own offsets after every batch", async () => {
    const path = name("sse-shared");
    await server.fetch(path, { method: "PUT", headers: json, body: JSON.stringify([{ n: 0 }]) });
    const fast = [await sseReader(`${path}?offset=now&live=sse`), await sseReader(`${path}?offset=now&live=sse`)];
    const slow = await sseReader(`${path}?offset=-1&live=sse`);
    await slow.take(1);
    const offsets: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const res = await server.fetch(path, { method: "POST", headers: json, body: `{"n": ${n}}` });
      offsets.push(res.headers.get("stream-next-offset")!);
      for (const reader of fast) await reader.take(n);
    }
    // The slow reader now catches up on what the three commits wrote, then meets the others at the tail.
    await slow.take(4);
    const last = (await server.fetch(path, { method: "POST", headers: json, body: '[{"n": 4}, {"n": 5}]' })).headers.get("stream-next-offset")!;
    for (const reader of [...fast, slow]) {
      const expected = reader === slow ? [0, 1, 2, 3, 4, 5] : [1, 2, 3, 4, 5];
      await reader.take(expected.length);
      expect(reader.values()).toEqual(expected.map((n) => ({ n })));
      // Every data event is followed by a control event carrying where that reader now is.
      reader.events.forEach((event, i) => {
        if (event.event === "data") expect(reader.events[i + 1]?.event).toBe("control");
      });
      const controls = reader.events.filter((e) => e.event === "control").map((e) => JSON.parse(e.data) as { streamNextOffset: string });
      if (reader !== slow) for (const offset of offsets) expect(controls.some((c) => c.streamNextOffset === offset)).toBe(true);
      expect(controls.at(-1)!.streamNextOffset).toBe(last);
      await reader.close();
    }
  });
});

describe("large messages and concurrency", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ env: { STREAMS_AUTH: "off" } });
  }, 60_000);

  test("a 2 MB binary message round-trips byte for byte", async () => {
    const path = name("large");
    await server.fetch(path, { method: "PUT", headers: { "content-type": "application/octet-stream" } });
    const payload = new Uint8Array(2 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    expect((await server.fetch(path, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: payload })).status).toBe(204);
    const res = await server.fetch(`${path}?offset=-1`);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.length).toBe(payload.length);
    expect(Buffer.compare(Buffer.from(body), Buffer.from(payload))).toBe(0);
  });

  test("16 concurrent idempotent producers: every message exactly once, each producer's in its own order", async () => {
    const path = name("producers");
    await server.fetch(path, { method: "PUT", headers: json });
    const PRODUCERS = 16;
    const PER_PRODUCER = 25;
    await Promise.all(
      Array.from({ length: PRODUCERS }, async (_, p) => {
        for (let seq = 0; seq < PER_PRODUCER; seq++) {
          const headers = { ...json, "producer-id": `p${p}`, "producer-epoch": "0", "producer-seq": String(seq) };
          const body = JSON.stringify({ p, seq });
          const first = await server.fetch(path, { method: "POST", headers, body });
          expect(first.status).toBe(200);
          // A retry of the same request (as after a lost response) is a duplicate, not a second copy.
          if (seq % 5 === 0) expect((await server.fetch(path, { method: "POST", headers, body })).status).toBe(204);
        }
      }),
    );
    const { body } = await readAll(server, path);
    expect(body).toHaveLength(PRODUCERS * PER_PRODUCER);
    for (let p = 0; p < PRODUCERS; p++) {
      expect(body.filter((m: { p: number }) => m.p === p).map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: PER_PRODUCER }, (_, i) => i));
    }
  });
});

describe("storage", () => {
  let server: TestServer;
  let db: postgres.Sql;
  beforeAll(async () => {
    const databaseUrl = await freshDatabase();
    server = await start({ databaseUrl, env: { STREAMS_AUTH: "off" } });
    db = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  }, 60_000);
  afterAll(async () => {
    await db?.end();
  });

  test("appends of different sizes to several streams, committed together, each read back byte for byte", async () => {
    // Bytes that need escaping in SQL text (NUL, backslash, quotes, braces, commas) and sizes from 1 byte up.
    const special = [0x00, 0x5c, 0x22, 0x27, 0x7b, 0x7d, 0x2c, 0xff];
    const paths = Array.from({ length: 6 }, () => name("mixed"));
    await Promise.all(paths.map((path) => server.fetch(path, { method: "PUT", headers: { "content-type": "application/octet-stream" } })));
    const sent = new Map<string, Uint8Array[]>(paths.map((path) => [path, []]));
    // All in flight at once, so the writer gathers appends of several streams into one batch.
    await Promise.all(paths.map(async (path, p) => {
      for (let i = 0; i < 8; i++) {
        const payload = new Uint8Array(1 + ((p * 37 + i * 101) % 300));
        for (let k = 0; k < payload.length; k++) payload[k] = special[(k + i + p) % special.length]! ^ (k % 3 === 0 ? 0 : k & 0x7f);
        sent.get(path)!.push(payload);
        expect((await server.fetch(path, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: payload })).status).toBe(204);
      }
    }));
    for (const path of paths) {
      const res = await server.fetch(`${path}?offset=-1`);
      const body = Buffer.from(await res.arrayBuffer());
      expect(Buffer.compare(body, Buffer.concat(sent.get(path)!))).toBe(0);
      // Each append is its own message, ending at the offset it was given.
      const rows = await db<{ pos: number; length: number }[]>`
        select m.pos::int as pos, octet_length(m.data) as length from stream_messages m join streams s on s.id = m.stream_id
        where s.path = ${path} order by m.pos`;
      expect(rows.map((r) => r.length)).toEqual(sent.get(path)!.map((payload) => payload.length));
    }
  });

  test("catch-up pages: at most 4 MB unless one message is larger, following Stream-Next-Offset reads every byte once", async () => {
    const path = name("pages");
    await server.fetch(path, { method: "PUT", headers: { "content-type": "application/octet-stream" } });
    const sizes = [1_500_000, 1_500_000, 1_500_000, 5_000_000, 10, 2_000_000];
    const sent = sizes.map((size, i) => new Uint8Array(size).fill(i + 1));
    for (const payload of sent) expect((await server.fetch(path, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: payload })).status).toBe(204);
    const pages: number[] = [];
    let offset = "-1";
    const received: Buffer[] = [];
    for (;;) {
      const res = await server.fetch(`${path}?offset=${offset}`);
      const body = Buffer.from(await res.arrayBuffer());
      received.push(body);
      pages.push(body.length);
      offset = res.headers.get("stream-next-offset")!;
      if (res.headers.get("stream-up-to-date") === "true") break;
    }
    expect(Buffer.compare(Buffer.concat(received), Buffer.concat(sent))).toBe(0);
    // Two 1.5 MB appends fit in 4 MB, a third does not; the 5 MB one comes alone.
    expect(pages).toEqual([3_000_000, 1_500_000, 5_000_000, 2_000_010]);
  });

  test("a JSON catch-up returns the values as sent, whatever characters they hold", async () => {
    const path = name("unicode");
    await server.fetch(path, { method: "PUT", headers: json });
    const values = [{ t: "é ü ß" }, { t: "😀 \u0000 \n \" ' , ] [" }, "плоский", 42, null, [1, [2]], { t: "\u2028\u2029 \ud800" }];
    const offsets: string[] = [];
    for (const value of values) {
      const res = await server.fetch(path, { method: "POST", headers: json, body: JSON.stringify([value]) });
      expect(res.status).toBe(204);
      offsets.push(res.headers.get("stream-next-offset")!);
    }
    const expected = JSON.parse(JSON.stringify(values));
    expect((await readAll(server, path)).body).toEqual(expected);
    // …and from an offset in the middle.
    expect((await readAll(server, path, offsets[2])).body).toEqual(expected.slice(3));
  });


  test("JSON bodies are stored as sent: whitespace, line breaks, arrays, a byte order mark and invalid UTF-8 all read back as their values", async () => {
    const path = name("json-text");
    await server.fetch(path, { method: "PUT", headers: json });
    const bodies: (string | Uint8Array<ArrayBuffer>)[] = [
      '{\n  "a": 1,\n  "b": [1, 2]\n}\n',
      ' \r\n[ {"c": "x y"} ,\t2 ,\n"]" ]  ',
      "\ufeff" + '{"bom": true}',
      new Uint8Array([...Buffer.from('{"bad": "'), 0xff, 0xfe, ...Buffer.from('"}')]),
      "12345678901234567890",
    ];
    for (const body of bodies) {
      const res = await server.fetch(path, { method: "POST", headers: json, body });
      expect(res.status).toBe(204);
    }
    const expected = [{ a: 1, b: [1, 2] }, { c: "x y" }, 2, "]", { bom: true }, { bad: "\ufffd\ufffd" }, 12345678901234567890];
    const all = await server.fetch(`${path}?offset=-1`);
    const text = await all.text();
    expect(JSON.parse(text)).toEqual(expected);
    // The number comes back with all its digits: the body's own text, not a re-serialisation.
    expect(text).toContain("12345678901234567890");
    // A live read gets the same values, line breaks and all.
    const start = all.headers.get("stream-next-offset")!;
    const poll = server.fetch(`${path}?offset=${start}&live=long-poll`);
    await server.fetch(path, { method: "POST", headers: json, body: '[\n1,\n{"d":\n"e"}\n]' });
    expect(await (await poll).json()).toEqual([1, { d: "e" }]);
  });
  test("deleting a stream deletes its messages; appends to it afterwards store nothing", async () => {
    const path = name("deleted");
    await server.fetch(path, { method: "PUT", headers: json });
    for (let i = 0; i < 3; i++) expect((await server.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ i }) })).status).toBe(204);
    const [stream] = await db<{ id: number }[]>`select id::int as id from streams where path = ${path}`;
    const id = stream!.id;
    expect((await db`select 1 from stream_messages where stream_id = ${id}`).length).toBe(3);
    expect((await server.fetch(path, { method: "DELETE" })).status).toBe(204);
    expect((await db`select 1 from stream_messages where stream_id = ${id}`).length).toBe(0);
    expect((await server.fetch(path, { method: "POST", headers: json, body: "{}" })).status).toBe(404);
    expect((await db`select 1 from stream_messages where stream_id = ${id}`).length).toBe(0);
  });
});

describe("across restarts, processes and connection loss", () => {
  test("a stream written before a restart is intact after it, and appends continue at the next offset", async () => {
    const databaseUrl = await freshDatabase();
    const first = await start({ databaseUrl, env: { STREAMS_AUTH: "off" } });
    const path = name("restart");
    await first.fetch(path, { method: "PUT", headers: json });
    for (let i = 0; i < 5; i++) await first.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ i }) });
    const before = await readAll(first, path);
    await first.kill();

    const second = await start({ databaseUrl, env: { STREAMS_AUTH: "off" } });
    const after = await readAll(second, path);
    expect(after.body).toEqual(before.body);
    expect(after.next).toBe(before.next);
    const res = await second.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ i: 5 }) });
    expect(res.headers.get("stream-next-offset")! > before.next).toBe(true);
    expect((await readAll(second, path, before.next)).body).toEqual([{ i: 5 }]);
  });

  test("two server processes on one database: a long-poll reader on A receives an append made through B", async () => {
    const databaseUrl = await freshDatabase();
    const a = await start({ databaseUrl, env: { STREAMS_AUTH: "off", LONG_POLL_TIMEOUT_MS: "20000" } });
    const b = await start({ databaseUrl, env: { STREAMS_AUTH: "off" } });
    const path = name("two-processes");
    const created = await a.fetch(path, { method: "PUT", headers: json });
    const tail = created.headers.get("stream-next-offset")!;
    const waiting = a.fetch(`${path}?offset=${tail}&live=long-poll`);
    await Bun.sleep(200);
    await b.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ from: "B" }) });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ from: "B" }]);
  });

  test("when the LISTEN connection is dropped, waiting readers catch up from the table after it reconnects", async () => {
    const databaseUrl = await freshDatabase();
    const a = await start({ databaseUrl, env: { STREAMS_AUTH: "off", LONG_POLL_TIMEOUT_MS: "20000" } });
    const b = await start({ databaseUrl, env: { STREAMS_AUTH: "off" } });
    const path = name("reconnect");
    const created = await a.fetch(path, { method: "PUT", headers: json });
    const tail = created.headers.get("stream-next-offset")!;
    const waiting = a.fetch(`${path}?offset=${tail}&live=long-poll`);
    await Bun.sleep(200);

    // Kill A's listener backend and append through B at once: the NOTIFY is sent while A is not
    // listening, so only the catch-up on reconnect can deliver it before the 20 s timeout.
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    const killed = await admin`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where datname = current_database() and application_name = 'durable-studio-listener'
        and pid in (select pid from pg_stat_activity where query ilike 'listen%')`;
    expect(killed.length).toBeGreaterThanOrEqual(1);
    await b.fetch(path, { method: "POST", headers: json, body: JSON.stringify({ after: "drop" }) });
    await admin.end();

    const res = await waiting;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ after: "drop" }]);
    await a.waitForLog(/listener reconnected; catching up/);
  });
});
