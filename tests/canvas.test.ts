import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT, removeDataDir, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { referenceAssets } from "./support/references";

/**
 * Editing on the canvas (the editor's preview) in Chromium against the real server: a text edited
 * in place at desktop and phone widths, a section inserted at a place with the "+" and the palette,
 * the section toolbar, and exports without the canvas markers.
 */

const OUT = join(ROOT, "test-output/canvas");
const PASSWORD = "correct horse battery";
let server: TestServer;
let browser: Browser;
let token: string;
let ownerEmail: string;

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, body: parsed };
}

async function readyEmail(): Promise<any> {
  const brand = await api("POST", "/api/brands", { name: "Canvas & Co", colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" }, footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "https://canvas.example/unsubscribe" } });
  expect(brand.status).toBe(201);
  const brief = await api("POST", "/api/briefs", { brandId: brand.body.id, objective: "Launch the serum", audience: "Tired skin", tone: "warm", hook: "Wake up to brighter skin", cta: { label: "Shop now", url: "https://canvas.example/serum" }, referenceAssetIds: await referenceAssets(server.url, token) });
  expect(brief.status).toBe(201);
  const started = await api("POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
  expect(started.status).toBe(202);
  for (let i = 0; i < 600; i++) {
    const email = (await api("GET", `/api/emails/${started.body.emailId}`)).body;
    if (email.status !== "generating") {
      expect(email.status).toBe("ready");
      return email;
    }
    await Bun.sleep(50);
  }
  throw new Error("still generating");
}

/** The editor of `emailId` in a signed-in page of the given width, with its page errors collected. */
async function editor(emailId: string, width: number): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, reducedMotion: "reduce" });
  context.setDefaultTimeout(15_000);
  const problems: string[] = [];
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(`${server.url}/login`);
  await page.fill("input[name=email]", ownerEmail);
  await page.fill("input[name=password]", PASSWORD);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click("button[type=submit]")]);
  await page.goto(`${server.url}/emails/${emailId}`);
  await canvasReady(page);
  return { page, problems };
}

/** Waits until canvas.js has attached to the (re)loaded preview frame. */
async function canvasReady(page: Page) {
  await page.waitForFunction(() => (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument?.documentElement?.dataset.dsCanvas === "1");
}

const frame = (page: Page) => page.frameLocator("#email-frame");

/** Edits the headline in place (click, type, Enter) and checks the API has it at a newer version. */
async function editHeadline(page: Page, email: any, text: string) {
  const headline = email.document.sections.find((s: any) => s.type === "headline");
  const target = frame(page).locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
  await target.click();
  await expect(target.getAttribute("contenteditable")).resolves.toBe("plaintext-only");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) > v, email.version);
  await expect(page.locator("#canvas-status").textContent()).resolves.toContain("Saved");
  const saved = (await api("GET", `/api/emails/${email.id}`)).body;
  expect(saved.version).toBeGreaterThan(email.version);
  expect(saved.document.sections.find((s: any) => s.id === headline.id).fields.text).toBe(text);
  await canvasReady(page);
  await expect(frame(page).locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`).textContent()).resolves.toBe(text);
  return saved;
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  ownerEmail = `canvas-${crypto.randomUUID()}@example.com`;
  const team = await fetch(`${server.url}/api/teams`, { method: "POST", headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "Canvas", owner: { name: "Cam", email: ownerEmail, password: PASSWORD } }) });
  expect(team.status).toBe(201);
  token = (await team.json()).apiToken;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

describe("the canvas (Chromium)", () => {
  test("a headline edited in place saves a new version; Escape cancels; exports carry no canvas markers", async () => {
    const email = await readyEmail();
    const { page, problems } = await editor(email.id, 1360);
    const saved = await editHeadline(page, email, "Brighter skin by Friday");
    await page.screenshot({ path: join(OUT, "canvas-desktop.png"), caret: "initial" });

    // Escape puts the text back and saves nothing.
    const headline = saved.document.sections.find((s: any) => s.type === "headline");
    const target = frame(page).locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
    await target.click();
    await page.keyboard.type(" (draft)");
    await page.keyboard.press("Escape");
    await expect(target.textContent()).resolves.toBe("Brighter skin by Friday");
    await expect(target.getAttribute("contenteditable")).resolves.toBeNull();
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(saved.version);

    // The canvas render carries the markers; the export does not.
    const canvas = await api("GET", `/api/emails/${email.id}/html?edit=1`);
    expect(canvas.body).toContain(`data-ds-section="${headline.id}"`);
    const exported = await api("GET", `/api/emails/${email.id}/html`);
    expect(exported.status).toBe(200);
    expect(exported.body).toContain("Brighter skin by Friday");
    expect(exported.body).not.toContain("data-ds-");
    expect((await api("GET", `/api/emails/${email.id}/mjml`)).body).not.toContain("data-ds-");
    expect(problems).toEqual([]);
    await page.context().close();
  }, 60_000);

  test("at a phone's width (390px) too", async () => {
    const email = await readyEmail();
    const { page, problems } = await editor(email.id, 390);
    await editHeadline(page, email, "Glow on the go");
    await page.screenshot({ path: join(OUT, "canvas-mobile.png"), caret: "initial" });
    expect(problems).toEqual([]);
    await page.context().close();
  }, 60_000);

  test("an in-place edit made on an older version is refused (409): the newer text stays and the canvas shows it", async () => {
    const email = await readyEmail();
    const { page, problems } = await editor(email.id, 1360);
    const headline = email.document.sections.find((s: any) => s.type === "headline");
    const target = frame(page).locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`);
    await target.click();
    // Someone else saves the same field meanwhile.
    const other = await api("PATCH", `/api/emails/${email.id}/sections/${headline.id}`, { fields: { text: "Their headline" } });
    expect(other.status).toBe(200);
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("My headline");
    await page.keyboard.press("Enter");
    // The conflict panel shows their value and mine; discarding keeps theirs.
    await page.locator("#conflict-dialog .conflict-current").filter({ hasText: "Their headline" }).waitFor();
    await expect(page.locator("#conflict-dialog .conflict-yours").textContent()).resolves.toContain("My headline");
    await page.click("#conflict-discard");
    await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) === v, other.body.version);
    await canvasReady(page);
    await expect(frame(page).locator(`[data-ds-section="${headline.id}"][data-ds-field="text"]`).textContent()).resolves.toBe("Their headline");
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(other.body.version);
    expect(now.document.sections.find((s: any) => s.id === headline.id).fields.text).toBe("Their headline");
    // Chromium logs the refused request (409) on purpose.
    expect(problems.filter((p) => !/status of 409/.test(p))).toEqual([]);
    await page.context().close();
  }, 60_000);

  test("+ between two sections inserts the chosen type at that place; the toolbar moves, duplicates and deletes the selected section", async () => {
    const email = await readyEmail();
    const { page, problems } = await editor(email.id, 1360);
    const before = email.document.sections.map((s: any) => s.id);
    expect(before.length).toBeGreaterThan(2);
    // The "+" before the third section: the new one becomes the third.
    await frame(page).locator('[data-ds-insert="2"]').click();
    await page.locator('#canvas-palette [data-canvas-insert="text"]').click();
    await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) > v, email.version);
    const after = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(after.document.sections.length).toBe(before.length + 1);
    expect(after.document.sections[2].type).toBe("text");
    expect(after.document.sections.filter((_: any, i: number) => i !== 2).map((s: any) => s.id)).toEqual(before);
    expect(after.version).toBeGreaterThan(email.version);

    // The new section is selected: move it up one.
    await canvasReady(page);
    await page.locator("#canvas-toolbar:not([hidden])").waitFor();
    await page.click('#canvas-toolbar [data-canvas-action="up"]');
    await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) > v, after.version);
    const moved = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(moved.document.sections[1].id).toBe(after.document.sections[2].id);
    expect(moved.document.sections[2].id).toBe(after.document.sections[1].id);

    // Duplicate puts a copy right after it (and selects the copy); Delete removes the copy again.
    await canvasReady(page);
    await page.locator("#canvas-toolbar:not([hidden])").waitFor();
    await page.click('#canvas-toolbar [data-canvas-action="duplicate"]');
    await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) > v, moved.version);
    const copied = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(copied.document.sections.length).toBe(moved.document.sections.length + 1);
    expect(copied.document.sections[2].type).toBe(moved.document.sections[1].type);
    expect(copied.document.sections[2].fields).toEqual(moved.document.sections[1].fields);
    expect(copied.document.sections[2].id).not.toBe(moved.document.sections[1].id);
    await canvasReady(page);
    await page.locator("#canvas-toolbar:not([hidden])").waitFor();
    await page.click('#canvas-toolbar [data-canvas-action="delete"]');
    await page.waitForFunction((v) => Number(document.getElementById("editor")?.dataset.version) > v, copied.version);
    const deleted = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(deleted.document.sections.map((s: any) => s.id)).toEqual(moved.document.sections.map((s: any) => s.id));
    expect(problems).toEqual([]);
    await page.context().close();
  }, 60_000);
});
