import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import sharp from "sharp";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { freshDatabase } from "./support/postgres";
import { TestSocket } from "./support/ws";
import { referenceAssets } from "./support/references";
import { chromium } from "playwright-core";

/**
 * "Approve the hero before assembly" (`approveHero: true`): the email generation asks a durable
 * approval (input.request kind approval) and suspends holding no worker; an answer from any client
 * continues it — declined with a note, the hero is drawn again and asked about again; the product
 * photo can be chosen instead; the page's buttons answer too. Real servers, offline providers.
 */
const servers: TestServer[] = [];
const sockets: TestSocket[] = [];
let server: TestServer;
let databaseUrl: string;
let token: string;
let owner: { email: string; password: string };
beforeAll(async () => {
  databaseUrl = await freshDatabase();
  server = await start({ databaseUrl });
  owner = { email: `hero-${Date.now()}@example.com`, password: "correct horse battery" };
  const team = await call(server, TEST_API_TOKEN, "POST", "/api/teams", { name: "hero approval", owner: { name: "Hero", ...owner } });
  token = team.body.apiToken;
}, 90_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  for (const s of servers) if (s.process.exitCode === null) await s.stop();
});

async function start(options: Parameters<typeof startServer>[0] = {}) {
  const started = await startServer(options);
  servers.push(started);
  return started;
}
async function call(on: TestServer, auth: string, method: string, path: string, body?: unknown) {
  const res = await fetch(on.url + path, { method, headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function follow(on: TestServer, sessionId: string) {
  const ws = await TestSocket.open(`${on.url.replace("http", "ws")}/ws?token=${token}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: sessionId, offset: "-1" });
  return ws;
}
async function photo(): Promise<string> {
  const png = await sharp({ create: { width: 400, height: 400, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toBuffer();
  const form = new FormData();
  form.append("file", new File([png as BlobPart], "serum.png", { type: "image/png" }));
  const res = await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}
async function newBrief(on: TestServer, withPhoto: boolean) {
  const brand = await call(on, token, "POST", "/api/brands", { name: `Glow ${Math.random()}`, colors: { primary: "#0f5132", background: "#fffaf2" }, footer: { address: "12 Market Street, Portland" } });
  expect(brand.status).toBe(201);
  const brief = await call(on, token, "POST", "/api/briefs", {
    brandId: brand.body.id,
    referenceAssetIds: await referenceAssets(on.url, token),
    objective: "Launch the serum",
    audience: "People with tired skin",
    tone: "warm",
    hook: "Brighter skin in 14 days",
    products: [{ name: "Radiance C Serum", description: "A vitamin C serum that brightens dull skin.", ...(withPhoto ? { imageAssetId: await photo() } : {}) }],
    cta: { label: "Shop now", url: "https://glow.example/serum" },
  });
  expect(brief.status).toBe(201);
  return brief.body.id as string;
}
async function generate(on: TestServer, briefId: string) {
  const res = await call(on, token, "POST", `/api/briefs/${briefId}/generate`, { provider: "offline", options: { sectionDelayMs: 0 }, approveHero: true });
  expect(res.status).toBe(202);
  return res.body as { emailId: string; sessionId: string; runId: string };
}
const requests = (ws: TestSocket, sessionId: string) => ws.events(sessionId).filter((f) => f.event.type === "input.request").map((f) => f.event);
async function runStatus(on: TestServer, sessionId: string, runId: string) {
  return (await call(on, token, "GET", `/api/sessions/${sessionId}`)).body.runs.find((r: any) => r.runId === runId)?.status as string;
}
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await Bun.sleep(50);
  }
}
const heroOf = (email: any) => email.document.sections.find((s: any) => s.type === "hero")?.fields.imageUrl as string | undefined;

describe("approve the hero before assembly", () => {
  test("the run suspends; after SIGKILL and a restart a decline with a note redraws and asks again; approval assembles", async () => {
    const briefId = await newBrief(server, false);
    const started = await generate(server, briefId);
    let ws = await follow(server, started.sessionId);
    const first = (await ws.waitFor((f) => f.event?.type === "input.request" && f.event.runId === started.runId, 30_000)).event;
    expect(first.kind).toBe("approval");
    const drawn = ws.events(started.sessionId).filter((f) => f.event.type === "artifact" && f.event.kind === "image").map((f) => f.event.ref);
    expect(drawn).toHaveLength(1);
    expect(first.schema.imageUrl).toBe(drawn[0]);
    expect(first.schema.choices).toEqual(["redraw"]);
    // Waiting holds no worker: the run is suspended, the email still generating with the hero in its draft.
    await until(async () => (await runStatus(server, started.sessionId, started.runId)) === "suspended");
    const waiting = (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body;
    expect(waiting.status).toBe("generating");
    expect(heroOf(waiting)).toBe(drawn[0]);
    // Bad answers are refused and change nothing.
    for (const value of [{ approved: "yes" }, { approved: false, choice: "product-photo" }, { approved: false, note: "x".repeat(2_001) }, "maybe"]) {
      const bad = await call(server, token, "POST", `/api/sessions/${started.sessionId}/control`, { action: "respond", requestId: first.requestId, value });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("invalid_value");
    }

    // The server dies while the run waits; another process (same database and data) takes over.
    await server.kill();
    server = await start({ databaseUrl, dataDir: server.dataDir });
    ws = await follow(server, started.sessionId);
    const declined = await call(server, token, "POST", `/api/sessions/${started.sessionId}/control`, { action: "respond", requestId: first.requestId, value: { approved: false, note: "warmer morning light" } });
    expect(declined.status).toBe(202);
    const second = (await ws.waitFor((f) => f.event?.type === "input.request" && f.event.runId === started.runId && f.event.requestId !== first.requestId, 30_000)).event;
    const images = ws.events(started.sessionId).filter((f) => f.event.type === "artifact" && f.event.kind === "image").map((f) => f.event.ref);
    expect(images).toHaveLength(2);
    expect(second.schema.imageUrl).toBe(images[1]);
    expect(images[1]).not.toBe(images[0]);
    // Offline, a redraw is another drawing of the same design: different pixels.
    const bytes = async (url: string) => new Uint8Array(await (await fetch(server.url + new URL(url).pathname)).arrayBuffer());
    const [before, after] = await Promise.all([bytes(images[0]), bytes(images[1])]);
    expect(before.length).toBeGreaterThan(1_000);
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(false);
    const redraw = ws.events(started.sessionId).find((f) => f.event.type === "run.progress" && f.event.agent === "email-hero" && f.event.label.includes("again"));
    expect(redraw.event.label).toBe("Drawing the hero image again: warmer morning light");
    // The first question is closed.
    expect((await call(server, token, "POST", `/api/sessions/${started.sessionId}/control`, { action: "respond", requestId: first.requestId, value: true })).status).toBe(409);

    expect((await call(server, token, "POST", `/api/sessions/${started.sessionId}/control`, { action: "respond", requestId: second.requestId, value: true })).status).toBe(202);
    await until(async () => (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body.status === "ready");
    const ready = (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body;
    expect(heroOf(ready)).toBe(images[1]);
    await ws.waitFor((f) => f.event?.type === "run.end" && f.event.runId === started.runId, 30_000);
    // One orchestrator run from start to end, however many times it waited.
    const own = ws.events(started.sessionId).map((f) => f.event).filter((e) => e.runId === started.runId);
    expect(own.filter((e) => e.type === "run.start")).toHaveLength(1);
    expect(own.filter((e) => e.type === "run.end").map((e) => e.status)).toEqual(["completed"]);
  }, 120_000);

  test("declining with the product photo uses it; the generation page shows the question and its buttons answer it", async () => {
    const briefId = await newBrief(server, true);
    const started = await generate(server, briefId);
    const ws = await follow(server, started.sessionId);
    const request = (await ws.waitFor((f) => f.event?.type === "input.request" && f.event.runId === started.runId, 30_000)).event;
    expect(request.schema.choices).toEqual(["redraw", "product-photo"]);
    const productPhoto = request.schema.productPhotoUrl as string;
    expect(productPhoto).toContain("/assets/");

    // The page, signed in as the team's owner: the image, and the three buttons.
    const login = await fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: new URLSearchParams(owner) });
    expect(login.status).toBe(302);
    const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    await until(async () => (await runStatus(server, started.sessionId, started.runId)) === "suspended");
    const page = await (await fetch(`${server.url}/emails/${started.emailId}`, { headers: { cookie } })).text();
    expect(page).toContain(`data-request-id="${request.requestId}"`);
    expect(page).toContain(`src="${request.schema.imageUrl}"`);
    for (const id of ["hero-approve", "hero-redraw", "hero-product-photo"]) expect(page).toContain(`id="${id}"`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
    const posted = await fetch(`${server.url}/emails/${started.emailId}/hero-approval`, { method: "POST", redirect: "manual", headers: { cookie, origin: server.url, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf, requestId: request.requestId, answer: "product-photo" }) });
    expect(posted.status).toBe(303);
    const answer = await ws.waitFor((f) => f.event?.type === "control" && f.event.action === "respond" && f.event.requestId === request.requestId);
    expect(answer.event.value).toEqual({ approved: false, choice: "product-photo" });
    await until(async () => (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body.status === "ready");
    expect(heroOf((await call(server, token, "GET", `/api/emails/${started.emailId}`)).body)).toBe(productPhoto);
    // No second drawing: the photo was taken as it is.
    expect(ws.events(started.sessionId).filter((f) => f.event.type === "artifact" && f.event.kind === "image")).toHaveLength(1);
    // The page now is the editor, without the question.
    expect(await (await fetch(`${server.url}/emails/${started.emailId}`, { headers: { cookie } })).text()).not.toContain('id="hero-approval"');
  }, 120_000);

  test("in Chromium: the open generation page shows the question when it comes, and Approve finishes the email", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    try {
      const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
      context.setDefaultTimeout(30_000);
      const page = await context.newPage();
      await page.goto(`${server.url}/login`);
      await page.fill("input[name=email]", owner.email);
      await page.fill("input[name=password]", owner.password);
      await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click("button[type=submit]")]);
      const briefId = await newBrief(server, false);
      const res = await call(server, token, "POST", `/api/briefs/${briefId}/generate`, { provider: "offline", options: { sectionDelayMs: 1_500 }, approveHero: true });
      const started = res.body as { emailId: string; sessionId: string; runId: string };
      // Opened while the copy is still being written (1.5 s a section): the question arrives live.
      await page.goto(`${server.url}/emails/${started.emailId}`);
      expect(await page.locator("#hero-approval").count()).toBe(0);
      await page.locator("#hero-approval").waitFor();
      const src = await page.locator("#hero-image").getAttribute("src");
      const request = (await call(server, token, "GET", `/api/sessions/${started.sessionId}/events?offset=-1&limit=1000`)).body.events.map((e: any) => e.event).find((e: any) => e.type === "input.request");
      expect(src).toBe(request.schema.imageUrl);
      await page.screenshot({ path: "test-output/hero-approval.png", caret: "initial" });
      await page.click("#hero-approve");
      // The run continues and the page becomes the editor.
      await page.waitForSelector("#hero-approval", { state: "detached" });
      await until(async () => (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body.status === "ready");
      const email = (await call(server, token, "GET", `/api/emails/${started.emailId}`)).body;
      expect(heroOf(email)).toBe(request.schema.imageUrl);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
