// @ts-check
/**
 * editor.js: the editor's live parts. Edits are htmx swaps of `#editor`; this module adds
 * - "regenerate this section": the run's words stream into the section as the agent writes them
 *   (followed over the WebSocket from the offset the page was drawn at), and the editor refreshes
 *   when the run ends;
 * - drag-to-reorder of the section list (the arrow buttons work without it);
 * - live versions: a version made in another tab, device or by the API redraws the editor and says
 *   who made it and what ("Edited by Ada in another tab: Edited headline in Hero"); the tab's own
 *   versions (its `tabId` in the event's clientId) are not announced back to it;
 * - presence: who else has the email open, from the email session's presence (each editor tab
 *   joins it with its socket subscription and leaves when the tab closes);
 * - Ctrl/Cmd-Z and Ctrl/Cmd-Shift-Z (or Ctrl-Y): undo and redo, on the page and on the canvas,
 *   except inside a text being edited (the browser's own text undo applies there).
 */
import { SessionClient } from "./session-client.js";
import { csrfToken, toast } from "./app.js";
import { sortable } from "./sortable.js";
import { tabId } from "./edit-client.js";

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

  const client = new SessionClient({ clientId: tabId });
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
      const own = e.kind === "email.version" && e.data?.clientId === tabId;
      if (!own && e.kind === "email.version") announce(e.data ?? {});
      // The tab's own edit redraws it with its answer; its echo can beat that answer here, and a
      // second redraw would reload the canvas under the person (or swap away the answer's notice).
      if (own || Number(e.data?.version ?? 0) <= version) return;
      if (editing()) {
        // Keep the open form: saving it merges when nobody changed its fields, or shows the conflict.
        if (!own) toast(`Version ${e.data.version} was saved elsewhere${e.data.author ? ` by ${e.data.author}` : ""}${e.data.summary ? ` (${e.data.summary})` : ""}. Saving merges your change unless you both changed the same field.`, "info");
      } else if (!document.querySelector(".live-run")) refresh();
    }
  });
  sub.on("presence", ({ members }) => showPresence(members));

  /** Says who made a version in another tab, device or the API, and what. @param {any} data */
  const announce = (data) => {
    const box = document.getElementById("live-status");
    if (!box) return;
    const what = data.kind === "undo" ? "Undid a change" : data.kind === "redo" ? "Redid a change" : "Edited";
    box.textContent = `${what} by ${data.author || "someone"} in another tab${data.summary ? `: ${data.summary}` : ""}`;
    box.hidden = false;
  };

  /** Who else has this email open (the email session's presence, this tab left out). @param {Array<{ clientId: string, device: string, name?: string }>} members */
  const showPresence = (members) => {
    const box = document.getElementById("presence");
    if (!box) return;
    const others = members.filter((m) => m.clientId !== tabId);
    box.replaceChildren();
    box.dataset.count = String(others.length);
    box.hidden = others.length === 0;
    if (others.length === 0) return;
    const avatars = document.createElement("span");
    avatars.className = "presence-avatars";
    for (const member of others.slice(0, 5)) {
      const avatar = document.createElement("span");
      avatar.className = "presence-avatar";
      avatar.title = `${member.name ?? "Someone"} (${member.device})`;
      avatar.textContent = [...(member.name ?? "?").trim()][0]?.toUpperCase() ?? "?";
      avatar.setAttribute("aria-hidden", "true");
      avatars.append(avatar);
    }
    const names = [...new Set(others.map((m) => m.name ?? "Someone"))];
    const text = document.createElement("span");
    text.className = "presence-text";
    text.textContent = `${others.length === 1 ? "1 other" : `${others.length} others`} editing: ${names.join(", ")}`;
    box.append(avatars, text);
  };

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
  // Inside a text field, or a text being edited on the canvas, the browser's own undo of the typing
  // is left alone. The canvas is another document: its keys are listened to there too.
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
    const key = event.key.toLowerCase();
    const redo = (key === "z" && event.shiftKey) || (key === "y" && !event.shiftKey);
    if (!redo && !(key === "z" && !event.shiftKey)) return;
    // Duck-typed: an element of the canvas's document is not an HTMLElement of this window.
    const target = /** @type {any} */ (event.target);
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName ?? ""))) return;
    if (document.body.dataset.canvasEditing) return;
    const button = /** @type {HTMLButtonElement | null} */ (document.getElementById(redo ? "redo" : "undo"));
    event.preventDefault();
    if (button && !button.disabled) button.click();
    else toast(redo ? "Nothing to redo." : "Nothing to undo.", "info");
  };
  document.addEventListener("keydown", onKey);
  /** @param {Event} event */
  const listenInFrame = (event) => {
    const frame = event.target;
    if (!(frame instanceof HTMLIFrameElement) || frame.id !== "email-frame") return;
    try {
      frame.contentDocument?.addEventListener("keydown", onKey);
    } catch {
      // A frame we cannot reach (not same-origin) keeps its keys.
    }
  };
  document.addEventListener("load", listenInFrame, true);
  const frameNow = document.getElementById("email-frame");
  if (frameNow instanceof HTMLIFrameElement && frameNow.contentDocument?.readyState === "complete") listenInFrame(/** @type {any} */ ({ target: frameNow }));

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
