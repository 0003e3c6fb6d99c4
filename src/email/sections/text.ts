import { z } from "zod";
import { MAX_BODY_TEXT_CHARS, required } from "../limits";
import { clamp, closingLine, occasionLead, type Style } from "./draft";
import { column, editMark, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({ text: required(MAX_BODY_TEXT_CHARS) });

/** A text block: paragraphs of supporting copy. */
export const textSection: SectionModule<"text", typeof fields> = {
  type: "text",
  fields,
  form: { label: "Text", fields: [{ name: "text", label: "Text", kind: "long" }] },
  guidance: "A short paragraph of supporting copy.",
  render(section, ctx) {
    return wrapper(section, row([column(`<mj-text>${paragraphs(section.fields.text, P_STYLE, editMark(ctx, section.id, "text"))}</mj-text>`)]), { background: ctx.theme.background });
  },
  draft: (c) => {
    const lead = occasionLead(c);
    const openings: Record<Style, string> = {
      warm: `We made ${c.product} for the moments that matter to you, and we think it shows.`,
      confident: `${c.product} does exactly what it promises, every time.`,
      playful: `${c.product} is the little upgrade your day didn't know it needed.`,
      luxe: `${c.product} is made for those who notice the difference.`,
      urgent: `${c.product} won't be around at this price for long.`,
      calm: `${c.product} brings a little ease to every day.`,
      expert: `${c.product} was developed with one goal: results you can see.`,
    };
    // "This Mother's Day, make it about you."; an occasion that is not a time ("Autumn menu launch") cannot open that sentence.
    const opening = lead && /^(this|for|on|at|in)\b/i.test(lead) ? `${lead}, make it about you. ${openings[c.style]}` : openings[c.style];
    return { text: clamp(`${opening}\n\n${closingLine(c)}`, MAX_BODY_TEXT_CHARS) };
  },
};
