import type { Context } from "hono";
import { ApiError } from "../infra/http";
import type { TeamScope } from "./scope";
import type { Principal } from "./principal";

/**
 * The team gate of the email studio's JSON routes (brands, assets, briefs, emails, imports): the
 * scope the `/api/*` middleware set from the caller, for people, API tokens and the operator token.
 * A client token is scoped to one session and may not use the studio (403).
 *
 * @example const brand = await brands.brand(studioScope(c), id); // another team's brand: undefined → 404
 */
export function studioScope(c: Context<{ Variables: { principal: Principal; scope: TeamScope } }>): TeamScope {
  const principal = c.get("principal");
  if (principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens are scoped to one session.");
  const scope = c.get("scope");
  if (!scope) throw new ApiError(401, "unauthorized", "Send Authorization: Bearer <API token>.");
  return scope;
}
