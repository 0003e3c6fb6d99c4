import type { FC } from "hono/jsx";
import { Csrf, FormError, Layout } from "./layout";
import { EmptyState, PageHeader, Swatches } from "./components";
import { SECTION_TYPES } from "../src/email/document";
import { SECTION_FORMS, SECTION_GUIDANCE } from "../src/web/section-form";
import { FONT_SUGGESTIONS, type BrandFormValues, type PaletteReport } from "../src/brands/form";

interface PageUser {
  name: string;
}

export interface BrandCard {
  id: string;
  name: string;
  colors: { primary: string; secondary?: string; background?: string; text?: string };
  logoUrl?: string;
  formula: string[];
  voice?: string;
}

export const BrandsPage: FC<{ user: PageUser; csrfToken: string; offline: boolean; brands: BrandCard[] }> = ({ user, csrfToken, offline, brands }) => (
  <Layout title="Brands" user={user} csrfToken={csrfToken} offline={offline} active="brands">
    <PageHeader title="Brands" subtitle="Each brand is a design system: logo, colours, fonts, voice and the formula every email follows.">
      <a class="button" href="/brands/import" id="import-brand">Import from a website</a>
      <a class="button primary" href="/brands/new">New brand</a>
    </PageHeader>
    {brands.length === 0 ? (
      <EmptyState title="No brands yet">
        <p>Start with your brand: its colours, logo and the conversion formula your emails should follow. It takes two minutes.</p>
        <a class="button primary" href="/brands/new">Create your first brand</a>{" "}
        <a class="button" href="/brands/import">Import it from your website</a>
      </EmptyState>
    ) : (
      <ul class="card-grid" id="brand-list">
        {brands.map((b) => (
          <li class="card brand-card">
            <a class="card-link" href={`/brands/${encodeURIComponent(b.id)}`}>
              <div class="brand-card-head">
                {b.logoUrl ? <img class="logo-thumb" src={b.logoUrl} alt="" width={48} height={48} /> : <span class="logo-thumb placeholder" aria-hidden="true">{b.name.slice(0, 1).toUpperCase()}</span>}
                <h2 class="brand-name">{b.name}</h2>
              </div>
              <Swatches colors={[{ label: "Primary", value: b.colors.primary }, { label: "Secondary", value: b.colors.secondary }, { label: "Background", value: b.colors.background }, { label: "Text", value: b.colors.text }]} size={22} />
              <p class="formula-line muted">{b.formula.map((t) => SECTION_FORMS[t as keyof typeof SECTION_FORMS]?.label ?? t).join(" → ")}</p>
            </a>
            <a class="button small" href={`/emails/new?brand=${encodeURIComponent(b.id)}`}>New email</a>
          </li>
        ))}
      </ul>
    )}
  </Layout>
);

/** The live preview beside the brand form: a miniature email in the brand's colours and the contrast of each pair. */
export const PalettePreview: FC<{ report: PaletteReport }> = ({ report }) => {
  const t = report.theme;
  const failing = report.pairs.filter((p) => !p.ok);
  return (
    <div class="palette-preview" id="palette-preview-inner">
      <svg class="mini-email" viewBox="0 0 320 232" role="img" aria-label="A miniature email in these colours">
        <rect x="0.5" y="0.5" width="319" height="231" rx="10" fill={t.background} stroke="#d0d7de" />
        <rect x="12" y="12" width="296" height="64" rx="6" fill={t.buttonBackground} />
        <text x="160" y="50" text-anchor="middle" font-size="17" font-weight="700" font-family={t.headingFont} fill={t.buttonText}>Hero headline</text>
        <text x="24" y="108" font-size="18" font-weight="700" font-family={t.headingFont} fill={t.heading}>Your headline here</text>
        <text x="24" y="132" font-size="12" font-family={t.bodyFont} fill={t.text}>Body text reads like this, line after line,</text>
        <text x="24" y="150" font-size="12" font-family={t.bodyFont} fill={t.text}>so every reader can follow it easily.</text>
        <line x1="24" y1="166" x2="296" y2="166" stroke={t.secondary} stroke-width="2" />
        <rect x="100" y="180" width="120" height="36" rx="6" fill={t.buttonBackground} />
        <text x="160" y="203" text-anchor="middle" font-size="13" font-weight="700" font-family={t.headingFont} fill={t.buttonText}>Shop now</text>
      </svg>
      <ul class="contrast-list">
        {report.pairs.map((p) => (
          <li class={p.ok ? "ok" : "warn"}>
            <Swatches colors={[{ label: "Foreground", value: p.foreground }, { label: "Background", value: p.background }]} size={16} />
            <span class="pair-label">{p.label}</span>
            <span class="ratio">{p.ratio.toFixed(1)}:1</span>
            <span class={`badge ${p.ok ? "success" : "warning"}`}>{p.ok ? "Readable" : `Below ${p.minimum}:1`}</span>
          </li>
        ))}
      </ul>
      {report.primaryFallback && <p class="muted small">The primary colour is too close to the background for headings, so headings use the text colour.</p>}
      {failing.length > 0 ? (
        <p class="contrast-warning" role="status" id="contrast-warning">
          Low contrast: {failing.map((p) => p.label.toLowerCase()).join(", ")}. Some readers will struggle; WCAG AA asks for 4.5:1 for text (3:1 for large headings).
        </p>
      ) : (
        <p class="contrast-ok muted" role="status">All colour pairs meet WCAG AA.</p>
      )}
    </div>
  );
};

const ColorField: FC<{ name: string; label: string; value: string; hint: string }> = ({ name, label, value, hint }) => (
  <div class="color-field">
    <label for={`color-${name}`}>{label}</label>
    <div class="color-input">
      <input type="color" id={`color-${name}`} name={name} value={value} aria-describedby={`color-${name}-hint`} />
      <output for={`color-${name}`} class="hex" data-hex-for={`color-${name}`}>{value}</output>
    </div>
    <small id={`color-${name}-hint`} class="muted">{hint}</small>
  </div>
);

export const BrandFormPage: FC<{
  user: PageUser;
  csrfToken: string;
  offline: boolean;
  brandId?: string;
  values: BrandFormValues;
  report: PaletteReport;
  error?: string;
  saved?: boolean;
}> = ({ user, csrfToken, offline, brandId, values, report, error, saved }) => {
  const action = brandId ? `/brands/${encodeURIComponent(brandId)}` : "/brands";
  return (
    <Layout title={brandId ? values.name || "Brand" : "New brand"} user={user} csrfToken={csrfToken} offline={offline} active="brands" scripts={["/static/brand-form.js"]}>
      <PageHeader title={brandId ? `Brand: ${values.name}` : "New brand"} subtitle="Set it up once; every email from this brand uses it.">
        {brandId && <a class="button" href={`/emails/new?brand=${encodeURIComponent(brandId)}`}>New email with this brand</a>}
      </PageHeader>
      {saved && <p class="notice success" role="status">Saved.</p>}
      <FormError message={error} />
      <form method="post" action={action} enctype="multipart/form-data" class="brand-form" id="brand-form">
        {/* Enter in a text field submits the form with this button, not with the first formula button. */}
        <button type="submit" class="visually-hidden" tabindex={-1}>Save brand</button>
        <Csrf token={csrfToken} />
        <div class="form-columns">
          <div class="form-main">
            <section class="panel">
              <h2>Identity</h2>
              <label>Brand name <input name="name" required maxlength={120} value={values.name} autocomplete="organization" /></label>
              <div class="upload-field" data-upload="logo">
                <span class="label">Logo</span>
                <div class="upload-row">
                  <div class="thumbs" id="logo-preview">
                    {values.logo ? (
                      <figure class="thumb" data-asset-id={values.logo.id}>
                        <img src={values.logo.url} alt="Current logo" />
                        <input type="hidden" name="logoAssetId" value={values.logo.id} />
                        <button type="button" class="thumb-remove" data-remove-thumb aria-label="Remove the logo">×</button>
                      </figure>
                    ) : (
                      <p class="muted thumbs-empty">No logo yet.</p>
                    )}
                  </div>
                  <label class="file-button">
                    <span>Upload a logo</span>
                    <input type="file" name="logoFile" accept="image/png,image/jpeg,image/gif,image/webp" data-kind="logo" data-target="logo-preview" data-field="logoAssetId" />
                  </label>
                </div>
                <small class="muted">PNG or JPEG, ideally 2× the size it shows at (e.g. 400 × 120 px).</small>
              </div>
            </section>

            <section class="panel">
              <h2>Colours and type</h2>
              <fieldset id="look" class="look" hx-get="/brands/palette" hx-trigger="input delay:120ms, change" hx-target="#palette-preview" hx-swap="innerHTML">
                <legend class="visually-hidden">Colours and fonts</legend>
                <div class="color-grid">
                  <ColorField name="primary" label="Primary" value={values.colors.primary} hint="Buttons and the hero band." />
                  <ColorField name="secondary" label="Secondary" value={values.colors.secondary} hint="Accent lines and quotes." />
                  <ColorField name="background" label="Background" value={values.colors.background} hint="Behind everything." />
                  <ColorField name="text" label="Text" value={values.colors.text} hint="Body copy." />
                </div>
                <h3 class="small-heading">Dark mode</h3>
                <p class="muted small">Proposed from the colours above; change them if your brand has its own dark look.</p>
                <div class="color-grid" id="dark-colors">
                  <ColorField name="darkBackground" label="Dark background" value={values.darkColors.background} hint="Behind everything in dark mode." />
                  <ColorField name="darkText" label="Dark text" value={values.darkColors.text} hint="Body copy in dark mode." />
                  <ColorField name="darkHeading" label="Dark headings" value={values.darkColors.heading} hint="Headlines in dark mode." />
                </div>
                <div class="two-up">
                  <label>Heading font <input name="headingFont" list="font-suggestions" maxlength={60} value={values.fonts.heading} placeholder="Georgia" /></label>
                  <label>Body font <input name="bodyFont" list="font-suggestions" maxlength={60} value={values.fonts.body} placeholder="Helvetica" /></label>
                </div>
                <datalist id="font-suggestions">
                  {FONT_SUGGESTIONS.map((f) => (
                    <option value={f} />
                  ))}
                </datalist>
                <small class="muted">Most inboxes ignore web fonts, so each font gets a web-safe fallback of the same kind.</small>
              </fieldset>
            </section>

            <section class="panel">
              <h2>Voice</h2>
              <label>
                How the brand speaks
                <textarea name="voice" rows={3} maxlength={2000} placeholder="Warm, confident, a little playful. Short sentences. Never pushy.">{values.voice}</textarea>
              </label>
            </section>

            <section class="panel">
              <h2>Product images</h2>
              <div class="upload-field" data-upload="product">
                <div class="thumbs" id="product-previews">
                  {values.products.length === 0 && <p class="muted thumbs-empty">No product images yet.</p>}
                  {values.products.map((p) => (
                    <figure class="thumb" data-asset-id={p.id}>
                      <img src={p.url} alt="Product image" />
                      <input type="hidden" name="productImageAssetIds" value={p.id} />
                      <button type="button" class="thumb-remove" data-remove-thumb aria-label="Remove this product image">×</button>
                    </figure>
                  ))}
                </div>
                <label class="file-button">
                  <span>Add product images</span>
                  <input type="file" name="productFiles" multiple accept="image/png,image/jpeg,image/gif,image/webp" data-kind="product" data-target="product-previews" data-field="productImageAssetIds" />
                </label>
              </div>
            </section>

            <section class="panel">
              <h2>Conversion formula</h2>
              <p class="muted">The sections every email follows, top to bottom. Drag them, or use the arrows; the guidance tells the writer what each section should do.</p>
              <ol class="formula" id="formula">
                {values.formula.map((step, i) => (
                  <FormulaStep type={step.type} guidance={step.guidance} index={i} last={i === values.formula.length - 1} />
                ))}
              </ol>
              <div class="add-step">
                <label>
                  Add a section
                  <select name="addType" id="add-type">
                    {SECTION_TYPES.map((t) => (
                      <option value={t} data-label={SECTION_FORMS[t].label} data-guidance={SECTION_GUIDANCE[t]}>{SECTION_FORMS[t].label}</option>
                    ))}
                  </select>
                </label>
                <button type="submit" name="formulaAction" value="add" class="button" id="add-step">Add</button>
              </div>
              <template id="formula-step-template">
                <FormulaStep type="text" guidance="" index={0} last={true} />
              </template>
            </section>

            <section class="panel">
              <h2>Footer</h2>
              <label>Postal address <textarea name="footerAddress" rows={2} maxlength={500} placeholder="Company Ltd, 1 Main Street, Springfield">{values.footer.address}</textarea></label>
              <label>
                Unsubscribe link
                <input name="unsubscribeUrl" maxlength={2048} value={values.footer.unsubscribeUrl} placeholder="{{unsubscribe_url}}" aria-describedby="unsubscribe-hint" />
              </label>
              <small id="unsubscribe-hint" class="muted">An https:// link, or your ESP's merge tag such as {"{{unsubscribe_url}}"} or *|UNSUB|*.</small>
            </section>
          </div>

          <aside class="form-aside">
            <div class="panel sticky">
              <h2>Preview</h2>
              <div id="palette-preview" aria-live="polite">
                <PalettePreview report={report} />
              </div>
            </div>
          </aside>
        </div>
        <div class="form-footer">
          <button type="submit" class="primary" name="save" value="1">{brandId ? "Save brand" : "Create brand"}</button>
          <a class="button quiet" href="/brands">Cancel</a>
        </div>
      </form>
    </Layout>
  );
};

const FormulaStep: FC<{ type: (typeof SECTION_TYPES)[number]; guidance: string; index: number; last: boolean }> = ({ type, guidance, index, last }) => {
  const label = SECTION_FORMS[type].label;
  return (
    <li class="formula-step" data-type={type}>
      <span class="handle" aria-hidden="true">⠿</span>
      <div class="step-body">
        <span class="step-title">
          <span class="step-number" aria-hidden="true">{index + 1}</span>
          <strong class="step-type">{label}</strong>
        </span>
        <input type="hidden" name="formulaType" value={type} />
        <textarea name="formulaGuidance" rows={1} maxlength={1000} aria-label={`Guidance for the ${label} section`} placeholder={SECTION_GUIDANCE[type]}>{guidance}</textarea>
      </div>
      <div class="step-actions">
        <button type="submit" name="formulaAction" value={`up:${index}`} class="icon" data-move="up" aria-label={`Move ${label} up`} disabled={index === 0}>↑</button>
        <button type="submit" name="formulaAction" value={`down:${index}`} class="icon" data-move="down" aria-label={`Move ${label} down`} disabled={last}>↓</button>
        <button type="submit" name="formulaAction" value={`remove:${index}`} class="icon danger" data-remove aria-label={`Remove ${label}`}>×</button>
      </div>
    </li>
  );
};
