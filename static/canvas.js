// @ts-check
/**
 * canvas.js: editing on the preview itself. The editor's iframe shows the canvas render
 * (`/api/emails/:id/html?edit=1`: the same HTML, its texts marked `data-ds-section`/`data-ds-field`),
 * same-origin and still without scripts; this module (in the editor page) reaches into its document:
 * - click a text to edit it in place: Enter (without Shift) or leaving it saves, Escape cancels;
 * - click elsewhere in a section to select it: the side form opens and the toolbar moves,
 *   duplicates or deletes it;
 * - "+" between sections opens the palette; the new section goes at that place.
 * Every save goes through the JSON API with `If-Match` (the page's version); a 409 shows the newest
 * version and says the change was not saved, like the side forms do.
 */
import { toast } from "./app.js";
import { apiEdit } from "./edit-client.js";

/** @type {any} */
const htmx = /** @type {any} */ (window).htmx;
const editorEl = () => /** @type {HTMLElement | null} */ (document.getElementById("editor"));
const emailId = () => editorEl()?.dataset.emailId ?? "";
const version = () => editorEl()?.dataset.version ?? "";
const apiUrl = () => `/api/emails/${encodeURIComponent(emailId())}`;

/** The section selected on the canvas (kept across the editor's swaps). */
let selectedId = "";
/** Where the palette inserts (an index in the section list). */
let insertAt = -1;

const CANVAS_CSS = `
[data-ds-field]{cursor:text}
[data-ds-field]:hover{outline:2px dashed #2563eb;outline-offset:2px}
[data-ds-field][contenteditable]{outline:2px solid #2563eb;outline-offset:2px;cursor:text}
[data-section-id]{cursor:pointer}
[data-section-id]:hover{outline:1px dashed #94a3b8;outline-offset:-1px}
[data-section-id].ds-selected{outline:3px solid #f59e0b;outline-offset:-3px}
.ds-insert{position:relative;height:0;z-index:2}
.ds-insert button{position:absolute;left:50%;top:-13px;transform:translateX(-50%);width:26px;height:26px;border-radius:13px;border:1px solid #2563eb;background:#fff;color:#2563eb;font:bold 16px/22px sans-serif;cursor:pointer;opacity:0;padding:0}
body:hover .ds-insert button,.ds-insert button:focus{opacity:1}
`;

/** @param {string} text @param {"saving" | "saved" | "error" | ""} state */
function status(text, state) {
  const box = document.getElementById("canvas-status");
  if (!box) return;
  box.textContent = text;
  box.dataset.state = state;
}

async function refresh() {
  if (htmx) await htmx.ajax("GET", `/emails/${encodeURIComponent(emailId())}/editor`, { target: "#editor", swap: "outerHTML" });
}

/**
 * Sends one edit to the API with the page's version; on success the editor redraws at the new version.
 * @param {string} method @param {string} path @param {unknown} body
 * @returns {Promise<boolean>}
 */
async function send(method, path, body) {
  status("Saving…", "saving");
  // A stale edit is merged by the server, or shown in the conflict panel (re-apply or discard): edit-client.js.
  const { ok, status: code, answer } = await apiEdit(method, apiUrl() + path, body, { version: version() });
  if (ok) {
    const editor = editorEl();
    if (editor) editor.dataset.version = String(answer.version);
    status(`Saved: version ${answer.version}`, "saved");
    await refresh();
    return true;
  }
  if (code === 409) {
    status("Not saved", "error");
    await refresh();
    return false;
  }
  status("Not saved", "error");
  toast(answer.error?.message ?? `The change was not saved (${code}).`, "danger");
  return false;
}

/** The email's sections as the API knows them (id and type; fields when asked). */
async function sections() {
  const res = await fetch(apiUrl(), { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`Could not load the email (${res.status}).`);
  const email = await res.json();
  return /** @type {Array<{ id: string; type: string; fields: Record<string, unknown> }>} */ (email.document.sections);
}

/** @param {Array<{ id: string; type: string; fields?: unknown }>} list */
const putSections = (list) => send("PUT", "/sections", { sections: list });

/** @param {string} type */
const newId = (type) => `${type}-${Math.random().toString(36).slice(2, 8)}`;

// --- editing a text in place ------------------------------------------------------------------------

/** @param {HTMLElement} el */
function startEdit(el) {
  if (el.isContentEditable) return;
  const before = el.innerHTML;
  const original = el.innerText.trim();
  el.setAttribute("contenteditable", "plaintext-only");
  document.body.dataset.canvasEditing = "1";
  el.focus();
  let done = false;
  const finish = () => {
    done = true;
    el.removeAttribute("contenteditable");
    el.removeEventListener("keydown", onKey);
    el.removeEventListener("blur", onBlur);
    delete document.body.dataset.canvasEditing;
  };
  const cancel = () => {
    finish();
    el.innerHTML = before;
    status("", "");
  };
  const save = async () => {
    const value = el.innerText.replace(/\n{3,}/g, "\n\n").trim();
    finish();
    if (value === original) return status("", "");
    const ok = await send("PATCH", `/sections/${encodeURIComponent(el.dataset.dsSection ?? "")}`, { fields: { [el.dataset.dsField ?? ""]: value } });
    if (!ok) el.innerHTML = before;
  };
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      cancel();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      if (!done) save();
    }
  };
  const onBlur = () => {
    if (!done) save();
  };
  el.addEventListener("keydown", onKey);
  el.addEventListener("blur", onBlur);
}

// --- selecting, moving, inserting -------------------------------------------------------------------

/** @param {Document} doc @param {string} id */
function select(doc, id) {
  selectedId = id;
  for (const el of doc.querySelectorAll(".ds-selected")) el.classList.remove("ds-selected");
  const section = doc.querySelector(`[data-section-id="${CSS.escape(id)}"]`);
  const toolbar = document.getElementById("canvas-toolbar");
  if (!section || !toolbar) {
    if (toolbar) toolbar.hidden = true;
    return;
  }
  section.classList.add("ds-selected");
  const item = document.getElementById(`section-${id}`);
  const label = document.getElementById("canvas-selected");
  if (label) label.textContent = item?.querySelector(".section-type")?.textContent?.replace(/^Edit /, "") ?? section.getAttribute("data-section-type") ?? "";
  toolbar.hidden = false;
  return item;
}

/** @param {Document} doc @param {string} id */
function selectAndOpen(doc, id) {
  const item = select(doc, id);
  if (!item) return;
  item.scrollIntoView({ block: "nearest", behavior: "smooth" });
  const open = /** @type {HTMLElement | null} */ (item.querySelector(".section-summary"));
  if (open && !item.classList.contains("editing")) open.click();
}

/** @param {string} action */
async function toolbarAction(action) {
  const list = await sections();
  const index = list.findIndex((s) => s.id === selectedId);
  if (index < 0) return toast("That section is not in the email any more.", "danger");
  const ids = list.map((s) => ({ id: s.id, type: s.type }));
  if (action === "up" || action === "down") {
    const to = action === "up" ? index - 1 : index + 1;
    if (to < 0 || to >= ids.length) return;
    [ids[index], ids[to]] = [ids[to], ids[index]];
    await putSections(ids);
  } else if (action === "duplicate") {
    const copy = { id: newId(list[index].type), type: list[index].type, fields: list[index].fields };
    await putSections([...ids.slice(0, index + 1), copy, ...ids.slice(index + 1)]);
    selectedId = copy.id;
  } else if (action === "delete") {
    ids.splice(index, 1);
    selectedId = "";
    await putSections(ids);
  }
}

/** @param {string} type */
async function insert(type) {
  const palette = document.getElementById("canvas-palette");
  if (palette) palette.hidden = true;
  if (!type || insertAt < 0) return;
  const ids = (await sections()).map((s) => ({ id: s.id, type: s.type }));
  const at = Math.min(insertAt, ids.length);
  const added = { id: newId(type), type };
  ids.splice(at, 0, added);
  selectedId = added.id;
  await putSections(ids);
}

/** Puts a "+" before each section (and after the last one unless it is the footer). @param {Document} doc */
function insertButtons(doc) {
  const all = [...doc.querySelectorAll("[data-section-id]")];
  all.forEach((section, index) => section.before(plus(doc, index)));
  const last = all.at(-1);
  if (last && last.getAttribute("data-section-type") !== "footer") last.after(plus(doc, all.length));
}

/** @param {Document} doc @param {number} index */
function plus(doc, index) {
  const holder = doc.createElement("div");
  holder.className = "ds-insert";
  const button = doc.createElement("button");
  button.type = "button";
  button.textContent = "+";
  button.dataset.dsInsert = String(index);
  button.setAttribute("aria-label", `Insert a section at position ${index + 1}`);
  holder.append(button);
  return holder;
}

// --- wiring -------------------------------------------------------------------------------------

/** @param {HTMLIFrameElement} frame */
function attach(frame) {
  let doc;
  try {
    doc = frame.contentDocument;
  } catch {
    return;
  }
  if (!doc || !doc.body || !doc.URL.includes("edit=1") || doc.documentElement.dataset.dsCanvas) return;
  doc.documentElement.dataset.dsCanvas = "1";
  const style = doc.createElement("style");
  style.textContent = CANVAS_CSS;
  doc.head.append(style);
  insertButtons(doc);
  if (selectedId) select(doc, selectedId);
  doc.addEventListener("click", (event) => {
    const target = /** @type {Element} */ (event.target);
    if (!target?.closest) return;
    // Links and buttons inside the email do not navigate the canvas.
    if (target.closest("a")) event.preventDefault();
    const insertButton = /** @type {HTMLElement | null} */ (target.closest("[data-ds-insert]"));
    if (insertButton) {
      insertAt = Number(insertButton.dataset.dsInsert);
      const palette = document.getElementById("canvas-palette");
      if (palette) {
        palette.hidden = false;
        /** @type {HTMLElement | null} */ (palette.querySelector("button"))?.focus();
      }
      return;
    }
    const field = /** @type {HTMLElement | null} */ (target.closest("[data-ds-field]"));
    if (field) {
      select(doc, field.dataset.dsSection ?? "");
      return startEdit(field);
    }
    const section = target.closest("[data-section-id]");
    if (section) selectAndOpen(doc, section.getAttribute("data-section-id") ?? "");
  });
}

if (editorEl()) {
  // An iframe's `load` does not bubble; caught on the way down, for every redrawn frame.
  document.addEventListener("load", (event) => {
    const target = event.target;
    if (target instanceof HTMLIFrameElement && target.id === "email-frame") attach(target);
  }, true);
  const now = /** @type {HTMLIFrameElement | null} */ (document.getElementById("email-frame"));
  if (now && now.contentDocument?.readyState === "complete") attach(now);

  document.addEventListener("click", (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const action = target.closest?.("[data-canvas-action]");
    if (action) return void toolbarAction(action.getAttribute("data-canvas-action") ?? "").catch((e) => toast(e.message, "danger"));
    const type = target.closest?.("[data-canvas-insert]");
    if (type) return void insert(type.getAttribute("data-canvas-insert") ?? "").catch((e) => toast(e.message, "danger"));
  });
}
