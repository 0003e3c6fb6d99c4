import {
  formulaOf,
  MAX_ALT_CHARS,
  MAX_BODY_TEXT_CHARS,
  MAX_HEADLINE_CHARS,
  MAX_LABEL_CHARS,
  MAX_NAME_CHARS,
  MAX_PREHEADER_CHARS,
  MAX_PRODUCTS,
  MAX_SHORT_TEXT_CHARS,
  MAX_SUBJECT_CHARS,
  type Brand,
  type Brief,
  type EmailDocument,
  type Section,
  type SectionFields,
  type SectionType,
} from "./document";

/**
 * The offline provider's copy writer: a sensible, brief-specific first draft in the brand's formula
 * order, with no model and no network. It is deterministic (same brand and brief → same document),
 * writes from the brief's hook, audience, tone, objective, products and CTA, and marks the document
 * `meta.offlineDraft` so the UI can say it was not written by a model. It invents no facts: where a
 * section needs something only the marketer knows (a customer quote), it leaves a visible placeholder.
 */

/** Pause between streamed sections by default, so progress is visible in the UI. */
export const OFFLINE_SECTION_DELAY_MS = 250;

export interface OfflineWriterInput {
  brand: Brand;
  brief: Brief;
  /** The hero image, when the hero agent has already made one. */
  heroImageUrl?: string;
}

// ---------------------------------------------------------------------------------------------
// Style: the brief's tone and the brand's voice pick the phrasing.

type Style = "warm" | "playful" | "luxe" | "urgent" | "calm" | "expert";

const STYLE_HINTS: [Style, RegExp][] = [
  ["urgent", /urgen|hurry|limited|last chance|fomo|punchy|direct/i],
  ["playful", /playful|fun|cheek|witty|bubbly|quirky|energetic|upbeat|bold and bright|irreverent/i],
  ["luxe", /luxur|premium|elegan|refined|sophisticat|exclusive|indulg|opulent/i],
  ["calm", /calm|gentle|sooth|mindful|serene|soft|relax/i],
  ["expert", /expert|clinic|scien|professional|authorit|informative|technical|derm/i],
];

function styleOf(brief: Brief, brand: Brand): Style {
  // The brief's tone is about this email; the brand's voice is the fallback.
  for (const source of [brief.tone, brand.voice ?? ""]) {
    const match = STYLE_HINTS.find(([, pattern]) => pattern.test(source));
    if (match) return match[0];
  }
  return "warm";
}

type Intent = "launch" | "sale" | "restock" | "event" | "signup" | "general";

const INTENT_HINTS: [Intent, RegExp][] = [
  ["restock", /restock|back in stock|sold out/i],
  ["sale", /sale|discount|offer|promo|deal|% off|black friday|cyber/i],
  ["event", /event|webinar|workshop|invite|rsvp|register/i],
  ["signup", /sign ?up|subscribe|join|waitlist|trial|download/i],
  ["launch", /launch|introduc|new |announce|release|debut/i],
];

function intentOf(objective: string): Intent {
  return INTENT_HINTS.find(([, pattern]) => pattern.test(` ${objective} `))?.[0] ?? "general";
}

const DEFAULT_CTA_LABEL: Record<Intent, string> = {
  launch: "Discover it now",
  sale: "Claim your offer",
  restock: "Shop before it's gone",
  event: "Save your spot",
  signup: "Join now",
  general: "Shop now",
};

interface Copy {
  brand: string;
  product: string;
  productDescription: string;
  audience: string;
  hook: string;
  ctaLabel: string;
  style: Style;
  intent: Intent;
  pick: <T>(options: readonly T[]) => T;
}

// ---------------------------------------------------------------------------------------------
// Small text helpers.

/** Shortens at a word boundary, with an ellipsis, so limits never cut a word in half. */
function clamp(text: string, max: number): string {
  const clean = text.replace(/\s+/g, " ").trim();
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:–—-]+$/, "")}…`;
}

function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+|;\s*/)
    .map((s) => s.trim().replace(/[.;]+$/, ""))
    .filter((s) => s.length > 0);
}

function firstSentence(text: string): string {
  const first = sentences(text)[0];
  return first ? `${first}${/[.!?]$/.test(first) ? "" : "."}` : "";
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

/** JSON with sorted keys, so the same brand read back from storage in another key order seeds the same. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** FNV-1a: a stable seed from the inputs, so the same brief always reads the same. */
function seedOf(value: unknown): number {
  let hash = 0x811c9dc5;
  for (const char of stableJson(value)) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** mulberry32: a tiny deterministic PRNG. */
function randomFrom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Image URLs name where an image is stored (host, asset id), not what the email says: they are left
 * out of the seed, so the same brand and brief read the same on another installation.
 */
function withoutImageUrls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutImageUrls);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([k]) => k !== "logoUrl" && k !== "imageUrl").map(([k, v]) => [k, withoutImageUrls(v)]));
  return value;
}

function copyOf(input: OfflineWriterInput): Copy {
  const { brand, brief } = input;
  const random = randomFrom(seedOf(withoutImageUrls({ brand, brief })));
  const first = brief.products?.[0];
  const intent = intentOf(brief.objective);
  return {
    brand: brand.name.trim(),
    product: first?.name.trim() || brand.name.trim(),
    productDescription: first?.description?.trim() ?? "",
    audience: brief.audience.trim(),
    hook: brief.hook.trim(),
    ctaLabel: brief.cta?.label.trim() || DEFAULT_CTA_LABEL[intent],
    style: styleOf(brief, brand),
    intent,
    pick: (options) => options[Math.floor(random() * options.length)]!,
  };
}

// ---------------------------------------------------------------------------------------------
// Lines that depend on style and intent.

function introLine(c: Copy): string {
  const lines: Record<Intent, string[]> = {
    launch: [`Introducing ${c.product}`, `Meet ${c.product}`, `New from ${c.brand}: ${c.product}`],
    sale: [`Your offer on ${c.product}`, `${c.product}, for less`, `A little something from ${c.brand}`],
    restock: [`${c.product} is back`, `Back in stock: ${c.product}`],
    event: [`You're invited`, `Join ${c.brand}`, `Save the date`],
    signup: [`Join ${c.brand}`, `Be the first to know`, `Come along with ${c.brand}`],
    general: [`Meet ${c.product}`, `From ${c.brand}, with care`, `Something new from ${c.brand}`],
  };
  return c.pick(lines[c.intent]);
}

function audienceLine(c: Copy): string {
  const who = c.audience ? lowerFirst(c.audience) : "you";
  const lines: Record<Style, string[]> = {
    warm: [`Made for ${who}, with all the care you expect from ${c.brand}.`, `We made this one for ${who} — and we think you'll love it.`],
    playful: [`Made for ${who}. Seriously, you're going to love this.`, `Calling all ${who}: this one's for you!`],
    luxe: [`Crafted for ${who} who expect more.`, `A considered indulgence for ${who}.`],
    urgent: [`Made for ${who} — and it won't wait around.`, `For ${who} who don't like to miss out.`],
    calm: [`Made for ${who}, to bring a little calm to every day.`, `A gentle moment, made for ${who}.`],
    expert: [`Formulated for ${who}, backed by ${c.brand}'s expertise.`, `Designed for ${who}, with the details that matter.`],
  };
  return c.pick(lines[c.style]);
}

function closingLine(c: Copy): string {
  const lines: Record<Style, string> = {
    warm: "We can't wait for you to try it.",
    playful: "Go on — treat yourself.",
    luxe: "An everyday ritual, elevated.",
    urgent: `Don't wait: ${lowerFirst(c.ctaLabel)} today.`,
    calm: "Take a moment for yourself.",
    expert: "See the results for yourself.",
  };
  return lines[c.style];
}

const BENEFITS_TITLE: Record<Style, string> = {
  warm: "Why you'll love it",
  playful: "Why it's a total yes",
  luxe: "The difference you'll feel",
  urgent: "Why now",
  calm: "What it brings you",
  expert: "What it does",
};

// ---------------------------------------------------------------------------------------------
// One writer per section type.

type Writer<T extends SectionType> = (c: Copy, input: OfflineWriterInput, formula: SectionType[]) => SectionFields[T];

const writeHero: Writer<"hero"> = (c, input, formula) => ({
  ...(input.heroImageUrl ? { imageUrl: input.heroImageUrl } : {}),
  imageAlt: clamp(c.product === c.brand ? `${c.brand}: ${c.hook}` : `${c.product} from ${c.brand}`, MAX_ALT_CHARS),
  // The hook belongs in the headline section; without one, the hero carries it.
  headline: clamp(formula.includes("headline") ? introLine(c) : c.hook || introLine(c), MAX_HEADLINE_CHARS),
  subheadline: clamp(firstSentence(c.productDescription) || audienceLine(c), MAX_SHORT_TEXT_CHARS),
});

const writeHeadline: Writer<"headline"> = (c) => ({
  text: clamp(c.hook || introLine(c), MAX_HEADLINE_CHARS),
  subtext: clamp(audienceLine(c), MAX_SHORT_TEXT_CHARS),
});

const writeIngredient: Writer<"ingredient"> = (c, { brief }) => {
  const product = brief.products?.[0];
  const description = c.productDescription || `${c.product} is at the heart of everything ${c.brand} makes — chosen for ${c.audience ? lowerFirst(c.audience) : "you"}.`;
  return {
    name: clamp(c.product, MAX_NAME_CHARS),
    description: clamp(description, MAX_BODY_TEXT_CHARS),
    ...(product?.imageUrl ? { imageUrl: product.imageUrl, imageAlt: clamp(product.name, MAX_ALT_CHARS) } : {}),
  };
};

const writeBenefits: Writer<"benefits"> = (c, { brief }) => {
  const products = brief.products ?? [];
  let items: { title: string; text: string }[];
  if (products.length >= 2) {
    items = products.slice(0, 4).map((p) => ({
      title: clamp(p.name, MAX_NAME_CHARS),
      text: clamp(firstSentence(p.description ?? "") || `A ${c.brand} favourite.`, MAX_SHORT_TEXT_CHARS),
    }));
  } else {
    // One product: its description's claims become the benefits, topped up with brief-based ones.
    items = sentences(c.productDescription)
      .slice(0, 3)
      .map((s) => ({ title: clamp(s, MAX_NAME_CHARS), text: "" }));
    const extras = [
      { title: `Made for ${c.audience ? lowerFirst(c.audience) : "you"}`, text: "" },
      { title: `The care you expect from ${c.brand}`, text: "" },
      { title: `${c.ctaLabel} in a few clicks`, text: "" },
    ];
    for (const extra of extras) if (items.length < 3) items.push({ ...extra, title: clamp(extra.title, MAX_NAME_CHARS) });
  }
  return { title: BENEFITS_TITLE[c.style], items };
};

const writeCta: Writer<"cta"> = (c, { brief }) => ({
  label: clamp(c.ctaLabel, MAX_LABEL_CHARS),
  url: brief.cta?.url.trim() || brief.products?.find((p) => p.url)?.url?.trim() || "",
  note: c.style === "urgent" ? "While it lasts." : "Questions? Just reply to this email.",
});

const writeProductGrid: Writer<"product-grid"> = (c, { brief }) => {
  const products = (brief.products ?? []).slice(0, MAX_PRODUCTS).map((p) => ({
    name: clamp(p.name, MAX_NAME_CHARS),
    ...(p.description ? { description: clamp(firstSentence(p.description), MAX_SHORT_TEXT_CHARS) } : {}),
    ...(p.imageUrl ? { imageUrl: p.imageUrl } : {}),
    ...(p.url || brief.cta?.url ? { url: p.url || brief.cta!.url } : {}),
  }));
  return { products: products.length > 0 ? products : [{ name: clamp(c.brand, MAX_NAME_CHARS), ...(brief.cta?.url ? { url: brief.cta.url } : {}) }] };
};

const writeTestimonial: Writer<"testimonial"> = (c) => ({
  // A draft must not invent a customer: the placeholder asks for a real quote.
  quote: clamp(`[Add a real customer quote about ${c.product} here]`, MAX_SHORT_TEXT_CHARS),
  author: "[Customer name]",
});

const writeText: Writer<"text"> = (c) => {
  const who = c.audience ? lowerFirst(c.audience) : "you";
  const opening = c.productDescription ? `${c.product} was made for ${who}. ${c.productDescription}` : `${audienceLine(c)}`;
  return { text: clamp(`${opening}\n\n${closingLine(c)}`, MAX_BODY_TEXT_CHARS) };
};

const writeImage: Writer<"image"> = (c, { brief, heroImageUrl }) => {
  const withImage = (brief.products ?? []).filter((p) => p.imageUrl);
  const product = withImage[1] ?? withImage[0];
  return {
    url: product?.imageUrl ?? heroImageUrl ?? "",
    alt: clamp(product?.name ?? `${c.product} from ${c.brand}`, MAX_ALT_CHARS),
    ...(product?.url ? { link: product.url } : {}),
  };
};

const writeFooter: Writer<"footer"> = (c, { brand }) => ({
  address: brand.footer?.address ?? "",
  unsubscribeUrl: brand.footer?.unsubscribeUrl ?? "",
  companyName: clamp(c.brand, MAX_NAME_CHARS),
});

const WRITERS: { [T in SectionType]: Writer<T> } = {
  hero: writeHero,
  headline: writeHeadline,
  ingredient: writeIngredient,
  benefits: writeBenefits,
  cta: writeCta,
  "product-grid": writeProductGrid,
  testimonial: writeTestimonial,
  text: writeText,
  image: writeImage,
  divider: () => ({}),
  footer: writeFooter,
};

// ---------------------------------------------------------------------------------------------
// Public API.

function subjectOf(c: Copy): string {
  return clamp(c.hook || introLine(c), Math.min(60, MAX_SUBJECT_CHARS));
}

function preheaderOf(c: Copy): string {
  const line = c.productDescription ? `${c.product}: ${firstSentence(c.productDescription)}` : audienceLine(c);
  return clamp(line, Math.min(120, MAX_PREHEADER_CHARS));
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
    const fields = (WRITERS[type] as Writer<SectionType>)(copy, input, formula);
    return { id: `${type}-${n}`, type, fields } as Section;
  });
  return {
    subject: subjectOf(copy),
    preheader: preheaderOf(copy),
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
