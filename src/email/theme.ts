import { formatHex, wcagContrast } from "culori";
import type { Brand } from "./document";
import { HEX_COLOR_PATTERN } from "./limits";

/**
 * Colours and fonts derived from a brand, shared by the renderer (which paints with them) and the
 * checks (which measure exactly the pairs the renderer paints), so a contrast warning is always
 * about a colour pair that really appears in the email.
 */

export const DEFAULT_BACKGROUND = "#ffffff";
export const DEFAULT_TEXT = "#1f2328";
const WHITE = "#ffffff";
const NEAR_BLACK = "#111111";
/** WCAG AA for body text and buttons. */
export const MIN_CONTRAST_TEXT = 4.5;
/** WCAG AA for large text (≥ 24px, or ≥ 18.66px bold), such as headlines. */
export const MIN_CONTRAST_LARGE_TEXT = 3;

/** Lower-case `#rrggbb`, or `fallback` when `hex` is missing or not a `#rgb`/`#rrggbb` colour. */
export function normalizeHexColor(hex: string | undefined, fallback: string): string {
  if (hex === undefined || !HEX_COLOR_PATTERN.test(hex)) return fallback;
  return formatHex(hex) ?? fallback;
}

/**
 * The WCAG 2 contrast ratio of two hex colours, from 1 (same) to 21 (black on white), by culori.
 * Returns `NaN` when either is not a hex colour.
 *
 * @example contrastRatio("#000000", "#ffffff") // 21
 */
export function contrastRatio(hexA: string, hexB: string): number {
  if (!HEX_COLOR_PATTERN.test(hexA) || !HEX_COLOR_PATTERN.test(hexB)) return Number.NaN;
  return wcagContrast(hexA, hexB);
}

/**
 * The first candidate that reaches `min` contrast on `background`; if none does, the one with
 * the highest contrast. Lets on-brand colours win when they are readable.
 */
export function pickReadable(background: string, candidates: readonly string[], min = MIN_CONTRAST_TEXT): string {
  const readable = candidates.find((c) => contrastRatio(c, background) >= min);
  if (readable) return readable;
  return [...candidates].sort((a, b) => contrastRatio(b, background) - contrastRatio(a, background))[0] ?? NEAR_BLACK;
}

/** The colours an email is painted with. */
export interface EmailTheme {
  background: string;
  text: string;
  /** Headings: the primary colour when readable on the background, else the text colour. */
  heading: string;
  primary: string;
  secondary: string;
  buttonBackground: string;
  buttonText: string;
  heroBackground: string;
  heroText: string;
  headingFont: string;
  bodyFont: string;
}

/**
 * Derives the painting colours and font stacks from a brand. Colours the brand chose (text on
 * background) are used as chosen, even when they read poorly, so `checkEmail` can warn; colours the
 * renderer chooses itself (button and hero text) are chosen to be readable.
 */
export function emailTheme(brand: Pick<Brand, "colors" | "fonts">): EmailTheme {
  const background = normalizeHexColor(brand.colors.background, DEFAULT_BACKGROUND);
  const primary = normalizeHexColor(brand.colors.primary, NEAR_BLACK);
  const secondary = normalizeHexColor(brand.colors.secondary, primary);
  const text = normalizeHexColor(brand.colors.text, pickReadable(background, [DEFAULT_TEXT, WHITE]));
  const onPrimary = pickReadable(primary, [background, WHITE, NEAR_BLACK]);
  return {
    background,
    text,
    heading: contrastRatio(primary, background) >= MIN_CONTRAST_LARGE_TEXT ? primary : text,
    primary,
    secondary,
    buttonBackground: primary,
    buttonText: onPrimary,
    heroBackground: primary,
    heroText: onPrimary,
    headingFont: fontStack(brand.fonts?.heading ?? brand.fonts?.body),
    bodyFont: fontStack(brand.fonts?.body),
  };
}

// ---------------------------------------------------------------------------------------------
// Fonts: custom brand fonts get a web-safe fallback of the same kind, since most clients
// (Gmail, Outlook) ignore web fonts.

const SANS_STACK = "Helvetica, Arial, sans-serif";
const SERIF_STACK = "Georgia, 'Times New Roman', Times, serif";
const MONO_STACK = "'Courier New', Courier, monospace";

const WEB_SAFE_FONTS: Record<string, string> = {
  arial: SANS_STACK,
  helvetica: SANS_STACK,
  verdana: "Verdana, Geneva, sans-serif",
  tahoma: "Tahoma, Verdana, sans-serif",
  "trebuchet ms": "'Trebuchet MS', Helvetica, sans-serif",
  georgia: SERIF_STACK,
  "times new roman": SERIF_STACK,
  times: SERIF_STACK,
  "courier new": MONO_STACK,
  courier: MONO_STACK,
};

const SERIF_HINTS = /serif|garamond|baskerville|playfair|merriweather|lora|georgia|times|didot|bodoni|caslon|cormorant|crimson|libre|spectral|fraunces|dm serif|noto serif|pt serif/i;
const MONO_HINTS = /mono|courier|code/i;

/**
 * A CSS font-family stack for a brand font name: the name itself (quoted if needed) followed by a
 * web-safe fallback of the same kind. Names are reduced to letters, digits, spaces and hyphens.
 *
 * @example fontStack("Playfair Display") // "'Playfair Display', Georgia, 'Times New Roman', Times, serif"
 */
export function fontStack(name: string | undefined): string {
  const clean = (name ?? "").replace(/[^A-Za-z0-9 -]/g, "").replace(/\s+/g, " ").trim();
  if (clean === "") return SANS_STACK;
  const known = Object.hasOwn(WEB_SAFE_FONTS, clean.toLowerCase()) ? WEB_SAFE_FONTS[clean.toLowerCase()] : undefined;
  const fallback = /sans/i.test(clean) ? SANS_STACK : SERIF_HINTS.test(clean) ? SERIF_STACK : MONO_HINTS.test(clean) ? MONO_STACK : SANS_STACK;
  const stack = known ?? fallback;
  const quoted = /\s/.test(clean) ? `'${clean}'` : clean;
  return stack.toLowerCase().startsWith(quoted.toLowerCase()) ? stack : `${quoted}, ${stack}`;
}
