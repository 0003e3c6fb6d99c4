import type { Brand, Brief } from "../document";

/**
 * The offline writer's shared phrasing. It writes *for* the reader, never pasting the brief back:
 * the brief's tone (or the brand's voice) picks a style, the objective an intent, the audience a
 * way of addressing the reader, and each product description is read into claims that become real
 * benefit lines (a title and a sentence, rephrased). A seed from the inputs picks among phrasings,
 * so the same brand and brief always read the same, and a phrasebook shared by the sections of one
 * draft hands out every line once, so no sentence repeats across sections.
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

export type Style = "warm" | "confident" | "playful" | "luxe" | "urgent" | "calm" | "expert";

const STYLE_HINTS: [Style, RegExp][] = [
  ["urgent", /urgen|hurry|limited|last chance|fomo|time[- ]sensitive|now or never/i],
  ["playful", /playful|fun|cheek|witty|bubbly|quirky|energetic|upbeat|irreverent|silly|light-?hearted/i],
  ["luxe", /luxur|premium|elegan|refined|sophisticat|exclusive|indulg|opulent|lavish/i],
  ["calm", /calm|gentle|sooth|mindful|serene|soft|relax|quiet|peaceful/i],
  ["confident", /confiden|bold|assertive|direct|punchy|strong|self-assured/i],
  ["expert", /expert|clinic|scien|professional|authorit|informative|technical|derm/i],
  ["warm", /warm|friendly|reassur|caring|kind|welcoming|heartfelt/i],
];

/** The style for a tone word; any tone it does not know reads warm (a sensible default). */
export function styleOf(tone: string, voice = ""): Style {
  // The brief's tone is about this email; the brand's voice is the fallback.
  for (const source of [tone, voice]) {
    const match = STYLE_HINTS.find(([, pattern]) => pattern.test(source));
    if (match) return match[0];
  }
  return "warm";
}

export type Intent = "launch" | "sale" | "restock" | "event" | "signup" | "general";

/** Whole words only: "Promote our menu" is no sale, "an ideal gift" no deal, "prevent" no event. */
const INTENT_HINTS: [Intent, RegExp][] = [
  ["restock", /\b(restock|back in stock|sold out)/i],
  ["sale", /\b(sales?|discount|offers?|promos?|promotions?|deals?|black friday|cyber)\b|% off\b/i],
  ["event", /\b(events?|webinars?|workshops?|invit|rsvp|regist)/i],
  ["signup", /\b(sign ?up|subscri|join|waitlist|trial|download)/i],
  ["launch", /\b(launch|introduc|new\b|announc|release|debut)/i],
];

function intentOf(objective: string): Intent {
  return INTENT_HINTS.find(([, pattern]) => pattern.test(` ${objective} `))?.[0] ?? "general";
}

/** Who the reader is, read from the audience field (which is never pasted into the copy). */
export type Reader = "returning" | "new" | "vip" | "family" | "busy" | "general";

const READER_HINTS: [Reader, RegExp][] = [
  ["vip", /\bvip|loyal|member|insider/i],
  ["returning", /existing|returning|repeat|past (buyers|customers)|previous|bought|purchased|customers? who/i],
  ["new", /\bnew\b|subscriber|signed up|sign-ups|first[- ]time|prospect|welcome/i],
  ["family", /parent|mum|mom|dad|famil|kids|children/i],
  ["busy", /busy|professional|commuter|on the go|working|students?/i],
];

function readerOf(audience: string): Reader {
  return READER_HINTS.find(([, pattern]) => pattern.test(audience))?.[0] ?? "general";
}

const DEFAULT_CTA_LABEL: Record<Intent, string> = {
  launch: "Discover it now",
  sale: "Shop the sale",
  restock: "Shop before it's gone",
  event: "Save your spot",
  signup: "Join now",
  general: "Shop now",
};

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
  return /^[A-Z][a-z]|^A /.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

export function upperFirst(text: string): string {
  return text ? text[0]!.toUpperCase() + text.slice(1) : text;
}

/** The first of `options` that fits in `max` characters, else the last one shortened. */
export function fitting(options: readonly string[], max: number): string {
  return options.find((o) => o.length <= max) ?? clamp(options[options.length - 1] ?? "", max);
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

// ---------------------------------------------------------------------------------------------
// Claims: a product description read into what the product does, rephrased for the reader.

/** One benefit line: a short title and one sentence. */
export interface Benefit {
  title: string;
  text: string;
  product: string;
}

interface Theme {
  pattern: RegExp;
  titles: string[];
  line: string;
}

/**
 * What a claim is about, and how to say it for the reader. A theme's title and line are claims of
 * their own, so a pattern matches whole words only: "software" is not soft, "restaurant" not rest,
 * "weeknight" not a night's sleep, "24-month parmigiano" not all-day wear, "45 minutes with our
 * engineer" not results in minutes.
 */
const THEMES: Theme[] = [
  { pattern: /\b(bright|radian|glow|luminous|dull)/i, titles: ["Brighter-looking skin", "Your glow, back on"], line: "Skin looks fresher and more awake, morning after morning." },
  { pattern: /\b(dark spots?|pigment|uneven|even(s)? (out )?(skin )?tone|blemish|marks?\b)/i, titles: ["A more even tone", "Fewer dark spots"], line: "Spots fade and your tone evens out, week by week." },
  { pattern: /\b(hydrat|moistur|dry\b|dry skin|dehydrat|plump|quench)/i, titles: ["Hydration that lasts", "Soft, comfortable skin"], line: "Dry patches give way to skin that feels soft and comfortable for hours." },
  { pattern: /\b(gentle|sensitive|sooth|irritat|redness|mild\b)/i, titles: ["Kind to sensitive skin", "Gentle every day"], line: "Kind enough to reach for every single day, even on sensitive days." },
  { pattern: /\b(wrinkle|fine lines?|firm(s|er|ing|ness)?\b|ageing|aging|collagen|elastic)/i, titles: ["Smoother, firmer feel", "Softens fine lines"], line: "Lines look softer and skin feels firmer with steady use." },
  { pattern: /\b(natural|organic|plant(s|-based|-led)?\b|botanic|vegan|clean\b|cold-pressed|non-toxic)/i, titles: ["Clean, plant-led formula", "Nothing you don't need"], line: "Made with ingredients you can read and feel good about." },
  { pattern: /\b(in (a few |\d+ )?minutes|instant|(in|within) seconds|quick(ly)?\b|fast(-acting)?\b|rapid)/i, titles: ["Results in minutes", "Quick and easy"], line: "It works fast, so it fits into even the busiest day." },
  { pattern: /\b(all[- ]day|\d+[- ]?(hours?|hrs?)\b|for hours|long-?lasting|lasts\b)/i, titles: ["Lasts all day", "Stays put"], line: "Put it on once and forget about it until evening." },
  { pattern: /\b(light(weight)?\b|weightless|non-greasy|absorb|sinks? (straight )?in)/i, titles: ["Light, never greasy", "Sinks straight in"], line: "It sinks in quickly and leaves nothing sticky behind." },
  { pattern: /\b(warm(s|th)?\b|insulat|thermal|wool|fleece)/i, titles: ["Warmth without bulk", "Cosy on cold days"], line: "Stay warm on the coldest days without feeling weighed down." },
  { pattern: /\b(comfort|soft(er|est|ly|ness)?\b|cos(y|ie)|cozy|breathab|stretch)/i, titles: ["Comfort you can feel", "Soft from the first wear"], line: "Comfortable from the first minute to the last." },
  { pattern: /\b(durable|built to last|tough|sturdy|lifetime|warranty)/i, titles: ["Built to last", "Made for years of use"], line: "Made to be used hard and kept for years." },
  { pattern: /\b(waterproof|water-resistant|rain(proof)?\b|weather)/i, titles: ["Ready for any weather", "Rain? No problem"], line: "Rain or shine, you stay covered." },
  { pattern: /\b(tast(e|y|ing)|flavou?r|delicious|roast|aroma|brew|chocolate|sweet)/i, titles: ["Full of flavour", "Made to be savoured"], line: "Rich, rounded flavour you'll notice from the first taste." },
  { pattern: /\b(fresh|small[- ]batch|hand-?made|craft|artisan)/i, titles: ["Small-batch fresh", "Made with care"], line: "Made in small batches, so what reaches you is at its best." },
  { pattern: /\b(sleep|rest(ful|ed)?\b|bedtime|unwind|nights?\b)/i, titles: ["Better nights", "Rest, restored"], line: "Wind down more easily and wake up feeling rested." },
  { pattern: /\b(energy|energis|energiz|stamina|alertness)/i, titles: ["Steady energy", "Focus that lasts"], line: "Steady energy that carries you through the afternoon." },
  { pattern: /\b(recycl|refill|sustainab|plastic[- ]free|eco[- ]?friendly|compost|planet)/i, titles: ["Kinder to the planet", "Less waste, same results"], line: "Less waste for the planet, with no compromise for you." },
  { pattern: /\b(scent|fragrance|smell|perfume|notes of)/i, titles: ["A scent you'll love", "Beautifully scented"], line: "A scent that lingers just long enough to make you smile." },
  { pattern: /\b(battery|recharg|charging)/i, titles: ["Power that keeps up", "Charge less, do more"], line: "Power that keeps going as long as your day does." },
  { pattern: /\b(great value|affordab|fair price|low price)/i, titles: ["Great value", "More for less"], line: "Everything you want from it, at a price that makes sense." },
];

const IRREGULAR_BASE: Record<string, string> = { is: "be", has: "have", does: "do", goes: "go" };

/** `fades` → `fade`, `brightens` → `brighten`, `soothes` → `soothe`, `carries` → `carry`. */
function baseVerb(verb: string): string {
  const lower = verb.toLowerCase();
  if (IRREGULAR_BASE[lower]) return IRREGULAR_BASE[lower];
  if (/ies$/.test(lower)) return lower.slice(0, -3) + "y";
  if (/(ss|sh|ch|x|zz)es$/.test(lower)) return lower.slice(0, -2);
  if (/[^s]s$/.test(lower)) return lower.slice(0, -1);
  return lower;
}

/** A claim that starts with a verb in the third person ("Fades dark spots…"). */
function verbClaim(claim: string): { verb: string; rest: string } | undefined {
  const match = /^([A-Za-z]+(?:s|es))\s+(.+)$/.exec(claim);
  if (!match) return undefined;
  const [, verb, rest] = match;
  if (/^(is|was|has|this|its|us|plus|less|glass|across|always|gives|makes)$/i.test(verb!) && !/^(gives|makes|has)$/i.test(verb!)) return undefined;
  // A plural subject, not a verb: "Donations are tax-deductible", "Classes can fill up".
  if (/^(are|were|have|had|can|could|will|would|do|don't|may|might|must|should|shall|come|stay|keep|make|get|go|start|run|last|sell)\b/i.test(rest!)) return undefined;
  if (/ness$|ous$|ics$|ss$/.test(verb!.toLowerCase())) return undefined;
  return { verb: verb!, rest: rest!.replace(/[.!]+$/, "") };
}

/** The clauses of a description: sentences, and a noun phrase's "that …" part as a claim of its own. */
function claimsOf(description: string): string[] {
  const out: string[] = [];
  for (const sentence of sentences(description)) {
    const split = /^(.*?)\s+(?:that|which)\s+(.+)$/i.exec(sentence);
    if (split && /^(a|an|the|our|this)\s/i.test(split[1]!)) out.push(split[2]!.replace(/^([a-z])/, (c) => c.toUpperCase()));
    else out.push(sentence);
  }
  return out.filter((c) => c.split(/\s+/).length >= 1);
}

/** The ingredient or feature a description leads with: "15% vitamin C", "hyaluronic acid", "merino wool". */
const INGREDIENTS = /\b(\d+(?:\.\d+)?% [a-z]+(?: [A-Za-z0-9]+)?|vitamin [a-e]\d?|hyaluronic acid|niacinamide|retinol|bakuchiol|rosehip(?: oil)?|shea butter|ceramides?|peptides?|squalane|aloe vera|aloe|collagen|salicylic acid|glycolic acid|lactic acid|caffeine|green tea|jojoba(?: oil)?|argan oil|rose oil|cica|centella|merino wool|organic cotton|recycled [a-z]+|bamboo|arabica|single[- ]origin [a-z]+|cold-pressed [a-z]+|magnesium|ashwagandha|lavender|chamomile|oat(?:meal)?|honey)\b/i;

function ingredientOf(description: string): string | undefined {
  const match = INGREDIENTS.exec(description);
  if (!match) return undefined;
  const raw = match[1]!.replace(/\b(serum|cream|balm|oil|cleanser|mask|lotion|moisturiser|moisturizer)$/i, "").trim();
  return raw.replace(/\bvitamin ([a-e])/i, (_, l: string) => `vitamin ${l.toUpperCase()}`);
}

/** A title-sized phrase: up to five words, cut before a trailing "over four weeks"-style clause. */
function shortPhrase(text: string): string {
  const words = text.replace(/[.!,;:]+$/, "").split(/\s+/);
  if (words.length <= 5) return words.join(" ");
  const cut = words.findIndex((w, i) => i >= 2 && /^(over|for|in|with|at|from|during|after|within|without|so|and|while)$/i.test(w));
  return words.slice(0, cut > 0 && cut <= 5 ? cut : 4).join(" ");
}

/** How a verb claim is said, by style: three frames each, used in turn so benefits do not echo each other. */
const VERB_FRAMES: Record<Style, string[]> = {
  warm: ["It's here to {x}, so you can simply enjoy it.", "Gently does it: it helps {x}.", "You'll find it helps {x}, day after day."],
  confident: ["Made to {x}. No guesswork.", "It will {x}. Simple as that.", "Expect it to {x}, every time."],
  playful: ["Watch it {x} — zero fuss, all fun.", "It'll {x}. Yes, really!", "Sit back while it helps {x}."],
  luxe: ["Crafted to {x}, beautifully.", "An indulgent way to {x}.", "Designed to {x}, with quiet precision."],
  urgent: ["It starts to {x} from day one.", "Start today and let it {x}.", "Don't wait to {x}."],
  calm: ["Let it quietly {x}, at your own pace.", "It helps {x}, softly and steadily.", "A calm, simple way to {x}."],
  expert: ["Formulated to {x}, with nothing left to chance.", "Developed to {x}, consistently.", "Engineered to {x}."],
};

/** Rephrases one claim as a benefit for the reader, in the style (the `n`th benefit of its product). */
function benefitOf(claim: string, product: string, style: Style, used: Set<string>, n: number): Benefit | undefined {
  const theme = THEMES.find((t) => t.pattern.test(claim));
  const verb = verbClaim(claim);
  let title: string;
  if (theme) title = theme.titles.find((t) => !used.has(t)) ?? theme.titles[0]!;
  else if (verb) title = upperFirst(shortPhrase(`${baseVerb(verb.verb)} ${verb.rest}`));
  else title = upperFirst(shortPhrase(claim));
  let text: string;
  if (verb) {
    const phrase = `${baseVerb(verb.verb)} ${lowerFirst(verb.rest)}`;
    const frames = VERB_FRAMES[style];
    text = frames[n % frames.length]!.replace("{x}", phrase);
  } else if (theme && !used.has(theme.line)) {
    text = theme.line;
  } else {
    const frames: Record<Style, string[]> = {
      warm: [`One more reason ${product} has earned its place with our customers.`, `It's the kind of detail that makes ${product} easy to love.`],
      confident: [`A detail that sets ${product} apart.`, `Another reason ${product} outperforms the rest.`],
      playful: [`Just one of the little things that make ${product} a joy.`, `Yet another reason to grab ${product}!`],
      luxe: [`A considered detail that makes ${product} a quiet luxury.`, `The kind of finish you expect from something exceptional.`],
      urgent: [`One more reason not to wait on ${product}.`, `Another reason to get ${product} while you can.`],
      calm: [`A small detail that makes ${product} easy to live with.`, `One less thing to think about, every day.`],
      expert: [`A design choice behind how well ${product} performs.`, `A measurable difference in how ${product} performs.`],
    };
    const unused = frames[style].find((f) => !used.has(f));
    // Both lines said already: a third would repeat one word for word, so this claim gives no benefit.
    if (!unused) return undefined;
    text = unused;
  }
  used.add(title);
  used.add(text);
  return { title, text, product };
}

/** Extra benefits when the descriptions give too few: about the brand's care, never invented claims. */
function fallbackBenefits(c: { brand: string; product: string; style: Style; reader: Reader }): Benefit[] {
  const welcome: Record<Reader, Benefit> = {
    returning: { title: "Picked with you in mind", text: "Chosen for the way you already shop with us.", product: c.product },
    new: { title: "An easy place to start", text: "A simple first step into everything we make.", product: c.product },
    vip: { title: "Yours first", text: "Members hear about it before anyone else.", product: c.product },
    family: { title: "Made for real life", text: "Fits the rush of busy family days.", product: c.product },
    busy: { title: "Fits a full day", text: "Made to fit around the busiest schedule.", product: c.product },
    general: { title: "Easy to love", text: "Simple to use and easy to make part of your routine.", product: c.product },
  };
  return [
    welcome[c.reader],
    { title: `The ${c.brand} standard`, text: `Made with the care you expect from ${c.brand}.`, product: c.product },
    // Not a returns policy or a speed: the brand may offer neither.
    { title: "Questions welcome", text: "Reply to this email and we'll get back to you.", product: c.product },
  ];
}

// ---------------------------------------------------------------------------------------------
// The copy every section's draft starts from.

export interface DraftProduct {
  name: string;
  description: string;
  imageUrl?: string;
  url?: string;
  /** The product's own benefits, rephrased from its description. */
  benefits: Benefit[];
  /** The ingredient or feature its description leads with, if one is recognised. */
  ingredient?: string;
}

/** The brief, boiled down to what the drafts say, a seeded chooser and a no-repeat phrasebook. */
export interface DraftCopy {
  brand: string;
  /** The first product's name, or the brand's. */
  product: string;
  products: DraftProduct[];
  hook: string;
  ctaLabel: string;
  style: Style;
  intent: Intent;
  reader: Reader;
  offer?: { text: string; code?: string };
  occasion?: string;
  /** Benefits across the products (round robin), at least three. */
  benefits: Benefit[];
  /** The ingredient or feature to spotlight, and whose it is. */
  spotlight: { name: string; product: DraftProduct | undefined };
  /** The first product photo, if any. */
  photoUrl?: string;
  pick: <T>(options: readonly T[]) => T;
  /** The first of `options` (in a seeded order) that no section of this draft has used; marks it used. */
  take: (options: readonly string[]) => string;
}

/** The copy every section's draft starts from. */
export function copyOf(input: DraftInput): DraftCopy {
  const { brand, brief } = input;
  const random = randomFrom(seedOf(withoutImageUrls({ brand, brief })));
  const pick = <T>(options: readonly T[]) => options[Math.floor(random() * options.length)]!;
  const used = new Set<string>();
  const take = (options: readonly string[]) => {
    const start = Math.floor(random() * options.length);
    for (let i = 0; i < options.length; i++) {
      const option = options[(start + i) % options.length]!;
      if (!used.has(option)) {
        used.add(option);
        return option;
      }
    }
    return options[start]!;
  };
  const style = styleOf(brief.tone, brand.voice);
  const intent = brief.offer ? "sale" : intentOf(brief.objective);
  const reader = readerOf(brief.audience);
  const brandName = brand.name.trim();
  const titles = new Set<string>();
  let frame = 0;
  const products: DraftProduct[] = (brief.products ?? []).map((p) => {
    const description = p.description?.trim() ?? "";
    const name = p.name.trim();
    return {
      name,
      description,
      ...(p.imageUrl ? { imageUrl: p.imageUrl } : {}),
      ...(p.url ? { url: p.url } : {}),
      benefits: claimsOf(description).flatMap((claim) => benefitOf(claim, name, style, titles, frame++) ?? []),
      ...(ingredientOf(description) ? { ingredient: ingredientOf(description) } : {}),
    };
  });
  const product = products[0]?.name || brandName;
  // Round robin over the products, so several products each get a line.
  const benefits: Benefit[] = [];
  for (let i = 0; benefits.length < 4 && products.some((p) => p.benefits.length > i); i++) {
    for (const p of products) if (p.benefits[i] && benefits.length < 4) benefits.push(p.benefits[i]!);
  }
  // A product with no description to draw on still gets its line: how it goes with the first.
  for (const p of products.slice(1)) {
    if (p.benefits.length === 0 && benefits.length < 4) benefits.push({ title: p.name, text: `Pair it with ${product} for the complete set.`, product: p.name });
  }
  for (const extra of fallbackBenefits({ brand: brandName, product, style, reader })) if (benefits.length < 3) benefits.push(extra);
  const withIngredient = products.find((p) => p.ingredient);
  const offer = brief.offer?.text.trim() ? { text: brief.offer.text.trim(), ...(brief.offer.code?.trim() ? { code: brief.offer.code.trim() } : {}) } : undefined;
  return {
    brand: brandName,
    product,
    products,
    hook: brief.hook.trim(),
    // Nothing to buy in the brief (a newsletter, an event without the event word): no "Shop now".
    ctaLabel: brief.cta?.label.trim() || (offer ? offerLabel(offer.text) : intent === "general" && products.length === 0 ? "Find out more" : DEFAULT_CTA_LABEL[intent]),
    style,
    intent,
    reader,
    ...(offer ? { offer } : {}),
    ...(brief.occasion?.trim() ? { occasion: brief.occasion.trim() } : {}),
    benefits,
    spotlight: withIngredient ? { name: upperFirst(withIngredient.ingredient!), product: withIngredient } : { name: product, product: products[0] },
    ...(products.find((p) => p.imageUrl) ? { photoUrl: products.find((p) => p.imageUrl)!.imageUrl } : {}),
    pick,
    take,
  };
}

/** A button label from an offer: "Claim 20% off" when the offer starts with an amount. */
function offerLabel(offer: string): string {
  const amount = /^(\d+%|[$€£]\d+)\s+off\b/i.exec(offer);
  return amount ? `Claim ${amount[1]} off` : "Claim your offer";
}

// ---------------------------------------------------------------------------------------------
// Lines that depend on style, intent and reader.

/** The offer as a headline: "20% off your first order". */
export function offerHeadline(c: DraftCopy): string | undefined {
  return c.offer ? upperFirst(c.offer.text) : undefined;
}

/** "Use code GLOW20 at checkout." (or a line without a code). */
export function codeLine(c: DraftCopy): string | undefined {
  if (!c.offer) return undefined;
  if (c.offer.code) {
    const lines: Record<Style, string> = {
      warm: `Use code ${c.offer.code} at checkout.`,
      confident: `Code ${c.offer.code}. Checkout. Done.`,
      playful: `Pop in code ${c.offer.code} at checkout!`,
      luxe: `Simply enter ${c.offer.code} at checkout.`,
      urgent: `Use ${c.offer.code} before it expires.`,
      calm: `Just use code ${c.offer.code} when you check out.`,
      expert: `Enter code ${c.offer.code} at checkout.`,
    };
    return lines[c.style];
  }
  return "Applied automatically at checkout.";
}

export function introLine(c: DraftCopy): string {
  const lines: Record<Intent, string[]> = {
    launch: [`Introducing ${c.product}`, `Meet ${c.product}`, `New from ${c.brand}: ${c.product}`],
    sale: c.offer ? [`Your offer on ${c.product}`, `${c.product}, for less`] : [`${c.product}, now on sale`, `The ${c.brand} sale is on`, `${c.product}, for less`],
    restock: [`${c.product} is back`, `Back in stock: ${c.product}`],
    event: [`You're invited`, `Join ${c.brand}`, `Save the date`],
    signup: [`Join ${c.brand}`, `Be the first to know`, `Come along with ${c.brand}`],
    general: [`Meet ${c.product}`, `From ${c.brand}, with care`, `Something new from ${c.brand}`],
  };
  return c.pick(lines[c.intent]);
}

/** A line that speaks to the reader, by who they are and the style (never the audience field itself). */
export function readerLine(c: DraftCopy): string {
  const lines: Record<Reader, Record<Style, string>> = {
    returning: {
      warm: "You've been with us for a while, so you're the first to hear.",
      confident: "You already know our standards. This raises them.",
      playful: "You've got great taste — you already shop with us!",
      luxe: "For those who already know us, something worth returning for.",
      urgent: "Regulars get first pick — and it's going quickly.",
      calm: "A little thank-you for being part of our story.",
      expert: "Built on what customers like you told us they wanted.",
    },
    new: {
      warm: "Welcome in — this is a lovely place to start.",
      confident: "New here? Start with the one everyone talks about.",
      playful: "New here? Oh, you're going to have fun.",
      luxe: "Welcome. Allow us to introduce ourselves properly.",
      urgent: "New here? There's no better moment to start.",
      calm: "Welcome. Take your time and start wherever feels right.",
      expert: "New to us? Here is the best place to begin.",
    },
    vip: {
      warm: "As one of our members, you get it first.",
      confident: "Members first. That's you.",
      playful: "Members only — and yes, that means you!",
      luxe: "Reserved for our members, ahead of everyone else.",
      urgent: "Members get early access — but not for long.",
      calm: "As a member, you get a quiet head start.",
      expert: "Early access for members, as promised.",
    },
    family: {
      warm: "Made to fit real family life, busy mornings included.",
      confident: "Built for busy households. It keeps up.",
      playful: "Kid-proof? We like to think so.",
      luxe: "A little luxury that fits into family life.",
      urgent: "Busy week ahead? Get it sorted now.",
      calm: "One less thing to think about on busy family days.",
      expert: "Designed around how families actually live.",
    },
    busy: {
      warm: "For full days, made simple.",
      confident: "Your schedule is full. This makes it easier.",
      playful: "Busy? Same. This helps.",
      luxe: "For full days, a moment that feels like yours.",
      urgent: "No time to waste — and this saves you some.",
      calm: "A simple pause in a full day.",
      expert: "Efficient, reliable, and quick to use.",
    },
    general: {
      warm: "We think you're going to love this one.",
      confident: "This is the one you've been waiting for.",
      playful: "Fair warning: you're going to want one.",
      luxe: "Some things are simply worth it.",
      urgent: "Good things don't wait around.",
      calm: "Something good, whenever you're ready.",
      expert: "Here is what makes it different.",
    },
  };
  return lines[c.reader][c.style];
}

/** Kept for callers of the first offline writer: the reader line. */
export const audienceLine = readerLine;

/** A promise line for the hero, by style. */
export function promiseLine(c: DraftCopy): string {
  const lines: Record<Style, string[]> = {
    warm: [`Everything we love about ${c.brand}, in one place.`, `A little something to brighten your week.`],
    confident: [`Better results. Fewer steps.`, `The upgrade you'll notice.`],
    playful: [`Your new favourite thing is here.`, `Prepare to be a little obsessed.`],
    luxe: [`Quietly exceptional, made to be savoured.`, `Luxury, in the details.`],
    urgent: [`Here now — but not for long.`, `Don't miss this one.`],
    calm: [`A gentle upgrade for every day.`, `Simple, soothing, yours.`],
    expert: [`Thoughtfully made, proven to work.`, `The detail behind the results.`],
  };
  return c.take(lines[c.style]);
}

export function closingLine(c: DraftCopy): string {
  const lines: Record<Style, string> = {
    warm: "We can't wait for you to try it.",
    confident: "Try it once. You'll see.",
    playful: "Go on — treat yourself.",
    luxe: "An everyday ritual, elevated.",
    urgent: `Don't wait: ${lowerFirst(c.ctaLabel)} today.`,
    calm: "Take a moment for yourself.",
    expert: "See the results for yourself.",
  };
  return lines[c.style];
}

/** A day, a season or a holiday: what "This …" can be said of ("This Mother's Day", "This spring"). */
const WHEN_WORD = /\b(day|days|eve|weekend|week|season|holidays?|christmas|xmas|easter|halloween|thanksgiving|hanukkah|diwali|ramadan|eid|new year|spring|summer|autumn|fall|winter|friday|monday|month)$/i;

/**
 * "This Mother's Day" when the brief's occasion is a day, season or holiday; any other occasion
 * ("Autumn menu launch", "Live webinar, March 12") leads as it is written, since "This Autumn menu
 * launch" or "This Live webinar, March 12" is not English.
 */
export function occasionLead(c: DraftCopy): string | undefined {
  if (!c.occasion) return undefined;
  if (/^(this|for|on|at|in)\b/i.test(c.occasion)) return upperFirst(c.occasion);
  const when = c.occasion.replace(/[.!]+$/, "");
  return WHEN_WORD.test(when) && !/[,\d]/.test(when) ? `This ${when}` : upperFirst(c.occasion);
}
