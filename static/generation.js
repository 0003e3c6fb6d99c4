// @ts-check
/**
 * generation.js: the live generation view. The server drew the state up to an offset; this follows
 * the email's session from that offset over the WebSocket (session-client.js resumes exactly after
 * any disconnect), so closing the tab and coming back shows the same generation, caught up. Stop is
 * an explicit cancel control event for the run; closing the page never stops anything.
 */
import { SessionClient } from "./session-client.js";
import { showConnection, toast } from "./app.js";

const root = document.getElementById("generation");
if (root && root.dataset.status === "generating") {
  const emailId = root.dataset.emailId ?? "";
  const sessionId = root.dataset.sessionId ?? "";
  const runId = root.dataset.runId ?? "";
  const AGENTS = { "email-copy": "copy", "email-hero": "hero", email: "assembly" };
  const TONES = { waiting: "neutral", running: "info", completed: "success", cancelled: "warning", failed: "danger" };

  /** runId → agent key, for the orchestrator run and its sub-agents. */
  const ours = new Map();
  for (const li of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll(".agent[data-run-id]"))) {
    if (li.dataset.runId) ours.set(li.dataset.runId, li.dataset.agent);
  }

  /** @param {string} key @param {{ status?: string, label?: string, progress?: number }} change */
  const updateAgent = (key, change) => {
    const li = /** @type {HTMLElement | null} */ (root.querySelector(`.agent[data-agent="${key}"]`));
    if (!li) return;
    if (change.status) {
      li.dataset.status = change.status;
      const badge = /** @type {HTMLElement} */ (li.querySelector("[data-role=status]"));
      badge.textContent = change.status;
      badge.className = `badge ${TONES[change.status] ?? "neutral"}`;
    }
    if (change.label !== undefined) /** @type {HTMLElement} */ (li.querySelector("[data-role=label]")).textContent = change.label;
    if (change.progress !== undefined) /** @type {HTMLProgressElement} */ (li.querySelector("progress")).value = change.progress;
  };

  // The preview reloads as sections arrive: a new frame loads behind the old one, then replaces it.
  const holder = document.getElementById("frame-holder");
  let draft = root.querySelectorAll("#written li").length;
  let reloadTimer = 0;
  const reloadPreview = () => {
    clearTimeout(reloadTimer);
    reloadTimer = window.setTimeout(() => {
      if (!holder) return;
      const current = holder.querySelector("iframe:not(.incoming)");
      const next = /** @type {HTMLIFrameElement} */ (current?.cloneNode(false) ?? document.createElement("iframe"));
      next.classList.add("incoming");
      next.src = `/api/emails/${encodeURIComponent(emailId)}/html?draft=${++draft}`;
      next.addEventListener("load", () => {
        for (const old of holder.querySelectorAll("iframe")) if (old !== next) old.remove();
        next.classList.remove("incoming");
      }, { once: true });
      holder.append(next);
    }, 120);
  };

  const written = document.getElementById("written");
  const count = document.getElementById("section-count");
  /** @param {{ id: string, type: string, fields?: Record<string, unknown> }} section */
  const showSection = (section) => {
    if (!written) return;
    const summary = summaryOf(section.type, section.fields ?? {});
    let li = written.querySelector(`li[data-section-id="${CSS.escape(section.id)}"]`);
    if (!li) {
      li = document.createElement("li");
      li.setAttribute("data-section-id", section.id);
      li.classList.add("arrived");
      written.append(li);
    }
    const badge = document.createElement("span");
    badge.className = "badge neutral";
    badge.textContent = section.type;
    const text = document.createElement("span");
    text.textContent = summary;
    li.replaceChildren(badge, " ", text);
    if (count) count.textContent = String(written.children.length);
    reloadPreview();
  };

  /** @param {string} url */
  const showHero = (url) => {
    const slot = document.getElementById("hero-slot");
    if (!slot || slot.querySelector("img")?.getAttribute("src") === url) return;
    const img = document.createElement("img");
    img.src = url;
    img.alt = "The generated hero image";
    img.id = "hero-image";
    slot.replaceChildren(img);
  };

  let finished = false;
  /** @param {string} status */
  const finish = (status) => {
    if (finished) return;
    finished = true;
    const notice = document.getElementById("ready-notice");
    if (notice) {
      notice.hidden = false;
      notice.textContent = status === "completed" ? "The email is ready. Opening the editor…" : status === "cancelled" ? "Stopped. Opening what was written so far…" : "The generation failed.";
      notice.className = `notice ${status === "completed" ? "success" : status === "cancelled" ? "warning" : "danger"}`;
    }
    document.getElementById("stop-form")?.remove();
    setTimeout(() => location.reload(), 700);
  };

  const client = new SessionClient({});
  showConnection(client, document.getElementById("connection"));
  const sub = client.subscribe(sessionId, { offset: root.dataset.offset || "-1" });
  sub.on("error", (error) => toast(`Live updates stopped: ${error.message}`, "danger"));
  sub.on("event", ({ event }) => {
    const e = /** @type {any} */ (event);
    if (e.type === "run.start") {
      const key = AGENTS[e.agent];
      if (key && (e.runId === runId || e.parentRunId === runId)) {
        ours.set(e.runId, key);
        updateAgent(key, { status: "running", label: "Starting" });
      }
    } else if (e.type === "run.progress" && ours.has(e.runId)) {
      updateAgent(ours.get(e.runId), { label: e.label, ...(typeof e.progress === "number" ? { progress: e.progress } : {}) });
    } else if (e.type === "run.end" && ours.has(e.runId)) {
      updateAgent(ours.get(e.runId), { status: e.status, ...(e.status === "completed" ? { progress: 1 } : {}), ...(e.error ? { label: e.error } : {}) });
      if (e.runId === runId) finish(e.status);
    } else if (e.type === "artifact" && ours.has(e.runId)) {
      if (e.kind === "section" && e.data) showSection(e.data);
      if (e.kind === "image") showHero(e.ref);
    } else if (e.type === "input.request" && e.runId === runId && e.kind === "approval" && !document.getElementById("hero-approval")) {
      // The hero waits for approval (approveHero): the server draws the question and its buttons.
      location.reload();
    } else if (e.type === "control" && e.action === "respond" && e.requestId === document.getElementById("hero-approval")?.dataset.requestId) {
      // Answered here or on another device: the buttons go, the run continues.
      document.getElementById("hero-approval")?.remove();
    }
  });

  // Stop sends a cancel control event over the socket (the form posts the same without JavaScript).
  const stopForm = document.getElementById("stop-form");
  stopForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = /** @type {HTMLButtonElement} */ (document.getElementById("stop"));
    button.disabled = true;
    button.textContent = "Stopping…";
    try {
      await client.cancel(sessionId, { runId });
    } catch (error) {
      button.disabled = false;
      button.textContent = "Stop";
      toast(`Could not stop: ${/** @type {Error} */ (error).message}`, "danger");
    }
  });

  // Already over when the page was drawn (the run ended between the two reads): show the result.
  if (root.querySelector('.agent[data-agent="assembly"][data-status="completed"], .agent[data-agent="assembly"][data-status="failed"], .agent[data-agent="assembly"][data-status="cancelled"]')) setTimeout(() => location.reload(), 1000);
}

/**
 * A short line saying what a section contains (src/web/section-form.ts `sectionSummary`).
 * @param {string} type
 * @param {Record<string, any>} fields
 */
function summaryOf(type, fields) {
  const pick = (/** @type {string[]} */ ...names) => names.map((n) => fields[n]).find((v) => typeof v === "string" && v.trim() !== "");
  const list = (/** @type {string} */ name) => (Array.isArray(fields[name]) ? fields[name] : []);
  if (type === "benefits") return pick("title") ?? list("items").map((i) => i.title ?? "").join(" · ");
  if (type === "product-grid") return list("products").map((p) => p.name ?? "").join(" · ");
  if (type === "divider") return "—";
  if (type === "footer") return pick("companyName", "address") ?? "";
  return pick("headline", "text", "name", "label", "quote", "alt", "subheadline") ?? "";
}
