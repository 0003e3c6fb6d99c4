// @ts-check
/**
 * transcript.js: a session's messages as a list keyed by message id (the same markup the server
 * draws), updated from session events: whole messages (also from a snapshot), and the
 * start/delta/end of streamed ones.
 */

const TONES = { streaming: "info", cancelled: "warning", interrupted: "warning", failed: "danger" };

/**
 * @param {HTMLElement} list the `ol.transcript`
 * @param {string} id
 * @param {string} role
 */
function item(list, id, role) {
  let li = /** @type {HTMLElement | null} */ (list.querySelector(`li[data-message-id="${CSS.escape(id)}"]`));
  if (!li) {
    li = document.createElement("li");
    li.className = `message ${role}`;
    li.dataset.messageId = id;
    const meta = document.createElement("span");
    meta.className = "message-meta";
    const who = document.createElement("strong");
    who.textContent = role;
    meta.append(who);
    const text = document.createElement("p");
    text.className = "message-text";
    li.append(meta, text);
    list.append(li);
    document.getElementById("no-messages")?.remove();
  }
  return li;
}

/** @param {HTMLElement} li @param {string} status */
function setStatus(li, status) {
  li.dataset.status = status;
  const meta = /** @type {HTMLElement} */ (li.querySelector(".message-meta"));
  meta.querySelector(".badge")?.remove();
  if (status !== "complete") {
    const badge = document.createElement("span");
    badge.className = `badge ${TONES[status] ?? "neutral"}`;
    badge.textContent = status;
    meta.append(" ", badge);
  }
}

/**
 * Applies one event to the transcript; returns true when it changed it.
 * @param {HTMLElement} list
 * @param {any} event
 */
export function applyToTranscript(list, event) {
  const text = (/** @type {HTMLElement} */ li) => /** @type {HTMLElement} */ (li.querySelector(".message-text"));
  if (event.type === "message") {
    const li = item(list, event.id, event.role);
    text(li).textContent = event.text;
    setStatus(li, event.status ?? "complete");
  } else if (event.type === "message.start") {
    setStatus(item(list, event.id, "assistant"), "streaming");
  } else if (event.type === "message.delta") {
    const li = item(list, event.id, "assistant");
    text(li).textContent += event.text;
    if (li.dataset.status !== "streaming") setStatus(li, "streaming");
  } else if (event.type === "message.end") {
    setStatus(item(list, event.id, "assistant"), event.status);
  } else return false;
  return true;
}
