import type { SessionService } from "../sessions/service";
import { validateDocument, validateSection, SECTION_TYPES, type EmailDocument, type Section, type SectionType } from "./document";
import { renderEmail } from "./render";
import { checkEmail, type EmailCheck } from "./checks";
import { writeOfflineEmail } from "./offline-writer";
import type { RunOptions } from "../agents/options";
import { StudioStore, toBrand, type BriefRecord, type EmailRecord } from "./studio";

/**
 * Editing an email as the web pages do it: one function per user action, each returning a value
 * (`{ ok: true, … }` or `{ ok: false, code, message }`) that the page turns into a message. Every
 * change is a new version; undo and redo are restores of earlier versions.
 */

export type EditFailure = {
  ok: false;
  code: "email_generating" | "section_not_found" | "invalid_section" | "invalid_document" | "version_not_found" | "brand_not_found" | "nothing_to_undo" | "nothing_to_redo";
  message: string;
};
export type EditResult = { ok: true; version: number } | EditFailure;

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
  #studio: StudioStore;
  #sessions: SessionService;
  #renders = new Map<string, { html: string; mjml: string; checks: EmailCheck[] }>();

  constructor(options: { studio: StudioStore; sessions: SessionService }) {
    this.#studio = options.studio;
    this.#sessions = options.sessions;
  }

  /** The email's HTML, MJML and checks (cached per version). `base` makes asset URLs absolute. */
  async rendered(email: EmailRecord, base: string): Promise<{ html: string; mjml: string; checks: EmailCheck[] } | undefined> {
    const updated = email.updatedAt instanceof Date ? email.updatedAt.getTime() : String(email.updatedAt);
    const key = `${email.id}:${email.version}:${email.status}:${updated}:${base}`;
    const cached = this.#renders.get(key);
    if (cached) return cached;
    const brandRecord = await this.#studio.brand(email.brandId);
    if (!brandRecord) return undefined;
    const brand = toBrand(brandRecord, base);
    const result = await renderEmail({ document: email.document, brand });
    const checks = email.document.sections.length > 0 ? checkEmail({ document: email.document, brand, html: result.html, mjmlErrors: result.errors }) : [];
    const value = { html: result.html, mjml: result.mjml, checks };
    if (this.#renders.size >= RENDER_CACHE_SIZE) this.#renders.delete(this.#renders.keys().next().value!);
    this.#renders.set(key, value);
    return value;
  }

  /** Starts generating an email from a brief: a new session, the email row, and the `email` run. */
  async startGeneration(brief: BriefRecord, options: { baseUrl: string; clientId?: string; provider?: string; options?: RunOptions }): Promise<{ emailId: string; sessionId: string; runId: string }> {
    const session = await this.#sessions.create({ title: `Email: ${brief.data.hook}`.slice(0, 200), teamId: brief.teamId });
    const emailId = await this.#studio.createEmail({ teamId: brief.teamId, briefId: brief.id, brandId: brief.brandId, sessionId: session.id, provider: options.provider ?? null });
    const runId = await this.#sessions.startRun(session.id, { agent: "email", provider: options.provider, options: options.options, input: { emailId, baseUrl: options.baseUrl }, clientId: options.clientId });
    await this.#studio.setRun(emailId, runId);
    return { emailId, sessionId: session.id, runId };
  }

  /** Replaces some of a section's fields (the rest stay). */
  async editSection(email: EmailRecord, sectionId: string, fields: Record<string, unknown>): Promise<EditResult> {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (!section) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const merged = validateSection({ ...section, fields: { ...section.fields, ...fields } });
    if (!merged.ok) return { ok: false, code: "invalid_section", message: merged.message };
    return this.#save(email, { ...email.document, sections: email.document.sections.map((s) => (s.id === sectionId ? merged.value : s)) }, `Edited ${section.type}`);
  }

  /** Moves a section up (`-1`) or down (`1`). Moving past either end changes nothing. */
  async moveSection(email: EmailRecord, sectionId: string, by: -1 | 1): Promise<EditResult> {
    const sections = [...email.document.sections];
    const index = sections.findIndex((s) => s.id === sectionId);
    if (index < 0) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const to = index + by;
    if (to < 0 || to >= sections.length) return { ok: true, version: email.version };
    [sections[index], sections[to]] = [sections[to]!, sections[index]!];
    return this.#save(email, { ...email.document, sections }, `Moved ${sections[to]!.type} ${by < 0 ? "up" : "down"}`);
  }

  /** Puts the sections in the given order (ids not listed keep their place at the end). */
  async reorder(email: EmailRecord, order: readonly string[]): Promise<EditResult> {
    const byId = new Map(email.document.sections.map((s) => [s.id, s]));
    const sections: Section[] = [];
    for (const id of order) {
      const section = byId.get(id);
      if (section) sections.push(section), byId.delete(id);
    }
    sections.push(...byId.values());
    if (sections.every((s, i) => s.id === email.document.sections[i]?.id)) return { ok: true, version: email.version };
    return this.#save(email, { ...email.document, sections }, "Reordered sections");
  }

  async deleteSection(email: EmailRecord, sectionId: string): Promise<EditResult> {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (!section) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    return this.#save(email, { ...email.document, sections: email.document.sections.filter((s) => s.id !== sectionId) }, `Deleted ${section.type}`);
  }

  /** Adds a section of `type` (drafted by the offline writer from the email's subject) after `afterId`, or at the end. */
  async addSection(email: EmailRecord, type: string, base: string, afterId?: string): Promise<EditResult & { sectionId?: string }> {
    if (!(SECTION_TYPES as readonly string[]).includes(type)) return { ok: false, code: "invalid_section", message: `Choose a section type: ${SECTION_TYPES.join(", ")}.` };
    const brandRecord = await this.#studio.brand(email.brandId);
    if (!brandRecord) return { ok: false, code: "brand_not_found", message: "The email's brand is gone." };
    const brand = toBrand(brandRecord, base);
    const draft = writeOfflineEmail({
      brand: { ...brand, formula: [{ type: type as SectionType }] },
      brief: { objective: "", audience: "", tone: "", hook: email.document.subject ?? brand.name, products: [] },
    });
    const id = newSectionId(email.document, type as SectionType);
    const section = { ...(draft.sections[0] ?? { type, fields: {} }), id } as Section;
    const sections = [...email.document.sections];
    const at = afterId ? sections.findIndex((s) => s.id === afterId) + 1 : sections.length;
    sections.splice(at > 0 ? at : sections.length, 0, section);
    const result = await this.#save(email, { ...email.document, sections }, `Added ${type}`);
    return result.ok ? { ...result, sectionId: id } : result;
  }

  async restore(email: EmailRecord, version: number): Promise<EditResult> {
    const document = await this.#studio.versionDocument(email.id, version);
    if (!document) return { ok: false, code: "version_not_found", message: `There is no version ${version}.` };
    return this.#save(email, document, `Restored version ${version}`);
  }

  async history(email: EmailRecord): Promise<VersionHistory> {
    const versions = await this.#studio.versions(email.id);
    return { versions, ...undoRedo(versions) };
  }

  async undo(email: EmailRecord): Promise<EditResult> {
    const { undo } = await this.history(email);
    if (undo === undefined) return { ok: false, code: "nothing_to_undo", message: "There is nothing to undo." };
    return this.restore(email, undo);
  }

  async redo(email: EmailRecord): Promise<EditResult> {
    const { redo } = await this.history(email);
    if (redo === undefined) return { ok: false, code: "nothing_to_redo", message: "There is nothing to redo." };
    return this.restore(email, redo);
  }

  /** Starts the `email-section` agent on one section; its words stream into the email's session. */
  async regenerate(email: EmailRecord, sectionId: string, input: { instruction: string; baseUrl: string; clientId?: string }): Promise<{ ok: true; runId: string } | EditFailure> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; wait until it is ready." };
    if (!email.document.sections.some((s) => s.id === sectionId)) return { ok: false, code: "section_not_found", message: "This section is not in the email any more; reload the page." };
    const runId = await this.#sessions.startRun(email.sessionId, {
      agent: "email-section",
      provider: email.provider ?? undefined,
      input: { emailId: email.id, sectionId, instruction: input.instruction, baseUrl: input.baseUrl },
      clientId: input.clientId,
    });
    return { ok: true, runId };
  }

  async #save(email: EmailRecord, document: EmailDocument, note: string): Promise<EditResult> {
    if (email.status === "generating") return { ok: false, code: "email_generating", message: "The email is still being generated; edit it when it is ready." };
    const checked = validateDocument(document);
    if (!checked.ok) return { ok: false, code: "invalid_document", message: checked.message };
    const version = await this.#studio.saveVersion(email.id, checked.value, note);
    return { ok: true, version };
  }
}
