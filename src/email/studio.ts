import type { Sql } from "postgres";
import { z } from "zod";
import { newId } from "../sessions/service";
import { SECTION_TYPES, HEX_COLOR_PATTERN, type Brand, type Brief, type EmailDocument, type FormulaStep } from "./document";
import { assetUrl } from "../assets/store";

const hex = z.string().regex(HEX_COLOR_PATTERN, "a hex colour such as #1a2b3c");
const httpUrl = z.string().max(2_048).refine((v) => /^https?:\/\//i.test(v), "an http(s) URL");
const assetId = z.string().regex(/^ast_[A-Za-z0-9_-]{1,40}$/, "an asset id from POST /api/assets");

/** The brand design system as the API takes it (asset ids, short-form formula). */
export const BrandInput = z.object({
  name: z.string().trim().min(1).max(120),
  colors: z.object({ primary: hex, secondary: hex.optional(), background: hex.optional(), text: hex.optional() }),
  /** Dark-mode colours; unset ones are proposed from `colors` (see docs/email.md, Dark mode). */
  darkColors: z.object({ background: hex.optional(), text: hex.optional(), heading: hex.optional() }).optional(),
  fonts: z.object({ heading: z.string().max(60).optional(), body: z.string().max(60).optional() }).optional(),
  voice: z.string().max(2_000).optional(),
  logoAssetId: assetId.optional(),
  productImageAssetIds: z.array(assetId).max(50).optional(),
  formula: z
    .array(z.union([z.enum(SECTION_TYPES), z.object({ type: z.enum(SECTION_TYPES), guidance: z.string().max(1_000).optional() })]))
    .max(40)
    .optional(),
  footer: z
    .object({
      address: z.string().trim().min(1).max(500),
      unsubscribeUrl: z.string().max(2_048).refine((v) => /^https?:\/\//i.test(v) || /^(\{\{[\w .|-]+\}\}|\*\|[A-Z_]+\|\*|%%[\w_]+%%)$/.test(v), "an http(s) URL or an ESP merge tag such as {{unsubscribe_url}} or *|UNSUB|*").optional(),
    })
    .optional(),
});
export type BrandInput = z.infer<typeof BrandInput>;

/** The workflow asks for 3–4 reference email screenshots: fewer teach the writer little, more dilute it. */
export const MIN_REFERENCES = 3;
export const MAX_REFERENCES = 4;
export const REFERENCES_MESSAGE = `add ${MIN_REFERENCES} or ${MAX_REFERENCES} reference email screenshots (POST /api/assets with kind=reference)`;

export const BriefInput = z.object({
  brandId: z.string().min(1).max(100),
  objective: z.string().trim().min(1).max(1_000),
  audience: z.string().trim().min(1).max(1_000),
  tone: z.string().trim().min(1).max(1_000),
  hook: z.string().trim().min(1).max(200),
  products: z
    .array(
      z.object({
        name: z.string().trim().min(1).max(120),
        description: z.string().max(3_000).optional(),
        imageAssetId: assetId.optional().describe("The product photo: one of the brand's product images, or an uploaded image. The email shows it in the hero, ingredient and product sections."),
        url: httpUrl.optional(),
      }),
    )
    .max(12)
    .optional(),
  cta: z.object({ label: z.string().trim().min(1).max(80), url: httpUrl }).optional(),
  offer: z
    .object({
      text: z.string().trim().min(1, "say what the offer is, e.g. 20% off your first order").max(120),
      code: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, "a discount code of letters, digits, '-' or '_' (at most 40)").optional(),
    })
    .optional()
    .describe("The offer, e.g. {text: \"20% off your first order\", code: \"GLOW20\"}: shown in the hero or headline and on the button."),
  occasion: z.string().trim().min(1).max(120).optional().describe("What the email is for, e.g. Mother's Day, Black Friday, spring launch."),
  sendDate: z.iso.date({ error: "a date such as 2026-05-10" }).optional().describe("The planned send date (YYYY-MM-DD)."),
  referenceAssetIds: z
    .array(assetId, { error: (issue) => (issue.input === undefined ? REFERENCES_MESSAGE : undefined) })
    .min(MIN_REFERENCES, { error: REFERENCES_MESSAGE })
    .max(MAX_REFERENCES, { error: REFERENCES_MESSAGE })
    .refine((ids) => new Set(ids).size === ids.length, { error: "each reference screenshot only once" }),
});
export type BriefInput = z.infer<typeof BriefInput>;

export interface BrandRecord {
  id: string;
  teamId: string | null;
  name: string;
  data: BrandInput;
  updatedAt: Date;
}

export interface BriefRecord {
  id: string;
  teamId: string | null;
  brandId: string;
  data: BriefInput;
}

export type EmailStatus = "generating" | "ready" | "failed";

export interface EmailRecord {
  id: string;
  teamId: string | null;
  briefId: string | null;
  brandId: string;
  sessionId: string;
  runId: string | null;
  status: EmailStatus;
  provider: string | null;
  version: number;
  document: EmailDocument;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The brand as rendering and generation see it: asset ids resolved to absolute URLs. */
export function toBrand(record: BrandRecord, base: string): Brand {
  const d = record.data;
  const formula: FormulaStep[] | undefined = d.formula?.map((step) => (typeof step === "string" ? { type: step } : step));
  return {
    name: d.name,
    colors: d.colors,
    ...(d.darkColors ? { darkColors: d.darkColors } : {}),
    ...(d.fonts ? { fonts: d.fonts } : {}),
    ...(d.voice ? { voice: d.voice } : {}),
    ...(d.logoAssetId ? { logoUrl: assetUrl(base, d.logoAssetId) } : {}),
    ...(formula ? { formula } : {}),
    ...(d.footer ? { footer: d.footer } : {}),
  };
}

export function toBrief(record: BriefRecord, base: string): Brief {
  const d = record.data;
  return {
    objective: d.objective,
    audience: d.audience,
    tone: d.tone,
    hook: d.hook,
    products: (d.products ?? []).map((p) => ({ name: p.name, ...(p.description ? { description: p.description } : {}), ...(p.url ? { url: p.url } : {}), ...(p.imageAssetId ? { imageUrl: assetUrl(base, p.imageAssetId) } : {}) })),
    ...(d.cta ? { cta: d.cta } : {}),
    ...(d.offer ? { offer: d.offer } : {}),
    ...(d.occasion ? { occasion: d.occasion } : {}),
    ...(d.sendDate ? { sendDate: d.sendDate } : {}),
  };
}

const EMAIL_COLUMNS = `id, team_id as "teamId", brief_id as "briefId", brand_id as "brandId", session_id as "sessionId", run_id as "runId",
  status, provider, version, document, error, created_at as "createdAt", updated_at as "updatedAt"`;

/** Brands, briefs and emails (with every version of each email). */
export class StudioStore {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  async createBrand(teamId: string | null, data: BrandInput): Promise<BrandRecord> {
    const id = newId("brand");
    await this.#sql`insert into brands (id, team_id, name, data) values (${id}, ${teamId}, ${data.name}, ${JSON.stringify(data)})`;
    return { id, teamId, name: data.name, data, updatedAt: new Date() };
  }

  async updateBrand(id: string, data: BrandInput): Promise<void> {
    await this.#sql`update brands set name = ${data.name}, data = ${JSON.stringify(data)}, updated_at = now() where id = ${id}`;
  }

  async brand(id: string): Promise<BrandRecord | undefined> {
    const [row] = await this.#sql<(Omit<BrandRecord, "data"> & { data: string })[]>`
      select id, team_id as "teamId", name, data, updated_at as "updatedAt" from brands where id = ${id}`;
    return row ? { ...row, data: JSON.parse(row.data) } : undefined;
  }

  async brands(teamId: string | null | undefined): Promise<BrandRecord[]> {
    const rows = await this.#sql<(Omit<BrandRecord, "data"> & { data: string })[]>`
      select id, team_id as "teamId", name, data, updated_at as "updatedAt" from brands
      where ${teamId === undefined} or team_id is not distinct from ${teamId ?? null} order by name`;
    return rows.map((row) => ({ ...row, data: JSON.parse(row.data) }));
  }

  async createBrief(teamId: string | null, data: BriefInput): Promise<BriefRecord> {
    const id = newId("brief");
    await this.#sql`insert into briefs (id, team_id, brand_id, data) values (${id}, ${teamId}, ${data.brandId}, ${JSON.stringify(data)})`;
    return { id, teamId, brandId: data.brandId, data };
  }

  async brief(id: string): Promise<BriefRecord | undefined> {
    const [row] = await this.#sql<(Omit<BriefRecord, "data"> & { data: string })[]>`
      select id, team_id as "teamId", brand_id as "brandId", data from briefs where id = ${id}`;
    return row ? { ...row, data: JSON.parse(row.data) } : undefined;
  }

  async createEmail(input: { teamId: string | null; briefId: string; brandId: string; sessionId: string; provider: string | null }): Promise<string> {
    const id = newId("email");
    await this.#sql`
      insert into emails (id, team_id, brief_id, brand_id, session_id, status, provider, version, document)
      values (${id}, ${input.teamId}, ${input.briefId}, ${input.brandId}, ${input.sessionId}, 'generating', ${input.provider}, 0, ${JSON.stringify({ sections: [] })})`;
    return id;
  }

  /** A variant of `source`: a ready email (version 1) with `document`, on its own (forked) session. */
  async createVariant(source: EmailRecord, input: { sessionId: string; document: EmailDocument; note: string }): Promise<string> {
    const id = newId("email");
    await this.#sql.begin(async (tx) => {
      await tx`
        insert into emails (id, team_id, brief_id, brand_id, session_id, status, provider, version, document)
        values (${id}, ${source.teamId}, ${source.briefId}, ${source.brandId}, ${input.sessionId}, 'ready', ${source.provider}, 1, ${JSON.stringify(input.document)})`;
      await tx`insert into email_versions (email_id, version, document, note) values (${id}, 1, ${JSON.stringify(input.document)}, ${input.note})`;
    });
    return id;
  }

  /** The variants made from `rootId` (not the root itself), oldest first. */
  async variantsOf(rootId: string): Promise<EmailRecord[]> {
    const rows = await this.#sql.unsafe<(Omit<EmailRecord, "document"> & { document: string })[]>(
      `select ${EMAIL_COLUMNS} from emails where (document::jsonb -> 'meta' -> 'variantOf' ->> 'emailId') = $1 order by created_at, id limit 50`,
      [rootId],
    );
    return rows.map((row) => ({ ...row, document: JSON.parse(row.document) }));
  }

  async setRun(emailId: string, runId: string): Promise<void> {
    await this.#sql`update emails set run_id = ${runId} where id = ${emailId}`;
  }

  async email(id: string): Promise<EmailRecord | undefined> {
    const [row] = await this.#sql.unsafe<(Omit<EmailRecord, "document"> & { document: string })[]>(`select ${EMAIL_COLUMNS} from emails where id = $1`, [id]);
    if (row?.status === "generating" && row.runId && (await this.#settle([row.id])) > 0) return this.email(id);
    return row ? { ...row, document: JSON.parse(row.document) } : undefined;
  }

  async emails(teamId: string | null | undefined, limit = 100): Promise<EmailRecord[]> {
    const read = () =>
      this.#sql.unsafe<(Omit<EmailRecord, "document"> & { document: string })[]>(
        `select ${EMAIL_COLUMNS} from emails where $1::boolean or team_id is not distinct from $2 order by created_at desc limit $3`,
        [teamId === undefined, teamId ?? null, limit],
      );
    let rows = await read();
    const stuck = rows.filter((row) => row.status === "generating" && row.runId).map((row) => row.id);
    if (stuck.length > 0 && (await this.#settle(stuck)) > 0) rows = await read();
    return rows.map((row) => ({ ...row, document: JSON.parse(row.document) }));
  }

  /**
   * Marks as failed the emails still `generating` whose orchestrator run has ended. The orchestrator
   * settles its email itself before its run ends, so this only catches runs the agent never got to
   * execute: cancelled while queued, or failed by the runtime (e.g. a provider without its key).
   * Returns how many were settled.
   */
  async #settle(ids: string[]): Promise<number> {
    const rows = await this.#sql`
      update emails e set status = 'failed', updated_at = now(),
        error = case when r.status = 'cancelled' then 'Generation was stopped.' else coalesce(r.error, 'Generation ended without an email.') end
      from runs r
      where e.id = any(${ids}) and e.status = 'generating' and r.id = e.run_id and r.status in ('completed', 'cancelled', 'failed')
      returning e.id`;
    return rows.length;
  }

  /** The draft while generating: replaced in place (version stays 0) so the live view can show it. */
  async setDraft(id: string, document: EmailDocument): Promise<void> {
    await this.#sql`update emails set document = ${JSON.stringify(document)}, updated_at = now() where id = ${id} and status = 'generating'`;
  }

  /** Saves a new version (generation finished, an edit, a regenerated section, undo/redo). */
  async saveVersion(id: string, document: EmailDocument, note: string, status: EmailStatus = "ready"): Promise<number> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<{ version: number }[]>`
        update emails set version = version + 1, document = ${JSON.stringify(document)}, status = ${status}, error = null, updated_at = now()
        where id = ${id} returning version`;
      await tx`insert into email_versions (email_id, version, document, note) values (${id}, ${row!.version}, ${JSON.stringify(document)}, ${note})`;
      return row!.version;
    });
  }

  async fail(id: string, error: string): Promise<void> {
    await this.#sql`update emails set status = 'failed', error = ${error}, updated_at = now() where id = ${id}`;
  }

  async versions(id: string): Promise<Array<{ version: number; note: string | null; createdAt: Date }>> {
    return this.#sql`select version, note, created_at as "createdAt" from email_versions where email_id = ${id} order by version desc limit 200`;
  }

  async versionDocument(id: string, version: number): Promise<EmailDocument | undefined> {
    const [row] = await this.#sql<{ document: string }[]>`select document from email_versions where email_id = ${id} and version = ${version}`;
    return row ? JSON.parse(row.document) : undefined;
  }
}
