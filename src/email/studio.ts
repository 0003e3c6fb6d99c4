import type { Sql } from "postgres";
import { z } from "zod";
import { newId } from "../sessions/service";
import { ownerTeam, teamFilter, type TeamScope } from "../accounts/scope";
import type { Brief, EmailDocument } from "./document";
import { assetUrl } from "../assets/store";

const httpUrl = z.string().max(2_048).refine((v) => /^https?:\/\//i.test(v), "an http(s) URL");
const assetId = z.string().regex(/^ast_[A-Za-z0-9_-]{1,40}$/, "an asset id from POST /api/assets");

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

/** What made a version: undo and redo move between history entries and are never listed as entries themselves. */
export const VERSION_KINDS = ["edit", "undo", "redo", "restore", "generated"] as const;
export type VersionKind = (typeof VERSION_KINDS)[number];

/** How many versions of one email are read for its history (undo reaches this far back). */
export const MAX_VERSIONS_READ = 1_000;

/** The record of a new version besides its document. */
export interface VersionNote {
  /** The history note: what changed, e.g. "Edited headline in Hero", "Restored version 3". */
  note: string;
  kind?: VersionKind;
  /** The history entry whose document it shows (undo/redo); itself when left out. */
  shows?: number;
  /** Who made it: a person's name, "AI", an API token's name. */
  author?: string;
  /** The tab that made it. */
  clientId?: string;
}

/** One stored version, as the history reads it. */
export interface VersionRecord {
  version: number;
  note: string | null;
  kind: VersionKind;
  shows: number;
  author: string | null;
  clientId: string | null;
  createdAt: Date;
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
  /** The marketer's name for it (null: named after its subject); see `displayName`. */
  name: string | null;
  /** When it was archived (hidden from the library); null = in the library. */
  archivedAt: Date | null;
  /** A template ("New email from template" copies it). */
  isTemplate: boolean;
}

/** What the library calls an email: its name, else its subject, else "Untitled email". */
export function displayName(email: Pick<EmailRecord, "name" | "document">): string {
  return email.name || email.document.subject || "Untitled email";
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

/** The columns of an `EmailRecord` (the table may be aliased `e`: every column is unqualified). */
export const EMAIL_COLUMNS = `id, team_id as "teamId", brief_id as "briefId", brand_id as "brandId", session_id as "sessionId", run_id as "runId",
  status, provider, version, document, error, created_at as "createdAt", updated_at as "updatedAt",
  name, archived_at as "archivedAt", is_template as "isTemplate"`;

export type EmailRow = Omit<EmailRecord, "document"> & { document: string };

/**
 * Briefs and emails (with every version of each email). Every method takes a team scope
 * (`src/accounts/scope.ts`) and filters by it in the SQL: another team's row is simply not found.
 * Brands live in `src/brands/store.ts`.
 */
export class StudioStore {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /** A new brief of the scope's team. */
  async createBrief(scope: TeamScope, data: BriefInput): Promise<BriefRecord> {
    const id = newId("brief");
    const teamId = ownerTeam(scope);
    await this.#sql`insert into briefs (id, team_id, brand_id, data) values (${id}, ${teamId}, ${data.brandId}, ${JSON.stringify(data)})`;
    return { id, teamId, brandId: data.brandId, data };
  }

  async brief(scope: TeamScope, id: string): Promise<BriefRecord | undefined> {
    const [row] = await this.#sql<(Omit<BriefRecord, "data"> & { data: string })[]>`
      select id, team_id as "teamId", brand_id as "brandId", data from briefs where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row ? { ...row, data: JSON.parse(row.data) } : undefined;
  }

  /** A new email of the scope's team (the brief's team), generating. */
  async createEmail(scope: TeamScope, input: { briefId: string; brandId: string; sessionId: string; provider: string | null }): Promise<string> {
    const id = newId("email");
    await this.#sql`
      insert into emails (id, team_id, brief_id, brand_id, session_id, status, provider, version, document)
      values (${id}, ${ownerTeam(scope)}, ${input.briefId}, ${input.brandId}, ${input.sessionId}, 'generating', ${input.provider}, 0, ${JSON.stringify({ sections: [] })})`;
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

  /** The variants made from `rootId` (not the root itself) inside `scope`, oldest first. */
  async variantsOf(scope: TeamScope, rootId: string): Promise<EmailRecord[]> {
    const rows = await this.#sql<EmailRow[]>`
      select ${this.#sql.unsafe(EMAIL_COLUMNS)} from emails
      where (document::jsonb -> 'meta' -> 'variantOf' ->> 'emailId') = ${rootId} and ${teamFilter(this.#sql, scope)}
      order by created_at, id limit 50`;
    return rows.map((row) => ({ ...row, document: JSON.parse(row.document) }));
  }

  async setRun(scope: TeamScope, emailId: string, runId: string): Promise<void> {
    await this.#sql`update emails set run_id = ${runId} where id = ${emailId} and ${teamFilter(this.#sql, scope)}`;
  }

  async email(scope: TeamScope, id: string): Promise<EmailRecord | undefined> {
    const [row] = await this.#sql<EmailRow[]>`select ${this.#sql.unsafe(EMAIL_COLUMNS)} from emails where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    if (row?.status === "generating" && row.runId && (await this.#settle([row.id])) > 0) return this.email(scope, id);
    return row ? { ...row, document: JSON.parse(row.document) } : undefined;
  }

  /** Of these emails, those whose generation was stopped part-way (what was written is version 1): listed as "stopped". */
  async stoppedEmails(scope: TeamScope, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.#sql<{ id: string }[]>`
      select e.id from emails e join email_versions v on v.email_id = e.id and v.version = 1
      where e.id = any(${ids as string[]}) and v.note = 'Stopped before the end' and ${teamFilter(this.#sql, scope, "e.team_id")}`;
    return new Set(rows.map((r) => r.id));
  }

  async emails(scope: TeamScope, limit = 100): Promise<EmailRecord[]> {
    const read = () => this.#sql<EmailRow[]>`
      select ${this.#sql.unsafe(EMAIL_COLUMNS)} from emails where ${teamFilter(this.#sql, scope)} order by created_at desc limit ${limit}`;
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
  settle(ids: string[]): Promise<number> {
    return this.#settle(ids);
  }

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
  async setDraft(scope: TeamScope, id: string, document: EmailDocument): Promise<void> {
    await this.#sql`update emails set document = ${JSON.stringify(document)}, updated_at = now() where id = ${id} and status = 'generating' and ${teamFilter(this.#sql, scope)}`;
  }

  /**
   * Stores a new version (generation finished, an edit, a regenerated section, an undo or redo).
   * `note` is the history note, or the whole record of the version: its kind, the history entry it
   * shows (undo and redo show an earlier entry; everything else shows itself), who made it and from
   * which tab. With `expectedVersion`, only when the email is still at that version (compare-and-set):
   * `undefined` when another write got there first, so nothing is overwritten.
   */
  async saveVersion(scope: TeamScope, id: string, document: EmailDocument, note: string | VersionNote, status?: EmailStatus): Promise<number>;
  async saveVersion(scope: TeamScope, id: string, document: EmailDocument, note: string | VersionNote, status: EmailStatus, expectedVersion: number): Promise<number | undefined>;
  async saveVersion(scope: TeamScope, id: string, document: EmailDocument, note: string | VersionNote, status: EmailStatus = "ready", expectedVersion?: number): Promise<number | undefined> {
    const meta: VersionNote = typeof note === "string" ? { note } : note;
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<{ version: number }[]>`
        update emails set version = version + 1, document = ${JSON.stringify(document)}, status = ${status}, error = null, updated_at = now()
        where id = ${id} and ${teamFilter(this.#sql, scope)} ${expectedVersion === undefined ? tx`` : tx`and version = ${expectedVersion}`} returning version`;
      if (!row && expectedVersion !== undefined) return undefined;
      if (!row) throw new Error(`No email ${id} in this team.`);
      await tx`
        insert into email_versions (email_id, version, document, note, kind, shows, author, client_id)
        values (${id}, ${row.version}, ${JSON.stringify(document)}, ${meta.note}, ${meta.kind ?? "edit"}, ${meta.shows ?? row.version}, ${meta.author ?? null}, ${meta.clientId ?? null})`;
      return row.version;
    });
  }

  async fail(scope: TeamScope, id: string, error: string): Promise<void> {
    await this.#sql`update emails set status = 'failed', error = ${error}, updated_at = now() where id = ${id} and ${teamFilter(this.#sql, scope)}`;
  }

  /** The email's versions, newest first (every row: the history entries and the undo/redo moves between them). */
  async versions(scope: TeamScope, id: string): Promise<VersionRecord[]> {
    const rows = await this.#sql<Array<Omit<VersionRecord, "shows"> & { shows: number | null }>>`
      select v.version, v.note, v.kind, v.shows, v.author, v.client_id as "clientId", v.created_at as "createdAt"
      from email_versions v join emails e on e.id = v.email_id
      where v.email_id = ${id} and ${teamFilter(this.#sql, scope, "e.team_id")} order by v.version desc limit ${MAX_VERSIONS_READ}`;
    return rows.map((r) => ({ ...r, kind: VERSION_KINDS.includes(r.kind) ? r.kind : "edit", shows: r.shows ?? r.version }));
  }

  async versionDocument(scope: TeamScope, id: string, version: number): Promise<EmailDocument | undefined> {
    const [row] = await this.#sql<{ document: string }[]>`
      select v.document from email_versions v join emails e on e.id = v.email_id
      where v.email_id = ${id} and v.version = ${version} and ${teamFilter(this.#sql, scope, "e.team_id")}`;
    return row ? JSON.parse(row.document) : undefined;
  }
}
