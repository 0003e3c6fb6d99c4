import type { Brand, Brief } from "../document";

/**
 * The offline writer's shared phrasing: the brief's tone and the brand's voice pick a style, the
 * objective an intent, and a seed from the inputs picks among phrasings, so the same brand and brief
 * always read the same. Each section module's `draft` hook writes its fields from a `DraftCopy`.
 */

/** What a draft is written from. */
export interface DraftInput {
  brand: Brand;
  brief: Brief;
  /** The hero image, when the hero agent has already made one. */
  heroImageUrl?: string;
}

// ---------------------------------------------------------------------------------------------
// Style: the brief's tone and the brand's voice pick the phrasing.

export type Style = "warm" | "playful" | "luxe" | "urgent" | "calm" | "expert";

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

export type Intent = "launch" | "sale" | "restock" | "event" | "signup" | "general";

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

/** The brief, boiled down to what the drafts say, and a seeded chooser. */
export interface DraftCopy {
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
export function clamp(text: string, max: number): string {
  const clean = text.replace(/\s+/g, " ").trim();
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:–—-]+$/, "")}…`;
}

export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+|;\s*/)
    .map((s) => s.trim().replace(/[.;]+$/, ""))
    .filter((s) => s.length > 0);
}

export function firstSentence(text: string): string {
  const first = sentences(text)[0];
  return first ? `${first}${/[.!?]$/.test(first) ? "" : "."}` : "";
}

export function lowerFirst(text: string): string {
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

/** The copy every section's draft starts from. */
export function copyOf(input: DraftInput): DraftCopy {
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

export function introLine(c: DraftCopy): string {
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

export function audienceLine(c: DraftCopy): string {
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

export function closingLine(c: DraftCopy): string {
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
