import type { FC } from "hono/jsx";
import { Csrf, FormError, Layout } from "./layout";
import { Badge, EmptyState, PageHeader, statusTone, when } from "./components";
import { PRODUCT_ROWS, MAX_REFERENCES, MIN_REFERENCES, type BriefFormValues } from "../src/web/brief-form";
import type { GenerationState, AgentKey } from "../src/web/session-log";

interface PageUser {
  name: string;
}

export const NewEmailPage: FC<{
  user: PageUser;
  csrfToken: string;
  offline: boolean;
  brands: Array<{ id: string; name: string; productImages: Array<{ id: string; url: string }> }>;
  values: BriefFormValues;
  error?: string;
}> = ({ user, csrfToken, offline, brands, values, error }) => (
  <Layout title="New email" user={user} csrfToken={csrfToken} offline={offline} active="emails" scripts={["/static/brief-form.js"]}>
    <PageHeader title="New email" subtitle="The brief: what this email should achieve and for whom. The brand supplies the look and the formula." />
    <FormError message={error} />
    {brands.length === 0 ? (
      <EmptyState title="You need a brand first">
        <p>Emails are written in a brand's colours, voice and formula.</p>
        <a class="button primary" href="/brands/new">Create a brand</a>
      </EmptyState>
    ) : (
      <form method="post" action="/emails" enctype="multipart/form-data" class="brief-form" id="brief-form">
        <Csrf token={csrfToken} />
        <div class="form-columns">
          <div class="form-main">
            <section class="panel">
              <h2>The campaign</h2>
              <label>
                Brand
                <select name="brandId" required>
                  {brands.map((b) => (
                    <option value={b.id} selected={b.id === values.brandId}>{b.name}</option>
                  ))}
                </select>
              </label>
              <label>Objective <textarea name="objective" required rows={2} maxlength={1000} placeholder="Launch the spring serum and get first orders at 20% off.">{values.objective}</textarea></label>
              <div class="two-up">
                <label>Audience <input name="audience" required maxlength={1000} value={values.audience} placeholder="Existing customers aged 25–45 who bought skincare" /></label>
                <label>Tone <input name="tone" required maxlength={1000} value={values.tone} placeholder="Warm, confident, light" /></label>
              </div>
              <label>Headline hook <input name="hook" required maxlength={200} value={values.hook} placeholder="Your skin's new morning ritual" /></label>
              <div class="two-up">
                <label>Occasion <span class="muted small">(optional)</span> <input name="occasion" maxlength={120} value={values.occasion} placeholder="Mother's Day, spring launch…" /></label>
                <label>Send date <span class="muted small">(optional)</span> <input name="sendDate" type="date" value={values.sendDate} /></label>
              </div>
            </section>

            <section class="panel">
              <h2>Offer <span class="muted small">(optional)</span></h2>
              <p class="muted small">Shown in the hero or headline and on the button.</p>
              <div class="two-up">
                <label>Offer <input name="offerText" maxlength={120} value={values.offerText} placeholder="20% off your first order" /></label>
                <label>Discount code <input name="offerCode" maxlength={40} pattern="[A-Za-z0-9][A-Za-z0-9_\-]*" value={values.offerCode} placeholder="GLOW20" /></label>
              </div>
            </section>

            <section class="panel">
              <h2>Products <span class="muted small">(optional)</span></h2>
              {Array.from({ length: PRODUCT_ROWS }, (_, i) => {
                const p = values.products[i] ?? { name: "", description: "", url: "", imageAssetId: "" };
                const known = brands.some((b) => b.productImages.some((img) => img.id === p.imageAssetId));
                return (
                  <fieldset class="product-row">
                    <legend>Product {i + 1}</legend>
                    <div class="three-up">
                      <label>Name <input name={`product.${i}.name`} maxlength={120} value={p.name} /></label>
                      <label>Link <input name={`product.${i}.url`} type="url" maxlength={2048} value={p.url} placeholder="https://" /></label>
                      <label>Description <input name={`product.${i}.description`} maxlength={3000} value={p.description} /></label>
                    </div>
                    <div class="two-up">
                      <label>
                        Photo from the brand
                        <select name={`product.${i}.imageAssetId`} class="product-image-pick">
                          <option value="">No photo</option>
                          {p.imageAssetId && !known && <option value={p.imageAssetId} selected>Uploaded photo</option>}
                          {brands.flatMap((b) =>
                            b.productImages.map((img, n) => (
                              <option value={img.id} data-brand={b.id} data-url={img.url} selected={img.id === p.imageAssetId}>{`${b.name} — product image ${n + 1}`}</option>
                            )),
                          )}
                        </select>
                      </label>
                      <label>Or upload a photo <input type="file" name={`product.${i}.imageFile`} accept="image/png,image/jpeg,image/gif,image/webp" /></label>
                    </div>
                  </fieldset>
                );
              })}
            </section>

            <section class="panel">
              <h2>Call to action</h2>
              <div class="two-up">
                <label>Button label <input name="ctaLabel" maxlength={80} value={values.ctaLabel} placeholder="Shop the serum" /></label>
                <label>Button link <input name="ctaUrl" type="url" maxlength={2048} value={values.ctaUrl} placeholder="https://example.com/serum" /></label>
              </div>
            </section>
          </div>

          <aside class="form-aside">
            <section class="panel">
              <h2>Reference emails</h2>
              <p class="muted">Drop 3–4 screenshots of emails whose layout and style you like. The writer learns from them; it never copies their text.</p>
              <div class="dropzone" id="dropzone" data-max={MAX_REFERENCES}>
                <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path d="M12 16V4m0 0-4 4m4-4 4 4M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" fill="none" stroke="#6366f1" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" /></svg>
                <p><strong>Drag screenshots here</strong> or</p>
                <label class="file-button">
                  <span>Choose files</span>
                  <input type="file" name="referenceFiles" id="reference-files" multiple accept="image/png,image/jpeg,image/gif,image/webp" data-kind="reference" data-target="reference-thumbs" data-field="referenceAssetIds" />
                </label>
              </div>
              <div class="thumbs references" id="reference-thumbs" aria-live="polite">
                {values.references.map((r) => (
                  <figure class="thumb" data-asset-id={r.id}>
                    <img src={r.url} alt="Reference screenshot" />
                    <input type="hidden" name="referenceAssetIds" value={r.id} />
                    <button type="button" class="thumb-remove" data-remove-thumb aria-label="Remove this screenshot">×</button>
                  </figure>
                ))}
              </div>
              <p class="muted small" id="reference-count">{values.references.length} of {MIN_REFERENCES}–{MAX_REFERENCES} added</p>
            </section>
            {offline && (
              <section class="panel">
                <h2>Offline writer</h2>
                <fieldset class="radios">
                  <legend>Pace</legend>
                  <label class="radio"><input type="radio" name="pace" value="fast" checked={values.pace !== "slow"} /> Fast</label>
                  <label class="radio"><input type="radio" name="pace" value="slow" checked={values.pace === "slow"} /> Slow — watch each section arrive</label>
                </fieldset>
              </section>
            )}
          </aside>
        </div>
        <div class="form-footer">
          <button type="submit" class="primary" id="generate">Generate email</button>
          <span class="muted small">Generation keeps going if you close the tab; come back any time.</span>
        </div>
      </form>
    )}
  </Layout>
);

// ---------------------------------------------------------------------------------------------
// The live generation view.

const AGENT_LABELS: Record<AgentKey, string> = { copy: "Copy", hero: "Hero image", assembly: "Assembly" };

export const GenerationPage: FC<{
  user: PageUser;
  csrfToken: string;
  offline: boolean;
  email: { id: string; sessionId: string; runId: string | null; status: string; hook: string; offlineDraft: boolean; error: string | null; briefId: string | null };
  state: GenerationState;
  offset: string;
}> = ({ user, csrfToken, offline, email, state, offset }) => {
  const failed = email.status === "failed";
  return (
    <Layout title={`Generating: ${email.hook}`} user={user} csrfToken={csrfToken} offline={offline} active="emails" wide scripts={["/static/generation.js"]}>
      <div class="generation" id="generation" data-email-id={email.id} data-session-id={email.sessionId} data-run-id={email.runId ?? ""} data-offset={offset} data-status={email.status}>
        <PageHeader title={email.hook} subtitle={failed ? "This generation did not finish." : "Your email is being written. You can close this tab: it keeps going, and this page catches up when you come back."}>
          {email.offlineDraft && <Badge tone="accent" id="offline-label">Offline draft</Badge>}
          <span class="connection" id="connection" data-state="idle" role="status">Connecting…</span>
          {!failed && email.runId && (
            <form method="post" action={`/emails/${encodeURIComponent(email.id)}/stop`} class="inline" id="stop-form">
              <Csrf token={csrfToken} />
              <button type="submit" class="danger" id="stop">Stop</button>
            </form>
          )}
        </PageHeader>
        {failed && (
          <div class="notice danger" role="alert">
            <p>{email.error ?? "The generation failed."}</p>
            {email.briefId && (
              <form method="post" action={`/emails/${encodeURIComponent(email.id)}/again`} class="inline">
                <Csrf token={csrfToken} />
                <button type="submit" class="primary">Generate again</button>
              </form>
            )}
          </div>
        )}
        <p class="notice success" id="ready-notice" hidden>The email is ready. Opening the editor…</p>
        <div class="generation-grid">
          <div class="generation-side">
            <section class="panel" aria-labelledby="agents-title">
              <h2 id="agents-title">Agents</h2>
              <ul class="agents" id="agents">
                {(Object.keys(AGENT_LABELS) as AgentKey[]).map((key) => {
                  const a = state.agents[key];
                  return (
                    <li class="agent" data-agent={key} data-status={a.status} data-run-id={a.runId}>
                      <div class="agent-head">
                        <strong>{AGENT_LABELS[key]}</strong>
                        <span class={`badge ${statusTone(a.status)}`} data-role="status">{a.status}</span>
                      </div>
                      <progress max={1} value={a.progress} aria-label={`${AGENT_LABELS[key]} progress`}></progress>
                      <span class="agent-label muted small" data-role="label">{a.error ?? a.label}</span>
                    </li>
                  );
                })}
              </ul>
            </section>
            <section class="panel" aria-labelledby="hero-title">
              <h2 id="hero-title">Hero image</h2>
              <div class="hero-slot" id="hero-slot">
                {state.approval ? <img src={state.approval.imageUrl} alt="The hero image waiting for your approval" id="hero-image" /> : state.heroUrl ? <img src={state.heroUrl} alt="The generated hero image" id="hero-image" /> : <p class="muted placeholder-box">The image appears here when it is drawn.</p>}
              </div>
              {state.approval && (
                <form method="post" action={`/emails/${encodeURIComponent(email.id)}/hero-approval`} class="stack" id="hero-approval" data-request-id={state.approval.requestId}>
                  <Csrf token={csrfToken} />
                  <input type="hidden" name="requestId" value={state.approval.requestId} />
                  <p role="status"><strong>{state.approval.prompt}</strong> The email is assembled once you approve.</p>
                  <label>
                    What should change? <span class="muted small">(optional, for a new drawing)</span>
                    <textarea name="note" rows={2} maxlength={2000}></textarea>
                  </label>
                  <div class="row">
                    <button type="submit" name="answer" value="approve" class="primary" id="hero-approve">Approve</button>
                    <button type="submit" name="answer" value="redraw" id="hero-redraw">Draw it again</button>
                    {state.approval.productPhotoUrl && <button type="submit" name="answer" value="product-photo" id="hero-product-photo">Use the product photo</button>}
                  </div>
                </form>
              )}
            </section>
            <section class="panel" aria-labelledby="sections-title">
              <h2 id="sections-title">Sections written <span class="muted small" id="section-count">{state.sections.length}</span></h2>
              <ol class="written" id="written" aria-live="polite">
                {state.sections.map((s) => (
                  <li data-section-id={s.id}><Badge>{s.type}</Badge> <span>{s.summary}</span></li>
                ))}
              </ol>
            </section>
          </div>
          <section class="panel preview-panel" aria-labelledby="preview-title">
            <h2 id="preview-title">Preview</h2>
            <div class="frame-holder" id="frame-holder">
              <iframe sandbox="" class="email-frame" title="Email preview, updating as sections are written" src={`/api/emails/${encodeURIComponent(email.id)}/html?draft=${state.sections.length}`}></iframe>
            </div>
            <noscript><p class="muted">Reload the page to see the latest sections.</p></noscript>
          </section>
        </div>
      </div>
    </Layout>
  );
};
