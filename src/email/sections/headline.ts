import { z } from "zod";
import { MAX_HEADLINE_CHARS, MAX_SHORT_TEXT_CHARS, required, text } from "../limits";
import { clamp, codeLine, introLine, readerLine } from "./draft";
import { column, editMark, heading, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  text: required(MAX_HEADLINE_CHARS),
  subtext: text(MAX_SHORT_TEXT_CHARS).optional(),
});

/** The headline: the hook, centred, with an optional supporting line. */
export const headlineSection: SectionModule<"headline", typeof fields> = {
  type: "headline",
  fields,
  form: {
    label: "Headline",
    fields: [
      { name: "text", label: "Headline", kind: "text" },
      { name: "subtext", label: "Supporting line", kind: "text" },
    ],
  },
  guidance: "The hook in a few words; promise the reader one clear benefit.",
  render(section, ctx) {
    const f = section.fields;
    const copy = heading(1, f.text, ctx.theme.heading, ctx, "center", editMark(ctx, section.id, "text")) + (f.subtext ? paragraphs(f.subtext, `${P_STYLE}font-size:18px;text-align:center;`, editMark(ctx, section.id, "subtext")) : "");
    return wrapper(section, row([column(`<mj-text align="center">${copy}</mj-text>`)]), { background: ctx.theme.background, padding: "24px 0 8px" });
  },
  draft: (c, _input, formula) => ({
    text: clamp(c.hook || introLine(c), MAX_HEADLINE_CHARS),
    // Without a hero, the headline carries the offer and its code.
    subtext: clamp(c.offer && !formula.includes("hero") ? `${c.offer.text} — ${codeLine(c)}` : readerLine(c), MAX_SHORT_TEXT_CHARS),
  }),
};
