import { Hono, type Context } from "hono";
import { teamScope } from "../accounts/scope";
import { z } from "zod";
import type { Accounts } from "../accounts/service";
import { MIN_PASSWORD_LENGTH } from "../accounts/service";
import { AcceptInvitePage, LoginPage, SetupPage, TeamPage, TokensPage } from "../../views/accounts";
import { clearSessionCookie, setSessionCookie, SESSION_COOKIE, type WebVariables } from "./cookies";
import { getCookie } from "hono/cookie";

type Env = { Variables: WebVariables };

const credentials = {
  name: z.string().trim().min(1, "Enter your name.").max(100),
  email: z.string().trim().max(200).email("Enter a valid email address."),
  password: z.string().min(MIN_PASSWORD_LENGTH, `Passwords have at least ${MIN_PASSWORD_LENGTH} characters.`).max(200),
};
const setupForm = z.object({ teamName: z.string().trim().min(1, "Enter a team name.").max(100), ...credentials });
const inviteForm = z.object(credentials);

/** Renders a page as a full HTML document with a status. */
export function page(c: Context, element: unknown, status: 200 | 400 | 403 | 404 | 409 | 429 = 200) {
  return c.html("<!doctype html>" + String(element), status);
}

/** Form posts carry the session's CSRF token (on top of the Origin check every unsafe request gets). */
export function csrfOk(c: Context<Env>, form: Record<string, unknown>): boolean {
  const expected = c.get("csrfToken");
  return !!expected && form.csrf === expected;
}

function formValues(form: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(form).filter(([k, v]) => typeof v === "string" && k !== "password" && k !== "csrf")) as Record<string, string>;
}

/** Only local paths: never redirect a login to another site. */
function safeNext(next: unknown): string {
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

/** Setup, login/logout, invites, team and API-token pages: plain forms that work without JavaScript. */
export function accountPages(options: { accounts: Accounts; publicUrl: string | undefined; clientAddress: (c: Context) => string }) {
  const { accounts } = options;
  const app = new Hono<Env>();
  const origin = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  app.get("/setup", async (c) => {
    if (!(await accounts.needsSetup())) return c.redirect("/login");
    return page(c, <SetupPage />);
  });
  app.post("/setup", async (c) => {
    const form = await c.req.parseBody();
    const parsed = setupForm.safeParse(form);
    if (!parsed.success) return page(c, <SetupPage error={parsed.error.issues[0]!.message} values={formValues(form)} />, 400);
    const result = await accounts.setup(parsed.data);
    if (!result.ok) return page(c, <LoginPage error="This installation is already set up; log in instead." />, 409);
    const session = await accounts.createSession(result.user.id);
    setSessionCookie(c, session.sessionToken, session.expiresAt, options.publicUrl);
    return c.redirect("/");
  });

  app.get("/login", async (c) => {
    if (await accounts.needsSetup()) return c.redirect("/setup");
    return page(c, <LoginPage next={safeNext(c.req.query("next"))} />);
  });
  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const email = typeof form.email === "string" ? form.email : "";
    const password = typeof form.password === "string" ? form.password : "";
    const result = await accounts.login({ email, password, address: options.clientAddress(c) });
    if (!result.ok) {
      if (result.code === "rate_limited") {
        c.header("Retry-After", String(result.retryAfterSeconds));
        return page(c, <LoginPage email={email} error={`Too many attempts. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.`} />, 429);
      }
      return page(c, <LoginPage email={email} next={safeNext(form.next)} error="That email and password do not match." />, 400);
    }
    setSessionCookie(c, result.sessionToken, result.expiresAt, options.publicUrl);
    return c.redirect(safeNext(form.next));
  });

  app.post("/logout", async (c) => {
    const form = await c.req.parseBody();
    const token = getCookie(c, SESSION_COOKIE);
    if (token && csrfOk(c, form)) await accounts.logout(token);
    clearSessionCookie(c);
    return c.redirect("/login");
  });

  app.get("/invite/:token", async (c) => {
    const invite = await accounts.invite(c.req.param("token"));
    if (!invite) return page(c, <LoginPage error="This invite link is not valid any more (used or expired)." />, 404);
    return page(c, <AcceptInvitePage token={c.req.param("token")} teamName={invite.teamName} />);
  });
  app.post("/invite/:token", async (c) => {
    const token = c.req.param("token");
    const invite = await accounts.invite(token);
    if (!invite) return page(c, <LoginPage error="This invite link is not valid any more (used or expired)." />, 404);
    const form = await c.req.parseBody();
    const parsed = inviteForm.safeParse(form);
    if (!parsed.success) return page(c, <AcceptInvitePage token={token} teamName={invite.teamName} error={parsed.error.issues[0]!.message} values={formValues(form)} />, 400);
    const result = await accounts.acceptInvite(token, parsed.data);
    if (!result.ok) {
      const message = result.code === "email_taken" ? "An account with this email exists already; log in instead." : "This invite link is not valid any more.";
      return page(c, <AcceptInvitePage token={token} teamName={invite.teamName} error={message} values={formValues(form)} />, 409);
    }
    const session = await accounts.createSession(result.user.id);
    setSessionCookie(c, session.sessionToken, session.expiresAt, options.publicUrl);
    return c.redirect("/");
  });

  // Everything below needs a signed-in person.
  app.use("/team/*", requireUser);
  app.use("/team", requireUser);
  app.use("/settings/*", requireUser);

  app.get("/team", async (c) => {
    const user = c.get("user")!;
    const [team, members] = await Promise.all([accounts.team(user.teamId), accounts.members(user.teamId)]);
    return page(c, <TeamPage user={user} teamName={team?.name ?? ""} csrfToken={c.get("csrfToken")!} members={members} />);
  });
  app.post("/team/invites", async (c) => {
    const user = c.get("user")!;
    const form = await c.req.parseBody();
    if (!csrfOk(c, form)) return c.text("The form expired; reload the page and try again.", 403);
    if (user.role !== "owner") return c.text("Only owners can invite people.", 403);
    const role = form.role === "owner" ? "owner" : "member";
    const invite = await accounts.createInvite(user, role);
    const [team, members] = await Promise.all([accounts.team(user.teamId), accounts.members(user.teamId)]);
    return page(c, <TeamPage user={user} teamName={team?.name ?? ""} csrfToken={c.get("csrfToken")!} members={members} inviteUrl={`${origin(c)}/invite/${invite.token}`} />);
  });

  const tokensPage = async (c: Context<Env>, extra: { created?: { name: string; token: string }; error?: string } = {}, status: 200 | 400 | 403 = 200) => {
    const user = c.get("user")!;
    const tokens = (await accounts.apiTokens(teamScope(user.teamId))).map((t) => ({
      id: t.id,
      name: t.name,
      prefix: t.prefix,
      createdAt: new Date(t.createdAt).toISOString().slice(0, 16).replace("T", " "),
      lastUsedAt: t.lastUsedAt ? new Date(t.lastUsedAt).toISOString().slice(0, 16).replace("T", " ") : null,
      revokedAt: t.revokedAt ? new Date(t.revokedAt).toISOString() : null,
    }));
    return page(c, <TokensPage user={user} csrfToken={c.get("csrfToken")!} tokens={tokens} {...extra} />, status);
  };
  app.get("/settings/tokens", (c) => tokensPage(c));
  app.post("/settings/tokens", async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(c, form)) return tokensPage(c, { error: "The form expired; reload the page and try again." }, 403);
    const name = typeof form.name === "string" ? form.name.trim().slice(0, 100) : "";
    if (!name) return tokensPage(c, { error: "Give the token a name." }, 400);
    const created = await accounts.createApiToken(c.get("user")!, name);
    // Shown once: never cache this page.
    c.header("Cache-Control", "no-store");
    return tokensPage(c, { created: { name, token: created.token } });
  });
  app.post("/settings/tokens/:id/revoke", async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(c, form)) return tokensPage(c, { error: "The form expired; reload the page and try again." }, 403);
    await accounts.revokeApiToken(teamScope(c.get("user")!.teamId), c.req.param("id"));
    return c.redirect("/settings/tokens");
  });

  return app;
}

/** Pages behind login redirect to /login (or /setup on a fresh installation). */
export async function requireUser(c: Context<Env>, next: () => Promise<void>) {
  if (!c.get("user")) return c.redirect(`/login?next=${encodeURIComponent(new URL(c.req.url).pathname)}`);
  await next();
}
