import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Brand, EmailDocument } from "../../src/email/document";
import { buildMjml, compileMjml, EMAIL_WIDTH_PX, renderEmail } from "../../src/email/render";
import { BAD_URLS, brand, BREAKOUT_URL, fullDocument, HOSTILE, HOSTILE_TEXT, scanHtml } from "./fixtures";

/** The same hostile text in every string field of every section type, and in the brand. */
function hostileDocument(url = BREAKOUT_URL): EmailDocument {
  const t = HOSTILE_TEXT;
  return {
    subject: t,
    preheader: t,
    sections: [
      { id: "hero-1", type: "hero", fields: { imageUrl: url, imageAlt: t, headline: t, subheadline: t } },
      { id: "headline-1", type: "headline", fields: { text: t, subtext: t } },
      { id: "ingredient-1", type: "ingredient", fields: { name: t, description: t, imageUrl: url, imageAlt: t } },
      { id: "benefits-1", type: "benefits", fields: { title: t, items: [{ title: t, text: t }] } },
      { id: "cta-1", type: "cta", fields: { label: t, url, note: t } },
      { id: "grid-1", type: "product-grid", fields: { products: [{ name: t, description: t, imageUrl: url, url, price: t }] } },
      { id: "testimonial-1", type: "testimonial", fields: { quote: t, author: t } },
      { id: "text-1", type: "text", fields: { text: t } },
      { id: "image-1", type: "image", fields: { url, alt: t, link: url } },
      { id: "divider-1", type: "divider", fields: {} },
      { id: "footer-1", type: "footer", fields: { address: t, unsubscribeUrl: url, companyName: t } },
    ],
  };
}

const hostileBrand: Brand = {
  name: HOSTILE_TEXT,
  colors: { primary: `#000;background:url(javascript:alert(1))`, background: `"><script>alert(1)</script>`, text: "#222222" },
  fonts: { heading: `Evil"; font-family: x</style><script>alert(1)</script>`, body: HOSTILE.breakout },
  voice: HOSTILE_TEXT,
  logoUrl: "javascript:alert(1)",
};

const SAFE_HREF = /^(#|https?:\/\/|mailto:|\{\{|\*\|)/i;

async function expectInert(html: string) {
  const { tags, attributes } = await scanHtml(html);
  expect(tags).not.toContain("script");
  expect(tags).not.toContain("mj-include");
  expect(attributes.filter(([, name]) => name.toLowerCase().startsWith("on"))).toEqual([]);
  for (const [tag, name, value] of attributes) {
    if (name === "href") expect(value).toMatch(SAFE_HREF);
    if (tag === "img" && name === "src") expect(value).toMatch(/^https?:\/\//);
  }
  // No injected <img src=x …>.
  expect(attributes.some(([tag, n, v]) => tag === "img" && n === "src" && v === "x")).toBe(false);
}

describe("renderEmail", () => {
  test("renders every section type to table-based HTML with no MJML errors (strict)", async () => {
    const result = await renderEmail({ document: fullDocument(), brand, validationLevel: "strict" });
    expect(result.errors).toEqual([]);
    expect(result.html).toStartWith("<!doctype html>");
    expect(result.html).toContain(`<html lang="en"`);
    expect(result.html).toContain(`role="presentation"`);
    expect(result.html).toContain(`max-width:${EMAIL_WIDTH_PX}px`);
    expect(result.html).toContain("<title>Wake up to brighter skin</title>");
    expect(result.html).toContain("Our new vitamin C serum is here");
    expect(result.mjml).toContain("<mj-preview>");
  });

  test("marks every section with its id and type, in order, for the editor", async () => {
    const document = fullDocument();
    const { html } = await renderEmail({ document, brand });
    const { attributes } = await scanHtml(html);
    const ids = attributes.filter(([, name]) => name === "data-section-id").map(([, , v]) => v);
    expect(ids).toEqual(document.sections.map((s) => s.id));
    const types = attributes.filter(([, name]) => name === "data-section-type").map(([, , v]) => v);
    expect(types).toEqual(document.sections.map((s) => s.type));
    const unmarked = await renderEmail({ document, brand, sectionMarkers: false });
    expect(unmarked.html).not.toContain("data-section-id");
  });

  test("paints with the brand's colours and web-safe font fallbacks, without web-font links", async () => {
    const { html } = await renderEmail({ document: fullDocument(), brand });
    expect(html).toContain("background-color:#0f5132"); // primary: hero and button
    expect(html).toContain("background-color:#fffaf2"); // background
    expect(html).toContain("color:#222222"); // text
    expect(html).toContain("'Playfair Display', Georgia, 'Times New Roman', Times, serif");
    expect(html).toContain("Lato, Helvetica, Arial, sans-serif");
    expect(html).not.toContain("<link");
    expect(html).toContain("prefers-color-scheme: dark");
  });

  test("every image has alt text; the logo uses the brand name", async () => {
    const { html } = await renderEmail({ document: fullDocument(), brand });
    const { attributes } = await scanHtml(html);
    const imgs = attributes.filter(([tag]) => tag === "img");
    const srcs = imgs.filter(([, n]) => n === "src").length;
    const alts = imgs.filter(([, n, v]) => n === "alt" && v.trim() !== "");
    expect(srcs).toBe(5); // logo, hero, ingredient, one product, image
    expect(alts.length).toBe(srcs);
    expect(alts.map(([, , v]) => v)).toContain("Glow &amp; Co"); // HTMLRewriter gives raw attribute text
  });

  test("merge tags survive rendering", async () => {
    const doc = fullDocument();
    const { html } = await renderEmail({ document: doc, brand, validationLevel: "strict" });
    expect(html).toContain("Hi {{ first_name }}, wake up");
    expect(html).toContain(`href="*|UNSUB|*"`);
    doc.sections[10] = { id: "footer-1", type: "footer", fields: { address: "1 Main St", unsubscribeUrl: "{{unsubscribe}}" } };
    expect((await renderEmail({ document: doc, brand })).html).toContain(`href="{{unsubscribe}}"`);
  });

  test("escapes hostile strings from the brief and the brand in the HTML and the MJML", async () => {
    const result = await renderEmail({ document: hostileDocument(), brand: hostileBrand, validationLevel: "strict" });
    expect(result.errors).toEqual([]);
    await expectInert(result.html);
    expect(result.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(result.html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    for (const raw of [HOSTILE.script, HOSTILE.breakout, HOSTILE.include]) {
      expect(result.html).not.toContain(raw);
      expect(result.mjml).not.toContain(raw);
    }
    expect(result.mjml).not.toContain("<mj-include");
    expect(result.mjml).not.toContain("javascript:");
    // Invalid brand colours fall back to defaults instead of reaching a style attribute.
    expect(result.html).not.toContain("url(javascript");
  });

  test.each(BAD_URLS)("neutralises the URL %p: links become # and images are left out", async (url) => {
    const doc = hostileDocument(url);
    const result = await renderEmail({ document: doc, brand: { ...brand, logoUrl: url }, validationLevel: "strict" });
    expect(result.errors).toEqual([]);
    await expectInert(result.html);
    const { attributes } = await scanHtml(result.html);
    const hrefs = attributes.filter(([, n]) => n === "href").map(([, , v]) => v);
    expect(hrefs.length).toBeGreaterThan(0);
    expect(hrefs.every((h) => h === "#")).toBe(true);
    expect(attributes.filter(([tag, n]) => tag === "img" && n === "src")).toEqual([]);
    expect(result.html.toLowerCase()).not.toContain("script:");
  });

  test("keeps https, http and mailto links", async () => {
    const doc = fullDocument();
    doc.sections[4] = { id: "cta-1", type: "cta", fields: { label: "Mail us", url: "mailto:hello@glow.example" } };
    doc.sections[8] = { id: "image-1", type: "image", fields: { url: "http://cdn.glow.example/a.png", alt: "A", link: "http://glow.example/a" } };
    const { html } = await renderEmail({ document: doc, brand });
    expect(html).toContain(`href="mailto:hello@glow.example"`);
    expect(html).toContain(`src="http://cdn.glow.example/a.png"`);
    expect(html).toContain(`href="http://glow.example/a"`);
    const withQuery = await renderEmail({ document: fullDocument(), brand });
    expect(withQuery.html).toContain(`href="https://glow.example/serum?a=1&amp;b=2"`);
  });

  test("surfaces MJML errors: strict gives no HTML, soft gives both", async () => {
    const invalid = `<mjml><mj-body><mj-section><mj-column><mj-text colr="red">Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;
    const strict = await compileMjml(invalid, { validationLevel: "strict" });
    expect(strict.html).toBe("");
    expect(strict.errors.length).toBe(1);
    expect(strict.errors[0]!.message).toContain("Attribute colr is illegal");
    expect(strict.errors[0]!.tagName).toBe("mj-text");
    expect(strict.errors[0]!.line).toBe(1);
    const soft = await compileMjml(invalid, { validationLevel: "soft" });
    expect(soft.html).toContain("Hi");
    expect(soft.errors.length).toBe(1);
  });

  test("an unknown section type in an unvalidated document is reported, not rendered", async () => {
    const doc = { sections: [...fullDocument().sections, { id: "x", type: "carousel", fields: {} }, { id: "y", type: "toString", fields: {} }] } as unknown as EmailDocument;
    const result = await renderEmail({ document: doc, brand: { ...brand, fonts: { heading: "constructor", body: "__proto__" } }, validationLevel: "strict" });
    expect(result.errors.map((e) => e.message)).toEqual([
      `Section "x" has an unknown type "carousel" and was left out.`,
      `Section "y" has an unknown type "toString" and was left out.`,
    ]);
    expect(result.html).not.toContain("[object");
    expect(result.html).toContain("data-section-id=\"footer-1\"");
  });

  test("mj-include stays off even in MJML the renderer did not write", async () => {
    const marker = `INCLUDED-${crypto.randomUUID()}`;
    const partial = join(tmpdir(), `${marker}.mjml`);
    await Bun.write(partial, `<mj-section><mj-column><mj-text>${marker}</mj-text></mj-column></mj-section>`);
    try {
      const { html } = await compileMjml(`<mjml><mj-body><mj-include path="${partial}" /></mj-body></mjml>`);
      expect(html).not.toContain(marker);
    } finally {
      rmSync(partial, { force: true });
    }
  });

  test("minified output is smaller and still valid", async () => {
    const full = await renderEmail({ document: fullDocument(), brand, validationLevel: "strict" });
    const min = await renderEmail({ document: fullDocument(), brand, validationLevel: "strict", minify: true });
    expect(min.errors).toEqual([]);
    expect(min.html.length).toBeLessThan(full.html.length);
    expect(min.html).toContain(`data-section-id="cta-1"`);
  });

  test("buildMjml is pure: the same input gives the same MJML", () => {
    const a = buildMjml({ document: fullDocument(), brand });
    const b = buildMjml({ document: fullDocument(), brand });
    expect(a.mjml).toBe(b.mjml);
    expect(a.mjml).toContain(`<mj-body width="600px"`);
  });
});
