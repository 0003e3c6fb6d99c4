// @ts-check
/**
 * editor.js: the editor's live parts. Edits are htmx swaps of `#editor`; this module adds
 * - "regenerate this section": the run's words stream into the section as the agent writes them
 *   (followed over the WebSocket from the offset the page was drawn at), and the editor refreshes
 *   when the run ends;
 * - drag-to-reorder of the section list (the arrow buttons work without it).
 */
import { SessionClient } from "./session-client.js";
import { csrfToken, toast } from "./app.js";
import { sortable } from "./sortable.js";

const first = document.getElementById("editor");
if (first) {
  const emailId = first.dataset.emailId ?? "";
  const sessionId = first.dataset.sessionId ?? "";
  const editorUrl = `/emails/${encodeURIComponent(emailId)}/editor`;
  /** @type {any} */
  const htmx = /** @type {any} */ (window).htmx;

  /** Text streamed so far per run, so a box drawn after the first words still shows them all. */
  const texts = new Map();
  const ended = new Set();

  const fillLiveBoxes = () => {
    for (const box of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".live-run[data-run-id]"))) {
      const text = texts.get(box.dataset.runId);
      const pre = box.querySelector(".live-text");
      if (pre && text !== undefined) pre.textContent = readable(text);
    }
  };

  let refreshing = false;
  const refresh = async () => {
    if (refreshing || !htmx) return;
    refreshing = true;
    try {
      await htmx.ajax("GET", editorUrl, { target: "#editor", swap: "outerHTML" });
    } finally {
      refreshing = false;
    }
  };
  const hasBox = (/** @type {string} */ runId) => !!document.querySelector(`.live-run[data-run-id="${CSS.escape(runId)}"]`);
  // A side form open, or a text being edited on the canvas (static/canvas.js).
  const editing = () => !!document.querySelector(".section-item.editing") || !!document.body.dataset.canvasEditing;

  const client = new SessionClient({});
  const sub = client.subscribe(sessionId, { offset: first.dataset.offset || "now" });
  sub.on("error", (error) => toast(`Live updates stopped: ${error.message}`, "danger"));
  sub.on("event", ({ event }) => {
    const e = /** @type {any} */ (event);
    if (e.type === "message.start" && e.runId) texts.set(e.runId, "");
    else if (e.type === "message.delta" && e.runId) {
      texts.set(e.runId, (texts.get(e.runId) ?? "") + e.text);
      fillLiveBoxes();
    } else if (e.type === "run.end") {
      ended.add(e.runId);
      if (hasBox(e.runId)) {
        if (e.status !== "completed") toast(e.status === "failed" ? `The rewrite failed: ${e.error ?? "unknown error"}` : "The rewrite was stopped.", "danger");
        refresh();
      }
    } else if (e.type === "artifact" && (e.kind === "email" || e.kind === "email.version") && e.ref === emailId) {
      // A new version (`email.version` from an edit in any tab, device or the API; `email` from a run).
      const version = Number(document.getElementById("editor")?.dataset.version ?? 0);
      if (Number(e.data?.version ?? 0) <= version) return;
      if (editing()) {
        // Keep the open form: saving it merges when nobody changed its fields, or shows the conflict.
        toast(`Version ${e.data.version} was saved elsewhere${e.data.summary ? ` (${e.data.summary})` : ""}.`, "info");
      } else if (!document.querySelector(".live-run")) refresh();
    }
  });

  const bindDrag = () => {
    const list = /** @type {HTMLElement | null} */ (document.getElementById("sections"));
    if (!list || list.dataset.sortable) return;
    list.dataset.sortable = "1";
    const before = () => [...list.querySelectorAll(":scope > .section-item")].map((li) => /** @type {HTMLElement} */ (li).dataset.sectionId).join(",");
    let order = before();
    sortable(list, {
      item: ".section-item",
      handle: ".drag-handle",
      onDrop: () => {
        const now = before();
        if (now === order) return;
        order = now;
        htmx?.ajax("POST", `/emails/${encodeURIComponent(emailId)}/order`, { target: "#editor", swap: "outerHTML", values: { order: now, csrf: csrfToken(), version: document.getElementById("editor")?.dataset.version ?? "" } });
      },
    });
  };
  bindDrag();

  // Ctrl/Cmd-Z undoes, Ctrl/Cmd-Shift-Z (or Ctrl-Y) redoes: the same buttons, so the same versions.
  // Inside a text field the browser's own undo of the typing is left alone.
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
    const key = event.key.toLowerCase();
    const redo = (key === "z" && event.shiftKey) || (key === "y" && !event.shiftKey);
    if (!redo && !(key === "z" && !event.shiftKey)) return;
    const target = /** @type {HTMLElement | null} */ (event.target instanceof HTMLElement ? event.target : null);
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const button = /** @type {HTMLButtonElement | null} */ (document.getElementById(redo ? "redo" : "undo"));
    event.preventDefault();
    if (button && !button.disabled) button.click();
    else toast(redo ? "Nothing to redo." : "Nothing to undo.", "info");
  });

  document.addEventListener("htmx:after:swap", () => {
    fillLiveBoxes();
    bindDrag();
    for (const box of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".live-run[data-run-id]"))) {
      if (ended.has(box.dataset.runId)) return void refresh();
    }
    /** @type {HTMLElement | null} */ (document.querySelector(".section-item.editing [autofocus]"))?.focus();
  });
}

/**
 * The words of a section being rewritten, from the JSON the agent streams: the string values so far
 * (the last one possibly unfinished), one per line. Anything else is shown as it came.
 * @param {string} json
 */
function readable(json) {
  const values = [...json.matchAll(/"(\w+)"\s*:\s*"((?:[^"\\]|\\.)*)/g)].map((m) => m[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1"));
  return values.length > 0 ? values.join("\n") : json;
}
