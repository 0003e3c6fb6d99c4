import { createHmac, timingSafeEqual } from "node:crypto";

/** Client tokens last this long; a client asks for a new one through its backend. */
export const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
const PREFIX = "dsct_";

/** What a client token allows: reading one session and sending control (cancel/interrupt/steer) and messages to it. */
export interface ClientTokenClaims {
  /** The one session this token is scoped to. */
  sessionId: string;
  /** The team that owns the session (null before accounts exist). */
  teamId: string | null;
  /** The client the token was issued for, used for `own` cancel scopes and presence. */
  clientId: string;
  /** Expiry, ms since the epoch. */
  expiresAtMs: number;
}

/**
 * Signs a client token: `dsct_<base64url claims>.<base64url HMAC-SHA256>` with SECRET_KEY.
 *
 * @example
 * const token = signClientToken(secret, { sessionId, teamId: null, clientId: "c1", expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS });
 */
export function signClientToken(secret: string, claims: ClientTokenClaims): string {
  const body = Buffer.from(JSON.stringify({ s: claims.sessionId, t: claims.teamId, c: claims.clientId, e: claims.expiresAtMs })).toString("base64url");
  return `${PREFIX}${body}.${mac(secret, body)}`;
}

/** Verifies a client token; expected failures are values. */
export function verifyClientToken(secret: string, token: string, nowMs = Date.now()): { ok: true; claims: ClientTokenClaims } | { ok: false; code: "malformed" | "bad_signature" | "expired" } {
  if (!token.startsWith(PREFIX)) return { ok: false, code: "malformed" };
  const [body, signature] = token.slice(PREFIX.length).split(".");
  if (!body || !signature) return { ok: false, code: "malformed" };
  const expected = Buffer.from(mac(secret, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, code: "bad_signature" };
  let raw: { s?: unknown; t?: unknown; c?: unknown; e?: unknown };
  try {
    raw = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return { ok: false, code: "malformed" };
  }
  if (typeof raw.s !== "string" || typeof raw.c !== "string" || typeof raw.e !== "number") return { ok: false, code: "malformed" };
  if (nowMs >= raw.e) return { ok: false, code: "expired" };
  return { ok: true, claims: { sessionId: raw.s, teamId: typeof raw.t === "string" ? raw.t : null, clientId: raw.c, expiresAtMs: raw.e } };
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", `client-token:${secret}`).update(body).digest("base64url");
}
