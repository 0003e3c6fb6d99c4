import { contrastRatio, fontStack } from "../../email/theme";
import { colorDistance, isBrandish, lightness, parseColor } from "./colour";
import { absolute, cleanText, type IconLink, type PageScan } from "./html";
import { MAX_ADDRESS_CHARS, MAX_NAME_CHARS } from "./limits";
import type { CssFindings } from "./styles";

/**
 * How what the HTML, the CSS and the logo say becomes one brand proposal: a name, a palette with
 * primary/secondary/background/text picked from it, fonts, a footer address and logo candidates,
 * each with where it came from, for the review page.
 */

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
  const secondary = brandish.find((c) => c.hex !== primary.hex && colorDistance(c.hex, primary.hex) > 60);
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
