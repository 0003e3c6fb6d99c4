import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { studioScope } from "../accounts/gate";
import { teamScope } from "../accounts/scope";
import { AssetStore, MAX_UPLOAD_BYTES, assetUrl, type AssetInfo } from "../assets/store";
import { requireOwnAssets } from "../assets/routes";
import { BrandInput, type BrandRecord, type BrandStore } from "./store";
import { BrandImports, ProposalEdits, type BrandImportRecord } from "./import/imports";
import { MAX_KIT_BYTES, exportBrandKit, importBrandKit, unzipSafe } from "./kit";
import { ReferenceStore, normalizeTags, type ReferenceRecord } from "./references";
import { precheckUrl } from "../infra/guarded-fetch";

/** One bulk upload of product images: files (or zips of them) together, at most. */
export const MAX_PRODUCT_UPLOAD_BYTES = 60 * 1024 * 1024;
/** A brand keeps at most this many product images (the brand schema's limit). */
export const MAX_PRODUCT_IMAGES = 50;
const IMAGE_NAME = /\.(png|jpe?g|gif|webp)$/i;

/**
 * Routes that take uploads bigger than the API's JSON limit; they read their bodies with their own
 * limits (see `readBody`). app.ts skips the JSON body limit for these paths.
 */
export const BRAND_UPLOAD_PATH = /^\/api\/brands\/(kits|[^/]+\/(product-images|references))$/;

const Id = (name: string, example: string) => z.string().min(1).max(100).openapi({ param: { name, in: "path" }, example });
const Candidate = z.object({ hex: z.string(), source: z.string() });
/** What `BrandProposal` (src/brands/import/proposal.ts) looks like on the wire, plus the logo's URL. */
const ProposalView = z
  .object({
    url: z.string(),
    finalUrl: z.string(),
    brand: z.object({
      name: z.string(),
      colors: z.object({ primary: z.string(), secondary: z.string().optional(), background: z.string().optional(), text: z.string().optional() }),
      fonts: z.object({ heading: z.string().optional(), body: z.string().optional() }).optional(),
      logoAssetId: z.string().optional(),
      footer: z.object({ address: z.string() }).optional(),
    }),
    sources: z.record(z.string(), z.string()),
    logo: z.object({ assetId: z.string(), sourceUrl: z.string(), source: z.string(), width: z.number().nullable(), height: z.number().nullable() }).optional(),
    palette: z.array(Candidate),
    fonts: z.array(z.object({ family: z.string(), source: z.string(), stack: z.string() })),
    notes: z.array(z.string()),
    logoUrl: z.string().nullable(),
  })
  .openapi("BrandProposal");
/** A brand as the API shows it: its settings (as `POST /api/brands` takes them) and its id. */
const BrandView = BrandInput.extend({ id: z.string() }).openapi("Brand");
const ImportView = z
  .object({
    id: z.string(),
    status: z.enum(["running", "ready", "failed", "cancelled", "accepted"]),
    url: z.string(),
    sessionId: z.string(),
    runId: z.string().nullable(),
    proposal: ProposalView.nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    brandId: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("BrandImport");
const ReferenceView = z.object({ assetId: z.string(), url: z.string(), name: z.string().nullable(), tags: z.array(z.string()), width: z.number().nullable(), height: z.number().nullable(), createdAt: z.string() }).openapi("BrandReference");
const fileSchema = { type: "string", format: "binary" } as const;

export interface BrandRoutesOptions {
  brands: BrandStore;
  assets: AssetStore;
  imports: BrandImports;
  references: ReferenceStore;
  publicUrl: string | undefined;
  /** IMPORT_ALLOW_PRIVATE, for the edge's early refusal of literal private addresses. */
  allowPrivate: boolean;
}

/**
 * Reads a request body up to `maxBytes` (413 beyond), whether or not it declares its length, so an
 * upload route never buffers more than its limit.
 */
export async function readBody(request: Request, maxBytes: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new ApiError(413, "payload_too_large", `${what} is limited to ${Math.round(maxBytes / 1024 / 1024)} MB.`);
  if (Number(request.headers.get("content-length") ?? 0) > maxBytes) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function readForm(request: Request, maxBytes: number, what: string): Promise<FormData> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("multipart/form-data")) throw new ApiError(400, "invalid_request", "Send multipart/form-data.");
  const bytes = await readBody(request, maxBytes, what);
  try {
    return await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } }).formData();
  } catch {
    throw new ApiError(400, "invalid_request", "The multipart body could not be read.");
  }
}

const isZip = (bytes: Uint8Array) => bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6);

/** Brands: the design system itself, import from a website, brand kits in and out, bulk product images, and the reference library. */
export function brandRoutes(options: BrandRoutesOptions) {
  const { brands, assets, imports, references } = options;
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  async function loadBrand(c: Context<AppEnv>, id: string): Promise<BrandRecord> {
    const brand = await brands.brand(studioScope(c), id);
    if (!brand) throw new ApiError(404, "brand_not_found", `No brand ${id}.`);
    return brand;
  }

  async function loadImport(c: Context<AppEnv>, id: string): Promise<BrandImportRecord> {
    const record = await imports.get(studioScope(c), id);
    if (!record) throw new ApiError(404, "import_not_found", `No brand import ${id}.`);
    return record;
  }

  const importView = (c: Context, r: BrandImportRecord) => ({
    id: r.id,
    status: r.status,
    url: r.url,
    sessionId: r.sessionId,
    runId: r.runId,
    proposal: r.proposal ? { ...r.proposal, logoUrl: r.proposal.logo ? assetUrl(base(c), r.proposal.logo.assetId) : null } : null,
    error: r.error ? { code: r.errorCode ?? "import_failed", message: r.error } : null,
    brandId: r.brandId,
    createdAt: new Date(r.createdAt).toISOString(),
  });

  const referenceView = (c: Context, r: ReferenceRecord) => ({ assetId: r.assetId, url: assetUrl(base(c), r.assetId), name: r.name, tags: r.tags, width: r.width, height: r.height, createdAt: new Date(r.createdAt).toISOString() });

  // --- the brand design system -----------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands",
      tags: ["Email studio"],
      summary: "Create a brand design system",
      request: { body: { content: { "application/json": { schema: BrandInput } } } },
      responses: { 201: { description: "Created", content: { "application/json": { schema: z.object({ id: z.string() }) } } }, ...errors(400, 401) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const scope = studioScope(c);
      await requireOwnAssets(assets, scope, [body.logoAssetId, ...(body.productImageAssetIds ?? [])]);
      const brand = await brands.createBrand(scope, body);
      return c.json({ id: brand.id }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/brands", tags: ["Email studio"], summary: "List brands", responses: { 200: { description: "Brands", content: { "application/json": { schema: z.object({ brands: z.array(BrandView) }) } } }, ...errors(401) } }),
    async (c) => {
      const list = await brands.brands(studioScope(c));
      return c.json({ brands: list.map((b) => ({ id: b.id, ...b.data, name: b.name })) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/brands/{id}", tags: ["Email studio"], summary: "A brand", request: { params: z.object({ id: Id("id", "brand_x") }) }, responses: { 200: { description: "The brand", content: { "application/json": { schema: BrandView } } }, ...errors(401, 404) } }),
    async (c) => {
      const brand = await loadBrand(c, c.req.valid("param").id);
      return c.json({ id: brand.id, ...brand.data }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "put", path: "/api/brands/{id}", tags: ["Email studio"], summary: "Replace a brand's settings", request: { params: z.object({ id: Id("id", "brand_x") }), body: { content: { "application/json": { schema: BrandInput } } } }, responses: { 200: { description: "Saved", content: { "application/json": { schema: z.object({ id: z.string() }) } } }, ...errors(400, 401, 404) } }),
    async (c) => {
      const { id } = c.req.valid("param");
      const scope = studioScope(c);
      await loadBrand(c, id);
      const body = c.req.valid("json");
      await requireOwnAssets(assets, scope, [body.logoAssetId, ...(body.productImageAssetIds ?? [])]);
      await brands.updateBrand(scope, id, body);
      return c.json({ id }, 200);
    },
  );

  // --- import from a website ------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands/import",
      tags: ["Brands"],
      summary: "Import a brand from a website (a session with a `brand-import` run; review, then accept)",
      request: { body: { content: { "application/json": { schema: z.object({ url: z.string().trim().min(1).max(2_048).openapi({ example: "https://www.example.com" }) }) } } } },
      responses: { 202: { description: "Started", content: { "application/json": { schema: z.object({ importId: z.string(), sessionId: z.string(), runId: z.string() }) } } }, ...errors(400, 401, 403) },
    }),
    async (c) => {
      const principal = c.get("principal");
      const scope = studioScope(c);
      const raw = c.req.valid("json").url;
      const checked = precheckUrl(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `https://${raw}`, { allowPrivate: options.allowPrivate });
      if (!checked.ok) throw new ApiError(400, checked.code, checked.message);
      const started = await imports.start(scope, { url: checked.url.href, clientId: principal.clientId });
      return c.json(started, 202);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/api/brands/imports/{id}", tags: ["Brands"], summary: "A brand import: status, proposal or error", request: { params: z.object({ id: Id("id", "bimp_x") }) }, responses: { 200: { description: "The import", content: { "application/json": { schema: ImportView } } }, ...errors(401, 404) } }),
    async (c) => c.json(importView(c, await loadImport(c, c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands/imports/{id}/accept",
      tags: ["Brands"],
      summary: "Save a finished import as a brand, with any edited fields",
      request: { params: z.object({ id: Id("id", "bimp_x") }), body: { content: { "application/json": { schema: ProposalEdits } }, required: false } },
      responses: { 201: { description: "Brand created", content: { "application/json": { schema: z.object({ id: z.string() }) } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const record = await loadImport(c, c.req.valid("param").id);
      const edits = (c.req.valid("json") ?? {}) as ProposalEdits;
      for (const id of [edits.logoAssetId, ...(edits.productImageAssetIds ?? [])]) {
        if (!id) continue;
        if (!(await assets.info(studioScope(c), id))) throw new ApiError(400, "asset_not_found", `No asset ${id}; upload it with POST /api/assets first.`);
      }
      const result = await imports.accept(studioScope(c), record, edits);
      if (!result.ok) throw new ApiError(result.code === "invalid_brand" ? 400 : 409, result.code, result.message);
      return c.json({ id: result.brandId }, 201);
    },
  );

  // --- brand kits -----------------------------------------------------------------------------------
  app.openapi(
    createRoute({ method: "get", path: "/api/brands/{id}/kit.zip", tags: ["Brands"], summary: "Export a brand kit: brand.json and its images, as one zip", request: { params: z.object({ id: Id("id", "brand_x") }) }, responses: { 200: { description: "zip", content: { "application/zip": { schema: z.string() } } }, ...errors(401, 404) } }),
    async (c) => {
      const brand = await loadBrand(c, c.req.valid("param").id);
      const scope = studioScope(c);
      const zip = await exportBrandKit({ scope, brand, assets, references: await references.list(scope, brand.id) });
      const slug = brand.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "brand";
      return c.body(zip as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/zip", "content-disposition": `attachment; filename="${slug}-kit.zip"`, "cache-control": "no-store" });
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands/kits",
      tags: ["Brands"],
      summary: "Import a brand kit (multipart `file`, or the zip itself as application/zip) as a new brand",
      request: { body: { content: { "multipart/form-data": { schema: { type: "object", properties: { file: fileSchema }, required: ["file"] } }, "application/zip": { schema: fileSchema } } } },
      responses: { 201: { description: "Brand created", content: { "application/json": { schema: z.object({ id: z.string(), name: z.string(), assets: z.number(), references: z.number() }) } } }, ...errors(400, 401, 413, 415) },
    }),
    async (c) => {
      const scope = studioScope(c);
      let zip: Uint8Array;
      if ((c.req.header("content-type") ?? "").toLowerCase().startsWith("application/zip")) zip = await readBody(c.req.raw, MAX_KIT_BYTES, "A brand kit");
      else {
        const file = (await readForm(c.req.raw, MAX_KIT_BYTES + 64 * 1024, "A brand kit")).get("file");
        if (!(file instanceof Blob)) throw new ApiError(400, "invalid_request", "Send the kit as the multipart `file` field.");
        zip = new Uint8Array(await file.arrayBuffer());
      }
      const result = await importBrandKit({ zip, scope, brands, assets, references });
      if (!result.ok) throw new ApiError(result.code === "too_large" ? 413 : result.code === "asset_rejected" ? 415 : 400, result.code, result.message);
      return c.json({ id: result.brand.id, name: result.brand.name, assets: result.assets, references: result.references }, 201);
    },
  );

  // --- bulk product images ----------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands/{id}/product-images",
      tags: ["Brands"],
      summary: "Add many product images at once (multipart files; zips of images are unpacked)",
      request: { params: z.object({ id: Id("id", "brand_x") }), body: { content: { "multipart/form-data": { schema: { type: "object", properties: { files: { type: "array", items: fileSchema } } } } } } },
      responses: {
        201: { description: "Added", content: { "application/json": { schema: z.object({ added: z.array(z.object({ id: z.string(), url: z.string(), name: z.string().nullable() })), rejected: z.array(z.object({ name: z.string(), code: z.string(), message: z.string() })), productImageAssetIds: z.array(z.string()) }) } } },
        ...errors(400, 401, 404, 413, 415),
      },
    }),
    async (c) => {
      const brand = await loadBrand(c, c.req.valid("param").id);
      const form = await readForm(c.req.raw, MAX_PRODUCT_UPLOAD_BYTES, "One upload of product images");
      const files: Array<{ name: string; bytes: Uint8Array }> = [];
      const rejected: Array<{ name: string; code: string; message: string }> = [];
      for (const [, entry] of form.entries()) {
        const value = entry as unknown;
        if (!(value instanceof Blob)) continue;
        const name = (value as File).name || "image";
        const bytes = new Uint8Array(await value.arrayBuffer());
        if (!isZip(bytes)) {
          files.push({ name, bytes });
          continue;
        }
        // A zip of exports (a Figma export, a folder zipped): its images, in name order.
        const unzipped = unzipSafe(bytes, { keep: (entry) => IMAGE_NAME.test(entry) && !entry.split("/").some((s) => s.startsWith(".") || s === "__MACOSX"), maxEntries: 500, maxEntryBytes: MAX_UPLOAD_BYTES, maxTotalBytes: MAX_PRODUCT_UPLOAD_BYTES });
        if (!unzipped.ok) {
          rejected.push({ name, code: unzipped.code, message: unzipped.message });
          continue;
        }
        const entries = [...unzipped.files.entries()].sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }));
        for (const [entry, data] of entries) files.push({ name: entry.split("/").pop()!, bytes: data });
      }
      if (files.length === 0 && rejected.length === 0) throw new ApiError(400, "invalid_request", "Send one or more images (or zips of images) as multipart files.");
      const existing = brand.data.productImageAssetIds ?? [];
      const added: Array<{ id: string; url: string; name: string | null }> = [];
      for (const file of files) {
        if (existing.length + added.length >= MAX_PRODUCT_IMAGES) {
          rejected.push({ name: file.name, code: "brand_full", message: `A brand keeps at most ${MAX_PRODUCT_IMAGES} product images.` });
          continue;
        }
        const saved = await assets.save(teamScope(brand.teamId), { bytes: file.bytes, name: file.name, kind: "product" });
        if (saved.ok) added.push({ id: saved.asset.id, url: assetUrl(base(c), saved.asset.id), name: saved.asset.name });
        else rejected.push({ name: file.name, code: saved.code, message: saved.message });
      }
      if (added.length === 0) throw new ApiError(rejected.every((r) => r.code === "brand_full") ? 409 : 415, "no_images_added", `No image was added: ${rejected.slice(0, 3).map((r) => `${r.name}: ${r.message}`).join("; ")}`);
      const productImageAssetIds = [...existing, ...added.map((a) => a.id)];
      // Re-read and re-validate: the brand may have been edited while the images were checked.
      const latest = (await brands.brand(studioScope(c), brand.id)) ?? brand;
      const data = BrandInput.parse({ ...latest.data, productImageAssetIds: [...new Set([...(latest.data.productImageAssetIds ?? []), ...added.map((a) => a.id)])].slice(0, MAX_PRODUCT_IMAGES) });
      await brands.updateBrand(studioScope(c), brand.id, data);
      return c.json({ added, rejected, productImageAssetIds: data.productImageAssetIds ?? productImageAssetIds }, 201);
    },
  );

  // --- reference library -------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/brands/{id}/references",
      tags: ["Brands"],
      summary: "The brand's library of reference emails (newest first), optionally by tag",
      request: { params: z.object({ id: Id("id", "brand_x") }), query: z.object({ tag: z.string().max(60).optional() }) },
      responses: { 200: { description: "References", content: { "application/json": { schema: z.object({ references: z.array(ReferenceView) }) } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const brand = await loadBrand(c, c.req.valid("param").id);
      const tag = c.req.valid("query").tag;
      const list = await references.list(studioScope(c), brand.id, tag === undefined ? undefined : normalizeTags(tag)[0] ?? "");
      return c.json({ references: list.map((r) => referenceView(c, r)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/brands/{id}/references",
      tags: ["Brands"],
      summary: "Add a reference email to the library (upload `file`, or name an existing `assetId`); posting an existing one re-tags it",
      request: {
        params: z.object({ id: Id("id", "brand_x") }),
        body: {
          content: {
            "multipart/form-data": { schema: { type: "object", properties: { file: fileSchema, tags: { type: "string", description: "comma-separated" }, name: { type: "string" } }, required: ["file"] } },
            "application/json": { schema: { type: "object", properties: { assetId: { type: "string" }, tags: { type: "array", items: { type: "string" } }, name: { type: "string" } }, required: ["assetId"] } },
          },
        },
      },
      responses: { 201: { description: "In the library", content: { "application/json": { schema: ReferenceView } } }, ...errors(400, 401, 404, 409, 413, 415) },
    }),
    async (c) => {
      const brand = await loadBrand(c, c.req.valid("param").id);
      const type = (c.req.header("content-type") ?? "").toLowerCase();
      let asset: AssetInfo;
      let tags: string[];
      let name: string | null = null;
      if (type.startsWith("application/json")) {
        const body = z
          .object({ assetId: z.string().regex(/^ast_[A-Za-z0-9_-]{1,40}$/, "an asset id"), tags: z.union([z.array(z.string().max(60)).max(20), z.string().max(800)]).optional(), name: z.string().trim().max(120).optional() })
          .safeParse(await readBody(c.req.raw, 64 * 1024, "The JSON body").then((b) => JSON.parse(new TextDecoder().decode(b) || "null")).catch(() => undefined));
        if (!body.success) throw new ApiError(400, "invalid_request", `${body.error.issues[0]!.path.join(".") || "body"}: ${body.error.issues[0]!.message}`);
        const info = await assets.info(studioScope(c), body.data.assetId);
        if (!info) throw new ApiError(400, "asset_not_found", `No asset ${body.data.assetId}; upload it with POST /api/assets first.`);
        asset = info;
        tags = normalizeTags(body.data.tags);
        name = body.data.name || null;
      } else {
        const form = await readForm(c.req.raw, MAX_UPLOAD_BYTES + 64 * 1024, "A reference screenshot");
        const file = form.get("file");
        if (!(file instanceof Blob)) throw new ApiError(400, "invalid_request", "Send the screenshot as the multipart `file` field (or JSON with an `assetId`).");
        const saved = await assets.save(teamScope(brand.teamId), { bytes: new Uint8Array(await file.arrayBuffer()), name: (file as File).name, kind: "reference" });
        if (!saved.ok) throw new ApiError(saved.code === "too_large" ? 413 : 415, saved.code, saved.message);
        asset = saved.asset;
        tags = normalizeTags(form.getAll("tags").map(String).join(","));
        const given = form.get("name");
        name = typeof given === "string" && given.trim() ? given.trim().slice(0, 120) : null;
      }
      const put = await references.put(studioScope(c), { brandId: brand.id, assetId: asset.id, name, tags });
      if (!put.ok && put.code === "brand_not_found") throw new ApiError(404, put.code, `No brand ${brand.id}.`);
      if (!put.ok) throw new ApiError(409, put.code, "This brand's reference library is full; remove some references first.");
      return c.json(referenceView(c, put.record), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/brands/{id}/references/{assetId}",
      tags: ["Brands"],
      summary: "Remove a reference from the library (the image stays for briefs that use it)",
      request: { params: z.object({ id: Id("id", "brand_x"), assetId: Id("assetId", "ast_x") }) },
      responses: { 204: { description: "Removed" }, ...errors(401, 404) },
    }),
    async (c) => {
      const { id, assetId } = c.req.valid("param");
      const brand = await loadBrand(c, id);
      if (!(await references.remove(studioScope(c), brand.id, assetId))) throw new ApiError(404, "reference_not_found", `${assetId} is not in this brand's library.`);
      return c.body(null, 204);
    },
  );

  return app;
}
