import { createRoute, z } from "@hono/zod-openapi";
import { runOptionsSchema } from "../agents/options";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { studioScope } from "../accounts/gate";
import type { BrandStore } from "../brands/store";
import { AssetStore, assetIdFromUrl } from "../assets/store";
import { requireOwnAssets } from "../assets/routes";
import { BriefInput, displayName, StudioStore, type EmailRecord } from "./studio";
import { SECTION_TYPES } from "./document";
import { MAX_NAME_CHARS, MAX_PREHEADER_CHARS, MAX_SECTIONS, MAX_SUBJECT_CHARS } from "./limits";
import type { EmailLibrary } from "./library";
import { emailToText } from "./text";
import { assetImagesIn, exportZip, slugFileName } from "./export";
import { forceDark } from "./dark-mode";
import { linkStatusChecks } from "./resource-checks";
import { differences, MAX_SUBJECT_VARIANTS, proposeSubjects, VARIANT_SECTIONS, type Variants } from "./variants";
import type { Provider } from "../agents/providers/types";
import { PLATFORMS, translateMergeTags, type Platform } from "./merge-tags";
import { MAX_TEST_RECIPIENTS, SAMPLE_UNSUBSCRIBE_URL, sendTest, TestSendLimiter } from "./test-send";
import { newId, type SessionService } from "../sessions/service";
import { CLIENT_ID, EDIT_FAILURE_STATUS, versionConflict, type EditContext, type EditFailure, type EditResult, type EmailEditor, type RenderedEmail } from "./editing";
import { VERSION_KINDS } from "./studio";
import type { Principal } from "../accounts/principal";

const Id = (name: string, example: string) => z.string().min(1).max(100).openapi({ param: { name, in: "path" }, example });
const Json = z.record(z.string(), z.unknown());
const CheckSchema = z.object({ id: z.string(), level: z.enum(["error", "warning", "info"]), message: z.string(), sectionId: z.string().optional() });
const EmailDocumentView = z
  .object({
    subject: z.string().optional(),
    preheader: z.string().optional(),
    sections: z.array(z.object({ id: z.string(), type: z.enum(SECTION_TYPES), fields: Json })),
    meta: z.object({ offlineDraft: z.boolean().optional(), generator: z.string().optional() }).optional(),
  })
  .openapi("EmailDocument", { description: "Each section's `fields` follow its type's schema (src/email/sections/<type>.ts)." });
export const EmailView = z
  .object({
    id: z.string(),
    name: z.string().openapi({ description: "The email's name in the library: set with PATCH, else its subject, else \"Untitled email\"" }),
    template: z.boolean().openapi({ description: "A template (listed with GET /api/emails?kind=template)" }),
    archivedAt: z.string().nullable().openapi({ description: "When it was archived (hidden from the library); null when not" }),
    status: z.enum(["generating", "ready", "failed"]),
    sessionId: z.string(),
    runId: z.string().nullable(),
    version: z.number(),
    document: EmailDocumentView,
    checks: z.array(CheckSchema),
    offlineDraft: z.boolean(),
    error: z.string().nullable(),
  })
  .openapi("Email");

/** Plain text, one line: no control characters (a subject line cannot hold a line break). */
const OneLine = (name: string, max: number) =>
  z
    .string({ error: `${name} must be a string` })
    .max(max, { error: `${name} is at most ${max} characters` })
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), { error: `${name} must be one line of text` });
const EmailMetaPatch = z
  .object({ subject: OneLine("subject", MAX_SUBJECT_CHARS).optional(), preheader: OneLine("preheader", MAX_PREHEADER_CHARS).optional(), name: OneLine("name", MAX_NAME_CHARS).optional() })
  .strict()
  .refine((v) => v.subject !== undefined || v.preheader !== undefined || v.name !== undefined, { error: "Send subject, preheader or name" })
  .openapi("EmailMetaPatch");

const VariantBody = z
  .object({
    subject: z.string().trim().min(1).max(MAX_SUBJECT_CHARS).optional(),
    section: z.enum(VARIANT_SECTIONS, { error: `section must be one of ${VARIANT_SECTIONS.join(", ")}` }).optional(),
    instruction: z.string().trim().min(1).max(1_000).optional(),
  })
  .strict()
  .refine((b) => !b.instruction || b.section, { error: "Say which section the instruction rewrites (section)" });

const TestSendBody = z
  .object({
    to: z
      .array(z.email({ error: (issue) => `${JSON.stringify(issue.input)} is not an email address` }), { error: "to must be a list of email addresses" })
      .min(1, { error: "Give at least one address in to" })
      .max(MAX_TEST_RECIPIENTS, { error: `A test send goes to at most ${MAX_TEST_RECIPIENTS} addresses` }),
  })
  .strict();
const TestSendView = z
  .object({ version: z.number(), results: z.array(z.object({ address: z.string(), status: z.enum(["accepted", "refused"]), reply: z.string() })) })
  .openapi("TestSend");

/** A download's name: the email's name (or subject), slugged. */
function emailFileName(email: EmailRecord): string {
  return slugFileName(email.name || email.document.subject);
}

/** An email as the API shows it (`GET /api/emails/:id` and every edit's answer). */
export function emailView(email: EmailRecord, checks: z.infer<typeof CheckSchema>[]): z.infer<typeof EmailView> {
  return { id: email.id, name: displayName(email), template: email.isTemplate, archivedAt: email.archivedAt ? new Date(email.archivedAt).toISOString() : null, status: email.status, sessionId: email.sessionId, runId: email.runId, version: email.version, document: email.document, checks, offlineDraft: email.document.meta?.offlineDraft === true, error: email.error };
}

/**
 * Who edits and on which version: `If-Match: "<version>"` (a bare number or `W/"…"` too). Without
 * it the edit applies to the newest version (still never over a concurrent write).
 */
export function editContextOf(c: Context<AppEnv>): EditContext {
  const header = c.req.header("if-match");
  const tab = c.req.header("x-client-id");
  if (tab !== undefined && !CLIENT_ID.test(tab)) throw new ApiError(400, "invalid_client_id", "X-Client-Id must be 1–64 letters, digits, _ or -.");
  const clientId = tab ?? c.get("principal").clientId;
  if (header === undefined) return { clientId };
  // "3", W/"3" or a bare 3; an unbalanced quote is malformed, not a version.
  const match = /^\s*(?:W\/)?(?:"(\d{1,9})"|(\d{1,9}))\s*$/.exec(header);
  if (!match) throw new ApiError(400, "invalid_if_match", 'If-Match must be the version the edit was made on, e.g. If-Match: "3".');
  return { baseVersion: Number(match[1] ?? match[2]), clientId };
}

export interface StudioRoutesOptions {
  studio: StudioStore;
  brands: BrandStore;
  assets: AssetStore;
  /** The editing module the pages use too (one render cache). */
  editor: EmailEditor;
  publicUrl: string | undefined;
  /** The session an email's test sends are recorded in. */
  sessions: SessionService;
  /** SMTP for test sends (`SMTP_URL`, `MAIL_FROM`); undefined = off. */
  mail: { smtpUrl: string; from: string } | undefined;
  testSendLimiter?: TestSendLimiter;
  variants: Variants;
  /** Names (PATCH name). */
  library: EmailLibrary;
  /** The link check may reach private addresses (IMPORT_ALLOW_PRIVATE=on). */
  allowPrivate?: boolean;
  /** The text model for subject-line proposals (`provider` in the request, else TEXT_PROVIDER). */
  textProvider?: (requested?: string) => Provider | { error: string };
  /** Who an edit's principal is, for the history ("Ada Lovelace", "API token “ci”"). */
  principalName?: (principal: Principal) => Promise<string>;
}

/** The headers every edit route takes: the version it was made on, and the editing tab. */
const EditHeaders = z.object({
  "if-match": z.string().optional().openapi({ description: 'The version the edit was made on, e.g. "3"; a stale one is merged when it touches other fields, else answers 409 version_conflict with currentVersion, conflicts and changes' }),
  "x-client-id": z.string().optional().openapi({ description: "The editing tab's id (letters, digits, _ and -, at most 64): announced in the email.version event so that tab can tell its own edits from others'" }),
});

const VersionEntry = z
  .object({
    version: z.number(),
    note: z.string().nullable(),
    kind: z.enum(VERSION_KINDS),
    author: z.string().nullable(),
    createdAt: z.string(),
    current: z.boolean(),
    undone: z.boolean(),
  })
  .openapi("VersionEntry");

/** The caller's team's email `id`; another team's id answers 404 like an unknown one. Shared by every email route module. */
export async function requireEmail(studio: StudioStore, c: Context<AppEnv>, id: string): Promise<EmailRecord> {
  const email = await studio.email(studioScope(c), id);
  if (!email) throw new ApiError(404, "email_not_found", `No email ${id}.`);
  return email;
}

/** The email studio JSON API: briefs, generation, the email document and its exports. */
export function studioRoutes(options: StudioRoutesOptions) {
  const { studio, brands, assets, editor, sessions, variants } = options;
  const testSendLimiter = options.testSendLimiter ?? new TestSendLimiter();
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  const loadEmail = (c: Context<AppEnv>, id: string) => requireEmail(studio, c, id);

  /** An editing result's value, or its failure as the API's error. */
  function orThrow<T extends { ok: true }>(result: T | EditFailure): T {
    if (!result.ok) {
      const details = { ...(result.currentVersion === undefined ? {} : { currentVersion: result.currentVersion }), ...(result.conflicts ? { conflicts: result.conflicts } : {}), ...(result.changes ? { changes: result.changes } : {}) };
      throw new ApiError(EDIT_FAILURE_STATUS[result.code], result.code, result.message, {}, details);
    }
    return result;
  }

  /** Who edits (with their name, for the history) and on which version: `editContextOf`. */
  async function editContext(c: Context<AppEnv>): Promise<EditContext> {
    const ctx = editContextOf(c);
    return options.principalName ? { ...ctx, author: await options.principalName(c.get("principal")) } : ctx;
  }

  async function rendered(c: Context, email: EmailRecord, minify = false, edit = false): Promise<RenderedEmail> {
    const value = await editor.rendered(email, { base: base(c), minify, edit });
    if (!value) throw new ApiError(404, "brand_not_found", "The email's brand is gone.");
    return value;
  }

  async function view(c: Context, email: EmailRecord): Promise<z.infer<typeof EmailView>> {
    const { checks } = await rendered(c, email);
    return emailView(email, checks);
  }

  /** The email as it is after an edit. */
  async function edited(c: Context<AppEnv>, email: EmailRecord, result: EditResult) {
    orThrow(result);
    const fresh = (await studio.email(studioScope(c), email.id))!;
    c.header("etag", `"${fresh.version}"`);
    return c.json(await view(c, fresh), 200);
  }

  // --- briefs and generation ------------------------------------------------------------------------
  app.openapi(
    createRoute({ method: "post", path: "/api/briefs", tags: ["Email studio"], summary: "Create a brief", request: { body: { content: { "application/json": { schema: BriefInput } } } }, responses: { 201: { description: "Created", content: { "application/json": { schema: z.object({ id: z.string() }) } } }, ...errors(400, 401, 404) } }),
    async (c) => {
      const body = c.req.valid("json");
      const scope = studioScope(c);
      if (!(await brands.brand(scope, body.brandId))) throw new ApiError(404, "brand_not_found", `No brand ${body.brandId}.`);
      await requireOwnAssets(assets, scope, [...(body.referenceAssetIds ?? []), ...(body.products ?? []).map((p) => p.imageAssetId)]);
      const brief = await studio.createBrief(scope, body);
      return c.json({ id: brief.id }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/briefs/{id}", tags: ["Email studio"], summary: "A brief", request: { params: z.object({ id: Id("id", "brief_x") }) }, responses: { 200: { description: "The brief", content: { "application/json": { schema: BriefInput.extend({ id: z.string() }).openapi("Brief") } } }, ...errors(401, 404) } }),
    async (c) => {
      const brief = await studio.brief(studioScope(c), c.req.valid("param").id);
      if (!brief) throw new ApiError(404, "brief_not_found", "No such brief.");
      return c.json({ id: brief.id, ...brief.data }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/briefs/{id}/generate",
      tags: ["Email studio"],
      summary: "Generate an email from a brief (a durable session you can watch, leave and stop)",
      request: { params: z.object({ id: Id("id", "brief_x") }), body: { content: { "application/json": { schema: z.object({ provider: z.enum(["auto", "offline", "anthropic", "openai"]).optional(), options: runOptionsSchema.optional(), approveHero: z.boolean().optional().openapi({ description: "Ask for approval of the hero image before assembly: an input.request (kind approval) in the email's session, answered with control respond" }) }) } }, required: false } },
      responses: { 202: { description: "Started", content: { "application/json": { schema: z.object({ emailId: z.string(), sessionId: z.string(), runId: z.string() }) } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const brief = await studio.brief(studioScope(c), id);
      const principal = c.get("principal");
      if (!brief) throw new ApiError(404, "brief_not_found", `No brief ${id}.`);
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const started = await editor.startGeneration(brief, { baseUrl: base(c), clientId: principal.clientId, provider: body?.provider, options: body?.options, ...(body?.approveHero ? { approveHero: true } : {}) });
      return c.json(started, 202);
    },
  );

  // --- emails ---------------------------------------------------------------------------------------
  // GET /api/emails (the library's list) is in library-routes.ts.

  app.openapi(
    createRoute({ method: "get", path: "/api/emails/{id}", tags: ["Email studio"], summary: "An email: status, document, checks", request: { params: z.object({ id: Id("id", "email_x") }) }, responses: { 200: { description: "The email", content: { "application/json": { schema: EmailView } } }, ...errors(401, 404) } }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      c.header("etag", `"${email.version}"`);
      return c.json(await view(c, email), 200);
    },
  );

  for (const [format, type] of [["html", "text/html; charset=utf-8"], ["mjml", "text/plain; charset=utf-8"], ["txt", "text/plain; charset=utf-8"]] as const) {
    app.openapi(
      createRoute({ method: "get", path: `/api/emails/{id}/${format}`, tags: ["Email studio"], summary: `Export as ${format.toUpperCase()}`, request: { params: z.object({ id: Id("id", "email_x") }), query: z.object({ download: z.string().optional(), minify: z.enum(["0", "1", "true", "false"]).optional().openapi({ description: "HTML only: minify the inlined HTML" }), scheme: z.enum(["light", "dark"]).optional().openapi({ description: "HTML only: `dark` shows the email as a dark-mode client does, whatever the viewer's setting (preview)" }), edit: z.enum(["1"]).optional().openapi({ description: "HTML only: the editor's canvas (text elements marked with data-ds-section/data-ds-field; same-origin, still no scripts). Never for export." }) }) }, responses: { 200: { description: format, content: { [type.split(";")[0]!]: { schema: z.string() } } }, ...errors(401, 404) } }),
      async (c) => {
        const email = await loadEmail(c, c.req.valid("param").id);
        const minify = format === "html" && (c.req.query("minify") === "1" || c.req.query("minify") === "true");
        const edit = format === "html" && c.req.valid("query").edit === "1";
        const r = await rendered(c, email, minify, edit);
        const html = c.req.valid("query").scheme === "dark" ? forceDark(r.html) : r.html;
        const body = format === "html" ? html : format === "mjml" ? r.mjml : emailToText(r.html);
        const headers: Record<string, string> = { "content-type": type, "cache-control": "no-store" };
        // A rendered email is a document to look at, not a page of ours: no script may run in it.
        // The canvas (`edit=1`) drops only the CSP `sandbox`, so the editor page (same origin, iframe
        // `sandbox="allow-same-origin"`) can reach its document; scripts stay off by `default-src 'none'`.
        if (format === "html") headers["content-security-policy"] = `default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https:${edit ? "" : "; sandbox"}`;
        if (c.req.query("download") !== undefined) headers["content-disposition"] = `attachment; filename="${emailFileName(email)}.${format}"`;
        return c.body(body, 200, headers);
      },
    );
  }

  /** The email's images of ours, with their bytes, for a self-contained zip or CID parts. */
  async function imagesOf(c: Context<AppEnv>, html: string): Promise<Array<{ id: string; url: string; bytes: Uint8Array; contentType: string }>> {
    const out = [];
    for (const { url, id } of assetImagesIn(html, base(c))) {
      const asset = await assets.bytes(studioScope(c), id);
      if (asset) out.push({ id, url, bytes: asset.bytes, contentType: asset.info.contentType });
    }
    return out;
  }

  /** The email as one self-contained zip: its bytes, and the headers that name the download. */
  async function zipOf(c: Context<AppEnv>, email: EmailRecord, platform?: Platform): Promise<{ zip: Uint8Array<ArrayBuffer>; headers: Record<string, string> }> {
    const r = await rendered(c, email);
    const images = (await imagesOf(c, r.html)).map((image) => ({ name: `${image.id}.${image.contentType.split("/")[1]}`, bytes: image.bytes, url: image.url }));
    const name = emailFileName(email);
    const translate = (text: string) => (platform ? translateMergeTags(text, platform).text : text);
    const zip = exportZip({ html: translate(r.html), mjml: translate(r.mjml), text: translate(emailToText(r.html)), images, baseName: name });
    return { zip: zip as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${name}${platform ? `-${platform}` : ""}.zip"` } };
  }

  app.openapi(
    createRoute({ method: "get", path: "/api/emails/{id}/export.zip", tags: ["Email studio"], summary: "Export HTML, MJML, text and every image as one self-contained zip", request: { params: z.object({ id: Id("id", "email_x") }) }, responses: { 200: { description: "zip", content: { "application/zip": { schema: z.string() } } }, ...errors(401, 404) } }),
    async (c) => {
      const { zip, headers } = await zipOf(c, await loadEmail(c, c.req.valid("param").id));
      return c.body(zip, 200, headers);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/export",
      tags: ["Email studio"],
      summary: "Export for an email platform: merge tags in its dialect (docs/email.md lists them)",
      request: {
        params: z.object({ id: Id("id", "email_x") }),
        query: z.object({
          platform: z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(", ")}` }),
          format: z.enum(["html", "zip"], { error: "format must be html or zip" }).default("html"),
        }),
      },
      responses: { 200: { description: "HTML or zip", content: { "text/html": { schema: z.string() }, "application/zip": { schema: z.string() } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const { platform, format } = c.req.valid("query");
      const email = await loadEmail(c, c.req.valid("param").id);
      if (format === "zip") {
        const { zip, headers } = await zipOf(c, email, platform);
        return c.body(zip, 200, headers);
      }
      const r = await rendered(c, email);
      const translated = translateMergeTags(r.html, platform);
      const headers: Record<string, string> = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-disposition": `attachment; filename="${emailFileName(email)}-${platform}.html"` };
      if (translated.unsupported.length > 0) headers["x-unsupported-merge-tags"] = translated.unsupported.join(",");
      return c.body(translated.text, 200, headers);
    },
  );

  // --- variants ----------------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/variants",
      tags: ["Email studio"],
      summary: "Make a variant: fork the email at its current version (on a fork of its session), optionally with a new subject or one section rewritten from an instruction",
      request: { params: z.object({ id: Id("id", "email_x") }), body: { content: { "application/json": { schema: VariantBody } }, required: false } },
      responses: { 201: { description: "The variant", content: { "application/json": { schema: z.object({ id: z.string(), sessionId: z.string(), runId: z.string().optional() }) } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const made = await variants.make(email, { ...body, baseUrl: base(c), clientId: c.get("principal").clientId });
      if (!made.ok) throw new ApiError(made.code === "email_not_ready" ? 409 : 400, made.code, made.message);
      return c.json({ id: made.emailId, sessionId: made.sessionId, ...(made.runId ? { runId: made.runId } : {}) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/variants",
      tags: ["Email studio"],
      summary: "The email's family: the first email and every variant, with subject, checks and differences from the first",
      request: { params: z.object({ id: Id("id", "email_x") }) },
      responses: { 200: { description: "Variants", content: { "application/json": { schema: z.object({ variants: z.array(z.object({ id: z.string(), version: z.number(), subject: z.string().nullable(), variantOf: z.object({ emailId: z.string(), version: z.number() }).nullable(), differences: z.array(z.string()), checks: z.array(CheckSchema) })) }) } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const family = await variants.family(email);
      const first = family[0]!;
      const out = [];
      for (const member of family) {
        out.push({ id: member.id, version: member.version, subject: member.document.subject ?? null, variantOf: member.document.meta?.variantOf ?? null, differences: member.id === first.id ? [] : differences(first.document, member.document), checks: (await rendered(c, member)).checks });
      }
      return c.json({ variants: out }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/subject-variants",
      tags: ["Email studio"],
      summary: "Propose subject lines for variants: by the text model when one is configured, else deterministic offline alternatives of the current subject",
      request: {
        params: z.object({ id: Id("id", "email_x") }),
        body: { content: { "application/json": { schema: z.object({ count: z.number().int().min(1).max(MAX_SUBJECT_VARIANTS).optional(), provider: z.enum(["auto", "offline", "anthropic", "openai"]).optional() }).strict() } }, required: false },
      },
      responses: { 200: { description: "Subject lines and who wrote them", content: { "application/json": { schema: z.object({ subjects: z.array(z.string()), source: z.enum(["offline", "model"]) }) } } }, ...errors(400, 401, 404, 502) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const chosen = options.textProvider?.(body.provider);
      if (chosen && "error" in chosen) throw new ApiError(400, "provider_unavailable", chosen.error);
      const brand = (await brands.brand(c.get("scope"), email.brandId))?.data;
      const proposal = await proposeSubjects({ document: email.document, brandName: brand?.name ?? "", ...(brand?.voice ? { voice: brand.voice } : {}), count: body.count ?? 5, ...(chosen ? { provider: chosen } : {}), signal: c.req.raw.signal });
      if (!proposal.ok) throw new ApiError(502, proposal.code, proposal.message);
      return c.json({ subjects: proposal.subjects, source: proposal.source }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/checks",
      tags: ["Email studio"],
      summary: "The checks before sending; `links=1` also requests every link and flags those answering 4xx/5xx or not at all",
      request: { params: z.object({ id: Id("id", "email_x") }), query: z.object({ links: z.enum(["0", "1"], { error: "links must be 0 or 1" }).optional() }) },
      responses: { 200: { description: "Checks", content: { "application/json": { schema: z.object({ checks: z.array(CheckSchema) }) } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const r = await rendered(c, email);
      const links = c.req.valid("query").links === "1" ? await linkStatusChecks({ html: r.html, allowPrivate: options.allowPrivate ?? false }) : [];
      return c.json({ checks: [...r.checks, ...links] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/test-sends",
      tags: ["Email studio"],
      summary: `Send a test of the email to at most ${MAX_TEST_RECIPIENTS} addresses (SMTP_URL, MAIL_FROM); the result is kept in the email's session`,
      request: { params: z.object({ id: Id("id", "email_x") }), body: { content: { "application/json": { schema: TestSendBody } } } },
      responses: {
        200: { description: "Sent: each address accepted or refused, with the SMTP server's reply", content: { "application/json": { schema: TestSendView } } },
        ...errors(400, 401, 404, 409, 422, 429, 502, 503),
      },
    }),
    async (c) => {
      const { to } = c.req.valid("json");
      const email = await loadEmail(c, c.req.valid("param").id);
      if (!options.mail) throw new ApiError(503, "test_sends_off", "Test sends are off: set SMTP_URL and MAIL_FROM (see README, Configuration).");
      if (email.status !== "ready") throw new ApiError(409, "email_not_ready", "The email is not ready yet; send a test when it has finished generating.");
      if (!testSendLimiter.take(email.teamId ?? "admin")) throw new ApiError(429, "rate_limited", `Your team has made ${testSendLimiter.limit} test sends in the last ${testSendLimiter.windowMs / 60_000} minutes; try again later.`);
      const r = await rendered(c, email);
      // Without a public URL a mailbox cannot load our images: carry them inside the message.
      const inlineImages = options.publicUrl ? [] : (await imagesOf(c, r.html)).map((image) => ({ url: image.url, cid: `${image.id}@durable-studio`, bytes: image.bytes, contentType: image.contentType }));
      const footer = email.document.sections.find((s) => s.type === "footer")?.fields as { unsubscribeUrl?: string; address?: string } | undefined;
      const unsubscribeUrl = footer?.unsubscribeUrl && /^https?:\/\//i.test(footer.unsubscribeUrl) ? footer.unsubscribeUrl : SAMPLE_UNSUBSCRIBE_URL;
      const result = await sendTest({
        smtpUrl: options.mail.smtpUrl,
        from: options.mail.from,
        to,
        subject: email.document.subject ?? "Untitled email",
        html: r.html,
        inlineImages,
        unsubscribeUrl,
        address: footer?.address ?? "",
        viewInBrowserUrl: `${base(c)}/api/emails/${email.id}/html`,
      });
      const data = result.ok ? { version: email.version, results: result.results } : { version: email.version, to, error: { code: result.code, message: result.message } };
      await sessions.append(email.sessionId, { type: "artifact", runId: newId("send"), kind: "email.test-send", ref: email.id, data });
      if (!result.ok) throw new ApiError(502, result.code, result.message);
      if (result.results.every((x) => x.status === "refused")) {
        throw new ApiError(422, "recipients_refused", `The SMTP server refused ${result.results.map((x) => `${x.address} (${x.reply})`).join(", ")}.`);
      }
      return c.json({ version: email.version, results: result.results }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/api/emails/{id}",
      tags: ["Email studio"],
      summary: 'Set the subject line and/or preheader (a new version), and/or the name (no new version); send If-Match: "<version>"',
      request: {
        params: z.object({ id: Id("id", "email_x") }),
        headers: EditHeaders,
        body: { content: { "application/json": { schema: EmailMetaPatch } } },
      },
      responses: { 200: { description: "The new version (ETag: its version)", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const ctx = await editContext(c);
      const { name, ...meta } = c.req.valid("json");
      // The name is not part of the document: a rename alone makes no version, but a stale If-Match is still refused.
      const result = meta.subject !== undefined || meta.preheader !== undefined ? await editor.editMeta(email, meta, ctx) : ctx.baseVersion !== undefined && ctx.baseVersion !== email.version ? versionConflict(email.version) : ({ ok: true, version: email.version } as const);
      if (result.ok && name !== undefined) await options.library.rename(email, name.trim() || null);
      return edited(c, email, result);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/api/emails/{id}/sections/{sectionId}",
      tags: ["Email studio"],
      summary: "Edit one section's fields (a new version)",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero") }), headers: EditHeaders, body: { content: { "application/json": { schema: z.object({ fields: Json }) } } } },
      responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      return edited(c, email, await editor.editSection(email, sectionId, c.req.valid("json").fields, await editContext(c)));
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/sections/{sectionId}/regenerate",
      tags: ["Email studio"],
      summary: "Rewrite one section from an instruction (streamed live in the email's session)",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero") }), body: { content: { "application/json": { schema: z.object({ instruction: z.string().trim().min(1).max(1_000), provider: z.enum(["auto", "offline", "anthropic", "openai"]).optional(), options: runOptionsSchema.optional().openapi({ description: "Run options; offline, tokensPerSecond paces the streamed rewrite" }) }) } } } },
      responses: { 202: { description: "Started", content: { "application/json": { schema: z.object({ runId: z.string(), sessionId: z.string() }) } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      const body = c.req.valid("json");
      const { runId } = orThrow(await editor.regenerate(email, sectionId, { instruction: body.instruction, provider: body.provider, options: body.options, baseUrl: base(c), clientId: c.get("principal").clientId }));
      return c.json({ runId, sessionId: email.sessionId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/emails/{id}/sections",
      tags: ["Email studio"],
      summary: "Reorder, add or delete sections (send the new list of sections)",
      request: { params: z.object({ id: Id("id", "email_x") }), headers: EditHeaders, body: { content: { "application/json": { schema: z.object({ sections: z.array(z.object({ id: z.string(), type: z.enum(SECTION_TYPES), fields: Json.optional() })).min(1, "An email keeps at least one section; to start over, generate a new email.").max(MAX_SECTIONS) }) } } } },
      responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      return edited(c, email, await editor.replaceSections(email, c.req.valid("json").sections, base(c), await editContext(c)));
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/versions",
      tags: ["Email studio"],
      summary: "The history: real edits, restores and generations (newest first) with who and what; undo and redo move `showing` and are not entries",
      request: { params: z.object({ id: Id("id", "email_x") }) },
      responses: { 200: { description: "Versions", content: { "application/json": { schema: z.object({ version: z.number(), showing: z.number(), undo: z.number().nullable(), redo: z.number().nullable(), versions: z.array(VersionEntry) }) } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const history = await editor.history(email);
      const versions = history.entries.map((v) => ({ version: v.version, note: v.note, kind: v.kind, author: v.author, createdAt: new Date(v.createdAt).toISOString(), current: v.current, undone: v.undone }));
      c.header("etag", `"${email.version}"`);
      return c.json({ version: email.version, showing: history.showing, undo: history.undo ?? null, redo: history.redo ?? null, versions }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/versions/{version}/restore",
      tags: ["Email studio"],
      summary: "Restore an earlier version: one history entry (\"Restored version N\"), a new version number",
      request: { params: z.object({ id: Id("id", "email_x"), version: z.coerce.number().int().min(1).max(999_999_999).openapi({ param: { name: "version", in: "path" } }) }), headers: EditHeaders },
      responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, version } = c.req.valid("param");
      const email = await loadEmail(c, id);
      return edited(c, email, await editor.restore(email, version, await editContext(c)));
    },
  );

  for (const move of ["undo", "redo"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/emails/{id}/${move}`,
        tags: ["Email studio"],
        summary: move === "undo" ? "Undo: back to the entry before the one showing (a new version number, no new history entry)" : "Redo: forward to the entry undone last (a new version number, no new history entry)",
        request: { params: z.object({ id: Id("id", "email_x") }), headers: EditHeaders },
        responses: { 200: { description: "The new version", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
      }),
      async (c) => {
        const email = await loadEmail(c, c.req.valid("param").id);
        return edited(c, email, await editor[move](email, await editContext(c)));
      },
    );
  }

  return app;
}
