import { describe, expect, test } from "bun:test";
import { checkEmail } from "../../src/email/checks";
import { DEFAULT_FORMULA, MAX_HEADLINE_CHARS, validateDocument, type Brand, type Brief, type EmailDocument, type SectionType } from "../../src/email/document";
import { streamOfflineEmail, writeOfflineEmail, type OfflineSectionEvent } from "../../src/email/offline-writer";
import { renderEmail } from "../../src/email/render";
import { emailToText } from "../../src/email/text";
import { brand, brief, HOSTILE_TEXT, scanHtml } from "./fixtures";

/** The fields of the first section of a type, loosely typed for assertions. */
const fieldsOf = (doc: EmailDocument, type: SectionType): Record<string, any> => doc.sections.find((s) => s.type === type)!.fields;

describe("writeOfflineEmail", () => {
  test("follows the default formula when the brand has none", () => {
    const doc = writeOfflineEmail({ brand, brief });
    expect(doc.sections.map((s) => s.type)).toEqual(DEFAULT_FORMULA.map((s) => s.type));
    expect(doc.sections.map((s) => s.id)).toEqual(["hero-1", "headline-1", "ingredient-1", "benefits-1", "cta-1", "footer-1"]);
  });

  test("follows a custom formula exactly: only its types, in its order, repeats included", () => {
    const formula: Brand["formula"] = ["text", "hero", "product-grid", "divider", "testimonial", "text", "image", "cta", "footer"].map((type) => ({ type: type as never }));
    const doc = writeOfflineEmail({ brand: { ...brand, formula }, brief });
    expect(doc.sections.map((s) => s.type)).toEqual(formula.map((s) => s.type));
    expect(doc.sections.map((s) => s.id)).toEqual(["text-1", "hero-1", "product-grid-1", "divider-1", "testimonial-1", "text-2", "image-1", "cta-1", "footer-1"]);
    expect(validateDocument(doc).ok).toBe(true);
  });

  test("is deterministic for the same brand and brief, whatever the key order", () => {
    const a = writeOfflineEmail({ brand, brief });
    const b = writeOfflineEmail({ brand: structuredClone(brand), brief: structuredClone(brief) });
    const reordered = Object.fromEntries(Object.entries(brand).reverse()) as Brand;
    expect(b).toEqual(a);
    expect(writeOfflineEmail({ brand: reordered, brief })).toEqual(a);
  });

  test("writes from the brief: hook in the headline, product, benefits for the reader, CTA; footer from the brand", () => {
    const doc = writeOfflineEmail({ brand, brief, heroImageUrl: "https://cdn.glow.example/hero.png" });
    expect(doc.meta).toEqual({ offlineDraft: true, generator: "offline" });
    expect(doc.subject).toBe(brief.hook);
    expect(doc.preheader!.length).toBeGreaterThanOrEqual(40);
    expect(doc.preheader).not.toBe(doc.subject);
    expect(fieldsOf(doc, "headline").text).toBe(brief.hook);
    // Written for the audience, never with the audience field pasted in.
    expect(JSON.stringify(doc).toLowerCase()).not.toContain("women 30-45");
    const hero = fieldsOf(doc, "hero");
    expect(hero.imageUrl).toBe("https://cdn.glow.example/hero.png");
    expect(hero.headline).toContain("Radiance C Serum"); // the objective is a launch
    expect(hero.imageAlt).toBe("Radiance C Serum from Glow & Co");
    // The ingredient the description leads with, beside the product photo.
    expect(fieldsOf(doc, "ingredient")).toMatchObject({ name: "15% vitamin C", imageUrl: brief.products![0]!.imageUrl });
    expect(fieldsOf(doc, "ingredient").description).toContain("Radiance C Serum");
    // Benefits: a title and a sentence each, rephrased from the description's claims.
    const items = fieldsOf(doc, "benefits").items as { title: string; text: string }[];
    expect(items.map((i) => i.title)).toEqual(["Brighter-looking skin", "A more even tone", "Kind to sensitive skin"]);
    expect(items.every((i) => i.text.length > 20)).toBe(true);
    expect(items[1]!.text).toContain("fade dark spots over four weeks");
    expect(items[1]!.text).not.toContain("Fades dark spots over four weeks");
    expect(fieldsOf(doc, "cta")).toMatchObject({ label: "Shop the serum", url: brief.cta!.url });
    expect(fieldsOf(doc, "footer")).toEqual({ address: brand.footer!.address, unsubscribeUrl: "{{unsubscribe}}", companyName: "Glow & Co" });
    expect(JSON.stringify(doc).toLowerCase()).not.toContain("lorem");
  });

  test("without a headline section the hero carries the hook", () => {
    const doc = writeOfflineEmail({ brand: { ...brand, formula: [{ type: "hero" }, { type: "cta" }, { type: "footer" }] }, brief });
    expect(fieldsOf(doc, "hero").headline).toBe(brief.hook);
  });

  test("the tone and the objective change the copy", () => {
    const playful = writeOfflineEmail({ brand, brief: { ...brief, tone: "playful and cheeky" } });
    const luxe = writeOfflineEmail({ brand, brief: { ...brief, tone: "luxurious, refined" } });
    expect(fieldsOf(playful, "benefits").title).toBe("Why it's a total yes");
    expect(fieldsOf(luxe, "benefits").title).toBe("The difference you'll feel");
    const sale = writeOfflineEmail({ brand, brief: { ...brief, objective: "Clear winter stock with a 20% discount", cta: undefined } });
    expect(fieldsOf(sale, "cta")).toMatchObject({ label: "Shop the sale", url: "https://glow.example/serum" });
  });

  test("several products fill the benefits and the product grid", () => {
    const products = [
      { name: "Serum", description: "Brightens. Evens tone.", url: "https://glow.example/s" },
      { name: "Cream", description: "Deep moisture for dry skin." },
      { name: "Mask", imageUrl: "https://cdn.glow.example/m.png" },
    ];
    const doc = writeOfflineEmail({ brand: { ...brand, formula: [{ type: "benefits" }, { type: "product-grid" }, { type: "footer" }] }, brief: { ...brief, products } });
    // The products' claims in turn, not the product list; the mask has no description to draw on.
    expect(fieldsOf(doc, "benefits").items.map((i: { title: string }) => i.title)).toEqual(["Brighter-looking skin", "Hydration that lasts", "A more even tone", "Mask"]);
    const grid = fieldsOf(doc, "product-grid").products as { name: string; url?: string }[];
    expect(grid.map((p) => p.name)).toEqual(["Serum", "Cream", "Mask"]);
    expect(grid[1]!.url).toBe(brief.cta!.url); // falls back to the brief's CTA
  });

  test("leaves a visible placeholder instead of inventing a testimonial", () => {
    const doc = writeOfflineEmail({ brand: { ...brand, formula: [{ type: "testimonial" }] }, brief });
    expect(fieldsOf(doc, "testimonial")).toEqual({ quote: "[Add a real customer quote about Radiance C Serum here]", author: "[Customer name]" });
  });

  test("stays valid with sparse and with oversized, hostile input", () => {
    const sparse: Brief = { objective: "", audience: "", tone: "", hook: "" };
    const sparseDoc = writeOfflineEmail({ brand: { name: "B", colors: { primary: "#123456" }, formula: DEFAULT_FORMULA.map((s) => ({ ...s })).concat([{ type: "product-grid" }, { type: "image" }, { type: "text" }, { type: "testimonial" }]) }, brief: sparse });
    expect(validateDocument(sparseDoc)).toMatchObject({ ok: true });

    const long = "word ".repeat(400);
    const hostile: Brief = { objective: long, audience: HOSTILE_TEXT, tone: long, hook: `${HOSTILE_TEXT} ${long}`.slice(0, MAX_HEADLINE_CHARS), products: [{ name: HOSTILE_TEXT, description: long + HOSTILE_TEXT }], cta: { label: HOSTILE_TEXT.slice(0, 80), url: "javascript:alert(1)" } };
    const doc = writeOfflineEmail({ brand: { ...brand, name: HOSTILE_TEXT.slice(0, 120) }, brief: hostile });
    expect(validateDocument(doc)).toMatchObject({ ok: true });
  });

  test("renders with zero MJML errors and no error-level checks", async () => {
    const doc = writeOfflineEmail({ brand, brief, heroImageUrl: "https://cdn.glow.example/hero.png" });
    const rendered = await renderEmail({ document: doc, brand, validationLevel: "strict" });
    expect(rendered.errors).toEqual([]);
    const checks = checkEmail({ document: doc, brand, html: rendered.html, mjmlErrors: rendered.errors });
    expect(checks.filter((c) => c.level === "error")).toEqual([]);
    expect(emailToText(rendered.html)).toContain(brief.hook);
  });

  test("hostile brief text ends up escaped in the rendered draft", async () => {
    const hostile: Brief = { ...brief, hook: HOSTILE_TEXT.slice(0, 200), audience: HOSTILE_TEXT, products: [{ name: HOSTILE_TEXT.slice(0, 120), description: HOSTILE_TEXT }], cta: { label: "Go", url: "javascript:alert(1)" } };
    const doc = writeOfflineEmail({ brand: { ...brand, formula: ["hero", "headline", "ingredient", "benefits", "product-grid", "text", "cta", "footer"].map((type) => ({ type: type as never })) }, brief: hostile });
    const { html, errors } = await renderEmail({ document: doc, brand, validationLevel: "strict" });
    expect(errors).toEqual([]);
    const { tags, attributes } = await scanHtml(html);
    expect(tags).not.toContain("script");
    expect(attributes.filter(([, n]) => n.startsWith("on"))).toEqual([]);
    expect(html).not.toContain("javascript:");
  });
});

describe("streamOfflineEmail", () => {
  const collect = async (iterable: AsyncIterable<OfflineSectionEvent>) => {
    const events: OfflineSectionEvent[] = [];
    for await (const event of iterable) events.push(event);
    return events;
  };

  test("yields the same document section by section", async () => {
    const events = await collect(streamOfflineEmail({ brand, brief }, { sectionDelayMs: 0 }));
    const full = writeOfflineEmail({ brand, brief });
    expect(events.map((e) => e.section)).toEqual(full.sections);
    expect(events.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.every((e) => e.total === 6)).toBe(true);
    expect(events.at(-1)!.document).toEqual(full);
    expect(events[1]!.document.sections.length).toBe(2);
  });

  test("paces sections and stops when aborted", async () => {
    const started = performance.now();
    const paced = await collect(streamOfflineEmail({ brand, brief }, { sectionDelayMs: 20 }));
    expect(paced.length).toBe(6);
    expect(performance.now() - started).toBeGreaterThanOrEqual(5 * 20 - 5);

    const controller = new AbortController();
    const seen: OfflineSectionEvent[] = [];
    for await (const event of streamOfflineEmail({ brand, brief }, { sectionDelayMs: 50, signal: controller.signal })) {
      seen.push(event);
      if (event.index === 1) controller.abort();
    }
    expect(seen.map((e) => e.index)).toEqual([0, 1]);
  });
});
