import { zipSync, type Zippable } from "fflate";
import { escapeHtml } from "./safety";

/**
 * The zip export: `email.html`, `email.mjml`, `email.txt` and `images/…`. Images the HTML refers to
 * by URL are rewritten to their relative path in the zip, so the unpacked folder opens offline.
 */

export const ZIP_IMAGES_FOLDER = "images";
const MAX_FILE_NAME_CHARS = 100;

export interface ExportImage {
  /** File name inside `images/`; made safe and unique if needed. */
  name: string;
  bytes: Uint8Array;
  /** The URL under which the HTML (and MJML) refer to this image; rewritten to `images/<name>`. */
  url?: string;
}

export interface ExportInput {
  html: string;
  mjml: string;
  text: string;
  images?: readonly ExportImage[];
  /** Base name of the three documents (default `email`). */
  baseName?: string;
  /** Timestamp stored for every entry (default: now). */
  modifiedAt?: Date;
}

/** Reduces a name to a safe, flat file name: no folders, no `..`, no control or shell-special characters. */
export function safeFileName(name: string, fallback = "file"): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const clean = base
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[.-]+/, "")
    .replace(/-+/g, "-")
    .slice(-MAX_FILE_NAME_CHARS);
  return clean === "" || /^\.+$/.test(clean) ? fallback : clean;
}

/**
 * A download's file name from the email's name: lower-case words joined by `-`, accents dropped,
 * at most 60 characters; `email` when nothing is left.
 *
 * @example
 * slugFileName("Spring Sale — 20% off!") // "spring-sale-20-off"
 */
export function slugFileName(name: string | null | undefined, fallback = "email"): string {
  const slug = (name ?? "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, MAX_SLUG_CHARS)
    .replace(/-+$/, "");
  return slug === "" ? fallback : slug;
}

const MAX_SLUG_CHARS = 60;

/**
 * The images of ours (`<base>/assets/<id>`) that the HTML shows, each once, in order of appearance:
 * what a self-contained export must carry.
 */
export function assetImagesIn(html: string, base: string): Array<{ url: string; id: string }> {
  const found = new Map<string, string>();
  const pattern = /<img\b[^>]*?\ssrc="([^"]+)"/gi;
  for (const match of html.matchAll(pattern)) {
    const url = match[1]!.replaceAll("&amp;", "&");
    const id = /\/assets\/(ast_[A-Za-z0-9_-]+)$/.exec(url)?.[1];
    if (id && url.startsWith(`${base}/assets/`) && !found.has(url)) found.set(url, id);
  }
  // Backgrounds (MJML hero background-url) are images too.
  for (const match of html.matchAll(/url\(['"]?([^'")]+)['"]?\)|background="([^"]+)"/gi)) {
    const url = (match[1] ?? match[2]!).replaceAll("&amp;", "&");
    const id = /\/assets\/(ast_[A-Za-z0-9_-]+)$/.exec(url)?.[1];
    if (id && url.startsWith(`${base}/assets/`) && !found.has(url)) found.set(url, id);
  }
  return [...found].map(([url, id]) => ({ url, id }));
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

function replaceAll(source: string, from: string, to: string): string {
  return from === "" ? source : source.split(from).join(to);
}

/** Rewrites every reference to `url` — raw or HTML-escaped (`&amp;`) — to `path`. */
function rewriteUrl(source: string, url: string, path: string): string {
  return replaceAll(replaceAll(source, escapeHtml(url), path), url, path);
}

/**
 * Packs an email into a zip and returns its bytes.
 *
 * @example
 * const zip = exportZip({ html, mjml, text, images: [{ name: "hero.png", bytes: png, url: heroUrl }] });
 * return new Response(zip, { headers: { "content-type": "application/zip" } });
 */
export function exportZip(input: ExportInput): Uint8Array {
  const base = safeFileName(input.baseName ?? "email", "email");
  const taken = new Set<string>();
  const images: Zippable = {};
  const rewrites: [url: string, path: string][] = [];
  for (const [index, image] of (input.images ?? []).entries()) {
    const name = uniqueName(safeFileName(image.name, `image-${index + 1}`), taken);
    const path = `${ZIP_IMAGES_FOLDER}/${name}`;
    // Images are already compressed; storing them saves time and no space is lost.
    images[path] = [image.bytes, { level: 0 }];
    if (image.url) rewrites.push([image.url, path]);
  }
  // Longest first, so a URL that is a prefix of another never rewrites half of it.
  rewrites.sort(([a], [b]) => b.length - a.length);
  let html = input.html;
  let mjml = input.mjml;
  for (const [url, path] of rewrites) {
    html = rewriteUrl(html, url, path);
    mjml = rewriteUrl(mjml, url, path);
  }
  const encoder = new TextEncoder();
  const files: Zippable = {
    [`${base}.html`]: encoder.encode(html),
    [`${base}.mjml`]: encoder.encode(mjml),
    [`${base}.txt`]: encoder.encode(input.text),
    ...images,
  };
  return zipSync(files, { level: 6, mtime: input.modifiedAt ?? new Date() });
}
