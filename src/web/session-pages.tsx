import { Hono, type Context } from "hono";
import { teamScope } from "../accounts/scope";
import type { SessionService } from "../sessions/service";
import { newId } from "../sessions/service";
import type { Presence } from "../sessions/presence";
import type { SessionEvent } from "../sessions/events";
import { ChatPage, ConsolePage, SessionsPage, type ConsoleData, type LogEntry } from "../../views/sessions";
import { MessagePage } from "../../views/components";
import { requireUser } from "./account-pages";
import { readSessionLog } from "./session-log";
import { field, formCsrfOk, html, isHtmx, readForm, FORM_EXPIRED, type PageEnv } from "./forms";

/** The console shows at most this many of the latest events; the rest stay in the log. */
export const CONSOLE_LOG_EVENTS = 300;
/** Bounds of the offline chat run started from the console. */
const MAX_TOKENS = 5_000;
const MAX_TOKENS_PER_SECOND = 1_000;

/** One line describing an event, for the console's event log. static/console.js writes the same. */
export function describeEvent(event: SessionEvent): string {
  const clip = (text: string, max = 90) => (text.length > max ? `${text.slice(0, max)}…` : text);
  switch (event.type) {
    case "message":
      return `${event.role}: ${clip(event.text)}`;
    case "message.start":
      return `${event.agent} starts ${event.id}`;
    case "message.delta":
      return JSON.stringify(clip(event.text, 60));
    case "message.end":
      return `${event.id} ${event.status}`;
    case "run.start":
      return `${event.agent} ${event.runId}${event.parentRunId ? ` (child of ${event.parentRunId})` : ""}`;
    case "run.progress":
      return `${event.agent}: ${event.label}${event.progress !== undefined ? ` (${Math.round(event.progress * 100)}%)` : ""}`;
    case "run.end":
      return `${event.runId} ${event.status}${event.error ? `: ${clip(event.error)}` : ""}`;
    case "control":
      return `${event.action}${event.runId ? ` ${event.runId}` : ""}${event.text ? `: ${clip(event.text)}` : ""}`;
    case "artifact":
      return `${event.kind} ${clip(event.ref, 70)}`;
    case "input.request":
      return `${event.kind} ${event.requestId}: ${clip(event.prompt)}`;
    case "branch.created":
      return `branch ${event.branchId} (${event.reason} of ${event.fromMessageId})`;
    case "branch.switched":
      return `now following ${event.branchId}`;
    case "turn.state":
      return `turns: ${event.active.map((t) => t.runId).join(", ") || "none"} active, ${event.queued.length} queued`;
  }
}

/**
 * The sessions console for engineers (list, one session's live log, presence, runs, and
 * start/steer/interrupt/cancel) and a tiny chat page on top of a session. Forms post here without
 * JavaScript; static/console.js and static/chat.js do the same over the WebSocket and JSON API.
 */
export function sessionPages(options: { sessions: SessionService; presence: Presence; offline: () => boolean }) {
  const { sessions, presence } = options;
  const app = new Hono<PageEnv>();
  const user = (c: Context<PageEnv>) => c.get("user")!;
  const common = (c: Context<PageEnv>) => ({ user: user(c), csrfToken: c.get("csrfToken")!, offline: options.offline() });
  app.use("/sessions", requireUser);
  app.use("/sessions/*", requireUser);

  const load = async (c: Context<PageEnv>) => sessions.get(c.req.param("id") ?? "", teamScope(user(c).teamId));
  const notFound = (c: Context<PageEnv>) =>
    html(c, <MessagePage title="Not found" message="This session does not exist, or belongs to another team." user={user(c)} csrfToken={c.get("csrfToken")} back={{ href: "/sessions", label: "All sessions" }} />, 404);

  app.get("/sessions", async (c) => html(c, <SessionsPage {...common(c)} sessions={await sessions.list(teamScope(user(c).teamId))} />));

  app.post("/sessions", async (c) => {
    const form = await readForm(c);
    if (!formCsrfOk(c, form)) return html(c, <SessionsPage {...common(c)} sessions={await sessions.list(teamScope(user(c).teamId))} error={FORM_EXPIRED} />, 403);
    const title = field(form, "title").trim().slice(0, 200);
    const session = await sessions.create({ title: title || undefined, teamId: user(c).teamId });
    return c.redirect(`/sessions/${encodeURIComponent(session.id)}`, 303);
  });

  app.get("/sessions/:id", async (c) => {
    const session = await load(c);
    if (!session) return notFound(c);
    const [log, runs, members] = await Promise.all([readSessionLog(sessions, session.id), sessions.runs(session.id), presence.members(session.id)]);
    if (!log) return notFound(c);
    const compacted = await sessions.compacted(log.row);
    const shown = log.events.slice(-CONSOLE_LOG_EVENTS);
    const data: ConsoleData = {
      session: { id: session.id, title: session.title },
      runs: runs.map((r) => ({ runId: r.runId, agent: r.agent, status: r.status, parentRunId: r.parentRunId ?? null })),
      presence: members,
      messages: compacted.messages.map(({ id, role, text, status, runId }) => ({ id, role, text, status, ...(runId ? { runId } : {}) })),
      log: shown.map((e): LogEntry => ({ offset: e.offset, type: e.event.type, summary: describeEvent(e.event) })),
      omitted: log.events.length - shown.length,
      // The compacted messages and the log end at the same tail: the script follows from there.
      offset: compacted.offset,
    };
    return html(c, <ConsolePage {...common(c)} data={data} />);
  });

  app.get("/sessions/:id/chat", async (c) => {
    const session = await load(c);
    if (!session) return notFound(c);
    const row = await sessions.stream(session.id);
    if (!row) return notFound(c);
    const compacted = await sessions.compacted(row);
    const messages = compacted.messages.filter((m) => m.role !== "system").map(({ id, role, text, status, runId }) => ({ id, role, text, status, ...(runId ? { runId } : {}) }));
    return html(c, <ChatPage {...common(c)} session={{ id: session.id, title: session.title }} messages={messages} offset={compacted.offset} />);
  });

  const back = (c: Context<PageEnv>, id: string, to: string) => (isHtmx(c) ? c.body(null, 204) : c.redirect(`/sessions/${encodeURIComponent(id)}${to === "chat" ? "/chat" : ""}`, 303));

  // Starts the offline chat agent; a prompt is posted as a user message first, so it shows in the log.
  app.post("/sessions/:id/runs", async (c) => {
    const session = await load(c);
    if (!session) return notFound(c);
    const form = await readForm(c);
    if (!formCsrfOk(c, form)) return c.text(FORM_EXPIRED, 403);
    const number = (name: string, fallback: number, max: number) => {
      const value = Math.floor(Number(field(form, name)));
      return Number.isFinite(value) && value >= 1 ? Math.min(value, max) : fallback;
    };
    const prompt = field(form, "prompt").trim().slice(0, 2_000);
    let input: unknown;
    if (prompt) {
      const messageId = newId("msg");
      await sessions.append(session.id, { type: "message", id: messageId, role: "user", text: prompt, clientId: user(c).id }, `event:${messageId}`);
      input = { messageId };
    }
    await sessions.startRun(session.id, { agent: "chat", provider: "offline", options: { tokens: number("tokens", 300, MAX_TOKENS), tokensPerSecond: number("tokensPerSecond", 40, MAX_TOKENS_PER_SECOND) }, input, clientId: user(c).id });
    return back(c, session.id, "console");
  });

  app.post("/sessions/:id/chat", async (c) => {
    const session = await load(c);
    if (!session) return notFound(c);
    const form = await readForm(c);
    if (!formCsrfOk(c, form)) return c.text(FORM_EXPIRED, 403);
    const text = field(form, "text").trim().slice(0, 4_000);
    if (text) {
      const messageId = newId("msg");
      await sessions.append(session.id, { type: "message", id: messageId, role: "user", text, clientId: user(c).id }, `event:${messageId}`);
      await sessions.startRun(session.id, { agent: "chat", provider: "offline", input: { messageId }, clientId: user(c).id });
    }
    return back(c, session.id, "chat");
  });

  // Cancel, interrupt or steer every running run of the session: an explicit control event.
  app.post("/sessions/:id/control", async (c) => {
    const session = await load(c);
    if (!session) return notFound(c);
    const form = await readForm(c);
    if (!formCsrfOk(c, form)) return c.text(FORM_EXPIRED, 403);
    const action = field(form, "action");
    const text = field(form, "text").trim().slice(0, 2_000);
    if ((action === "cancel" || action === "interrupt") || (action === "steer" && text)) {
      const event: SessionEvent = { type: "control", action, clientId: user(c).id, ...(action === "steer" ? { text } : {}), ...(action === "cancel" ? { scope: "all" as const } : {}) };
      await sessions.append(session.id, event);
    }
    return back(c, session.id, field(form, "back"));
  });

  return app;
}
