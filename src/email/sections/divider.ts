import { z } from "zod";
import { attrs, column, GUTTER_PX, row, wrapper } from "./mjml";
import type { SectionModule } from "./section";

const fields = z.strictObject({});

/** A divider: a quiet rule between two parts of the email. */
export const dividerSection: SectionModule<"divider", typeof fields> = {
  type: "divider",
  fields,
  form: { label: "Divider", fields: [] },
  guidance: "A quiet break between two parts of the email.",
  render(section, ctx) {
    const divider = `<mj-divider${attrs({ "border-color": ctx.theme.secondary, "border-width": "1px", padding: `8px ${GUTTER_PX}px` })} />`;
    return wrapper(section, row([column(divider)]), { background: ctx.theme.background, padding: "8px 0" });
  },
  draft: () => ({}),
  summary: () => "—",
};
