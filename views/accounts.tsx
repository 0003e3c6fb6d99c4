import type { FC } from "hono/jsx";
import { FormError, Layout } from "./layout";

export const SetupPage: FC<{ error?: string; values?: Record<string, string> }> = ({ error, values = {} }) => (
  <Layout title="Set up">
    <h1>Welcome to Durable Studio</h1>
    <p>Create your team and its first owner. This page works only until the first account exists.</p>
    <FormError message={error} />
    <form method="post" action="/setup" class="stack">
      <label>Team name <input name="teamName" required maxlength={100} value={values.teamName ?? ""} /></label>
      <label>Your name <input name="name" required maxlength={100} value={values.name ?? ""} /></label>
      <label>Email <input name="email" type="email" required maxlength={200} value={values.email ?? ""} /></label>
      <label>Password (at least 10 characters) <input name="password" type="password" required minlength={10} maxlength={200} /></label>
      <button type="submit" class="primary">Create team</button>
    </form>
  </Layout>
);

export const LoginPage: FC<{ error?: string; email?: string; next?: string }> = ({ error, email, next }) => (
  <Layout title="Log in">
    <h1>Log in</h1>
    <FormError message={error} />
    <form method="post" action="/login" class="stack">
      <input type="hidden" name="next" value={next ?? "/"} />
      <label>Email <input name="email" type="email" required maxlength={200} value={email ?? ""} autocomplete="username" /></label>
      <label>Password <input name="password" type="password" required maxlength={200} autocomplete="current-password" /></label>
      <button type="submit" class="primary">Log in</button>
    </form>
  </Layout>
);

export const AcceptInvitePage: FC<{ token: string; teamName: string; error?: string; values?: Record<string, string> }> = ({ token, teamName, error, values = {} }) => (
  <Layout title="Join team">
    <h1>Join {teamName}</h1>
    <FormError message={error} />
    <form method="post" action={`/invite/${encodeURIComponent(token)}`} class="stack">
      <label>Your name <input name="name" required maxlength={100} value={values.name ?? ""} /></label>
      <label>Email <input name="email" type="email" required maxlength={200} value={values.email ?? ""} /></label>
      <label>Password (at least 10 characters) <input name="password" type="password" required minlength={10} maxlength={200} /></label>
      <button type="submit" class="primary">Join</button>
    </form>
  </Layout>
);

export const TeamPage: FC<{
  user: { name: string; role: string };
  teamName: string;
  csrfToken: string;
  members: Array<{ name: string; email: string; role: string }>;
  inviteUrl?: string;
}> = ({ user, teamName, csrfToken, members, inviteUrl }) => (
  <Layout title="Team" user={user} csrfToken={csrfToken} active="team">
    <h1>{teamName}</h1>
    <table>
      <thead>
        <tr><th>Name</th><th>Email</th><th>Role</th></tr>
      </thead>
      <tbody>
        {members.map((m) => (
          <tr><td>{m.name}</td><td>{m.email}</td><td>{m.role}</td></tr>
        ))}
      </tbody>
    </table>
    {user.role === "owner" && (
      <section>
        <h2>Invite someone</h2>
        <p>No email is sent: copy the link to the person. It works once, for 7 days.</p>
        <form method="post" action="/team/invites" class="inline">
          <input type="hidden" name="csrf" value={csrfToken} />
          <select name="role"><option value="member">Member</option><option value="owner">Owner</option></select>
          <button type="submit">Create invite link</button>
        </form>
        {inviteUrl && <p class="secret">Invite link: <code id="invite-url">{inviteUrl}</code></p>}
      </section>
    )}
  </Layout>
);

export const TokensPage: FC<{
  user: { name: string };
  csrfToken: string;
  tokens: Array<{ id: string; name: string; prefix: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null }>;
  created?: { name: string; token: string };
  error?: string;
}> = ({ user, csrfToken, tokens, created, error }) => (
  <Layout title="API tokens" user={user} csrfToken={csrfToken} active="tokens">
    <h1>API tokens</h1>
    <p>Tokens let your backend call the JSON API, the WebSocket and the Durable Streams endpoint as your team. Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
    <FormError message={error} />
    {created && (
      <p class="secret">
        New token <strong>{created.name}</strong> — copy it now, it is shown only once: <code id="new-token">{created.token}</code>
      </p>
    )}
    <form method="post" action="/settings/tokens" class="inline">
      <input type="hidden" name="csrf" value={csrfToken} />
      <label>Name <input name="name" required maxlength={100} placeholder="backend" /></label>
      <button type="submit">Create token</button>
    </form>
    <table>
      <thead>
        <tr><th>Name</th><th>Token</th><th>Created</th><th>Last used</th><th></th></tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr class={t.revokedAt ? "revoked" : ""}>
            <td>{t.name}</td>
            <td><code>{t.prefix}…</code></td>
            <td>{t.createdAt}</td>
            <td>{t.lastUsedAt ?? "never"}</td>
            <td>
              {t.revokedAt ? (
                "revoked"
              ) : (
                <form method="post" action={`/settings/tokens/${encodeURIComponent(t.id)}/revoke`} class="inline">
                  <input type="hidden" name="csrf" value={csrfToken} />
                  <button type="submit" class="danger">Revoke</button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </Layout>
);
