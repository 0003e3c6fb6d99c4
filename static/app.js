// @ts-check
/**
 * app.js: what every page shares — human messages for failed htmx requests, "Copy HTML", and small
 * helpers the page modules import. No inline script anywhere (the CSP forbids it).
 */

/** The page's CSRF token (from `<meta name="csrf-token">`), for JSON API calls with the session cookie. */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
}

/**
 * Shows a short message in the corner; it goes away by itself.
 * @param {string} message
 * @param {"info" | "success" | "danger"} [tone]
 */
export function toast(message, tone = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = `toast ${tone}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), tone === "danger" ? 8000 : 4000);
}

/**
 * A JSON API call with the session cookie and the CSRF header; throws an Error with the server's message.
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [options]
 */
export async function api(path, options = {}) {
  const response = await fetch(path, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data?.error?.message ?? `The server answered ${response.status}.`);
  return data;
}

/** The text of an error response, as a sentence a person can read. */
async function messageOf(/** @type {Response | undefined} */ raw, /** @type {number} */ status) {
  let text = "";
  try {
    text = raw ? await raw.clone().text() : "";
  } catch {}
  try {
    const parsed = JSON.parse(text);
    if (parsed?.error?.message) return parsed.error.message;
  } catch {}
  if (text && text.length < 300 && !text.trimStart().startsWith("<")) return text;
  if (status === 401) return "You were logged out. Log in again to continue.";
  if (status === 403) return "That was refused. Reload the page and try again.";
  if (status === 404) return "That is not there any more. Reload the page.";
  if (status >= 500) return "Something went wrong on the server. Try again in a moment.";
  return `The request failed (${status}).`;
}

// Errors that htmx does not swap into the page (see the htmx-config meta tag) become a message.
document.addEventListener("htmx:response:error", async (event) => {
  const ctx = /** @type {any} */ (event).detail?.ctx;
  const status = ctx?.response?.status ?? 0;
  if (status === 422 || status === 400) return; // the page shows these in place
  toast(await messageOf(ctx?.response?.raw, status), "danger");
});
document.addEventListener("htmx:error", (event) => {
  const ctx = /** @type {any} */ (event).detail?.ctx;
  if (ctx?.response) return;
  toast("Could not reach the server. Check your connection and try again.", "danger");
});

// "Copy HTML" in the editor.
document.addEventListener("click", async (event) => {
  const button = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest?.("#copy-html"));
  if (!button) return;
  try {
    const response = await fetch(button.dataset.url ?? "");
    if (!response.ok) throw new Error(await messageOf(response, response.status));
    await navigator.clipboard.writeText(await response.text());
    toast("The email's HTML is on your clipboard.", "success");
  } catch (error) {
    toast(`Could not copy: ${/** @type {Error} */ (error).message}`, "danger");
  }
});

// Menus (`<details class="menu">`: Export, Send a test, Variants, Developers…): one open at a time,
// and a click elsewhere or Escape closes them, so an open menu never stays over the page or another menu.
document.addEventListener(
  "toggle",
  (event) => {
    const menu = event.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("menu") || !menu.open) return;
    for (const other of document.querySelectorAll("details.menu[open]")) if (other !== menu && !other.contains(menu)) /** @type {HTMLDetailsElement} */ (other).open = false;
  },
  true, // toggle does not bubble
);
document.addEventListener("click", (event) => {
  // The path as dispatched: a click on something a swap has removed since still counts as inside.
  const path = event.composedPath();
  for (const menu of document.querySelectorAll("details.menu[open]")) if (!path.includes(menu)) /** @type {HTMLDetailsElement} */ (menu).open = false;
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    /** @type {HTMLDetailsElement} */ (menu).open = false;
    if (menu.contains(document.activeElement)) /** @type {HTMLElement | null} */ (menu.querySelector("summary"))?.focus();
  }
});

/** Elements that only work with JavaScript are hidden in the markup and shown here. */
export function showScriptOnly(root = document) {
  for (const element of root.querySelectorAll("[data-needs-js]")) /** @type {HTMLElement} */ (element).hidden = false;
}
showScriptOnly();
document.addEventListener("htmx:after:swap", () => showScriptOnly());

/**
 * Shows a SessionClient's connection state in an element with `data-state`.
 * @param {import("./session-client.js").SessionClient} client
 * @param {HTMLElement | null} element
 */
export function showConnection(client, element) {
  if (!element) return;
  const words = { idle: "Connecting…", connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Disconnected" };
  client.on("status", (status) => {
    element.dataset.state = status;
    element.textContent = words[status] ?? status;
  });
}
