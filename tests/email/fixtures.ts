import type { Brand, Brief, EmailDocument } from "../../src/email/document";

/** Strings that must only ever come out of the renderer as text. */
export const HOSTILE = {
  script: "<script>alert(1)</script>",
  breakout: `"><img src=x onerror=alert(1)>`,
  include: `<mj-include path="/etc/passwd" />`,
  quote: `' onmouseover='alert(1)`,
};
export const HOSTILE_TEXT = `${HOSTILE.script} ${HOSTILE.breakout} ${HOSTILE.include} ${HOSTILE.quote} & more`;

export const BAD_URLS = [
  "javascript:alert(1)",
  "JavaScript:alert(1)",
  " javascript:alert(1)",
  "java\tscript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "//evil.example/path",
];

/** An https URL is kept, so its quotes and brackets must be escaped instead. */
export const BREAKOUT_URL = `https://x.example/"><script>alert(1)</script>`;

export const brand: Brand = {
  name: "Glow & Co",
  colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" },
  fonts: { heading: "Playfair Display", body: "Lato" },
  voice: "warm, confident, no jargon",
  logoUrl: "https://cdn.glow.example/logo.png",
  footer: { address: "12 Market Street\nPortland, OR 97201", unsubscribeUrl: "{{unsubscribe}}" },
};

export const brief: Brief = {
  objective: "Launch the new Vitamin C serum and drive first purchases",
  audience: "Women 30-45 with dull, tired skin",
  tone: "warm and reassuring",
  hook: "Wake up to brighter skin in 14 days",
  products: [
    {
      name: "Radiance C Serum",
      description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks. Gentle enough for every morning.",
      imageUrl: "https://cdn.glow.example/serum.png",
      url: "https://glow.example/serum",
    },
  ],
  cta: { label: "Shop the serum", url: "https://glow.example/serum?utm_source=email&utm_medium=newsletter" },
};

/** One section of every type, with valid content. */
export function fullDocument(): EmailDocument {
  return {
    subject: "Wake up to brighter skin",
    preheader: "Our new vitamin C serum is here — made for tired skin.",
    sections: [
      { id: "hero-1", type: "hero", fields: { imageUrl: "https://cdn.glow.example/hero.png", imageAlt: "Radiance C Serum", headline: "Introducing Radiance C", subheadline: "Brighter skin in 14 days." } },
      { id: "headline-1", type: "headline", fields: { text: "Hi {{ first_name }}, wake up to brighter skin", subtext: "Made for tired skin." } },
      { id: "ingredient-1", type: "ingredient", fields: { name: "Vitamin C", description: "A 15% stable vitamin C.", imageUrl: "https://cdn.glow.example/c.png", imageAlt: "Vitamin C" } },
      { id: "benefits-1", type: "benefits", fields: { title: "Why you'll love it", items: [{ title: "Brightens", text: "Dull skin, gone." }, { title: "Evens", text: "Fades spots." }, { title: "Gentle", text: "Every morning." }] } },
      { id: "cta-1", type: "cta", fields: { label: "Shop the serum", url: "https://glow.example/serum?a=1&b=2", note: "Free returns." } },
      { id: "grid-1", type: "product-grid", fields: { products: [{ name: "Serum", description: "15% C", imageUrl: "https://cdn.glow.example/p1.png", url: "https://glow.example/p1", price: "$38" }, { name: "Cream", url: "https://glow.example/p2" }] } },
      { id: "testimonial-1", type: "testimonial", fields: { quote: "My skin glows.", author: "Ana" } },
      { id: "text-1", type: "text", fields: { text: "First paragraph.\nSame paragraph.\n\nSecond paragraph." } },
      { id: "image-1", type: "image", fields: { url: "https://cdn.glow.example/lifestyle.png", alt: "Morning routine", link: "https://glow.example/routine" } },
      { id: "divider-1", type: "divider", fields: {} },
      { id: "footer-1", type: "footer", fields: { address: "12 Market Street\nPortland, OR 97201", unsubscribeUrl: "*|UNSUB|*", companyName: "Glow & Co" } },
    ],
  };
}

/** Every element and attribute (raw, still entity-encoded) of an HTML document, parsed by Bun's HTMLRewriter. */
export async function scanHtml(html: string): Promise<{ tags: string[]; attributes: [tag: string, name: string, value: string][] }> {
  const tags: string[] = [];
  const attributes: [string, string, string][] = [];
  await new HTMLRewriter()
    .on("*", {
      element(el) {
        tags.push(el.tagName);
        for (const [name, value] of el.attributes) attributes.push([el.tagName, name, value]);
      },
    })
    .transform(new Response(html))
    .text();
  return { tags, attributes };
}
