import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { WS_LIMITS } from "../src/sessions/socket";
import { startServer, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

/** The WebSocket fan-out under load: the per-session tail cache and coalesced presence. */
let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const response = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(response.status).toBeLessThan(300);
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}

function socketUrl(token: string): string {
  return `${server.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}`;
}

/** Appends `count` events to the session's stream, some of them several to one append (they share an offset). */
async function appendEvents(session: string, from: number, count: number) {
  for (let i = from; i < from + count; ) {
    const group = i % 7 === 0 ? Math.min(3, from + count - i) : 1;
    const events = Array.from({ length: group }, (_, k) => ({ type: "message", id: `m${i + k}`, role: "user", text: `event ${i + k}` }));
    const response = await server.fetch(`/v1/stream/sessions/${session}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(group === 1 ? events[0] : events) });
    expect(response.status).toBeLessThan(300);
    i += group;
  }
}

const ids = (socket: TestSocket, session: string) => socket.events(session).map((f) => `${f.offset}/${f.event.id}`);

describe("tail cache", () => {
  test("clients resuming inside and behind the cached tail get every later event once, in order, while appends go on", async () => {
    const { id: session, clientToken } = await api("POST", "/api/sessions", {});
    // A live subscriber keeps the session's feed (and its cache) in this process.
    const live = await TestSocket.open(socketUrl(clientToken));
    await live.request({ type: "subscribe", session, offset: "-1" });
    const total = WS_LIMITS.TAIL_CACHE_EVENTS + 300;
    await appendEvents(session, 0, total);
    await live.waitForEvents(session, total, 30_000);
    const all = live.events(session);

    // One offset inside the cache (recent), one before it (the cache has dropped the oldest).
    const recent = all[all.length - 50]!.offset as string;
    const old = all[100]!.offset as string;
    const resumed: Array<{ socket: TestSocket; from: string }> = [];
    for (const from of [recent, old]) {
      const socket = await TestSocket.open(socketUrl(clientToken));
      socket.send({ type: "subscribe", session, offset: from });
      resumed.push({ socket, from });
    }
    // More appends race the replays.
    await appendEvents(session, total, 40);
    await live.waitForEvents(session, total + 40, 15_000);
    const expected = ids(live, session);
    for (const { socket, from } of resumed) {
      const later = expected.filter((entry) => entry.split("/")[0]! > from);
      await socket.waitForEvents(session, later.length, 15_000);
      await Bun.sleep(100);
      expect(ids(socket, session)).toEqual(later);
      await socket.close();
    }
    await live.close();
  });
});

describe("presence in a busy session", () => {
  test("many joins are coalesced into a few pushes, and everyone ends with the full list", async () => {
    const { id: session } = await api("POST", "/api/sessions", {});
    const members = 60;
    // Tokens first, then every socket joins in one burst, so the joins arrive together however slow
    // the machine is (a serial join loop on a loaded machine spaces joins past the coalescing window).
    const tokens: string[] = [];
    for (let i = 0; i < members; i++) tokens.push((await api("POST", `/api/sessions/${session}/client-tokens`, { clientId: `viewer-${i}` })).clientToken);
    const sockets: TestSocket[] = await Promise.all(tokens.map((token, i) => TestSocket.open(`${socketUrl(token)}&device=d${i}`)));
    for (const socket of sockets) socket.send({ type: "subscribe", session, offset: "now" });
    for (const socket of sockets) await socket.waitFor((f) => f.type === "presence" && f.members.length === members, 15_000);
    const pushes = sockets[0]!.frames.filter((f) => f.type === "presence").length;
    // Without coalescing the first viewer gets a push per join (60); with it, a handful.
    expect(pushes).toBeLessThan(members / 3);
    for (const socket of sockets) await socket.close();
  });
});
