import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { startServer, type TestServer } from "./support/server";
import { backoffMs } from "../static/session-client.js";

/**
 * static/session-client.js in a real Chromium against the real server: events published through
 * the API arrive in order; a dropped socket resumes from the last offset with nothing lost or
 * repeated; requests made while disconnected are sent after reconnecting; acks carry offsets.
 */

// The test page, at the server's origin, imports the module the way an app would.
const TEST_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>session-client.js test</title>
<script type="module">
  import { SessionClient } from "/static/session-client.js";
  const harness = {
    records: {},
    /** A client whose token function waits while its gate is shut: a controllable outage. */
    connect(name, { url, token, device, heartbeatMs }) {
      const record = { statuses: [], errors: [], events: [], rawEvents: 0, pongs: 0, presence: [], subscribed: [], gateOpen: true, sub: undefined };
      const client = new SessionClient({
        url,
        device,
        heartbeatMs,
        token: async () => {
          while (!record.gateOpen) await new Promise((resolve) => setTimeout(resolve, 20));
          return token;
        },
      });
      client.on("status", (status, detail) => record.statuses.push({ status, ...detail }));
      client.on("error", (error) => record.errors.push({ code: error.code, message: error.message }));
      client.on("frame", (frame) => {
        if (frame.type === "event") record.rawEvents += 1;
        if (frame.type === "pong") record.pongs += 1;
      });
      record.client = client;
      harness.records[name] = record;
    },
    subscribe(name, session, options) {
      const record = harness.records[name];
      const sub = record.client.subscribe(session, options);
      record.sub = sub;
      sub.on("event", (received) => record.events.push(received));
      sub.on("presence", (update) => record.presence.push(update.members));
      sub.on("subscribed", (info) => record.subscribed.push(info));
      sub.on("error", (error) => record.errors.push({ code: error.code, message: error.message }));
    },
  };
  window.harness = harness;
  window.harnessReady = true;
</script>`;

let server: TestServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  page = await browser.newPage();
  page.on("pageerror", (error) => console.error("[page error]", error));
  // A document the server really sent (a routed one counts as public to Chromium's local-network
  // checks, which then block its socket to 127.0.0.1), replaced by the test page at the same origin.
  await page.goto(`${server.url}/healthz`);
  await page.setContent(TEST_PAGE);
  await page.waitForFunction(() => (window as any).harnessReady === true, undefined, { timeout: 10_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function api(method: string, path: string, body?: unknown) {
  const res = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function createSession(capabilities?: string[]) {
  const res = await api("POST", "/api/sessions", { title: "browser client", ...(capabilities ? { capabilities } : {}) });
  expect(res.status).toBe(201);
  return res.body as { id: string; wsUrl: string; clientToken: string };
}

async function postMessage(session: string, text: string, id: string) {
  const res = await api("POST", `/api/sessions/${session}/messages`, { text, id, clientId: "backend" });
  expect(res.status).toBe(201);
  return res.body.offset as string;
}

/** One append carrying several events (a JSON array on the session's stream): they share one offset. */
async function appendBatch(session: string, events: unknown[]) {
  const res = await server.fetch(`/v1/stream/sessions/${session}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(events) });
  expect(res.status).toBeLessThan(300);
}

async function allEvents(session: string): Promise<Array<{ offset: string; event: any }>> {
  const res = await api("GET", `/api/sessions/${session}/events?offset=-1&limit=1000`);
  expect(res.status).toBe(200);
  expect(res.body.upToDate).toBe(true);
  return res.body.events;
}

/** What the page has recorded for one client (everything but the live objects). */
async function record(name: string) {
  return page.evaluate((n) => {
    const { client: _client, sub, ...rest } = (window as any).harness.records[n];
    return { ...rest, lastOffset: sub?.lastOffset as string | undefined, subState: sub?.state as string | undefined, status: _client.status as string };
  }, name);
}

/** Waits until `predicate`, an expression over `r` (the client's record in the page), holds. */
async function waitInPage(name: string, predicate: string, timeoutMs = 15_000) {
  try {
    await page.waitForFunction(([n, p]) => new Function("r", `return (${p});`)((window as any).harness.records[n]), [name, predicate] as const, { timeout: timeoutMs, polling: 20 });
  } catch (error) {
    throw new Error(`${predicate} did not hold within ${timeoutMs} ms; the client recorded ${JSON.stringify(await record(name))}`, { cause: error });
  }
}

const withoutSnapshotFlag = (events: Array<{ offset: string; event: unknown }>) => events.map(({ offset, event }) => ({ offset, event }));

describe("session-client.js in Chromium", () => {
  test("receives published events, and after a dropped socket resumes from its last offset with none lost or repeated", async () => {
    const session = await createSession();
    await page.evaluate(({ url, token }) => (window as any).harness.connect("a", { url, token, device: "test-browser" }), { url: session.wsUrl, token: session.clientToken });
    await page.evaluate((id) => (window as any).harness.subscribe("a", id, { offset: "-1" }), session.id);
    await waitInPage("a", `r.client.status === "open" && r.subscribed.length === 1`);

    for (let i = 1; i <= 3; i++) await postMessage(session.id, `before ${i}`, `m-before-${i}`);
    // The last append before the drop carries three events, each with its own offset.
    await appendBatch(session.id, [
      { type: "run.start", runId: "run-1", agent: "chat" },
      { type: "message.start", id: "a-1", role: "assistant", runId: "run-1", agent: "chat" },
      { type: "message.delta", id: "a-1", runId: "run-1", text: "Hello" },
    ]);
    await waitInPage("a", "r.events.length >= 6 && r.presence.length > 0");
    let seen = await record("a");
    expect(withoutSnapshotFlag(seen.events)).toEqual(await allEvents(session.id));
    expect(new Set(seen.events.slice(3).map((e: any) => e.offset)).size).toBe(3);
    expect(seen.presence.at(-1)).toContainEqual(expect.objectContaining({ device: "test-browser" }));

    // Outage: drop the socket and hold reconnects (the token function waits) while the session moves on.
    await page.evaluate(() => {
      const record = (window as any).harness.records.a;
      record.gateOpen = false;
      record.client._debugDropConnection();
      record.offlineSend = record.client.sendMessage(record.sub.session, "sent while offline", { id: "m-offline" });
      record.offlineSend.then((ack: unknown) => (record.offlineAck = ack));
    });
    await waitInPage("a", `r.client.status === "reconnecting"`);
    for (let i = 1; i <= 3; i++) await postMessage(session.id, `during ${i}`, `m-during-${i}`);
    await appendBatch(session.id, [
      { type: "message.delta", id: "a-1", runId: "run-1", text: ", world" },
      { type: "message.end", id: "a-1", runId: "run-1", status: "complete" },
    ]);
    await Bun.sleep(300);
    seen = await record("a");
    expect(seen.events.length).toBe(6);
    expect(seen.offlineAck).toBeUndefined();

    await page.evaluate(() => ((window as any).harness.records.a.gateOpen = true));
    await waitInPage("a", `r.client.status === "open" && r.offlineAck !== undefined && r.events.length >= 12`);
    await Bun.sleep(200);
    seen = await record("a");
    const expected = await allEvents(session.id);
    expect(expected.length).toBe(12);
    // Exactly the log, in order: nothing lost, nothing twice.
    expect(withoutSnapshotFlag(seen.events)).toEqual(expected);
    // The client resumed from the offset before its last event; the one repeat was skipped.
    expect(seen.rawEvents).toBe(12 + 1);
    expect(seen.subscribed.map((s: any) => s.resumed)).toEqual([false, true]);
    expect(seen.subscribed[1].offset).toBe(expected[4]!.offset);
    expect(seen.lastOffset).toBe(expected.at(-1)!.offset);
    // The message queued while offline was sent once, after reconnecting, and acked with its offset.
    // A client token's message ids live in its client's namespace: `<clientId>:m-offline`.
    const offline = expected.filter((e) => String(e.event.id).endsWith(":m-offline"));
    expect(offline.length).toBe(1);
    expect(seen.offlineAck).toEqual({ id: offline[0]!.event.id, offset: offline[0]!.offset });
    const statuses = seen.statuses.map((s: any) => s.status);
    expect(statuses[0]).toBe("connecting");
    expect(statuses.slice(-2)).toEqual(["reconnecting", "open"]);
    expect(seen.errors).toEqual([]);
    // Dropping the socket cancelled nothing.
    expect(expected.some((e) => e.event.type === "control")).toBe(false);
  });

  test("sendMessage resolves with its ack offset; cancel, interrupt and steer append control events; refusals reject with the server's code", async () => {
    // control-all: this client may interrupt and steer a run it did not start (run-9).
    const session = await createSession(["read", "publish", "control-all", "presence"]);
    await page.evaluate(({ url, token }) => (window as any).harness.connect("b", { url, token, device: "test-browser", heartbeatMs: 100 }), { url: session.wsUrl, token: session.clientToken });

    const sent = await page.evaluate((id) => (window as any).harness.records.b.client.sendMessage(id, "Write a subject line", { id: "m-hello" }), session.id);
    expect(sent.id).toMatch(/^client_[^:]+:m-hello$/);
    expect(sent.offset).toMatch(/^\d+_\d+$/);
    const afterMessage = await allEvents(session.id);
    expect(afterMessage).toHaveLength(1);
    expect(afterMessage[0]!.offset).toBe(sent.offset);
    expect(afterMessage[0]!.event).toMatchObject({ type: "message", id: sent.id, role: "user", text: "Write a subject line" });
    const clientId = afterMessage[0]!.event.clientId;
    expect(clientId).toMatch(/^client_/);

    // Sending the same message id again appends nothing and acks with the first offset.
    const again = await page.evaluate((id) => (window as any).harness.records.b.client.sendMessage(id, "Write a subject line", { id: "m-hello" }), session.id);
    expect(again.offset).toBe(sent.offset);

    const cancelled = await page.evaluate((id) => (window as any).harness.records.b.client.cancel(id, { scope: "own" }), session.id);
    const interrupted = await page.evaluate((id) => (window as any).harness.records.b.client.interrupt(id, { runId: "run-9" }), session.id);
    const steered = await page.evaluate((id) => (window as any).harness.records.b.client.steer(id, "Shorter, please", { runId: "run-9" }), session.id);
    const events = await allEvents(session.id);
    expect(events.map((e) => e.event)).toEqual([
      afterMessage[0]!.event,
      { type: "control", action: "cancel", clientId, scope: "own" },
      { type: "control", action: "interrupt", clientId, runId: "run-9" },
      { type: "control", action: "steer", clientId, runId: "run-9", text: "Shorter, please" },
    ]);
    expect(events.slice(1).map((e) => e.offset)).toEqual([cancelled.offset, interrupted.offset, steered.offset]);

    const refusals = await page.evaluate(async (id) => {
      const client = (window as any).harness.records.b.client;
      const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error) => `${error.name}:${error.code}`);
      return {
        emptySteer: await codeOf(client.steer(id, "")),
        agentEvent: await codeOf(client.publish(id, { type: "run.start", runId: "r", agent: "chat" })),
        otherSession: await codeOf(client.sendMessage("ses_not_mine", "hi")),
        tooLarge: await codeOf(client.sendMessage(id, "x".repeat(70 * 1024))),
      };
    }, session.id);
    expect(refusals).toEqual({ emptySteer: "SessionError:invalid_frame", agentEvent: "SessionError:forbidden_event", otherSession: "SessionError:session_not_found", tooLarge: "SessionError:frame_too_large" });

    // The heartbeat pings (every 100 ms here) are answered.
    await waitInPage("b", "r.pongs >= 2");

    // close() stops the client and sends nothing: no control event appears.
    await page.evaluate(() => (window as any).harness.records.b.client.close());
    await Bun.sleep(200);
    expect(await allEvents(session.id)).toHaveLength(4);
    expect((await record("b")).status).toBe("closed");
  });

  test("a snapshot subscription gets compacted messages, then live events, and resumes in events mode after a drop", async () => {
    const session = await createSession();
    await postMessage(session.id, "Hi", "m-1");
    await appendBatch(session.id, [
      { type: "run.start", runId: "run-1", agent: "chat" },
      { type: "message.start", id: "a-1", role: "assistant", runId: "run-1", agent: "chat" },
      { type: "message.delta", id: "a-1", runId: "run-1", text: "Hel" },
    ]);
    await appendBatch(session.id, [
      { type: "message.delta", id: "a-1", runId: "run-1", text: "lo" },
      { type: "message.end", id: "a-1", runId: "run-1", status: "complete" },
      { type: "run.end", runId: "run-1", status: "completed" },
    ]);
    const tail = (await api("GET", `/api/sessions/${session.id}`)).body.tailOffset as string;

    await page.evaluate(({ url, token }) => (window as any).harness.connect("c", { url, token, device: "tablet" }), { url: session.wsUrl, token: session.clientToken });
    await page.evaluate((id) => (window as any).harness.subscribe("c", id, { mode: "snapshot" }), session.id);
    await waitInPage("c", "r.events.length >= 2");
    let seen = await record("c");
    expect(seen.subscribed).toEqual([{ offset: tail, mode: "snapshot", resumed: false }]);
    expect(seen.events).toEqual([
      { session: session.id, offset: tail, snapshot: true, event: { type: "message", id: "m-1", role: "user", text: "Hi", status: "complete", clientId: "backend" } },
      { session: session.id, offset: tail, snapshot: true, event: { type: "message", id: "a-1", role: "assistant", text: "Hello", status: "complete", runId: "run-1", agent: "chat" } },
    ]);

    const liveOffset = await postMessage(session.id, "Thanks", "m-2");
    await waitInPage("c", "r.events.length >= 3");
    await page.evaluate(() => {
      const record = (window as any).harness.records.c;
      record.gateOpen = false;
      record.client._debugDropConnection();
    });
    await waitInPage("c", `r.client.status === "reconnecting"`);
    await postMessage(session.id, "One more", "m-3");
    await page.evaluate(() => ((window as any).harness.records.c.gateOpen = true));
    await waitInPage("c", `r.client.status === "open" && r.events.length >= 4`);
    await Bun.sleep(200);

    seen = await record("c");
    const live = (await allEvents(session.id)).filter((e) => e.offset > tail);
    expect(live.map((e) => e.event.id)).toEqual(["m-2", "m-3"]);
    expect(live[0]!.offset).toBe(liveOffset);
    expect(seen.events.slice(2)).toEqual(live.map((e) => ({ session: session.id, offset: e.offset, event: e.event, snapshot: false })));
    // Resumed from the snapshot's offset in events mode: the server re-sent m-2, which was skipped; no snapshot again.
    expect(seen.subscribed.slice(1)).toEqual([{ offset: tail, mode: "events", resumed: true }]);
    expect(seen.rawEvents).toBe(2 + 1 + 2);
    expect(seen.errors).toEqual([]);
    await page.evaluate(() => (window as any).harness.records.c.client.close());
  });

  test("reconnect delays double from 250 ms to a 10 s cap with ±50 % jitter", () => {
    for (let i = 0; i < 200; i++) {
      const first = backoffMs(0, 250, 10_000);
      expect(first).toBeGreaterThanOrEqual(125);
      expect(first).toBeLessThanOrEqual(375);
      const third = backoffMs(2, 250, 10_000);
      expect(third).toBeGreaterThanOrEqual(500);
      expect(third).toBeLessThanOrEqual(1_500);
      const capped = backoffMs(20, 250, 10_000);
      expect(capped).toBeGreaterThanOrEqual(5_000);
      expect(capped).toBeLessThanOrEqual(15_000);
    }
  });
});
