import { describe, expect, test } from "bun:test";
import sharp from "sharp";
import { checkEmail } from "../../src/email/checks";
import { validateDocument, type Brand, type Brief, type EmailDocument, type SectionType } from "../../src/email/document";
import { renderOfflineHeroImage } from "../../src/email/offline-image";
import { writeOfflineEmail } from "../../src/email/offline-writer";
import { renderEmail } from "../../src/email/render";
import { contrastRatio } from "../../src/email/theme";

/**
 * The offline writer's emails are worth sending after light edits, checked on many briefs made up
 * here from parts (tones, audiences, one or several products, with and without offers, photos and
 * occasions) rather than one tuned fixture.
 */

const TONES = ["confident", "playful and cheeky", "calm and soothing", "urgent — last chance", "luxurious, refined", "warm and reassuring", "nostalgic", "expert, clinical"];
const AUDIENCES = ["Everyone", "Existing customers who bought our night cream in the last year", "New subscribers who signed up this month", "Busy parents of toddlers", "VIP members of our loyalty club", "Women 30-45 with dull, tired skin", "Trail runners who train in the rain"];
const CATALOGUE: Array<{ name: string; description: string }> = [
  { name: "Radiance C Serum", description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks. Gentle enough for every morning." },
  { name: "Dew Drop Moisturiser", description: "Locks in moisture all day with hyaluronic acid. Light and non-greasy, it sinks in within seconds." },
  { name: "Night Repair Balm", description: "Softens fine lines while you sleep. Made with bakuchiol, a plant alternative to retinol." },
  { name: "Storm Shell Jacket", description: "Fully waterproof with taped seams. Packs into its own pocket. Built to last for years of weekend adventures." },
  { name: "Morning Ritual Coffee", description: "Single-origin arabica roasted in small batches every Monday. Notes of chocolate and cherry with a smooth finish." },
  { name: "Cedar & Smoke Candle", description: "Hand-poured soy wax with a scent of cedar and smoke. Burns cleanly for 50 hours." },
  { name: "Merino Base Layer", description: "Soft merino wool that keeps you warm without bulk. Breathable on long climbs." },
];
const OFFERS = [undefined, { text: "20% off your first order", code: "GLOW20" }, { text: "Free shipping this weekend" }, { text: "$15 off orders over $60", code: "SPRING15" }];
const OCCASIONS = [undefined, "Mother's Day", "Black Friday", "spring launch"];
const OBJECTIVES = ["Launch the new range and win first orders", "Clear winter stock before the season ends", "Bring lapsed customers back", "Announce that our best seller is back in stock", "Grow sign-ups for the loyalty club"];
const FORMULAS: Array<SectionType[] | undefined> = [undefined, ["hero", "headline", "ingredient", "benefits", "product-grid", "cta", "footer"], ["hero", "headline", "benefits", "text", "image", "cta", "footer"], ["headline", "ingredient", "benefits", "testimonial", "cta", "footer"]];

/** A small deterministic generator, so the briefs are varied but the same on every run. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  return { pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!, next };
}

interface Case {
  label: string;
  brand: Brand;
  brief: Brief;
}

function makeCases(count: number): Case[] {
  const g = generator(20261128);
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    // Cover every tone and audience at least once, then vary.
    const tone = i < TONES.length ? TONES[i]! : g.pick(TONES);
    const audience = i < AUDIENCES.length ? AUDIENCES[(i * 3) % AUDIENCES.length]! : g.pick(AUDIENCES);
    const productCount = i % 3 === 0 ? 1 : 1 + Math.floor(g.next() * 3);
    const start = Math.floor(g.next() * CATALOGUE.length);
    const withPhotos = i % 2 === 0;
    const products = Array.from({ length: productCount }, (_, k) => {
      const p = CATALOGUE[(start + k) % CATALOGUE.length]!;
      return { ...p, url: `https://shop.example/${k}`, ...(withPhotos && k !== 1 ? { imageUrl: `https://cdn.shop.example/photo-${k}.png` } : {}) };
    });
    const offer = i % 4 === 1 || i % 4 === 2 ? OFFERS[1 + (i % 3)] : g.pick(OFFERS);
    const occasion = g.pick(OCCASIONS);
    const formula = FORMULAS[i % FORMULAS.length];
    const brand: Brand = {
      name: g.pick(["Glow & Co", "Northwind Outfitters", "Ember Home", "Bean There"]),
      colors: g.pick([
        { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" },
        { primary: "#1e3a8a", secondary: "#f59e0b", background: "#ffffff", text: "#1f2328" },
        { primary: "#f3e8d2", secondary: "#7c2d12", background: "#fffdf8", text: "#2b2118" },
      ]),
      voice: g.pick(["warm, confident, no jargon", "plain and friendly", "playful"]),
      footer: { address: "1 Market Street, Portland", unsubscribeUrl: "{{unsubscribe}}" },
      ...(formula ? { formula: formula.map((type) => ({ type })) } : {}),
    };
    const brief: Brief = {
      objective: g.pick(OBJECTIVES),
      audience,
      tone,
      hook: g.pick(["Your new morning ritual", "Made for the long run", "Brighter days start here", "The one everyone asks about"]),
      products,
      ...(i % 5 === 4 ? {} : { cta: { label: g.pick(["Shop now", "Get yours", "Find your fit"]), url: "https://shop.example/go" } }),
      ...(offer ? { offer } : {}),
      ...(occasion ? { occasion } : {}),
    };
    cases.push({ label: `#${i} ${tone} / ${audience.slice(0, 20)} / ${productCount}p${offer ? " / offer" : ""}${withPhotos ? " / photos" : ""}`, brand, brief });
  }
  return cases;
}

const CASES = makeCases(14);
const norm = (text: string) => text.toLowerCase().replace(/[“”"']/g, "").replace(/\s+/g, " ").trim();
const sentencesOf = (text: string) => text.split(/(?<=[.!?])\s+|\n+/).map(norm).filter((s) => s.split(" ").length >= 3);
const fields = (doc: EmailDocument, type: string): any => doc.sections.find((s) => s.type === type)?.fields;

/** The body copy: every sentence a reader reads that is not a name, a heading or a label. */
function bodyCopy(doc: EmailDocument): string[] {
  const out: string[] = [];
  for (const s of doc.sections) {
    const f = s.fields as any;
    if (s.type === "hero") out.push(f.subheadline ?? "");
    if (s.type === "headline") out.push(f.subtext ?? "");
    if (s.type === "ingredient") out.push(f.description);
    if (s.type === "benefits") out.push(...f.items.map((i: any) => i.text));
    if (s.type === "text") out.push(f.text);
    if (s.type === "cta") out.push(f.note ?? "");
    if (s.type === "product-grid") out.push(...f.products.map((p: any) => p.description ?? ""));
  }
  return out.filter(Boolean);
}

/** Every text in the document, headings included. */
function allCopy(doc: EmailDocument): string[] {
  const out: string[] = [];
  const walk = (value: unknown, key = "") => {
    if (typeof value === "string" && !/url|Url/.test(key)) out.push(value);
    else if (Array.isArray(value)) value.forEach((v) => walk(v, key));
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  for (const s of doc.sections) if (s.type !== "footer" && s.type !== "testimonial") walk(s.fields);
  return out;
}

async function photoPng(): Promise<Uint8Array> {
  const bottle = await sharp({ create: { width: 120, height: 260, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toBuffer();
  return new Uint8Array(await sharp({ create: { width: 400, height: 400, channels: 4, background: { r: 250, g: 250, b: 250, alpha: 1 } } }).composite([{ input: bottle, left: 140, top: 70 }]).png().toBuffer());
}

async function pixel(png: Uint8Array, x: number, y: number): Promise<string> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return `#${[data[i]!, data[i + 1]!, data[i + 2]!].map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}

describe("the offline writer, on varied briefs", () => {
  test("there are at least ten briefs, covering tones, audiences, one and several products, offers and photos", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(10);
    expect(new Set(CASES.map((c) => c.brief.tone)).size).toBeGreaterThanOrEqual(6);
    expect(new Set(CASES.map((c) => c.brief.audience)).size).toBeGreaterThanOrEqual(5);
    expect(CASES.some((c) => c.brief.products!.length === 1) && CASES.some((c) => c.brief.products!.length > 1)).toBe(true);
    expect(CASES.some((c) => c.brief.offer) && CASES.some((c) => !c.brief.offer)).toBe(true);
    expect(CASES.some((c) => c.brief.products!.some((p) => p.imageUrl)) && CASES.some((c) => !c.brief.products!.some((p) => p.imageUrl))).toBe(true);
  });

  for (const { label, brand, brief } of CASES) {
    test(`${label}: worth sending after light edits`, async () => {
      const doc = writeOfflineEmail({ brand, brief });
      expect(validateDocument(doc).ok).toBe(true);
      expect(doc.meta?.offlineDraft).toBe(true);

      // No brief field copied verbatim into the body copy (names, offers and codes may appear).
      const body = norm(bodyCopy(doc).join(" \n "));
      const pasted = [brief.objective, brief.audience, brief.tone, brief.hook, ...brief.products!.flatMap((p) => [p.description ?? "", ...(p.description ?? "").split(/(?<=[.!?])\s+/)])]
        .map((f) => norm(f).replace(/[.!?]+$/, ""))
        .filter((f) => f.split(" ").length >= 3);
      for (const field of pasted) expect({ field, pasted: body.includes(field) }).toEqual({ field, pasted: false });
      // The audience field is never pasted anywhere (no "Calling all everyone").
      for (const text of allCopy(doc)) expect(norm(text)).not.toContain(norm(brief.audience));
      expect(norm(allCopy(doc).join(" "))).not.toContain("calling all");

      // No sentence said twice.
      const names = new Set([brand.name, ...brief.products!.map((p) => p.name)].map(norm));
      const said = allCopy(doc).flatMap(sentencesOf).filter((s) => !names.has(s));
      const repeated = said.filter((s, i) => said.indexOf(s) !== i);
      expect(repeated).toEqual([]);

      // The offer and its code in the hero or headline, and on the CTA.
      if (brief.offer) {
        const top = norm(JSON.stringify([fields(doc, "hero"), fields(doc, "headline")]));
        expect(top).toContain(norm(brief.offer.text));
        if (brief.offer.code) expect(top).toContain(norm(brief.offer.code));
        const cta = norm(JSON.stringify(fields(doc, "cta")));
        expect(cta).toContain(norm(brief.offer.text));
        if (brief.offer.code) expect(cta).toContain(norm(brief.offer.code));
      }

      // Product photos where the formula shows pictures.
      const photos = brief.products!.flatMap((p) => (p.imageUrl ? [p.imageUrl] : []));
      if (photos.length > 0) {
        if (fields(doc, "hero")) expect(photos).toContain(fields(doc, "hero").imageUrl);
        if (fields(doc, "ingredient")) expect(photos).toContain(fields(doc, "ingredient").imageUrl);
        if (fields(doc, "image")) expect(photos).toContain(fields(doc, "image").url);
        const grid = fields(doc, "product-grid");
        if (grid) for (const p of brief.products!) if (p.imageUrl) expect(grid.products.find((g: any) => g.name === p.name).imageUrl).toBe(p.imageUrl);
      }

      // Subject and preheader within their lengths, and different.
      expect(doc.subject!.length).toBeLessThanOrEqual(60);
      expect(doc.subject!.length).toBeGreaterThan(5);
      expect(doc.preheader!.length).toBeGreaterThanOrEqual(40);
      expect(doc.preheader!.length).toBeLessThanOrEqual(110);
      expect(norm(doc.preheader!)).not.toBe(norm(doc.subject!));

      // Zero MJML errors, no error-level checks (contrast, links, alt text…).
      const rendered = await renderEmail({ document: doc, brand, validationLevel: "strict" });
      expect(rendered.errors).toEqual([]);
      expect(checkEmail({ document: doc, brand, html: rendered.html, mjmlErrors: rendered.errors }).filter((c) => c.level === "error")).toEqual([]);

      // Every text on the hero image at WCAG AA, measured on the rendered pixels behind it.
      const image = await renderOfflineHeroImage({ brand, brief, ...(photos.length > 0 ? { photo: await photoPng() } : {}) });
      expect(image.texts.length).toBeGreaterThan(0);
      for (const t of image.texts) {
        const behind = await pixel(image.png, t.box.x + Math.round(t.box.width / 2), t.box.y + 4);
        expect({ text: t.text, ratio: contrastRatio(t.color, behind) >= 4.5 }).toEqual({ text: t.text, ratio: true });
      }
    });
  }

  test("the tone changes the wording (confident, playful, calm, urgent, luxurious, and any other word)", () => {
    const base = CASES[0]!;
    const tones = ["confident", "playful", "calm", "urgent", "luxurious", "whimsical"];
    const bodies = tones.map((tone) => bodyCopy(writeOfflineEmail({ brand: base.brand, brief: { ...base.brief, tone } })).join("\n"));
    expect(new Set(bodies).size).toBe(tones.length - 1 + (bodies[5] === bodies[0] ? 0 : 1));
    for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) expect(bodies[i]).not.toBe(bodies[j]);
    // An unknown tone word still reads well: the warm default, never the tone pasted in.
    expect(bodies[5]).not.toContain("whimsical");
  });

  test("the hero image shows the product photo when there is one", async () => {
    const { brand, brief } = CASES[0]!;
    const photo = await photoPng();
    const withPhoto = await renderOfflineHeroImage({ brand, brief, photo });
    const without = await renderOfflineHeroImage({ brand, brief });
    // The photo's orange bottle shows in the right half, where the plain image has the gradient.
    const at = await pixel(withPhoto.png, Math.round(1200 * 0.73), 300);
    expect(contrastRatio(at, "#c87828")).toBeLessThan(1.2);
    expect(await pixel(without.png, Math.round(1200 * 0.73), 300)).not.toBe(at);
  });
});

describe("the offline writer claims only what the brief says", () => {
  const brand: Brand = { name: "Northwind", colors: { primary: "#1d4ed8", background: "#ffffff", text: "#111827" }, footer: { address: "500 Market St, San Francisco", unsubscribeUrl: "{{unsubscribe}}" } };
  const brief = (products: Brief["products"], occasion?: string): Brief => ({ objective: "Fill the room", audience: "Everyone", tone: "expert", hook: "Join us", products, ...(occasion ? { occasion } : {}) });
  /** The benefit titles and lines a theme would claim, each paired with the description that must not earn it. */
  const unearned: Array<{ description: string; claims: string[] }> = [
    // A webinar's length is not "results in minutes"; "software" is not soft; "training" not rain; "market" not dark marks.
    { description: "45 minutes with our principal engineer. Live Q&A on our analytics software. Training for the market team.", claims: ["results in minutes", "quick and easy", "comfort you can feel", "soft from the first wear", "ready for any weather", "rain? no problem", "a more even tone", "fewer dark spots"] },
    // A 24-month cheese is not all-day wear; a weeknight booking is not better sleep; a restaurant is not rest; roasted food is not sipped.
    { description: "Carnaroli rice, porcini and 24-month parmigiano. Served on weeknights at our restaurant. Roasted pumpkin with sage butter.", claims: ["lasts all day", "stays put", "better nights", "rest, restored", "flavour in every sip"] },
  ];
  for (const { description, claims } of unearned) {
    test(`"${description.slice(0, 40)}…" earns none of ${claims.length} stock claims`, () => {
      const doc = writeOfflineEmail({ brand, brief: brief([{ name: "Clinic", description }]) });
      const text = norm([...allCopy(doc), doc.preheader!].join(" \n "));
      for (const claim of claims) expect({ claim, written: text.includes(claim) }).toEqual({ claim, written: false });
    });
  }

  test("a claim the description makes still reads as its theme", () => {
    const doc = writeOfflineEmail({ brand, brief: brief([{ name: "Balm", description: "Wears for 24 hours. Light and non-greasy." }]) });
    const titles = fields(doc, "benefits").items.map((i: any) => i.title);
    expect(titles).toContain("Lasts all day");
    expect(titles).toContain("Light, never greasy");
  });

  test("an occasion that is not a day or a season is not written as “This …”", () => {
    for (const occasion of ["Autumn menu launch", "Live webinar, March 12, 11am PT"]) {
      const doc = writeOfflineEmail({ brand, brief: brief([{ name: "Menu" }], occasion) });
      expect(norm(JSON.stringify(doc))).not.toContain(norm(`This ${occasion}`));
      expect(doc.subject).toContain(occasion.slice(0, 10));
    }
    const doc = writeOfflineEmail({ brand, brief: brief([{ name: "Menu" }], "Mother's Day") });
    expect(doc.subject).toStartWith("This Mother's Day");
  });
});

describe("the offline writer reads the objective's words, not parts of them", () => {
  const brand: Brand = { name: "Trattoria", colors: { primary: "#7c2d12", background: "#fffbeb", text: "#292524" }, footer: { address: "14 Via Roma, Brooklyn", unsubscribeUrl: "{{unsubscribe}}" } };
  const write = (objective: string) => {
    const doc = writeOfflineEmail({ brand, brief: { objective, audience: "Locals", tone: "warm", hook: "Autumn is on the menu", products: [{ name: "Tasting menu" }] } });
    return norm([...allCopy(doc), doc.subject!, doc.preheader!].join(" \n "));
  };
  test("no sale is announced unless the objective says one (“Promote”, “ideal”, “wholesale” are not)", () => {
    for (const objective of ["Promote our winter tasting menu", "The ideal gift for the holidays", "Tell our wholesale partners about the menu"]) {
      const text = write(objective);
      expect({ objective, sale: /on sale|for less|the sale|your offer/.test(text) }).toEqual({ objective, sale: false });
    }
    expect(write("Clear stock with a winter sale")).toMatch(/on sale|for less|the sale/);
  });
});

describe("the offline writer's benefit lines", () => {
  const brand: Brand = { name: "Northwind", colors: { primary: "#1d4ed8", background: "#ffffff", text: "#111827" }, footer: { address: "500 Market St, San Francisco", unsubscribeUrl: "{{unsubscribe}}" } };
  const benefits = (description: string, tone = "expert") =>
    fields(writeOfflineEmail({ brand, brief: { objective: "Fill the room", audience: "Everyone", tone, hook: "Join us", products: [{ name: "Clinic", description }] } }), "benefits").items as Array<{ title: string; text: string }>;

  test("three claims with no theme and no verb do not say one line twice", () => {
    for (const tone of ["expert", "warm", "playful", "calm"]) {
      const texts = benefits("45 minutes with our principal engineer. Query tuning and storage tiering. Live Q&A at the end.", tone).map((b) => b.text);
      expect({ tone, repeated: texts.filter((t, i) => texts.indexOf(t) !== i) }).toEqual({ tone, repeated: [] });
    }
  });

  test("a plural noun that starts a claim is not read as a verb (“Donations are…” is no “it helps donation are…”)", () => {
    const lines = benefits("Donations are tax-deductible. Classes can fill up fast.", "warm").map((b) => `${b.title} ${b.text}`).join(" ");
    expect(lines).not.toMatch(/donation are|class can/i);
  });
});

describe("the offline writer's filler for a brief without products", () => {
  test("promises no returns policy and no speed the brand never stated", () => {
    const brand: Brand = { name: "City Museum", colors: { primary: "#7c3aed", background: "#ffffff", text: "#111827" }, footer: { address: "1 Museum Way", unsubscribeUrl: "{{unsubscribe}}" } };
    for (const audience of ["Everyone", "Busy commuters", "Members"]) {
      const doc = writeOfflineEmail({ brand, brief: { objective: "Invite people to the late opening of our dinosaur exhibition", audience, tone: "warm", hook: "Dinosaurs after dark" } });
      const text = norm([...allCopy(doc), doc.preheader!].join(" \n "));
      expect({ audience, returns: text.includes("return"), seconds: text.includes("takes seconds") }).toEqual({ audience, returns: false, seconds: false });
    }
  });

  test("the ingredient highlight does not present the brand as an ingredient “chosen because it works”", () => {
    const brand: Brand = { name: "City Museum", colors: { primary: "#7c3aed", background: "#ffffff", text: "#111827" }, footer: { address: "1 Museum Way", unsubscribeUrl: "{{unsubscribe}}" } };
    for (const tone of ["warm", "expert", "playful", "calm"]) {
      const doc = writeOfflineEmail({ brand, brief: { objective: "Invite people to the late opening", audience: "Everyone", tone, hook: "Dinosaurs after dark" } });
      const description: string = fields(doc, "ingredient").description;
      expect({ tone, description }).toEqual({ tone, description: "Whatever brings you to City Museum today, we put the same care into every detail." });
    }
  });

  test("without a button label or anything to buy, the button is not “Shop now”", () => {
    const brand: Brand = { name: "City Museum", colors: { primary: "#7c3aed", background: "#ffffff", text: "#111827" }, footer: { address: "1 Museum Way", unsubscribeUrl: "{{unsubscribe}}" } };
    const doc = writeOfflineEmail({ brand, brief: { objective: "Our monthly newsletter", audience: "Everyone", tone: "calm", hook: "What's on in June" } });
    expect(fields(doc, "cta").label).toBe("Find out more");
    const withProduct = writeOfflineEmail({ brand, brief: { objective: "Our monthly newsletter", audience: "Everyone", tone: "calm", hook: "What's on in June", products: [{ name: "Museum mug" }] } });
    expect(fields(withProduct, "cta").label).toBe("Shop now");
  });
});
