import type { EmailDocument, Section } from "./document";
import { sectionModule } from "./sections";

/**
 * What changed between two versions of an email, in words (the history's notes), and the three-way
 * merge that lets an edit made on an older version land on the newest one when nobody touched what
 * it changes.
 *
 * The merge works on *fields*: the subject, the preheader, the document's `meta`, the list of
 * sections (which ids, in which order: one field), and each field of each section. An edit made on
 * `base` whose result is `yours` merges onto `current` when every field that differs between `base`
 * and `yours` is, in `current`, either still as in `base` or already equal to `yours`. Anything else
 * is a conflict, named field by field, and nothing is merged.
 */

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The top-level fields of a document that merge one by one (the sections are handled apart). */
const DOCUMENT_FIELDS = ["subject", "preheader", "meta"] as const;

/** A section type's name as the editor shows it: "Hero", "Call to action". */
export function sectionLabel(type: string): string {
  return sectionModule(type)?.form.label ?? type;
}

/** A field's name as the editor's form shows it, in running text: "headline over the image". */
export function fieldLabel(type: string, field: string): string {
  const form = sectionModule(type)?.form;
  const label = form?.fields.find((f) => f.name === field)?.label ?? (form?.list?.name === field ? form.list.label : undefined) ?? field;
  return /^[A-Z][a-z]/.test(label) ? label[0]!.toLowerCase() + label.slice(1) : label;
}

/** "a", "a and b", "a, b and c". */
function listed(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

/**
 * One line that says what changed from `before` to `after`, for the history and the version event:
 * "Edited headline in Headline", "Moved Product grid up", "Changed subject and preheader",
 * "Added Text", "Deleted Hero; Edited button label in Call to action".
 *
 * @example
 * describeChange(v1, { ...v1, subject: "New" }) // "Changed subject"
 */
export function describeChange(before: EmailDocument, after: EmailDocument): string {
  const parts: string[] = [];
  const meta = (["subject", "preheader"] as const).filter((key) => !same(before[key], after[key]));
  if (meta.length > 0) parts.push(`Changed ${listed([...meta])}`);

  const was = new Map(before.sections.map((s) => [s.id, s]));
  const now = new Map(after.sections.map((s) => [s.id, s]));
  for (const section of after.sections) {
    if (was.has(section.id)) continue;
    const copy = before.sections.some((s) => s.type === section.type && same(s.fields, section.fields));
    parts.push(`${copy ? "Duplicated" : "Added"} ${sectionLabel(section.type)}`);
  }
  for (const section of before.sections) if (!now.has(section.id)) parts.push(`Deleted ${sectionLabel(section.type)}`);

  const order = { before: before.sections.filter((s) => now.has(s.id)).map((s) => s.id), after: after.sections.filter((s) => was.has(s.id)).map((s) => s.id) };
  if (!same(order.before, order.after)) {
    // One section taken out and put back elsewhere reads as a move; anything more as a reorder.
    // Two neighbours swapped fit either reading; the one moved up is the likelier click.
    const shift = (id: string) => order.after.indexOf(id) - order.before.indexOf(id);
    const moved = order.before
      .filter((id) => same(order.before.filter((x) => x !== id), order.after.filter((x) => x !== id)))
      .sort((a, b) => Math.abs(shift(b)) - Math.abs(shift(a)) || shift(a) - shift(b))[0];
    if (moved) parts.push(`Moved ${sectionLabel(was.get(moved)!.type)} ${shift(moved) < 0 ? "up" : "down"}`);
    else parts.push("Reordered sections");
  }

  for (const section of after.sections) {
    const old = was.get(section.id);
    if (!old || same(old, section)) continue;
    const a = old.fields as Record<string, unknown>;
    const b = section.fields as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((key) => !same(a[key], b[key]));
    const what = fields.length === 0 || fields.length > 3 ? "" : `${listed(fields.map((f) => fieldLabel(section.type, f)))} in `;
    parts.push(`Edited ${what}${sectionLabel(section.type)}`);
  }
  if (parts.length === 0) return "No changes";
  return parts.length > 3 ? `${parts.slice(0, 2).join("; ")} and ${parts.length - 2} more changes` : parts.join("; ");
}

/** One field both edits changed, differently: what it is now and what the stale edit wanted. */
export interface FieldConflict {
  /** `subject`, `preheader`, `meta`, `sections` (the list and order of sections), `<sectionId>` (a section deleted on one side and edited on the other) or `<sectionId>.<field>`. */
  path: string;
  /** As the editor names it: "Subject", "Headline in Headline", "The list of sections". */
  label: string;
  sectionId?: string;
  field?: string;
  /** The value in the newest version (absent: not there any more). */
  current?: unknown;
  /** The value the stale edit wanted (absent: it removed it). */
  yours?: unknown;
}

export type MergeResult = { ok: true; document: EmailDocument } | { ok: false; conflicts: FieldConflict[] };

/** A 3-way choice for one field: `undefined` result with `conflict` set when both sides changed it differently. */
function pick(base: unknown, current: unknown, yours: unknown): { value: unknown; conflict: boolean } {
  if (same(yours, base)) return { value: current, conflict: false };
  if (same(current, base) || same(current, yours)) return { value: yours, conflict: false };
  return { value: current, conflict: true };
}

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * Three-way merge of an edit made on `base` (giving `yours`) onto `current` (the newest version).
 * See the module comment for the rule; `ok: false` names every conflicting field.
 *
 * @example
 * mergeDocuments({ base, current: withNewHeadline, yours: withNewSubtext }) // ok: both changes
 */
export function mergeDocuments(input: { base: EmailDocument; current: EmailDocument; yours: EmailDocument }): MergeResult {
  const { base, current, yours } = input;
  const conflicts: FieldConflict[] = [];
  const document: Record<string, unknown> = {};

  for (const key of DOCUMENT_FIELDS) {
    const chosen = pick(base[key], current[key], yours[key]);
    if (chosen.conflict) conflicts.push({ path: key, label: capital(key), current: current[key], yours: yours[key] });
    if (chosen.value !== undefined) document[key] = chosen.value;
  }

  const ids = (d: EmailDocument) => d.sections.map((s) => s.id);
  const byId = (d: EmailDocument) => new Map<string, Section>(d.sections.map((s) => [s.id, s]));
  const [b, c, y] = [byId(base), byId(current), byId(yours)];
  const order = pick(ids(base), ids(current), ids(yours));
  if (order.conflict) {
    const names = (d: EmailDocument) => d.sections.map((s) => sectionLabel(s.type));
    conflicts.push({ path: "sections", label: "The list of sections", current: names(current), yours: names(yours) });
  }
  const resultIds = order.value as string[];
  const kept = new Set(resultIds);

  // A section one side deleted while the other edited it: keeping either loses the other's work.
  for (const [id, was] of b) {
    if (kept.has(id) || order.conflict) continue;
    const edited = [c.get(id), y.get(id)].some((s) => s !== undefined && !same(s, was));
    if (edited) conflicts.push({ path: id, label: `The ${sectionLabel(was.type)} section (deleted on one side, edited on the other)`, sectionId: id, ...(c.has(id) ? { current: c.get(id)!.fields } : {}), ...(y.has(id) ? { yours: y.get(id)!.fields } : {}) });
  }

  const sections: Section[] = [];
  for (const id of resultIds) {
    const [bs, cs, ys] = [b.get(id), c.get(id), y.get(id)];
    if (!cs || !ys) {
      sections.push((cs ?? ys)!); // added on one side only
      continue;
    }
    if (!same(cs.type, ys.type)) {
      conflicts.push({ path: id, label: `The ${sectionLabel(cs.type)} section (its type was changed)`, sectionId: id, current: cs.type, yours: ys.type });
      continue;
    }
    const fields: Record<string, unknown> = {};
    const [bf, cf, yf] = [(bs?.fields ?? {}) as Record<string, unknown>, cs.fields as Record<string, unknown>, ys.fields as Record<string, unknown>];
    for (const key of new Set([...Object.keys(cf), ...Object.keys(yf), ...Object.keys(bf)])) {
      const chosen = pick(bf[key], cf[key], yf[key]);
      if (chosen.conflict) conflicts.push({ path: `${id}.${key}`, label: `${capital(fieldLabel(cs.type, key))} in ${sectionLabel(cs.type)}`, sectionId: id, field: key, current: cf[key], yours: yf[key] });
      if (chosen.value !== undefined) fields[key] = chosen.value;
    }
    sections.push({ id, type: cs.type, fields } as Section);
  }
  if (conflicts.length > 0) return { ok: false, conflicts };
  return { ok: true, document: { ...document, sections } as EmailDocument };
}
