// @ts-check
/**
 * edit-client.js: what the editor page's scripts (editor.js, canvas.js) share when they edit.
 * - `tabId`: this tab's id, made when the page loads. Every edit carries it as `X-Client-Id` (htmx
 *   requests too), so the `email.version` event of an edit names the tab that made it: a tab ignores
 *   its own echo and says "Edited by <name> in another tab" for the others. The session socket uses
 *   it as its presence clientId, so a tab can leave itself out of "who else is here".
 * - `apiEdit`: one edit through the JSON API with `If-Match` (the page's version). A stale edit the
 *   server could not merge (409 `version_conflict`) opens the conflict panel: what the other edits
 *   were, and each field as it is now beside the marketer's value, with "Re-apply mine" (the same
 *   edit again on the newest version) and "Discard mine". Nothing is ever overwritten unseen.
 */
import { csrfToken } from "./app.js";

/** A random id of 16 url-safe characters (crypto.getRandomValues works on plain http too). */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
}

/** This tab's id (`X-Client-Id`). */
export const tabId = `tab-${randomId()}`;

// htmx requests of the page (side forms, undo/redo, restore) carry the tab's id too.
document.addEventListener("htmx:config:request", (event) => {
  const ctx = /** @type {any} */ (event).detail?.ctx;
  if (ctx?.request?.headers) ctx.request.headers["X-Client-Id"] = tabId;
});

/**
 * @typedef {{ path: string, label: string, sectionId?: string, field?: string, current?: unknown, yours?: unknown }} FieldConflict
 * @typedef {{ version: number, summary: string, author: string | null, kind: string }} VersionChange
 * @typedef {{ code: string, message: string, currentVersion?: number, conflicts?: FieldConflict[], changes?: VersionChange[] }} ApiErrorBody
 * @typedef {{ ok: boolean, status: number, answer: any, reapplied?: boolean, discarded?: boolean }} EditOutcome
 */

/**
 * Sends one edit with `If-Match: "<version>"` and this tab's id. On a version conflict, asks the
 * marketer (the conflict panel) and re-sends on the newest version when they re-apply.
 * @param {string} method
 * @param {string} url
 * @param {unknown} body
 * @param {{ version?: string | number }} [options]
 * @returns {Promise<EditOutcome>}
 */
export async function apiEdit(method, url, body, options = {}) {
  /** @param {string | number | undefined} version */
  const send = async (version) => {
    const res = await fetch(url, {
      method,
      headers: {
        "content-type": "application/json",
        "x-csrf-token": csrfToken(),
        "x-client-id": tabId,
        ...(version !== undefined && version !== "" ? { "if-match": `"${version}"` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { res, answer: await res.json().catch(() => ({})) };
  };
  let { res, answer } = await send(options.version);
  let reapplied = false;
  while (res.status === 409 && answer.error?.code === "version_conflict") {
    const choice = await showConflict(answer.error);
    if (choice !== "reapply") return { ok: false, status: 409, answer, discarded: true };
    ({ res, answer } = await send(answer.error.currentVersion));
    reapplied = true;
  }
  return { ok: res.ok, status: res.status, answer, ...(reapplied ? { reapplied } : {}) };
}

/** @param {unknown} value */
function shown(value) {
  if (value === undefined || value === null || value === "") return "(empty)";
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(" → ");
  return JSON.stringify(value);
}

/**
 * The conflict panel: a modal dialog saying what changed since the edit's version and what the
 * edit wanted. Resolves "reapply" or "discard" (Escape discards).
 * @param {ApiErrorBody} error
 * @returns {Promise<"reapply" | "discard">}
 */
export function showConflict(error) {
  document.getElementById("conflict-dialog")?.remove();
  const dialog = document.createElement("dialog");
  dialog.id = "conflict-dialog";
  dialog.className = "conflict-dialog";
  dialog.setAttribute("aria-labelledby", "conflict-title");
  const el = (/** @type {string} */ tag, /** @type {string} */ text = "", /** @type {string} */ cls = "") => {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };
  const title = el("h2", "Your change was not saved yet");
  title.id = "conflict-title";
  dialog.append(title);
  const changes = error.changes ?? [];
  dialog.append(el("p", changes.length > 0 ? `The email changed since you started (it is at version ${error.currentVersion}):` : `The email changed since you started (it is at version ${error.currentVersion}).`));
  if (changes.length > 0) {
    const list = el("ul", "", "conflict-changes");
    for (const change of changes) list.append(el("li", `${change.summary}${change.author ? ` — ${change.author}` : ""}`));
    dialog.append(list);
  }
  const conflicts = error.conflicts ?? [];
  if (conflicts.length > 0) {
    dialog.append(el("p", conflicts.length === 1 ? "You both changed the same thing:" : "You both changed the same things:"));
    const fields = el("dl", "", "conflict-fields");
    for (const conflict of conflicts) {
      fields.append(el("dt", conflict.label));
      const now = el("dd", "", "conflict-current");
      now.append(el("span", "Now: ", "muted"), el("span", shown(conflict.current), "conflict-value"));
      const yours = el("dd", "", "conflict-yours");
      yours.append(el("span", "Yours: ", "muted"), el("span", shown(conflict.yours), "conflict-value"));
      fields.append(now, yours);
    }
    dialog.append(fields);
  }
  dialog.append(el("p", "Re-apply puts your change on the newest version (replacing what is there now); discard keeps the newest version as it is.", "muted small"));
  const actions = el("div", "", "form-actions");
  const reapply = /** @type {HTMLButtonElement} */ (el("button", "Re-apply mine", "primary"));
  reapply.type = "button";
  reapply.id = "conflict-reapply";
  const discard = /** @type {HTMLButtonElement} */ (el("button", "Discard mine", "quiet"));
  discard.type = "button";
  discard.id = "conflict-discard";
  actions.append(reapply, discard);
  dialog.append(actions);
  document.body.append(dialog);
  return new Promise((resolve) => {
    /** @param {"reapply" | "discard"} choice */
    const done = (choice) => {
      dialog.close();
      dialog.remove();
      resolve(choice);
    };
    reapply.addEventListener("click", () => done("reapply"));
    discard.addEventListener("click", () => done("discard"));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done("discard");
    });
    dialog.showModal();
    reapply.focus();
  });
}
