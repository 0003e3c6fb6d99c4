import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { ROOT, startServer, type TestServer } from "./support/server";
import { accessible, apiAs, launchChromium, newBrand, newTeam, previewReady, readyEmail as studioEmail, serumBrief, signedIn, stopAll } from "./support/studio";
import { referenceAssets } from "./support/references";

/**
 * The editor live across tabs, in Chromium against the real server: an edit in one tab appears in
 * the other without a reload and says who made it; a stale edit is merged when it touches other
 * fields and otherwise shows the conflict (re-apply or discard), never losing either edit; undo and
 * redo from the keyboard move through the history without adding entries; presence shows the other
 * tab and forgets it when it closes. Every wait polls the DOM; nothing is timed.
 */

const OUT = join(ROOT, "test-output/editor-live");
const OWNER_NAME = "Robin Editor";
let server: TestServer;
let browser: Browser;
let token: string;
let ownerEmail: string;

const api = apiAs(() => server.url, () => token);

async function readyEmail(): Promise<any> {
  const brandId = await newBrand(api, "Live & Co", "https://live.example/unsubscribe");
  return studioEmail(api, serumBrief(brandId, "live.example", "Wake up to brighter skin", await referenceAssets(server.url, token)));
}

/** A signed-in tab (its own browser context, like another window) on the email's editor. */
async function tab(emailId: string): Promise<{ page: Page; problems: string[] }> {
  const { page, problems } = await signedIn(browser, server.url, ownerEmail, { timeout: 20_000 });
  await page.goto(`${server.url}/emails/${emailId}`);
  await previewReady(page, { images: false });
  return { page, problems };
}

const version = async (page: Page) => Number(await page.getAttribute("#editor", "data-version"));
const atVersion = (page: Page, v: number) => page.waitForSelector(`#editor[data-version="${v}"]`);
const section = (email: any, type: string) => email.document.sections.find((s: any) => s.type === type);
const unexpected = (problems: string[]) => problems.filter((p) => !/status of 409/.test(p));

/** Saves one field of a section through its side form. */
async function saveSideForm(page: Page, sectionId: string, field: string, value: string) {
  await page.click(`#section-${sectionId} .section-summary`);
  await page.waitForSelector(`#section-${sectionId}.editing`);
  await page.fill(`#edit-${sectionId}-${field}`, value);
  await page.click(`#section-${sectionId} button.primary`);
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  ownerEmail = `live-${crypto.randomUUID()}@example.com`;
  token = await newTeam(server.url, "Live", { name: OWNER_NAME, email: ownerEmail });
  browser = await launchChromium();
}, 60_000);

afterAll(() => stopAll(browser, server));

describe("the editor in two tabs (Chromium)", () => {
  test("presence shows the other tab; an edit in A appears in B without a reload, saying who made it; A ignores its own echo", async () => {
    const email = await readyEmail();
    const a = await tab(email.id);
    const b = await tab(email.id);
    await b.page.evaluate(() => ((window as any).__sameDocument = true));

    // Each sees the other (the email session's presence), with the person's name.
    await a.page.waitForSelector("#presence:not([hidden])[data-count='1']");
    await b.page.waitForSelector("#presence:not([hidden])[data-count='1']");
    expect(await a.page.textContent("#presence .presence-text")).toBe(`1 other editing: ${OWNER_NAME}`);
    expect(await a.page.textContent("#presence .presence-avatar")).toBe("R");
    await a.page.screenshot({ path: join(OUT, "presence.png"), caret: "initial" });
    await accessible(a.page, "editor with presence");

    const headline = section(email, "headline");
    await saveSideForm(a.page, headline.id, "text", "Written in tab A");
    await atVersion(a.page, email.version + 1);
    await b.page.waitForSelector(`#section-${headline.id} .section-text:text('Written in tab A')`);
    await atVersion(b.page, email.version + 1);
    await b.page.waitForSelector(`#live-status:not([hidden]):text('Edited by ${OWNER_NAME} in another tab: Edited headline in Headline')`);
    await previewReady(b.page, { images: false });
    expect(await b.page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`).textContent()).toBe("Written in tab A");
    expect(await b.page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    // A's own edit is not announced back to it.
    expect(await a.page.getAttribute("#live-status", "hidden")).not.toBeNull();
    // The history says who and what.
    expect(await b.page.textContent("#versions li.current .version-note")).toBe("Edited headline in Headline");
    expect(await b.page.textContent("#versions li.current .version-author")).toBe(OWNER_NAME);
    await accessible(b.page, "editor after a version from another tab");

    // B closes: A's presence forgets it.
    await b.page.context().close();
    await a.page.waitForSelector("#presence[hidden][data-count='0']", { state: "attached" });
    expect(unexpected(a.problems)).toEqual([]);
    await a.page.context().close();
  }, 90_000);

  test("stale edits: different fields merge with both kept; the same field shows the conflict, re-apply keeps mine, discard keeps theirs", async () => {
    const email = await readyEmail();
    const a = await tab(email.id);
    const b = await tab(email.id);
    const headline = section(email, "headline");
    const cta = section(email, "cta");

    // B opens the headline form; A changes the button meanwhile; B saves its headline on the older version: merged.
    await b.page.click(`#section-${headline.id} .section-summary`);
    await b.page.waitForSelector(`#section-${headline.id}.editing`);
    await b.page.fill(`#edit-${headline.id}-text`, "B's headline");
    await saveSideForm(a.page, cta.id, "label", "A's button");
    await atVersion(a.page, email.version + 1);
    await b.page.waitForSelector(".toast:text-matches('saved elsewhere by')");
    expect(await version(b.page)).toBe(email.version);
    await b.page.click(`#section-${headline.id} button.primary`);
    await atVersion(b.page, email.version + 2);
    await a.page.waitForSelector(`#section-${headline.id} .section-text:text("B's headline")`);
    let now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(section(now, "headline").fields.text).toBe("B's headline");
    expect(section(now, "cta").fields.label).toBe("A's button");

    // The same field in both, on the canvas: B is typing in place when A saves; B's save shows the conflict.
    await previewReady(b.page, { images: false });
    const target = b.page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
    await target.click();
    await b.page.keyboard.press("ControlOrMeta+a");
    await b.page.keyboard.type("B typed this");
    await saveSideForm(a.page, headline.id, "text", "A typed that");
    await atVersion(a.page, email.version + 3);
    await b.page.waitForSelector(".toast:text-matches('saved elsewhere by')");
    await b.page.keyboard.press("Enter");
    await b.page.waitForSelector("#conflict-dialog[open]");
    expect(await b.page.textContent("#conflict-dialog .conflict-changes")).toContain(`Edited headline in Headline — ${OWNER_NAME}`);
    expect(await b.page.textContent("#conflict-dialog .conflict-current")).toContain("A typed that");
    expect(await b.page.textContent("#conflict-dialog .conflict-yours")).toContain("B typed this");
    await b.page.screenshot({ path: join(OUT, "conflict.png"), caret: "initial" });
    await accessible(b.page, "conflict dialog");
    // Re-apply: B's words go on the newest version, and A sees them.
    await b.page.click("#conflict-reapply");
    await atVersion(b.page, email.version + 4);
    await a.page.waitForSelector(`#section-${headline.id} .section-text:text("B typed this")`);
    now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(section(now, "headline").fields.text).toBe("B typed this");

    // Once more, and discard: A's words stay.
    await previewReady(b.page, { images: false });
    await target.click();
    await b.page.keyboard.press("ControlOrMeta+a");
    await b.page.keyboard.type("B tries again");
    await saveSideForm(a.page, headline.id, "text", "A wins this one");
    await atVersion(a.page, email.version + 5);
    await b.page.waitForSelector(".toast:text-matches('saved elsewhere by')");
    await b.page.keyboard.press("Enter");
    await b.page.waitForSelector("#conflict-dialog[open]");
    await b.page.click("#conflict-discard");
    await atVersion(b.page, email.version + 5);
    await b.page.waitForSelector(`#section-${headline.id} .section-text:text("A wins this one")`);
    now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(email.version + 5);
    expect(section(now, "headline").fields.text).toBe("A wins this one");
    expect(section(now, "cta").fields.label).toBe("A's button");
    expect(unexpected(a.problems)).toEqual([]);
    expect(unexpected(b.problems)).toEqual([]);
    await a.page.context().close();
    await b.page.context().close();
  }, 120_000);

  test("Ctrl/Cmd-Z and Ctrl/Cmd-Shift-Z undo and redo without adding history entries; inside an in-place edit they are the text's own", async () => {
    const email = await readyEmail();
    const { page, problems } = await tab(email.id);
    const headline = section(email, "headline");
    const original = headline.fields.text;
    await saveSideForm(page, headline.id, "text", "Undo me");
    await atVersion(page, email.version + 1);
    const entries = await page.locator("#versions li").count();

    // On the page: Ctrl-Z undoes (a new version number, no new entry, the old text back).
    await page.locator("h1").click();
    await page.keyboard.press("Control+z");
    await atVersion(page, email.version + 2);
    await page.waitForSelector(`#section-${headline.id} .section-text:text("${original}")`);
    expect(await page.locator("#versions li").count()).toBe(entries);
    expect(await page.textContent("#versions li.undone .version-note")).toBe("Edited headline in Headline");
    expect(await page.isEnabled("#redo")).toBe(true);
    await accessible(page, "history with an undone entry");

    // Ctrl-Shift-Z redoes.
    await page.locator("h1").click();
    await page.keyboard.press("Control+Shift+z");
    await atVersion(page, email.version + 3);
    await page.waitForSelector(`#section-${headline.id} .section-text:text("Undo me")`);
    expect(await page.locator("#versions li").count()).toBe(entries);
    expect(await page.locator("#versions li.undone").count()).toBe(0);

    // Inside a text being edited on the canvas, Ctrl-Z undoes the typing, not the email.
    await previewReady(page, { images: false });
    const target = page.frameLocator("#email-frame").locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
    await target.click();
    await page.keyboard.type(" and more");
    await page.keyboard.press("Control+z");
    await page.keyboard.press("Escape");
    await page.locator("h1").click();
    await page.keyboard.press("Control+z");
    await atVersion(page, email.version + 4);
    const history = (await api("GET", `/api/emails/${email.id}/versions`)).body;
    // Exactly one undo happened since the redo: the in-place Ctrl-Z did not reach the email.
    expect(history).toMatchObject({ version: email.version + 4, showing: email.version, redo: email.version + 1 });
    expect(history.versions.map((v: any) => v.version)).toEqual([email.version + 1, email.version]);
    expect(unexpected(problems)).toEqual([]);
    await page.context().close();
  }, 90_000);
});
