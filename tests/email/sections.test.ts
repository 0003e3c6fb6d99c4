import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { SECTIONS, SECTION_TYPES, sectionModule } from "../../src/email/sections";
import { copyOf } from "../../src/email/sections/draft";
import { emailTheme } from "../../src/email/theme";
import { compileMjml } from "../../src/email/render";
import { validateSection } from "../../src/email/document";
import { SECTION_FORMS, SECTION_GUIDANCE } from "../../src/web/section-form";
import { brand, brief, HOSTILE_TEXT } from "./fixtures";

/**
 * The section registry: one module per type holds its schema, renderer, form fields and offline
 * draft. These tests hold every module to all four, so a type added without one of them fails here.
 */
describe("the section registry", () => {
  test("lists the eleven contract types, each module under its own name", () => {
    expect(SECTION_TYPES).toEqual(["hero", "headline", "ingredient", "benefits", "cta", "product-grid", "testimonial", "text", "image", "divider", "footer"]);
    for (const type of SECTION_TYPES) expect(SECTIONS[type].type).toBe(type);
    expect(sectionModule("toString")).toBeUndefined();
    expect(sectionModule("nope")).toBeUndefined();
  });

  for (const type of SECTION_TYPES) {
    test(`${type}: its draft passes its schema, renders to valid MJML, and its form names real fields`, async () => {
      const module = SECTIONS[type];
      const input = { brand: { ...brand, formula: [{ type }] }, brief, heroImageUrl: "https://cdn.example/hero.png" };
      const fields = module.draft(copyOf(input), input, [type]);
      expect(validateSection({ id: `${type}-1`, type, fields })).toMatchObject({ ok: true });

      const ctx = { theme: emailTheme(brand), brand };
      const body = module.render({ id: `${type}-1`, type, fields } as never, ctx);
      expect(body).toContain("ds-s-" + `${type}-1`);
      const compiled = await compileMjml(`<mjml><mj-body>${body}</mj-body></mjml>`, { validationLevel: "strict" });
      expect(compiled.errors).toEqual([]);
      expect(compiled.html).toContain(`ds-s-${type}-1`);

      const shape = (module.fields as unknown as z.ZodObject).shape as Record<string, unknown>;
      for (const field of module.form.fields) expect(Object.keys(shape)).toContain(field.name);
      if (module.form.list) expect(Object.keys(shape)).toContain(module.form.list.name);
      expect(SECTION_FORMS[type].label.length).toBeGreaterThan(0);
      expect(SECTION_GUIDANCE[type].length).toBeGreaterThan(0);
    });
  }

  test("a renderer escapes what it is given (hostile text in every module's first text field)", () => {
    const ctx = { theme: emailTheme(brand), brand };
    for (const type of SECTION_TYPES) {
      const module = SECTIONS[type];
      const input = { brand, brief: { ...brief, hook: HOSTILE_TEXT, audience: HOSTILE_TEXT, products: [{ name: HOSTILE_TEXT, description: HOSTILE_TEXT }] } };
      const fields = module.draft(copyOf(input), input, [type]);
      const body = module.render({ id: `${type}-1`, type, fields } as never, ctx);
      expect(body).not.toContain("<script>");
    }
  });
});
