import type { PendingQuery, Row, Sql } from "postgres";

/**
 * Which team's rows a store call may touch. Every store method that reads or writes team-owned rows
 * takes one, as a required value: there is no "missing scope means every team". A person, an API
 * token or a client token always gets their own team (`teamScope`); only operator paths (the
 * bootstrap API_TOKEN, background jobs that serve every team) pass `ALL_TEAMS`, by name.
 *
 * @example
 * const scope = scopeOf(c.get("principal"));
 * const sessions = await service.list(scope);            // SQL: where team_id is not distinct from $1
 * const any = await service.get(id, ALL_TEAMS);          // an operator path, visible in the code
 */
export type TeamScope =
  | { readonly kind: "team"; readonly teamId: string | null }
  | { readonly kind: "all" };

/** Every team: for operator paths only (the bootstrap API_TOKEN, jobs that serve all teams). */
export const ALL_TEAMS: TeamScope = Object.freeze({ kind: "all" });

/** One team's rows (`null`: rows that belong to no team, made before accounts existed). */
export function teamScope(teamId: string | null): TeamScope {
  return Object.freeze({ kind: "team", teamId });
}

/** The scope a principal may see: the bootstrap admin sees every team, everyone else their own. */
export function scopeOf(principal: { kind: string; teamId: string | null | undefined }): TeamScope {
  if (principal.kind === "admin") return ALL_TEAMS;
  return teamScope(principal.teamId ?? null);
}

/** True when a row owned by `teamId` is inside `scope` (for rows already read, e.g. from a cache). */
export function inScope(scope: TeamScope, teamId: string | null): boolean {
  return scope.kind === "all" || scope.teamId === teamId;
}

/**
 * The SQL condition for `scope` on `column` (default `team_id`), for postgres.js queries:
 * `sql\`select … from sessions where id = ${id} and ${teamFilter(sql, scope)}\``.
 */
export function teamFilter(sql: Sql, scope: TeamScope, column = "team_id"): PendingQuery<Row[]> {
  if (scope.kind === "all") return sql`true`;
  return sql`${sql(column)} is not distinct from ${scope.teamId}`;
}

/**
 * The team a new row made under `scope` belongs to: the scope's team, or no team (`null`) for the
 * operator's all-teams scope (rows the bootstrap API_TOKEN makes belong to no team, as before accounts).
 */
export function ownerTeam(scope: TeamScope): string | null {
  return scope.kind === "team" ? scope.teamId : null;
}
