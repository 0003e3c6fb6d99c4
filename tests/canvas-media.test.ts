import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import type { Browser, Page } from "playwright-core";
import { ROOT, startServer, type TestServer } from "./support/server";
import { apiAs, launchChromium, newBrand, newTeam, previewAfter, previewReady, readyEmail, request, serumBrief, signedIn, stopAll } from "./support/studio";
import { referenceAssets } from "./support/references";

/**
 * Images on the canvas: the brand's image library, placing an image in a slot with alt text and a
 * crop around a focal point (cut server-side with sharp, email-safe), the image panel in Chromium
 * (library, upload, alt warning, shape and focal point), and every bad input refused with nothing stored.
 */

const OUT = join(ROOT, "test-output/canvas");
let server: TestServer;
let browser: Browser;
let ownerEmail: string;
const teams: Record<"a" | "b", string> = { a: "", b: "" };

/** The API as team a (or b), with If-Match when given. */
const api = (method: string, path: string, body?: unknown, options: { team?: "a" | "b"; ifMatch?: number } = {}) =>
  request(server.url, teams[options.team ?? "a"], method, path, body, options.ifMatch === undefined ? {} : { "if-match": `"${options.ifMatch}"` });
const teamA = apiAs(() => server.url, () => teams.a);

/** A PNG whose left half is red and right half blue: crops at the left and the right edge differ. */
async function halves(width = 400, height = 200): Promise<Uint8Array> {
  const blue = await sharp({ create: { width: width / 2, height, channels: 3, background: { r: 20, g: 40, b: 220 } } }).png().toBuffer();
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r: 220, g: 30, b: 30 } } }).composite([{ input: blue, left: width / 2, top: 0 }]).png().toBuffer());
}

async function upload(bytes: Uint8Array, name: string, kind: string, team: "a" | "b" = "a", type = "image/png") {
  const form = new FormData();
  form.append("file", new File([bytes as BlobPart], name, { type }));
  form.append("kind", kind);
  const res = await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${teams[team]}` }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** The average colour of an image (r, g, b). */
async function colourOf(url: string): Promise<{ r: number; g: number; b: number; width: number; height: number }> {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const { channels } = await sharp(bytes).stats();
  const meta = await sharp(bytes).metadata();
  return { r: channels[0]!.mean, g: channels[1]!.mean, b: channels[2]!.mean, width: meta.width!, height: meta.height! };
}

interface Fixture {
  email: any;
  hero: any;
  logoId: string;
  productId: string;
}

/** A brand with a logo and a two-colour product image, and a ready offline email of it. */
async function fixture(): Promise<Fixture> {
  const logo = await upload(new Uint8Array(await sharp({ create: { width: 200, height: 80, channels: 3, background: { r: 15, g: 81, b: 50 } } }).png().toBuffer()), "logo.png", "logo");
  const product = await upload(await halves(), "serum.png", "product");
  expect([logo.status, product.status]).toEqual([201, 201]);
  const brandId = await newBrand(teamA, "Media & Co", "https://media.example/unsubscribe", { logoAssetId: logo.body.id, productImageAssetIds: [product.body.id] });
  const products = [{ name: "Radiance Serum", description: "A vitamin C serum that brightens.", url: "https://media.example/serum" }];
  const email = await readyEmail(teamA, serumBrief(brandId, "media.example", "Wake up to brighter skin", await referenceAssets(server.url, teams.a), { products }));
  const hero = email.document.sections.find((s: any) => s.type === "hero");
  expect(hero).toBeDefined();
  return { email, hero, logoId: logo.body.id, productId: product.body.id };
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  ownerEmail = `media-${crypto.randomUUID()}@example.com`;
  for (const [key, owner] of [["a", ownerEmail], ["b", `other-${crypto.randomUUID()}@example.com`]] as const) {
    teams[key] = await newTeam(server.url, `Media ${key}`, { name: "Mo", email: owner });
  }
  browser = await launchChromium();
}, 60_000);

afterAll(() => stopAll(browser, server));

describe("the image API", () => {
  test("the library offers the brand's logo, product image and the email's hero; a crop is cut around the focal point", async () => {
    const { email, hero, logoId, productId } = await fixture();
    const library = await api("GET", `/api/emails/${email.id}/image-library`);
    expect(library.status).toBe(200);
    const sources = new Map(library.body.images.map((i: any) => [i.id, i.source]));
    expect(sources.get(logoId)).toBe("logo");
    expect(sources.get(productId)).toBe("product");
    const heroId = /\/assets\/(ast_[\w-]+)$/.exec(hero.fields.imageUrl)![1]!;
    expect(sources.get(heroId)).toBe("email");

    // The product image in the hero, cut square around its left edge: a red square, 200×200.
    const left = await api("PUT", `/api/emails/${email.id}/sections/${hero.id}/image`, { slot: "imageUrl", assetId: productId, alt: "The serum, red side", crop: { aspect: "1:1", x: 0, y: 0.5 } }, { ifMatch: email.version });
    expect(left.status).toBe(200);
    expect(left.body.version).toBe(email.version + 1);
    const leftHero = left.body.document.sections.find((s: any) => s.id === hero.id).fields;
    expect(leftHero.imageAlt).toBe("The serum, red side");
    expect(leftHero.imageUrl).not.toContain(productId);
    const red = await colourOf(leftHero.imageUrl);
    expect([red.width, red.height]).toEqual([200, 200]);
    expect(red.r).toBeGreaterThan(150);
    expect(red.b).toBeLessThan(80);

    // Moving the focal point to the right edge changes the image the email shows.
    const right = await api("PUT", `/api/emails/${email.id}/sections/${hero.id}/image`, { slot: "imageUrl", assetId: productId, crop: { aspect: "1:1", x: 1, y: 0.5 } }, { ifMatch: left.body.version });
    expect(right.status).toBe(200);
    const rightHero = right.body.document.sections.find((s: any) => s.id === hero.id).fields;
    expect(rightHero.imageUrl).not.toBe(leftHero.imageUrl);
    expect(rightHero.imageAlt).toBe("The serum, red side"); // alt left out: kept
    const blue = await colourOf(rightHero.imageUrl);
    expect(blue.b).toBeGreaterThan(150);
    expect(blue.r).toBeLessThan(80);
    const html = (await api("GET", `/api/emails/${email.id}/html`)).body as string;
    expect(html).toContain(`src="${rightHero.imageUrl}"`);

    // The slot remembers the source and the crop; the same crop again reuses its image.
    const slot = await api("GET", `/api/emails/${email.id}/sections/${hero.id}/image?slot=imageUrl`);
    expect(slot.status).toBe(200);
    expect(slot.body).toMatchObject({ slot: "imageUrl", url: rightHero.imageUrl, alt: "The serum, red side", source: { id: productId }, crop: { aspect: "1:1", x: 1, y: 0.5 } });
    const again = await api("PUT", `/api/emails/${email.id}/sections/${hero.id}/image`, { slot: "imageUrl", assetId: slot.body.asset.id, crop: { aspect: "1:1", x: 0, y: 0.5 } });
    expect(again.status).toBe(200);
    expect(again.body.document.sections.find((s: any) => s.id === hero.id).fields.imageUrl).toBe(leftHero.imageUrl);

    // Whole image: the source itself.
    const whole = await api("PUT", `/api/emails/${email.id}/sections/${hero.id}/image`, { slot: "imageUrl", assetId: productId, crop: { aspect: "original", x: 0.5, y: 0.5 } });
    expect(whole.status).toBe(200);
    expect(whole.body.document.sections.find((s: any) => s.id === hero.id).fields.imageUrl).toEndWith(`/assets/${productId}`);
  }, 120_000);

  test("bad input is refused with a clear 4xx and nothing is stored", async () => {
    const { email, hero, productId } = await fixture();
    const otherTeamImage = await upload(await halves(), "theirs.png", "product", "b");
    expect(otherTeamImage.status).toBe(201);
    const crops = async () => (await api("GET", "/api/assets?kind=crop")).body.assets.length;
    const cropsBefore = await crops();
    const put = (body: unknown, options: { team?: "a" | "b"; ifMatch?: number; section?: string } = {}) => api("PUT", `/api/emails/${email.id}/sections/${options.section ?? hero.id}/image`, body, options);
    const cases: Array<[string, Promise<{ status: number; body: any }>, number, string]> = [
      ["unknown asset", put({ slot: "imageUrl", assetId: "ast_doesnotexist" }), 400, "asset_not_found"],
      ["another team's asset", put({ slot: "imageUrl", assetId: otherTeamImage.body.id }), 400, "asset_not_found"],
      ["focal point past the edge", put({ slot: "imageUrl", assetId: productId, crop: { aspect: "1:1", x: 5, y: 0.5 } }), 400, "invalid_request"],
      ["negative focal point", put({ slot: "imageUrl", assetId: productId, crop: { aspect: "1:1", x: 0.5, y: -1 } }), 400, "invalid_request"],
      ["focal point as text", put({ slot: "imageUrl", assetId: productId, crop: { aspect: "1:1", x: "left", y: 0.5 } }), 400, "invalid_request"],
      ["unknown shape", put({ slot: "imageUrl", assetId: productId, crop: { aspect: "7:3", x: 0.5, y: 0.5 } }), 400, "invalid_request"],
      ["asset id of the wrong form", put({ slot: "imageUrl", assetId: "../../etc/passwd" }), 400, "invalid_request"],
      ["alt with a line break", put({ slot: "imageUrl", assetId: productId, alt: "a\nb" }), 400, "invalid_request"],
      ["unknown field", put({ slot: "imageUrl", assetId: productId, width: 3 }), 400, "invalid_request"],
      ["a slot the hero has not", put({ slot: "url", assetId: productId }), 400, "invalid_slot"],
      ["a text field as slot", put({ slot: "headline", assetId: productId }), 400, "invalid_request"],
      ["a product slot of a hero", put({ slot: "products.0.imageUrl", assetId: productId }), 400, "invalid_slot"],
      ["unknown section", put({ slot: "imageUrl", assetId: productId }, { section: "nope" }), 404, "section_not_found"],
      ["another team's email", put({ slot: "imageUrl", assetId: productId }, { team: "b" }), 404, "email_not_found"],
      ["a malformed If-Match", put({ slot: "imageUrl", assetId: productId }, { ifMatch: -1 }), 400, "invalid_if_match"],
    ];
    for (const [what, answer, status, code] of cases) {
      const { status: got, body } = await answer;
      expect({ what, status: got, code: body?.error?.code }).toEqual({ what, status, code });
      expect(body.error.message.length).toBeGreaterThan(5);
    }
    expect((await api("GET", `/api/emails/${email.id}/sections/${hero.id}/image?slot=url`)).status).toBe(400);
    expect((await api("GET", `/api/emails/${email.id}/image-library`, undefined, { team: "b" })).status).toBe(404);

    // A stale edit of the same image: 409, the newer image stays.
    const first = await put({ slot: "imageUrl", assetId: productId, alt: "first" }, { ifMatch: email.version });
    expect(first.status).toBe(200);
    const stale = await put({ slot: "imageUrl", assetId: productId, alt: "stale", crop: { aspect: "1:1", x: 0, y: 0 } }, { ifMatch: email.version });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("version_conflict");

    // A file that is not an image is refused by the upload route.
    const text = await upload(new TextEncoder().encode("just text, not a picture"), "notes.png", "upload", "a", "image/png");
    expect(text.status).toBe(415);
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(first.body.version);
    expect(now.document.sections.find((s: any) => s.id === hero.id).fields.imageAlt).toBe("first");
    expect(await crops()).toBe(cropsBefore);
  }, 120_000);
});

/** The editor of `emailId` in a signed-in page. */
async function editor(emailId: string, width: number): Promise<{ page: Page; problems: string[] }> {
  const { page, problems } = await signedIn(browser, server.url, ownerEmail, { width, timeout: 20_000 });
  await page.goto(`${server.url}/emails/${emailId}`);
  await previewReady(page);
  return { page, problems };
}

async function newerThan(page: Page, version: number, emailId: string) {
  await previewAfter(page, version);
  return (await api("GET", `/api/emails/${emailId}`)).body;
}

/** The hero image's src and alt as the canvas shows them (read from the page: the frame runs no script). */
const heroImage = (page: Page, heroId: string) =>
  page.evaluate((id) => {
    const img = (document.getElementById("email-frame") as HTMLIFrameElement).contentDocument!.querySelector(`[data-section-id="${id}"] [class~="ds-img"] img`) as HTMLImageElement;
    return { src: img.getAttribute("src"), alt: img.getAttribute("alt") };
  }, heroId);

describe("the image panel (Chromium)", () => {
  test("swap the hero for a library image with alt text and a focal point; upload one; an empty description warns", async () => {
    const { email: ready, hero, productId } = await fixture();
    let email = ready;
    const { page, problems } = await editor(email.id, 1360);
    const heroImg = page.frameLocator("#email-frame").locator(`[data-section-id="${hero.id}"] [class~="ds-img"] img`);

    await heroImg.click();
    const dialog = page.locator("#canvas-image");
    await dialog.waitFor({ state: "visible" });
    // The current image is chosen; the brand's product image is offered.
    expect(await page.locator("#canvas-image-library input:checked").count()).toBe(1);
    await page.locator(`label.image-choice:has(input[value="${productId}"])`).click();
    await page.fill("#canvas-image-alt", "Radiance Serum on the bathroom shelf");
    await page.selectOption("#canvas-image-aspect", "1:1");
    await page.fill("#canvas-image-x", "0");
    await page.screenshot({ path: join(OUT, "image-panel.png"), caret: "initial" });
    await page.click("#canvas-image-save");
    email = await newerThan(page, email.version, email.id);
    const fields = email.document.sections.find((s: any) => s.id === hero.id).fields;
    expect(fields.imageAlt).toBe("Radiance Serum on the bathroom shelf");
    expect(fields.imageUrl).toMatch(/\/assets\/ast_/);
    expect(fields.imageUrl).not.toEndWith(productId);
    expect(await heroImage(page, hero.id)).toEqual({ src: fields.imageUrl, alt: "Radiance Serum on the bathroom shelf" });
    const red = await colourOf(fields.imageUrl);
    expect(red.width).toBe(red.height);
    expect(red.r).toBeGreaterThan(150);

    // Reopened by keyboard (Enter on the focused image): the crop is remembered; an upload is offered and picked.
    await heroImg.focus();
    await page.keyboard.press("Enter");
    await dialog.waitFor({ state: "visible" });
    expect(await page.locator("#canvas-image-aspect").inputValue()).toBe("1:1");
    expect(await page.locator("#canvas-image-x").inputValue()).toBe("0");
    const png = await sharp({ create: { width: 300, height: 300, channels: 3, background: { r: 250, g: 200, b: 0 } } }).png().toBuffer();
    await page.setInputFiles("#canvas-image-upload", { name: "yellow.png", mimeType: "image/png", buffer: png });
    await page.locator('label.image-choice:has(input:checked) span:text("yellow.png")').waitFor();
    // A file that is not an image is refused in the panel, the choice stays.
    await page.setInputFiles("#canvas-image-upload", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not an image at all") });
    await page.locator("#canvas-image-error:not([hidden])").waitFor();
    expect(await page.locator("#canvas-image-error").textContent()).toContain("PNG");
    await page.fill("#canvas-image-alt", "");
    expect(await page.locator("#canvas-image-alt-hint.warn").textContent()).toContain("No description");
    await page.selectOption("#canvas-image-aspect", "original");
    await page.click("#canvas-image-save");
    email = await newerThan(page, email.version, email.id);
    const uploaded = email.document.sections.find((s: any) => s.id === hero.id).fields;
    expect(uploaded.imageAlt).toBe("");
    expect((await heroImage(page, hero.id)).src).toBe(uploaded.imageUrl);
    expect((await colourOf(uploaded.imageUrl)).g).toBeGreaterThan(150);
    expect(email.checks.map((c: any) => c.id)).toContain(`alt-missing:${hero.id}`);

    // Escape closes the panel and changes nothing.
    await heroImg.click();
    await dialog.waitFor({ state: "visible" });
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(email.version);
    // Chromium logs the refused upload (415) on purpose.
    expect(problems.filter((p) => !/status of 415/.test(p))).toEqual([]);
    await page.context().close();
  }, 150_000);
});
