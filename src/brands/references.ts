import type { Sql } from "postgres";
import { teamFilter, type TeamScope } from "../accounts/scope";

/** A brand keeps at most this many reference emails. */
export const MAX_REFERENCES_PER_BRAND = 200;
export const MAX_TAGS = 12;
export const MAX_TAG_CHARS = 40;

export interface ReferenceRecord {
  brandId: string;
  assetId: string;
  name: string | null;
  tags: string[];
  width: number | null;
  height: number | null;
  createdAt: Date;
}

/**
 * Tags as people type them ("Launch, black friday ,launch") → a clean, de-duplicated, lower-case list.
 *
 * @example normalizeTags("Launch, black friday ,launch") // ["launch", "black friday"]
 */
export function normalizeTags(input: string | string[] | undefined): string[] {
  const raw = Array.isArray(input) ? input : (input ?? "").split(",");
  const tags = raw.map((t) => t.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/\s+/g, " ").trim().slice(0, MAX_TAG_CHARS)).filter(Boolean);
  return [...new Set(tags)].slice(0, MAX_TAGS);
}

/** The per-brand library of reference emails: screenshots (assets of kind `reference`) with tags, read and written inside a team scope (the brand's team). */
export class ReferenceStore {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /**
   * Adds (or re-tags) a reference to a brand of the scope. `library_full` when the brand has its
   * maximum already, `brand_not_found` when the brand is not in the scope.
   */
  async put(scope: TeamScope, input: { brandId: string; assetId: string; name?: string | null; tags: string[] }): Promise<{ ok: true; record: ReferenceRecord } | { ok: false; code: "library_full" | "brand_not_found" }> {
    const [brand] = await this.#sql`select 1 from brands where id = ${input.brandId} and ${teamFilter(this.#sql, scope)}`;
    if (!brand) return { ok: false, code: "brand_not_found" };
    const [row] = await this.#sql<{ count: number }[]>`
      select count(*)::int as count from brand_references where brand_id = ${input.brandId} and asset_id <> ${input.assetId}`;
    if ((row?.count ?? 0) >= MAX_REFERENCES_PER_BRAND) return { ok: false, code: "library_full" };
    await this.#sql`
      insert into brand_references (brand_id, asset_id, name, tags) values (${input.brandId}, ${input.assetId}, ${input.name ?? null}, ${input.tags})
      on conflict (brand_id, asset_id) do update set tags = excluded.tags, name = coalesce(excluded.name, brand_references.name)`;
    return { ok: true, record: (await this.get(scope, input.brandId, input.assetId))! };
  }

  async get(scope: TeamScope, brandId: string, assetId: string): Promise<ReferenceRecord | undefined> {
    const [row] = await this.list(scope, brandId, undefined, assetId);
    return row;
  }

  /** The library, newest first, optionally only references carrying `tag`. */
  async list(scope: TeamScope, brandId: string, tag?: string, assetId?: string): Promise<ReferenceRecord[]> {
    return this.#sql<ReferenceRecord[]>`
      select r.brand_id as "brandId", r.asset_id as "assetId", coalesce(r.name, a.name) as name, r.tags, a.width, a.height, r.created_at as "createdAt"
      from brand_references r join assets a on a.id = r.asset_id join brands b on b.id = r.brand_id
      where r.brand_id = ${brandId} and ${teamFilter(this.#sql, scope, "b.team_id")}
        and (${tag === undefined} or ${tag ?? ""} = any(r.tags))
        and (${assetId === undefined} or r.asset_id = ${assetId ?? ""})
      order by r.created_at desc, r.asset_id
      limit ${MAX_REFERENCES_PER_BRAND}`;
  }

  async remove(scope: TeamScope, brandId: string, assetId: string): Promise<boolean> {
    const rows = await this.#sql`
      delete from brand_references r using brands b
      where r.brand_id = ${brandId} and r.asset_id = ${assetId} and b.id = r.brand_id and ${teamFilter(this.#sql, scope, "b.team_id")} returning 1`;
    return rows.length > 0;
  }
}
