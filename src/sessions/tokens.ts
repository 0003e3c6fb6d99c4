import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Client tokens last this long at most (and by default); a client asks for a new one through its backend. */
export const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
const PREFIX = "dsct_";

/**
 * What a client token may do in its one session (docs/security.md):
 * - `read`: subscribe over `/ws`, read the session API's GET routes and the session's stream;
 * - `publish`: post user messages (`/ws` publish, `POST …/messages`);
 * - `control-own`: cancel, interrupt or steer the runs this client started (a bare cancel is scope `own`);
 * - `control-all`: control any run of the session (scope `all` included);
 * - `presence`: appear in the session's presence list while subscribed.
 */
export const CLIENT_CAPABILITIES = ["read", "publish", "control-own", "control-all", "presence"] as const;
export type ClientCapability = (typeof CLIENT_CAPABILITIES)[number];
/** Least privilege by default: read, publish user messages, control only the client's own runs, be seen. */
export const DEFAULT_CLIENT_CAPABILITIES: readonly ClientCapability[] = ["read", "publish", "control-own", "presence"];

/** What a client token carries, signed. */
export interface ClientTokenClaims {
  /** This token's id, for revoking it (`DELETE /api/sessions/:id/client-tokens/:tokenId`). */
  tokenId: string;
  /** The one session this token is scoped to. */
  sessionId: string;
  /** The team that owns the session (null before accounts exist). */
  teamId: string | null;
  /** The client the token was issued for, used for `own` runs, message ids and presence. */
  clientId: string;
  /** Expiry, ms since the epoch. */
  expiresAtMs: number;
  /** What it may do, in CLIENT_CAPABILITIES order. */
  capabilities: ClientCapability[];
}

/** Claims to sign: a new token id and the default capabilities unless given. */
export type ClientTokenRequest = Omit<ClientTokenClaims, "tokenId" | "capabilities"> & Partial<Pick<ClientTokenClaims, "tokenId" | "capabilities">>;

/**
 * Signs a client token: `dsct_<base64url claims>.<base64url HMAC-SHA256>` with SECRET_KEY.
 *
 * @example
 * const { token, claims } = issueClientToken(secret, { sessionId, teamId: null, clientId: "c1", expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS });
 * claims.tokenId;      // "ctk_…", to revoke it later
 * claims.capabilities; // ["read", "publish", "control-own", "presence"]
 */
export function issueClientToken(secret: string, request: ClientTokenRequest): { token: string; claims: ClientTokenClaims } {
  const claims: ClientTokenClaims = {
    ...request,
    tokenId: request.tokenId ?? `ctk_${randomBytes(12).toString("base64url")}`,
    capabilities: normaliseCapabilities(request.capabilities ?? DEFAULT_CLIENT_CAPABILITIES),
  };
  const body = Buffer.from(JSON.stringify({ i: claims.tokenId, s: claims.sessionId, t: claims.teamId, c: claims.clientId, e: claims.expiresAtMs, p: claims.capabilities })).toString("base64url");
  return { token: `${PREFIX}${body}.${mac(secret, body)}`, claims };
}

/** `issueClientToken`, returning only the token. */
export function signClientToken(secret: string, request: ClientTokenRequest): string {
  return issueClientToken(secret, request).token;
}

/** Verifies a client token; expected failures are values. */
export function verifyClientToken(secret: string, token: string, nowMs = Date.now()): { ok: true; claims: ClientTokenClaims } | { ok: false; code: "malformed" | "bad_signature" | "expired" } {
  if (!token.startsWith(PREFIX)) return { ok: false, code: "malformed" };
  const [body, signature] = token.slice(PREFIX.length).split(".");
  if (!body || !signature) return { ok: false, code: "malformed" };
  const expected = Buffer.from(mac(secret, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, code: "bad_signature" };
  let raw: { i?: unknown; s?: unknown; t?: unknown; c?: unknown; e?: unknown; p?: unknown };
  try {
    raw = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return { ok: false, code: "malformed" };
  }
  if (typeof raw.s !== "string" || typeof raw.c !== "string" || typeof raw.e !== "number") return { ok: false, code: "malformed" };
  if (raw.p !== undefined && (!Array.isArray(raw.p) || !raw.p.every(isCapability))) return { ok: false, code: "malformed" };
  if (nowMs >= raw.e) return { ok: false, code: "expired" };
  return {
    ok: true,
    claims: {
      // Tokens signed before ids existed are named by their signature (they can be revoked by it too).
      tokenId: typeof raw.i === "string" ? raw.i : `ctk_${signature.slice(0, 16)}`,
      sessionId: raw.s,
      teamId: typeof raw.t === "string" ? raw.t : null,
      clientId: raw.c,
      expiresAtMs: raw.e,
      capabilities: raw.p === undefined ? [...DEFAULT_CLIENT_CAPABILITIES] : normaliseCapabilities(raw.p as ClientCapability[]),
    },
  };
}

function isCapability(value: unknown): value is ClientCapability {
  return typeof value === "string" && (CLIENT_CAPABILITIES as readonly string[]).includes(value);
}

/** Capabilities without duplicates, in CLIENT_CAPABILITIES order. */
function normaliseCapabilities(capabilities: readonly ClientCapability[]): ClientCapability[] {
  return CLIENT_CAPABILITIES.filter((capability) => capabilities.includes(capability));
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", `client-token:${secret}`).update(body).digest("base64url");
}
