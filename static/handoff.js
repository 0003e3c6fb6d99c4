// @ts-check
/**
 * handoff.js: the editor's hand-off tools (views/handoff.tsx).
 * - "Send a test": posts the addresses to the test-sends API and shows, per address, whether the
 *   SMTP server accepted it and what it answered (or the error).
 * - The merge-tag picker inserts a neutral tag at the caret of the field last focused in a section
 *   form, and every text field shows the tags it holds as chips.
 * Listeners are on the document, so htmx swaps of `#editor` need no re-binding.
 */
import { csrfToken } from "./app.js";

const TAG_PATTERN = /\{\{\s*([a-z_]+)\s*(?:\|[^}]*)?\}\}/g;

/** @param {string} tag @param {string} cls @param {string} text */
function el(tag, cls, text) {
  const node = document.createElement(tag);
  node.className = cls;
  node.textContent = text;
  return node;
}

document.addEventListener("submit", async (event) => {
  const form = /** @type {HTMLFormElement} */ (event.target);
  if (!(form instanceof HTMLFormElement) || form.id !== "test-send-form") return;
  event.preventDefault();
  const result = /** @type {HTMLElement} */ (form.querySelector("#test-send-result"));
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  const input = /** @type {HTMLInputElement} */ (form.querySelector("input[name=to]"));
  const to = input.value.split(/[,;\s]+/).map((s) => s.trim()).filter(Boolean);
  result.replaceChildren(el("p", "muted small", "Sending…"));
  button.disabled = true;
  try {
    const response = await fetch(form.dataset.url ?? "", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrfToken() }, body: JSON.stringify({ to }) });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      // The API names the field for programs ("to.1: …"); the message itself names the address.
      const message = String(body?.error?.message ?? `The test send failed (${response.status}).`).replace(/^to(\.\d+)?: /, "");
      result.replaceChildren(el("p", "error test-send-error", message));
      return;
    }
    const list = el("ul", "test-send-results", "");
    for (const r of body.results ?? []) {
      const item = el("li", `test-send-${r.status}`, "");
      item.append(el("strong", "", r.address), el("span", `badge ${r.status === "accepted" ? "success" : "danger"}`, r.status), el("code", "small", r.reply));
      list.append(item);
    }
    result.replaceChildren(list);
  } catch (error) {
    result.replaceChildren(el("p", "error test-send-error", `The test send failed: ${/** @type {Error} */ (error).message}`));
  } finally {
    button.disabled = false;
  }
});

/** @type {HTMLInputElement | HTMLTextAreaElement | null} */
let lastField = null;

/** Draws the chips for the merge tags a field holds, just after it. @param {HTMLInputElement | HTMLTextAreaElement} field */
function drawChips(field) {
  const tags = [...field.value.matchAll(TAG_PATTERN)].map((m) => m[0]);
  let chips = field.nextElementSibling instanceof HTMLElement && field.nextElementSibling.classList.contains("merge-chips") ? field.nextElementSibling : null;
  if (tags.length === 0) return chips?.remove();
  if (!chips) {
    chips = el("div", "merge-chips", "");
    chips.setAttribute("aria-label", "Merge tags in this field");
    field.after(chips);
  }
  chips.replaceChildren(...tags.map((t) => el("span", "chip merge-chip", t)));
}

const isTextField = (/** @type {EventTarget | null} */ t) => (t instanceof HTMLTextAreaElement || (t instanceof HTMLInputElement && t.type === "text")) && t.closest(".section-form");

document.addEventListener("focusin", (event) => {
  if (isTextField(event.target)) lastField = /** @type {HTMLInputElement} */ (event.target);
});
document.addEventListener("input", (event) => {
  if (isTextField(event.target)) drawChips(/** @type {HTMLInputElement} */ (event.target));
});

/** Chips for the fields of a section form that has just appeared. */
function drawAll() {
  for (const field of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll(".section-form input[type=text], .section-form textarea"))) drawChips(field);
}
document.addEventListener("htmx:after:swap", drawAll);
drawAll();

document.addEventListener("click", (event) => {
  const button = /** @type {HTMLElement} */ (event.target)?.closest?.(".merge-tag[data-tag]");
  if (!(button instanceof HTMLElement)) return;
  const field = lastField && document.contains(lastField) ? lastField : /** @type {HTMLInputElement | null} */ (document.querySelector(".section-form input[type=text], .section-form textarea"));
  if (!field) return;
  const tag = button.dataset.tag ?? "";
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? start;
  field.setRangeText(tag, start, end, "end");
  field.focus();
  field.dispatchEvent(new Event("input", { bubbles: true }));
});
