import type { FC, PropsWithChildren } from "hono/jsx";

export interface LayoutProps {
  title: string;
  /** The signed-in person, for the navigation; absent on setup/login pages. */
  user?: { name: string; teamName?: string };
  /** The session's CSRF token, for the logout form and htmx requests. */
  csrfToken?: string;
  /** Shown as a banner when no AI keys are configured. */
  offline?: boolean;
  scripts?: string[];
}

/** The page shell: no inline script or style (the CSP forbids both); htmx and our modules load from /static. */
export const Layout: FC<PropsWithChildren<LayoutProps>> = ({ title, user, csrfToken, offline, scripts = [], children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {csrfToken && <meta name="csrf-token" content={csrfToken} />}
      <title>{title} · Durable Studio</title>
      <link rel="stylesheet" href="/static/app.css" />
      {scripts.map((src) => (
        <script type="module" src={src}></script>
      ))}
    </head>
    <body>
      <header class="topbar">
        <a class="brand" href="/">Durable Studio</a>
        {user && (
          <nav>
            <a href="/emails">Emails</a>
            <a href="/brands">Brands</a>
            <a href="/sessions">Sessions</a>
            <a href="/team">Team</a>
            <a href="/settings/tokens">API tokens</a>
            <a href="/docs/api">API</a>
            <form method="post" action="/logout" class="inline">
              <input type="hidden" name="csrf" value={csrfToken ?? ""} />
              <button type="submit" class="link">Log out {user.name}</button>
            </form>
          </nav>
        )}
      </header>
      {offline && <p class="banner offline">Offline mode: no AI keys are set, so drafts are written by the offline provider.</p>}
      <main>{children}</main>
    </body>
  </html>
);

/** A form error, shown above the form. */
export const FormError: FC<{ message?: string }> = ({ message }) => (message ? <p class="error" role="alert">{message}</p> : null);
