import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { freshDatabase } from "./support/postgres";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";

/**
 * A revoked token loses its open live reads on /v1/stream at once, on every instance: an SSE
 * response ends and a waiting long-poll answers, long before the long-poll wait (60 s here) or the
 * SSE limit (60 s); the reconnect is refused (401). Other tokens' reads go on.
 */
let serverA: TestServer;
let serverB: TestServer;
const WAIT_MS = 60_000;
beforeAll(async () => {
  const databaseUrl = await freshDatabase();
  const env = { LONG_POLL_TIMEOUT_MS: String(WAIT_MS), SECRET_KEY: "revoke-reads-secret-0123456789abcdef0123456789" };
  serverA = await startServer({ databaseUrl, env });
  serverB = await startServer({ databaseUrl, env });
}, 90_000);
afterAll(async () => {
  await serverA?.stop();
  await serverB?.stop();
});

async function api(method: string, path: string, body?: unknown, token = TEST_API_TOKEN) {
  const res = await fetch(`${serverA.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Fails if `promise` has not settled within `ms` (the live reads would otherwise wait 60 s). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, Bun.sleep(ms).then(() => Promise.reject(new Error(`${what} was not cut within ${ms} ms`)))]);
}

/** An open SSE read: resolves `ended` when the server ends the response. */
async function openSse(url: string) {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  // The first control event says the read is live and up to date.
  while (!text.includes("event: control")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the SSE response ended before its first control event");
    text += decoder.decode(value);
  }
  const ended = (async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value);
    }
  })();
  return { ended };
}

describe("revoking a token cuts its live reads", () => {
  test("a client token: SSE and long-poll on both instances end at once; the reconnect is 401; another token's read goes on", async () => {
    const session = (await api("POST", "/api/sessions", { title: "revoke reads" })).body as { id: string; clientToken: string; clientTokenId: string };
    const other = (await api("POST", `/api/sessions/${session.id}/client-tokens`, {})).body.clientToken as string;
    const path = `/v1/stream/sessions/${session.id}`;
    const sseA = await openSse(`${serverA.url}${path}?offset=-1&live=sse&token=${encodeURIComponent(session.clientToken)}`);
    const sseB = await openSse(`${serverB.url}${path}?offset=-1&live=sse&token=${encodeURIComponent(session.clientToken)}`);
    const keeps = await openSse(`${serverB.url}${path}?offset=-1&live=sse&token=${encodeURIComponent(other)}`);
    const pollA = fetch(`${serverA.url}${path}?offset=now&live=long-poll`, { headers: { authorization: `Bearer ${session.clientToken}` } });
    const pollB = fetch(`${serverB.url}${path}?offset=now&live=long-poll`, { headers: { authorization: `Bearer ${session.clientToken}` } });
    await Bun.sleep(300); // the long-polls are waiting
    expect((await api("DELETE", `/api/sessions/${session.id}/client-tokens/${session.clientTokenId}`)).status).toBe(204);
    await within(Promise.all([sseA.ended, sseB.ended]), 10_000, "SSE");
    const polls = await within(Promise.all([pollA, pollB]), 10_000, "long-poll");
    for (const poll of polls) expect(poll.status).toBe(401);
    expect((await fetch(`${serverB.url}${path}?offset=-1&live=sse&token=${encodeURIComponent(session.clientToken)}`)).status).toBe(401);
    // The other client token's read is still open and gets what is appended now.
    expect((await api("POST", `/api/sessions/${session.id}/messages`, { text: "still here" })).status).toBe(201);
    const stillOpen = await Promise.race([keeps.ended.then(() => "ended"), Bun.sleep(1_000).then(() => "open")]);
    expect(stillOpen).toBe("open");
  }, 60_000);

  test("an API token: its SSE read of a stream its team made ends when the token is revoked", async () => {
    const team = (await api("POST", "/api/teams", { name: "revoke-reads", owner: { name: "R", email: `rr-${Date.now()}@example.com`, password: "correct horse battery" } })).body as { apiToken: string; apiTokenId: string };
    const path = `/v1/stream/revoke-reads-${Date.now()}`;
    expect((await fetch(`${serverA.url}${path}`, { method: "PUT", headers: { authorization: `Bearer ${team.apiToken}`, "content-type": "application/json" } })).status).toBe(201);
    const sse = await openSse(`${serverB.url}${path}?offset=-1&live=sse&token=${encodeURIComponent(team.apiToken)}`);
    expect((await api("DELETE", `/api/tokens/${team.apiTokenId}`, undefined, team.apiToken)).status).toBe(204);
    await within(sse.ended, 10_000, "SSE");
    expect((await fetch(`${serverB.url}${path}?offset=-1`, { headers: { authorization: `Bearer ${team.apiToken}` } })).status).toBe(401);
  }, 60_000);
});
