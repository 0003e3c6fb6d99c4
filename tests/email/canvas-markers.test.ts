import { describe, expect, test } from "bun:test";
import { renderEmail } from "../../src/email/render";
import type { EmailDocument } from "../../src/email/document";
import { brand, fullDocument, HOSTILE_TEXT, scanHtml } from "./fixtures";

/**
 * The canvas render (`edit: true`) marks every visible text of every section type for in-place
 * editing (`data-ds-field`, list items as `items.2.title`), every image slot (`ds-img--<field>`) and
 * every changeable link (`data-ds-link`); the normal render carries none of it.
 */

/** Fields that are not visible text: URLs and image descriptions (edited in the image and link panels). */
const NOT_TEXT = /^(imageUrl|url|link|unsubscribeUrl|imageAlt|alt)$/;

/** Every visible text of a section as `[path, value]`, list items included (`items.1.title`). */
function visibleTexts(fields: Record<string, unknown>, prefix = ""): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === "string" && value && !NOT_TEXT.test(key)) out.push([prefix + key, value]);
    if (Array.isArray(value)) value.forEach((item, i) => out.push(...visibleTexts(item as Record<string, unknown>, `${prefix}${key}.${i}.`)));
  }
  return out;
}

/** The text content of each element marked with `data-ds-section`/`data-ds-field`, keyed `section|field`. */
async function markedTexts(html: string): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const open: string[] = [];
  await new HTMLRewriter()
    .on("[data-ds-field]", {
      element(el) {
        const key = `${el.getAttribute("data-ds-section")}|${el.getAttribute("data-ds-field")}`;
        texts.set(key, "");
        open.push(key);
        el.onEndTag(() => void open.pop());
      },
      text(chunk) {
        const key = open.at(-1);
        if (key) texts.set(key, texts.get(key)! + chunk.text);
      },
    })
    .transform(new Response(html))
    .text();
  return texts;
}

/** Text without its spacing (paragraph breaks become tags, which the text of an element leaves out). */
const squash = (s: string) => s.replace(/\s+/g, "");
const decode = (s: string) => s.replace(/<br \/>/g, "\n").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

describe("the canvas render", () => {
  test("marks every visible text of every section type, list items by index, and nothing else changes", async () => {
    const document = fullDocument();
    const edit = await renderEmail({ document, brand, validationLevel: "strict", edit: true });
    expect(edit.errors).toEqual([]);
    const marked = await markedTexts(edit.html);
    let checked = 0;
    for (const section of document.sections) {
      for (const [path, value] of visibleTexts(section.fields as Record<string, unknown>)) {
        const text = marked.get(`${section.id}|${path}`);
        expect({ section: section.id, path, marked: text === undefined ? undefined : squash(decode(text)) }).toEqual({ section: section.id, path, marked: squash(value) });
        checked++;
      }
    }
    // Every text field of the fixture (one section of every type) was found, list items included.
    expect(checked).toBeGreaterThanOrEqual(24);
    expect(marked.has("benefits-1|items.2.title")).toBe(true);
    expect(marked.has("grid-1|products.0.price")).toBe(true);

    // Image slots and links.
    const { attributes } = await scanHtml(edit.html);
    const classes = attributes.filter(([, name]) => name === "class").map(([, , v]) => v).join(" ");
    for (const slot of ["ds-img--imageUrl", "ds-img--url", "ds-img--products.0.imageUrl"]) expect(classes).toContain(slot);
    const links = attributes.filter(([, name]) => name === "data-ds-link").map(([, , v]) => v);
    expect(links.sort()).toEqual(["products.0.url", "products.1.url", "unsubscribeUrl", "url"]);
  });

  test("the normal render (exports, sends) carries no canvas marker", async () => {
    const html = (await renderEmail({ document: fullDocument(), brand, validationLevel: "strict" })).html;
    expect(html).not.toContain("data-ds-");
    expect(html).not.toContain("ds-img");
  });

  test("hostile text in list items, quotes and labels stays text in both renders", async () => {
    const document: EmailDocument = fullDocument();
    const hostile = (s: EmailDocument["sections"][number]) => {
      if (s.type === "benefits") s.fields.items[1]!.title = HOSTILE_TEXT;
      if (s.type === "product-grid") s.fields.products[0]!.price = HOSTILE_TEXT.slice(0, 40);
      if (s.type === "testimonial") Object.assign(s.fields, { quote: HOSTILE_TEXT, author: HOSTILE_TEXT.slice(0, 60) });
      if (s.type === "cta") s.fields.label = `<b onclick=x>`;
    };
    document.sections.forEach(hostile);
    for (const edit of [true, false]) {
      const { html, errors } = await renderEmail({ document, brand, validationLevel: "strict", edit });
      expect(errors).toEqual([]);
      const { tags, attributes } = await scanHtml(html);
      expect(tags).not.toContain("script");
      expect(tags).not.toContain("b");
      expect(attributes.filter(([, name]) => /^on/i.test(name))).toEqual([]);
      expect(html).toContain("&lt;script&gt;");
    }
  });
});
