import { z } from "zod";
import { MAX_LABEL_CHARS, MAX_SHORT_TEXT_CHARS, required, text, url } from "../limits";
import { escapeHtml, safeLinkUrl } from "../safety";
import { clamp, upperFirst } from "./draft";
import { attrs, column, editMark, GUTTER_PX, P_STYLE, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  label: required(MAX_LABEL_CHARS),
  url: url(),
  note: text(MAX_SHORT_TEXT_CHARS).optional(),
});

/** The call to action: one button in the brand colour, with an optional note under it. */
export const ctaSection: SectionModule<"cta", typeof fields> = {
  type: "cta",
  fields,
  form: {
    label: "Call to action",
    fields: [
      { name: "label", label: "Button label", kind: "text" },
      { name: "url", label: "Button link", kind: "url" },
      { name: "note", label: "Note under the button", kind: "text" },
    ],
  },
  guidance: "One button with an action verb; repeat the offer beside it.",
  render(section, ctx) {
    const { theme } = ctx;
    const f = section.fields;
    const button =
      `<mj-button${attrs({
        href: safeLinkUrl(f.url),
        "background-color": theme.buttonBackground,
        color: theme.buttonText,
        "font-size": "18px",
        "font-weight": "bold",
        "inner-padding": "14px 32px",
        "border-radius": "4px",
        padding: `8px ${GUTTER_PX}px`,
      })}>${ctx.edit ? `<span${attrs({ "data-ds-section": section.id, "data-ds-field": "label", "data-ds-link": "url" })}>${escapeHtml(f.label)}</span>` : escapeHtml(f.label)}</mj-button>`;
    const note = f.note ? `<mj-text align="center" font-size="14px">${paragraphs(f.note, `${P_STYLE}text-align:center;`, editMark(ctx, section.id, "note"))}</mj-text>` : "";
    return wrapper(section, row([column(button + note)]), { background: theme.background });
  },
  draft: (c, { brief }) => ({
    label: clamp(c.ctaLabel, MAX_LABEL_CHARS),
    url: brief.cta?.url.trim() || brief.products?.find((p) => p.url)?.url?.trim() || "",
    // The offer and its code sit on the button's note, so nobody has to scroll back for them.
    note: clamp(
      c.offer
        ? `${upperFirst(c.offer.text)}${c.offer.code ? ` with code ${c.offer.code}` : ""}${c.style === "urgent" ? ", while it lasts." : "."}`
        : c.style === "urgent"
          ? "While it lasts."
          : "Questions? Just reply to this email.",
      MAX_SHORT_TEXT_CHARS,
    ),
  }),
};
