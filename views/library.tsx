import type { FC } from "hono/jsx";
import { Csrf, Layout } from "./layout";
import { Badge, EmptyState, PageHeader, statusTone, when } from "./components";

interface PageUser {
  name: string;
}

/** One email (or template) as the library lists it. */
export interface LibraryRow {
  id: string;
  /** The thumbnail's URL (a render of the email), null while it has no version yet. */
  thumbnail: string | null;
  name: string;
  subject: string | null;
  status: string;
  version: number;
  brandId: string;
  brandName: string;
  createdAt: Date;
  archived: boolean;
  offlineDraft: boolean;
}

export interface LibraryFilters {
  brandId: string;
  status: string;
  q: string;
}

/** What the last action did, shown above the list (an archive comes with its Undo). */
export interface LibraryNotice {
  kind: "duplicated" | "renamed" | "archived" | "unarchived" | "template" | "block-deleted" | "error";
  id?: string;
  name?: string;
  message?: string;
}

export interface LibraryPageProps {
  user: PageUser;
  csrfToken: string;
  offline: boolean;
  emails: LibraryRow[];
  templates: LibraryRow[];
  /** Saved blocks (of the chosen brand, else of every brand). */
  blocks: Array<{ id: string; name: string; type: string; brandName: string }>;
  brands: Array<{ id: string; name: string }>;
  filters: LibraryFilters;
  /** This list's URL (filters and page), where each action comes back to. */
  back: string;
  /** The link to the next (older) page, and whether this is a later page. */
  nextPage?: string;
  laterPage: boolean;
  notice?: LibraryNotice;
}

const STATUS_CHOICES: Array<[string, string]> = [
  ["", "Any status"],
  ["ready", "Ready"],
  ["generating", "Generating"],
  ["stopped", "Stopped (partial)"],
  ["failed", "Failed"],
  ["archived", "Archived"],
];

const path = (id: string) => `/emails/${encodeURIComponent(id)}`;

/** A small picture of the email: its HTML in a sandboxed frame, scaled down by CSS (no scripts, no clicks). */
const Thumbnail: FC<{ src: string | null; name: string }> = ({ src, name }) => (
  <div class="email-thumb" aria-hidden="true">
    {src ? <iframe sandbox="" loading="lazy" tabindex={-1} title={`Preview of ${name}`} src={src}></iframe> : <span class="email-thumb-empty">Writing…</span>}
  </div>
);

/** A one-button form that posts an action on one email and comes back to the list. */
const ActionButton: FC<{ id: string; action: string; label: string; back: string; csrfToken: string; tone?: string; ariaLabel: string }> = ({ id, action, label, back, csrfToken, tone, ariaLabel }) => (
  <form method="post" action={`${path(id)}/${action}`} class="inline">
    <Csrf token={csrfToken} />
    <input type="hidden" name="back" value={back} />
    <button type="submit" class={`small ${tone ?? ""}`.trim()} data-action={action} aria-label={ariaLabel}>{label}</button>
  </form>
);

const Notice: FC<{ notice: LibraryNotice; back: string; csrfToken: string }> = ({ notice, back, csrfToken }) => {
  if (notice.kind === "error") return <p class="error" role="alert" id="library-notice">{notice.message}</p>;
  const name = <strong>“{notice.name ?? "the email"}”</strong>;
  return (
    <div class="notice success library-notice" role="status" id="library-notice">
      {notice.kind === "duplicated" && <p>Duplicated as {name}. <a href={path(notice.id!)}>Open it</a></p>}
      {notice.kind === "renamed" && <p>Renamed to {name}.</p>}
      {notice.kind === "template" && <p>Saved {name} as a template. It is listed under Templates.</p>}
      {notice.kind === "unarchived" && <p>{name} is back in the library.</p>}
      {notice.kind === "block-deleted" && <p>Deleted the saved block {name}. Emails it was inserted into keep their copy.</p>}
      {notice.kind === "archived" && (
        <div class="library-undo">
          <span>Archived {name}.</span>{" "}
          <form method="post" action={`${path(notice.id!)}/unarchive`} class="inline">
            <Csrf token={csrfToken} />
            <input type="hidden" name="back" value={back} />
            <button type="submit" class="small" id="undo-archive">Undo</button>
          </form>
        </div>
      )}
    </div>
  );
};

/** The library: the team's emails with thumbnails, filters, pages and per-row actions, and its templates. */
export const LibraryPage: FC<LibraryPageProps> = ({ user, csrfToken, offline, emails, templates, blocks, brands, filters, back, nextPage, laterPage, notice }) => {
  const hasBrands = brands.length > 0;
  const filtered = filters.brandId !== "" || filters.status !== "" || filters.q !== "";
  const newEmail = filters.brandId ? `/emails/new?brand=${encodeURIComponent(filters.brandId)}` : "/emails/new";
  return (
    <Layout title="Emails" user={user} csrfToken={csrfToken} offline={offline} active="emails">
      <PageHeader title="Emails" subtitle="Every email starts from a brief or a template; duplicate, rename, archive and reuse them here.">
        {hasBrands ? <a class="button primary" href={newEmail} id="new-email">New email</a> : <a class="button primary" href="/brands/new">Create a brand</a>}
      </PageHeader>
      {notice && <Notice notice={notice} back={back} csrfToken={csrfToken} />}
      {!hasBrands ? (
        <EmptyState title="No emails yet">
          <p>First set up a brand: its colours, logo and the formula your emails follow. Then write a brief.</p>
          <a class="button primary" href="/brands/new">Create a brand</a> <a class="button" href="/brands/import" id="import-brand-empty">Import a brand from its website</a>
        </EmptyState>
      ) : (
        <>
          <form method="get" action="/emails" class="library-filters" id="library-filters" role="search" aria-label="Filter emails">
            <label>
              Brand
              <select name="brandId" id="filter-brand">
                <option value="">All brands</option>
                {brands.map((b) => <option value={b.id} selected={b.id === filters.brandId}>{b.name}</option>)}
              </select>
            </label>
            <label>
              Status
              <select name="status" id="filter-status">
                {STATUS_CHOICES.map(([value, label]) => <option value={value} selected={value === filters.status}>{label}</option>)}
              </select>
            </label>
            <label class="grow">
              Search
              <input type="search" name="q" id="filter-q" value={filters.q} maxlength={200} placeholder="Name or subject" />
            </label>
            <button type="submit">Filter</button>
            {filtered && <a class="button quiet" href="/emails">Clear</a>}
          </form>
          {emails.length === 0 ? (
            filtered || laterPage ? (
              <EmptyState title="No emails match">
                <p>Try another brand, status or search.</p>
                <a class="button" href="/emails">Show all emails</a>
              </EmptyState>
            ) : (
              <EmptyState title="No emails yet">
                <p>Write a brief — objective, audience, tone, a headline hook and a few reference emails — and watch the draft appear section by section.</p>
                <a class="button primary" href={newEmail}>Write your first brief</a>
              </EmptyState>
            )
          ) : (
            <div class="table-wrap">
              <table class="list library" id="email-list">
                <thead>
                  <tr><th scope="col">Email</th><th scope="col">Brand</th><th scope="col">Status</th><th scope="col">Version</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
                </thead>
                <tbody>
                  {emails.map((e) => (
                    <tr data-email-id={e.id}>
                      <td class="library-email">
                        <Thumbnail src={e.thumbnail} name={e.name} />
                        <div class="library-name">
                          <a href={path(e.id)} class="email-name">{e.name}</a>
                          {e.subject && e.subject !== e.name && <span class="muted small">{e.subject}</span>}
                          {e.offlineDraft && <span><Badge tone="accent">Offline draft</Badge></span>}
                        </div>
                      </td>
                      <td>{e.brandName}</td>
                      <td class="library-status">{e.archived ? <Badge tone="neutral">archived</Badge> : <Badge tone={statusTone(e.status)}>{e.status}</Badge>}</td>
                      <td>{e.version > 0 ? `v${e.version}` : "—"}</td>
                      <td class="muted">{when(e.createdAt)}</td>
                      <td>
                        <div class="library-actions">
                        {e.archived ? (
                          <ActionButton id={e.id} action="unarchive" label="Unarchive" back={back} csrfToken={csrfToken} ariaLabel={`Unarchive ${e.name}`} />
                        ) : (
                          <>
                            {e.status !== "generating" && e.status !== "failed" && <ActionButton id={e.id} action="duplicate" label="Duplicate" back={back} csrfToken={csrfToken} ariaLabel={`Duplicate ${e.name}`} />}
                            <details class="rename">
                              <summary class="button small" aria-label={`Rename ${e.name}`}>Rename</summary>
                              <form method="post" action={`${path(e.id)}/rename`} class="rename-form">
                                <Csrf token={csrfToken} />
                                <input type="hidden" name="back" value={back} />
                                <label>
                                  <span class="visually-hidden">New name</span>
                                  <input name="name" value={e.name} maxlength={120} required />
                                </label>
                                <button type="submit" class="small primary">Save</button>
                              </form>
                            </details>
                            {e.status !== "generating" && e.status !== "failed" && <ActionButton id={e.id} action="template" label="Save as template" back={back} csrfToken={csrfToken} ariaLabel={`Save as template: ${e.name}`} />}
                            <ActionButton id={e.id} action="archive" label="Archive" back={back} csrfToken={csrfToken} tone="quiet" ariaLabel={`Archive ${e.name}`} />
                          </>
                        )}
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {(nextPage || laterPage) && (
            <nav class="pager" aria-label="Pages">
              {laterPage && <a href={back.replace(/([?&])cursor=[^&]*&?/, "$1").replace(/[?&]$/, "")} class="button quiet">← Newest</a>}
              {nextPage && <a href={nextPage} class="button" id="next-page">Older emails →</a>}
            </nav>
          )}
          <section class="panel templates" aria-labelledby="templates-title" id="templates">
            <h2 id="templates-title">Templates</h2>
            {templates.length === 0 ? (
              <p class="muted">No templates yet. “Save as template” on an email keeps a copy here to start new emails from.</p>
            ) : (
              <ul class="template-grid">
                {templates.map((t) => (
                  <li class="template-card" data-template-id={t.id}>
                    <Thumbnail src={t.thumbnail} name={t.name} />
                    <a href={path(t.id)} class="template-name">{t.name}</a>
                    <span class="muted small">{t.brandName}</span>
                    <div class="template-actions">
                      <ActionButton id={t.id} action="use-template" label="New email from template" back={back} csrfToken={csrfToken} tone="primary" ariaLabel={`New email from template: ${t.name}`} />
                      <ActionButton id={t.id} action="archive" label="Delete" back={back} csrfToken={csrfToken} tone="quiet" ariaLabel={`Delete template: ${t.name}`} />
                    </div>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section class="panel saved-blocks" aria-labelledby="blocks-title" id="saved-blocks">
            <h2 id="blocks-title">Saved blocks</h2>
            {blocks.length === 0 ? (
              <p class="muted">No saved blocks yet. In the editor, ★ on a section saves it for reuse with its brand; insert it from Add section or the canvas palette.</p>
            ) : (
              <ul class="block-list">
                {blocks.map((b) => (
                  <li data-block-id={b.id}>
                    <span class="block-name">{b.name}</span> <Badge>{b.type}</Badge> <span class="muted small">{b.brandName}</span>
                    <form method="post" action="/emails/blocks/delete" class="inline">
                      <Csrf token={csrfToken} />
                      <input type="hidden" name="back" value={back} />
                      <input type="hidden" name="blockId" value={b.id} />
                      <button type="submit" class="small quiet" aria-label={`Delete saved block: ${b.name}`}>Delete</button>
                    </form>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </Layout>
  );
};
