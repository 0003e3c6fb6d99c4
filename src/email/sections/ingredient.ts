import { z } from "zod";
import { MAX_ALT_CHARS, MAX_BODY_TEXT_CHARS, MAX_NAME_CHARS, required, text, url } from "../limits";
import { clamp, type Style } from "./draft";
import { column, editMark, GUTTER_PX, heading, image, imageMark, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

/** Why the spotlighted ingredient matters, by style (no claim the brief did not make). */
const WHY: Record<Style, string> = {
  warm: "We chose it because it works, and because it is kind enough for every day.",
  confident: "It is there for one reason: it works.",
  playful: "Think of it as the hard-working hero of the whole thing.",
  luxe: "Chosen for its quality, and used where it makes a real difference.",
  urgent: "It gets to work from the very first use.",
  calm: "Chosen for how gently and steadily it does its job.",
  expert: "Chosen for its track record, at a level that makes a measurable difference.",
};

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
    const copy = `<mj-text>${heading(2, f.name, ctx.theme.heading, ctx, "left", editMark(ctx, section.id, "name"))}${paragraphs(f.description, P_STYLE, editMark(ctx, section.id, "description"))}</mj-text>`;
    const img = image(f.imageUrl, f.imageAlt ?? "", { padding: `8px ${GUTTER_PX}px`, ...imageMark(ctx, "imageUrl") });
    const columns = img ? [column(img, { width: "40%", "vertical-align": "middle" }), column(copy, { width: "60%", "vertical-align": "middle" })] : [column(copy)];
    return wrapper(section, row(columns), { background: ctx.theme.background });
  },
  draft: (c) => {
    const { name, product } = c.spotlight;
    const found = product !== undefined && name !== product.name;
    // No product in the brief (an event, a newsletter): the spotlight is the brand, which is not an
    // ingredient "chosen because it works".
    const description = !product
      ? `Whatever brings you to ${name} today, we put the same care into every detail.`
      : found
        ? `At the heart of ${product.name} is ${/^[A-Z][a-z]/.test(name) && !/^Vitamin/.test(name) ? name.toLowerCase() : name}. ${WHY[c.style]}`
        : `Every detail of ${name} was designed to earn its place in your day. ${WHY[c.style]}`;
    const photo = product?.imageUrl ?? c.photoUrl;
    return {
      name: clamp(name, MAX_NAME_CHARS),
      description: clamp(description, MAX_BODY_TEXT_CHARS),
      ...(photo ? { imageUrl: photo, imageAlt: clamp(product?.name ?? c.product, MAX_ALT_CHARS) } : {}),
    };
  },
  images: (f) => (f.imageUrl ? [{ url: f.imageUrl, alt: f.imageAlt, what: "The ingredient image" }] : []),
};
