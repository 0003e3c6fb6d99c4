import type { Brand } from "./document";
import type { EmailCheck } from "./checks";
import { assetImagesIn } from "./export";
import { darkImageContrast, darkPaletteOf, MIN_IMAGE_CONTRAST } from "./dark-mode";
import { guardedFetch, type FetchResult } from "../infra/guarded-fetch";

/**
 * Checks that read more than the HTML: the images themselves (total weight, visibility in dark
 * mode) and, on request, the links (does each answer?). `checkEmail` stays a pure function of the
 * HTML; these take a loader or make requests.
 */

/** Reads an image of ours by asset id (the editor passes the asset store's reader). */
export type ImageLoader = (assetId: string) => Promise<Uint8Array | undefined>;

/** Images heavier than this in all make an email slow on mobile data (and some clients clip them). */
export const MAX_TOTAL_IMAGE_BYTES = 1_000_000;
/** At most this many distinct links are requested per link check. */
export const MAX_LINKS_CHECKED = 25;
const LINK_TIMEOUT_MS = 8_000;
/** Links are only probed: a page body beyond this size is not needed to know it answers. */
const LINK_MAX_BYTES = 2_000_000;

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

/**
 * Total image weight (ours, as the HTML shows them) and images that vanish on the dark background:
 * transparent, with visible pixels of less than 2:1 contrast on it (the logo first).
 */
export async function imageChecks(input: { html: string; base: string; brand: Brand; load: ImageLoader }): Promise<EmailCheck[]> {
  const palette = darkPaletteOf(input.brand);
  const checks: EmailCheck[] = [];
  let total = 0;
  const images = assetImagesIn(input.html, input.base);
  for (const { url, id } of images) {
    const bytes = await input.load(id);
    if (!bytes) continue;
    total += bytes.byteLength;
    const contrast = await darkImageContrast(bytes, palette.background);
    if (contrast === undefined || contrast >= MIN_IMAGE_CONTRAST) continue;
    const what = url === input.brand.logoUrl ? "The logo" : "An image";
    checks.push({
      id: `dark-image:${id}`,
      level: "warning",
      message: `${what} (${id}) is dark on a transparent background and almost disappears in dark mode (contrast ${contrast.toFixed(1)}:1 on ${palette.background}). Give it a light outline or an opaque background, or upload a light version.`,
    });
  }
  if (images.length > 0) {
    checks.push(
      total > MAX_TOTAL_IMAGE_BYTES
        ? { id: "image-weight", level: "warning", message: `The images weigh ${kb(total)} in all, over ${kb(MAX_TOTAL_IMAGE_BYTES)}: the email loads slowly on mobile data. Use smaller or more compressed images.` }
        : { id: "image-weight", level: "info", message: `The images weigh ${kb(total)} in all.` },
    );
  }
  return checks;
}

/** The http(s) links of the HTML (hrefs), each once, in order, without merge tags. */
export function linksIn(html: string): string[] {
  const links = new Set<string>();
  for (const match of html.matchAll(/<a\b[^>]*\shref="([^"]+)"/gi)) {
    const href = match[1]!.replaceAll("&amp;", "&");
    if (/^https?:\/\//i.test(href) && !/\{\{|\*\||%%|\{%/.test(href)) links.add(href);
  }
  return [...links];
}

/**
 * Requests each link (through the guarded fetch: no private addresses unless allowed, bounded size,
 * time and redirects) and reports those that answer 4xx/5xx or cannot be reached. Opt-in: it makes
 * requests to the sites the email links to.
 */
export async function linkStatusChecks(input: { html: string; allowPrivate: boolean; fetch?: (url: string) => Promise<FetchResult> }): Promise<EmailCheck[]> {
  const fetchOne = input.fetch ?? ((url: string) => guardedFetch(url, { allowPrivate: input.allowPrivate, maxBytes: LINK_MAX_BYTES, timeoutMs: LINK_TIMEOUT_MS, accept: "text/html,*/*;q=0.5" }));
  const links = linksIn(input.html);
  const checked = links.slice(0, MAX_LINKS_CHECKED);
  const results = await Promise.all(checked.map(async (url) => ({ url, result: await fetchOne(url) })));
  const checks: EmailCheck[] = [];
  for (const [index, { url, result }] of results.entries()) {
    if (result.ok) continue;
    const why = result.status !== undefined ? `answers ${result.status}` : result.message;
    checks.push({ id: `link-broken:${index + 1}`, level: result.status !== undefined && result.status < 500 ? "error" : "warning", message: `The link ${url} ${why}.` });
  }
  checks.push({ id: "links-checked", level: "info", message: `Checked ${checked.length} link${checked.length === 1 ? "" : "s"}${links.length > checked.length ? ` (of ${links.length}; the first ${MAX_LINKS_CHECKED})` : ""}: ${checked.length - (checks.length)} answer${checked.length - checks.length === 1 ? "s" : ""}.` });
  return checks;
}
