// @ts-check
/**
 * sortable.js: drag-to-reorder for a list whose items have a drag handle. Items become draggable
 * only while the handle is held, so text fields inside them keep normal mouse selection.
 *
 * @param {HTMLElement} list
 * @param {{ item: string, handle: string, onDrop: () => void }} options
 */
export function sortable(list, options) {
  /** @type {HTMLElement | null} */
  let dragging = null;
  list.addEventListener("pointerdown", (event) => {
    const handle = /** @type {HTMLElement} */ (event.target).closest?.(options.handle);
    const item = handle?.closest(options.item);
    if (item instanceof HTMLElement) item.draggable = true;
  });
  list.addEventListener("dragstart", (event) => {
    const item = /** @type {HTMLElement} */ (event.target).closest?.(options.item);
    if (!(item instanceof HTMLElement) || !item.draggable) return;
    dragging = item;
    item.classList.add("dragging");
    event.dataTransfer?.setData("text/plain", item.dataset.sectionId ?? item.dataset.type ?? "");
    if (event.dataTransfer) event.dataTransfer.effectAllowed = "move";
  });
  list.addEventListener("dragover", (event) => {
    if (!dragging) return;
    event.preventDefault();
    const over = /** @type {HTMLElement} */ (event.target).closest?.(options.item);
    if (!(over instanceof HTMLElement) || over === dragging || over.parentElement !== list) return;
    const box = over.getBoundingClientRect();
    if (event.clientY < box.top + box.height / 2) over.before(dragging);
    else over.after(dragging);
  });
  list.addEventListener("drop", (event) => {
    if (dragging) event.preventDefault();
  });
  list.addEventListener("dragend", () => {
    if (!dragging) return;
    dragging.classList.remove("dragging");
    dragging.draggable = false;
    dragging = null;
    options.onDrop();
  });
}
