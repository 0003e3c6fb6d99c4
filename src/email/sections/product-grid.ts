import { z } from "zod";
import { MAX_ALT_CHARS, MAX_NAME_CHARS, MAX_PRICE_CHARS, MAX_PRODUCTS, MAX_SHORT_TEXT_CHARS, required, text, url } from "../limits";
import { escapeHtml, safeLinkUrl } from "../safety";
import { clamp, lowerFirst } from "./draft";
import { chunk, column, editMark, GUTTER_PX, heading, image, imageMark, linkColor, linkMark, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  products: z
    .array(
      z.strictObject({
        name: required(MAX_NAME_CHARS),
        description: text(MAX_SHORT_TEXT_CHARS).optional(),
        imageUrl: url().optional(),
        url: url().optional(),
        price: text(MAX_PRICE_CHARS).optional(),
        /** The image's description; the product's name when absent. */
        imageAlt: text(MAX_ALT_CHARS).optional(),
      }),
    )
    .min(1, { error: "needs at least one product" })
    .max(MAX_PRODUCTS, { error: `may have at most ${MAX_PRODUCTS} products` }),
});

/** The product grid: products with image, name, description, price and a link, in rows of two or three. */
export const productGridSection: SectionModule<"product-grid", typeof fields> = {
  type: "product-grid",
  fields,
  form: {
    label: "Product grid",
    fields: [],
    list: {
      name: "products",
      label: "Products",
      itemLabel: "Product",
      fields: [
        { name: "name", label: "Name", kind: "text" },
        { name: "description", label: "Description", kind: "text" },
        { name: "price", label: "Price", kind: "text" },
        { name: "url", label: "Link", kind: "url" },
        { name: "imageUrl", label: "Image URL", kind: "url" },
        { name: "imageAlt", label: "Image description (alt text; the name when empty)", kind: "text" },
      ],
    },
  },
  guidance: "Two to four products with image, name, price and a link each.",
  render(section, ctx) {
    const link = linkColor(ctx);
    const rows = chunk(section.fields.products.map((product, at) => ({ product, at }))).map((products) =>
      row(
        products.map(({ product, at }) => {
          const mark = (name: string) => editMark(ctx, section.id, `products.${at}.${name}`);
          const href = product.url ? safeLinkUrl(product.url) : undefined;
          const img = image(product.imageUrl, product.imageAlt ?? product.name, { href, padding: "8px 12px", ...imageMark(ctx, `products.${at}.imageUrl`) });
          const copy = [
            heading(3, product.name, ctx.theme.heading, ctx, "left", mark("name")),
            product.description ? paragraphs(product.description, P_STYLE, mark("description")) : "",
            product.price ? `<p style="${P_STYLE}font-weight:bold;"${mark("price")}>${escapeHtml(product.price)}</p>` : "",
            href ? `<p style="${P_STYLE}"><a class="ds-link" href="${escapeHtml(href)}" style="color:${link};font-weight:bold;"${linkMark(ctx, section.id, `products.${at}.url`)}>Shop ${escapeHtml(product.name)}</a></p>` : "",
          ].join("");
          return column(`${img}<mj-text padding="8px 12px">${copy}</mj-text>`);
        }),
        { padding: `0 ${GUTTER_PX - 12}px` },
      ),
    );
    return wrapper(section, rows.join("\n"), { background: ctx.theme.background });
  },
  draft: (c, { brief }) => {
    const products = c.products.slice(0, MAX_PRODUCTS).map((p) => {
      // A short line from the product's own benefit titles, not its description pasted in.
      const [first, second] = p.benefits;
      const line = first ? `${first.title}${second ? `, and ${lowerFirst(second.title)}` : ""}.` : "";
      return {
        name: clamp(p.name, MAX_NAME_CHARS),
        ...(line ? { description: clamp(line, MAX_SHORT_TEXT_CHARS) } : {}),
        ...(p.imageUrl ? { imageUrl: p.imageUrl } : {}),
        ...(p.url || brief.cta?.url ? { url: p.url || brief.cta!.url } : {}),
      };
    });
    return { products: products.length > 0 ? products : [{ name: clamp(c.brand, MAX_NAME_CHARS), ...(brief.cta?.url ? { url: brief.cta.url } : {}) }] };
  },
  summary: (f) => f.products.map((p) => p.name).join(" · "),
  // Product images take the product name as their alt text.
  images: (f) => f.products.filter((p) => p.imageUrl).map((p) => ({ url: p.imageUrl, alt: p.imageAlt ?? p.name, what: `The image of ${p.name}` })),
  links: (f) => f.products.flatMap((p) => (p.url ? [p.url] : [])),
};
