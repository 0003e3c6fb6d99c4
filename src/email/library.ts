import type { Sql } from "postgres";
import { newId, type SessionService } from "../sessions/service";
import { teamFilter, teamScope, type TeamScope } from "../accounts/scope";
import { validateSection, SECTION_TYPES, type EmailDocument, type Section, type SectionType } from "./document";
import { MAX_NAME_CHARS } from "./limits";
import { displayName, EMAIL_COLUMNS, type EmailRecord, type EmailRow, type StudioStore } from "./studio";

/**
 * The library of emails: the list with its filters and pages, names, archive, duplicates, templates
 * and saved blocks. Every method takes a team scope (or a record already read inside one) and keeps
 * to that team in its SQL, like `StudioStore`. Expected failures are values with codes
 * (`LIBRARY_FAILURE_STATUS` maps them to HTTP statuses).
 */

/** The statuses the list filters by: an email's own three, `stopped` (a ready email whose generation was stopped part-way) and `archived`. */
export const LIST_STATUSES = ["generating", "ready", "failed", "stopped", "archived"] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];
/** What an email is listed as: its status, with `stopped` for a partial generation. */
export type ListedStatus = "generating" | "ready" | "failed" | "stopped";

/** Page sizes of the list. */
export const DEFAULT_LIST_LIMIT = 24;
export const MAX_LIST_LIMIT = 100;
/** Saved blocks per brand listed (newest first). */
export const MAX_BLOCKS_LISTED = 200;
/** The note a stopped generation's version 1 carries (`generation.ts`). */
const STOPPED_NOTE = "Stopped before the end";

export interface ListQuery {
  kind: "email" | "template";
  brandId?: string;
  status?: ListStatus;
  /** Words searched in the name, the subject and the brief's hook (case-insensitive, literal). */
  q?: string;
  limit: number;
  /** From `nextCursor` of the page before. */
  cursor?: ListCursor;
}

/** Where a page ends: the last row's creation time (Postgres text, microseconds kept) and id. */
export interface ListCursor {
  at: string;
  id: string;
}

export interface ListedEmail extends EmailRecord {
  /** The name shown: its own, else the subject, else the brief's hook. */
  displayName: string;
  listedStatus: ListedStatus;
}

const CURSOR_AT = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d(?::?\d\d)?)$/;
const CURSOR_ID = /^[A-Za-z0-9_-]{1,100}$/;

/** The opaque `cursor` of a list page. */
export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.id])).toString("base64url");
}

/** A cursor from a client, or undefined when it is not one of ours. */
export function decodeCursor(text: string): ListCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [at, id] = value;
    if (typeof at !== "string" || typeof id !== "string" || !CURSOR_AT.test(at) || !CURSOR_ID.test(id)) return undefined;
    if (Number.isNaN(Date.parse(at.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")))) return undefined;
    return { at, id };
  } catch {
    return undefined;
  }
}

/** `LIKE` pattern for a literal search text. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;

export interface SavedBlock {
  id: string;
  teamId: string | null;
  brandId: string;
  name: string;
  type: SectionType;
  fields: Record<string, unknown>;
  createdAt: Date;
}

export type LibraryFailure = { ok: false; code: "email_not_ready" | "section_not_found" | "invalid_section"; message: string };

/** The HTTP status of each library failure. */
export const LIBRARY_FAILURE_STATUS = { email_not_ready: 409, section_not_found: 404, invalid_section: 400 } as const satisfies Record<LibraryFailure["code"], number>;

/** A name cut to the limit (a "Copy of …" of a long name stays valid). */
const fitName = (name: string) => [...name].slice(0, MAX_NAME_CHARS).join("").trim();

export class EmailLibrary {
  #sql: Sql;
  #studio: StudioStore;
  #sessions: SessionService;

  constructor(options: { sql: Sql; studio: StudioStore; sessions: SessionService }) {
    this.#sql = options.sql;
    this.#studio = options.studio;
    this.#sessions = options.sessions;
  }

  /**
   * One page of the team's emails (or templates), newest first, and the cursor of the next page
   * (`undefined` on the last). Archived emails are listed only with `status: "archived"`.
   */
  async list(scope: TeamScope, query: ListQuery): Promise<{ emails: ListedEmail[]; nextCursor: ListCursor | undefined }> {
    const sql = this.#sql;
    const stopped = sql`exists (select 1 from email_versions v where v.email_id = emails.id and v.version = 1 and v.note = ${STOPPED_NOTE})`;
    const hook = sql`(select b.data::jsonb ->> 'hook' from briefs b where b.id = emails.brief_id)`;
    const status = {
      generating: sql`status = 'generating'`,
      failed: sql`status = 'failed'`,
      ready: sql`status = 'ready' and not ${stopped}`,
      stopped: sql`status = 'ready' and ${stopped}`,
      archived: sql`true`,
    } as const;
    const read = () => sql<Array<EmailRow & { cursorAt: string; stopped: boolean; hook: string | null }>>`
      select ${sql.unsafe(EMAIL_COLUMNS)}, created_at::text as "cursorAt", ${stopped} as stopped, ${hook} as hook
      from emails
      where ${teamFilter(sql, scope)} and is_template = ${query.kind === "template"}
        and ${query.status === "archived" ? sql`archived_at is not null` : sql`archived_at is null`}
        ${query.status ? sql`and ${status[query.status]}` : sql``}
        ${query.brandId ? sql`and brand_id = ${query.brandId}` : sql``}
        ${query.q ? sql`and (name ilike ${likePattern(query.q)} or (document::jsonb ->> 'subject') ilike ${likePattern(query.q)} or (name is null and ${hook} ilike ${likePattern(query.q)}))` : sql``}
        ${query.cursor ? sql`and (created_at, id) < (${query.cursor.at}::timestamptz, ${query.cursor.id})` : sql``}
      order by created_at desc, id desc
      limit ${query.limit + 1}`;
    let rows = await read();
    const stuck = rows.filter((row) => row.status === "generating" && row.runId).map((row) => row.id);
    if (stuck.length > 0 && (await this.#studio.settle(stuck)) > 0) rows = await read();
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const emails = page.map(({ cursorAt: _at, stopped: wasStopped, hook: briefHook, ...row }) => {
      const email: EmailRecord = { ...row, document: JSON.parse(row.document) };
      const listedStatus: ListedStatus = email.status === "ready" && wasStopped ? "stopped" : email.status;
      return { ...email, displayName: email.name || email.document.subject || briefHook || "Untitled email", listedStatus };
    });
    return { emails, nextCursor: rows.length > query.limit && last ? { at: last.cursorAt, id: last.id } : undefined };
  }

  /** Names the email (`null`: named after its subject again). Not a version: the name is not part of the document. */
  async rename(email: EmailRecord, name: string | null): Promise<void> {
    await this.#sql`update emails set name = ${name} where id = ${email.id} and ${teamFilter(this.#sql, teamScope(email.teamId))}`;
  }

  /** Archives (hides from the library) or puts back; returns the archive time (null when put back). */
  async setArchived(email: EmailRecord, archived: boolean): Promise<Date | null> {
    const [row] = await this.#sql<{ archivedAt: Date | null }[]>`
      update emails set archived_at = ${archived ? this.#sql`coalesce(archived_at, now())` : null}
      where id = ${email.id} and ${teamFilter(this.#sql, teamScope(email.teamId))} returning archived_at as "archivedAt"`;
    return row?.archivedAt ?? null;
  }

  /**
   * A copy of a ready email as a new email (or template) of its team and brand: the same document
   * as a fresh version 1, its own session, the given name. Used by duplicate, "Save as template" and
   * "New email from template".
   */
  async copy(source: EmailRecord, input: { name: string; template: boolean; note: string; clientId?: string }): Promise<{ ok: true; id: string; sessionId: string } | LibraryFailure> {
    if (source.status !== "ready") return { ok: false, code: "email_not_ready", message: "The email is not ready yet; copy it when it has finished generating." };
    const { variantOf: _family, ...meta } = source.document.meta ?? {};
    const document: EmailDocument = { ...source.document, ...(Object.keys(meta).length > 0 ? { meta } : {}) };
    if (Object.keys(meta).length === 0) delete document.meta;
    const name = fitName(input.name) || "Untitled email";
    const session = await this.#sessions.create({ title: `${input.template ? "Template" : "Email"}: ${name}`.slice(0, 200), teamId: source.teamId });
    const id = newId("email");
    await this.#sql.begin(async (tx) => {
      await tx`
        insert into emails (id, team_id, brief_id, brand_id, session_id, status, provider, version, document, name, is_template)
        values (${id}, ${source.teamId}, ${source.briefId}, ${source.brandId}, ${session.id}, 'ready', ${source.provider}, 1, ${JSON.stringify(document)}, ${name}, ${input.template})`;
      // Version 1 of a copy starts its history, like a generated email's (nothing before it to undo).
      await tx`
        insert into email_versions (email_id, version, document, note, kind, shows, client_id)
        values (${id}, 1, ${JSON.stringify(document)}, ${input.note}, 'generated', 1, ${input.clientId ?? null})`;
    });
    await this.#sessions.append(session.id, { type: "artifact", runId: newId("copy"), kind: "email.version", ref: id, data: { version: 1, summary: input.note, ...(input.clientId ? { clientId: input.clientId } : {}) } });
    return { ok: true, id, sessionId: session.id };
  }

  /** Saves one section of `email` as a block of the email's brand. */
  async saveBlock(email: EmailRecord, sectionId: string, name: string | undefined): Promise<{ ok: true; block: SavedBlock } | LibraryFailure> {
    const section = email.document.sections.find((s) => s.id === sectionId);
    if (!section) return { ok: false, code: "section_not_found", message: `This email has no section ${sectionId}.` };
    const block: SavedBlock = {
      id: newId("blk"),
      teamId: email.teamId,
      brandId: email.brandId,
      name: fitName(name ?? "") || fitName(`${section.type[0]!.toUpperCase()}${section.type.slice(1).replace("-", " ")} from ${displayName(email)}`),
      type: section.type,
      fields: section.fields as Record<string, unknown>,
      createdAt: new Date(),
    };
    const [row] = await this.#sql<{ createdAt: Date }[]>`
      insert into saved_blocks (id, team_id, brand_id, name, section) values (${block.id}, ${block.teamId}, ${block.brandId}, ${block.name}, ${JSON.stringify({ type: block.type, fields: block.fields })})
      returning created_at as "createdAt"`;
    return { ok: true, block: { ...block, createdAt: row!.createdAt } };
  }

  /** The brand's saved blocks (every brand's, without `brandId`), newest first. */
  async blocks(scope: TeamScope, brandId?: string): Promise<SavedBlock[]> {
    const rows = await this.#sql<BlockRow[]>`
      select id, team_id as "teamId", brand_id as "brandId", name, section, created_at as "createdAt" from saved_blocks
      where ${brandId === undefined ? this.#sql`true` : this.#sql`brand_id = ${brandId}`} and ${teamFilter(this.#sql, scope)} order by created_at desc, id desc limit ${MAX_BLOCKS_LISTED}`;
    return rows.map(toBlock);
  }

  async block(scope: TeamScope, id: string): Promise<SavedBlock | undefined> {
    const [row] = await this.#sql<BlockRow[]>`
      select id, team_id as "teamId", brand_id as "brandId", name, section, created_at as "createdAt" from saved_blocks where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row ? toBlock(row) : undefined;
  }

  /** Deletes a brand's block; false when there is no such block of that brand in the scope. */
  async deleteBlock(scope: TeamScope, brandId: string, id: string): Promise<boolean> {
    const rows = await this.#sql`delete from saved_blocks where id = ${id} and brand_id = ${brandId} and ${teamFilter(this.#sql, scope)} returning id`;
    return rows.length > 0;
  }
}

type BlockRow = Omit<SavedBlock, "type" | "fields"> & { section: string };

function toBlock(row: BlockRow): SavedBlock {
  const { section, ...rest } = row;
  const parsed = JSON.parse(section) as { type: SectionType; fields: Record<string, unknown> };
  return { ...rest, type: parsed.type, fields: parsed.fields };
}

/** A saved block as a section with a given id, checked against its type's schema (a block saved under an older schema may no longer fit). */
export function blockSection(block: SavedBlock, id: string): { ok: true; section: Section } | LibraryFailure {
  if (!(SECTION_TYPES as readonly string[]).includes(block.type)) return { ok: false, code: "invalid_section", message: `The block's section type ${block.type} is unknown.` };
  const checked = validateSection({ id, type: block.type, fields: block.fields });
  if (!checked.ok) return { ok: false, code: "invalid_section", message: `The saved block no longer fits its section type: ${checked.message}` };
  return { ok: true, section: checked.value };
}
