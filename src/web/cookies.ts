import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie, deleteCookie } from "hono/cookie";
import { cookieSessionId, hashSecret, type Accounts, type User } from "../accounts/service";
import type { Principal } from "../accounts/principal";
import { scopeOf, type TeamScope } from "../accounts/scope";

export const SESSION_COOKIE = "ds_session";

export interface WebVariables {
  user: User | undefined;
  csrfToken: string | undefined;
  principal: Principal;
  /** The team scope every store call of a page or route takes; set with the principal, nowhere else. */
  scope: TeamScope;
}

/** Secure cookies behind TLS: the request is https itself, or PUBLIC_URL says so. */
export function isSecure(c: Context, publicUrl: string | undefined): boolean {
  return new URL(c.req.url).protocol === "https:" || (publicUrl?.startsWith("https://") ?? false);
}

/** Sets the session cookie: HttpOnly, SameSite=Lax, Secure behind TLS, expiring with the session. */
export function setSessionCookie(c: Context, token: string, expiresAt: Date, publicUrl: string | undefined) {
  setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: "Lax", secure: isSecure(c, publicUrl), path: "/", expires: expiresAt });
}

export function clearSessionCookie(c: Context) {
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
}

/** Loads the signed-in person (if any) from the session cookie. */
export function loadUser(accounts: Accounts): MiddlewareHandler<{ Variables: WebVariables }> {
  return async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE);
    const found = token ? await accounts.sessionUser(token) : undefined;
    c.set("user", found?.user);
    c.set("csrfToken", found?.csrfToken);
    if (found) {
      const principal: Principal = { kind: "user", teamId: found.user.teamId, userId: found.user.id, role: found.user.role, clientId: found.user.id };
      c.set("principal", principal);
      c.set("scope", scopeOf(principal));
    }
    await next();
  };
}

/** The principal of a request's session cookie, for the WebSocket upgrade. */
export async function cookiePrincipal(accounts: Accounts, request: Request): Promise<Principal | undefined> {
  const cookie = request.headers.get("cookie") ?? "";
  const match = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(cookie);
  if (!match) return undefined;
  const found = await accounts.sessionUser(decodeURIComponent(match[1]!));
  return found ? { kind: "user", teamId: found.user.teamId, userId: found.user.id, role: found.user.role, clientId: found.user.id, sessionId: cookieSessionId(hashSecret(decodeURIComponent(match[1]!))) } : undefined;
}
