import { newId, type SessionService } from "../sessions/service";
import { validateDocument, validateSection, SECTION_TYPES, type Brand, type EmailDocument, type Section, type SectionType } from "./document";
import { renderEmail, type RenderResult } from "./render";
import { checkEmail, type EmailCheck } from "./checks";
import { imageChecks, type ImageLoader } from "./resource-checks";
import { writeOfflineEmail } from "./offline-writer";
import type { RunOptions } from "../agents/options";
import { StudioStore, type BriefRecord, type EmailRecord, type VersionKind, type VersionNote, type VersionRecord } from "./studio";
import { describeChange, mergeDocuments, sectionLabel, type FieldConflict } from "./changes";
import { toBrand, type BrandStore } from "../brands/store";
import { teamScope, type TeamScope } from "../accounts/scope";
import { needsModelMessage, parseInstruction } from "./regenerate";

/**
 * An email's own team. The editor is handed records its caller already read inside the caller's
 * scope; what it reads and writes next stays inside the record's team.
 */
const scopeOfEmail = (email: EmailRecord): TeamScope => teamScope(email.teamId);

/**
 * The one editing module: the JSON API (`routes.ts`) and the pages (`src/web/studio-pages.tsx`) both
 * call it to render (one cache), start a generation, edit, add, move, delete, restore and regenerate.
 * One function per user action, each returning a value (`{ ok: true, … }` or `{ ok: false, code,
 * message }`) that the page turns into a message and the API into a status (`EDIT_FAILURE_STATUS`).
 *
 * Every change is a new version (version numbers only grow: they are the `If-Match`/ETag of
 * concurrent tabs). The history is made of *entries* (edits, restores, generations); undo and redo
 * are versions too, but they only move the pointer to an earlier or later entry (`shows`), so they
 * never appear as entries. An edit made on an older version is merged onto the newest one when
 * nobody changed what it changes (`mergeDocuments` in changes.ts), else refused with the conflict.
 */

export type EditFailure = {
  ok: false;
  code: "version_conflict" | "email_generating" | "section_not_found" | "invalid_section" | "invalid_document" | "version_not_found" | "brand_not_found" | "nothing_to_undo" | "nothing_to_redo" | "instruction_needs_model";
  message: string;
  /** A version conflict's version now (the edit was made on an older one). */
  currentVersion?: number;
  /** A version conflict's fields: what each is now and what the refused edit wanted. */
  conflicts?: FieldConflict[];
  /** A version conflict's versions made since the edit's version: what the others did. */
  changes?: VersionChange[];
};

/** A version made since an edit's version, as a conflict reports it. */
export interface VersionChange {
  version: number;
  summary: string;
  author: string | null;
  kind: VersionKind;
}
export type EditResult = { ok: true; version: number } | EditFailure;

/** The HTTP status of each editing failure, for the JSON API. */
export const EDIT_FAILURE_STATUS = {
  version_conflict: 409,
  email_generating: 409,
  section_not_found: 404,
  invalid_section: 400,
  invalid_document: 400,
  version_not_found: 404,
  brand_not_found: 404,
  nothing_to_undo: 409,
  nothing_to_redo: 409,
  instruction_needs_model: 400,
} as const satisfies Record<EditFailure["code"], number>;

/**
 * Who makes an edit and on which version. `baseVersion` is the version the edit was made on
 * (`If-Match` on the API, the page's hidden `version`): when the email has moved on since, the edit
 * is refused with `version_conflict`, except a section edit whose fields nobody else changed since
 * `baseVersion` (it is merged onto the newest version). `clientId` goes into the version event so a
 * tab can tell its own edits from others'.
 */
export interface EditContext {
  baseVersion?: number;
  clientId?: string;
  /** Who makes it, as people read it: a person's name or email, an API token's name. */
  author?: string;
}

/** A tab's id as editors send it (`X-Client-Id`): letters, digits, `_` and `-`, at most 64. */
export const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The failure of an edit made on an older version than the email's newest. */
export function versionConflict(current: number, detail: { conflicts?: FieldConflict[]; changes?: VersionChange[] } = {}): EditFailure {
  const what = detail.conflicts?.length ? ` (${detail.conflicts.map((c) => c.label).join("; ")})` : "";
  return {
    ok: false,
    code: "version_conflict",
    message: `This email was changed (it is at version ${current} now) since the version your edit was made on, in what your edit changes${what}; nothing was saved. Re-apply your edit on the new version or discard it.`,
    currentVersion: current,
    ...(detail.conflicts ? { conflicts: detail.conflicts } : {}),
    ...(detail.changes ? { changes: detail.changes } : {}),
  };
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** An email rendered: inlined HTML, its MJML source, and the checks on both. */
export interface RenderedEmail {
  html: string;
  mjml: string;
  checks: EmailCheck[];
}

/** What changes a render besides the email itself. */
export interface RenderOptions {
  /** Where asset URLs point (PUBLIC_URL or the request's origin). */
  base: string;
  /** Minify the inlined HTML (`?minify=1`). */
  minify?: boolean;
  /** The editor's canvas render (`?edit=1`): text elements marked for in-place editing; never exported. */
  edit?: boolean;
}

/** One entry of the history as the editor lists it. */
export interface HistoryEntry {
  version: number;
  note: string | null;
  kind: VersionKind;
  author: string | null;
  createdAt: Date;
  /** The entry the email shows now. */
  current: boolean;
  /** Undone: not part of what the email shows now (redo, or a restore, brings it back). */
  undone: boolean;
}

/** How an email's versions relate: its history entries (newest first) and where undo and redo lead. */
export interface VersionHistory {
  entries: HistoryEntry[];
  /** The entry whose content is showing now. */
  showing: number;
  undo: number | undefined;
  redo: number | undefined;
}

/** Renders are cached per email version: the editor, its checks, the exports and the library's thumbnails ask for the same one. */
const RENDER_CACHE_SIZE = 300;

/** One cached render: the HTML and MJML at once, the checks when first asked for (a thumbnail needs none). */
interface CachedRender {
  result: RenderResult;
  brand: Brand;
  checks?: Promise<EmailCheck[]>;
}

const isEntry = (kind: VersionKind) => kind !== "undo" && kind !== "redo";

/**
 * The history of an email from its versions. Every version that is not an undo or redo is an
 * entry, made on top of the entry showing just before it (its parent). Undo and redo versions only
 * move what is showing. Undo leads to the parent of the entry showing; redo to the newest entry
 * made on top of it, so a new edit after an undo drops the undone branch, as people expect.
 *
 * @example
 * historyOf([{ version: 1, kind: "generated", shows: 1 }, { version: 2, kind: "edit", shows: 2 }, { version: 3, kind: "undo", shows: 1 }])
 * // { showing: 1, undo: undefined, redo: 2, entries: [v2 (undone), v1 (current)] }
 */
export function historyOf<R extends { version: number; kind: VersionKind; shows: number }>(rows: readonly R[]): { entries: Array<R & { current: boolean; undone: boolean }>; showing: number; undo: number | undefined; redo: number | undefined } {
  const ordered = [...rows].sort((a, b) => a.version - b.version);
  const parent = new Map<number, number | undefined>();
  let previous: number | undefined;
  for (const row of ordered) {
    if (isEntry(row.kind)) parent.set(row.version, previous);
    previous = isEntry(row.kind) ? row.version : row.shows;
  }
  const latest = ordered.at(-1);
  if (!latest) return { entries: [], showing: 0, undo: undefined, redo: undefined };
  const showing = isEntry(latest.kind) ? latest.version : latest.shows;
  let redo: number | undefined;
  for (const [version, from] of parent) if (from === showing && version !== showing && (redo === undefined || version > redo)) redo = version;
  const inEffect = new Set<number>();
  for (let at: number | undefined = showing; at !== undefined && !inEffect.has(at); at = parent.get(at)) inEffect.add(at);
  const entries = ordered
    .filter((row) => isEntry(row.kind))
    .reverse()
    .map((row) => ({ ...row, current: row.version === showing, undone: !inEffect.has(row.version) }));
  return { entries, showing, undo: parent.get(showing), redo };
}

/** A fresh section id of a type, unique in the document: `<type>-<n>`. */
export function newSectionId(document: EmailDocument, type: SectionType): string {
  const taken = new Set(document.sections.map((s) => s.id));
  let n = 1;
  while (taken.has(`${type}-${n}`)) n++;
  return `${type}-${n}`;
}

export class EmailEditor {
  #offlineText: ((provider: string | undefined) => boolean) | undefined;
  #studio: StudioStore;
  #brands: BrandStore;
  #sessions: SessionService;
  #renders = new Map<string, Promise<CachedRender>>();

  #loadImage: ImageLoader | undefined;

  /** `loadImage` lets the checks look at the email's images (dark-mode visibility). */
  /**
   * `offlineText(provider)`: whether a run asking for `provider` writes with the offline writer, so
   * an instruction it does not understand is refused at once instead of failing in the run.
   */
  constructor(options: { studio: StudioStore; brands: BrandStore; sessions: SessionService; loadImage?: ImageLoader; offlineText?: (provider: string | undefined) => boolean }) {
    this.#offlineText = options.offlineText;
    this.#studio = options.studio;
    this.#brands = options.brands;
    this.#sessions = options.sessions;
    this.#loadImage = options.loadImage;
  }

  /**
   * The email's HTML, MJML and checks, cached under everything that changes them: the email's
   * version and last write (a draft changes in place while generating), its brand's last save, the
   * base URL and the options. `undefined` when the email's brand is gone.
   */
  async rendered(email: EmailRecord, options: RenderOptions): Promise<RenderedEmail | undefined> {
    const render = await this.#render(email, options);
    if (!render) return undefined;
    if (!render.checks) {
      const checks = this.#checks(email, render, options.base);
      render.checks = checks;
      // A failed check (an image that would not load) is tried again next time, as before.
      checks.catch(() => {
        if (render.checks === checks) render.checks = undefined;
      });
    }
    return { html: render.result.html, mjml: render.result.mjml, checks: await render.checks };
  }

  /**
   * The email's HTML alone (the library's thumbnails): the same cached render as `rendered`, so a
   * version the editor has shown is not rendered again for its thumbnail, nor the other way round.
   */
  async renderedHtml(email: EmailRecord, options: { base: string }): Promise<string | undefined> {
    return (await this.#render(email, options))?.result.html;
  }

  /** The cached render (one at a time per key: a second asker waits for the first). */
  async #render(email: EmailRecord, options: RenderOptions): Promise<CachedRender | undefined> {
    const brandRecord = await this.#brands.brand(scopeOfEmail(email), email.brandId);
    if (!brandRecord) return undefined;
    const stamp = (date: Date | string) => (date instanceof Date ? date.getTime() : String(date));
    const minify = options.minify === true;
    const edit = options.edit === true;
    const key = JSON.stringify([email.id, email.version, email.status, stamp(email.updatedAt), brandRecord.id, stamp(brandRecord.updatedAt), options.base, minify, edit]);
    const cached = this.#renders.get(key);
    if (cached) return cached;
    const brand = toBrand(brandRecord, options.base);
    const render = renderEmail({ document: email.document, brand, minify, edit }).then((result) => ({ result, brand }));
    if (this.#renders.size >= RENDER_CACHE_SIZE) this.#renders.delete(this.#renders.keys().next().value!);
    this.#renders.set(key, render);
    render.catch(() => {
      if (this.#renders.get(key) === render) this.#renders.delete(key);
    });
    return render;
  }

  async #checks(email: EmailRecord, render: CachedRender, base: string): Promise<EmailCheck[]> {
    if (email.document.sections.length === 0) return [];
    const { html, errors } = render.result;
    const checks = checkEmail({ document: email.document, brand: render.brand, html, mjmlErrors: errors });
    if (this.#loadImage) checks.push(...(await imageChecks({ html, base, brand: render.brand, load: this.#loadImage })));
    return checks;
  }

  /** Starts generating an email from a brief: a new session, the email row, and the `email` run. */
  async startGeneration(brief: BriefRecord, options: { baseUrl: string; clientId?: string; provider?: string; options?: RunOptions; /** Ask a person to approve the hero before assembly. */ approveHero?: boolean }): Promise<{ emailId: string; sessionId: string; runId: string }> {
    const session = await this.#sessions.create({ title: `Email: ${brief.data.hook}`.slice(0, 200), teamId: brief.teamId });
    const emailId = await this.#studio.createEmail(teamScope(brief.teamId), { briefId: brief.id, brandId: brief.brandId, sessionId: session.id, provider: options.provider ?? null });
    const runId = await this.#sessions.startRun(session.id, { agent: "email", provider: options.provider, options: options.options, input: { emailId, baseUrl: options.baseUrl, ...(options.approveHero ? { approveHero: true } : {}) }, clientId: options.clientId });
    await this.#studio.setRun(teamScope(brief.teamId), emailId, runId);
    return { emailId, sessionId: session.id, runId };
  }

  /** Replaces some of a section's fields (the rest stay). */
  async editSection(email: EmailRecord, sectionId: string, fields: Record<string, unknown>, ctx: EditContext = {}): Promise<EditResult> {
    return this.#edit(email, ctx, (document) => {
      const section = document.sections.find((s) => s.id === sectionId);
      if (!section) return sectionNotFound();
      const merged = validateSection({ ...section, fields: { ...section.fields, ...fields } });
      if (!merged.ok) return { ok: false, code: "invalid_section", message: merged.message };
      return { ...document, sections: document.sections.map((s) => (s.id === sectionId ? merged.value : s)) };
    });
  }

  /** Sets the subject line and/or preheader (an empty string clears one). */
  async editMeta(email: EmailRecord, meta: { subject?: string; preheader?: string }, ctx: EditContext = {}): Promise<EditResult> {
    return this.#edit(email, ctx, (document) => {
      const next: EmailDocument = { ...document };
      for (const key of ["subject", "preheader"] as const) {
        const value = meta[key];
        if (value === undefined) continue;
        if (value === "") delete next[key];
        else next[key] = value;
      }
      return next;
    });
  }

  /** Moves a section up (`-1`) or down (`1`). Moving past either end changes nothing. */
  async moveSection(email: EmailRecord, sectionId: string, by: -1 | 1, ctx: EditContext = {}): Promise<EditResult> {
    const moved = email.document.sections.find((s) => s.id === sectionId);
    const note = moved ? `Moved ${sectionLabel(moved.type)} ${by < 0 ? "up" : "down"}` : undefined;
    return this.#edit(email, ctx, (document) => {
      const sections = [...document.sections];
      const index = sections.findIndex((s) => s.id === sectionId);
      if (index < 0) return sectionNotFound();
      const to = index + by;
      if (to < 0 || to >= sections.length) return document;
      [sections[index], sections[to]] = [sections[to]!, sections[index]!];
      return { ...document, sections };
    }, note);
  }

  /** Puts the sections in the given order (ids not listed keep their place at the end). */
  async reorder(email: EmailRecord, order: readonly string[], ctx: EditContext = {}): Promise<EditResult> {
    return this.#edit(email, ctx, (document) => {
      const byId = new Map(document.sections.map((s) => [s.id, s]));
      const sections: Section[] = [];
      for (const id of order) {
        const section = byId.get(id);
        if (section) sections.push(section), byId.delete(id);
      }
      sections.push(...byId.values());
      return { ...document, sections };
    });
  }

  async deleteSection(email: EmailRecord, sectionId: string, ctx: EditContext = {}): Promise<EditResult> {
    return this.#edit(email, ctx, (document) => {
      if (!document.sections.some((s) => s.id === sectionId)) return sectionNotFound();
      return { ...document, sections: document.sections.filter((s) => s.id !== sectionId) };
    });
  }

  /**
   * A new section of `type` with id `id`, drafted by the offline writer from the brand and the
   * email's subject. A failure when the type is unknown or the brand is gone.
   */
  async draftSection(email: EmailRecord, type: string, id: string, base: string): Promise<{ ok: true; section: Section } | EditFailure> {
    if (!(SECTION_TYPES as readonly string[]).includes(type)) return { ok: false, code: "invalid_section", message: `Choose a section type: ${SECTION_TYPES.join(", ")}.` };
    const brandRecord = await this.#brands.brand(scopeOfEmail(email), email.brandId);
    if (!brandRecord) return { ok: false, code: "brand_not_found", message: "The email's brand is gone." };
    const brand = toBrand(brandRecord, base);
    const draft = writeOfflineEmail({
      brand: { ...brand, formula: [{ type: type as SectionType }] },
      brief: { objective: "", audience: "", tone: "", hook: email.document.subject ?? brand.name, products: [] },
    });
    return { ok: true, section: { ...(draft.sections[0] ?? { type, fields: {} }), id } as Section };
  }

  /** Adds a section of `type` (drafted by the offline writer from the email's subject) after `afterId`, or at the end. */
  async addSection(email: EmailRecord, type: string, base: string, afterId?: string, ctx: EditContext = {}): Promise<EditResult & { sectionId?: string }> {
    const id = (SECTION_TYPES as readonly string[]).includes(type) ? newSectionId(email.document, type as SectionType) : type;
    const drafted = await this.draftSection(email, type, id, base);
    if (!drafted.ok) return drafted;
    const result = await this.#edit(email, ctx, (document) => {
      if (document.sections.some((s) => s.id === id)) return { ok: false, code: "invalid_document", message: `There is already a section ${id}.` };
      const sections = [...document.sections];
      const at = afterId ? sections.findIndex((s) => s.id === afterId) + 1 : sections.length;
      sections.splice(at > 0 ? at : sections.length, 0, drafted.section);
      return { ...document, sections };
    });
    return result.ok ? { ...result, sectionId: id } : result;
  }

  /**
   * Inserts a ready-made section (a saved block) at `index`; without one, before a closing footer
   * (a section never lands after the footer unless asked), else at the end.
   */
  async insertSection(email: EmailRecord, section: Section, options: { index?: number; note: string }, ctx: EditContext = {}): Promise<EditResult & { sectionId?: string }> {
    const result = await this.#edit(
      email,
      ctx,
      (document) => {
        if (document.sections.some((s) => s.id === section.id)) return { ok: false, code: "invalid_document", message: `There is already a section ${section.id}.` };
        const sections = [...document.sections];
        const closingFooter = sections.at(-1)?.type === "footer" ? sections.length - 1 : sections.length;
        sections.splice(Math.min(options.index ?? closingFooter, sections.length), 0, section);
        return { ...document, sections };
      },
      options.note,
    );
    return result.ok ? { ...result, sectionId: section.id } : result;
  }

  /**
   * Replaces the list of sections (the API's reorder/add/delete in one call): a listed id keeps its
   * section unless fields are sent; a new id without fields starts from the offline draft of its type.
   */
  async replaceSections(email: EmailRecord, list: ReadonlyArray<{ id: string; type: SectionType; fields?: Record<string, unknown> }>, base: string, ctx: EditContext = {}): Promise<EditResult> {
    const drafts = new Map<string, Section>();
    for (const item of list) {
      if (item.fields || email.document.sections.some((s) => s.id === item.id)) continue;
      const drafted = await this.draftSection(email, item.type, item.id, base);
      if (!drafted.ok) return drafted;
      drafts.set(item.id, drafted.section);
    }
    return this.#edit(email, ctx, (document) => {
      const existing = new Map(document.sections.map((s) => [s.id, s]));
      const sections: Section[] = [];
      for (const item of list) {
        const known = existing.get(item.id);
        if (known && !item.fields) sections.push(known);
        else if (item.fields) sections.push({ id: item.id, type: item.type, fields: item.fields } as Section);
        else {
          const draft = drafts.get(item.id);
          if (!draft) return sectionNotFound();
          sections.push(draft);
        }
      }
      return { ...document, sections };
    });
  }

  /**
   * Makes an earlier version's content the email's again: one history entry ("Restored version N").
   * Restoring what is showing changes nothing.
   */
  async restore(email: EmailRecord, version: number, ctx: EditContext = {}): Promise<EditResult> {
    const document = await this.#studio.versionDocument(scopeOfEmail(email), email.id, version);
    if (!document) return { ok: false, code: "version_not_found", message: `There is no version ${version} of this email.` };
    if (ctx.baseVersion !== undefined && ctx.baseVersion !== email.version) return this.#conflict(email, ctx.baseVersion);
    const rows = await this.#studio.versions(scopeOfEmail(email), email.id);
    const entry = rows.find((r) => r.version === version)?.shows ?? version;
    if (entry === historyOf(rows).showing) return { ok: true, version: email.version };
    return this.#save(email, document, { note: `Restored version ${entry}`, kind: "restore" }, ctx);
  }

  async history(email: EmailRecord): Promise<VersionHistory> {
    return historyOf(await this.#studio.versions(scopeOfEmail(email), email.id));
  }

  /** Goes back to the entry before the one showing: a new version number, but no new history entry. */
  async undo(email: EmailRecord, ctx: EditContext = {}): Promise<EditResult> {
    return this.#move(email, "undo", ctx);
  }

  /** Goes forward to the entry undone last: a new version number, but no new history entry. */
  async redo(email: EmailRecord, ctx: EditContext = {}): Promise<EditResult> {
    return this.#move(email, "redo", ctx);
  }

  async #move(email: EmailRecord, kind: "undo" | "redo", ctx: EditContext): Promise<EditResult> {
    if (ctx.baseVersion !== undefined && ctx.baseVersion !== email.version) return this.#conflict(email, ctx.baseVersion);
    const history = await this.history(email);
    const target = history[kind];
    if (target === undefined) return kind === "undo" ? { ok: false, code: "nothing_to_undo", message: "There is nothing to undo." } : { ok: false, code: "nothing_to_redo", message: "There is nothing to redo." };
    const document = await this.#studio.versionDocument(scopeOfEmail(email), email.id, target);
    if (!document) return { ok: false, code: "version_not_found", message: `There is no version ${target} of this email.` };
    const undone = history.entries.find((e) => e.version === (kind === "undo" ? history.showing : target));
    const note = `${kind === "undo" ? "Undid" : "Redid"}: ${undone?.note ?? `version ${target}`}`;
    return this.#save(email, document, { note, kind, shows: target }, ctx);
  }

  /** Starts the `email-section` agent on one section; its words stream into the email's session. */
  async regenerate(email: EmailRecord, sectionId: string, input: { instruction: string; baseUrl: string; clientId?: string; provider?: string; options?: RunOptions }): Promise<{ ok: true; runId: string } | EditFailure> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; wait until it is ready." };
    if (!email.document.sections.some((s) => s.id === sectionId)) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const provider = input.provider ?? email.provider ?? undefined;
    if (this.#offlineText?.(provider) && !parseInstruction(input.instruction)) return { ok: false, code: "instruction_needs_model", message: needsModelMessage(input.instruction) };
    const runId = await this.#sessions.startRun(email.sessionId, {
      agent: "email-section",
      provider,
      ...(input.options ? { options: input.options } : {}),
      input: { emailId: email.id, sectionId, instruction: input.instruction, baseUrl: input.baseUrl },
      clientId: input.clientId,
    });
    return { ok: true, runId };
  }

  /**
   * Applies one edit: `change` turns a document into the edited one (or says why not). Made on the
   * newest version (or without `If-Match`), it applies to it. Made on an older one, it applies to
   * that version's document and the result is merged onto the newest (`mergeDocuments`): saved when
   * nobody changed what it changes, else a `version_conflict` naming the fields and the versions
   * made since. A save that loses a race with another write is merged again the same way, so two
   * tabs writing at once never overwrite each other.
   */
  async #edit(email: EmailRecord, ctx: EditContext, change: (document: EmailDocument) => EmailDocument | EditFailure, note?: string): Promise<EditResult> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; edit it when it is ready." };
    const baseVersion = ctx.baseVersion ?? email.version;
    const base = baseVersion === email.version ? email.document : await this.#studio.versionDocument(scopeOfEmail(email), email.id, baseVersion);
    if (!base) return this.#conflict(email, baseVersion);
    const yours = change(base);
    if ("ok" in yours) return yours;
    let current = email;
    for (let attempt = 0; attempt < MAX_MERGE_ATTEMPTS; attempt++) {
      const merged = baseVersion === current.version ? { ok: true as const, document: yours } : mergeDocuments({ base, current: current.document, yours });
      if (!merged.ok) return this.#conflict(current, baseVersion, merged.conflicts);
      if (sameJson(merged.document, current.document)) return { ok: true, version: current.version };
      const saved = await this.#save(current, merged.document, { note: note ?? describeChange(current.document, merged.document) }, { ...ctx, baseVersion: current.version }, false);
      if (saved.ok || saved.code !== "version_conflict") return saved;
      const now = await this.#studio.email(scopeOfEmail(email), email.id);
      if (!now || now.status === "generating") return saved;
      current = now;
    }
    return this.#conflict(current, baseVersion);
  }

  /** A version conflict with what the others did since `baseVersion`. */
  async #conflict(email: EmailRecord, baseVersion: number, conflicts?: FieldConflict[]): Promise<EditFailure> {
    const rows = await this.#studio.versions(scopeOfEmail(email), email.id);
    const changes = rows
      .filter((r) => r.version > baseVersion)
      .reverse()
      .map((r): VersionChange => ({ version: r.version, summary: r.note ?? "Saved", author: r.author, kind: r.kind }));
    return versionConflict(Math.max(email.version, rows[0]?.version ?? 0), { ...(conflicts ? { conflicts } : {}), changes });
  }

  /**
   * Stores the new version only if the email is still at the version it was read at (and, with a
   * `baseVersion`, at that one): a concurrent write makes this a `version_conflict`, never an
   * overwrite. Then announces it in the email's session (`email.version`), which every open tab
   * follows: with the tab's `clientId` (so that tab ignores its own echo), who made it and what.
   */
  async #save(email: EmailRecord, document: EmailDocument, record: Omit<VersionNote, "author" | "clientId">, ctx: EditContext = {}, describeConflict = true): Promise<EditResult> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; edit it when it is ready." };
    if (ctx.baseVersion !== undefined && ctx.baseVersion !== email.version) return this.#conflict(email, ctx.baseVersion);
    const checked = validateDocument(document);
    if (!checked.ok) return { ok: false, code: "invalid_document", message: checked.message };
    const note: VersionNote = { ...record, ...(ctx.author ? { author: ctx.author } : {}), ...(ctx.clientId ? { clientId: ctx.clientId } : {}) };
    const version = await this.#studio.saveVersion(scopeOfEmail(email), email.id, checked.value, note, "ready", email.version);
    if (version === undefined) {
      if (!describeConflict) return versionConflict(email.version + 1);
      const now = await this.#studio.email(scopeOfEmail(email), email.id);
      return this.#conflict(now ?? email, email.version);
    }
    await this.#sessions.append(email.sessionId, {
      type: "artifact",
      runId: newId("edit"),
      kind: "email.version",
      ref: email.id,
      data: { version, summary: record.note, kind: record.kind ?? "edit", showing: record.shows ?? version, ...(ctx.author ? { author: ctx.author } : {}), ...(ctx.clientId ? { clientId: ctx.clientId } : {}) },
    });
    return { ok: true, version };
  }
}

const sectionNotFound = (): EditFailure => ({ ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." });

/** A merged edit that loses the race to save is merged again on the newer version, at most this often. */
const MAX_MERGE_ATTEMPTS = 3;
