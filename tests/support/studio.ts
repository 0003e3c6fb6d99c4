import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT, removeDataDir, TEST_API_TOKEN, type TestServer } from "./server";

/**
 * What the studio's test files share: JSON API calls with a team's token, a team, a brand and a
 * generated email, and for the Chromium files the browser, a signed-in page, the editor's preview
 * frame and axe. The server itself comes from ./server.
 */

/** Every test team owner's password. */
export const PASSWORD = "correct horse battery";

export interface ApiAnswer {
  status: number;
  /** The body parsed when it is JSON, else its text (undefined when empty). */
  body: any;
  headers: Headers;
}

/** A call of the JSON API as one team: `api("PATCH", path, body, { "if-match": '"3"' })`. */
export type Api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiAnswer>;

/** One API call with `token`: a string body is sent as it is, anything else as JSON. */
export async function request(url: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * The API as whoever `token()` names, on the server `url()` names: both are read at each call, so
 * a file can make its `api` before beforeAll starts the server (and a test can switch teams).
 *
 * @example
 * const api = apiAs(() => server.url, () => token);
 * const email = (await api("GET", `/api/emails/${id}`)).body;
 */
export function apiAs(url: () => string, token: () => string): Api {
  return (method, path, body, headers) => request(url(), token(), method, path, body, headers);
}

/** A new team (made with the admin token) whose owner signs in with PASSWORD; answers its API token. */
export async function newTeam(url: string, name: string, owner: { name: string; email: string }): Promise<string> {
  const res = await request(url, TEST_API_TOKEN, "POST", "/api/teams", { name, owner: { name: owner.name, email: owner.email, password: PASSWORD } });
  expect(res.status).toBe(201);
  return res.body.apiToken;
}

/** The brand colours the tests use (green and gold on cream). */
export const BRAND_COLORS = { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" };

/** A brand with BRAND_COLORS and a footer (a street address and `unsubscribeUrl`); answers its id. */
export async function newBrand(api: Api, name: string, unsubscribeUrl: string, more: Record<string, unknown> = {}): Promise<string> {
  const res = await api("POST", "/api/brands", { name, colors: BRAND_COLORS, ...more, footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl } });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** An email written from `brief` by the offline writer (no pacing), once it is no longer generating. */
export async function generatedEmail(api: Api, brief: Record<string, unknown>): Promise<any> {
  const made = await api("POST", "/api/briefs", brief);
  expect(made.status).toBe(201);
  const started = await api("POST", `/api/briefs/${made.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
  expect(started.status).toBe(202);
  for (let i = 0; i < 600; i++) {
    const email = (await api("GET", `/api/emails/${started.body.emailId}`)).body;
    if (email.status !== "generating") return email;
    await Bun.sleep(50);
  }
  throw new Error("still generating");
}

/** `generatedEmail`, and it is ready. */
export async function readyEmail(api: Api, brief: Record<string, unknown>): Promise<any> {
  const email = await generatedEmail(api, brief);
  expect(email.status).toBe("ready");
  return email;
}

/**
 * The serum launch brief the Chromium tests write from: `hook`, and the call to action at
 * https://`site`/serum.
 */
export function serumBrief(brandId: string, site: string, hook: string, referenceAssetIds: string[], more: Record<string, unknown> = {}): Record<string, unknown> {
  return { brandId, objective: "Launch the serum", audience: "Tired skin", tone: "warm", hook, ...more, cta: { label: "Shop now", url: `https://${site}/serum` }, referenceAssetIds };
}

/** Debian's Chromium, headless. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
}

/** Closes the browser, stops the server and removes its data directory (whichever were started). */
export async function stopAll(browser: Browser | undefined, server: TestServer | undefined) {
  await browser?.close();
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
}

export interface SignedIn {
  page: Page;
  /** Page errors and console errors (CSP violations among them when `cspToConsole`). */
  problems: string[];
}

export interface SignInOptions {
  /** Viewport width (the height is 900); 1360 unless told. */
  width?: number;
  /** Playwright's default timeout for the context. */
  timeout: number;
  /** Its navigation timeout, when it differs. */
  navigationTimeout?: number;
  /** Report every CSP violation as a console error (so it lands in `problems`). */
  cspToConsole?: boolean;
}

/**
 * A page in a context of its own (like another window), signed in as `email` with PASSWORD, where
 * the login lands; its page errors and console errors are collected in `problems`.
 */
export async function signedIn(browser: Browser, url: string, email: string, options: SignInOptions): Promise<SignedIn> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1360, height: 900 }, reducedMotion: "reduce" });
  context.setDefaultTimeout(options.timeout);
  if (options.navigationTimeout !== undefined) context.setDefaultNavigationTimeout(options.navigationTimeout);
  if (options.cspToConsole) {
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
    });
  }
  const problems: string[] = [];
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(`${url}/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", PASSWORD);
  await Promise.all([page.waitForURL((at) => !at.pathname.startsWith("/login")), page.click("button[type=submit]")]);
  return { page, problems };
}

/**
 * Waits until canvas.js has attached to the editor's (re)loaded preview frame and, unless `images`
 * is false, the frame's images have loaded (an image arriving later moves the texts under the pointer).
 */
export async function previewReady(page: Page, { images = true }: { images?: boolean } = {}) {
  if (!images) {
    await page.waitForFunction(() => (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument?.documentElement?.dataset.dsCanvas === "1");
    return;
  }
  await page.waitForFunction(() => {
    const doc = (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument;
    return doc?.documentElement?.dataset.dsCanvas === "1" && [...doc.images].every((img) => img.complete);
  });
}

/**
 * Waits for the editor to show a version newer than `version` and for the redrawn preview frame
 * (its URL names the editor's version, not the one being replaced) to be ready.
 */
export async function previewAfter(page: Page, version: number) {
  await page.waitForFunction((v) => {
    const now = Number(document.getElementById("editor")?.dataset.version);
    const doc = (document.getElementById("email-frame") as HTMLIFrameElement | null)?.contentDocument;
    return now > v && doc?.URL.endsWith(`v=${now}`) && doc.documentElement?.dataset.dsCanvas === "1";
  }, version);
  await previewReady(page);
}

/** axe-core on the page as it is (CDP evaluation is not subject to the page's CSP; frames left out): no serious or critical violations. */
export async function accessible(page: Page, name: string) {
  await page.evaluate(readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8"));
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run: (ctx: unknown, options: unknown) => Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe.run(document, { resultTypes: ["violations"], iframes: false });
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  expect(violations, `axe on ${name}`).toEqual([]);
}

/**
 * A brand named `brandName` and an email the offline writer made for it from the Radiance C Serum
 * brief the JSON API tests share; answered once it is no longer generating.
 */
export async function serumApiEmail(api: Api, brandName: string, referenceAssetIds: string[]): Promise<any> {
  const brandId = await newBrand(api, brandName, "{{unsubscribe}}");
  return generatedEmail(api, {
    brandId,
    referenceAssetIds,
    objective: "Launch the serum",
    audience: "Women 30-45",
    tone: "warm",
    hook: "Wake up to brighter skin",
    products: [{ name: "Radiance C Serum", url: "https://glow.example/serum" }],
    cta: { label: "Shop the serum", url: "https://glow.example/serum" },
  });
}
