import { timingSafeEqual } from "node:crypto";
import { verifyClientToken } from "../sessions/tokens";

/**
 * Who is calling. `teamId: undefined` (the bootstrap admin token) sees every team's data;
 * a client token is scoped to one session.
 */
export type Principal =
  | { kind: "admin"; teamId: undefined; clientId: string }
  | { kind: "client"; teamId: string | null; sessionId: string; clientId: string };

/** Resolves bearer tokens to principals. Accounts (teams, users, API tokens) extend this. */
export class Authenticator {
  #apiToken: Buffer | undefined;
  #secretKey: string;

  constructor(options: { apiToken: string | undefined; secretKey: string }) {
    this.#apiToken = options.apiToken ? Buffer.from(options.apiToken) : undefined;
    this.#secretKey = options.secretKey;
  }

  get secretKey(): string {
    return this.#secretKey;
  }

  async authenticate(token: string | undefined | null): Promise<Principal | undefined> {
    if (!token) return undefined;
    if (token.startsWith("dsct_")) {
      const verified = verifyClientToken(this.#secretKey, token);
      if (!verified.ok) return undefined;
      return { kind: "client", teamId: verified.claims.teamId, sessionId: verified.claims.sessionId, clientId: verified.claims.clientId };
    }
    const given = Buffer.from(token);
    if (this.#apiToken && given.length === this.#apiToken.length && timingSafeEqual(given, this.#apiToken)) {
      return { kind: "admin", teamId: undefined, clientId: "admin" };
    }
    return undefined;
  }

  /** The bearer token of a request (`Authorization: Bearer …`). */
  static bearer(request: Request): string | undefined {
    const header = request.headers.get("authorization");
    return header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
  }
}

/** True when `principal` may see `session` (owned by `teamId`). */
export function canAccessSession(principal: Principal, session: { id: string; teamId: string | null }): boolean {
  if (principal.kind === "client") return principal.sessionId === session.id;
  return true;
}
