import { z } from "zod";

/**
 * The email document model: an ordered list of typed sections, each with its own typed fields.
 * It is what agents write, what the editor changes and what the renderer turns into MJML.
 * URLs are stored as written (they may be ESP merge tags or not yet filled in); the renderer
 * neutralises unsafe ones and `checkEmail` reports them, so a draft can always be stored.
 */

import { SECTIONS, SECTION_TYPES, type SectionFields, type SectionType } from "./sections";
import { MAX_ADDRESS_CHARS, MAX_BRIEF_TEXT_CHARS, MAX_FONT_NAME_CHARS, MAX_GUIDANCE_CHARS, MAX_HEADLINE_CHARS, MAX_LABEL_CHARS, MAX_NAME_CHARS, MAX_PREHEADER_CHARS, MAX_PRODUCTS, MAX_SECTION_ID_CHARS, MAX_SECTIONS, MAX_SUBJECT_CHARS, MAX_BODY_TEXT_CHARS, MAX_VOICE_CHARS, HEX_COLOR_PATTERN, SECTION_ID_PATTERN, required, text, url } from "./limits";

export * from "./limits";
export { SECTIONS, SECTION_TYPES, type SectionFields, type SectionType };

/** The default conversion formula: hero → headline → ingredient → benefits → CTA → footer. */
export const DEFAULT_FORMULA: readonly FormulaStep[] = Object.freeze(
  (["hero", "headline", "ingredient", "benefits", "cta", "footer"] as const).map((type) => Object.freeze({ type })),
);

const sectionId = z
  .string()
  .min(1, { error: "must not be empty" })
  .max(MAX_SECTION_ID_CHARS, { error: `must be at most ${MAX_SECTION_ID_CHARS} characters` })
  .regex(SECTION_ID_PATTERN, { error: "may only contain letters, digits, '-' and '_'" });

function sectionSchema<T extends SectionType>(type: T) {
  return z.strictObject({ id: sectionId, type: z.literal(type), fields: SECTIONS[type].fields as unknown as z.ZodType<SectionFields[T]> });
}

const unknownType = `must be one of ${SECTION_TYPES.join(", ")}`;

/** One section: `{ id, type, fields }`, with `fields` checked against the type's schema (`sections/<type>.ts`). */
export const SectionSchema: z.ZodType<Section> = z.discriminatedUnion(
  "type",
  SECTION_TYPES.map((type) => sectionSchema(type)) as unknown as [ReturnType<typeof sectionSchema<"hero">>],
  { error: (issue) => (issue.code === "invalid_union" ? unknownType : undefined) },
) as unknown as z.ZodType<Section>;

/** A section of one type, e.g. `SectionOf<"cta">`. */
export type SectionOf<T extends SectionType> = { id: string; type: T; fields: SectionFields[T] };
/** Any section. */
export type Section = { [T in SectionType]: SectionOf<T> }[SectionType];


/** Facts about the document that are not content; the UI shows `offlineDraft` as a badge. */
export const DocumentMetaSchema = z.strictObject({
  offlineDraft: z.boolean().optional(),
  generator: text(MAX_NAME_CHARS).optional(),
  /** A variant's origin: the email (the family's first) and the version it was forked at. */
  variantOf: z.strictObject({ emailId: z.string().min(1).max(100), version: z.number().int().min(0) }).optional(),
});

export const EmailDocumentSchema = z
  .strictObject({
    subject: text(MAX_SUBJECT_CHARS).optional(),
    preheader: text(MAX_PREHEADER_CHARS).optional(),
    sections: z.array(SectionSchema).max(MAX_SECTIONS, { error: `may have at most ${MAX_SECTIONS} sections` }),
    meta: DocumentMetaSchema.optional(),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.sections.forEach((section, index) => {
      if (seen.has(section.id)) {
        ctx.addIssue({ code: "custom", path: ["sections", index, "id"], message: `duplicates the id "${section.id}" of an earlier section` });
      }
      seen.add(section.id);
    });
  });

/** `{ subject?, preheader?, sections, meta? }`. */
export type EmailDocument = z.infer<typeof EmailDocumentSchema>;

// ---------------------------------------------------------------------------------------------
// Brand and brief: the inputs of generation and rendering.

const hexColor = z.string().regex(HEX_COLOR_PATTERN, { error: "must be a hex colour such as #1a2b3c" });

/** One step of a brand's conversion formula. */
export const FormulaStepSchema = z.strictObject({
  type: z.enum(SECTION_TYPES, { error: unknownType }),
  guidance: text(MAX_GUIDANCE_CHARS).optional(),
});
export type FormulaStep = z.infer<typeof FormulaStepSchema>;

/** The brand design system as rendering and generation see it (asset ids already resolved to URLs). */
export const BrandSchema = z.strictObject({
  name: required(MAX_NAME_CHARS),
  colors: z.strictObject({
    primary: hexColor,
    secondary: hexColor.optional(),
    background: hexColor.optional(),
    text: hexColor.optional(),
  }),
  /** Dark-mode colours; each missing one is proposed from the light palette (dark-mode.ts). */
  darkColors: z.strictObject({ background: hexColor.optional(), text: hexColor.optional(), heading: hexColor.optional() }).optional(),
  fonts: z
    .strictObject({ heading: text(MAX_FONT_NAME_CHARS).optional(), body: text(MAX_FONT_NAME_CHARS).optional() })
    .optional(),
  voice: text(MAX_VOICE_CHARS).optional(),
  logoUrl: url().optional(),
  formula: z.array(FormulaStepSchema).max(MAX_SECTIONS).optional(),
  footer: z.strictObject({ address: text(MAX_ADDRESS_CHARS), unsubscribeUrl: url().optional() }).optional(),
});
export type Brand = z.infer<typeof BrandSchema>;

/** A campaign brief (reference screenshots are the copy agent's business, not the document's). */
export const BriefSchema = z.strictObject({
  objective: text(MAX_BRIEF_TEXT_CHARS),
  audience: text(MAX_BRIEF_TEXT_CHARS),
  tone: text(MAX_BRIEF_TEXT_CHARS),
  hook: text(MAX_HEADLINE_CHARS),
  products: z
    .array(
      z.strictObject({
        name: required(MAX_NAME_CHARS),
        description: text(MAX_BODY_TEXT_CHARS).optional(),
        imageUrl: url().optional(),
        url: url().optional(),
      }),
    )
    .max(MAX_PRODUCTS)
    .default([]),
  cta: z.strictObject({ label: text(MAX_LABEL_CHARS), url: url() }).optional(),
  offer: z.strictObject({ text: text(MAX_LABEL_CHARS * 2), code: text(MAX_LABEL_CHARS).optional() }).optional(),
  occasion: text(MAX_NAME_CHARS).optional(),
  sendDate: text(10).optional(),
});
export type Brief = z.input<typeof BriefSchema>;

/**
 * The brand's formula, or the default one when it has none. Accepts the API's short form
 * (`["hero", "cta"]`) as well as steps with guidance.
 *
 * @example formulaOf({ formula: ["hero", { type: "cta", guidance: "one button" }] })
 */
export function formulaOf(brand: { formula?: readonly (SectionType | FormulaStep)[] }): FormulaStep[] {
  const steps = brand.formula ?? [];
  if (steps.length === 0) return DEFAULT_FORMULA.map((step) => ({ ...step }));
  return steps.map((step) => (typeof step === "string" ? { type: step } : { ...step }));
}

// ---------------------------------------------------------------------------------------------
// Validation.

/** One problem found in a document, with a dotted path such as `sections.2.fields.url`. */
export interface DocumentIssue {
  path: string;
  message: string;
}

export type ValidateResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: "invalid_document"; message: string; issues: DocumentIssue[] };

function describePath(path: readonly PropertyKey[], value: unknown): string {
  const parts = path.map((key) => String(key));
  // Name the section's type beside its index, so "sections.3 (cta).fields.url" reads at a glance.
  if (parts[0] === "sections" && parts[1] !== undefined && value && typeof value === "object") {
    const section = (value as { sections?: unknown[] }).sections?.[Number(parts[1])] as { type?: unknown } | undefined;
    if (typeof section?.type === "string" && (SECTION_TYPES as readonly string[]).includes(section.type)) {
      parts[1] = `${parts[1]} (${section.type})`;
    }
  }
  return parts.length === 0 ? "(root)" : parts.join(".");
}

function toIssues(error: z.ZodError, value: unknown): DocumentIssue[] {
  return error.issues.map((issue) => ({ path: describePath(issue.path, value), message: issue.message }));
}

function summarise(what: string, issues: DocumentIssue[]): string {
  const shown = issues.slice(0, 5).map((issue) => `${issue.path}: ${issue.message}`);
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : "";
  return `The ${what} is not valid — ${shown.join("; ")}${more}.`;
}

/**
 * Checks an untrusted value (an agent's output, a stored row, a request body) against the
 * document model. Never throws.
 *
 * @example
 * const result = validateDocument(JSON.parse(output));
 * if (!result.ok) console.warn(result.message); // "The email document is not valid — sections.1 (cta).fields.label: must not be empty."
 */
export function validateDocument(value: unknown): ValidateResult<EmailDocument> {
  const parsed = EmailDocumentSchema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = toIssues(parsed.error, value);
  return { ok: false, code: "invalid_document", message: summarise("email document", issues), issues };
}

/**
 * Checks one section (for streaming agents and for `PATCH …/sections/:id`). Never throws.
 *
 * @example validateSection({ id: "cta-1", type: "cta", fields: { label: "Shop", url: "https://example.com" } })
 */
export function validateSection(value: unknown): ValidateResult<Section> {
  const parsed = SectionSchema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = toIssues(parsed.error, value);
  return { ok: false, code: "invalid_document", message: summarise("section", issues), issues };
}

// ---------------------------------------------------------------------------------------------
// JSON schema for structured output.

type JsonSchema = { [key: string]: unknown };

/** Keywords that structured-output decoders reject; their meaning moves into the description. */
const DESCRIBED_KEYWORDS = ["maxLength", "minLength", "maxItems", "pattern"] as const;

function forStructuredOutput(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forStructuredOutput);
  if (!node || typeof node !== "object") return node;
  const source = node as JsonSchema;
  const out: JsonSchema = {};
  const notes: string[] = [];
  for (const [key, value] of Object.entries(source)) {
    if (key === "$schema") continue;
    if ((DESCRIBED_KEYWORDS as readonly string[]).includes(key)) notes.push(`${key}: ${JSON.stringify(value)}`);
    else if (key === "minItems") (value === 0 || value === 1 ? (out.minItems = value) : notes.push(`minItems: ${value}`));
    else if (key === "oneOf") out.anyOf = forStructuredOutput(value);
    else out[key] = forStructuredOutput(value);
  }
  if (notes.length > 0) out.description = [out.description, `{${notes.join(", ")}}`].filter(Boolean).join(" ");
  return out;
}

/** What a copy agent writes: the document without `meta`, optionally limited to some section types. */
function generatedDocumentSchema(types: readonly SectionType[]) {
  const sections = types.map((type) => sectionSchema(type));
  const section = sections.length === 1 ? sections[0]! : z.discriminatedUnion("type", sections as never);
  return z.strictObject({
    subject: text(MAX_SUBJECT_CHARS).describe("The email's subject line, ideally under 60 characters."),
    preheader: text(MAX_PREHEADER_CHARS).describe("Preview text shown after the subject, 40–130 characters."),
    sections: z.array(section).describe("The sections in the order of the brand's formula."),
  });
}

/**
 * A JSON schema of the email document for Claude's structured output (`output_format`):
 * every object closed (`additionalProperties: false`), unions as `anyOf`, and length limits
 * moved into descriptions because the decoder does not accept them. `validateDocument` still
 * enforces the limits on the result.
 *
 * @example emailDocumentJsonSchema(formulaOf(brand).map((s) => s.type))
 */
export function emailDocumentJsonSchema(types: readonly SectionType[] = SECTION_TYPES): JsonSchema {
  const unique = [...new Set(types)];
  const schema = z.toJSONSchema(generatedDocumentSchema(unique.length > 0 ? unique : SECTION_TYPES), { io: "input" });
  return forStructuredOutput(schema) as JsonSchema;
}

/** The structured-output JSON schema for documents with any section type. */
export const EMAIL_DOCUMENT_JSON_SCHEMA: JsonSchema = emailDocumentJsonSchema();
