import type { Sql } from "postgres";
import { z } from "zod";
import { ownerTeam, teamFilter, type TeamScope } from "../accounts/scope";
import { newId } from "../sessions/service";
import { assetUrl } from "../assets/store";
import { SECTION_TYPES, HEX_COLOR_PATTERN, type Brand, type FormulaStep } from "../email/document";

const hex = z.string().regex(HEX_COLOR_PATTERN, "a hex colour such as #1a2b3c");
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

export interface BrandRecord {
  id: string;
  teamId: string | null;
  name: string;
  data: BrandInput;
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

type BrandRow = Omit<BrandRecord, "data"> & { data: string };
const fromRow = (row: BrandRow): BrandRecord => ({ ...row, data: JSON.parse(row.data) });

/**
 * Brands, each read and written inside a team scope (`src/accounts/scope.ts`): the filter is in the
 * SQL, so another team's brand is simply not found.
 */
export class BrandStore {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /** A new brand of the scope's team. */
  async createBrand(scope: TeamScope, data: BrandInput): Promise<BrandRecord> {
    const id = newId("brand");
    const teamId = ownerTeam(scope);
    await this.#sql`insert into brands (id, team_id, name, data) values (${id}, ${teamId}, ${data.name}, ${JSON.stringify(data)})`;
    return { id, teamId, name: data.name, data, updatedAt: new Date() };
  }

  /** Replaces a brand's settings; false when there is no such brand in the scope. */
  async updateBrand(scope: TeamScope, id: string, data: BrandInput): Promise<boolean> {
    const rows = await this.#sql`update brands set name = ${data.name}, data = ${JSON.stringify(data)}, updated_at = now() where id = ${id} and ${teamFilter(this.#sql, scope)} returning id`;
    return rows.length > 0;
  }

  async brand(scope: TeamScope, id: string): Promise<BrandRecord | undefined> {
    const [row] = await this.#sql<BrandRow[]>`
      select id, team_id as "teamId", name, data, updated_at as "updatedAt" from brands where id = ${id} and ${teamFilter(this.#sql, scope)}`;
    return row ? fromRow(row) : undefined;
  }

  async brands(scope: TeamScope): Promise<BrandRecord[]> {
    const rows = await this.#sql<BrandRow[]>`
      select id, team_id as "teamId", name, data, updated_at as "updatedAt" from brands where ${teamFilter(this.#sql, scope)} order by name`;
    return rows.map(fromRow);
  }
}
