import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { connect } from "node:net";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";
import { TestSocket } from "./support/ws";

const servers: TestServer[] = [];
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  for (const server of servers) await server.stop();
});
async function start(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  servers.push(server);
  return server;
}
function wsUrl(server: TestServer, token = TEST_API_TOKEN, extra = "") {
  return `${server.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}${extra}`;
}
async function open(server: TestServer, token = TEST_API_TOKEN, extra = "") {
  const socket = await TestSocket.open(wsUrl(server, token, extra));
  sockets.push(socket);
  return socket;
}
async function api(server: TestServer, method: string, path: string, body?: unknown, token = TEST_API_TOKEN) {
  const res = await server.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function createSession(server: TestServer, title = "test") {
  const res = await api(server, "POST", "/api/sessions", { title });
  expect(res.status).toBe(201);
  return res.body as { id: string; streamUrl: string; wsUrl: string; clientToken: string };
}
/** Agent-side events, as a run would write them, published with the admin token. */
function assistantEvents(runId: string, messageId: string, chunks: string[]) {
  return [
    { type: "run.start", runId, agent: "chat" },
    { type: "message.start", id: messageId, role: "assistant", runId, agent: "chat" },
    ...chunks.map((text) => ({ type: "message.delta", id: messageId, runId, text })),
    { type: "message.end", id: messageId, runId, status: "complete" },
    { type: "run.end", runId, status: "completed" },
  ];
}

let server: TestServer;
beforeAll(async () => {
  server = await start();
}, 60_000);

describe("session API", () => {
  test("create returns stream and socket URLs and a client token; get shows the session", async () => {
    const session = await createSession(server, "My chat");
    expect(session.id).toMatch(/^ses_/);
    expect(session.streamUrl).toBe(`${server.url}/v1/stream/sessions/${session.id}`);
    expect(session.wsUrl).toBe(`${server.url.replace("http", "ws")}/ws`);
    expect(session.clientToken).toMatch(/^dsct_/);
    const got = await api(server, "GET", `/api/sessions/${session.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ id: session.id, title: "My chat", agent: null, doubleTexting: "parallel", tailOffset: "0000000000000000_0000000000000000", runs: [], turns: { active: [], queued: [] }, presence: [] });
  });

  test("messages are posted idempotently by id, compacted, and paged as events", async () => {
    const { id } = await createSession(server);
    const first = await api(server, "POST", `/api/sessions/${id}/messages`, { text: "hello", id: "m-1", clientId: "alice" });
    expect(first.status).toBe(201);
    const retry = await api(server, "POST", `/api/sessions/${id}/messages`, { text: "hello", id: "m-1", clientId: "alice" });
    expect(retry.body.offset).toBe(first.body.offset);
    const ws = await open(server);
    for (const event of assistantEvents("run-a", "a-1", ["Hi ", "there", "!"])) {
      expect((await ws.request({ type: "publish", session: id, event })).type).toBe("ack");
    }
    const messages = await api(server, "GET", `/api/sessions/${id}/messages`);
    expect(messages.body.messages).toEqual([
      { id: "m-1", role: "user", text: "hello", status: "complete" },
      { id: "a-1", role: "assistant", text: "Hi there!", status: "complete", runId: "run-a" },
    ]);
    const page1 = await api(server, "GET", `/api/sessions/${id}/events?offset=-1&limit=3`);
    expect(page1.body.events.map((e: any) => e.event.type)).toEqual(["message", "run.start", "message.start"]);
    expect(page1.body.upToDate).toBe(false);
    const page2 = await api(server, "GET", `/api/sessions/${id}/events?offset=${page1.body.nextOffset}&limit=100`);
    expect(page2.body.events.map((e: any) => e.event.type)).toEqual(["message.delta", "message.delta", "message.delta", "message.end", "run.end"]);
    expect(page2.body.upToDate).toBe(true);
    expect(page2.body.nextOffset).toBe(messages.body.offset);
  });

  test("control appends an explicit control event; steer needs text", async () => {
    const { id } = await createSession(server);
    const res = await api(server, "POST", `/api/sessions/${id}/control`, { action: "cancel", runId: "run-x" });
    expect(res.status).toBe(202);
    const events = await api(server, "GET", `/api/sessions/${id}/events`);
    expect(events.body.events.at(-1).event).toEqual({ type: "control", action: "cancel", runId: "run-x" });
    const bad = await api(server, "POST", `/api/sessions/${id}/control`, { action: "steer" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ code: "invalid_request", message: "text: steer needs text" });
  });

  test("bad input: wrong types, malformed JSON, unknown ids, unknown agents, no token", async () => {
    const { id } = await createSession(server);
    const wrongType = await api(server, "POST", `/api/sessions/${id}/messages`, { text: 42 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.code).toBe("invalid_request");
    expect(wrongType.body.error.message).toContain("text");
    const malformed = await server.fetch(`/api/sessions/${id}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error.code).toBeString();
    expect((await api(server, "GET", "/api/sessions/ses_doesnotexist")).status).toBe(404);
    const agent = await api(server, "POST", `/api/sessions/${id}/runs`, { agent: "nope" });
    expect(agent.status).toBe(400);
    expect(agent.body.error.code).toBe("unknown_agent");
    const noToken = await server.fetch(`/api/sessions/${id}`, { auth: false });
    expect(noToken.status).toBe(401);
    const huge = await api(server, "POST", `/api/sessions/${id}/messages`, { text: "x".repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    // Nothing was appended by any of these.
    expect((await api(server, "GET", `/api/sessions/${id}/events`)).body.events).toEqual([]);
  });

  test("GET /openapi.json lists every session route; /docs/api renders them", async () => {
    const doc = await (await server.fetch("/openapi.json", { auth: false })).json();
    expect(doc.openapi).toBe("3.1.0");
    for (const path of ["/api/sessions", "/api/sessions/{id}", "/api/sessions/{id}/messages", "/api/sessions/{id}/events", "/api/sessions/{id}/runs", "/api/sessions/{id}/control"]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const page = await (await server.fetch("/docs/api", { auth: false })).text();
    expect(page).toContain("/api/sessions/{id}/control");
  });
});

describe("client tokens", () => {
  test("a client token reads its own session (API, stream URL, socket) and nothing else", async () => {
    const x = await createSession(server, "X");
    const y = await createSession(server, "Y");
    expect((await api(server, "GET", `/api/sessions/${x.id}`, undefined, x.clientToken)).status).toBe(200);
    expect((await api(server, "GET", `/api/sessions/${y.id}`, undefined, x.clientToken)).status).toBe(404);
    expect((await api(server, "GET", `/api/sessions/${y.id}/events`, undefined, x.clientToken)).status).toBe(404);
    expect((await api(server, "POST", `/api/sessions/${x.id}/runs`, { agent: "chat" }, x.clientToken)).status).toBe(403);

    const own = await server.fetch(`/v1/stream/sessions/${x.id}?offset=-1`, { headers: { authorization: `Bearer ${x.clientToken}` } });
    expect(own.status).toBe(200);
    const other = await server.fetch(`/v1/stream/sessions/${y.id}?offset=-1`, { headers: { authorization: `Bearer ${x.clientToken}` } });
    expect(other.status).toBe(403);
    const write = await server.fetch(`/v1/stream/sessions/${x.id}`, { method: "POST", headers: { authorization: `Bearer ${x.clientToken}`, "content-type": "application/json" }, body: "{}" });
    expect(write.status).toBe(403);

    const ws = await open(server, x.clientToken);
    expect((await ws.request({ type: "subscribe", session: x.id, offset: "-1" })).type).toBe("subscribed");
    const refused = await ws.request({ type: "subscribe", session: y.id, offset: "-1" });
    expect(refused).toMatchObject({ type: "error", code: "session_not_found" });
    // Clients may publish messages and control, not agent events.
    const forbidden = await ws.request({ type: "publish", session: x.id, event: { type: "run.start", runId: "r", agent: "chat" } });
    expect(forbidden).toMatchObject({ type: "error", code: "forbidden_event" });
  });

  test("a tampered or unknown token cannot open a socket", async () => {
    const x = await createSession(server);
    const tampered = x.clientToken.slice(0, -3) + (x.clientToken.endsWith("a") ? "bcd" : "abc");
    const res = await fetch(`${server.url}/ws?token=${encodeURIComponent(tampered)}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } });
    expect(res.status).toBe(401);
  });
});

describe("WebSocket delivery", () => {
  test("two clients on one session both receive every event, in order", async () => {
    const { id } = await createSession(server);
    const a = await open(server);
    const b = await open(server);
    await a.request({ type: "subscribe", session: id, offset: "now" });
    await b.request({ type: "subscribe", session: id, offset: "now" });
    const events = assistantEvents("run-2", "a-2", Array.from({ length: 30 }, (_, i) => `t${i} `));
    const writer = await open(server);
    for (const event of events) writer.send({ type: "publish", session: id, event });
    const gotA = await a.waitForEvents(id, events.length);
    const gotB = await b.waitForEvents(id, events.length);
    expect(gotA.map((f) => f.event)).toEqual(events);
    expect(gotB.map((f) => f.event)).toEqual(events);
    const offsets = gotA.map((f) => f.offset);
    expect([...offsets].sort()).toEqual(offsets);
    expect(new Set(offsets).size).toBe(offsets.length);
  });

  test("appends during the replay: no gap and no duplicate at the seam between history and live", async () => {
    const { id } = await createSession(server);
    const writer = await open(server);
    const TOTAL = 600;
    for (let i = 0; i < 300; i++) writer.send({ type: "publish", session: id, event: { type: "message", id: `h${i}`, role: "system", text: `history ${i}` } });
    await writer.request({ type: "ping" });
    let appended = 300;
    while ((await api(server, "GET", `/api/sessions/${id}/events?offset=-1&limit=1000`)).body.events.length < 300) await Bun.sleep(20);
    // Subscribe from the start while more events keep arriving.
    const reader = await open(server);
    reader.send({ type: "subscribe", session: id, offset: "-1" });
    while (appended < TOTAL) {
      writer.send({ type: "publish", session: id, event: { type: "message", id: `h${appended}`, role: "system", text: `live ${appended}` } });
      appended++;
      if (appended % 20 === 0) await Bun.sleep(1);
    }
    const got = await reader.waitForEvents(id, TOTAL, 20_000);
    await Bun.sleep(100);
    expect(reader.events(id)).toHaveLength(TOTAL);
    expect(got.map((f) => f.event.id)).toEqual(Array.from({ length: TOTAL }, (_, i) => `h${i}`));
  });

  test("a client that drops mid-run and resubscribes from its last offset ends with exactly the same sequence", async () => {
    const { id } = await createSession(server);
    const steady = await open(server);
    await steady.request({ type: "subscribe", session: id, offset: "-1" });
    let flaky = await open(server);
    await flaky.request({ type: "subscribe", session: id, offset: "-1" });
    const events = assistantEvents("run-3", "a-3", Array.from({ length: 60 }, (_, i) => `c${i} `));
    const writer = await open(server);
    const seen: any[] = [];
    for (let i = 0; i < events.length; i++) {
      writer.send({ type: "publish", session: id, event: events[i] });
      if (i === 25) {
        await flaky.waitForEvents(id, 10);
        seen.push(...flaky.events(id));
        flaky.ws.close();
        await flaky.closed();
        await Bun.sleep(20);
      }
      if (i === 40) {
        const last = seen.at(-1).offset;
        flaky = await open(server);
        await flaky.request({ type: "subscribe", session: id, offset: last });
      }
    }
    await steady.waitForEvents(id, events.length);
    const rest = await flaky.waitForEvents(id, events.length - seen.length);
    const combined = [...seen, ...rest];
    expect(combined.map((f) => f.offset)).toEqual(steady.events(id).map((f) => f.offset));
    expect(combined.map((f) => f.event)).toEqual(events);
  });

  test("every event of a multi-event append has its own offset: a naive resume from any event is exact (WS and HTTP)", async () => {
    const { id } = await createSession(server);
    const events = assistantEvents("run-batch", "a-batch", ["one ", "two ", "three "]);
    const res = await server.fetch(`/v1/stream/sessions/${id}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(events) });
    expect(res.status).toBeLessThan(300);
    await api(server, "POST", `/api/sessions/${id}/messages`, { text: "after the batch", id: "m-after" });
    const all = await open(server);
    await all.request({ type: "subscribe", session: id, offset: "-1" });
    const frames = await all.waitForEvents(id, events.length + 1);
    const offsets = frames.map((f) => f.offset);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect([...offsets].sort()).toEqual(offsets);
    // The append's last event carries the append's (Durable Streams) offset.
    const tail = (await server.fetch(`/v1/stream/sessions/${id}`, { method: "HEAD" })).headers.get("stream-next-offset");
    expect(offsets.at(-1)).toBe(tail);
    for (const cut of [0, 2, events.length - 2, events.length - 1]) {
      // As if the socket was closed (4008) right after event `cut`: resume from its offset.
      const resumed = await open(server);
      const subscribed = await resumed.request({ type: "subscribe", session: id, offset: offsets[cut] });
      expect(subscribed.offset).toBe(offsets[cut]);
      const rest = await resumed.waitForEvents(id, frames.length - cut - 1);
      await Bun.sleep(50);
      expect(resumed.events(id).map((f) => f.event)).toEqual(frames.slice(cut + 1).map((f) => f.event));
      const page = await api(server, "GET", `/api/sessions/${id}/events?offset=${offsets[cut]}`);
      expect(page.body.events.map((e: any) => e.offset)).toEqual(offsets.slice(cut + 1));
      expect(rest.length).toBe(frames.length - cut - 1);
    }
  });

  test("snapshot mode sends compacted messages, then live events from the snapshot's offset", async () => {
    const { id } = await createSession(server);
    const writer = await open(server);
    for (const event of assistantEvents("run-4", "a-4", Array.from({ length: 200 }, () => "x"))) writer.send({ type: "publish", session: id, event });
    await writer.request({ type: "ping" });
    while ((await api(server, "GET", `/api/sessions/${id}/messages`)).body.messages[0]?.status !== "complete") await Bun.sleep(20);
    const late = await open(server);
    const subscribed = await late.request({ type: "subscribe", session: id, mode: "snapshot" });
    expect(subscribed.mode).toBe("snapshot");
    await late.waitForEvents(id, 1);
    const snapshotEvents = late.events(id);
    expect(snapshotEvents).toHaveLength(1);
    expect(snapshotEvents[0].event).toMatchObject({ type: "message", id: "a-4", role: "assistant", text: "x".repeat(200), status: "complete", runId: "run-4" });
    writer.send({ type: "publish", session: id, event: { type: "message", id: "after", role: "user", text: "next" } });
    const [, live] = await late.waitForEvents(id, 2);
    expect(live.event.id).toBe("after");
    expect(live.offset > subscribed.offset).toBe(true);
  });

  test("a client on server process A receives events appended through process B", async () => {
    const databaseUrl = await freshDatabase();
    const a = await start({ databaseUrl });
    const b = await start({ databaseUrl });
    const { id } = await createSession(a);
    const reader = await open(a);
    await reader.request({ type: "subscribe", session: id, offset: "now" });
    const posted = await api(b, "POST", `/api/sessions/${id}/messages`, { text: "from B", id: "b-1" });
    expect(posted.status).toBe(201);
    const [event] = await reader.waitForEvents(id, 1);
    expect(event.event).toMatchObject({ type: "message", id: "b-1", text: "from B" });
    expect(event.offset).toBe(posted.body.offset);
  });
});

describe("presence", () => {
  test("presence shows two devices and then one, across processes", async () => {
    const databaseUrl = await freshDatabase();
    const a = await start({ databaseUrl });
    const b = await start({ databaseUrl });
    const { id } = await createSession(a);
    const phone = await open(a, TEST_API_TOKEN, "&clientId=alice&device=phone");
    await phone.request({ type: "subscribe", session: id, offset: "now" });
    const laptop = await open(b, TEST_API_TOKEN, "&clientId=alice&device=laptop");
    await laptop.request({ type: "subscribe", session: id, offset: "now" });
    const two = await phone.waitFor((f) => f.type === "presence" && f.members.length === 2);
    expect(two.members.map((m: any) => m.device).sort()).toEqual(["laptop", "phone"]);
    expect((await api(a, "GET", `/api/sessions/${id}`)).body.presence).toHaveLength(2);
    // Only a frame after the close counts: under load an early frame may list one device too.
    const before = phone.frames.length;
    laptop.ws.close();
    const one = await phone.waitFor((f) => f.type === "presence" && f.members.length === 1 && phone.frames.indexOf(f) >= before);
    expect(one.members[0]).toMatchObject({ clientId: "alice", device: "phone" });
  });
});

describe("frame errors keep the socket usable", () => {
  test("malformed, oversized, unknown type, unknown session, bad offset, invalid event", async () => {
    const { id } = await createSession(server);
    const ws = await open(server);
    ws.send("{not json");
    expect(await ws.waitFor((f) => f.type === "error" && f.code === "bad_json")).toBeTruthy();
    ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(70 * 1024) }));
    expect(await ws.waitFor((f) => f.type === "error" && f.code === "frame_too_large")).toBeTruthy();
    expect(await ws.request({ type: "dance" })).toMatchObject({ type: "error", code: "unknown_type" });
    expect(await ws.request({ type: "subscribe", session: "ses_nope", offset: "-1" })).toMatchObject({ type: "error", code: "session_not_found" });
    expect(await ws.request({ type: "subscribe", session: id, offset: "yesterday" })).toMatchObject({ type: "error", code: "bad_offset" });
    expect(await ws.request({ type: "publish", session: id, event: { type: "mystery" } })).toMatchObject({ type: "error", code: "unknown_event_type" });
    expect(await ws.request({ type: "publish", session: id, event: { type: "message", id: "m", role: "robot", text: "x" } })).toMatchObject({ type: "error", code: "invalid_event" });
    expect(await ws.request({ type: "subscribe", session: 42 })).toMatchObject({ type: "error", code: "invalid_frame" });
    // Still usable afterwards.
    expect(await ws.request({ type: "ping" })).toBeTruthy();
    expect((await ws.request({ type: "subscribe", session: id, offset: "-1" })).type).toBe("subscribed");
    expect(ws.ws.readyState).toBe(WebSocket.OPEN);
  });

  test("a client that stops reading is closed with 4008 before server memory grows without bound", async () => {
    const { id } = await createSession(server);
    const port = new URL(server.url).port;
    // A raw socket that completes the handshake, subscribes, and then never reads.
    const raw = connect({ host: "127.0.0.1", port: Number(port) });
    await new Promise<void>((resolve) => raw.once("connect", () => resolve()));
    raw.write(`GET /ws?token=${TEST_API_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await new Promise<void>((resolve) => raw.once("data", () => resolve()));
    const payload = Buffer.from(JSON.stringify({ type: "subscribe", session: id, offset: "now" }));
    const mask = Buffer.from([1, 2, 3, 4]);
    const header = Buffer.from([0x81, 0x80 | payload.length]);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
    raw.write(Buffer.concat([header, mask, masked]));
    await Bun.sleep(200);
    raw.pause();

    const writer = await open(server);
    const big = "y".repeat(60_000);
    for (let i = 0; i < 400 && !server.logs.some((l) => l.includes("closing slow websocket consumer")); i++) {
      await writer.request({ type: "publish", session: id, event: { type: "message", id: `big${i}`, role: "system", text: big } });
    }
    const line = await server.waitForLog(/closing slow websocket consumer/, 20_000);
    expect(JSON.parse(line).bufferedBytes).toBeGreaterThan(4 * 1024 * 1024);
    raw.destroy();
    // The writer's own socket is unaffected.
    expect(await writer.request({ type: "ping" })).toBeTruthy();
  });
});
