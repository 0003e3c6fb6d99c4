import { z } from "zod";
import { MAX_HEADLINE_CHARS, MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_SHORT_TEXT_CHARS, required, text } from "../limits";
import { clamp, type Style } from "./draft";
import { chunk, column, editMark, heading, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

/** The benefits title the offline draft uses, by the brief's style. */
const BENEFITS_TITLE: Record<Style, string> = {
  warm: "Why you'll love it",
  confident: "What you get",
  playful: "Why it's a total yes",
  luxe: "The difference you'll feel",
  urgent: "Why now",
  calm: "What it brings you",
  expert: "What it does",
};

const fields = z.strictObject({
  title: text(MAX_HEADLINE_CHARS).optional(),
  items: z
    .array(z.strictObject({ title: required(MAX_NAME_CHARS), text: text(MAX_SHORT_TEXT_CHARS) }))
    .min(1, { error: "needs at least one benefit" })
    .max(MAX_LIST_ITEMS, { error: `may have at most ${MAX_LIST_ITEMS} benefits` }),
});

/** Benefits: a title and two to eight short benefits in rows of two or three. */
export const benefitsSection: SectionModule<"benefits", typeof fields> = {
  type: "benefits",
  fields,
  form: {
    label: "Benefits",
    fields: [{ name: "title", label: "Title", kind: "text" }],
    list: { name: "items", label: "Benefits", itemLabel: "Benefit", fields: [{ name: "title", label: "Benefit", kind: "text" }, { name: "text", label: "Detail", kind: "long" }] },
  },
  guidance: "Three to four concrete benefits, each a short title and one line.",
  render(section, ctx) {
    const f = section.fields;
    const rows: string[] = [];
    if (f.title) rows.push(row([column(`<mj-text align="center">${heading(2, f.title, ctx.theme.heading, ctx, "center", editMark(ctx, section.id, "title"))}</mj-text>`)]));
    for (const items of chunk(f.items.map((item, at) => ({ item, at })))) {
      const columns = items.map(({ item, at }) => {
        return column(`<mj-text>${heading(3, item.title, ctx.theme.heading, ctx, "left", editMark(ctx, section.id, `items.${at}.title`))}${item.text ? paragraphs(item.text, P_STYLE, editMark(ctx, section.id, `items.${at}.text`)) : ""}</mj-text>`);
      });
      rows.push(row(columns));
    }
    return wrapper(section, rows.join("\n"), { background: ctx.theme.background });
  },
  // The benefits are the products' claims, rephrased for the reader (sections/draft.ts), never the product list.
  draft: (c) => ({
    title: BENEFITS_TITLE[c.style],
    items: c.benefits.map((b) => ({ title: clamp(b.title, MAX_NAME_CHARS), text: clamp(b.text, MAX_SHORT_TEXT_CHARS) })),
  }),
  summary: (f) => f.title || f.items.map((i) => i.title).join(" · "),
};
