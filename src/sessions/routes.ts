import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { can, type Principal } from "../accounts/principal";
import type { Presence } from "./presence";
import { newId, sessionStreamPath, type SessionService } from "./service";
import { issueClientToken, CLIENT_CAPABILITIES, CLIENT_TOKEN_TTL_MS, DEFAULT_CLIENT_CAPABILITIES } from "./tokens";
import { authorizeControl, authorizeMessage, mayUseSession } from "./permissions";
import { MAX_EVENT_TEXT_CHARS, sessionEvent, type SessionEvent } from "./events";
import { MAX_EVENTS_PAGE } from "./service";
import { formatOffset } from "../streams/offsets";
import { runOptionsSchema } from "../agents/options";
import { DOUBLE_TEXTING, type Turns } from "./turns";
import type { InputRequests, RespondResult } from "./input-requests";

/** How a refused answer maps to a status. */
const RESPOND_STATUS = { request_not_found: 404, request_closed: 409, invalid_value: 400, session_closed: 409, session_not_found: 404 } as const satisfies Record<Extract<RespondResult, { ok: false }>["code"], 400 | 404 | 409>;

const SessionId = z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" }, example: "ses_8mH2kQ0c1v3pXyZa9bCdEfGh" });
const AgentName = z.string().regex(/^[a-z][a-z0-9-]{0,49}$/, "an agent name such as chat").openapi({ example: "chat" });
const Provider = z.enum(["offline", "anthropic", "openai", "auto"]).openapi({ example: "offline" });
const Options = z.object(runOptionsSchema.shape).strict().openapi("RunOptions", { description: "Bounded run options (docs/agents.md): tokens 1–20000, tokensPerSecond 1–1000, rollupWindowMs 1–1000, sectionDelayMs 0–5000, model (≤100 chars); unknown keys are refused.", example: { tokens: 300, tokensPerSecond: 40 } });
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
    clientToken: z.string().openapi({ description: "Signed, expiring, scoped to this session, with the requested capabilities (default: read, publish, control-own, presence)." }),
    clientId: z.string(),
    clientTokenId: z.string().openapi({ description: "Revoke with DELETE /api/sessions/{id}/client-tokens/{clientTokenId}." }),
    capabilities: z.array(z.enum(CLIENT_CAPABILITIES)),
  })
  .openapi("CreatedSession");

/** One session event, as DESIGN.md's vocabulary defines it (the response schema is the same zod schema every append is checked with). */
// (Built with the route layer's `z`: zod 4 gives a schema its methods when it is made, so a schema
// from a module loaded before @hono/zod-openapi has no `.openapi`.)
const SessionEventSchema = z.discriminatedUnion("type", sessionEvent.options).openapi("SessionEvent");

const PresenceMember = z.object({ clientId: z.string(), device: z.string(), since: z.string(), status: z.string().optional(), name: z.string().optional() });
const Run = z.object({ runId: z.string(), agent: z.string(), status: z.string() });
const MessagePart = z
  .union([
    z.object({ type: z.literal("text"), text: z.string() }),
    z.object({ type: z.literal("reasoning"), text: z.string() }),
    z.object({ type: z.literal("tool-call"), toolCallId: z.string(), toolName: z.string(), args: z.string().openapi({ description: "The arguments as streamed (JSON text)" }), input: z.unknown().optional().openapi({ description: "The arguments parsed, once they are whole" }) }),
    z.object({ type: z.literal("tool-result"), toolCallId: z.string(), toolName: z.string().optional(), result: z.unknown() }),
    z.object({ type: z.literal("data"), name: z.string().optional(), data: z.unknown() }),
    z.object({ type: z.literal("file"), mediaType: z.string(), url: z.string(), name: z.string().optional() }),
  ])
  .openapi("MessagePart");
const Message = z
  .object({
    id: z.string(),
    role: z.enum(["user", "assistant", "system"]),
    text: z.string(),
    status: z.enum(["complete", "streaming", "cancelled", "interrupted", "failed"]),
    runId: z.string().optional(),
    inReplyTo: z.string().optional().openapi({ description: "The user message this answer replies to (a turn)" }),
    parts: z.array(MessagePart).optional().openapi({ description: "Present when the message has more than text: its parts in order" }),
  })
  .openapi("CompactedMessage");
/** Messages per page of `GET /api/sessions/:id/messages` at most. */
const MAX_MESSAGES_PAGE = 1_000;

/**
 * The session, through the team gate (the request's scope) and the client token's own session;
 * another team's session is a 404. `run`: only backends (not client tokens) start runs and issue
 * tokens; `read`: a client token needs the read capability. Publishing and control are checked
 * per event (permissions.ts).
 */
export async function loadSession(c: Context<AppEnv>, service: SessionService, id: string, action: "read" | "write" | "run") {
  const principal = c.get("principal");
  const session = await service.get(id, c.get("scope"));
  if (!session || !(await mayUseSession(service, principal, session))) throw new ApiError(404, "session_not_found", `No session ${id}.`);
  if (action === "run" && principal.kind === "client") throw new ApiError(403, "forbidden", "Client tokens cannot start runs or issue tokens; do that from your backend with an API token.");
  if (action === "read" && !can(principal, "read")) throw new ApiError(403, "forbidden", "This client token may not read the session (no read capability).");
  return session;
}

const Capabilities = z
  .array(z.enum(CLIENT_CAPABILITIES))
  .max(CLIENT_CAPABILITIES.length)
  .openapi({
    description: "What the client token may do: read (subscribe, read), publish (user messages), control-own (runs its client started), control-all (every run), presence (be listed). Default: read, publish, control-own, presence.",
    example: [...DEFAULT_CLIENT_CAPABILITIES],
  });
const IssuedToken = z.object({
  clientToken: z.string(),
  clientId: z.string(),
  tokenId: z.string().openapi({ description: "Revoke with DELETE /api/sessions/{id}/client-tokens/{tokenId}." }),
  capabilities: z.array(z.enum(CLIENT_CAPABILITIES)),
  expiresAt: z.string(),
});

function clientIdOf(principal: Principal, requested: string | undefined): string | undefined {
  return principal.kind === "client" ? principal.clientId : requested;
}

/** The session JSON API, declared with zod so it appears in /openapi.json. */
export function sessionRoutes(options: {
  service: SessionService;
  turns: Turns;
  inputs: InputRequests;
  presence: Presence;
  secretKey: string;
  publicUrl: string | undefined;
  runnableAgents: () => string[];
  /** Records a client token's revocation and tells every process to close its sockets. */
  revokeClientToken: (input: { tokenId: string; sessionId: string; expiresAt: Date }) => Promise<void>;
}) {
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
                clientId: z.string().min(1).max(100).optional(),
                capabilities: Capabilities.optional(),
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
      const issued = issueClientToken(options.secretKey, { sessionId: session.id, teamId: session.teamId, clientId: body?.clientId ?? newId("client"), expiresAtMs: Date.now() + CLIENT_TOKEN_TTL_MS, capabilities: body?.capabilities });
      return c.json({ id: session.id, streamUrl: base + sessionStreamPath(session.id), wsUrl: base.replace(/^http/, "ws") + "/ws", clientToken: issued.token, clientId: issued.claims.clientId, clientTokenId: issued.claims.tokenId, capabilities: issued.claims.capabilities }, 201);
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
      const sessions = await service.list(c.get("scope"));
      return c.json({ sessions: sessions.map((s) => ({ id: s.id, title: s.title, createdAt: new Date(s.createdAt).toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/client-tokens",
      tags: ["Sessions"],
      summary: "Issue a client token for a browser or app",
      request: {
        params: z.object({ id: SessionId }),
        body: {
          content: {
            "application/json": {
              schema: z.object({
                clientId: z.string().min(1).max(100).optional(),
                capabilities: Capabilities.optional(),
                ttlSeconds: z.number().int().min(1).max(CLIENT_TOKEN_TTL_MS / 1000).optional().openapi({ description: `Lifetime in seconds (default and at most ${CLIENT_TOKEN_TTL_MS / 1000}); its sockets close when it expires.` }),
              }),
            },
          },
          required: false,
        },
      },
      responses: { 201: { description: "Issued", content: { "application/json": { schema: IssuedToken } } }, ...errors(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const session = await loadSession(c, service, id, "run");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const expiresAtMs = Date.now() + (body?.ttlSeconds ? body.ttlSeconds * 1000 : CLIENT_TOKEN_TTL_MS);
      const issued = issueClientToken(options.secretKey, { sessionId: session.id, teamId: session.teamId, clientId: body?.clientId ?? newId("client"), expiresAtMs, capabilities: body?.capabilities });
      const { claims } = issued;
      return c.json({ clientToken: issued.token, clientId: claims.clientId, tokenId: claims.tokenId, capabilities: claims.capabilities, expiresAt: new Date(expiresAtMs).toISOString() }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/sessions/{id}/client-tokens/{tokenId}",
      tags: ["Sessions"],
      summary: "Revoke a client token: its open sockets close (on every instance) and it is refused from now on",
      request: { params: z.object({ id: SessionId, tokenId: z.string().min(1).max(100).openapi({ param: { name: "tokenId", in: "path" }, example: "ctk_3Jq8sPz0aLmN2vXy" }) }) },
      responses: { 204: { description: "Revoked" }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id, tokenId } = c.req.valid("param");
      const session = await loadSession(c, service, id, "run");
      await options.revokeClientToken({ tokenId, sessionId: session.id, expiresAt: new Date(Date.now() + CLIENT_TOKEN_TTL_MS) });
      return c.body(null, 204);
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
      request: {
        params: z.object({ id: SessionId }),
        query: z.object({
          limit: z.coerce.number().int().min(1).max(MAX_MESSAGES_PAGE).default(MAX_MESSAGES_PAGE).openapi({ description: "Messages per page (oldest first)" }),
          cursor: z.string().max(100).optional().openapi({ description: "nextCursor of the previous page" }),
        }),
      },
      responses: {
        200: {
          description: "Messages",
          content: { "application/json": { schema: z.object({ messages: z.array(Message), offset: z.string(), nextCursor: z.string().optional().openapi({ description: "Present when more messages follow: pass it as cursor" }) }) } },
        },
        ...errors(400, 401, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { limit, cursor } = c.req.valid("query");
      await loadSession(c, service, id, "read");
      const from = cursor === undefined ? 0 : decodeCursor(cursor);
      if (from === undefined) throw new ApiError(400, "bad_cursor", "cursor must be a nextCursor this server returned.");
      const row = await service.stream(id);
      if (!row) throw new ApiError(404, "session_not_found", `No session ${id}.`);
      const snapshot = await service.compacted(row);
      const page = snapshot.messages.slice(from, from + limit);
      const more = from + limit < snapshot.messages.length;
      return c.json(
        {
          messages: page.map(({ id, role, text, status, runId, inReplyTo, parts }) => ({ id, role, text, status, ...(runId ? { runId } : {}), ...(inReplyTo ? { inReplyTo } : {}), ...(parts ? { parts } : {}) })),
          offset: snapshot.offset,
          ...(more ? { nextCursor: encodeCursor(from + limit) } : {}),
        },
        200,
      );
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
        200: { description: "Events", content: { "application/json": { schema: z.object({ events: z.array(z.object({ offset: z.string(), event: SessionEventSchema })), nextOffset: z.string(), upToDate: z.boolean() }) } } },
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
      return c.json({ events: page.events.map((e) => ({ offset: e.offset, event: e.event })), nextOffset: page.nextOffset, upToDate: page.upToDate }, 200);
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
      const clientId = clientIdOf(principal, body.clientId);
      const allowed = authorizeMessage(principal, { id: body.id, text: body.text, clientId });
      if (!allowed.ok) throw new ApiError(403, allowed.code, allowed.message);
      const event = allowed.event;
      const messageId = event.id;
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
      responses: { 202: { description: "Appended", content: { "application/json": { schema: z.object({ offset: z.string() }) } } }, ...errors(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await loadSession(c, service, id, "write");
      const principal = c.get("principal");
      const clientId = clientIdOf(principal, body.clientId);
      if (body.action === "respond") {
        if (principal.kind === "client" && !can(principal, "publish")) throw new ApiError(403, "forbidden", "Answering a question needs the publish capability.");
        const answered = await inputs.respond({ sessionId: id, requestId: body.requestId!, value: body.value, clientId });
        if (!answered.ok) throw new ApiError(RESPOND_STATUS[answered.code], answered.code, answered.message);
        return c.json({ offset: answered.offset }, 202);
      }
      const requested: Extract<SessionEvent, { type: "control" }> = {
        type: "control",
        action: body.action,
        ...(body.runId ? { runId: body.runId } : {}),
        ...(clientId ? { clientId } : {}),
        ...(body.text ? { text: body.text } : {}),
        ...(body.scope ? { scope: body.scope } : {}),
      };
      const allowed = await authorizeControl(principal, requested, (runId) => service.runClient(id, runId));
      if (!allowed.ok) throw new ApiError(403, allowed.code, allowed.message);
      const result = await service.append(id, allowed.event);
      if (!result.ok) throw new ApiError(404, result.code, `No session ${id}.`);
      return c.json({ offset: result.offset }, 202);
    },
  );

  return app;
}

/** Message cursors: the position of the next message in the compacted view (messages keep their order). */
function encodeCursor(index: number): string {
  return `m${index.toString(36)}`;
}

function decodeCursor(cursor: string): number | undefined {
  if (!/^m[0-9a-z]{1,10}$/.test(cursor)) return undefined;
  const index = parseInt(cursor.slice(1), 36);
  return Number.isSafeInteger(index) ? index : undefined;
}

function assertAgent(agents: string[], agent: string) {
  if (!agents.includes(agent)) throw new ApiError(400, "unknown_agent", `No agent named ${agent}; available: ${agents.join(", ")}.`);
}

