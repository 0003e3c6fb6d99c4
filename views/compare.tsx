import type { FC } from "hono/jsx";
import { Layout } from "./layout";
import { Badge } from "./components";

/** One email of a family on the compare page. */
export interface CompareColumn {
  id: string;
  label: string;
  version: number;
  subject: string | null;
  preheader: string | null;
  differences: string[];
  checks: Array<{ id: string; level: "error" | "warning" | "info"; message: string }>;
}

const api = (id: string) => `/api/emails/${encodeURIComponent(id)}`;

/**
 * Variants side by side: each column shows one email at desktop and mobile width, its subject and
 * preview text, what differs from the first, and its checks (errors and warnings).
 */
export const ComparePage: FC<{ user: { name: string }; csrfToken: string; offline: boolean; columns: CompareColumn[] }> = ({ user, csrfToken, offline, columns }) => (
  <Layout title="Compare variants" user={user} csrfToken={csrfToken} offline={offline} active="emails" wide>
    <div class="compare-bar">
      <h1>Compare variants</h1>
      <p class="muted small">{columns.length} emails side by side, at desktop (600px) and mobile (375px) width.</p>
    </div>
    <div class="compare-grid" id="compare">
      {columns.map((col, i) => {
        const problems = col.checks.filter((c) => c.level !== "info");
        return (
          <section class="panel compare-column" aria-labelledby={`compare-${col.id}`} data-email-id={col.id}>
            <h2 id={`compare-${col.id}`}>
              {col.label} <span class="muted small">v{col.version}</span>
            </h2>
            <p class="compare-subject"><strong>{col.subject ?? "No subject"}</strong></p>
            {col.preheader && <p class="muted small compare-preheader">{col.preheader}</p>}
            <p><a href={`/emails/${encodeURIComponent(col.id)}`}>Open in the editor</a></p>
            <h3 class="small-heading">{i === 0 ? "The original" : "Differences from the original"}</h3>
            {i > 0 && (
              <ul class="compare-differences">
                {col.differences.length === 0 ? <li class="muted">Same content</li> : col.differences.map((d) => <li>{d}</li>)}
              </ul>
            )}
            <h3 class="small-heading">
              Checks <Badge tone={problems.some((c) => c.level === "error") ? "danger" : problems.length ? "warning" : "success"}>{problems.length === 0 ? "All clear" : `${problems.length} to look at`}</Badge>
            </h3>
            <ul class="checks compare-checks">
              {problems.map((c) => (
                <li class={`check ${c.level}`}>
                  <Badge tone={c.level === "error" ? "danger" : "warning"}>{c.level}</Badge> <span>{c.message}</span>
                </li>
              ))}
            </ul>
            <div class="compare-frames">
              <iframe sandbox="" class="compare-frame desktop" title={`${col.label} at desktop width`} src={`${api(col.id)}/html?v=${col.version}`} width="600" height="900"></iframe>
              <iframe sandbox="" class="compare-frame mobile" title={`${col.label} at mobile width`} src={`${api(col.id)}/html?v=${col.version}`} width="375" height="900"></iframe>
            </div>
          </section>
        );
      })}
    </div>
  </Layout>
);
