import type { Sql } from "postgres";
import { z } from "zod";
import type { Agent, AgentOutcome } from "../../agents/agents";
import { RunStopped, type RunContext } from "../../agents/run-context";
import type { SessionService } from "../../sessions/service";
import { newId } from "../../sessions/service";
import { AssetStore, MAX_UPLOAD_BYTES } from "../../assets/store";
import { BrandInput, type BrandStore } from "../store";
import { ALL_TEAMS, ownerTeam, teamFilter, teamScope, type TeamScope } from "../../accounts/scope";
import { guardedFetch, type FetchResult } from "../../infra/guarded-fetch";
import { dominantColors } from "./colour";
import { scanPage } from "./html";
import { assembleProposal, logoCandidates, organizationFromJsonLd, type BrandProposal, type ProposalLogo } from "./proposal";
import { readCss } from "./styles";

/** The page itself: more than this and the import is refused (brand facts live near the top of a page). */
export const MAX_PAGE_BYTES = 2 * 1024 * 1024;
export const MAX_STYLESHEET_BYTES = 512 * 1024;
/** Linked stylesheets fetched per import (the first ones: site-wide styles come first). */
export const MAX_STYLESHEETS = 4;
export const MAX_LOGO_BYTES = 5 * 1024 * 1024;
/** Logo candidates tried before giving up on a logo. */
export const MAX_LOGO_ATTEMPTS = 5;
export const PAGE_TIMEOUT_MS = 10_000;
export const SUBRESOURCE_TIMEOUT_MS = 6_000;

export type ImportStatus = "running" | "ready" | "failed" | "cancelled" | "accepted";

export interface BrandImportRecord {
  id: string;
  teamId: string | null;
  url: string;
  sessionId: string;
  runId: string | null;
  status: ImportStatus;
  proposal: BrandProposal | null;
  errorCode: string | null;
  error: string | null;
  brandId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, team_id as "teamId", url, session_id as "sessionId", run_id as "runId", status, proposal,
  error_code as "errorCode", error, brand_id as "brandId", created_at as "createdAt", updated_at as "updatedAt"`;

/**
 * Edits a marketer may make to a proposal before saving it as a brand: any brand field, colours one
 * by one, and `null` to drop what was proposed (a wrong logo, a footer that is not an address).
 */
export const ProposalEdits = BrandInput.partial().extend({
  colors: z
    .object({
      primary: BrandInput.shape.colors.shape.primary.optional(),
      secondary: BrandInput.shape.colors.shape.secondary.nullable(),
      background: BrandInput.shape.colors.shape.background.nullable(),
      text: BrandInput.shape.colors.shape.text.nullable(),
    })
    .optional(),
  logoAssetId: BrandInput.shape.logoAssetId.nullable(),
  footer: BrandInput.shape.footer.nullable(),
  fonts: BrandInput.shape.fonts.nullable(),
});
export type ProposalEdits = z.infer<typeof ProposalEdits>;

export type AcceptResult =
  | { ok: true; brandId: string }
  | { ok: false; code: "import_not_ready" | "import_already_accepted" | "invalid_brand"; message: string };

/**
 * Brand imports: each is a session with one `brand-import` run, and a row holding the status and
 * the proposal, so the review page and `GET /api/brands/imports/:id` read one place.
 */
export class BrandImports {
  #sql: Sql;
  #sessions: SessionService;
  #brands: BrandStore;

  constructor(options: { sql: Sql; sessions: SessionService; brands: BrandStore }) {
    this.#sql = options.sql;
    this.#sessions = options.sessions;
    this.#brands = options.brands;
  }

  /** Opens a session and queues the `brand-import` run for `url` (already checked for syntax and scheme). */
  async start(scope: TeamScope, input: { url: string; clientId?: string }): Promise<{ importId: string; sessionId: string; runId: string }> {
    const host = new URL(input.url).hostname;
    const teamId = ownerTeam(scope);
    const session = await this.#sessions.create({ title: `Brand import: ${host}`.slice(0, 200), teamId });
    const importId = newId("bimp");
    await this.#sql`insert into brand_imports (id, team_id, url, session_id, status) values (${importId}, ${teamId}, ${input.url}, ${session.id}, 'running')`;
    const runId = await this.#sessions.startRun(session.id, { agent: "brand-import", input: { importId, url: input.url }, clientId: input.clientId });
    await this.#sql`update brand_imports set run_id = ${runId} where id = ${importId}`;
    return { importId, sessionId: session.id, runId };
  }

  async get(scope: TeamScope, id: string): Promise<BrandImportRecord | undefined> {
    const [row] = await this.#sql<(Omit<BrandImportRecord, "proposal"> & { proposal: string | null })[]>`
      select ${this.#sql.unsafe(COLUMNS)} from brand_imports where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row ? { ...row, proposal: row.proposal ? JSON.parse(row.proposal) : null } : undefined;
  }

  async list(scope: TeamScope, limit = 20): Promise<BrandImportRecord[]> {
    const rows = await this.#sql<(Omit<BrandImportRecord, "proposal"> & { proposal: string | null })[]>`
      select ${this.#sql.unsafe(COLUMNS)} from brand_imports where ${teamFilter(this.#sql, scope)} order by created_at desc limit ${limit}`;
    return rows.map((row) => ({ ...row, proposal: row.proposal ? JSON.parse(row.proposal) : null }));
  }

  async ready(scope: TeamScope, id: string, proposal: BrandProposal): Promise<void> {
    await this.#sql`update brand_imports set status = 'ready', proposal = ${JSON.stringify(proposal)}, error_code = null, error = null, updated_at = now() where id = ${id} and status <> 'accepted' and ${teamFilter(this.#sql, scope)}`;
  }

  async fail(scope: TeamScope, id: string, code: string, message: string, status: "failed" | "cancelled" = "failed"): Promise<void> {
    await this.#sql`update brand_imports set status = ${status}, error_code = ${code}, error = ${message}, updated_at = now() where id = ${id} and status <> 'accepted' and ${teamFilter(this.#sql, scope)}`;
  }

  /**
   * Saves the proposal, with the marketer's edits on top, as a new brand. The row is claimed first
   * (`ready` → `accepted` in one conditional update), so two clicks on Save make one brand.
   */
  async accept(scope: TeamScope, record: BrandImportRecord, edits: ProposalEdits): Promise<AcceptResult> {
    if (record.status === "accepted") return { ok: false, code: "import_already_accepted", message: `This import was saved already as brand ${record.brandId}.` };
    if (record.status !== "ready" || !record.proposal) return { ok: false, code: "import_not_ready", message: `This import is ${record.status}; only a finished import can be saved.` };
    const combined: Record<string, unknown> = { ...record.proposal.brand, ...edits, colors: { ...record.proposal.brand.colors, ...edits.colors } };
    const dropNulls = (object: Record<string, unknown>) => {
      for (const key of Object.keys(object)) if (object[key] === null) delete object[key];
    };
    dropNulls(combined);
    dropNulls(combined.colors as Record<string, unknown>);
    const merged = BrandInput.safeParse(combined);
    if (!merged.success) {
      const issue = merged.error.issues[0]!;
      return { ok: false, code: "invalid_brand", message: `${issue.path.join(".")}: ${issue.message}` };
    }
    const claimed = await this.#sql`update brand_imports set status = 'accepted', updated_at = now() where id = ${record.id} and status = 'ready' and ${teamFilter(this.#sql, scope)} returning id`;
    if (claimed.length === 0) return { ok: false, code: "import_already_accepted", message: "This import was saved already." };
    try {
      const brand = await this.#brands.createBrand(teamScope(record.teamId), merged.data);
      await this.#sql`update brand_imports set brand_id = ${brand.id} where id = ${record.id}`;
      return { ok: true, brandId: brand.id };
    } catch (error) {
      // The brand was not made: give the import back, so Save can be tried again.
      await this.#sql`update brand_imports set status = 'ready' where id = ${record.id} and brand_id is null`;
      throw error;
    }
  }
}

export interface BrandImportAgentDeps {
  imports: BrandImports;
  assets: AssetStore;
  /** IMPORT_ALLOW_PRIVATE: let the fetcher reach private and loopback addresses. */
  allowPrivate: boolean;
}

interface ImportInput {
  importId: string;
  url: string;
}

/** Loads bytes of a logo candidate: a data: URL in the page, or a guarded fetch. */
async function loadImage(url: string, deps: BrandImportAgentDeps, signal: AbortSignal): Promise<FetchResult> {
  if (url.startsWith("data:")) {
    const comma = url.indexOf(",");
    const bytes = new Uint8Array(Buffer.from(url.slice(comma + 1), "base64"));
    if (bytes.byteLength > MAX_LOGO_BYTES) return { ok: false, code: "too_large", message: "The inline logo is too large.", url: "data:" };
    return { ok: true, url: "data:", status: 200, contentType: url.slice(5, url.indexOf(";")), bytes };
  }
  return guardedFetch(url, { allowPrivate: deps.allowPrivate, maxBytes: Math.min(MAX_LOGO_BYTES, MAX_UPLOAD_BYTES), timeoutMs: SUBRESOURCE_TIMEOUT_MS, signal, accept: "image/png,image/webp,image/jpeg,image/gif;q=0.9,*/*;q=0.1" });
}

/**
 * `brand-import`: fetches a website (guarded), reads its brand (name, logo, colours, fonts, footer
 * address), stores the logo as an asset and the proposal on the import, and reports each step as
 * progress. The proposal is also emitted as an `artifact` (kind `brand-proposal`).
 */
export function brandImportAgent(deps: BrandImportAgentDeps): Agent {
  return {
    name: "brand-import",
    description: "Reads a brand (name, logo, colours, fonts, address) from a website and proposes it for review.",
    async run(ctx: RunContext): Promise<AgentOutcome> {
      const input = ctx.info.input as ImportInput;
      // The agent serves every team: it finds the import by id, then works inside the import's team.
      const record = await deps.imports.get(ALL_TEAMS, input.importId);
      if (!record) return { status: "failed", error: `No brand import ${input.importId}.` };
      try {
        return await importBrand(ctx, deps, record);
      } catch (error) {
        // A shutdown hands the run back for a retry; anything else must not leave the import "running".
        if (error instanceof RunStopped) throw error;
        const message = `The import failed unexpectedly: ${(error as Error).message}`;
        await deps.imports.fail(teamScope(record.teamId), record.id, "internal", message);
        return { status: "failed", error: message };
      }
    },
  };
}

async function importBrand(ctx: RunContext, deps: BrandImportAgentDeps, record: BrandImportRecord): Promise<AgentOutcome> {
  const stopped = async (): Promise<AgentOutcome> => {
    const reason = ctx.stopReason;
    if (reason?.kind === "shutdown") throw new RunStopped(reason);
    // A fenced attempt has been replaced by a newer one, which owns the import now.
    if (reason?.kind !== "fenced") await deps.imports.fail(teamScope(record.teamId), record.id, "cancelled", "The import was stopped.", "cancelled");
    return { status: "cancelled" };
  };
  const fail = async (code: string, message: string): Promise<AgentOutcome> => {
    await deps.imports.fail(teamScope(record.teamId), record.id, code, message);
    return { status: "failed", error: message };
  };
  const notes: string[] = [];

  await ctx.progress(`Fetching ${record.url}`, 0.05);
  const page = await guardedFetch(record.url, { allowPrivate: deps.allowPrivate, maxBytes: MAX_PAGE_BYTES, timeoutMs: PAGE_TIMEOUT_MS, signal: ctx.signal, accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1" });
  if (ctx.signal.aborted) return stopped();
  if (!page.ok) return fail(page.code, page.message);
  if (page.contentType && !/html|xml|text\/plain/i.test(page.contentType)) return fail("not_html", `${page.url} is ${page.contentType.split(";")[0]}, not a web page.`);

  await ctx.progress("Reading the page", 0.2);
  const html = new TextDecoder("utf-8", { fatal: false }).decode(page.bytes);
  const scan = await scanPage(html, page.url);
  const organization = organizationFromJsonLd(scan.jsonLd, page.url);

  const sheets = [...scan.styles];
  const linked = scan.stylesheets.slice(0, MAX_STYLESHEETS);
  if (scan.stylesheets.length > MAX_STYLESHEETS) notes.push(`Read the first ${MAX_STYLESHEETS} of ${scan.stylesheets.length} stylesheets.`);
  for (const [i, href] of linked.entries()) {
    if (ctx.signal.aborted) return stopped();
    await ctx.progress(`Fetching stylesheet ${i + 1} of ${linked.length}`, 0.25 + (0.2 * i) / Math.max(1, linked.length));
    const sheet = await guardedFetch(href, { allowPrivate: deps.allowPrivate, maxBytes: MAX_STYLESHEET_BYTES, timeoutMs: SUBRESOURCE_TIMEOUT_MS, signal: ctx.signal, accept: "text/css,*/*;q=0.1" });
    if (sheet.ok) sheets.push(new TextDecoder().decode(sheet.bytes));
    else notes.push(`Skipped stylesheet ${href}: ${sheet.message}`);
  }

  await ctx.progress("Reading colours and fonts", 0.45);
  const css = readCss(sheets, scan.inlineStyles);

  let logo: ProposalLogo | undefined;
  let logoColors: Array<{ hex: string; share: number }> | undefined;
  const candidates = logoCandidates(scan, organization);
  await ctx.progress(candidates.length ? "Fetching the logo" : "No logo found on the page", 0.55);
  for (const candidate of candidates.slice(0, MAX_LOGO_ATTEMPTS)) {
    if (ctx.signal.aborted) return stopped();
    const image = await loadImage(candidate.url, deps, ctx.signal);
    const shown = candidate.url.startsWith("data:") ? "an inline image" : candidate.url;
    if (!image.ok) {
      notes.push(`Skipped logo candidate ${shown} (${candidate.source}): ${image.message}`);
      continue;
    }
    const saved = await deps.assets.save(teamScope(record.teamId), { bytes: image.bytes, name: `logo-${new URL(page.url).hostname}`.slice(0, 100), kind: "logo" });
    if (!saved.ok) {
      notes.push(`Skipped logo candidate ${shown} (${candidate.source}): ${saved.message}`);
      continue;
    }
    logo = { assetId: saved.asset.id, sourceUrl: candidate.url.startsWith("data:") ? "data:" : candidate.url, source: candidate.source, width: saved.asset.width, height: saved.asset.height };
    await ctx.progress("Finding the logo's colours", 0.75);
    logoColors = await dominantColors(image.bytes).catch(() => undefined);
    break;
  }
  if (ctx.signal.aborted) return stopped();

  await ctx.progress("Looking for the footer address", 0.85);
  const proposal = assembleProposal({ url: record.url, scan, css, organization, logo, logoColors, notes });
  await deps.imports.ready(teamScope(record.teamId), record.id, proposal);
  await ctx.emit({ type: "artifact", runId: ctx.info.runId, kind: "brand-proposal", ref: record.id, data: proposal });
  await ctx.progress("Proposal ready for review", 1);
  return { status: "completed" };
}
