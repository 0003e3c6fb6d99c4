import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { can, type Principal } from "../accounts/principal";
import { loadSession } from "./routes";
import { authorizeControl, authorizeMessage } from "./permissions";
import { MAX_EVENT_TEXT_CHARS } from "./events";
import type { SessionService } from "./service";
import { issueClientToken, CLIENT_TOKEN_TTL_MS } from "./tokens";
import type { Turns } from "./turns";

const SessionId = z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" }, example: "ses_8mH2kQ0c1v3pXyZa9bCdEfGh" });
const ChatId = z.string().min(1).max(200).openapi({ param: { name: "chatId", in: "path" }, example: "chat_1" });
/** An AI SDK UIMessage as `useChat` sends it (only its text parts are read). */
const UiMessage = z.object({
  id: z.string().max(200).optional(),
  role: z.enum(["user", "assistant", "system"]),
  parts: z.array(z.object({ type: z.string().max(100), text: z.string().max(MAX_EVENT_TEXT_CHARS).optional() }).passthrough()).max(1_000),
});
const ChatRequest = z
  .object({
    id: z.string().max(200).optional().openapi({ description: "useChat's chat id (the session is the chat)" }),
    messages: z.array(UiMessage).min(1).max(10_000),
    trigger: z.enum(["submit-message", "regenerate-message"]).optional(),
    messageId: z.string().max(200).optional(),
  })
  .openapi("AiSdkChatRequest");
const StreamLocation = z.object({ streamUrl: z.string(), runId: z.string() }).openapi("AiSdkStream");

/**
 * The AI SDK `useChat` path, for `@durable-streams/aisdk-transport` unchanged: `api` is
 * `/api/sessions/:id/chat` and the transport's headers carry a client token. Sending a message
 * starts a turn (the session's default agent, its double-texting policy) whose run mirrors its
 * events as UI message chunks into a JSON stream of its own; the answer names that stream
 * (`Location`, and `streamUrl`) with a read-only token in its query, since the transport reads it
 * without headers. `GET …/chat/:chatId/stream` names the running turn's stream (204 when none), for
 * a reload or a second tab; `POST …/chat/stop` cancels this client's running turn (what a
 * `fetchClient` that forwards `stop()` calls; see docs/protocol.md).
 */
export function chatRoutes(options: { service: SessionService; turns: Turns; secretKey: string; publicUrl: string | undefined }) {
  const { service, turns } = options;
  const app = router();
  const origin = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  /** The stream's URL with a read-only token for this session (the transport sends no headers when reading). */
  const readableUrl = (c: Context<AppEnv>, session: { id: string; teamId: string | null }, path: string) => {
    const principal = c.get("principal");
    const clientId = principal.kind === "client" ? principal.clientId : "ai-sdk";
    const { token } = issueClientToken(options.secretKey, { sessionId: session.id, teamId: session.teamId, clientId, expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS, capabilities: ["read"] });
    return `${origin(c)}${path}?token=${encodeURIComponent(token)}`;
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/chat",
      tags: ["AI SDK"],
      summary: "useChat's send: posts the last user message, starts a turn, answers where its UI message chunks stream",
      request: { params: z.object({ id: SessionId }), body: { content: { "application/json": { schema: ChatRequest } } } },
      responses: {
        201: { description: "Turn started; `Location` is the stream of AI SDK UI message chunks", content: { "application/json": { schema: StreamLocation } } },
        ...errors(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const session = await loadSession(c, service, id, "write");
      if (body.trigger === "regenerate-message") throw new ApiError(400, "unsupported_trigger", "Regenerating an answer is not supported on this endpoint yet; send a new message.");
      if (!session.agent) throw new ApiError(400, "no_agent", "This session has no default agent: create it with {agent} so a message starts a turn.");
      const last = [...body.messages].reverse().find((m) => m.role === "user");
      const text = last?.parts.map((p) => (p.type === "text" && typeof p.text === "string" ? p.text : "")).join("") ?? "";
      if (!last || !text.trim()) throw new ApiError(400, "invalid_request", "messages must end with a user message that has text.");
      const principal = c.get("principal");
      const allowed = authorizeMessage(principal, { ...(last.id ? { id: last.id } : {}), role: "user", text, ...(principal.kind === "client" ? {} : { clientId: "ai-sdk" }) });
      if (!allowed.ok) throw new ApiError(403, allowed.code, allowed.message);
      const uiStream = await service.createUiStream(id);
      const posted = await turns.postUserMessage({ sessionId: id, event: allowed.event, clientId: allowed.event.clientId, runInput: { uiStream } });
      if (!posted.ok) {
        if (posted.code === "turn_active") throw new ApiError(409, "turn_active", `A turn is running (${posted.runId}); this session rejects messages until it ends.`);
        throw new ApiError(posted.code === "session_closed" ? 409 : 404, posted.code, posted.code === "session_closed" ? "This session is closed." : `No session ${id}.`);
      }
      if (!posted.runId) throw new ApiError(409, "no_turn", "The message was stored but started no turn.");
      // A retried send (same message id) answers with the stream of the turn it started first.
      const path = posted.duplicate ? ((await service.uiTurns(id)).find((t) => t.runId === posted.runId)?.uiStream ?? uiStream) : uiStream;
      const streamUrl = readableUrl(c, session, path);
      c.header("Location", streamUrl);
      return c.json({ streamUrl, runId: posted.runId }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions/{id}/chat/{chatId}/stream",
      tags: ["AI SDK"],
      summary: "useChat's resume: where the running turn's UI message chunks stream (204 when no turn runs)",
      request: { params: z.object({ id: SessionId, chatId: ChatId }) },
      responses: { 200: { description: "The running turn's stream", content: { "application/json": { schema: StreamLocation } } }, 204: { description: "No turn is running" }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const session = await loadSession(c, service, id, "read");
      const [active] = (await service.uiTurns(id)).slice(-1);
      if (!active) return c.body(null, 204);
      const streamUrl = readableUrl(c, session, active.uiStream);
      c.header("Location", streamUrl);
      return c.json({ streamUrl, runId: active.runId }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/chat/stop",
      tags: ["AI SDK"],
      summary: "useChat's stop: cancels this client's running turns (the transport's fetchClient forwards stop() here)",
      request: { params: z.object({ id: SessionId }) },
      responses: { 202: { description: "Cancelled", content: { "application/json": { schema: z.object({ runIds: z.array(z.string()) }) } } }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await loadSession(c, service, id, "write");
      const principal: Principal = c.get("principal");
      const clientId = principal.kind === "client" ? principal.clientId : undefined;
      if (principal.kind === "client" && !can(principal, "control-own") && !can(principal, "control-all")) throw new ApiError(403, "forbidden", "Stopping a turn needs the control-own capability.");
      const runIds: string[] = [];
      for (const turn of await service.uiTurns(id, clientId)) {
        const allowed = await authorizeControl(principal, { type: "control", action: "cancel", runId: turn.runId, ...(clientId ? { clientId } : {}) }, (runId) => service.runClient(id, runId));
        if (!allowed.ok) continue;
        const appended = await service.append(id, allowed.event);
        if (appended.ok) runIds.push(turn.runId);
      }
      return c.json({ runIds }, 202);
    },
  );

  return app;
}
