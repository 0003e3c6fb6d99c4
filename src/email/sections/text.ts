import { z } from "zod";
import { MAX_BODY_TEXT_CHARS, required } from "../limits";
import { audienceLine, clamp, closingLine, lowerFirst } from "./draft";
import { column, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({ text: required(MAX_BODY_TEXT_CHARS) });

/** A text block: paragraphs of supporting copy. */
export const textSection: SectionModule<"text", typeof fields> = {
  type: "text",
  fields,
  form: { label: "Text", fields: [{ name: "text", label: "Text", kind: "long" }] },
  guidance: "A short paragraph of supporting copy.",
  render(section, ctx) {
    return wrapper(section, row([column(`<mj-text>${paragraphs(section.fields.text, P_STYLE)}</mj-text>`)]), { background: ctx.theme.background });
  },
  draft: (c) => {
    const who = c.audience ? lowerFirst(c.audience) : "you";
    const opening = c.productDescription ? `${c.product} was made for ${who}. ${c.productDescription}` : `${audienceLine(c)}`;
    return { text: clamp(`${opening}\n\n${closingLine(c)}`, MAX_BODY_TEXT_CHARS) };
  },
};
