import type { FC } from "hono/jsx";
import { Csrf, Layout } from "./layout";
import { Badge, when, type Tone } from "./components";
import { SECTION_TYPES } from "../src/email/document";
import { SECTION_FORMS, type FieldSpec } from "../src/web/section-form";
import { DarkPreviewFrame, HandoffMenu, MergeTagPicker, SchemeSwitch, VariantMenu } from "./handoff";
import { subjectAlternatives } from "../src/email/variants";

export interface EditorSection {
  id: string;
  type: (typeof SECTION_TYPES)[number];
  label: string;
  summary: string;
  fields: Record<string, unknown>;
}

/** A refused stale edit: what the others did since, and each field now beside the marketer's value. */
export interface EditConflict {
  changes: Array<{ version: number; summary: string; author: string | null }>;
  conflicts: Array<{ label: string; current?: unknown; yours?: unknown }>;
}

export interface EditorData {
  email: { id: string; sessionId: string; version: number; subject: string | null; preheader: string | null; offlineDraft: boolean };
  brandName: string;
  sections: EditorSection[];
  /** The section open for editing (with the values and error of a rejected save). */
  editing?: { sectionId: string; error?: string; fields?: Record<string, unknown>; version?: number; conflict?: EditConflict };
  /** The history entries, newest first (undo and redo only move `showing`; they are not entries). */
  history: { entries: Array<{ version: number; note: string | null; kind: string; author: string | null; createdAt: Date; current: boolean; undone: boolean }>; showing: number; undo?: number; redo?: number };
  checks: Array<{ id: string; level: "error" | "warning" | "info"; message: string; sectionId?: string }>;
  /** The brand's saved blocks, offered where sections are added. */
  blocks?: Array<{ id: string; name: string; type: string }>;
  /** Section rewrites still running, streamed into the page by static/editor.js. */
  liveRuns: Array<{ runId: string; sectionId?: string; label: string }>;
  /** The session's tail when this was drawn: editor.js follows the session from here. */
  offset: string;
  notice?: string;
  error?: string;
  csrfToken: string;
}

const base = (id: string) => `/emails/${encodeURIComponent(id)}`;

/** The whole editor page: the parts that never change around the swappable `#editor`. */
export const EditorPage: FC<{ user: { name: string }; offline: boolean; data: EditorData }> = ({ user, offline, data }) => (
  <Layout title={data.email.subject ?? "Email"} user={user} csrfToken={data.csrfToken} offline={offline} active="emails" wide scripts={["/static/editor.js", "/static/canvas.js", "/static/handoff.js"]}>
    <Editor data={data} />
  </Layout>
);

/** Everything an edit can change; each htmx action swaps this whole element. */
export const Editor: FC<{ data: EditorData }> = ({ data }) => {
  const { email, csrfToken } = data;
  const errors = data.checks.filter((c) => c.level === "error").length;
  const warnings = data.checks.filter((c) => c.level === "warning").length;
  return (
    <div id="editor" class="editor" hx-target:inherited="#editor" hx-swap:inherited="outerHTML" data-email-id={email.id} data-session-id={email.sessionId} data-offset={data.offset} data-version={email.version}>
      <div class="editor-bar">
        <div class="editor-title">
          <h1>{email.subject ?? "Untitled email"}</h1>
          <p class="muted small">
            {data.brandName} · <span id="version-label">version {email.version}</span>
            {data.history.showing !== email.version && data.history.showing > 0 && <span class="muted" id="showing-label"> (showing v{data.history.showing})</span>}
            {email.preheader && <> · <span class="preheader">{email.preheader}</span></>}
          </p>
          {/* Filled by static/editor.js; kept across swaps (hx-preserve). */}
          <p class="editor-presence small" id="presence" hx-preserve aria-live="polite" hidden></p>
          <p class="live-status small" id="live-status" role="status" aria-live="polite" hx-preserve hidden></p>
        </div>
        <div class="editor-actions">
          {email.offlineDraft && <Badge tone="accent" id="offline-label">Offline draft</Badge>}
          <form method="post" action={`${base(email.id)}/undo`} hx-post={`${base(email.id)}/undo`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={email.version} />
            <button type="submit" id="undo" disabled={data.history.undo === undefined} title={data.history.undo ? `Back to version ${data.history.undo}` : "Nothing to undo"}>↶ Undo</button>
          </form>
          <form method="post" action={`${base(email.id)}/redo`} hx-post={`${base(email.id)}/redo`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={email.version} />
            <button type="submit" id="redo" disabled={data.history.redo === undefined} title={data.history.redo ? `Forward to version ${data.history.redo}` : "Nothing to redo"}>↷ Redo</button>
          </form>
          <details class="menu" id="export-menu">
            <summary class="button">Export</summary>
            <div class="menu-items">
              <a href={`/api/emails/${encodeURIComponent(email.id)}/html?download`} download id="export-html">HTML</a>
              <a href={`/api/emails/${encodeURIComponent(email.id)}/mjml?download`} download id="export-mjml">MJML</a>
              <a href={`/api/emails/${encodeURIComponent(email.id)}/txt?download`} download id="export-txt">Plain text</a>
              <a href={`/api/emails/${encodeURIComponent(email.id)}/export.zip`} download id="export-zip">Zip (HTML, MJML, text, images)</a>
            </div>
          </details>
          <HandoffMenu emailId={email.id} />
          <VariantMenu emailId={email.id} csrfToken={csrfToken} subjectSuggestions={subjectAlternatives(email.subject ?? "", 5)} />
          <button type="button" class="primary" id="copy-html" data-url={`/api/emails/${encodeURIComponent(email.id)}/html`} data-needs-js hidden>Copy HTML</button>
        </div>
      </div>
      {data.notice && <p class="notice success" role="status">{data.notice}</p>}
      {data.error && <p class="error" role="alert">{data.error}</p>}
      <div class="editor-grid">
        <section class="panel preview-panel" aria-label="Preview">
          {/* Kept across swaps (hx-preserve), so the chosen width survives every edit; pure CSS, no script. */}
          <div class="viewport-switch" id="viewport-switch" hx-preserve role="radiogroup" aria-label="Preview width">
            <input type="radio" name="viewport" id="vp-desktop" value="desktop" checked class="visually-hidden" />
            <label for="vp-desktop" class="seg">Desktop</label>
            <input type="radio" name="viewport" id="vp-mobile" value="mobile" class="visually-hidden" />
            <label for="vp-mobile" class="seg">Mobile</label>
          </div>
          <SchemeSwitch />
          <InboxRow emailId={email.id} brandName={data.brandName} subject={email.subject ?? ""} preheader={email.preheader ?? ""} csrfToken={csrfToken} version={email.version} />
          <CanvasTools blocks={data.blocks ?? []} />
          <div class="frame-holder">
            {/* The canvas: the same HTML with its texts marked (`edit=1`); same-origin so static/canvas.js can edit it in place, still no scripts inside.
                Its own `name`: on Back/Forward or a reload the browser puts an unnamed frame back at the URL the same place held before, which after a
                generation is the sandboxed live preview (canvas.js could not reach it); a named frame only takes back its own URL. */}
            <iframe sandbox="allow-same-origin" class="email-frame" id="email-frame" name={`email-canvas-v${email.version}`} title="The rendered email: click a text to edit it, a section to select it" src={`/api/emails/${encodeURIComponent(email.id)}/html?edit=1&v=${email.version}`}></iframe>
            <DarkPreviewFrame emailId={email.id} version={email.version} />
          </div>
        </section>
        <div class="editor-side">
          <section class="panel" aria-labelledby="sections-title">
            <h2 id="sections-title">Sections</h2>
            <p class="muted small">Click a section to edit it. Drag the handle or use the arrows to move it.</p>
            {data.liveRuns.filter((r) => !r.sectionId).map((r) => <LiveRun run={r} />)}
            <ol class="sections" id="sections">
              {data.sections.map((s, i) => (
                <SectionItem emailId={email.id} section={s} first={i === 0} last={i === data.sections.length - 1} csrfToken={csrfToken} version={email.version} editing={data.editing?.sectionId === s.id ? data.editing : undefined} live={data.liveRuns.find((r) => r.sectionId === s.id)} />
              ))}
            </ol>
            {data.sections.length === 0 && <p class="muted">This email has no sections. Add one below.</p>}
            <form method="post" action={`${base(email.id)}/sections`} hx-post={`${base(email.id)}/sections`} class="add-section">
              <Csrf token={csrfToken} />
            <BaseVersion version={email.version} />
              <label>
                <span class="visually-hidden">Section type</span>
                <select name="type" id="add-section-type">
                  {SECTION_TYPES.map((t) => (
                    <option value={t}>{SECTION_FORMS[t].label}</option>
                  ))}
                  {(data.blocks ?? []).length > 0 && (
                    <optgroup label="Saved blocks">
                      {data.blocks!.map((b) => <option value={`block:${b.id}`}>{b.name}</option>)}
                    </optgroup>
                  )}
                </select>
              </label>
              <button type="submit">Add section</button>
            </form>
          </section>
          <section class="panel" aria-labelledby="checks-title">
            <h2 id="checks-title">
              Checks{" "}
              {errors + warnings === 0 ? <Badge tone="success">All clear</Badge> : <><Badge tone={errors ? "danger" : "warning"}>{errors} errors, {warnings} warnings</Badge></>}
            </h2>
            <ul class="checks" id="checks">
              {data.checks.length === 0 && <li class="muted">No problems found.</li>}
              {data.checks.map((c) => (
                <li class={`check ${c.level}`}>
                  <Badge tone={({ error: "danger", warning: "warning", info: "info" } as Record<string, Tone>)[c.level]}>{c.level}</Badge>
                  <span>{c.message}</span>
                  {c.sectionId && <a href={`#section-${c.sectionId}`} class="small">Go to section</a>}
                </li>
              ))}
            </ul>
          </section>
          <section class="panel" aria-labelledby="history-title">
            <h2 id="history-title">Versions</h2>
            <ol class="versions" id="versions">
              {data.history.entries.map((v) => (
                <li class={v.current ? "current" : v.undone ? "undone" : undefined} data-version={v.version} aria-current={v.current ? "true" : undefined}>
                  <span class="version-number">v{v.version}</span>
                  <span class="version-note">{v.note ?? "Saved"}</span>
                  <span class="version-meta muted small">
                    <span class="version-author">{v.author ?? "Someone"}</span> · {when(v.createdAt)}
                    {v.undone && <> · <span class="version-undone">undone</span></>}
                  </span>
                  {v.current ? (
                    <Badge tone="success">current</Badge>
                  ) : (
                    <form method="post" action={`${base(email.id)}/versions/${v.version}/restore`} hx-post={`${base(email.id)}/versions/${v.version}/restore`} class="inline">
                      <Csrf token={csrfToken} />
                      <BaseVersion version={email.version} />
                      <button type="submit" class="small quiet" aria-label={`Restore version ${v.version}`}>Restore</button>
                    </form>
                  )}
                </li>
              ))}
            </ol>
          </section>
        </div>
      </div>
    </div>
  );
};

const LiveRun: FC<{ run: { runId: string; label: string } }> = ({ run }) => (
  <div class="live-run" data-run-id={run.runId} role="status">
    <span class="spinner" aria-hidden="true"></span>
    <span class="live-label">{run.label}</span>
    <pre class="live-text"></pre>
    <noscript><a href="">Refresh to see the result</a></noscript>
  </div>
);

/** One section in the list: its summary (click to edit), move/delete, and "regenerate with an instruction". */
export const SectionItem: FC<{
  emailId: string;
  section: EditorSection;
  first: boolean;
  last: boolean;
  csrfToken: string;
  /** The version the page shows: every form sends it, so an edit made on an older one is caught. */
  version: number;
  editing?: { error?: string; fields?: Record<string, unknown>; version?: number; conflict?: EditConflict };
  live?: { runId: string; label: string };
}> = ({ emailId, section, first, last, csrfToken, version, editing, live }) => {
  const url = `${base(emailId)}/sections/${encodeURIComponent(section.id)}`;
  if (editing) return <SectionEditForm emailId={emailId} section={section} csrfToken={csrfToken} version={editing.version ?? version} error={editing.error} conflict={editing.conflict} fields={editing.fields ?? section.fields} />;
  return (
    <li class="section-item" id={`section-${section.id}`} data-section-id={section.id}>
      <div class="section-head">
        <span class="drag-handle" aria-hidden="true" title="Drag to move">⠿</span>
        <a class="section-summary" href={`${base(emailId)}?edit=${encodeURIComponent(section.id)}#section-${section.id}`} hx-get={`${url}/edit`} hx-target="closest li" hx-swap="outerHTML">
          <span class="section-type"><span class="visually-hidden">Edit </span>{section.label}</span>
          <span class="section-text">{section.summary || "(empty)"}</span>
        </a>
        <div class="section-tools">
          <form method="post" action={`${url}/move`} hx-post={`${url}/move`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={version} />
            <input type="hidden" name="direction" value="up" />
            <button type="submit" class="icon" disabled={first} aria-label={`Move ${section.label} up`}>↑</button>
          </form>
          <form method="post" action={`${url}/move`} hx-post={`${url}/move`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={version} />
            <input type="hidden" name="direction" value="down" />
            <button type="submit" class="icon" disabled={last} aria-label={`Move ${section.label} down`}>↓</button>
          </form>
          <form method="post" action={`${url}/save-block`} hx-post={`${url}/save-block`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={version} />
            <button type="submit" class="icon" aria-label={`Save the ${section.label} section as a reusable block`} title="Save as a block">★</button>
          </form>
          <form method="post" action={`${url}/delete`} hx-post={`${url}/delete`} class="inline">
            <Csrf token={csrfToken} />
            <BaseVersion version={version} />
            <button type="submit" class="icon danger" aria-label={`Delete the ${section.label} section`}>×</button>
          </form>
        </div>
      </div>
      {live ? (
        <LiveRun run={live} />
      ) : (
        <details class="regen">
          <summary>Regenerate with an instruction</summary>
          <form method="post" action={`${url}/regenerate`} hx-post={`${url}/regenerate`} class="regen-form">
            <Csrf token={csrfToken} />
            <BaseVersion version={version} />
            <label class="visually-hidden" for={`regen-${section.id}`}>Instruction for the {section.label} section</label>
            <input id={`regen-${section.id}`} name="instruction" required maxlength={1000} placeholder="e.g. Shorter, and mention the 20% offer" />
            <button type="submit">Rewrite</button>
          </form>
        </details>
      )}
    </li>
  );
};

const Field: FC<{ id: string; name: string; spec: FieldSpec; value: unknown; autofocus?: boolean }> = ({ id, name, spec, value, autofocus }) => {
  const text = typeof value === "string" ? value : "";
  return (
    <label for={id}>
      {spec.label}
      {spec.kind === "long" ? (
        <textarea id={id} name={name} rows={3} autofocus={autofocus}>{text}</textarea>
      ) : (
        <input id={id} name={name} value={text} type={spec.kind === "url" ? "text" : "text"} inputmode={spec.kind === "url" ? "url" : undefined} autofocus={autofocus} />
      )}
      {spec.hint && <small class="muted">{spec.hint}</small>}
    </label>
  );
};

/** A section open for editing, in place of its list item. */
export const SectionEditForm: FC<{ emailId: string; section: EditorSection; csrfToken: string; version: number; error?: string; conflict?: EditConflict; fields: Record<string, unknown> }> = ({ emailId, section, csrfToken, version, error, conflict, fields }) => {
  const spec = SECTION_FORMS[section.type];
  const url = `${base(emailId)}/sections/${encodeURIComponent(section.id)}`;
  const rows = spec.list ? (Array.isArray(fields[spec.list.name]) ? (fields[spec.list.name] as Array<Record<string, unknown>>) : []) : [];
  const fid = (name: string) => `edit-${section.id}-${name.replace(/\./g, "-")}`;
  return (
    <li class="section-item editing" id={`section-${section.id}`} data-section-id={section.id}>
      <form method="post" action={url} hx-post={url} class="section-form">
        <h3>Edit: {spec.label}</h3>
        {error && <p class="error" role="alert">{error}</p>}
        {conflict && <ConflictBox conflict={conflict} />}
        <MergeTagPicker />
        <Csrf token={csrfToken} />
            <BaseVersion version={version} />
        {spec.fields.length === 0 && !spec.list && <p class="muted">This section has nothing to edit.</p>}
        {spec.fields.map((f, i) => (
          <Field id={fid(f.name)} name={`f.${f.name}`} spec={f} value={fields[f.name]} autofocus={i === 0} />
        ))}
        {spec.list && (
          <fieldset class="list-fields">
            <legend>{spec.list.label}</legend>
            {[...rows, {}].map((row, index) => (
              <div class="list-row">
                <span class="muted small">{index < rows.length ? `${spec.list!.itemLabel} ${index + 1}` : `Add a ${spec.list!.itemLabel.toLowerCase()}`}</span>
                {spec.list!.fields.map((f) => (
                  <Field id={fid(`${spec.list!.name}.${index}.${f.name}`)} name={`f.${spec.list!.name}.${index}.${f.name}`} spec={f} value={row[f.name]} />
                ))}
              </div>
            ))}
            <small class="muted">Clear every field of a row to remove it.</small>
          </fieldset>
        )}
        <div class="form-actions">
          <button type="submit" class="primary">{conflict ? "Re-apply mine" : "Save"}</button>
          <a class="button quiet" href={`${base(emailId)}#section-${section.id}`} hx-get={url} hx-target="closest li" hx-swap="outerHTML">{conflict ? "Discard mine" : "Cancel"}</a>
        </div>
      </form>
    </li>
  );
};

/** What a stale edit ran into: the others' versions since, and each field now beside the marketer's value. */
const ConflictBox: FC<{ conflict: EditConflict }> = ({ conflict }) => {
  const shown = (value: unknown) => (value === undefined || value === null || value === "" ? "(empty)" : typeof value === "string" ? value : Array.isArray(value) && value.every((v) => typeof v === "string") ? value.join(" → ") : JSON.stringify(value));
  return (
    <div class="conflict-box" id="conflict-box">
      {conflict.changes.length > 0 && (
        <>
          <p>Changed since you opened it:</p>
          <ul class="conflict-changes">
            {conflict.changes.map((c) => (
              <li>{c.summary}{c.author ? ` — ${c.author}` : ""}</li>
            ))}
          </ul>
        </>
      )}
      {conflict.conflicts.length > 0 && (
        <dl class="conflict-fields">
          {conflict.conflicts.map((c) => (
            <>
              <dt>{c.label}</dt>
              <dd class="conflict-current"><span class="muted">Now: </span><span class="conflict-value">{shown(c.current)}</span></dd>
              <dd class="conflict-yours"><span class="muted">Yours: </span><span class="conflict-value">{shown(c.yours)}</span></dd>
            </>
          ))}
        </dl>
      )}
    </div>
  );
};

/** The canvas's section toolbar and section palette, filled and shown by static/canvas.js. */
const CanvasTools: FC<{ blocks: Array<{ id: string; name: string }> }> = ({ blocks }) => (
  <>
    <p class="canvas-status muted small" id="canvas-status" role="status" aria-live="polite" hx-preserve></p>
    <div class="canvas-toolbar" id="canvas-toolbar" role="toolbar" aria-label="Selected section" hidden>
      <span class="canvas-selected" id="canvas-selected"></span>
      <button type="button" class="small" data-canvas-action="up" aria-label="Move the selected section up">↑ Up</button>
      <button type="button" class="small" data-canvas-action="down" aria-label="Move the selected section down">↓ Down</button>
      <button type="button" class="small" data-canvas-action="duplicate">Duplicate</button>
      <button type="button" class="small danger" data-canvas-action="delete">Delete</button>
      <button type="button" class="small" data-canvas-action="link" hidden>Link…</button>
      <button type="button" class="small" data-canvas-action="rewrite">Rewrite…</button>
    </div>
    <form class="canvas-popover" id="canvas-link" aria-label="The link's address" hidden>
      <label for="canvas-link-url">Link (https://… or a merge tag)</label>
      <input type="text" id="canvas-link-url" name="url" maxlength={2048} inputmode="url" autocomplete="off" />
      <button type="submit" class="small primary">Save link</button>
      <button type="button" class="small quiet" data-canvas-link-cancel>Cancel</button>
    </form>
    <form class="canvas-popover" id="canvas-rewrite" aria-label="Rewrite the selected section" hidden>
      <label for="canvas-rewrite-instruction">Rewrite it:</label>
      <input type="text" id="canvas-rewrite-instruction" name="instruction" maxlength={1000} list="canvas-rewrite-ideas" placeholder="shorter, punchier, use the offer…" autocomplete="off" />
      <datalist id="canvas-rewrite-ideas">
        {["shorter", "longer", "punchier", "more formal", "more casual", "use the offer"].map((idea) => <option value={idea} />)}
      </datalist>
      <button type="submit" class="small primary">Rewrite</button>
      <button type="button" class="small quiet" data-canvas-rewrite-cancel>Cancel</button>
    </form>
    <ImagePanel />
    <div class="canvas-palette" id="canvas-palette" role="menu" aria-label="Insert a section" hidden>
      <span class="muted small">Insert here:</span>
      {SECTION_TYPES.map((t) => (
        <button type="button" class="small" role="menuitem" data-canvas-insert={t}>{SECTION_FORMS[t].label}</button>
      ))}
      {blocks.map((b) => (
        <button type="button" class="small saved-block" role="menuitem" data-canvas-block={b.id} title="A saved block of this brand">★ {b.name}</button>
      ))}
      <button type="button" class="small quiet" data-canvas-insert="">Cancel</button>
    </div>
  </>
);

/** The shapes the image panel crops to (src/email/images.ts `CROP_ASPECTS`), as people call them. */
const CROP_CHOICES: Array<[string, string]> = [["original", "Whole image"], ["2:1", "Banner (2:1)"], ["16:9", "Wide (16:9)"], ["3:2", "Photo (3:2)"], ["4:3", "Classic (4:3)"], ["1:1", "Square (1:1)"], ["4:5", "Portrait (4:5)"]];

/**
 * The canvas's image panel (static/canvas.js fills and opens it): pick from the brand's library or
 * upload, describe the image, and choose the shape and the focal point the email's copy is cut to.
 */
const ImagePanel: FC = () => (
  <dialog class="canvas-image" id="canvas-image" aria-labelledby="canvas-image-title">
    <form method="dialog" id="canvas-image-form">
      <h2 id="canvas-image-title">Image</h2>
      <p class="error" id="canvas-image-error" role="alert" hidden></p>
      <div class="image-panel">
        <fieldset class="image-library">
          <legend>The brand's images</legend>
          <div class="image-choices" id="canvas-image-library"></div>
          <label class="button small image-upload">
            Upload an image…
            <input type="file" id="canvas-image-upload" accept="image/png,image/jpeg,image/gif,image/webp" class="visually-hidden" />
          </label>
        </fieldset>
        <div class="image-focus">
          <p class="muted small" id="canvas-image-focus-hint">Click the picture to choose what stays in view.</p>
          <div class="focus-frame" id="canvas-image-focus">
            <img id="canvas-image-preview" alt="The chosen image: click to set its focal point" />
            {/* No ids: htmx carries the style of same-id elements across a swap, which the CSP refuses. */}
            <span class="focus-box" aria-hidden="true"></span>
            <span class="focus-dot" aria-hidden="true"></span>
          </div>
          <div class="focus-fields">
            <label>
              Shape
              <select id="canvas-image-aspect" name="aspect">
                {CROP_CHOICES.map(([value, label]) => <option value={value}>{label}</option>)}
              </select>
            </label>
            <label>
              Focus across (%)
              <input type="number" id="canvas-image-x" name="x" min={0} max={100} step={1} value="50" />
            </label>
            <label>
              Focus down (%)
              <input type="number" id="canvas-image-y" name="y" min={0} max={100} step={1} value="50" />
            </label>
          </div>
        </div>
      </div>
      <label for="canvas-image-alt">Image description (alt text)</label>
      <input type="text" id="canvas-image-alt" name="alt" maxlength={300} autocomplete="off" aria-describedby="canvas-image-alt-hint" />
      <p class="hint small" id="canvas-image-alt-hint">Say what the image shows, for people who cannot see it and inboxes that block images.</p>
      <div class="form-actions">
        <button type="submit" class="primary" value="save" id="canvas-image-save">Use this image</button>
        <button type="submit" class="quiet" value="cancel" formnovalidate>Cancel</button>
      </div>
    </form>
  </dialog>
);

/** The version a form's edit is made on (the page's `If-Match`). */
const BaseVersion: FC<{ version: number }> = ({ version }) => <input type="hidden" name="version" value={String(version)} />;

/** Length guidance for an inbox line: how many characters, and whether most inboxes show them all. */
function lengthHint(length: number, ideal: [number, number], what: string): { text: string; tone: "ok" | "warn" } {
  if (length === 0) return { text: `No ${what} yet`, tone: "warn" };
  if (length < ideal[0]) return { text: `${length} characters: short; ${ideal[0]}–${ideal[1]} reads best`, tone: "warn" };
  if (length > ideal[1]) return { text: `${length} characters: inboxes cut after about ${ideal[1]}`, tone: "warn" };
  return { text: `${length} characters: a good length`, tone: "ok" };
}

/** The email as an inbox shows it (sender, subject, preheader), editable in place: a new version on save. */
const InboxRow: FC<{ emailId: string; brandName: string; subject: string; preheader: string; csrfToken: string; version: number }> = ({ emailId, brandName, subject, preheader, csrfToken, version }) => {
  const subjectHint = lengthHint([...subject].length, [20, 60], "subject line");
  const preheaderHint = lengthHint([...preheader].length, [40, 130], "preheader");
  return (
    <form method="post" action={`${base(emailId)}/meta`} hx-post={`${base(emailId)}/meta`} class="inbox-row" id="inbox-row" aria-label="Inbox preview: subject line and preheader">
      <Csrf token={csrfToken} />
      <BaseVersion version={version} />
      <span class="inbox-avatar" aria-hidden="true">{[...(brandName || "?")][0]!.toUpperCase()}</span>
      <div class="inbox-lines">
        <span class="inbox-sender">{brandName}</span>
        <label class="visually-hidden" for="inbox-subject">Subject line</label>
        <input id="inbox-subject" name="subject" class="inbox-subject" value={subject} maxlength={200} placeholder="Subject line" aria-describedby="inbox-subject-hint" />
        <label class="visually-hidden" for="inbox-preheader">Preheader</label>
        <input id="inbox-preheader" name="preheader" class="inbox-preheader" value={preheader} maxlength={300} placeholder="Preheader: the preview text after the subject" aria-describedby="inbox-preheader-hint" />
        <span class="inbox-hints">
          <span id="inbox-subject-hint" class={`hint ${subjectHint.tone}`}>Subject: {subjectHint.text}</span>
          <span id="inbox-preheader-hint" class={`hint ${preheaderHint.tone}`}>Preheader: {preheaderHint.text}</span>
        </span>
      </div>
      <button type="submit" class="quiet inbox-save">Save</button>
    </form>
  );
};
