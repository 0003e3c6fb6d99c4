import { validateSection, type Section } from "./document";
import { clamp, type DraftCopy } from "./sections/draft";

/**
 * Regenerate-with-an-instruction without a model: a small, documented set of instructions the
 * offline writer understands, applied to one section's text fields. Anything else needs a real
 * model and says so; an instruction that would leave the section as it is says so too, so no
 * unchanged "regenerated" version is ever saved, and the instruction itself never becomes copy.
 *
 * | instruction                          | what it does                                                  |
 * |--------------------------------------|---------------------------------------------------------------|
 * | shorter, more concise, trim          | keeps the first sentence of each text; headlines lose their tail |
 * | longer, expand, more detail          | adds one sentence in the brief's tone                          |
 * | punchier, bolder, snappier           | drops filler words, short sentences, headlines end with "."    |
 * | more formal                          | expands contractions, no exclamation marks                     |
 * | more casual, friendlier, relaxed     | contracts ("you are" → "you're")                               |
 * | mention X                            | adds "Plus: X." (or X in the note of a button)                 |
 * | remove X, drop X, don't mention X    | removes the sentences (or words) with X                        |
 * | use the offer, add the offer         | puts the brief's offer and code in the section                 |
 */

export type OfflineInstruction =
  | { kind: "shorter" | "longer" | "punchier" | "formal" | "casual" | "offer" }
  | { kind: "mention" | "remove"; subject: string };

/** The instructions the offline writer understands, for messages and docs. */
export const OFFLINE_INSTRUCTIONS = ["shorter", "longer", "punchier", "more formal", "more casual", "mention …", "remove …", "use the offer"] as const;

const PATTERNS: Array<[RegExp, (m: RegExpExecArray) => OfflineInstruction]> = [
  [/^(?:please\s+)?(?:remove|drop|delete|cut|don'?t mention|do not mention|without)\s+(?:the\s+(?:mention of|word|phrase)\s+)?["“']?(.+?)["”']?$/i, (m) => ({ kind: "remove", subject: m[1]! })],
  [/^(?:please\s+)?(?:mention|add|include|talk about|say)\s+(?!the offer\b|an offer\b|our offer\b)["“']?(.+?)["”']?$/i, (m) => ({ kind: "mention", subject: m[1]! })],
  [/\b(?:use|add|include|mention|show|lead with)\s+(?:the|our|an)\s+(?:offer|discount|code|promo)\b/i, () => ({ kind: "offer" })],
  [/\b(?:shorter|more concise|trim|tighten|condense|cut it down|less text|briefer)\b/i, () => ({ kind: "shorter" })],
  [/\b(?:longer|expand|more detail|elaborate|more text|flesh (?:it )?out)\b/i, () => ({ kind: "longer" })],
  [/\b(?:punchier|punchy|bolder|snappier|more impact|stronger|more direct)\b/i, () => ({ kind: "punchier" })],
  [/\bmore formal\b|\bformal\b|\bprofessional\b/i, () => ({ kind: "formal" })],
  [/\bmore casual\b|\bcasual\b|\bfriendlier\b|\bmore relaxed\b|\bless formal\b|\bconversational\b/i, () => ({ kind: "casual" })],
];

/**
 * Reads an instruction, or `undefined` when it is not one the offline writer understands.
 *
 * @example parseInstruction("Make it shorter") // { kind: "shorter" }
 */
export function parseInstruction(instruction: string): OfflineInstruction | undefined {
  const text = instruction.trim().replace(/[.!]+$/, "").replace(/^(?:please\s+)?(?:make (?:it|this)|can you make it|could you make it)\s+/i, "");
  // "Make it punchier and mention 20% off": several instructions need a model to combine well.
  if (/\band\b|,/.test(text) && !/^(?:mention|remove|drop|don'?t mention|do not mention)\b/i.test(text)) return undefined;
  for (const [pattern, make] of PATTERNS) {
    const match = pattern.exec(text);
    if (match) {
      const parsed = make(match);
      if ("subject" in parsed && (!parsed.subject.trim() || parsed.subject.length > 120)) return undefined;
      return parsed;
    }
  }
  return undefined;
}

export type RewriteResult =
  | { ok: true; section: Section; instruction: OfflineInstruction }
  | { ok: false; code: "needs_model" | "unchanged" | "no_offer"; message: string };

/** The message for an instruction the offline writer does not understand. */
export function needsModelMessage(instruction: string): string {
  return `“${clamp(instruction, 80)}” needs a real model (set ANTHROPIC_API_KEY or OPENAI_API_KEY). Offline, a section can be made ${OFFLINE_INSTRUCTIONS.slice(0, 5).join(", ")}, or you can ask to mention or remove something, or to use the offer.`;
}

const CONTRACTIONS: Array<[RegExp, string]> = [
  [/\byou are\b/gi, "you're"],
  [/\bit is\b/gi, "it's"],
  [/\bwe are\b/gi, "we're"],
  [/\bdo not\b/gi, "don't"],
  [/\bcannot\b/gi, "can't"],
  [/\bwe will\b/gi, "we'll"],
  [/\byou will\b/gi, "you'll"],
  [/\bthat is\b/gi, "that's"],
  [/\bwill not\b/gi, "won't"],
  [/\bdoes not\b/gi, "doesn't"],
];
const EXPANSIONS: Array<[RegExp, string]> = [
  [/\byou['’]re\b/gi, "you are"],
  [/\bit['’]s\b/gi, "it is"],
  [/\bwe['’]re\b/gi, "we are"],
  [/\bdon['’]t\b/gi, "do not"],
  [/\bcan['’]t\b/gi, "cannot"],
  [/\bwe['’]ll\b/gi, "we will"],
  [/\byou['’]ll\b/gi, "you will"],
  [/\bthat['’]s\b/gi, "that is"],
  [/\bwon['’]t\b/gi, "will not"],
  [/\bdoesn['’]t\b/gi, "does not"],
  [/\bdidn['’]t\b/gi, "did not"],
  [/\bit['’]ll\b/gi, "it will"],
  [/\blet['’]s\b/gi, "let us"],
];
const FILLER = /\b(?:simply|just|really|very|quietly|truly|actually|a little|little|so that)\s+/gi;

/** Keeps the case of the first letter when a replacement starts a sentence. */
function replaceKeepingCase(text: string, rules: Array<[RegExp, string]>): string {
  let out = text;
  for (const [pattern, to] of rules) out = out.replace(pattern, (m) => (/^[A-Z]/.test(m) ? to[0]!.toUpperCase() + to.slice(1) : to));
  return out;
}

function splitSentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).filter(Boolean);
}

/** Which fields of a section carry prose, which are headings (one line), and its list of items. */
const PROSE: Record<string, string[]> = {
  hero: ["subheadline"],
  headline: ["subtext"],
  ingredient: ["description"],
  text: ["text"],
  cta: ["note"],
  testimonial: [],
  benefits: [],
};
const HEADINGS: Record<string, string[]> = { hero: ["headline"], headline: ["text"], ingredient: ["name"], benefits: ["title"], cta: ["label"] };

function mapText(section: Section, fn: (text: string, role: "prose" | "heading") => string): Section {
  const fields = { ...(section.fields as Record<string, unknown>) };
  for (const name of PROSE[section.type] ?? []) if (typeof fields[name] === "string" && fields[name]) fields[name] = fn(fields[name] as string, "prose");
  for (const name of HEADINGS[section.type] ?? []) if (typeof fields[name] === "string" && fields[name]) fields[name] = fn(fields[name] as string, "heading");
  if (section.type === "benefits") fields.items = (fields.items as Array<{ title: string; text: string }>).map((item) => ({ title: fn(item.title, "heading"), text: item.text ? fn(item.text, "prose") : item.text }));
  if (section.type === "product-grid") fields.products = (fields.products as Array<{ description?: string }>).map((p) => (p.description ? { ...p, description: fn(p.description, "prose") } : p));
  return { ...section, fields } as Section;
}

/** The field where an added sentence goes. */
const MAIN_PROSE: Record<string, string> = { hero: "subheadline", headline: "subtext", ingredient: "description", text: "text", cta: "note" };

const LONGER: Record<string, string> = {
  warm: "We made it with you in mind, and we hope it shows.",
  confident: "Once you try it, you won't go back.",
  playful: "Trust us, you'll be telling your friends.",
  luxe: "Every detail has been considered, so you can simply enjoy it.",
  urgent: "Stock is limited, so don't leave it too late.",
  calm: "Take your time: it will be here when you are ready.",
  expert: "Every claim is backed by careful testing.",
};

function addSentence(section: Section, sentence: string): Section | undefined {
  const field = MAIN_PROSE[section.type];
  const fields = { ...(section.fields as Record<string, unknown>) };
  if (field) {
    const current = typeof fields[field] === "string" ? (fields[field] as string).trim() : "";
    if (current.toLowerCase().includes(sentence.toLowerCase())) return undefined;
    fields[field] = current ? `${current} ${sentence}` : sentence;
    return { ...section, fields } as Section;
  }
  if (section.type === "benefits") {
    const items = fields.items as Array<{ title: string; text: string }>;
    const last = items[items.length - 1]!;
    if (last.text.toLowerCase().includes(sentence.toLowerCase())) return undefined;
    fields.items = [...items.slice(0, -1), { ...last, text: `${last.text} ${sentence}`.trim() }];
    return { ...section, fields } as Section;
  }
  return undefined;
}

/**
 * Applies an offline instruction to one section. `copy` is the offline writer's reading of the
 * brand and brief (style, offer). Returns `unchanged` instead of a section equal to the old one.
 *
 * @example rewriteSectionOffline(section, "shorter", copyOf({ brand, brief }))
 */
export function rewriteSectionOffline(section: Section, instruction: string, copy: DraftCopy): RewriteResult {
  const parsed = parseInstruction(instruction);
  if (!parsed) return { ok: false, code: "needs_model", message: needsModelMessage(instruction) };
  let next: Section | undefined;
  switch (parsed.kind) {
    case "shorter":
      next = mapText(section, (text, role) => {
        if (role === "heading") return text.replace(/\s*[:—–-]\s+.*$/, "").replace(/,\s+.*$/, "") || text;
        const first = splitSentences(text)[0] ?? text;
        return first.length < text.length ? first : text.replace(/,[^,]*([.!?])$/, "$1");
      });
      break;
    case "longer":
      next = addSentence(section, LONGER[copy.style] ?? LONGER.warm!);
      break;
    case "punchier":
      next = mapText(section, (text, role) => {
        const lean = text.replace(FILLER, "").replace(/\s+—\s+[^.!?]*([.!?])/g, "$1");
        if (role === "heading") return lean.replace(/[.!?…]*$/, "") + (section.type === "cta" ? "" : ".");
        const first = splitSentences(lean)[0] ?? lean;
        return first.replace(/,\s+(so|and|but|which)\s+[^.!?]*([.!?])$/i, "$2");
      });
      break;
    case "formal":
      next = mapText(section, (text) => replaceKeepingCase(text, EXPANSIONS).replace(/!/g, ".").replace(/\bYes, really\b\.?\s*/g, ""));
      break;
    case "casual":
      next = mapText(section, (text) => replaceKeepingCase(text, CONTRACTIONS));
      break;
    case "mention": {
      const subject = parsed.subject.trim().replace(/[.!]+$/, "");
      if (JSON.stringify(section.fields).toLowerCase().includes(subject.toLowerCase())) return { ok: false, code: "unchanged", message: `This ${section.type} already mentions “${subject}”.` };
      next = addSentence(section, `Plus: ${subject}.`);
      break;
    }
    case "remove": {
      const subject = parsed.subject.trim().replace(/[.!]+$/, "").toLowerCase();
      next = mapText(section, (text, role) => {
        if (!text.toLowerCase().includes(subject)) return text;
        if (role === "prose") {
          const kept = splitSentences(text).filter((s) => !s.toLowerCase().includes(subject));
          if (kept.length > 0) return kept.join(" ");
        }
        const escaped = subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        return text.replace(new RegExp(`\\s*\\b${escaped}\\b\\s*`, "gi"), " ").replace(/\s+([.,!?])/g, "$1").replace(/\s{2,}/g, " ").trim() || text;
      });
      break;
    }
    case "offer": {
      if (!copy.offer) return { ok: false, code: "no_offer", message: "This brief has no offer yet: add one to the brief (offer text and an optional code), then ask again." };
      const { text, code } = copy.offer;
      const line = `${text[0]!.toUpperCase()}${text.slice(1)}${code ? ` with code ${code}` : ""}.`;
      const fields = { ...(section.fields as Record<string, unknown>) };
      if (section.type === "hero" && !String(fields.headline ?? "").toLowerCase().includes(text.toLowerCase())) {
        fields.headline = clamp(`${text[0]!.toUpperCase()}${text.slice(1)}`, 120);
        next = code && !String(fields.subheadline ?? "").includes(code) ? addSentence({ ...section, fields } as Section, `Use code ${code} at checkout.`) ?? ({ ...section, fields } as Section) : ({ ...section, fields } as Section);
      } else if (section.type === "headline" && !String(fields.subtext ?? "").toLowerCase().includes(text.toLowerCase())) {
        fields.subtext = line;
        next = { ...section, fields } as Section;
      } else {
        next = JSON.stringify(section.fields).toLowerCase().includes(text.toLowerCase()) ? undefined : addSentence(section, line);
      }
      break;
    }
  }
  if (!next || JSON.stringify(next.fields) === JSON.stringify(section.fields)) {
    return { ok: false, code: "unchanged", message: `“${clamp(instruction, 80)}” would leave this ${section.type} section as it is, so no new version was saved.` };
  }
  const checked = validateSection(next);
  if (!checked.ok) return { ok: false, code: "unchanged", message: `The rewritten ${section.type} section would not be valid: ${checked.message}` };
  return { ok: true, section: checked.value, instruction: parsed };
}
