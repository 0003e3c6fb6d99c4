import { timingSafeEqual } from "node:crypto";
import { verifyClientToken, type ClientCapability } from "../sessions/tokens";
import type { Accounts, Role } from "./service";

/**
 * Who is calling. `teamId: undefined` (the bootstrap API_TOKEN) sees every team's data; people and
 * API tokens see their team's; a client token is scoped to one session.
 */
export type Principal =
  | { kind: "admin"; teamId: undefined; clientId: string }
  | { kind: "user"; teamId: string; userId: string; role: Role; clientId: string; /** The cookie session, so its sockets close at logout. */ sessionId?: string }
  | { kind: "token"; teamId: string; tokenId: string; clientId: string }
  | { kind: "client"; teamId: string | null; sessionId: string; clientId: string; tokenId: string; capabilities: readonly ClientCapability[]; expiresAtMs: number };

/** Resolves bearer tokens to principals: client tokens (`dsct_`), API tokens (`dsk_`), and the bootstrap API_TOKEN. */
export class Authenticator {
  #apiToken: Buffer | undefined;
  #secretKey: string;
  #accounts: Accounts | undefined;

  constructor(options: { apiToken: string | undefined; secretKey: string; accounts?: Accounts }) {
    this.#apiToken = options.apiToken ? Buffer.from(options.apiToken) : undefined;
    this.#secretKey = options.secretKey;
    this.#accounts = options.accounts;
  }

  get secretKey(): string {
    return this.#secretKey;
  }

  async authenticate(token: string | undefined | null): Promise<Principal | undefined> {
    if (!token) return undefined;
    if (token.startsWith("dsct_")) {
      const verified = verifyClientToken(this.#secretKey, token);
      if (!verified.ok) return undefined;
      const { claims } = verified;
      if (this.#accounts && (await this.#accounts.clientTokenRevoked(claims.tokenId))) return undefined;
      return { kind: "client", teamId: claims.teamId, sessionId: claims.sessionId, clientId: claims.clientId, tokenId: claims.tokenId, capabilities: claims.capabilities, expiresAtMs: claims.expiresAtMs };
    }
    if (token.startsWith("dsk_") && this.#accounts) {
      const found = await this.#accounts.tokenTeam(token);
      return found ? { kind: "token", teamId: found.teamId, tokenId: found.tokenId, clientId: found.tokenId } : undefined;
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

/**
 * True when `principal` may do `capability` in a session it can access: people, API tokens and the
 * bootstrap token may do everything; a client token what it was issued with (docs/security.md).
 */
export function can(principal: Principal, capability: ClientCapability): boolean {
  return principal.kind !== "client" || principal.capabilities.includes(capability);
}

/** True when `principal` may see `session` (owned by `teamId`). Another team's session looks like a missing one. */
export function canAccessSession(principal: Principal, session: { id: string; teamId: string | null }): boolean {
  if (principal.kind === "client") return principal.sessionId === session.id;
  if (principal.kind === "admin") return true;
  return principal.teamId === session.teamId;
}

/** True when `principal` may see a row owned by `teamId` (brands, assets, briefs, emails, streams). */
export function canAccessTeam(principal: Principal, teamId: string | null): boolean {
  if (principal.kind === "admin") return true;
  if (principal.kind === "client") return false;
  return principal.teamId === teamId;
}
