import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { strToU8, zipSync, unzipSync, strFromU8 } from "fflate";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { referenceAssets } from "./support/references";
import { startBrandSite, blocksPng, solidPng, ACME, BLUEBIRD, type BrandSite } from "./support/brand-site";
import { classifyAddress, guardedFetch, precheckUrl } from "../src/infra/guarded-fetch";
import { dominantColors, parseColor } from "../src/brands/import/colour";
import { firstFamily, parseCss } from "../src/brands/import/css";
import { varRole } from "../src/brands/import/proposal";
import { readCss } from "../src/brands/import/styles";
import { isUnsafeZipPath, unzipSafe } from "../src/brands/kit";

const servers: TestServer[] = [];
let site: BrandSite;
let server: TestServer;

beforeAll(async () => {
  site = await startBrandSite();
  server = await start({ IMPORT_ALLOW_PRIVATE: "on" });
}, 60_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
  site?.stop();
});

async function start(env: Record<string, string> = {}) {
  const s = await startServer({ env: { AI_PROVIDER: "offline", ANTHROPIC_API_KEY: undefined, OPENAI_API_KEY: undefined, ...env } });
  servers.push(s);
  return s;
}

async function api(s: TestServer, method: string, path: string, body?: unknown) {
  const res = await s.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await Bun.sleep(100);
  }
  throw new Error("condition not reached in time");
}

/** Starts an import and waits for it to finish; returns the import view. */
async function importFrom(s: TestServer, url: string) {
  const started = await api(s, "POST", "/api/brands/import", { url });
  expect(started.status).toBe(202);
  expect(started.body).toEqual({ importId: expect.stringMatching(/^bimp_/), sessionId: expect.stringMatching(/^ses_/), runId: expect.stringMatching(/^run_/) });
  const done = await until(async () => {
    const item = await api(s, "GET", `/api/brands/imports/${started.body.importId}`);
    return item.body.status === "running" ? undefined : item.body;
  });
  // The agent settles the import just before the runtime writes the run's end: wait for that too.
  await until(async () => ((await sessionEvents(s, started.body.sessionId)).some((e: any) => e.type === "run.end" && e.runId === started.body.runId) ? true : undefined));
  return { ...done, started: started.body };
}

async function sessionEvents(s: TestServer, sessionId: string) {
  return (await api(s, "GET", `/api/sessions/${sessionId}/events?offset=-1&limit=1000`)).body.events.map((e: any) => e.event);
}

function multipart(files: Array<{ field?: string; name: string; bytes: Uint8Array; type?: string }>, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const f of files) form.append(f.field ?? "file", new File([f.bytes as Uint8Array<ArrayBuffer>], f.name, { type: f.type ?? "application/octet-stream" }));
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

// -------------------------------------------------------------------------------------------------
describe("guarded fetch", () => {
  test("addresses are classified: private, loopback, link-local, metadata, mapped and NAT64 forms", () => {
    const cases: Record<string, string> = {
      "93.184.216.34": "public",
      "8.8.8.8": "public",
      "10.0.0.1": "private",
      "127.0.0.1": "private",
      "127.12.0.9": "private",
      "172.16.5.4": "private",
      "172.32.0.1": "public",
      "192.168.1.1": "private",
      "100.64.0.1": "private",
      "0.0.0.0": "forbidden",
      "169.254.169.254": "forbidden",
      "169.254.1.1": "forbidden",
      "224.0.0.1": "forbidden",
      "255.255.255.255": "forbidden",
      "::1": "private",
      "::": "forbidden",
      "fe80::1": "forbidden",
      "fc00::1": "private",
      "fd12:3456::1": "private",
      "fd00:ec2::254": "forbidden",
      "ff02::1": "forbidden",
      "::ffff:127.0.0.1": "private",
      "::ffff:169.254.169.254": "forbidden",
      "::ffff:7f00:1": "private",
      "64:ff9b::a00:1": "private",
      "2002:a9fe:a9fe::1": "forbidden",
      "2606:4700:4700::1111": "public",
      "[::1]": "private",
      "not-an-ip": "forbidden",
    };
    for (const [ip, expected] of Object.entries(cases)) expect(`${ip} ${classifyAddress(ip)}`).toBe(`${ip} ${expected}`);
  });

  test("the edge pre-check refuses other schemes, credentials and literal private addresses (unless allowed)", () => {
    expect(precheckUrl("file:///etc/passwd", { allowPrivate: true })).toMatchObject({ ok: false, code: "scheme_not_allowed" });
    expect(precheckUrl("ftp://example.com/", { allowPrivate: true })).toMatchObject({ ok: false, code: "scheme_not_allowed" });
    expect(precheckUrl("gopher://127.0.0.1:6379/_INFO", { allowPrivate: true })).toMatchObject({ ok: false, code: "scheme_not_allowed" });
    expect(precheckUrl("http://user:pw@example.com/", { allowPrivate: true })).toMatchObject({ ok: false, code: "credentials_in_url" });
    expect(precheckUrl("not a url", { allowPrivate: true })).toMatchObject({ ok: false, code: "invalid_url" });
    for (const url of ["http://127.0.0.1/", "http://[::1]:8080/", "http://0x7f000001/", "http://2130706433/", "http://10.1.2.3/", "http://localhost:3000/", "http://LOCALHOST./"]) {
      expect(precheckUrl(url, { allowPrivate: false })).toMatchObject({ ok: false, code: "private_address" });
    }
    expect(precheckUrl("http://169.254.169.254/latest/meta-data/", { allowPrivate: true })).toMatchObject({ ok: false, code: "forbidden_address" });
    expect(precheckUrl("http://127.0.0.1/", { allowPrivate: true })).toMatchObject({ ok: true });
    expect(precheckUrl("https://www.example.com/", { allowPrivate: false })).toMatchObject({ ok: true });
  });

  test("with private addresses refused, loopback is never contacted, by address or by a name that resolves to it", async () => {
    const before = site.hits.length;
    const direct = await guardedFetch(`${site.url}/a/`, { allowPrivate: false, maxBytes: 1e6 });
    expect(direct).toMatchObject({ ok: false, code: "private_address" });
    const named = await guardedFetch(`http://localhost:${site.port}/a/`, { allowPrivate: false, maxBytes: 1e6 });
    expect(named).toMatchObject({ ok: false, code: "private_address" });
    // Every address of a name is checked: one private address among public ones is enough to refuse.
    const mixed = await guardedFetch(`http://shop.example:${site.port}/a/`, { allowPrivate: false, maxBytes: 1e6, resolve: async () => [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.7", family: 4 }] });
    expect(mixed).toMatchObject({ ok: false, code: "private_address" });
    expect(mixed.ok ? "" : mixed.message).toContain("10.0.0.7");
    expect(site.hits.length).toBe(before);
  });

  test("the connection goes to the address that was checked, not to a second DNS answer", async () => {
    let calls = 0;
    const page = await guardedFetch(`http://brand.test:${site.port}/a/`, { allowPrivate: true, maxBytes: 1e6, resolve: async () => (calls++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "169.254.169.254", family: 4 }]) });
    expect(page.ok).toBe(true);
    expect(calls).toBe(1);
  });

  test("redirects are followed a few times, each hop checked again; loops, chains and other schemes are refused", async () => {
    const ok = await guardedFetch(`${site.url}/b`, { allowPrivate: true, maxBytes: 1e6 });
    expect(ok).toMatchObject({ ok: true, url: `${site.url}/b/` });
    // gzip is decoded, and the size limit applies to what it decodes to.
    expect(new TextDecoder().decode((ok as { bytes: Uint8Array }).bytes)).toContain("Bluebird Coffee Roasters");
    expect(await guardedFetch(`${site.url}/b`, { allowPrivate: true, maxBytes: 500 })).toMatchObject({ ok: false, code: "too_large" });

    expect(await guardedFetch(`${site.url}/h/loop`, { allowPrivate: true, maxBytes: 1e6 })).toMatchObject({ ok: false, code: "redirect_loop" });
    const chain = await guardedFetch(`${site.url}/h/chain/1`, { allowPrivate: true, maxBytes: 1e6 });
    expect(chain).toMatchObject({ ok: false, code: "too_many_redirects" });
    expect(site.hits.filter((h) => h.startsWith("/h/chain/")).length).toBe(6);
    // The first hop is allowed (loopback, with the setting on); the hop to the metadata service is not.
    expect(await guardedFetch(`${site.url}/h/to-metadata`, { allowPrivate: true, maxBytes: 1e6 })).toMatchObject({ ok: false, code: "forbidden_address" });
    expect(await guardedFetch(`${site.url}/h/to-file`, { allowPrivate: true, maxBytes: 1e6 })).toMatchObject({ ok: false, code: "scheme_not_allowed" });
  });

  test("a huge page is cut off at the size limit, a slow one at the deadline, errors are values", async () => {
    const started = performance.now();
    expect(await guardedFetch(`${site.url}/h/huge`, { allowPrivate: true, maxBytes: 2 * 1024 * 1024 })).toMatchObject({ ok: false, code: "too_large" });
    expect(await guardedFetch(`${site.url}/h/big-logo.png`, { allowPrivate: true, maxBytes: 5 * 1024 * 1024 })).toMatchObject({ ok: false, code: "too_large" });
    expect(await guardedFetch(`${site.url}/h/slow`, { allowPrivate: true, maxBytes: 1e6, timeoutMs: 300 })).toMatchObject({ ok: false, code: "timeout" });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await guardedFetch(`${site.url}/nope`, { allowPrivate: true, maxBytes: 1e6 })).toMatchObject({ ok: false, code: "http_error", status: 404 });
    expect(await guardedFetch(`http://127.0.0.1:1/`, { allowPrivate: true, maxBytes: 1e6 })).toMatchObject({ ok: false, code: "connection_failed" });
  });
});

// -------------------------------------------------------------------------------------------------
describe("reading colours and fonts", () => {
  test("colours in every common notation, through custom properties", () => {
    const vars = new Map([["--a", "#0A7D5A"], ["--b", "var(--a)"], ["--rgb", "33 150 243"]]);
    expect(parseColor("#0A7D5A")).toBe("#0a7d5a");
    expect(parseColor("#fa0")).toBe("#ffaa00");
    expect(parseColor("#ffaa0080")).toBe("#ffaa00");
    expect(parseColor("#ffaa0010")).toBeUndefined();
    expect(parseColor("rgb(216, 67, 21)")).toBe("#d84315");
    expect(parseColor("rgba(216,67,21,.2)")).toBeUndefined();
    expect(parseColor("rgb(33 150 243 / 90%)")).toBe("#2196f3");
    expect(parseColor("hsl(0, 100%, 50%)")).toBe("#ff0000");
    expect(parseColor("RebeccaPurple")).toBe("#663399");
    expect(parseColor("var(--b)", vars)).toBe("#0a7d5a");
    expect(parseColor("var(--missing, #123456)", vars)).toBe("#123456");
    expect(parseColor("transparent")).toBeUndefined();
    expect(parseColor("url(javascript:alert(1))")).toBeUndefined();
  });

  test("custom property names say their role; the last role word wins", () => {
    expect(varRole("--brand-primary")).toEqual({ role: "primary", modified: false });
    expect(varRole("--brand-secondary")).toEqual({ role: "secondary", modified: false });
    expect(varRole("--brand-primary-dark")).toEqual({ role: "primary", modified: true });
    expect(varRole("--color-bg")).toEqual({ role: "background", modified: false });
    expect(varRole("--on-primary")).toEqual({ role: "text", modified: false });
    expect(varRole("--radius")).toEqual({ modified: false });
  });

  test("CSS with at-rules, comments, strings with braces, and fonts with generic fallbacks", () => {
    const css = parseCss(`/* { */ @import "x.css"; @media (min-width: 1px) { .btn { background: #d84315 } } .a::before { content: "}{"; color: red } @font-face { font-family: 'Brand Serif'; } @keyframes spin { from { color: blue } }`);
    expect(css.rules.map((r) => r.selector)).toEqual([".btn", ".a::before"]);
    expect(css.fontFaces).toEqual([[["font-family", "'Brand Serif'"]]]);
    expect(firstFamily(`-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, sans-serif`)).toBe("Segoe UI");
    expect(firstFamily(`var(--font), serif`, new Map([["--font", `"Playfair Display"`]]))).toBe("Playfair Display");
    expect(firstFamily("system-ui, sans-serif")).toBeUndefined();
    const found = readCss([`.button-primary { background-color: #d84315; color: #fff } a { color: #1565c0 } body { font: 16px/1.5 "Lato", Arial }`], [{ kind: "body", style: "background:#fdf6ec" }]);
    expect(found.buttons[0]).toEqual({ background: "#d84315", color: "#ffffff" });
    expect(found.links).toEqual(["#1565c0"]);
    expect(found.body).toEqual({ background: "#fdf6ec", font: "Lato" });
  });

  test("the dominant colours of a logo ignore its transparent pixels", async () => {
    const colors = await dominantColors(await blocksPng(200, 80, [{ hex: ACME.green, share: 0.7 }, { hex: ACME.gold, share: 0.3 }]));
    expect(colors.map((c) => c.hex)).toEqual([ACME.green, ACME.gold]);
    expect(colors[0]!.share).toBeGreaterThan(0.6);
  });
});

// -------------------------------------------------------------------------------------------------
describe("import from a website", () => {
  test("a page with theme-color, CSS variables, a stylesheet and a logo → the expected proposal, live in its session", async () => {
    const done = await importFrom(server, `${site.url}/a/`);
    expect(done.status).toBe("ready");
    const p = done.proposal;
    expect(p.brand).toEqual({
      name: "Acme Botanicals",
      colors: { primary: ACME.green, secondary: ACME.gold, background: ACME.cream, text: ACME.ink },
      fonts: { heading: "Playfair Display", body: "Acme Sans" },
      logoAssetId: expect.stringMatching(/^ast_/),
      footer: { address: "12 Market Street\nPortland, OR 97201" },
    });
    expect(p.sources).toMatchObject({ name: "og:site_name", primary: "theme-color", secondary: "CSS --brand-secondary", background: "CSS --color-bg", text: "CSS --color-text", logo: "<img> marked logo", address: "<address>" });
    expect(p.logo).toMatchObject({ sourceUrl: `${site.url}/a/img/logo.png`, width: 160, height: 60 });
    expect(p.logoUrl).toBe(`${server.url}/assets/${p.logo.assetId}`);
    expect(p.fonts.map((f: any) => f.family)).toEqual(expect.arrayContaining(["Playfair Display", "Acme Sans", "Inter"]));
    expect(p.fonts.find((f: any) => f.family === "Acme Sans").stack).toBe("'Acme Sans', Helvetica, Arial, sans-serif");
    // The logo was downloaded and stored as a content-checked asset of kind logo.
    const logo = await server.fetch(`/assets/${p.logo.assetId}`, { auth: false });
    expect(logo.headers.get("content-type")).toBe("image/png");
    expect((await api(server, "GET", "/api/assets?kind=logo")).body.assets.map((a: any) => a.id)).toContain(p.logo.assetId);
    // The stylesheet was fetched (guarded); Google Fonts were read from the link, not fetched.
    expect(site.hits).toContain("/a/css/site.css");

    const events = await sessionEvents(server, done.sessionId);
    const progress = events.filter((e: any) => e.type === "run.progress" && e.runId === done.runId);
    expect(progress.map((e: any) => e.label)).toEqual(expect.arrayContaining([`Fetching ${site.url}/a/`, "Reading the page", "Fetching stylesheet 1 of 1", "Reading colours and fonts", "Fetching the logo", "Finding the logo's colours", "Proposal ready for review"]));
    expect(progress.at(-1).progress).toBe(1);
    const artifact = events.find((e: any) => e.type === "artifact");
    expect(artifact).toMatchObject({ kind: "brand-proposal", ref: done.id, runId: done.runId, data: { brand: { name: "Acme Botanicals" } } });
    expect(events.at(-1)).toMatchObject({ type: "run.end", runId: done.runId, status: "completed" });
  });

  test("a page with only an icon and inline styles (gzipped, behind a redirect) → the expected proposal", async () => {
    const done = await importFrom(server, `${site.url}/b`);
    expect(done.status).toBe("ready");
    expect(done.proposal.finalUrl).toBe(`${site.url}/b/`);
    expect(done.proposal.brand).toEqual({
      name: "Bluebird Coffee Roasters",
      colors: { primary: BLUEBIRD.orange, secondary: BLUEBIRD.blue, background: BLUEBIRD.paper, text: BLUEBIRD.brown },
      fonts: { heading: "Georgia", body: "Georgia" },
      logoAssetId: expect.stringMatching(/^ast_/),
      footer: { address: "400 Harbor Way, Seattle, WA 98104" },
    });
    expect(done.proposal.sources).toMatchObject({ name: "title", primary: "button background", secondary: "link colour", background: "page background", logo: "icon", address: "footer" });
    expect(done.proposal.logo).toMatchObject({ sourceUrl: `${site.url}/b/favicon-32.png`, width: 32, height: 32 });
  });

  test("a proposal is accepted with edits into a brand, once", async () => {
    const done = await importFrom(server, `${site.url}/a/`);
    const bad = await api(server, "POST", `/api/brands/imports/${done.id}/accept`, { colors: { primary: "green" } });
    expect(bad.status).toBe(400);
    const accepted = await api(server, "POST", `/api/brands/imports/${done.id}/accept`, { name: "Acme", colors: { secondary: "#123456", text: null }, voice: "warm and plain" });
    expect(accepted.status).toBe(201);
    const brand = (await api(server, "GET", `/api/brands/${accepted.body.id}`)).body;
    expect(brand).toMatchObject({ name: "Acme", colors: { primary: ACME.green, secondary: "#123456", background: ACME.cream }, fonts: { heading: "Playfair Display", body: "Acme Sans" }, voice: "warm and plain", logoAssetId: done.proposal.logo.assetId, footer: { address: "12 Market Street\nPortland, OR 97201" } });
    expect(brand.colors.text).toBeUndefined();
    const again = await api(server, "POST", `/api/brands/imports/${done.id}/accept`, {});
    expect(again).toMatchObject({ status: 409, body: { error: { code: "import_already_accepted" } } });
    expect((await api(server, "GET", `/api/brands/imports/${done.id}`)).body).toMatchObject({ status: "accepted", brandId: accepted.body.id });
  });

  test("hostile pages: a huge page, a redirect loop and a redirect chain fail with clear reasons", async () => {
    const huge = await importFrom(server, `${site.url}/h/huge`);
    expect(huge).toMatchObject({ status: "failed", proposal: null, error: { code: "too_large" } });
    const loop = await importFrom(server, `${site.url}/h/loop`);
    expect(loop).toMatchObject({ status: "failed", error: { code: "redirect_loop" } });
    const chain = await importFrom(server, `${site.url}/h/chain/100`);
    expect(chain).toMatchObject({ status: "failed", error: { code: "too_many_redirects" } });
    const json = await importFrom(server, `${site.url}/h/json`);
    expect(json).toMatchObject({ status: "failed", error: { code: "not_html" } });
    const events = await sessionEvents(server, loop.sessionId);
    expect(events.at(-1)).toMatchObject({ type: "run.end", status: "failed", error: expect.stringContaining("loop") });
  });

  test("an import can be stopped mid-fetch: its session's cancel ends the run and the import says so", async () => {
    const started = (await api(server, "POST", "/api/brands/import", { url: `${site.url}/h/slow` })).body;
    await until(async () => ((await sessionEvents(server, started.sessionId)).some((e: any) => e.type === "run.progress") ? true : undefined));
    const stoppedAt = performance.now();
    expect((await api(server, "POST", `/api/sessions/${started.sessionId}/control`, { action: "cancel", runId: started.runId })).status).toBe(202);
    const done = await until(async () => {
      const item = (await api(server, "GET", `/api/brands/imports/${started.importId}`)).body;
      return item.status === "running" ? undefined : item;
    });
    expect(performance.now() - stoppedAt).toBeLessThan(5_000);
    expect(done).toMatchObject({ status: "cancelled", error: { code: "cancelled" } });
    // The agent marks the import before the runtime writes the run's end: wait for that too.
    const last = await until(async () => {
      const event = (await sessionEvents(server, started.sessionId)).at(-1);
      return event?.type === "run.end" ? event : undefined;
    });
    expect(last).toMatchObject({ type: "run.end", runId: started.runId, status: "cancelled" });
  });

  test("links to link-local and metadata addresses, an SVG logo and an oversized logo are refused, the rest is proposed", async () => {
    const done = await importFrom(server, `${site.url}/h/links`);
    expect(done.status).toBe("ready");
    expect(done.proposal.brand).toEqual({ name: "Totally Normal Shop", colors: { primary: "#7b1fa2" } });
    expect(done.proposal.logo).toBeUndefined();
    const notes = done.proposal.notes.join("\n");
    expect(notes).toContain("http://[fe80::1]/steal.css");
    expect(notes).toContain("169.254.169.254");
    expect(notes).toMatch(/big-logo\.png.*the limit is 5242880/);
    expect(notes).toMatch(/to-metadata.*link-local, metadata or reserved/);
    // SVGs are never candidates (they can carry script and email clients do not show them).
    expect(site.hits).not.toContain("/h/logo.svg");
  });

  test("the import API checks its input at the edge", async () => {
    expect((await api(server, "POST", "/api/brands/import", { url: "file:///etc/passwd" })).body.error.code).toBe("scheme_not_allowed");
    expect((await api(server, "POST", "/api/brands/import", { url: "http://169.254.169.254/latest/meta-data/" })).body.error.code).toBe("forbidden_address");
    expect((await api(server, "POST", "/api/brands/import", {})).status).toBe(400);
    expect((await api(server, "GET", "/api/brands/imports/bimp_nope")).status).toBe(404);
    expect((await server.fetch("/api/brands/import", { method: "POST", auth: false, headers: { "content-type": "application/json" }, body: JSON.stringify({ url: site.url }) })).status).toBe(401);
    const spec = (await api(server, "GET", "/openapi.json")).body;
    for (const path of ["/api/brands/import", "/api/brands/imports/{id}", "/api/brands/imports/{id}/accept", "/api/brands/{id}/kit.zip", "/api/brands/kits", "/api/brands/{id}/product-images", "/api/brands/{id}/references", "/api/brands/{id}/references/{assetId}"]) {
      expect(spec.paths[path]).toBeDefined();
    }
  });
});

// -------------------------------------------------------------------------------------------------
describe("private addresses refused by default", () => {
  let closed: TestServer;
  beforeAll(async () => {
    closed = await start();
  });

  test("loopback and private literals are refused at the edge; nothing is fetched", async () => {
    const before = site.hits.length;
    for (const url of [`${site.url}/a/`, `http://localhost:${site.port}/a/`, `http://[::1]:${site.port}/`, "http://10.0.0.8/", "http://192.168.1.1/"]) {
      const res = await api(closed, "POST", "/api/brands/import", { url });
      expect(`${url} ${res.status} ${res.body.error?.code}`).toBe(`${url} 400 private_address`);
    }
    expect(site.hits.length).toBe(before);
  });

  test("a host name that resolves to a private address fails the run without contacting it", async () => {
    const name = hostname();
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length === 0 || addresses.some((a) => classifyAddress(a.address) === "public")) return; // this machine's name is public or unknown: nothing to show here
    const before = site.hits.length;
    const done = await importFrom(closed, `http://${name}:${site.port}/a/`);
    expect(done).toMatchObject({ status: "failed", error: { code: "private_address", message: expect.stringContaining("IMPORT_ALLOW_PRIVATE") } });
    expect(site.hits.length).toBe(before);
  });
});

// -------------------------------------------------------------------------------------------------
describe("the review page", () => {
  test("a person imports from the form, watches it, reviews swatches and a preview, and saves", async () => {
    const cookies = new Map<string, string>();
    const browse = async (path: string, init: RequestInit & { form?: Record<string, string> } = {}) => {
      const headers = new Headers(init.headers);
      if (cookies.size) headers.set("cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
      let body = init.body;
      if (init.form) {
        body = new URLSearchParams(init.form).toString();
        headers.set("content-type", "application/x-www-form-urlencoded");
        headers.set("origin", server.url);
      }
      const res = await fetch(server.url + path, { ...init, body, headers, redirect: "manual" });
      for (const cookie of res.headers.getSetCookie()) {
        const [name, value] = cookie.split(";")[0]!.split("=");
        cookies.set(name!, value!);
      }
      return res;
    };
    expect((await browse("/brands/import")).headers.get("location")).toMatch(/^\/(login|setup)/);
    await browse("/setup", { method: "POST", form: { teamName: "Brand team", name: "Mara", email: "mara@example.com", password: "correct horse battery" } });
    const form = await browse("/brands/import");
    expect(form.status).toBe(200);
    const formHtml = await form.text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(formHtml)![1]!;
    expect(formHtml).toContain('action="/brands/import"');

    const refused = await browse("/brands/import", { method: "POST", form: { csrf, url: "ftp://example.com" } });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("Only http and https");

    const started = await browse("/brands/import", { method: "POST", form: { csrf, url: `${site.url}/a/` } });
    expect(started.status).toBe(302);
    const location = started.headers.get("location")!;
    expect(location).toMatch(/^\/brands\/import\/bimp_/);
    const importId = location.split("/").pop()!;

    // The page carries what its module needs to follow the run live.
    const live = await (await browse(location)).text();
    expect(live).toContain(`data-import-id="${importId}"`);
    expect(live).toMatch(/data-session-id="ses_/);
    expect(live).toContain('src="/static/brand-import.js"');
    // The module's polling works with the page's cookie.
    const sessionId = /data-session-id="([^"]+)"/.exec(live)![1]!;
    expect((await browse(`/api/sessions/${sessionId}/events?offset=-1`)).status).toBe(200);
    const script = await browse("/static/brand-import.js");
    expect(script.status).toBe(200);
    expect(await script.text()).toContain("/api/brands/imports/");

    const review = await until(async () => {
      const html = await (await browse(location)).text();
      return html.includes('data-status="running"') ? undefined : html;
    });
    expect(review).toContain("Save brand");
    expect(review).toContain('value="Acme Botanicals"');
    expect(review).toContain(`fill="${ACME.green}"`); // swatches and preview are SVG: the CSP allows no inline style
    expect(review).toContain(`fill="${ACME.gold}"`);
    expect(review).toContain("Playfair Display");
    expect(review).toMatch(/<img src="http:\/\/127\.0\.0\.1:\d+\/assets\/ast_[^"]+" alt="Proposed logo"/);
    expect(review).not.toMatch(/style="/);

    const saved = await browse(`/brands/import/${importId}/accept`, { method: "POST", form: { csrf, name: "Acme Botanicals", primary: ACME.green, secondary: "", background: ACME.cream, text: ACME.ink, headingFont: "Playfair Display", bodyFont: "Acme Sans", useLogo: "on", address: "12 Market Street\r\nPortland, OR 97201" } });
    expect(saved.status).toBe(302);
    const brandId = saved.headers.get("location")!.split("/").pop()!;
    const brand = (await api(server, "GET", `/api/brands/${brandId}`)).body;
    expect(brand).toMatchObject({ name: "Acme Botanicals", colors: { primary: ACME.green, background: ACME.cream, text: ACME.ink }, footer: { address: "12 Market Street\nPortland, OR 97201" }, logoAssetId: expect.stringMatching(/^ast_/) });
    expect(brand.colors.secondary).toBeUndefined();
  });
});

// -------------------------------------------------------------------------------------------------
describe("product images and the reference library", () => {
  let brandId: string;
  beforeAll(async () => {
    brandId = (await api(server, "POST", "/api/brands", { name: "Library brand", colors: { primary: "#224466" } })).body.id;
  });

  test("a folder of images (and a zip of Figma exports) become product images in one drop; bad files are listed", async () => {
    const figma = zipSync({
      "Export/Frame 10.png": await solidPng("#aa3300", 40),
      "Export/Frame 2.png": await solidPng("#33aa00", 40),
      "__MACOSX/Export/._Frame 2.png": new Uint8Array([0, 5, 22, 7]),
      "Export/notes.txt": strToU8("hi"),
    });
    const form = multipart([
      { field: "files", name: "serum.png", bytes: await solidPng("#884422") },
      { field: "files", name: "cream.png", bytes: await solidPng("#228844") },
      { field: "files", name: "figma.zip", bytes: figma },
      { field: "files", name: "evil.svg", bytes: strToU8(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`) },
    ]);
    const res = await server.fetch(`/api/brands/${brandId}/product-images`, { method: "POST", body: form });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.added.map((a: any) => a.name)).toEqual(["serum.png", "cream.png", "Frame 2.png", "Frame 10.png"]);
    expect(body.rejected).toEqual([{ name: "evil.svg", code: "svg_rejected", message: expect.any(String) }]);
    const brand = (await api(server, "GET", `/api/brands/${brandId}`)).body;
    expect(brand.productImageAssetIds).toEqual(body.added.map((a: any) => a.id));
    const products = (await api(server, "GET", "/api/assets?kind=product")).body.assets.map((a: any) => a.id);
    expect(products).toEqual(expect.arrayContaining(brand.productImageAssetIds));

    const nothing = await server.fetch(`/api/brands/${brandId}/product-images`, { method: "POST", body: multipart([{ name: "a.txt", bytes: strToU8("text") }]) });
    expect(nothing.status).toBe(415);
    expect((await server.fetch(`/api/brands/brand_nope/product-images`, { method: "POST", body: multipart([{ name: "a.png", bytes: await solidPng("#000000") }]) })).status).toBe(404);
  });

  test("reference emails are kept, tagged, filtered, re-tagged, removed, and picked on a brief", async () => {
    const upload = async (name: string, tags: string) => {
      const res = await server.fetch(`/api/brands/${brandId}/references`, { method: "POST", body: multipart([{ name, bytes: await blocksPng(120, 300, [{ hex: "#334455", share: 1 }]) }], { tags }) });
      expect(res.status).toBe(201);
      return res.json();
    };
    const launch = await upload("launch.png", "Launch, Black Friday ,launch");
    expect(launch.assetId).toMatch(/^ast_/);
    expect(launch).toMatchObject({ name: "launch.png", tags: ["launch", "black friday"], width: 120, height: 300 });
    const newsletter = await upload("newsletter.png", "newsletter");
    const existing = (await server.fetch("/api/assets", { method: "POST", body: multipart([{ name: "old.png", bytes: await solidPng("#112233") }]) }).then((r) => r.json())).id;
    const linked = await api(server, "POST", `/api/brands/${brandId}/references`, { assetId: existing, tags: ["launch"], name: "Last year's launch" });
    expect(linked).toMatchObject({ status: 201, body: { assetId: existing, tags: ["launch"], name: "Last year's launch" } });

    const all = (await api(server, "GET", `/api/brands/${brandId}/references`)).body.references;
    expect(all.map((r: any) => r.assetId).sort()).toEqual([launch.assetId, newsletter.assetId, existing].sort());
    const tagged = (await api(server, "GET", `/api/brands/${brandId}/references?tag=Launch`)).body.references;
    expect(tagged.map((r: any) => r.assetId).sort()).toEqual([launch.assetId, existing].sort());

    const retagged = await api(server, "POST", `/api/brands/${brandId}/references`, { assetId: newsletter.assetId, tags: "newsletter, launch" });
    expect(retagged.body.tags).toEqual(["newsletter", "launch"]);
    expect((await api(server, "GET", `/api/brands/${brandId}/references?tag=launch`)).body.references).toHaveLength(3);

    expect((await api(server, "DELETE", `/api/brands/${brandId}/references/${existing}`)).status).toBe(204);
    expect((await api(server, "DELETE", `/api/brands/${brandId}/references/${existing}`)).status).toBe(404);
    expect((await api(server, "POST", `/api/brands/${brandId}/references`, { assetId: "ast_missing" })).body.error.code).toBe("asset_not_found");

    // A brief picks references from the library by their asset ids.
    const picked = (await api(server, "GET", `/api/brands/${brandId}/references?tag=launch`)).body.references.map((r: any) => r.assetId);
    // Two left in the library with the tag, and a brief needs 3–4: one more screenshot makes it.
    expect(picked).toHaveLength(2);
    expect((await api(server, "POST", "/api/briefs", { brandId, objective: "Launch", audience: "Everyone", tone: "warm", hook: "It is here", referenceAssetIds: picked })).status).toBe(400);
    const chosen = [...picked, ...(await referenceAssets(server.url, TEST_API_TOKEN, 1))];
    const brief = await api(server, "POST", "/api/briefs", { brandId, objective: "Launch", audience: "Everyone", tone: "warm", hook: "It is here", referenceAssetIds: chosen });
    expect(brief.status).toBe(201);
    expect((await api(server, "GET", `/api/briefs/${brief.body.id}`)).body.referenceAssetIds).toEqual(chosen);
  });
});

// -------------------------------------------------------------------------------------------------
describe("brand kits", () => {
  test("unsafe archives are refused before anything is extracted", () => {
    for (const name of ["../evil.png", "assets/../../etc/passwd", "/abs.png", "C:/win.png", "assets\\x.png"]) expect(isUnsafeZipPath(name)).toBe(true);
    expect(isUnsafeZipPath("assets/logo..png")).toBe(false);
    const keepAll = { keep: () => true, maxEntries: 10, maxEntryBytes: 1_000_000, maxTotalBytes: 2_000_000 };
    expect(unzipSafe(zipSync({ "../evil.png": new Uint8Array([1]) }), keepAll)).toMatchObject({ ok: false, code: "unsafe_path" });
    expect(unzipSafe(strToU8("not a zip at all"), keepAll)).toMatchObject({ ok: false, code: "not_a_zip" });
    const many: Record<string, Uint8Array> = {};
    for (let i = 0; i < 11; i++) many[`f${i}.png`] = new Uint8Array([i]);
    expect(unzipSafe(zipSync(many), keepAll)).toMatchObject({ ok: false, code: "too_many_entries" });
    // A zip bomb: 50 MB of zeros deflate to about 50 KB; its declared size gives it away.
    expect(unzipSafe(zipSync({ "bomb.png": new Uint8Array(50 * 1024 * 1024) }), keepAll)).toMatchObject({ ok: false, code: "too_large" });
  });

  test("a zip that lies about its sizes cannot unpack past what it declares", () => {
    const zip = zipSync({ "assets/liar.png": new Uint8Array(8 * 1024 * 1024).fill(7) });
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    // Declare 1 KB in both the local header (offset 22) and the central directory entry (offset 24).
    view.setUint32(22, 1024, true);
    const central = [...zip.keys()].find((i) => view.getUint32(i, true) === 0x02014b50)!;
    view.setUint32(central + 24, 1024, true);
    const result = unzipSafe(zip, { keep: () => true, maxEntries: 10, maxEntryBytes: 1024 * 1024, maxTotalBytes: 1024 * 1024 });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.files.get("assets/liar.png")!.byteLength).toBe(1024);
  });

  test("a kit exported from one database imports into another and renders the same email", async () => {
    // A brand with a logo (imported from the site), product images and references, on the first installation.
    const imported = await importFrom(server, `${site.url}/a/`);
    const brandId = (await api(server, "POST", `/api/brands/imports/${imported.id}/accept`, { voice: "calm, botanical, precise" })).body.id;
    const products = await server.fetch(`/api/brands/${brandId}/product-images`, { method: "POST", body: multipart([{ field: "files", name: "serum.png", bytes: await solidPng("#0a7d5a", 200) }, { field: "files", name: "balm.png", bytes: await solidPng("#f4b400", 200) }]) });
    expect(products.status).toBe(201);
    const reference = await server.fetch(`/api/brands/${brandId}/references`, { method: "POST", body: multipart([{ name: "liked.png", bytes: await blocksPng(100, 240, [{ hex: "#556677", share: 1 }]) }], { tags: "launch, hero" }) }).then((r) => r.json());

    const kitRes = await server.fetch(`/api/brands/${brandId}/kit.zip`);
    expect(kitRes.status).toBe(200);
    expect(kitRes.headers.get("content-type")).toBe("application/zip");
    expect(kitRes.headers.get("content-disposition")).toContain("acme-botanicals-kit.zip");
    const kit = new Uint8Array(await kitRes.arrayBuffer());
    const entries = unzipSync(kit);
    const manifest = JSON.parse(strFromU8(entries["brand.json"]!));
    expect(manifest).toMatchObject({ format: "durable-studio/brand-kit", version: 1, brand: { name: "Acme Botanicals", voice: "calm, botanical, precise", logo: expect.stringMatching(/^assets\//) }, references: [{ tags: ["launch", "hero"] }] });
    expect(manifest.brand.productImages).toHaveLength(2);
    expect(Object.keys(entries).filter((n) => n.startsWith("assets/"))).toHaveLength(4);

    // A second installation on a fresh database.
    const other = await start();
    expect(other.databaseUrl).not.toBe(server.databaseUrl);
    const created = await other.fetch("/api/brands/kits", { method: "POST", body: multipart([{ name: "kit.zip", bytes: kit, type: "application/zip" }]) });
    expect(created.status).toBe(201);
    const copy = await created.json();
    expect(copy).toMatchObject({ name: "Acme Botanicals", assets: 4, references: 1 });
    const copied = (await api(other, "GET", `/api/brands/${copy.id}`)).body;
    const original = (await api(server, "GET", `/api/brands/${brandId}`)).body;
    const withoutIds = ({ id, logoAssetId, productImageAssetIds, ...rest }: any) => rest;
    expect(withoutIds(copied)).toEqual(withoutIds(original));
    expect(copied.productImageAssetIds).toHaveLength(2);
    const copiedRefs = (await api(other, "GET", `/api/brands/${copy.id}/references`)).body.references;
    expect(copiedRefs).toMatchObject([{ tags: ["launch", "hero"], name: "liked.png" }]);
    // Same image bytes on both installations.
    const bytesOf = async (s: TestServer, id: string) => new Uint8Array(await (await s.fetch(`/assets/${id}`, { auth: false })).arrayBuffer());
    expect(await bytesOf(other, copied.logoAssetId)).toEqual(await bytesOf(server, original.logoAssetId));

    // The same brief on both → the same email, but for asset ids and hosts.
    const render = async (s: TestServer, brand: any, referenceIds: string[]) => {
      const brief = await api(s, "POST", "/api/briefs", {
        brandId: brand.id,
        objective: "Launch the spring serum",
        audience: "People with dry skin",
        tone: "calm",
        hook: "Spring, in a bottle",
        products: [{ name: "Spring serum", description: "Cold-pressed", imageAssetId: brand.productImageAssetIds[0], url: "https://acme.example/serum" }],
        cta: { label: "Shop the serum", url: "https://acme.example/serum" },
        referenceAssetIds: referenceIds,
      });
      expect(brief.status).toBe(201);
      const generated = await api(s, "POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline" });
      expect(generated.status).toBe(202);
      await until(async () => {
        const email = await api(s, "GET", `/api/emails/${generated.body.emailId}`);
        if (email.body.status === "failed") throw new Error(`generation failed: ${email.body.error}`);
        return email.body.status === "ready" ? true : undefined;
      });
      const html = await (await s.fetch(`/api/emails/${generated.body.emailId}/html`)).text();
      return html.replaceAll(s.url, "ORIGIN").replace(/ast_[A-Za-z0-9_-]+/g, "ASSET");
    };
    const [a, b] = await Promise.all([render(server, original, [reference.assetId, ...(await referenceAssets(server.url, TEST_API_TOKEN, 2))]), render(other, copied, [...copiedRefs.map((r: any) => r.assetId), ...(await referenceAssets(other.url, TEST_API_TOKEN, 2))])]);
    expect(a).toContain("ORIGIN/assets/ASSET");
    expect(a).toContain("Acme Botanicals");
    expect(b).toBe(a);
  }, 60_000);

  test("kit imports refuse traversal, bombs, missing or damaged files, and oversized uploads", async () => {
    const post = (bytes: Uint8Array) => server.fetch("/api/brands/kits", { method: "POST", body: multipart([{ name: "kit.zip", bytes }]) }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const manifest = (extra: object = {}) => strToU8(JSON.stringify({ format: "durable-studio/brand-kit", version: 1, brand: { name: "K", colors: { primary: "#112233" }, logo: "assets/logo.png" }, files: [{ path: "assets/logo.png", sha256: "0".repeat(64), contentType: "image/png" }], ...extra }));
    const png = await solidPng("#112233");

    expect(await post(zipSync({ "brand.json": manifest(), "../../etc/cron.d/evil": strToU8("* * * * * root sh") }))).toMatchObject({ status: 400, body: { error: { code: "unsafe_path" } } });
    expect(await post(zipSync({ "brand.json": manifest(), "assets/logo.png": new Uint8Array(30 * 1024 * 1024) }))).toMatchObject({ status: 413, body: { error: { code: "too_large" } } });
    expect(await post(zipSync({ "assets/logo.png": png }))).toMatchObject({ status: 400, body: { error: { code: "invalid_kit", message: expect.stringContaining("brand.json") } } });
    expect(await post(zipSync({ "brand.json": manifest() }))).toMatchObject({ status: 400, body: { error: { code: "invalid_kit", message: expect.stringContaining("not in the kit") } } });
    expect(await post(zipSync({ "brand.json": manifest(), "assets/logo.png": png }))).toMatchObject({ status: 400, body: { error: { code: "invalid_kit", message: expect.stringContaining("checksum") } } });
    expect(await post(zipSync({ "brand.json": strToU8(`{"format":"something-else"}`) }))).toMatchObject({ status: 400, body: { error: { code: "invalid_kit" } } });
    expect(await post(strToU8("PK nonsense"))).toMatchObject({ status: 400, body: { error: { code: "not_a_zip" } } });

    // An SVG dressed as a PNG is caught by the asset checks on the way in.
    const svg = strToU8(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`);
    const sha = new Bun.CryptoHasher("sha256").update(svg).digest("hex");
    const svgKit = zipSync({ "brand.json": strToU8(JSON.stringify({ format: "durable-studio/brand-kit", version: 1, brand: { name: "K", colors: { primary: "#112233" }, logo: "assets/logo.png" }, files: [{ path: "assets/logo.png", sha256: sha, contentType: "image/png" }] })), "assets/logo.png": svg });
    expect(await post(svgKit)).toMatchObject({ status: 415, body: { error: { code: "asset_rejected" } } });

    const huge = await server.fetch("/api/brands/kits", { method: "POST", headers: { "content-type": "application/zip" }, body: new Uint8Array(51 * 1024 * 1024) });
    expect(huge.status).toBe(413);
  });
});
