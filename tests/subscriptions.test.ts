import { describe, test, expect, afterEach } from "bun:test";
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { createLogger, type Logger } from "../src/infra/log";
import type { Resolver } from "../src/infra/guarded-fetch";
import { ZERO_OFFSET, type SubscriptionHost } from "../src/streams/subscription-host";
import { SubscriptionManager, checkWebhookUrl, globMatch } from "../src/streams/subscriptions";

// The manager is driven through handle() with real Requests; the stream store behind it is the
// in-memory FakeHost below (SubscriptionHost is the seam), and webhooks go to a real local server.

const ORIGIN = "http://studio.test";
const quiet = createLogger({ level: "error" });

function offset(position: number): string {
  return `0000000000000000_${String(position).padStart(16, "0")}`;
}

/** An in-memory stream store that, like the real core, calls onAppend after every append. */
class FakeHost implements SubscriptionHost {
  readonly streams = new Map<string, { position: number; values: unknown[] }>();
  manager: SubscriptionManager | undefined;

  create(path: string, initial?: unknown): void {
    this.streams.set(path, { position: 0, values: [] });
    if (initial !== undefined) this.append(path, initial);
  }

  append(path: string, value: unknown): string {
    const stream = this.streams.get(path);
    if (!stream) throw new Error(`no stream ${path}`);
    stream.values.push(value);
    stream.position += JSON.stringify(value).length + 5;
    this.manager?.onAppend(path);
    return offset(stream.position);
  }

  delete(path: string): void {
    this.streams.delete(path);
    this.manager?.onDelete(path);
  }

  async tailOf(path: string): Promise<string | undefined> {
    const stream = this.streams.get(path);
    return stream ? offset(stream.position) : undefined;
  }

  async listPaths(): Promise<string[]> {
    return [...this.streams.keys()];
  }

  async appendJson(path: string, value: unknown): Promise<boolean> {
    if (!this.streams.has(path)) return false;
    this.append(path, value);
    return true;
  }
}

interface Delivery {
  body: Record<string, any>;
  raw: string;
  signature: string | null;
}

/** A real HTTP receiver on 127.0.0.1; `reply` decides each response. */
function startReceiver(reply: (delivery: Delivery, index: number) => Response = () => Response.json({})) {
  const received: Delivery[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const raw = await request.text();
      const delivery = { body: JSON.parse(raw), raw, signature: request.headers.get("webhook-signature") };
      received.push(delivery);
      return reply(delivery, received.length - 1);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/webhook`,
    received,
    async waitFor(count: number, timeoutMs = 5_000): Promise<Delivery> {
      await until(() => received.length >= count, timeoutMs);
      return received[count - 1]!;
    },
    stop: () => server.stop(true),
  };
}

async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for condition");
    await Bun.sleep(10);
  }
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setup(options: { signingKeyPem?: string; allowPrivate?: boolean; resolve?: Resolver; log?: Logger } = {}) {
  const host = new FakeHost();
  // The receivers below listen on 127.0.0.1: private addresses are allowed unless a test says otherwise.
  const manager = new SubscriptionManager({ host, log: quiet, allowPrivate: true, ...options });
  host.manager = manager;
  cleanups.push(() => manager.close());

  const call = async (method: string, rest: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers } };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const response = await manager.handle(new Request(`${ORIGIN}/v1/stream/__ds${rest}`, init), rest);
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
  };
  const receiver = (reply?: Parameters<typeof startReceiver>[0]) => {
    const started = startReceiver(reply);
    cleanups.push(started.stop);
    return started;
  };
  const webhook = (id: string, url: string, extra: Record<string, unknown> = {}) =>
    call("PUT", `/subscriptions/${id}`, { type: "webhook", pattern: "events/*", webhook: { url }, lease_ttl_ms: 1000, ...extra });
  const jwks = async () => (await call("GET", "/jwks.json")).json as { keys: Array<Record<string, string>> };
  const linkOf = async (id: string, path: string) =>
    ((await call("GET", `/subscriptions/${id}`)).json.streams as Array<{ path: string; link_type: string; acked_offset: string }>).find(
      (link) => link.path === path,
    );
  return { host, manager, call, receiver, webhook, jwks, linkOf };
}

function verifySignature(delivery: Delivery, keys: Array<Record<string, string>>): boolean {
  const match = /^t=(\d+),kid=([^,]+),ed25519=([A-Za-z0-9_-]+)$/.exec(delivery.signature ?? "");
  if (!match) return false;
  const [, t, kid, signature] = match;
  const jwk = keys.find((key) => key.kid === kid);
  if (!jwk || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const publicKey = createPublicKey({ key: jwk, format: "jwk" });
  return verify(null, Buffer.from(`${t}.${delivery.raw}`), publicKey, Buffer.from(signature!, "base64url"));
}

describe("create, confirm, read and delete", () => {
  test("PUT creates (201), an identical PUT confirms (200), a different one conflicts (409)", async () => {
    const { call, webhook } = setup();
    const created = await webhook("sub-1", "http://127.0.0.1:9/hook", { description: "orders" });
    expect(created.status).toBe(201);
    expect(created.headers.get("content-type")).toBe("application/json");
    expect(created.json).toMatchObject({
      id: "sub-1",
      subscription_id: "sub-1",
      type: "webhook",
      pattern: "events/*",
      streams: [],
      webhook: { url: "http://127.0.0.1:9/hook", signing: { alg: "ed25519", jwks_url: `${ORIGIN}/v1/stream/__ds/jwks.json` } },
      wake_stream: null,
      lease_ttl_ms: 1000,
      status: "active",
      description: "orders",
    });
    expect(created.json.webhook.signing.kid).toMatch(/^ds_/);
    expect(created.json.webhook_secret).toBeUndefined();
    expect(Date.parse(created.json.created_at)).toBeGreaterThan(0);

    const confirmed = await webhook("sub-1", "http://127.0.0.1:9/hook", { description: "orders" });
    expect(confirmed.status).toBe(200);
    expect(confirmed.json).toEqual(created.json);

    const conflict = await webhook("sub-1", "http://127.0.0.1:9/hook", { description: "other" });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe("SUBSCRIPTION_ALREADY_EXISTS");

    const got = await call("GET", "/subscriptions/sub-1");
    expect(got.status).toBe(200);
    expect(got.json).toEqual(created.json);

    expect((await call("DELETE", "/subscriptions/sub-1")).status).toBe(204);
    const gone = await call("GET", "/subscriptions/sub-1");
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe("SUBSCRIPTION_NOT_FOUND");
    expect((await call("DELETE", "/subscriptions/sub-1")).status).toBe(204);
  });

  test("the same explicit streams in another order confirm instead of conflicting", async () => {
    const { call } = setup();
    const body = (streams: string[]) => ({ type: "pull-wake", streams, wake_stream: "wake/pool" });
    expect((await call("PUT", "/subscriptions/p", body(["a", "b"]))).status).toBe(201);
    expect((await call("PUT", "/subscriptions/p", body(["/b/", "a", "a"]))).status).toBe(200);
  });

  test("invalid bodies answer 400 INVALID_REQUEST with a message naming the problem", async () => {
    const { call } = setup();
    const url = "http://127.0.0.1:9/hook";
    const cases: Array<[unknown, RegExp]> = [
      ["{not json", /not valid JSON/],
      [[1, 2], /JSON object/],
      [{ pattern: "events/*", webhook: { url } }, /type/],
      [{ type: "email", pattern: "events/*" }, /type/],
      [{ type: "webhook", webhook: { url } }, /pattern/],
      [{ type: "webhook", pattern: "/", streams: [], webhook: { url } }, /pattern/],
      [{ type: "webhook", pattern: "events/*" }, /webhook\.url/],
      [{ type: "webhook", pattern: "events/*", webhook: { url }, lease_ttl_ms: 999 }, /lease_ttl_ms/],
      [{ type: "webhook", pattern: "events/*", webhook: { url }, lease_ttl_ms: 600_001 }, /lease_ttl_ms/],
      [{ type: "webhook", pattern: "events/*", webhook: { url }, lease_ttl_ms: 1500.5 }, /lease_ttl_ms/],
      [{ type: "webhook", streams: ["ok", 3], webhook: { url } }, /streams/],
      [{ type: "pull-wake", pattern: "events/*" }, /wake_stream/],
      [{ type: "pull-wake", streams: ["wake/pool"], wake_stream: "wake/pool" }, /wake_stream/],
      [{ type: "pull-wake", streams: ["__ds/x"], wake_stream: "wake/pool" }, /reserved/],
    ];
    for (const [body, message] of cases) {
      const response = await call("PUT", "/subscriptions/bad", body);
      expect({ body, status: response.status, code: response.json.error.code }).toEqual({ body, status: 400, code: "INVALID_REQUEST" });
      expect(response.json.error.message).toMatch(message);
    }
    expect((await call("GET", "/subscriptions/bad")).status).toBe(404);
  });

  test("webhook URLs with private addresses allowed (IMPORT_ALLOW_PRIVATE=on): local http and public https accepted; other http, link-local and metadata refused", async () => {
    const { call } = setup({ allowPrivate: true });
    const put = (url: string) => call("PUT", `/subscriptions/u-${encodeURIComponent(url)}`, { type: "webhook", pattern: "events/*", webhook: { url } });
    const rejected = await put("http://10.0.0.1/hook");
    expect(rejected.status).toBe(400);
    expect(rejected.json.error.code).toBe("WEBHOOK_URL_REJECTED");
    expect(rejected.json.error.message).toContain("https://");
    expect((await put("http://127.0.0.1:4000/webhook")).status).toBe(201);
    expect((await put("http://localhost:4000/webhook")).status).toBe(201);
    expect((await put("https://hooks.example.com/in")).status).toBe(201);

    const allowed = { allowPrivate: true };
    for (const url of ["http://example.com/hook", "ftp://example.com/hook", "https://169.254.169.254/latest", "https://[fe80::1]/hook", "https://[::ffff:169.254.169.254]/x", "https://user:pw@example.com/hook", "not a url"]) {
      expect({ url, ok: checkWebhookUrl(url, allowed).ok }).toEqual({ url, ok: false });
    }
    for (const url of ["https://192.168.1.10/hook", "https://127.0.0.1/hook", "https://[::1]/hook", "https://localhost/hook", "https://172.32.0.1/hook"]) {
      expect({ url, ok: checkWebhookUrl(url, allowed).ok }).toEqual({ url, ok: true });
    }
  });

  test("webhook URLs by default (private addresses refused): loopback, private, link-local, metadata and IPv6 loopback are refused, public https accepted", async () => {
    const { call } = setup({ allowPrivate: false });
    const refused = {
      "http://127.0.0.1:4000/webhook": /127\.0\.0\.1.*private or loopback.*IMPORT_ALLOW_PRIVATE=on/,
      "http://localhost:4000/webhook": /localhost is this machine/,
      "https://10.0.0.1/hook": /10\.0\.0\.1.*private/,
      "https://192.168.1.10/hook": /private/,
      "https://172.20.0.1/hook": /private/,
      "https://100.64.0.1/hook": /private/,
      "https://169.254.169.254/latest/meta-data/": /169\.254\.169\.254.*link-local, metadata.*never fetched/,
      "https://[::1]/hook": /::1.*private or loopback/,
      "https://[::ffff:10.0.0.1]/hook": /private/,
      "https://[fd00:ec2::254]/hook": /never fetched/,
    };
    for (const [url, message] of Object.entries(refused)) {
      const response = await call("PUT", "/subscriptions/refused", { type: "webhook", pattern: "events/*", webhook: { url } });
      expect({ url, status: response.status, code: response.json.error.code }).toEqual({ url, status: 400, code: "WEBHOOK_URL_REJECTED" });
      expect(response.json.error.message).toMatch(message);
      expect(checkWebhookUrl(url, { allowPrivate: false }).ok).toBe(false);
    }
    // A refused request stores nothing.
    expect((await call("GET", "/subscriptions/refused")).status).toBe(404);
    expect((await call("PUT", "/subscriptions/public", { type: "webhook", pattern: "events/*", webhook: { url: "https://172.32.0.1/hook" } })).status).toBe(201);
  });

  test("a host name that resolves to a private address is refused when the subscription is made", async () => {
    const { call } = setup({ allowPrivate: false, resolve: async () => [{ address: "93.184.216.34", family: 4 }, { address: "10.1.2.3", family: 4 }] });
    const response = await call("PUT", "/subscriptions/inward", { type: "webhook", pattern: "events/*", webhook: { url: "https://hooks.partner.example/in" } });
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({ code: "WEBHOOK_URL_REJECTED", message: expect.stringMatching(/hooks\.partner\.example leads to 10\.1\.2\.3, a private or loopback address/) });
    expect((await call("GET", "/subscriptions/inward")).status).toBe(404);
  });
});

describe("webhook delivery through the guarded fetch", () => {
  function capturingLog() {
    const lines: Array<Record<string, unknown>> = [];
    return { lines, log: createLogger({ level: "warn", write: (line) => lines.push(JSON.parse(line)) }) };
  }

  test("a name that resolved to a public address at creation but to loopback at delivery (DNS rebinding) is refused, nothing delivered", async () => {
    const { lines, log } = capturingLog();
    const answers = [[{ address: "93.184.216.34", family: 4 as const }]];
    const { host, call, receiver } = setup({ allowPrivate: false, log, resolve: async () => answers.shift() ?? [{ address: "127.0.0.1", family: 4 }] });
    const hook = receiver();
    const port = new URL(hook.url).port;
    host.create("events/a");
    expect((await call("PUT", "/subscriptions/rebind", { type: "webhook", pattern: "events/*", webhook: { url: `https://rebind.example:${port}/webhook` } })).status).toBe(201);
    host.append("events/a", { n: 1 });
    await until(() => lines.some((line) => line.msg === "webhook delivery failed; will retry"));
    const failure = lines.find((line) => line.msg === "webhook delivery failed; will retry")!;
    expect(String(failure.reason)).toMatch(/^private_address: rebind\.example leads to 127\.0\.0\.1/);
    expect((await call("GET", "/subscriptions/rebind")).json.status).toBe("failed");
    expect(hook.received).toHaveLength(0);
  });

  test("a 307 redirect to another allowed receiver is followed (method and body kept); one to the metadata address or a 302 is refused", async () => {
    const { lines, log } = capturingLog();
    const { host, call, receiver } = setup({ allowPrivate: true, log });
    const final = receiver(() => Response.json({ done: true }));
    const forward = receiver(() => new Response(null, { status: 307, headers: { location: final.url } }));
    const toMetadata = receiver(() => new Response(null, { status: 307, headers: { location: "http://169.254.169.254/latest/meta-data/" } }));
    const toGet = receiver(() => new Response(null, { status: 302, headers: { location: final.url } }));
    host.create("events/a");
    host.create("other/b");
    host.create("third/c");
    await call("PUT", "/subscriptions/forward", { type: "webhook", pattern: "events/*", webhook: { url: forward.url } });
    await call("PUT", "/subscriptions/metadata", { type: "webhook", pattern: "other/*", webhook: { url: toMetadata.url } });
    await call("PUT", "/subscriptions/found", { type: "webhook", pattern: "third/*", webhook: { url: toGet.url } });
    host.append("events/a", { n: 1 });
    const delivered = await final.waitFor(1);
    expect(delivered.body.subscription_id).toBe("forward");
    expect(delivered.signature).toMatch(/^t=\d+,kid=/);

    host.append("other/b", { n: 1 });
    host.append("third/c", { n: 1 });
    await until(() => lines.filter((line) => line.msg === "webhook delivery failed; will retry").length >= 2);
    const reasons = lines.filter((line) => line.msg === "webhook delivery failed; will retry").map((line) => ({ id: line.subscriptionId, reason: String(line.reason) }));
    expect(reasons.find((r) => r.id === "metadata")?.reason).toMatch(/^forbidden_address: 169\.254\.169\.254 leads to 169\.254\.169\.254, a link-local, metadata or reserved address/);
    expect(reasons.find((r) => r.id === "found")?.reason).toMatch(/^http_error: .* answered 302, a redirect that would turn the POST into a GET/);
    // Only the "forward" subscription's delivery reached the final receiver.
    expect(final.received.map((d) => d.body.subscription_id)).toEqual(["forward"]);
  });
});

describe("routes", () => {
  test("unknown __ds paths answer 404 SUBSCRIPTION_NOT_FOUND; wrong methods 405", async () => {
    const { call } = setup();
    for (const rest of ["", "/", "/nope", "/subscriptions", "/subscriptions/", "/subscriptions/x/bogus", "/jwks.json/extra"]) {
      const response = await call("GET", rest);
      expect({ rest, status: response.status, code: response.json.error.code }).toEqual({ rest, status: 404, code: "SUBSCRIPTION_NOT_FOUND" });
      expect(response.headers.get("content-type")).toBe("application/json");
    }
    const wrong = await call("POST", "/jwks.json");
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET, HEAD");
    expect((await call("GET", "/subscriptions/x/claim")).status).toBe(405);
  });

  test("actions on a missing subscription answer 404", async () => {
    const { call } = setup();
    for (const [method, rest] of [
      ["POST", "/subscriptions/none/streams"],
      ["DELETE", "/subscriptions/none/streams/a"],
      ["POST", "/subscriptions/none/callback"],
      ["POST", "/subscriptions/none/claim"],
      ["POST", "/subscriptions/none/ack"],
      ["POST", "/subscriptions/none/release"],
    ] as const) {
      const response = await call(method, rest, { streams: ["a"], worker: "w" }, { authorization: "Bearer x.y" });
      expect({ rest, status: response.status, code: response.json.error.code }).toEqual({ rest, status: 404, code: "SUBSCRIPTION_NOT_FOUND" });
    }
  });
});

describe("JWKS", () => {
  test("publishes one Ed25519 key whose kid the subscriptions name", async () => {
    const { call, webhook } = setup();
    const response = await call("GET", "/jwks.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/jwk-set+json");
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.json.keys).toHaveLength(1);
    const [key] = response.json.keys;
    expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
    expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", use: "sig", alg: "EdDSA" });
    expect(key.kid).toMatch(/^ds_[A-Za-z0-9_-]+$/);
    expect(Buffer.from(key.x, "base64url")).toHaveLength(32);
    expect((await webhook("s", "http://127.0.0.1:9/h")).json.webhook.signing.kid).toBe(key.kid);
  });

  test("a configured PEM key gives the same kid in every manager; without one each manager has its own", async () => {
    const pem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const kid = async (options: { signingKeyPem?: string }) => (await setup(options).jwks()).keys[0]!.kid;
    expect(await kid({ signingKeyPem: pem })).toBe(await kid({ signingKeyPem: pem }));
    expect(await kid({})).not.toBe(await kid({}));
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    expect(() => new SubscriptionManager({ host: new FakeHost(), log: quiet, allowPrivate: false, signingKeyPem: rsa })).toThrow(/Ed25519/);
  });
});

describe("webhook delivery", () => {
  test("a new matching stream is delivered, signed, and auto-acked when the receiver answers {done:true}", async () => {
    const { host, webhook, jwks, linkOf, receiver } = setup();
    const hook = receiver(() => Response.json({ done: true }));
    expect((await webhook("sub-1", hook.url)).status).toBe(201);

    host.create("events/a", { event: "created" });
    const delivery = await hook.waitFor(1);
    expect(delivery.signature).toMatch(/^t=\d+,kid=.+,ed25519=[A-Za-z0-9_-]+$/);
    expect(verifySignature(delivery, (await jwks()).keys)).toBe(true);
    expect(verifySignature({ ...delivery, raw: delivery.raw.replace("events/a", "events/b") }, (await jwks()).keys)).toBe(false);

    const tail = (await host.tailOf("events/a"))!;
    expect(delivery.body).toMatchObject({
      subscription_id: "sub-1",
      generation: 1,
      callback_url: `${ORIGIN}/v1/stream/__ds/subscriptions/sub-1/callback`,
      streams: [{ path: "events/a", link_type: "glob", acked_offset: "-1", tail_offset: tail, has_pending: true }],
    });
    expect(delivery.body.wake_id).toMatch(/^w_[0-9a-f]+$/);
    expect(typeof delivery.body.callback_token).toBe("string");

    await until(async () => (await linkOf("sub-1", "events/a"))?.acked_offset === tail);
    await Bun.sleep(100);
    expect(hook.received).toHaveLength(1);

    // The next append is a new generation, delivered from the acked offset.
    host.append("events/a", { event: "again" });
    const second = await hook.waitFor(2);
    expect(second.body.generation).toBe(2);
    expect(second.body.streams[0]).toMatchObject({ acked_offset: tail, tail_offset: (await host.tailOf("events/a"))!, has_pending: true });
  });

  test("appends while a wake is in flight do not start a second wake", async () => {
    const { host, webhook, receiver } = setup();
    const hook = receiver();
    await webhook("sub-1", hook.url);
    host.create("events/a", 1);
    await hook.waitFor(1);
    host.append("events/a", 2);
    host.create("events/b", 3);
    await Bun.sleep(150);
    expect(hook.received).toHaveLength(1);
  });

  test("a failing receiver is retried after about a second, with status failed meanwhile", async () => {
    const { host, call, webhook, linkOf, receiver } = setup();
    const hook = receiver((_, index) => (index === 0 ? new Response("down", { status: 503 }) : Response.json({ done: true })));
    await webhook("sub-1", hook.url);
    host.create("events/a", 1);
    const first = await hook.waitFor(1);
    await until(async () => (await call("GET", "/subscriptions/sub-1")).json.status === "failed");
    const startedWaiting = Date.now();
    const second = await hook.waitFor(2, 3_000);
    expect(Date.now() - startedWaiting).toBeGreaterThanOrEqual(700);
    // A retry re-sends the same wake.
    expect(second.body.wake_id).toBe(first.body.wake_id);
    expect(second.body.generation).toBe(1);
    await until(async () => (await linkOf("sub-1", "events/a"))?.acked_offset === (await host.tailOf("events/a")));
    expect((await call("GET", "/subscriptions/sub-1")).json.status).toBe("active");
  });

  test("an unanswered wake is re-delivered as a new generation when its lease expires", async () => {
    const { host, webhook, receiver } = setup();
    const hook = receiver();
    await webhook("sub-1", hook.url);
    host.create("events/a", 1);
    const first = await hook.waitFor(1);
    const second = await hook.waitFor(2, 3_000);
    expect(second.body.generation).toBe(first.body.generation + 1);
    expect(second.body.wake_id).not.toBe(first.body.wake_id);
    expect(second.body.streams[0].has_pending).toBe(true);
  });

  test("deleting the subscription stops deliveries", async () => {
    const { host, call, webhook, receiver } = setup();
    const hook = receiver();
    await webhook("sub-1", hook.url);
    host.create("events/a", 1);
    await hook.waitFor(1);
    await call("DELETE", "/subscriptions/sub-1");
    host.append("events/a", 2);
    await Bun.sleep(1_300);
    expect(hook.received).toHaveLength(1);
  });
});

describe("webhook callback", () => {
  async function delivered() {
    const context = setup();
    const hook = context.receiver();
    await context.webhook("sub-1", hook.url);
    context.host.create("events/a", { event: "created" });
    const delivery = await hook.waitFor(1);
    const tail = delivery.body.streams[0].tail_offset as string;
    const callback = (body: unknown, token: string | null = delivery.body.callback_token) =>
      context.call("POST", "/subscriptions/sub-1/callback", body, token === null ? {} : { authorization: `Bearer ${token}` });
    return { ...context, hook, delivery, tail, callback };
  }

  test("acks with done answer exactly {ok:true,next_wake:false}; a replay is FENCED", async () => {
    const { delivery, tail, callback, linkOf } = await delivered();
    const ack = { wake_id: delivery.body.wake_id, generation: delivery.body.generation, acks: [{ stream: "events/a", offset: tail }], done: true };
    const done = await callback(ack);
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ ok: true, next_wake: false });
    expect((await linkOf("sub-1", "events/a"))?.acked_offset).toBe(tail);

    const stale = await callback(ack);
    expect(stale.status).toBe(409);
    expect(stale.json.error.code).toBe("FENCED");
  });

  test("bad tokens answer 401, a wrong wake or generation 409 FENCED", async () => {
    const { delivery, callback } = await delivered();
    const body = { wake_id: delivery.body.wake_id, generation: delivery.body.generation };
    const token = delivery.body.callback_token as string;

    const missing = await callback(body, null);
    expect([missing.status, missing.json.error.code]).toEqual([401, "TOKEN_INVALID"]);
    for (const bad of ["garbage", `${token}x`, `x${token}`, `${token.split(".")[0]}.${"A".repeat(43)}`]) {
      const response = await callback(body, bad);
      expect([response.status, response.json.error.code]).toEqual([401, "TOKEN_INVALID"]);
    }
    // A genuine token from another manager (another key) is not valid here either.
    const other = await (async () => {
      const second = setup();
      const hook = second.receiver();
      await second.webhook("sub-1", hook.url);
      second.host.create("events/a", 1);
      return (await hook.waitFor(1)).body.callback_token as string;
    })();
    expect((await callback(body, other)).status).toBe(401);

    for (const wrong of [{ ...body, generation: 2 }, { ...body, wake_id: "w_000" }, {}]) {
      const response = await callback(wrong);
      expect([response.status, response.json.error.code]).toEqual([409, "FENCED"]);
    }
    expect((await callback("{oops")).json.error.code).toBe("INVALID_REQUEST");
  });

  test("acks are validated before any is applied: unknown stream, -1, behind, beyond the tail", async () => {
    const { delivery, tail, callback, linkOf, host } = await delivered();
    const base = { wake_id: delivery.body.wake_id, generation: delivery.body.generation };
    for (const acks of [
      [{ stream: "events/zzz", offset: tail }],
      [{ stream: "events/a", offset: "-1" }],
      [{ stream: "events/a", offset: "9999999999999999_9999999999999999" }],
      [{ stream: "events/a", offset: tail }, { stream: "events/a", offset: ZERO_OFFSET }],
    ]) {
      const response = await callback({ ...base, acks });
      expect([response.status, response.json.error.code]).toEqual([409, "INVALID_OFFSET"]);
    }
    expect((await linkOf("sub-1", "events/a"))?.acked_offset).toBe("-1");

    // A heartbeat ack (no done) moves the offset and keeps the wake.
    expect((await callback({ ...base, acks: [{ path: "events/a", offset: tail }] })).json).toEqual({ ok: true, next_wake: false });
    expect((await linkOf("sub-1", "events/a"))?.acked_offset).toBe(tail);
    const behind = await callback({ ...base, acks: [{ stream: "events/a", offset: ZERO_OFFSET }] });
    expect(behind.json.error.code).toBe("INVALID_OFFSET");
    host.append("events/a", "more");
    expect((await callback({ ...base, done: true })).json).toEqual({ ok: true, next_wake: true });
  });

  test("done with work left starts the next wake at once (next_wake:true)", async () => {
    const { delivery, tail, callback, host, hook } = await delivered();
    host.append("events/a", { event: "second" });
    const response = await callback({ wake_id: delivery.body.wake_id, generation: 1, acks: [{ stream: "events/a", offset: tail }], done: true });
    expect(response.json).toEqual({ ok: true, next_wake: true });
    const next = await hook.waitFor(2);
    expect(next.body.generation).toBe(2);
    expect(next.body.streams[0]).toMatchObject({ acked_offset: tail, has_pending: true });
  });

  test("a pull-wake action on a webhook subscription answers 400", async () => {
    const { call } = await delivered();
    const claim = await call("POST", "/subscriptions/sub-1/claim", { worker: "w" });
    expect([claim.status, claim.json.error.code]).toEqual([400, "INVALID_REQUEST"]);
  });
});

describe("pull-wake", () => {
  async function pullSetup(leaseTtlMs = 1000) {
    const context = setup();
    context.host.create("wake/pool");
    const created = await context.call("PUT", "/subscriptions/pull-1", { type: "pull-wake", pattern: "events/*", wake_stream: "wake/pool", lease_ttl_ms: leaseTtlMs });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ wake_stream: "wake/pool", webhook: null });
    const wakeEvents = () => context.host.streams.get("wake/pool")!.values as Array<Record<string, unknown>>;
    const claim = (worker: string) => context.call("POST", "/subscriptions/pull-1/claim", { worker });
    const step = (action: "ack" | "release", token: string | null, body: unknown) =>
      context.call("POST", `/subscriptions/pull-1/${action}`, body, token === null ? {} : { authorization: `Bearer ${token}` });
    return { ...context, wakeEvents, claim, step };
  }

  test("claim, ALREADY_CLAIMED, ack, NO_PENDING_WORK, a new generation, release", async () => {
    const { host, wakeEvents, claim, step, linkOf } = await pullSetup();
    host.create("events/x", { event: "created" });
    await until(() => wakeEvents().length === 1);
    expect(wakeEvents()[0]).toMatchObject({ type: "wake", subscription_id: "pull-1", stream: "events/x", generation: 1 });
    expect(typeof wakeEvents()[0]!.ts).toBe("number");

    const claimed = await claim("worker-1");
    expect(claimed.status).toBe(200);
    const tail = (await host.tailOf("events/x"))!;
    expect(claimed.json).toMatchObject({
      generation: 1,
      lease_ttl_ms: 1000,
      streams: [{ path: "events/x", link_type: "glob", acked_offset: "-1", tail_offset: tail, has_pending: true }],
    });
    expect(claimed.json.wake_id).toMatch(/^w_/);

    const busy = await claim("worker-2");
    expect(busy.status).toBe(409);
    expect(busy.json.error).toMatchObject({ code: "ALREADY_CLAIMED", current_holder: "worker-1", generation: 1 });

    const wake = { wake_id: claimed.json.wake_id, generation: claimed.json.generation };
    expect((await step("ack", null, wake)).status).toBe(401);
    expect((await step("ack", claimed.json.token, wake)).json).toEqual({ ok: true, next_wake: false });
    const done = await step("ack", claimed.json.token, { ...wake, acks: [{ stream: "events/x", offset: tail }], done: true });
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ ok: true, next_wake: false });
    expect((await linkOf("pull-1", "events/x"))?.acked_offset).toBe(tail);
    expect((await step("ack", claimed.json.token, { ...wake, done: true })).json.error.code).toBe("FENCED");

    const idle = await claim("worker-1");
    expect([idle.status, idle.json.error.code]).toEqual([409, "NO_PENDING_WORK"]);

    host.append("events/x", { event: "second" });
    await until(() => wakeEvents().length === 2);
    expect(wakeEvents()[1]).toMatchObject({ generation: 2 });
    const again = await claim("worker-1");
    expect(again.status).toBe(200);
    expect(again.json.generation).toBe(2);

    const released = await step("release", again.json.token, { wake_id: again.json.wake_id, generation: 2 });
    expect(released.status).toBe(204);
    // Work is still pending, so the release announced the next wake.
    await until(() => wakeEvents().length === 3);
    expect(wakeEvents()[2]).toMatchObject({ generation: 3 });
    expect((await claim("worker-2")).json.generation).toBe(3);
  });

  test("claiming when work is pending but no wake exists yet creates the wake; bad claim bodies answer 400", async () => {
    const { host, manager, wakeEvents, claim, step, call } = await pullSetup();
    host.create("events/y", 1);
    await until(() => wakeEvents().length === 1);
    const first = await claim("w");
    const tail = (await host.tailOf("events/y"))!;
    await step("ack", first.json.token, { wake_id: first.json.wake_id, generation: 1, acks: [{ stream: "events/y", offset: tail }], done: true });

    // The core calls onAppend fire-and-forget, so a claim can arrive before the hook has run.
    host.manager = undefined;
    host.append("events/y", 2);
    host.manager = manager;
    const second = await claim("w");
    expect(second.status).toBe(200);
    expect(second.json.generation).toBe(2);
    expect(second.json.streams).toEqual([expect.objectContaining({ path: "events/y", acked_offset: tail, has_pending: true })]);
    expect(wakeEvents()).toHaveLength(2);
    expect(wakeEvents()[1]).toMatchObject({ subscription_id: "pull-1", stream: "events/y", generation: 2 });

    expect((await call("POST", "/subscriptions/pull-1/claim", {})).json.error.code).toBe("INVALID_REQUEST");
    expect((await call("POST", "/subscriptions/pull-1/claim", { worker: "" })).status).toBe(400);
    expect((await call("POST", "/subscriptions/pull-1/callback", {}, { authorization: "Bearer a.b" })).status).toBe(400);
  });

  test("an expired lease frees the wake: the old token is FENCED and the next claim gets a new generation", async () => {
    const { host, wakeEvents, claim, step } = await pullSetup(1000);
    host.create("events/x", 1);
    await until(() => wakeEvents().length === 1);
    const claimed = await claim("worker-1");
    expect(claimed.status).toBe(200);

    await until(() => wakeEvents().length === 2, 2_500);
    expect(wakeEvents()[1]).toMatchObject({ subscription_id: "pull-1", generation: 2 });
    const late = await step("ack", claimed.json.token, { wake_id: claimed.json.wake_id, generation: 1, done: true });
    expect([late.status, late.json.error.code]).toEqual([409, "FENCED"]);

    const next = await claim("worker-2");
    expect(next.status).toBe(200);
    expect(next.json.generation).toBe(2);
  });

  test("heartbeats (ack without done) keep the lease alive", async () => {
    const { host, wakeEvents, claim, step } = await pullSetup(1000);
    host.create("events/x", 1);
    await until(() => wakeEvents().length === 1);
    const claimed = await claim("worker-1");
    const wake = { wake_id: claimed.json.wake_id, generation: claimed.json.generation };
    for (let beat = 0; beat < 3; beat++) {
      await Bun.sleep(500);
      expect((await step("ack", claimed.json.token, wake)).status).toBe(200);
    }
    expect(wakeEvents()).toHaveLength(1);
    expect((await claim("worker-2")).json.error.code).toBe("ALREADY_CLAIMED");
  });

  test("a missing wake stream is logged and skipped, and claim still works", async () => {
    const context = setup();
    await context.call("PUT", "/subscriptions/pull-2", { type: "pull-wake", pattern: "events/*", wake_stream: "wake/missing" });
    context.host.create("events/x", 1);
    await Bun.sleep(20);
    expect((await context.call("POST", "/subscriptions/pull-2/claim", { worker: "w" })).status).toBe(200);
  });
});

describe("links", () => {
  test("glob: * is one segment, ** any number; slashes at the ends are ignored", () => {
    const cases: Array<[string, string, boolean]> = [
      ["events/*", "events/a", true],
      ["events/*", "events/a/b", false],
      ["events/*", "events", false],
      ["events/*", "other/a", false],
      ["/events/*/", "events/a", true],
      ["events/**", "events", true],
      ["events/**", "events/a/b/c", true],
      ["**", "anything/at/all", true],
      ["a/**/z", "a/z", true],
      ["a/**/z", "a/b/c/z", true],
      ["a/**/z", "a/b/c", false],
      ["*/b/**", "x/b", true],
      ["*/b/**", "b", false],
      ["**/**/x", "x", true],
      ["events/a*", "events/abc", false],
      ["events/a*", "events/a*", true],
    ];
    for (const [pattern, path, expected] of cases) expect({ pattern, path, match: globMatch(pattern, path) }).toEqual({ pattern, path, match: expected });
  });

  test("creation links existing matches at their tails (no replay); later streams are linked at -1 and wake", async () => {
    const { host, call, linkOf, receiver } = setup();
    host.create("events/old", 1);
    host.create("events/old/deep", 1);
    host.create("other/x", 1);
    const hook = receiver();
    const created = await call("PUT", "/subscriptions/s", { type: "webhook", pattern: "events/*", webhook: { url: hook.url } });
    expect(created.json.streams).toEqual([{ path: "events/old", link_type: "glob", acked_offset: (await host.tailOf("events/old"))! }]);
    await Bun.sleep(50);
    expect(hook.received).toHaveLength(0);

    host.create("events/new", 1);
    host.create("events/new/deep", 1);
    await hook.waitFor(1);
    expect(await linkOf("s", "events/new")).toEqual({ path: "events/new", link_type: "glob", acked_offset: "-1" });
    expect(await linkOf("s", "events/new/deep")).toBeUndefined();
  });

  test("explicit streams are added at their tail (zero when missing) and removed by encoded path; a glob link survives", async () => {
    const { host, call, linkOf } = setup();
    host.create("manual/b", 1);
    host.create("events/both", 1);
    await call("PUT", "/subscriptions/s", { type: "webhook", pattern: "events/*", streams: ["manual/a"], webhook: { url: "http://127.0.0.1:9/h" } });
    expect(await linkOf("s", "manual/a")).toEqual({ path: "manual/a", link_type: "explicit", acked_offset: ZERO_OFFSET });

    const add = await call("POST", "/subscriptions/s/streams", { streams: ["manual/b", "/events/both/"] });
    expect(add.status).toBe(204);
    expect(await linkOf("s", "manual/b")).toEqual({ path: "manual/b", link_type: "explicit", acked_offset: (await host.tailOf("manual/b"))! });
    expect((await linkOf("s", "events/both"))?.link_type).toBe("explicit");

    expect((await call("DELETE", `/subscriptions/s/streams/${encodeURIComponent("manual/b")}`)).status).toBe(204);
    expect(await linkOf("s", "manual/b")).toBeUndefined();
    expect((await call("DELETE", "/subscriptions/s/streams/events/both")).status).toBe(204);
    expect((await linkOf("s", "events/both"))?.link_type).toBe("glob");
    expect((await call("DELETE", "/subscriptions/s/streams/never-linked")).status).toBe(204);

    for (const body of [{ streams: [] }, { streams: "manual/c" }, { streams: [""] }, {}]) {
      const response = await call("POST", "/subscriptions/s/streams", body);
      expect([response.status, response.json.error.code]).toEqual([400, "INVALID_REQUEST"]);
    }
  });

  test("a deleted stream loses its links; __ds paths and the wake stream are never linked", async () => {
    const { host, call, linkOf } = setup();
    host.create("wake/pool");
    await call("PUT", "/subscriptions/p", { type: "pull-wake", pattern: "**", wake_stream: "wake/pool" });
    host.create("events/a", 1);
    await until(async () => (await linkOf("p", "events/a")) !== undefined);
    host.delete("events/a");
    expect(await linkOf("p", "events/a")).toBeUndefined();

    host.create("__ds/x", 1);
    host.append("wake/pool", { unrelated: true });
    await Bun.sleep(20);
    const links = (await call("GET", "/subscriptions/p")).json.streams.map((link: { path: string }) => link.path);
    expect(links).not.toContain("__ds/x");
    expect(links).not.toContain("wake/pool");
  });

  test("after close() appends no longer wake anything", async () => {
    const { host, manager, webhook, receiver } = setup();
    const hook = receiver();
    await webhook("s", hook.url);
    manager.close();
    host.create("events/a", 1);
    await Bun.sleep(50);
    expect(hook.received).toHaveLength(0);
  });
});
