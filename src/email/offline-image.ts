import sharp from "sharp";
import type { Brand, Brief } from "./document";
import { escapeHtml } from "./safety";
import { contrastRatio, emailTheme, MIN_CONTRAST_TEXT, normalizeHexColor, pickReadable } from "./theme";

/**
 * The offline provider's hero image: an on-brand PNG — a gradient from the primary to the secondary
 * colour with soft shapes, the product photo when the brief has one, and the product name (or the
 * hook) on a solid card whose ink is chosen for WCAG AA contrast against the card (text is never laid
 * straight onto the gradient or the photo, where its contrast could not be promised). Deterministic:
 * the same input gives the same bytes.
 *
 * Text is drawn with the system's fonts (fontconfig); a machine without any font still gets the
 * gradient, the photo and the card, but no lettering.
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
  /** The product photo (any format sharp reads): shown beside the card. */
  photo?: Uint8Array;
  width?: number;
  height?: number;
  /** Another drawing of the same design (a redraw someone asked for): changes the decoration, not the text or colours. */
  variant?: string;
}

/** One text drawn on the image, with the colours it sits on (for the contrast checks). */
export interface ImageText {
  text: string;
  color: string;
  /** The card's colour behind the text. */
  background: string;
  ratio: number;
  /** The card, in pixels: every text lies inside it. */
  box: { x: number; y: number; width: number; height: number };
}

export interface OfflineImage {
  png: Uint8Array;
  width: number;
  height: number;
  contentType: "image/png";
  texts: ImageText[];
}

/**
 * Renders the hero image to PNG.
 *
 * @example
 * const { png, width, height, texts } = await renderOfflineHeroImage({ brand, brief, photo });
 */
export async function renderOfflineHeroImage(input: OfflineImageInput): Promise<OfflineImage> {
  const layout = heroImageSvg(input);
  const { svg, width, height, photoBox } = layout;
  let image = sharp(Buffer.from(svg), { density: 72 });
  if (input.photo && photoBox) {
    const photo = await sharp(input.photo)
      .resize({ width: photoBox.width, height: photoBox.height, fit: "contain", background: { r: 0, g: 0, b: 0, alpha: 0 } })
      .png()
      .toBuffer()
      .catch(() => undefined);
    if (photo) image = sharp(await image.png().toBuffer()).composite([{ input: photo, left: photoBox.x, top: photoBox.y }]);
  }
  const png = await image.png({ compressionLevel: 9 }).toBuffer();
  return { png: new Uint8Array(png), width, height, contentType: "image/png", texts: layout.texts };
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

function titleOf(input: OfflineImageInput): string {
  const title = input.title ?? input.brief?.products?.[0]?.name ?? input.brief?.hook ?? input.brand.name;
  const clean = title.replace(/\s+/g, " ").trim() || input.brand.name;
  return clean.length > MAX_TITLE_CHARS ? `${clean.slice(0, MAX_TITLE_CHARS - 1)}…` : clean;
}

/** The SVG source of the hero image (exported for previews and tests), and where the photo goes. */
export function heroImageSvg(input: OfflineImageInput): { svg: string; width: number; height: number; texts: ImageText[]; photoBox?: { x: number; y: number; width: number; height: number } } {
  const width = Math.round(input.width ?? HERO_IMAGE_WIDTH_PX);
  const height = Math.round(input.height ?? HERO_IMAGE_HEIGHT_PX);
  const theme = emailTheme(input.brand);
  const start = theme.primary;
  const end = normalizeHexColor(input.brand.colors.secondary, theme.background === start ? "#000000" : theme.background);
  const accent = theme.background;
  const title = titleOf(input);
  const subtitle = (input.subtitle ?? input.brand.name).replace(/\s+/g, " ").trim().slice(0, 80);
  const seed = hash(`${title}|${subtitle}|${start}|${end}${input.variant ? `|${input.variant}` : ""}`);
  const withPhoto = input.photo !== undefined;

  // The card the text sits on: the brand's background colour, or white when that is the primary.
  const card = contrastRatio(theme.background, start) >= 1.5 ? theme.background : "#ffffff";
  const ink = pickReadable(card, [theme.heading, theme.text, "#111111", "#ffffff"], MIN_CONTRAST_TEXT);
  const box = withPhoto
    ? { x: Math.round(width * 0.06), y: Math.round(height * 0.2), width: Math.round(width * 0.42), height: Math.round(height * 0.6) }
    : { x: Math.round(width * 0.15), y: Math.round(height * 0.2), width: Math.round(width * 0.7), height: Math.round(height * 0.6) };
  const photoBox = withPhoto ? { x: Math.round(width * 0.52), y: Math.round(height * 0.08), width: Math.round(width * 0.42), height: Math.round(height * 0.84) } : undefined;

  const fontSize = title.length <= 18 ? 72 : title.length <= 36 ? 60 : 48;
  const scaled = Math.round(fontSize * (width / HERO_IMAGE_WIDTH_PX) * (withPhoto ? 0.8 : 1));
  const maxChars = Math.max(8, Math.floor((box.width * 0.88) / (scaled * 0.56)));
  const lines = wrap(title, maxChars, MAX_TITLE_LINES);
  const lineHeight = Math.round(scaled * 1.12);
  const cx = box.x + box.width / 2;
  const blockTop = box.y + box.height / 2 - ((lines.length - 1) * lineHeight) / 2 - scaled * 0.05;

  // Shapes stay clear of the top-left and bottom-right corners, where the gradient's two brand
  // colours show pure.
  const circles = Array.from({ length: 4 }, (_, i) => {
    const r = (seed >>> (i * 5)) & 31;
    const x = Math.round(width * (0.22 + 0.19 * i) + (r - 16) * 4);
    const y = Math.round(height * (i % 2 === 0 ? 0.78 : 0.24) + (r - 16) * 3);
    const radius = Math.round(height * (0.16 + (r / 31) * 0.14));
    return `<circle cx="${x}" cy="${y}" r="${radius}" fill="${accent}" fill-opacity="${(0.1 + (i % 3) * 0.05).toFixed(2)}"/>`;
  }).join("");
  const ring = `<circle cx="${Math.round(width * 0.82)}" cy="${Math.round(height * 0.3)}" r="${Math.round(height * 0.42)}" fill="none" stroke="${accent}" stroke-opacity="0.18" stroke-width="${Math.round(height * 0.03)}"/>`;
  const font = escapeHtml(theme.headingFont);
  const text = lines.map((line, i) => `<tspan x="${Math.round(cx)}" y="${Math.round(blockTop + i * lineHeight)}">${escapeHtml(line)}</tspan>`).join("");
  const captionSize = Math.round(scaled * 0.32);
  const caption = subtitle
    ? `<text x="${Math.round(cx)}" y="${Math.round(box.y + box.height - captionSize * 1.4)}" text-anchor="middle" font-family="${font}" font-size="${captionSize}" letter-spacing="${Math.round(scaled * 0.05)}" fill="${ink}">${escapeHtml(subtitle.toUpperCase())}</text>`
    : "";
  const photoBacking = photoBox ? `<rect x="${photoBox.x}" y="${photoBox.y}" width="${photoBox.width}" height="${photoBox.height}" rx="${Math.round(height * 0.03)}" fill="#ffffff" fill-opacity="0.92"/>` : "";
  const ratio = contrastRatio(ink, card);
  const texts: ImageText[] = [
    { text: lines.join(" "), color: ink, background: card, ratio, box },
    ...(subtitle ? [{ text: subtitle.toUpperCase(), color: ink, background: card, ratio, box }] : []),
  ];

  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${start}"/><stop offset="1" stop-color="${end}"/></linearGradient></defs>`,
    `<rect width="${width}" height="${height}" fill="url(#bg)"/>`,
    circles,
    ring,
    photoBacking,
    `<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" rx="${Math.round(height * 0.03)}" fill="${card}"/>`,
    `<text text-anchor="middle" font-family="${font}" font-weight="bold" font-size="${scaled}" fill="${ink}">${text}</text>`,
    caption,
    `</svg>`,
  ].join("");
  return { svg, width, height, texts, ...(photoBox ? { photoBox } : {}) };
}
