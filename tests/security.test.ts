import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import sharp from "sharp";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";
import { MAX_UPLOAD_BYTES, MAX_IMAGE_PIXELS } from "../src/assets/store";
import { API_BODY_LIMIT_BYTES } from "../src/app";
import { MAX_JSON_DEPTH, inspectJsonText } from "../src/infra/input-guard";
import { WS_LIMITS } from "../src/sessions/socket";
import { LOGIN_LIMIT_PER_ADDRESS } from "../src/accounts/service";
import { referenceAssets } from "./support/references";

/**
 * Hardening of issue 6: uploads checked by content, body and JSON limits, tenant isolation of every
 * studio route, WebSocket socket and frame limits, and login rate limits per address.
 */

let server: TestServer;
let teamA: string;
let teamB: string;
const sockets: TestSocket[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
});

beforeAll(async () => {
  server = await startServer();
  teamA = await newTeam("alpha");
  teamB = await newTeam("beta");
}, 60_000);

async function newTeam(name: string): Promise<string> {
  const res = await call(TEST_API_TOKEN, "POST", "/api/teams", { name, owner: { name, email: `${name}@${name}.example`, password: "correct horse battery" } });
  expect(res.status).toBe(201);
  return res.body.apiToken;
}

async function call(token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}`, ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (typeof body === "string") {
    init.body = body;
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(server.url + path, init);
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

function form(bytes: Uint8Array | string, name: string, extra: Record<string, string> = {}) {
  const data = new FormData();
  data.append("file", new File([bytes as BlobPart], name));
  for (const [k, v] of Object.entries(extra)) data.append(k, v);
  return data;
}
const upload = (bytes: Uint8Array | string, name: string, token = teamA) => call(token, "POST", "/api/assets", form(bytes, name));

async function png(width = 64, height = 48, noise = false): Promise<Uint8Array> {
  if (noise) {
    const raw = new Uint8Array(width * height * 3).map(() => Math.floor(Math.random() * 256));
    return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer());
  }
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer());
}

/** A real PNG from sharp whose header is rewritten to claim `width`×`height` (with a correct CRC). */
async function pixelBomb(width: number, height: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(await png(1, 1));
  const view = new DataView(bytes.buffer);
  expect(new TextDecoder().decode(bytes.slice(12, 16))).toBe("IHDR");
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, Bun.hash.crc32(bytes.slice(12, 29)));
  return bytes;
}

// ---------------------------------------------------------------------------------------------

describe("uploads are checked by their content", () => {
  test("SVG is refused (415 svg_rejected), whatever its name or prologue", async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`;
    for (const [bytes, name] of [[svg, "logo.svg"], [svg, "logo.png"], [`<?xml version="1.0"?>\n${svg}`, "logo.jpg"], [`\n  ${svg}`, "x.gif"]] as const) {
      const res = await upload(bytes, name);
      expect({ name, status: res.status, code: res.body.error?.code }).toEqual({ name, status: 415, code: "svg_rejected" });
      expect(res.body.error.message).toContain("PNG or JPEG");
    }
  });

  test("a PNG named .jpg is stored and served as image/png; a JPEG named .png as image/jpeg", async () => {
    const asPng = await upload(await png(), "photo.jpg");
    expect(asPng.status).toBe(201);
    expect(asPng.body).toMatchObject({ contentType: "image/png", width: 64, height: 48 });
    const served = await fetch(server.url + new URL(asPng.body.url).pathname);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(served.headers.get("x-content-type-options")).toBe("nosniff");
    expect(served.headers.get("content-security-policy")).toContain("default-src 'none'");

    const jpeg = new Uint8Array(await sharp(await png()).jpeg().toBuffer());
    const asJpeg = await upload(jpeg, "photo.png");
    expect(asJpeg.body).toMatchObject({ contentType: "image/jpeg", width: 64, height: 48 });
    const webp = new Uint8Array(await sharp(await png()).webp().toBuffer());
    expect((await upload(webp, "w.bin")).body.contentType).toBe("image/webp");
    const gif = new Uint8Array(await sharp(await png()).gif().toBuffer());
    expect((await upload(gif, "g")).body.contentType).toBe("image/gif");
  });

  test("HTML, PDF and other non-images named .png are refused (415 unsupported_type)", async () => {
    for (const [bytes, name] of [
      ["<!doctype html><html><body><script>alert(1)</script></body></html>", "innocent.png"],
      ["<html><img src=x onerror=alert(1)></html>", "x.jpg"],
      ["%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "doc.png"],
      [new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Array(60).fill(0)]), "archive.png"],
    ] as const) {
      const res = await upload(bytes, name);
      expect({ name, status: res.status, code: res.body.error?.code }).toEqual({ name, status: 415, code: "unsupported_type" });
    }
  });

  test("truncated and garbage images are refused", async () => {
    const full = await png(200, 200, true);
    const truncated = full.slice(0, Math.floor(full.length / 2));
    const res = await upload(truncated, "cut.png");
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("unreadable_image");
    const headerOnly = full.slice(0, 40);
    expect((await upload(headerOnly, "header.png")).body.error.code).toBe("unreadable_image");
    const pngSignatureThenGarbage = new Uint8Array([...full.slice(0, 8), ...crypto.getRandomValues(new Uint8Array(2_000))]);
    expect((await upload(pngSignatureThenGarbage, "garbage.png")).status).toBe(415);
    const random = crypto.getRandomValues(new Uint8Array(4_000));
    expect((await upload(random, "random.png")).status).toBe(415);
    expect((await upload(new Uint8Array(0), "empty.png")).status).toBe(415);
  });

  test(`more than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB is refused with 413, by the declared size and by the bytes`, async () => {
    const big = new Uint8Array(MAX_UPLOAD_BYTES + 2 * 1024 * 1024);
    big.set(await png());
    const declared = await upload(big, "big.png");
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe("payload_too_large");
    // Just over the limit: the request passes the header check, the stored bytes do not.
    const justOver = new Uint8Array(MAX_UPLOAD_BYTES + 1);
    justOver.set(await png());
    const counted = await upload(justOver, "over.png");
    expect(counted.status).toBe(413);
    expect(counted.body.error.code).toBe("too_large");
  });

  test("a pixel bomb (a tiny PNG declaring 20000×20000) is refused before it is decoded", async () => {
    const bomb = await pixelBomb(20_000, 20_000);
    expect(bomb.length).toBeLessThan(200);
    expect(20_000 * 20_000).toBeGreaterThan(MAX_IMAGE_PIXELS);
    const res = await upload(bomb, "bomb.png");
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("too_many_pixels");
    expect(res.body.error.message).toContain("megapixels");
    // A very long strip is refused too, though its pixel count is small.
    expect((await upload(await pixelBomb(30_000, 2), "strip.png")).body.error.code).toBe("too_many_pixels");
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test("no refused upload was stored", async () => {
    const listed = (await call(teamA, "GET", "/api/assets")).body.assets;
    expect(listed.map((a: any) => a.contentType).sort()).toEqual(["image/gif", "image/jpeg", "image/png", "image/webp"]);
  });
});

describe("JSON body limits", () => {
  test(`a JSON body over ${API_BODY_LIMIT_BYTES} bytes is refused with 413, with or without Content-Length`, async () => {
    const body = JSON.stringify({ name: "Big", colors: { primary: "#000000" }, voice: "x".repeat(API_BODY_LIMIT_BYTES) });
    const res = await call(teamA, "POST", "/api/brands", body);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
    const bytes = new TextEncoder().encode(body);
    const chunked = await fetch(`${server.url}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${teamA}`, "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.slice(i, i + 64 * 1024));
          controller.close();
        },
      }),
    });
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).error.code).toBe("payload_too_large");
  });

  test(`deeply nested JSON (10 000 levels) is a 400, not a crash; ${MAX_JSON_DEPTH} levels are fine`, async () => {
    const session = (await call(teamA, "POST", "/api/sessions", { title: "deep" })).body.id;
    const arrays = (n: number) => "[".repeat(n) + "]".repeat(n);
    const objects = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);
    for (const [path, body] of [
      ["/api/sessions", `{"title":"x","extra":${arrays(10_000)}}`],
      [`/api/sessions/${session}/runs`, `{"agent":"chat","provider":"offline","input":${arrays(10_000)}}`],
      [`/api/sessions/${session}/runs`, `{"agent":"chat","provider":"offline","options":${objects(10_000)}}`],
      [`/api/sessions/${session}/messages`, `{"text":"hi","run":{"agent":"chat","options":${objects(5_000)}}}`],
      ["/api/brands", arrays(10_000)],
      ["/api/briefs", objects(100_000)],
    ] as const) {
      const res = await call(teamA, "POST", path, body);
      expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status: 400, code: "json_too_deep" });
    }
    // Brackets inside strings do not count.
    expect((await call(teamA, "POST", `/api/sessions/${session}/messages`, { text: "[".repeat(10_000) })).status).toBe(201);
    const ok = await call(teamA, "POST", `/api/sessions/${session}/runs`, `{"agent":"chat","provider":"offline","options":{"tokens":5},"input":${arrays(MAX_JSON_DEPTH - 2)}}`);
    expect(ok.status).toBe(202);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test("the scanner counts only structure, and finds NUL escapes only inside strings", () => {
    expect(inspectJsonText(`{"a":[{"b":"[[[[[["}]}`, 3)).toBeUndefined();
    expect(inspectJsonText(`{"a":[{"b":[1]}]}`, 3)?.code).toBe("json_too_deep");
    expect(inspectJsonText(`"\\"[[[[["`, 1)).toBeUndefined();
    expect(inspectJsonText(`{"a":"x\\u0000"}`)?.code).toBe("invalid_text");
    // An escaped backslash followed by "u0000" is text, not NUL.
    expect(inspectJsonText(`{"a":"x\\\\u0000"}`)).toBeUndefined();
  });

  test("NUL characters (which Postgres text cannot hold) are a 400 everywhere, never a 500", async () => {
    const session = (await call(teamA, "POST", "/api/sessions", { title: "nul" })).body.id;
    for (const [method, path, body] of [
      ["POST", "/api/sessions", `{"title":"a\\u0000b"}`],
      ["POST", `/api/sessions/${session}/messages`, `{"text":"hi","id":"m\\u0000"}`],
      ["POST", "/api/brands", `{"name":"a\\u0000","colors":{"primary":"#000000"}}`],
      ["POST", "/api/teams", `{"name":"t\\u0000","owner":{"name":"x","email":"nul@example.com","password":"correct horse battery"}}`],
    ] as const) {
      const res = await call(method === "POST" && path === "/api/teams" ? TEST_API_TOKEN : teamA, method, path, body);
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 400, code: "invalid_text" });
    }
    for (const path of ["/api/sessions/%00", "/api/brands/a%00", "/api/emails/%00x/html", `/api/sessions/${session}/events?offset=%00`, "/assets/ast_%00", "/v1/stream/sessions/%00"]) {
      const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${teamA}` } });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
    }
    const login = await fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: "email=a%00%40b.example&password=x" });
    expect(login.status).toBe(400);
    const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${teamA}`);
    sockets.push(ws);
    for (const frame of [{ type: "subscribe", session: "a\u0000" }, { type: "control", session: "\u0000", action: "cancel" }, { type: "publish", session, event: { type: "message", id: "a\u0000", role: "user", text: "x" } }]) {
      const before = ws.frames.length;
      ws.send(frame);
      expect(await ws.waitFor((f) => ws.frames.indexOf(f) >= before)).toMatchObject({ type: "error", code: "invalid_text" });
    }
    expect(server.logs.filter((line) => /"level":"error"/.test(line))).toEqual([]);
  });
});

describe("tenant isolation of the email studio", () => {
  const ids: Record<string, string> = {};
  let brandBBefore: any;
  let emailBBefore: any;

  beforeAll(async () => {
    const reference = await upload(await png(120, 200), "ref.png", teamB);
    const logo = await upload(await png(), "logo.png", teamB);
    ids.assetB = reference.body.id;
    ids.logoB = logo.body.id;
    ids.brandB = (await call(teamB, "POST", "/api/brands", { name: "B brand", colors: { primary: "#123456" }, logoAssetId: ids.logoB, footer: { address: "B street 1", unsubscribeUrl: "{{unsubscribe}}" } })).body.id;
    ids.briefB = (await call(teamB, "POST", "/api/briefs", { brandId: ids.brandB, objective: "Launch", audience: "B people", tone: "calm", hook: "B's secret hook", referenceAssetIds: [ids.assetB, ...(await referenceAssets(server.url, teamB, 2))] })).body.id;
    const generated = (await call(teamB, "POST", `/api/briefs/${ids.briefB}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } })).body;
    ids.emailB = generated.emailId;
    ids.sessionB = generated.sessionId;
    const deadline = Date.now() + 20_000;
    while ((await call(teamB, "GET", `/api/emails/${ids.emailB}`)).body.status === "generating" && Date.now() < deadline) await Bun.sleep(50);
    emailBBefore = (await call(teamB, "GET", `/api/emails/${ids.emailB}`)).body;
    expect(emailBBefore.status).toBe("ready");
    ids.sectionB = emailBBefore.document.sections[0].id;
    // B's reference library and a brand import (the import itself may fail: only its record matters).
    await call(teamB, "POST", `/api/brands/${ids.brandB}/references`, { assetId: ids.assetB, tags: ["b"] });
    const started = await call(teamB, "POST", "/api/brands/import", { url: "https://brand.invalid" });
    ids.importB = started.body?.importId ?? "bimp_missing";
    brandBBefore = (await call(teamB, "GET", `/api/brands/${ids.brandB}`)).body;
  }, 60_000);

  /** A valid body for each unsafe route, so a 404 is about the id, never about the input. */
  const bodies: Record<string, () => Promise<unknown>> = {
    "put /api/brands/{id}": async () => ({ name: "Hijacked", colors: { primary: "#000000" } }),
    "post /api/briefs/{id}/generate": async () => ({ provider: "offline" }),
    "patch /api/emails/{id}/sections/{sectionId}": async () => ({ fields: {} }),
    "post /api/emails/{id}/sections/{sectionId}/regenerate": async () => ({ instruction: "Make it mine" }),
    "put /api/emails/{id}/sections": async () => ({ sections: [{ id: ids.sectionB!, type: "hero" }] }),
    "put /api/emails/{id}/sections/{sectionId}/image": async () => ({ slot: "imageUrl", assetId: ids.assetB!, alt: "Hijacked" }),
    "post /api/emails/{id}/versions/{version}/restore": async () => undefined,
    "post /api/brands/imports/{id}/accept": async () => ({}),
    "post /api/brands/{id}/product-images": async () => form(await png(), "p.png"),
    "post /api/brands/{id}/references": async () => form(await png(), "r.png"),
    "post /api/emails/{id}/test-sends": async () => ({ to: ["someone@example.com"] }),
    "patch /api/emails/{id}": async () => ({ subject: "Hijacked" }),
    "post /api/emails/{id}/sections": async () => ({ type: "text" }),
  };

  /** A valid query for each route that requires one, for the same reason. */
  const queries: Record<string, string> = {
    "get /api/emails/{id}/export": "?platform=klaviyo&format=html",
    "get /api/emails/{id}/sections/{sectionId}/image": "?slot=imageUrl",
  };

  function fill(path: string): string {
    return path
      .replace(/^\/api\/brands\/imports\/\{id\}/, `/api/brands/imports/${ids.importB}`)
      .replace(/^\/api\/brands\/\{id\}/, `/api/brands/${ids.brandB}`)
      .replace(/^\/api\/briefs\/\{id\}/, `/api/briefs/${ids.briefB}`)
      .replace(/^\/api\/emails\/\{id\}/, `/api/emails/${ids.emailB}`)
      .replace("{sectionId}", ids.sectionB!)
      .replace("{version}", "1")
      .replace("{assetId}", ids.assetB!);
  }

  test("every studio route with an id answers 404 for another team's brand, brief, email or import", async () => {
    const spec = await (await fetch(`${server.url}/openapi.json`)).json();
    const routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => /^\/api\/(brands|briefs|emails)\/\{/.test(path) || /^\/api\/brands\/imports\/\{/.test(path))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, path })));
    expect(routes.length).toBeGreaterThanOrEqual(21);
    // The routes of the contract are all among them.
    const names = routes.map((r) => `${r.method} ${r.path}`);
    for (const route of ["get /api/brands/{id}", "put /api/brands/{id}", "get /api/briefs/{id}", "post /api/briefs/{id}/generate", "get /api/emails/{id}", "get /api/emails/{id}/html", "get /api/emails/{id}/mjml", "get /api/emails/{id}/txt", "get /api/emails/{id}/export.zip", "patch /api/emails/{id}/sections/{sectionId}", "post /api/emails/{id}/sections/{sectionId}/regenerate", "put /api/emails/{id}/sections", "get /api/emails/{id}/versions", "post /api/emails/{id}/versions/{version}/restore"]) {
      expect(names).toContain(route);
    }
    for (const { method, path } of routes) {
      const body = await bodies[`${method} ${path}`]?.();
      const url = fill(path) + (queries[`${method} ${path}`] ?? "");
      const res = await call(teamA, method.toUpperCase(), url, body ?? (method === "get" || method === "delete" || `${method} ${path}` in bodies ? undefined : {}));
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 404 });
      expect(res.body.error.code).toMatch(/_not_found$/);
      // The owner sees the same route answer something other than 404.
      if (method === "get") expect({ route: path, owner: (await call(teamB, "GET", url)).status }).toEqual({ route: path, owner: 200 });
    }
  });

  test("nothing of B's changed, and B's rows are not listed to A", async () => {
    expect((await call(teamB, "GET", `/api/brands/${ids.brandB}`)).body).toEqual(brandBBefore);
    const email = (await call(teamB, "GET", `/api/emails/${ids.emailB}`)).body;
    expect(email.version).toBe(emailBBefore.version);
    expect(email.document).toEqual(emailBBefore.document);
    expect((await call(teamB, "GET", `/api/sessions/${ids.sessionB}`)).body.runs.map((r: any) => r.agent).sort()).toEqual(["email", "email-copy", "email-hero"]);
    expect((await call(teamB, "GET", `/api/brands/${ids.brandB}/references`)).body.references).toHaveLength(1);
    for (const [path, key] of [["/api/brands", "brands"], ["/api/emails", "emails"], ["/api/assets", "assets"]] as const) {
      const listed = JSON.stringify((await call(teamA, "GET", path)).body[key]);
      expect(listed).not.toContain(ids.brandB);
      expect(listed).not.toContain(ids.emailB);
      expect(listed).not.toContain(ids.assetB);
      expect(listed).not.toContain(ids.logoB);
    }
    expect(JSON.stringify((await call(teamB, "GET", "/api/assets")).body.assets)).toContain(ids.assetB!);
  });

  test("A cannot build on B's rows: B's brand, assets and references are unknown to A", async () => {
    const brief = await call(teamA, "POST", "/api/briefs", { brandId: ids.brandB, objective: "o", audience: "a", tone: "t", hook: "h", referenceAssetIds: await referenceAssets(server.url, teamA) });
    expect(brief.status).toBe(404);
    expect(brief.body.error.code).toBe("brand_not_found");
    const brandA = await call(teamA, "POST", "/api/brands", { name: "A", colors: { primary: "#000000" } });
    for (const payload of [{ logoAssetId: ids.logoB }, { productImageAssetIds: [ids.assetB] }]) {
      const res = await call(teamA, "POST", "/api/brands", { name: "A2", colors: { primary: "#000000" }, ...payload });
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code: "asset_not_found" });
      expect((await call(teamA, "PUT", `/api/brands/${brandA.body.id}`, { name: "A", colors: { primary: "#000000" }, ...payload })).status).toBe(400);
    }
    const withRefs = await call(teamA, "POST", "/api/briefs", { brandId: brandA.body.id, objective: "o", audience: "a", tone: "t", hook: "h", referenceAssetIds: [ids.assetB, ...(await referenceAssets(server.url, teamA, 2))] });
    expect({ status: withRefs.status, code: withRefs.body.error.code }).toEqual({ status: 400, code: "asset_not_found" });
    const library = await call(teamA, "POST", `/api/brands/${brandA.body.id}/references`, { assetId: ids.assetB });
    expect(library.status).toBe(400);
  });

  test("client tokens cannot use the studio API; B's session is 404 to A", async () => {
    const client = (await call(teamA, "POST", "/api/sessions", { title: "c" })).body.clientToken;
    for (const [method, path] of [["GET", "/api/brands"], ["GET", "/api/emails"], ["GET", "/api/assets"], ["POST", "/api/brands"]] as const) {
      const res = await call(client, method, path, method === "POST" ? { name: "x", colors: { primary: "#000000" } } : undefined);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
    expect((await call(teamA, "GET", `/api/sessions/${ids.sessionB}/events`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/stream/sessions/${ids.sessionB}?offset=-1`, { headers: { authorization: `Bearer ${teamA}` } })).status).toBe(404);
  });

  test("public asset URLs are unguessable ids, not sequential or derived from content", () => {
    expect(ids.assetB).toMatch(/^ast_[A-Za-z0-9_-]{16,}$/);
    expect(ids.assetB).not.toBe(ids.logoB);
  });
});

describe("WebSocket limits", () => {
  const wsUrl = (token: string) => `${server.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}`;

  test(`at most ${WS_LIMITS.MAX_SOCKETS_PER_TOKEN} open sockets per token: the next upgrade is a 429`, async () => {
    const token = await newTeam("sockets");
    const open: TestSocket[] = [];
    for (let i = 0; i < WS_LIMITS.MAX_SOCKETS_PER_TOKEN; i++) open.push(await TestSocket.open(wsUrl(token)));
    sockets.push(...open);
    const refused = await fetch(wsUrl(token).replace("ws", "http"), { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": btoa("0123456789abcdef") } });
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe("too_many_sockets");
    await expect(TestSocket.open(wsUrl(token))).rejects.toThrow();
    // Another token is not affected; and closing one socket frees a slot.
    const other = await TestSocket.open(wsUrl(teamA));
    sockets.push(other);
    expect(await other.request({ type: "ping" })).toMatchObject({ type: "pong" });
    await open[0]!.close();
    await Bun.sleep(100);
    const again = await TestSocket.open(wsUrl(token));
    sockets.push(again);
    expect(await again.request({ type: "ping" })).toMatchObject({ type: "pong" });
    for (const socket of open) socket.ws.close();
  });

  test(`client tokens may send about ${WS_LIMITS.FRAMES_PER_SECOND} frames a second; excess frames get rate_limited and the socket stays usable`, async () => {
    const created = (await call(teamA, "POST", "/api/sessions", { title: "rate" })).body;
    const client = await TestSocket.open(wsUrl(created.clientToken));
    sockets.push(client);
    const burst = WS_LIMITS.FRAMES_PER_SECOND * 5;
    for (let i = 0; i < burst; i++) client.send({ type: "ping", id: `p${i}` });
    await client.waitFor(() => client.frames.filter((f) => f.type === "pong" || f.type === "error").length >= burst);
    const pongs = client.frames.filter((f) => f.type === "pong").length;
    const limited = client.frames.filter((f) => f.type === "error" && f.code === "rate_limited");
    expect(pongs).toBeGreaterThanOrEqual(WS_LIMITS.FRAMES_PER_SECOND * 2);
    expect(pongs).toBeLessThan(WS_LIMITS.FRAMES_PER_SECOND * 3);
    expect(limited.length).toBe(burst - pongs);
    expect(limited[0].message).toContain(`${WS_LIMITS.FRAMES_PER_SECOND} frames per second`);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    await Bun.sleep(1_100);
    expect(await client.request({ type: "ping" })).toMatchObject({ type: "pong" });

    // An API token (a backend) has a much higher allowance.
    const backend = await TestSocket.open(wsUrl(teamA));
    sockets.push(backend);
    for (let i = 0; i < burst; i++) backend.send({ type: "ping", id: `b${i}` });
    await backend.waitFor(() => backend.frames.length >= burst);
    expect(backend.frames.filter((f) => f.type === "pong")).toHaveLength(burst);
  });

  test("a cookie-authenticated socket only opens from this site's own pages (no cross-site WebSocket hijacking)", async () => {
    const login = await fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: new URLSearchParams({ email: "alpha@alpha.example", password: "correct horse battery" }) });
    expect(login.status).toBe(302);
    const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const handshake = { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": btoa("0123456789abcdef"), cookie };
    const evil = await fetch(`${server.url}/ws`, { headers: { ...handshake, origin: "https://evil.example" } });
    expect(evil.status).toBe(403);
    expect((await evil.json()).error.code).toBe("forbidden_origin");
    const sibling = await fetch(`${server.url}/ws`, { headers: { ...handshake, origin: server.url.replace("127.0.0.1", "localhost") } });
    expect(sibling.status).toBe(403);
    // The site's own page, with the browser's Origin: the socket opens as the signed-in person.
    const own = new WebSocket(`${server.url.replace("http", "ws")}/ws`, { headers: { cookie, origin: server.url } } as never);
    await new Promise((resolve, reject) => {
      own.addEventListener("open", resolve, { once: true });
      own.addEventListener("error", reject, { once: true });
    });
    own.send(JSON.stringify({ type: "ping", id: "p" }));
    const pong = await new Promise<any>((resolve) => own.addEventListener("message", (e) => resolve(JSON.parse(String(e.data))), { once: true }));
    expect(pong).toEqual({ type: "pong", id: "p" });
    own.close();
    // Without a cookie or a token there is no socket at all.
    expect((await fetch(`${server.url}/ws`, { headers: { ...handshake, cookie: "", origin: server.url } })).status).toBe(401);
  });

  test("oversized and deeply nested frames get an error frame and the socket stays open", async () => {
    const ws = await TestSocket.open(wsUrl(teamA));
    sockets.push(ws);
    ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(WS_LIMITS.MAX_FRAME_BYTES) }));
    expect(await ws.waitFor((f) => f.type === "error")).toMatchObject({ code: "frame_too_large" });
    ws.send("[".repeat(20_000) + "]".repeat(20_000));
    expect(await ws.waitFor((f) => f.type === "error" && f.code !== "frame_too_large")).toMatchObject({ code: "json_too_deep" });
    expect(await ws.request({ type: "ping" })).toMatchObject({ type: "pong" });
  });
});

describe("login rate limit per address", () => {
  test(`after ${LOGIN_LIMIT_PER_ADDRESS} failed logins from one address, any account gets 429 with Retry-After`, async () => {
    const login = (email: string, password: string) =>
      fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: new URLSearchParams({ email, password }) });
    // Different accounts each time: the per-account limit (5) never triggers, the per-address one does.
    for (let i = 0; i < LOGIN_LIMIT_PER_ADDRESS; i++) {
      const res = await login(`nobody-${i}@example.com`, "wrong password");
      expect({ i, status: res.status }).toEqual({ i, status: 400 });
    }
    const limited = await login("someone-else@example.com", "wrong password");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await limited.text()).toContain("Too many attempts");
    // Even a correct password from this address waits.
    const right = await login("alpha@alpha.example", "correct horse battery");
    expect(right.status).toBe(429);
  });
});
