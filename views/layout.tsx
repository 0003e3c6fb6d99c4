import type { FC, PropsWithChildren } from "hono/jsx";

export interface LayoutProps {
  title: string;
  /** The signed-in person, for the navigation; absent on setup/login pages. */
  user?: { name: string; teamName?: string };
  /** The session's CSRF token, for the logout form and htmx requests. */
  csrfToken?: string;
  /** Shown as a banner when no AI keys are configured. */
  offline?: boolean;
  /** Page modules (ES modules under /static). */
  scripts?: string[];
  /** The navigation entry to mark as current. */
  active?: "emails" | "brands" | "sessions" | "team" | "tokens" | "api";
  /** Wide pages (the editor, the console) use the full width of the window. */
  wide?: boolean;
}

/** The marketer's pages, in the bar. */
const NAV: Array<[NonNullable<LayoutProps["active"]>, string, string]> = [
  ["emails", "/emails", "Emails"],
  ["brands", "/brands", "Brands"],
  ["team", "/team", "Team"],
];
/** The engineer's pages, grouped under "Developers". */
const DEVELOPER_NAV: Array<[NonNullable<LayoutProps["active"]>, string, string]> = [
  ["sessions", "/sessions", "Sessions"],
  ["tokens", "/settings/tokens", "API tokens"],
  ["api", "/docs/api", "API docs"],
];

/**
 * htmx 4 settings: no injected indicator stylesheet (the CSP allows only our own), and no swap of
 * server errors or refusals into the page (static/app.js shows them as a message instead).
 */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorCSS: false, noSwap: [204, 304, "5xx", "401", "403", "404", "409", "413", "415", "429"] });

/** The page shell: no inline script or style (the CSP forbids both); htmx and our modules load from /static. */
export const Layout: FC<PropsWithChildren<LayoutProps>> = ({ title, user, csrfToken, offline, scripts = [], active, wide, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {csrfToken && <meta name="csrf-token" content={csrfToken} />}
      <meta name="htmx-config" content={HTMX_CONFIG} />
      <title>{title} · Durable Studio</title>
      <link rel="stylesheet" href="/static/app.css" />
      <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
      <script src="/static/vendor/htmx.js" defer></script>
      <script type="module" src="/static/app.js"></script>
      {scripts.map((src) => (
        <script type="module" src={src}></script>
      ))}
    </head>
    <body hx-indicator:inherited="#loading-bar">
      <a class="skip-link" href="#main">Skip to content</a>
      <div id="loading-bar" class="loading-bar htmx-indicator" aria-hidden="true"></div>
      <header class="topbar">
        <a class="brand" href="/">
          <svg class="brand-mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <rect x="2" y="4" width="20" height="16" rx="3" fill="#4f46e5" />
            <path d="M3 6.5 12 13l9-6.5" fill="none" stroke="#ffffff" stroke-width="2" stroke-linejoin="round" />
          </svg>
          Durable Studio
        </a>
        {user && (
          <nav aria-label="Main">
            {NAV.map(([key, href, label]) => (
              <a href={href} aria-current={active === key ? "page" : undefined}>{label}</a>
            ))}
            <details class="menu developers" id="developers-menu">
              <summary class={DEVELOPER_NAV.some(([key]) => key === active) ? "current" : undefined}>Developers</summary>
              <div class="menu-items">
                {DEVELOPER_NAV.map(([key, href, label]) => (
                  <a href={href} aria-current={active === key ? "page" : undefined}>{label}</a>
                ))}
              </div>
            </details>
            <form method="post" action="/logout" class="inline logout">
              <input type="hidden" name="csrf" value={csrfToken ?? ""} />
              <button type="submit" class="link">Log out <span class="who" title={user.name}>{user.name}</span></button>
            </form>
          </nav>
        )}
      </header>
      {offline && (
        <p class="banner offline" role="status">
          Offline mode: no AI keys are set, so drafts are written by the built-in offline writer.
        </p>
      )}
      <main id="main" class={wide ? "wide" : undefined}>{children}</main>
      <div id="toasts" class="toasts" role="status" aria-live="polite"></div>
    </body>
  </html>
);

/** A form error, shown above the form. */
export const FormError: FC<{ message?: string }> = ({ message }) => (message ? <p class="error" role="alert">{message}</p> : null);

/** The CSRF field every form that changes something carries. */
export const Csrf: FC<{ token: string }> = ({ token }) => <input type="hidden" name="csrf" value={token} />;
