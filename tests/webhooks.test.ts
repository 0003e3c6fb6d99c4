import { describe, test, expect, afterAll } from "bun:test";
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { classifyAddress } from "../src/infra/guarded-fetch";
import { startServer, type TestServer } from "./support/server";

/**
 * Webhook subscriptions on the real server: the URL a token holder names goes through the guarded
 * fetch's policy (the same as brand import's), so the server never POSTs to loopback, private,
 * link-local or metadata addresses unless IMPORT_ALLOW_PRIVATE=on, and never to link-local or
 * metadata addresses at all.
 */

const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

/** A TCP listener that only counts connections: "nothing delivered" means nobody even connected. */
function connectionCounter() {
  let connections = 0;
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void connections++, data() {} } });
  return { port: listener.port, connections: () => connections, stop: () => listener.stop(true) };
}

async function putSubscription(server: TestServer, id: string, body: unknown) {
  const res = await server.fetch(`/v1/stream/__ds/subscriptions/${id}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; status?: string } };
}

/** This machine's own name, when it resolves only to private addresses (as /etc/hosts usually makes it). */
const ownName = await (async () => {
  try {
    const name = hostname();
    const addresses = await lookup(name, { all: true });
    return addresses.length > 0 && addresses.every((a) => classifyAddress(a.address) === "private") ? name : undefined;
  } catch {
    return undefined;
  }
})();

describe("webhook URLs by default (IMPORT_ALLOW_PRIVATE off)", () => {
  test("loopback, private, link-local/metadata, IPv6 loopback and names that lead inward are refused with a clear 400; nothing is stored or contacted", async () => {
    const server = await startServer();
    servers.push(server);
    const counter = connectionCounter();
    try {
      const port = counter.port;
      const refused: Array<[string, RegExp]> = [
        [`http://127.0.0.1:${port}/hook`, /127\.0\.0\.1 leads to 127\.0\.0\.1, a private or loopback address; an admin can allow these with IMPORT_ALLOW_PRIVATE=on/],
        [`https://127.0.0.1:${port}/hook`, /private or loopback/],
        [`http://localhost:${port}/hook`, /localhost is this machine/],
        ["https://10.0.0.1/hook", /10\.0\.0\.1 leads to 10\.0\.0\.1, a private or loopback address/],
        ["https://172.16.3.4/hook", /private or loopback/],
        ["https://192.168.0.10/hook", /private or loopback/],
        ["https://169.254.169.254/latest/meta-data/", /169\.254\.169\.254 leads to 169\.254\.169\.254, a link-local, metadata or reserved address; it is never fetched/],
        [`https://[::1]:${port}/hook`, /::1 leads to ::1, a private or loopback address/],
        ["https://[::ffff:169.254.169.254]/hook", /never fetched/],
      ];
      if (ownName) refused.push([`https://${ownName}:${port}/hook`, new RegExp(`${ownName} leads to [^,]+, a private or loopback address`)]);
      for (const [url, message] of refused) {
        const put = await putSubscription(server, "refused", { type: "webhook", pattern: "events/*", webhook: { url } });
        expect({ url, status: put.status, code: put.body.error?.code }).toEqual({ url, status: 400, code: "WEBHOOK_URL_REJECTED" });
        expect(put.body.error!.message).toMatch(message);
      }
      expect((await server.fetch("/v1/stream/__ds/subscriptions/refused")).status).toBe(404);
      // Appends to a matching stream wake nobody.
      expect((await server.fetch("/v1/stream/events/a", { method: "PUT", headers: { "content-type": "application/json" } })).status).toBe(201);
      expect((await server.fetch("/v1/stream/events/a", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n: 1 }) })).status).toBe(204);
      await Bun.sleep(200);
      expect(counter.connections()).toBe(0);
    } finally {
      counter.stop();
    }
  });
});

describe("webhook delivery with IMPORT_ALLOW_PRIVATE=on (development, tests)", () => {
  test("a local receiver gets the signed delivery; a redirect to the metadata address is refused and not followed", async () => {
    const server = await startServer({ env: { IMPORT_ALLOW_PRIVATE: "on" } });
    servers.push(server);
    const deliveries: Array<{ path: string; body: { subscription_id: string } }> = [];
    const receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const path = new URL(request.url).pathname;
        deliveries.push({ path, body: await request.json() });
        if (path === "/to-metadata") return new Response(null, { status: 307, headers: { location: "http://169.254.169.254/latest/meta-data/" } });
        return Response.json({ done: true });
      },
    });
    try {
      const base = `http://127.0.0.1:${receiver.port}`;
      expect((await putSubscription(server, "local", { type: "webhook", pattern: "events/*", webhook: { url: `${base}/hook` } })).status).toBe(201);
      expect((await putSubscription(server, "sneaky", { type: "webhook", pattern: "other/*", webhook: { url: `${base}/to-metadata` } })).status).toBe(201);
      // Still refused with the switch on: plain http to another machine, and the metadata address.
      expect((await putSubscription(server, "plain", { type: "webhook", pattern: "events/*", webhook: { url: "http://10.0.0.1/hook" } })).body.error?.code).toBe("WEBHOOK_URL_REJECTED");
      expect((await putSubscription(server, "meta", { type: "webhook", pattern: "events/*", webhook: { url: "https://169.254.169.254/" } })).body.error?.code).toBe("WEBHOOK_URL_REJECTED");

      for (const path of ["events/a", "other/b"]) {
        expect((await server.fetch(`/v1/stream/${path}`, { method: "PUT", headers: { "content-type": "application/json" } })).status).toBe(201);
        expect((await server.fetch(`/v1/stream/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n: 1 }) })).status).toBe(204);
      }
      const refusal = JSON.parse(await server.waitForLog(/"msg":"webhook delivery failed; will retry".*"subscriptionId":"sneaky"/));
      expect(refusal.reason).toMatch(/^forbidden_address: 169\.254\.169\.254 leads to 169\.254\.169\.254/);
      for (let i = 0; i < 100 && !deliveries.some((d) => d.path === "/hook"); i++) await Bun.sleep(50);
      expect(deliveries.find((d) => d.path === "/hook")?.body.subscription_id).toBe("local");
      const sneaky = await (await server.fetch("/v1/stream/__ds/subscriptions/sneaky")).json();
      expect(sneaky.status).toBe("failed");
    } finally {
      receiver.stop(true);
    }
  });
});
