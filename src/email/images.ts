import sharp from "sharp";
import type { TeamScope } from "../accounts/scope";
import { assetUrl, MAX_IMAGE_PIXELS, type AssetCrop, type AssetInfo, type AssetStore } from "../assets/store";
import type { BrandRecord } from "../brands/store";
import type { EmailDocument, Section } from "./document";
import { EMAIL_WIDTH_PX, GUTTER_PX } from "./sections/mjml";

/**
 * The images of an email, as the editor's image panel sees them: which fields of a section hold an
 * image (its slots), the brand's library to pick from, and the crop. MJML cannot position an image
 * inside its box (no `object-position` in email clients), so a focal point is applied the
 * email-safe way: the source is cut to the slot's shape around the point with sharp, and the email
 * shows that cut-out, a new asset of its own (kind `crop`, which remembers its source and crop).
 */

/** The shapes a crop can take; `original` keeps the whole image. */
export const CROP_ASPECTS = ["original", "2:1", "16:9", "3:2", "4:3", "1:1", "4:5"] as const;
export type CropAspect = (typeof CROP_ASPECTS)[number];

/** Crops are stored at twice the slot's width (sharp on high-density screens), never larger than the source. */
const CROP_DENSITY = 2;
const JPEG_QUALITY = 85;
/** How many images the library offers at most. */
export const MAX_LIBRARY_IMAGES = 60;
const RECENT_UPLOADS = 12;
const ASSET_PATH = /\/assets\/(ast_[A-Za-z0-9_-]{1,40})$/;

/** One image slot of a section: where its URL and its description live, and how wide it shows. */
export interface ImageSlot {
  /** The slot's name as the API takes it: `imageUrl`, `url`, `products.2.imageUrl`. */
  slot: string;
  /** For a list item: the list and the index. */
  list?: { name: string; index: number };
  urlField: string;
  altField: string;
  widthPx: number;
}

/** The slots of each section type that has images. */
const SLOTS: Record<string, { urlField: string; altField: string; widthPx: number; list?: string }> = {
  hero: { urlField: "imageUrl", altField: "imageAlt", widthPx: EMAIL_WIDTH_PX },
  ingredient: { urlField: "imageUrl", altField: "imageAlt", widthPx: Math.round(EMAIL_WIDTH_PX * 0.4) },
  image: { urlField: "url", altField: "alt", widthPx: EMAIL_WIDTH_PX - 2 * GUTTER_PX },
  "product-grid": { urlField: "imageUrl", altField: "imageAlt", widthPx: Math.round((EMAIL_WIDTH_PX - 2 * GUTTER_PX) / 2), list: "products" },
};

/**
 * The image slot `slot` of a section, or `undefined` when the section has no such slot.
 *
 * @example imageSlot(gridSection, "products.1.imageUrl") // { list: { name: "products", index: 1 }, urlField: "imageUrl", … }
 */
export function imageSlot(section: Section, slot: string): ImageSlot | undefined {
  const spec = SLOTS[section.type];
  if (!spec) return undefined;
  if (!spec.list) return slot === spec.urlField ? { slot, urlField: spec.urlField, altField: spec.altField, widthPx: spec.widthPx } : undefined;
  const match = new RegExp(`^${spec.list}\\.(\\d{1,2})\\.${spec.urlField}$`).exec(slot);
  const items = (section.fields as Record<string, unknown>)[spec.list];
  const index = match ? Number(match[1]) : -1;
  if (!match || !Array.isArray(items) || index >= items.length) return undefined;
  return { slot, list: { name: spec.list, index }, urlField: spec.urlField, altField: spec.altField, widthPx: spec.widthPx };
}

/** The URL and description a slot holds now. */
export function slotValue(section: Section, slot: ImageSlot): { url: string; alt: string } {
  const fields = section.fields as Record<string, unknown>;
  const holder = (slot.list ? (fields[slot.list.name] as Array<Record<string, unknown>>)[slot.list.index] : fields) ?? {};
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  return { url: text(holder[slot.urlField]), alt: text(holder[slot.altField]) };
}

/**
 * The fields to PATCH into the section to show `url` with `alt` in the slot (a list item changes
 * inside a copy of its list). `alt` undefined keeps the description the slot has.
 */
export function slotFields(section: Section, slot: ImageSlot, url: string, alt: string | undefined): Record<string, unknown> {
  const set = (holder: Record<string, unknown>) => ({ ...holder, [slot.urlField]: url, ...(alt === undefined ? {} : { [slot.altField]: alt }) });
  if (!slot.list) return set({}) as Record<string, unknown>;
  const items = ((section.fields as Record<string, unknown>)[slot.list.name] as Array<Record<string, unknown>>).map((item, i) => (i === slot.list!.index ? set(item) : item));
  return { [slot.list.name]: items };
}

/** The id of our asset an image URL points at (whatever the base it was written with). */
export function assetIdOf(url: string | undefined): string | undefined {
  return url ? ASSET_PATH.exec(url)?.[1] : undefined;
}

/**
 * Cuts an image to `crop.aspect` around the focal point (`x`, `y`: 0–1) and scales it to at most
 * `maxWidthPx`. PNG when the source has transparency, JPEG otherwise (both show in every client).
 *
 * @example await cropImage(bytes, { aspect: "1:1", x: 0.2, y: 0.5 }, 1200)
 */
export async function cropImage(bytes: Uint8Array, crop: { aspect: Exclude<CropAspect, "original">; x: number; y: number }, maxWidthPx: number): Promise<{ bytes: Uint8Array; contentType: string; width: number; height: number }> {
  // Decoded once, upright (EXIF orientation applied), so the box is measured on what people see.
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h, channels } = info;
  const [aw, ah] = crop.aspect.split(":").map(Number) as [number, number];
  const ratio = aw / ah;
  const cw = w / h > ratio ? Math.max(1, Math.round(h * ratio)) : w;
  const ch = w / h > ratio ? h : Math.max(1, Math.round(w / ratio));
  const clamp = (value: number, max: number) => Math.min(Math.max(value, 0), max);
  const left = clamp(Math.round(crop.x * w - cw / 2), w - cw);
  const top = clamp(Math.round(crop.y * h - ch / 2), h - ch);
  const width = Math.min(cw, maxWidthPx);
  const cut = sharp(data, { raw: { width: w, height: h, channels } }).extract({ left, top, width: cw, height: ch }).resize({ width, withoutEnlargement: true });
  const alpha = channels === 4 || channels === 2;
  const out = await (alpha ? cut.png() : cut.flatten({ background: "#ffffff" }).jpeg({ quality: JPEG_QUALITY })).toBuffer({ resolveWithObject: true });
  return { bytes: new Uint8Array(out.data), contentType: alpha ? "image/png" : "image/jpeg", width: out.info.width, height: out.info.height };
}

export type PlaceImageFailure = { ok: false; code: "asset_not_found" | "invalid_slot" | "unreadable_image"; message: string };

/**
 * The image to show in a slot: the asset itself, or (with a crop other than `original`) its cut-out,
 * made once per source and crop. The asset must be the team's (`scope`).
 */
export async function imageForSlot(options: { assets: AssetStore; scope: TeamScope; base: string; assetId: string; crop?: { aspect: CropAspect; x: number; y: number }; slot: ImageSlot }): Promise<{ ok: true; url: string; asset: AssetInfo; created?: boolean } | PlaceImageFailure> {
  const { assets, scope, assetId, crop } = options;
  const found = await assets.bytes(scope, assetId);
  if (!found) return { ok: false, code: "asset_not_found", message: `No image ${assetId} in your team; upload it with POST /api/assets or pick one from the library.` };
  // A crop of a crop is cut from the first source, so moving the focal point never loses pixels.
  const derivation = await assets.derivation(scope, assetId);
  const source = derivation ? ((await assets.bytes(scope, derivation.sourceId)) ?? found) : found;
  if (!crop || crop.aspect === "original") return { ok: true, url: assetUrl(options.base, source.info.id), asset: source.info };
  const wanted: AssetCrop = { aspect: crop.aspect, x: Math.round(crop.x * 1000) / 1000, y: Math.round(crop.y * 1000) / 1000 };
  const existing = await assets.derived(scope, source.info.id, wanted);
  if (existing) return { ok: true, url: assetUrl(options.base, existing.id), asset: existing };
  let cut;
  try {
    cut = await cropImage(source.bytes, { aspect: crop.aspect, x: wanted.x, y: wanted.y }, options.slot.widthPx * CROP_DENSITY);
  } catch {
    return { ok: false, code: "unreadable_image", message: "This image could not be cropped; pick another one or upload it again." };
  }
  const saved = await assets.saveDerived(scope, { ...cut, sourceId: source.info.id, crop: wanted, name: `${source.info.name ?? source.info.id} (${crop.aspect})` });
  return { ok: true, url: assetUrl(options.base, saved.id), asset: saved, created: true };
}

/** An image the panel offers. */
export interface LibraryImage {
  id: string;
  url: string;
  /** Where it comes from: the brand's logo or product images, an email of the brand, a recent upload. */
  source: "logo" | "product" | "email" | "upload";
  label: string;
  width: number | null;
  height: number | null;
}

/**
 * The brand's image library: its logo, its product images, the images its emails show (heroes,
 * generated and uploaded ones; a crop is offered as its source), and the team's recent uploads.
 * Only the team's own assets, each once, newest emails first.
 */
export async function brandImageLibrary(options: { assets: AssetStore; scope: TeamScope; base: string; brand: BrandRecord; emails: ReadonlyArray<{ brandId: string; document: EmailDocument }> }): Promise<LibraryImage[]> {
  const { assets, scope, brand } = options;
  const wanted: Array<{ id: string; source: LibraryImage["source"]; label: string }> = [];
  if (brand.data.logoAssetId) wanted.push({ id: brand.data.logoAssetId, source: "logo", label: `${brand.name} logo` });
  for (const id of brand.data.productImageAssetIds ?? []) wanted.push({ id, source: "product", label: "Product image" });
  for (const email of options.emails) {
    if (email.brandId !== brand.id) continue;
    for (const section of email.document.sections) {
      for (const url of sectionImageUrls(section)) {
        const id = assetIdOf(url);
        if (id) wanted.push({ id, source: "email", label: `${section.type === "hero" ? "Hero" : "Image"} in “${email.document.subject ?? "an email"}”` });
      }
    }
  }
  for (const upload of (await assets.list(scope, "upload")).slice(0, RECENT_UPLOADS)) wanted.push({ id: upload.id, source: "upload", label: upload.name ?? "Upload" });

  const seen = new Set<string>();
  const out: LibraryImage[] = [];
  for (const item of wanted) {
    if (out.length >= MAX_LIBRARY_IMAGES) break;
    const derivation = await assets.derivation(scope, item.id);
    const id = derivation?.sourceId ?? item.id;
    if (seen.has(id)) continue;
    seen.add(id);
    const info = await assets.info(scope, id);
    if (info) out.push({ id, url: assetUrl(options.base, id), source: item.source, label: item.label, width: info.width, height: info.height });
  }
  return out;
}

/** Every image URL a section shows, from its slots. */
function sectionImageUrls(section: Section): string[] {
  const spec = SLOTS[section.type];
  if (!spec) return [];
  const fields = section.fields as Record<string, unknown>;
  const holders = spec.list ? ((fields[spec.list] as Array<Record<string, unknown>> | undefined) ?? []) : [fields];
  return holders.map((h) => h[spec.urlField]).filter((u): u is string => typeof u === "string" && u.length > 0);
}
