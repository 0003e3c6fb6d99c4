import { Hono, type Context } from "hono";
import { assetUrl, type AssetStore } from "../assets/store";
import { ownsAssets, saveFormUploads } from "../assets/uploads";
import type { BrandStore } from "../brands/store";
import type { StudioStore, EmailRecord } from "../email/studio";
import { CLIENT_ID, type EmailEditor, type EditContext, type EditFailure } from "../email/editing";
import type { SessionService } from "../sessions/service";
import type { InputRequests } from "../sessions/input-requests";
import { blockSection, type EmailLibrary } from "../email/library";
import { newSectionId } from "../email/editing";
import type { SectionType } from "../email/document";
import { formatOffset } from "../streams/offsets";
import { NewEmailPage, GenerationPage } from "../../views/emails";
import { EditorPage, Editor, SectionItem, SectionEditForm, type EditorData, type EditorSection } from "../../views/editor";
import { requireUser } from "./account-pages";
import { emptyBriefForm, readBriefForm, toBriefInput, MAX_REFERENCES, MIN_REFERENCES, OFFLINE_PACES, type BriefFormValues } from "./brief-form";
import { fieldsFromForm, sectionSummary, SECTION_FORMS } from "./section-form";
import { generationState, readSessionLog } from "./session-log";
import { baseUrl, field, formCsrfOk, fragment, html, isHtmx, notFoundPage, readForm, FORM_EXPIRED, type FormBody, type PageEnv } from "./forms";

export interface StudioPagesOptions {
  studio: StudioStore;
  brands: BrandStore;
  assets: AssetStore;
  sessions: SessionService;
  editor: EmailEditor;
  /** Answers the hero approval of a generation (`approveHero`). */
  inputs: Pick<InputRequests, "respond">;
  /** The brand's saved blocks (listed in the editor's add-section choices and palette). */
  library: EmailLibrary;
  publicUrl: string | undefined;
  /** True when no AI keys are set (the offline banner, the offline pace choice). */
  offline: () => boolean;
}

/** Runs of the section agent that count as still going. */
const LIVE_RUN_STATUSES = new Set(["queued", "running", "retrying"]);

/**
 * The email studio's pages: the brief form, the live generation view and the editor.
 * Plain forms that work without JavaScript; htmx requests get the changed fragment back instead of
 * a redirect. Handlers gather data and call the same stores and editor as the JSON API.
 */
export function studioPages(options: StudioPagesOptions) {
  const { studio, brands, assets, sessions, editor } = options;
  const app = new Hono<PageEnv>();
  const base = (c: Context) => baseUrl(c, options.publicUrl);
  const user = (c: Context<PageEnv>) => c.get("user")!;
  /** The team gate: set with the signed-in person by `loadUser`, required by every store call. */
  const scope = (c: Context<PageEnv>) => c.get("scope");
  const common = (c: Context<PageEnv>) => ({ user: user(c), csrfToken: c.get("csrfToken")!, offline: options.offline() });

  for (const path of ["/emails", "/emails/*"]) app.use(path, requireUser);

  // --- the brief (the list, /emails, is the library: library-pages.tsx) -------------------------------------
  const briefPage = async (c: Context<PageEnv>, values: BriefFormValues, error?: string, status: 200 | 400 | 403 = 200) => {
    // Each brand's product images, so a product row can pick its photo (brief-form.js shows the chosen brand's).
    const brandList = (await brands.brands(scope(c))).map((b) => ({ id: b.id, name: b.name, productImages: (b.data.productImageAssetIds ?? []).map((id) => ({ id, url: assetUrl(base(c), id) })) }));
    return html(c, <NewEmailPage {...common(c)} brands={brandList} values={values} error={error} />, status);
  };

  // "New email" from a brand page or a brand-filtered list starts with that brand chosen.
  app.get("/emails/new", (c) => briefPage(c, emptyBriefForm(c.req.query("brand") ?? c.req.query("brandId") ?? "")));

  app.post("/emails", async (c) => {
    const form = await readForm(c);
    const { values: posted, referenceFiles, productFiles } = readBriefForm(form, base(c));
    let values = posted;
    if (!formCsrfOk(c, form)) return briefPage(c, values, FORM_EXPIRED, 403);
    if (referenceFiles.length > 0) {
      const room = Math.max(0, MAX_REFERENCES - values.references.length);
      if (referenceFiles.length > room) return briefPage(c, values, `Reference screenshots: add ${MIN_REFERENCES} or ${MAX_REFERENCES} screenshots in all (you sent ${values.references.length + referenceFiles.length}).`, 400);
      const saved = await saveFormUploads(assets, scope(c), referenceFiles, "reference");
      values = { ...values, references: [...values.references, ...saved.ids.map((id) => ({ id, url: assetUrl(base(c), id) }))] };
      if (saved.error) return briefPage(c, values, saved.error, 400);
    }
    // A product photo uploaded with the form (rather than picked from the brand's) is stored first.
    for (const [index, file] of productFiles) {
      const saved = await saveFormUploads(assets, scope(c), [file], "product");
      if (saved.error) return briefPage(c, values, `Product ${index + 1} photo: ${saved.error}`, 400);
      values = { ...values, products: values.products.map((p, i) => (i === index ? { ...p, imageAssetId: saved.ids[0]! } : p)) };
    }
    const input = toBriefInput(values);
    if (!input.ok) return briefPage(c, values, input.message, 400);
    const brand = await brands.brand(scope(c), input.input.brandId);
    if (!brand) return briefPage(c, values, "Choose one of your brands.", 400);
    if (!(await ownsAssets(assets, scope(c), input.input.referenceAssetIds ?? []))) return briefPage(c, values, "A reference screenshot is missing; add it again.", 400);
    if (!(await ownsAssets(assets, scope(c), (input.input.products ?? []).flatMap((p) => (p.imageAssetId ? [p.imageAssetId] : []))))) return briefPage(c, values, "A product photo is missing; pick or upload it again.", 400);
    const brief = await studio.createBrief(scope(c), input.input);
    const pace = options.offline() ? { sectionDelayMs: OFFLINE_PACES[values.pace] } : undefined;
    const started = await editor.startGeneration(brief, { baseUrl: base(c), clientId: user(c).id, ...(pace ? { options: pace } : {}) });
    return c.redirect(`/emails/${encodeURIComponent(started.emailId)}`, 303);
  });

  // --- one email: the live generation view, or the editor ------------------------------------------------------
  async function loadEmail(c: Context<PageEnv>): Promise<EmailRecord | undefined> {
    return studio.email(scope(c), c.req.param("id") ?? "");
  }

  const offlineDraft = (email: EmailRecord) => email.document.meta?.offlineDraft === true || email.provider === "offline" || (options.offline() && (email.provider === null || email.provider === "auto"));

  async function editorData(c: Context<PageEnv>, email: EmailRecord, extra: Partial<Pick<EditorData, "editing" | "notice" | "error">> & { startedRun?: { runId: string; sectionId: string } } = {}): Promise<EditorData> {
    const [brand, rendered, history, runs, row, blocks] = await Promise.all([
      brands.brand(scope(c), email.brandId),
      editor.rendered(email, { base: base(c) }),
      editor.history(email),
      sessions.runs(email.sessionId),
      sessions.stream(email.sessionId),
      options.library.blocks(scope(c), email.brandId),
    ]);
    const sections: EditorSection[] = email.document.sections.map((s) => ({ id: s.id, type: s.type, label: SECTION_FORMS[s.type].label, summary: sectionSummary(s.type, s.fields as Record<string, unknown>), fields: s.fields as Record<string, unknown> }));
    const liveRuns: EditorData["liveRuns"] = runs
      .filter((r) => r.agent === "email-section" && LIVE_RUN_STATUSES.has(r.status))
      .map((r) => {
        const sectionId = extra.startedRun?.runId === r.runId ? extra.startedRun.sectionId : undefined;
        const section = sections.find((s) => s.id === sectionId);
        return { runId: r.runId, ...(sectionId ? { sectionId } : {}), label: section ? `Rewriting the ${section.label.toLowerCase()} section…` : "Rewriting a section…" };
      });
    if (extra.startedRun && !liveRuns.some((r) => r.runId === extra.startedRun!.runId)) {
      // Finished before we looked: the page refreshes when editor.js sees its run.end.
      liveRuns.push({ runId: extra.startedRun.runId, sectionId: extra.startedRun.sectionId, label: "Rewriting…" });
    }
    return {
      email: { id: email.id, sessionId: email.sessionId, version: email.version, subject: email.document.subject ?? null, preheader: email.document.preheader ?? null, offlineDraft: offlineDraft(email) },
      brandName: brand?.name ?? "",
      sections,
      history: { entries: history.entries, showing: history.showing, ...(history.undo !== undefined ? { undo: history.undo } : {}), ...(history.redo !== undefined ? { redo: history.redo } : {}) },
      checks: rendered?.checks ?? [],
      blocks: blocks.map((b) => ({ id: b.id, name: b.name, type: b.type })),
      liveRuns,
      offset: row ? formatOffset(row.tailPos) : "-1",
      csrfToken: c.get("csrfToken")!,
      ...(extra.editing ? { editing: extra.editing } : {}),
      ...(extra.notice ? { notice: extra.notice } : {}),
      ...(extra.error ? { error: extra.error } : {}),
    };
  }

  app.get("/emails/:id", async (c) => {
    const email = await loadEmail(c);
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    if (email.status !== "ready") {
      const log = await readSessionLog(sessions, email.sessionId);
      const brief = email.briefId ? await studio.brief(scope(c), email.briefId) : undefined;
      const state = generationState(log?.events ?? [], email.runId);
      return html(
        c,
        <GenerationPage
          {...common(c)}
          email={{ id: email.id, sessionId: email.sessionId, runId: email.runId, status: email.status, hook: brief?.data.hook ?? email.document.subject ?? "New email", offlineDraft: offlineDraft(email), error: email.error, briefId: email.briefId }}
          state={state}
          offset={log?.offset ?? "-1"}
        />,
      );
    }
    const edit = c.req.query("edit");
    const data = await editorData(c, email, edit ? { editing: { sectionId: edit } } : {});
    return html(c, <EditorPage user={user(c)} offline={options.offline()} data={data} />);
  });

  app.get("/emails/:id/edit", (c) => c.redirect(`/emails/${encodeURIComponent(c.req.param("id"))}`));

  app.get("/emails/:id/editor", async (c) => {
    const email = await loadEmail(c);
    if (!email) return c.text("This email is gone.", 404);
    if (email.status !== "ready") return c.body(null, 204);
    return fragment(c, <Editor data={await editorData(c, email)} />);
  });

  /** One section as a list item, in view or edit mode (htmx); without htmx, the editor page with it open. */
  async function sectionFragment(c: Context<PageEnv>, mode: "view" | "edit") {
    const email = await loadEmail(c);
    if (!email) return c.text("This email is gone.", 404);
    const sectionId = c.req.param("sectionId") ?? "";
    const index = email.document.sections.findIndex((s) => s.id === sectionId);
    if (!isHtmx(c)) return c.redirect(`/emails/${encodeURIComponent(email.id)}${mode === "edit" ? `?edit=${encodeURIComponent(sectionId)}` : ""}#section-${sectionId}`);
    if (index < 0) return c.text("This section is not in the email any more; reload the page.", 404);
    const s = email.document.sections[index]!;
    const section: EditorSection = { id: s.id, type: s.type, label: SECTION_FORMS[s.type].label, summary: sectionSummary(s.type, s.fields as Record<string, unknown>), fields: s.fields as Record<string, unknown> };
    const csrfToken = c.get("csrfToken")!;
    if (mode === "edit") return fragment(c, <SectionEditForm emailId={email.id} section={section} csrfToken={csrfToken} version={email.version} fields={section.fields} />);
    return fragment(c, <SectionItem emailId={email.id} section={section} first={index === 0} last={index === email.document.sections.length - 1} csrfToken={csrfToken} version={email.version} />);
  }
  app.get("/emails/:id/sections/:sectionId/edit", (c) => sectionFragment(c, "edit"));
  app.get("/emails/:id/sections/:sectionId", (c) => sectionFragment(c, "view"));

  /**
   * Runs one editing action: checks the form, applies it, and answers with the editor fragment
   * (htmx) or a redirect back to the editor (plain form). A refused edit shows its message in place.
   */
  async function editAction(
    c: Context<PageEnv>,
    act: (email: EmailRecord, form: FormBody, ctx: EditContext) => Promise<{ ok: true; notice?: string; startedRun?: { runId: string; sectionId: string } } | (EditFailure & { editing?: EditorData["editing"] })>,
  ) {
    const email = await loadEmail(c);
    if (!email) return isHtmx(c) ? c.text("This email is gone.", 404) : notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const form = await readForm(c);
    const respond = async (extra: Parameters<typeof editorData>[2], status: 200 | 403 | 409 | 422) => {
      const fresh = (await studio.email(scope(c), email.id))!;
      const data = await editorData(c, fresh, extra);
      return isHtmx(c) ? fragment(c, <Editor data={data} />, status === 403 ? 422 : status) : html(c, <EditorPage user={user(c)} offline={options.offline()} data={data} />, status);
    };
    if (!formCsrfOk(c, form)) return respond({ error: FORM_EXPIRED }, 403);
    if (email.status !== "ready") return respond({ error: "The email is still being generated; edit it when it is ready." }, 409);
    // The version the page showed when the edit was made (its `If-Match`); absent from old forms.
    const sent = field(form, "version");
    const ctx: EditContext = { clientId: tabClientId(c, form) ?? user(c).id, author: user(c).name || user(c).email, ...(/^\d{1,9}$/.test(sent) ? { baseVersion: Number(sent) } : {}) };
    const result = await act(email, form, ctx);
    if (!result.ok && result.code === "version_conflict") {
      const fresh = (await studio.email(scope(c), email.id))!;
      const last = result.changes?.at(-1);
      const message = `This email was changed in another tab or by someone else (now version ${fresh.version}${last ? `: ${last.summary}${last.author ? ` by ${last.author}` : ""}` : ""}); your edit was not saved.`;
      const conflict = { changes: (result.changes ?? []).map((c) => ({ version: c.version, summary: c.summary, author: c.author })), conflicts: result.conflicts ?? [] };
      const editing = result.editing ? { ...result.editing, error: `${message} Re-apply yours on the new version, or discard it.`, version: fresh.version, conflict } : undefined;
      return respond(editing ? { editing } : { error: `${message} The page now shows the newest version; make your edit again.` }, isHtmx(c) ? 422 : 409); // htmx swaps 422 (the form, kept), not 409
    }
    if (!result.ok) return respond({ error: result.editing ? undefined : result.message, ...(result.editing ? { editing: result.editing } : {}) }, 422);
    if (!isHtmx(c)) return c.redirect(`/emails/${encodeURIComponent(email.id)}`, 303);
    return respond({ ...(result.notice ? { notice: result.notice } : {}), ...(result.startedRun ? { startedRun: result.startedRun } : {}) }, 200);
  }

  app.post("/emails/:id/sections/:sectionId", (c) =>
    editAction(c, async (email, form, ctx) => {
      const sectionId = c.req.param("sectionId");
      const section = email.document.sections.find((s) => s.id === sectionId);
      if (!section) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
      const fields = fieldsFromForm(section.type, form, section.fields as Record<string, unknown>);
      const result = await editor.editSection(email, sectionId, fields, ctx);
      if (!result.ok) return { ...result, editing: { sectionId, error: humanSectionError(result.message), fields: { ...(section.fields as Record<string, unknown>), ...fields } } };
      return { ok: true, notice: `Saved the ${SECTION_FORMS[section.type].label.toLowerCase()} section.` };
    }),
  );

  app.post("/emails/:id/sections/:sectionId/move", (c) =>
    editAction(c, async (email, form, ctx) => editor.moveSection(email, c.req.param("sectionId"), field(form, "direction") === "up" ? -1 : 1, ctx)),
  );

  app.post("/emails/:id/sections/:sectionId/delete", (c) =>
    editAction(c, async (email, _form, ctx) => {
      const result = await editor.deleteSection(email, c.req.param("sectionId"), ctx);
      return result.ok ? { ok: true, notice: "Section deleted. Undo brings it back." } : result;
    }),
  );

  app.post("/emails/:id/sections/:sectionId/regenerate", (c) =>
    editAction(c, async (email, form, ctx) => {
      const instruction = field(form, "instruction").trim().slice(0, 1_000);
      const sectionId = c.req.param("sectionId");
      if (!instruction) return { ok: false, code: "invalid_section", message: "Say how the section should change, e.g. “shorter, and mention the offer”." };
      const result = await editor.regenerate(email, sectionId, { instruction, baseUrl: base(c), clientId: user(c).id });
      return result.ok ? { ok: true, startedRun: { runId: result.runId, sectionId } } : result;
    }),
  );

  app.post("/emails/:id/sections", (c) =>
    editAction(c, async (email, form, ctx) => {
      const type = field(form, "type");
      // A saved block of the brand ("block:<id>" among the choices): inserted before the closing footer.
      if (type.startsWith("block:")) {
        const block = await options.library.block(scope(c), type.slice("block:".length));
        if (!block) return { ok: false, code: "section_not_found", message: "That saved block is gone; reload the page." };
        const section = blockSection(block, newSectionId(email.document, block.type));
        if (!section.ok) return { ok: false, code: "invalid_section", message: section.message };
        const result = await editor.insertSection(email, section.section, { note: `Inserted the saved block “${block.name}”` }, ctx);
        return result.ok ? { ok: true, notice: `Inserted the saved block “${block.name}”.` } : result;
      }
      const result = await editor.addSection(email, type, base(c), field(form, "after") || undefined, ctx);
      return result.ok ? { ok: true, notice: `Added a ${SECTION_FORMS[type as SectionType]?.label.toLowerCase() ?? type} section at the end.` } : result;
    }),
  );

  app.post("/emails/:id/sections/:sectionId/save-block", (c) =>
    editAction(c, async (email) => {
      const saved = await options.library.saveBlock(email, c.req.param("sectionId"), undefined);
      if (!saved.ok) return { ok: false, code: "section_not_found", message: saved.message };
      const brand = await brands.brand(scope(c), email.brandId);
      return { ok: true, notice: `Saved “${saved.block.name}” as a block of ${brand?.name ?? "the brand"}: insert it from Add section or the canvas palette.` };
    }),
  );

  app.post("/emails/:id/order", (c) =>
    editAction(c, async (email, form, ctx) => editor.reorder(email, field(form, "order").split(",").map((s) => s.trim()).filter(Boolean), ctx)),
  );

  app.post("/emails/:id/meta", (c) =>
    editAction(c, async (email, form, ctx) => {
      const oneLine = (name: string) => field(form, name).replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
      const result = await editor.editMeta(email, { subject: oneLine("subject"), preheader: oneLine("preheader") }, ctx);
      return result.ok ? { ok: true, notice: result.version === email.version ? "Nothing changed." : "Saved the subject line and preheader." } : result;
    }),
  );

  app.post("/emails/:id/undo", (c) =>
    editAction(c, async (email, _form, ctx) => {
      const result = await editor.undo(email, ctx);
      return result.ok ? { ok: true, notice: "Undone." } : result;
    }),
  );
  app.post("/emails/:id/redo", (c) =>
    editAction(c, async (email, _form, ctx) => {
      const result = await editor.redo(email, ctx);
      return result.ok ? { ok: true, notice: "Redone." } : result;
    }),
  );
  app.post("/emails/:id/versions/:version/restore", (c) =>
    editAction(c, async (email, _form, ctx) => {
      const version = Number(c.req.param("version"));
      const result = Number.isInteger(version) ? await editor.restore(email, version, ctx) : ({ ok: false, code: "version_not_found", message: "No such version." } as const);
      return result.ok ? { ok: true, notice: `Restored version ${version}.` } : result;
    }),
  );

  // Stop: an explicit cancel control event for the generation run (closing the page never stops it).
  app.post("/emails/:id/stop", async (c) => {
    const email = await loadEmail(c);
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const form = await readForm(c);
    if (formCsrfOk(c, form) && email.runId) await sessions.append(email.sessionId, { type: "control", action: "cancel", runId: email.runId, clientId: user(c).id });
    return c.redirect(`/emails/${encodeURIComponent(email.id)}`, 303);
  });

  // The hero approval (`approveHero`): the page's buttons answer the run's input.request like any client would.
  app.post("/emails/:id/hero-approval", async (c) => {
    const email = await loadEmail(c);
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const form = await readForm(c);
    const requestId = field(form, "requestId");
    const answer = field(form, "answer");
    const note = field(form, "note").trim().slice(0, 2_000);
    if (formCsrfOk(c, form) && requestId && ["approve", "redraw", "product-photo"].includes(answer)) {
      const value = answer === "approve" ? true : { approved: false, ...(note ? { note } : {}), choice: answer };
      await options.inputs.respond({ sessionId: email.sessionId, requestId, value, clientId: user(c).id });
    }
    return c.redirect(`/emails/${encodeURIComponent(email.id)}`, 303);
  });

  app.post("/emails/:id/again", async (c) => {
    const email = await loadEmail(c);
    if (!email) return notFoundPage(c, "email", { href: "/emails", label: "All emails" });
    const form = await readForm(c);
    const brief = email.briefId ? await studio.brief(scope(c), email.briefId) : undefined;
    if (!formCsrfOk(c, form) || !brief) return c.redirect(`/emails/${encodeURIComponent(email.id)}`, 303);
    const started = await editor.startGeneration(brief, { baseUrl: base(c), clientId: user(c).id, ...(email.provider ? { provider: email.provider } : {}) });
    return c.redirect(`/emails/${encodeURIComponent(started.emailId)}`, 303);
  });

  return app;
}

/** The editing tab's id (`X-Client-Id`, set by static/editor.js, or a `clientId` form field); ignored unless well-formed. */
function tabClientId(c: Context<PageEnv>, form: FormBody): string | undefined {
  const value = c.req.header("x-client-id") ?? field(form, "clientId");
  return CLIENT_ID.test(value) ? value : undefined;
}

/** "The section is not valid — fields.text: must not be empty." → "Text: must not be empty." */
function humanSectionError(message: string): string {
  const match = /fields\.([\w.]+): ([^;]+?)(?:;|\.$| \(and)/.exec(message);
  if (!match) return message;
  const name = match[1]!.split(".")[0]!;
  const label = Object.values(SECTION_FORMS).flatMap((s) => [...s.fields, ...(s.list ? [{ name: s.list.name, label: s.list.label }] : [])]).find((f) => f.name === name)?.label ?? name;
  return `${label}: ${match[2]}.`;
}

