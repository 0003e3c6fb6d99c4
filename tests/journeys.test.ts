import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { ROOT, removeDataDir, startServer, type TestServer } from "./support/server";

/**
 * Journeys as marketers make them, in Debian's Chromium (playwright-core) against the real server
 * with the offline provider: sign up, a brand and a brief full of hostile strings, Generate, Back and
 * Forward, reload mid-edit and mid-generation, two tabs on one email, a phone's width, axe-core, and
 * not one console error, CSP violation or dialog on the way. Screenshots go to test-output/journeys/.
 *
 * Injecting axe-core: the pages send `script-src 'self'` (no inline script), so
 * `page.addScriptTag({ path })` — which adds an inline `<script>` with the file's text — is refused by
 * the CSP (and logs a violation). `page.evaluate(source)` runs through the DevTools protocol, which
 * the page's CSP does not govern, so that is how `accessible()` loads it.
 */

const OUT = join(ROOT, "test-output/journeys");
const HOSTILE = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;
const PASSWORD = "correct horse battery staple";
const OWNER = { team: `Équipe ${HOSTILE}`, name: `Zoë 🌸 ${HOSTILE}`, email: "zoe@example.com" };
const BRAND = {
  name: `Maison Crème Brûlée 🌿 ${HOSTILE}`,
  voice: `Chaleureuse, précise — never pushy. ${HOSTILE}`,
  headingFont: `Georgia ${HOSTILE}`.slice(0, 60),
  address: `Maison Crème, 12 rue des Fleurs, 75001 Paris ${HOSTILE}`,
  unsubscribe: `https://example.com/unsubscribe?u="><img src=x onerror=alert(1)>`,
  guidance: `Lead with the hook ${HOSTILE}`,
};
const LONG_OBJECTIVE = `Lancer le Sérum Éclat 抹茶 auprès de nos clientes fidèles ✨ ${HOSTILE} `.repeat(12).trim();
const BRIEF = {
  objective: LONG_OBJECTIVE,
  audience: `Clientes 💆‍♀️ who bought skincare this year ${HOSTILE}`,
  tone: `Doux et confiant ${HOSTILE}`,
  hook: `Réveillez votre peau ✨ ${HOSTILE}`,
  product: `Sérum Éclat 抹茶 ✨ ${HOSTILE}`,
  productDescription: `Vitamine C & thé matcha. ${HOSTILE}`,
  offerText: `20 % de réduction ${HOSTILE}`,
  offerCode: `ECLAT20`,
  occasion: `Printemps 🌷 ${HOSTILE}`,
  ctaLabel: `Découvrir ${HOSTILE}`.slice(0, 80),
  ctaUrl: `https://example.com/serum?ref="><img src=x onerror=alert(1)>`,
};

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
/** Console errors, uncaught errors, CSP violations and dialogs from every page of every journey. */
const problems: string[] = [];
/** The journey under way, so a problem says where it happened. */
let phase = "start";
const shared: { brandId?: string; emailId?: string } = {};

/** A PNG with a label, for uploads. */
async function png(label: string, width: number, height: number, color: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${color}"/><text x="50%" y="50%" font-size="${Math.round(height / 6)}" text-anchor="middle" fill="#fff" font-family="sans-serif">${label}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/**
 * Records a page's console errors, uncaught errors and dialogs into `problems`. `expected` names the
 * refused requests a journey causes on purpose (Chromium logs "status of 409" for a conflict).
 */
function watch(page: Page, expected?: RegExp) {
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (expected && expected.test(message.text())) return;
    problems.push(`[${phase}] ${page.url()} console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`[${phase}] ${page.url()} error: ${error.message}`));
  page.on("dialog", async (dialog) => {
    problems.push(`[${phase}] ${page.url()} dialog (${dialog.type()}): ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  return page;
}

async function open(path: string, options: { expected?: RegExp; in?: BrowserContext } = {}): Promise<Page> {
  const page = watch(await (options.in ?? context).newPage(), options.expected);
  await page.goto(server.url + path);
  return page;
}

async function shot(page: Page, name: string, fullPage = false) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage, caret: "initial" });
}

/** The JSON API with the signed-in person's cookie (GET needs no CSRF header). */
async function apiGet(page: Page, path: string): Promise<any> {
  const res = await page.request.get(server.url + path);
  expect(res.status(), `GET ${path}`).toBe(200);
  return await res.json();
}

async function emailCount(page: Page): Promise<number> {
  return (await apiGet(page, "/api/emails?limit=100")).emails.length;
}

/** Hostile strings are text: no element they could have made, no inline script, no handler ran. */
async function escaped(page: Page) {
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.evaluate(() => [...document.scripts].filter((s) => !s.src).length)).toBe(0);
  expect(await page.evaluate(() => [...document.querySelectorAll("*")].some((el) => [...el.attributes].some((a) => a.name.startsWith("on"))))).toBe(false);
}

/** axe-core: no serious or critical violations (the email preview frame is the email's own document). */
async function accessible(page: Page, name: string) {
  await page.evaluate(readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8"));
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, options: unknown) => Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ["violations"], iframes: false });
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  expect(violations, `axe on ${name}`).toEqual([]);
}

/**
 * Nothing wider than the screen: the page never scrolls sideways. On a phone (isMobile) Chromium widens
 * the layout viewport to fit wide content, so the page's width is compared with the screen's, and the
 * widest culprits are named.
 */
async function noSidewaysScroll(page: Page, name: string) {
  const screen = page.viewportSize()!.width;
  const { scrollWidth, innerWidth, wide } = await page.evaluate((limit) => {
    // Inside a box that scrolls (or clips) sideways on its own, a wide element does not widen the page.
    const contained = (el: Element) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(up).overflowX)) return true;
      return false;
    };
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => !contained(el))
      .filter((el) => el.checkVisibility() && el.getBoundingClientRect().right > limit + 1 && ![...el.children].some((child) => child.checkVisibility() && child.getBoundingClientRect().right > limit + 1))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className && typeof el.className === "string" ? `.${el.className.trim().split(/\s+/).join(".")}` : ""} (right edge ${Math.round(el.getBoundingClientRect().right)})`);
    return { scrollWidth: document.scrollingElement!.scrollWidth, innerWidth: window.innerWidth, wide };
  }, screen);
  expect({ name, scrollWidth, innerWidth, wide }).toEqual({ name, scrollWidth: Math.min(scrollWidth, screen), innerWidth: screen, wide: [] });
}

/** A button can be reached: scrolled into view, it lies within the screen's width and is not covered. */
async function reachable(page: Page, selector: string) {
  const target = page.locator(selector).first();
  await target.scrollIntoViewIfNeeded();
  const box = (await target.boundingBox())!;
  const width = page.viewportSize()!.width;
  expect(box.x, `${selector} left edge`).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width, `${selector} right edge`).toBeLessThanOrEqual(width);
  // What a tap on its centre would hit: the button itself (or something inside it), not a cover.
  const hit = await page.evaluate(([x, y, sel]) => {
    const el = document.elementFromPoint(x!, y!);
    return el && el.closest(sel as string) ? "ok" : `${el?.outerHTML.slice(0, 160) ?? "nothing"} (at ${x},${y}; scrollY ${scrollY}, visual viewport top ${visualViewport?.offsetTop}/${visualViewport?.pageTop}, scale ${visualViewport?.scale}, inner ${innerWidth}x${innerHeight})`;
  }, [box.x + box.width / 2, box.y + box.height / 2, selector] as const);
  if (hit !== "ok") await shot(page, `covered-${selector.replace(/\W+/g, "-")}`);
  expect(hit, `${selector} is covered by`).toBe("ok");
}

/** Waits until canvas.js has attached to the (re)loaded preview frame. */
async function canvasReady(page: Page) {
  await page.waitForFunction(() => (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument?.documentElement?.dataset.dsCanvas === "1");
}

async function waitForEditor(page: Page) {
  await page.waitForSelector("#editor", { timeout: 45_000 });
  try {
    await page.waitForFunction(() => (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument?.readyState === "complete");
  } catch (error) {
    const state = await page.evaluate(() => {
      const frame = document.getElementById("email-frame") as HTMLIFrameElement | null;
      return { url: location.href, src: frame?.getAttribute("src"), hasDocument: !!frame?.contentDocument, ready: frame?.contentDocument?.readyState, frameUrl: frame?.contentDocument?.URL, navigation: (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined)?.type };
    });
    await shot(page, "editor-frame-not-loaded");
    throw new Error(`the editor's preview did not load: ${JSON.stringify({ ...state, frames: page.frames().map((f) => f.url()) })} (${(error as Error).message})`);
  }
}

/** Fills and submits the brief form for `brandId`, with three reference screenshots; returns on the email's page. */
async function submitBrief(page: Page, brief: { objective: string; audience: string; tone: string; hook: string }, pace: "fast" | "slow") {
  await page.fill("textarea[name=objective]", brief.objective);
  await page.fill("input[name=audience]", brief.audience);
  await page.fill("input[name=tone]", brief.tone);
  await page.fill("input[name=hook]", brief.hook);
  await page.check(`input[name=pace][value=${pace}]`);
  await page.setInputFiles("#reference-files", await Promise.all([1, 2, 3].map(async (n) => ({ name: `ref-${n}.png`, mimeType: "image/png", buffer: await png(`Ref ${n}`, 300, 450, ["#334155", "#7c3aed", "#0f766e"][n - 1]!) }))));
  await page.waitForFunction(() => document.querySelectorAll("#reference-thumbs .thumb:not(.uploading) input[value^=ast_]").length === 3);
  await Promise.all([page.waitForURL(/\/emails\/email_[^/?]+$/), page.click("#generate")]);
  return new URL(page.url()).pathname.split("/").pop()!;
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: "reduce" });
  context.setDefaultTimeout(15_000);
  // Every CSP violation becomes a console error, which `watch` records.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI} ${e.sourceFile}:${e.lineNumber} (${e.sample}) on ${(e.target as Element | null)?.nodeName}`));
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

describe("a new marketer's first email", () => {
  test("sign up with hostile names; they show as text", async () => {
    phase = "sign up with hostile names; they show as text";
    const page = await open("/");
    expect(new URL(page.url()).pathname).toBe("/setup");
    await page.fill("input[name=teamName]", OWNER.team);
    await page.fill("input[name=name]", OWNER.name);
    await page.fill("input[name=email]", OWNER.email);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL("**/emails"), page.click("button[type=submit]")]);
    expect(await page.locator("body").textContent()).toContain(OWNER.name);
    await escaped(page);
    await page.goto(server.url + "/team");
    expect(await page.locator("body").textContent()).toContain(OWNER.team);
    await escaped(page);
    await page.close();
  }, 30_000);

  test("a brand with hostile text in every field; brand import is one click away", async () => {
    phase = "a brand with hostile text in every field; brand import is one click away";
    const page = await open("/brands");
    // The import is reachable from the empty state and opens a usable page.
    await Promise.all([page.waitForURL("**/brands/import"), page.click("a[href='/brands/import']")]);
    expect(await page.locator("input[type=url], input[name=url]").count()).toBeGreaterThan(0);
    await page.goBack();
    await Promise.all([page.waitForURL("**/brands/new"), page.click("a[href='/brands/new']")]);
    await page.fill("input[name=name]", BRAND.name);
    await page.fill("input[name=headingFont]", BRAND.headingFont);
    await page.fill("textarea[name=voice]", BRAND.voice);
    await page.fill('textarea[aria-label="Guidance for the Headline section"]', BRAND.guidance);
    await page.fill("textarea[name=footerAddress]", BRAND.address);
    await page.fill("input[name=unsubscribeUrl]", BRAND.unsubscribe);
    await Promise.all([page.waitForURL(/\/brands\/brand_[^/?]+\?saved=1$/), page.click("button[name=save]")]);
    shared.brandId = new URL(page.url()).pathname.split("/").pop();
    // Everything came back exactly as typed, as values (not markup).
    expect(await page.inputValue("input[name=name]")).toBe(BRAND.name);
    expect(await page.inputValue("input[name=headingFont]")).toBe(BRAND.headingFont);
    expect(await page.inputValue("textarea[name=voice]")).toBe(BRAND.voice);
    expect(await page.inputValue('textarea[aria-label="Guidance for the Headline section"]')).toBe(BRAND.guidance);
    expect(await page.inputValue("textarea[name=footerAddress]")).toBe(BRAND.address);
    expect(await page.inputValue("input[name=unsubscribeUrl]")).toBe(BRAND.unsubscribe);
    await escaped(page);
    await page.goto(server.url + "/brands");
    expect(await page.locator("body").textContent()).toContain(BRAND.name);
    await escaped(page);
    await page.close();
  }, 30_000);

  test("a brief they have never seen (accents, CJK, emoji, a long objective, hostile strings) → Generate → live progress → ready, all escaped", async () => {
    phase = "a brief they have never seen (accents, CJK, emoji, a long objective, hostile strings) → Generate → live progress → ready, all escaped";
    const page = await open(`/emails/new?brand=${shared.brandId}`);
    expect(await page.inputValue("select[name=brandId]")).toBe(shared.brandId!);
    await page.fill('input[name="product.0.name"]', BRIEF.product);
    await page.fill('input[name="product.0.description"]', BRIEF.productDescription);
    await page.fill("input[name=offerText]", BRIEF.offerText);
    await page.fill("input[name=offerCode]", BRIEF.offerCode);
    await page.fill("input[name=occasion]", BRIEF.occasion);
    await page.fill("input[name=ctaLabel]", BRIEF.ctaLabel);
    await page.fill("input[name=ctaUrl]", BRIEF.ctaUrl);
    const before = await emailCount(page);
    const emailId = await submitBrief(page, BRIEF, "slow");
    shared.emailId = emailId;
    expect(await emailCount(page)).toBe(before + 1);

    // Live: connected, progress moving, sections arriving; the hostile hook is the page's title, as text.
    await page.waitForSelector("#connection[data-state=open]");
    expect(await page.textContent("h1")).toBe(BRIEF.hook);
    await page.waitForFunction(() => (document.querySelector('.agent[data-agent="copy"] progress') as HTMLProgressElement | null)?.value! > 0);
    await page.waitForSelector("#written li");
    await escaped(page);
    await shot(page, "generating");
    await waitForEditor(page);
    await escaped(page);
    await shot(page, "editor", true);

    // The API has it ready; the brief's words are in the email as text, never as markup.
    const email = await apiGet(page, `/api/emails/${emailId}`);
    expect(email.status).toBe("ready");
    const html = await (await page.request.get(`${server.url}/api/emails/${emailId}/html`)).text();
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // Parsed as a browser does: no script, no image pointing at "x", no event-handler attribute, and the words as text.
    // In a blank page: a document parsed inside a studio page would be held to the studio's CSP (inline styles refused).
    const blank = watch(await context.newPage());
    const parsed = await blank.evaluate((source) => {
      const doc = new DOMParser().parseFromString(source, "text/html");
      return {
        scripts: doc.querySelectorAll("script").length,
        xImages: doc.querySelectorAll('img[src="x"]').length,
        handlers: [...doc.querySelectorAll("*")].flatMap((el) => [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${el.tagName} ${a.name}`)),
        text: doc.body.textContent ?? "",
      };
    }, html);
    await blank.close();
    expect(parsed).toMatchObject({ scripts: 0, xImages: 0, handlers: [] });
    expect(parsed.text).toContain(BRIEF.hook);
    expect(parsed.text).toContain(BRAND.address);
    // The CTA link with a space in it is not a URL: it becomes "#", and the checks say so.
    expect(email.checks.map((c: any) => c.id)).toContain("cta-url-invalid:cta-1");
    for (const format of ["mjml", "txt"]) {
      const res = await page.request.get(`${server.url}/api/emails/${emailId}/${format}`);
      expect(res.status()).toBe(200);
    }
    // The email opened on its own (a new tab) runs nothing either.
    const alone = watch(await context.newPage());
    alone.on("requestfailed", (request) => problems.push(`[${phase}] the email on its own: ${request.url()} failed (${request.failure()?.errorText})`));
    await alone.goto(`${server.url}/api/emails/${emailId}/html`);
    await alone.waitForLoadState("load");
    await escaped(alone);
    await alone.close();
    await page.close();
  }, 90_000);
});

describe("journeys through the browser's history", () => {
  test("Back during and after Generate lands on the brief without resubmitting; Forward shows the email", async () => {
    phase = "Back during and after Generate lands on the brief without resubmitting; Forward shows the email";
    const page = await open(`/emails/new?brand=${shared.brandId}`);
    const before = await emailCount(page);
    const emailId = await submitBrief(page, { objective: "Back button journey", audience: "Everyone", tone: "Calm", hook: "Back and forth" }, "slow");
    await page.waitForSelector("#connection[data-state=open]");
    expect(await emailCount(page)).toBe(before + 1);

    // Back mid-generation: the brief form again (a GET), nothing posted, and Generate usable again
    // (not left disabled at "Starting…" by a page restored from the back/forward cache).
    await page.goBack();
    expect(new URL(page.url()).pathname).toBe("/emails/new");
    await page.waitForSelector("#brief-form");
    expect(await emailCount(page)).toBe(before + 1);
    expect(await page.isEnabled("#generate")).toBe(true);
    expect(await page.textContent("#generate")).toBe("Generate email");
    // Forward: the email, still generating or done, never a second one.
    await page.goForward();
    expect(new URL(page.url()).pathname).toBe(`/emails/${emailId}`);
    await page.waitForSelector("#generation, #editor");
    await waitForEditor(page);
    expect(await emailCount(page)).toBe(before + 1);

    // Back after it is ready, and a reload there: still no resubmission.
    await page.goBack();
    expect(new URL(page.url()).pathname).toBe("/emails/new");
    await page.reload();
    await page.waitForSelector("#brief-form");
    expect(await emailCount(page)).toBe(before + 1);
    await page.goForward();
    expect(new URL(page.url()).pathname).toBe(`/emails/${emailId}`);
    await waitForEditor(page);
    expect(await emailCount(page)).toBe(before + 1);
    await page.close();
  }, 90_000);

  test("reload mid-generation: the page catches up and its progress goes on live", async () => {
    phase = "reload mid-generation: the page catches up and its progress goes on live";
    const page = await open(`/emails/new?brand=${shared.brandId}`);
    await submitBrief(page, { objective: "Reload journey", audience: "Everyone", tone: "Calm", hook: "Reload me" }, "slow");
    await page.waitForSelector("#connection[data-state=open]");
    await page.waitForSelector("#written li");
    const before = await page.locator("#written li").count();
    await page.reload();
    if (await page.locator("#generation").count()) {
      await page.waitForSelector("#connection[data-state=open]");
      const after = await page.locator("#written li").count();
      expect(after).toBeGreaterThanOrEqual(before);
      // Live again: another section arrives without a reload.
      await page.waitForFunction((n) => document.querySelectorAll("#written li").length > n || !!document.getElementById("editor"), after, { timeout: 30_000 });
    }
    await waitForEditor(page);
    await page.close();
  }, 90_000);

  test("reload mid-edit: an open form's unsaved words are gone, the server's version stays, nothing half-saved", async () => {
    phase = "reload mid-edit: an open form's unsaved words are gone, the server's version stays, nothing half-saved";
    const page = await open(`/emails/${shared.emailId}`);
    await waitForEditor(page);
    const email = await apiGet(page, `/api/emails/${shared.emailId}`);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    await page.click(`#section-${headline.id} .section-summary`);
    await page.fill(`#edit-${headline.id}-text`, "Half-typed words");
    await page.reload();
    await waitForEditor(page);
    const after = await apiGet(page, `/api/emails/${shared.emailId}`);
    expect(after.version).toBe(email.version);
    expect(after.document).toEqual(email.document);
    expect(await page.textContent(`#section-${headline.id} .section-text`)).toBe(headline.fields.text);
    expect(Number(await page.getAttribute("#editor", "data-version"))).toBe(email.version);
    await page.close();
  }, 60_000);
});

describe("reload mid-edit on the canvas", () => {
  test("a text being edited in place when the page reloads: the server has the old words or all the new ones, and the page shows what the server has", async () => {
    phase = "reload mid-edit on the canvas";
    const page = await open(`/emails/${shared.emailId}`);
    await waitForEditor(page);
    await canvasReady(page);
    const email = await apiGet(page, `/api/emails/${shared.emailId}`);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    const target = page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
    await target.click();
    expect(await target.getAttribute("contenteditable")).toBe("plaintext-only");
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("Typed on the canvas, never confirmed");
    await page.reload();
    await waitForEditor(page);
    await canvasReady(page);
    const after = await apiGet(page, `/api/emails/${shared.emailId}`);
    const text = after.document.sections.find((s: any) => s.id === headline.id).fields.text;
    // Leaving the text may save it (blur saves): then all of it, never a part.
    expect([headline.fields.text, "Typed on the canvas, never confirmed"]).toContain(text);
    expect(Number(await page.getAttribute("#editor", "data-version"))).toBe(after.version);
    expect(await page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`).textContent()).toBe(text);
    expect(await page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`).getAttribute("contenteditable")).toBeNull();
    await page.close();
  }, 60_000);
});

describe("two tabs on one email", () => {
  test("an edit in tab A appears in tab B without a reload; B's stale edit is refused with the conflict shown, not saved over A's", async () => {
    phase = "an edit in tab A appears in tab B without a reload; B's stale edit is refused with the conflict shown, not saved over A's";
    const a = await open(`/emails/${shared.emailId}`, { expected: /status of (409|422)/ });
    const b = await open(`/emails/${shared.emailId}`, { expected: /status of (409|422)/ });
    await waitForEditor(a);
    await waitForEditor(b);
    const email = await apiGet(a, `/api/emails/${shared.emailId}`);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    await b.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    await a.click(`#section-${headline.id} .section-summary`);
    await a.fill(`#edit-${headline.id}-text`, `Tab A ${HOSTILE}`);
    await a.click(`#section-${headline.id} button.primary`);
    await a.waitForSelector(`#editor[data-version="${email.version + 1}"]`);
    await b.waitForSelector(`#editor[data-version="${email.version + 1}"]`);
    expect(await b.textContent(`#section-${headline.id} .section-text`)).toBe(`Tab A ${HOSTILE}`);
    expect(await b.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await escaped(b);

    // B opens the form, A saves again meanwhile, B saves: refused, B's words kept, A's text on the server.
    await b.click(`#section-${headline.id} .section-summary`);
    await b.fill(`#edit-${headline.id}-text`, "Tab B's stale words");
    await a.click(`#section-${headline.id} .section-summary`);
    await a.fill(`#edit-${headline.id}-text`, "Tab A again");
    await a.click(`#section-${headline.id} button.primary`);
    await a.waitForSelector(`#editor[data-version="${email.version + 2}"]`);
    await b.click(`#section-${headline.id} button.primary`);
    await b.waitForSelector(`#section-${headline.id}.editing .error`);
    expect(await b.inputValue(`#edit-${headline.id}-text`)).toBe("Tab B's stale words");
    const now = await apiGet(a, `/api/emails/${shared.emailId}`);
    expect(now.version).toBe(email.version + 2);
    expect(now.document.sections.find((s: any) => s.id === headline.id).fields.text).toBe("Tab A again");
    await a.close();
    await b.close();
  }, 60_000);
});

describe("the library and the history as a marketer uses them", () => {
  test("duplicate, rename to a hostile name, archive and undo, a template round trip; a reload or Back/Forward never repeats an action", async () => {
    phase = "the library";
    const page = await open("/emails");
    const row = (id: string) => page.locator(`#email-list tr[data-email-id="${id}"]`);
    const before = await emailCount(page);

    await Promise.all([page.waitForURL(/[?&]done=duplicated/), row(shared.emailId!).locator("[data-action=duplicate]").click()]);
    const copyId = new URL(page.url()).searchParams.get("id")!;
    expect(copyId).toMatch(/^email_/);
    expect(copyId).not.toBe(shared.emailId);
    expect(await emailCount(page)).toBe(before + 1);
    expect(await page.textContent("#library-notice")).toContain(`Duplicated as “Copy of ${BRIEF.offerText.slice(0, 30)}`);
    await escaped(page);
    // The page after an action is a GET: reloading it, or going Back and Forward, makes no second copy.
    await page.reload();
    await page.goBack();
    await page.goForward();
    await page.waitForSelector("#email-list");
    expect(await emailCount(page)).toBe(before + 1);

    // Rename the copy to a hostile name: shown as text.
    await row(copyId).locator("details.rename summary").click();
    await row(copyId).locator("input[name=name]").fill(`Copie ${HOSTILE}`);
    await Promise.all([page.waitForURL(/[?&]done=renamed/), row(copyId).locator(".rename-form button[type=submit]").click()]);
    expect(await row(copyId).locator(".email-name").textContent()).toBe(`Copie ${HOSTILE}`);
    expect((await apiGet(page, "/api/emails?limit=100")).emails.find((e: any) => e.id === copyId).name).toBe(`Copie ${HOSTILE}`);
    await escaped(page);

    // Archive it, then Undo from the notice.
    await Promise.all([page.waitForURL(/[?&]done=archived/), row(copyId).locator("[data-action=archive]").click()]);
    expect(await row(copyId).count()).toBe(0);
    expect(await emailCount(page)).toBe(before);
    await Promise.all([page.waitForURL(/[?&]done=unarchived/), page.click("#undo-archive")]);
    expect(await row(copyId).count()).toBe(1);
    expect(await emailCount(page)).toBe(before + 1);

    // Save as template, then a new email from it: it opens in the editor with the template's sections.
    await Promise.all([page.waitForURL(/[?&]done=template/), row(copyId).locator("[data-action=template]").click()]);
    const templateId = new URL(page.url()).searchParams.get("id")!;
    const card = page.locator(`#templates li[data-template-id="${templateId}"]`);
    expect(await card.locator(".template-name").textContent()).toBe(`Copie ${HOSTILE}`);
    await Promise.all([page.waitForURL((url) => /^\/emails\/email_[^/]+$/.test(url.pathname) && !url.pathname.endsWith(templateId)), card.locator("[data-action=use-template]").click()]);
    const fromTemplate = new URL(page.url()).pathname.split("/").pop()!;
    await waitForEditor(page);
    const made = await apiGet(page, `/api/emails/${fromTemplate}`);
    const copy = await apiGet(page, `/api/emails/${copyId}`);
    expect(made.document.sections.map((s: any) => s.type)).toEqual(copy.document.sections.map((s: any) => s.type));
    expect(await emailCount(page)).toBe(before + 2);
    await escaped(page);
    await page.goto(`${server.url}/emails`);
    await accessible(page, "library with a notice, templates and a hostile name");
    await page.close();
  }, 90_000);

  test("undo and redo with the buttons: the text goes back and forth, the server agrees, and a reload shows the same", async () => {
    phase = "undo and redo";
    const page = await open(`/emails/${shared.emailId}`);
    await waitForEditor(page);
    const email = await apiGet(page, `/api/emails/${shared.emailId}`);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    const original = headline.fields.text;
    await page.click(`#section-${headline.id} .section-summary`);
    await page.fill(`#edit-${headline.id}-text`, `Undo me ${HOSTILE}`);
    await page.click(`#section-${headline.id} button.primary`);
    await page.waitForSelector(`#editor[data-version="${email.version + 1}"]`);
    const text = async () => (await apiGet(page, `/api/emails/${shared.emailId}`)).document.sections.find((s: any) => s.id === headline.id).fields.text;
    expect(await text()).toBe(`Undo me ${HOSTILE}`);

    await page.click("#undo");
    await page.waitForFunction((t) => document.querySelector(`#section-${t.id} .section-text`)?.textContent === t.text, { id: headline.id, text: original });
    expect(await text()).toBe(original);
    await page.click("#redo");
    await page.waitForFunction((t) => document.querySelector(`#section-${t.id} .section-text`)?.textContent === t.text, { id: headline.id, text: `Undo me ${HOSTILE}` });
    expect(await text()).toBe(`Undo me ${HOSTILE}`);
    await escaped(page);
    await page.reload();
    await waitForEditor(page);
    expect(await page.textContent(`#section-${headline.id} .section-text`)).toBe(`Undo me ${HOSTILE}`);
    await page.close();
  }, 60_000);
});

describe("at a phone's width (390 × 844)", () => {
  test("brands, the brief, the editor and the emails list fit the screen and their buttons can be reached", async () => {
    phase = "brands, the brief, the editor and the emails list fit the screen and their buttons can be reached";
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, storageState: await context.storageState(), reducedMotion: "reduce" });
    phone.setDefaultTimeout(15_000);
    await phone.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
    });
    // Each page with the buttons a marketer needs there; a menu (a <details>) is opened first, as a person would.
    const pages: Array<[string, string, Array<string | { open: string; items: string[] }>]> = [
      ["/brands", "brands", ["a[href='/brands/new']", "#import-brand", { open: "#developers-menu summary", items: ["#developers-menu a[href='/sessions']"] }]],
      [`/brands/${shared.brandId}`, "brand", ["button[name=save]", "#add-step"]],
      [`/emails/new?brand=${shared.brandId}`, "brief", ["#generate", "#reference-files"]],
      [`/emails/${shared.emailId}`, "editor", ["#copy-html", "#undo", { open: "#export-menu summary", items: ["#export-html", "#export-zip"] }, { open: "#platform-export-menu summary", items: ["#platform-export-menu .menu-items a, #platform-export-menu .menu-items button"] }]],
      ["/emails", "emails", ["a[href='/emails/new']"]],
    ];
    for (const [path, name, targets] of pages) {
      const page = await open(path, { in: phone });
      if (name === "editor") await waitForEditor(page);
      await noSidewaysScroll(page, name);
      for (const target of targets) {
        if (typeof target === "string") {
          await reachable(page, target);
          continue;
        }
        await reachable(page, target.open);
        await page.locator(target.open).first().tap();
        for (const item of target.items) await reachable(page, item);
        await noSidewaysScroll(page, `${name} with ${target.open} open`);
        await shot(page, `phone-${name}-${target.open.replace(/\W+/g, "-")}`);
        await page.locator(target.open).first().tap();
      }
      await shot(page, `phone-${name}`, true);
      await page.close();
    }
    await phone.close();
  }, 60_000);
});

describe("accessibility", () => {
  test("axe-core finds no serious or critical violations on the editor and the emails list", async () => {
    phase = "axe-core finds no serious or critical violations on the editor and the emails list";
    // addScriptTag is refused by the CSP (see the file's comment); this proves it, so the approach stays documented by a test.
    const editor = await open(`/emails/${shared.emailId}`, { expected: /Content Security Policy|CSP violation/ });
    await waitForEditor(editor);
    const csp = (await editor.request.get(`${server.url}/emails/${shared.emailId}`)).headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(await editor.addScriptTag({ content: "window.__injected = 1" }).then(() => undefined, (error: unknown) => error)).toBeInstanceOf(Error);
    expect(await editor.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    await accessible(editor, "editor");
    await editor.close();
    const list = await open("/emails");
    await accessible(list, "emails list");
    await list.close();
  }, 60_000);

  test("no page logged an error or a CSP violation, and no dialog opened", () => {
    expect(problems).toEqual([]);
  });
});
