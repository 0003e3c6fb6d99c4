import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { brandPages } from "../src/brands/pages";
import { brandImportPages } from "../src/brands/import/pages";
import { accountPages } from "../src/web/account-pages";
import { sessionPages } from "../src/web/session-pages";
import { studioPages } from "../src/web/studio-pages";
import { libraryPages } from "../src/web/library-pages";
import { variantPages } from "../src/web/variant-pages";
import { ROOT, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";

/**
 * The team gate, held for every route there is: the JSON routes are enumerated from /openapi.json and
 * the pages from the page routers app.ts mounts, so a route added without the gate fails here.
 * - Without credentials, every /api route answers 401 and every page other than the public ones
 *   sends the visitor to /login.
 * - Signed in to team A, every page route that takes an id answers 404 for team B's ids (the JSON
 *   routes' cross-team 404s are held the same way in security.test.ts).
 */

/** Pages anyone may open: signing up, in and out, and accepting an invite. */
const PUBLIC_PAGES = new Set(["GET /setup", "POST /setup", "GET /login", "POST /login", "POST /logout", "GET /invite/:token", "POST /invite/:token"]);

/** Page routes that answer the same whether or not the id is the caller's (the effect is checked instead). */
const SILENT_ROUTES = new Set(["POST /settings/tokens/:id/revoke"]);

/** The page routers app.ts mounts; building them registers their routes, no dependency is used. */
const PAGE_ROUTERS: Record<string, () => { routes: Array<{ method: string; path: string }> }> = {
  brandPages: () => brandPages({} as never),
  brandImportPages: () => brandImportPages({} as never),
  accountPages: () => accountPages({} as never),
  studioPages: () => studioPages({} as never),
  libraryPages: () => libraryPages({} as never),
  variantPages: () => variantPages({} as never),
  sessionPages: () => sessionPages({} as never),
};

function pageRoutes(): Array<{ method: string; path: string }> {
  const seen = new Set<string>();
  const routes: Array<{ method: string; path: string }> = [];
  for (const make of Object.values(PAGE_ROUTERS)) {
    for (const { method, path } of make().routes) {
      // app.use() middleware is registered as ALL; the routes are the GET/POST handlers.
      if (method === "ALL" || seen.has(`${method} ${path}`)) continue;
      seen.add(`${method} ${path}`);
      routes.push({ method, path });
    }
  }
  return routes;
}

let server: TestServer;
let tokenA: string;
let tokenB: string;
let cookieA: string;
let csrfA: string;
const idsB: Record<string, string> = {};

async function newTeam(name: string): Promise<{ token: string; tokenId: string; email: string; password: string }> {
  const email = `${name}-${crypto.randomUUID()}@example.com`;
  const password = "correct horse battery";
  const res = await fetch(`${server.url}/api/teams`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name, owner: { name, email, password } }),
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as any;
  return { token: body.apiToken, tokenId: body.apiTokenId, email, password };
}

async function api(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text as any };
  }
}

async function upload(token: string, kind: string): Promise<string> {
  const png = await sharp({ create: { width: 120, height: 200, channels: 3, background: { r: 30, g: 60, b: 90 } } }).png().toBuffer();
  const form = new FormData();
  form.append("file", new File([new Uint8Array(png)], `${kind}.png`));
  form.append("kind", kind);
  const res = await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  expect(res.status).toBe(201);
  return ((await res.json()) as any).id;
}

beforeAll(async () => {
  server = await startServer({ env: { AI_PROVIDER: "offline" } });
  const a = await newTeam("gate-a");
  const b = await newTeam("gate-b");
  tokenA = a.token;
  tokenB = b.token;
  idsB.token = b.tokenId;
  // Team A's person, signed in with a session cookie, and the page's CSRF token.
  const login = await fetch(`${server.url}/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: server.url }, body: new URLSearchParams({ email: a.email, password: a.password }) });
  expect([302, 303]).toContain(login.status);
  cookieA = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const page = await (await fetch(`${server.url}/brands/new`, { headers: { cookie: cookieA } })).text();
  csrfA = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
  expect(csrfA).not.toBe("");

  // Team B's rows: a brand with a logo, a brief with its references, a generated email, an import, a session.
  const references = [await upload(tokenB, "reference"), await upload(tokenB, "reference"), await upload(tokenB, "reference")];
  idsB.asset = references[0]!;
  const brand = await api(tokenB, "POST", "/api/brands", { name: "Beta", colors: { primary: "#0f5132" }, logoAssetId: await upload(tokenB, "logo"), footer: { address: "1 Main St" } });
  expect(brand.status).toBe(201);
  idsB.brand = brand.body.id;
  const brief = await api(tokenB, "POST", "/api/briefs", { brandId: idsB.brand, objective: "Launch", audience: "All", tone: "warm", hook: "Hello", cta: { label: "Go", url: "https://example.com" }, referenceAssetIds: references });
  expect(brief.status).toBe(201);
  idsB.brief = brief.body.id;
  const started = await api(tokenB, "POST", `/api/briefs/${idsB.brief}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
  expect(started.status).toBe(202);
  idsB.email = started.body.emailId;
  idsB.session = started.body.sessionId;
  for (let i = 0; i < 400 && (await api(tokenB, "GET", `/api/emails/${idsB.email}`)).body.status === "generating"; i++) await Bun.sleep(50);
  const email = await api(tokenB, "GET", `/api/emails/${idsB.email}`);
  expect(email.body.status).toBe("ready");
  idsB.section = email.body.document.sections[0].id;
  idsB.version = String(email.body.version);
  const imported = await api(tokenB, "POST", "/api/brands/import", { url: "https://brand.invalid" });
  idsB.import = imported.body.importId;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("the team gate covers every route", () => {
  test("app.ts mounts exactly the page routers this test enumerates", () => {
    const source = readFileSync(join(ROOT, "src/app.ts"), "utf8");
    const mounted = [...source.matchAll(/app\.route\("\/", (\w+Pages)\(/g)].map((m) => m[1]).sort();
    expect(mounted).toEqual(Object.keys(PAGE_ROUTERS).sort());
  });

  test("without credentials, every JSON route answers 401", async () => {
    const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })));
    expect(routes.length).toBeGreaterThan(30);
    for (const { method, path } of routes) {
      const url = server.url + path.replace(/\{[^}]+\}/g, "x_1");
      const res = await fetch(url, { method, headers: { "content-type": "application/json", origin: server.url }, body: method === "GET" || method === "HEAD" ? undefined : "{}" });
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 401 });
    }
  });

  test("without a session, every page but the public ones sends the visitor to /login", async () => {
    const routes = pageRoutes();
    expect(routes.length).toBeGreaterThan(30);
    for (const { method, path } of routes) {
      if (PUBLIC_PAGES.has(`${method} ${path}`)) continue;
      const url = server.url + path.replace(/:[A-Za-z]+/g, "x_1");
      const res = await fetch(url, { method, redirect: "manual", headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" }, body: method === "GET" ? undefined : "csrf=x" });
      const to = res.headers.get("location") ?? "";
      expect({ route: `${method} ${path}`, redirected: [302, 303].includes(res.status), toLogin: to === "/login" || to.startsWith("/login?") }).toEqual({ route: `${method} ${path}`, redirected: true, toLogin: true });
    }
  });

  test("signed in to team A, every page that takes an id answers 404 for team B's ids", async () => {
    const fill = (path: string): string | undefined => {
      const filled = path
        .replace(/^\/brands\/import\/:id/, `/brands/import/${idsB.import}`)
        .replace(/^\/brands\/:id/, `/brands/${idsB.brand}`)
        .replace(/^\/emails\/:id/, `/emails/${idsB.email}`)
        .replace(/^\/sessions\/:id/, `/sessions/${idsB.session}`)
        .replace(/^\/settings\/tokens\/:id/, `/settings/tokens/${idsB.token}`)
        .replace(":sectionId", idsB.section!)
        .replace(":version", idsB.version!);
      return filled.includes(":") ? undefined : filled;
    };
    const withIds = pageRoutes().filter(({ path }) => path.includes(":") && !PUBLIC_PAGES.has(`GET ${path}`) && !PUBLIC_PAGES.has(`POST ${path}`));
    expect(withIds.length).toBeGreaterThan(15);
    for (const { method, path } of withIds) {
      const url = fill(path);
      // A new kind of id: teach fill() where team B's one is, so the route is held to the gate too.
      expect({ route: path, filled: url !== undefined }).toEqual({ route: path, filled: true });
      let res = await fetch(server.url + url, { method, redirect: "manual", headers: { cookie: cookieA, origin: server.url, "content-type": "application/x-www-form-urlencoded" }, body: method === "GET" ? undefined : new URLSearchParams({ csrf: csrfA, instruction: "Mine now", order: idsB.section!, direction: "up", type: "text" }) });
      // An alias (e.g. /emails/:id/edit → /emails/:id) is judged by where it leads.
      if (method === "GET" && [301, 302, 303].includes(res.status)) res = await fetch(new URL(res.headers.get("location")!, server.url), { redirect: "manual", headers: { cookie: cookieA } });
      // Revoking a token answers with the token list whatever the id; what matters is that B's token still works (below).
      if (SILENT_ROUTES.has(`${method} ${path}`)) expect(res.status).toBeLessThan(500);
      else expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 404 });
    }
    expect((await api(tokenB, "GET", "/api/brands")).status).toBe(200);
    // Nothing of team B's changed.
    const email = await api(tokenB, "GET", `/api/emails/${idsB.email}`);
    expect(String(email.body.version)).toBe(idsB.version!);
    expect((await api(tokenB, "GET", `/api/brands/${idsB.brand}`)).body.name).toBe("Beta");
    // And team A sees none of it listed.
    expect((await api(tokenA, "GET", "/api/brands")).body.brands).toEqual([]);
    expect((await api(tokenA, "GET", "/api/emails")).body.emails).toEqual([]);
    expect((await api(tokenA, "GET", "/api/assets")).body.assets).toEqual([]);
  });
});

describe("the studio's JSON responses match /openapi.json", () => {
  type Schema = { $ref?: string; type?: string | string[]; properties?: Record<string, Schema>; items?: Schema; anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[]; additionalProperties?: unknown };

  /** Where `value` has a key its schema does not declare (or a value of the wrong kind), or undefined when it fits. */
  function drift(value: unknown, schema: Schema, spec: any, at: string): string | undefined {
    if (schema.$ref) return drift(value, spec.components.schemas[schema.$ref.split("/").pop()!], spec, at);
    const options = schema.anyOf ?? schema.oneOf;
    if (options) return options.some((option) => drift(value, option, spec, at) === undefined) ? undefined : `${at}: fits none of its schemas`;
    if (schema.allOf) return schema.allOf.map((part) => drift(value, part, spec, at)).find(Boolean);
    if (value === null) return [schema.type].flat().includes("null") ? undefined : `${at}: null`;
    if (Array.isArray(value)) return schema.items ? value.map((item, i) => drift(item, schema.items!, spec, `${at}[${i}]`)).find(Boolean) : undefined;
    if (typeof value === "object" && schema.properties) {
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        const declared = schema.properties[key];
        if (!declared) return `${at}.${key}: not in /openapi.json`;
        const problem = drift(inner, declared, spec, `${at}.${key}`);
        if (problem) return problem;
      }
    }
    return undefined;
  }

  test("a brand, its list, a brief, an email, its versions, an import and the assets carry only declared fields", async () => {
    const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as any;
    const cases: Array<[string, string]> = [
      ["/api/brands/{id}", `/api/brands/${idsB.brand}`],
      ["/api/brands", "/api/brands"],
      ["/api/briefs/{id}", `/api/briefs/${idsB.brief}`],
      ["/api/emails/{id}", `/api/emails/${idsB.email}`],
      ["/api/emails/{id}/versions", `/api/emails/${idsB.email}/versions`],
      ["/api/emails", "/api/emails"],
      ["/api/brands/imports/{id}", `/api/brands/imports/${idsB.import}`],
      ["/api/assets", "/api/assets"],
    ];
    for (const [route, path] of cases) {
      const res = await api(tokenB, "GET", path);
      expect({ route, status: res.status }).toEqual({ route, status: 200 });
      const schema = spec.paths[route].get.responses["200"].content["application/json"].schema;
      expect({ route, drift: drift(res.body, schema, spec, "body") }).toEqual({ route, drift: undefined });
    }
  });
});
