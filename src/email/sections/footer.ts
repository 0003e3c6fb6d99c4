import { z } from "zod";
import { MAX_ADDRESS_CHARS, MAX_NAME_CHARS, text, url } from "../limits";
import { escapeHtml, safeLinkUrl } from "../safety";
import { clamp } from "./draft";
import { column, editMark, GUTTER_PX, linkMark, paragraphs, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({
  address: text(MAX_ADDRESS_CHARS),
  unsubscribeUrl: url(),
  companyName: text(MAX_NAME_CHARS).optional(),
});

/** The footer: who is sending (company, postal address) and the unsubscribe link. */
export const footerSection: SectionModule<"footer", typeof fields> = {
  type: "footer",
  fields,
  form: {
    label: "Footer",
    fields: [
      { name: "companyName", label: "Company name", kind: "text" },
      { name: "address", label: "Postal address", kind: "long" },
      { name: "unsubscribeUrl", label: "Unsubscribe link or merge tag", kind: "text" },
    ],
  },
  guidance: "Postal address and unsubscribe link (required by law in most places).",
  render(section, ctx) {
    const f = section.fields;
    const style = `margin:0 0 8px;font-size:12px;line-height:1.5;text-align:center;color:${ctx.theme.text};`;
    const unsubscribe = safeLinkUrl(f.unsubscribeUrl, { allowMergeTag: true });
    const copy = [
      f.companyName ? `<p style="${style}font-weight:bold;"${editMark(ctx, section.id, "companyName")}>${escapeHtml(f.companyName)}</p>` : "",
      f.address ? paragraphs(f.address, style, editMark(ctx, section.id, "address")) : "",
      `<p style="${style}">You are receiving this email because you subscribed to updates from ${escapeHtml(f.companyName || ctx.brand.name)}. <a class="ds-link" href="${escapeHtml(unsubscribe)}" style="color:${ctx.theme.text};text-decoration:underline;"${linkMark(ctx, section.id, "unsubscribeUrl")}>Unsubscribe</a></p>`,
    ].join("");
    return wrapper(section, row([column(`<mj-text align="center" padding="16px ${GUTTER_PX}px">${copy}</mj-text>`)]), {
      background: ctx.theme.background,
      padding: "16px 0 32px",
    });
  },
  draft: (c, { brand }) => ({
    address: brand.footer?.address ?? "",
    unsubscribeUrl: brand.footer?.unsubscribeUrl ?? "",
    companyName: clamp(c.brand, MAX_NAME_CHARS),
  }),
  summary: (f) => f.companyName?.trim() || f.address.trim(),
};
