import type { Agent, AgentOutcome } from "../agents/agents";
import type { Providers } from "../agents/providers";
import type { ContentPart } from "../agents/providers/types";
import { ProviderError } from "../agents/providers/types";
import type { RunContext } from "../agents/run-context";
import { AssetStore, assetUrl } from "../assets/store";
import { emailDocumentJsonSchema, formulaOf, validateDocument, type Brand, type Brief, type EmailDocument, type Section, type SectionType } from "./document";
import { streamOfflineEmail } from "./offline-writer";
import { renderOfflineHeroImage } from "./offline-image";
import { rewriteSectionOffline } from "./regenerate";
import { sectionModule } from "./sections";
import { copyOf } from "./sections/draft";
import { StudioStore, toBrief, type EmailRecord, type VersionNote } from "./studio";
import { mergeDocuments } from "./changes";
import { toBrand, type BrandStore } from "../brands/store";
import { ALL_TEAMS, teamScope, type TeamScope } from "../accounts/scope";
import { approvalOf } from "../sessions/input-requests";

/** What the email agents share. */
export interface EmailAgentDeps {
  studio: StudioStore;
  brands: BrandStore;
  assets: AssetStore;
  providers: Providers;
}

interface EmailInput {
  emailId: string;
  /** Absolute base URL for asset links in the email (PUBLIC_URL, or the origin of the request). */
  baseUrl: string;
  /** Ask a person to approve the hero image before assembly (a durable approval; the run suspends). */
  approveHero?: boolean;
  /** The hero agent, drawing again: what the person asked to change. */
  note?: string;
}

/** What the orchestrator keeps while it waits for the hero's approval (its `resumeState`). */
interface HeroApprovalState {
  stage: "hero-approval";
  requestId: string;
  heroUrl: string;
  round: number;
}

/** Redraws a person may ask for before the hero is taken as it is. */
export const MAX_HERO_ROUNDS = 10;
/** How long a hero approval waits for an answer; then the email is assembled with the hero as drawn. */
export const HERO_APPROVAL_TIMEOUT_MS = 7 * 24 * 60 * 60_000;

interface Loaded {
  /** The email's team: every store call of the run after loading stays inside it. */
  scope: TeamScope;
  email: EmailRecord;
  brand: Brand;
  brief: Brief;
  referenceAssetIds: string[];
  /** The products' photos (asset ids), in the brief's order. */
  photos: Array<{ name: string; assetId: string; url: string }>;
  /** The brand's product images (asset ids). */
  brandProductImageIds: string[];
}

async function load(deps: EmailAgentDeps, input: EmailInput): Promise<Loaded | string> {
  // Agents serve every team: the email is found by id, then everything else is read inside its team.
  const email = await deps.studio.email(ALL_TEAMS, input.emailId);
  if (!email) return `No email ${input.emailId}.`;
  const scope = teamScope(email.teamId);
  const brandRecord = await deps.brands.brand(scope, email.brandId);
  const briefRecord = email.briefId ? await deps.studio.brief(scope, email.briefId) : undefined;
  if (!brandRecord || !briefRecord) return "The email's brand or brief is gone.";
  const photos = (briefRecord.data.products ?? []).flatMap((p) => (p.imageAssetId ? [{ name: p.name, assetId: p.imageAssetId, url: assetUrl(input.baseUrl, p.imageAssetId) }] : []));
  return { scope, email, brand: toBrand(brandRecord, input.baseUrl), brief: toBrief(briefRecord, input.baseUrl), referenceAssetIds: briefRecord.data.referenceAssetIds ?? [], photos, brandProductImageIds: brandRecord.data.productImageAssetIds ?? [] };
}

/** Keeps the formula's order and types: the copy agent's output is checked against the brand, not trusted. */
export function conformToFormula(document: EmailDocument, brand: Brand): EmailDocument {
  const formula = formulaOf(brand);
  const pool = [...document.sections];
  const sections: Section[] = [];
  for (const step of formula) {
    const index = pool.findIndex((s) => s.type === step.type);
    if (index >= 0) sections.push(pool.splice(index, 1)[0]!);
  }
  return { ...document, sections };
}

/** The brand's design system as the models read it: colours, fonts, voice, logo, footer. */
function designSystem(brand: Brand): string[] {
  const c = brand.colors;
  return [
    `Brand: ${brand.name}`,
    `Colours: primary ${c.primary}${c.secondary ? `, secondary ${c.secondary}` : ""}${c.background ? `, background ${c.background}` : ""}${c.text ? `, text ${c.text}` : ""}`,
    brand.fonts?.heading || brand.fonts?.body ? `Fonts: headings ${brand.fonts?.heading ?? brand.fonts?.body}, body ${brand.fonts?.body ?? brand.fonts?.heading}` : "",
    brand.voice ? `Voice: ${brand.voice}` : "",
    brand.logoUrl ? `Logo: ${brand.logoUrl} (the frame shows it; do not add it to a section)` : "",
    brand.footer ? `Footer address: ${brand.footer.address}. Unsubscribe URL: ${brand.footer.unsubscribeUrl ?? "{{unsubscribe_url}}"}.` : "",
  ].filter(Boolean);
}

/** The brief as the models read it. */
function briefLines(brief: Brief, photos: Loaded["photos"]): string[] {
  return [
    `Objective: ${brief.objective}`,
    `Audience: ${brief.audience}`,
    `Tone: ${brief.tone}`,
    `Headline hook: ${brief.hook}`,
    brief.occasion ? `Occasion: ${brief.occasion}` : "",
    brief.sendDate ? `Send date: ${brief.sendDate}` : "",
    brief.offer ? `Offer: ${brief.offer.text}${brief.offer.code ? ` (code ${brief.offer.code})` : ""}` : "",
    brief.products?.length
      ? `Products:\n${brief.products.map((p) => `- ${p.name}${p.description ? `: ${p.description}` : ""}${p.url ? ` (${p.url})` : ""}`).join("\n")}`
      : "",
    photos.length ? `Product photo URLs (use them as imageUrl in the hero, ingredient and product sections):\n${photos.map((p) => `- ${p.name}: ${p.url}`).join("\n")}` : "",
    brief.cta ? `Call to action: "${brief.cta.label}" → ${brief.cta.url}` : "",
  ].filter(Boolean);
}

/**
 * What the copy model is told: the whole brand design system (colours, fonts, voice, the formula
 * with each step's guidance — the brand's own, else the section type's), the rules a sendable email
 * follows, and the brief. The reference screenshots and product photos follow as image blocks.
 */
export function copyPrompt(brand: Brand, brief: Brief, photos: Loaded["photos"] = []): { system: string; text: string } {
  const formula = formulaOf(brand);
  const system = [
    `You write high-converting marketing emails for the brand "${brand.name}".`,
    ...designSystem(brand),
    `Follow this conversion formula exactly, one section per step, in this order:`,
    ...formula.map((step, i) => `${i + 1}. ${step.type} — ${step.guidance ?? sectionModule(step.type)?.guidance ?? ""}`),
    `Rules: write for the audience in the brief's tone and the brand's voice; never paste the brief's fields into the copy. No sentence twice.`,
    `Benefits are what the reader gets, each a short title and one sentence, drawn from the product descriptions.`,
    `When the brief has an offer, put it (and its code) in the hero or headline and beside the button.`,
    `Subject at most 60 characters; preheader 40–110 characters and different from the subject.`,
    `Learn layout and style from the reference email screenshots; never copy their text. The product photos show the products as they are.`,
    `Answer only with the JSON document. Section ids are short slugs. Use the brief's CTA URL, product URLs and product photo URLs as given.`,
  ].join("\n");
  return { system, text: briefLines(brief, photos).join("\n") };
}

/** The OpenAI hero prompt: the brand palette, the mood, the product (from its photo when given), no text unless the brief asks. */
export function heroPrompt(brand: Brand, brief: Brief, withPhoto: boolean): string {
  const subject = brief.products?.[0]?.name ?? brief.hook;
  const c = brand.colors;
  const palette = [`primary ${c.primary}`, c.secondary ? `secondary ${c.secondary}` : "", c.background ? `background ${c.background}` : ""].filter(Boolean).join(", ");
  const asksForText = /\b(text|words|lettering|headline|typography)\b[^.]*\b(on|in)\b[^.]*\b(image|hero|picture)\b/i.test(`${brief.objective} ${brief.hook}`);
  return [
    `Hero image for a marketing email from ${brand.name}: ${subject}.`,
    brief.occasion ? `Occasion: ${brief.occasion}.` : "",
    `Mood: ${brief.tone}.`,
    `Use the brand palette for the background, props and light: ${palette}.`,
    withPhoto ? `Keep the product from the input image exactly as it is (shape, label, colours) and place it in a styled scene.` : `Clean, well-lit product photography.`,
    asksForText ? "" : `No text, letters, numbers or logos in the image.`,
    `Wide 3:2 composition with calm space on one side.`,
  ].filter(Boolean).join(" ");
}

/** Counts the sections a streamed JSON document has completed so far (for progress). */
function sectionsSoFar(json: string): number {
  return (json.match(/"type"\s*:\s*"(hero|headline|ingredient|benefits|cta|product-grid|testimonial|text|image|divider|footer)"/g) ?? []).length;
}

/**
 * The email agents: `email` orchestrates a generation (copy and hero sub-agents that write straight
 * into the email's session, then assembly), `email-copy` writes the document, `email-hero` draws the
 * hero image, `email-section` rewrites one section from an instruction.
 */
export function emailAgents(deps: EmailAgentDeps): Agent[] {
  const copy: Agent = {
    name: "email-copy",
    description: "Writes the email's structure and copy, section by section, following the brand's formula.",
    async run(ctx, tools) {
      const input = ctx.info.input as EmailInput;
      const loaded = await load(deps, input);
      if (typeof loaded === "string") return { status: "failed", error: loaded };
      const { brand, brief } = loaded;
      const total = formulaOf(brand).length;
      await ctx.progress("Writing the copy", 0);
      if (tools.provider.name === "offline") {
        const delay = ctx.info.options.sectionDelayMs;
        for await (const step of streamOfflineEmail({ brand, brief }, { signal: ctx.signal, sectionDelayMs: delay })) {
          if (ctx.signal.aborted) break;
          await deps.studio.setDraft(loaded.scope, input.emailId, step.document);
          await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "section", ref: step.section.id, data: step.section });
          await ctx.progress(`Wrote the ${step.section.type} section`, (step.index + 1) / step.total);
        }
        return ctx.signal.aborted ? { status: "cancelled" } : { status: "completed" };
      }
      // A model: brand + formula + brief + reference screenshots → a JSON document (structured output).
      const prompt = copyPrompt(brand, brief, loaded.photos);
      const content: ContentPart[] = [{ type: "text", text: prompt.text }];
      const references = [];
      for (const id of loaded.referenceAssetIds.slice(0, 4)) {
        const asset = await deps.assets.bytes(loaded.scope, id);
        if (asset) references.push({ type: "image" as const, mediaType: asset.info.contentType, base64: Buffer.from(asset.bytes).toString("base64") });
      }
      if (references.length) content.push({ type: "text", text: `Reference email screenshots (${references.length}): learn their layout and style.` }, ...references);
      for (const photo of loaded.photos) {
        const asset = await deps.assets.bytes(loaded.scope, photo.assetId);
        if (asset) content.push({ type: "text", text: `Product photo: ${photo.name} (${photo.url})` }, { type: "image", mediaType: asset.info.contentType, base64: Buffer.from(asset.bytes).toString("base64") });
      }
      let json = "";
      let reported = 0;
      try {
        for await (const chunk of tools.provider.stream({ system: prompt.system, messages: [{ role: "user", content }], schema: emailDocumentJsonSchema(formulaOf(brand).map((s) => s.type)), schemaName: "email_document", signal: ctx.signal, maxTokens: 8_000 })) {
          if (typeof chunk !== "string") continue; // only text is asked for (no `parts`)
          json += chunk;
          const done = sectionsSoFar(json);
          if (done > reported) {
            reported = done;
            await ctx.progress(`Writing section ${Math.min(done, total)} of ${total}`, Math.min(done, total) / total);
          }
        }
      } catch (error) {
        if (ctx.signal.aborted) return { status: "cancelled" };
        return { status: "failed", error: error instanceof ProviderError ? error.message : String(error) };
      }
      if (ctx.signal.aborted) return { status: "cancelled" };
      let parsed: unknown;
      try {
        parsed = JSON.parse(json);
      } catch {
        return { status: "failed", error: "The copy agent's answer was not valid JSON." };
      }
      const checked = validateDocument(parsed);
      if (!checked.ok) return { status: "failed", error: checked.message };
      const document = conformToFormula(checked.value, brand);
      await deps.studio.setDraft(loaded.scope, input.emailId, document);
      for (const section of document.sections) await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "section", ref: section.id, data: section });
      return { status: "completed" };
    },
  };

  const hero: Agent = {
    name: "email-hero",
    description: "Draws the hero image (OpenAI gpt-image-1, or an on-brand offline image).",
    async run(ctx) {
      const input = ctx.info.input as EmailInput;
      const loaded = await load(deps, input);
      if (typeof loaded === "string") return { status: "failed", error: loaded };
      const { brand, brief } = loaded;
      await ctx.progress(input.note !== undefined ? `Drawing the hero image again${input.note ? `: ${input.note.slice(0, 120)}` : ""}` : "Drawing the hero image", 0.1);
      const provider = deps.providers.image(ctx.info.provider ?? undefined);
      const photoAsset = loaded.photos[0] ? await deps.assets.bytes(loaded.scope, loaded.photos[0].assetId) : undefined;
      const photo = photoAsset ? { bytes: photoAsset.bytes, mediaType: photoAsset.info.contentType } : undefined;
      let png: Uint8Array;
      let note = "";
      if (provider.name !== "offline" && provider.image) {
        try {
          const prompt = heroPrompt(brand, brief, photo !== undefined) + (input.note ? ` The previous image was rejected; change this: ${input.note}` : "");
          png = await provider.image({ prompt, size: "1536x1024", signal: ctx.signal, ...(photo ? { image: photo } : {}) });
        } catch (error) {
          if (ctx.signal.aborted) return { status: "cancelled" };
          // The email should not fail for want of a picture: fall back to the offline image, and say so.
          note = ` (the image model failed: ${(error as Error).message}; used an offline image)`;
          png = (await renderOfflineHeroImage({ brand, brief, ...(photo ? { photo: photo.bytes } : {}), ...(input.note !== undefined ? { variant: ctx.info.runId } : {}) })).png;
        }
      } else {
        png = (await renderOfflineHeroImage({ brand, brief, ...(photo ? { photo: photo.bytes } : {}), ...(input.note !== undefined ? { variant: ctx.info.runId } : {}) })).png;
      }
      if (ctx.signal.aborted) return { status: "cancelled" };
      const saved = await deps.assets.save(loaded.scope, { bytes: png, name: "hero.png", kind: "hero" });
      if (!saved.ok) return { status: "failed", error: `The hero image could not be stored: ${saved.message}` };
      const url = assetUrl(input.baseUrl, saved.asset.id);
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "image", ref: url, data: { assetId: saved.asset.id, width: saved.asset.width, height: saved.asset.height } });
      await ctx.progress(`Hero image ready${note}`, 1);
      return { status: "completed" };
    },
  };

  const orchestrator: Agent = {
    name: "email",
    description: "Generates an email: copy and hero sub-agents, then assembly.",
    async run(ctx, tools) {
      const input = ctx.info.input as EmailInput;
      const loaded = await load(deps, input);
      if (typeof loaded === "string") return { status: "failed", error: loaded };
      /** Runs sub-agents to their ends, noting the hero image they draw. */
      const children = async (start: () => Promise<string[]>) => {
        let drawn: string | undefined;
        const stopWatchingHero = ctx.onEvent((event) => {
          if (event.type === "artifact" && event.kind === "image") drawn = event.ref;
        });
        try {
          return { wait: await ctx.waitForRuns(start), drawn };
        } finally {
          stopWatchingHero();
        }
      };
      /** Stopping keeps what is finished: the sections written so far and a hero image already drawn. */
      const stopped = async (heroUrl: string | undefined): Promise<AgentOutcome> => {
        const current = (await deps.studio.email(loaded.scope, input.emailId))!;
        const kept = withHero(current.document, heroUrl, loaded.brand);
        if (kept.sections.length > 0) await deps.studio.saveVersion(loaded.scope, input.emailId, kept, { note: "Stopped before the end", kind: "generated", author: "AI" });
        else await deps.studio.fail(loaded.scope, input.emailId, "Generation was stopped.");
        return { status: "cancelled" };
      };
      /** Shows the hero in the draft and asks a person to approve it; the run then waits holding no worker. */
      const askHero = async (heroUrl: string, round: number): Promise<AgentOutcome> => {
        const current = (await deps.studio.email(loaded.scope, input.emailId))!;
        await deps.studio.setDraft(loaded.scope, input.emailId, withHero(current.document, heroUrl, loaded.brand));
        const productPhoto = productPhotoUrl(loaded, input.baseUrl);
        await ctx.progress("Waiting for your approval of the hero image", 0.85);
        const requestId = await tools.ask({
          kind: "approval",
          prompt: round === 1 ? "Approve the hero image before the email is assembled?" : `Approve the redrawn hero image (try ${round})?`,
          schema: { imageUrl: heroUrl, choices: productPhoto ? ["redraw", "product-photo"] : ["redraw"], ...(productPhoto ? { productPhotoUrl: productPhoto } : {}) },
          timeoutMs: HERO_APPROVAL_TIMEOUT_MS,
        });
        return { status: "suspended", state: { stage: "hero-approval", requestId, heroUrl, round } satisfies HeroApprovalState };
      };

      let heroUrl: string | undefined;
      const waited = ctx.info.resumeState as HeroApprovalState | undefined;
      if (waited?.stage === "hero-approval") {
        // Answered (or expired): approve → assemble; decline → the product photo, or a redraw asked again.
        heroUrl = waited.heroUrl;
        const request = await tools.answer(waited.requestId);
        const answer = request?.status === "answered" ? approvalOf(request.value) : undefined;
        if (answer && !answer.approved) {
          const productPhoto = productPhotoUrl(loaded, input.baseUrl);
          if (answer.choice === "product-photo" && productPhoto) {
            heroUrl = productPhoto;
            await ctx.progress("Using the product photo as the hero image", 0.88);
          } else if (waited.round < MAX_HERO_ROUNDS) {
            const redraw = await children(async () => [await tools.startChild("email-hero", { ...input, approveHero: undefined, note: answer.note ?? "" })]);
            if (!redraw.wait.ok || ctx.signal.aborted) return stopped(redraw.drawn ?? heroUrl);
            if (redraw.drawn) return askHero(redraw.drawn, waited.round + 1);
          }
        }
      } else {
        await ctx.progress("Starting the copy and hero agents", 0.02);
        const { wait, drawn } = await children(() => Promise.all([tools.startChild("email-copy", input), tools.startChild("email-hero", input)]));
        heroUrl = drawn;
        const [copyRun] = wait.runIds as [string, string];
        if (!wait.ok || ctx.signal.aborted) return stopped(heroUrl);
        const copyEnd = wait.ends.get(copyRun)!;
        if (copyEnd.status !== "completed") {
          const error = copyEnd.error ?? `The copy agent ${copyEnd.status}.`;
          await deps.studio.fail(loaded.scope, input.emailId, error);
          return { status: "failed", error };
        }
        if (input.approveHero && heroUrl) return askHero(heroUrl, 1);
      }
      const current = (await deps.studio.email(loaded.scope, input.emailId))!;
      await ctx.progress("Assembling the email", 0.9);
      const document = withHero(current.document, heroUrl, loaded.brand);
      const version = await deps.studio.saveVersion(loaded.scope, input.emailId, document, { note: "Generated", kind: "generated", author: "AI" });
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "email", ref: input.emailId, data: { version } });
      await ctx.progress("Ready", 1);
      return { status: "completed" } satisfies AgentOutcome;
    },
  };

  const section: Agent = {
    name: "email-section",
    description: "Rewrites one section of an email from an instruction.",
    async run(ctx, tools) {
      const input = ctx.info.input as EmailInput & { sectionId: string; instruction: string };
      const loaded = await load(deps, input);
      if (typeof loaded === "string") return { status: "failed", error: loaded };
      const { email, brand, brief } = loaded;
      const target = email.document.sections.find((s) => s.id === input.sectionId);
      if (!target) return { status: "failed", error: `No section ${input.sectionId} in this email.` };
      await ctx.progress(`Rewriting the ${target.type} section`, 0.1);
      const replacement = await rewriteSection(ctx, tools.provider.name === "offline" ? undefined : tools.provider, { brand, brief, target, instruction: input.instruction, sections: email.document.sections });
      if (typeof replacement === "string") return ctx.signal.aborted ? { status: "cancelled" } : { status: "failed", error: replacement };
      // An edit made on the version the rewrite started from, saved like a person's stale edit.
      const yours = { ...email.document, sections: email.document.sections.map((s) => (s.id === target.id ? replacement : s)) };
      const saved = await saveMerged(deps.studio, loaded.scope, input.emailId, email.document, yours, { note: `Regenerated ${target.type}: ${input.instruction.slice(0, 120)}`, kind: "edit", author: "AI" });
      if (!saved.ok) return { status: "failed", error: saved.error };
      const version = saved.version;
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "section", ref: target.id, data: replacement });
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "email", ref: input.emailId, data: { version } });
      await ctx.progress("Section updated", 1);
      return { status: "completed" };
    },
  };

  return [orchestrator, copy, hero, section];
}

/** A save that loses the race with another write is merged again on the newer version, at most this often. */
const MAX_MERGE_ATTEMPTS = 3;

/**
 * Saves `yours` (an edit of `base`) onto the email's newest version with the rule every edit follows
 * (`mergeDocuments`, docs/email.md): saved when nobody changed what it changes meanwhile; refused,
 * with the fields named, when someone did (their words stay; nothing is saved).
 */
async function saveMerged(studio: StudioStore, scope: TeamScope, emailId: string, base: EmailDocument, yours: EmailDocument, note: VersionNote): Promise<{ ok: true; version: number } | { ok: false; error: string }> {
  for (let attempt = 0; attempt < MAX_MERGE_ATTEMPTS; attempt++) {
    const current = await studio.email(scope, emailId);
    if (!current) return { ok: false, error: "The email is gone." };
    if (current.status === "generating") return { ok: false, error: "The email is being generated again; the rewrite was not saved." };
    const merged = mergeDocuments({ base, current: current.document, yours });
    if (!merged.ok) return { ok: false, error: `Someone changed ${merged.conflicts.map((c) => c.label).join("; ")} while the rewrite was being written; their change stays and the rewrite was not saved. Ask again to rewrite the newest version.` };
    const version = await studio.saveVersion(scope, emailId, merged.document, note, "ready", current.version);
    if (version !== undefined) return { ok: true, version };
  }
  return { ok: false, error: "The email kept changing while the rewrite was saved; the rewrite was not saved. Ask again." };
}

/** The product photo a person may pick instead of a drawn hero: the brief's first, else the brand's first product image. */
function productPhotoUrl(loaded: Loaded, baseUrl: string): string | undefined {
  if (loaded.photos[0]) return loaded.photos[0].url;
  const brandPhoto = loaded.brandProductImageIds[0];
  return brandPhoto ? assetUrl(baseUrl, brandPhoto) : undefined;
}

/**
 * The document with the hero image in place: in the hero section when there is one, else (a stop
 * before the copy reached the hero) as a hero section of its own, so a finished image is never lost.
 */
function withHero(document: EmailDocument, heroUrl: string | undefined, brand: Brand): EmailDocument {
  if (!heroUrl) return document;
  if (document.sections.some((s) => s.type === "hero")) {
    return { ...document, sections: document.sections.map((s) => (s.type === "hero" ? ({ ...s, fields: { ...s.fields, imageUrl: heroUrl } } as Section) : s)) };
  }
  if (!formulaOf(brand).some((step) => step.type === "hero")) return document;
  return { ...document, sections: [{ id: "hero-1", type: "hero", fields: { imageUrl: heroUrl, imageAlt: brand.name } } as Section, ...document.sections] };
}

/**
 * A new version of one section. Offline: the documented instruction set (`regenerate.ts`), or a
 * plain "needs a real model" failure; with a model: the brand's design system, the brief, the
 * instruction, the section and its neighbours, answered as a one-section document through
 * structured output. The words stream into the session as an assistant message, so the editor
 * shows the rewrite live. A result equal to the section is a failure, never a new version.
 */
async function rewriteSection(
  ctx: RunContext,
  provider: import("../agents/providers/types").Provider | undefined,
  input: { brand: Brand; brief: Brief; target: Section; instruction: string; sections: Section[] },
): Promise<Section | string> {
  const { brand, brief, target, instruction, sections } = input;
  if (!provider) {
    const result = rewriteSectionOffline(target, instruction, copyOf({ brand, brief }));
    if (!result.ok) return result.message;
    const message = await ctx.startMessage();
    // Paced like the offline provider: a piece of up to 24 characters counts as a token (tokensPerSecond; 100 unless told).
    const pause = 1000 / (ctx.info.options.tokensPerSecond ?? 100);
    for (const word of JSON.stringify(result.section.fields).match(/.{1,24}/g) ?? []) {
      if (ctx.signal.aborted) break;
      message.delta(word);
      await Bun.sleep(pause);
    }
    await message.end(ctx.signal.aborted ? "cancelled" : "complete");
    if (ctx.signal.aborted) return "cancelled";
    return result.section;
  }
  const message = await ctx.startMessage();
  const index = sections.findIndex((s) => s.id === target.id);
  const neighbours = { before: sections[index - 1], after: sections[index + 1] };
  let json = "";
  try {
    for await (const chunk of provider.stream({
      system: rewritePrompt(brand, target),
      messages: [{ role: "user", content: rewriteRequest({ brief, target, instruction, ...neighbours }) }],
      schema: emailDocumentJsonSchema([target.type as SectionType]),
      schemaName: "email_section",
      signal: ctx.signal,
      maxTokens: 2_000,
    })) {
      if (typeof chunk !== "string") continue;
      json += chunk;
      message.delta(chunk);
    }
  } catch (error) {
    await message.end(ctx.signal.aborted ? "cancelled" : "failed");
    return error instanceof ProviderError ? error.message : String(error);
  }
  await message.end(ctx.signal.aborted ? "cancelled" : "complete");
  if (ctx.signal.aborted) return "cancelled";
  try {
    const checked = validateDocument(JSON.parse(json));
    if (!checked.ok) return checked.message;
    const fresh = checked.value.sections.find((s) => s.type === target.type);
    if (!fresh) return `The model returned no ${target.type} section.`;
    if (JSON.stringify(fresh.fields) === JSON.stringify(target.fields)) return `The model left the ${target.type} section as it was, so no new version was saved.`;
    return { ...fresh, id: target.id } as Section;
  } catch {
    return "The model's answer was not valid JSON.";
  }
}

/** The section-rewrite model's system prompt: the brand's design system and the section's guidance. */
export function rewritePrompt(brand: Brand, target: Section): string {
  const step = formulaOf(brand).find((s) => s.type === target.type);
  return [
    `You rewrite one section of a marketing email for the brand "${brand.name}".`,
    ...designSystem(brand),
    `This is the ${target.type} section: ${step?.guidance ?? sectionModule(target.type)?.guidance ?? ""}`,
    `Follow the instruction; keep what it does not ask to change. Never paste the instruction itself into the copy.`,
    `It must read well between the sections before and after it, without repeating their sentences.`,
    `Answer only with the JSON document containing exactly that one section, keeping its id "${target.id}".`,
  ].join("\n");
}

/** The section-rewrite request: the instruction, the section, its neighbours and the brief. */
export function rewriteRequest(input: { brief: Brief; target: Section; instruction: string; before?: Section; after?: Section }): string {
  return [
    `Instruction: ${input.instruction}`,
    `Current section:\n${JSON.stringify(input.target)}`,
    `Section before it:\n${input.before ? JSON.stringify(input.before) : "(none: this is the first)"}`,
    `Section after it:\n${input.after ? JSON.stringify(input.after) : "(none: this is the last)"}`,
    `Brief:\n${briefLines(input.brief, []).join("\n")}`,
  ].join("\n\n");
}
