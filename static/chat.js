// @ts-check
/**
 * chat.js: a tiny chat on a session. It subscribes in snapshot mode (the conversation so far as
 * whole messages, then live deltas), so every open tab shows the same conversation and a reopened
 * tab catches up at once. Sending posts the message and starts the offline chat agent.
 */
import { SessionClient } from "./session-client.js";
import { api, showConnection, toast } from "./app.js";
import { applyToTranscript } from "./transcript.js";

const root = document.getElementById("chat");
if (root) {
  const sessionId = root.dataset.sessionId ?? "";
  const transcript = /** @type {HTMLElement} */ (document.getElementById("transcript"));
  const client = new SessionClient({});
  showConnection(client, document.getElementById("connection"));
  const sub = client.subscribe(sessionId, { mode: "snapshot" });
  sub.on("error", (error) => toast(`Live updates stopped: ${error.message}`, "danger"));
  sub.on("event", ({ event }) => {
    if (/** @type {any} */ (event).role === "system") return;
    if (applyToTranscript(transcript, event)) transcript.lastElementChild?.scrollIntoView({ block: "nearest" });
  });

  const form = /** @type {HTMLFormElement} */ (document.getElementById("chat-form"));
  const input = /** @type {HTMLInputElement} */ (document.getElementById("chat-text"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    try {
      await api(`/api/sessions/${encodeURIComponent(sessionId)}/messages`, { body: { text, id: `msg_${crypto.randomUUID()}`, clientId: client.clientId, run: { agent: "chat", provider: "offline" } } });
    } catch (error) {
      input.value = text;
      toast(/** @type {Error} */ (error).message, "danger");
    }
  });
  document.getElementById("chat-stop-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await client.cancel(sessionId, { scope: "all" });
    } catch (error) {
      toast(/** @type {Error} */ (error).message, "danger");
    }
  });
}
