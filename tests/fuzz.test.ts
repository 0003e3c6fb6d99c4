import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import fc from "fast-check";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";
import { renderEmail } from "../src/email/render";
import { writeOfflineEmail } from "../src/email/offline-writer";
import { EVENT_TYPES } from "../src/sessions/events";
import { referenceAssets } from "./support/references";

/**
 * Property-based abuse of the service (issue 6): random and hostile JSON bodies and WebSocket
 * frames get a 4xx or an error frame, never a 5xx or a dropped socket; the service keeps serving;
 * an event appended before the storm is still there exactly once; and hostile strings in every
 * text field come out escaped in pages and in generated email HTML.
 */

let server: TestServer;
let token: string;
let cookie: string;
let canarySession: string;
let canaryClientToken: string;
let brandId: string;
let emailId: string;
/** The 3 reference screenshots every brief needs. */
let referenceIds: string[];
const CANARY_ID = `canary-${crypto.randomUUID()}`;
const sockets: TestSocket[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
});

/** Script, attribute and URL payloads; none may come out of a page or an email as markup. */
const XSS = [
  "<script>alert(1)</script>",
  `"><img src=x onerror=alert(1)>`,
  `'><svg onload=alert(1)>`,
  "</textarea><script>alert(1)</script>",
  "</script><script>alert(1)</script>",
  "</title><script>alert(1)</script>",
  "</style><script>alert(1)</script>",
  `<a href="javascript:alert(1)">x</a>`,
  "<iframe src=javascript:alert(1)>",
  `' onmouseover='alert(1)`,
  "<!--<img src=x onerror=alert(1)>-->",
  "]]><script>alert(1)</script>",
  `<mj-raw><script>alert(1)</script></mj-raw>`,
];

async function call(method: string, path: string, body?: string, contentType: string | null = "application/json", auth = token) {
  const headers: Record<string, string> = { authorization: `Bearer ${auth}` };
  if (contentType && body !== undefined) headers["content-type"] = contentType;
  const res = await fetch(server.url + path, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json };
}

async function page(path: string) {
  const res = await fetch(server.url + path, { headers: { cookie }, redirect: "manual" });
  return { status: res.status, html: await res.text() };
}

async function healthy() {
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
}

/**
 * The markup a page or an email really contains, read by a real HTML parser (Bun's HTMLRewriter):
 * event-handler attributes, `javascript:` URLs in attributes, and the text of script elements.
 * An iframe's `srcdoc` is a document of its own and is read too.
 */
function activeContent(html: string): string[] {
  const found: string[] = [];
  const rewriter = new HTMLRewriter()
    .on("*", {
      element(el) {
        for (const [name, value] of el.attributes) {
          if (/^on/i.test(name)) found.push(`<${el.tagName} ${name}="${value}">`);
          if (/^(href|src|action|formaction|xlink:href|background|poster)$/i.test(name) && /^\s*(javascript|vbscript|data:text\/html)/i.test(value)) found.push(`<${el.tagName} ${name}="${value}">`);
          if (name === "srcdoc") found.push(...activeContent(value).map((f) => `srcdoc: ${f}`));
        }
        if (/^(object|embed)$/i.test(el.tagName)) found.push(`<${el.tagName}>`);
      },
    })
    .on("script", {
      text(chunk) {
        if (/alert\(1\)/.test(chunk.text)) found.push(`<script>${chunk.text}`);
      },
    });
  rewriter.transform(html);
  return found;
}

/** What a page or an email must never contain, whatever was typed into it. */
function expectEscaped(where: string, html: string, payloads: readonly string[]) {
  for (const payload of payloads) expect({ where, payload, raw: html.includes(payload) }).toEqual({ where, payload, raw: false });
  expect({ where, active: activeContent(html) }).toEqual({ where, active: [] });
}

async function waitReady(id: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await call("GET", `/api/emails/${id}`);
    if (res.json.status !== "generating") return res.json;
    if (Date.now() > deadline) throw new Error("generation did not finish");
    await Bun.sleep(40);
  }
}

beforeAll(async () => {
  server = await startServer();
  const team = await call("POST", "/api/teams", JSON.stringify({ name: `Fuzz ${XSS[0]}`, owner: { name: `Owner ${XSS[1]}`, email: "fuzz@example.com", password: "correct horse battery" } }), "application/json", TEST_API_TOKEN);
  expect(team.status).toBe(201);
  token = team.json.apiToken;
  const login = await fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: new URLSearchParams({ email: "fuzz@example.com", password: "correct horse battery" }) });
  expect(login.status).toBe(302);
  cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");

  const created = await call("POST", "/api/sessions", JSON.stringify({ title: "canary" }));
  canarySession = created.json.id;
  canaryClientToken = created.json.clientToken;
  const posted = await call("POST", `/api/sessions/${canarySession}/messages`, JSON.stringify({ id: CANARY_ID, text: "appended before the storm" }));
  expect(posted.status).toBe(201);

  brandId = (await call("POST", "/api/brands", JSON.stringify({ name: "Fuzz brand", colors: { primary: "#0f5132" }, footer: { address: "1 Test Street", unsubscribeUrl: "{{unsubscribe}}" } }))).json.id;
  referenceIds = await referenceAssets(server.url, token);
  const briefId = (await call("POST", "/api/briefs", JSON.stringify({ brandId, objective: "Launch", audience: "Everyone", tone: "warm", hook: "Hello", referenceAssetIds: referenceIds }))).json.id;
  emailId = (await call("POST", `/api/briefs/${briefId}/generate`, JSON.stringify({ provider: "offline", options: { sectionDelayMs: 0 } }))).json.emailId;
  await waitReady(emailId);
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const hostileString = fc.oneof(
  fc.constantFrom(...XSS, "", " ", "\u0000", "a\u0000b", "\ud800", "\uffff", "%00", "' OR 1=1 --", "${7*7}{{7*7}}", "../../etc/passwd", "#zzz", "javascript:alert(1)", "x".repeat(70_000)),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 300 }),
);
const anyValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 3, arbitrary: hostileString },
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, [], {}),
);
/** Objects that look like the routes' inputs: their keys (and some dangerous ones) with hostile values. */
const KEYS = ["title", "text", "id", "clientId", "run", "agent", "provider", "options", "action", "runId", "scope", "name", "colors", "primary", "fonts", "voice", "formula", "footer", "address", "unsubscribeUrl", "logoAssetId", "brandId", "objective", "audience", "tone", "hook", "products", "cta", "label", "url", "referenceAssetIds", "fields", "sections", "type", "__proto__", "constructor", "prototype"];
const shaped: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  object: fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 10 })), fc.oneof({ depthSize: "small", withCrossShrink: true }, anyValue, tie("object"), fc.array(tie("object"), { maxLength: 3 })), { maxKeys: 8 }),
})).object;

/** A request body as bytes on the wire, with the content type it claims. */
const body = fc.oneof(
  { weight: 4, arbitrary: shaped.map((v) => ({ text: JSON.stringify(v), type: "application/json" as string | null })) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => ({ text: JSON.stringify(v), type: "application/json" as string | null })) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 200 }).map((text) => ({ text, type: "application/json" as string | null })) },
  { weight: 1, arbitrary: fc.integer({ min: 65, max: 20_000 }).map((n) => ({ text: `{"title":${"[".repeat(n)}${"]".repeat(n)}}`, type: "application/json" as string | null })) },
  {
    weight: 1,
    arbitrary: fc.tuple(shaped, fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "application/xml", null)).map(([v, type]) => ({ text: JSON.stringify(v), type })),
  },
);

// ---------------------------------------------------------------------------------------------

/** A path segment or query value as sent: hostile text percent-encoded, or malformed encodings as they are. */
const encodedSegment = fc.oneof(
  fc.oneof(hostileString, fc.string({ maxLength: 30 })).map((value) => {
    const text = value.slice(0, 2_000);
    try {
      return encodeURIComponent(text);
    } catch {
      // A lone surrogate has no UTF-8 form: send the bytes a careless client would.
      return [...new TextEncoder().encode(text)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    }
  }),
  fc.constantFrom("%", "%zz", "%ff", "%ED%A0%80", "%C0%AF", "%2e%2e%2f%2e%2e", "..", "%00", "a%0Ab", "%E2%80%AE"),
);

describe("random and hostile JSON bodies", () => {
  test("every JSON route answers 2xx or a 4xx with a readable error; never a 5xx", async () => {
    const routes = [
      ["POST", "/api/sessions"],
      ["POST", `/api/sessions/${canarySession}/messages`],
      ["POST", `/api/sessions/${canarySession}/control`],
      ["POST", "/api/brands"],
      ["PUT", `/api/brands/${brandId}`],
      ["POST", "/api/briefs"],
      ["PATCH", `/api/emails/${emailId}/sections/headline-1`],
      ["PUT", `/api/emails/${emailId}/sections`],
    ] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), body, async ([method, path], { text, type }) => {
        const res = await call(method, path, text, type);
        expect({ method, path, status: res.status, body: text.slice(0, 200) }).toMatchObject({ status: expect.any(Number) });
        if (res.status >= 500) throw new Error(`${method} ${path} answered ${res.status} to ${type} ${JSON.stringify(text.slice(0, 300))}: ${res.text.slice(0, 300)}`);
        if (res.status >= 400) {
          expect(res.json?.error?.code).toEqual(expect.any(String));
          expect(res.json?.error?.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 100 },
    );
    await healthy();
  });

  test("hostile ids and queries in the URL are 4xx too", async () => {
    await fc.assert(
      fc.asyncProperty(encodedSegment, fc.constantFrom("/api/sessions/{}", "/api/sessions/{}/events?offset={}", "/api/brands/{}", "/api/briefs/{}", "/api/emails/{}", "/api/emails/{}/html", "/api/assets?kind={}", "/assets/{}", "/api/sessions/" + "{}" + "/messages"), async (value, template) => {
        const path = template.replaceAll("{}", value || "x");
        const res = await call("GET", path);
        if (res.status >= 500) throw new Error(`GET ${path} answered ${res.status}: ${res.text.slice(0, 300)}`);
      }),
      { numRuns: 60 },
    );
    await healthy();
  });
});

describe("random WebSocket frames", () => {
  const eventShape = fc.record(
    { type: fc.oneof(fc.constantFrom(...EVENT_TYPES), fc.string({ maxLength: 12 })), id: hostileString, role: fc.oneof(fc.constantFrom("user", "assistant", "system"), hostileString), text: hostileString, runId: hostileString, agent: hostileString, status: hostileString, action: fc.constantFrom("cancel", "interrupt", "steer", "explode"), kind: hostileString, ref: hostileString, data: anyValue },
    { requiredKeys: ["type"] },
  );
  const frameShape = fc.record(
    {
      type: fc.oneof(fc.constantFrom("subscribe", "unsubscribe", "publish", "control", "ping", "pong", "event", "ack"), fc.string({ maxLength: 10 })),
      session: fc.oneof(fc.constant("{canary}"), hostileString),
      offset: fc.oneof(fc.constantFrom("-1", "now", "0", "0000000000000000_0000000000000001", "9999999999999999_9999999999999999", "zz"), hostileString),
      mode: fc.oneof(fc.constantFrom("snapshot", "events"), hostileString),
      event: fc.oneof(eventShape, anyValue),
      action: fc.oneof(fc.constantFrom("cancel", "interrupt", "steer"), hostileString),
      runId: hostileString,
      text: hostileString,
      scope: fc.oneof(fc.constantFrom("run", "own", "all"), hostileString),
      id: fc.oneof(fc.string({ maxLength: 20 }), anyValue),
    },
    { requiredKeys: ["type"] },
  );
  const frame = fc.oneof(
    { weight: 5, arbitrary: frameShape.map((f) => JSON.stringify(f).replaceAll("{canary}", canarySession) as string | Uint8Array) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v) as string | Uint8Array) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 300 }).map((s) => s as string | Uint8Array) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((b) => b as string | Uint8Array) },
    { weight: 1, arbitrary: fc.integer({ min: 65, max: 30_000 }).map((n) => ("[".repeat(n) + "]".repeat(n)) as string | Uint8Array) },
    { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 200 * 1024 }).map((n) => `{"type":"ping","pad":"${"x".repeat(n)}"}` as string | Uint8Array) },
  );

  async function fuzzSocket(url: string, numRuns: number) {
    const ws = await TestSocket.open(url);
    sockets.push(ws);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(frame, async (data) => {
        const before = ws.frames.length;
        ws.ws.send(typeof data === "string" ? data.replaceAll("{canary}", canarySession) : (data as Uint8Array<ArrayBuffer>));
        // Frames of a socket are handled in order: the pong of the next ping comes after every answer to this one.
        const id = `fuzz-${++n}`;
        ws.send({ type: "ping", id });
        await ws.waitFor((f) => f.type === "pong" && f.id === id, 5_000);
        const answers = ws.frames.slice(before);
        for (const answer of answers) {
          if (answer.type === "error") expect({ code: answer.code, message: typeof answer.message }).not.toMatchObject({ code: "internal" });
        }
        expect(ws.ws.readyState).toBe(WebSocket.OPEN);
      }),
      { numRuns },
    );
    return ws;
  }

  test("an API token's socket: every frame gets an answer or nothing, never an internal error or a close", async () => {
    const ws = await fuzzSocket(`${server.url.replace("http", "ws")}/ws?token=${token}`, 100);
    // The frames were read and judged: most of them are refused, each with its own code.
    const codes = new Set(ws.frames.filter((f) => f.type === "error").map((f) => f.code));
    expect(ws.frames.filter((f) => f.type === "error").length).toBeGreaterThan(30);
    expect(codes.size).toBeGreaterThan(3);
    await healthy();
  });

  test("a client token's socket (publishing only user messages and control)", async () => {
    const ws = await fuzzSocket(`${server.url.replace("http", "ws")}/ws?token=${canaryClientToken}`, 40);
    expect(ws.frames.filter((f) => f.type === "error").length).toBeGreaterThan(10);
    await healthy();
  });

  test("nothing crashed: no error was logged", () => {
    const errors = server.logs.filter((line) => /"level":"error"/.test(line));
    expect(errors).toEqual([]);
  });
});

describe("the event appended before the fuzzing", () => {
  test("is still readable exactly once, over the API and over the WebSocket", async () => {
    const events: any[] = [];
    let offset = "-1";
    for (;;) {
      const page = await call("GET", `/api/sessions/${canarySession}/events?offset=${offset}&limit=1000`);
      expect(page.status).toBe(200);
      events.push(...page.json.events.map((e: any) => e.event));
      if (page.json.upToDate) break;
      offset = page.json.nextOffset;
    }
    expect(events.filter((e) => e.id === CANARY_ID)).toEqual([{ type: "message", id: CANARY_ID, role: "user", text: "appended before the storm" }]);
    expect(events[0].id).toBe(CANARY_ID);

    const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${token}`);
    sockets.push(ws);
    await ws.request({ type: "subscribe", session: canarySession, offset: "-1" });
    await ws.waitForEvents(canarySession, events.length);
    await Bun.sleep(100);
    const seen = ws.events(canarySession).filter((f) => f.event.id === CANARY_ID);
    expect(seen).toHaveLength(1);
    expect(ws.events(canarySession)).toHaveLength(events.length);
  });
});

describe("hostile strings in every text field", () => {
  test("the checker itself catches live markup and passes escaped text", () => {
    expect(activeContent(`<p><img src=x onerror=alert(1)></p>`)).toHaveLength(1);
    expect(activeContent(`<a href=" javascript:alert(1)">x</a>`)).toHaveLength(1);
    expect(activeContent(`<div><script>alert(1)</script></div>`)).toHaveLength(1);
    expect(activeContent(`<iframe srcdoc="<img src=x onerror=alert(1)>"></iframe>`)).toHaveLength(1);
    expect(activeContent(`<p title="&quot; onerror=alert(1)">&lt;script&gt;alert(1)&lt;/script&gt;</p><script src="/static/app.js"></script>`)).toEqual([]);
    expect(() => expectEscaped("x", `<b>${XSS[1]}</b>`, [XSS[1]!])).toThrow();
  });

  const hostile = (max: number) => fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom(...XSS), fc.string({ maxLength: 6 })).map(([a, x, b]) => `${a}${x}${b}`.slice(0, max)).filter((s) => s.trim().length > 0);
  const fields = fc.record({
    brandName: hostile(120),
    voice: hostile(2_000),
    font: hostile(60),
    address: hostile(500),
    objective: hostile(1_000),
    audience: hostile(1_000),
    tone: hostile(1_000),
    hook: hostile(200),
    product: hostile(120),
    description: hostile(3_000),
    ctaLabel: hostile(80),
    sessionTitle: hostile(200),
    message: hostile(1_000),
    tokenName: hostile(100),
    guidance: hostile(1_000),
  });
  const payloadsOf = (f: Record<string, string>) => XSS.filter((x) => Object.values(f).some((v) => v.includes(x)));

  async function create(f: Record<string, string>) {
    const brand = await call("POST", "/api/brands", JSON.stringify({
      name: f.brandName,
      colors: { primary: "#0f5132", background: "#ffffff", text: "#222222" },
      fonts: { heading: f.font, body: f.font },
      voice: f.voice,
      formula: [{ type: "hero", guidance: f.guidance }, "headline", "ingredient", "benefits", "product-grid", "testimonial", "text", "cta", "footer"],
      footer: { address: f.address, unsubscribeUrl: "https://example.com/u" },
    }));
    expect(brand.status).toBe(201);
    const brief = await call("POST", "/api/briefs", JSON.stringify({
      brandId: brand.json.id,
      objective: f.objective,
      audience: f.audience,
      tone: f.tone,
      hook: f.hook,
      products: [{ name: f.product, description: f.description, url: "https://example.com/p" }],
      cta: { label: f.ctaLabel, url: "https://example.com/buy" },
      referenceAssetIds: referenceIds,
    }));
    expect(brief.status).toBe(201);
    const session = await call("POST", "/api/sessions", JSON.stringify({ title: f.sessionTitle }));
    expect(session.status).toBe(201);
    await call("POST", `/api/sessions/${session.json.id}/messages`, JSON.stringify({ text: f.message }));
    return { brandId: brand.json.id as string, briefId: brief.json.id as string, sessionId: session.json.id as string };
  }

  test("pages escape them (team, tokens, brands, briefs, sessions and every page that exists)", async () => {
    const csrf = /name="csrf-token" content="([^"]+)"/.exec((await page("/settings/tokens")).html)![1]!;
    await fc.assert(
      fc.asyncProperty(fields, async (f) => {
        const ids = await create(f);
        const made = await fetch(`${server.url}/settings/tokens`, { method: "POST", redirect: "manual", headers: { cookie, origin: server.url, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf, name: f.tokenName }) });
        expect(made.status).toBeLessThan(500);
        const payloads = payloadsOf(f);
        for (const path of ["/team", "/settings/tokens", "/brands", `/brands/${ids.brandId}`, "/emails", `/emails/new?brand=${ids.brandId}`, "/sessions", `/sessions/${ids.sessionId}`, `/sessions/${ids.sessionId}/chat`, "/brands/import"]) {
          const res = await page(path);
          expect({ path, status: res.status < 500 }).toEqual({ path, status: true });
          if (res.status === 200) expectEscaped(path, res.html, payloads);
        }
      }),
      { numRuns: 40 },
    );
    await healthy();
  }, 120_000);

  test("rendered email HTML and MJML escape them (the renderer, 100 random briefs)", async () => {
    await fc.assert(
      fc.asyncProperty(fields, async (f) => {
        const brand = { name: f.brandName, colors: { primary: "#0f5132" }, fonts: { heading: f.font, body: f.font }, voice: f.voice, formula: (["hero", "headline", "ingredient", "benefits", "product-grid", "testimonial", "text", "image", "cta", "footer"] as const).map((type) => ({ type, guidance: f.guidance })), footer: { address: f.address, unsubscribeUrl: "{{unsubscribe}}" } };
        const brief = { objective: f.objective, audience: f.audience, tone: f.tone, hook: f.hook, products: [{ name: f.product, description: f.description, url: "https://example.com/p", imageUrl: "https://example.com/p.png" }], cta: { label: f.ctaLabel, url: "https://example.com/buy" } };
        const document = writeOfflineEmail({ brand, brief, heroImageUrl: "https://example.com/hero.png" });
        const rendered = await renderEmail({ document: { ...document, preheader: f.tone.slice(0, 300) }, brand });
        expectEscaped("html", rendered.html, payloadsOf(f));
        expectEscaped("mjml", rendered.mjml, payloadsOf(f));
      }),
      { numRuns: 100 },
    );
  }, 120_000);

  test("generated emails (through the API) and their pages escape them", async () => {
    await fc.assert(
      fc.asyncProperty(fields, async (f) => {
        const ids = await create(f);
        const started = await call("POST", `/api/briefs/${ids.briefId}/generate`, JSON.stringify({ provider: "offline", options: { sectionDelayMs: 0 } }));
        expect(started.status).toBe(202);
        const email = await waitReady(started.json.emailId);
        expect(email.status).toBe("ready");
        const payloads = payloadsOf(f);
        for (const format of ["html", "mjml", "txt"]) {
          const res = await call("GET", `/api/emails/${email.id}/${format}`);
          expect(res.status).toBe(200);
          if (format !== "txt") expectEscaped(format, res.text, payloads);
        }
        for (const path of ["/emails", `/emails/${email.id}`, `/emails/${email.id}/editor`, `/sessions/${email.sessionId}`]) {
          const res = await page(path);
          expect({ path, status: res.status < 500 }).toEqual({ path, status: true });
          if (res.status === 200) expectEscaped(path, res.html, payloads);
        }
      }),
      { numRuns: 8 },
    );
    await healthy();
  }, 120_000);
});
