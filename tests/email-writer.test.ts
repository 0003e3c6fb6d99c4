import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import sharp from "sharp";
import { startServer, type TestServer } from "./support/server";
import { startFakeProviders, type FakeProviders } from "./support/fake-providers";
import { referenceAssets } from "./support/references";
import { ConfigError, loadConfig } from "../src/infra/config";
import { sectionModule } from "../src/email/sections";

/**
 * The writer through the API: what Claude and OpenAI are sent (checked on local servers speaking their
 * wire formats), a team's own OpenAI-compatible model without structured output, regenerating a
 * section with an instruction (offline and with a model), and stopping a generation.
 */

const servers: TestServer[] = [];
let fakes: FakeProviders;

afterAll(async () => {
  for (const s of servers) await s.stop();
  fakes?.stop();
});

beforeAll(() => {
  fakes = startFakeProviders({ delayMs: 1 });
});

interface Team {
  server: TestServer;
  token: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function team(env: Record<string, string>): Promise<Team> {
  const server = await startServer({ env });
  servers.push(server);
  const made = await server.fetch("/api/teams", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "writer", owner: { name: "W", email: `w-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } }) });
  const token = ((await made.json()) as any).apiToken as string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return { server, token, call };
}

async function photo(t: Team): Promise<{ id: string; base64: string }> {
  const png = await sharp({ create: { width: 300, height: 300, channels: 3, background: { r: 220, g: 140, b: 60 } } }).png().toBuffer();
  const form = new FormData();
  form.append("file", new File([new Uint8Array(png)], "serum.png", { type: "image/png" }));
  form.append("kind", "product");
  const res = await fetch(`${t.server.url}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${t.token}` }, body: form });
  return { id: ((await res.json()) as any).id, base64: png.toString("base64") };
}

const BRAND = {
  name: "Glow & Co",
  colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" },
  fonts: { heading: "Playfair Display", body: "Lato" },
  voice: "warm, confident, no jargon",
  formula: [{ type: "hero", guidance: "Show the serum in morning light" }, "headline", "ingredient", "benefits", "cta", "footer"],
  footer: { address: "12 Market Street, Portland, OR 97201", unsubscribeUrl: "{{unsubscribe}}" },
};

async function briefWith(t: Team, extra: Record<string, unknown> = {}): Promise<{ briefId: string; photo: { id: string; base64: string }; refs: string[] }> {
  const brand = await t.call("POST", "/api/brands", BRAND);
  const p = await photo(t);
  const refs = await referenceAssets(t.server.url, t.token, 3);
  const brief = await t.call("POST", "/api/briefs", {
    brandId: brand.body.id,
    objective: "Launch the vitamin C serum",
    audience: "Existing customers who bought our night cream",
    tone: "confident",
    hook: "Wake up to brighter skin",
    products: [{ name: "Radiance C Serum", description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks.", imageAssetId: p.id, url: "https://glow.example/serum" }],
    cta: { label: "Shop the serum", url: "https://glow.example/serum" },
    offer: { text: "20% off your first order", code: "GLOW20" },
    occasion: "Spring launch",
    referenceAssetIds: refs,
    ...extra,
  });
  expect(brief.status).toBe(201);
  return { briefId: brief.body.id, photo: p, refs };
}

async function settled(t: Team, emailId: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const email = (await t.call("GET", `/api/emails/${emailId}`)).body;
    if (email.status !== "generating") return email;
    if (Date.now() > deadline) throw new Error("still generating");
    await Bun.sleep(50);
  }
}

async function events(t: Team, sessionId: string): Promise<any[]> {
  const res = await t.call("GET", `/api/sessions/${sessionId}/events?offset=-1&limit=1000`);
  return res.body.events.map((e: any) => e.event);
}

async function runEnd(t: Team, sessionId: string, runId: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const end = (await events(t, sessionId)).find((e) => e.type === "run.end" && e.runId === runId);
    if (end) return end;
    if (Date.now() > deadline) throw new Error("run did not end");
    await Bun.sleep(40);
  }
}

const section = (email: any, type: string) => email.document.sections.find((s: any) => s.type === type);

describe("Claude and OpenAI, as the workflow uses them", () => {
  let t: Team;
  beforeAll(async () => {
    t = await team({ ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fakes.anthropicUrl, OPENAI_API_KEY: "sk-openai-test", OPENAI_BASE_URL: fakes.openaiUrl, TEXT_PROVIDER: "anthropic", TEXT_MODEL: "claude-opus-4-1" });
  }, 60_000);

  test("Claude gets the design system, the brief, the screenshots and the product photo as image blocks, and a JSON schema; OpenAI edits the product photo into an on-palette hero without text", async () => {
    const { briefId, photo, refs } = await briefWith(t);
    const before = fakes.requests.length;
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, {});
    expect(started.status).toBe(202);
    const email = await settled(t, started.body.emailId);
    expect(email.error).toBeNull();
    expect(email.status).toBe("ready");
    const requests = fakes.requests.slice(before);

    const claude = requests.find((r) => r.provider === "anthropic")!;
    expect(claude.body.model).toBe("claude-opus-4-1");
    expect(claude.body.output_config.format.type).toBe("json_schema");
    expect(Object.keys(claude.body.output_config.format.schema.properties)).toEqual(["subject", "preheader", "sections"]);
    const system: string = claude.body.system;
    for (const part of ["#0f5132", "#c9a227", "#fffaf2", "#222222", "Playfair Display", "Lato", "warm, confident, no jargon", "12 Market Street"]) expect(system).toContain(part);
    expect(system).toContain("1. hero — Show the serum in morning light");
    // Steps without the brand's own guidance carry the section type's.
    expect(system).toContain(`4. benefits — ${sectionModule("benefits")!.guidance}`);
    const content = claude.body.messages[0].content as any[];
    const text = content.filter((b) => b.type === "text").map((b) => b.text).join("\n");
    for (const part of ["Objective: Launch the vitamin C serum", "Audience: Existing customers", "Tone: confident", "Offer: 20% off your first order (code GLOW20)", "Occasion: Spring launch", "Radiance C Serum: A 15% vitamin C serum"]) expect(text).toContain(part);
    const images = content.filter((b) => b.type === "image");
    expect(images).toHaveLength(refs.length + 1);
    for (const block of images) expect(block.source).toMatchObject({ type: "base64", media_type: "image/png" });
    // The product photo, after the references, labelled with its name.
    expect(images.at(-1).source.data).toBe(photo.base64);
    const photoIndex = content.findIndex((b) => b.type === "image" && b.source.data === photo.base64);
    expect(content[photoIndex - 1]).toMatchObject({ type: "text", text: expect.stringContaining("Product photo: Radiance C Serum") });

    const hero = requests.find((r) => r.provider === "openai" && r.path === "/v1/images/edits")!;
    expect(hero).toBeDefined();
    expect(requests.some((r) => r.path === "/v1/images/generations")).toBe(false);
    expect(hero.body.model).toBe("gpt-image-1");
    expect(hero.body.image.base64).toBe(photo.base64);
    for (const colour of ["#0f5132", "#c9a227", "#fffaf2"]) expect(hero.body.prompt).toContain(colour);
    expect(hero.body.prompt).toContain("No text, letters, numbers or logos");
    expect(hero.body.prompt).toContain("Keep the product from the input image");
    expect(section(email, "hero").fields.imageUrl).toMatch(/\/assets\/ast_/);
  });

  test("without a product photo the hero is generated (not edited)", async () => {
    const { briefId } = await briefWith(t, { products: [{ name: "Radiance C Serum", description: "Brightens." }] });
    const before = fakes.requests.length;
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, {});
    await settled(t, started.body.emailId);
    const requests = fakes.requests.slice(before);
    expect(requests.some((r) => r.path === "/v1/images/generations")).toBe(true);
    expect(requests.some((r) => r.path === "/v1/images/edits")).toBe(false);
    const claude = requests.find((r) => r.provider === "anthropic")!;
    expect(claude.body.messages[0].content.filter((b: any) => b.type === "image")).toHaveLength(3);
  });

  test("regenerating with a model sends the instruction, the section and its neighbours", async () => {
    const { briefId } = await briefWith(t);
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, {});
    const email = await settled(t, started.body.emailId);
    const ids = email.document.sections.map((s: any) => s.id);
    const target = email.document.sections[1];
    const before = fakes.requests.length;
    const run = await t.call("POST", `/api/emails/${email.id}/sections/${target.id}/regenerate`, { instruction: "Make it sound like a morning ritual" });
    expect(run.status).toBe(202);
    expect((await runEnd(t, email.sessionId, run.body.runId)).status).toBe("completed");
    const request = fakes.requests.slice(before).find((r) => r.provider === "anthropic")!;
    expect(request.body.model).toBe("claude-opus-4-1");
    expect(request.body.output_config.format.type).toBe("json_schema");
    expect(request.body.system).toContain(`keeping its id "${target.id}"`);
    expect(request.body.system).toContain("#0f5132");
    const prompt = request.body.messages[0].content as string;
    expect(prompt).toContain("Instruction: Make it sound like a morning ritual");
    expect(prompt).toContain(`Current section:\n${JSON.stringify(target)}`);
    expect(prompt).toContain(`Section before it:\n${JSON.stringify(email.document.sections[0])}`);
    expect(prompt).toContain(`Section after it:\n${JSON.stringify(email.document.sections[2])}`);
    const after = (await t.call("GET", `/api/emails/${email.id}`)).body;
    expect(after.version).toBe(email.version + 1);
    expect(after.document.sections.map((s: any) => s.id)).toEqual(ids);
  });
  test("subject lines for variants come from the model: brand voice and current subject sent by JSON schema; the current subject is dropped", async () => {
    const { briefId } = await briefWith(t);
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, {});
    const email = await settled(t, started.body.emailId);
    const before = fakes.requests.length;
    const proposed = await t.call("POST", `/api/emails/${email.id}/subject-variants`, { count: 3 });
    expect(proposed.status).toBe(200);
    expect(proposed.body.source).toBe("model");
    const current = email.document.subject as string;
    expect(proposed.body.subjects).toEqual([`Model: ${current.toLowerCase()}`, `Model asks: ready for ${current.toLowerCase()}?`, `Model news: ${current}`]);
    const request = fakes.requests.slice(before).find((r) => r.provider === "anthropic")!;
    expect(request.body.model).toBe("claude-opus-4-1");
    expect(request.body.output_config.format.type).toBe("json_schema");
    expect(request.body.system).toContain("warm, confident, no jargon");
    expect(request.body.messages[0].content).toContain(`Current subject: ${current}`);
    // Asking for the offline proposal explicitly never calls the model.
    const offline = await t.call("POST", `/api/emails/${email.id}/subject-variants`, { count: 3, provider: "offline" });
    expect(offline.body.source).toBe("offline");
    expect(offline.body.subjects).toHaveLength(3);
    expect((await t.call("POST", `/api/emails/${email.id}/subject-variants`, { provider: "gemini" })).status).toBe(400);
  });
});

describe("a team's own model: an OpenAI-compatible server without structured output", () => {
  test("copy comes from TEXT_MODEL through JSON mode after the server refuses json_schema; the image stays offline", async () => {
    const t = await team({ TEXT_PROVIDER: "openai", TEXT_MODEL: "llama3.1:8b", OPENAI_BASE_URL: fakes.compatibleUrl, IMAGE_PROVIDER: "offline" });
    const { briefId } = await briefWith(t);
    const before = fakes.requests.length;
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, {});
    const email = await settled(t, started.body.emailId);
    expect(email.error).toBeNull();
    expect(email.status).toBe("ready");
    expect(email.offlineDraft).toBe(false);
    expect(email.document.sections.map((s: any) => s.type)).toEqual(["hero", "headline", "ingredient", "benefits", "cta", "footer"]);
    const chats = fakes.requests.slice(before).filter((r) => r.provider === "compatible");
    expect(chats.map((r) => r.body.response_format?.type)).toEqual(["json_schema", "json_object"]);
    expect(chats.every((r) => r.body.model === "llama3.1:8b")).toBe(true);
    // JSON mode carries the schema in the system prompt instead.
    const system = chats[1]!.body.messages.find((m: any) => m.role === "system").content;
    expect(system).toContain("follows this JSON schema");
    expect(system).toContain('"sections"');
    // Images go as image_url parts; no key is needed for a local server.
    expect(chats[1]!.body.messages.at(-1).content.filter((p: any) => p.type === "image_url")).toHaveLength(4);
    expect(fakes.requests.slice(before).some((r) => r.path.startsWith("/v1/images"))).toBe(false);
  }, 60_000);

  test("provider settings are checked once at start, with one clear line", () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ TEXT_MODEL: "llama3.1" }, "TEXT_MODEL"],
      [{ IMAGE_MODEL: "gpt-image-1" }, "IMAGE_MODEL"],
      [{ TEXT_PROVIDER: "anthropic" }, "TEXT_PROVIDER"],
      [{ TEXT_PROVIDER: "openai" }, "TEXT_PROVIDER"],
      [{ IMAGE_PROVIDER: "openai" }, "IMAGE_PROVIDER"],
      [{ IMAGE_PROVIDER: "midjourney" }, "IMAGE_PROVIDER"],
    ];
    for (const [env, variable] of bad) {
      let error: unknown;
      try {
        loadConfig({ SECRET_KEY: "x".repeat(40), ...env });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
    }
    const ok = loadConfig({ SECRET_KEY: "x".repeat(40), TEXT_PROVIDER: "openai", TEXT_MODEL: "llama3.1", OPENAI_BASE_URL: "http://localhost:11434/v1", IMAGE_PROVIDER: "offline" });
    expect(ok.text).toEqual({ provider: "openai", model: "llama3.1" });
    expect(ok.image).toEqual({ provider: "offline", model: undefined });
  });
});

describe("offline: regenerate with an instruction, and stop", () => {
  let t: Team;
  let email: any;
  beforeAll(async () => {
    t = await team({});
    const { briefId } = await briefWith(t);
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, { provider: "offline", options: { sectionDelayMs: 0 } });
    email = await settled(t, started.body.emailId);
    expect(email.status).toBe("ready");
  }, 60_000);

  async function regenerate(sectionId: string, instruction: string) {
    const before = (await t.call("GET", `/api/emails/${email.id}`)).body;
    const run = await t.call("POST", `/api/emails/${email.id}/sections/${sectionId}/regenerate`, { instruction });
    expect(run.status).toBe(202);
    const end = await runEnd(t, email.sessionId, run.body.runId);
    const after = (await t.call("GET", `/api/emails/${email.id}`)).body;
    return { end, before: before.document.sections.find((s: any) => s.id === sectionId), after: after.document.sections.find((s: any) => s.id === sectionId), versions: [before.version, after.version] as const };
  }

  const CASES: Array<[string, string, (before: any, after: any) => void]> = [
    ["hero", "Make it shorter", (b, a) => expect(a.fields.subheadline.length).toBeLessThan(b.fields.subheadline.length)],
    ["ingredient", "more casual", (_b, a) => expect(a.fields.description).toMatch(/\b(it's|you're|that's)\b/i)],
    ["ingredient", "Make it more formal", (_b, a) => expect(a.fields.description).not.toMatch(/\b(it's|you're|that's)\b/i)],
    ["ingredient", "shorter", (b, a) => expect(a.fields.description.length).toBeLessThan(b.fields.description.length)],
    ["headline", "Make it longer", (b, a) => expect(a.fields.subtext.length).toBeGreaterThan(b.fields.subtext.length)],
    ["benefits", "punchier", (b, a) => expect(JSON.stringify(a.fields).length).toBeLessThan(JSON.stringify(b.fields).length)],
    ["cta", "mention free shipping over $50", (_b, a) => expect(a.fields.note).toContain("free shipping over $50")],
    ["hero", "remove GLOW20", (_b, a) => expect(JSON.stringify(a.fields)).not.toContain("GLOW20")],
    ["headline", "use the offer", (_b, a) => expect(a.fields.subtext).toContain("20% off your first order with code GLOW20")],
  ];

  for (const [type, instruction, check] of CASES) {
    test(`${type}: “${instruction}” makes a new version, and the instruction is not pasted in`, async () => {
      const target = section(email, type);
      const { end, before, after, versions } = await regenerate(target.id, instruction);
      expect(end.status).toBe("completed");
      expect(versions[1]).toBe(versions[0] + 1);
      expect(after.fields).not.toEqual(before.fields);
      check(before, after);
      expect(JSON.stringify(after.fields).toLowerCase()).not.toContain(instruction.toLowerCase());
    });
  }

  test("an instruction that needs a real model is refused at once, saying so plainly, and stores no version", async () => {
    const target = section(email, "headline");
    for (const instruction of ["Make it punchier and mention 20% off", "Rewrite it as a haiku about spring"]) {
      const before = (await t.call("GET", `/api/emails/${email.id}`)).body;
      const res = await t.call("POST", `/api/emails/${email.id}/sections/${target.id}/regenerate`, { instruction });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("instruction_needs_model");
      expect(res.body.error.message).toContain("needs a real model");
      expect(res.body.error.message).toContain("shorter, longer, punchier");
      const after = (await t.call("GET", `/api/emails/${email.id}`)).body;
      expect(after.version).toBe(before.version);
      expect(after.document).toEqual(before.document);
    }
  });

  test("an instruction that would change nothing saves no unchanged version", async () => {
    const cta = section((await t.call("GET", `/api/emails/${email.id}`)).body, "cta");
    const { end, versions } = await regenerate(cta.id, "remove unicorns");
    expect(end.status).toBe("failed");
    expect(end.error).toContain("no new version was saved");
    expect(versions[1]).toBe(versions[0]);
  });

  test("stopping a generation keeps what it made: the finished hero image stays", async () => {
    const { briefId } = await briefWith(t);
    // Slow sections, so the hero image is done long before the copy.
    const started = await t.call("POST", `/api/briefs/${briefId}/generate`, { provider: "offline", options: { sectionDelayMs: 3_000 } });
    const deadline = Date.now() + 20_000;
    let image: any;
    while (!image) {
      image = (await events(t, started.body.sessionId)).find((e) => e.type === "artifact" && e.kind === "image");
      if (Date.now() > deadline) throw new Error("no hero image");
      await Bun.sleep(40);
    }
    const stopped = await t.call("POST", `/api/sessions/${started.body.sessionId}/control`, { action: "cancel", runId: started.body.runId });
    expect(stopped.status).toBe(202);
    const email = await settled(t, started.body.emailId);
    expect(email.status).toBe("ready");
    expect(email.document.sections.length).toBeLessThan(6);
    expect(section(email, "hero").fields.imageUrl).toBe(image.ref);
    const versions = (await t.call("GET", `/api/emails/${email.id}/versions`)).body.versions;
    expect(versions[0].note).toBe("Stopped before the end");
  });
});
