// @ts-check
/**
 * console.js: one session, live. The server drew the log, runs, presence and messages up to an
 * offset; this follows the session from there over the WebSocket. The controls go through the same
 * channels an integration would use: runs through the JSON API, steer/interrupt/cancel as control
 * frames on the socket.
 */
import { SessionClient } from "./session-client.js";
import { api, showConnection, toast } from "./app.js";
import { applyToTranscript } from "./transcript.js";

/** The log keeps this many rows in the page. */
const MAX_LOG_ROWS = 500;
const TONES = { completed: "success", running: "info", queued: "info", retrying: "info", cancelled: "warning", failed: "danger" };

const root = document.getElementById("console");
if (root) {
  const sessionId = root.dataset.sessionId ?? "";
  const log = /** @type {HTMLElement} */ (document.getElementById("log"));
  const runs = /** @type {HTMLElement} */ (document.getElementById("runs"));
  const transcript = /** @type {HTMLElement} */ (document.getElementById("transcript"));
  const presence = /** @type {HTMLElement} */ (document.getElementById("presence"));

  const client = new SessionClient({});
  showConnection(client, document.getElementById("connection"));
  const sub = client.subscribe(sessionId, { offset: root.dataset.offset || "-1" });
  sub.on("error", (error) => toast(`Live updates stopped: ${error.message}`, "danger"));

  /** @param {string} tag @param {string} [className] @param {string} [text] */
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const countActive = () => {
    const active = runs.querySelectorAll('[data-status="running"], [data-status="queued"], [data-status="retrying"]').length;
    const label = document.getElementById("active-runs");
    if (label) label.textContent = `${active} active`;
  };

  /** @param {string} runId @param {string} agent @param {string} status */
  const setRun = (runId, agent, status) => {
    let row = /** @type {HTMLElement | null} */ (runs.querySelector(`tr[data-run-id="${CSS.escape(runId)}"]`));
    if (!row) {
      row = el("tr");
      row.dataset.runId = runId;
      const id = el("td");
      id.append(el("code", "", runId));
      row.append(id, el("td", "", agent), el("td"));
      runs.append(row);
      document.getElementById("no-runs")?.remove();
    }
    const cell = /** @type {HTMLElement} */ (row.lastElementChild);
    cell.replaceChildren(el("span", `badge ${TONES[status] ?? "neutral"}`, status));
    row.dataset.status = status;
    countActive();
  };
  for (const row of /** @type {NodeListOf<HTMLElement>} */ (runs.querySelectorAll("tr"))) row.dataset.status = row.querySelector(".badge")?.textContent ?? "";

  sub.on("event", ({ offset, event }) => {
    const e = /** @type {any} */ (event);
    const row = el("tr", "arrived");
    row.dataset.offset = offset;
    const code = el("td");
    code.append(el("code", "", offset.replace(/^0+_?0*/, "") || "0"));
    const type = el("td");
    type.append(el("span", `event-type t-${e.type.replace(".", "-")}`, e.type));
    row.append(code, type, el("td", "", describe(e)));
    log.append(row);
    while (log.children.length > MAX_LOG_ROWS) log.firstElementChild?.remove();
    const scroller = log.closest(".log-scroll");
    if (scroller) scroller.scrollTop = scroller.scrollHeight;

    applyToTranscript(transcript, e);
    if (e.type === "run.start") setRun(e.runId, e.agent, "running");
    if (e.type === "run.end") setRun(e.runId, runs.querySelector(`tr[data-run-id="${CSS.escape(e.runId)}"] td:nth-child(2)`)?.textContent ?? "", e.status);
  });

  sub.on("presence", ({ members }) => {
    presence.replaceChildren(
      ...(members.length === 0
        ? [el("li", "muted", "Nobody is connected.")]
        : members.map((m) => {
            const li = el("li");
            li.append(el("code", "", m.clientId), " ", el("span", "muted small", m.clientId === client.clientId ? `${m.device} (this page)` : m.device));
            if (m.status) li.append(" ", el("span", "badge info", m.status));
            return li;
          })),
    );
  });

  /** @param {string} id @param {(form: HTMLFormElement) => Promise<unknown>} action */
  const intercept = (id, action) => {
    const form = /** @type {HTMLFormElement | null} */ (document.getElementById(id));
    form?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button?.setAttribute("aria-busy", "true");
      try {
        await action(form);
      } catch (error) {
        toast(/** @type {Error} */ (error).message, "danger");
      } finally {
        button?.removeAttribute("aria-busy");
      }
    });
  };
  const value = (/** @type {HTMLFormElement} */ form, /** @type {string} */ name) => String(new FormData(form).get(name) ?? "").trim();

  intercept("start-run", async (form) => {
    const options = { tokens: Number(value(form, "tokens")) || 300, tokensPerSecond: Number(value(form, "tokensPerSecond")) || 40 };
    const prompt = value(form, "prompt");
    const run = { agent: "chat", provider: "offline", options };
    const path = `/api/sessions/${encodeURIComponent(sessionId)}`;
    if (prompt) await api(`${path}/messages`, { body: { text: prompt, clientId: client.clientId, run } });
    else await api(`${path}/runs`, { body: { ...run, clientId: client.clientId } });
    toast("Run started.", "success");
  });
  intercept("steer-form", async (form) => {
    await client.steer(sessionId, value(form, "text"));
    form.reset();
  });
  intercept("interrupt-form", () => client.interrupt(sessionId));
  intercept("cancel-form", () => client.cancel(sessionId, { scope: "all" }));
}

/**
 * One line describing an event (src/web/session-pages.tsx `describeEvent`).
 * @param {any} e
 */
function describe(e) {
  const clip = (/** @type {string} */ text, max = 90) => (text.length > max ? `${text.slice(0, max)}…` : text);
  switch (e.type) {
    case "message": return `${e.role}: ${clip(e.text)}`;
    case "message.start": return `${e.agent} starts ${e.id}`;
    case "message.delta": return JSON.stringify(clip(e.text, 60));
    case "message.end": return `${e.id} ${e.status}`;
    case "run.start": return `${e.agent} ${e.runId}${e.parentRunId ? ` (child of ${e.parentRunId})` : ""}`;
    case "run.progress": return `${e.agent}: ${e.label}${e.progress !== undefined ? ` (${Math.round(e.progress * 100)}%)` : ""}`;
    case "run.end": return `${e.runId} ${e.status}${e.error ? `: ${clip(e.error)}` : ""}`;
    case "control": return `${e.action}${e.runId ? ` ${e.runId}` : ""}${e.text ? `: ${clip(e.text)}` : ""}`;
    case "artifact": return `${e.kind} ${clip(String(e.ref), 70)}`;
    case "input.request": return `${e.kind} ${e.requestId}: ${clip(e.prompt)}`;
    case "branch.created": return `branch ${e.branchId} (${e.reason} of ${e.fromMessageId})`;
    case "branch.switched": return `now following ${e.branchId}`;
    case "turn.state": return `turns: ${e.active.map((t) => t.runId).join(", ") || "none"} active, ${e.queued.length} queued`;
    default: return "";
  }
}
