import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { removeDataDir, startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { referenceAssets } from "./support/references";
import { request } from "./support/studio";

/**
 * The library of emails through the JSON API, against the real server and Postgres: the list with
 * filters and cursor pages, names, duplicate, archive, templates and saved blocks. Every route is
 * held to the team gate (another team's id is 404, like an unknown one) and to its input (wrong
 * types and bad values are 400), and a refused request stores nothing.
 */

let server: TestServer;
let tokenA: string;
let tokenB: string;
const ids: Record<string, string> = {};

const call = (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => request(server.url, token, method, path, body, headers);
const a = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => call(tokenA, method, path, body, headers);

async function newTeam(name: string): Promise<string> {
  const res = await fetch(`${server.url}/api/teams`, { method: "POST", headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name, owner: { name, email: `${name}-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as any).apiToken;
}

async function brand(token: string, name: string): Promise<string> {
  const res = await call(token, "POST", "/api/brands", { name, colors: { primary: "#0f5132", background: "#fffaf2", text: "#222222" }, footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "https://example.com/unsubscribe" } });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** A generated (offline) ready email of `brandId`. */
async function readyEmail(token: string, brandId: string, hook: string): Promise<any> {
  const brief = await call(token, "POST", "/api/briefs", { brandId, objective: "Launch the serum", audience: "Tired skin", tone: "warm", hook, cta: { label: "Shop now", url: "https://example.com/serum" }, referenceAssetIds: await referenceAssets(server.url, token) });
  expect(brief.status).toBe(201);
  const started = await call(token, "POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
  expect(started.status).toBe(202);
  for (let i = 0; i < 600; i++) {
    const email = (await call(token, "GET", `/api/emails/${started.body.emailId}`)).body;
    if (email.status !== "generating") {
      expect(email.status).toBe("ready");
      return email;
    }
    await Bun.sleep(50);
  }
  throw new Error("still generating");
}

/** Every email of team A's library (all pages), as listed. */
async function listAll(query = ""): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res = await a("GET", `/api/emails?limit=100${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    out.push(...res.body.emails);
    cursor = res.body.nextCursor;
  } while (cursor);
  return out;
}

/** Team A's rows that a refused request must leave as they were. */
async function snapshotA() {
  const [emails, archived, templates, blocks] = await Promise.all([listAll(), listAll("&status=archived"), listAll("&kind=template"), a("GET", `/api/brands/${ids.brand1}/blocks`)]);
  return { emails, archived, templates, blocks: blocks.body.blocks };
}

beforeAll(async () => {
  server = await startServer({ env: { AI_PROVIDER: "offline" } });
  tokenA = await newTeam("library-a");
  tokenB = await newTeam("library-b");
  ids.brand1 = await brand(tokenA, "Glow & Co");
  ids.brand2 = await brand(tokenA, "Other Brand");
  ids.brandB = await brand(tokenB, "Beta");
  const first = await readyEmail(tokenA, ids.brand1, "Wake up to brighter skin");
  ids.email1 = first.id;
  ids.email2 = (await readyEmail(tokenA, ids.brand2, "Summer sale starts now")).id;
  const b = await readyEmail(tokenB, ids.brandB, "B's secret hook");
  ids.emailB = b.id;
  ids.sectionB = b.document.sections[0].id;
}, 240_000);

afterAll(async () => {
  if (server) {
    await server.stop();
    removeDataDir(server.dataDir);
  }
});

describe("the list", () => {
  test("lists the team's emails newest first with their names, and only the fields /openapi.json declares", async () => {
    const res = await a("GET", "/api/emails");
    expect(res.status).toBe(200);
    expect(res.body.emails.map((e: any) => e.id)).toEqual([ids.email2, ids.email1]);
    expect(res.body.nextCursor).toBeNull();
    const first = res.body.emails[1];
    expect(first).toMatchObject({ id: ids.email1, status: "ready", version: 1, brandId: ids.brand1, template: false, archivedAt: null, offlineDraft: true });
    expect(first.name).toBe(first.subject);
    expect(Date.parse(first.createdAt)).not.toBeNaN();
    const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as any;
    const route = spec.paths["/api/emails"].get;
    const item = spec.components.schemas.ListedEmail;
    expect(Object.keys(first).sort()).toEqual(Object.keys(item.properties).sort());
    expect(route.parameters.map((p: any) => p.name).sort()).toEqual(["brandId", "cursor", "kind", "limit", "q", "status"]);
    // Another team's list is its own.
    expect((await call(tokenB, "GET", "/api/emails")).body.emails.map((e: any) => e.id)).toEqual([ids.emailB]);
  });

  test("filters by brand, status and words; an unknown or another team's brand is 404", async () => {
    expect((await a("GET", `/api/emails?brandId=${ids.brand2}`)).body.emails.map((e: any) => e.id)).toEqual([ids.email2]);
    expect((await a("GET", "/api/emails?status=ready")).body.emails).toHaveLength(2);
    expect((await a("GET", "/api/emails?status=failed")).body.emails).toEqual([]);
    expect((await a("GET", "/api/emails?status=stopped")).body.emails).toEqual([]);
    expect((await a("GET", "/api/emails?q=SUMMER")).body.emails.map((e: any) => e.id)).toEqual([ids.email2]);
    // Search words are literal: % and _ are not wildcards.
    expect((await a("GET", `/api/emails?q=${encodeURIComponent("%")}`)).body.emails).toEqual([]);
    expect((await a("GET", `/api/emails?q=${encodeURIComponent("_")}`)).body.emails).toEqual([]);
    for (const brandId of [ids.brandB, "brand_nope"]) {
      const res = await a("GET", `/api/emails?brandId=${brandId}`);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 404, code: "brand_not_found" });
    }
  });

  test("pages with a cursor: every email once, newest first, nextCursor null on the last page", async () => {
    // Make more emails quickly: duplicates are ready at once.
    for (let i = 0; i < 5; i++) expect((await a("POST", `/api/emails/${ids.email1}/duplicate`, { name: `Paging ${i}` })).status).toBe(201);
    const all = (await a("GET", "/api/emails?limit=100")).body.emails.map((e: any) => e.id);
    expect(all).toHaveLength(7);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await a("GET", `/api/emails?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.emails.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.emails.map((e: any) => e.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual(all);
    // Filters and pages together.
    const paging = (await a("GET", "/api/emails?q=paging&limit=3")).body;
    expect(paging.emails.map((e: any) => e.name)).toEqual(["Paging 4", "Paging 3", "Paging 2"]);
    const rest = (await a("GET", `/api/emails?q=paging&limit=3&cursor=${paging.nextCursor}`)).body;
    expect(rest.emails.map((e: any) => e.name)).toEqual(["Paging 1", "Paging 0"]);
    expect(rest.nextCursor).toBeNull();
  });

  test("a generation stopped part-way is listed as stopped (partial), never as ready", async () => {
    const brief = await a("POST", "/api/briefs", { brandId: ids.brand2, objective: "Stop me", audience: "All", tone: "calm", hook: "Stopped half way", referenceAssetIds: await referenceAssets(server.url, tokenA) });
    const started = (await a("POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 400 } })).body;
    // While it is being written it is listed as generating, named after the brief's hook.
    const generating = (await a("GET", "/api/emails?status=generating")).body.emails;
    expect(generating.map((e: any) => [e.id, e.name])).toEqual([[started.emailId, "Stopped half way"]]);
    for (let i = 0; i < 200 && (await a("GET", `/api/emails/${started.emailId}`)).body.document.sections.length === 0; i++) await Bun.sleep(25);
    expect((await a("POST", `/api/sessions/${started.sessionId}/control`, { action: "cancel", runId: started.runId })).status).toBe(202);
    let email: any;
    for (let i = 0; i < 400; i++) {
      email = (await a("GET", `/api/emails/${started.emailId}`)).body;
      if (email.status !== "generating") break;
      await Bun.sleep(25);
    }
    expect(email.status).toBe("ready");
    expect((await a("GET", "/api/emails?status=stopped")).body.emails.map((e: any) => [e.id, e.status])).toEqual([[started.emailId, "stopped"]]);
    expect((await a("GET", "/api/emails?status=ready")).body.emails.map((e: any) => e.id)).not.toContain(started.emailId);
    expect((await a("GET", "/api/emails")).body.emails.find((e: any) => e.id === started.emailId).status).toBe("stopped");
    // Out of the way of the other tests' counts.
    expect((await a("POST", `/api/emails/${started.emailId}/archive`)).status).toBe(200);
    ids.stopped = started.emailId;
  });

  test("bad input is 400 with a message that says what to send", async () => {
    const cases: Array<[string, RegExp]> = [
      ["limit=-1", /limit must be a whole number from 1 to 100/],
      ["limit=0", /limit must be a whole number from 1 to 100/],
      ["limit=abc", /limit must be a whole number from 1 to 100/],
      ["limit=101", /limit must be a whole number from 1 to 100/],
      ["limit=1.5", /limit must be a whole number/],
      ["status=bogus", /status must be one of generating, ready, failed, stopped, archived/],
      ["kind=draft", /kind must be email or template/],
      ["cursor=not-a-cursor", /cursor must be the nextCursor/],
      [`cursor=${Buffer.from(JSON.stringify(["yesterday", "email_1"])).toString("base64url")}`, /cursor must be the nextCursor/],
      [`cursor=${Buffer.from(JSON.stringify({ at: 1 })).toString("base64url")}`, /cursor must be the nextCursor/],
      [`cursor=${"x".repeat(401)}`, /cursor must be the nextCursor/],
      [`q=${"x".repeat(201)}`, /q is at most 200 characters/],
    ];
    for (const [query, message] of cases) {
      const res = await a("GET", `/api/emails?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.error.message).toMatch(message);
    }
  });
});

describe("names", () => {
  test("PATCH {name} renames without a new version; \"\" goes back to the subject; If-Match is honoured", async () => {
    const before = (await a("GET", `/api/emails/${ids.email1}`)).body;
    const renamed = await a("PATCH", `/api/emails/${ids.email1}`, { name: "  Spring launch  " }, { "if-match": `"${before.version}"` });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "Spring launch", version: before.version });
    expect(renamed.headers.get("etag")).toBe(`"${before.version}"`);
    expect((await listAll()).find((e) => e.id === ids.email1).name).toBe("Spring launch");
    expect((await a("GET", "/api/emails?q=spring")).body.emails.map((e: any) => e.id)).toEqual([ids.email1]);
    // A stale If-Match is a conflict, and the name stays.
    const stale = await a("PATCH", `/api/emails/${ids.email1}`, { name: "Stale" }, { "if-match": `"${before.version + 5}"` });
    expect({ status: stale.status, code: stale.body.error.code, currentVersion: stale.body.error.currentVersion }).toEqual({ status: 409, code: "version_conflict", currentVersion: before.version });
    // With a subject too: one new version, both saved.
    const both = await a("PATCH", `/api/emails/${ids.email1}`, { name: "Spring launch v2", subject: "Brighter skin by Friday" }, { "if-match": `"${before.version}"` });
    expect(both.status).toBe(200);
    expect(both.body).toMatchObject({ name: "Spring launch v2", version: before.version + 1, document: { subject: "Brighter skin by Friday" } });
    const back = await a("PATCH", `/api/emails/${ids.email1}`, { name: "" });
    expect(back.body.name).toBe("Brighter skin by Friday");
  });

  test("bad names are 400 and change nothing; another team's email is 404", async () => {
    const before = (await a("GET", `/api/emails/${ids.email1}`)).body;
    for (const body of [{ name: 5 }, { name: null }, { name: "two\nlines" }, { name: "x".repeat(121) }, { name: "ok", extra: 1 }, {}]) {
      const res = await a("PATCH", `/api/emails/${ids.email1}`, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.message.length).toBeGreaterThan(5);
    }
    const after = (await a("GET", `/api/emails/${ids.email1}`)).body;
    expect({ name: after.name, version: after.version }).toEqual({ name: before.name, version: before.version });
    const res = await a("PATCH", `/api/emails/${ids.emailB}`, { name: "Mine now" });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 404, code: "email_not_found" });
    expect((await call(tokenB, "GET", `/api/emails/${ids.emailB}`)).body.name).not.toBe("Mine now");
  });
});

describe("duplicate", () => {
  test("a copy: same document as a fresh version 1, \"Copy of …\", same brand, its own session", async () => {
    const source = (await a("GET", `/api/emails/${ids.email2}`)).body;
    const res = await a("POST", `/api/emails/${ids.email2}/duplicate`);
    expect(res.status).toBe(201);
    const copy = (await a("GET", `/api/emails/${res.body.id}`)).body;
    expect(copy).toMatchObject({ status: "ready", version: 1, name: `Copy of ${source.name}`, template: false, archivedAt: null });
    expect(copy.id).not.toBe(source.id);
    expect(copy.sessionId).not.toBe(source.sessionId);
    expect(copy.document.sections).toEqual(source.document.sections);
    expect(copy.document.subject).toBe(source.document.subject);
    const versions = (await a("GET", `/api/emails/${copy.id}/versions`)).body.versions;
    expect(versions.map((v: any) => v.version)).toEqual([1]);
    expect(versions[0].note).toContain("Duplicated from");
    expect((await listAll()).find((e) => e.id === copy.id)).toMatchObject({ brandId: ids.brand2 });
    // The copy's session announces its version 1.
    const events = (await a("GET", `/api/sessions/${copy.sessionId}/events?offset=-1`)).body.events.map((e: any) => e.event);
    expect(events).toContainEqual(expect.objectContaining({ type: "artifact", kind: "email.version", ref: copy.id, data: expect.objectContaining({ version: 1 }) }));
    // Editing the copy leaves the original alone.
    expect((await a("PATCH", `/api/emails/${copy.id}`, { subject: "Only the copy" })).status).toBe(200);
    expect((await a("GET", `/api/emails/${ids.email2}`)).body.document.subject).toBe(source.document.subject);
  });

  test("another team's or an unknown email is 404, a bad body is 400, and nothing is stored", async () => {
    const before = await snapshotA();
    for (const id of [ids.emailB, "email_nope"]) {
      const res = await a("POST", `/api/emails/${id}/duplicate`);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 404, code: "email_not_found" });
    }
    for (const body of [{ name: 7 }, { name: "" }, { name: "x".repeat(121) }, { copies: 2 }]) {
      const res = await a("POST", `/api/emails/${ids.email1}/duplicate`, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect(await snapshotA()).toEqual(before);
    expect((await call(tokenB, "GET", "/api/emails")).body.emails).toHaveLength(1);
  });
});

describe("archive", () => {
  test("archived emails leave the list, are listed with status=archived, stay readable, and unarchive puts them back", async () => {
    const archived = await a("POST", `/api/emails/${ids.email2}/archive`);
    expect(archived.status).toBe(200);
    expect(archived.body.id).toBe(ids.email2);
    expect(Date.parse(archived.body.archivedAt)).not.toBeNaN();
    expect((await listAll()).map((e) => e.id)).not.toContain(ids.email2);
    expect((await listAll("&status=archived")).map((e) => e.id)).toEqual([ids.stopped, ids.email2]);
    expect((await a("GET", `/api/emails/${ids.email2}`)).body.archivedAt).toBe(archived.body.archivedAt);
    // Archiving twice keeps the first time.
    expect((await a("POST", `/api/emails/${ids.email2}/archive`)).body.archivedAt).toBe(archived.body.archivedAt);
    const back = await a("POST", `/api/emails/${ids.email2}/unarchive`);
    expect(back.body).toEqual({ id: ids.email2, archivedAt: null });
    expect((await listAll()).map((e) => e.id)).toContain(ids.email2);
    expect((await listAll("&status=archived")).map((e) => e.id)).toEqual([ids.stopped]);
  });

  test("another team's email cannot be archived (404) and stays listed for its team", async () => {
    for (const action of ["archive", "unarchive"]) {
      const res = await a("POST", `/api/emails/${ids.emailB}/${action}`);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 404, code: "email_not_found" });
    }
    expect((await call(tokenB, "GET", "/api/emails")).body.emails.map((e: any) => e.id)).toEqual([ids.emailB]);
  });
});

describe("templates", () => {
  test("save as template, list templates, new email from template: a round trip", async () => {
    const source = (await a("GET", `/api/emails/${ids.email1}`)).body;
    const saved = await a("POST", `/api/emails/${ids.email1}/template`, { name: "Launch template" });
    expect(saved.status).toBe(201);
    const template = (await a("GET", `/api/emails/${saved.body.id}`)).body;
    expect(template).toMatchObject({ name: "Launch template", template: true, version: 1 });
    // Templates are listed apart from emails.
    expect((await listAll()).map((e) => e.id)).not.toContain(template.id);
    const templates = (await a("GET", "/api/emails?kind=template")).body.emails;
    expect(templates.map((t: any) => [t.id, t.name, t.template])).toEqual([[template.id, "Launch template", true]]);
    // A new email from it.
    const made = await a("POST", "/api/emails", { templateId: template.id, name: "June launch" });
    expect(made.status).toBe(201);
    const email = (await a("GET", `/api/emails/${made.body.id}`)).body;
    expect(email).toMatchObject({ name: "June launch", template: false, version: 1, status: "ready" });
    expect(email.document.sections).toEqual(source.document.sections);
    expect((await listAll()).map((e) => e.id)).toContain(email.id);
    // Without a name it is named after the template.
    const unnamed = await a("POST", "/api/emails", { templateId: template.id });
    expect((await a("GET", `/api/emails/${unnamed.body.id}`)).body.name).toBe("Launch template");
    // The template is still there, unchanged.
    expect((await a("GET", `/api/emails/${template.id}`)).body.document).toEqual(template.document);
  });

  test("a template id that is not one, another team's, or bad input: 404/400 and nothing stored", async () => {
    const before = await snapshotA();
    const bTemplate = await call(tokenB, "POST", `/api/emails/${ids.emailB}/template`);
    expect(bTemplate.status).toBe(201);
    for (const templateId of [ids.email1, bTemplate.body.id, "email_nope"]) {
      const res = await a("POST", "/api/emails", { templateId });
      expect({ templateId, status: res.status, code: res.body.error.code }).toEqual({ templateId, status: 404, code: "template_not_found" });
    }
    for (const body of [{}, { templateId: 3 }, { templateId: "" }, { templateId: bTemplate.body.id, name: ["x"] }, { brandId: ids.brand1 }]) {
      const res = await a("POST", "/api/emails", body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    const res = await a("POST", `/api/emails/${ids.emailB}/template`);
    expect(res.status).toBe(404);
    expect(await snapshotA()).toEqual(before);
  });
});

describe("saved blocks", () => {
  test("save a section as a block, list the brand's blocks, insert one at an index and by default before the footer, delete it", async () => {
    const source = (await a("GET", `/api/emails/${ids.email1}`)).body;
    const cta = source.document.sections.find((s: any) => s.type === "cta");
    const saved = await a("POST", `/api/emails/${ids.email1}/sections/${cta.id}/save-block`, { name: "Spring button" });
    expect(saved.status).toBe(201);
    expect(saved.body).toMatchObject({ brandId: ids.brand1, name: "Spring button", type: "cta", fields: cta.fields });
    const unnamed = await a("POST", `/api/emails/${ids.email1}/sections/${source.document.sections[0].id}/save-block`);
    expect(unnamed.status).toBe(201);
    expect(unnamed.body.name).toContain("from");
    const listed = (await a("GET", `/api/brands/${ids.brand1}/blocks`)).body.blocks;
    expect(listed.map((b: any) => b.id)).toEqual([unnamed.body.id, saved.body.id]);
    expect((await a("GET", `/api/brands/${ids.brand2}/blocks`)).body.blocks).toEqual([]);

    const target = (await a("GET", `/api/emails/${ids.email2}`)).body;
    const at1 = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: saved.body.id, index: 1 }, { "if-match": `"${target.version}"` });
    expect(at1.status).toBe(200);
    expect(at1.body.version).toBe(target.version + 1);
    const inserted = at1.body.document.sections[1];
    expect(inserted.type).toBe("cta");
    expect(inserted.fields).toEqual(cta.fields);
    expect(target.document.sections.map((s: any) => s.id)).not.toContain(inserted.id);
    expect(at1.body.document.sections).toHaveLength(target.document.sections.length + 1);
    const versions = (await a("GET", `/api/emails/${ids.email2}/versions`)).body.versions;
    expect(versions[0].note).toBe("Inserted the saved block “Spring button”");
    // Without an index: before the closing footer, never after it.
    const byDefault = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: saved.body.id });
    const sections = byDefault.body.document.sections;
    expect(sections.at(-1).type).toBe("footer");
    expect(sections.at(-2).type).toBe("cta");
    // A drafted section by type works the same way.
    const text = await a("POST", `/api/emails/${ids.email2}/sections`, { type: "text", index: 0 });
    expect(text.body.document.sections[0].type).toBe("text");
    // Each insert says who made it, like every edit: here the team's API token.
    const inserts = (await a("GET", `/api/emails/${ids.email2}/versions`)).body.versions.slice(0, 3);
    expect(inserts.map((v: any) => [v.version, v.note, v.author])).toEqual([
      [text.body.version, "Added text", "API token “bootstrap”"],
      [byDefault.body.version, "Inserted the saved block “Spring button”", "API token “bootstrap”"],
      [at1.body.version, "Inserted the saved block “Spring button”", "API token “bootstrap”"],
    ]);

    expect((await a("DELETE", `/api/brands/${ids.brand1}/blocks/${saved.body.id}`)).status).toBe(204);
    expect((await a("GET", `/api/brands/${ids.brand1}/blocks`)).body.blocks.map((b: any) => b.id)).toEqual([unnamed.body.id]);
    const again = await a("DELETE", `/api/brands/${ids.brand1}/blocks/${saved.body.id}`);
    expect({ status: again.status, code: again.body.error.code }).toEqual({ status: 404, code: "block_not_found" });
    const gone = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: saved.body.id });
    expect({ status: gone.status, code: gone.body.error.code }).toEqual({ status: 404, code: "block_not_found" });
    ids.block = unnamed.body.id;
  });

  test("stale If-Match, bad index, bad bodies, unknown sections and other teams' blocks or brands: refused, nothing stored", async () => {
    const email = (await a("GET", `/api/emails/${ids.email2}`)).body;
    const blocksBefore = (await a("GET", `/api/brands/${ids.brand1}/blocks`)).body.blocks;
    const stale = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: ids.block }, { "if-match": `"${email.version - 1}"` });
    expect({ status: stale.status, code: stale.body.error.code }).toEqual({ status: 409, code: "version_conflict" });
    const tooFar = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: ids.block, index: email.document.sections.length + 1 });
    expect({ status: tooFar.status, code: tooFar.body.error.code }).toEqual({ status: 400, code: "invalid_index" });
    for (const body of [{}, { blockId: ids.block, type: "text" }, { blockId: 5 }, { blockId: ids.block, index: -1 }, { blockId: ids.block, index: 1.5 }, { blockId: ids.block, index: "1" }, { type: "poster" }]) {
      const res = await a("POST", `/api/emails/${ids.email2}/sections`, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    const badIfMatch = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: ids.block }, { "if-match": "yesterday" });
    expect({ status: badIfMatch.status, code: badIfMatch.body.error.code }).toEqual({ status: 400, code: "invalid_if_match" });
    // Team B's block and brand are unknown to A, and A's to B.
    const bBlock = await call(tokenB, "POST", `/api/emails/${ids.emailB}/sections/${ids.sectionB}/save-block`, { name: "B block" });
    expect(bBlock.status).toBe(201);
    const foreign = await a("POST", `/api/emails/${ids.email2}/sections`, { blockId: bBlock.body.id });
    expect({ status: foreign.status, code: foreign.body.error.code }).toEqual({ status: 404, code: "block_not_found" });
    for (const [method, path] of [["GET", `/api/brands/${ids.brandB}/blocks`], ["DELETE", `/api/brands/${ids.brandB}/blocks/${bBlock.body.id}`], ["POST", `/api/emails/${ids.emailB}/sections/${ids.sectionB}/save-block`], ["POST", `/api/emails/${ids.emailB}/sections`]] as const) {
      const res = await a(method, path, method === "POST" ? (path.endsWith("save-block") ? { name: "x" } : { blockId: bBlock.body.id }) : undefined);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    expect((await a("DELETE", `/api/brands/${ids.brand1}/blocks/${bBlock.body.id}`)).status).toBe(404);
    expect((await call(tokenB, "GET", `/api/brands/${ids.brandB}/blocks`)).body.blocks.map((b: any) => b.id)).toEqual([bBlock.body.id]);
    const missing = await a("POST", `/api/emails/${ids.email1}/sections/nope-1/save-block`, { name: "x" });
    expect({ status: missing.status, code: missing.body.error.code }).toEqual({ status: 404, code: "section_not_found" });
    for (const body of [{ name: 1 }, { name: "" }, { name: "a\u0000b" }]) expect((await a("POST", `/api/emails/${ids.email1}/sections/${email.document.sections[0].id}/save-block`, body)).status).toBe(400);
    expect((await a("GET", `/api/emails/${ids.email2}`)).body.version).toBe(email.version);
    expect((await a("GET", `/api/brands/${ids.brand1}/blocks`)).body.blocks).toEqual(blocksBefore);
  });
});
