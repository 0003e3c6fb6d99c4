import { Hono, type Context } from "hono";
import type { EmailEditor } from "../email/editing";
import type { EmailRecord, StudioStore } from "../email/studio";
import { differences, VARIANT_SECTIONS, type Variants, type VariantSection } from "../email/variants";
import { MAX_SUBJECT_CHARS } from "../email/limits";
import { ComparePage, type CompareColumn } from "../../views/compare";
import { requireUser } from "./account-pages";
import { baseUrl, field, formCsrfOk, html, notFoundPage, readForm, FORM_EXPIRED, type PageEnv } from "./forms";

export interface VariantPagesOptions {
  studio: StudioStore;
  editor: EmailEditor;
  variants: Variants;
  publicUrl: string | undefined;
  offline: () => boolean;
}

/** Pages for variants: "Make a variant" (a form post from the editor) and the compare page. */
export function variantPages(options: VariantPagesOptions) {
  const { studio, editor, variants } = options;
  const app = new Hono<PageEnv>();
  app.use("/emails/:id/variants", requireUser);
  app.use("/emails/:id/compare", requireUser);

  async function loadEmail(c: Context<PageEnv>, id: string): Promise<EmailRecord | undefined> {
    return studio.email(c.get("scope"), id);
  }

  app.post("/emails/:id/variants", async (c) => {
    const form = await readForm(c);
    if (!formCsrfOk(c, form)) return c.text(FORM_EXPIRED, 403);
    const email = await loadEmail(c, c.req.param("id"));
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const subject = field(form, "subject").trim().slice(0, MAX_SUBJECT_CHARS);
    const instruction = field(form, "instruction").trim().slice(0, 1_000);
    const section = field(form, "section");
    const made = await variants.make(email, {
      ...(subject ? { subject } : {}),
      ...(instruction && (VARIANT_SECTIONS as readonly string[]).includes(section) ? { section: section as VariantSection, instruction } : {}),
      baseUrl: baseUrl(c, options.publicUrl),
    });
    if (!made.ok) return c.text(made.message, made.code === "email_not_ready" ? 409 : 400);
    return c.redirect(`/emails/${encodeURIComponent(made.emailId)}`, 303);
  });

  app.get("/emails/:id/compare", async (c) => {
    const email = await loadEmail(c, c.req.param("id"));
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const family = await variants.family(email);
    const wanted = (c.req.query("ids") ?? "").split(",").filter(Boolean);
    const shown = wanted.length >= 2 ? family.filter((m) => wanted.includes(m.id)) : family;
    const first = shown[0] ?? email;
    const base = baseUrl(c, options.publicUrl);
    const columns: CompareColumn[] = [];
    for (const [i, member] of shown.entries()) {
      const rendered = await editor.rendered(member, { base });
      columns.push({
        id: member.id,
        label: i === 0 ? (member.document.meta?.variantOf ? "Variant A" : "Original") : `Variant ${String.fromCharCode(65 + i - (first.document.meta?.variantOf ? 0 : 1))}`,
        version: member.version,
        subject: member.document.subject ?? null,
        preheader: member.document.preheader ?? null,
        differences: i === 0 ? [] : differences(first.document, member.document),
        checks: rendered?.checks ?? [],
      });
    }
    return html(c, <ComparePage user={c.get("user")!} csrfToken={c.get("csrfToken")!} offline={options.offline()} columns={columns} />);
  });

  return app;
}
