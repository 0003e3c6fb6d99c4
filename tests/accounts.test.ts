import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

/** A browser-like client: keeps cookies, sends the Origin header a browser would. */
class Browser {
  cookies = new Map<string, string>();
  constructor(readonly server: TestServer) {}

  async request(path: string, init: RequestInit & { form?: Record<string, string> } = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    let body = init.body;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set("content-type", "application/x-www-form-urlencoded");
      if (!headers.has("origin")) headers.set("origin", this.server.url);
    }
    const res = await fetch(this.server.url + path, { ...init, body, headers, redirect: "manual" });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const [name, value] = pair!.split("=");
      if (value === "" || /max-age=0/i.test(cookie) || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.cookies.delete(name!);
      else this.cookies.set(name!, value!);
    }
    return res;
  }

  async csrf(path = "/settings/tokens"): Promise<string> {
    const html = await (await this.request(path)).text();
    return /name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
  }
}

const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

let server: TestServer;
let owner: Browser;
beforeAll(async () => {
  server = await startServer();
  servers.push(server);
  owner = new Browser(server);
});

async function api(path: string, token: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(server.url + path, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

describe("setup and login", () => {
  test("a fresh installation sends everyone to /setup, which creates the first team and owner once", async () => {
    const home = await owner.request("/");
    expect(home.status).toBe(302);
    expect(home.headers.get("location")).toBe("/setup");
    const bad = await owner.request("/setup", { method: "POST", form: { teamName: "Acme", name: "Ada", email: "ada@example.com", password: "short" } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("at least 10 characters");
    const res = await owner.request("/setup", { method: "POST", form: { teamName: "Acme <script>alert(1)</script>", name: "Ada", email: "ada@example.com", password: "correct horse battery" } });
    expect(res.status).toBe(302);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("ds_session="))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Expires=/i);
    expect(cookie).not.toMatch(/Secure/); // plain http here; behind TLS the cookie is Secure

    const again = await new Browser(server).request("/setup", { method: "POST", form: { teamName: "Evil", name: "Eve", email: "eve@example.com", password: "correct horse battery" } });
    expect(again.status).toBe(409);
    expect((await new Browser(server).request("/setup")).headers.get("location")).toBe("/login");
  });

  test("pages escape user strings and carry a strict CSP and the security headers", async () => {
    const res = await owner.request("/team");
    const html = await res.text();
    expect(html).toContain("Acme &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script>alert(1)</script>");
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("object-src 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("same-origin");
  });

  test("login: wrong password is refused; success sets a session; logout revokes it server-side", async () => {
    const browser = new Browser(server);
    const wrong = await browser.request("/login", { method: "POST", form: { email: "ada@example.com", password: "not the password" } });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain("do not match");
    const ok = await browser.request("/login", { method: "POST", form: { email: "ADA@example.com", password: "correct horse battery", next: "//evil.example.com" } });
    expect(ok.status).toBe(302);
    expect(ok.headers.get("location")).toBe("/");
    const stolen = browser.cookies.get("ds_session")!;
    expect((await browser.request("/team")).status).toBe(200);
    const csrfToken = await browser.csrf("/team");
    await browser.request("/logout", { method: "POST", form: { csrf: csrfToken } });
    // The old cookie value no longer works even if someone kept it.
    const replay = await fetch(`${server.url}/team`, { headers: { cookie: `ds_session=${stolen}` }, redirect: "manual" });
    expect(replay.status).toBe(302);
  });

  test("login attempts are rate-limited per account with 429 and Retry-After", async () => {
    await api("/api/teams", TEST_API_TOKEN, { method: "POST", body: { name: "Limits", owner: { name: "Lim", email: "lim@example.com", password: "correct horse battery" } } });
    const browser = new Browser(server);
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) last = await browser.request("/login", { method: "POST", form: { email: "lim@example.com", password: `wrong-${i}` } });
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
    // Even the right password waits out the window.
    const right = await browser.request("/login", { method: "POST", form: { email: "lim@example.com", password: "correct horse battery" } });
    expect(right.status).toBe(429);
  });

  test("forms without the CSRF token, or posted from another origin, are refused", async () => {
    const noToken = await owner.request("/settings/tokens", { method: "POST", form: { name: "x" } });
    expect(noToken.status).toBe(403);
    const csrfToken = await owner.csrf();
    const crossSite = await owner.request("/settings/tokens", { method: "POST", form: { name: "x", csrf: csrfToken }, headers: { origin: "https://evil.example.com" } });
    expect(crossSite.status).toBe(403);
    // The JSON API with a cookie needs the CSRF header for unsafe methods.
    const viaCookie = await owner.request("/api/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(viaCookie.status).toBe(403);
    const withHeader = await owner.request("/api/sessions", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrfToken }, body: "{}" });
    expect(withHeader.status).toBe(201);
  });
});

describe("invites and API tokens", () => {
  test("an owner's invite link adds a member once", async () => {
    const csrfToken = await owner.csrf("/team");
    const res = await owner.request("/team/invites", { method: "POST", form: { csrf: csrfToken, role: "member" } });
    const url = /<code id="invite-url">([^<]+)<\/code>/.exec(await res.text())![1]!;
    const path = new URL(url).pathname;
    const bob = new Browser(server);
    expect((await bob.request(path)).status).toBe(200);
    const joined = await bob.request(path, { method: "POST", form: { name: "Bob", email: "bob@example.com", password: "another good password" } });
    expect(joined.status).toBe(302);
    expect(await (await bob.request("/team")).text()).toContain("bob@example.com");
    const reuse = await new Browser(server).request(path, { method: "POST", form: { name: "Mallory", email: "m@example.com", password: "another good password" } });
    expect(reuse.status).toBe(404);
  });

  test("API tokens are shown once, work as Bearer tokens, record last use, and stop working when revoked", async () => {
    const csrfToken = await owner.csrf();
    const created = await owner.request("/settings/tokens", { method: "POST", form: { csrf: csrfToken, name: "backend" } });
    const html = await created.text();
    const token = /<code id="new-token">([^<]+)<\/code>/.exec(html)![1]!;
    expect(token).toMatch(/^dsk_/);
    const list = await (await owner.request("/settings/tokens")).text();
    expect(list).not.toContain(token);
    expect(list).toContain(token.slice(0, 10));

    expect((await api("/api/sessions", token, { method: "POST", body: {} })).status).toBe(201);
    expect(await (await owner.request("/settings/tokens")).text()).not.toContain("never</td>");

    const id = /action="\/settings\/tokens\/([^/]+)\/revoke"/.exec(list)![1]!;
    await owner.request(`/settings/tokens/${id}/revoke`, { method: "POST", form: { csrf: await owner.csrf() } });
    expect((await api("/api/sessions", token)).status).toBe(401);
  });
});

describe("tenant isolation", () => {
  let teamA: string;
  let teamB: string;
  let sessionB: string;
  beforeAll(async () => {
    teamA = (await api("/api/teams", TEST_API_TOKEN, { method: "POST", body: { name: "A", owner: { name: "A", email: "a@a.example", password: "correct horse battery" } } })).body.apiToken;
    teamB = (await api("/api/teams", TEST_API_TOKEN, { method: "POST", body: { name: "B", owner: { name: "B", email: "b@b.example", password: "correct horse battery" } } })).body.apiToken;
    sessionB = (await api("/api/sessions", teamB, { method: "POST", body: { title: "B's" } })).body.id;
    await api(`/api/sessions/${sessionB}/messages`, teamB, { method: "POST", body: { text: "private to B" } });
  });

  test("every session route answers 404 for another team's session", async () => {
    const routes: Array<[string, string, unknown?]> = [
      ["GET", `/api/sessions/${sessionB}`],
      ["GET", `/api/sessions/${sessionB}/messages`],
      ["GET", `/api/sessions/${sessionB}/events?offset=-1`],
      ["POST", `/api/sessions/${sessionB}/messages`, { text: "intrusion" }],
      ["POST", `/api/sessions/${sessionB}/runs`, { agent: "chat" }],
      ["POST", `/api/sessions/${sessionB}/control`, { action: "cancel" }],
      ["POST", `/api/sessions/${sessionB}/client-tokens`, {}],
    ];
    for (const [method, path, body] of routes) {
      const res = await api(path, teamA, { method, body });
      expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
      expect(res.body.error.code).toBe("session_not_found");
    }
    const listA = (await api("/api/sessions", teamA)).body.sessions.map((s: any) => s.id);
    expect(listA).not.toContain(sessionB);
    // Nothing was written into B's session.
    const events = (await api(`/api/sessions/${sessionB}/events`, teamB)).body.events;
    expect(events.map((e: any) => e.event.text)).toEqual(["private to B"]);
  });

  test("another team's session stream and streams are 404 on the Durable Streams endpoint", async () => {
    const read = await fetch(`${server.url}/v1/stream/sessions/${sessionB}?offset=-1`, { headers: { authorization: `Bearer ${teamA}` } });
    expect(read.status).toBe(404);
    const created = await fetch(`${server.url}/v1/stream/b-owned`, { method: "PUT", headers: { authorization: `Bearer ${teamB}`, "content-type": "text/plain" } });
    expect(created.status).toBe(201);
    for (const method of ["GET", "HEAD", "POST", "DELETE", "PUT"]) {
      const res = await fetch(`${server.url}/v1/stream/b-owned${method === "GET" ? "?offset=-1" : ""}`, { method, headers: { authorization: `Bearer ${teamA}`, "content-type": "text/plain" }, body: method === "POST" ? "x" : undefined });
      expect({ method, status: res.status }).toEqual({ method, status: method === "PUT" ? 409 : 404 });
    }
    expect((await fetch(`${server.url}/v1/stream/b-owned?offset=-1`, { headers: { authorization: `Bearer ${teamB}` } })).status).toBe(200);
  });

  test("another team's session cannot be subscribed to over the WebSocket", async () => {
    const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${teamA}`);
    expect(await ws.request({ type: "subscribe", session: sessionB, offset: "-1" })).toMatchObject({ type: "error", code: "session_not_found" });
    expect(await ws.request({ type: "publish", session: sessionB, event: { type: "message", id: "x", role: "user", text: "hi" } })).toMatchObject({ type: "error", code: "session_not_found" });
    ws.ws.close();
  });
});
