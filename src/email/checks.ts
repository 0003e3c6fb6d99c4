import { caniemail, type CanIEmailOptions } from "caniemail";
import type { Brand, EmailDocument, Section, SectionOf } from "./document";
import { formulaOf, HEX_COLOR_PATTERN } from "./document";
import type { RenderIssue } from "./render";
import { sectionModule } from "./sections";
import { inspectUrl } from "./safety";
import { contrastRatio, emailTheme, MIN_CONTRAST_TEXT } from "./theme";
import { findMergeTags, MERGE_TAGS, PLATFORM_LABELS, PLATFORMS, unsupportedMergeTags } from "./merge-tags";

export { contrastRatio } from "./theme";

/**
 * Automatic checks shown beside every version of an email: deliverability and legal basics
 * (unsubscribe, postal address), accessibility (contrast, alt text), links, Gmail clipping,
 * subject/preview length, MJML errors and email-client support of the HTML and CSS used.
 */

export type CheckLevel = "error" | "warning" | "info";

export interface EmailCheck {
  /** Stable and unique within one result, e.g. `alt-missing:hero-1`. */
  id: string;
  level: CheckLevel;
  message: string;
  sectionId?: string;
}

/** Gmail clips messages whose HTML is larger than about 102 KB, hiding the rest (and the unsubscribe link). */
export const GMAIL_CLIP_BYTES = 102 * 1024;
/** Above this share of the clip limit, say so before it is too late. */
const CLIP_WARNING_SHARE = 0.85;
/** Mobile inboxes show about this many characters of a subject. */
export const SUBJECT_RECOMMENDED_MAX_CHARS = 60;
/** Most inboxes show at most this many characters of preview text. */
export const PREHEADER_RECOMMENDED_MAX_CHARS = 130;
/** Shorter preview text gets padded by the client with the email's first lines. */
export const PREHEADER_RECOMMENDED_MIN_CHARS = 30;

/** The clients checked against caniemail's data unless told otherwise: the major ones by market share. */
export const DEFAULT_CLIENTS: CanIEmailOptions["clients"] = ["gmail.*", "outlook.*", "apple-mail.*", "yahoo.*"];

export interface CheckInput {
  document: EmailDocument;
  brand: Brand;
  /** The rendered HTML (as sent, i.e. the export's HTML). */
  html: string;
  /** Defaults to `document.subject`. */
  subject?: string;
  /** Defaults to `document.preheader`. */
  preheader?: string;
  /** `renderEmail`'s `errors`, reported as checks. */
  mjmlErrors?: readonly RenderIssue[];
  /** caniemail client globs; `[]` skips the client-support check. */
  clients?: CanIEmailOptions["clients"];
}

/**
 * Runs every check. Never throws: a check that cannot run reports itself as a warning.
 *
 * @example
 * const checks = checkEmail({ document, brand, html, mjmlErrors: rendered.errors });
 * const blocking = checks.filter((c) => c.level === "error");
 */
export function checkEmail(input: CheckInput): EmailCheck[] {
  return [
    ...mjmlChecks(input.mjmlErrors ?? []),
    ...colorChecks(input.document, input.brand),
    ...altTextChecks(input.document),
    ...linkChecks(input.document),
    ...footerChecks(input.document),
    ...sizeChecks(input.html),
    ...subjectChecks(input.subject ?? input.document.subject, input.preheader ?? input.document.preheader),
    ...formulaChecks(input.document, input.brand),
    ...clientSupportChecks(input.html, input.clients ?? DEFAULT_CLIENTS),
    ...structureChecks(input.html),
    ...mergeTagChecks(input.html),
  ];
}

// ---------------------------------------------------------------------------------------------
// The HTML's structure: language, headings, layout tables, text against images.

/**
 * An email with images reads as "mostly images" to spam filters and to readers with images off
 * below this much text in all, or below this much per image.
 */
export const MIN_TEXT_CHARS = 300;
export const MIN_TEXT_CHARS_PER_IMAGE = 80;

const visibleText = (html: string): string =>
  html
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<(head|style|script|title)\b[\s\S]*?<\/\1>/gi, "")
    .replace(/<div[^>]*display:none[^>]*>[\s\S]*?<\/div>/gi, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/&[a-z#0-9]+;/gi, " ")
    .replace(/\s+/g, " ")
    .trim();

/**
 * Checks a screen reader and a spam filter care about: the `lang` of the document, headings that
 * do not skip levels, layout tables marked `role="presentation"`, and enough text beside the images.
 */
export function structureChecks(html: string): EmailCheck[] {
  if (html.trim() === "") return [];
  const checks: EmailCheck[] = [];
  const htmlTag = /<html\b[^>]*>/i.exec(html)?.[0] ?? "";
  if (!/\slang="[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"/.test(htmlTag)) {
    checks.push({ id: "lang-missing", level: "warning", message: "The email does not say its language (<html lang>): screen readers may read it with the wrong voice." });
  }
  // Outlook-only markup inside conditional comments is not read by anyone else.
  const body = html.replace(/<!--\[if[\s\S]*?<!\[endif\]-->/g, "");
  const levels = [...body.matchAll(/<h([1-6])\b/gi)].map((m) => Number(m[1]));
  for (let i = 0, previous = 0; i < levels.length; previous = levels[i]!, i++) {
    if (levels[i]! > previous + 1) {
      checks.push({ id: "heading-order", level: "warning", message: `Headings skip a level: an <h${levels[i]}> comes ${previous === 0 ? "first, before any <h1>" : `after an <h${previous}>`}. Screen-reader users navigate by headings; go one level down at a time.` });
      break;
    }
  }
  const tables = [...body.matchAll(/<table\b[^>]*>/gi)].map((m) => m[0]);
  const bare = tables.filter((t) => !/\srole="presentation"/i.test(t)).length;
  if (bare > 0) checks.push({ id: "table-role", level: "warning", message: `${bare} of ${tables.length} layout tables lack role="presentation": screen readers will announce them as data tables.` });
  const images = [...body.matchAll(/<img\b/gi)].length;
  const textChars = visibleText(body).length;
  if (images > 0 && textChars < Math.max(MIN_TEXT_CHARS, images * MIN_TEXT_CHARS_PER_IMAGE)) {
    checks.push({ id: "text-image-ratio", level: "warning", message: `The email is mostly images: ${textChars} characters of text for ${images} image${images === 1 ? "" : "s"}. Spam filters distrust that, and with images off little is left; aim for at least ${Math.max(MIN_TEXT_CHARS, images * MIN_TEXT_CHARS_PER_IMAGE)} characters.` });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Merge tags.

/**
 * Tags in braces that are not in the neutral set (a typo such as `{{frist_name}}` would reach every
 * inbox as written), and, per platform, the neutral tags it cannot express.
 */
export function mergeTagChecks(html: string): EmailCheck[] {
  const checks: EmailCheck[] = [];
  const known = new Set(findMergeTags(html).map((t) => t.raw));
  const unknown = [...new Set([...html.matchAll(/\{\{\s*[A-Za-z_][\w.]*\s*(?:\|[^{}]*)?\}\}/g)].map((m) => m[0]).filter((raw) => !known.has(raw)))];
  if (unknown.length > 0) {
    checks.push({ id: "merge-tag-unknown", level: "warning", message: `Unknown merge tag${unknown.length === 1 ? "" : "s"} ${unknown.join(", ")}: no export translates ${unknown.length === 1 ? "it" : "them"}. Use ${MERGE_TAGS.map((t) => t.insert).join(", ")}.` });
  }
  for (const platform of PLATFORMS) {
    const missing = unsupportedMergeTags(html, platform);
    if (missing.length > 0) {
      checks.push({ id: `merge-tag-unsupported:${platform}`, level: "info", message: `${PLATFORM_LABELS[platform]} has no tag for ${missing.map((n) => `{{${n}}}`).join(", ")}: its export keeps the neutral tag; write the value in before sending there.` });
    }
  }
  return checks;
}

function sectionsOf<T extends Section["type"]>(document: EmailDocument, type: T): SectionOf<T>[] {
  return document.sections.filter((s) => s.type === type) as SectionOf<T>[];
}

function mjmlChecks(errors: readonly RenderIssue[]): EmailCheck[] {
  return errors.map((error, index) => ({ id: `mjml:${index + 1}`, level: "error", message: `MJML: ${error.message}` }));
}

// ---------------------------------------------------------------------------------------------
// Colours.

function ratioText(ratio: number): string {
  return `${ratio.toFixed(2)}:1`;
}

function colorChecks(document: EmailDocument, brand: Brand): EmailCheck[] {
  const checks: EmailCheck[] = [];
  for (const [name, value] of Object.entries(brand.colors)) {
    if (value !== undefined && !HEX_COLOR_PATTERN.test(value)) {
      checks.push({ id: `color-invalid:${name}`, level: "warning", message: `The brand's ${name} colour "${value}" is not a hex colour; a default is used instead.` });
    }
  }
  const theme = emailTheme(brand);
  const text = contrastRatio(theme.text, theme.background);
  if (text < MIN_CONTRAST_TEXT) {
    checks.push({
      id: "contrast-text",
      level: "warning",
      message: `Body text (${theme.text}) on the background (${theme.background}) has a contrast of ${ratioText(text)}, below the WCAG AA minimum of 4.5:1. Darken the text or lighten the background.`,
    });
  }
  const cta = sectionsOf(document, "cta")[0];
  const button = contrastRatio(theme.buttonText, theme.buttonBackground);
  if (cta && button < MIN_CONTRAST_TEXT) {
    checks.push({
      id: "contrast-button",
      level: "warning",
      sectionId: cta.id,
      message: `Button text (${theme.buttonText}) on the button colour (${theme.buttonBackground}) has a contrast of ${ratioText(button)}, below 4.5:1. Choose a darker or lighter primary colour.`,
    });
  }
  const hero = sectionsOf(document, "hero").find((s) => s.fields.headline || s.fields.subheadline);
  const heroRatio = contrastRatio(theme.heroText, theme.heroBackground);
  if (hero && heroRatio < MIN_CONTRAST_TEXT) {
    checks.push({
      id: "contrast-hero",
      level: "warning",
      sectionId: hero.id,
      message: `Hero text (${theme.heroText}) on the hero colour (${theme.heroBackground}) has a contrast of ${ratioText(heroRatio)}, below 4.5:1.`,
    });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Images.

interface ImageRef {
  sectionId: string;
  url: string | undefined;
  alt: string | undefined;
  what: string;
}

function imagesOf(section: Section): ImageRef[] {
  const images = sectionModule(section.type)?.images?.(section.fields) ?? [];
  return images.map((image) => ({ sectionId: section.id, ...image }));
}

function altTextChecks(document: EmailDocument): EmailCheck[] {
  const checks: EmailCheck[] = [];
  for (const section of document.sections) {
    imagesOf(section).forEach((image, index) => {
      const suffix = `${section.id}${index > 0 ? `:${index + 1}` : ""}`;
      const verdict = inspectUrl(image.url);
      if (!verdict.ok || verdict.scheme === "mailto") {
        checks.push({ id: `image-url-invalid:${suffix}`, level: "warning", sectionId: section.id, message: `${image.what} has no usable http(s) URL, so it is left out of the email.` });
      } else if (verdict.scheme === "http") {
        checks.push({ id: `image-insecure:${suffix}`, level: "warning", sectionId: section.id, message: `${image.what} is served over http; use https so clients do not block it.` });
      }
      if (!image.alt || image.alt.trim() === "") {
        checks.push({ id: `alt-missing:${suffix}`, level: "warning", sectionId: section.id, message: `${image.what} has no alt text; screen readers and clients that block images show nothing.` });
      }
    });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Links.

function linkChecks(document: EmailDocument): EmailCheck[] {
  const checks: EmailCheck[] = [];
  const ctas = sectionsOf(document, "cta");
  if (ctas.length === 0) checks.push({ id: "cta-missing", level: "warning", message: "The email has no call-to-action section." });
  for (const cta of ctas) {
    const verdict = inspectUrl(cta.fields.url);
    if (!verdict.ok && verdict.reason === "empty") {
      checks.push({ id: `cta-url-missing:${cta.id}`, level: "error", sectionId: cta.id, message: `The button "${cta.fields.label}" has no link.` });
    } else if (!verdict.ok) {
      checks.push({ id: `cta-url-invalid:${cta.id}`, level: "error", sectionId: cta.id, message: `The button "${cta.fields.label}" links to "${cta.fields.url}", which is not an http(s) or mailto link; it is replaced by "#".` });
    } else if (verdict.scheme === "http") {
      checks.push({ id: `link-insecure:${cta.id}`, level: "warning", sectionId: cta.id, message: `The button "${cta.fields.label}" links over http; use https.` });
    }
  }
  for (const section of document.sections) {
    otherLinks(section).forEach((url, index) => {
      const suffix = `${section.id}${index > 0 ? `:${index + 1}` : ""}`;
      const verdict = inspectUrl(url);
      if (!verdict.ok) checks.push({ id: `link-invalid:${suffix}`, level: "warning", sectionId: section.id, message: `The link "${url}" is not an http(s) or mailto link; it is replaced by "#".` });
      else if (verdict.scheme === "http") checks.push({ id: `link-insecure:${suffix}`, level: "warning", sectionId: section.id, message: `The link "${url}" uses http; use https.` });
    });
  }
  return checks;
}

function otherLinks(section: Section): string[] {
  return sectionModule(section.type)?.links?.(section.fields) ?? [];
}

// ---------------------------------------------------------------------------------------------
// Footer (CAN-SPAM and GDPR-style basics: who is sending, and how to stop).

function footerChecks(document: EmailDocument): EmailCheck[] {
  const footers = sectionsOf(document, "footer");
  if (footers.length === 0) {
    return [{ id: "footer-missing", level: "error", message: "The email has no footer: commercial email needs a postal address and an unsubscribe link." }];
  }
  const checks: EmailCheck[] = [];
  for (const footer of footers) {
    if (footer.fields.address.trim() === "") {
      checks.push({ id: `footer-address-missing:${footer.id}`, level: "error", sectionId: footer.id, message: "The footer has no postal address, which commercial email must show (CAN-SPAM)." });
    }
    const verdict = inspectUrl(footer.fields.unsubscribeUrl, { allowMergeTag: true });
    if (!verdict.ok && verdict.reason === "empty") {
      checks.push({ id: `unsubscribe-missing:${footer.id}`, level: "error", sectionId: footer.id, message: "The footer has no unsubscribe link. Add a URL or your ESP's merge tag, such as {{unsubscribe}} or *|UNSUB|*." });
    } else if (!verdict.ok || verdict.scheme === "mailto") {
      checks.push({ id: `unsubscribe-invalid:${footer.id}`, level: "error", sectionId: footer.id, message: `The unsubscribe link "${footer.fields.unsubscribeUrl}" is not an http(s) URL or an ESP merge tag.` });
    }
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Size, subject and preview text.

function kilobytes(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function sizeChecks(html: string): EmailCheck[] {
  const bytes = new TextEncoder().encode(html).byteLength;
  if (bytes > GMAIL_CLIP_BYTES) {
    return [{ id: "html-size", level: "error", message: `The HTML is ${kilobytes(bytes)}; Gmail clips anything over ${kilobytes(GMAIL_CLIP_BYTES)}, hiding the end of the email and its unsubscribe link. Remove sections or export minified.` }];
  }
  const level: CheckLevel = bytes > GMAIL_CLIP_BYTES * CLIP_WARNING_SHARE ? "warning" : "info";
  return [{ id: "html-size", level, message: `The HTML is ${kilobytes(bytes)} of Gmail's ${kilobytes(GMAIL_CLIP_BYTES)} clipping limit.` }];
}

function subjectChecks(subject: string | undefined, preheader: string | undefined): EmailCheck[] {
  const checks: EmailCheck[] = [];
  if (subject !== undefined && subject.trim().length > SUBJECT_RECOMMENDED_MAX_CHARS) {
    checks.push({ id: "subject-length", level: "warning", message: `The subject has ${subject.trim().length} characters; mobile inboxes show about ${SUBJECT_RECOMMENDED_MAX_CHARS}.` });
  }
  const text = (preheader ?? "").trim();
  if (text === "") {
    checks.push({ id: "preheader-missing", level: "warning", message: "The email has no preview text; inboxes will show its first lines instead." });
  } else if (text.length > PREHEADER_RECOMMENDED_MAX_CHARS) {
    checks.push({ id: "preheader-length", level: "warning", message: `The preview text has ${text.length} characters; inboxes show at most about ${PREHEADER_RECOMMENDED_MAX_CHARS}.` });
  } else if (text.length < PREHEADER_RECOMMENDED_MIN_CHARS) {
    checks.push({ id: "preheader-length", level: "info", message: `The preview text has ${text.length} characters; below ${PREHEADER_RECOMMENDED_MIN_CHARS}, inboxes fill the rest with the email's first lines.` });
  }
  return checks;
}

function formulaChecks(document: EmailDocument, brand: Brand): EmailCheck[] {
  if (!brand.formula || brand.formula.length === 0) return [];
  const expected = formulaOf(brand).map((step) => step.type);
  const actual = document.sections.map((section) => section.type);
  if (expected.join(",") === actual.join(",")) return [];
  return [{ id: "formula-order", level: "info", message: `The sections (${actual.join(" → ") || "none"}) differ from the brand's formula (${expected.join(" → ")}).` }];
}

// ---------------------------------------------------------------------------------------------
// Email-client support, from caniemail's data.

/**
 * Features that MJML's table layout uses on purpose, each with a fallback for the clients that lack
 * it (conditional Outlook tables, inline styles): reporting them would bury real findings.
 * The ones whose fallback a reader can see are explained instead of hidden.
 */
const MJML_BASELINE_FEATURES = new Set([
  "Descendant combinator", "ID selector", "Type selector", "Chaining selectors", "Class selector",
  "display:none", "opacity", "cursor", "target attribute", "height property", "<body> element",
  "aria-label attribute", "word-break", "outline", "word-spacing", "max-height property", "overflow",
  "border-spacing", "role attribute", "padding", "margin", "border", "line-height", "text-decoration",
  "display", "width property", "!important keyword", "max-width", "dir attribute", "background",
  "font-size", "text-align", "width attribute", "height attribute", "font-weight", "text-transform",
  "direction", "lang attribute", "align attribute", "font-family", "color",
]);

const EXPLAINED_FEATURES: Record<string, string> = {
  "@media": "Responsive stacking and dark-mode colours do not apply in {clients}; there the email keeps its 600px layout and light colours.",
  "<style> element": "<style> blocks are removed by {clients}; the inlined styles still apply, so only mobile stacking and dark mode are lost there.",
  "color-scheme meta tag": "The dark-mode colour hint is ignored by {clients}, which may invert colours on their own.",
  "border-radius": "Buttons have square corners in {clients}.",
  // Only the Outlook.com dark-mode rules (`[data-ogsc] …`, `[data-ogsb] … > table`) use these.
  "Attribute selector": "The Outlook.com dark-mode rules ([data-ogsc], [data-ogsb]) are skipped by {clients}, which keep their own dark-mode handling.",
  "Child combinator": "The Outlook.com dark-mode rules for nested surfaces are skipped by {clients}, which keep their own dark-mode handling.",
};

const CLIENT_FAMILIES: Record<string, string> = { gmail: "Gmail", outlook: "Outlook", "apple-mail": "Apple Mail", yahoo: "Yahoo Mail" };
const CLIENT_PLATFORMS: Record<string, string> = {
  "desktop-webmail": "webmail",
  "mobile-webmail": "mobile webmail",
  ios: "iOS",
  android: "Android",
  macos: "macOS",
  windows: "Windows",
  "windows-mail": "Windows Mail",
  "outlook-com": "Outlook.com",
};

function clientName(client: string): string {
  const [family = client, platform = ""] = client.split(".");
  return `${CLIENT_FAMILIES[family] ?? family} (${CLIENT_PLATFORMS[platform] ?? platform})`;
}

function listClients(clients: Set<string>): string {
  const names = [...clients].sort().map(clientName);
  return names.length > 4 ? `${names.slice(0, 4).join(", ")} and ${names.length - 4} more` : names.join(", ");
}

function describeGlobs(globs: readonly string[]): string {
  const names = globs.map((glob) => (glob.endsWith(".*") ? (CLIENT_FAMILIES[glob.slice(0, -2)] ?? glob) : clientName(glob)));
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? "no clients");
}

function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function groupByTitle(issues: ReadonlyMap<string, readonly { title: string }[]>): Map<string, Set<string>> {
  const grouped = new Map<string, Set<string>>();
  for (const [client, list] of issues) {
    for (const issue of list) {
      const clients = grouped.get(issue.title) ?? new Set<string>();
      clients.add(client);
      grouped.set(issue.title, clients);
    }
  }
  return grouped;
}

function clientSupportChecks(html: string, clients: CanIEmailOptions["clients"]): EmailCheck[] {
  if (clients.length === 0 || html.trim() === "") return [];
  let result: ReturnType<typeof caniemail>;
  try {
    result = caniemail({ clients, html });
  } catch (error) {
    return [{ id: "client-support", level: "warning", message: `Email-client support could not be checked: ${(error as Error).message}` }];
  }
  const unsupported = groupByTitle(result.issues.errors);
  const partial = groupByTitle(result.issues.warnings);
  const checks: EmailCheck[] = [];
  let handled = 0;
  for (const [title, affected] of unsupported) {
    const explanation = EXPLAINED_FEATURES[title];
    if (explanation) checks.push({ id: `client-support:${slug(title)}`, level: "info", message: explanation.replace("{clients}", listClients(affected)) });
    else if (MJML_BASELINE_FEATURES.has(title)) handled++;
    else checks.push({ id: `client-support:${slug(title)}`, level: "warning", message: `“${title}” is not supported by ${listClients(affected)}.` });
  }
  for (const [title, affected] of partial) {
    if (unsupported.has(title)) continue;
    if (MJML_BASELINE_FEATURES.has(title) || EXPLAINED_FEATURES[title]) handled++;
    else checks.push({ id: `client-support-partial:${slug(title)}`, level: "info", message: `“${title}” is only partly supported by ${listClients(affected)}.` });
  }
  checks.unshift({
    id: "client-support",
    level: "info",
    message: `Checked against caniemail data for ${describeGlobs(clients)}: ${handled} feature${handled === 1 ? "" : "s"} with gaps in some clients ${handled === 1 ? "is" : "are"} covered by MJML's fallbacks.`,
  });
  return checks;
}
