import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router } from "../infra/openapi";
import { studioScope } from "../accounts/gate";
import { ALL_TEAMS, type TeamScope } from "../accounts/scope";
import { AssetStore, MAX_UPLOAD_BYTES, assetUrl } from "./store";

export interface AssetRoutesOptions {
  assets: AssetStore;
  publicUrl: string | undefined;
}

/**
 * Throws `400 asset_not_found` unless every id names an asset inside `scope`: a brand or a brief may
 * only point at its own team's images.
 */
export async function requireOwnAssets(assets: AssetStore, scope: TeamScope, ids: Array<string | undefined>): Promise<void> {
  for (const id of ids) {
    if (!id) continue;
    if (!(await assets.info(scope, id))) throw new ApiError(400, "asset_not_found", `No asset ${id}; upload it with POST /api/assets first.`);
  }
}

/** The asset JSON API: upload an image, list the team's images. */
export function assetRoutes(options: AssetRoutesOptions) {
  const { assets } = options;
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/assets",
      tags: ["Email studio"],
      summary: "Upload an image (PNG, JPEG, GIF or WebP; checked by content)",
      request: { body: { content: { "multipart/form-data": { schema: z.object({ file: z.any().openapi({ type: "string", format: "binary" }), kind: z.enum(["upload", "logo", "product", "reference"]).optional() }) } } } },
      responses: {
        201: { description: "Stored", content: { "application/json": { schema: z.object({ id: z.string(), url: z.string(), contentType: z.string(), width: z.number().optional(), height: z.number().optional() }) } } },
        ...errors(400, 401, 413, 415),
      },
    }),
    async (c) => {
      const scope = studioScope(c);
      const declared = Number(c.req.header("content-length") ?? 0);
      if (declared > MAX_UPLOAD_BYTES + 64 * 1024) throw new ApiError(413, "payload_too_large", `Images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.`);
      let form: FormData;
      try {
        // The route's multipart validator has read the body already; Hono keeps the parsed form.
        form = await c.req.formData();
      } catch {
        throw new ApiError(400, "invalid_request", "Send multipart/form-data with a `file` field.");
      }
      const file = form.get("file");
      if (!(file instanceof Blob)) throw new ApiError(400, "invalid_request", "Send multipart/form-data with a `file` field.");
      const kindValue = form.get("kind");
      const kind = kindValue === "logo" || kindValue === "product" || kindValue === "reference" ? kindValue : "upload";
      const saved = await assets.save(scope, { bytes: new Uint8Array(await file.arrayBuffer()), name: (file as File).name, kind });
      if (!saved.ok) throw new ApiError(saved.code === "too_large" ? 413 : 415, saved.code, saved.message);
      const a = saved.asset;
      return c.json({ id: a.id, url: assetUrl(base(c), a.id), contentType: a.contentType, ...(a.width ? { width: a.width } : {}), ...(a.height ? { height: a.height } : {}) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/assets",
      tags: ["Email studio"],
      summary: "List the team's images",
      request: { query: z.object({ kind: z.enum(["upload", "logo", "product", "reference", "hero", "crop"]).optional() }) },
      responses: { 200: { description: "Assets", content: { "application/json": { schema: z.object({ assets: z.array(z.object({ id: z.string(), url: z.string(), kind: z.string(), name: z.string().nullable(), contentType: z.string(), width: z.number().nullable(), height: z.number().nullable() })) }) } } }, ...errors(401) },
    }),
    async (c) => {
      const list = await assets.list(studioScope(c), c.req.valid("query").kind);
      return c.json({ assets: list.map((a) => ({ id: a.id, url: assetUrl(base(c), a.id), kind: a.kind, name: a.name, contentType: a.contentType, width: a.width, height: a.height })) }, 200);
    },
  );

  return app;
}

/** `GET /assets/:id`: public (email clients fetch images without credentials), immutable, never sniffed. */
export function assetRoute(assets: AssetStore) {
  return async (c: Context) => {
    // Public: email clients fetch images without credentials; the ids are unguessable.
    const found = await assets.bytes(ALL_TEAMS, c.req.param("id") ?? "");
    if (!found) return c.json({ error: { code: "asset_not_found", message: "No such asset." } }, 404);
    const etag = `"${found.info.sha256.slice(0, 32)}"`;
    const headers = {
      "content-type": found.info.contentType,
      "cache-control": "public, max-age=31536000, immutable",
      etag,
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
      "cross-origin-resource-policy": "cross-origin",
    };
    if (c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers });
    return new Response(found.bytes as Uint8Array<ArrayBuffer>, { status: 200, headers });
  };
}
