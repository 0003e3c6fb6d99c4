import { z } from "zod";
import { MAX_ALT_CHARS, MAX_BODY_TEXT_CHARS, MAX_NAME_CHARS, required, text, url } from "../limits";
import { clamp, lowerFirst } from "./draft";
import { column, GUTTER_PX, heading, image, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  name: required(MAX_NAME_CHARS),
  description: text(MAX_BODY_TEXT_CHARS),
  imageUrl: url().optional(),
  imageAlt: text(MAX_ALT_CHARS).optional(),
});

/** The ingredient highlight: the one ingredient or feature that makes the product special, beside its image. */
export const ingredientSection: SectionModule<"ingredient", typeof fields> = {
  type: "ingredient",
  fields,
  form: {
    label: "Ingredient highlight",
    fields: [
      { name: "name", label: "Ingredient", kind: "text" },
      { name: "description", label: "Why it matters", kind: "long" },
      { name: "imageUrl", label: "Image URL", kind: "url" },
      { name: "imageAlt", label: "Image description (alt text)", kind: "text" },
    ],
  },
  guidance: "Spotlight the one ingredient or feature that makes the product special.",
  render(section, ctx) {
    const f = section.fields;
    const copy = `<mj-text>${heading(2, f.name, ctx.theme.heading, ctx)}${paragraphs(f.description, P_STYLE)}</mj-text>`;
    const img = image(f.imageUrl, f.imageAlt ?? "", { padding: `8px ${GUTTER_PX}px` });
    const columns = img ? [column(img, { width: "40%", "vertical-align": "middle" }), column(copy, { width: "60%", "vertical-align": "middle" })] : [column(copy)];
    return wrapper(section, row(columns), { background: ctx.theme.background });
  },
  draft: (c, { brief }) => {
    const product = brief.products?.[0];
    const description = c.productDescription || `${c.product} is at the heart of everything ${c.brand} makes — chosen for ${c.audience ? lowerFirst(c.audience) : "you"}.`;
    return {
      name: clamp(c.product, MAX_NAME_CHARS),
      description: clamp(description, MAX_BODY_TEXT_CHARS),
      ...(product?.imageUrl ? { imageUrl: product.imageUrl, imageAlt: clamp(product.name, MAX_ALT_CHARS) } : {}),
    };
  },
  images: (f) => (f.imageUrl ? [{ url: f.imageUrl, alt: f.imageAlt, what: "The ingredient image" }] : []),
};
