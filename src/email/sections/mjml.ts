import { escapeHtml, safeImageUrl } from "../safety";
import { pickReadable } from "../theme";
import type { RenderContext } from "./section";

/**
 * The MJML building blocks section renderers share. Every attribute value goes through `attrs`
 * (escaped) and every image URL through `image` (filtered), so a renderer that uses them cannot
 * turn a field into markup.
 */

/** The email's content width. */
export const EMAIL_WIDTH_PX = 600;
/** Space left and right of text inside the email. */
export const GUTTER_PX = 24;

/** Section ids are validated, but the renderer never trusts that: anything else becomes `-`. */
export function cssId(id: string): string {
  return String(id).replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64) || "section";
}

/** ` key="value"` pairs, escaped; empty and undefined values left out. */
export function attrs(values: Record<string, string | number | undefined>): string {
  return Object.entries(values)
    .filter(([, value]) => value !== undefined && value !== "")
    .map(([key, value]) => ` ${key}="${escapeHtml(String(value))}"`)
    .join("");
}

/**
 * The editor's canvas marker of a text field: ` data-ds-section="…" data-ds-field="…"` in the
 * editor-only render (`ctx.edit`), nothing otherwise, so exports and sends never carry it.
 */
export function editMark(ctx: RenderContext, sectionId: string, field: string): string {
  return ctx.edit ? attrs({ "data-ds-section": sectionId, "data-ds-field": field }) : "";
}

/**
 * The editor's canvas marker of an image slot (`field` is its URL field, e.g. `imageUrl` or
 * `products.2.imageUrl`): a `css-class` for the `<mj-image>` in the editor-only render, nothing
 * otherwise. MJML puts the class on the image's cell; static/canvas.js reads the field from it.
 */
export function imageMark(ctx: RenderContext, field: string): Record<string, string | undefined> {
  return ctx.edit ? { "css-class": `ds-img ds-img--${field}` } : {};
}

/**
 * The canvas marker of a link a person can change in a popover (`field` is its URL field):
 * ` data-ds-link="…"` on the canvas render, nothing otherwise.
 */
export function linkMark(ctx: RenderContext, sectionId: string, field: string): string {
  return ctx.edit ? attrs({ "data-ds-section": sectionId, "data-ds-link": field }) : "";
}

/** Escaped text with blank-line paragraphs and single line breaks kept (wrapped in a marked `<div>` on the canvas). */
export function paragraphs(text: string, style: string, mark = ""): string {
  const html = text
    .trim()
    .split(/\n\s*\n/)
    .map((p) => `<p style="${style}">${escapeHtml(p.trim()).replace(/\n/g, "<br />")}</p>`)
    .join("");
  return mark ? `<div${mark}>${html}</div>` : html;
}

export function heading(level: 1 | 2 | 3, text: string, color: string, ctx: RenderContext, align = "left", mark = ""): string {
  const size = level === 1 ? 32 : level === 2 ? 24 : 18;
  const style = `margin:0 0 8px;font-family:${ctx.theme.headingFont};font-size:${size}px;line-height:1.25;font-weight:bold;color:${color};text-align:${align};`;
  return `<h${level} style="${style}"${mark}>${escapeHtml(text)}</h${level}>`;
}

export const P_STYLE = "margin:0 0 12px;";

/** The outer `<mj-wrapper>` of a section, with the classes the editor and dark mode use. */
export function wrapper(section: { id: string }, inner: string, options: { background: string; surface?: boolean; padding?: string }): string {
  const classes = `ds-section ds-s-${cssId(section.id)}${options.surface === false ? "" : " ds-surface"}`;
  return `    <mj-wrapper${attrs({ "css-class": classes, "background-color": options.background, padding: options.padding ?? "16px 0" })}>\n${inner}\n    </mj-wrapper>`;
}

export function column(content: string, extra: Record<string, string | undefined> = {}): string {
  return `<mj-column${attrs(extra)}>${content}</mj-column>`;
}

export function row(columns: string[], extra: Record<string, string | undefined> = {}): string {
  return `      <mj-section${attrs(extra)}>${columns.join("")}</mj-section>`;
}

export function image(src: string | undefined, alt: string, extra: Record<string, string | undefined> = {}): string {
  const safe = safeImageUrl(src);
  if (!safe) return "";
  return `<mj-image${attrs({ src: safe, alt, ...extra })} />`;
}

export function linkColor(ctx: RenderContext): string {
  return pickReadable(ctx.theme.background, [ctx.theme.primary, ctx.theme.heading, ctx.theme.text]);
}

/** Splits items into rows of 2 or 3 columns, keeping rows even where possible. */
export function chunk<T>(items: readonly T[]): T[][] {
  const size = items.length <= 3 ? Math.max(items.length, 1) : items.length % 3 === 0 ? 3 : 2;
  const rows: T[][] = [];
  for (let i = 0; i < items.length; i += size) rows.push(items.slice(i, i + size));
  return rows;
}
