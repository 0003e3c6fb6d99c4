import type { FC, PropsWithChildren } from "hono/jsx";
import { Layout } from "./layout";

/** A page title with actions on the right. */
export const PageHeader: FC<PropsWithChildren<{ title: string; subtitle?: string }>> = ({ title, subtitle, children }) => (
  <div class="page-header">
    <div>
      <h1>{title}</h1>
      {subtitle && <p class="muted">{subtitle}</p>}
    </div>
    {children && <div class="actions">{children}</div>}
  </div>
);

/** What to do when a list is empty. */
export const EmptyState: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <div class="empty-state">
    <svg viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
      <rect x="6" y="10" width="36" height="28" rx="5" fill="#eef2ff" stroke="#c7d2fe" stroke-width="2" />
      <path d="M8 14 24 26l16-12" fill="none" stroke="#818cf8" stroke-width="2" stroke-linejoin="round" />
    </svg>
    <h2>{title}</h2>
    {children}
  </div>
);

export type Tone = "neutral" | "info" | "success" | "warning" | "danger" | "accent";

export const Badge: FC<PropsWithChildren<{ tone?: Tone; id?: string }>> = ({ tone = "neutral", id, children }) => (
  <span class={`badge ${tone}`} id={id}>{children}</span>
);

/** Colour swatches as SVG: the CSP forbids style attributes, but SVG paints with presentation attributes. */
export const Swatches: FC<{ colors: Array<{ label: string; value: string | undefined }>; size?: number }> = ({ colors, size = 28 }) => {
  const shown = colors.filter((c): c is { label: string; value: string } => !!c.value);
  return (
    <svg class="swatches" viewBox={`0 0 ${shown.length * (size + 6)} ${size}`} width={shown.length * (size + 6)} height={size} role="img" aria-label={shown.map((c) => `${c.label} ${c.value}`).join(", ")}>
      {shown.map((c, i) => (
        <rect x={i * (size + 6)} y={0} width={size} height={size} rx={6} fill={c.value} stroke="#0000001f" stroke-width="1">
          <title>{`${c.label}: ${c.value}`}</title>
        </rect>
      ))}
    </svg>
  );
};

/** A status word with a matching colour. */
export function statusTone(status: string): Tone {
  if (status === "ready" || status === "completed" || status === "complete") return "success";
  if (status === "generating" || status === "running" || status === "queued" || status === "streaming") return "info";
  if (status === "failed") return "danger";
  if (status === "cancelled" || status === "interrupted" || status === "stopped") return "warning";
  return "neutral";
}

/** Dates as people read them, in UTC so server and browser agree. */
export function when(date: Date | string): string {
  return new Date(date).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}


/** A page that only says something (not found, gone, not allowed) and where to go next. */
export const MessagePage: FC<{ title: string; message: string; user?: { name: string }; csrfToken?: string; back?: { href: string; label: string } }> = ({ title, message, user, csrfToken, back }) => (
  <Layout title={title} user={user} csrfToken={csrfToken}>
    <div class="empty-state">
      <h1>{title}</h1>
      <p>{message}</p>
      {back && <a class="button primary" href={back.href}>{back.label}</a>}
    </div>
  </Layout>
);
