import { newId, type SessionService } from "../sessions/service";
import { validateDocument, validateSection, SECTION_TYPES, type EmailDocument, type Section, type SectionType } from "./document";
import { renderEmail } from "./render";
import { checkEmail, type EmailCheck } from "./checks";
import { imageChecks, type ImageLoader } from "./resource-checks";
import { writeOfflineEmail } from "./offline-writer";
import type { RunOptions } from "../agents/options";
import { StudioStore, type BriefRecord, type EmailRecord } from "./studio";
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
 * Every change is a new version; undo and redo are restores of earlier versions.
 */

export type EditFailure = {
  ok: false;
  code: "version_conflict" | "email_generating" | "section_not_found" | "invalid_section" | "invalid_document" | "version_not_found" | "brand_not_found" | "nothing_to_undo" | "nothing_to_redo" | "instruction_needs_model";
  message: string;
  /** A version conflict's version now (the edit was made on an older one). */
  currentVersion?: number;
};
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
}

/** The failure of an edit made on an older version than the email's newest. */
export function versionConflict(current: number): EditFailure {
  return {
    ok: false,
    code: "version_conflict",
    message: `This email was changed (it is at version ${current} now) since the version your edit was made on; nothing was saved. Re-apply your edit on the new version or discard it.`,
    currentVersion: current,
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

/** How an email's versions relate, for the undo and redo buttons. */
export interface VersionHistory {
  versions: Array<{ version: number; note: string | null; createdAt: Date }>;
  /** The version whose content is showing now (a restore shows the version it restored). */
  showing: number;
  undo: number | undefined;
  redo: number | undefined;
}

/** Renders are cached per email version: the editor, its checks and the exports ask for the same one. */
const RENDER_CACHE_SIZE = 200;
const RESTORED_NOTE = /^Restored version (\d+)$/;

/**
 * Where undo and redo lead. A restore shows the content of the version it restored; every other
 * version is an edit made on top of the content showing just before it. Undo goes back to that
 * earlier content; redo goes to the newest edit made on top of what is showing now, so an undo
 * followed by a new edit drops the undone branch, as people expect.
 *
 * @example
 * undoRedo([{ version: 1, note: "Generated" }, { version: 2, note: "Edited cta" }]) // { showing: 2, undo: 1, redo: undefined }
 */
export function undoRedo(versions: ReadonlyArray<{ version: number; note: string | null }>): Pick<VersionHistory, "showing" | "undo" | "redo"> {
  const ordered = [...versions].sort((a, b) => a.version - b.version);
  const shows = new Map<number, number>();
  const parentOf = new Map<number, number | undefined>();
  let previous: number | undefined;
  for (const { version, note } of ordered) {
    const restored = RESTORED_NOTE.exec(note ?? "");
    if (restored && shows.has(Number(restored[1]))) {
      shows.set(version, shows.get(Number(restored[1]))!);
    } else {
      shows.set(version, version);
      parentOf.set(version, previous);
    }
    previous = shows.get(version);
  }
  const latest = ordered[ordered.length - 1]?.version;
  if (latest === undefined) return { showing: 0, undo: undefined, redo: undefined };
  const showing = shows.get(latest)!;
  const undo = parentOf.get(showing);
  let redo: number | undefined;
  for (const [version, parent] of parentOf) if (parent === showing && (redo === undefined || version > redo)) redo = version;
  return { showing, undo, redo };
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
  #renders = new Map<string, RenderedEmail>();

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
    const brandRecord = await this.#brands.brand(scopeOfEmail(email), email.brandId);
    if (!brandRecord) return undefined;
    const stamp = (date: Date | string) => (date instanceof Date ? date.getTime() : String(date));
    const minify = options.minify === true;
    const edit = options.edit === true;
    const key = JSON.stringify([email.id, email.version, email.status, stamp(email.updatedAt), brandRecord.id, stamp(brandRecord.updatedAt), options.base, minify, edit]);
    const cached = this.#renders.get(key);
    if (cached) return cached;
    const brand = toBrand(brandRecord, options.base);
    const result = await renderEmail({ document: email.document, brand, minify, edit });
    const checks = email.document.sections.length > 0 ? checkEmail({ document: email.document, brand, html: result.html, mjmlErrors: result.errors }) : [];
    if (email.document.sections.length > 0 && this.#loadImage) checks.push(...(await imageChecks({ html: result.html, base: options.base, brand, load: this.#loadImage })));
    const value = { html: result.html, mjml: result.mjml, checks };
    if (this.#renders.size >= RENDER_CACHE_SIZE) this.#renders.delete(this.#renders.keys().next().value!);
    this.#renders.set(key, value);
    return value;
  }

  /** Starts generating an email from a brief: a new session, the email row, and the `email` run. */
  async startGeneration(brief: BriefRecord, options: { baseUrl: string; clientId?: string; provider?: string; options?: RunOptions }): Promise<{ emailId: string; sessionId: string; runId: string }> {
    const session = await this.#sessions.create({ title: `Email: ${brief.data.hook}`.slice(0, 200), teamId: brief.teamId });
    const emailId = await this.#studio.createEmail(teamScope(brief.teamId), { briefId: brief.id, brandId: brief.brandId, sessionId: session.id, provider: options.provider ?? null });
    const runId = await this.#sessions.startRun(session.id, { agent: "email", provider: options.provider, options: options.options, input: { emailId, baseUrl: options.baseUrl }, clientId: options.clientId });
    await this.#studio.setRun(teamScope(brief.teamId), emailId, runId);
    return { emailId, sessionId: session.id, runId };
  }

  /** Replaces some of a section's fields (the rest stay). */
  async editSection(email: EmailRecord, sectionId: string, fields: Record<string, unknown>, ctx: EditContext = {}): Promise<EditResult> {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (ctx.baseVersion !== undefined && ctx.baseVersion !== email.version) {
      // Made on an older version: merged when none of the fields it sets changed since (and the section is still there).
      const base = await this.#studio.versionDocument(scopeOfEmail(email), email.id, ctx.baseVersion);
      const before = base?.sections.find((s) => s.id === sectionId)?.fields as Record<string, unknown> | undefined;
      const now = section?.fields as Record<string, unknown> | undefined;
      const untouched = before && now && Object.keys(fields).every((key) => sameJson(before[key], now[key]) || sameJson(fields[key], now[key]));
      if (!untouched) return versionConflict(email.version);
    }
    if (!section) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const merged = validateSection({ ...section, fields: { ...section.fields, ...fields } });
    if (!merged.ok) return { ok: false, code: "invalid_section", message: merged.message };
    const changed = Object.keys(fields).filter((key) => !sameJson((section.fields as Record<string, unknown>)[key], fields[key]));
    const summary = `Edited ${section.type}${changed.length > 0 && changed.length <= 3 ? ` ${changed.join(", ")}` : ""}`;
    return this.#save(email, { ...email.document, sections: email.document.sections.map((s) => (s.id === sectionId ? merged.value : s)) }, summary, { ...ctx, baseVersion: email.version });
  }

  /** Sets the subject line and/or preheader (an empty string clears one). */
  async editMeta(email: EmailRecord, meta: { subject?: string; preheader?: string }, ctx: EditContext = {}): Promise<EditResult> {
    const document: EmailDocument = { ...email.document };
    const changed: string[] = [];
    for (const key of ["subject", "preheader"] as const) {
      const value = meta[key];
      if (value === undefined || value === (email.document[key] ?? "")) continue;
      changed.push(key);
      if (value === "") delete document[key];
      else document[key] = value;
    }
    if (changed.length === 0) return ctx.baseVersion !== undefined && ctx.baseVersion !== email.version ? versionConflict(email.version) : { ok: true, version: email.version };
    return this.#save(email, document, `Edited ${changed.join(" and ")}`, ctx);
  }

  /** Moves a section up (`-1`) or down (`1`). Moving past either end changes nothing. */
  async moveSection(email: EmailRecord, sectionId: string, by: -1 | 1, ctx: EditContext = {}): Promise<EditResult> {
    const sections = [...email.document.sections];
    const index = sections.findIndex((s) => s.id === sectionId);
    if (index < 0) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const to = index + by;
    if (to < 0 || to >= sections.length) return { ok: true, version: email.version };
    [sections[index], sections[to]] = [sections[to]!, sections[index]!];
    return this.#save(email, { ...email.document, sections }, `Moved ${sections[to]!.type} ${by < 0 ? "up" : "down"}`, ctx);
  }

  /** Puts the sections in the given order (ids not listed keep their place at the end). */
  async reorder(email: EmailRecord, order: readonly string[], ctx: EditContext = {}): Promise<EditResult> {
    const byId = new Map(email.document.sections.map((s) => [s.id, s]));
    const sections: Section[] = [];
    for (const id of order) {
      const section = byId.get(id);
      if (section) sections.push(section), byId.delete(id);
    }
    sections.push(...byId.values());
    if (sections.every((s, i) => s.id === email.document.sections[i]?.id)) return { ok: true, version: email.version };
    return this.#save(email, { ...email.document, sections }, "Reordered sections", ctx);
  }

  async deleteSection(email: EmailRecord, sectionId: string, ctx: EditContext = {}): Promise<EditResult> {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (!section) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    return this.#save(email, { ...email.document, sections: email.document.sections.filter((s) => s.id !== sectionId) }, `Deleted ${section.type}`, ctx);
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
    const sections = [...email.document.sections];
    const at = afterId ? sections.findIndex((s) => s.id === afterId) + 1 : sections.length;
    sections.splice(at > 0 ? at : sections.length, 0, drafted.section);
    const result = await this.#save(email, { ...email.document, sections }, `Added ${type}`, ctx);
    return result.ok ? { ...result, sectionId: id } : result;
  }

  /**
   * Inserts a ready-made section (a saved block) at `index`; without one, before a closing footer
   * (a section never lands after the footer unless asked), else at the end.
   */
  async insertSection(email: EmailRecord, section: Section, options: { index?: number; note: string }, ctx: EditContext = {}): Promise<EditResult & { sectionId?: string }> {
    const sections = [...email.document.sections];
    const closingFooter = sections.at(-1)?.type === "footer" ? sections.length - 1 : sections.length;
    sections.splice(Math.min(options.index ?? closingFooter, sections.length), 0, section);
    const result = await this.#save(email, { ...email.document, sections }, options.note, ctx);
    return result.ok ? { ...result, sectionId: section.id } : result;
  }

  /**
   * Replaces the list of sections (the API's reorder/add/delete in one call): a listed id keeps its
   * section unless fields are sent; a new id without fields starts from the offline draft of its type.
   */
  async replaceSections(email: EmailRecord, list: ReadonlyArray<{ id: string; type: SectionType; fields?: Record<string, unknown> }>, base: string, ctx: EditContext = {}): Promise<EditResult> {
    const existing = new Map(email.document.sections.map((s) => [s.id, s]));
    const sections: Section[] = [];
    for (const item of list) {
      const known = existing.get(item.id);
      if (known && !item.fields) sections.push(known);
      else if (item.fields) sections.push({ id: item.id, type: item.type, fields: item.fields } as Section);
      else {
        const drafted = await this.draftSection(email, item.type, item.id, base);
        if (!drafted.ok) return drafted;
        sections.push(drafted.section);
      }
    }
    return this.#save(email, { ...email.document, sections }, "Rearranged sections", ctx);
  }

  async restore(email: EmailRecord, version: number, ctx: EditContext = {}): Promise<EditResult> {
    const document = await this.#studio.versionDocument(scopeOfEmail(email), email.id, version);
    if (!document) return { ok: false, code: "version_not_found", message: `There is no version ${version}.` };
    return this.#save(email, document, `Restored version ${version}`, ctx);
  }

  async history(email: EmailRecord): Promise<VersionHistory> {
    const versions = await this.#studio.versions(scopeOfEmail(email), email.id);
    return { versions, ...undoRedo(versions) };
  }

  async undo(email: EmailRecord, ctx: EditContext = {}): Promise<EditResult> {
    const { undo } = await this.history(email);
    if (undo === undefined) return { ok: false, code: "nothing_to_undo", message: "There is nothing to undo." };
    return this.restore(email, undo, ctx);
  }

  async redo(email: EmailRecord, ctx: EditContext = {}): Promise<EditResult> {
    const { redo } = await this.history(email);
    if (redo === undefined) return { ok: false, code: "nothing_to_redo", message: "There is nothing to redo." };
    return this.restore(email, redo, ctx);
  }

  /** Starts the `email-section` agent on one section; its words stream into the email's session. */
  async regenerate(email: EmailRecord, sectionId: string, input: { instruction: string; baseUrl: string; clientId?: string; provider?: string }): Promise<{ ok: true; runId: string } | EditFailure> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; wait until it is ready." };
    if (!email.document.sections.some((s) => s.id === sectionId)) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const provider = input.provider ?? email.provider ?? undefined;
    if (this.#offlineText?.(provider) && !parseInstruction(input.instruction)) return { ok: false, code: "instruction_needs_model", message: needsModelMessage(input.instruction) };
    const runId = await this.#sessions.startRun(email.sessionId, {
      agent: "email-section",
      provider,
      input: { emailId: email.id, sectionId, instruction: input.instruction, baseUrl: input.baseUrl },
      clientId: input.clientId,
    });
    return { ok: true, runId };
  }

  /**
   * Stores the new version only if the email is still at the version it was read at (and, with a
   * `baseVersion`, at that one): a concurrent write makes this a `version_conflict`, never an
   * overwrite. Then announces it in the email's session (`email.version`), which every open tab follows.
   */
  async #save(email: EmailRecord, document: EmailDocument, note: string, ctx: EditContext = {}): Promise<EditResult> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; edit it when it is ready." };
    if (ctx.baseVersion !== undefined && ctx.baseVersion !== email.version) return versionConflict(email.version);
    const checked = validateDocument(document);
    if (!checked.ok) return { ok: false, code: "invalid_document", message: checked.message };
    const version = await this.#studio.saveVersion(scopeOfEmail(email), email.id, checked.value, note, "ready", email.version);
    if (version === undefined) {
      const now = await this.#studio.email(scopeOfEmail(email), email.id);
      return versionConflict(now?.version ?? email.version + 1);
    }
    await this.#sessions.append(email.sessionId, {
      type: "artifact",
      runId: newId("edit"),
      kind: "email.version",
      ref: email.id,
      data: { version, summary: note, ...(ctx.clientId ? { clientId: ctx.clientId } : {}) },
    });
    return { ok: true, version };
  }
}
