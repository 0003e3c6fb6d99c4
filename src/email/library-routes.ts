import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { studioScope } from "../accounts/gate";
import type { Principal } from "../accounts/principal";
import type { BrandStore } from "../brands/store";
import { SECTION_TYPES } from "./document";
import { MAX_NAME_CHARS, MAX_SECTIONS } from "./limits";
import { displayName, type StudioStore } from "./studio";
import { EDIT_FAILURE_STATUS, newSectionId, type EmailEditor } from "./editing";
import { blockSection, decodeCursor, DEFAULT_LIST_LIMIT, encodeCursor, LIBRARY_FAILURE_STATUS, LIST_STATUSES, MAX_LIST_LIMIT, type EmailLibrary, type LibraryFailure, type SavedBlock } from "./library";
import { editContextOf, emailView, EmailView, requireEmail } from "./routes";

const Id = (name: string, example: string) => z.string().min(1).max(100).openapi({ param: { name, in: "path" }, example });
const Json = z.record(z.string(), z.unknown());

/** A name: one line of text, at most MAX_NAME_CHARS, not blank. */
const Name = z
  .string({ error: "name must be a string" })
  .trim()
  .min(1, { error: "name must not be empty" })
  .max(MAX_NAME_CHARS, { error: `name is at most ${MAX_NAME_CHARS} characters` })
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), { error: "name must be one line of text" });

const ListQuery = z
  .object({
    brandId: z.string().min(1).max(100).optional().openapi({ description: "Only this brand's emails (another team's brand is 404)" }),
    status: z.enum(LIST_STATUSES, { error: `status must be one of ${LIST_STATUSES.join(", ")}` }).optional().openapi({ description: "`stopped`: a generation stopped part-way (editable, partial); `archived`: the archived emails (hidden otherwise)" }),
    q: z.string().trim().max(200, { error: "q is at most 200 characters" }).optional().openapi({ description: "Search in the name, subject and brief hook (case-insensitive)" }),
    kind: z.enum(["email", "template"], { error: "kind must be email or template" }).default("email").openapi({ description: "`template`: the team's templates instead of its emails" }),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, { error: `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}` })
      .transform(Number)
      .refine((n) => n >= 1 && n <= MAX_LIST_LIMIT, { error: `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}` })
      .optional()
      .openapi({ type: "integer", description: `Page size, 1–${MAX_LIST_LIMIT} (default ${DEFAULT_LIST_LIMIT})` }),
    cursor: z.string().max(400, { error: "cursor must be the nextCursor of an earlier page, unchanged" }).optional().openapi({ description: "`nextCursor` of the previous page (send the same filters)" }),
  });

const ListedEmailView = z
  .object({
    id: z.string(),
    name: z.string(),
    subject: z.string().nullable(),
    status: z.enum(["generating", "ready", "failed", "stopped"]),
    version: z.number(),
    brandId: z.string(),
    template: z.boolean(),
    archivedAt: z.string().nullable(),
    offlineDraft: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("ListedEmail");

const BlockView = z
  .object({ id: z.string(), brandId: z.string(), name: z.string(), type: z.enum(SECTION_TYPES), fields: Json, createdAt: z.string() })
  .openapi("SavedBlock", { description: "A section saved for reuse with its brand; inserted with POST /api/emails/{id}/sections {blockId}" });

const Created = z.object({ id: z.string() });
const ArchiveView = z.object({ id: z.string(), archivedAt: z.string().nullable() });
const CopyBody = z.object({ name: Name.optional() }).strict();

export interface LibraryRoutesOptions {
  studio: StudioStore;
  brands: BrandStore;
  library: EmailLibrary;
  editor: EmailEditor;
  publicUrl: string | undefined;
  /** The editor's name for the history ("who"), as the other edit routes record it. */
  principalName?: (principal: Principal) => Promise<string>;
}

const iso = (date: Date | string) => new Date(date).toISOString();
const blockView = (block: SavedBlock) => ({ id: block.id, brandId: block.brandId, name: block.name, type: block.type, fields: block.fields, createdAt: iso(block.createdAt) });

/**
 * The library of emails as JSON: the list (filters, pages), duplicate, archive, templates and saved
 * blocks. Renaming is `PATCH /api/emails/:id {name}` (routes.ts). Every route is inside the
 * caller's team: another team's id answers 404 like an unknown one, and a refused request stores nothing.
 */
export function libraryRoutes(options: LibraryRoutesOptions) {
  const { studio, brands, library, editor } = options;
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  const loadEmail = (c: Context<AppEnv>, id: string) => requireEmail(studio, c, id);

  async function requireBrand(c: Context<AppEnv>, id: string) {
    const brand = await brands.brand(studioScope(c), id);
    if (!brand) throw new ApiError(404, "brand_not_found", `No brand ${id}.`);
    return brand;
  }

  function orThrow<T extends { ok: true }>(result: T | LibraryFailure): T {
    if (!result.ok) throw new ApiError(LIBRARY_FAILURE_STATUS[result.code], result.code, result.message);
    return result;
  }

  /** Optional JSON bodies: absent is `{}`. */
  const optionalJson = <T>(c: Context, valid: () => T, empty: T): T => (c.req.header("content-type")?.includes("json") ? valid() : empty);

  // --- the list ------------------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails",
      tags: ["Email library"],
      summary: "List emails (or templates), newest first: filter by brand, status and words, a page at a time",
      request: { query: ListQuery },
      responses: { 200: { description: "A page of emails; `nextCursor` is null on the last page", content: { "application/json": { schema: z.object({ emails: z.array(ListedEmailView), nextCursor: z.string().nullable() }) } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const scope = studioScope(c);
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      if (query.cursor !== undefined && !cursor) throw new ApiError(400, "invalid_cursor", "cursor must be the nextCursor of an earlier page, unchanged.");
      if (query.brandId) await requireBrand(c, query.brandId);
      const page = await library.list(scope, { kind: query.kind, limit: query.limit ?? DEFAULT_LIST_LIMIT, ...(query.brandId ? { brandId: query.brandId } : {}), ...(query.status ? { status: query.status } : {}), ...(query.q ? { q: query.q } : {}), ...(cursor ? { cursor } : {}) });
      return c.json(
        {
          emails: page.emails.map((e) => ({ id: e.id, name: e.displayName, subject: e.document.subject ?? null, status: e.listedStatus, version: e.version, brandId: e.brandId, template: e.isTemplate, archivedAt: e.archivedAt ? iso(e.archivedAt) : null, offlineDraft: e.document.meta?.offlineDraft === true, createdAt: iso(e.createdAt), updatedAt: iso(e.updatedAt) })),
          nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
        },
        200,
      );
    },
  );

  // --- copies: duplicate, template, from template ------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/duplicate",
      tags: ["Email library"],
      summary: "Duplicate an email: a new email with the same document as version 1, named \"Copy of …\" (or `name`), same brand, its own session",
      request: { params: z.object({ id: Id("id", "email_x") }), body: { content: { "application/json": { schema: CopyBody } }, required: false } },
      responses: { 201: { description: "The copy", content: { "application/json": { schema: Created } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const body = optionalJson(c, () => c.req.valid("json"), {});
      const made = orThrow(await library.copy(email, { name: body.name ?? `Copy of ${displayName(email)}`, template: email.isTemplate, note: `Duplicated from “${displayName(email)}” (version ${email.version})`, clientId: c.get("principal").clientId }));
      return c.json({ id: made.id }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/template",
      tags: ["Email library"],
      summary: "Save as template: a template copied from the email's current version (the email itself is unchanged)",
      request: { params: z.object({ id: Id("id", "email_x") }), body: { content: { "application/json": { schema: CopyBody } }, required: false } },
      responses: { 201: { description: "The template (an email with template: true)", content: { "application/json": { schema: Created } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const body = optionalJson(c, () => c.req.valid("json"), {});
      const made = orThrow(await library.copy(email, { name: body.name ?? displayName(email), template: true, note: `Saved as a template from “${displayName(email)}” (version ${email.version})`, clientId: c.get("principal").clientId }));
      return c.json({ id: made.id }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails",
      tags: ["Email library"],
      summary: "New email from a template: a ready email with the template's document as version 1 (emails from a brief: POST /api/briefs/{id}/generate)",
      request: { body: { content: { "application/json": { schema: z.object({ templateId: z.string({ error: "templateId must be a template's id" }).min(1).max(100), name: Name.optional() }).strict() } } } },
      responses: { 201: { description: "The new email", content: { "application/json": { schema: Created } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { templateId, name } = c.req.valid("json");
      const template = await studio.email(studioScope(c), templateId);
      if (!template?.isTemplate) throw new ApiError(404, "template_not_found", `No template ${templateId}.`);
      const made = orThrow(await library.copy(template, { name: name ?? displayName(template), template: false, note: `From the template “${displayName(template)}”`, clientId: c.get("principal").clientId }));
      return c.json({ id: made.id }, 201);
    },
  );

  // --- archive ---------------------------------------------------------------------------------------------
  for (const [action, archived] of [["archive", true], ["unarchive", false]] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/emails/{id}/${action}`,
        tags: ["Email library"],
        summary: archived ? "Archive: hide the email from the library (kept, listed with status=archived; unarchive undoes it)" : "Unarchive: put an archived email back in the library",
        request: { params: z.object({ id: Id("id", "email_x") }) },
        responses: { 200: { description: "Its archive time (null: in the library)", content: { "application/json": { schema: ArchiveView } } }, ...errors(401, 404) },
      }),
      async (c) => {
        const email = await loadEmail(c, c.req.valid("param").id);
        const archivedAt = await library.setArchived(email, archived);
        return c.json({ id: email.id, archivedAt: archivedAt ? iso(archivedAt) : null }, 200);
      },
    );
  }

  // --- saved blocks ------------------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/sections/{sectionId}/save-block",
      tags: ["Email library"],
      summary: "Save a section as a reusable block of the email's brand",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero") }), body: { content: { "application/json": { schema: z.object({ name: Name.optional() }).strict() } }, required: false } },
      responses: { 201: { description: "The block", content: { "application/json": { schema: BlockView } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      const body = optionalJson(c, () => c.req.valid("json"), {});
      const { block } = orThrow(await library.saveBlock(email, sectionId, body.name));
      return c.json(blockView(block), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/brands/{id}/blocks",
      tags: ["Email library"],
      summary: "The brand's saved blocks, newest first",
      request: { params: z.object({ id: Id("id", "brand_x") }) },
      responses: { 200: { description: "Blocks", content: { "application/json": { schema: z.object({ blocks: z.array(BlockView) }) } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const brand = await requireBrand(c, c.req.valid("param").id);
      return c.json({ blocks: (await library.blocks(studioScope(c), brand.id)).map(blockView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/brands/{id}/blocks/{blockId}",
      tags: ["Email library"],
      summary: "Delete a saved block (emails it was inserted into keep their copy)",
      request: { params: z.object({ id: Id("id", "brand_x"), blockId: Id("blockId", "blk_x") }) },
      responses: { 204: { description: "Deleted" }, ...errors(401, 404) },
    }),
    async (c) => {
      const { id, blockId } = c.req.valid("param");
      const brand = await requireBrand(c, id);
      if (!(await library.deleteBlock(studioScope(c), brand.id, blockId))) throw new ApiError(404, "block_not_found", `The brand has no saved block ${blockId}.`);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/emails/{id}/sections",
      tags: ["Email library"],
      summary: 'Insert a section at `index` (default: before the closing footer): a saved block (`blockId`) or a drafted section of `type` (a new version; send If-Match: "<version>")',
      request: {
        params: z.object({ id: Id("id", "email_x") }),
        headers: z.object({ "if-match": z.string().optional().openapi({ description: 'The version the edit was made on, e.g. "3"; a stale one answers 409 version_conflict' }) }),
        body: {
          content: {
            "application/json": {
              schema: z
                .object({
                  blockId: z.string({ error: "blockId must be a saved block's id" }).min(1).max(100).optional(),
                  type: z.enum(SECTION_TYPES, { error: `type must be one of ${SECTION_TYPES.join(", ")}` }).optional(),
                  index: z.number({ error: "index must be a whole number" }).int({ error: "index must be a whole number" }).min(0, { error: "index must be 0 or more" }).max(MAX_SECTIONS, { error: `index is at most ${MAX_SECTIONS}` }).optional(),
                })
                .strict()
                .refine((b) => (b.blockId === undefined) !== (b.type === undefined), { error: "Send either blockId (a saved block) or type (a new section)" }),
            },
          },
        },
      },
      responses: { 200: { description: "The new version (ETag: its version)", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const body = c.req.valid("json");
      const made = editContextOf(c);
      const ctx = options.principalName ? { ...made, author: await options.principalName(c.get("principal")) } : made;
      if (body.index !== undefined && body.index > email.document.sections.length) throw new ApiError(400, "invalid_index", `index must be from 0 to ${email.document.sections.length} (the email has ${email.document.sections.length} sections).`);
      let section;
      let note;
      if (body.blockId !== undefined) {
        const block = await library.block(studioScope(c), body.blockId);
        if (!block) throw new ApiError(404, "block_not_found", `No saved block ${body.blockId}.`);
        section = orThrow(blockSection(block, newSectionId(email.document, block.type))).section;
        note = `Inserted the saved block “${block.name}”`;
      } else {
        const drafted = await editor.draftSection(email, body.type!, newSectionId(email.document, body.type!), base(c));
        if (!drafted.ok) throw new ApiError(EDIT_FAILURE_STATUS[drafted.code], drafted.code, drafted.message);
        section = drafted.section;
        note = `Added ${body.type}`;
      }
      const result = await editor.insertSection(email, section, { ...(body.index !== undefined ? { index: body.index } : {}), note }, ctx);
      if (!result.ok) throw new ApiError(EDIT_FAILURE_STATUS[result.code], result.code, result.message, {}, { ...(result.currentVersion === undefined ? {} : { currentVersion: result.currentVersion }), ...(result.changes ? { changes: result.changes } : {}) });
      const fresh = (await studio.email(studioScope(c), email.id))!;
      const rendered = await editor.rendered(fresh, { base: base(c) });
      c.header("etag", `"${fresh.version}"`);
      return c.json(emailView(fresh, rendered?.checks ?? []), 200);
    },
  );

  return app;
}
