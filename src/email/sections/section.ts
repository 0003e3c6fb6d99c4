import type { z } from "zod";
import type { Brand } from "../document";
import type { EmailTheme } from "../theme";
import type { DraftCopy, DraftInput } from "./draft";

/**
 * What one section type is, in one place: its fields schema, how it becomes MJML, how its fields
 * appear in the editor's form, and how the offline writer drafts it. `sections/index.ts` lists the
 * modules; everything else (the document schema, the renderer, the page forms, the offline writer,
 * the checks) reads them from there, so adding a type is one module and one registry line.
 */

/** What the renderer hands every section: the colours and fonts derived from the brand, and the brand. */
export interface RenderContext {
  theme: EmailTheme;
  brand: Brand;
  /** The editor's canvas render: editable texts carry `data-ds-section`/`data-ds-field` (see `editMark`). */
  edit?: boolean;
}

export type FieldKind = "text" | "long" | "url";

/** One input of the editor's in-place form; posted as `f.<name>`. */
export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  hint?: string;
}

/** A repeated group of inputs (benefits, products); posted as `f.<list>.<index>.<name>`. */
export interface ListSpec {
  name: string;
  label: string;
  itemLabel: string;
  fields: FieldSpec[];
}

/** How a section type's fields appear in the editor's form. */
export interface SectionFormSpec {
  label: string;
  fields: FieldSpec[];
  list?: ListSpec;
}

/** An image a section shows, for the alt-text and URL checks. */
export interface SectionImage {
  url: string | undefined;
  alt: string | undefined;
  /** How the check names it: "The hero image". */
  what: string;
}

/** A section of one type as the renderer and the hooks see it. */
export interface TypedSection<T extends string, F> {
  id: string;
  type: T;
  fields: F;
}

/**
 * One section type. Each module declares its fields schema first and annotates the module with it,
 * so the hooks are checked against the fields: `export const ctaSection: SectionModule<"cta", typeof fields> = {…}`.
 */
export interface SectionModule<T extends string = string, S extends z.ZodType = z.ZodType> {
  type: T;
  /** The fields schema (a strict object). */
  fields: S;
  /** The editor's form: label, inputs, an optional repeated list. */
  form: SectionFormSpec;
  /** What the brand form suggests for this step of the formula. */
  guidance: string;
  /** Turns the section into MJML (an `<mj-wrapper>`); every string escaped, every URL filtered. */
  render(section: TypedSection<T, z.infer<S>>, ctx: RenderContext): string;
  /** The offline writer's draft of this section's fields, written from the brief. */
  draft(copy: DraftCopy, input: DraftInput, formula: readonly string[]): z.infer<S>;
  /** A short line that says what the section holds, for the section list (default: its first text field). */
  summary?(fields: z.infer<S>): string;
  /** The images the section shows (for the alt-text and image URL checks). */
  images?(fields: z.infer<S>): SectionImage[];
  /** Links other than a CTA button's (for the link checks). */
  links?(fields: z.infer<S>): string[];
}
