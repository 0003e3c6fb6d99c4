import { formulaOf, MAX_PREHEADER_CHARS, MAX_SUBJECT_CHARS, type EmailDocument, type Section, type SectionType } from "./document";
import { sectionModule } from "./sections";
import { clamp, codeLine, copyOf, fitting, introLine, lowerFirst, occasionLead, offerHeadline, type DraftCopy, type DraftInput } from "./sections/draft";

/** What the offline writer drafts from: the brand, the brief, and the hero image if there is one. */
export type OfflineWriterInput = DraftInput;

/**
 * The offline provider's copy writer: a sensible, brief-specific first draft in the brand's formula
 * order, with no model and no network. It is deterministic (same brand and brief → same document),
 * writes for the brief's audience in its tone (never pasting a brief field back), turns the product
 * descriptions into benefit lines, puts the offer and its code in the hero and on the button, uses the
 * product photos, and marks the document `meta.offlineDraft` so the UI can say it was not written by
 * a model. No sentence appears twice. It invents no facts: where a
 * section needs something only the marketer knows (a customer quote), it leaves a visible placeholder.
 * Each section's draft is its module's `draft` hook (`sections/<type>.ts`); the shared phrasing lives
 * in `sections/draft.ts`; this file orders the sections and writes the subject and preheader.
 */

/** Pause between streamed sections by default, so progress is visible in the UI. */
export const OFFLINE_SECTION_DELAY_MS = 250;


// ---------------------------------------------------------------------------------------------
// Public API.

/** Subject lines stay within 60 characters, so no inbox cuts them off. */
export const SUBJECT_MAX_CHARS = 60;
/** Preview text: long enough to fill the inbox line, short enough not to run into the body. */
export const PREHEADER_MIN_CHARS = 40;
export const PREHEADER_MAX_CHARS = 110;

function subjectOf(c: DraftCopy): string {
  const max = Math.min(SUBJECT_MAX_CHARS, MAX_SUBJECT_CHARS);
  const lead = occasionLead(c);
  const offer = offerHeadline(c);
  const candidates = offer
    ? [...(lead ? [`${lead}: ${lowerFirst(offer)}`] : []), `${offer} — ${c.product}`, `${offer} at ${c.brand}`, offer]
    : [...(lead ? [`${lead}: ${c.hook}`] : []), c.hook, introLine(c), c.product];
  return fitting(candidates.filter(Boolean), max);
}

function preheaderOf(c: DraftCopy, subject: string): string {
  const max = Math.min(PREHEADER_MAX_CHARS, MAX_PREHEADER_CHARS);
  const [a, b] = c.benefits;
  const benefits = a && b ? `${a.title}, ${lowerFirst(b.title)} and more from ${c.brand}.` : `Something new from ${c.brand}.`;
  const first = c.offer ? `${codeLine(c)} ${benefits}` : benefits;
  const extras = [" Open to see why.", ` Made with care by ${c.brand}.`, " Take a look inside."];
  let line = first;
  for (const extra of extras) if (line.length < PREHEADER_MIN_CHARS) line += extra;
  line = clamp(line, max);
  return line === subject ? clamp(`${line} Inside: ${c.product}.`, max) : line;
}

/**
 * Writes a complete draft whose sections are exactly the brand's formula (or the default formula),
 * in order, with ids `<type>-<n>`.
 *
 * @example
 * const document = writeOfflineEmail({ brand, brief });
 * document.meta?.offlineDraft // true
 */
export function writeOfflineEmail(input: OfflineWriterInput): EmailDocument {
  const formula = formulaOf(input.brand).map((step) => step.type);
  const counts = new Map<SectionType, number>();
  const copy = copyOf(input);
  const sections = formula.map((type) => {
    const n = (counts.get(type) ?? 0) + 1;
    counts.set(type, n);
    const fields = sectionModule(type)!.draft(copy, input, formula);
    return { id: `${type}-${n}`, type, fields } as Section;
  });
  const subject = subjectOf(copy);
  return {
    subject,
    preheader: preheaderOf(copy, subject),
    sections,
    meta: { offlineDraft: true, generator: "offline" },
  };
}

/** One streamed step: the new section and the document so far. */
export interface OfflineSectionEvent {
  index: number;
  total: number;
  section: Section;
  /** Subject, preheader, meta and the sections written so far. */
  document: EmailDocument;
}

export interface StreamOptions {
  /** Pause before each section after the first (default `OFFLINE_SECTION_DELAY_MS`). */
  sectionDelayMs?: number;
  /** Stops the stream between sections. */
  signal?: AbortSignal;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Yields the same draft as `writeOfflineEmail`, one section at a time, so a caller can publish
 * progress per section. Ends early, without an error, when `signal` aborts.
 *
 * @example
 * for await (const { index, total, section } of streamOfflineEmail({ brand, brief }, { signal })) {
 *   await ctx.progress(`${section.type}`, (index + 1) / total);
 * }
 */
export async function* streamOfflineEmail(input: OfflineWriterInput, options: StreamOptions = {}): AsyncGenerator<OfflineSectionEvent, void, undefined> {
  const full = writeOfflineEmail(input);
  const delay = options.sectionDelayMs ?? OFFLINE_SECTION_DELAY_MS;
  for (const [index, section] of full.sections.entries()) {
    if (index > 0) await pause(delay, options.signal);
    if (options.signal?.aborted) return;
    yield { index, total: full.sections.length, section, document: { ...full, sections: full.sections.slice(0, index + 1) } };
  }
}
