import { describe, test, expect, afterAll, beforeAll, setDefaultTimeout } from "bun:test";
import { startServer, type TestServer } from "./support/server";
import { apiAs, newTeam as makeTeam, request, serumApiEmail } from "./support/studio";
import { referenceAssets } from "./support/references";

/**
 * Conflict-safe editing through the JSON API: If-Match, 409 version_conflict with the current
 * version, the automatic merge of edits to different fields, the `email.version` events in the
 * email's session, and `PATCH /api/emails/:id` for the subject line and preheader.
 */

setDefaultTimeout(60_000);

let server: TestServer;
let token: string;
let otherToken: string;

afterAll(async () => {
  await server?.stop();
});

beforeAll(async () => {
  server = await startServer();
  token = await newTeam("editing");
  otherToken = await newTeam("rival");
}, 60_000);

const newTeam = (name: string) => makeTeam(server.url, name, { name, email: `${name}-${crypto.randomUUID()}@example.com` });
const call = (auth: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(server.url, auth, method, path, body, headers);
const api = apiAs(() => server.url, () => token);

const newEmail = async () => serumApiEmail(api, `Editing ${crypto.randomUUID().slice(0, 6)}`, await referenceAssets(server.url, token));

async function sessionEvents(sessionId: string): Promise<any[]> {
  const res = await api("GET", `/api/sessions/${sessionId}/events?offset=-1&limit=1000`);
  expect(res.status).toBe(200);
  return res.body.events.map((e: any) => e.event);
}

const headline = (email: any) => email.document.sections.find((s: any) => s.type === "headline");

describe("If-Match and version conflicts", () => {
  test("an edit on the current version saves and is announced as an email.version event; ETag is the version", async () => {
    const email = await newEmail();
    expect((await api("GET", `/api/emails/${email.id}`)).headers.get("etag")).toBe(`"${email.version}"`);
    const res = await api("PATCH", `/api/emails/${email.id}/sections/${headline(email).id}`, { fields: { text: "Brighter mornings" } }, { "if-match": `"${email.version}"` });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(email.version + 1);
    expect(res.headers.get("etag")).toBe(`"${email.version + 1}"`);
    const events = (await sessionEvents(email.sessionId)).filter((e) => e.type === "artifact" && e.kind === "email.version");
    expect(events).toEqual([expect.objectContaining({ ref: email.id, data: expect.objectContaining({ version: email.version + 1, summary: "Edited headline in Headline" }) })]);
  });

  test("a stale If-Match on a field someone changed is 409 version_conflict with currentVersion, and stores nothing", async () => {
    const email = await newEmail();
    const id = headline(email).id;
    const a = await api("PATCH", `/api/emails/${email.id}/sections/${id}`, { fields: { text: "Tab A's headline" } }, { "if-match": `"${email.version}"` });
    expect(a.status).toBe(200);
    const b = await api("PATCH", `/api/emails/${email.id}/sections/${id}`, { fields: { text: "Tab B's headline" } }, { "if-match": `"${email.version}"` });
    expect(b.status).toBe(409);
    expect(b.body.error).toMatchObject({ code: "version_conflict", currentVersion: a.body.version, message: expect.stringContaining("nothing was saved") });
    const now = await api("GET", `/api/emails/${email.id}`);
    expect(now.body.version).toBe(a.body.version);
    expect(headline(now.body).fields.text).toBe("Tab A's headline");
    // A stale restore is refused too (it would undo A's edit unseen).
    const restore = await api("POST", `/api/emails/${email.id}/versions/1/restore`, undefined, { "if-match": `"${email.version}"` });
    expect(restore.status).toBe(409);
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(a.body.version);
    // A stale reorder touches the order only, which nobody changed: it is merged and A's headline kept.
    const put = await api("PUT", `/api/emails/${email.id}/sections`, { sections: email.document.sections.slice().reverse().map((s: any) => ({ id: s.id, type: s.type })) }, { "if-match": `"${email.version}"` });
    expect(put.status).toBe(200);
    expect(put.body.document.sections.map((s: any) => s.id)).toEqual(email.document.sections.map((s: any) => s.id).reverse());
    expect(headline(put.body).fields.text).toBe("Tab A's headline");
    // Replacing the sections with none would leave an empty email (no footer): refused, nothing stored.
    const empty = await api("PUT", `/api/emails/${email.id}/sections`, { sections: [] }, { "if-match": `"${put.body.version}"` });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toContain("at least one section");
    const after = await api("GET", `/api/emails/${email.id}`);
    expect(after.body.version).toBe(put.body.version);
    expect(after.body.document.sections).toHaveLength(email.document.sections.length);
  });

  test("edits to different fields of one section made on the same version are merged: both are kept", async () => {
    const email = await newEmail();
    const id = headline(email).id;
    const a = await api("PATCH", `/api/emails/${email.id}/sections/${id}`, { fields: { text: "A changed the headline" } }, { "if-match": `"${email.version}"` });
    expect(a.status).toBe(200);
    const b = await api("PATCH", `/api/emails/${email.id}/sections/${id}`, { fields: { subtext: "B changed the subtext" } }, { "if-match": `"${email.version}"` });
    expect(b.status).toBe(200);
    expect(headline(b.body).fields).toMatchObject({ text: "A changed the headline", subtext: "B changed the subtext" });
    expect(b.body.version).toBe(a.body.version + 1);
  });

  test("a malformed If-Match is a 400 that stores nothing", async () => {
    const email = await newEmail();
    for (const bad of ["abc", '"1; drop table emails"', '"-1"']) {
      const res = await api("PATCH", `/api/emails/${email.id}/sections/${headline(email).id}`, { fields: { text: "x" } }, { "if-match": bad });
      expect({ bad, status: res.status, code: res.body.error?.code }).toEqual({ bad, status: 400, code: "invalid_if_match" });
    }
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(email.version);
  });
});

describe("PATCH /api/emails/:id", () => {
  test("sets the subject line and preheader as a new version with If-Match; a stale one is 409", async () => {
    const email = await newEmail();
    const res = await api("PATCH", `/api/emails/${email.id}`, { subject: "Your skin, but brighter ☀️", preheader: "14 days to a glow <b>you</b> can see" }, { "if-match": `"${email.version}"` });
    expect(res.status).toBe(200);
    expect(res.body.document).toMatchObject({ subject: "Your skin, but brighter ☀️", preheader: "14 days to a glow <b>you</b> can see" });
    expect(res.body.version).toBe(email.version + 1);
    const html = await (await fetch(`${server.url}/api/emails/${email.id}/html`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(html).toContain("14 days to a glow &lt;b&gt;you&lt;/b&gt; can see");
    expect(html).not.toContain("<b>you</b>");
    const stale = await api("PATCH", `/api/emails/${email.id}`, { subject: "Stale" }, { "if-match": `"${email.version}"` });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: "version_conflict", currentVersion: email.version + 1 });
    const events = (await sessionEvents(email.sessionId)).filter((e) => e.kind === "email.version");
    expect(events.map((e) => e.data.summary)).toEqual(["Changed subject and preheader"]);
  });

  test("bad input is a clear 4xx and stores nothing: unknown id, another team's email, wrong types, line breaks, unknown fields, too long", async () => {
    const email = await newEmail();
    const path = `/api/emails/${email.id}`;
    expect((await api("PATCH", "/api/emails/email_nope", { subject: "x" })).status).toBe(404);
    const rival = await call(otherToken, "PATCH", path, { subject: "Hijacked" });
    expect(rival.status).toBe(404);
    expect(rival.body.error.code).toBe("email_not_found");
    for (const body of [{ subject: 42 }, { preheader: ["x"] }, { subject: "two\nlines" }, { colour: "red" }, {}, { subject: "x".repeat(201) }, "not json"]) {
      const res = await api("PATCH", path, body);
      expect({ body, status: res.status, hasMessage: typeof res.body?.error?.message }).toEqual({ body, status: 400, hasMessage: "string" });
    }
    const after = await api("GET", path);
    expect(after.body.version).toBe(email.version);
    expect(after.body.document.subject).toBe(email.document.subject);
  });
});

test("/openapi.json documents PATCH /api/emails/{id} with its If-Match header and body schema", async () => {
  const res = await fetch(`${server.url}/openapi.json`);
  expect(res.status).toBe(200);
  const spec: any = await res.json();
  const patch = spec.paths["/api/emails/{id}"].patch;
  expect(patch.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(["path:id", "header:if-match"]));
  expect(Object.keys(spec.components.schemas.EmailMetaPatch.properties).sort()).toEqual(["name", "preheader", "subject"]);
  expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(["200", "400", "404", "409"]));
});
