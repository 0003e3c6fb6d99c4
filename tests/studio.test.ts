import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import sharp from "sharp";
import { unzipSync, strFromU8 } from "fflate";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { startFakeProviders, type FakeProviders } from "./support/fake-providers";
import { DEFAULT_FORMULA } from "../src/email/document";
import { referenceAssets } from "./support/references";
import { safeFileName, slugFileName } from "../src/email/export";

/**
 * The email studio end to end through the JSON API: brand → assets → brief →
 * generation (offline, and with Anthropic + OpenAI against local wire-format servers) → the email,
 * its checks, edits, versions and exports.
 */

const PUBLIC_URL = "https://studio.example.test";
const servers: TestServer[] = [];
let fakes: FakeProviders;
let server: TestServer;
let token: string;

afterAll(async () => {
  for (const s of servers) await s.stop();
  fakes?.stop();
});

beforeAll(async () => {
  fakes = startFakeProviders({ delayMs: 2 });
  server = await startServer({ env: { PUBLIC_URL, ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fakes.anthropicUrl, OPENAI_API_KEY: "sk-openai-test", OPENAI_BASE_URL: fakes.openaiUrl } });
  servers.push(server);
  token = await newTeam(server, "studio");
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Helpers.

async function newTeam(s: TestServer, name: string): Promise<string> {
  const res = await call(s, TEST_API_TOKEN, "POST", "/api/teams", { name, owner: { name, email: `${name}-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } });
  expect(res.status).toBe(201);
  return res.body.apiToken;
}

async function call(s: TestServer, auth: string, method: string, path: string, body?: unknown) {
  const res = await fetch(s.url + path, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
const api = (method: string, path: string, body?: unknown) => call(server, token, method, path, body);

/** A real image of `width`×`height` with a gradient-ish pattern, in `format`. */
async function image(width: number, height: number, color: { r: number; g: number; b: number }, format: "png" | "jpeg" = "png"): Promise<Uint8Array> {
  const img = sharp({ create: { width, height, channels: 3, background: color } }).composite([
    { input: { create: { width: Math.max(1, Math.floor(width / 2)), height: Math.max(1, Math.floor(height / 3)), channels: 3, background: { r: 255 - color.r, g: 255 - color.g, b: 255 - color.b } } }, top: 0, left: 0 },
  ]);
  return new Uint8Array(await (format === "png" ? img.png() : img.jpeg()).toBuffer());
}

async function upload(bytes: Uint8Array, name: string, kind?: string, auth = token) {
  const form = new FormData();
  form.append("file", new File([bytes as BlobPart], name));
  if (kind) form.append("kind", kind);
  const res = await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${auth}` }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** Waits until the email is no longer generating. */
async function settled(id: string, timeoutMs = 20_000, auth = token, s = server) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await call(s, auth, "GET", `/api/emails/${id}`);
    expect(res.status).toBe(200);
    if (res.body.status !== "generating") return res.body;
    if (Date.now() > deadline) throw new Error(`email ${id} still generating after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

/** Every event of a session, in order. */
async function sessionEvents(sessionId: string, auth = token, s = server): Promise<any[]> {
  const events: any[] = [];
  let offset = "-1";
  for (;;) {
    const res = await call(s, auth, "GET", `/api/sessions/${sessionId}/events?offset=${offset}&limit=1000`);
    expect(res.status).toBe(200);
    events.push(...res.body.events.map((e: any) => e.event));
    if (res.body.upToDate) return events;
    offset = res.body.nextOffset;
  }
}

async function waitForEvent(sessionId: string, test: (event: any) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await sessionEvents(sessionId)).find(test);
    if (found) return found;
    if (Date.now() > deadline) throw new Error("event not seen in time");
    await Bun.sleep(30);
  }
}

const localAsset = (url: string) => server.url + new URL(url).pathname;

let counter = 0;
async function brand(overrides: Record<string, unknown> = {}) {
  const res = await api("POST", "/api/brands", {
    name: `Glow & Co ${++counter}`,
    colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" },
    fonts: { heading: "Playfair Display", body: "Lato" },
    voice: "warm, confident, no jargon",
    footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "{{unsubscribe}}" },
    ...overrides,
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const HOOK = "Wake up to brighter skin in 14 days";
const CTA_URL = "https://glow.example/serum?utm_source=email&utm_medium=newsletter";

/** The team's 3 reference screenshots, uploaded once: every brief needs 3–4. */
let sharedReferences: Promise<string[]> | undefined;
const references = () => (sharedReferences ??= referenceAssets(server.url, token));

async function brief(brandId: string, overrides: Record<string, unknown> = {}) {
  const res = await api("POST", "/api/briefs", {
    brandId,
    referenceAssetIds: await references(),
    objective: "Launch the new Vitamin C serum and drive first purchases",
    audience: "Women 30-45 with dull, tired skin",
    tone: "warm and reassuring",
    hook: HOOK,
    products: [
      { name: "Radiance C Serum", description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks.", url: "https://glow.example/serum" },
      { name: "Dew Drop Moisturiser", description: "Locks in moisture all day.", url: "https://glow.example/dew" },
    ],
    cta: { label: "Shop the serum", url: CTA_URL },
    ...overrides,
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function generate(briefId: string, body: Record<string, unknown> = { provider: "offline", options: { sectionDelayMs: 0 } }) {
  const res = await api("POST", `/api/briefs/${briefId}/generate`, body);
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ emailId: expect.stringMatching(/^email_/), sessionId: expect.stringMatching(/^ses_/), runId: expect.stringMatching(/^run_/) });
  return res.body as { emailId: string; sessionId: string; runId: string };
}

const types = (email: any) => email.document.sections.map((s: any) => s.type);
const section = (email: any, type: string) => email.document.sections.find((s: any) => s.type === type);

// ---------------------------------------------------------------------------------------------

describe("offline generation", () => {
  let references: string[];
  let productImage: string;
  let generated: { emailId: string; sessionId: string; runId: string };
  let email: any;
  let brandId: string;

  beforeAll(async () => {
    references = [];
    for (const [i, color] of [{ r: 200, g: 40, b: 40 }, { r: 40, g: 160, b: 60 }, { r: 30, g: 60, b: 200 }].entries()) {
      const res = await upload(await image(320, 480, color, i === 1 ? "jpeg" : "png"), `reference-${i}.${i === 1 ? "jpg" : "png"}`, "reference");
      expect(res).toMatchObject({ status: 201 });
      references.push(res.body.id);
    }
    const product = await upload(await image(400, 400, { r: 250, g: 200, b: 50 }), "serum.png", "product");
    expect(product.status).toBe(201);
    expect(product.body).toMatchObject({ contentType: "image/png", width: 400, height: 400, url: `${PUBLIC_URL}/assets/${product.body.id}` });
    productImage = product.body.id;
    const logo = await upload(await image(200, 80, { r: 15, g: 81, b: 50 }), "logo.png", "logo");
    brandId = await brand({ logoAssetId: logo.body.id, productImageAssetIds: [productImage] });
    const briefId = await brief(brandId, { referenceAssetIds: references, products: [{ name: "Radiance C Serum", description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks.", url: "https://glow.example/serum", imageAssetId: productImage }, { name: "Dew Drop Moisturiser", url: "https://glow.example/dew" }] });
    generated = await generate(briefId);
    email = await settled(generated.emailId);
  });

  test("the email is ready, follows the default formula in order, and is marked as an offline draft", () => {
    expect(email.status).toBe("ready");
    expect(email.version).toBe(1);
    expect(email.error).toBeNull();
    expect(email.offlineDraft).toBe(true);
    expect(email.sessionId).toBe(generated.sessionId);
    expect(types(email)).toEqual(DEFAULT_FORMULA.map((s) => s.type));
  });

  test("the copy is brief-specific: the hook in the headline, the products, the CTA url", async () => {
    expect(section(email, "headline").fields.text).toBe(HOOK);
    expect(section(email, "ingredient").fields.name).toBe("15% vitamin C");
    expect(section(email, "ingredient").fields.imageUrl).toBe(`${PUBLIC_URL}/assets/${productImage}`);
    // Benefits rephrased from the products' descriptions, not the product list.
    expect(section(email, "benefits").fields.items.map((i: any) => i.title)).toEqual(["Brighter-looking skin", "A more even tone", "Dew Drop Moisturiser"]);
    expect(section(email, "cta").fields).toMatchObject({ label: "Shop the serum", url: CTA_URL });
    expect(section(email, "footer").fields).toMatchObject({ address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "{{unsubscribe}}" });
    expect(email.document.subject).toContain("Wake up to brighter skin");
    const html = await (await fetch(`${server.url}/api/emails/${email.id}/html`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(html).toContain(HOOK);
    expect(html).toContain(CTA_URL.replace(/&/g, "&amp;"));
    expect(html).toContain("Dew Drop Moisturiser");
  });

  test("the session shows run.start/run.end for email, email-copy and email-hero, and progress per section", async () => {
    // The email is marked ready just before the orchestrator writes its run.end: wait for that event.
    await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === generated.runId);
    const events = await sessionEvents(generated.sessionId);
    const starts = events.filter((e) => e.type === "run.start");
    const byAgent = Object.fromEntries(starts.map((e) => [e.agent, e]));
    expect(Object.keys(byAgent).sort()).toEqual(["email", "email-copy", "email-hero"]);
    expect(byAgent.email.runId).toBe(generated.runId);
    expect(byAgent["email-copy"].parentRunId).toBe(generated.runId);
    expect(byAgent["email-hero"].parentRunId).toBe(generated.runId);
    for (const start of starts) {
      const end = events.find((e) => e.type === "run.end" && e.runId === start.runId);
      expect({ agent: start.agent, status: end?.status }).toEqual({ agent: start.agent, status: "completed" });
    }
    // The orchestrator ends after both children.
    const index = (test: (e: any) => boolean) => events.findIndex(test);
    const parentEnd = index((e) => e.type === "run.end" && e.runId === generated.runId);
    expect(parentEnd).toBeGreaterThan(index((e) => e.type === "run.end" && e.runId === byAgent["email-copy"].runId));
    expect(parentEnd).toBeGreaterThan(index((e) => e.type === "run.end" && e.runId === byAgent["email-hero"].runId));

    const copyRun = byAgent["email-copy"].runId;
    const sectionProgress = events.filter((e) => e.type === "run.progress" && e.runId === copyRun && /section/.test(e.label));
    expect(sectionProgress.map((e) => e.label)).toEqual(DEFAULT_FORMULA.map((s) => `Wrote the ${s.type} section`));
    expect(sectionProgress.map((e) => e.progress)).toEqual(DEFAULT_FORMULA.map((_, i) => (i + 1) / DEFAULT_FORMULA.length));
    const artifacts = events.filter((e) => e.type === "artifact" && e.runId === copyRun && e.kind === "section");
    expect(artifacts.map((e) => e.data.type)).toEqual(DEFAULT_FORMULA.map((s) => s.type));
    expect(events.find((e) => e.type === "artifact" && e.kind === "image" && e.runId === byAgent["email-hero"].runId)).toBeDefined();
    expect(events.find((e) => e.type === "artifact" && e.kind === "email" && e.runId === generated.runId)?.data).toEqual({ version: 1 });
    const last = events.filter((e) => e.type === "run.progress" && e.runId === generated.runId).at(-1);
    expect(last).toMatchObject({ label: "Ready", progress: 1 });
  });

  test("the hero image is a real on-brand PNG served publicly from /assets/:id, immutable", async () => {
    const url: string = section(email, "hero").fields.imageUrl;
    expect(url).toMatch(new RegExp(`^${PUBLIC_URL}/assets/ast_`));
    const res = await fetch(localAsset(url));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect(res.headers.get("cache-control")).toContain("max-age=31536000");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const etag = res.headers.get("etag")!;
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const meta = await sharp(bytes).metadata();
    expect(meta.format).toBe("png");
    expect(meta.width).toBeGreaterThanOrEqual(600);
    // Not a grey box: several colours, with the brand's primary among the dominant ones.
    const stats = await sharp(bytes).stats();
    expect(stats.isOpaque).toBe(true);
    expect(Math.max(...stats.channels.slice(0, 3).map((c) => c.stdev))).toBeGreaterThan(10);
    expect((await fetch(localAsset(url), { headers: { "if-none-match": etag } })).status).toBe(304);
    // Listed among the team's assets, as a hero.
    const heroes = (await api("GET", "/api/assets?kind=hero")).body.assets;
    expect(heroes.map((a: any) => a.url)).toContain(url);
    // An unknown asset id is a 404, not an error page.
    expect((await fetch(`${server.url}/assets/ast_doesnotexist`)).status).toBe(404);
  });

  test("every check is computed; no MJML errors; the default brand passes the legal and contrast checks", () => {
    expect(Array.isArray(email.checks)).toBe(true);
    expect(email.checks.length).toBeGreaterThan(0);
    const ids = email.checks.map((c: any) => c.id);
    expect(ids.filter((id: string) => id.startsWith("mjml:"))).toEqual([]);
    expect(ids).toContain("html-size");
    for (const missing of ["footer-missing", "contrast-text", "contrast-button", "preheader-missing", "cta-missing"]) expect(ids).not.toContain(missing);
    expect(ids.some((id: string) => id.startsWith("unsubscribe-"))).toBe(false);
    for (const check of email.checks) {
      expect(["error", "warning", "info"]).toContain(check.level);
      expect(check.message.length).toBeGreaterThan(10);
    }
  });

  test("exports: HTML (sandboxed), MJML, plain text and a zip whose HTML points at images/…", async () => {
    const get = (format: string) => fetch(`${server.url}/api/emails/${email.id}/${format}`, { headers: { authorization: `Bearer ${token}` } });
    const html = await get("html");
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(html.headers.get("content-security-policy")).toContain("sandbox");
    const htmlText = await html.text();
    expect(htmlText).toMatch(/^<!doctype html>/i);
    expect(htmlText).toContain('lang="en"');
    expect(htmlText).toContain('role="presentation"');
    expect(htmlText).not.toContain("<mj-");
    // The minified option: the same email, fewer bytes.
    const minified = await (await get("html?minify=1")).text();
    expect(minified).toMatch(/^<!doctype html>/i);
    expect(minified.length).toBeLessThan(htmlText.length);
    expect(minified).toContain('role="presentation"');

    const mjml = await get("mjml");
    expect(mjml.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const mjmlText = await mjml.text();
    expect(mjmlText).toMatch(/^<mjml lang="en"/);
    expect(mjmlText).toContain("<mj-preview>");

    const txt = await (await get("txt")).text();
    expect(txt).toContain(HOOK);
    expect(txt.replace(/\s+/g, " ")).toContain(`Shop the serum (${CTA_URL})`);
    expect(txt).toContain("Unsubscribe ({{unsubscribe}})");
    expect(txt).not.toMatch(/<[a-z]/i);

    const download = await get("html?download");
    // Downloads are named after the email (its subject until it has a name), slugged.
    const slug = slugFileName(email.document.subject);
    expect(slug).toMatch(/^[a-z0-9]+(-[a-z0-9]+)+$/);
    expect(download.headers.get("content-disposition")).toBe(`attachment; filename="${slug}.html"`);

    const zipRes = await get("export.zip");
    expect(zipRes.status).toBe(200);
    expect(zipRes.headers.get("content-type")).toBe("application/zip");
    const files = unzipSync(new Uint8Array(await zipRes.arrayBuffer()));
    const names = Object.keys(files).sort();
    expect(zipRes.headers.get("content-disposition")).toBe(`attachment; filename="${slug}.zip"`);
    expect(names.filter((n) => !n.startsWith("images/"))).toEqual([`${slug}.html`, `${slug}.mjml`, `${slug}.txt`]);
    // Image files are named after their asset ids, made safe (a random id may hold "--", kept as one "-").
    const heroAssetId = new URL(section(email, "hero").fields.imageUrl).pathname.split("/").pop()!;
    const heroId = safeFileName(heroAssetId);
    expect(names).toContain(`images/${heroId}.png`);
    expect(names).toContain(`images/${safeFileName(productImage)}.png`);
    const zipHtml = strFromU8(files[`${slug}.html`]!);
    expect(zipHtml).toContain(`src="images/${heroId}.png"`);
    expect(zipHtml).not.toContain(`${PUBLIC_URL}/assets/${heroAssetId}`);
    expect(strFromU8(files[`${slug}.mjml`]!)).toContain(`images/${heroId}.png`);
    expect(strFromU8(files[`${slug}.txt`]!)).toBe(txt);
    const heroBytes = new Uint8Array(await (await fetch(localAsset(section(email, "hero").fields.imageUrl))).arrayBuffer());
    expect(files[`images/${heroId}.png`]).toEqual(heroBytes);
  });

  test("a custom formula is followed exactly: reordered, with product grid, testimonial and divider", async () => {
    const formula = ["headline", { type: "hero", guidance: "big and bold" }, "product-grid", "divider", "testimonial", "benefits", "cta", "footer"];
    const customBrand = await brand({ formula });
    const { emailId } = await generate(await brief(customBrand));
    const custom = await settled(emailId);
    expect(custom.status).toBe("ready");
    expect(types(custom)).toEqual(["headline", "hero", "product-grid", "divider", "testimonial", "benefits", "cta", "footer"]);
    expect(section(custom, "product-grid").fields.products.map((p: any) => p.name)).toEqual(["Radiance C Serum", "Dew Drop Moisturiser"]);
    expect(section(custom, "headline").fields.text).toBe(HOOK);
    expect(custom.checks.map((c: any) => c.id)).not.toContain("formula-order");
    expect(custom.checks.filter((c: any) => c.id.startsWith("mjml:"))).toEqual([]);
    // Moving away from the brand's formula is pointed out (as information, not an error).
    const reordered = await api("PUT", `/api/emails/${emailId}/sections`, { sections: [...custom.document.sections].reverse().map((s: any) => ({ id: s.id, type: s.type })) });
    expect(reordered.body.checks.find((c: any) => c.id === "formula-order")).toMatchObject({ level: "info" });
  });

  test("checks report a low-contrast brand and a missing unsubscribe link", async () => {
    const weak = await brand({ colors: { primary: "#ffff66", background: "#ffffff", text: "#cccccc" }, footer: { address: "1 Main St, Springfield" } });
    const { emailId } = await generate(await brief(weak));
    const checked = await settled(emailId);
    const byId = Object.fromEntries(checked.checks.map((c: any) => [c.id, c]));
    expect(byId["contrast-text"]).toMatchObject({ level: "warning" });
    expect(byId["contrast-text"].message).toContain("WCAG AA");
    expect(byId["unsubscribe-missing:footer-1"]).toMatchObject({ level: "error", sectionId: "footer-1" });
    expect(byId["unsubscribe-missing:footer-1"].message).toContain("unsubscribe");
  });
});

describe("editing, versions and regeneration", () => {
  let email: any;
  let sessionId: string;

  beforeAll(async () => {
    const generated = await generate(await brief(await brand()));
    sessionId = generated.sessionId;
    email = await settled(generated.emailId);
    expect(email.version).toBe(1);
  });

  test("PATCH a section's fields makes version 2; invalid fields are a 400 with a readable message", async () => {
    const res = await api("PATCH", `/api/emails/${email.id}/sections/headline-1`, { fields: { text: "Brighter mornings start here" } });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(2);
    expect(section(res.body, "headline").fields.text).toBe("Brighter mornings start here");
    // The rest is unchanged.
    expect(section(res.body, "headline").fields.subtext).toBe(section(email, "headline").fields.subtext);
    expect(res.body.document.sections.filter((s: any) => s.type !== "headline")).toEqual(email.document.sections.filter((s: any) => s.type !== "headline"));
    const html = await (await fetch(`${server.url}/api/emails/${email.id}/html`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(html).toContain("Brighter mornings start here");

    const empty = await api("PATCH", `/api/emails/${email.id}/sections/cta-1`, { fields: { label: "   " } });
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe("invalid_section");
    expect(empty.body.error.message).toMatch(/fields\.label: must not be empty/);
    const unknown = await api("PATCH", `/api/emails/${email.id}/sections/cta-1`, { fields: { colour: "red" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain("colour");
    const tooLong = await api("PATCH", `/api/emails/${email.id}/sections/headline-1`, { fields: { text: "x".repeat(500) } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain("at most 200 characters");
    const wrongType = await api("PATCH", `/api/emails/${email.id}/sections/benefits-1`, { fields: { items: "lots" } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toContain("fields.items");
    expect((await api("PATCH", `/api/emails/${email.id}/sections/nope`, { fields: {} })).status).toBe(404);
    expect((await api("PATCH", `/api/emails/${email.id}/sections/headline-1`, { text: "no fields wrapper" })).status).toBe(400);
    // None of the refused edits made a version.
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(2);
  });

  test("PUT sections reorders, deletes and adds (new sections start from a draft); each is a version", async () => {
    const current = (await api("GET", `/api/emails/${email.id}`)).body;
    const byType = (t: string) => current.document.sections.find((s: any) => s.type === t);
    const list = [
      { id: byType("headline").id, type: "headline" },
      { id: byType("hero").id, type: "hero" },
      { id: "divider-9", type: "divider" },
      { id: "testimonial-9", type: "testimonial" },
      { id: "text-9", type: "text", fields: { text: "A word from our founder." } },
      { id: byType("cta").id, type: "cta" },
      { id: byType("footer").id, type: "footer" },
    ];
    const res = await api("PUT", `/api/emails/${email.id}/sections`, { sections: list });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(current.version + 1);
    expect(types(res.body)).toEqual(["headline", "hero", "divider", "testimonial", "text", "cta", "footer"]);
    expect(section(res.body, "headline")).toEqual(byType("headline"));
    expect(section(res.body, "text").fields.text).toBe("A word from our founder.");
    expect(section(res.body, "testimonial").fields.quote.length).toBeGreaterThan(0);

    const duplicate = await api("PUT", `/api/emails/${email.id}/sections`, { sections: [{ id: "a", type: "divider" }, { id: "a", type: "divider" }] });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.message).toContain("duplicates");
    const badType = await api("PUT", `/api/emails/${email.id}/sections`, { sections: [{ id: "a", type: "marquee" }] });
    expect(badType.status).toBe(400);
    const badId = await api("PUT", `/api/emails/${email.id}/sections`, { sections: [{ id: "<b>", type: "divider" }] });
    expect(badId.status).toBe(400);
    expect(badId.body.error.message).toContain("letters, digits");
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(res.body.version);
  });

  test("regenerating a section (offline) streams a message into the session and makes a new version", async () => {
    const before = (await api("GET", `/api/emails/${email.id}`)).body;
    const res = await api("POST", `/api/emails/${email.id}/sections/headline-1/regenerate`, { instruction: "Make it longer" });
    expect(res.status).toBe(202);
    expect(res.body.sessionId).toBe(sessionId);
    const runId = res.body.runId;
    const end = await waitForEvent(sessionId, (e) => e.type === "run.end" && e.runId === runId);
    expect(end.status).toBe("completed");
    const events = (await sessionEvents(sessionId)).filter((e) => e.runId === runId);
    expect(events[0]).toMatchObject({ type: "run.start", agent: "email-section" });
    const start = events.find((e) => e.type === "message.start");
    expect(start).toMatchObject({ role: "assistant", agent: "email-section" });
    const text = events.filter((e) => e.type === "message.delta").map((e) => e.text).join("");
    expect(events.find((e) => e.type === "message.end")).toMatchObject({ id: start.id, status: "complete" });
    const after = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(after.version).toBe(before.version + 1);
    // Offline, "longer" adds a sentence in the brief's tone; the instruction never becomes copy.
    expect(section(after, "headline").fields.subtext.length).toBeGreaterThan(section(before, "headline").fields.subtext.length);
    expect(JSON.stringify(section(after, "headline").fields)).not.toContain("Make it longer");
    expect(JSON.parse(text)).toEqual(section(after, "headline").fields);
    // The other sections were left alone.
    expect(after.document.sections.filter((s: any) => s.type !== "headline")).toEqual(before.document.sections.filter((s: any) => s.type !== "headline"));
    const messages = (await api("GET", `/api/sessions/${sessionId}/messages`)).body.messages;
    expect(messages.at(-1)).toMatchObject({ role: "assistant", status: "complete", runId, text });

    expect((await api("POST", `/api/emails/${email.id}/sections/headline-1/regenerate`, { instruction: "  " })).status).toBe(400);
    expect((await api("POST", `/api/emails/${email.id}/sections/nope/regenerate`, { instruction: "x" })).status).toBe(404);
  });

  test("restore makes an old version's document current again: one history entry, a new version number", async () => {
    const latest = (await api("GET", `/api/emails/${email.id}`)).body;
    const list = (await api("GET", `/api/emails/${email.id}/versions`)).body.versions;
    expect(list.map((v: any) => v.version)).toEqual(Array.from({ length: latest.version }, (_, i) => latest.version - i));
    expect(list.at(-1)).toMatchObject({ version: 1, note: "Generated", kind: "generated", author: "AI" });
    expect(list.find((v: any) => v.version === 2).note).toBe("Edited headline in Headline");

    const restored = await api("POST", `/api/emails/${email.id}/versions/1/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body.version).toBe(latest.version + 1);
    expect(restored.body.document).toEqual(email.document);
    const back = await api("POST", `/api/emails/${email.id}/versions/${latest.version}/restore`);
    expect(back.body.version).toBe(latest.version + 2);
    expect(back.body.document).toEqual(latest.document);
    expect((await api("GET", `/api/emails/${email.id}/versions`)).body.versions[0]).toMatchObject({ note: `Restored version ${latest.version}`, kind: "restore", current: true });
    expect((await api("POST", `/api/emails/${email.id}/versions/999/restore`)).status).toBe(404);
    expect((await api("POST", `/api/emails/${email.id}/versions/0/restore`)).status).toBe(400);
  });
});

describe("stopping a generation", () => {
  test("cancel on the orchestrator run cancels its children; the email keeps what was written (ready, partial)", async () => {
    const generated = await generate(await brief(await brand()), { provider: "offline", options: { sectionDelayMs: 400 } });
    const copyStart = await waitForEvent(generated.sessionId, (e) => e.type === "run.start" && e.agent === "email-copy");
    await waitForEvent(generated.sessionId, (e) => e.type === "artifact" && e.kind === "section" && e.runId === copyStart.runId);
    expect((await api("GET", `/api/emails/${generated.emailId}`)).body.status).toBe("generating");
    const control = await api("POST", `/api/sessions/${generated.sessionId}/control`, { action: "cancel", runId: generated.runId });
    expect(control.status).toBe(202);
    const parentEnd = await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === generated.runId);
    expect(parentEnd.status).toBe("cancelled");
    const copyEnd = await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === copyStart.runId);
    expect(copyEnd.status).toBe("cancelled");
    // The hero is quick offline: it may have finished before the cancel; if not, it was cancelled too.
    const heroStart = (await sessionEvents(generated.sessionId)).find((e) => e.type === "run.start" && e.agent === "email-hero");
    const heroEnd = await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === heroStart.runId);
    expect(["completed", "cancelled"]).toContain(heroEnd.status);

    const email = await settled(generated.emailId);
    expect(email.status).toBe("ready");
    expect(email.version).toBe(1);
    const written = types(email);
    expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(DEFAULT_FORMULA.length);
    expect(written).toEqual(DEFAULT_FORMULA.slice(0, written.length).map((s) => s.type));
    expect((await api("GET", `/api/emails/${generated.emailId}/versions`)).body.versions[0].note).toBe("Stopped before the end");
    const runs = (await api("GET", `/api/sessions/${generated.sessionId}`)).body.runs;
    expect(runs.find((r: any) => r.runId === generated.runId).status).toBe("cancelled");
    // No section is written after the stop.
    await Bun.sleep(600);
    expect(types(await settled(generated.emailId))).toEqual(written);
  });

  test("cancel before anything was written: the email ends failed with a readable error", async () => {
    const generated = await generate(await brief(await brand()), { provider: "offline", options: { sectionDelayMs: 400 } });
    // Sent at once: the orchestrator sees the cancel before (or as) it starts.
    await api("POST", `/api/sessions/${generated.sessionId}/control`, { action: "cancel", runId: generated.runId });
    const end = await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === generated.runId);
    expect(end.status).toBe("cancelled");
    const email = await settled(generated.emailId, 5_000);
    if (email.document.sections.length === 0) {
      expect(email).toMatchObject({ status: "failed", error: "Generation was stopped." });
    } else {
      expect(email.status).toBe("ready");
    }
  });
});

describe("with Claude and OpenAI (local wire-format servers)", () => {
  test("copy via Anthropic structured output with the screenshots as image blocks, hero via gpt-image-1", async () => {
    const refs: Array<{ id: string; bytes: Uint8Array; type: string }> = [];
    for (const [i, format] of (["png", "jpeg", "png", "png"] as const).entries()) {
      const bytes = await image(240, 360, { r: 40 * i, g: 100, b: 200 - 30 * i }, format);
      const res = await upload(bytes, `ref-${i}.${format}`, "reference");
      refs.push({ id: res.body.id, bytes, type: res.body.contentType });
    }
    const formula = ["hero", "headline", "product-grid", "testimonial", "cta", "footer"];
    const brandId = await brand({ name: "Claude Co", formula });
    const briefId = await brief(brandId, { referenceAssetIds: refs.map((r) => r.id), hook: "Sunlight in a bottle" });
    const before = fakes.requests.length;
    const generated = await generate(briefId, { provider: "anthropic" });
    const email = await settled(generated.emailId);
    expect(email.error).toBeNull();
    expect(email.status).toBe("ready");
    expect(email.offlineDraft).toBe(false);
    expect(types(email)).toEqual(formula);
    expect(section(email, "headline").fields.text).toBe("Sunlight in a bottle");
    expect(section(email, "cta").fields.url).toBe(CTA_URL);
    expect(section(email, "footer").fields.address).toBe("12 Market Street, Portland, OR 97201");

    const requests = fakes.requests.slice(before);
    const claude = requests.find((r) => r.provider === "anthropic" && r.body.output_config)!;
    expect(claude).toBeDefined();
    expect(claude.headers["x-api-key"] ?? claude.headers.authorization).toContain("sk-ant-test");
    expect(claude.body.stream).toBe(true);
    expect(claude.body.output_config.format.type).toBe("json_schema");
    expect(claude.body.output_config.format.schema.properties.sections).toBeDefined();
    expect(claude.body.system).toContain(`for the brand "Claude Co"`);
    expect(claude.body.system).toContain("1. hero");
    expect(claude.body.system).toContain("4. testimonial");
    const content = claude.body.messages[0].content;
    expect(content[0].type).toBe("text");
    expect(content[0].text).toContain("Headline hook: Sunlight in a bottle");
    const images = content.filter((b: any) => b.type === "image");
    // The brief's four screenshots are sent, in its order, as base64 image blocks.
    expect(images).toHaveLength(4);
    images.forEach((block: any, i: number) => {
      expect(block.source).toEqual({ type: "base64", media_type: refs[i]!.type, data: Buffer.from(refs[i]!.bytes).toString("base64") });
    });
    expect(images[1].source.media_type).toBe("image/jpeg");

    const dalle = requests.find((r) => r.provider === "openai" && r.path === "/v1/images/generations")!;
    expect(dalle.body.model).toBe("gpt-image-1");
    expect(dalle.body.prompt).toContain("Radiance C Serum");
    expect(dalle.body.prompt).toContain("Claude Co");
    const heroUrl: string = section(email, "hero").fields.imageUrl;
    const hero = await fetch(localAsset(heroUrl));
    expect(hero.headers.get("content-type")).toBe("image/png");
    expect((await sharp(new Uint8Array(await hero.arrayBuffer())).metadata()).format).toBe("png");

    // Progress is reported per section as the JSON streams in.
    const events = await sessionEvents(generated.sessionId);
    const copyRun = events.find((e) => e.type === "run.start" && e.agent === "email-copy").runId;
    const labels = events.filter((e) => e.type === "run.progress" && e.runId === copyRun).map((e) => e.label);
    expect(labels).toContain(`Writing section ${formula.length} of ${formula.length}`);
    expect(labels.filter((l) => l.startsWith("Writing section")).length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.type === "artifact" && e.kind === "section" && e.runId === copyRun).map((e) => e.data.type)).toEqual(formula);

    // Regenerating a section with Claude: the structured answer streams into the session.
    const regen = await api("POST", `/api/emails/${email.id}/sections/${section(email, "headline").id}/regenerate`, { instruction: "Bottled sunshine for grey mornings" });
    expect(regen.status).toBe(202);
    expect((await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === regen.body.runId)).status).toBe("completed");
    const after = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(section(after, "headline").fields.text).toBe("Bottled sunshine for grey mornings");
    expect(section(after, "headline").id).toBe(section(email, "headline").id);
    expect(after.version).toBe(2);
  });

  test("a provider failure ends the email as failed with a readable error", async () => {
    const generated = await generate(await brief(await brand(), { hook: "This one breaks [fail:401]" }), { provider: "anthropic" });
    const email = await settled(generated.emailId);
    expect(email.status).toBe("failed");
    expect(email.error).toBe("Anthropic rejected the API key (401): invalid x-api-key");
    const end = await waitForEvent(generated.sessionId, (e) => e.type === "run.end" && e.runId === generated.runId);
    expect(end).toMatchObject({ status: "failed", error: email.error });
  });

  test("a stream cut mid-answer fails the email too", async () => {
    const generated = await generate(await brief(await brand(), { hook: "Cut me off [fail:cut]" }), { provider: "anthropic" });
    const email = await settled(generated.emailId);
    expect(email.status).toBe("failed");
    expect(email.error).toMatch(/Anthropic stream ended unexpectedly/);
  });

  test("a provider without its key: the email ends failed with the reason, not stuck generating", async () => {
    const plain = await startServer();
    servers.push(plain);
    const plainToken = await newTeam(plain, "nokeys");
    const b = await call(plain, plainToken, "POST", "/api/brands", { name: "Keyless", colors: { primary: "#123456" } });
    const r = await call(plain, plainToken, "POST", "/api/briefs", { brandId: b.body.id, objective: "Launch", audience: "Everyone", tone: "calm", hook: "Hello", referenceAssetIds: await referenceAssets(plain.url, plainToken) });
    const started = await call(plain, plainToken, "POST", `/api/briefs/${r.body.id}/generate`, { provider: "anthropic" });
    expect(started.status).toBe(202);
    const email = await settled(started.body.emailId, 15_000, plainToken, plain);
    expect(email).toMatchObject({ status: "failed", error: "The anthropic provider needs ANTHROPIC_API_KEY." });
  }, 60_000);
});

describe("the brief", () => {
  test("takes product photos, an offer, an occasion and a send date, and gives them back", async () => {
    const brandId = await brand();
    const photo = await upload(await image(300, 300, { r: 230, g: 120, b: 90 }), "balm.png", "product");
    const body = { products: [{ name: "Lip Balm", description: "Shea butter and rose oil.", imageAssetId: photo.body.id }], offer: { text: "20% off your first order", code: "GLOW20" }, occasion: "Mother's Day", sendDate: "2026-05-10" };
    const created = await brief(brandId, body);
    const read = await api("GET", `/api/briefs/${created}`);
    expect(read.body).toMatchObject({ ...body, referenceAssetIds: await references() });
  });

  test("needs 3–4 reference screenshots and a valid offer, send date and product photo; a rejected brief stores nothing", async () => {
    const brandId = await brand();
    const refs = await references();
    const extra = await referenceAssets(server.url, token, 2);
    const photo = await upload(await image(300, 300, { r: 30, g: 120, b: 90 }), "p.png", "product");
    const otherTeam = await newTeam(server, "brief-other");
    const foreignPhoto = await upload(await image(300, 300, { r: 30, g: 20, b: 90 }), "f.png", "product", otherTeam);
    const sql = (await import("postgres")).default(server.databaseUrl!, { max: 1 });
    const count = async () => Number((await sql`select count(*)::int as n from briefs`)[0]!.n);
    const before = await count();
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ referenceAssetIds: undefined }, 400, /referenceAssetIds: .*add 3 or 4 reference email screenshots/],
      [{ referenceAssetIds: [] }, 400, /add 3 or 4 reference email screenshots/],
      [{ referenceAssetIds: refs.slice(0, 2) }, 400, /add 3 or 4 reference email screenshots/],
      [{ referenceAssetIds: [...refs, ...extra] }, 400, /add 3 or 4 reference email screenshots/],
      [{ referenceAssetIds: [refs[0], refs[0], refs[1]] }, 400, /each reference screenshot only once/],
      [{ offer: { code: "GLOW20" } }, 400, /offer\.text/],
      [{ offer: { text: "20% off", code: "GLOW 20; drop" } }, 400, /discount code of letters/],
      [{ sendDate: "next tuesday" }, 400, /sendDate: a date such as 2026-05-10/],
      [{ products: [{ name: "P", imageAssetId: "not-an-asset" }] }, 400, /asset id/],
      [{ products: [{ name: "P", imageAssetId: foreignPhoto.body.id }] }, 400, /./],
    ];
    for (const [overrides, status, message] of cases) {
      const res = await api("POST", "/api/briefs", { brandId, objective: "o", audience: "a", tone: "t", hook: "h", referenceAssetIds: refs, ...overrides });
      expect({ overrides, status: res.status }).toEqual({ overrides, status });
      expect(res.body.error.message).toMatch(message);
    }
    expect(await count()).toBe(before);
    expect((await api("POST", "/api/briefs", { brandId, objective: "o", audience: "a", tone: "t", hook: "h", referenceAssetIds: [...refs, extra[0]], products: [{ name: "P", imageAssetId: photo.body.id }] })).status).toBe(201);
    expect(await count()).toBe(before + 1);
    await sql.end();
  });

  test("/openapi.json documents the offer, the occasion, the send date, product photos and 3–4 references", async () => {
    const spec = (await api("GET", "/openapi.json")).body;
    const op = spec.paths["/api/briefs"].post.requestBody.content["application/json"].schema;
    const schema = op.$ref ? spec.components.schemas[op.$ref.split("/").pop()] : op;
    expect(schema.required).toContain("referenceAssetIds");
    expect(schema.properties.referenceAssetIds).toMatchObject({ minItems: 3, maxItems: 4 });
    expect(schema.properties.offer.properties).toHaveProperty("code");
    expect(schema.properties.sendDate).toMatchObject({ format: "date" });
    expect(schema.properties.occasion).toBeDefined();
    expect(schema.properties.products.items.properties.imageAssetId.description).toContain("product photo");
  });
});

describe("hostile brand and brief strings", () => {
  const SCRIPT = "<script>alert(1)</script>";
  const BREAKOUT = `"><img src=x onerror=alert(1)>`;

  test("javascript: URLs are refused at the door for brand and brief links", async () => {
    const bad = await api("POST", "/api/brands", { name: "X", colors: { primary: "#000000" }, footer: { address: "x", unsubscribeUrl: "javascript:alert(1)" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("unsubscribeUrl");
    const brandId = await brand();
    for (const overrides of [{ cta: { label: "Go", url: "javascript:alert(1)" } }, { products: [{ name: "P", url: "javascript:alert(1)" }] }, { products: [{ name: "P", url: "JaVaScRiPt:alert(1)" }] }]) {
      const res = await api("POST", "/api/briefs", { brandId, objective: "o", audience: "a", tone: "t", hook: "h", referenceAssetIds: await references(), ...overrides });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain("http(s) URL");
    }
    expect((await api("POST", "/api/brands", { name: "X", colors: { primary: "red; background:url(javascript:alert(1))" } })).status).toBe(400);
  });

  test("script and attribute breakouts in every text field come out escaped in the HTML and MJML", async () => {
    const hostile = `${SCRIPT} ${BREAKOUT}`;
    const brandId = await brand({
      name: `Evil ${SCRIPT}`,
      voice: hostile,
      fonts: { heading: `Arial${BREAKOUT}`.slice(0, 60), body: `x</style>${SCRIPT}`.slice(0, 60) },
      footer: { address: `1 Evil Way ${hostile}`, unsubscribeUrl: `https://x.example/u?a="><script>alert(1)</script>` },
      formula: ["hero", "headline", "ingredient", "benefits", "product-grid", "testimonial", "text", "cta", "footer"].map((type) => ({ type, guidance: hostile })),
    });
    const briefId = await brief(brandId, {
      objective: `Launch ${hostile}`,
      audience: `People ${hostile}`,
      tone: `warm ${hostile}`,
      hook: `Hook ${hostile}`,
      products: [
        { name: `Serum ${SCRIPT}`, description: `Great. ${BREAKOUT}`, url: `https://x.example/p?q="><script>alert(1)</script>` },
        { name: `Cream ${BREAKOUT}`, description: hostile },
      ],
      cta: { label: `Buy ${SCRIPT}`.slice(0, 80), url: `https://x.example/"onmouseover="alert(1)` },
    });
    const { emailId } = await generate(briefId);
    const email = await settled(emailId);
    expect(email.status).toBe("ready");
    // Patch in the URLs the API does accept inside a document, and check they are neutralised.
    await api("PATCH", `/api/emails/${emailId}/sections/cta-1`, { fields: { url: "javascript:alert(1)" } });
    const patched = await api("PATCH", `/api/emails/${emailId}/sections/hero-1`, { fields: { imageUrl: "javascript:alert(1)", imageAlt: hostile } });
    expect(patched.body.checks.map((c: any) => c.id)).toContain("cta-url-invalid:cta-1");
    const get = async (format: string) => (await fetch(`${server.url}/api/emails/${emailId}/${format}`, { headers: { authorization: `Bearer ${token}` } })).text();
    const html = await get("html");
    const mjml = await get("mjml");
    for (const [name, out] of [["html", html], ["mjml", mjml]] as const) {
      expect({ name, script: out.includes("<script") }).toEqual({ name, script: false });
      expect({ name, img: out.includes("<img src=x") }).toEqual({ name, img: false });
      expect({ name, onerror: /<[^>]*\sonerror=/i.test(out) }).toEqual({ name, onerror: false });
      expect({ name, onmouseover: /<[^>]*\sonmouseover=/i.test(out) }).toEqual({ name, onmouseover: false });
      expect({ name, js: /javascript:/i.test(out) }).toEqual({ name, js: false });
      expect(out).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    expect(html).toContain("Hook &lt;script&gt;");
    // Every attribute value is well formed: no quote broke out of an href or src.
    for (const match of html.matchAll(/\s(href|src)="([^"]*)"/g)) expect(match[2]).not.toMatch(/[<>]/);
    const files = unzipSync(new Uint8Array(await (await fetch(`${server.url}/api/emails/${emailId}/export.zip`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer()));
    const zipped = Object.keys(files).filter((n) => n.endsWith(".html"));
    expect(zipped).toHaveLength(1);
    expect(zipped[0]).toMatch(/^[a-z0-9-]+\.html$/);
    expect(strFromU8(files[zipped[0]!]!)).not.toContain("<script");
  }, 30_000);
});
