import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { startServer, removeDataDir, type TestServer } from "./support/server";
import { startBrandSite, ACME, type BrandSite } from "./support/brand-site";
import { referencePng } from "./support/references";

/**
 * Issue 10 in a real browser: a marketer imports a brand from a website (a local site standing in
 * for the web), reviews the proposal, saves it, and generates an email with it.
 */
let server: TestServer;
let site: BrandSite;
let browser: Browser;
let context: BrowserContext;
const consoleErrors: string[] = [];

beforeAll(async () => {
  site = await startBrandSite();
  server = await startServer({ env: { IMPORT_ALLOW_PRIVATE: "on" } });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(20_000);
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective}`));
  });
});

afterAll(async () => {
  await browser?.close();
  site?.stop();
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

describe("brand import in the browser", () => {
  test("import a brand from a website, review it, save it, and generate an email with it", async () => {
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });

    await page.goto(`${server.url}/`);
    await page.fill("input[name=teamName]", "Acme");
    await page.fill("input[name=name]", "Ann Marketer");
    await page.fill("input[name=email]", "ann@example.com");
    await page.fill("input[name=password]", "correct horse battery");
    await Promise.all([page.waitForURL("**/emails"), page.click("button[type=submit]")]);

    // Import: the page follows the run live and then shows the proposal for review.
    await page.goto(`${server.url}/brands/import`);
    await page.fill("input[name=url]", `${site.url}/a/`);
    await Promise.all([page.waitForURL(/\/brands\/import\/[^/]+$/), page.click("form.import-form button[type=submit]")]);
    await page.waitForSelector("form.review-form");
    expect(await page.inputValue("form.review-form input[name=name]")).toBe("Acme Botanicals");
    const colours = (await page.locator("form.review-form input[name=primary], form.review-form input[name=secondary], form.review-form input[name=background], form.review-form input[name=text]").evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value.toLowerCase())));
    expect(colours).toContain(ACME.green);
    await page.screenshot({ path: "test-output/brand-import/review.png", fullPage: true }).catch(() => {});

    // Save, then generate an email with the imported brand.
    await Promise.all([page.waitForURL(/\/brands\/brand_[^/]+$/), page.click("form.review-form button[type=submit]")]);
    const brandId = new URL(page.url()).pathname.split("/").pop()!;
    const brand = await (await server.fetch(`/api/brands/${brandId}`)).json();
    expect(brand.name).toBe("Acme Botanicals");
    expect(brand.colors.primary.toLowerCase()).toBe(ACME.green);
    expect(brand.logoAssetId).toMatch(/^ast_/);

    await page.goto(`${server.url}/emails/new?brand=${brandId}`);
    await page.fill("textarea[name=objective]", "Introduce the spring serum to our newsletter readers.");
    await page.fill("input[name=audience]", "Newsletter readers");
    await page.fill("input[name=tone]", "Warm and calm");
    await page.fill("input[name=hook]", "Spring starts with Acme");
    // A brief needs 3–4 reference screenshots.
    await page.setInputFiles("#reference-files", await Promise.all([0, 1, 2].map(async (n) => ({ name: `reference-${n + 1}.png`, mimeType: "image/png", buffer: Buffer.from(await referencePng(n)) }))));
    await page.waitForFunction(() => document.querySelectorAll("#reference-thumbs .thumb:not(.uploading) input[value^=ast_]").length === 3);
    await Promise.all([page.waitForURL(/\/emails\/email_[^/]+$/), page.click("#generate")]);
    const emailId = new URL(page.url()).pathname.split("/").pop()!;
    await page.waitForSelector("#editor", { timeout: 30_000 });

    const email = await (await server.fetch(`/api/emails/${emailId}`)).json();
    expect(email.status).toBe("ready");
    const html = await (await server.fetch(`/api/emails/${emailId}/html`)).text();
    expect(html).toContain("Spring starts with Acme");
    expect(html.toLowerCase()).toContain(ACME.green);
    expect(html).toContain(`/assets/${brand.logoAssetId}`);
    expect(consoleErrors).toEqual([]);
    await page.close();
  }, 120_000);
});
