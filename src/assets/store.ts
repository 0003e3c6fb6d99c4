import { createHash } from "node:crypto";
import type { Sql } from "postgres";
import { fileTypeFromBuffer } from "file-type";
import sharp from "sharp";
import { newId } from "../sessions/service";
import { ownerTeam, teamFilter, type TeamScope } from "../accounts/scope";

/** Uploads larger than this are refused (413). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** Images with more pixels than this are refused (decompression bombs). */
export const MAX_IMAGE_PIXELS = 40_000_000;
export const MAX_IMAGE_SIDE_PX = 12_000;
/** Types we accept, decided by the bytes, never by the file name or the declared type. */
export const ACCEPTED_IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;

export type AssetKind = "upload" | "logo" | "product" | "reference" | "hero" | "crop";

/** The shape and focal point a crop was cut with (`x`, `y`: 0–1 from the left and the top). */
export interface AssetCrop {
  aspect: string;
  x: number;
  y: number;
}

export interface AssetInfo {
  id: string;
  teamId: string | null;
  kind: AssetKind;
  name: string | null;
  contentType: string;
  byteLength: number;
  width: number | null;
  height: number | null;
  sha256: string;
}

export type SaveResult =
  | { ok: true; asset: AssetInfo }
  | { ok: false; code: "too_large" | "unsupported_type" | "svg_rejected" | "too_many_pixels" | "unreadable_image"; message: string };

/** The public URL of an asset: email clients fetch images without credentials, so ids are unguessable. */
export function assetUrl(base: string, id: string): string {
  return `${base}/assets/${id}`;
}

/** If `url` points at one of our assets (under `base`), its id. */
export function assetIdFromUrl(url: string | undefined, base: string): string | undefined {
  if (!url) return undefined;
  const match = /\/assets\/(ast_[A-Za-z0-9_-]+)$/.exec(url);
  return match && url.startsWith(base) ? match[1] : undefined;
}

/**
 * Images kept in Postgres (one table, so a backup of the database is a backup of everything).
 * Every upload is checked by its content: the magic bytes decide the type, SVG (which can carry
 * script) is refused, and sharp must decode the image within the pixel limit.
 */
export class AssetStore {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /** Checks an upload by its content and stores it as an asset of the scope's team. */
  async save(scope: TeamScope, input: { bytes: Uint8Array; name?: string; kind?: AssetKind }): Promise<SaveResult> {
    const teamId = ownerTeam(scope);
    const { bytes } = input;
    if (bytes.byteLength > MAX_UPLOAD_BYTES) return { ok: false, code: "too_large", message: `Images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.` };
    const head = new TextDecoder().decode(bytes.slice(0, 512)).trimStart().toLowerCase();
    if (head.startsWith("<svg") || (head.startsWith("<?xml") && head.includes("<svg"))) {
      return { ok: false, code: "svg_rejected", message: "SVG files can carry scripts and many email clients do not show them; upload a PNG or JPEG instead." };
    }
    const type = await fileTypeFromBuffer(bytes);
    if (!type || !(ACCEPTED_IMAGE_TYPES as readonly string[]).includes(type.mime)) {
      return { ok: false, code: "unsupported_type", message: `Only PNG, JPEG, GIF and WebP images are accepted${type ? ` (this file is ${type.mime})` : ""}.` };
    }
    let width: number | undefined;
    let height: number | undefined;
    try {
      const meta = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, animated: type.mime === "image/gif" }).metadata();
      width = meta.width;
      height = meta.pageHeight ?? meta.height;
    } catch (error) {
      const message = String((error as Error).message);
      if (/pixel limit/i.test(message)) return { ok: false, code: "too_many_pixels", message: `Images are limited to ${MAX_IMAGE_PIXELS / 1_000_000} megapixels.` };
      return { ok: false, code: "unreadable_image", message: "This image could not be read; it may be damaged." };
    }
    if (!width || !height) return { ok: false, code: "unreadable_image", message: "This image could not be read; it may be damaged." };
    if (width > MAX_IMAGE_SIDE_PX || height > MAX_IMAGE_SIDE_PX || width * height > MAX_IMAGE_PIXELS) {
      return { ok: false, code: "too_many_pixels", message: `Images are limited to ${MAX_IMAGE_PIXELS / 1_000_000} megapixels and ${MAX_IMAGE_SIDE_PX} px a side.` };
    }
    try {
      // A whole header says nothing of the pixels after it: decode once (to a thumbnail, the cheapest
      // full read), so a cut-off or corrupt image is refused now instead of showing broken in an inbox.
      await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, animated: type.mime === "image/gif", failOn: "error" }).resize({ width: 32, height: 32, fit: "inside" }).raw().toBuffer();
    } catch {
      return { ok: false, code: "unreadable_image", message: "This image could not be read to the end; it may be damaged or cut off." };
    }
    const id = newId("ast");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const name = input.name ? input.name.replace(/[^\w .()-]/g, "_").slice(0, 120) : null;
    await this.#sql`
      insert into assets (id, team_id, kind, name, content_type, bytes, byte_length, width, height, sha256)
      values (${id}, ${teamId}, ${input.kind ?? "upload"}, ${name}, ${type.mime}, ${bytes}, ${bytes.byteLength}, ${width}, ${height}, ${sha256})`;
    return { ok: true, asset: { id, teamId, kind: input.kind ?? "upload", name, contentType: type.mime, byteLength: bytes.byteLength, width, height, sha256 } };
  }

  async info(scope: TeamScope, id: string): Promise<AssetInfo | undefined> {
    const [row] = await this.#sql<AssetInfo[]>`
      select id, team_id as "teamId", kind, name, content_type as "contentType", byte_length as "byteLength", width, height, sha256
      from assets where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row;
  }

  /** An asset's bytes. The public `GET /assets/:id` reads with `ALL_TEAMS`: its ids are unguessable. */
  async bytes(scope: TeamScope, id: string): Promise<{ info: AssetInfo; bytes: Uint8Array } | undefined> {
    const [row] = await this.#sql<(AssetInfo & { bytes: Uint8Array })[]>`
      select id, team_id as "teamId", kind, name, content_type as "contentType", byte_length as "byteLength", width, height, sha256, bytes
      from assets where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    if (!row) return undefined;
    const { bytes, ...info } = row;
    return { info, bytes };
  }

  /**
   * Stores an image we made from one of the team's own (a crop): the bytes come from sharp, not from
   * a person, so they are not sniffed again. The source and the crop are kept with it, so the
   * editor can show where it came from and the same crop is not stored twice (`derived`).
   */
  async saveDerived(scope: TeamScope, input: { bytes: Uint8Array; contentType: string; width: number; height: number; sourceId: string; crop: AssetCrop; name?: string }): Promise<AssetInfo> {
    const teamId = ownerTeam(scope);
    const id = newId("ast");
    const sha256 = createHash("sha256").update(input.bytes).digest("hex");
    const name = input.name ? input.name.replace(/[^\w .()-]/g, "_").slice(0, 120) : null;
    await this.#sql`
      insert into assets (id, team_id, kind, name, content_type, bytes, byte_length, width, height, sha256, source_id, crop)
      values (${id}, ${teamId}, 'crop', ${name}, ${input.contentType}, ${input.bytes}, ${input.bytes.byteLength}, ${input.width}, ${input.height}, ${sha256}, ${input.sourceId}, ${this.#sql.json(input.crop as never)})`;
    return { id, teamId, kind: "crop", name, contentType: input.contentType, byteLength: input.bytes.byteLength, width: input.width, height: input.height, sha256 };
  }

  /** Deletes a crop (only a derived image: uploads are never deleted here), e.g. one made for an edit that was refused. */
  async deleteDerived(scope: TeamScope, id: string): Promise<void> {
    await this.#sql`delete from assets where id = ${id} and kind = 'crop' and source_id is not null and ${teamFilter(this.#sql, scope)}`;
  }

  /** The crop of `sourceId` made with exactly `crop`, if one is stored already. */
  async derived(scope: TeamScope, sourceId: string, crop: AssetCrop): Promise<AssetInfo | undefined> {
    const [row] = await this.#sql<AssetInfo[]>`
      select id, team_id as "teamId", kind, name, content_type as "contentType", byte_length as "byteLength", width, height, sha256
      from assets
      where ${teamFilter(this.#sql, scope)} and source_id = ${sourceId} and crop = ${this.#sql.json(crop as never)}
      limit 1`;
    return row;
  }

  /** Where a crop came from: its source asset and the crop; `undefined` for an image that is not a crop. */
  async derivation(scope: TeamScope, id: string): Promise<{ sourceId: string; crop: AssetCrop } | undefined> {
    const [row] = await this.#sql<Array<{ sourceId: string | null; crop: AssetCrop | null }>>`
      select source_id as "sourceId", crop from assets where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row?.sourceId && row.crop ? { sourceId: row.sourceId, crop: row.crop } : undefined;
  }

  async list(scope: TeamScope, kind?: AssetKind): Promise<AssetInfo[]> {
    return this.#sql<AssetInfo[]>`
      select id, team_id as "teamId", kind, name, content_type as "contentType", byte_length as "byteLength", width, height, sha256
      from assets
      where ${teamFilter(this.#sql, scope)} and (${kind === undefined} or kind = ${kind ?? ""})
      order by created_at desc limit 500`;
  }
}
