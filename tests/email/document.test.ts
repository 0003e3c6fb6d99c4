import { describe, expect, test } from "bun:test";
import {
  BrandSchema,
  DEFAULT_FORMULA,
  EMAIL_DOCUMENT_JSON_SCHEMA,
  emailDocumentJsonSchema,
  formulaOf,
  MAX_HEADLINE_CHARS,
  SECTION_TYPES,
  validateDocument,
  validateSection,
} from "../../src/email/document";
import { fullDocument } from "./fixtures";

describe("email document model", () => {
  test("the default formula is hero → headline → ingredient → benefits → cta → footer", () => {
    expect(DEFAULT_FORMULA.map((s) => s.type)).toEqual(["hero", "headline", "ingredient", "benefits", "cta", "footer"]);
    expect(formulaOf({}).map((s) => s.type)).toEqual(DEFAULT_FORMULA.map((s) => s.type));
    expect(formulaOf({ formula: [] }).length).toBe(6);
  });

  test("formulaOf accepts the API's short form and steps with guidance", () => {
    expect(formulaOf({ formula: ["hero", { type: "cta", guidance: "one button" }] })).toEqual([{ type: "hero" }, { type: "cta", guidance: "one button" }]);
  });

  test("a document with every section type is valid", () => {
    const result = validateDocument(fullDocument());
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.sections.map((s) => s.type)).toEqual([...SECTION_TYPES]);
  });

  test("an unknown section type names the allowed types", () => {
    const result = validateDocument({ sections: [{ id: "x", type: "carousel", fields: {} }] });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe("invalid_document");
      expect(result.issues[0]!.path).toBe("sections.0.type");
      expect(result.message).toContain("must be one of hero, headline, ingredient");
    }
  });

  test("field problems say which section and field, with the limit", () => {
    const doc = fullDocument();
    doc.sections[4] = { id: "cta-1", type: "cta", fields: { label: "  ", url: "https://x.example" } };
    doc.sections[1] = { id: "headline-1", type: "headline", fields: { text: "x".repeat(MAX_HEADLINE_CHARS + 1) } };
    const result = validateDocument(doc);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      const byPath = Object.fromEntries(result.issues.map((i) => [i.path, i.message]));
      expect(byPath["sections.4 (cta).fields.label"]).toBe("must not be empty");
      expect(byPath["sections.1 (headline).fields.text"]).toBe(`must be at most ${MAX_HEADLINE_CHARS} characters`);
      expect(result.message).toStartWith("The email document is not valid — ");
    }
  });

  test("unknown fields, unsafe ids and duplicate ids are rejected", () => {
    const extra = validateDocument({ sections: [{ id: "t", type: "text", fields: { text: "hi", html: "<b>x</b>" } }] });
    expect(extra.ok).toBe(false);
    const badId = validateDocument({ sections: [{ id: `x" onclick="y`, type: "divider", fields: {} }] });
    expect(badId.ok).toBe(false);
    if (!badId.ok) expect(badId.issues[0]!.message).toContain("may only contain letters");
    const dup = validateDocument({ sections: [{ id: "a", type: "divider", fields: {} }, { id: "a", type: "divider", fields: {} }] });
    expect(dup.ok).toBe(false);
    if (!dup.ok) expect(dup.issues[0]!.message).toContain(`duplicates the id "a"`);
  });

  test("validateSection checks one section", () => {
    expect(validateSection({ id: "cta-1", type: "cta", fields: { label: "Shop", url: "https://x.example" } }).ok).toBe(true);
    const bad = validateSection({ id: "cta-1", type: "cta", fields: { url: "https://x.example" } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]!.path).toBe("fields.label");
  });

  test("a brand needs hex colours", () => {
    expect(BrandSchema.safeParse({ name: "B", colors: { primary: "#123456" } }).success).toBe(true);
    const bad = BrandSchema.safeParse({ name: "B", colors: { primary: "red;background:url(x)" } });
    expect(bad.success).toBe(false);
  });
});

describe("JSON schema for structured output", () => {
  const walk = (node: unknown, visit: (n: Record<string, unknown>) => void): void => {
    if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
    else if (node && typeof node === "object") {
      visit(node as Record<string, unknown>);
      Object.values(node).forEach((n) => walk(n, visit));
    }
  };

  test("closes every object, uses anyOf and moves length limits into descriptions", () => {
    let objects = 0;
    walk(EMAIL_DOCUMENT_JSON_SCHEMA, (n) => {
      expect(n.oneOf).toBeUndefined();
      expect(n.maxLength).toBeUndefined();
      expect(n.pattern).toBeUndefined();
      expect(n.$schema).toBeUndefined();
      if (n.type === "object") {
        objects++;
        expect(n.additionalProperties).toBe(false);
      }
    });
    expect(objects).toBeGreaterThan(10);
    expect(JSON.stringify(EMAIL_DOCUMENT_JSON_SCHEMA)).toContain(`maxLength: ${MAX_HEADLINE_CHARS}`);
    expect((EMAIL_DOCUMENT_JSON_SCHEMA as { required: string[] }).required).toEqual(["subject", "preheader", "sections"]);
  });

  test("can be limited to the formula's section types", () => {
    const schema = emailDocumentJsonSchema(["hero", "cta", "hero"]) as { properties: { sections: { items: { anyOf: { properties: { type: { const: string } } }[] } } } };
    expect(schema.properties.sections.items.anyOf.map((v) => v.properties.type.const)).toEqual(["hero", "cta"]);
  });
});
