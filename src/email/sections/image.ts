import { z } from "zod";
import { MAX_ALT_CHARS, text, url } from "../limits";
import { safeLinkUrl } from "../safety";
import { clamp } from "./draft";
import { column, GUTTER_PX, image, imageMark, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  url: url(),
  alt: text(MAX_ALT_CHARS),
  link: url().optional(),
});

/** An image, full width, optionally linked. */
export const imageSection: SectionModule<"image", typeof fields> = {
  type: "image",
  fields,
  form: {
    label: "Image",
    fields: [
      { name: "url", label: "Image URL", kind: "url" },
      { name: "alt", label: "Image description (alt text)", kind: "text" },
      { name: "link", label: "Link (optional)", kind: "url" },
    ],
  },
  guidance: "A full-width image that shows the product in use.",
  render(section, ctx) {
    const f = section.fields;
    const img = image(f.url, f.alt, { href: f.link ? safeLinkUrl(f.link) : undefined, padding: `0 ${GUTTER_PX}px`, ...imageMark(ctx, "url") });
    return wrapper(section, row([column(img || `<mj-spacer height="1px" />`)]), { background: ctx.theme.background });
  },
  draft: (c, { heroImageUrl }) => {
    const withImage = c.products.filter((p) => p.imageUrl);
    const product = withImage[1] ?? withImage[0];
    return {
      url: product?.imageUrl ?? heroImageUrl ?? "",
      alt: clamp(product?.name ?? `${c.product} from ${c.brand}`, MAX_ALT_CHARS),
      ...(product?.url ? { link: product.url } : {}),
    };
  },
  images: (f) => [{ url: f.url, alt: f.alt, what: "The image" }],
  links: (f) => (f.link ? [f.link] : []),
};
