import { Hono, type Context } from "hono";
import type { WebVariables } from "../../web/cookies";
import { csrfOk, page, requireUser } from "../../web/account-pages";
import { ImportReviewPage, ImportStartPage, type ImportSummary, type ProposalForReview } from "../../../views/brand-import";
import { BrandImports, type BrandImportRecord, type ProposalEdits } from "./imports";
import { assetUrl } from "../../assets/store";
import { fontStack } from "../../email/theme";
import { precheckUrl } from "../../infra/guarded-fetch";

type Env = { Variables: WebVariables };

function summary(r: BrandImportRecord): ImportSummary {
  return { id: r.id, url: r.url, status: r.status, sessionId: r.sessionId, createdAt: new Date(r.createdAt).toISOString(), brandId: r.brandId, error: r.error ? { code: r.errorCode ?? "import_failed", message: r.error } : null };
}

function forReview(r: BrandImportRecord, base: string): ProposalForReview | undefined {
  const p = r.proposal;
  if (!p) return undefined;
  return {
    brand: p.brand,
    logoUrl: p.logo ? assetUrl(base, p.logo.assetId) : null,
    logoSource: p.logo?.source ?? null,
    sources: p.sources,
    palette: p.palette,
    fonts: p.fonts,
    notes: p.notes,
    stacks: { heading: fontStack(p.brand.fonts?.heading ?? p.brand.fonts?.body), body: fontStack(p.brand.fonts?.body) },
  };
}

/** The review form's fields → edits on top of the proposal (blank optional fields drop what was proposed). */
function editsFromForm(form: Record<string, unknown>, proposal: NonNullable<BrandImportRecord["proposal"]>): ProposalEdits {
  const text = (name: string) => (typeof form[name] === "string" ? (form[name] as string).trim() : "");
  const heading = text("headingFont");
  const body = text("bodyFont");
  const address = text("address").replace(/\r\n/g, "\n");
  return {
    name: text("name"),
    colors: { primary: text("primary"), secondary: text("secondary") || null, background: text("background") || null, text: text("text") || null },
    fonts: heading || body ? { ...(heading ? { heading } : {}), ...(body ? { body } : {}) } : null,
    logoAssetId: form.useLogo === "on" && proposal.brand.logoAssetId ? proposal.brand.logoAssetId : null,
    footer: address ? { address } : null,
  };
}

/**
 * `/brands/import` and `/brands/import/:id`: start an import from a form, watch it (the page's
 * module polls the import and its session), review the proposal and save it. Plain forms: the page
 * works without JavaScript, it just does not update by itself.
 */
export function brandImportPages(options: { imports: BrandImports; publicUrl: string | undefined; allowPrivate: boolean }) {
  const { imports } = options;
  const app = new Hono<Env>();
  const base = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;
  app.use("/brands/import", requireUser);
  app.use("/brands/import/*", requireUser);

  const load = (c: Context<Env>) => imports.get(c.get("scope"), c.req.param("id") ?? "");
  const startPage = async (c: Context<Env>, extra: { error?: string; url?: string } = {}, status: 200 | 400 | 403 | 404 = 200) => {
    const user = c.get("user")!;
    const recent = (await imports.list(c.get("scope"), 10)).map(summary);
    return page(c, <ImportStartPage user={user} csrfToken={c.get("csrfToken")!} recent={recent} {...extra} />, status);
  };
  const reviewPage = (c: Context<Env>, record: BrandImportRecord, error?: string, status: 200 | 400 | 409 = 200) =>
    page(c, <ImportReviewPage user={c.get("user")!} csrfToken={c.get("csrfToken")!} item={summary(record)} proposal={forReview(record, base(c))} error={error} />, status);

  app.get("/brands/import", (c) => startPage(c));
  app.post("/brands/import", async (c) => {
    const form = await c.req.parseBody();
    const raw = typeof form.url === "string" ? form.url.trim() : "";
    if (!csrfOk(c, form)) return startPage(c, { error: "The form expired; reload the page and try again.", url: raw }, 403);
    if (!raw) return startPage(c, { error: "Enter the website's address." }, 400);
    const checked = precheckUrl(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `https://${raw}`, { allowPrivate: options.allowPrivate });
    if (!checked.ok) return startPage(c, { error: checked.message, url: raw }, 400);
    const user = c.get("user")!;
    const started = await imports.start(c.get("scope"), { url: checked.url.href, clientId: user.id });
    return c.redirect(`/brands/import/${started.importId}`);
  });

  app.get("/brands/import/:id", async (c) => {
    const record = await load(c);
    if (!record) return startPage(c, { error: "That import does not exist (or belongs to another team)." }, 404);
    return reviewPage(c, record);
  });

  app.post("/brands/import/:id/accept", async (c) => {
    const record = await load(c);
    if (!record) return startPage(c, { error: "That import does not exist (or belongs to another team)." }, 404);
    const form = await c.req.parseBody();
    if (!csrfOk(c, form)) return reviewPage(c, record, "The form expired; reload the page and try again.", 400);
    if (!record.proposal) return reviewPage(c, record, "This import has no proposal to save.", 409);
    const result = await imports.accept(c.get("scope"), record, editsFromForm(form, record.proposal));
    if (!result.ok) return reviewPage(c, record, result.message, result.code === "invalid_brand" ? 400 : 409);
    return c.redirect(`/brands/${result.brandId}`);
  });

  return app;
}
