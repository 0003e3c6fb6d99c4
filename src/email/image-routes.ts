import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { studioScope } from "../accounts/gate";
import type { Principal } from "../accounts/principal";
import { assetUrl, type AssetStore } from "../assets/store";
import type { BrandStore } from "../brands/store";
import { MAX_ALT_CHARS } from "./limits";
import type { EmailRecord, StudioStore } from "./studio";
import { EDIT_FAILURE_STATUS, type EditContext, type EmailEditor } from "./editing";
import { editContextOf, emailView, EmailView, requireEmail } from "./routes";
import { assetIdOf, brandImageLibrary, CROP_ASPECTS, imageForSlot, imageSlot, slotFields, slotValue } from "./images";

export interface ImageRoutesOptions {
  studio: StudioStore;
  brands: BrandStore;
  assets: AssetStore;
  editor: EmailEditor;
  publicUrl: string | undefined;
  principalName?: (principal: Principal) => Promise<string>;
}

const Id = (name: string, example: string) => z.string().min(1).max(100).openapi({ param: { name, in: "path" }, example });
const Slot = z
  .string({ error: "slot must be the image's field, e.g. imageUrl, url or products.2.imageUrl" })
  .regex(/^(?:imageUrl|url|products\.\d{1,2}\.imageUrl)$/, { error: "slot must be the image's field, e.g. imageUrl, url or products.2.imageUrl" });
const AssetId = z.string({ error: "assetId must be an asset id" }).regex(/^ast_[A-Za-z0-9_-]{1,40}$/, { error: "assetId must be an asset id from POST /api/assets or the library" });
const Unit = (name: string) => z.number({ error: `${name} must be a number from 0 to 1` }).min(0, { error: `${name} must be from 0 to 1 (0 = ${name === "x" ? "left" : "top"} edge)` }).max(1, { error: `${name} must be from 0 to 1 (1 = ${name === "x" ? "right" : "bottom"} edge)` });
const Crop = z
  .strictObject({ aspect: z.enum(CROP_ASPECTS, { error: `aspect must be one of ${CROP_ASPECTS.join(", ")}` }), x: Unit("x"), y: Unit("y") })
  .openapi("ImageCrop", { description: "The slot's shape and the focal point to keep (x, y from 0 to 1). `original` keeps the whole image." });
const PlaceImage = z
  .strictObject({
    slot: Slot,
    assetId: AssetId,
    alt: z
      .string({ error: "alt must be text" })
      .max(MAX_ALT_CHARS, { error: `alt is at most ${MAX_ALT_CHARS} characters` })
      .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), { error: "alt must be one line of text" })
      .optional(),
    crop: Crop.optional(),
  })
  .openapi("PlaceImage");
const AssetRef = z.object({ id: z.string(), url: z.string(), width: z.number().nullable(), height: z.number().nullable() });
const SlotView = z
  .object({ slot: z.string(), url: z.string(), alt: z.string(), asset: AssetRef.nullable(), source: AssetRef.nullable(), crop: Crop.nullable() })
  .openapi("ImageSlot");
const LibraryView = z.object({
  images: z.array(z.object({ id: z.string(), url: z.string(), source: z.enum(["logo", "product", "email", "upload"]), label: z.string(), width: z.number().nullable(), height: z.number().nullable() })),
});

/**
 * The editor's image panel as JSON: the brand's image library for an email, what an image slot
 * shows (with its crop), and placing an image in a slot with alt text and a crop (a new version,
 * with `If-Match`). Every asset must be the caller's team's; a refused request stores nothing.
 */
export function imageRoutes(options: ImageRoutesOptions) {
  const { studio, brands, assets, editor } = options;
  const app = router();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  const loadEmail = (c: Context<AppEnv>, id: string) => requireEmail(studio, c, id);

  function loadSlot(email: EmailRecord, sectionId: string, slotName: string) {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (!section) throw new ApiError(404, "section_not_found", `The email has no section ${sectionId}.`);
    const slot = imageSlot(section, slotName);
    if (!slot) throw new ApiError(400, "invalid_slot", `A ${section.type} section has no image ${slotName}.`);
    return { section, slot };
  }

  async function editContext(c: Context<AppEnv>): Promise<EditContext> {
    const ctx = editContextOf(c);
    return options.principalName ? { ...ctx, author: await options.principalName(c.get("principal")) } : ctx;
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/image-library",
      tags: ["Email studio"],
      summary: "The images the email's brand offers: logo, product images, images of its emails, recent uploads",
      request: { params: z.object({ id: Id("id", "email_x") }) },
      responses: { 200: { description: "Images", content: { "application/json": { schema: LibraryView } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const email = await loadEmail(c, c.req.valid("param").id);
      const scope = studioScope(c);
      const brand = await brands.brand(scope, email.brandId);
      if (!brand) throw new ApiError(404, "brand_not_found", "The email's brand is gone.");
      const images = await brandImageLibrary({ assets, scope, base: base(c), brand, emails: await studio.emails(scope) });
      return c.json({ images }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/emails/{id}/sections/{sectionId}/image",
      tags: ["Email studio"],
      summary: "What an image slot shows: its URL, alt text, asset, and the source and crop it was cut with",
      request: { params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero-1") }), query: z.object({ slot: Slot }) },
      responses: { 200: { description: "The slot", content: { "application/json": { schema: SlotView } } }, ...errors(400, 401, 404) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const email = await loadEmail(c, id);
      const { section, slot } = loadSlot(email, sectionId, c.req.valid("query").slot);
      const scope = studioScope(c);
      const value = slotValue(section, slot);
      const ref = async (assetId: string | undefined) => {
        const info = assetId ? await assets.info(scope, assetId) : undefined;
        return info ? { id: info.id, url: assetUrl(base(c), info.id), width: info.width, height: info.height } : null;
      };
      const asset = await ref(assetIdOf(value.url));
      const derivation = asset ? await assets.derivation(scope, asset.id) : undefined;
      const crop = derivation && (CROP_ASPECTS as readonly string[]).includes(derivation.crop.aspect) ? (derivation.crop as z.infer<typeof Crop>) : null;
      return c.json({ slot: slot.slot, url: value.url, alt: value.alt, asset, source: derivation ? await ref(derivation.sourceId) : asset, crop }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/emails/{id}/sections/{sectionId}/image",
      tags: ["Email studio"],
      summary: 'Put one of the team\'s images in a slot, with alt text and a crop (a new version; send If-Match: "<version>")',
      request: {
        params: z.object({ id: Id("id", "email_x"), sectionId: Id("sectionId", "hero-1") }),
        body: { content: { "application/json": { schema: PlaceImage } } },
      },
      responses: { 200: { description: "The new version (ETag: its version)", content: { "application/json": { schema: EmailView } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id, sectionId } = c.req.valid("param");
      const body = c.req.valid("json");
      const ctx = await editContext(c);
      const email = await loadEmail(c, id);
      const { section, slot } = loadSlot(email, sectionId, body.slot);
      const scope = studioScope(c);
      const image = await imageForSlot({ assets, scope, base: base(c), assetId: body.assetId, slot, ...(body.crop ? { crop: body.crop } : {}) });
      if (!image.ok) throw new ApiError(400, image.code, image.message);
      const result = await editor.editSection(email, sectionId, slotFields(section, slot, image.url, body.alt), ctx);
      if (!result.ok) {
        // A refused edit stores nothing: not even the crop made for it.
        if (image.created) await assets.deleteDerived(scope, image.asset.id);
        const details = { ...(result.currentVersion === undefined ? {} : { currentVersion: result.currentVersion }), ...(result.conflicts ? { conflicts: result.conflicts } : {}), ...(result.changes ? { changes: result.changes } : {}) };
        throw new ApiError(EDIT_FAILURE_STATUS[result.code], result.code, result.message, {}, details);
      }
      const fresh = (await studio.email(scope, email.id))!;
      const rendered = await editor.rendered(fresh, { base: base(c) });
      c.header("etag", `"${fresh.version}"`);
      return c.json(emailView(fresh, rendered?.checks ?? []), 200);
    },
  );

  return app;
}
