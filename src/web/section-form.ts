import { SECTIONS, SECTION_TYPES, sectionModule, type SectionType } from "../email/sections";
import type { SectionFormSpec } from "../email/sections/section";

/**
 * How each section type's fields appear in the editor's in-place form, and how a posted form turns
 * back into fields. Field names in the form are `f.<name>` and, for lists, `f.<list>.<index>.<name>`.
 */

export type { FieldKind, FieldSpec, ListSpec, SectionFormSpec } from "../email/sections/section";

/** Labels and inputs per section type (each from its module's `form`). */
export const SECTION_FORMS = Object.fromEntries(SECTION_TYPES.map((type) => [type, SECTIONS[type].form])) as Record<SectionType, SectionFormSpec>;

/** What the brand form suggests for each step of the formula (shown as the guidance placeholder). */
export const SECTION_GUIDANCE = Object.fromEntries(SECTION_TYPES.map((type) => [type, SECTIONS[type].guidance])) as Record<SectionType, string>;

/** A short line that says what a section contains, for the section list. */
export function sectionSummary(type: string, fields: Record<string, unknown>): string {
  const summary = sectionModule(type)?.summary;
  if (summary) return summary(fields as never);
  const pick = (...names: string[]) => names.map((n) => fields[n]).find((v): v is string => typeof v === "string" && v.trim() !== "");
  return pick("headline", "text", "name", "label", "quote", "alt", "subheadline") ?? "";
}

/**
 * Turns a posted section form into fields. Empty strings are kept only for fields the section
 * already had (so clearing a field clears it); list rows left empty are dropped.
 */
export function fieldsFromForm(type: SectionType, form: Record<string, unknown>, current: Record<string, unknown>): Record<string, unknown> {
  const spec = SECTION_FORMS[type];
  const value = (key: string) => (typeof form[key] === "string" ? (form[key] as string) : undefined);
  const fields: Record<string, unknown> = {};
  for (const field of spec.fields) {
    const v = value(`f.${field.name}`);
    if (v === undefined) continue;
    const trimmed = field.kind === "long" ? v.replace(/\r\n/g, "\n").trim() : v.trim();
    if (trimmed === "" && !(field.name in current)) continue;
    fields[field.name] = trimmed;
  }
  if (spec.list) {
    const rows = new Map<number, Record<string, string>>();
    for (const key of Object.keys(form)) {
      const match = new RegExp(`^f\\.${spec.list.name}\\.(\\d+)\\.(\\w+)$`).exec(key);
      if (!match || !spec.list.fields.some((f) => f.name === match[2])) continue;
      const row = rows.get(Number(match[1])) ?? {};
      const v = value(key)!.trim();
      if (v !== "") row[match[2]!] = v;
      rows.set(Number(match[1]), row);
    }
    const items = [...rows.entries()].sort(([a], [b]) => a - b).map(([, row]) => row).filter((row) => Object.keys(row).length > 0);
    if (rows.size > 0) fields[spec.list.name] = items;
  }
  return fields;
}
