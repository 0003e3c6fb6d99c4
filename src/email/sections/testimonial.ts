import { z } from "zod";
import { MAX_NAME_CHARS, MAX_SHORT_TEXT_CHARS, required, text } from "../limits";
import { escapeHtml } from "../safety";
import { clamp } from "./draft";
import { column, editMark, GUTTER_PX, P_STYLE, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  quote: required(MAX_SHORT_TEXT_CHARS),
  author: text(MAX_NAME_CHARS),
});

/** A testimonial: a customer's quote and who said it, set off by a rule in the secondary colour. */
export const testimonialSection: SectionModule<"testimonial", typeof fields> = {
  type: "testimonial",
  fields,
  form: {
    label: "Testimonial",
    fields: [
      { name: "quote", label: "Quote", kind: "long" },
      { name: "author", label: "Who said it", kind: "text" },
    ],
  },
  guidance: "A short, specific quote from a real customer.",
  render(section, ctx) {
    const f = section.fields;
    // One paragraph (line breaks kept) so the quote marks sit outside the text the canvas edits.
    const quote = `<p style="${P_STYLE}font-size:20px;font-style:italic;line-height:1.4;">“<span${editMark(ctx, section.id, "quote")}>${escapeHtml(f.quote.trim()).replace(/\n/g, "<br />")}</span>”</p>`;
    const author = f.author ? `<p style="margin:0;font-weight:bold;">— <span${editMark(ctx, section.id, "author")}>${escapeHtml(f.author)}</span></p>` : "";
    const content = `<mj-text padding="8px 20px">${quote}${author}</mj-text>`;
    return wrapper(section, row([column(content, { "border-left": `4px solid ${ctx.theme.secondary}` })], { padding: `0 ${GUTTER_PX}px` }), {
      background: ctx.theme.background,
    });
  },
  draft: (c) => ({
    // A draft must not invent a customer: the placeholder asks for a real quote.
    quote: clamp(`[Add a real customer quote about ${c.product} here]`, MAX_SHORT_TEXT_CHARS),
    author: "[Customer name]",
  }),
};
