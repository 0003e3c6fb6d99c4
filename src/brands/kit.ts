import { createHash } from "node:crypto";
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from "fflate";
import { z } from "zod";
import { AssetStore, MAX_UPLOAD_BYTES, type AssetKind } from "../assets/store";
import { BrandInput, type BrandRecord, type BrandStore } from "./store";
import type { TeamScope } from "../accounts/scope";
import { ReferenceStore, normalizeTags, type ReferenceRecord } from "./references";

/**
 * Brand kits: a brand's settings and images as one zip, to move a brand between installations.
 *
 *     brand.json            the settings, with images named by their path in the zip
 *     assets/<file>         the logo, product images and reference emails
 *
 * Importing treats the zip as hostile: names are checked before anything is extracted (no
 * traversal, only the layout above), sizes are capped by what the archive declares *and* by what
 * is written (fflate never writes past the declared size), and every image goes through the
 * AssetStore's content checks again.
 */

export const KIT_FORMAT = "durable-studio/brand-kit";
export const KIT_VERSION = 1;
/** A kit upload larger than this is refused (413). */
export const MAX_KIT_BYTES = 50 * 1024 * 1024;
/** Everything a kit unpacks to, at most. */
export const MAX_KIT_UNPACKED_BYTES = 120 * 1024 * 1024;
export const MAX_KIT_ENTRIES = 300;
export const MAX_MANIFEST_BYTES = 256 * 1024;

export type UnzipRefusal = "not_a_zip" | "unsafe_path" | "too_many_entries" | "too_large" | "unsupported_compression";

export type UnzipResult = { ok: true; files: Map<string, Uint8Array> } | { ok: false; code: UnzipRefusal; message: string };

class Refused extends Error {
  constructor(
    readonly code: UnzipRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** A name that could escape the folder it is extracted into, or that no tool should write. */
export function isUnsafeZipPath(name: string): boolean {
  return name.startsWith("/") || name.includes("\\") || name.includes("\0") || /^[a-z]:/i.test(name) || name.split("/").some((segment) => segment === "..");
}

/**
 * Unzips an archive defensively: refuses unsafe names (whatever `keep` says), more than
 * `maxEntries` entries, any kept entry declaring more than `maxEntryBytes`, and kept entries
 * declaring more than `maxTotalBytes` together. Entries `keep` rejects are never inflated.
 *
 * @example
 * const result = unzipSafe(bytes, { keep: (name) => name.endsWith(".png"), maxEntries: 100, maxEntryBytes: 10e6, maxTotalBytes: 50e6 });
 */
export function unzipSafe(zip: Uint8Array, limits: { keep: (name: string) => boolean; maxEntries: number; maxEntryBytes: number | ((name: string) => number); maxTotalBytes: number }): UnzipResult {
  let entries = 0;
  let total = 0;
  try {
    const files = unzipSync(zip, {
      filter(file) {
        if (++entries > limits.maxEntries) throw new Refused("too_many_entries", `The archive has more than ${limits.maxEntries} entries.`);
        if (isUnsafeZipPath(file.name)) throw new Refused("unsafe_path", `The archive contains an unsafe path (${JSON.stringify(file.name.slice(0, 120))}); it is refused.`);
        if (file.name.endsWith("/") || !limits.keep(file.name)) return false;
        const max = typeof limits.maxEntryBytes === "function" ? limits.maxEntryBytes(file.name) : limits.maxEntryBytes;
        if (file.originalSize > max) throw new Refused("too_large", `${file.name} unpacks to ${file.originalSize} bytes; the limit is ${max}.`);
        total += file.originalSize;
        if (total > limits.maxTotalBytes) throw new Refused("too_large", `The archive unpacks to more than ${limits.maxTotalBytes} bytes.`);
        if (file.compression !== 0 && file.compression !== 8) throw new Refused("unsupported_compression", `${file.name} uses a compression method other than deflate.`);
        return true;
      },
    });
    return { ok: true, files: new Map(Object.entries(files)) };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, code: error.code, message: error.message };
    return { ok: false, code: "not_a_zip", message: "This file is not a readable zip archive." };
  }
}

const KIT_FILE = /^assets\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;
const kitPath = z.string().regex(KIT_FILE, "a file under assets/ in the kit");

const KitManifest = z.object({
  format: z.literal(KIT_FORMAT),
  version: z.literal(KIT_VERSION),
  exportedAt: z.string().max(40).optional(),
  brand: BrandInput.omit({ logoAssetId: true, productImageAssetIds: true }).extend({
    logo: kitPath.optional(),
    productImages: z.array(kitPath).max(50).optional(),
  }),
  references: z.array(z.object({ file: kitPath, name: z.string().max(120).nullish(), tags: z.array(z.string().max(60)).max(20).optional() })).max(200).optional(),
  files: z.array(z.object({ path: kitPath, sha256: z.string().regex(/^[0-9a-f]{64}$/), contentType: z.string().max(60), name: z.string().max(120).nullish() })).max(MAX_KIT_ENTRIES),
});
type KitManifest = z.infer<typeof KitManifest>;

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };

/**
 * Builds a brand's kit: `brand.json` plus its logo, product images and reference emails (with tags).
 *
 * @example
 * const zip = await exportBrandKit({ scope, brand, assets, references: await refs.list(scope, brand.id) });
 */
export async function exportBrandKit(input: { scope: TeamScope; brand: BrandRecord; assets: AssetStore; references: ReferenceRecord[] }): Promise<Uint8Array> {
  const { scope, brand, assets } = input;
  const zippable: Zippable = {};
  const files: KitManifest["files"] = [];
  const pathOf = new Map<string, string>();
  const include = async (assetId: string | undefined): Promise<string | undefined> => {
    if (!assetId) return undefined;
    if (pathOf.has(assetId)) return pathOf.get(assetId);
    const found = await assets.bytes(scope, assetId);
    if (!found) return undefined;
    const path = `assets/${assetId}.${EXTENSIONS[found.info.contentType] ?? "bin"}`;
    // Images are compressed already: store them as they are.
    zippable[path] = [found.bytes, { level: 0 }];
    files.push({ path, sha256: found.info.sha256, contentType: found.info.contentType, name: found.info.name });
    pathOf.set(assetId, path);
    return path;
  };
  const { logoAssetId, productImageAssetIds, ...settings } = brand.data;
  const logo = await include(logoAssetId);
  const productImages: string[] = [];
  for (const id of productImageAssetIds ?? []) {
    const path = await include(id);
    if (path) productImages.push(path);
  }
  const references: NonNullable<KitManifest["references"]> = [];
  for (const ref of input.references) {
    const path = await include(ref.assetId);
    if (path) references.push({ file: path, name: ref.name, tags: ref.tags });
  }
  const manifest: KitManifest = {
    format: KIT_FORMAT,
    version: KIT_VERSION,
    exportedAt: new Date().toISOString(),
    brand: { ...settings, ...(logo ? { logo } : {}), ...(productImages.length ? { productImages } : {}) },
    references,
    files,
  };
  zippable["brand.json"] = strToU8(JSON.stringify(manifest, null, 2));
  return zipSync(zippable, { level: 6 });
}

export type KitImportResult =
  | { ok: true; brand: BrandRecord; assets: number; references: number }
  | { ok: false; code: UnzipRefusal | "invalid_kit" | "asset_rejected"; message: string };

/**
 * Creates a brand from a kit on this installation: checks the archive, the manifest and every
 * image (re-uploaded through the AssetStore, so nothing skips the content checks).
 */
export async function importBrandKit(input: { zip: Uint8Array; scope: TeamScope; brands: BrandStore; assets: AssetStore; references: ReferenceStore }): Promise<KitImportResult> {
  if (input.zip.byteLength > MAX_KIT_BYTES) return { ok: false, code: "too_large", message: `Brand kits are limited to ${MAX_KIT_BYTES / 1024 / 1024} MB.` };
  const unzipped = unzipSafe(input.zip, {
    keep: (name) => name === "brand.json" || KIT_FILE.test(name),
    maxEntries: MAX_KIT_ENTRIES,
    maxEntryBytes: (name) => (name === "brand.json" ? MAX_MANIFEST_BYTES : MAX_UPLOAD_BYTES),
    maxTotalBytes: MAX_KIT_UNPACKED_BYTES,
  });
  if (!unzipped.ok) return unzipped;
  const { files } = unzipped;
  const manifestBytes = files.get("brand.json");
  if (!manifestBytes) return { ok: false, code: "invalid_kit", message: "This zip has no brand.json; export a kit with GET /api/brands/:id/kit.zip." };
  let json: unknown;
  try {
    json = JSON.parse(strFromU8(manifestBytes));
  } catch {
    return { ok: false, code: "invalid_kit", message: "brand.json is not valid JSON." };
  }
  const parsed = KitManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, code: "invalid_kit", message: `brand.json: ${issue.path.join(".") || "(root)"}: ${issue.message}` };
  }
  const manifest = parsed.data;
  const described = new Map(manifest.files.map((f) => [f.path, f]));
  const needed = [manifest.brand.logo, ...(manifest.brand.productImages ?? []), ...(manifest.references ?? []).map((r) => r.file)].filter((p): p is string => !!p);
  for (const path of needed) {
    const bytes = files.get(path);
    const info = described.get(path);
    if (!bytes || !info) return { ok: false, code: "invalid_kit", message: `brand.json names ${path}, which is not in the kit.` };
    if (createHash("sha256").update(bytes).digest("hex") !== info.sha256) return { ok: false, code: "invalid_kit", message: `${path} does not match its checksum in brand.json; the kit is damaged.` };
  }

  const kindOf = (path: string): AssetKind => (path === manifest.brand.logo ? "logo" : (manifest.brand.productImages ?? []).includes(path) ? "product" : "reference");
  const newIds = new Map<string, string>();
  for (const path of new Set(needed)) {
    const saved = await input.assets.save(input.scope, { bytes: files.get(path)!, name: described.get(path)!.name ?? path.slice("assets/".length), kind: kindOf(path) });
    if (!saved.ok) return { ok: false, code: "asset_rejected", message: `${path}: ${saved.message}` };
    newIds.set(path, saved.asset.id);
  }

  const { logo, productImages, ...settings } = manifest.brand;
  const brandInput = BrandInput.safeParse({
    ...settings,
    ...(logo ? { logoAssetId: newIds.get(logo) } : {}),
    ...(productImages?.length ? { productImageAssetIds: productImages.map((p) => newIds.get(p)!) } : {}),
  });
  if (!brandInput.success) return { ok: false, code: "invalid_kit", message: `brand.json: ${brandInput.error.issues[0]!.message}` };
  const brand = await input.brands.createBrand(input.scope, brandInput.data);
  let references = 0;
  for (const ref of manifest.references ?? []) {
    const put = await input.references.put(input.scope, { brandId: brand.id, assetId: newIds.get(ref.file)!, name: ref.name ?? null, tags: normalizeTags(ref.tags) });
    if (put.ok) references++;
  }
  return { ok: true, brand, assets: newIds.size, references };
}
