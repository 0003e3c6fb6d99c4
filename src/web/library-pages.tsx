import { Hono, type Context } from "hono";
import type { BrandStore } from "../brands/store";
import type { EmailEditor } from "../email/editing";
import { displayName, type EmailRecord, type StudioStore } from "../email/studio";
import { decodeCursor, encodeCursor, LIST_STATUSES, type EmailLibrary, type ListedEmail, type ListStatus } from "../email/library";
import { MAX_NAME_CHARS } from "../email/limits";
import { LibraryPage, type LibraryNotice, type LibraryRow } from "../../views/library";
import { requireUser } from "./account-pages";
import { baseUrl, field, formCsrfOk, html, notFoundPage, readForm, FORM_EXPIRED, type FormBody, type PageEnv } from "./forms";

export interface LibraryPagesOptions {
  studio: StudioStore;
  brands: BrandStore;
  library: EmailLibrary;
  /** Renders the thumbnails (its render cache is the editor's). */
  editor: EmailEditor;
  /** True when no AI keys are set (the offline banner). */
  offline: () => boolean;
  publicUrl: string | undefined;
}

/** Emails a page of the library shows: each has a thumbnail (a render of the email), so pages stay short. */
export const LIBRARY_PAGE_SIZE = 12;
/** Templates shown on the emails page. */
const TEMPLATES_SHOWN = 12;
/** A thumbnail's URL names its version and brand stamp, so the browser may keep it for good. */
const THUMBNAIL_MAX_AGE_S = 31_536_000;
const THUMBNAIL_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https:; sandbox";
const NOTICE_KINDS = new Set(["duplicated", "renamed", "archived", "unarchived", "template"]);

/** Where an action goes back to: a list URL of ours (`/emails?…`), never another site. */
function backTo(value: string): string {
  return /^\/emails(?:\?[^\s#]*)?$/.test(value) && !value.startsWith("//") ? value : "/emails";
}

/** `back` with the action's notice (`done`, `id`) in place of the previous one. */
function withNotice(back: string, done: string, id: string): string {
  const url = new URL(back, "http://x");
  url.searchParams.set("done", done);
  url.searchParams.set("id", id);
  return `${url.pathname}?${url.searchParams}`;
}

/**
 * The library page (`/emails`): the team's emails with thumbnails, filters (brand, status, words)
 * and pages, per-row duplicate / rename / archive (with Undo) / save as template, and the templates
 * with "New email from template". Plain forms (POST → redirect back to the same list); the same
 * `EmailLibrary` as the JSON API.
 */
export function libraryPages(options: LibraryPagesOptions) {
  const { studio, brands, library, editor } = options;
  const app = new Hono<PageEnv>();
  const scope = (c: Context<PageEnv>) => c.get("scope");
  for (const path of ["/emails", "/emails/*"]) app.use(path, requireUser);

  app.get("/emails", async (c) => {
    const q = (c.req.query("q") ?? "").trim().slice(0, 200);
    const statusParam = c.req.query("status") ?? "";
    const status = (LIST_STATUSES as readonly string[]).includes(statusParam) ? (statusParam as ListStatus) : undefined;
    const brandList = await brands.brands(scope(c));
    const names = new Map(brandList.map((b) => [b.id, b.name]));
    const brandParam = c.req.query("brandId") ?? "";
    const brandId = names.has(brandParam) ? brandParam : "";
    const cursor = decodeCursor(c.req.query("cursor") ?? "");
    const filters = { kind: "email" as const, ...(brandId ? { brandId } : {}), ...(status ? { status } : {}), ...(q ? { q } : {}) };
    const [page, templates, blocks] = await Promise.all([
      library.list(scope(c), { ...filters, limit: LIBRARY_PAGE_SIZE, ...(cursor ? { cursor } : {}) }),
      library.list(scope(c), { kind: "template", limit: TEMPLATES_SHOWN, ...(brandId ? { brandId } : {}) }),
      library.blocks(scope(c), brandId || undefined),
    ]);
    const stamps = new Map(brandList.map((b) => [b.id, new Date(b.updatedAt).getTime()]));
    const row = (e: ListedEmail): LibraryRow => ({ thumbnail: e.version > 0 ? `/emails/${encodeURIComponent(e.id)}/thumbnail?v=${e.version}&u=${new Date(e.updatedAt).getTime()}&b=${stamps.get(e.brandId) ?? 0}` : null, id: e.id, name: e.displayName, subject: e.document.subject ?? null, status: e.listedStatus, version: e.version, brandId: e.brandId, brandName: names.get(e.brandId) ?? "—", createdAt: e.createdAt, archived: e.archivedAt !== null, offlineDraft: e.document.meta?.offlineDraft === true });
    const params = new URLSearchParams({ ...(brandId ? { brandId } : {}), ...(status ? { status } : {}), ...(q ? { q } : {}) });
    const back = `/emails${params.size > 0 || cursor ? `?${new URLSearchParams({ ...Object.fromEntries(params), ...(cursor ? { cursor: c.req.query("cursor")! } : {}) })}` : ""}`;
    const nextPage = page.nextCursor ? `/emails?${new URLSearchParams({ ...Object.fromEntries(params), cursor: encodeCursor(page.nextCursor) })}` : undefined;
    return html(
      c,
      <LibraryPage
        user={c.get("user")!}
        csrfToken={c.get("csrfToken")!}
        offline={options.offline()}
        emails={page.emails.map(row)}
        templates={templates.emails.map(row)}
        blocks={blocks.map((b) => ({ id: b.id, name: b.name, type: b.type, brandName: names.get(b.brandId) ?? "—" }))}
        brands={brandList.map((b) => ({ id: b.id, name: b.name }))}
        filters={{ brandId, status: status ?? "", q }}
        back={back}
        {...(nextPage ? { nextPage } : {})}
        laterPage={cursor !== undefined}
        {...(await notice(c))}
      />,
    );
  });

  // A saved block is deleted from the library page (the id in the form: blocks have no page of their own).
  app.post("/emails/blocks/delete", async (c) => {
    const form = await readForm(c);
    const back = backTo(field(form, "back"));
    if (!formCsrfOk(c, form)) return c.redirect(`${back}${back.includes("?") ? "&" : "?"}done=expired`, 303);
    const block = await library.block(scope(c), field(form, "blockId"));
    if (!block) return notFoundPage(c, "saved block", { href: "/emails", label: "All emails" });
    await library.deleteBlock(scope(c), block.brandId, block.id);
    const url = new URL(back, "http://x");
    url.searchParams.set("done", "block-deleted");
    url.searchParams.set("block", block.name.slice(0, 120));
    url.searchParams.delete("id");
    return c.redirect(`${url.pathname}?${url.searchParams}`, 303);
  });

  /** The notice of the action that redirected here (`?done=…&id=…`), named after the email. */
  async function notice(c: Context<PageEnv>): Promise<{ notice?: LibraryNotice }> {
    const done = c.req.query("done") ?? "";
    const id = c.req.query("id") ?? "";
    if (done === "expired") return { notice: { kind: "error", message: FORM_EXPIRED } };
    if (done === "block-deleted") return { notice: { kind: "block-deleted", name: (c.req.query("block") ?? "").slice(0, 120) } };
    if (done === "not-ready") return { notice: { kind: "error", message: "That email is not ready (still being written, or it failed); only a ready email can be copied." } };
    if (!NOTICE_KINDS.has(done) || !id) return {};
    const email = await studio.email(scope(c), id);
    return email ? { notice: { kind: done as LibraryNotice["kind"], id, name: displayName(email) } } : {};
  }

  /**
   * One action on one email of the team: another team's or an unknown id is the 404 page, an
   * expired form changes nothing, else `act` runs and the list shows its notice.
   */
  function action(path: string, act: (email: EmailRecord, form: FormBody, c: Context<PageEnv>) => Promise<{ done: string; id: string } | { redirect: string }>) {
    app.post(path, async (c) => {
      const email = await studio.email(scope(c), c.req.param("id") ?? "");
      if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
      const form = await readForm(c);
      const back = backTo(field(form, "back"));
      if (!formCsrfOk(c, form)) return c.redirect(withNotice(back, "expired", email.id), 303);
      const result = await act(email, form, c);
      return c.redirect("redirect" in result ? result.redirect : withNotice(back, result.done, result.id), 303);
    });
  }

  const clientId = (c: Context<PageEnv>) => c.get("user")!.id;

  /**
   * A thumbnail: the email's HTML alone (no checks), from the editor's render cache (a version the
   * editor has shown is not rendered again, nor the other way round), sandboxed like the HTML
   * route. Its URL carries the version, last write and brand stamp, so the browser keeps it until
   * one of them changes: a second visit to the library renders nothing.
   */
  app.get("/emails/:id/thumbnail", async (c) => {
    const email = await studio.email(scope(c), c.req.param("id"));
    if (!email) return c.text("No such email.", 404);
    const brand = await brands.brand(scope(c), email.brandId);
    const body = brand ? await editor.renderedHtml(email, { base: baseUrl(c, options.publicUrl) }) : undefined;
    if (!brand || body === undefined) return c.text("The email's brand is gone.", 404);
    const current = c.req.query("v") === String(email.version) && c.req.query("u") === String(new Date(email.updatedAt).getTime()) && c.req.query("b") === String(new Date(brand.updatedAt).getTime());
    return c.body(body, 200, { "content-type": "text/html; charset=utf-8", "content-security-policy": THUMBNAIL_CSP, "cache-control": current ? `private, max-age=${THUMBNAIL_MAX_AGE_S}, immutable` : "no-store" });
  });

  action("/emails/:id/duplicate", async (email, _form, c) => {
    const made = await library.copy(email, { name: `Copy of ${displayName(email)}`, template: email.isTemplate, note: `Duplicated from “${displayName(email)}” (version ${email.version})`, clientId: clientId(c) });
    return made.ok ? { done: "duplicated", id: made.id } : { done: "not-ready", id: email.id };
  });

  action("/emails/:id/rename", async (email, form) => {
    const name = field(form, "name").replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
    await library.rename(email, [...name].slice(0, MAX_NAME_CHARS).join("").trim() || null);
    return { done: "renamed", id: email.id };
  });

  action("/emails/:id/archive", async (email) => {
    await library.setArchived(email, true);
    return { done: "archived", id: email.id };
  });

  action("/emails/:id/unarchive", async (email) => {
    await library.setArchived(email, false);
    return { done: "unarchived", id: email.id };
  });

  action("/emails/:id/template", async (email, _form, c) => {
    const made = await library.copy(email, { name: displayName(email), template: true, note: `Saved as a template from “${displayName(email)}” (version ${email.version})`, clientId: clientId(c) });
    return made.ok ? { done: "template", id: made.id } : { done: "not-ready", id: email.id };
  });

  action("/emails/:id/use-template", async (email, _form, c) => {
    if (!email.isTemplate) return { redirect: `/emails/${encodeURIComponent(email.id)}` };
    const made = await library.copy(email, { name: displayName(email), template: false, note: `From the template “${displayName(email)}”`, clientId: clientId(c) });
    return made.ok ? { redirect: `/emails/${encodeURIComponent(made.id)}` } : { done: "not-ready", id: email.id };
  });

  return app;
}
