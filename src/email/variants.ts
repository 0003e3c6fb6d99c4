import type { Provider } from "../agents/providers/types";
import type { SessionService } from "../sessions/service";
import { teamScope } from "../accounts/scope";
import type { EmailDocument, Section } from "./document";
import { MAX_SUBJECT_CHARS } from "./limits";
import type { EmailEditor } from "./editing";
import type { EmailRecord, StudioStore } from "./studio";

/**
 * Variants: "Make a variant" forks an email at its current version — a new email on a fork of the
 * email's session stream, so the variant starts with the whole history — optionally with a new
 * subject line or with one section (another hero, another CTA) rewritten from an instruction by the
 * section agent. A family is the first email and every variant made from any of its members.
 */

/** Sections a variant instruction may rewrite. */
export const VARIANT_SECTIONS = ["hero", "cta", "headline"] as const;
export type VariantSection = (typeof VARIANT_SECTIONS)[number];
/** Most subject lines proposed at once. */
export const MAX_SUBJECT_VARIANTS = 10;

export type VariantResult =
  | { ok: true; emailId: string; sessionId: string; runId?: string }
  | { ok: false; code: "email_not_ready" | "section_not_found"; message: string };

/**
 * Deterministic subject-line alternatives (the offline proposal): the same promise as a question,
 * with the reader's first name, as news, with urgency, shortened, and so on — never the subject
 * itself, never twice the same, each within the subject limit.
 *
 * @example
 * subjectAlternatives("Wake up to brighter skin", 3) // ["Ready to wake up to brighter skin?", "{{first_name|there}}, wake up to brighter skin", "New: wake up to brighter skin"]
 */
export function subjectAlternatives(subject: string, count = 5): string[] {
  const base = subject.trim().replace(/[.!?…]+$/, "") || "Something new for you";
  const lower = base.charAt(0).toLowerCase() + base.slice(1);
  const words = base.split(/\s+/);
  const short = words.length > 5 ? words.slice(0, 5).join(" ") + "…" : base;
  const candidates = [
    `Ready to ${lower}?`,
    `{{first_name|there}}, ${lower}`,
    `New: ${lower}`,
    `${base} — this week only`,
    `Why you'll want to ${lower}`,
    `${short}`,
    `Last chance: ${lower}`,
    `${base} (you asked, we listened)`,
    `Psst… ${lower}`,
    `Just for you: ${lower}`,
  ];
  const seen = new Set([subject.trim().toLowerCase()]);
  const out: string[] = [];
  for (const candidate of candidates) {
    const clipped = candidate.length > MAX_SUBJECT_CHARS ? candidate.slice(0, MAX_SUBJECT_CHARS - 1) + "…" : candidate;
    if (seen.has(clipped.toLowerCase())) continue;
    seen.add(clipped.toLowerCase());
    out.push(clipped);
    if (out.length >= Math.min(count, MAX_SUBJECT_VARIANTS)) break;
  }
  return out;
}

/** What differs between two documents, in words a marketer reads: subject, preview, sections. */
export function differences(a: EmailDocument, b: EmailDocument): string[] {
  const out: string[] = [];
  if ((a.subject ?? "") !== (b.subject ?? "")) out.push(`Subject: “${b.subject ?? ""}”`);
  if ((a.preheader ?? "") !== (b.preheader ?? "")) out.push(`Preview text: “${b.preheader ?? ""}”`);
  const before = new Map(a.sections.map((s) => [s.id, s]));
  for (const section of b.sections) {
    const other = before.get(section.id);
    if (!other) out.push(`Adds a ${section.type} section`);
    else if (JSON.stringify(other.fields) !== JSON.stringify(section.fields)) out.push(`Different ${section.type}`);
    before.delete(section.id);
  }
  for (const removed of before.values()) out.push(`No ${removed.type} section`);
  if (out.length === 0 && a.sections.map((s) => s.id).join() !== b.sections.map((s) => s.id).join()) out.push("Sections in another order");
  return out;
}

export class Variants {
  #studio: StudioStore;
  #sessions: SessionService;
  #editor: EmailEditor;

  constructor(options: { studio: StudioStore; sessions: SessionService; editor: EmailEditor }) {
    this.#studio = options.studio;
    this.#sessions = options.sessions;
    this.#editor = options.editor;
  }

  /** The first email of `email`'s family. */
  rootOf(email: EmailRecord): string {
    return email.document.meta?.variantOf?.emailId ?? email.id;
  }

  /**
   * Forks `email` at its current version into a new variant, with `subject` set and/or `section`
   * rewritten from `instruction` (a run of the section agent in the variant's session).
   */
  async make(email: EmailRecord, input: { subject?: string; section?: VariantSection; instruction?: string; baseUrl: string; clientId?: string }): Promise<VariantResult> {
    if (email.status !== "ready") return { ok: false, code: "email_not_ready", message: "The email is not ready yet; make a variant when it has finished generating." };
    const target: Section | undefined = input.section ? email.document.sections.find((s) => s.type === input.section) : undefined;
    if (input.section && input.instruction && !target) return { ok: false, code: "section_not_found", message: `This email has no ${input.section} section to rewrite.` };
    const root = this.rootOf(email);
    const document: EmailDocument = {
      ...email.document,
      ...(input.subject ? { subject: input.subject } : {}),
      meta: { ...email.document.meta, variantOf: { emailId: root, version: email.version } },
    };
    const session = await this.#sessions.create({ title: `Variant: ${document.subject ?? "email"}`.slice(0, 200), teamId: email.teamId, copyOf: email.sessionId });
    const note = `Variant of version ${email.version}${input.subject ? " with a new subject" : ""}`;
    const emailId = await this.#studio.createVariant(email, { sessionId: session.id, document, note });
    if (!target || !input.instruction) return { ok: true, emailId, sessionId: session.id };
    const variant = (await this.#studio.email(teamScope(email.teamId), emailId))!;
    const started = await this.#editor.regenerate(variant, target.id, { instruction: input.instruction, baseUrl: input.baseUrl, clientId: input.clientId });
    return started.ok ? { ok: true, emailId, sessionId: session.id, runId: started.runId } : { ok: true, emailId, sessionId: session.id };
  }

  /** The family of `email`: the first email, then its variants, oldest first (at most 50). */
  async family(email: EmailRecord): Promise<EmailRecord[]> {
    const rootId = this.rootOf(email);
    // The email passed the team gate; its family is looked up inside the same team.
    const scope = teamScope(email.teamId);
    const root = rootId === email.id ? email : await this.#studio.email(scope, rootId);
    return [...(root ? [root] : []), ...(await this.#studio.variantsOf(scope, rootId))];
  }
}

/** The JSON schema a model answers subject-line proposals with. */
export const SUBJECT_LINES_SCHEMA = {
  type: "object",
  properties: { subjects: { type: "array", items: { type: "string" } } },
  required: ["subjects"],
  additionalProperties: false,
} as const;

export type SubjectProposal = { ok: true; subjects: string[]; source: "offline" | "model" } | { ok: false; code: "provider_failed"; message: string };

/**
 * Subject lines for variants: by the text model when one is configured (it is sent the brand's voice,
 * the current subject, preheader and headline, and asked by JSON schema), else the deterministic
 * offline alternatives. A model's lines are trimmed, kept within the subject limit, never the current
 * subject and never twice.
 */
export async function proposeSubjects(input: { document: EmailDocument; brandName: string; voice?: string; count: number; provider?: Provider; signal?: AbortSignal }): Promise<SubjectProposal> {
  const current = input.document.subject ?? "";
  if (!input.provider || input.provider.name === "offline") return { ok: true, subjects: subjectAlternatives(current, input.count), source: "offline" };
  const headline = input.document.sections.find((s) => s.type === "headline")?.fields as { text?: string; headline?: string } | undefined;
  const system = [
    `You write email subject lines for the brand "${input.brandName}".`,
    input.voice ? `Brand voice: ${input.voice}` : "",
    `Propose ${input.count} different subject lines for A/B variants of the email below: each at most 60 characters, each a different angle (benefit, curiosity, urgency, personal, news), none equal to the current subject. Merge tags like {{first_name|there}} are allowed.`,
    `Answer with JSON matching the schema: {"subjects": [ … ]}.`,
  ].filter(Boolean).join("\n");
  const prompt = [`Current subject: ${current}`, `Preheader: ${input.document.preheader ?? ""}`, `Headline: ${headline?.headline ?? headline?.text ?? ""}`].join("\n");
  let text = "";
  try {
    for await (const chunk of input.provider.stream({ system, messages: [{ role: "user", content: prompt }], schema: SUBJECT_LINES_SCHEMA as unknown as Record<string, unknown>, schemaName: "subject_lines", maxTokens: 1_000, signal: input.signal ?? new AbortController().signal })) {
      if (typeof chunk === "string") text += chunk;
    }
  } catch (error) {
    return { ok: false, code: "provider_failed", message: `The ${input.provider.name} model could not propose subject lines: ${error instanceof Error ? error.message : String(error)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1));
  } catch {
    return { ok: false, code: "provider_failed", message: `The ${input.provider.name} model answered without the subject lines JSON.` };
  }
  const lines = Array.isArray((parsed as { subjects?: unknown }).subjects) ? ((parsed as { subjects: unknown[] }).subjects) : [];
  const seen = new Set([current.trim().toLowerCase()]);
  const subjects: string[] = [];
  for (const line of lines) {
    if (typeof line !== "string") continue;
    const subject = line.replace(/\s+/g, " ").trim().slice(0, MAX_SUBJECT_CHARS);
    if (!subject || seen.has(subject.toLowerCase())) continue;
    seen.add(subject.toLowerCase());
    subjects.push(subject);
    if (subjects.length === input.count) break;
  }
  if (subjects.length === 0) return { ok: false, code: "provider_failed", message: `The ${input.provider.name} model proposed no usable subject line.` };
  return { ok: true, subjects, source: "model" };
}
