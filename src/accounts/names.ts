import type { Principal } from "./principal";
import { teamScope } from "./scope";
import type { Accounts } from "./service";

/**
 * What to call whoever a principal is, for an email's history and for presence: a person's name
 * (or email), `API token “<name>”`, `API (admin token)`, or a client token's client id.
 *
 * @example
 * const nameOf = principalNames(accounts);
 * await nameOf({ kind: "user", userId, teamId, … }) // "Ada Lovelace"
 */
export function principalNames(accounts: Pick<Accounts, "members" | "apiTokens">): (principal: Principal) => Promise<string> {
  return async (principal) => {
    switch (principal.kind) {
      case "user": {
        const user = (await accounts.members(principal.teamId)).find((u) => u.id === principal.userId);
        return user ? user.name || user.email : "A team member";
      }
      case "token": {
        const token = (await accounts.apiTokens(teamScope(principal.teamId))).find((t) => t.id === principal.tokenId);
        return token ? `API token “${token.name}”` : "An API token";
      }
      case "admin":
        return "API (admin token)";
      case "client":
        return `Client ${principal.clientId}`;
    }
  };
}
