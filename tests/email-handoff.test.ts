import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import sharp from "sharp";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { unzipSync, strFromU8 } from "fflate";
import { chromium, type Browser } from "playwright-core";
import { ROOT, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { startSmtp, type TestSmtp } from "./support/smtp";
import { escapeHtml } from "../src/email/safety";
import { contrastRatio } from "../src/email/theme";
import { darkImageContrast } from "../src/email/dark-mode";
import { DIALECTS, PLATFORMS, findMergeTags, platformTag, MERGE_TAGS } from "../src/email/merge-tags";
import { referenceAssets } from "./support/references";

/**
 * Hand-off: test sends through a real SMTP server (smtp-server in this process, messages parsed by
 * mailparser), the self-contained zip opened from disk in Chromium with the network off, and
 * platform exports with each platform's merge tags.
 */

const OUT = join(ROOT, "test-output/handoff");
const MAIL_FROM = "Studio Tests <studio@example.test>";
const smtpAuth = { user: "studio", password: "s3cret-pass" };
let smtp: TestSmtp;
let server: TestServer;
let token: string;
let browser: Browser | undefined;

beforeAll(async () => {
  smtp = await startSmtp(smtpAuth);
  // No PUBLIC_URL: images must travel inside the message as CID parts.
  server = await startServer({ env: { SMTP_URL: smtp.url, MAIL_FROM, PUBLIC_URL: undefined, IMPORT_ALLOW_PRIVATE: "on" } });
  token = await newTeam("handoff");
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.close().catch(() => {});
});

const PASSWORD = "correct horse battery";
/** Owner email of each team made here, by API token (to sign in as that person in the browser). */
const owners = new Map<string, string>();

async function newTeam(name: string): Promise<string> {
  const email = `${name}-${crypto.randomUUID()}@example.com`;
  const res = await call(TEST_API_TOKEN, "POST", "/api/teams", { name, owner: { name, email, password: PASSWORD } });
  expect(res.status).toBe(201);
  owners.set(res.body.apiToken, email);
  return res.body.apiToken;
}

async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  return browser;
}

async function call(auth: string, method: string, path: string, body?: unknown) {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
const api = (method: string, path: string, body?: unknown, auth = token) => call(auth, method, path, body);

async function sessionEvents(sessionId: string, auth = token): Promise<any[]> {
  const events: any[] = [];
  let offset = "-1";
  for (;;) {
    const res = await api("GET", `/api/sessions/${sessionId}/events?offset=${offset}&limit=1000`, undefined, auth);
    expect(res.status).toBe(200);
    events.push(...res.body.events.map((e: any) => e.event));
    if (res.body.upToDate) return events;
    offset = res.body.nextOffset;
  }
}

/** A dark logo on a transparent background (what disappears on dark mode). */
async function logoPng(): Promise<Uint8Array> {
  const mark = await sharp({ create: { width: 80, height: 20, channels: 4, background: { r: 20, g: 20, b: 20, alpha: 1 } } }).png().toBuffer();
  return new Uint8Array(await sharp({ create: { width: 120, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).composite([{ input: mark, top: 10, left: 20 }]).png().toBuffer());
}

/** A ready email of a new brand (with a logo) in the team of `auth`, with merge tags in its headline. */
async function readyEmail(auth = token, brandExtra: Record<string, unknown> = {}): Promise<any> {
  const form = new FormData();
  form.append("file", new File([(await logoPng()) as BlobPart], "logo.png"));
  form.append("kind", "logo");
  const logo = await (await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${auth}` }, body: form })).json();
  const brand = await api("POST", "/api/brands", { name: "Glow & Co", colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" }, logoAssetId: logo.id, footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "{{unsubscribe_url}}" }, ...brandExtra }, auth);
  expect(brand.status).toBe(201);
  const brief = await api("POST", "/api/briefs", { brandId: brand.body.id, objective: "Launch the serum", audience: "Tired skin", tone: "warm", hook: "Wake up to brighter skin", cta: { label: "Shop now", url: "https://glow.example/serum" }, referenceAssetIds: await referenceAssets(server.url, auth) }, auth);
  expect(brief.status).toBe(201);
  const started = await api("POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } }, auth);
  expect(started.status).toBe(202);
  const deadline = Date.now() + 30_000;
  let email: any;
  for (;;) {
    email = (await api("GET", `/api/emails/${started.body.emailId}`, undefined, auth)).body;
    if (email.status !== "generating") break;
    if (Date.now() > deadline) throw new Error("still generating");
    await Bun.sleep(50);
  }
  expect(email.status).toBe("ready");
  const headline = email.document.sections.find((s: any) => s.type === "headline");
  const edited = await api("PATCH", `/api/emails/${email.id}/sections/${headline.id}`, { fields: { text: "Hi {{first_name|there}}, your glow is here", subtext: "Sent to {{email}}. {{address}}" } }, auth);
  expect(edited.status).toBe(200);
  return edited.body;
}

// ---------------------------------------------------------------------------------------------

/** A browser page signed in as the owner of the team of `auth`. */
async function signedIn(auth = token, options: Parameters<Browser["newContext"]>[0] = {}) {
  const context = await (await launch()).newContext({ viewport: { width: 1360, height: 900 }, ...options });
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  await page.fill("input[name=email]", owners.get(auth)!);
  await page.fill("input[name=password]", PASSWORD);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click("button[type=submit]")]);
  return { context, page };
}

describe("in the editor (Chromium)", () => {
  test("the merge-tag picker inserts tags shown as chips; Send a test shows what the SMTP server answered", async () => {
    const email = await readyEmail();
    const context = await (await launch()).newContext({ viewport: { width: 1360, height: 900 } });
    const problems: string[] = [];
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(error.message));
    // The bad address is refused with a 400 on purpose; Chromium logs that.
    page.on("console", (message) => message.type() === "error" && !/status of 400/.test(message.text()) && problems.push(message.text()));
    await page.goto(`${server.url}/login`);
    await page.fill("input[name=email]", owners.get(token)!);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click("button[type=submit]")]);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    await page.goto(`${server.url}/emails/${email.id}?edit=${headline.id}#section-${headline.id}`);
    const field = page.locator(`#section-${headline.id} .section-form input[type=text]`).first();
    await field.waitFor();
    const chips = field.locator("xpath=following-sibling::div[contains(@class,'merge-chips')][1]/span");
    // The field already holds tags: they show as chips.
    expect(await chips.allTextContents()).toEqual(["{{first_name|there}}"]);
    await field.fill("Hello ");
    await field.press("End");
    expect(await chips.count()).toBe(0);
    await page.click("#merge-tag-picker button[data-tag='{{first_name|there}}']");
    expect(await field.inputValue()).toBe("Hello {{first_name|there}}");
    expect(await chips.allTextContents()).toEqual(["{{first_name|there}}"]);
    await page.click(`#section-${headline.id} .section-form button[type=submit]`);
    await page.waitForFunction((v) => document.getElementById("editor")?.dataset.version !== String(v), email.version);
    const saved = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(saved.document.sections.find((s: any) => s.id === headline.id).fields.text).toBe("Hello {{first_name|there}}");

    const before = smtp.received.length;
    await page.click("#test-send-menu summary");
    await page.fill("#test-send-to", "me@example.test, nobody@example.test");
    await page.click("#test-send-button");
    await page.locator("#test-send-result .test-send-results li").nth(1).waitFor();
    const rows = await page.locator("#test-send-result .test-send-results li").allTextContents();
    expect(rows[0]).toContain("me@example.test");
    expect(rows[0]).toContain("accepted");
    expect(rows[0]).toContain("queued as TEST");
    expect(rows[1]).toContain("nobody@example.test");
    expect(rows[1]).toContain("refused");
    expect(rows[1]).toContain("no such user");
    expect(smtp.received.length).toBe(before + 1);
    expect(smtp.received.at(-1)!.parsed.text).toContain("Hello Alex");
    // A bad address: the API's message is shown, nothing is sent.
    await page.fill("#test-send-to", "not-an-address");
    await page.click("#test-send-button");
    expect(await page.locator("#test-send-result .test-send-error").textContent()).toBe('"not-an-address" is not an email address');
    expect(smtp.received.length).toBe(before + 1);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, "editor-test-send.png"), caret: "initial" });
    console.log(`screenshot: ${join(OUT, "editor-test-send.png")}`);
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});

describe("dark mode", () => {
  test("the HTML carries color-scheme meta, prefers-color-scheme and [data-ogsc] styles in the brand's dark palette; the dark preview renders", async () => {
    const email = await readyEmail(token, { darkColors: { background: "#102018", heading: "#9be0b8" } });
    const html = await (await fetch(`${server.url}/api/emails/${email.id}/html`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(html).toContain('<meta name="color-scheme" content="light dark"');
    expect(html).toContain('<meta name="supported-color-schemes" content="light dark"');
    expect(html).toMatch(/@media \(prefers-color-scheme: dark\) \{[^@]*background-color: #102018 !important/);
    expect(html).toMatch(/\[data-ogsb\] \.ds-surface[^{]*\{[^}]*#102018/);
    expect(html).toMatch(/\[data-ogsc\] \.ds-surface h1[^{]*\{ color: #9be0b8 !important; \}/);
    // Unset dark colours are proposed from the light palette (a light text on the dark surface).
    const text = /\.ds-surface a\.ds-link \{ color: (#[0-9a-f]{6}) !important; \}/.exec(html)?.[1];
    expect(text).toBeDefined();
    expect(contrastRatio(text!, "#102018")).toBeGreaterThanOrEqual(4.5);

    // In a dark-mode browser the email turns dark; in a light one it stays light.
    const background = async (colorScheme: "dark" | "light", path = `/api/emails/${email.id}/html`) => {
      const context = await (await launch()).newContext({ colorScheme, viewport: { width: 700, height: 900 }, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
      const page = await context.newPage();
      await page.goto(server.url + path);
      const color = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      if (colorScheme === "dark") {
        mkdirSync(OUT, { recursive: true });
        await page.screenshot({ path: join(OUT, "email-dark.png"), fullPage: true, caret: "initial" });
        console.log(`dark preview screenshot: ${join(OUT, "email-dark.png")}`);
      }
      await context.close();
      return color;
    };
    expect(await background("dark")).toBe("rgb(16, 32, 24)");
    expect(await background("light")).toBe("rgb(255, 250, 242)");
    // The forced dark preview (what the editor's Dark switch shows) is dark in a light browser too.
    expect(await background("light", `/api/emails/${email.id}/html?scheme=dark`)).toBe("rgb(16, 32, 24)");
  }, 60_000);

  test("a dark logo on a transparent background is flagged; an opaque image is not", async () => {
    const email = await readyEmail();
    const logo = email.checks.filter((c: any) => c.id.startsWith("dark-image:"));
    expect(logo).toHaveLength(1);
    expect(logo[0].level).toBe("warning");
    expect(logo[0].message).toContain("The logo");
    expect(logo[0].message).toContain("dark mode");
    const opaque = new Uint8Array(await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 20, g: 20, b: 20, alpha: 1 } } }).png().toBuffer());
    expect(await darkImageContrast(opaque, "#121212")).toBeUndefined();
    expect(await darkImageContrast(await logoPng(), "#121212")).toBeLessThan(2);
  });

  test("the editor previews light and dark; the choice stays across edits", async () => {
    const email = await readyEmail();
    const { context, page } = await signedIn();
    await page.goto(`${server.url}/emails/${email.id}`);
    expect(await page.locator("#email-frame").isVisible()).toBe(true);
    expect(await page.locator("#email-frame-dark").isVisible()).toBe(false);
    await page.click("label[for=scheme-dark]");
    expect(await page.locator("#email-frame").isVisible()).toBe(false);
    await page.locator("#email-frame-dark").waitFor({ state: "visible" });
    const frame = page.frameLocator("#email-frame-dark");
    // The dark frame loads lazily once shown: wait for its surface, and read it again if the frame was
    // still navigating (its execution context replaced) when first asked.
    const surface = frame.locator(".ds-surface").first();
    await surface.waitFor({ state: "attached" });
    let background = "";
    for (let attempt = 0; attempt < 20 && !background; attempt++) {
      background = await surface.evaluate((el) => getComputedStyle(el).backgroundColor).catch(() => "");
      if (!background) await Bun.sleep(100);
    }
    expect(background).not.toBe("");
    expect(background).not.toBe("rgb(255, 250, 242)");
    // An edit swaps the editor; the Dark choice stays.
    await page.evaluate(() => ((window as any).__sameDocument = true));
    await page.click("#undo");
    await page.waitForFunction((v) => document.getElementById("editor")?.dataset.version !== String(v), email.version);
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(await page.isChecked("#scheme-dark")).toBe(true);
    expect(await page.locator("#email-frame-dark").isVisible()).toBe(true);
    expect(await page.locator("#email-frame").isVisible()).toBe(false);
    await page.screenshot({ path: join(OUT, "editor-dark.png"), caret: "initial" });
    await context.close();
  }, 60_000);
});

describe("test sends through a real SMTP server", () => {
  let email: any;
  beforeAll(async () => {
    email = await readyEmail();
  }, 60_000);

  test("the message arrives multipart/alternative with subject, preheader, List-Unsubscribe, samples and CID images; the result is in the session", async () => {
    const before = smtp.received.length;
    const res = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test", "colleague@example.test"] });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { address: "me@example.test", status: "accepted", reply: expect.stringContaining("250") },
      { address: "colleague@example.test", status: "accepted", reply: expect.stringContaining("queued as TEST") },
    ]);
    const mails = smtp.received.slice(before);
    expect(mails.map((m) => m.envelopeTo)).toEqual([["me@example.test"], ["colleague@example.test"]]);
    const { raw, parsed } = mails[0]!;
    // The top-level part: HTML and plain text as alternatives.
    expect(raw).toMatch(/^Content-Type: multipart\/alternative;/im);
    expect(raw.split(/\r?\n\r?\n/)[0]).toMatch(/Content-Type: multipart\/alternative/i);
    expect(parsed.subject).toBe(`[Test] ${email.document.subject}`);
    expect(parsed.from?.text).toBe(MAIL_FROM.replace("Studio Tests", '"Studio Tests"'));
    expect(parsed.html).toBeTruthy();
    expect(parsed.text).toBeTruthy();
    expect(parsed.html as string).toContain(escapeHtml(email.document.preheader));
    // Merge tags filled with samples: a name, the recipient's own address, the footer's address.
    expect(parsed.text).toContain("Hi Alex, your glow is here");
    expect(parsed.text).toContain("Sent to me@example.test.");
    expect(parsed.text).toContain("12 Market Street");
    expect(mails[1]!.parsed.text).toContain("Sent to colleague@example.test.");
    expect(findMergeTags(parsed.html as string)).toEqual([]);
    // List-Unsubscribe (+ one-click) with the sample link, also used in the footer.
    const head = raw.split(/\r?\n\r?\n/)[0]!;
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/im);
    expect(head).toMatch(/^List-Unsubscribe: <https:\/\/example\.com\/unsubscribe\?test-send=1>$/im);
    expect((parsed.headers.get("list") as any)?.unsubscribe?.url).toBe("https://example.com/unsubscribe?test-send=1");
    expect(parsed.html as string).toContain('href="https://example.com/unsubscribe?test-send=1"');
    // Every image resolves: the sent HTML points each <img> at a cid: part of the message (mailparser
    // resolves those into data: URLs), and each part is a real image.
    const sentSrcs = [...raw.replace(/=\r?\n/g, "").replace(/=3D/g, "=").matchAll(/<img\b[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(sentSrcs.length).toBeGreaterThanOrEqual(2);
    for (const src of sentSrcs) expect(src).toMatch(/^cid:ast_[A-Za-z0-9_-]+@durable-studio$/);
    const srcs = [...(parsed.html as string).matchAll(/<img\b[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBe(sentSrcs.length);
    for (const src of srcs) {
      expect(src).toMatch(/^data:image\/png;base64,/);
      const meta = await sharp(Buffer.from(src.split(",")[1]!, "base64")).metadata();
      expect(meta.width).toBeGreaterThan(0);
    }
    // The result is kept in the email's session.
    const events = await sessionEvents(email.sessionId);
    const sent = events.filter((e) => e.type === "artifact" && e.kind === "email.test-send");
    expect(sent.at(-1)).toMatchObject({ ref: email.id, data: { version: email.version, results: res.body.results } });
  });

  test("a refused address: the SMTP reply is shown, and kept in the session", async () => {
    const res = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["nobody@example.test"] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("recipients_refused");
    expect(res.body.error.message).toContain("nobody@example.test");
    expect(res.body.error.message).toContain("no such user");
    const mixed = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["nobody@example.test", "me@example.test"] });
    expect(mixed.status).toBe(200);
    expect(mixed.body.results.map((r: any) => [r.address, r.status])).toEqual([["nobody@example.test", "refused"], ["me@example.test", "accepted"]]);
    expect(mixed.body.results[0].reply).toMatch(/550.*no such user/);
    const events = await sessionEvents(email.sessionId);
    expect(events.filter((e) => e.type === "artifact" && e.kind === "email.test-send").at(-1).data.results[0]).toMatchObject({ address: "nobody@example.test", status: "refused" });
  });

  test("bad input is a clear 4xx, sends nothing and records nothing", async () => {
    const before = smtp.received.length;
    const eventsBefore = (await sessionEvents(email.sessionId)).length;
    const six = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test", "f@x.test"] });
    expect(six.status).toBe(400);
    expect(six.body.error).toEqual({ code: "invalid_request", message: "to: A test send goes to at most 5 addresses" });
    const malformed = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test", "not-an-address"] });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toContain('"not-an-address" is not an email address');
    const header = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test\r\nBcc: victim@example.test"] });
    expect(header.status).toBe(400);
    const none = await api("POST", `/api/emails/${email.id}/test-sends`, { to: [] });
    expect(none.status).toBe(400);
    const otherTeam = await newTeam("intruder");
    const foreign = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test"] }, otherTeam);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe("email_not_found");
    expect(smtp.received.length).toBe(before);
    expect((await sessionEvents(email.sessionId)).length).toBe(eventsBefore);
  });

  test("auth refused and SMTP down are clear errors (502) that name the cause", async () => {
    smtpAuth.password = "rotated-by-someone";
    try {
      const refused = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test"] });
      expect(refused.status).toBe(502);
      expect(refused.body.error.code).toBe("smtp_auth_failed");
      expect(refused.body.error.message).toContain("535");
    } finally {
      smtpAuth.password = "s3cret-pass";
    }
    await smtp.close();
    const down = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test"] });
    expect(down.status).toBe(502);
    expect(down.body.error.code).toBe("smtp_unavailable");
    expect(down.body.error.message).toContain("Could not reach the SMTP server");
    const events = await sessionEvents(email.sessionId);
    expect(events.filter((e) => e.type === "artifact" && e.kind === "email.test-send").at(-1).data.error.code).toBe("smtp_unavailable");
  });

  test("test sends are rate-limited per team", async () => {
    const team = await newTeam("busy");
    const own = await readyEmail(team);
    const statuses: number[] = [];
    // SMTP is down by now (previous test): each attempt still counts; the 11th is refused before sending.
    for (let i = 0; i < 11; i++) statuses.push((await api("POST", `/api/emails/${own.id}/test-sends`, { to: ["me@example.test"] }, team)).status);
    expect(statuses.slice(0, 10).every((s) => s === 502)).toBe(true);
    expect(statuses[10]).toBe(429);
    // Another team is not affected by this team's limit.
    const other = await api("POST", `/api/emails/${email.id}/test-sends`, { to: ["me@example.test"] });
    expect(other.status).toBe(502);
  }, 60_000);
});

describe("variants", () => {
  test("a variant forks the email (and its session) at the current version, with a new subject or a rewritten section", async () => {
    const email = await readyEmail();
    const source = await sessionEvents(email.sessionId);
    const made = await api("POST", `/api/emails/${email.id}/variants`, { subject: "A brighter you, in 14 days" });
    expect(made.status).toBe(201);
    expect(made.body.id).not.toBe(email.id);
    const variant = (await api("GET", `/api/emails/${made.body.id}`)).body;
    expect(variant).toMatchObject({ status: "ready", version: 1, sessionId: made.body.sessionId });
    expect(variant.sessionId).not.toBe(email.sessionId);
    expect(variant.document.subject).toBe("A brighter you, in 14 days");
    expect(variant.document.meta.variantOf).toEqual({ emailId: email.id, version: email.version });
    expect(variant.document.sections).toEqual(email.document.sections);
    // The variant's session is a fork: it starts with the source's whole history.
    const forked = await sessionEvents(variant.sessionId);
    expect(forked.slice(0, source.length)).toEqual(source);
    // Another hero: the section agent rewrites it in the variant's session; the original stays.
    const hero = email.document.sections.find((s: any) => s.type === "hero");
    const rewritten = await api("POST", `/api/emails/${email.id}/variants`, { section: "hero", instruction: "make it punchier" });
    expect(rewritten.status).toBe(201);
    expect(rewritten.body.runId).toMatch(/^run_/);
    const deadline = Date.now() + 20_000;
    let second: any;
    for (;;) {
      second = (await api("GET", `/api/emails/${rewritten.body.id}`)).body;
      if (second.version >= 2) break;
      if (Date.now() > deadline) throw new Error(`the hero was not rewritten: ${JSON.stringify((await sessionEvents(rewritten.body.sessionId)).filter((e) => e.runId === rewritten.body.runId))}`);
      await Bun.sleep(50);
    }
    expect(second.document.sections.find((s: any) => s.id === hero.id).fields).not.toEqual(hero.fields);
    expect((await api("GET", `/api/emails/${email.id}`)).body.document.sections.find((s: any) => s.id === hero.id).fields).toEqual(hero.fields);
    // The family, from any member: the original first, each with its differences and checks.
    const family = await api("GET", `/api/emails/${made.body.id}/variants`);
    expect(family.status).toBe(200);
    expect(family.body.variants.map((v: any) => v.id)).toEqual([email.id, made.body.id, rewritten.body.id]);
    expect(family.body.variants[0].differences).toEqual([]);
    expect(family.body.variants[1].differences).toEqual(["Subject: “A brighter you, in 14 days”"]);
    expect(family.body.variants[2].differences).toEqual(["Different hero"]);
    expect(family.body.variants[2].checks.length).toBeGreaterThan(0);
  }, 60_000);

  test("subject lines are proposed in bulk, deterministically; bad input is a 4xx and makes nothing", async () => {
    const email = await readyEmail();
    const first = await api("POST", `/api/emails/${email.id}/subject-variants`, { count: 6 });
    expect(first.status).toBe(200);
    expect(first.body.subjects).toHaveLength(6);
    expect(new Set(first.body.subjects).size).toBe(6);
    expect(first.body.subjects).not.toContain(email.document.subject);
    expect(first.body.subjects).toContain(`Ready to ${email.document.subject.charAt(0).toLowerCase()}${email.document.subject.slice(1)}?`);
    expect((await api("POST", `/api/emails/${email.id}/subject-variants`, { count: 6 })).body).toEqual(first.body);
    expect((await api("POST", `/api/emails/${email.id}/subject-variants`, { count: 99 })).status).toBe(400);
    const before = (await api("GET", `/api/emails/${email.id}/variants`)).body.variants.length;
    const noSection = await api("POST", `/api/emails/${email.id}/variants`, { instruction: "warmer" });
    expect(noSection.status).toBe(400);
    expect(noSection.body.error.message).toContain("section");
    expect((await api("POST", `/api/emails/${email.id}/variants`, { section: "footer", instruction: "x" })).status).toBe(400);
    expect((await api("POST", `/api/emails/${email.id}/variants`, { subject: "" })).status).toBe(400);
    expect((await api("POST", `/api/emails/${email.id}/variants`, { subject: "x" }, await newTeam("thief"))).status).toBe(404);
    expect((await api("GET", `/api/emails/${email.id}/variants`)).body.variants.length).toBe(before);
  }, 60_000);

  test("in Chromium: Make a variant from the editor, then compare side by side at desktop and mobile width", async () => {
    const email = await readyEmail();
    const { context, page } = await signedIn();
    await page.goto(`${server.url}/emails/${email.id}`);
    await page.click("#variant-menu summary");
    await page.fill("#variant-subject", "Your skin, but brighter");
    await Promise.all([page.waitForURL((url) => url.pathname.startsWith("/emails/") && !url.pathname.includes(email.id)), page.click("#make-variant")]);
    const variantId = new URL(page.url()).pathname.split("/")[2]!;
    expect(await page.locator(".editor-title h1").textContent()).toBe("Your skin, but brighter");
    await page.click("#variant-menu summary");
    await Promise.all([page.waitForURL("**/compare"), page.click("#compare-variants")]);
    const columns = page.locator(".compare-column");
    expect(await columns.count()).toBe(2);
    expect(await columns.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.emailId))).toEqual([email.id, variantId]);
    expect(await columns.nth(1).locator(".compare-differences li").allTextContents()).toEqual(["Subject: “Your skin, but brighter”"]);
    expect(await columns.nth(0).locator(".compare-subject").textContent()).toBe(email.document.subject);
    // Each variant at desktop and mobile width, loaded (the email's own HTML in each frame).
    const frames = await page.locator(".compare-frame").evaluateAll((els) => els.map((el) => ({ cls: el.className, width: el.getBoundingClientRect().width })));
    expect(frames.map((f) => f.cls)).toEqual(["compare-frame desktop", "compare-frame mobile", "compare-frame desktop", "compare-frame mobile"]);
    expect(frames[0]!.width).toBeGreaterThanOrEqual(600);
    expect(frames[1]!.width).toBeLessThan(400);
    await page.frameLocator(".compare-column >> nth=1 >> .compare-frame.mobile").locator("[data-section-type=hero]").first().waitFor({ state: "attached" });
    // The checks of each variant are shown.
    expect(await columns.nth(0).locator("h3", { hasText: "Checks" }).count()).toBe(1);
    expect(await columns.nth(0).locator(".compare-checks li").count()).toBeGreaterThan(0);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, "compare.png"), caret: "initial" });
    console.log(`compare screenshot: ${join(OUT, "compare.png")}`);
    await context.close();
  }, 90_000);
});

describe("checks before sending", () => {
  test("the panel's checks include image weight and dark-mode images; links=1 requests each link and flags a 404", async () => {
    const site = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => (new URL(req.url).pathname === "/shop" ? new Response("ok") : new Response("gone", { status: 404 })) });
    try {
      const email = await readyEmail();
      const cta = email.document.sections.find((s: any) => s.type === "cta");
      const edited = await api("PATCH", `/api/emails/${email.id}/sections/${cta.id}`, { fields: { url: `http://127.0.0.1:${site.port}/gone` } });
      expect(edited.status).toBe(200);
      const plain = await api("GET", `/api/emails/${email.id}/checks`);
      expect(plain.status).toBe(200);
      const plainIds = plain.body.checks.map((c: any) => c.id);
      expect(plainIds).toContain("image-weight");
      expect(plainIds.some((id: string) => id.startsWith("dark-image:"))).toBe(true);
      expect(plainIds.some((id: string) => id.startsWith("link-broken"))).toBe(false);
      const withLinks = await api("GET", `/api/emails/${email.id}/checks?links=1`);
      expect(withLinks.status).toBe(200);
      const broken = withLinks.body.checks.filter((c: any) => c.id.startsWith("link-broken"));
      expect(broken).toContainEqual({ id: expect.stringMatching(/^link-broken:\d+$/), level: "error", message: `The link http://127.0.0.1:${site.port}/gone answers 404.` });
      expect((await api("GET", `/api/emails/${email.id}/checks?links=yes`)).status).toBe(400);
    } finally {
      site.stop(true);
    }
  }, 60_000);
});

describe("exports", () => {
  let email: any;
  beforeAll(async () => {
    email = await readyEmail();
    // Every neutral tag, so each platform's dialect shows up.
    const footer = email.document.sections.find((s: any) => s.type === "cta") ?? email.document.sections.at(-1);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    const res = await api("PATCH", `/api/emails/${email.id}/sections/${headline.id}`, { fields: { text: "Hi {{first_name|there}}", subtext: MERGE_TAGS.slice(1).map((t) => t.insert).join(" · ") } });
    expect(res.status).toBe(200);
    email = res.body;
    expect(footer).toBeTruthy();
  }, 60_000);

  test("the zip is self-contained: named after the email, every image inside, opens from disk with the network off", async () => {
    const res = await fetch(`${server.url}/api/emails/${email.id}/export.zip`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const slug = "wake-up-to-brighter-skin";
    expect(email.document.subject.toLowerCase()).toContain("wake up to brighter skin");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="[a-z0-9-]+\.zip"$/);
    expect(res.headers.get("content-disposition")).toContain(slug);
    const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
    const names = Object.keys(files);
    const base = names.find((n) => n.endsWith(".html"))!.replace(/\.html$/, "");
    expect(base).toContain(slug);
    expect(names).toContain(`${base}.mjml`);
    expect(names).toContain(`${base}.txt`);
    const html = strFromU8(files[`${base}.html`]!);
    expect(html).not.toContain(server.url);
    const srcs = [...html.matchAll(/<img\b[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThanOrEqual(2);
    for (const src of srcs) expect(names).toContain(src);
    // Unpack and open the HTML from disk, every http(s) request refused.
    const dir = mkdtempSync(join(tmpdir(), "ds-zip-"));
    for (const [name, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), bytes);
    }
    const context = await (await launch()).newContext();
    const blocked: string[] = [];
    await context.route(/^https?:/, (route) => {
      blocked.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    await page.goto(`file://${join(dir, `${base}.html`)}`);
    await page.waitForLoadState("load");
    const images = await page.$$eval("img", (imgs) => imgs.map((img) => ({ src: img.getAttribute("src"), complete: img.complete, width: img.naturalWidth })));
    expect(images.length).toBe(srcs.length);
    for (const image of images) expect(image).toMatchObject({ complete: true, width: expect.any(Number) });
    expect(images.filter((image) => image.width === 0)).toEqual([]);
    expect(blocked.filter((url) => /\.(png|jpe?g|gif|webp)|\/assets\//.test(url))).toEqual([]);
    await context.close();
  }, 60_000);

  test("each platform's export carries that platform's tags and no neutral tag left over; unsupported tags are named", async () => {
    for (const platform of PLATFORMS) {
      const res = await fetch(`${server.url}/api/emails/${email.id}/export?platform=${platform}&format=html`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      let html = await res.text();
      const unsupported = MERGE_TAGS.filter((t) => DIALECTS[platform][t.name] === null).map((t) => t.name);
      expect({ platform, header: res.headers.get("x-unsupported-merge-tags") }).toEqual({ platform, header: unsupported.length ? unsupported.join(",") : null });
      const expected = MERGE_TAGS.filter((t) => DIALECTS[platform][t.name] !== null).map((t) => platformTag(platform, t.name, t.name === "first_name" ? "there" : undefined)!);
      for (const tag of expected) {
        expect({ platform, tag, present: html.includes(tag) }).toEqual({ platform, tag, present: true });
        html = html.split(tag).join("");
      }
      // With the platform's own tags taken out, only the tags it cannot express may remain neutral.
      expect({ platform, left: [...new Set(findMergeTags(html).map((t) => t.name))].sort() }).toEqual({ platform, left: [...unsupported].sort() });
    }
    const zip = await fetch(`${server.url}/api/emails/${email.id}/export?platform=mailchimp&format=zip`, { headers: { authorization: `Bearer ${token}` } });
    expect(zip.status).toBe(200);
    expect(zip.headers.get("content-disposition")).toMatch(/-mailchimp\.zip"$/);
    const files = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    const zipHtml = strFromU8(files[Object.keys(files).find((n) => n.endsWith(".html"))!]!);
    expect(zipHtml).toContain("*|IF:FNAME|**|FNAME|**|ELSE:|*there*|END:IF|*");
    expect(zipHtml).toContain('src="images/');
  });

  test("an unknown platform or format is a 400; another team's email a 404", async () => {
    const unknown = await api("GET", `/api/emails/${email.id}/export?platform=aweber`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe("invalid_request");
    expect(unknown.body.error.message).toContain("platform must be one of klaviyo, mailchimp, hubspot, braze, customerio, sendgrid");
    expect((await api("GET", `/api/emails/${email.id}/export?platform=klaviyo&format=pdf`)).status).toBe(400);
    expect((await api("GET", `/api/emails/${email.id}/export`)).status).toBe(400);
    const foreign = await api("GET", `/api/emails/${email.id}/export?platform=klaviyo`, undefined, await newTeam("other"));
    expect(foreign.status).toBe(404);
  });
});
