import sharp from "sharp";
import type { Brand, Brief } from "./document";
import { escapeHtml } from "./safety";
import { contrastRatio, emailTheme, normalizeHexColor } from "./theme";

/**
 * The offline provider's hero image: an on-brand PNG drawn from an SVG — a gradient from the
 * primary to the secondary colour, soft shapes in the background colour, and the product name (or
 * the hook) as large text. Deterministic: the same input gives the same bytes.
 *
 * Text is drawn with the system's fonts (fontconfig); a machine without any font still gets the
 * gradient and shapes, but no lettering.
 */

/** Twice the email width, so the image stays sharp on high-density screens. */
export const HERO_IMAGE_WIDTH_PX = 1200;
export const HERO_IMAGE_HEIGHT_PX = 600;
const MAX_TITLE_LINES = 3;
const MAX_TITLE_CHARS = 90;

export interface OfflineImageInput {
  brand: Pick<Brand, "name" | "colors" | "fonts">;
  /** Large text; defaults to the brief's first product name, then its hook, then the brand name. */
  title?: string;
  /** Small text under the title; defaults to the brand name. */
  subtitle?: string;
  brief?: Pick<Brief, "hook" | "products">;
  width?: number;
  height?: number;
}

export interface OfflineImage {
  png: Uint8Array;
  width: number;
  height: number;
  contentType: "image/png";
}

/**
 * Renders the hero image to PNG.
 *
 * @example
 * const { png, width, height } = await renderOfflineHeroImage({ brand, brief });
 */
export async function renderOfflineHeroImage(input: OfflineImageInput): Promise<OfflineImage> {
  const { svg, width, height } = heroImageSvg(input);
  const png = await sharp(Buffer.from(svg), { density: 72 }).png({ compressionLevel: 9 }).toBuffer();
  return { png: new Uint8Array(png), width, height, contentType: "image/png" };
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const char of text) h = Math.imul(h ^ char.codePointAt(0)!, 0x01000193) >>> 0;
  return h;
}

/** Greedy word wrap by character count; over-long words are cut. */
function wrap(text: string, maxChars: number, maxLines: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const piece = word.length > maxChars ? `${word.slice(0, maxChars - 1)}…` : word;
    if (current && current.length + 1 + piece.length > maxChars) {
      lines.push(current);
      current = piece;
    } else current = current ? `${current} ${piece}` : piece;
  }
  if (current) lines.push(current);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = `${kept[maxLines - 1]!.replace(/[.,;:!?…]*$/, "")}…`;
    return kept;
  }
  return lines;
}

/** The colour among the candidates that reads best on both ends of the gradient. */
function textColorFor(a: string, b: string, candidates: string[]): string {
  const score = (c: string) => Math.min(contrastRatio(c, a), contrastRatio(c, b));
  return [...candidates].sort((x, y) => score(y) - score(x))[0]!;
}

function titleOf(input: OfflineImageInput): string {
  const title = input.title ?? input.brief?.products?.[0]?.name ?? input.brief?.hook ?? input.brand.name;
  const clean = title.replace(/\s+/g, " ").trim() || input.brand.name;
  return clean.length > MAX_TITLE_CHARS ? `${clean.slice(0, MAX_TITLE_CHARS - 1)}…` : clean;
}

/** The SVG source of the hero image (exported for previews and tests). */
export function heroImageSvg(input: OfflineImageInput): { svg: string; width: number; height: number } {
  const width = Math.round(input.width ?? HERO_IMAGE_WIDTH_PX);
  const height = Math.round(input.height ?? HERO_IMAGE_HEIGHT_PX);
  const theme = emailTheme(input.brand);
  const start = theme.primary;
  const end = normalizeHexColor(input.brand.colors.secondary, theme.background === start ? "#000000" : theme.background);
  const accent = theme.background;
  const ink = textColorFor(start, end, [theme.background, "#ffffff", "#111111"]);
  const title = titleOf(input);
  const subtitle = (input.subtitle ?? input.brand.name).replace(/\s+/g, " ").trim().slice(0, 80);
  const seed = hash(`${title}|${subtitle}|${start}|${end}`);

  const fontSize = title.length <= 18 ? 104 : title.length <= 36 ? 84 : 64;
  const scaled = Math.round(fontSize * (width / HERO_IMAGE_WIDTH_PX));
  const maxChars = Math.max(8, Math.floor((width * 0.84) / (scaled * 0.56)));
  const lines = wrap(title, maxChars, MAX_TITLE_LINES);
  const lineHeight = Math.round(scaled * 1.12);
  const blockTop = height / 2 - ((lines.length - 1) * lineHeight) / 2 - scaled * 0.15;

  // Shapes stay clear of the top-left and bottom-right corners, where the gradient's two brand
  // colours show pure.
  const circles = Array.from({ length: 4 }, (_, i) => {
    const r = (seed >>> (i * 5)) & 31;
    const cx = Math.round(width * (0.22 + 0.19 * i) + (r - 16) * 4);
    const cy = Math.round(height * (i % 2 === 0 ? 0.78 : 0.24) + (r - 16) * 3);
    const radius = Math.round(height * (0.16 + (r / 31) * 0.14));
    return `<circle cx="${cx}" cy="${cy}" r="${radius}" fill="${accent}" fill-opacity="${(0.1 + (i % 3) * 0.05).toFixed(2)}"/>`;
  }).join("");
  const ring = `<circle cx="${Math.round(width * 0.82)}" cy="${Math.round(height * 0.3)}" r="${Math.round(height * 0.42)}" fill="none" stroke="${accent}" stroke-opacity="0.18" stroke-width="${Math.round(height * 0.03)}"/>`;
  const font = escapeHtml(theme.headingFont);
  const text = lines
    .map((line, i) => `<tspan x="${width / 2}" y="${Math.round(blockTop + i * lineHeight)}">${escapeHtml(line)}</tspan>`)
    .join("");
  const caption = subtitle
    ? `<text x="${width / 2}" y="${Math.round(height - height * 0.1)}" text-anchor="middle" font-family="${font}" font-size="${Math.round(scaled * 0.3)}" letter-spacing="${Math.round(scaled * 0.06)}" fill="${ink}" fill-opacity="0.85">${escapeHtml(subtitle.toUpperCase())}</text>`
    : "";

  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${start}"/><stop offset="1" stop-color="${end}"/></linearGradient></defs>`,
    `<rect width="${width}" height="${height}" fill="url(#bg)"/>`,
    circles,
    ring,
    `<text text-anchor="middle" font-family="${font}" font-weight="bold" font-size="${scaled}" fill="${ink}">${text}</text>`,
    caption,
    `</svg>`,
  ].join("");
  return { svg, width, height };
}
