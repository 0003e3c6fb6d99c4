import type { SectionType } from "../email/document";

/**
 * How each section type's fields appear in the editor's in-place form, and how a posted form turns
 * back into fields. Field names in the form are `f.<name>` and, for lists, `f.<list>.<index>.<name>`.
 */

export type FieldKind = "text" | "long" | "url";

export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  hint?: string;
}

export interface ListSpec {
  name: string;
  label: string;
  itemLabel: string;
  fields: FieldSpec[];
}

export interface SectionFormSpec {
  label: string;
  fields: FieldSpec[];
  list?: ListSpec;
}

const IMAGE_HINT = "An https:// image URL; leave empty to keep the generated one.";

/** Labels and inputs per section type. */
export const SECTION_FORMS: Record<SectionType, SectionFormSpec> = {
  hero: {
    label: "Hero",
    fields: [
      { name: "headline", label: "Headline over the image", kind: "text" },
      { name: "subheadline", label: "Subheadline", kind: "text" },
      { name: "imageAlt", label: "Image description (alt text)", kind: "text" },
      { name: "imageUrl", label: "Image URL", kind: "url", hint: IMAGE_HINT },
    ],
  },
  headline: {
    label: "Headline",
    fields: [
      { name: "text", label: "Headline", kind: "text" },
      { name: "subtext", label: "Supporting line", kind: "text" },
    ],
  },
  ingredient: {
    label: "Ingredient highlight",
    fields: [
      { name: "name", label: "Ingredient", kind: "text" },
      { name: "description", label: "Why it matters", kind: "long" },
      { name: "imageUrl", label: "Image URL", kind: "url" },
      { name: "imageAlt", label: "Image description (alt text)", kind: "text" },
    ],
  },
  benefits: {
    label: "Benefits",
    fields: [{ name: "title", label: "Title", kind: "text" }],
    list: { name: "items", label: "Benefits", itemLabel: "Benefit", fields: [{ name: "title", label: "Benefit", kind: "text" }, { name: "text", label: "Detail", kind: "long" }] },
  },
  cta: {
    label: "Call to action",
    fields: [
      { name: "label", label: "Button label", kind: "text" },
      { name: "url", label: "Button link", kind: "url" },
      { name: "note", label: "Note under the button", kind: "text" },
    ],
  },
  "product-grid": {
    label: "Product grid",
    fields: [],
    list: {
      name: "products",
      label: "Products",
      itemLabel: "Product",
      fields: [
        { name: "name", label: "Name", kind: "text" },
        { name: "description", label: "Description", kind: "text" },
        { name: "price", label: "Price", kind: "text" },
        { name: "url", label: "Link", kind: "url" },
        { name: "imageUrl", label: "Image URL", kind: "url" },
      ],
    },
  },
  testimonial: {
    label: "Testimonial",
    fields: [
      { name: "quote", label: "Quote", kind: "long" },
      { name: "author", label: "Who said it", kind: "text" },
    ],
  },
  text: { label: "Text", fields: [{ name: "text", label: "Text", kind: "long" }] },
  image: {
    label: "Image",
    fields: [
      { name: "url", label: "Image URL", kind: "url" },
      { name: "alt", label: "Image description (alt text)", kind: "text" },
      { name: "link", label: "Link (optional)", kind: "url" },
    ],
  },
  divider: { label: "Divider", fields: [] },
  footer: {
    label: "Footer",
    fields: [
      { name: "companyName", label: "Company name", kind: "text" },
      { name: "address", label: "Postal address", kind: "long" },
      { name: "unsubscribeUrl", label: "Unsubscribe link or merge tag", kind: "text" },
    ],
  },
};

/** What the brand form suggests for each step of the formula (shown as the guidance placeholder). */
export const SECTION_GUIDANCE: Record<SectionType, string> = {
  hero: "One striking image that sets the mood, with a short headline over it.",
  headline: "The hook in a few words; promise the reader one clear benefit.",
  ingredient: "Spotlight the one ingredient or feature that makes the product special.",
  benefits: "Three to four concrete benefits, each a short title and one line.",
  cta: "One button with an action verb; repeat the offer beside it.",
  "product-grid": "Two to four products with image, name, price and a link each.",
  testimonial: "A short, specific quote from a real customer.",
  text: "A short paragraph of supporting copy.",
  image: "A full-width image that shows the product in use.",
  divider: "A quiet break between two parts of the email.",
  footer: "Postal address and unsubscribe link (required by law in most places).",
};

/** A short line that says what a section contains, for the section list. */
export function sectionSummary(type: string, fields: Record<string, unknown>): string {
  const pick = (...names: string[]) => names.map((n) => fields[n]).find((v): v is string => typeof v === "string" && v.trim() !== "");
  const list = (name: string) => (Array.isArray(fields[name]) ? (fields[name] as Array<Record<string, unknown>>) : []);
  switch (type) {
    case "benefits":
      return pick("title") ?? list("items").map((i) => String(i.title ?? "")).join(" · ");
    case "product-grid":
      return list("products").map((p) => String(p.name ?? "")).join(" · ");
    case "divider":
      return "—";
    case "footer":
      return pick("companyName", "address") ?? "";
    default:
      return pick("headline", "text", "name", "label", "quote", "alt", "subheadline") ?? "";
  }
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
