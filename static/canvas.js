// @ts-check
/**
 * canvas.js: editing on the preview itself. The editor's iframe shows the canvas render
 * (`/api/emails/:id/html?edit=1`: the same HTML, its texts marked `data-ds-section`/`data-ds-field`),
 * same-origin and still without scripts; this module (in the editor page) reaches into its document:
 * - click a text to edit it in place (every visible text: list items are `items.2.title`): Enter
 *   (Shift+Enter is a new line in a paragraph field) or leaving it saves, Escape cancels, Tab saves
 *   and moves to the next text (Shift+Tab the previous one);
 * - every text, image and link of the canvas is reachable with Tab; Enter on one opens it;
 * - click a link (a button's, a product's, the unsubscribe link) to change its URL in a popover;
 * - click elsewhere in a section to select it: the side form opens and the toolbar moves,
 *   duplicates, deletes or rewrites it with an instruction;
 * - "+" between sections opens the palette; the new section goes at that place.
 * Every save goes through the JSON API with `If-Match` (the page's version) and the tab's id
 * (`apiEdit`, static/edit-client.js): a stale edit is merged by the server, or the conflict panel
 * shows what changed and offers re-apply or discard, like the side forms do.
 */
import { api, csrfToken, toast } from "./app.js";
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
/** A text to open for editing once the redrawn canvas is there (Tab after a save). */
let pendingEdit = /** @type {{ section: string; field: string } | null} */ (null);

const CANVAS_CSS = `
[data-ds-field]{cursor:text}
[data-ds-field]:hover,[data-ds-link]:hover,.ds-img img:hover{outline:2px dashed #2563eb;outline-offset:2px}
[data-ds-field]:focus-visible,[data-ds-link]:focus-visible,.ds-img img:focus-visible{outline:3px solid #2563eb;outline-offset:2px}
.ds-img img{cursor:pointer}
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
  let result;
  try {
    result = await apiEdit(method, apiUrl() + path, body, { version: version() });
  } catch {
    // Offline or the server went away: say so rather than leave "Saving…" up.
    status("Not saved", "error");
    toast("The server could not be reached; the change was not saved. Try again.", "danger");
    return false;
  }
  const { ok, status: code, answer } = result;
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

/**
 * The `fields` of a PATCH that sets one text: `{headline: "…"}`, or for a list item
 * (`items.2.title`) the whole list with that item changed, read from the email now (the server
 * refuses it with 409 if someone else changed the list since the page's version).
 * @param {string} sectionId @param {string} path @param {string} value
 */
async function fieldsFor(sectionId, path, value) {
  const [list, index, name] = path.split(".");
  if (index === undefined || name === undefined) return { [path]: value };
  const section = (await sections()).find((s) => s.id === sectionId);
  const items = section?.fields?.[list];
  if (!Array.isArray(items) || !items[Number(index)]) throw new Error("That item is not in the section any more; the page now shows the newest version.");
  const copy = items.map((item) => ({ ...item }));
  copy[Number(index)][name] = value;
  return { [list]: copy };
}

/**
 * Saves one field of a section (a text, a link) with the page's version.
 * @param {string} sectionId @param {string} path @param {string} value
 */
async function saveField(sectionId, path, value) {
  let fields;
  try {
    fields = await fieldsFor(sectionId, path, value);
  } catch (error) {
    toast(/** @type {Error} */ (error).message, "danger");
    await refresh();
    return false;
  }
  return send("PATCH", `/sections/${encodeURIComponent(sectionId)}`, { fields });
}

/** @param {string} type */
const newId = (type) => `${type}-${Math.random().toString(36).slice(2, 8)}`;

// --- editing a text in place ------------------------------------------------------------------------

/** The canvas's editable texts in reading order. @param {Document} doc */
const fieldsOf = (doc) => /** @type {HTMLElement[]} */ ([...doc.querySelectorAll("[data-ds-field]")]);

/** @param {Document} doc @param {{ section: string; field: string }} key */
const fieldAt = (doc, key) => /** @type {HTMLElement | null} */ (doc.querySelector(`[data-ds-section="${CSS.escape(key.section)}"][data-ds-field="${CSS.escape(key.field)}"]`));

/** @param {HTMLElement} el */
const keyOf = (el) => ({ section: el.dataset.dsSection ?? "", field: el.dataset.dsField ?? "" });

/** Paragraph fields (rendered as a `<div>` of paragraphs) take Shift+Enter as a new line. @param {HTMLElement} el */
const multiline = (el) => el.tagName === "DIV";

/** @param {HTMLElement} el */
function startEdit(el) {
  if (el.isContentEditable) return;
  const doc = /** @type {Document} */ (el.ownerDocument);
  select(doc, el.dataset.dsSection ?? "");
  // Kept as nodes (no HTML parsing in the email's document) to put back on Escape or a refusal.
  const before = [...el.childNodes].map((node) => node.cloneNode(true));
  const restore = () => el.replaceChildren(...before.map((node) => node.cloneNode(true)));
  const original = el.innerText.trim();
  el.setAttribute("contenteditable", "plaintext-only");
  el.setAttribute("role", "textbox");
  if (multiline(el)) el.setAttribute("aria-multiline", "true");
  document.body.dataset.canvasEditing = "1";
  el.focus();
  let done = false;
  const finish = () => {
    done = true;
    el.removeAttribute("contenteditable");
    el.removeAttribute("role");
    el.removeAttribute("aria-multiline");
    el.removeEventListener("keydown", onKey);
    el.removeEventListener("blur", onBlur);
    delete document.body.dataset.canvasEditing;
  };
  const cancel = () => {
    finish();
    restore();
    status("", "");
    el.focus();
  };
  /** @param {{ section: string; field: string } | null} next the text to edit after this one */
  const save = async (next = null) => {
    const value = el.innerText.replace(/\n{3,}/g, "\n\n").trim();
    finish();
    if (value === original) {
      status("", "");
      const target = next && fieldAt(doc, next);
      if (target) startEdit(target);
      return;
    }
    pendingEdit = next;
    const ok = await saveField(el.dataset.dsSection ?? "", el.dataset.dsField ?? "", value);
    if (!ok) {
      pendingEdit = null;
      restore();
    }
  };
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      cancel();
    } else if (event.key === "Enter" && (!event.shiftKey || !multiline(el))) {
      // Kept from the canvas's own Enter (which opens a text): once saved, the text is no longer
      // editable, and that listener would open it again, leaving the page "editing" after the redraw.
      event.preventDefault();
      event.stopPropagation();
      if (!done) save();
    } else if (event.key === "Tab") {
      event.preventDefault();
      event.stopPropagation();
      const all = fieldsOf(doc);
      const next = all[all.indexOf(el) + (event.shiftKey ? -1 : 1)];
      if (!done) save(next ? keyOf(next) : null);
    }
  };
  const onBlur = () => {
    if (!done) save();
  };
  el.addEventListener("keydown", onKey);
  el.addEventListener("blur", onBlur);
}

// --- links (a button's, a product's, the unsubscribe link): a popover with the URL --------------------

/** @param {HTMLElement} el an element with `data-ds-link` */
async function openLink(el) {
  const box = document.getElementById("canvas-link");
  const input = /** @type {HTMLInputElement | null} */ (document.getElementById("canvas-link-url"));
  if (!box || !input) return;
  const sectionId = el.dataset.dsSection ?? "";
  const path = el.dataset.dsLink ?? "";
  select(/** @type {Document} */ (el.ownerDocument), sectionId);
  const [list, index, name] = path.split(".");
  const section = (await sections()).find((s) => s.id === sectionId);
  const fields = /** @type {Record<string, any>} */ (section?.fields ?? {});
  const current = name === undefined ? fields[path] : fields[list]?.[Number(index)]?.[name];
  box.dataset.section = sectionId;
  box.dataset.field = path;
  input.value = typeof current === "string" ? current : "";
  box.hidden = false;
  input.focus();
  input.select();
}

function closeLink() {
  const box = document.getElementById("canvas-link");
  if (box) box.hidden = true;
}

async function saveLink() {
  const box = document.getElementById("canvas-link");
  const input = /** @type {HTMLInputElement | null} */ (document.getElementById("canvas-link-url"));
  if (!box || !input || box.hidden) return;
  const value = input.value.trim();
  closeLink();
  await saveField(box.dataset.section ?? "", box.dataset.field ?? "", value);
}

// --- images: the panel (the brand's library or an upload, alt text, shape and focal point) ------------

/** What the open image panel edits. */
let imageTarget = /** @type {{ section: string; slot: string } | null} */ (null);

/** @param {string} id */
const byId = (id) => /** @type {any} */ (document.getElementById(id));

/** The slot of an image on the canvas, from its cell's `ds-img--<slot>` class. @param {HTMLImageElement} img */
function slotOf(img) {
  const cell = img.closest("[class~='ds-img']");
  const slot = [...(cell?.classList ?? [])].find((c) => c.startsWith("ds-img--"))?.slice("ds-img--".length) ?? "";
  return { section: img.closest("[data-section-id]")?.getAttribute("data-section-id") ?? "", slot };
}

/**
 * Adds one choice to the library grid (a radio with the picture and its label).
 * @param {{ id: string; url: string; label: string }} image @param {boolean} [first]
 */
function addChoice(image, first = false) {
  const grid = byId("canvas-image-library");
  if (!grid || grid.querySelector(`input[value="${CSS.escape(image.id)}"]`)) return;
  const label = document.createElement("label");
  label.className = "image-choice";
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "asset";
  input.value = image.id;
  input.className = "visually-hidden";
  input.dataset.url = image.url;
  const picture = document.createElement("img");
  picture.src = image.url;
  picture.alt = image.label;
  picture.loading = "lazy";
  const caption = document.createElement("span");
  caption.textContent = image.label;
  label.append(input, picture, caption);
  if (first) grid.prepend(label);
  else grid.append(label);
}

/** The focal point's dot and the crop's box over the preview, from the fields. */
function drawFocus() {
  const frame = byId("canvas-image-focus");
  const preview = /** @type {HTMLImageElement} */ (byId("canvas-image-preview"));
  const aspect = byId("canvas-image-aspect").value;
  const x = Math.min(Math.max(Number(byId("canvas-image-x").value) || 0, 0), 100) / 100;
  const y = Math.min(Math.max(Number(byId("canvas-image-y").value) || 0, 0), 100) / 100;
  frame.dataset.aspect = aspect;
  for (const id of ["canvas-image-x", "canvas-image-y"]) byId(id).disabled = aspect === "original";
  const dot = /** @type {HTMLElement} */ (frame.querySelector(".focus-dot"));
  dot.style.left = `${x * 100}%`;
  dot.style.top = `${y * 100}%`;
  const w = preview.naturalWidth;
  const h = preview.naturalHeight;
  if (aspect === "original" || !w || !h) return;
  const [aw, ah] = aspect.split(":").map(Number);
  const ratio = aw / ah;
  const cw = w / h > ratio ? (h * ratio) / w : 1;
  const ch = w / h > ratio ? 1 : w / ratio / h;
  const box = /** @type {HTMLElement} */ (frame.querySelector(".focus-box"));
  box.style.width = `${cw * 100}%`;
  box.style.height = `${ch * 100}%`;
  box.style.left = `${Math.min(Math.max(x - cw / 2, 0), 1 - cw) * 100}%`;
  box.style.top = `${Math.min(Math.max(y - ch / 2, 0), 1 - ch) * 100}%`;
}

function altHint() {
  const empty = !byId("canvas-image-alt").value.trim();
  const hint = byId("canvas-image-alt-hint");
  hint.classList.toggle("warn", empty);
  hint.textContent = empty
    ? "No description yet: people who cannot see the image (and inboxes that block images) get nothing, and the checks warn about it."
    : "Say what the image shows, for people who cannot see it and inboxes that block images.";
}

/** @param {string} message */
function imageError(message) {
  const box = byId("canvas-image-error");
  box.textContent = message;
  box.hidden = !message;
}

/** Opens the panel for an image of the canvas. @param {HTMLImageElement} img */
async function openImage(img) {
  const dialog = /** @type {HTMLDialogElement | null} */ (byId("canvas-image"));
  const target = slotOf(img);
  if (!dialog || !target.section || !target.slot) return;
  select(/** @type {Document} */ (img.ownerDocument), target.section);
  const base = `${apiUrl()}/sections/${encodeURIComponent(target.section)}/image?slot=${encodeURIComponent(target.slot)}`;
  const [slot, library] = await Promise.all([api(base), api(`${apiUrl()}/image-library`)]);
  imageTarget = target;
  byId("canvas-image-library").replaceChildren();
  const current = slot.source ?? slot.asset;
  if (current) addChoice({ id: current.id, url: current.url, label: "Now in the email" });
  for (const image of library.images) addChoice(image);
  const chosen = /** @type {HTMLInputElement | null} */ (current ? byId("canvas-image-library").querySelector(`input[value="${CSS.escape(current.id)}"]`) : null);
  if (chosen) chosen.checked = true;
  byId("canvas-image-preview").src = current?.url ?? slot.url ?? "";
  byId("canvas-image-aspect").value = slot.crop?.aspect ?? "original";
  byId("canvas-image-x").value = String(Math.round((slot.crop?.x ?? 0.5) * 100));
  byId("canvas-image-y").value = String(Math.round((slot.crop?.y ?? 0.5) * 100));
  byId("canvas-image-alt").value = slot.alt ?? "";
  imageError("");
  altHint();
  drawFocus();
  document.body.dataset.canvasEditing = "1";
  dialog.showModal();
  (chosen ?? byId("canvas-image-library").querySelector("input"))?.focus();
}

/** Saves the panel's choice: the image, its alt text and its crop, with the page's version. */
async function saveImage() {
  if (!imageTarget) return;
  const chosen = /** @type {HTMLInputElement | null} */ (byId("canvas-image-library").querySelector("input[name=asset]:checked"));
  if (!chosen) return imageError("Pick an image from the library or upload one.");
  const aspect = byId("canvas-image-aspect").value;
  const body = {
    slot: imageTarget.slot,
    assetId: chosen.value,
    alt: byId("canvas-image-alt").value.replace(/\s+/g, " ").trim(),
    ...(aspect === "original" ? {} : { crop: { aspect, x: Number(byId("canvas-image-x").value) / 100, y: Number(byId("canvas-image-y").value) / 100 } }),
  };
  const target = imageTarget;
  closeImage();
  await send("PUT", `/sections/${encodeURIComponent(target.section)}/image`, body);
}

function closeImage() {
  imageTarget = null;
  delete document.body.dataset.canvasEditing;
  const dialog = /** @type {HTMLDialogElement | null} */ (byId("canvas-image"));
  if (dialog?.open) dialog.close();
}

/** Uploads a file from the panel (the same route as every upload) and picks it. @param {File} file */
async function uploadImage(file) {
  imageError("");
  const form = new FormData();
  form.append("file", file);
  form.append("kind", "upload");
  const res = await fetch("/api/assets", { method: "POST", headers: { "x-csrf-token": csrfToken() }, body: form });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) return imageError(answer.error?.message ?? `The upload failed (${res.status}).`);
  addChoice({ id: answer.id, url: answer.url, label: file.name || "Upload" }, true);
  const input = /** @type {HTMLInputElement} */ (byId("canvas-image-library").querySelector(`input[value="${CSS.escape(answer.id)}"]`));
  input.checked = true;
  input.focus();
  byId("canvas-image-preview").src = answer.url;
}

function wireImagePanel() {
  document.addEventListener("change", (event) => {
    const target = /** @type {HTMLInputElement} */ (event.target);
    if (target.name === "asset" && target.closest("#canvas-image-library")) byId("canvas-image-preview").src = target.dataset.url ?? "";
    else if (target.id === "canvas-image-upload" && target.files?.[0]) {
      uploadImage(target.files[0]).catch((e) => imageError(e.message));
      target.value = "";
    } else if (target.id === "canvas-image-aspect") drawFocus();
  });
  document.addEventListener("input", (event) => {
    const id = /** @type {HTMLElement} */ (event.target).id;
    if (id === "canvas-image-x" || id === "canvas-image-y") drawFocus();
    if (id === "canvas-image-alt") altHint();
  });
  document.addEventListener("load", (event) => {
    if (/** @type {HTMLElement} */ (event.target).id === "canvas-image-preview") drawFocus();
  }, true);
  document.addEventListener("click", (event) => {
    const preview = /** @type {HTMLElement} */ (event.target);
    if (preview.id !== "canvas-image-preview" || byId("canvas-image-aspect").value === "original") return;
    const rect = preview.getBoundingClientRect();
    byId("canvas-image-x").value = String(Math.round(((event.clientX - rect.left) / rect.width) * 100));
    byId("canvas-image-y").value = String(Math.round(((event.clientY - rect.top) / rect.height) * 100));
    drawFocus();
  });
  document.addEventListener("submit", (event) => {
    const form = /** @type {HTMLFormElement} */ (event.target);
    if (form.id !== "canvas-image-form") return;
    event.preventDefault();
    const submitter = /** @type {HTMLButtonElement | null} */ (/** @type {SubmitEvent} */ (event).submitter);
    if (submitter?.value === "cancel") return closeImage();
    saveImage().catch((e) => toast(e.message, "danger"));
  });
  // Escape (the dialog's own cancel) leaves the email as it was.
  document.addEventListener("close", (event) => {
    if (/** @type {HTMLElement} */ (event.target).id === "canvas-image") {
      imageTarget = null;
      delete document.body.dataset.canvasEditing;
    }
  }, true);
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
  // "Link…" when the section has a link to change (a button, products, the footer).
  const link = /** @type {HTMLElement | null} */ (toolbar.querySelector('[data-canvas-action="link"]'));
  if (link) link.hidden = !section.querySelector("[data-ds-link]");
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
  if (action === "link") {
    const frame = /** @type {HTMLIFrameElement | null} */ (document.getElementById("email-frame"));
    const link = /** @type {HTMLElement | null | undefined} */ (frame?.contentDocument?.querySelector(`[data-section-id="${CSS.escape(selectedId)}"] [data-ds-link]`));
    if (link) await openLink(link);
    return;
  }
  if (action === "rewrite") {
    const form = document.getElementById("canvas-rewrite");
    if (form) {
      form.hidden = false;
      /** @type {HTMLInputElement | null} */ (form.querySelector("input[name=instruction]"))?.focus();
    }
    return;
  }
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

/**
 * Rewrites the selected section with an instruction through the page route, so the editor shows the
 * run's words streaming into the section (static/editor.js) and refuses an instruction the offline
 * writer cannot follow with its message.
 * @param {string} instruction
 */
async function rewrite(instruction) {
  const form = document.getElementById("canvas-rewrite");
  if (form) form.hidden = true;
  if (!instruction.trim() || !selectedId || !htmx) return;
  status("Rewriting…", "saving");
  await htmx.ajax("POST", `/emails/${encodeURIComponent(emailId())}/sections/${encodeURIComponent(selectedId)}/regenerate`, {
    target: "#editor",
    swap: "outerHTML",
    values: { instruction, csrf: csrfToken(), version: version() },
  });
  status("", "");
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

/** Inserts a saved block of the brand at the palette's place (`POST /api/emails/:id/sections {blockId, index}`). @param {string} blockId */
async function insertBlock(blockId) {
  const palette = document.getElementById("canvas-palette");
  if (palette) palette.hidden = true;
  if (!blockId || insertAt < 0) return;
  await send("POST", "/sections", { blockId, index: insertAt });
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
  // Every text, link and image is a stop for Tab (the email's own links are not, so the order is the canvas's).
  for (const el of doc.querySelectorAll("a[href]")) if (!el.hasAttribute("data-ds-link")) el.setAttribute("tabindex", "-1");
  for (const el of doc.querySelectorAll("[data-ds-field], [data-ds-link], [class~='ds-img'] img")) el.setAttribute("tabindex", "0");
  for (const el of doc.querySelectorAll("[class~='ds-img'] img")) el.setAttribute("role", "button");
  if (selectedId) select(doc, selectedId);
  const pending = pendingEdit && fieldAt(doc, pendingEdit);
  pendingEdit = null;
  if (pending) {
    frame.focus();
    startEdit(pending);
  }
  doc.addEventListener("focusin", (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const section = target?.closest?.("[data-section-id]");
    if (section && section.getAttribute("data-section-id") !== selectedId) select(doc, section.getAttribute("data-section-id") ?? "");
  });
  doc.addEventListener("keydown", (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    if (event.key !== "Enter" || !target?.dataset || target.isContentEditable) return;
    if (target.dataset.dsField) {
      event.preventDefault();
      startEdit(target);
    } else if (target.dataset.dsLink) {
      event.preventDefault();
      openLink(target).catch((e) => toast(e.message, "danger"));
    } else if (target.tagName === "IMG" && target.closest("[class~='ds-img']")) {
      event.preventDefault();
      openImage(target).catch((e) => toast(e.message, "danger"));
    }
  });
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
    if (field) return startEdit(field);
    const image = target.tagName === "IMG" && target.closest("[class~='ds-img']");
    if (image) return void openImage(/** @type {HTMLImageElement} */ (target)).catch((e) => toast(e.message, "danger"));
    // A link itself, or the padding of a button whose label is the text.
    const anchor = target.closest("a");
    const link = /** @type {HTMLElement | null} */ (target.closest("[data-ds-link]") ?? anchor?.querySelector("[data-ds-link]") ?? null);
    if (link) return void openLink(link).catch((e) => toast(e.message, "danger"));
    const section = target.closest("[data-section-id]");
    if (section) selectAndOpen(doc, section.getAttribute("data-section-id") ?? "");
  });
}

/**
 * The preview width (Desktop/Mobile) stays as chosen across the editor's swaps. The switch is
 * `hx-preserve`d, but the new fragment's default radio joins the same group while the old one waits
 * to be put back, which unchecks the chosen one; so the choice is remembered and re-applied.
 */
function keepViewport() {
  let chosen = /** @type {HTMLInputElement | null} */ (document.querySelector("input[name=viewport]:checked"))?.id ?? "";
  document.addEventListener("change", (event) => {
    const input = /** @type {HTMLInputElement} */ (event.target);
    if (input?.name === "viewport" && input.checked) chosen = input.id;
  });
  document.addEventListener("htmx:after:swap", () => {
    const input = /** @type {HTMLInputElement | null} */ (chosen ? document.getElementById(chosen) : null);
    if (input && !input.checked) input.checked = true;
  });
}

if (editorEl()) {
  keepViewport();
  wireImagePanel();
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
    const block = target.closest?.("[data-canvas-block]");
    if (block) return void insertBlock(block.getAttribute("data-canvas-block") ?? "").catch((e) => toast(e.message, "danger"));
    const type = target.closest?.("[data-canvas-insert]");
    if (type) return void insert(type.getAttribute("data-canvas-insert") ?? "").catch((e) => toast(e.message, "danger"));
    if (target.closest?.("[data-canvas-link-cancel]")) return closeLink();
    if (target.closest?.("[data-canvas-rewrite-cancel]")) {
      const form = document.getElementById("canvas-rewrite");
      if (form) form.hidden = true;
    }
  });
  document.addEventListener("submit", (event) => {
    const form = /** @type {HTMLFormElement} */ (event.target);
    if (form.id === "canvas-link") {
      event.preventDefault();
      saveLink().catch((e) => toast(e.message, "danger"));
    } else if (form.id === "canvas-rewrite") {
      event.preventDefault();
      const input = /** @type {HTMLInputElement | null} */ (form.querySelector("input[name=instruction]"));
      rewrite(input?.value ?? "").catch((e) => toast(e.message, "danger"));
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const target = /** @type {HTMLElement} */ (event.target);
    for (const id of ["canvas-link", "canvas-rewrite", "canvas-palette"]) {
      const box = document.getElementById(id);
      if (box && !box.hidden && box.contains(target)) {
        box.hidden = true;
        document.getElementById("email-frame")?.focus();
      }
    }
  });
}
