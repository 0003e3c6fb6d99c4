import { describe, test, expect, afterAll, beforeAll, setDefaultTimeout } from "bun:test";
import { startServer, type TestServer } from "./support/server";
import { apiAs, newTeam as makeTeam, request, serumApiEmail } from "./support/studio";
import { referenceAssets } from "./support/references";
import { describeChange, mergeDocuments } from "../src/email/changes";
import type { EmailDocument } from "../src/email/document";

/**
 * The email's history through the JSON API: undo and redo move between entries without adding any,
 * restore is one entry, every version says who made it and what changed, the three-way merge of
 * stale edits, and the conflict answer (what changed, the field now and yours). Plus the pure parts
 * (`describeChange`, `mergeDocuments`).
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
  token = await newTeam("history");
  otherToken = await newTeam("rival");
}, 60_000);

const newTeam = (name: string) => makeTeam(server.url, name, { name: `${name} owner`, email: `${name}-${crypto.randomUUID()}@example.com` });
const call = (auth: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(server.url, auth, method, path, body, headers);
const api = apiAs(() => server.url, () => token);
const at = (version: number, clientId?: string) => ({ "if-match": `"${version}"`, ...(clientId ? { "x-client-id": clientId } : {}) });

const newEmail = async () => serumApiEmail(api, `History ${crypto.randomUUID().slice(0, 6)}`, await referenceAssets(server.url, token));

const section = (email: any, type: string) => email.document.sections.find((s: any) => s.type === type);
const history = async (id: string) => {
  const res = await api("GET", `/api/emails/${id}/versions`);
  expect(res.status).toBe(200);
  return res.body;
};
const versionEvents = async (sessionId: string) => {
  const res = await api("GET", `/api/sessions/${sessionId}/events?offset=-1&limit=1000`);
  expect(res.status).toBe(200);
  return res.body.events.map((e: any) => e.event).filter((e: any) => e.type === "artifact" && e.kind === "email.version");
};
const editHeadline = (email: { id: string }, id: string, text: string, version: number, clientId?: string) => api("PATCH", `/api/emails/${email.id}/sections/${id}`, { fields: { text } }, at(version, clientId));

describe("undo and redo move through versions without adding history entries", () => {
  test("undo, redo, and a new edit after an undo drops the redo branch; If-Match holds across them", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const e2 = await editHeadline(email, h.id, "Second headline", email.version);
    expect(e2.status).toBe(200);
    const e3 = await editHeadline(email, h.id, "Third headline", e2.body.version);
    expect(e3.status).toBe(200);
    const before = await history(email.id);
    expect(before.versions.map((v: any) => v.version)).toEqual([3, 2, 1]);
    expect(before).toMatchObject({ version: 3, showing: 3, undo: 2, redo: null });

    // Undo: the document of version 2, a new version number, and no new entry.
    const undo = await api("POST", `/api/emails/${email.id}/undo`, undefined, at(3));
    expect(undo.status).toBe(200);
    expect(undo.body.version).toBe(4);
    expect(undo.headers.get("etag")).toBe('"4"');
    expect(section(undo.body, "headline").fields.text).toBe("Second headline");
    const undone = await history(email.id);
    expect(undone.versions.map((v: any) => [v.version, v.current, v.undone])).toEqual([[3, false, true], [2, true, false], [1, false, false]]);
    expect(undone).toMatchObject({ version: 4, showing: 2, undo: 1, redo: 3 });

    // A stale If-Match is refused after an undo like after any edit; the current one works.
    const stale = await api("POST", `/api/emails/${email.id}/redo`, undefined, at(3));
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: "version_conflict", currentVersion: 4 });
    const redo = await api("POST", `/api/emails/${email.id}/redo`, undefined, at(4));
    expect(redo.status).toBe(200);
    expect(redo.body.version).toBe(5);
    expect(section(redo.body, "headline").fields.text).toBe("Third headline");
    expect(await history(email.id)).toMatchObject({ showing: 3, undo: 2, redo: null });
    expect((await api("POST", `/api/emails/${email.id}/redo`, undefined, at(5))).body.error.code).toBe("nothing_to_redo");

    // Undo twice, then a new edit: the redo branch is gone, and the history lists only real edits.
    expect((await api("POST", `/api/emails/${email.id}/undo`, undefined, at(5))).status).toBe(200);
    expect((await api("POST", `/api/emails/${email.id}/undo`, undefined, at(6))).status).toBe(200);
    const e8 = await editHeadline(email, h.id, "A new branch", 7);
    expect(e8.status).toBe(200);
    expect(e8.body.version).toBe(8);
    const after = await history(email.id);
    expect(after).toMatchObject({ version: 8, showing: 8, undo: 1, redo: null });
    expect(after.versions.map((v: any) => v.version)).toEqual([8, 3, 2, 1]);
    expect(after.versions.map((v: any) => v.kind)).toEqual(["edit", "edit", "edit", "generated"]);
    expect(after.versions.every((v: any) => !/Restored|Undid|Redid/.test(v.note))).toBe(true);
    expect((await api("POST", `/api/emails/${email.id}/redo`, undefined, at(8))).body.error.code).toBe("nothing_to_redo");
    const back = await api("POST", `/api/emails/${email.id}/undo`, undefined, at(8));
    expect(section(back.body, "headline").fields.text).toBe(section(email, "headline").fields.text);

    // Other tabs still follow: undo and redo are announced like every version.
    const events = await versionEvents(email.sessionId);
    expect(events.map((e: any) => [e.data.version, e.data.kind, e.data.showing])).toEqual([[2, "edit", 2], [3, "edit", 3], [4, "undo", 2], [5, "redo", 3], [6, "undo", 2], [7, "undo", 1], [8, "edit", 8], [9, "undo", 1]]);
    expect(events[2].data.summary).toBe("Undid: Edited headline in Headline");
  });

  test("restoring a version from the history is exactly one entry, and undo after it goes back", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const e2 = await editHeadline(email, h.id, "Edited once", email.version);
    const restored = await api("POST", `/api/emails/${email.id}/versions/1/restore`, undefined, at(e2.body.version));
    expect(restored.status).toBe(200);
    expect(restored.body.document).toEqual(email.document);
    const list = await history(email.id);
    expect(list.versions.map((v: any) => [v.version, v.kind, v.note])).toEqual([[3, "restore", "Restored version 1"], [2, "edit", "Edited headline in Headline"], [1, "generated", "Generated"]]);
    expect(list).toMatchObject({ showing: 3, undo: 2 });
    const undo = await api("POST", `/api/emails/${email.id}/undo`, undefined, at(3));
    expect(section(undo.body, "headline").fields.text).toBe("Edited once");
    expect((await history(email.id)).versions).toHaveLength(3);
    // Restoring what is showing changes nothing.
    const same = await api("POST", `/api/emails/${email.id}/versions/2/restore`, undefined, at(4));
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(4);
  });
});

describe("who and what", () => {
  test("each version records who made it and a human summary; the event carries the tab's clientId", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    expect((await editHeadline(email, h.id, "Who wrote this", email.version, "tab-a")).status).toBe(200);
    const products = email.document.sections.map((s: any) => ({ id: s.id, type: s.type }));
    const i = products.findIndex((s: any) => s.type === "benefits");
    [products[i - 1], products[i]] = [products[i], products[i - 1]];
    expect((await api("PUT", `/api/emails/${email.id}/sections`, { sections: products }, at(2, "tab-b"))).status).toBe(200);
    expect((await api("PATCH", `/api/emails/${email.id}`, { subject: "A new subject" }, at(3))).status).toBe(200);
    const list = await history(email.id);
    expect(list.versions.map((v: any) => [v.note, v.author])).toEqual([
      ["Changed subject", "API token “bootstrap”"],
      ["Moved Benefits up", "API token “bootstrap”"],
      ["Edited headline in Headline", "API token “bootstrap”"],
      ["Generated", "AI"],
    ]);
    const events = await versionEvents(email.sessionId);
    expect(events.map((e: any) => [e.data.summary, e.data.author, e.data.clientId])).toEqual([
      ["Edited headline in Headline", "API token “bootstrap”", "tab-a"],
      ["Moved Benefits up", "API token “bootstrap”", "tab-b"],
      ["Changed subject", "API token “bootstrap”", expect.any(String)],
    ]);
  });
});

describe("stale edits: merged when they touch other fields, 409 with the details when they do not", () => {
  test("different fields of one section, different sections, and a move merge onto the newest version", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const cta = section(email, "cta");
    const a = await editHeadline(email, h.id, "A's headline", email.version);
    expect(a.status).toBe(200);
    // All made on the first version.
    const b = await api("PATCH", `/api/emails/${email.id}/sections/${h.id}`, { fields: { subtext: "B's subtext", text: h.fields.text } }, at(email.version));
    expect(b.status).toBe(200);
    expect(section(b.body, "headline").fields).toMatchObject({ text: "A's headline", subtext: "B's subtext" });
    const c = await api("PATCH", `/api/emails/${email.id}/sections/${cta.id}`, { fields: { label: "C's button" } }, at(email.version));
    expect(c.status).toBe(200);
    const order = email.document.sections.map((s: any) => ({ id: s.id, type: s.type })).reverse();
    const footerLast = [...order.filter((s: any) => s.type !== "footer"), order.find((s: any) => s.type === "footer")];
    const d = await api("PUT", `/api/emails/${email.id}/sections`, { sections: footerLast }, at(email.version));
    expect(d.status).toBe(200);
    const e = await api("PATCH", `/api/emails/${email.id}`, { subject: "E's subject" }, at(email.version));
    expect(e.status).toBe(200);
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(email.version + 5);
    expect(section(now, "headline").fields).toMatchObject({ text: "A's headline", subtext: "B's subtext" });
    expect(section(now, "cta").fields.label).toBe("C's button");
    expect(now.document.sections.map((s: any) => s.id)).toEqual(footerLast.map((s: any) => s.id));
    expect(now.document.subject).toBe("E's subject");
    expect((await history(email.id)).versions.map((v: any) => v.note).slice(0, 2)).toEqual(["Changed subject", "Reordered sections"]);
  });

  test("a true conflict is 409 with the current version, the other edit's summary and the field's current and your value; nothing stored", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const a = await editHeadline(email, h.id, "A's headline", email.version, "tab-a");
    const b = await editHeadline(email, h.id, "B's headline", email.version, "tab-b");
    expect(b.status).toBe(409);
    expect(b.body.error).toMatchObject({
      code: "version_conflict",
      currentVersion: a.body.version,
      changes: [{ version: a.body.version, summary: "Edited headline in Headline", author: "API token “bootstrap”", kind: "edit" }],
      conflicts: [{ path: `${h.id}.text`, sectionId: h.id, field: "text", label: "Headline in Headline", current: "A's headline", yours: "B's headline" }],
    });
    // Re-applying on the current version saves it.
    const again = await editHeadline(email, h.id, "B's headline", b.body.error.currentVersion, "tab-b");
    expect(again.status).toBe(200);
    expect(section(again.body, "headline").fields.text).toBe("B's headline");

    // A deleted section edited elsewhere, and both tabs reordering, are conflicts too.
    const v = again.body.version;
    const del = await api("PUT", `/api/emails/${email.id}/sections`, { sections: again.body.document.sections.filter((s: any) => s.type !== "cta").map((s: any) => ({ id: s.id, type: s.type })) }, at(v));
    expect(del.status).toBe(200);
    const cta = section(email, "cta");
    const lost = await api("PATCH", `/api/emails/${email.id}/sections/${cta.id}`, { fields: { label: "Edited meanwhile" } }, at(v));
    expect(lost.status).toBe(409);
    expect(lost.body.error.conflicts).toEqual([expect.objectContaining({ path: cta.id, sectionId: cta.id })]);
    expect(lost.body.error.changes.map((c: any) => c.summary)).toEqual(["Deleted Call to action"]);
    const ids = again.body.document.sections.map((s: any) => ({ id: s.id, type: s.type }));
    const swapped = await api("PUT", `/api/emails/${email.id}/sections`, { sections: [ids[1], ids[0], ...ids.slice(2)] }, at(v));
    expect(swapped.status).toBe(409);
    expect(swapped.body.error.conflicts[0]).toMatchObject({ path: "sections" });
    expect((await api("GET", `/api/emails/${email.id}`)).body.version).toBe(del.body.version);
  });

  test("two edits racing on one version without If-Match are both kept", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const cta = section(email, "cta");
    const [x, y] = await Promise.all([
      api("PATCH", `/api/emails/${email.id}/sections/${h.id}`, { fields: { text: "Raced headline" } }),
      api("PATCH", `/api/emails/${email.id}/sections/${cta.id}`, { fields: { label: "Raced button" } }),
    ]);
    expect([x.status, y.status]).toEqual([200, 200]);
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(email.version + 2);
    expect(section(now, "headline").fields.text).toBe("Raced headline");
    expect(section(now, "cta").fields.label).toBe("Raced button");
  });
});

describe("an AI rewrite of a section is saved like a stale edit (the same merge rule)", () => {
  // The offline rewrite streams its words at tokensPerSecond: at 2 the stream lasts seconds, so an
  // edit made once its first words are in the session lands before the rewrite is saved.
  const rewrite = async (email: any, sectionId: string) => {
    const started = await api("POST", `/api/emails/${email.id}/sections/${sectionId}/regenerate`, { instruction: "Make it longer", provider: "offline", options: { tokensPerSecond: 2 } });
    expect(started.status).toBe(202);
    const runEvents = async () => (await api("GET", `/api/sessions/${email.sessionId}/events?offset=-1&limit=1000`)).body.events.map((e: any) => e.event).filter((e: any) => e.runId === started.body.runId);
    return {
      /** Resolves once the rewrite streams (it has read the email it rewrites by then). */
      async streaming() {
        while (!(await runEvents()).some((e: any) => e.type === "message.delta")) await Bun.sleep(20);
      },
      async ended(): Promise<any> {
        for (;;) {
          const end = (await runEvents()).find((e: any) => e.type === "run.end");
          if (end) return end;
          await Bun.sleep(50);
        }
      },
    };
  };

  test("a person's edit to the same texts while the rewrite streams stays; the rewrite is refused, naming the field", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const run = await rewrite(email, h.id);
    await run.streaming();
    // Every text of the section, so whichever the rewrite lengthens, both changed it.
    const mine = Object.fromEntries(Object.entries(h.fields).filter(([, v]) => typeof v === "string").map(([k]) => [k, `A person's ${k}`]));
    const person = await api("PATCH", `/api/emails/${email.id}/sections/${h.id}`, { fields: mine }, at(email.version));
    expect(person.status).toBe(200);
    const end = await run.ended();
    expect(end.status).toBe("failed");
    expect(end.error).toMatch(/^Someone changed .+ in Headline while the rewrite was being written; their change stays and the rewrite was not saved/);
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(person.body.version);
    expect(section(now, "headline").fields).toEqual({ ...h.fields, ...mine });
    expect((await history(email.id)).versions.map((v: any) => v.version)).toEqual([person.body.version, email.version]);
  });

  test("a person's edit to another section while the rewrite streams: both are kept", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    const cta = section(email, "cta");
    const run = await rewrite(email, h.id);
    await run.streaming();
    const person = await api("PATCH", `/api/emails/${email.id}/sections/${cta.id}`, { fields: { label: "A person's button" } }, at(email.version));
    expect(person.status).toBe(200);
    const end = await run.ended();
    expect(end.status).toBe("completed");
    const now = (await api("GET", `/api/emails/${email.id}`)).body;
    expect(now.version).toBe(person.body.version + 1);
    expect(section(now, "cta").fields.label).toBe("A person's button");
    // The rewrite (one more sentence) is in, on top of the person's version.
    expect(section(now, "headline").fields).not.toEqual(h.fields);
    expect(JSON.stringify(section(now, "headline").fields).length).toBeGreaterThan(JSON.stringify(h.fields).length);
    const latest = (await history(email.id)).versions[0];
    expect(latest).toMatchObject({ version: now.version, author: "AI" });
  });
});

describe("bad input is a clear 4xx and stores nothing", () => {
  test("malformed If-Match or X-Client-Id, unknown version, other team's email, unknown email", async () => {
    const email = await newEmail();
    const h = section(email, "headline");
    for (const bad of ["abc", '"1; drop table emails"', '"-1"', '"1.5"']) {
      for (const [method, path, body] of [["POST", `/api/emails/${email.id}/undo`, undefined], ["POST", `/api/emails/${email.id}/versions/1/restore`, undefined], ["PATCH", `/api/emails/${email.id}/sections/${h.id}`, { fields: { text: "x" } }]] as const) {
        const res = await api(method, path, body, { "if-match": bad });
        expect({ bad, path, status: res.status, code: res.body.error?.code }).toEqual({ bad, path, status: 400, code: "invalid_if_match" });
      }
    }
    for (const bad of ["has space", "x".repeat(65), "<script>"]) {
      const res = await api("PATCH", `/api/emails/${email.id}/sections/${h.id}`, { fields: { text: "x" } }, { "x-client-id": bad });
      expect({ bad, status: res.status, code: res.body.error?.code }).toEqual({ bad, status: 400, code: "invalid_client_id" });
    }
    expect((await api("POST", `/api/emails/${email.id}/versions/999/restore`)).body.error.code).toBe("version_not_found");
    expect((await api("POST", `/api/emails/${email.id}/versions/999/restore`)).status).toBe(404);
    expect((await api("POST", `/api/emails/${email.id}/versions/0/restore`)).status).toBe(400);
    expect((await api("POST", `/api/emails/${email.id}/versions/abc/restore`)).status).toBe(400);
    expect((await api("POST", `/api/emails/${email.id}/undo`)).body.error.code).toBe("nothing_to_undo");
    for (const [method, path] of [["POST", `/api/emails/${email.id}/undo`], ["POST", `/api/emails/${email.id}/redo`], ["POST", `/api/emails/${email.id}/versions/1/restore`], ["GET", `/api/emails/${email.id}/versions`]] as const) {
      const rival = await call(otherToken, method, path);
      expect({ path, status: rival.status, code: rival.body.error?.code }).toEqual({ path, status: 404, code: "email_not_found" });
    }
    expect((await api("POST", "/api/emails/email_nope/undo")).status).toBe(404);
    // A future version in If-Match is a conflict (with the current version), never a save.
    const future = await editHeadline(email, h.id, "From the future", 99);
    expect(future.status).toBe(409);
    expect(future.body.error.currentVersion).toBe(email.version);
    const after = await api("GET", `/api/emails/${email.id}`);
    expect(after.body.version).toBe(email.version);
    expect(after.body.document).toEqual(email.document);
    expect(await versionEvents(email.sessionId)).toEqual([]);
  });
});

describe("the pure parts", () => {
  const doc: EmailDocument = {
    subject: "Hello",
    sections: [
      { id: "h", type: "headline", fields: { text: "Headline", subtext: "Sub" } },
      { id: "c", type: "cta", fields: { label: "Shop", url: "https://x.test" } },
      { id: "t", type: "text", fields: { text: "Body" } },
    ],
  } as EmailDocument;
  const withFields = (d: EmailDocument, id: string, fields: Record<string, unknown>) => ({ ...d, sections: d.sections.map((s) => (s.id === id ? { ...s, fields: { ...s.fields, ...fields } } : s)) }) as EmailDocument;

  test("describeChange says what changed in the editor's words", () => {
    expect(describeChange(doc, withFields(doc, "h", { text: "New" }))).toBe("Edited headline in Headline");
    expect(describeChange(doc, withFields(doc, "c", { label: "Buy", note: "Today" }))).toBe("Edited button label and note under the button in Call to action");
    expect(describeChange(doc, { ...doc, subject: "Bye", preheader: "Pre" })).toBe("Changed subject and preheader");
    expect(describeChange(doc, { ...doc, sections: [doc.sections[0]!, doc.sections[2]!, doc.sections[1]!] })).toBe("Moved Text up");
    expect(describeChange(doc, { ...doc, sections: [doc.sections[2]!, doc.sections[1]!, doc.sections[0]!] })).toBe("Reordered sections");
    expect(describeChange(doc, { ...doc, sections: doc.sections.slice(1) })).toBe("Deleted Headline");
    expect(describeChange(doc, { ...doc, sections: [...doc.sections, { ...doc.sections[2]!, id: "t2" }] })).toBe("Duplicated Text");
    expect(describeChange(doc, doc)).toBe("No changes");
  });

  test("mergeDocuments keeps both sides' changes to different fields and names the fields both changed", () => {
    const merged = mergeDocuments({ base: doc, current: withFields(doc, "h", { text: "Current" }), yours: withFields(doc, "h", { subtext: "Yours" }) });
    expect(merged).toEqual({ ok: true, document: withFields(doc, "h", { text: "Current", subtext: "Yours" }) });
    const same = mergeDocuments({ base: doc, current: withFields(doc, "h", { text: "Same" }), yours: withFields(doc, "h", { text: "Same" }) });
    expect(same.ok).toBe(true);
    const conflict = mergeDocuments({ base: doc, current: withFields(doc, "h", { text: "Current" }), yours: withFields(withFields(doc, "h", { text: "Yours" }), "c", { label: "Fine" }) });
    expect(conflict).toEqual({ ok: false, conflicts: [{ path: "h.text", label: "Headline in Headline", sectionId: "h", field: "text", current: "Current", yours: "Yours" }] });
    const removedField = mergeDocuments({ base: doc, current: withFields(doc, "t", { text: "Edited" }), yours: { ...doc, sections: [doc.sections[0]!, doc.sections[1]!] } });
    expect(removedField.ok).toBe(false);
  });
});
