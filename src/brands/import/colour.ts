import sharp from "sharp";
import { differenceEuclidean, formatHex, parse, converter } from "culori";
import { MAX_IMAGE_PIXELS } from "../../assets/store";
import { resolveVars } from "./css";

/**
 * Colours as a brand import reads them: CSS colour values (parsed by culori: hex, rgb(), hsl(),
 * hwb(), lab(), oklch(), named colours …) to lower-case `#rrggbb`, what makes a colour able to carry
 * a brand, and the dominant colours of a logo's pixels.
 */

const toHsl = converter("hsl");
const rgbDistance = differenceEuclidean("rgb");

/** At most this long: a colour value longer than this is not one. */
const MAX_COLOR_VALUE_CHARS = 200;

/**
 * A CSS colour value as lower-case `#rrggbb`, `var()` references resolved. Mostly transparent colours
 * (alpha under 0.5) are not colours a brand is made of.
 *
 * @example parseColor("rgb(33 150 243 / 90%)") // "#2196f3"
 */
export function parseColor(input: string, vars: ReadonlyMap<string, string> = new Map()): string | undefined {
  const value = resolveVars(input, vars).trim().toLowerCase();
  if (value.length === 0 || value.length > MAX_COLOR_VALUE_CHARS) return undefined;
  const color = parse(value);
  if (!color || (color.alpha ?? 1) < 0.5) return undefined;
  return formatHex(color);
}

/** The first colour inside a shorthand value such as `background: url(x.png) #fff no-repeat`. */
export function firstColorIn(value: string, vars: ReadonlyMap<string, string> = new Map()): string | undefined {
  const resolved = resolveVars(value, vars);
  for (const token of resolved.match(/#[0-9a-f]{3,8}\b|(?:rgba?|hsla?)\([^)]*\)|\b[a-z]{3,20}\b/gi) ?? []) {
    const color = parseColor(token);
    if (color) return color;
  }
  return undefined;
}

/** Colours that can carry a brand: not near-white, near-black or grey. */
export function isBrandish(hex: string): boolean {
  const l = lightness(hex);
  return saturation(hex) >= 0.25 && l > 0.12 && l < 0.92;
}

/** The most common colours of an image (transparent pixels ignored), most common first. */
export async function dominantColors(bytes: Uint8Array, max = 4): Promise<Array<{ hex: string; share: number }>> {
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, animated: false })
    .resize(64, 64, { fit: "inside", withoutEnlargement: true })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const buckets = new Map<number, { r: number; g: number; b: number; n: number }>();
  let counted = 0;
  for (let i = 0; i + 3 < data.length; i += info.channels) {
    if (data[i + 3]! < 128) continue;
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    // 4 bits a channel: close shades (anti-aliasing, JPEG noise) fall in one bucket.
    const key = ((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4);
    const bucket = buckets.get(key) ?? { r: 0, g: 0, b: 0, n: 0 };
    bucket.r += r;
    bucket.g += g;
    bucket.b += b;
    bucket.n++;
    buckets.set(key, bucket);
    counted++;
  }
  const ranked = [...buckets.values()].sort((a, b) => b.n - a.n).map((b) => ({ hex: formatHex({ mode: "rgb", r: b.r / b.n / 255, g: b.g / b.n / 255, b: b.b / b.n / 255 }), share: b.n / Math.max(1, counted) }));
  const picked: Array<{ hex: string; share: number }> = [];
  for (const candidate of ranked) {
    if (candidate.share < 0.02 || picked.length >= max) break;
    const near = picked.find((p) => colorDistance(p.hex, candidate.hex) < 48);
    if (near) near.share += candidate.share;
    else picked.push({ ...candidate });
  }
  return picked;
}

/** HSL saturation, 0 (grey) to 1 (fully saturated). */
export function saturation(hex: string): number {
  return toHsl(hex)?.s ?? 0;
}

/** HSL lightness, 0 (black) to 1 (white). */
export function lightness(hex: string): number {
  return toHsl(hex)?.l ?? 0;
}

/** How far apart two colours are, in 0–255 RGB units (0 = the same; white to black ≈ 442). */
export function colorDistance(a: string, b: string): number {
  return rgbDistance(a, b) * 255;
}
