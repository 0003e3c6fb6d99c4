import type { Agent, AgentOutcome } from "../agents/agents";
import type { Providers } from "../agents/providers";
import type { ContentPart } from "../agents/providers/types";
import { ProviderError } from "../agents/providers/types";
import type { RunContext } from "../agents/run-context";
import { AssetStore, assetUrl } from "../assets/store";
import { emailDocumentJsonSchema, formulaOf, validateDocument, type Brand, type Brief, type EmailDocument, type Section, type SectionType } from "./document";
import { streamOfflineEmail, writeOfflineEmail } from "./offline-writer";
import { renderOfflineHeroImage } from "./offline-image";
import { StudioStore, toBrief, type EmailRecord } from "./studio";
import { toBrand, type BrandStore } from "../brands/store";
import { ALL_TEAMS, teamScope, type TeamScope } from "../accounts/scope";

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
}

interface Loaded {
  /** The email's team: every store call of the run after loading stays inside it. */
  scope: TeamScope;
  email: EmailRecord;
  brand: Brand;
  brief: Brief;
  referenceAssetIds: string[];
}

async function load(deps: EmailAgentDeps, input: EmailInput): Promise<Loaded | string> {
  // Agents serve every team: the email is found by id, then everything else is read inside its team.
  const email = await deps.studio.email(ALL_TEAMS, input.emailId);
  if (!email) return `No email ${input.emailId}.`;
  const scope = teamScope(email.teamId);
  const brandRecord = await deps.brands.brand(scope, email.brandId);
  const briefRecord = email.briefId ? await deps.studio.brief(scope, email.briefId) : undefined;
  if (!brandRecord || !briefRecord) return "The email's brand or brief is gone.";
  return { scope, email, brand: toBrand(brandRecord, input.baseUrl), brief: toBrief(briefRecord, input.baseUrl), referenceAssetIds: briefRecord.data.referenceAssetIds ?? [] };
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

function copyPrompt(brand: Brand, brief: Brief): { system: string; text: string } {
  const formula = formulaOf(brand);
  const system = [
    `You write high-converting marketing emails for the brand "${brand.name}".`,
    brand.voice ? `Brand voice: ${brand.voice}` : "",
    `Follow this conversion formula exactly, one section per step, in this order:`,
    ...formula.map((step, i) => `${i + 1}. ${step.type}${step.guidance ? ` — ${step.guidance}` : ""}`),
    `Learn layout and style from the reference emails (images) if given; do not copy their text.`,
    `Answer only with the JSON document. Section ids are short slugs. Use the brief's CTA URL and product URLs as given.`,
    brand.footer ? `Footer address: ${brand.footer.address}. Unsubscribe URL: ${brand.footer.unsubscribeUrl ?? "{{unsubscribe_url}}"}.` : "",
  ].filter(Boolean).join("\n");
  const text = [
    `Objective: ${brief.objective}`,
    `Audience: ${brief.audience}`,
    `Tone: ${brief.tone}`,
    `Headline hook: ${brief.hook}`,
    brief.products?.length ? `Products:\n${brief.products.map((p) => `- ${p.name}${p.description ? `: ${p.description}` : ""}${p.url ? ` (${p.url})` : ""}`).join("\n")}` : "",
    brief.cta ? `Call to action: "${brief.cta.label}" → ${brief.cta.url}` : "",
  ].filter(Boolean).join("\n");
  return { system, text };
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
      const prompt = copyPrompt(brand, brief);
      const content: ContentPart[] = [{ type: "text", text: prompt.text }];
      for (const id of loaded.referenceAssetIds.slice(0, 4)) {
        const asset = await deps.assets.bytes(loaded.scope, id);
        if (asset) content.push({ type: "image", mediaType: asset.info.contentType, base64: Buffer.from(asset.bytes).toString("base64") });
      }
      let json = "";
      let reported = 0;
      try {
        for await (const chunk of tools.provider.stream({ system: prompt.system, messages: [{ role: "user", content }], schema: emailDocumentJsonSchema(formulaOf(brand).map((s) => s.type)), signal: ctx.signal, maxTokens: 8_000 })) {
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
      await ctx.progress("Drawing the hero image", 0.1);
      const provider = deps.providers.image(ctx.info.provider ?? undefined);
      let png: Uint8Array;
      let note = "";
      if (provider.name === "openai" && provider.image) {
        const subject = brief.products?.[0]?.name ?? brief.hook;
        const prompt = `Hero image for a marketing email from ${brand.name}: ${subject}. ${brief.objective}. Mood: ${brief.tone}. Brand colours ${Object.values(brand.colors).filter(Boolean).join(", ")}. Clean product photography, no text.`;
        try {
          png = await provider.image({ prompt, size: "1536x1024", signal: ctx.signal });
        } catch (error) {
          if (ctx.signal.aborted) return { status: "cancelled" };
          // The email should not fail for want of a picture: fall back to the offline image, and say so.
          note = ` (OpenAI failed: ${(error as Error).message}; used an offline image)`;
          png = (await renderOfflineHeroImage({ brand, brief })).png;
        }
      } else {
        png = (await renderOfflineHeroImage({ brand, brief })).png;
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
      let heroUrl: string | undefined;
      const stopWatchingHero = ctx.onEvent((event) => {
        if (event.type === "artifact" && event.kind === "image") heroUrl = event.ref;
      });
      let wait: Awaited<ReturnType<typeof ctx.waitForRuns>>;
      try {
        await ctx.progress("Starting the copy and hero agents", 0.02);
        wait = await ctx.waitForRuns(() => Promise.all([tools.startChild("email-copy", input), tools.startChild("email-hero", input)]));
      } finally {
        stopWatchingHero();
      }
      const [copyRun] = wait.runIds as [string, string];
      const current = (await deps.studio.email(loaded.scope, input.emailId))!;
      if (!wait.ok || ctx.signal.aborted) {
        if (current.document.sections.length > 0) await deps.studio.saveVersion(loaded.scope, input.emailId, current.document, "Stopped before the end");
        else await deps.studio.fail(loaded.scope, input.emailId, "Generation was stopped.");
        return { status: "cancelled" };
      }
      const copyEnd = wait.ends.get(copyRun)!;
      if (copyEnd.status !== "completed") {
        const error = copyEnd.error ?? `The copy agent ${copyEnd.status}.`;
        await deps.studio.fail(loaded.scope, input.emailId, error);
        return { status: "failed", error };
      }
      await ctx.progress("Assembling the email", 0.9);
      const document: EmailDocument = {
        ...current.document,
        sections: current.document.sections.map((section) =>
          section.type === "hero" && heroUrl ? ({ ...section, fields: { ...section.fields, imageUrl: heroUrl } } as Section) : section,
        ),
      };
      const version = await deps.studio.saveVersion(loaded.scope, input.emailId, document, "Generated");
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
      const replacement = await rewriteSection(ctx, tools.provider.name === "offline" ? undefined : tools.provider, { brand, brief, target, instruction: input.instruction });
      if (typeof replacement === "string") return ctx.signal.aborted ? { status: "cancelled" } : { status: "failed", error: replacement };
      const latest = (await deps.studio.email(loaded.scope, input.emailId))!;
      const document = { ...latest.document, sections: latest.document.sections.map((s) => (s.id === target.id ? replacement : s)) };
      const version = await deps.studio.saveVersion(loaded.scope, input.emailId, document, `Regenerated ${target.type}: ${input.instruction.slice(0, 120)}`);
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "section", ref: target.id, data: replacement });
      await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "email", ref: input.emailId, data: { version } });
      await ctx.progress("Section updated", 1);
      return { status: "completed" };
    },
  };

  return [orchestrator, copy, hero, section];
}

/**
 * A new version of one section. Offline: the offline writer with the instruction folded into the
 * brief (deterministic); with a model: a one-section document through structured output. The
 * words stream into the session as an assistant message, so the editor shows the rewrite live.
 */
async function rewriteSection(
  ctx: RunContext,
  provider: import("../agents/providers/types").Provider | undefined,
  input: { brand: Brand; brief: Brief; target: Section; instruction: string },
): Promise<Section | string> {
  const { brand, brief, target, instruction } = input;
  const message = await ctx.startMessage();
  if (!provider) {
    const steered: Brief = { ...brief, hook: instruction.trim() || brief.hook, tone: `${brief.tone}; ${instruction}` };
    const draft = writeOfflineEmail({ brand: { ...brand, formula: [{ type: target.type as SectionType }] }, brief: steered });
    const fresh = draft.sections.find((s) => s.type === target.type);
    if (!fresh) {
      await message.end("failed");
      return `The offline writer has no ${target.type} section.`;
    }
    const fields = target.type === "hero" ? { ...fresh.fields, imageUrl: (target.fields as { imageUrl?: string }).imageUrl } : fresh.fields;
    for (const word of JSON.stringify(fields).match(/.{1,24}/g) ?? []) {
      if (ctx.signal.aborted) break;
      message.delta(word);
      await Bun.sleep(10);
    }
    await message.end(ctx.signal.aborted ? "cancelled" : "complete");
    if (ctx.signal.aborted) return "cancelled";
    return { ...target, fields } as Section;
  }
  let json = "";
  try {
    for await (const chunk of provider.stream({
      system: `You rewrite one section of a marketing email for the brand "${brand.name}"${brand.voice ? ` (voice: ${brand.voice})` : ""}. Answer only with the JSON document containing exactly that one section, keeping its id "${target.id}".`,
      messages: [{ role: "user", content: `Current section:\n${JSON.stringify(target)}\n\nBrief hook: ${brief.hook}\nInstruction: ${instruction}` }],
      schema: emailDocumentJsonSchema([target.type as SectionType]),
      signal: ctx.signal,
      maxTokens: 2_000,
    })) {
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
    return fresh ? ({ ...fresh, id: target.id } as Section) : `The model returned no ${target.type} section.`;
  } catch {
    return "The model's answer was not valid JSON.";
  }
}
