import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { removeDataDir, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { referenceAssets } from "./support/references";

/**
 * Bad input on every email and brief route, read from `/openapi.json` so routes added later are
 * swept too: an unknown id, another team's id, a wrong type or an out-of-range value in every body
 * and query field the schema declares, malformed JSON, an oversized body, absurd generation options
 * and a malformed If-Match. Each answers a clear 4xx `{"error":{"code","message"}}` and stores
 * nothing: every table of the database is fingerprinted before and after each route's cases.
 */

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  $ref?: string;
  anyOf?: Schema[];
};
type Parameter = { name: string; in: "path" | "query" | "header"; required?: boolean; schema?: Schema };
type Operation = { method: string; path: string; parameters: Parameter[]; body?: Schema; bodyRequired: boolean };
type Team = { token: string; brandId: string; briefId: string; emailId: string; sectionId: string; sections: Array<{ id: string; type: string; fields: unknown }> };

const MAX_JSON_BYTES = 1_048_576;
/** Tables whose rows change on every request (sign-in and token bookkeeping, presence) are not fingerprinted. */
const VOLATILE_TABLES = new Set(["api_tokens", "user_sessions", "rate_limits", "session_presence", "installation", "__drizzle_migrations"]);

let server: TestServer;
let sql: postgres.Sql;
let spec: { paths: Record<string, Record<string, any>>; components?: { schemas?: Record<string, Schema> } };
let operations: Operation[];
let a: Team;
let b: Team;

async function call(token: string, method: string, path: string, init: { body?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
  let body = init.body;
  if (init.json !== undefined) body = JSON.stringify(init.json);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await fetch(server.url + path, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text, contentType: res.headers.get("content-type") ?? "" };
}

/** A team with a brand, a brief and a ready email of its own. */
async function makeTeam(name: string): Promise<Team> {
  const res = await server.fetch("/api/teams", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name, owner: { name, email: `${name.toLowerCase()}-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } }) });
  expect(res.status).toBe(201);
  const { apiToken: token } = (await res.json()) as { apiToken: string };
  const brand = await call(token, "POST", "/api/brands", { json: { name: `${name} Botanicals`, colors: { primary: "#0f5132" }, footer: { address: "1 Main Street, Springfield", unsubscribeUrl: "https://example.com/unsubscribe" } } });
  expect(brand.status).toBe(201);
  const brief = await call(token, "POST", "/api/briefs", { json: { brandId: brand.json.id, objective: "Launch the serum", audience: "Tired skin", tone: "warm", hook: "Wake up brighter", cta: { label: "Shop", url: "https://example.com/shop" }, referenceAssetIds: await referenceAssets(server.url, token) } });
  expect(brief.status).toBe(201);
  const started = await call(token, "POST", `/api/briefs/${brief.json.id}/generate`, { json: { provider: "offline", options: { sectionDelayMs: 0 } } });
  expect(started.status).toBe(202);
  for (let i = 0; i < 600; i++) {
    const email = await call(token, "GET", `/api/emails/${started.json.emailId}`);
    if (email.json.status !== "generating") {
      expect(email.json.status).toBe("ready");
      const headline = email.json.document.sections.find((s: any) => s.type === "headline");
      return { token, brandId: brand.json.id, briefId: brief.json.id, emailId: email.json.id, sectionId: headline.id, sections: email.json.document.sections };
    }
    await Bun.sleep(50);
  }
  throw new Error("the email is still generating");
}

/** A fingerprint of every table's rows (but the volatile ones): any stored change alters it. */
async function fingerprint(): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }[]>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`;
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    if (VOLATILE_TABLES.has(name)) continue;
    const [row] = await sql.unsafe(`select count(*)::text || ':' || coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') as f from "${name}" t`);
    out[name] = row!.f;
  }
  return out;
}

function resolve(schema: Schema | undefined): Schema | undefined {
  if (!schema?.$ref) return schema;
  return spec.components?.schemas?.[schema.$ref.split("/").pop()!];
}

const typeOf = (schema: Schema) => (Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type);

/** A value the schema accepts (the smallest that passes validation; ids need not exist). */
function sample(schema: Schema | undefined): unknown {
  const s = resolve(schema);
  if (!s) return {};
  if (s.enum) return s.enum[0];
  if (s.anyOf) return sample(s.anyOf[0]);
  switch (typeOf(s)) {
    case "string":
      if (s.format === "email") return "someone@example.com";
      if (s.pattern?.startsWith("^ast_")) return "ast_missing";
      return "x".repeat(Math.max(1, s.minLength ?? 1));
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return true;
    case "array":
      return Array.from({ length: s.minItems ?? 0 }, () => sample(s.items));
    default: {
      const out: Record<string, unknown> = {};
      for (const key of s.required ?? []) out[key] = sample(s.properties?.[key]);
      return out;
    }
  }
}

/** Values of the wrong type for a schema, and values of the right type out of its range. */
function badValues(schema: Schema): Array<{ label: string; value: unknown }> {
  const s = resolve(schema)!;
  const out: Array<{ label: string; value: unknown }> = [];
  const type = s.enum ? "enum" : typeOf(s);
  if (type === "string" || type === "enum") out.push({ label: "a number for a string", value: 12345 });
  if (type === "integer" || type === "number") out.push({ label: "a string for a number", value: "12" });
  if (type === "boolean") out.push({ label: "a string for a boolean", value: "yes" });
  if (type === "array") out.push({ label: "an object for a list", value: { 0: "x" } });
  if (type === "object") out.push({ label: "a string for an object", value: "x" });
  if (s.enum) out.push({ label: "a value not in the list", value: "not-one-of-them" });
  if (s.maximum !== undefined) out.push({ label: `above the maximum ${s.maximum}`, value: s.maximum * 1000 + 1 });
  if (s.minimum !== undefined) out.push({ label: `below the minimum ${s.minimum}`, value: s.minimum - 1 });
  if (type === "integer") out.push({ label: "a fraction for a whole number", value: (s.minimum ?? 0) + 1.5 });
  if (s.maxLength !== undefined) out.push({ label: `longer than ${s.maxLength}`, value: "x".repeat(s.maxLength + 1) });
  if (s.minLength !== undefined && s.minLength > 0) out.push({ label: "empty", value: "" });
  if (s.maxItems !== undefined) out.push({ label: `more than ${s.maxItems} items`, value: Array.from({ length: s.maxItems + 1 }, () => sample(s.items)) });
  if (s.format === "email") out.push({ label: "not an email address", value: "not-an-address" });
  return out;
}

/** Every property of a body schema as a dotted path, nested objects included (not list items). */
function properties(schema: Schema | undefined, prefix = ""): Array<{ path: string[]; schema: Schema }> {
  const s = resolve(schema);
  if (!s?.properties) return [];
  return Object.entries(s.properties).flatMap(([key, child]) => {
    const path = [...(prefix ? prefix.split(".") : []), key];
    return [{ path, schema: child }, ...properties(child, path.join("."))];
  });
}

/** `body` with the field at `path` set to `value`; an absent parent object is added as its schema's smallest valid value. */
function withValue(body: unknown, schema: Schema | undefined, path: string[], value: unknown): unknown {
  const copy = structuredClone(body ?? {}) as Record<string, any>;
  let node = copy;
  let nodeSchema = resolve(schema);
  for (const key of path.slice(0, -1)) {
    nodeSchema = resolve(nodeSchema?.properties?.[key]);
    if (typeof node[key] !== "object" || node[key] === null || Array.isArray(node[key])) node[key] = sample(nodeSchema);
    node = node[key];
  }
  node[path.at(-1)!] = value;
  return copy;
}

/** The body a route accepts, to vary one field at a time: from its schema, with what a schema cannot say. */
function validBody(op: Operation): unknown {
  const base = sample(op.body) as Record<string, unknown>;
  // Bodies with "one of these" rules the schema does not express.
  if (op.method === "POST" && op.path === "/api/emails/{id}/sections") return { type: "text" };
  if (op.method === "PATCH" && op.path === "/api/emails/{id}") return { subject: "A subject line" };
  if (op.method === "PATCH" && op.path === "/api/emails/{id}/sections/{sectionId}") return { fields: { text: "Words" } };
  // The email's own sections (an empty list would delete them all, and the sweep goes on with this email).
  if (op.method === "PUT" && op.path === "/api/emails/{id}/sections") return { sections: a.sections };
  // An image slot names a field by pattern (imageUrl, url, products.N.imageUrl).
  if (op.method === "PUT" && op.path === "/api/emails/{id}/sections/{sectionId}/image") return { ...base, slot: "imageUrl" };
  return base;
}

/** Valid values for required query parameters whose pattern a schema sample cannot guess. */
const VALID_QUERY: Record<string, string> = { slot: "imageUrl" };

/** The route's path with its parameters filled for `team` (or unknown ids). */
function pathFor(op: Operation, ids: { email: string; brief: string; section: string }, query: Record<string, string> = {}): string {
  const path = op.path
    .replace("{id}", op.path.startsWith("/api/briefs") ? ids.brief : ids.email)
    .replace("{sectionId}", ids.section)
    .replace("{version}", "1")
    .replace(/\{[^}]+\}/g, "x");
  // Required query parameters get a valid value, so only what is being tried is wrong.
  const params = new URLSearchParams();
  for (const p of op.parameters.filter((p) => p.in === "query" && p.required)) params.set(p.name, VALID_QUERY[p.name] ?? String(sample(p.schema)));
  for (const [name, value] of Object.entries(query)) params.set(name, value);
  return params.size ? `${path}?${params}` : path;
}
const idsOf = (team: Team) => ({ email: team.emailId, brief: team.briefId, section: team.sectionId });
const UNKNOWN = { email: "email_doesNotExist0001", brief: "brief_doesNotExist0001", section: "headline-1" };

/** A clear 4xx: the status expected, JSON `{"error":{"code","message"}}` with a real message. */
function expectError(res: Awaited<ReturnType<typeof call>>, status: number | number[], what: string) {
  const statuses = Array.isArray(status) ? status : [status];
  expect(statuses, `${what}: answered ${res.status} ${res.text.slice(0, 300)}`).toContain(res.status);
  expect(res.contentType, `${what}: content type`).toContain("application/json");
  expect(typeof res.json?.error?.code, `${what}: error.code in ${res.text.slice(0, 200)}`).toBe("string");
  expect(typeof res.json?.error?.message, `${what}: error.message`).toBe("string");
  expect(res.json.error.message.length, `${what}: error.message`).toBeGreaterThan(5);
}

beforeAll(async () => {
  server = await startServer();
  sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
  spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as typeof spec;
  operations = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    if (!path.startsWith("/api/emails") && !path.startsWith("/api/briefs")) continue;
    for (const [method, op] of Object.entries(methods)) {
      const body = op.requestBody?.content?.["application/json"]?.schema as Schema | undefined;
      operations.push({ method: method.toUpperCase(), path, parameters: op.parameters ?? [], ...(body ? { body } : {}), bodyRequired: op.requestBody?.required !== false && !!body });
    }
  }
  [a, b] = await Promise.all([makeTeam("Alpha"), makeTeam("Beta")]);
  await Bun.sleep(500); // let the generations' last writes settle before the first fingerprint
}, 120_000);

afterAll(async () => {
  await sql?.end();
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

describe("bad input on every email and brief route (from /openapi.json)", () => {
  test("the spec lists the routes this sweep must cover", () => {
    const listed = operations.map((o) => `${o.method} ${o.path}`);
    for (const route of ["POST /api/briefs", "GET /api/briefs/{id}", "POST /api/briefs/{id}/generate", "GET /api/emails", "GET /api/emails/{id}", "PATCH /api/emails/{id}", "PATCH /api/emails/{id}/sections/{sectionId}", "PUT /api/emails/{id}/sections", "POST /api/emails/{id}/versions/{version}/restore"]) {
      expect(listed).toContain(route);
    }
  });

  test("unknown ids and another team's ids: 404 with the same code, nothing stored", async () => {
    for (const op of operations.filter((o) => /\{id\}/.test(o.path))) {
      const before = await fingerprint();
      const body = op.body ? JSON.stringify(validBody(op)) : undefined;
      const unknown = await call(a.token, op.method, pathFor(op, UNKNOWN), body === undefined ? {} : { body });
      expectError(unknown, 404, `${op.method} ${op.path} with an unknown id`);
      const foreign = await call(a.token, op.method, pathFor(op, idsOf(b)), body === undefined ? {} : { body });
      expectError(foreign, 404, `${op.method} ${op.path} with another team's id`);
      // Another team's email is indistinguishable from none at all.
      expect(foreign.json.error.code, `${op.method} ${op.path}`).toBe(unknown.json.error.code);
      expect(await fingerprint(), `${op.method} ${op.path} stored something`).toEqual(before);
    }
  }, 120_000);

  test("malformed JSON, a JSON body that is not an object, and a body over the limit: 400/413, nothing stored", async () => {
    for (const op of operations.filter((o) => o.body)) {
      const before = await fingerprint();
      const path = pathFor(op, idsOf(a));
      const what = `${op.method} ${op.path}`;
      expectError(await call(a.token, op.method, path, { body: '{"unterminated": ' }), 400, `${what} malformed JSON`);
      for (const value of ["[]", '"text"', "42", "null", "true"]) expectError(await call(a.token, op.method, path, { body: value }), 400, `${what} body ${value}`);
      const oversized = JSON.stringify({ ...(validBody(op) as object), padding: "x".repeat(MAX_JSON_BYTES + 1) });
      expectError(await call(a.token, op.method, path, { body: oversized }), 413, `${what} oversized body`);
      expect(await fingerprint(), `${what} stored something`).toEqual(before);
    }
  }, 120_000);

  test("a wrong type or an out-of-range value in any body field: 400 naming the field, nothing stored", async () => {
    let cases = 0;
    for (const op of operations.filter((o) => o.body)) {
      const before = await fingerprint();
      const base = validBody(op);
      for (const { path: field, schema } of properties(op.body)) {
        for (const bad of badValues(schema)) {
          const what = `${op.method} ${op.path} ${field.join(".")} = ${bad.label}`;
          const res = await call(a.token, op.method, pathFor(op, idsOf(a)), { json: withValue(base, op.body, field, bad.value) });
          expectError(res, 400, what);
          expect(res.json.error.message, `${what}: the message names the field`).toContain(field.at(-1)!);
          cases++;
        }
      }
      expect(await fingerprint(), `${op.method} ${op.path} stored something`).toEqual(before);
    }
    expect(cases).toBeGreaterThan(50);
  }, 180_000);

  test("a wrong query value: 400 naming the parameter", async () => {
    let cases = 0;
    for (const op of operations) {
      for (const param of op.parameters.filter((p) => p.in === "query" && p.schema)) {
        const schema = resolve(param.schema)!;
        // A free-text parameter (any string goes) has nothing to get wrong.
        if (typeOf(schema) === "string" && !schema.enum && schema.maxLength === undefined && !schema.pattern) continue;
        // In a URL everything is text: the wrong "type" of a number is a word, and a number is a fine string.
        const values = badValues(schema)
          .filter((v) => typeof v.value !== "object" && !(typeof v.value === "number" && typeOf(schema) === "string" && !schema.enum))
          .map((v) => (v.label === "a string for a number" ? { label: "a word for a number", value: "twelve" } : v));
        for (const bad of values) {
          const what = `${op.method} ${op.path}?${param.name}=${bad.label}`;
          const res = await call(a.token, op.method, pathFor(op, idsOf(a), { [param.name]: String(bad.value) }));
          expectError(res, 400, what);
          expect(res.json.error.message, what).toContain(param.name);
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(5);
  }, 60_000);

  test("absurd generation options: 400, and no email is started", async () => {
    const listBefore = (await call(a.token, "GET", "/api/emails?limit=100")).json.emails.length;
    const before = await fingerprint();
    for (const options of [{ sectionDelayMs: -1 }, { sectionDelayMs: 86_400_000 }, { tokens: 0 }, { tokens: 1e12 }, { tokensPerSecond: 0 }, { tokensPerSecond: Number.MAX_SAFE_INTEGER }, { rollupWindowMs: 1e9 }, { model: "" }, { unknownKnob: 1 }, { tokens: "many" }]) {
      expectError(await call(a.token, "POST", `/api/briefs/${a.briefId}/generate`, { json: { provider: "offline", options } }), 400, `options ${JSON.stringify(options)}`);
    }
    expectError(await call(a.token, "POST", `/api/briefs/${a.briefId}/generate`, { json: { provider: "gpt-17" } }), 400, "an unknown provider");
    expect(await fingerprint()).toEqual(before);
    expect((await call(a.token, "GET", "/api/emails?limit=100")).json.emails.length).toBe(listBefore);
  }, 60_000);

  test("a malformed If-Match on every route that takes one: 400 invalid_if_match, nothing stored", async () => {
    const takesIfMatch = operations.filter((o) => o.parameters.some((p) => p.in === "header" && p.name.toLowerCase() === "if-match"));
    const listed = takesIfMatch.map((o) => `${o.method} ${o.path}`);
    // Every edit route takes one (docs/email.md, "Editing and versions").
    for (const route of ["PATCH /api/emails/{id}", "PATCH /api/emails/{id}/sections/{sectionId}", "PUT /api/emails/{id}/sections", "POST /api/emails/{id}/versions/{version}/restore"]) expect(listed).toContain(route);
    for (const op of takesIfMatch) {
      const before = await fingerprint();
      const versionBefore = (await call(a.token, "GET", `/api/emails/${a.emailId}`)).json.version;
      const body = op.body ? validBody(op) : undefined;
      for (const header of ["banana", '"3', "3,4", '"-1"', '"1.5"', '"99999999999"', "*", 'W/""']) {
        const res = await call(a.token, op.method, pathFor(op, idsOf(a)), { ...(body === undefined ? {} : { json: body }), headers: { "if-match": header } });
        expectError(res, 400, `${op.method} ${op.path} If-Match: ${header}`);
        expect(res.json.error.code).toBe("invalid_if_match");
      }
      expect((await call(a.token, "GET", `/api/emails/${a.emailId}`)).json.version).toBe(versionBefore);
      expect(await fingerprint(), `${op.method} ${op.path} stored something`).toEqual(before);
    }
  }, 60_000);

  test("a stale If-Match on every route that takes one: 409 version_conflict with the current version (nothing stored), or merged with the newer change kept", async () => {
    for (const op of operations.filter((o) => o.parameters.some((p) => p.in === "header" && p.name.toLowerCase() === "if-match"))) {
      // Someone else moves the email on: the edit below is made on the version before.
      const stale = (await call(a.token, "GET", `/api/emails/${a.emailId}`)).json.version;
      const theirs = `Their subject ${crypto.randomUUID()}`;
      const moved = await call(a.token, "PATCH", `/api/emails/${a.emailId}`, { json: { subject: theirs } });
      expect(moved.status).toBe(200);
      const before = await fingerprint();
      const body = op.body ? validBody(op) : undefined;
      const what = `${op.method} ${op.path} with If-Match "${stale}" (now ${moved.json.version})`;
      const res = await call(a.token, op.method, pathFor(op, idsOf(a)), { ...(body === undefined ? {} : { json: body }), headers: { "if-match": `"${stale}"` } });
      if (res.status === 409) {
        expectError(res, 409, what);
        expect(res.json.error.code).toBe("version_conflict");
        expect(res.json.error.currentVersion, what).toBe(moved.json.version);
        expect(await fingerprint(), `${what} stored something`).toEqual(before);
      } else {
        // Merged: allowed only if the newer change survives.
        expect([200, 201], `${what}: answered ${res.status} ${res.text.slice(0, 300)}`).toContain(res.status);
        const now = (await call(a.token, "GET", `/api/emails/${a.emailId}`)).json;
        expect(now.document.subject, `${what} dropped the newer subject`).toBe(theirs);
      }
    }
  }, 60_000);
});
