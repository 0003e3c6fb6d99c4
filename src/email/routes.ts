import { createRoute, z } from "@hono/zod-openapi";
import { runOptionsSchema } from "../agents/options";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { canAccessTeam, type Principal } from "../accounts/principal";
import type { SessionService } from "../sessions/service";
import { AssetStore, assetIdFromUrl } from "../assets/store";
import { requireOwnAssets } from "../assets/routes";
import { BriefInput, StudioStore, toBrand, type EmailRecord } from "./studio";
import { SECTION_TYPES, validateDocument, validateSection, type EmailDocument, type Section } from "./document";
import { renderEmail } from "./render";
import { checkEmail, type EmailCheck } from "./checks";
import { emailToText } from "./text";
import { exportZip } from "./export";
import { writeOfflineEmail } from "./offline-writer";

const Id = (name: string, example: string) => z.string().min(1).max(100).openapi({ param: { name, in: "path" }, example });
const Json = z.record(z.string(), z.unknown());
const CheckSchema = z.object({ id: z.string(), level: z.enum(["error", "warning", "info"]), message: z.string(), sectionId: z.string().optional() });
const EmailView = z
  .object({
    id: z.string(),
    status: z.enum(["generating", "ready", "failed"]),
    sessionId: z.string(),
    runId: z.string().nullable(),
    version: z.number(),
    document: z.object({ sections: z.array(z.object({ id: z.string(), type: z.string(), fields: Json })) }).passthrough(),
    checks: z.array(CheckSchema),
    offlineDraft: z.boolean(),
    error: z.string().nullable(),
  })
  .openapi("Email");

/** Renders are cached per email version: the editor and exports ask for the same version many times. */
const RENDER_CACHE_SIZE = 200;

export interface StudioRoutesOptions {
  studio: StudioStore;
  assets: AssetStore;
  sessions: SessionService;
  publicUrl: string | undefined;
  providerLabel: () => string;
}

/** The email studio JSON API: briefs, generation, the email document and its exports. */
export function studioRoutes(options: StudioRoutesOptions) {
  const { studio, assets, sessions } = options;
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;
  const teamOf = (principal: Principal): string | null => {
    if (principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens are scoped to one session.");
    return principal.teamId ?? null;
  };
  const renders = new Map<string, { html: string; mjml: string; checks: EmailCheck[] }>();

  async function loadEmail(c: Context<AppEnv>, id: string): Promise<EmailRecord> {
    const email = await studio.email(id);
    if (!email || !canAccessTeam(c.get("principal"), email.teamId)) throw new ApiError(404, "email_not_found", `No email ${id}.`);
    return email;
  }

  async function rendered(c: Context, email: EmailRecord, minify = false) {
    const key = `${email.id}:${email.version}:${email.status}:${email.updatedAt instanceof Date ? email.updatedAt.getTime() : email.updatedAt}:${minify}`;
    const cached = renders.get(key);
    if (cached) return cached;
    const brandRecord = await studio.brand(email.brandId);
    if (!brandRecord) throw new ApiError(404, "brand_not_found", "The email's brand is gone.");
    const brand = toBrand(brandRecord, base(c));
    const result = await renderEmail({ document: email.document, brand, minify });
    const checks = email.document.sections.length > 0 ? checkEmail({ document: email.document, brand, html: result.html, mjmlErrors: result.errors }) : [];
    const value = { html: result.html, mjml: result.mjml, checks };
    if (renders.size >= RENDER_CACHE_SIZE) renders.delete(renders.keys().next().value!);
    renders.set(key, value);
    return value;
  }

  async function view(c: Context, email: EmailRecord) {
    const { checks } = await rendered(c, email);
    // The document's own schema (document.ts) is stricter than the OpenAPI view of it.
    return { id: email.id, status: email.status, sessionId: email.sessionId, runId: email.runId, version: email.version, document: email.document, checks, offlineDraft: email.document.meta?.offlineDraft === true, error: email.error } as any;
  }

  async function saveEdit(c: Context<AppEnv>, email: EmailRecord, document: EmailDocument, note: string) {
    if (email.status === "generating") throw new ApiError(409, "email_generating", "The email is still being generated; edit it when it is ready.");
    const checked = validateDocument(document);
    if (!checked.ok) throw new ApiError(400, "invalid_document", checked.message);
    await studio.saveVersion(email.id, checked.value, note);
    return c.json(await view(c, (await studio.email(email.id))!), 200) as any;
  }

  // --- briefs and generation ------------------------------------------------------------------------
  app.openapi(
    createRoute({ method: "post", path: "/api/briefs", tags: ["Email studio"], summary: "Create a brief", request: { body: { content: { "application/json": { schema: BriefInput } } } }, responses: { 201: { description: "Created", content: { "application/json": { schema: z.object({ id: z.string() }) } } }, ...errors(400, 401, 404) } }),
    async (c) => {
      const body = c.req.valid("json");
      const brand = await studio.brand(body.brandId);
      if (!brand || !canAccessTeam(c.get("principal"), brand.teamId)) throw new ApiError(404, "brand_not_found", `No brand ${body.brandId}.`);
      await requireOwnAssets(assets, c.get("principal"), [...(body.referenceAssetIds ?? []), ...(body.products ?? []).map((p) => p.imageAssetId)]);
      const brief = await studio.createBrief(teamOf(c.get("principal")), body);
      return c.json({ id: brief.id }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/briefs/{id}", tags: ["Email studio"], summary: "A brief", request: { params: z.object({ id: Id("id", "brief_x") }) }, responses: { 200: { description: "The brief", content: { "application/json": { schema: z.object({ id: z.string() }).passthrough() } } }, ...errors(401, 404) } }),
    async (c) => {
      const brief = await studio.brief(c.req.valid("param").id);
      if (!brief || !canAccessTeam(c.get("principal"), brief.teamId)) throw new ApiError(404, "brief_not_found", "No such brief.");
      return c.json({ id: brief.id, ...brief.data }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/briefs/{id}/generate",
      tags: ["Email studio"],
      summary: "Generate an email from a brief (a durable session you can watch, leave and stop)",
      request: { params: z.object({ id: Id("id", "brief_x") }), body: { content: { "application/json": { schema: z.object({ provider: z.enum(["auto", "offline", "anthropic", "openai"]).optional(), options: runOptionsSchema.optional() }) } }, required: false } },
      responses: { 202: { description: "Started", content: { "application/json": { schema: z.object({ emailId: z.string(), sessionId: z.string(), runId: z.string() }) } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const brief = await studio.brief(id);
      const principal = c.get("principal");
      if (!brief || !canAccessTeam(principal, brief.teamId)) throw new ApiError(404, "brief_not_found", `No brief ${id}.`);
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const session = await sessions.create({ title: `Email: ${brief.data.hook}`.slice(0, 200), teamId: brief.teamId });
      const emailId = await studio.createEmail({ teamId: brief.teamId, briefId: brief.id, brandId: brief.brandId, sessionId: session.id, provider: body?.provider ?? null });
      const runId = await sessions.startRun(session.id, { agent: "email", provider: body?.provider, options: body?.options, input: { emailId, baseUrl: base(c) }, clientId: principal.clientId });
      await studio.setRun(emailId, runId);
      return c.json({ emailId, sessionId: session.id, runId }, 202);
    },
  );

  // --- emails ---------------------------------------------------------------------------------------
  app.openapi(
    createRoute({ method: "get", path: "/api/emails", tags: ["Email studio"], summary: "List emails (newest first)", responses: { 200: { description: "Emails", content: { "application/json": { schema: z.object({ emails: z.array(z.object({ id: z.string(), status: z.string(), version: z.number(), subject: z.string().nullable(), createdAt: z.string() })) }) } } }, ...errors(401) } }),
    async (c) => {
      const principal = c.get("principal");
      const list = await studio.emails(principal.kind === "admin" ? undefined : teamOf(principal));
      return c.json({ emails: list.map((e) => ({ id: e.id, status: e.status, version: e.version, subject: e.document.subject ?? null, createdAt: new Date(e.createdAt).toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/emails/{id}", tags: ["Email studio"], summary: "An email: status, document, checks", request: { params: z.object({ id: Id("id", "email_x") }) }, responses: { 200: { description: "The email", content: { "application/json": { schema: EmailView } } }, ...errors(401, 404) } }),
    async (c) => c.json(await view(c, await loadEmail(c, c.req.valid("param").id)), 200),
  );

  for (const [format, type] of [["html", "text/html; charset=utf-8"], ["mjml", "text/plain; charset=utf-8"], ["txt", "text/plain; charset=utf-8"]] as const) {
    app.openapi(
      createRoute({ method: "get", path: `/api/emails/{id}/${format}`, tags: ["Email studio"], summary: `Export as ${format.toUpperCase()}`, request: { params: z.object({ id: Id("id", "email_x") }), query: z.object({ download: z.string().optional(), minify: z.enum(["0", "1", "true", "false"]).optional().openapi({ description: "HTML only: minify the inlined HTML" }) }) }, responses: { 200: { description: format, content: { [type.split(";")[0]!]: { schema: z.string() } } }, ...errors(401, 404) } }),
      async (c) => {
        const email = await loadEmail(c, c.req.valid("param").id);
        const minify = format === "html" && (c.req.query("minify") === "1" || c.req.query("minify") === "true");
        const r = await rendered(c, email, minify);
        const body = format === "html" ? r.html : format === "mjml" ? r.mjml : emailToText(r.html);
        const headers: Record<string, string> = { "content-type": type, "cache-control": "no-store" };
        // A rendered email is a document to look at, not a page of ours: no script may run in it.
        if (format === "html") headers["content-security-policy"] = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https:; sandbox";
        if (c.req.query("download") !== undefined) headers["content-disposition"] = `attachment; filename="email-${email.id}.${format}"`;
        return new Response(body, { status: 200, headers }) as never;
      },
    );
  }

  app.openapi(
    createRoute({ method: "get", path: "/api/emails/{id}/export.zip", tags: ["Email studio"], summary: "Export HTML, MJML, text and images as one zip", request: { params: z.object({ id: Id("id", "email_x") }) }, responses: { 200: { description: "zip", content: { "application/zip": { schema: z.string() } } }, ...errors(401, 404) } }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const r = await rendered(c, email);
      const images = [];
      const urls = new Set<string>();
      for (const section of email.document.sections) {
        for (const value of Object.values(section.fields as Record<string, unknown>)) if (typeof value === "string") urls.add(value);
        for (const product of (section.fields as { products?: Array<{ imageUrl?: string }> }).products ?? []) if (product.imageUrl) urls.add(product.imageUrl);
      }
      for (const url of urls) {
        const id = assetIdFromUrl(url, base(c));
        if (!id) continue;
        const asset = await assets.bytes(id);
        if (asset) images.push({ name: `${id}.${asset.info.contentType.split("/")[1]}`, bytes: asset.bytes, url });
      }
      const zip = exportZip({ html: r.html, mjml: r.mjml, text: emailToText(r.html), images, baseName: "email" });
      return new Response(zip as Uint8Array<ArrayBuffer>, { status: 200, headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="email-${email.id}.zip"` } }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/api/emails/{id}/sections/{sectionId}",
      tags: ["Email studio"],
      summary: "Edit one section's fields (a new version)",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero") }), body: { content: { "application/json": { schema: z.object({ fields: Json }) } } } },
      responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      const section = email.document.sections.find((s) => s.id === sectionId);
      if (!section) throw new ApiError(404, "section_not_found", `No section ${sectionId}.`);
      const merged = validateSection({ ...section, fields: { ...section.fields, ...c.req.valid("json").fields } });
      if (!merged.ok) throw new ApiError(400, "invalid_section", merged.message);
      const document = { ...email.document, sections: email.document.sections.map((s) => (s.id === sectionId ? merged.value : s)) };
      return saveEdit(c, email, document, `Edited ${section.type}`);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/sections/{sectionId}/regenerate",
      tags: ["Email studio"],
      summary: "Rewrite one section from an instruction (streamed live in the email's session)",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero") }), body: { content: { "application/json": { schema: z.object({ instruction: z.string().trim().min(1).max(1_000), provider: z.enum(["auto", "offline", "anthropic", "openai"]).optional() }) } } } },
      responses: { 202: { description: "Started", content: { "application/json": { schema: z.object({ runId: z.string(), sessionId: z.string() }) } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      if (email.status === "generating") throw new ApiError(409, "email_generating", "The email is still being generated.");
      if (!email.document.sections.some((s) => s.id === sectionId)) throw new ApiError(404, "section_not_found", `No section ${sectionId}.`);
      const body = c.req.valid("json");
      const runId = await sessions.startRun(email.sessionId, { agent: "email-section", provider: body.provider ?? email.provider ?? undefined, input: { emailId: id, sectionId, instruction: body.instruction, baseUrl: base(c) }, clientId: c.get("principal").clientId });
      return c.json({ runId, sessionId: email.sessionId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/emails/{id}/sections",
      tags: ["Email studio"],
      summary: "Reorder, add or delete sections (send the new list of sections)",
      request: { params: z.object({ id: Id("id", "email_x") }), body: { content: { "application/json": { schema: z.object({ sections: z.array(z.object({ id: z.string(), type: z.enum(SECTION_TYPES), fields: Json.optional() })) }) } } } },
      responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const brandRecord = (await studio.brand(email.brandId))!;
      const existing = new Map(email.document.sections.map((s) => [s.id, s]));
      const sections: Section[] = c.req.valid("json").sections.map((s) => {
        const known = existing.get(s.id);
        if (known && !s.fields) return known;
        if (s.fields) return { id: s.id, type: s.type, fields: s.fields } as Section;
        // A new section without fields starts from the offline writer's draft of that type.
        const brand = toBrand(brandRecord, base(c));
        const draft = writeOfflineEmail({ brand: { ...brand, formula: [{ type: s.type }] }, brief: { objective: "", audience: "", tone: "", hook: email.document.subject ?? brand.name, products: [] } });
        return { ...(draft.sections[0] ?? { type: s.type, fields: {} }), id: s.id } as Section;
      });
      return saveEdit(c, email, { ...email.document, sections }, "Rearranged sections");
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/emails/{id}/versions", tags: ["Email studio"], summary: "Version history", request: { params: z.object({ id: Id("id", "email_x") }) }, responses: { 200: { description: "Versions", content: { "application/json": { schema: z.object({ versions: z.array(z.object({ version: z.number(), note: z.string().nullable(), createdAt: z.string() })) }) } } }, ...errors(401, 404) } }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const versions = await studio.versions(email.id);
      return c.json({ versions: versions.map((v) => ({ version: v.version, note: v.note, createdAt: new Date(v.createdAt).toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: "/api/emails/{id}/versions/{version}/restore", tags: ["Email studio"], summary: "Restore an earlier version (undo/redo are restores)", request: { params: z.object({ id: Id("id", "email_x"), version: z.coerce.number().int().min(1).openapi({ param: { name: "version", in: "path" } }) }) }, responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(401, 404, 409) } }),
    async (c) => {
      const { id, version } = c.req.valid("param");
      const email = await loadEmail(c, id);
      const document = await studio.versionDocument(id, version);
      if (!document) throw new ApiError(404, "version_not_found", `No version ${version}.`);
      return saveEdit(c, email, document, `Restored version ${version}`);
    },
  );

  return app;
}
