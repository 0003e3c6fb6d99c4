import mjml2html from "mjml";
import type { Brand, EmailDocument, Section } from "./document";
import { escapeHtml } from "./safety";
import { emailTheme, type EmailTheme } from "./theme";
import { sectionModule } from "./sections";
import { darkModeCss, darkPaletteOf } from "./dark-mode";
import { column, cssId, EMAIL_WIDTH_PX, GUTTER_PX, image, row } from "./sections/mjml";
import type { RenderContext } from "./sections/section";

export { EMAIL_WIDTH_PX };

/**
 * Rendering is a pure function: document + brand → MJML → table-based, responsive HTML with CSS
 * inlined by MJML. This file builds the frame (head, logo, dark mode, the editor's section markers);
 * each section becomes MJML in its own module's `render` (`sections/<type>.ts`). Every string from the
 * document or the brand is escaped and every URL filtered, so nothing a person or an agent wrote can
 * become markup.
 */

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
  /** The editor's canvas render: editable texts carry `data-ds-section`/`data-ds-field`. Never for exports or sends. */
  edit?: boolean;
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

/** Builds the MJML source (no compilation). Errors are document problems found on the way. */
export function buildMjml(options: RenderOptions): { mjml: string; errors: RenderIssue[] } {
  const theme = emailTheme(options.brand);
  const ctx: RenderContext = { theme, brand: options.brand, ...(options.edit ? { edit: true } : {}) };
  const errors: RenderIssue[] = [];
  const bodies: string[] = [];
  const markers: string[] = [];
  for (const section of options.document.sections) {
    // Own keys only: a type such as "toString" must not reach Object.prototype.
    const module = sectionModule(section.type);
    if (!module) {
      errors.push({ message: `Section "${String(section.id)}" has an unknown type "${String(section.type)}" and was left out.` });
      continue;
    }
    bodies.push(module.render(section, ctx));
    markers.push(sectionMarker(section));
  }
  const preheader = options.preheader ?? options.document.preheader ?? "";
  const head = [
    options.document.subject ? `<mj-title>${escapeHtml(options.document.subject)}</mj-title>` : "",
    preheader ? `<mj-preview>${escapeHtml(preheader)}</mj-preview>` : "",
    headAttributes(theme),
    `<mj-style>${darkModeCss(darkPaletteOf(options.brand))}</mj-style>`,
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

function logo(ctx: RenderContext): string {
  const img = image(ctx.brand.logoUrl, ctx.brand.name, { width: "160px", align: "center", padding: `24px ${GUTTER_PX}px 8px` });
  return img ? `    <mj-wrapper css-class="ds-logo ds-surface" padding="0">${row([column(img)])}</mj-wrapper>` : "";
}

