import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { unzipSync, strFromU8 } from "fflate";
import { ROOT, startServer, type TestServer } from "./support/server";
import { accessible, launchChromium, stopAll } from "./support/studio";

/**
 * The web app in a real browser (Debian's Chromium driven by playwright-core) against the real
 * server: the marketer's flow from setup to export, the engineer's sessions console and chat, hostile
 * strings shown escaped, no console errors or CSP violations, and axe-core on the key screens.
 * Screenshots of the key screens land in test-output/web/ (not committed).
 */

const OUT = join(ROOT, "test-output/web");
const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>`;
const BRAND_NAME = `Acme ${XSS} Botanicals`;
const HOOK = `Glow like never before ${XSS}`.slice(0, 200);

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
const problems: string[] = [];
const shared: { brandId?: string; emailUrl?: string; sessionUrl?: string; productPhoto?: string } = {};

/** A PNG with a label, for uploads. */
async function png(label: string, width: number, height: number, color: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${color}"/><text x="50%" y="50%" font-size="${Math.round(height / 6)}" text-anchor="middle" fill="#fff" font-family="sans-serif">${label}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A page that reports console errors, uncaught errors and CSP violations into `problems`. */
async function open(path: string): Promise<Page> {
  const page = await context.newPage();
  page.on("console", (message) => {
    // A refused edit answers 422 (409 for a version conflict) on purpose (the form is shown again with the message); Chromium logs it.
    if (message.type() === "error" && !/status of (409|422)/.test(message.text())) problems.push(`${page.url()} console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${page.url()} error: ${error.message}`));
  await page.goto(server.url + path);
  return page;
}

async function shot(page: Page, name: string, fullPage = true) {
  // caret "initial": hiding the caret leaves style="" on inputs, which a later htmx swap would copy (a CSP violation).
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage, caret: "initial" });
}

async function noXss(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true, reducedMotion: "reduce" });
  context.setDefaultTimeout(15_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  // Every CSP violation becomes a console error, which `open` records.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber} (${e.sample}) on ${(e.target as Element)?.outerHTML?.slice(0, 160)}`));
  });
}, 60_000);

afterAll(() => stopAll(browser, server));

describe("marketer flow", () => {
  test("setup lands on the empty emails page", async () => {
    const page = await open("/");
    expect(new URL(page.url()).pathname).toBe("/setup");
    await page.fill("input[name=teamName]", "Acme");
    await page.fill("input[name=name]", "Ann Marketer");
    await page.fill("input[name=email]", "ann@example.com");
    await page.fill("input[name=password]", "correct horse battery");
    await Promise.all([page.waitForURL("**/emails"), page.click("button[type=submit]")]);
    expect(await page.locator(".empty-state h2").textContent()).toBe("No emails yet");
    await accessible(page, "emails (empty)");
    await page.close();
  }, 30_000);

  test("a brand with logo, product image, colours with a contrast warning, and a reordered formula", async () => {
    const page = await open("/brands");
    await page.click("text=Create your first brand");
    await page.waitForURL("**/brands/new");
    await page.fill("input[name=name]", BRAND_NAME);

    // The logo uploads at once and shows a preview.
    await page.setInputFiles("input[name=logoFile]", { name: "logo.png", mimeType: "image/png", buffer: await png("ACME", 400, 120, "#1d6b4f") });
    await page.waitForSelector("#logo-preview .thumb:not(.uploading) input[name=logoAssetId][value^=ast_]", { state: "attached" });
    await page.setInputFiles("input[name=productFiles]", { name: "serum.png", mimeType: "image/png", buffer: await png("Serum", 300, 300, "#c2410c") });
    await page.waitForSelector("#product-previews .thumb:not(.uploading) input[value^=ast_]", { state: "attached" });

    // Pale text: the live preview (an htmx partial) warns about contrast; readable text clears it.
    await page.locator("#color-text").fill("#c8c8c8");
    await page.waitForSelector("#contrast-warning");
    expect(await page.textContent("output[data-hex-for=color-text]")).toBe("#c8c8c8");
    await shot(page, "brand-contrast-warning");
    await page.locator("#color-text").fill("#1f2328");
    await page.locator("#color-primary").fill("#1d6b4f");
    await page.waitForSelector(".contrast-ok");

    // The formula: add a testimonial and move it above the CTA; give the headline some guidance.
    await page.selectOption("#add-type", "testimonial");
    await page.click("#add-step");
    await page.click('button[aria-label="Move Testimonial up"]');
    await page.click('button[aria-label="Move Testimonial up"]');
    await page.fill('textarea[aria-label="Guidance for the Headline section"]', "Lead with the hook; no more than eight words.");
    expect(await page.$$eval("#formula input[name=formulaType]", (inputs) => inputs.map((i) => (i as HTMLInputElement).value))).toEqual(["hero", "headline", "ingredient", "benefits", "testimonial", "cta", "footer"]);
    await page.fill("textarea[name=voice]", "Warm, calm, confident.");
    await page.fill("textarea[name=footerAddress]", "Acme Botanicals, 1 Garden Lane, Springfield");
    await page.fill("input[name=unsubscribeUrl]", "{{unsubscribe_url}}");
    await accessible(page, "brand form");
    await shot(page, "brand-form");

    await Promise.all([page.waitForURL(/\/brands\/brand_[^/?]+\?saved=1$/), page.click("button[name=save]")]);
    shared.brandId = new URL(page.url()).pathname.split("/").pop();
    expect(await page.textContent(".notice.success")).toBe("Saved.");
    expect(await page.inputValue("input[name=name]")).toBe(BRAND_NAME);
    expect(await page.$$eval("#formula input[name=formulaType]", (inputs) => inputs.map((i) => (i as HTMLInputElement).value))).toEqual(["hero", "headline", "ingredient", "benefits", "testimonial", "cta", "footer"]);
    expect(await page.isVisible("#logo-preview img")).toBe(true);

    // The brand list shows the hostile name as text.
    await page.goto(server.url + "/brands");
    expect(await page.textContent(".brand-name")).toBe(BRAND_NAME);
    expect(await page.locator(".brand-card img[src='x']").count()).toBe(0);
    await noXss(page);
    await shot(page, "brands");
    await page.close();
  }, 30_000);

  test("a brief with three reference screenshots dropped in starts a live generation", async () => {
    const page = await open("/emails/new");
    await page.selectOption("select[name=brandId]", shared.brandId!);
    await page.fill("textarea[name=objective]", "Launch the spring serum and win first orders at 20% off.");
    await page.fill("input[name=audience]", "Existing customers who bought skincare this year");
    await page.fill("input[name=tone]", "Warm and confident");
    await page.fill("input[name=hook]", HOOK);
    await page.fill('input[name="product.0.name"]', "Spring Serum");
    await page.fill('input[name="product.0.description"]', "Vitamin C and rosehip for morning glow.");
    // The product's photo, picked from the brand's product images (only the chosen brand's are offered).
    const photos = await page.$$eval('select[name="product.0.imageAssetId"] option:not([hidden])', (options) => options.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
    expect(photos).toHaveLength(1);
    await page.selectOption('select[name="product.0.imageAssetId"]', photos[0]!);
    shared.productPhoto = photos[0];
    await page.fill("input[name=offerText]", "20% off your first order");
    await page.fill("input[name=offerCode]", "SPRING20");
    await page.fill("input[name=occasion]", "Spring launch");
    await page.fill("input[name=ctaLabel]", "Shop the serum");
    await page.fill("input[name=ctaUrl]", "https://example.com/serum");
    await page.check("input[name=pace][value=slow]");

    // Three screenshots dropped on the drop zone, as a person would drag them from their desktop.
    const files = await Promise.all([1, 2, 3].map(async (n) => ({ name: `reference-${n}.png`, b64: (await png(`Ref ${n}`, 600, 900, ["#334155", "#7c3aed", "#0f766e"][n - 1]!)).toString("base64") })));
    const transfer = await page.evaluateHandle((list) => {
      const dt = new DataTransfer();
      for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: "image/png" }));
      return dt;
    }, files);
    await page.dispatchEvent("#dropzone", "drop", { dataTransfer: transfer });
    await page.waitForFunction(() => document.querySelectorAll("#reference-thumbs .thumb:not(.uploading) input[value^=ast_]").length === 3);
    expect(await page.textContent("#reference-count")).toBe("3 of 3–4 added");
    await accessible(page, "brief form");
    await shot(page, "brief");

    await Promise.all([page.waitForURL(/\/emails\/email_[^/]+$/), page.click("#generate")]);
    shared.emailUrl = new URL(page.url()).pathname;

    // The live view: connected, an offline-draft label, progress bars moving, sections arriving.
    await page.waitForSelector("#connection[data-state=open]");
    expect(await page.isVisible("#offline-label")).toBe(true);
    expect(await page.textContent("h1")).toBe(HOOK);
    await page.waitForSelector("#written li");
    await page.waitForFunction(() => (document.querySelector('.agent[data-agent="copy"] progress') as HTMLProgressElement).value > 0);
    await noXss(page);
    await accessible(page, "generation");
    await shot(page, "generation-live");

    // Close the tab mid-generation; the generation goes on without it.
    const before = await page.locator("#written li").count();
    expect(before).toBeLessThan(7);
    await page.close();
    await Bun.sleep(1_600);

    // Reopened: drawn caught up at once (more sections than when it was closed), then live again.
    const again = await open(shared.emailUrl);
    const caughtUp = await again.locator("#written li").count();
    if (await again.locator("#generation").count()) {
      expect(caughtUp).toBeGreaterThan(before);
      await again.waitForSelector("#hero-image");
      await again.waitForSelector("#connection[data-state=open]");
      await shot(again, "generation-reopened");
      await again.waitForSelector("#ready-notice:not([hidden])", { timeout: 30_000 });
    }
    // When it is done the page becomes the editor, with every formula section in order.
    await again.waitForSelector("#editor", { timeout: 30_000 });
    expect(await again.$$eval("#sections .section-item", (items) => items.map((i) => (i as HTMLElement).dataset.sectionId))).toEqual(["hero-1", "headline-1", "ingredient-1", "benefits-1", "testimonial-1", "cta-1", "footer-1"]);
    const runs = (await (await server.fetch(`/api/sessions/${await again.getAttribute("#editor", "data-session-id")}`)).json()) as { runs: Array<{ agent: string; status: string }> };
    expect(runs.runs.filter((r) => r.agent.startsWith("email")).map((r) => r.status)).toEqual(["completed", "completed", "completed"]);
    // The picked photo and the offer made it into the email.
    const generated = (await (await server.fetch(`/api/emails/${shared.emailUrl!.split("/").pop()}`)).json()) as any;
    const byType = (type: string) => generated.document.sections.find((s: any) => s.type === type).fields;
    expect(byType("ingredient").imageUrl).toContain(shared.productPhoto!);
    expect(byType("hero").headline).toContain("20% off your first order");
    expect(byType("cta").note).toContain("SPRING20");
    await again.close();
  }, 90_000);

  test("the editor: edit in place, reorder, regenerate one section live, undo, export", async () => {
    const page = await open(shared.emailUrl!);
    await page.waitForSelector("#editor");
    await page.waitForSelector("#email-frame");
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    await accessible(page, "editor");
    await shot(page, "editor");
    await page.click("label[for=vp-mobile]");
    await shot(page, "editor-mobile", false);
    await page.click("label[for=vp-desktop]");
    expect(await page.locator("#checks li").count()).toBeGreaterThan(0);

    // Edit the headline in place: an htmx swap, no page load.
    await page.click("#section-headline-1 .section-summary");
    await page.waitForSelector("#section-headline-1.editing");
    await page.fill("#edit-headline-1-text", "Fresh skin for spring");
    await shot(page, "editor-editing");
    await page.click("#section-headline-1 button.primary");
    await page.waitForSelector("#section-headline-1:not(.editing) .section-text:text('Fresh skin for spring')");
    expect(await page.textContent("#version-label")).toBe("version 2");
    expect(await page.getAttribute("#email-frame", "src")).toMatch(/[?&]v=2$/);

    // An empty headline is refused in place, with the person's input kept.
    await page.click("#section-headline-1 .section-summary");
    await page.fill("#edit-headline-1-text", "");
    await page.click("#section-headline-1 button.primary");
    await page.waitForSelector("#section-headline-1.editing .error");
    await page.click("#section-headline-1 a.button.quiet");
    await page.waitForSelector("#section-headline-1:not(.editing)");

    // Reorder with the arrow buttons.
    await page.click('button[aria-label="Move Ingredient highlight down"]');
    await page.waitForSelector("#version-label:text('version 3')");
    expect(await page.$$eval("#sections .section-item", (items) => items.map((i) => (i as HTMLElement).dataset.sectionId))).toEqual(["hero-1", "headline-1", "benefits-1", "ingredient-1", "testimonial-1", "cta-1", "footer-1"]);

    // Regenerate the headline with an instruction: its words stream into the section, then the editor refreshes.
    const before = await page.textContent("#section-headline-1 .section-text");
    await page.evaluate(() => {
      const seen = ((window as unknown as { __streamed: string[] }).__streamed = [] as string[]);
      new MutationObserver(() => {
        for (const pre of document.querySelectorAll(".live-run .live-text")) if (pre.textContent) seen.push(pre.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.click("#section-headline-1 details.regen summary");
    // "punchier" is one of the offline writer's instructions; the instruction itself never becomes copy.
    await page.fill("#regen-headline-1", "Make it punchier");
    await page.click("#section-headline-1 .regen-form button");
    await page.waitForSelector("#versions li.current .version-note:text-matches('Regenerated headline')");
    const streamed = await page.evaluate(() => (window as unknown as { __streamed: string[] }).__streamed);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed.at(-1)).toContain("Fresh skin for spring.");
    expect(streamed.at(-1)).not.toContain("punchier");
    expect(await page.textContent("#section-headline-1 .section-text")).not.toBe(before);
    await shot(page, "editor-regenerated");

    // Undo brings the edited headline back without a history entry of its own; redo is then possible.
    const entries = await page.locator("#versions li").count();
    await page.click("#undo");
    await page.waitForSelector("#versions li.undone .version-note:text-matches('Regenerated headline')");
    expect(await page.textContent("#versions li.current .version-note")).toMatch(/^Moved /);
    expect(await page.locator("#versions li").count()).toBe(entries);
    expect(await page.textContent("#section-headline-1 .section-text")).toBe(before);
    expect(await page.isEnabled("#redo")).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // Export: the zip holds HTML, MJML, text and the hero image; "Copy HTML" fills the clipboard.
    await page.click("#export-menu summary");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-zip")]);
    const zip = unzipSync(new Uint8Array(readFileSync((await download.path())!)));
    const names = Object.keys(zip).sort();
    // Named after the email's subject (the offline subject leads with the occasion and offer), slugged.
    const stem = download.suggestedFilename().replace(/\.zip$/, "");
    expect(stem).toMatch(/^spring-launch-20-off-your-first-order[a-z0-9-]*$/);
    expect(names).toContain(`${stem}.html`);
    expect(names).toContain(`${stem}.mjml`);
    expect(names).toContain(`${stem}.txt`);
    expect(names.some((n) => n.startsWith("images/") && n.endsWith(".png"))).toBe(true);
    const exported = strFromU8(zip[`${stem}.html`]!);
    expect(exported).toContain("Fresh skin for spring");
    expect(exported).not.toContain("<script>window.__xss");
    expect(strFromU8(zip[`${stem}.txt`]!)).toContain("Fresh skin for spring");
    const [htmlDownload] = await Promise.all([page.waitForEvent("download"), page.click("#export-html")]);
    expect(readFileSync((await htmlDownload.path())!, "utf8")).toContain("<!doctype html");
    await page.click("#copy-html");
    await page.waitForSelector(".toast.success");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toContain("Fresh skin for spring");
    await noXss(page);
    await page.close();
  }, 60_000);

  test("without JavaScript the same pages work as plain forms", async () => {
    const plain = await browser.newContext({ javaScriptEnabled: false, storageState: await context.storageState(), viewport: { width: 1360, height: 900 } });
    const page = await plain.newPage();
    await page.goto(server.url + shared.emailUrl!);
    await Promise.all([page.waitForURL(/\?edit=headline-1/), page.click("#section-headline-1 .section-summary")]);
    await page.fill("#edit-headline-1-text", "Plain forms still work");
    await Promise.all([page.waitForURL(new RegExp(`${shared.emailUrl}$`)), page.click("#section-headline-1 button.primary")]);
    expect(await page.textContent("#section-headline-1 .section-text")).toBe("Plain forms still work");
    const count = await page.locator("#sections .section-item").count();
    await page.selectOption("#add-section-type", "divider");
    await Promise.all([page.waitForNavigation(), page.click(".add-section button")]);
    expect(await page.locator("#sections .section-item").count()).toBe(count + 1);

    // The formula's arrow buttons re-show the brand form, changed but not yet saved.
    await page.goto(`${server.url}/brands/${shared.brandId}`);
    await Promise.all([page.waitForNavigation(), page.click('button[aria-label="Move Hero down"]')]);
    expect(await page.$$eval("#formula input[name=formulaType]", (inputs) => inputs.map((i) => (i as HTMLInputElement).value)).then((t) => t.slice(0, 2))).toEqual(["headline", "hero"]);
    await plain.close();
  }, 30_000);

  test("on a phone the editor stacks into one column", async () => {
    const page = await open(shared.emailUrl!);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForSelector("#editor");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, "editor-phone");
    await page.close();
  });

  test("two tabs on one email stay in step without a reload; a conflicting edit is shown and can be re-applied, never lost", async () => {
    const a = await open(shared.emailUrl!);
    const b = await open(shared.emailUrl!);
    await a.waitForSelector("#editor");
    await b.waitForSelector("#editor");
    await b.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const start = Number(await a.getAttribute("#editor", "data-version"));

    // An edit in A appears in B (its section list and its preview) with no reload.
    await a.click("#section-headline-1 .section-summary");
    await a.fill("#edit-headline-1-text", "Written in tab A");
    await a.click("#section-headline-1 button.primary");
    await a.waitForSelector(`#editor[data-version="${start + 1}"]`);
    await b.waitForSelector("#section-headline-1 .section-text:text('Written in tab A')");
    await b.waitForSelector(`#editor[data-version="${start + 1}"]`);
    expect(await b.getAttribute("#email-frame", "src")).toMatch(new RegExp(`[?&]v=${start + 1}$`));
    expect(await b.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // B opens the headline; A changes it meanwhile; B's save is refused with the conflict shown and B's words kept.
    await b.click("#section-headline-1 .section-summary");
    await b.fill("#edit-headline-1-text", "Written in tab B");
    await a.click("#section-headline-1 .section-summary");
    await a.fill("#edit-headline-1-text", "Tab A again");
    await a.click("#section-headline-1 button.primary");
    await a.waitForSelector(`#editor[data-version="${start + 2}"]`);
    await b.waitForSelector(".toast:text-matches('saved elsewhere')");
    await b.click("#section-headline-1 button.primary");
    await b.waitForSelector("#section-headline-1.editing .error:text-matches('changed in another tab')");
    expect(await b.inputValue("#edit-headline-1-text")).toBe("Written in tab B");
    await shot(b, "editor-conflict");
    // Re-apply: saving again puts B's words on the newest version; A sees them arrive.
    await b.click("#section-headline-1 button.primary");
    await b.waitForSelector("#section-headline-1:not(.editing) .section-text:text('Written in tab B')");
    await a.waitForSelector("#section-headline-1 .section-text:text('Written in tab B')");
    const notes = await a.$$eval("#versions .version-note", (items) => items.map((i) => i.textContent));
    expect(notes.filter((n) => /Edited headline/.test(n ?? "")).length).toBeGreaterThanOrEqual(3);
    await a.close();
    await b.close();
  }, 60_000);

  test("subject line and preheader are edited in the inbox row, saved as a version, and kept on reload", async () => {
    const page = await open(shared.emailUrl!);
    await page.waitForSelector("#inbox-row");
    const start = Number(await page.getAttribute("#editor", "data-version"));
    await page.fill("#inbox-subject", "Your spring glow: 20% off your first order");
    await page.fill("#inbox-preheader", "Meet the serum that wakes up tired skin, with 20% off your first order.");
    await page.click("#inbox-row .inbox-save");
    await page.waitForSelector(`#editor[data-version="${start + 1}"]`);
    expect(await page.textContent("#inbox-subject-hint")).toContain("a good length");
    expect(await page.textContent("#versions li.current .version-note")).toBe("Changed subject and preheader");
    await accessible(page, "editor with inbox row");
    await shot(page, "editor-inbox-row", false);
    await page.reload();
    expect(await page.inputValue("#inbox-subject")).toBe("Your spring glow: 20% off your first order");
    expect(await page.inputValue("#inbox-preheader")).toBe("Meet the serum that wakes up tired skin, with 20% off your first order.");
    expect(await page.textContent(".inbox-sender")).toContain("Acme");
    await page.close();
  });

  test("undo and redo from the keyboard move through versions (Ctrl-Z, Ctrl-Shift-Z)", async () => {
    const page = await open(shared.emailUrl!);
    await page.waitForSelector("#editor");
    const start = Number(await page.getAttribute("#editor", "data-version"));
    const subject = await page.inputValue("#inbox-subject");
    await page.fill("#inbox-subject", "Undo me");
    await page.click("#inbox-row .inbox-save");
    await page.waitForSelector(`#editor[data-version="${start + 1}"]`);
    // In a text field Ctrl-Z is the field's own; on the page it is the email's.
    await page.locator("h1").click();
    await page.keyboard.press("Control+z");
    await page.waitForSelector(`#editor[data-version="${start + 2}"]`);
    expect(await page.inputValue("#inbox-subject")).toBe(subject);
    await page.locator("h1").click();
    await page.keyboard.press("Control+Shift+z");
    await page.waitForSelector(`#editor[data-version="${start + 3}"]`);
    expect(await page.inputValue("#inbox-subject")).toBe("Undo me");
    await page.locator("h1").click();
    await page.keyboard.press("Control+z");
    await page.waitForSelector(`#editor[data-version="${start + 4}"]`);
    expect(await page.inputValue("#inbox-subject")).toBe(subject);
    await page.close();
  });

  test("the emails list shows the email and escapes its subject", async () => {
    const page = await open("/emails");
    expect(await page.locator("#email-list tbody tr").count()).toBeGreaterThanOrEqual(1);
    // The offline subject leads with the brief's occasion and offer (the hook is longer than a subject may be).
    expect(await page.textContent("#email-list tbody tr td a")).toContain("20% off your first order");
    await noXss(page);
    await shot(page, "emails");
    await page.close();
  });
  test("navigation: brand import is reachable from Brands; engineer pages sit under a Developers menu", async () => {
    const page = await open("/brands");
    await Promise.all([page.waitForURL("**/brands/import"), page.click("#import-brand")]);
    expect(await page.locator("#developers-menu a[href='/sessions']").isVisible()).toBe(false);
    await page.click("#developers-menu summary");
    await shot(page, "developers-menu", false);
    await Promise.all([page.waitForURL("**/sessions"), page.click("#developers-menu a[href='/sessions']")]);
    expect(await page.getAttribute("#developers-menu summary", "class")).toBe("current");
    await accessible(page, "sessions with the Developers menu");
    await page.close();
  });

  test("Stop cancels a generation with an explicit control event; what was written stays editable", async () => {
    const page = await open(`/emails/new?brand=${shared.brandId}`);
    await page.fill("textarea[name=objective]", "Announce the summer range.");
    await page.fill("input[name=audience]", "Everyone on the list");
    await page.fill("input[name=tone]", "Sunny");
    await page.fill("input[name=hook]", "Summer is here");
    await page.check("input[name=pace][value=slow]");
    await page.setInputFiles("#reference-files", await Promise.all([1, 2, 3].map(async (n) => ({ name: `summer-${n}.png`, mimeType: "image/png", buffer: await png(`Summer ${n}`, 300, 450, "#0f766e") }))));
    await page.waitForFunction(() => document.querySelectorAll("#reference-thumbs .thumb:not(.uploading) input[value^=ast_]").length === 3);
    await Promise.all([page.waitForURL(/\/emails\/email_[^/]+$/), page.click("#generate")]);
    await page.waitForSelector("#connection[data-state=open]");
    await page.waitForSelector("#written li");
    await page.click("#stop");
    await page.waitForSelector("#ready-notice:not([hidden])");
    await page.waitForSelector("#editor", { timeout: 15_000 });
    const sections = await page.locator("#sections .section-item").count();
    expect(sections).toBeGreaterThan(0);
    expect(sections).toBeLessThan(7);
    expect(await page.textContent("#versions li.current .version-note")).toBe("Stopped before the end");
    const stoppedId = new URL(page.url()).pathname.split("/").pop()!;
    const list = await open("/emails");
    expect(await list.locator(`#email-list tbody tr:has(a[href$="${stoppedId}"])`).textContent()).toContain("stopped");
    await list.close();
    const session = (await (await server.fetch(`/api/sessions/${await page.getAttribute("#editor", "data-session-id")}`)).json()) as { runs: Array<{ agent: string; status: string }> };
    expect(session.runs.find((r) => r.agent === "email")?.status).toBe("cancelled");
    const events = (await (await server.fetch(`/api/sessions/${await page.getAttribute("#editor", "data-session-id")}/events?limit=500`)).json()) as { events: Array<{ event: { type: string; action?: string } }> };
    expect(events.events.some((e) => e.event.type === "control" && e.event.action === "cancel")).toBe(true);
    await page.close();
  }, 30_000);
});

describe("engineer flow", () => {
  test("the console in two pages: start a run, see it in both, close one mid-run and reopen it, steer, then cancel", async () => {
    const a = await open("/sessions");
    await a.fill("#new-session-title", `Console ${XSS}`);
    await Promise.all([a.waitForURL(/\/sessions\/ses_[^/]+$/), a.click(".new-session button")]);
    shared.sessionUrl = new URL(a.url()).pathname;
    expect(await a.textContent("h1")).toBe(`Console ${XSS}`);
    await a.waitForSelector("#connection[data-state=open]");
    let b = await open(shared.sessionUrl);
    await b.waitForSelector("#connection[data-state=open]");
    await a.waitForFunction(() => document.querySelectorAll("#presence li code").length === 2);

    await a.fill("input[name=prompt]", "Tell me about durable sessions");
    await a.fill("input[name=tokens]", "600");
    await a.fill("input[name=tokensPerSecond]", "40");
    await a.click("#start-run-button");
    for (const page of [a, b]) {
      await page.waitForSelector(".message.assistant[data-status=streaming]");
      await page.waitForSelector("#runs .badge:text('running')");
    }
    await shot(a, "console-streaming");

    // Close B mid-run; reopened, it shows the answer so far at once and keeps streaming.
    await b.close();
    await Bun.sleep(1_000);
    b = await open(shared.sessionUrl);
    const sofar = (await b.textContent(".message.assistant .message-text"))!.length;
    expect(sofar).toBeGreaterThan(10);
    await b.waitForFunction((n) => document.querySelector(".message.assistant .message-text")!.textContent!.length > n, sofar);

    // Steer from A: the answer is interrupted and a new one follows the steering text.
    await a.fill("#steer-text", "Make it shorter");
    await a.click("#steer");
    for (const page of [a, b]) {
      await page.waitForSelector(".message.assistant[data-status=interrupted]");
      await page.waitForSelector(".message.user .message-text:text('Make it shorter')");
      await page.waitForSelector(".message.assistant[data-status=streaming]");
    }

    // Cancel from A: both pages show the run cancelled.
    await a.click("#cancel");
    for (const page of [a, b]) {
      await page.waitForSelector("#runs .badge:text('cancelled')");
      await page.waitForSelector(".message.assistant[data-status=cancelled]");
      await page.waitForSelector("#log .event-type:text('control')");
    }
    await noXss(a);
    await accessible(a, "console");
    await shot(a, "console-cancelled");
    await a.close();
    await b.close();
  }, 60_000);

  test("the chat page keeps two tabs in step", async () => {
    const one = await open(`${shared.sessionUrl}/chat`);
    const two = await open(`${shared.sessionUrl}/chat`);
    await one.waitForSelector("#connection[data-state=open]");
    await two.waitForSelector("#connection[data-state=open]");
    await one.fill("#chat-text", "Hello from tab one");
    await one.click("#chat-form button");
    for (const page of [one, two]) {
      await page.waitForSelector(".message.user .message-text:text('Hello from tab one')");
      await page.waitForSelector(".message.assistant:last-child[data-status=streaming]");
    }
    await one.click("#chat-stop");
    await two.waitForSelector(".message.assistant:last-child[data-status=cancelled]");
    await accessible(two, "chat");
    await shot(two, "chat");
    await one.close();
    await two.close();
  }, 30_000);

  test("no page logged an error or a CSP violation", () => {
    expect(problems).toEqual([]);
  });
});
