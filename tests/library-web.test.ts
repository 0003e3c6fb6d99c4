import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { ROOT, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { accessible, apiAs, launchChromium, newBrand, newTeam, PASSWORD, previewReady, readyEmail as studioEmail, serumBrief, signedIn as signIn, stopAll } from "./support/studio";
import { referenceAssets } from "./support/references";
import { LIBRARY_PAGE_SIZE } from "../src/web/library-pages";

/**
 * The library page (/emails) in Chromium against the real server: duplicate, rename, archive with
 * Undo, save as template and a new email from it, filters and pages, "New email" from a filtered
 * list, thumbnails, saved blocks in the editor (Add section and the canvas palette), hostile names
 * shown escaped, no console errors or CSP violations, and axe on the page.
 */

const OUT = join(ROOT, "test-output/library");
const HOSTILE = `<img src=x onerror="window.__xss=1">"'&`;
let server: TestServer;
let browser: Browser;
let token: string;
let ownerEmail: string;
const ids = {} as { brand: string; other: string; email: string; otherEmail: string };

const api = apiAs(() => server.url, () => token);
const brand = (name: string) => newBrand(api, name, "https://library.example/unsubscribe");
const readyEmail = async (brandId: string, hook: string) => studioEmail(api, serumBrief(brandId, "library.example", hook, await referenceAssets(server.url, token)));

/** A signed-in page with its errors (page errors, console errors, CSP violations) collected. */
const signedIn = (width = 1360) =>
  // The library's thumbnails are renders of each email: on a busy machine a page's "load" takes a while.
  signIn(browser, server.url, ownerEmail, { width, timeout: 15_000, navigationTimeout: 60_000, cspToConsole: true });

const row = (page: Page, id: string) => page.locator(`#email-list tbody tr[data-email-id="${id}"]`);
const listed = async (query = "") => (await api("GET", `/api/emails?limit=100${query}`)).body.emails as any[];

async function noXss(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer({ env: { AI_PROVIDER: "offline" } });
  ownerEmail = `library-${crypto.randomUUID()}@example.com`;
  token = await newTeam(server.url, "Library", { name: "Lib", email: ownerEmail });
  ids.brand = await brand("Glow & Co");
  ids.other = await brand(`Other ${HOSTILE}`);
  ids.email = (await readyEmail(ids.brand, "Wake up to brighter skin")).id;
  ids.otherEmail = (await readyEmail(ids.other, "Summer sale starts now")).id;
  browser = await launchChromium();
}, 240_000);

afterAll(() => stopAll(browser, server));

describe("the library page (Chromium)", () => {
  test("duplicate, rename (a hostile name, shown escaped), archive and Undo, from the page", async () => {
    const { page, problems } = await signedIn();
    await page.goto(`${server.url}/emails`);
    expect(await row(page, ids.email).isVisible()).toBe(true);
    // Each row has a thumbnail: the email's HTML in a sandboxed frame, loaded.
    const thumb = row(page, ids.email).locator(".email-thumb iframe");
    expect(await thumb.getAttribute("sandbox")).toBe("");
    expect(await thumb.getAttribute("src")).toContain(`/emails/${ids.email}/thumbnail?v=1`);
    // What the person sees in it: the email itself (its hook), rendered in the frame.
    await thumb.contentFrame().getByText("Wake up to brighter skin").first().waitFor({ state: "attached" });
    // It is the email (sandboxed, no scripts), and the browser may keep it: its URL names the version.
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
    const thumbnail = await fetch(server.url + (await thumb.getAttribute("src"))!, { headers: { cookie } });
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get("content-security-policy")).toContain("sandbox");
    expect(thumbnail.headers.get("cache-control")).toContain("immutable");
    expect(await thumbnail.text()).toContain("Wake up to brighter skin");
    // Not the current version (or not asked by version): not kept.
    expect((await fetch(`${server.url}/emails/${ids.email}/thumbnail?v=99`, { headers: { cookie } })).headers.get("cache-control")).toBe("no-store");

    // Duplicate: a copy at the top, named "Copy of …".
    const original = (await api("GET", `/api/emails/${ids.email}`)).body;
    await Promise.all([page.waitForURL(/done=duplicated/), row(page, ids.email).locator("button[data-action=duplicate]").click()]);
    const copyId = new URL(page.url()).searchParams.get("id")!;
    expect(copyId).not.toBe(ids.email);
    expect(await page.textContent("#library-notice")).toContain(`Duplicated as “Copy of ${original.name}”`);
    expect(await page.locator("#email-list tbody tr").first().getAttribute("data-email-id")).toBe(copyId);
    const copy = (await api("GET", `/api/emails/${copyId}`)).body;
    expect(copy).toMatchObject({ name: `Copy of ${original.name}`, version: 1, status: "ready" });
    expect(copy.document.sections).toEqual(original.document.sections);

    // Rename it to a hostile string: stored as typed, shown as text.
    await row(page, copyId).locator(".rename summary").click();
    await row(page, copyId).locator(".rename-form input[name=name]").fill(HOSTILE);
    await Promise.all([page.waitForURL(/done=renamed/), row(page, copyId).locator(".rename-form button[type=submit]").click()]);
    expect(await row(page, copyId).locator("a.email-name").textContent()).toBe(HOSTILE);
    expect(await page.textContent("#library-notice")).toContain(HOSTILE);
    expect((await api("GET", `/api/emails/${copyId}`)).body.name).toBe(HOSTILE);
    await noXss(page);
    await page.screenshot({ path: join(OUT, "library.png"), fullPage: true, caret: "initial" });

    // Archive: gone from the list, with an Undo that puts it back.
    await Promise.all([page.waitForURL(/done=archived/), row(page, copyId).locator("button[data-action=archive]").click()]);
    expect(await row(page, copyId).count()).toBe(0);
    expect(await page.textContent("#library-notice")).toContain("Archived");
    expect((await listed()).map((e) => e.id)).not.toContain(copyId);
    expect((await listed("&status=archived")).map((e) => e.id)).toEqual([copyId]);
    await page.screenshot({ path: join(OUT, "archived-undo.png"), caret: "initial" });
    await Promise.all([page.waitForURL(/done=unarchived/), page.click("#undo-archive")]);
    expect(await row(page, copyId).isVisible()).toBe(true);
    expect((await listed()).map((e) => e.id)).toContain(copyId);
    expect((await api("GET", `/api/emails/${copyId}`)).body.archivedAt).toBeNull();

    // Archived emails are found with the Archived filter and unarchived from there too.
    await api("POST", `/api/emails/${copyId}/archive`);
    await page.goto(`${server.url}/emails`);
    await page.selectOption("#filter-status", "archived");
    await Promise.all([page.waitForURL(/status=archived/), page.click("#library-filters button[type=submit]")]);
    expect(await page.locator("#email-list tbody tr").count()).toBe(1);
    expect(await row(page, copyId).locator(".library-status .badge").textContent()).toBe("archived");
    await Promise.all([page.waitForURL(/done=unarchived/), row(page, copyId).locator("button[data-action=unarchive]").click()]);
    expect(new URL(page.url()).searchParams.get("status")).toBe("archived");
    expect((await listed()).map((e) => e.id)).toContain(copyId);
    await noXss(page);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);

  test("save as template and a new email from it: a round trip from the page", async () => {
    const { page, problems } = await signedIn();
    await page.goto(`${server.url}/emails`);
    const source = (await api("GET", `/api/emails/${ids.otherEmail}`)).body;
    await Promise.all([page.waitForURL(/done=template/), row(page, ids.otherEmail).locator("button[data-action=template]").click()]);
    const templateId = new URL(page.url()).searchParams.get("id")!;
    expect(await page.textContent("#library-notice")).toContain("as a template");
    const card = page.locator(`#templates [data-template-id="${templateId}"]`);
    expect(await card.locator(".template-name").textContent()).toBe(source.name);
    // A template is not one of the emails.
    expect(await row(page, templateId).count()).toBe(0);
    await Promise.all([page.waitForURL((url) => /^\/emails\/email_[^/]+$/.test(url.pathname)), card.locator("button[data-action=use-template]").click()]);
    const newId = new URL(page.url()).pathname.split("/").pop()!;
    expect(newId).not.toBe(templateId);
    await page.waitForSelector("#editor");
    const made = (await api("GET", `/api/emails/${newId}`)).body;
    expect(made).toMatchObject({ template: false, version: 1, name: source.name });
    expect(made.document.sections).toEqual(source.document.sections);
    expect((await listed()).map((e) => e.id)).toContain(newId);
    expect((await listed("&kind=template")).map((e) => e.id)).toEqual([templateId]);
    // The template's brand carries a hostile name: escaped in the Templates card too.
    await page.goto(`${server.url}/emails`);
    expect(await page.locator(`#templates [data-template-id="${templateId}"] .muted`).textContent()).toBe(`Other ${HOSTILE}`);
    await noXss(page);
    await accessible(page, "the library");
    expect(problems).toEqual([]);
    await page.context().close();

    // On a phone the page does not scroll sideways (the table scrolls in its own box).
    const phone = await signedIn(390);
    await phone.page.goto(`${server.url}/emails`);
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await phone.page.screenshot({ path: join(OUT, "library-phone.png"), fullPage: true, caret: "initial" });
    expect(phone.problems).toEqual([]);
    await phone.page.context().close();
  }, 180_000);

  test("filters, search and pages; New email from a brand-filtered list starts with that brand", async () => {
    // Enough emails for two pages (12 a page): duplicates are quick.
    const batch: string[] = [];
    for (let i = 0; i < 12; i++) {
      const made = await api("POST", `/api/emails/${ids.email}/duplicate`, { name: `Batch ${String(i).padStart(2, "0")}` });
      expect(made.status).toBe(201);
      batch.push(made.body.id);
    }
    const { page, problems } = await signedIn();
    await page.goto(`${server.url}/emails`);
    expect(await page.locator("#email-list tbody tr").count()).toBe(LIBRARY_PAGE_SIZE);
    const firstPage = await page.locator("#email-list tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-email-id")));
    await Promise.all([page.waitForURL(/cursor=/), page.click("#next-page")]);
    const secondPage = await page.locator("#email-list tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-email-id")));
    expect(secondPage.length).toBeGreaterThan(0);
    expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);
    // Newest first across the two pages: every email this test made, once, in the order it made them
    // (other emails of the team may come and go; these are ours).
    const shown = [...firstPage, ...secondPage];
    expect(shown.filter((id) => batch.includes(id!))).toEqual([...batch].reverse());

    await page.goto(`${server.url}/emails`);
    await page.fill("#filter-q", "batch 0");
    await Promise.all([page.waitForURL(/q=batch/), page.click("#library-filters button[type=submit]")]);
    const names = await page.locator("#email-list a.email-name").allTextContents();
    expect(names).toEqual(["Batch 09", "Batch 08", "Batch 07", "Batch 06", "Batch 05", "Batch 04", "Batch 03", "Batch 02", "Batch 01", "Batch 00"]);
    expect(await page.locator("#next-page").count()).toBe(0);

    await page.goto(`${server.url}/emails`);
    await page.selectOption("#filter-brand", ids.other);
    await Promise.all([page.waitForURL(/brandId=/), page.click("#library-filters button[type=submit]")]);
    const brandRows = await page.locator("#email-list tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-email-id")));
    expect(brandRows).toContain(ids.otherEmail);
    expect(brandRows).not.toContain(ids.email);
    await Promise.all([page.waitForURL(/\/emails\/new/), page.click("#new-email")]);
    expect(new URL(page.url()).searchParams.get("brand")).toBe(ids.other);
    expect(await page.inputValue("select[name=brandId]")).toBe(ids.other);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 240_000);

  test("the editor saves a section as a block; it is inserted from Add section and from the canvas palette", async () => {
    const { page, problems } = await signedIn();
    const email = (await api("GET", `/api/emails/${ids.email}`)).body;
    const cta = email.document.sections.find((s: any) => s.type === "cta");
    await page.goto(`${server.url}/emails/${ids.email}`);
    await page.waitForSelector("#editor");
    await page.click(`#section-${cta.id} button[aria-label^="Save the"]`);
    await page.waitForSelector(".notice.success:has-text('as a block')");
    const blocks = (await api("GET", `/api/brands/${ids.brand}/blocks`)).body.blocks;
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ type: "cta", fields: cta.fields });
    expect((await api("GET", `/api/emails/${ids.email}`)).body.version).toBe(email.version);

    // Add section → the saved block: a new version with the block before the footer.
    await page.selectOption("#add-section-type", `block:${blocks[0].id}`);
    await page.click(".add-section button[type=submit]");
    await page.waitForSelector(`#editor[data-version="${email.version + 1}"]`);
    const afterAdd = (await api("GET", `/api/emails/${ids.email}`)).body;
    expect(afterAdd.document.sections).toHaveLength(email.document.sections.length + 1);
    expect(afterAdd.document.sections.at(-1).type).toBe("footer");
    expect(afterAdd.document.sections.at(-2)).toMatchObject({ type: "cta", fields: cta.fields });

    // The canvas palette lists it too: "+" before the second section, then the block.
    await previewReady(page);
    await page.frameLocator("#email-frame").locator('[data-ds-insert="1"]').click();
    await page.click(`#canvas-palette [data-canvas-block="${blocks[0].id}"]`);
    await page.waitForSelector(`#editor[data-version="${email.version + 2}"]`);
    const afterPalette = (await api("GET", `/api/emails/${ids.email}`)).body;
    expect(afterPalette.document.sections[1]).toMatchObject({ type: "cta", fields: cta.fields });
    const versions = (await api("GET", `/api/emails/${ids.email}/versions`)).body.versions;
    expect(versions[0].note).toContain("Inserted the saved block");
    // Both inserts (the palette's, Add section's) say who made them, like every edit.
    expect(versions.slice(0, 2).map((v: any) => [v.note, v.author])).toEqual([1, 2].map(() => [`Inserted the saved block “${blocks[0].name}”`, "Lib"]));

    // Another team's block cannot be deleted from our page (404), and stays.
    const other = await fetch(`${server.url}/api/teams`, { method: "POST", headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "Other", owner: { name: "O", email: `other-${crypto.randomUUID()}@example.com`, password: PASSWORD } }) });
    const otherToken = ((await other.json()) as any).apiToken;
    const otherBrand = await fetch(`${server.url}/api/brands`, { method: "POST", headers: { authorization: `Bearer ${otherToken}`, "content-type": "application/json" }, body: JSON.stringify({ name: "Theirs", colors: { primary: "#123456" } }) }).then((r) => r.json() as any);
    const theirEmail = await (async () => {
      const saved = token;
      token = otherToken;
      try {
        return await readyEmail(otherBrand.id, "Their email");
      } finally {
        token = saved;
      }
    })();
    const theirBlock = await fetch(`${server.url}/api/emails/${theirEmail.id}/sections/${theirEmail.document.sections[0].id}/save-block`, { method: "POST", headers: { authorization: `Bearer ${otherToken}` } }).then((r) => r.json() as any);
    await page.goto(`${server.url}/emails`);
    const csrf = await page.getAttribute("meta[name=csrf-token]", "content");
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
    const refused = await fetch(`${server.url}/emails/blocks/delete`, { method: "POST", redirect: "manual", headers: { cookie, origin: server.url, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: csrf!, blockId: theirBlock.id, back: "/emails" }) });
    expect(refused.status).toBe(404);
    expect((await fetch(`${server.url}/api/brands/${otherBrand.id}/blocks`, { headers: { authorization: `Bearer ${otherToken}` } }).then((r) => r.json() as any)).blocks).toHaveLength(1);
    expect(await page.locator(`#saved-blocks [data-block-id="${theirBlock.id}"]`).count()).toBe(0);

    // The library lists our saved blocks; Delete removes one (inserted copies stay).
    const item = page.locator(`#saved-blocks [data-block-id="${blocks[0].id}"]`);
    expect(await item.locator(".block-name").textContent()).toBe(blocks[0].name);
    await Promise.all([page.waitForURL(/done=block-deleted/), item.locator("button[type=submit]").click()]);
    expect(await page.textContent("#library-notice")).toContain("Deleted the saved block");
    expect((await api("GET", `/api/brands/${ids.brand}/blocks`)).body.blocks).toEqual([]);
    expect((await api("GET", `/api/emails/${ids.email}`)).body.document.sections.filter((s: any) => s.type === "cta")).toHaveLength(3);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);
});
