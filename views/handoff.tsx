import type { FC } from "hono/jsx";
import { MERGE_TAGS, PLATFORMS, PLATFORM_LABELS } from "../src/email/merge-tags";
import { MAX_TEST_RECIPIENTS } from "../src/email/test-send";

/**
 * The editor's hand-off tools, self-contained so the editor page includes them with one line each:
 * "Send a test" and "Export for a platform" (`HandoffMenu`), and the merge-tag picker
 * (`MergeTagPicker`). Their behaviour is in static/handoff.js (event delegation on the document, so
 * htmx swaps of `#editor` need no re-binding); `hx-preserve` keeps a send's result on screen across edits.
 */

const api = (id: string) => `/api/emails/${encodeURIComponent(id)}`;

/** "Send a test" (the API explains when SMTP is not configured) and platform exports, for the editor's action bar. */
export const HandoffMenu: FC<{ emailId: string }> = ({ emailId }) => (
  <>
    <details class="menu handoff-menu" id="test-send-menu" hx-preserve>
      <summary class="button">Send a test</summary>
      <div class="menu-items handoff-panel">
        <form class="test-send-form" id="test-send-form" data-url={`${api(emailId)}/test-sends`} data-needs-js hidden>
          <label for="test-send-to">To (up to {MAX_TEST_RECIPIENTS} addresses, separated by commas)</label>
          <input type="text" id="test-send-to" name="to" autocomplete="email" required placeholder="me@example.com" />
          <button type="submit" class="primary" id="test-send-button">Send test</button>
          <div id="test-send-result" class="test-send-result" role="status" aria-live="polite"></div>
        </form>
      </div>
    </details>
    <details class="menu handoff-menu" id="platform-export-menu">
      <summary class="button">Export for…</summary>
      <div class="menu-items">
        {PLATFORMS.map((p) => (
          <a href={`${api(emailId)}/export?platform=${p}&format=zip`} download id={`export-${p}`}>
            {PLATFORM_LABELS[p]} (zip)
          </a>
        ))}
      </div>
    </details>
  </>
);

/** Buttons that insert a neutral merge tag into the field last focused in a section form. */
export const MergeTagPicker: FC = () => (
  <div class="merge-tag-picker" id="merge-tag-picker" role="group" aria-label="Insert a merge tag" data-needs-js hidden>
    <span class="muted small">Insert:</span>
    {MERGE_TAGS.map((t) => (
      <button type="button" class="chip merge-tag" data-tag={t.insert} title={t.insert}>
        {t.label}
      </button>
    ))}
  </div>
);

/**
 * Light/dark preview switch: a checkbox (not a radio pair, whose freshly swapped-in twin would
 * uncheck it), kept across swaps by `hx-preserve`, so the choice stays through every edit; pure CSS
 * (app.css) shows the light or the dark frame.
 */
export const SchemeSwitch: FC = () => (
  <div class="viewport-switch scheme-switch" id="scheme-switch" hx-preserve>
    <input type="checkbox" id="scheme-dark" name="scheme" value="dark" role="switch" class="visually-hidden" />
    <label for="scheme-dark" class="seg">Dark mode preview</label>
  </div>
);

/** The email as a dark-mode client shows it (loaded only once it is shown). */
export const DarkPreviewFrame: FC<{ emailId: string; version: number }> = ({ emailId, version }) => (
  <iframe sandbox="" loading="lazy" class="email-frame email-frame-dark" id="email-frame-dark" title="The rendered email in dark mode" src={`${api(emailId)}/html?scheme=dark&v=${version}`}></iframe>
);

/**
 * "Make a variant" (a plain form: works without JavaScript) and the way to the compare page.
 * Proposed subject lines come from the API (`POST /api/emails/:id/subject-variants`) as suggestions.
 */
export const VariantMenu: FC<{ emailId: string; csrfToken: string; subjectSuggestions: string[] }> = ({ emailId, csrfToken, subjectSuggestions }) => (
  <details class="menu handoff-menu" id="variant-menu">
    <summary class="button">Variants</summary>
    <div class="menu-items handoff-panel">
      <form method="post" action={`/emails/${encodeURIComponent(emailId)}/variants`} class="test-send-form" id="variant-form">
        <input type="hidden" name="csrf" value={csrfToken} />
        <label for="variant-subject">New subject line (optional)</label>
        <input type="text" id="variant-subject" name="subject" list="variant-subjects" maxlength={150} />
        <datalist id="variant-subjects">
          {subjectSuggestions.map((s) => (
            <option value={s} />
          ))}
        </datalist>
        <label for="variant-section">Rewrite a section (optional)</label>
        <select id="variant-section" name="section">
          <option value="">No section</option>
          <option value="hero">Another hero</option>
          <option value="cta">Another call to action</option>
          <option value="headline">Another headline</option>
        </select>
        <label for="variant-instruction">Instruction for that section</label>
        <input type="text" id="variant-instruction" name="instruction" maxlength={1000} placeholder="e.g. warmer, mention free shipping" />
        <button type="submit" class="primary" id="make-variant">Make a variant</button>
      </form>
      <a href={`/emails/${encodeURIComponent(emailId)}/compare`} id="compare-variants">Compare variants side by side</a>
    </div>
  </details>
);
