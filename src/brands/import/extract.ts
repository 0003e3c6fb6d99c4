import sharp from "sharp";
import { fontStack, contrastRatio } from "../../email/theme";
import { MAX_IMAGE_PIXELS } from "../../assets/store";

/**
 * Reading a brand out of a web page: what the HTML says (names, icons, theme colour, stylesheets,
 * footer), what the CSS says (custom properties, button and link colours, fonts), what the logo's
 * pixels say (dominant colours), and how those become one proposal. No I/O here besides parsing:
 * fetching is the import agent's job, through the guarded fetch.
 */

/** Caps on what one page may contribute, so a hostile page costs bounded work. */
export const SCAN_LIMITS = {
  MAX_ICONS: 20,
  MAX_LOGO_IMAGES: 10,
  MAX_STYLESHEETS_FOUND: 20,
  MAX_STYLE_CHARS: 512 * 1024,
  MAX_INLINE_STYLES: 300,
  MAX_FOOTER_CHARS: 4_000,
  MAX_JSON_LD_CHARS: 64 * 1024,
  MAX_CSS_RULES: 20_000,
  MAX_VAR_DEPTH: 8,
} as const;

const MAX_NAME_CHARS = 120;
const MAX_FONT_NAME_CHARS = 60;
const MAX_ADDRESS_CHARS = 500;

export interface IconLink {
  href: string;
  rel: string;
  sizes?: string;
  type?: string;
}

/** What the HTML of a page says about its brand, with URLs made absolute. */
export interface PageScan {
  pageUrl: string;
  title?: string;
  siteName?: string;
  applicationName?: string;
  themeColors: string[];
  icons: IconLink[];
  ogImage?: string;
  logoImages: Array<{ src: string; hint: string }>;
  stylesheets: string[];
  /** Font families named by Google Fonts (or similar) stylesheet links, read from their URLs. */
  linkedFonts: string[];
  styles: string[];
  /** `style="…"` attributes of the body, buttons and links, with what the element looked like. */
  inlineStyles: Array<{ kind: "body" | "button" | "link" | "heading"; style: string }>;
  footerText: string;
  addressText?: string;
  jsonLd: string[];
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " ", mdash: "—", ndash: "–", middot: "·", bull: "•", copy: "©", reg: "®", trade: "™", rsquo: "’", lsquo: "‘", rdquo: "”", ldquo: "“", hellip: "…", raquo: "»", laquo: "«", verbar: "|" };

/** Decodes the HTML entities HTMLRewriter leaves in text and attribute values. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (whole, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function absolute(href: string | null | undefined, base: string): string | undefined {
  if (!href) return undefined;
  const value = decodeEntities(href).trim();
  if (!value || value.length > 2_048) return undefined;
  try {
    const url = new URL(value, base);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    if (url.protocol === "data:" && /^data:image\/(png|jpeg|gif|webp);base64,/i.test(value)) return value;
  } catch {
    // not a URL: ignored
  }
  return undefined;
}

const BUTTON_HINT = /\b(btn|button|cta|call-to-action|shop-now)\b/i;
const LOGO_HINT = /logo|brand-?mark|wordmark|site-?brand|navbar-brand/i;
const BLOCK_TAGS = new Set(["p", "div", "br", "li", "address", "section", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "ul", "ol", "footer", "span"]);

/**
 * Scans a page's HTML with Bun's streaming HTMLRewriter: names, icons, theme colours, logo images,
 * stylesheets, inline styles, the footer's text and any JSON-LD.
 *
 * @example
 * const scan = await scanPage("<title>Acme</title>", "https://acme.example/");
 * scan.title // "Acme"
 */
export async function scanPage(html: string, pageUrl: string): Promise<PageScan> {
  let base = pageUrl;
  const raw = {
    icons: [] as IconLink[],
    logoImages: [] as Array<{ src: string; hint: string }>,
    stylesheets: [] as string[],
    ogImage: undefined as string | undefined,
  };
  const scan: PageScan = { pageUrl, themeColors: [], icons: [], logoImages: [], stylesheets: [], linkedFonts: [], styles: [], inlineStyles: [], footerText: "", jsonLd: [] };
  let title = "";
  let styleChars = 0;
  let currentStyle = "";
  let footer = "";
  let address = "";
  let inAddress = 0;
  let currentJson = "";
  let logoContext = 0;
  const push = <T>(list: T[], item: T, max: number) => {
    if (list.length < max) list.push(item);
  };
  const hintOf = (el: HTMLRewriterTypes.Element) => ["class", "id", "alt", "title", "src", "aria-label", "itemprop"].map((name) => el.getAttribute(name) ?? "").join(" ");

  await new HTMLRewriter()
    .on("base[href]", {
      element(el) {
        base = absolute(el.getAttribute("href"), pageUrl) ?? base;
      },
    })
    .on("title", {
      text(chunk) {
        if (title.length < 500) title += chunk.text;
      },
    })
    .on("meta", {
      element(el) {
        const key = (el.getAttribute("property") ?? el.getAttribute("name") ?? "").toLowerCase().trim();
        const content = decodeEntities(el.getAttribute("content") ?? "").trim();
        if (!content) return;
        if (key === "og:site_name") scan.siteName ??= content.slice(0, 300);
        else if (key === "application-name" || key === "apple-mobile-web-app-title") scan.applicationName ??= content.slice(0, 300);
        else if (key === "theme-color" || key === "msapplication-tilecolor") push(scan.themeColors, content.slice(0, 100), 5);
        else if (key === "og:image" || key === "og:image:url" || key === "og:image:secure_url") raw.ogImage ??= content;
      },
    })
    .on("link[href]", {
      element(el) {
        const rel = (el.getAttribute("rel") ?? "").toLowerCase();
        const href = el.getAttribute("href") ?? "";
        if (/\bicon\b|apple-touch-icon|mask-icon/.test(rel)) push(raw.icons, { href, rel, sizes: el.getAttribute("sizes") ?? undefined, type: el.getAttribute("type") ?? undefined }, SCAN_LIMITS.MAX_ICONS);
        if (/\bstylesheet\b/.test(rel) || (/\bpreload\b/.test(rel) && el.getAttribute("as") === "style")) {
          if (/fonts\.googleapis\.com|fonts\.bunny\.net|use\.typekit\.net/i.test(href)) {
            for (const family of familiesFromFontUrl(decodeEntities(href))) push(scan.linkedFonts, family, 10);
          } else push(raw.stylesheets, href, SCAN_LIMITS.MAX_STYLESHEETS_FOUND);
        }
      },
    })
    .on("style", {
      text(chunk) {
        if (styleChars + chunk.text.length > SCAN_LIMITS.MAX_STYLE_CHARS) return;
        styleChars += chunk.text.length;
        currentStyle += chunk.text;
        if (chunk.lastInTextNode) {
          scan.styles.push(currentStyle);
          currentStyle = "";
        }
      },
    })
    .on("[class*=logo], [id*=logo], .brand, .navbar-brand, .site-brand, .site-title", {
      element(el) {
        if (el.tagName === "img" || !el.canHaveContent) return;
        logoContext++;
        el.onEndTag(() => {
          logoContext--;
        });
      },
    })
    .on("img", {
      element(el) {
        const src = el.getAttribute("src") ?? el.getAttribute("data-src") ?? "";
        const hint = hintOf(el);
        if (src && (LOGO_HINT.test(hint) || logoContext > 0)) push(raw.logoImages, { src, hint: LOGO_HINT.test(hint) ? hint.trim().slice(0, 200) : "inside an element marked logo/brand" }, SCAN_LIMITS.MAX_LOGO_IMAGES);
      },
    })
    .on("body[style], a[style], button[style], input[style], h1[style], h2[style], [class*=btn][style], [class*=button][style]", {
      element(el) {
        const style = decodeEntities(el.getAttribute("style") ?? "");
        const tag = el.tagName;
        const kind = tag === "body" ? "body" : tag === "button" || tag === "input" || BUTTON_HINT.test(el.getAttribute("class") ?? "") ? "button" : tag === "a" ? "link" : "heading";
        if (style) push(scan.inlineStyles, { kind, style: style.slice(0, 2_000) }, SCAN_LIMITS.MAX_INLINE_STYLES);
      },
    })
    .on("body[bgcolor]", {
      element(el) {
        push(scan.inlineStyles, { kind: "body", style: `background-color: ${el.getAttribute("bgcolor")}` }, SCAN_LIMITS.MAX_INLINE_STYLES);
      },
    })
    .on("footer, [role=contentinfo], #footer, .footer, .site-footer", {
      text(chunk) {
        if (footer.length < SCAN_LIMITS.MAX_FOOTER_CHARS) footer += chunk.text;
      },
    })
    .on("footer *, [role=contentinfo] *, #footer *, .footer *, .site-footer *", {
      element(el) {
        if (!BLOCK_TAGS.has(el.tagName)) return;
        footer += "\n";
        if (el.canHaveContent) el.onEndTag(() => {
          footer += "\n";
        });
      },
    })
    .on("address", {
      element(el) {
        inAddress++;
        el.onEndTag(() => {
          inAddress--;
          address += "\n\n";
        });
      },
      text(chunk) {
        if (inAddress > 0 && address.length < SCAN_LIMITS.MAX_FOOTER_CHARS) address += chunk.text;
      },
    })
    .on("address br, address p, address div", {
      element() {
        address += "\n";
      },
    })
    .on('script[type="application/ld+json"]', {
      text(chunk) {
        if (currentJson.length + chunk.text.length <= SCAN_LIMITS.MAX_JSON_LD_CHARS) currentJson += chunk.text;
        if (chunk.lastInTextNode) {
          if (currentJson.trim()) push(scan.jsonLd, currentJson, 5);
          currentJson = "";
        }
      },
    })
    .transform(new Response(html))
    .text();

  scan.title = cleanText(decodeEntities(title)) || undefined;
  scan.icons = raw.icons.flatMap((icon) => {
    const href = absolute(icon.href, base);
    return href ? [{ ...icon, href }] : [];
  });
  scan.logoImages = raw.logoImages.flatMap((img) => {
    const src = absolute(img.src, base);
    return src ? [{ src, hint: img.hint }] : [];
  });
  scan.stylesheets = [...new Set(raw.stylesheets.flatMap((href) => absolute(href, base) ?? []))].filter((u) => !u.startsWith("data:"));
  scan.ogImage = absolute(raw.ogImage, base);
  scan.footerText = decodeEntities(footer).slice(0, SCAN_LIMITS.MAX_FOOTER_CHARS);
  const cleanAddress = decodeEntities(address).split(/\n\s*\n/).map(cleanLines).find((a) => a.length > 0);
  if (cleanAddress) scan.addressText = cleanAddress;
  return scan;
}

function cleanText(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function cleanLines(text: string): string {
  return text.split("\n").map(cleanText).filter(Boolean).join("\n");
}

/** Families named in a Google Fonts / Bunny Fonts URL (`family=Playfair+Display:wght@700`). */
export function familiesFromFontUrl(href: string): string[] {
  try {
    const url = new URL(href, "https://fonts.example/");
    return url.searchParams
      .getAll("family")
      .flatMap((value) => value.split("|"))
      .map((value) => cleanFontName(value.split(":")[0]!.replace(/\+/g, " ")))
      .filter((name): name is string => !!name);
  } catch {
    return [];
  }
}

// --- CSS ---------------------------------------------------------------------------------------

export interface CssRule {
  selector: string;
  declarations: Array<[string, string]>;
}

export interface ParsedCss {
  rules: CssRule[];
  fontFaces: Array<Array<[string, string]>>;
}

function declarationsOf(block: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let depth = 0;
  let quote = "";
  let start = 0;
  const take = (end: number) => {
    const part = block.slice(start, end);
    const colon = part.indexOf(":");
    if (colon > 0) {
      const name = part.slice(0, colon).trim().toLowerCase();
      const value = part.slice(colon + 1).replace(/!important\s*$/i, "").trim();
      if (name && value) out.push([name, value]);
    }
  };
  for (let i = 0; i < block.length; i++) {
    const ch = block[i]!;
    if (quote) {
      if (ch === quote) quote = "";
      else if (ch === "\\") i++;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "(") depth++;
    else if (ch === ")") depth = Math.max(0, depth - 1);
    else if (ch === ";" && depth === 0) {
      take(i);
      start = i + 1;
    }
  }
  take(block.length);
  return out;
}

/** The index of the `}` closing the block opened just before `from`, or -1. Strings are skipped. */
function blockEnd(css: string, from: number): number {
  let depth = 1;
  let quote = "";
  for (let i = from; i < css.length; i++) {
    const ch = css[i]!;
    if (quote) {
      if (ch === quote) quote = "";
      else if (ch === "\\") i++;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * A small, forgiving CSS reader: style rules (inside @media/@supports/@layer too) and @font-face
 * blocks; other at-rules are skipped. Enough to read colours and fonts, not a full parser.
 *
 * @example parseCss(":root{--brand:#0a7d5a}").rules[0] // { selector: ":root", declarations: [["--brand", "#0a7d5a"]] }
 */
export function parseCss(input: string, into: ParsedCss = { rules: [], fontFaces: [] }): ParsedCss {
  const css = input.replace(/\/\*[\s\S]*?(\*\/|$)/g, "").replace(/<!--|-->/g, "");
  let i = 0;
  while (i < css.length && into.rules.length < SCAN_LIMITS.MAX_CSS_RULES) {
    const open = css.indexOf("{", i);
    const semicolon = css.indexOf(";", i);
    // A statement at-rule (@import, @charset) ends at its semicolon.
    if (semicolon >= 0 && (open < 0 || semicolon < open) && css.slice(i, semicolon).trim().startsWith("@")) {
      i = semicolon + 1;
      continue;
    }
    if (open < 0) break;
    const prelude = css.slice(i, open).trim();
    const end = blockEnd(css, open + 1);
    const body = css.slice(open + 1, end < 0 ? css.length : end);
    i = end < 0 ? css.length : end + 1;
    if (prelude.startsWith("@")) {
      const name = prelude.slice(1).split(/[\s({]/)[0]!.toLowerCase();
      if (name === "font-face") into.fontFaces.push(declarationsOf(body));
      else if (["media", "supports", "layer", "container", "document", "scope"].includes(name)) parseCss(body, into);
      continue;
    }
    if (prelude) into.rules.push({ selector: prelude.replace(/\s+/g, " "), declarations: declarationsOf(body) });
  }
  return into;
}

// --- colours -----------------------------------------------------------------------------------

const NAMED_COLORS: Record<string, string> = {
  black: "#000000", white: "#ffffff", red: "#ff0000", green: "#008000", blue: "#0000ff", navy: "#000080", teal: "#008080",
  purple: "#800080", orange: "#ffa500", gold: "#ffd700", gray: "#808080", grey: "#808080", silver: "#c0c0c0", maroon: "#800000",
  olive: "#808000", crimson: "#dc143c", tomato: "#ff6347", coral: "#ff7f50", salmon: "#fa8072", ivory: "#fffff0", beige: "#f5f5dc",
  whitesmoke: "#f5f5f5", snow: "#fffafa", indigo: "#4b0082", darkgreen: "#006400", darkblue: "#00008b", royalblue: "#4169e1",
  steelblue: "#4682b4", slategray: "#708090", darkslategray: "#2f4f4f", hotpink: "#ff69b4", pink: "#ffc0cb", chocolate: "#d2691e",
  sienna: "#a0522d", tan: "#d2b48c", khaki: "#f0e68c", forestgreen: "#228b22", seagreen: "#2e8b57", firebrick: "#b22222",
  rebeccapurple: "#663399", midnightblue: "#191970", dodgerblue: "#1e90ff", turquoise: "#40e0d0", goldenrod: "#daa520",
};

const toHex = (channels: number[]) => `#${channels.map((c) => Math.round(Math.max(0, Math.min(255, c))).toString(16).padStart(2, "0")).join("")}`;

function hslToRgb(h: number, s: number, l: number): number[] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}

function channel(value: string, scale = 255): number {
  const v = value.trim();
  return v.endsWith("%") ? (Number.parseFloat(v) / 100) * scale : Number.parseFloat(v);
}

/** Resolves `var(--name, fallback)` against custom properties (bounded depth: properties may refer to each other). */
export function resolveVars(value: string, vars: ReadonlyMap<string, string>, depth = 0): string {
  if (depth > SCAN_LIMITS.MAX_VAR_DEPTH || !value.includes("var(")) return value;
  const resolved = value.replace(/var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*(?:\([^()]*\)[^()]*)*))?\)/g, (_, name: string, fallback?: string) => vars.get(name) ?? fallback ?? "");
  return resolveVars(resolved, vars, depth + 1);
}

/**
 * A CSS colour value as lower-case `#rrggbb`: hex (3, 4, 6, 8 digits), rgb()/rgba(), hsl()/hsla(),
 * common names, and `var()` references. Mostly transparent colours are not colours a brand is made of.
 *
 * @example parseColor("rgb(33 150 243 / 90%)") // "#2196f3"
 */
export function parseColor(input: string, vars: ReadonlyMap<string, string> = new Map()): string | undefined {
  const value = resolveVars(input, vars).trim().toLowerCase();
  let match = /^#([0-9a-f]{3,8})$/.exec(value);
  if (match) {
    const digits = match[1]!;
    if (digits.length === 3 || digits.length === 4) {
      if (digits.length === 4 && Number.parseInt(digits[3]! + digits[3]!, 16) < 128) return undefined;
      return toHex([...digits.slice(0, 3)].map((d) => Number.parseInt(d + d, 16)));
    }
    if (digits.length === 6 || digits.length === 8) {
      if (digits.length === 8 && Number.parseInt(digits.slice(6), 16) < 128) return undefined;
      return `#${digits.slice(0, 6)}`;
    }
    return undefined;
  }
  match = /^(rgba?|hsla?)\(([^)]*)\)$/.exec(value);
  if (match) {
    const parts = match[2]!.replace(/\//g, " ").split(/[\s,]+/).filter(Boolean);
    if (parts.length < 3) return undefined;
    const alpha = parts[3] === undefined ? 1 : channel(parts[3], 1);
    if (!(alpha >= 0.5)) return undefined;
    if (match[1]!.startsWith("rgb")) {
      const rgb = parts.slice(0, 3).map((p) => channel(p));
      return rgb.every((c) => Number.isFinite(c)) ? toHex(rgb) : undefined;
    }
    const h = Number.parseFloat(parts[0]!);
    const s = Number.parseFloat(parts[1]!) / 100;
    const l = Number.parseFloat(parts[2]!) / 100;
    return [h, s, l].every((n) => Number.isFinite(n)) ? toHex(hslToRgb(((h % 360) + 360) % 360, s, l)) : undefined;
  }
  return Object.hasOwn(NAMED_COLORS, value) ? NAMED_COLORS[value] : undefined;
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

function rgbOf(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

/** 0 (grey) to 1 (fully saturated), HSL saturation. */
export function saturation(hex: string): number {
  const [r, g, b] = rgbOf(hex).map((c) => c / 255) as [number, number, number];
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const l = (max + min) / 2;
  if (max === min) return 0;
  return (max - min) / (1 - Math.abs(2 * l - 1));
}

/** Lightness, 0 (black) to 1 (white). */
export function lightness(hex: string): number {
  const [r, g, b] = rgbOf(hex);
  return (Math.max(r, g, b) + Math.min(r, g, b)) / 510;
}

function distance(a: string, b: string): number {
  const [r1, g1, b1] = rgbOf(a);
  const [r2, g2, b2] = rgbOf(b);
  return Math.hypot(r1 - r2, g1 - g2, b1 - b2);
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
  const ranked = [...buckets.values()].sort((a, b) => b.n - a.n).map((b) => ({ hex: toHex([b.r / b.n, b.g / b.n, b.b / b.n]), share: b.n / Math.max(1, counted) }));
  const picked: Array<{ hex: string; share: number }> = [];
  for (const candidate of ranked) {
    if (candidate.share < 0.02 || picked.length >= max) break;
    const near = picked.find((p) => distance(p.hex, candidate.hex) < 48);
    if (near) near.share += candidate.share;
    else picked.push({ ...candidate });
  }
  return picked;
}

// --- fonts -------------------------------------------------------------------------------------

const GENERIC_FAMILIES = new Set([
  "serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif", "ui-serif", "ui-monospace", "ui-rounded",
  "-apple-system", "blinkmacsystemfont", "inherit", "initial", "unset", "revert", "emoji", "math", "fangsong",
  "apple color emoji", "segoe ui emoji", "segoe ui symbol", "noto color emoji",
]);

/** A font name as a brand may keep it: letters, digits, spaces and hyphens, at most 60 characters. */
export function cleanFontName(name: string): string | undefined {
  const clean = decodeEntities(name).replace(/^["']|["']$/g, "").replace(/[^A-Za-z0-9 -]/g, "").replace(/\s+/g, " ").trim().slice(0, MAX_FONT_NAME_CHARS);
  return clean && !GENERIC_FAMILIES.has(clean.toLowerCase()) && !/^var\b/i.test(clean) ? clean : undefined;
}

/** The first real family of a `font-family` list (generic and system names skipped). */
export function firstFamily(value: string, vars: ReadonlyMap<string, string> = new Map()): string | undefined {
  for (const part of resolveVars(value, vars).split(",")) {
    const name = cleanFontName(part.trim());
    if (name) return name;
  }
  return undefined;
}

// --- the proposal ------------------------------------------------------------------------------

/** Where a proposed value came from, for the review page. */
export interface ColorCandidate {
  hex: string;
  source: string;
}

export interface FontCandidate {
  family: string;
  source: string;
  /** The stack emails are painted with: the family, then a web-safe fallback of the same kind. */
  stack: string;
}

export interface ProposalLogo {
  assetId: string;
  sourceUrl: string;
  source: string;
  width: number | null;
  height: number | null;
}

/** A proposed brand, as stored and shown for review. `brand` is what accepting it creates. */
export interface BrandProposal {
  url: string;
  finalUrl: string;
  brand: {
    name: string;
    colors: { primary: string; secondary?: string; background?: string; text?: string };
    fonts?: { heading?: string; body?: string };
    logoAssetId?: string;
    footer?: { address: string };
  };
  sources: Record<string, string>;
  logo?: ProposalLogo;
  palette: ColorCandidate[];
  fonts: FontCandidate[];
  notes: string[];
}

/** What the CSS of a page says, after reading every stylesheet. */
export interface CssFindings {
  vars: Map<string, string>;
  colorVars: Array<{ name: string; hex: string }>;
  buttons: Array<{ background?: string; color?: string }>;
  links: string[];
  body: { background?: string; color?: string; font?: string };
  headingFont?: string;
  fontFaces: string[];
  fontVars: Array<{ name: string; family: string }>;
}

const ROOT_SELECTOR = /^(:root|html|body|:host|\*|:root\s*,\s*:host|html\s*,\s*body|\[data-theme[^\]]*\]|\.light|\.theme-[\w-]+)$/i;
const BUTTON_SELECTOR = /(^|[\s,>+~.#\[])(button|btn|\.btn|cta|button-primary|btn-primary|shop-now)\b|\[type=["']?submit|(^|[\s,])button\b/i;
const LINK_SELECTOR = /(^|[\s,>+~])a(?![\w-])(:link|:visited|:hover)?(\s*,|\s*$)/i;
const HEADING_SELECTOR = /(^|[\s,>+~])(h1|h2|h3|\.?heading|\.?title|\.?display)\b/i;
const BODY_SELECTOR = /^(html|body|:root|html\s*,\s*body|body\s*,\s*html)$/i;

/**
 * Reads colours and fonts from style sheets and inline styles: custom properties (resolved through
 * each other), button backgrounds, link colours, the body's colours and font, headings' font, and
 * `@font-face` families.
 */
export function readCss(sheets: string[], inline: PageScan["inlineStyles"] = []): CssFindings {
  const parsed: ParsedCss = { rules: [], fontFaces: [] };
  for (const sheet of sheets) parseCss(sheet, parsed);
  const vars = new Map<string, string>();
  // Root-level custom properties win over ones scoped to components.
  const rootFirst = [...parsed.rules.filter((r) => !ROOT_SELECTOR.test(r.selector)), ...parsed.rules.filter((r) => ROOT_SELECTOR.test(r.selector))];
  for (const rule of rootFirst) for (const [name, value] of rule.declarations) if (name.startsWith("--")) vars.set(name, value);

  const findings: CssFindings = { vars, colorVars: [], buttons: [], links: [], body: {}, fontFaces: [], fontVars: [] };
  for (const [name, value] of vars) {
    const hex = parseColor(value, vars);
    if (hex) findings.colorVars.push({ name, hex });
    else if (/font|family|typeface/i.test(name)) {
      const family = firstFamily(value, vars);
      if (family) findings.fontVars.push({ name, family });
    }
  }
  const colorOf = (declarations: Array<[string, string]>, prop: "background" | "color") => {
    for (const [name, value] of [...declarations].reverse()) {
      if (prop === "color" && name === "color") return parseColor(value, vars) ?? firstColorIn(value, vars);
      if (prop === "background" && (name === "background-color" || name === "background")) return firstColorIn(value, vars);
    }
    return undefined;
  };
  const fontOf = (declarations: Array<[string, string]>) => {
    for (const [name, value] of [...declarations].reverse()) {
      if (name === "font-family") return firstFamily(value, vars);
      if (name === "font") return firstFamily(value.replace(/^.*?\d[\w.%]*(\s*\/\s*[\w.%]+)?\s+/, ""), vars);
    }
    return undefined;
  };
  const take = (kind: "body" | "button" | "link" | "heading", declarations: Array<[string, string]>) => {
    if (kind === "button") {
      const background = colorOf(declarations, "background");
      const color = colorOf(declarations, "color");
      if (background || color) findings.buttons.push({ ...(background ? { background } : {}), ...(color ? { color } : {}) });
    } else if (kind === "link") {
      const color = colorOf(declarations, "color");
      if (color) findings.links.push(color);
    } else if (kind === "heading") {
      findings.headingFont ??= fontOf(declarations);
    } else {
      findings.body.background ??= colorOf(declarations, "background");
      findings.body.color ??= colorOf(declarations, "color");
      findings.body.font ??= fontOf(declarations);
    }
  };
  // Inline style attributes first: they win over style sheets in the page, and here the first value found wins.
  for (const item of inline) take(item.kind, declarationsOf(item.style));
  for (const rule of parsed.rules) {
    if (BODY_SELECTOR.test(rule.selector)) take("body", rule.declarations);
    if (BUTTON_SELECTOR.test(rule.selector)) take("button", rule.declarations);
    else if (LINK_SELECTOR.test(rule.selector)) take("link", rule.declarations);
    if (HEADING_SELECTOR.test(rule.selector)) take("heading", rule.declarations);
  }
  for (const face of parsed.fontFaces) {
    const family = face.find(([name]) => name === "font-family")?.[1];
    const clean = family ? cleanFontName(family) : undefined;
    if (clean && !findings.fontFaces.includes(clean)) findings.fontFaces.push(clean);
  }
  return findings;
}

const TITLE_SEPARATOR = /\s+[|–—·:•»-]\s+|\s*[|–—·•»]\s*/;
const GENERIC_TITLE_PARTS = /^(home|homepage|home page|welcome|official (web)?site|shop|store|online shop|start)$/i;

/** The brand name: og:site_name, application-name, JSON-LD Organization, else the title's most name-like part. */
export function proposeName(scan: PageScan, organization: Organization | undefined): { value: string; source: string } {
  const pick = (value: string | undefined) => (value ? cleanText(value).slice(0, MAX_NAME_CHARS) : "");
  if (pick(scan.siteName)) return { value: pick(scan.siteName), source: "og:site_name" };
  if (pick(scan.applicationName)) return { value: pick(scan.applicationName), source: "application-name" };
  if (pick(organization?.name)) return { value: pick(organization?.name), source: "JSON-LD Organization" };
  if (scan.title) {
    const parts = scan.title.split(TITLE_SEPARATOR).map((p) => p.trim()).filter((p) => p && !GENERIC_TITLE_PARTS.test(p));
    const host = new URL(scan.pageUrl).hostname.replace(/^www\./, "").split(".")[0]!.replace(/[^a-z0-9]/gi, "").toLowerCase();
    const squash = (s: string) => s.replace(/[^a-z0-9]/gi, "").toLowerCase();
    const byHost = parts.find((p) => host.length > 2 && (squash(p).includes(host) || host.includes(squash(p))));
    const chosen = byHost ?? parts[0] ?? scan.title;
    return { value: pick(chosen), source: "title" };
  }
  const host = new URL(scan.pageUrl).hostname.replace(/^www\./, "");
  return { value: host.slice(0, MAX_NAME_CHARS), source: "host name" };
}

export interface Organization {
  name?: string;
  logo?: string;
  address?: string;
}

/** The first Organization-like JSON-LD object on the page (name, logo, postal address). */
export function organizationFromJsonLd(blocks: string[], base: string): Organization | undefined {
  const queue: unknown[] = [];
  for (const block of blocks) {
    try {
      queue.push(JSON.parse(block));
    } catch {
      // malformed JSON-LD is common; ignored
    }
  }
  for (let seen = 0; queue.length > 0 && seen < 200; seen++) {
    const item = queue.shift();
    if (Array.isArray(item)) {
      queue.push(...item);
      continue;
    }
    if (!item || typeof item !== "object") continue;
    const node = item as Record<string, unknown>;
    if (Array.isArray(node["@graph"])) queue.push(...(node["@graph"] as unknown[]));
    const type = ([] as unknown[]).concat(node["@type"] ?? []).map(String).join(" ");
    if (!/Organization|Corporation|Store|LocalBusiness|Brand|Restaurant|Shop/i.test(type)) continue;
    const logo = typeof node.logo === "string" ? node.logo : typeof (node.logo as { url?: unknown })?.url === "string" ? (node.logo as { url: string }).url : undefined;
    const a = node.address as Record<string, unknown> | string | undefined;
    const address = typeof a === "string" ? a : a && typeof a === "object"
      ? [a.streetAddress, [a.postalCode, a.addressLocality].filter((x) => typeof x === "string").join(" "), a.addressRegion, a.addressCountry]
          .filter((x): x is string => typeof x === "string" && x.trim() !== "")
          .join("\n")
      : undefined;
    return { name: typeof node.name === "string" ? node.name : undefined, logo: logo ? absolute(logo, base) : undefined, address: address || undefined };
  }
  return undefined;
}

const STREET = /\b\d{1,5}[a-z]?\s+(?:[A-Z][\w'.-]*\s+){0,4}(street|st\.?|avenue|ave\.?|road|rd\.?|boulevard|blvd\.?|lane|ln\.?|drive|dr\.?|way|place|pl\.?|square|sq\.?|court|ct\.?|terrace|parkway|highway|hwy)(\b|$)|\b(rue|via|calle|avenida|strada|straße|strasse|weg|gasse|platz|laan|straat)\b/i;
const POSTAL = /\b[A-Z]{2}\s+\d{5}(-\d{4})?\b|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b|\b\d{4,5}\s+[A-Z][a-zäöüé]+/;

/** A postal address from `<address>`, JSON-LD, or the footer line that looks like a street (and the line after it). */
export function proposeAddress(scan: PageScan, organization: Organization | undefined): { value: string; source: string } | undefined {
  const fit = (value: string) => value.slice(0, MAX_ADDRESS_CHARS).trim();
  if (scan.addressText && (STREET.test(scan.addressText) || POSTAL.test(scan.addressText))) return { value: fit(scan.addressText), source: "<address>" };
  if (organization?.address) return { value: fit(organization.address), source: "JSON-LD address" };
  const lines = scan.footerText.split(/\n|\s{2,}|\s[|·•]\s/).map(cleanText).filter(Boolean);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > 160 || !(STREET.test(line) || POSTAL.test(line))) continue;
    const next = lines[i + 1];
    const withNext = next && !STREET.test(line.replace(STREET, "")) && POSTAL.test(next) && !POSTAL.test(line) ? `${line}\n${next}` : line;
    return { value: fit(withNext.replace(/^©.*?\.\s*/, "")), source: "footer" };
  }
  if (scan.addressText) return { value: fit(scan.addressText), source: "<address>" };
  return undefined;
}

/** Candidate logos, best first: an `<img>` marked logo, the apple-touch-icon, other icons (largest first), JSON-LD logo, og:image. */
export function logoCandidates(scan: PageScan, organization: Organization | undefined): Array<{ url: string; source: string }> {
  const size = (icon: IconLink) => Math.max(0, ...(icon.sizes ?? "").split(/\s+/).map((s) => Number.parseInt(s, 10) || 0));
  const raster = (url: string) => !/\.svg(\?|#|$)/i.test(url) && !url.startsWith("data:image/svg");
  const touch = scan.icons.filter((i) => i.rel.includes("apple-touch-icon"));
  const icons = scan.icons.filter((i) => !i.rel.includes("apple-touch-icon") && !i.rel.includes("mask-icon") && i.type !== "image/svg+xml").sort((a, b) => size(b) - size(a));
  const list = [
    ...scan.logoImages.map((img) => ({ url: img.src, source: "<img> marked logo" })),
    ...touch.map((icon) => ({ url: icon.href, source: "apple-touch-icon" })),
    ...icons.map((icon) => ({ url: icon.href, source: "icon" })),
    ...(organization?.logo ? [{ url: organization.logo, source: "JSON-LD logo" }] : []),
    ...(scan.ogImage ? [{ url: scan.ogImage, source: "og:image" }] : []),
  ];
  const seen = new Set<string>();
  return list.filter((c) => raster(c.url) && !seen.has(c.url) && seen.add(c.url));
}

type VarRole = "primary" | "secondary" | "background" | "text";
const ROLE_WORDS: Record<string, VarRole> = {
  primary: "primary", brand: "primary", main: "primary", theme: "primary", key: "primary",
  secondary: "secondary", accent: "secondary", highlight: "secondary", tertiary: "secondary",
  bg: "background", background: "background", surface: "background", canvas: "background", paper: "background", base: "background",
  text: "text", foreground: "text", fg: "text", ink: "text", body: "text", copy: "text",
};
const MODIFIERS = /^(light|lighter|lightest|dark|darker|darkest|hover|active|focus|muted|soft|subtle|strong|alt|rgb|hsl|\d+)$/;

/**
 * What a custom property's name says it is for: the last role word wins (`--brand-secondary` is
 * secondary), trailing shade words mark a variant (`--brand-primary-dark`), and `--on-…` is text.
 *
 * @example varRole("--color-bg") // { role: "background", modified: false }
 */
export function varRole(name: string): { role?: VarRole; modified: boolean } {
  const tokens = name.replace(/^--/, "").toLowerCase().split(/[-_]+/).filter(Boolean);
  let modified = false;
  while (tokens.length > 1 && MODIFIERS.test(tokens[tokens.length - 1]!)) {
    tokens.pop();
    modified = true;
  }
  if (tokens.includes("on")) return { role: "text", modified };
  for (let i = tokens.length - 1; i >= 0; i--) {
    const role = ROLE_WORDS[tokens[i]!];
    if (role) return { role, modified };
  }
  return { modified };
}

/**
 * Turns everything found into one proposal: name, colours (theme-color, CSS custom properties,
 * buttons and links, then the logo's own colours), fonts with web-safe fallbacks, and the footer
 * address. Every choice records its source, and the candidates stay in the proposal for review.
 */
export function assembleProposal(input: {
  url: string;
  scan: PageScan;
  css: CssFindings;
  organization?: Organization;
  logo?: ProposalLogo;
  logoColors?: Array<{ hex: string; share: number }>;
  notes: string[];
}): BrandProposal {
  const { scan, css } = input;
  const sources: Record<string, string> = {};
  const palette: ColorCandidate[] = [];
  const add = (hex: string | undefined, source: string) => {
    if (hex && !palette.some((c) => c.hex === hex)) palette.push({ hex, source });
  };
  const themeColors = scan.themeColors.map((value) => parseColor(value)).filter((hex): hex is string => !!hex);
  for (const hex of themeColors) add(hex, "theme-color");
  const roleVars = (role: VarRole) => {
    const all = css.colorVars.map((v) => ({ ...v, ...varRole(v.name) })).filter((v) => v.role === role);
    const plain = all.filter((v) => !v.modified);
    return plain.length > 0 ? plain : all;
  };
  const primaryVars = roleVars("primary");
  const secondaryVars = roleVars("secondary");
  for (const v of primaryVars) add(v.hex, `CSS ${v.name}`);
  for (const v of secondaryVars) add(v.hex, `CSS ${v.name}`);
  for (const b of css.buttons) add(b.background, "button background");
  for (const link of css.links) add(link, "link colour");
  for (const c of input.logoColors ?? []) if (isBrandish(c.hex)) add(c.hex, `logo (${Math.round(c.share * 100)}% of its pixels)`);
  for (const v of css.colorVars) add(v.hex, `CSS ${v.name}`);
  add(css.body.background, "page background");
  add(css.body.color, "text colour");

  const brandish = palette.filter((c) => isBrandish(c.hex));
  const primary = brandish[0] ?? palette.find((c) => lightness(c.hex) < 0.5) ?? { hex: "#111111", source: "default (nothing on the page said)" };
  sources.primary = primary.source;
  const secondary = brandish.find((c) => c.hex !== primary.hex && distance(c.hex, primary.hex) > 60);
  if (secondary) sources.secondary = secondary.source;

  const backgroundVar = roleVars("background").find((v) => lightness(v.hex) > 0.85 || lightness(v.hex) < 0.15);
  const background = backgroundVar ? { hex: backgroundVar.hex, source: `CSS ${backgroundVar.name}` } : css.body.background ? { hex: css.body.background, source: "page background" } : themeColors.find((hex) => lightness(hex) > 0.9) ? { hex: themeColors.find((hex) => lightness(hex) > 0.9)!, source: "theme-color" } : undefined;
  if (background) sources.background = background.source;
  const textVar = roleVars("text").find((v) => !background || contrastRatio(v.hex, background.hex) >= 3);
  const text = textVar ? { hex: textVar.hex, source: `CSS ${textVar.name}` } : css.body.color ? { hex: css.body.color, source: "text colour" } : undefined;
  if (text) sources.text = text.source;

  const fonts: FontCandidate[] = [];
  const addFont = (family: string | undefined, source: string) => {
    if (family && !fonts.some((f) => f.family.toLowerCase() === family.toLowerCase())) fonts.push({ family, source, stack: fontStack(family) });
  };
  const headingVar = css.fontVars.find((v) => /head|display|title|serif/i.test(v.name));
  const bodyVar = css.fontVars.find((v) => /body|text|base|sans|main|primary/i.test(v.name));
  addFont(css.headingFont, "headings' font-family");
  addFont(headingVar?.family, `CSS ${headingVar?.name}`);
  addFont(css.body.font, "body font-family");
  addFont(bodyVar?.family, `CSS ${bodyVar?.name}`);
  for (const face of css.fontFaces) addFont(face, "@font-face");
  for (const linked of scan.linkedFonts) addFont(linked, "font stylesheet link");
  const body = css.body.font ?? bodyVar?.family ?? css.fontFaces[0] ?? scan.linkedFonts[0];
  const heading = css.headingFont ?? headingVar?.family ?? [...css.fontFaces, ...scan.linkedFonts].find((f) => f !== body) ?? body;
  if (body) sources.bodyFont = fonts.find((f) => f.family === body)?.source ?? "";
  if (heading) sources.headingFont = fonts.find((f) => f.family === heading)?.source ?? "";

  const name = proposeName(scan, input.organization);
  sources.name = name.source;
  const address = proposeAddress(scan, input.organization);
  if (address) sources.address = address.source;
  if (input.logo) sources.logo = input.logo.source;

  return {
    url: input.url,
    finalUrl: scan.pageUrl,
    brand: {
      name: name.value || "Imported brand",
      colors: { primary: primary.hex, ...(secondary ? { secondary: secondary.hex } : {}), ...(background ? { background: background.hex } : {}), ...(text ? { text: text.hex } : {}) },
      ...(heading || body ? { fonts: { ...(heading ? { heading } : {}), ...(body ? { body } : {}) } } : {}),
      ...(input.logo ? { logoAssetId: input.logo.assetId } : {}),
      ...(address ? { footer: { address: address.value } } : {}),
    },
    sources,
    ...(input.logo ? { logo: input.logo } : {}),
    palette: palette.slice(0, 16),
    fonts: fonts.slice(0, 12),
    notes: input.notes.slice(0, 50),
  };
}
