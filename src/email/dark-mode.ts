import { clampChroma, formatHex, oklch } from "culori";
import sharp from "sharp";
import type { Brand } from "./document";
import { contrastRatio, MIN_CONTRAST_TEXT, normalizeHexColor, pickReadable } from "./theme";

/**
 * Dark mode: each brand has a dark palette (proposed from its light colours, editable in the brand
 * form); the renderer paints it under `@media (prefers-color-scheme: dark)` and, for Outlook.com,
 * under `[data-ogsc]`/`[data-ogsb]` (the attributes it puts on the elements it recolours); and a
 * check looks for images that vanish on a dark background.
 */

/** The colours an email wears in dark mode. */
export interface DarkPalette {
  background: string;
  text: string;
  heading: string;
}

/** Hue kept from the brand, lightness and chroma of a dark surface (OKLCH). */
const DARK_BACKGROUND_LIGHTNESS = 0.2;
const DARK_BACKGROUND_CHROMA = 0.02;
const DARK_TEXT_LIGHTNESS = 0.93;
const DARK_HEADING_LIGHTNESS = 0.82;

function shade(hex: string, lightness: number, chroma?: number): string {
  const color = oklch(hex);
  const hue = color?.h ?? 0;
  return formatHex(clampChroma({ mode: "oklch", l: lightness, c: Math.min(chroma ?? 0.12, color?.c ?? 0), h: hue }, "oklch")) ?? "#121212";
}

/**
 * A dark palette from a brand's light colours: a near-black surface tinted with the primary's hue,
 * near-white text tinted with the text colour's hue, and headings in a light tint of the primary,
 * each checked to stay readable (WCAG AA) on the surface.
 *
 * @example
 * proposeDarkPalette({ primary: "#0f5132" }) // { background: "#0f1a14"-ish, text: "#e9ece9"-ish, heading: "#9fd3b5"-ish }
 */
export function proposeDarkPalette(colors: Brand["colors"]): DarkPalette {
  const primary = normalizeHexColor(colors.primary, "#4f46e5");
  const background = shade(primary, DARK_BACKGROUND_LIGHTNESS, DARK_BACKGROUND_CHROMA);
  const text = pickReadable(background, [shade(normalizeHexColor(colors.text, "#1f2328"), DARK_TEXT_LIGHTNESS, 0.01), "#eeeeee"]);
  const heading = pickReadable(background, [shade(primary, DARK_HEADING_LIGHTNESS), text], MIN_CONTRAST_TEXT);
  return { background, text, heading };
}

/** The brand's own dark palette, or the one proposed from its light colours. */
export function darkPaletteOf(brand: Pick<Brand, "colors" | "darkColors">): DarkPalette {
  const proposed = proposeDarkPalette(brand.colors);
  const own = brand.darkColors;
  return {
    background: normalizeHexColor(own?.background, proposed.background),
    text: normalizeHexColor(own?.text, proposed.text),
    heading: normalizeHexColor(own?.heading, proposed.heading),
  };
}

/**
 * The dark-mode CSS: surfaces take the dark background, text and links the dark text, headings the
 * dark heading colour; brand-coloured blocks (hero, buttons) keep their readable brand pairs. The
 * same rules again under `[data-ogsc]` (text) and `[data-ogsb]` (backgrounds) reach Outlook.com,
 * which ignores the media query but marks what it recolours.
 */
export function darkModeCss(palette: DarkPalette): string {
  const surfaces = (prefix: string) => [`${prefix}body`, `${prefix}.ds-body`, `${prefix}.ds-body > div`, `${prefix}.ds-surface`, `${prefix}.ds-surface > table`].join(", ");
  const texts = (prefix: string) => [`${prefix}.ds-surface div`, `${prefix}.ds-surface p`, `${prefix}.ds-surface li`, `${prefix}.ds-surface a.ds-link`].join(", ");
  const headings = (prefix: string) => [`${prefix}.ds-surface h1`, `${prefix}.ds-surface h2`, `${prefix}.ds-surface h3`].join(", ");
  const rules = (bg: string, fg: string) =>
    `${surfaces(bg)} { background: ${palette.background} !important; background-color: ${palette.background} !important; } ` +
    `${texts(fg)} { color: ${palette.text} !important; } ` +
    `${headings(fg)} { color: ${palette.heading} !important; }`;
  return `@media (prefers-color-scheme: dark) { ${rules("", "")} } ${rules("[data-ogsb] ", "[data-ogsc] ")}`;
}

/** The media query the dark styles hide behind; a forced dark preview swaps it for `all`. */
export const DARK_MEDIA_QUERY = "@media (prefers-color-scheme: dark)";

/** The email's HTML as a dark-mode client shows it, whatever the viewer's own setting. */
export function forceDark(html: string): string {
  return html.split(DARK_MEDIA_QUERY).join("@media all");
}

/** Share of visible pixels that must be see-through-ish before an image counts as transparent. */
const MIN_TRANSPARENT_SHARE = 0.1;
/** Contrast below which an image's visible pixels blend into the dark background. */
const MIN_IMAGE_CONTRAST = 2;

/**
 * Whether an image would vanish on a dark background: it has transparent areas (so the background
 * shows through) and its visible pixels are, on average, too close to the dark surface to stand out.
 * Returns the contrast of its visible pixels on `background`, or `undefined` when it is opaque
 * (an opaque image brings its own background) or unreadable.
 */
export async function darkImageContrast(bytes: Uint8Array, background: string): Promise<number | undefined> {
  try {
    const { data, info } = await sharp(bytes).ensureAlpha().resize({ width: 200, height: 200, fit: "inside", withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true });
    let transparent = 0;
    let visible = 0;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let i = 0; i < data.length; i += info.channels) {
      const alpha = data[i + 3]! / 255;
      if (alpha < 0.5) transparent++;
      else {
        visible++;
        r += data[i]!;
        g += data[i + 1]!;
        b += data[i + 2]!;
      }
    }
    const pixels = data.length / info.channels;
    if (visible === 0 || transparent / pixels < MIN_TRANSPARENT_SHARE) return undefined;
    const hex = (v: number) => Math.round(v / visible).toString(16).padStart(2, "0");
    return contrastRatio(`#${hex(r)}${hex(g)}${hex(b)}`, background);
  } catch {
    return undefined;
  }
}

export { MIN_IMAGE_CONTRAST };
