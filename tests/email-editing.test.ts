import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import sharp from "sharp";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { referenceAssets } from "./support/references";

/**
 * The JSON API and the pages share one editing module (src/email/editing.ts) with one render cache.
 * The cache is keyed by everything that changes the output: the email's version, the brand's last
 * save, the base URL asset links are made from, and the options (minify).
 */

let server: TestServer;
let token: string;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

let emailId: string;
let brandId: string;
let brandBody: any;

beforeAll(async () => {
  // No PUBLIC_URL: asset links are made from the origin each request came to.
  server = await startServer({ env: { PUBLIC_URL: undefined, AI_PROVIDER: "offline" } });
  const team = await fetch(`${server.url}/api/teams`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "editing", owner: { name: "Ed", email: `ed-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } }),
  });
  token = ((await team.json()) as any).apiToken;
  const form = new FormData();
  const png = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 10, g: 80, b: 50 } } }).png().toBuffer();
  form.append("file", new File([new Uint8Array(png)], "logo.png"));
  form.append("kind", "logo");
  const logo = (await (await fetch(`${server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form })).json()) as any;
  brandBody = {
    name: "Cache & Co",
    colors: { primary: "#0f5132", background: "#fffaf2", text: "#222222" },
    logoAssetId: logo.id,
    footer: { address: "1 Main Street", unsubscribeUrl: "{{unsubscribe}}" },
  };
  const brand = await call("POST", "/api/brands", brandBody);
  brandId = brand.body.id;
  const brief = await call("POST", "/api/briefs", { brandId, objective: "Launch", audience: "Everyone", tone: "warm", hook: "Hello", cta: { label: "Go", url: "https://example.com" }, referenceAssetIds: await referenceAssets(server.url, token) });
  const started = await call("POST", `/api/briefs/${brief.body.id}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
  expect(started.status).toBe(202);
  emailId = started.body.emailId;
  for (let i = 0; i < 400; i++) {
    const email = await call("GET", `/api/emails/${emailId}`);
    if (email.body.status !== "generating") break;
    await Bun.sleep(50);
  }
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe("one render cache for the API and the pages", () => {
  test("the same version asked through two hosts links assets to each host (the base URL is in the key)", async () => {
    const a = await call("GET", `/api/emails/${emailId}/html`, undefined, { host: "studio-a.example" });
    const b = await call("GET", `/api/emails/${emailId}/html`, undefined, { host: "studio-b.example" });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body).toContain("http://studio-a.example/assets/");
    expect(a.body).not.toContain("studio-b.example");
    expect(b.body).toContain("http://studio-b.example/assets/");
    expect(b.body).not.toContain("studio-a.example");
  });

  test("saving the brand changes the render of the same email version", async () => {
    const before = await call("GET", `/api/emails/${emailId}/html`);
    expect(before.body.toLowerCase()).toContain("#fffaf2");
    const version = (await call("GET", `/api/emails/${emailId}`)).body.version;
    expect((await call("PUT", `/api/brands/${brandId}`, { ...brandBody, colors: { ...brandBody.colors, background: "#eef6ff" } })).status).toBe(200);
    const after = await call("GET", `/api/emails/${emailId}/html`);
    expect((await call("GET", `/api/emails/${emailId}`)).body.version).toBe(version);
    expect(after.body.toLowerCase()).toContain("#eef6ff");
    expect(after.body.toLowerCase()).not.toContain("#fffaf2");
  });

  test("minified and plain HTML are cached apart", async () => {
    const plain = await call("GET", `/api/emails/${emailId}/html`);
    const minified = await call("GET", `/api/emails/${emailId}/html?minify=1`);
    const plainAgain = await call("GET", `/api/emails/${emailId}/html`);
    expect(minified.body.length).toBeLessThan(plain.body.length);
    expect(plainAgain.body).toBe(plain.body);
  });

  test("an edit through the API and a restore use the editing module's rules and codes", async () => {
    const email = (await call("GET", `/api/emails/${emailId}`)).body;
    const cta = email.document.sections.find((s: any) => s.type === "cta");
    const bad = await call("PATCH", `/api/emails/${emailId}/sections/${cta.id}`, { fields: { label: "" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_section");
    const missing = await call("PATCH", `/api/emails/${emailId}/sections/nope`, { fields: { label: "x" } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("section_not_found");
    const edited = await call("PATCH", `/api/emails/${emailId}/sections/${cta.id}`, { fields: { label: "Shop the edit" } });
    expect(edited.status).toBe(200);
    expect(edited.body.version).toBe(email.version + 1);
    expect(edited.body.document.sections.find((s: any) => s.id === cta.id).fields.label).toBe("Shop the edit");
    const restored = await call("POST", `/api/emails/${emailId}/versions/${email.version}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body.document.sections.find((s: any) => s.id === cta.id).fields.label).toBe(cta.fields.label);
    const noVersion = await call("POST", `/api/emails/${emailId}/versions/999/restore`);
    expect(noVersion.status).toBe(404);
    expect(noVersion.body.error.code).toBe("version_not_found");
    // A section added through the API without fields starts from the same offline draft the page's "add" uses.
    const added = await call("PUT", `/api/emails/${emailId}/sections`, { sections: [...restored.body.document.sections.map((s: any) => ({ id: s.id, type: s.type })), { id: "testimonial-9", type: "testimonial" }] });
    expect(added.status).toBe(200);
    expect(added.body.document.sections.at(-1)).toMatchObject({ id: "testimonial-9", type: "testimonial", fields: { author: "[Customer name]" } });
  });
});
