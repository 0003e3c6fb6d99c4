import type { FC } from "hono/jsx";
import { FormError, Layout } from "./layout";

/** What the import pages show of an import (gathered by the page handler). */
export interface ImportSummary {
  id: string;
  url: string;
  status: "running" | "ready" | "failed" | "cancelled" | "accepted";
  sessionId: string;
  createdAt: string;
  brandId: string | null;
  error: { code: string; message: string } | null;
}

export interface ProposalForReview {
  brand: {
    name: string;
    colors: { primary: string; secondary?: string; background?: string; text?: string };
    fonts?: { heading?: string; body?: string };
    footer?: { address: string };
  };
  logoUrl: string | null;
  logoSource: string | null;
  sources: Record<string, string>;
  palette: Array<{ hex: string; source: string }>;
  fonts: Array<{ family: string; source: string; stack: string }>;
  notes: string[];
  stacks: { heading: string; body: string };
}

interface PageUser {
  name: string;
}

const Styles = () => <link rel="stylesheet" href="/static/brand-import.css" />;

/** A colour sample drawn with SVG attributes: the page's CSP allows no inline styles. */
const Swatch: FC<{ hex: string; size?: number; field?: string }> = ({ hex, size = 28, field }) => (
  <svg class="swatch" width={size} height={size} viewBox="0 0 28 28" aria-hidden="true" data-swatch-for={field}>
    <rect x="0.5" y="0.5" width="27" height="27" rx="5" fill={hex} stroke="#00000033" />
  </svg>
);

/** `/brands/import`: the address form and recent imports. */
export const ImportStartPage: FC<{ user: PageUser; csrfToken: string; recent: ImportSummary[]; error?: string; url?: string }> = ({ user, csrfToken, recent, error, url }) => (
  <Layout title="Import a brand" user={user} csrfToken={csrfToken}>
    <Styles />
    <h1>Import a brand from a website</h1>
    <p>Give the address of the brand's website. Durable Studio reads its name, logo, colours, fonts and address and proposes a brand for you to review before saving.</p>
    <FormError message={error} />
    <form method="post" action="/brands/import" class="stack import-form">
      <input type="hidden" name="csrf" value={csrfToken} />
      <label>
        Website address
        <input name="url" type="text" inputmode="url" required maxlength={2048} placeholder="https://www.example.com" value={url ?? ""} autofocus />
      </label>
      <button type="submit">Import</button>
    </form>
    {recent.length > 0 && (
      <section>
        <h2>Recent imports</h2>
        <table>
          <thead>
            <tr><th>Website</th><th>Status</th><th>Started</th></tr>
          </thead>
          <tbody>
            {recent.map((r) => (
              <tr>
                <td><a href={`/brands/import/${r.id}`}>{r.url}</a></td>
                <td>{r.status}</td>
                <td>{r.createdAt.slice(0, 16).replace("T", " ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    )}
  </Layout>
);

const ColorField: FC<{ name: string; label: string; value?: string; required?: boolean; source?: string }> = ({ name, label, value, required, source }) => (
  <div class="color-field">
    <Swatch hex={value ?? "#ffffff"} field={name} />
    <label>
      {label}
      <input name={name} type="text" value={value ?? ""} required={required} pattern="#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})" placeholder={required ? "#1a2b3c" : "none"} data-color-input={name} />
    </label>
    {source && <small class="source">from {source}</small>}
  </div>
);

/**
 * An email-shaped preview in SVG (presentation attributes, so no inline styles): background, logo,
 * a headline in the heading font and colour, body text, and a button in the primary colour.
 * static/brand-import.js updates it as the fields change.
 */
const Preview: FC<{ proposal: ProposalForReview }> = ({ proposal }) => {
  const { colors } = proposal.brand;
  const background = colors.background ?? "#ffffff";
  const text = colors.text ?? "#1f2328";
  return (
    <svg class="email-preview" viewBox="0 0 360 300" role="img" aria-label="Preview of an email in this brand" id="brand-preview">
      <rect width="360" height="300" fill={background} data-preview="background" stroke="#00000022" />
      {proposal.logoUrl ? <image href={proposal.logoUrl} x="150" y="14" width="60" height="40" preserveAspectRatio="xMidYMid meet" data-preview="logo" /> : <text x="180" y="40" text-anchor="middle" font-size="14" fill={text} font-family={proposal.stacks.heading} data-preview="name">{proposal.brand.name}</text>}
      <rect x="20" y="66" width="320" height="70" rx="4" fill={colors.primary} data-preview="hero" />
      <text x="180" y="108" text-anchor="middle" font-size="18" font-weight="bold" fill="#ffffff" font-family={proposal.stacks.heading} data-preview="hero-text">New season, new ritual</text>
      <text x="180" y="172" text-anchor="middle" font-size="20" font-weight="bold" fill={colors.secondary ?? colors.primary} font-family={proposal.stacks.heading} data-preview="headline">Made for your mornings</text>
      <text x="180" y="198" text-anchor="middle" font-size="12" fill={text} font-family={proposal.stacks.body} data-preview="body">Small batches, honest ingredients, delivered to your door.</text>
      <rect x="125" y="218" width="110" height="34" rx="6" fill={colors.primary} data-preview="button" />
      <text x="180" y="240" text-anchor="middle" font-size="13" font-weight="bold" fill="#ffffff" font-family={proposal.stacks.body} data-preview="button-text">Shop now</text>
      <text x="180" y="282" text-anchor="middle" font-size="9" fill={text} font-family={proposal.stacks.body} data-preview="footer">{proposal.brand.footer?.address.split("\n")[0] ?? proposal.brand.name}</text>
    </svg>
  );
};

/** `/brands/import/:id`: live progress while the run works, then the proposal to review and save. */
export const ImportReviewPage: FC<{ user: PageUser; csrfToken: string; item: ImportSummary; proposal?: ProposalForReview; error?: string }> = ({ user, csrfToken, item, proposal, error }) => (
  <Layout title="Review imported brand" user={user} csrfToken={csrfToken} scripts={["/static/brand-import.js"]}>
    <Styles />
    <p><a href="/brands/import">← Imports</a></p>
    <h1>Brand from {item.url}</h1>
    <div id="brand-import" data-import-id={item.id} data-session-id={item.sessionId} data-status={item.status}>
      {item.status === "running" && (
        <section class="import-progress" aria-live="polite">
          <progress id="import-progress" max="1" value="0"></progress>
          <p id="import-label">Waiting for the import to start…</p>
          <ol id="import-steps" class="steps"></ol>
          <noscript><p>Reload this page to see whether the import has finished.</p></noscript>
        </section>
      )}
      {(item.status === "failed" || item.status === "cancelled") && (
        <section>
          <p class="error" role="alert">The import {item.status === "cancelled" ? "was stopped" : "failed"}: {item.error?.message ?? "unknown error"}</p>
          <form method="post" action="/brands/import" class="stack">
            <input type="hidden" name="csrf" value={csrfToken} />
            <input type="hidden" name="url" value={item.url} />
            <button type="submit">Try again</button>
          </form>
        </section>
      )}
      {item.status === "accepted" && (
        <p>This import was saved as a brand. <a href={`/brands/${item.brandId}`}>Open the brand</a>.</p>
      )}
      {item.status === "ready" && proposal && (
        <div class="review">
          <FormError message={error} />
          <form method="post" action={`/brands/import/${item.id}/accept`} class="stack review-form">
            <input type="hidden" name="csrf" value={csrfToken} />
            <label>
              Name <input name="name" required maxlength={120} value={proposal.brand.name} data-preview-input="name" />
              {proposal.sources.name && <small class="source">from {proposal.sources.name}</small>}
            </label>
            <fieldset>
              <legend>Logo</legend>
              {proposal.logoUrl ? (
                <div class="logo-choice">
                  <img src={proposal.logoUrl} alt="Proposed logo" class="logo-preview" />
                  <label class="inline"><input type="checkbox" name="useLogo" value="on" checked /> Use this logo</label>
                  {proposal.logoSource && <small class="source">from {proposal.logoSource}</small>}
                </div>
              ) : (
                <p>No usable logo was found (SVG and ICO files are not used in emails); add one on the brand page after saving.</p>
              )}
            </fieldset>
            <fieldset>
              <legend>Colours</legend>
              <ColorField name="primary" label="Primary" value={proposal.brand.colors.primary} required source={proposal.sources.primary} />
              <ColorField name="secondary" label="Secondary" value={proposal.brand.colors.secondary} source={proposal.sources.secondary} />
              <ColorField name="background" label="Background" value={proposal.brand.colors.background} source={proposal.sources.background} />
              <ColorField name="text" label="Text" value={proposal.brand.colors.text} source={proposal.sources.text} />
              {proposal.palette.length > 0 && (
                <div class="palette">
                  <p>Colours found on the site:</p>
                  <ul>
                    {proposal.palette.map((c) => (
                      <li title={c.source}>
                        <Swatch hex={c.hex} size={22} />
                        <code>{c.hex}</code> <small>{c.source}</small>
                      </li>
                    ))}
                  </ul>
                </div>
              )}
            </fieldset>
            <fieldset>
              <legend>Fonts</legend>
              <label>Headings <input name="headingFont" maxlength={60} value={proposal.brand.fonts?.heading ?? ""} data-preview-input="headingFont" list="found-fonts" /></label>
              <label>Body <input name="bodyFont" maxlength={60} value={proposal.brand.fonts?.body ?? ""} data-preview-input="bodyFont" list="found-fonts" /></label>
              <datalist id="found-fonts">
                {proposal.fonts.map((f) => <option value={f.family}>{f.source}</option>)}
              </datalist>
              <p class="hint">Emails fall back to web-safe fonts: headings <code>{proposal.stacks.heading}</code>, body <code>{proposal.stacks.body}</code>.</p>
            </fieldset>
            <label>
              Footer address
              <textarea name="address" rows={3} maxlength={500}>{proposal.brand.footer?.address ?? ""}</textarea>
              {proposal.sources.address && <small class="source">from {proposal.sources.address}</small>}
            </label>
            <button type="submit">Save brand</button>
          </form>
          <aside class="preview-pane">
            <h2>Preview</h2>
            <Preview proposal={proposal} />
            {proposal.notes.length > 0 && (
              <details>
                <summary>Notes from the import ({proposal.notes.length})</summary>
                <ul class="notes">{proposal.notes.map((n) => <li>{n}</li>)}</ul>
              </details>
            )}
          </aside>
        </div>
      )}
    </div>
  </Layout>
);
