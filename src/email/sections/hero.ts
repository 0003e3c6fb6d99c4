import { z } from "zod";
import { MAX_ALT_CHARS, MAX_HEADLINE_CHARS, MAX_SHORT_TEXT_CHARS, text, url } from "../limits";
import { clamp, codeLine, fitting, introLine, occasionLead, offerHeadline, promiseLine } from "./draft";
import { column, editMark, EMAIL_WIDTH_PX, GUTTER_PX, heading, image, imageMark, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const IMAGE_HINT = "An https:// image URL; leave empty to keep the generated one.";

const fields = z.strictObject({
  imageUrl: url().optional(),
  imageAlt: text(MAX_ALT_CHARS),
  headline: text(MAX_HEADLINE_CHARS).optional(),
  subheadline: text(MAX_SHORT_TEXT_CHARS).optional(),
});

/** The hero: a full-width image with the headline and subheadline over the brand colour. */
export const heroSection: SectionModule<"hero", typeof fields> = {
  type: "hero",
  fields,
  form: {
    label: "Hero",
    fields: [
      { name: "headline", label: "Headline over the image", kind: "text" },
      { name: "subheadline", label: "Subheadline", kind: "text" },
      { name: "imageAlt", label: "Image description (alt text)", kind: "text" },
      { name: "imageUrl", label: "Image URL", kind: "url", hint: IMAGE_HINT },
    ],
  },
  guidance: "One striking image that sets the mood, with a short headline over it.",
  render(section, ctx) {
    const { theme } = ctx;
    const f = section.fields;
    const rows: string[] = [];
    const img = image(f.imageUrl, f.imageAlt, { width: `${EMAIL_WIDTH_PX}px`, "fluid-on-mobile": "true", ...imageMark(ctx, "imageUrl") });
    if (img) rows.push(row([column(img)]));
    const copy = [
      f.headline ? heading(1, f.headline, theme.heroText, ctx, "center", editMark(ctx, section.id, "headline")) : "",
      f.subheadline ? paragraphs(f.subheadline, `${P_STYLE}font-size:18px;color:${theme.heroText};text-align:center;`, editMark(ctx, section.id, "subheadline")) : "",
    ].join("");
    if (copy) rows.push(row([column(`<mj-text align="center" color="${theme.heroText}" padding="24px ${GUTTER_PX}px">${copy}</mj-text>`)]));
    if (rows.length === 0) rows.push(row([column(`<mj-spacer height="48px" />`)]));
    return wrapper(section, rows.join("\n"), { background: theme.heroBackground, surface: false, padding: "0" });
  },
  draft: (c, input, formula) => {
    // The offer leads when there is one; otherwise the hook belongs to the headline section, and
    // without one the hero carries it.
    const offer = offerHeadline(c);
    const lead = occasionLead(c);
    const main = offer ?? (formula.includes("headline") ? introLine(c) : c.hook || introLine(c));
    const imageUrl = input.heroImageUrl ?? c.photoUrl;
    return {
      ...(imageUrl ? { imageUrl } : {}),
      imageAlt: clamp(c.product === c.brand ? `${c.brand}: ${c.hook}` : `${c.product} from ${c.brand}`, MAX_ALT_CHARS),
      headline: fitting([...(lead ? [`${lead}: ${main}`] : []), main], MAX_HEADLINE_CHARS),
      subheadline: clamp(offer ? `${codeLine(c)} ${promiseLine(c)}` : promiseLine(c), MAX_SHORT_TEXT_CHARS),
    };
  },
  images: (f) => (f.imageUrl ? [{ url: f.imageUrl, alt: f.imageAlt, what: "The hero image" }] : []),
};

