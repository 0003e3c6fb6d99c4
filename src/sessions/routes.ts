import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { canAccessSession, type Principal } from "../accounts/principal";
import type { Presence } from "./presence";
import { newId, sessionStreamPath, type SessionService } from "./service";
import { signClientToken, CLIENT_TOKEN_TTL_MS } from "./tokens";
import { MAX_EVENT_TEXT_CHARS, type SessionEvent } from "./events";
import { MAX_EVENTS_PAGE } from "./service";
import { formatOffset } from "../streams/offsets";
import { DOUBLE_TEXTING, type Turns } from "./turns";
import type { InputRequests, RespondResult } from "./input-requests";

/** How a refused answer maps to a status. */
const RESPOND_STATUS = { request_not_found: 404, request_closed: 409, invalid_value: 400, session_closed: 409, session_not_found: 404 } as const satisfies Record<Extract<RespondResult, { ok: false }>["code"], 400 | 404 | 409>;

const SessionId = z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" }, example: "ses_8mH2kQ0c1v3pXyZa9bCdEfGh" });
const AgentName = z.string().regex(/^[a-z][a-z0-9-]{0,49}$/, "an agent name such as chat").openapi({ example: "chat" });
const Provider = z.enum(["offline", "anthropic", "openai", "auto"]).openapi({ example: "offline" });
const Options = z.record(z.string(), z.unknown()).openapi({ example: { tokens: 300, tokensPerSecond: 40 } });
const DoubleTexting = z.enum(DOUBLE_TEXTING).openapi({
  description: "What a user message does while a turn runs: enqueue (answer in order), interrupt (end the running turn as interrupted, then answer), reject (409 turn_active), parallel (answer at once, beside it).",
  example: "enqueue",
});
const TurnRef = z.object({ runId: z.string(), messageId: z.string() });
const TurnState = z.object({ active: z.array(TurnRef), queued: z.array(TurnRef) }).openapi("TurnState");
const TurnActiveError = z
  .object({ error: z.object({ code: z.literal("turn_active"), message: z.string(), runId: z.string().openapi({ description: "The turn that is running (or first in line)." }) }) })
  .openapi("TurnActiveError");

const CreatedSession = z
  .object({
    id: z.string(),
    streamUrl: z.string().openapi({ description: "The session's JSON-mode Durable Stream (readable with a client token)." }),
    wsUrl: z.string(),
    clientToken: z.string().openapi({ description: "Signed, expiring, scoped to this session: read, publish user messages, control." }),
  })
  .openapi("CreatedSession");

const PresenceMember = z.object({ clientId: z.string(), device: z.string(), since: z.string(), status: z.string().optional() });
const Run = z.object({ runId: z.string(), agent: z.string(), status: z.string() });
const Message = z
  .object({ id: z.string(), role: z.enum(["user", "assistant", "system"]), text: z.string(), status: z.string(), runId: z.string().optional() })
  .openapi("CompactedMessage");

/** Which principal may do what: client tokens are scoped to their session and may not start runs. */
async function loadSession(c: Context<AppEnv>, service: SessionService, id: string, action: "read" | "write" | "run") {
  const principal = c.get("principal");
  const session = await service.get(id, undefined);
  if (!session || !canAccessSession(principal, session)) throw new ApiError(404, "session_not_found", `No session ${id}.`);
  if (action === "run" && principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens cannot start runs; start them from your backend with an API token.");
  return session;
}

function clientIdOf(principal: Principal, requested: string | undefined): string | undefined {
  return principal.kind === "client" ? principal.clientId : requested;
}

/** The session JSON API, declared with zod so it appears in /openapi.json. */
export function sessionRoutes(options: { service: SessionService; turns: Turns; inputs: InputRequests; presence: Presence; secretKey: string; publicUrl: string | undefined; runnableAgents: () => string[] }) {
  const { service, presence, turns, inputs } = options;
  const app = router();
  const origin = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions",
      tags: ["Sessions"],
      summary: "Create a session",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({
                title: z.string().max(200).optional(),
                clientId: z.string().max(100).optional(),
                agent: AgentName.optional().openapi({ description: "Default agent: a plain user message (no `run`) starts a turn with it." }),
                provider: Provider.optional().openapi({ description: "Provider of turns started with the default agent." }),
                options: Options.optional().openapi({ description: "Run options of turns started with the default agent." }),
                doubleTexting: DoubleTexting.optional().openapi({ description: "The session's default policy (parallel when not given)." }),
              }),
            },
          },
          required: false,
        },
      },
      responses: { 201: { description: "Created", content: { "application/json": { schema: CreatedSession } } }, ...errors(400, 401, 403) },
    }),
    async (c) => {
      const principal = c.get("principal");
      if (principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens cannot create sessions.");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      if (body?.agent) assertAgent(options.runnableAgents(), body.agent);
      const session = await service.create({ title: body?.title, teamId: principal.teamId ?? null, agent: body?.agent, provider: body?.provider, options: body?.options, doubleTexting: body?.doubleTexting });
      const base = origin(c);
      const clientToken = signClientToken(options.secretKey, { sessionId: session.id, teamId: session.teamId, clientId: body?.clientId ?? newId("client"), expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS });
      return c.json({ id: session.id, streamUrl: base + sessionStreamPath(session.id), wsUrl: base.replace(/^http/, "ws") + "/ws", clientToken }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions",
      tags: ["Sessions"],
      summary: "List sessions (newest first)",
      responses: { 200: { description: "Sessions", content: { "application/json": { schema: z.object({ sessions: z.array(z.object({ id: z.string(), title: z.string().nullable(), createdAt: z.string() })) }) } } }, ...errors(401, 403) },
    }),
    async (c) => {
      const principal = c.get("principal");
      if (principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens are scoped to one session.");
      const sessions = await service.list(principal.teamId);
      return c.json({ sessions: sessions.map((s) => ({ id: s.id, title: s.title, createdAt: new Date(s.createdAt).toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/client-tokens",
      tags: ["Sessions"],
      summary: "Issue a client token for a browser or app",
      request: { params: z.object({ id: SessionId }), body: { content: { "application/json": { schema: z.object({ clientId: z.string().min(1).max(100).optional() }) } }, required: false } },
      responses: { 201: { description: "Issued", content: { "application/json": { schema: z.object({ clientToken: z.string(), clientId: z.string(), expiresAt: z.string() }) } } }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const session = await loadSession(c, service, id, "run");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const clientId = body?.clientId ?? newId("client");
      const expiresAtMs = Date.now() + CLIENT_TOKEN_TTL_MS;
      const clientToken = signClientToken(options.secretKey, { sessionId: session.id, teamId: session.teamId, clientId, expiresAtMs });
      return c.json({ clientToken, clientId, expiresAt: new Date(expiresAtMs).toISOString() }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions/{id}",
      tags: ["Sessions"],
      summary: "A session with its runs and who is connected",
      request: { params: z.object({ id: SessionId }) },
      responses: {
        200: {
          description: "The session",
          content: {
            "application/json": {
              schema: z.object({
                id: z.string(),
                title: z.string().nullable(),
                agent: z.string().nullable().openapi({ description: "The default agent of plain user messages." }),
                doubleTexting: DoubleTexting,
                tailOffset: z.string(),
                runs: z.array(Run),
                turns: TurnState,
                presence: z.array(PresenceMember),
              }),
            },
          },
        },
        ...errors(401, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const session = await loadSession(c, service, id, "read");
      const [row, runs, members, turnState] = await Promise.all([service.stream(id), service.runs(id), presence.members(id), turns.state(id)]);
      if (!row) throw new ApiError(404, "session_not_found", `No session ${id}.`);
      return c.json({ id, title: session.title, agent: session.agent, doubleTexting: session.doubleTexting, tailOffset: formatOffset(row.tailPos), runs: runs.map((r) => ({ runId: r.runId, agent: r.agent, status: r.status })), turns: turnState, presence: members }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions/{id}/messages",
      tags: ["Sessions"],
      summary: "Compacted messages: deltas folded into whole messages with their status",
      request: { params: z.object({ id: SessionId }) },
      responses: { 200: { description: "Messages", content: { "application/json": { schema: z.object({ messages: z.array(Message), offset: z.string() }) } } }, ...errors(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await loadSession(c, service, id, "read");
      const row = await service.stream(id);
      if (!row) throw new ApiError(404, "session_not_found", `No session ${id}.`);
      const snapshot = await service.compacted(row);
      return c.json({ messages: snapshot.messages.map(({ id, role, text, status, runId }) => ({ id, role, text, status, ...(runId ? { runId } : {}) })), offset: snapshot.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions/{id}/events",
      tags: ["Sessions"],
      summary: "A page of raw events",
      request: {
        params: z.object({ id: SessionId }),
        query: z.object({
          offset: z.string().max(100).default("-1").openapi({ description: "-1 (from the start), now, or an offset from a previous page" }),
          limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PAGE).default(100),
        }),
      },
      responses: {
        200: { description: "Events", content: { "application/json": { schema: z.object({ events: z.array(z.object({ offset: z.string(), event: z.record(z.string(), z.unknown()) })), nextOffset: z.string(), upToDate: z.boolean() }) } } },
        ...errors(400, 401, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { offset, limit } = c.req.valid("query");
      await loadSession(c, service, id, "read");
      const row = await service.stream(id);
      if (!row) throw new ApiError(404, "session_not_found", `No session ${id}.`);
      const page = await service.events(row, offset, limit);
      if (!page) throw new ApiError(400, "bad_offset", "offset must be -1, now, or an offset this server returned.");
      return c.json({ events: page.events.map((e) => ({ offset: e.offset, event: e.event as Record<string, unknown> })), nextOffset: page.nextOffset, upToDate: page.upToDate }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/messages",
      tags: ["Sessions"],
      summary: "Post a user message, optionally starting a run",
      request: {
        params: z.object({ id: SessionId }),
        body: {
          content: {
            "application/json": {
              schema: z.object({
                text: z.string().min(1).max(MAX_EVENT_TEXT_CHARS),
                id: z.string().min(1).max(200).optional().openapi({ description: "Idempotency: the same id posts once." }),
                clientId: z.string().min(1).max(100).optional(),
                run: z.object({ agent: AgentName, provider: Provider.optional(), options: Options.optional() }).optional(),
                doubleTexting: DoubleTexting.optional().openapi({ description: "This message's policy; the session's default when not given." }),
              }),
            },
          },
        },
      },
      responses: {
        201: {
          description: "Posted",
          content: {
            "application/json": {
              schema: z.object({
                messageId: z.string(),
                offset: z.string(),
                runId: z.string().optional().openapi({ description: "The turn this message started (its own `run`, or the session's default agent)." }),
                turn: z.enum(["active", "queued"]).optional().openapi({ description: "active: answering now; queued: waits for the turns before it." }),
              }),
            },
          },
        },
        409: { description: "reject policy: a turn is running (nothing was stored)", content: { "application/json": { schema: TurnActiveError } } },
        ...errors(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await loadSession(c, service, id, body.run ? "run" : "write");
      if (body.run) assertAgent(options.runnableAgents(), body.run.agent);
      const principal = c.get("principal");
      const messageId = body.id ?? newId("msg");
      const clientId = clientIdOf(principal, body.clientId);
      const event = { type: "message" as const, id: messageId, role: "user" as const, text: body.text, ...(clientId ? { clientId } : {}) };
      const result = await turns.postUserMessage({ sessionId: id, event, run: body.run, doubleTexting: body.doubleTexting, clientId });
      if (!result.ok) {
        if (result.code === "turn_active") return c.json({ error: { code: "turn_active" as const, message: `A turn is running (${result.runId}); this session rejects messages until it ends. Nothing was stored.`, runId: result.runId } }, 409);
        throw new ApiError(result.code === "session_closed" ? 409 : 404, result.code, result.code === "session_closed" ? "This session is closed." : `No session ${id}.`);
      }
      return c.json({ messageId, offset: result.offset, ...(result.runId ? { runId: result.runId, turn: result.turn } : {}) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/runs",
      tags: ["Sessions"],
      summary: "Start an agent run",
      request: {
        params: z.object({ id: SessionId }),
        body: { content: { "application/json": { schema: z.object({ agent: AgentName, input: z.unknown().optional(), provider: Provider.optional(), options: Options.optional(), clientId: z.string().max(100).optional() }) } } },
      },
      responses: { 202: { description: "Queued", content: { "application/json": { schema: z.object({ runId: z.string() }) } } }, ...errors(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await loadSession(c, service, id, "run");
      assertAgent(options.runnableAgents(), body.agent);
      const runId = await service.startRun(id, { agent: body.agent, input: body.input, provider: body.provider, options: body.options, clientId: body.clientId });
      return c.json({ runId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/control",
      tags: ["Sessions"],
      summary: "Cancel, interrupt or steer a run, or answer its question (an explicit control event; closing a connection never does this)",
      request: {
        params: z.object({ id: SessionId }),
        body: {
          content: {
            "application/json": {
              schema: z
                .object({
                  action: z.enum(["cancel", "interrupt", "steer", "respond"]),
                  runId: z.string().min(1).max(200).optional(),
                  requestId: z.string().min(1).max(200).optional().openapi({ description: "respond: the input.request answered" }),
                  value: z.unknown().optional().openapi({ description: "respond: true/false for an approval, one of schema.enum for a choice, a string for text" }),
                  text: z.string().min(1).max(MAX_EVENT_TEXT_CHARS).optional(),
                  scope: z.enum(["run", "own", "all"]).optional().openapi({ description: "cancel scope: one run (runId), runs this client started (own), or all" }),
                  clientId: z.string().max(100).optional(),
                })
                .refine((b) => b.action !== "steer" || b.text, { message: "steer needs text", path: ["text"] })
                .refine((b) => b.action !== "respond" || (b.requestId && b.value !== undefined), { message: "respond needs requestId and value", path: ["requestId"] }),
            },
          },
        },
      },
      responses: { 202: { description: "Appended", content: { "application/json": { schema: z.object({ offset: z.string() }) } } }, ...errors(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await loadSession(c, service, id, "write");
      const clientId = clientIdOf(c.get("principal"), body.clientId);
      if (body.action === "respond") {
        const answered = await inputs.respond({ sessionId: id, requestId: body.requestId!, value: body.value, clientId });
        if (!answered.ok) throw new ApiError(RESPOND_STATUS[answered.code], answered.code, answered.message);
        return c.json({ offset: answered.offset }, 202);
      }
      const event: SessionEvent = {
        type: "control",
        action: body.action,
        ...(body.runId ? { runId: body.runId } : {}),
        ...(clientId ? { clientId } : {}),
        ...(body.text ? { text: body.text } : {}),
        ...(body.scope ? { scope: body.scope } : {}),
      };
      const result = await service.append(id, event);
      if (!result.ok) throw new ApiError(404, result.code, `No session ${id}.`);
      return c.json({ offset: result.offset }, 202);
    },
  );

  return app;
}

function assertAgent(agents: string[], agent: string) {
  if (!agents.includes(agent)) throw new ApiError(400, "unknown_agent", `No agent named ${agent}; available: ${agents.join(", ")}.`);
}

