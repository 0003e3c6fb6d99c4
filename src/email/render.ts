import mjml2html from "mjml";
import type { Brand, EmailDocument, Section, SectionOf, SectionType } from "./document";
import { escapeHtml, safeImageUrl, safeLinkUrl } from "./safety";
import { emailTheme, pickReadable, type EmailTheme } from "./theme";

/**
 * Rendering is a pure function: document + brand → MJML → table-based, responsive HTML with CSS
 * inlined by MJML. Every string from the document or the brand is escaped here and every URL
 * filtered, so nothing a person or an agent wrote can become markup.
 */

/** The email's content width. */
export const EMAIL_WIDTH_PX = 600;
const GUTTER_PX = 24;
const DARK_BACKGROUND = "#121212";
const DARK_TEXT = "#eeeeee";

export type ValidationLevel = "strict" | "soft";

export interface RenderOptions {
  document: EmailDocument;
  brand: Brand;
  /** Preview text shown after the subject; defaults to `document.preheader`. */
  preheader?: string;
  /** The `lang` of the email (BCP 47); defaults to `en`. */
  lang?: string;
  /** `strict` (tests) reports MJML errors without HTML; `soft` (default) reports them beside the HTML. */
  validationLevel?: ValidationLevel;
  minify?: boolean;
  /** Adds `data-section-id` / `data-section-type` to each section so the editor can map clicks (default true). */
  sectionMarkers?: boolean;
}

/** An MJML validation or rendering problem. */
export interface RenderIssue {
  message: string;
  line?: number;
  tagName?: string;
}

export interface RenderResult {
  mjml: string;
  html: string;
  errors: RenderIssue[];
}

/**
 * Renders an email document with a brand's colours and fonts.
 *
 * @example
 * const { html, errors } = await renderEmail({ document, brand, validationLevel: "strict" });
 */
export async function renderEmail(options: RenderOptions): Promise<RenderResult> {
  const built = buildMjml(options);
  const compiled = await compileMjml(built.mjml, { validationLevel: options.validationLevel, minify: options.minify });
  return { mjml: built.mjml, html: compiled.html, errors: [...built.errors, ...compiled.errors] };
}

/**
 * Compiles MJML to HTML with includes off and without web-font links. In `strict` mode an
 * invalid document yields no HTML and its errors; in `soft` mode both.
 */
export async function compileMjml(
  mjml: string,
  options: { validationLevel?: ValidationLevel; minify?: boolean } = {},
): Promise<{ html: string; errors: RenderIssue[] }> {
  try {
    const result = await mjml2html(mjml, {
      validationLevel: options.validationLevel ?? "soft",
      ignoreIncludes: true,
      fonts: {},
      keepComments: false,
      minify: options.minify ?? false,
    });
    return { html: result.html, errors: result.errors.map(toIssue) };
  } catch (error) {
    const detailed = (error as { errors?: unknown }).errors;
    if (Array.isArray(detailed)) return { html: "", errors: detailed.map(toIssue) };
    return { html: "", errors: [{ message: `MJML could not render the email: ${(error as Error).message}` }] };
  }
}

function toIssue(error: unknown): RenderIssue {
  const e = error as { message?: unknown; line?: unknown; tagName?: unknown; formattedMessage?: unknown };
  const message = typeof e.message === "string" ? e.message : String(error);
  return {
    message: typeof e.line === "number" ? `Line ${e.line}${typeof e.tagName === "string" ? ` (${e.tagName})` : ""}: ${message}` : message,
    ...(typeof e.line === "number" ? { line: e.line } : {}),
    ...(typeof e.tagName === "string" ? { tagName: e.tagName } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// MJML construction.

interface Context {
  theme: EmailTheme;
  brand: Brand;
}

/** Builds the MJML source (no compilation). Errors are document problems found on the way. */
export function buildMjml(options: RenderOptions): { mjml: string; errors: RenderIssue[] } {
  const theme = emailTheme(options.brand);
  const ctx: Context = { theme, brand: options.brand };
  const errors: RenderIssue[] = [];
  const bodies: string[] = [];
  const markers: string[] = [];
  for (const section of options.document.sections) {
    // Own keys only: a type such as "toString" must not reach Object.prototype.
    const render = Object.hasOwn(SECTION_RENDERERS, section.type) ? (SECTION_RENDERERS[section.type] as (s: Section, c: Context) => string) : undefined;
    if (!render) {
      errors.push({ message: `Section "${String(section.id)}" has an unknown type "${String(section.type)}" and was left out.` });
      continue;
    }
    bodies.push(render(section, ctx));
    markers.push(sectionMarker(section));
  }
  const preheader = options.preheader ?? options.document.preheader ?? "";
  const head = [
    options.document.subject ? `<mj-title>${escapeHtml(options.document.subject)}</mj-title>` : "",
    preheader ? `<mj-preview>${escapeHtml(preheader)}</mj-preview>` : "",
    headAttributes(theme),
    `<mj-style>${darkModeCss()}</mj-style>`,
    `<mj-raw><meta name="color-scheme" content="light dark" /><meta name="supported-color-schemes" content="light dark" /></mj-raw>`,
    options.sectionMarkers === false || markers.length === 0 ? "" : `<mj-html-attributes>${markers.join("")}</mj-html-attributes>`,
  ].join("\n    ");
  const mjml = [
    `<mjml lang="${escapeHtml(safeLang(options.lang))}" dir="ltr">`,
    `  <mj-head>\n    ${head}\n  </mj-head>`,
    `  <mj-body width="${EMAIL_WIDTH_PX}px" background-color="${theme.background}" css-class="ds-body">`,
    logo(ctx),
    ...bodies,
    `  </mj-body>`,
    `</mjml>`,
  ]
    .filter(Boolean)
    .join("\n");
  return { mjml, errors };
}

function safeLang(lang: string | undefined): string {
  return lang && /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/.test(lang) ? lang : "en";
}

/** Section ids are validated, but the renderer never trusts that: anything else becomes `-`. */
function cssId(id: string): string {
  return String(id).replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64) || "section";
}

function sectionMarker(section: Section): string {
  return (
    `<mj-selector path=".ds-s-${cssId(section.id)}">` +
    `<mj-html-attribute name="data-section-id">${escapeHtml(String(section.id))}</mj-html-attribute>` +
    `<mj-html-attribute name="data-section-type">${escapeHtml(section.type)}</mj-html-attribute>` +
    `</mj-selector>`
  );
}

function headAttributes(theme: EmailTheme): string {
  return (
    `<mj-attributes>` +
    `<mj-all font-family="${theme.bodyFont}" />` +
    `<mj-wrapper padding="0" />` +
    `<mj-section padding="0" />` +
    `<mj-text color="${theme.text}" font-size="16px" line-height="1.5" padding="8px ${GUTTER_PX}px" />` +
    `<mj-image padding="0" />` +
    // Font stacks are built from a sanitised alphabet by \`fontStack\`; they stay unescaped so the
    // quotes around multi-word names reach the CSS as quotes.
    `<mj-button font-family="${theme.headingFont}" />` +
    `</mj-attributes>`
  );
}

/**
 * Clients that honour `prefers-color-scheme` (Apple Mail, Outlook for Mac/iOS) get a dark surface
 * and light text; brand-coloured blocks (hero, buttons) keep their readable brand pairs.
 */
function darkModeCss(): string {
  return (
    `@media (prefers-color-scheme: dark) { ` +
    `body, .ds-body, .ds-body > div, .ds-surface, .ds-surface > table { background: ${DARK_BACKGROUND} !important; background-color: ${DARK_BACKGROUND} !important; } ` +
    `.ds-surface div, .ds-surface h1, .ds-surface h2, .ds-surface h3, .ds-surface p, .ds-surface a.ds-link { color: ${DARK_TEXT} !important; } }`
  );
}

function attrs(values: Record<string, string | number | undefined>): string {
  return Object.entries(values)
    .filter(([, value]) => value !== undefined && value !== "")
    .map(([key, value]) => ` ${key}="${escapeHtml(String(value))}"`)
    .join("");
}

/** Escaped text with blank-line paragraphs and single line breaks kept. */
function paragraphs(text: string, style: string): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((p) => `<p style="${style}">${escapeHtml(p.trim()).replace(/\n/g, "<br />")}</p>`)
    .join("");
}

function heading(level: 1 | 2 | 3, text: string, color: string, ctx: Context, align = "left"): string {
  const size = level === 1 ? 32 : level === 2 ? 24 : 18;
  const style = `margin:0 0 8px;font-family:${ctx.theme.headingFont};font-size:${size}px;line-height:1.25;font-weight:bold;color:${color};text-align:${align};`;
  return `<h${level} style="${style}">${escapeHtml(text)}</h${level}>`;
}

const P_STYLE = "margin:0 0 12px;";

function wrapper(section: Section, inner: string, options: { background: string; surface?: boolean; padding?: string }): string {
  const classes = `ds-section ds-s-${cssId(section.id)}${options.surface === false ? "" : " ds-surface"}`;
  return `    <mj-wrapper${attrs({ "css-class": classes, "background-color": options.background, padding: options.padding ?? "16px 0" })}>\n${inner}\n    </mj-wrapper>`;
}

function column(content: string, extra: Record<string, string | undefined> = {}): string {
  return `<mj-column${attrs(extra)}>${content}</mj-column>`;
}

function row(columns: string[], extra: Record<string, string | undefined> = {}): string {
  return `      <mj-section${attrs(extra)}>${columns.join("")}</mj-section>`;
}

function image(src: string | undefined, alt: string, extra: Record<string, string | undefined> = {}): string {
  const safe = safeImageUrl(src);
  if (!safe) return "";
  return `<mj-image${attrs({ src: safe, alt, ...extra })} />`;
}

function linkColor(ctx: Context): string {
  return pickReadable(ctx.theme.background, [ctx.theme.primary, ctx.theme.heading, ctx.theme.text]);
}

function logo(ctx: Context): string {
  const img = image(ctx.brand.logoUrl, ctx.brand.name, { width: "160px", align: "center", padding: `24px ${GUTTER_PX}px 8px` });
  return img ? `    <mj-wrapper css-class="ds-logo ds-surface" padding="0">${row([column(img)])}</mj-wrapper>` : "";
}

/** Splits items into rows of 2 or 3 columns, keeping rows even where possible. */
function chunk<T>(items: readonly T[]): T[][] {
  const size = items.length <= 3 ? Math.max(items.length, 1) : items.length % 3 === 0 ? 3 : 2;
  const rows: T[][] = [];
  for (let i = 0; i < items.length; i += size) rows.push(items.slice(i, i + size));
  return rows;
}

// ---------------------------------------------------------------------------------------------
// One renderer per section type.

function renderHero(section: SectionOf<"hero">, ctx: Context): string {
  const { theme } = ctx;
  const f = section.fields;
  const rows: string[] = [];
  const img = image(f.imageUrl, f.imageAlt, { width: `${EMAIL_WIDTH_PX}px`, "fluid-on-mobile": "true" });
  if (img) rows.push(row([column(img)]));
  const copy = [
    f.headline ? heading(1, f.headline, theme.heroText, ctx, "center") : "",
    f.subheadline ? paragraphs(f.subheadline, `${P_STYLE}font-size:18px;color:${theme.heroText};text-align:center;`) : "",
  ].join("");
  if (copy) rows.push(row([column(`<mj-text align="center" color="${theme.heroText}" padding="24px ${GUTTER_PX}px">${copy}</mj-text>`)]));
  if (rows.length === 0) rows.push(row([column(`<mj-spacer height="48px" />`)]));
  return wrapper(section, rows.join("\n"), { background: theme.heroBackground, surface: false, padding: "0" });
}

function renderHeadline(section: SectionOf<"headline">, ctx: Context): string {
  const f = section.fields;
  const copy = heading(1, f.text, ctx.theme.heading, ctx, "center") + (f.subtext ? paragraphs(f.subtext, `${P_STYLE}font-size:18px;text-align:center;`) : "");
  return wrapper(section, row([column(`<mj-text align="center">${copy}</mj-text>`)]), { background: ctx.theme.background, padding: "24px 0 8px" });
}

function renderIngredient(section: SectionOf<"ingredient">, ctx: Context): string {
  const f = section.fields;
  const copy = `<mj-text>${heading(2, f.name, ctx.theme.heading, ctx)}${paragraphs(f.description, P_STYLE)}</mj-text>`;
  const img = image(f.imageUrl, f.imageAlt ?? "", { padding: `8px ${GUTTER_PX}px` });
  const columns = img ? [column(img, { width: "40%", "vertical-align": "middle" }), column(copy, { width: "60%", "vertical-align": "middle" })] : [column(copy)];
  return wrapper(section, row(columns), { background: ctx.theme.background });
}

function renderBenefits(section: SectionOf<"benefits">, ctx: Context): string {
  const f = section.fields;
  const rows: string[] = [];
  if (f.title) rows.push(row([column(`<mj-text align="center">${heading(2, f.title, ctx.theme.heading, ctx, "center")}</mj-text>`)]));
  for (const items of chunk(f.items)) {
    const columns = items.map((item) =>
      column(`<mj-text>${heading(3, item.title, ctx.theme.heading, ctx)}${item.text ? paragraphs(item.text, P_STYLE) : ""}</mj-text>`),
    );
    rows.push(row(columns));
  }
  return wrapper(section, rows.join("\n"), { background: ctx.theme.background });
}

function renderCta(section: SectionOf<"cta">, ctx: Context): string {
  const { theme } = ctx;
  const f = section.fields;
  const button =
    `<mj-button${attrs({
      href: safeLinkUrl(f.url),
      "background-color": theme.buttonBackground,
      color: theme.buttonText,
      "font-size": "18px",
      "font-weight": "bold",
      "inner-padding": "14px 32px",
      "border-radius": "4px",
      padding: `8px ${GUTTER_PX}px`,
    })}>${escapeHtml(f.label)}</mj-button>`;
  const note = f.note ? `<mj-text align="center" font-size="14px">${paragraphs(f.note, `${P_STYLE}text-align:center;`)}</mj-text>` : "";
  return wrapper(section, row([column(button + note)]), { background: theme.background });
}

function renderProductGrid(section: SectionOf<"product-grid">, ctx: Context): string {
  const link = linkColor(ctx);
  const rows = chunk(section.fields.products).map((products) =>
    row(
      products.map((product) => {
        const href = product.url ? safeLinkUrl(product.url) : undefined;
        const img = image(product.imageUrl, product.name, { href, padding: "8px 12px" });
        const copy = [
          heading(3, product.name, ctx.theme.heading, ctx),
          product.description ? paragraphs(product.description, P_STYLE) : "",
          product.price ? `<p style="${P_STYLE}font-weight:bold;">${escapeHtml(product.price)}</p>` : "",
          href ? `<p style="${P_STYLE}"><a class="ds-link" href="${escapeHtml(href)}" style="color:${link};font-weight:bold;">Shop ${escapeHtml(product.name)}</a></p>` : "",
        ].join("");
        return column(`${img}<mj-text padding="8px 12px">${copy}</mj-text>`);
      }),
      { padding: `0 ${GUTTER_PX - 12}px` },
    ),
  );
  return wrapper(section, rows.join("\n"), { background: ctx.theme.background });
}

function renderTestimonial(section: SectionOf<"testimonial">, ctx: Context): string {
  const f = section.fields;
  const quote = paragraphs(`“${f.quote}”`, `${P_STYLE}font-size:20px;font-style:italic;line-height:1.4;`);
  const author = f.author ? `<p style="margin:0;font-weight:bold;">— ${escapeHtml(f.author)}</p>` : "";
  const content = `<mj-text padding="8px 20px">${quote}${author}</mj-text>`;
  return wrapper(section, row([column(content, { "border-left": `4px solid ${ctx.theme.secondary}` })], { padding: `0 ${GUTTER_PX}px` }), {
    background: ctx.theme.background,
  });
}

function renderText(section: SectionOf<"text">, ctx: Context): string {
  return wrapper(section, row([column(`<mj-text>${paragraphs(section.fields.text, P_STYLE)}</mj-text>`)]), { background: ctx.theme.background });
}

function renderImage(section: SectionOf<"image">, ctx: Context): string {
  const f = section.fields;
  const img = image(f.url, f.alt, { href: f.link ? safeLinkUrl(f.link) : undefined, padding: `0 ${GUTTER_PX}px` });
  return wrapper(section, row([column(img || `<mj-spacer height="1px" />`)]), { background: ctx.theme.background });
}

function renderDivider(section: SectionOf<"divider">, ctx: Context): string {
  const divider = `<mj-divider${attrs({ "border-color": ctx.theme.secondary, "border-width": "1px", padding: `8px ${GUTTER_PX}px` })} />`;
  return wrapper(section, row([column(divider)]), { background: ctx.theme.background, padding: "8px 0" });
}

function renderFooter(section: SectionOf<"footer">, ctx: Context): string {
  const f = section.fields;
  const style = `margin:0 0 8px;font-size:12px;line-height:1.5;text-align:center;color:${ctx.theme.text};`;
  const unsubscribe = safeLinkUrl(f.unsubscribeUrl, { allowMergeTag: true });
  const copy = [
    f.companyName ? `<p style="${style}font-weight:bold;">${escapeHtml(f.companyName)}</p>` : "",
    f.address ? paragraphs(f.address, style) : "",
    `<p style="${style}">You are receiving this email because you subscribed to updates from ${escapeHtml(f.companyName || ctx.brand.name)}. <a class="ds-link" href="${escapeHtml(unsubscribe)}" style="color:${ctx.theme.text};text-decoration:underline;">Unsubscribe</a></p>`,
  ].join("");
  return wrapper(section, row([column(`<mj-text align="center" padding="16px ${GUTTER_PX}px">${copy}</mj-text>`)]), {
    background: ctx.theme.background,
    padding: "16px 0 32px",
  });
}

const SECTION_RENDERERS: { [T in SectionType]: (section: SectionOf<T>, ctx: Context) => string } = {
  hero: renderHero,
  headline: renderHeadline,
  ingredient: renderIngredient,
  benefits: renderBenefits,
  cta: renderCta,
  "product-grid": renderProductGrid,
  testimonial: renderTestimonial,
  text: renderText,
  image: renderImage,
  divider: renderDivider,
  footer: renderFooter,
};
