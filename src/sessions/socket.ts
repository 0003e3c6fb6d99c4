import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { z } from "zod";
import type { Logger } from "../infra/log";
import { inspectJsonText } from "../infra/input-guard";
import { formatOffset, parseResumeOffset } from "../streams/offsets";
import { Authenticator, can, type Principal } from "../accounts/principal";
import { scopeOf } from "../accounts/scope";
import { TOKEN_REVOKED_CHANNEL } from "../accounts/service";
import type { Listener } from "../infra/listener";
import { authorizeControl, authorizeMessage, mayUseSession } from "./permissions";
import { CLIENT_EVENT_TYPES, parseEvent, type SessionEvent } from "./events";
import type { Presence } from "./presence";
import { newId, sessionStreamPath, toOffsetEvents, type OffsetEvent, type SessionService } from "./service";
import type { FollowedBatch, Following, SessionFollowers } from "./follower";
import { DOUBLE_TEXTING, type Turns } from "./turns";
import type { InputRequests } from "./input-requests";

/** Limits of the WebSocket channel; docs/websocket.md lists them. */
export const WS_LIMITS = {
  /** Largest client frame we read; larger ones get an `frame_too_large` error and the socket stays open. */
  MAX_FRAME_BYTES: 64 * 1024,
  /** Sessions one socket may subscribe to. */
  MAX_SUBSCRIPTIONS: 100,
  /** Frames per second a client token may send (burst twice that). */
  FRAMES_PER_SECOND: 50,
  /** Frames per second an API token (an agent or backend) may send. */
  API_FRAMES_PER_SECOND: 2_000,
  /** Bytes queued for a client that is not reading before it is cut off with close code 4008. */
  MAX_BUFFERED_BYTES: 4 * 1024 * 1024,
  /** During a replay we wait for the client to drain past this before sending more. */
  REPLAY_PAUSE_BYTES: 512 * 1024,
  /** Messages read per replay page. */
  REPLAY_PAGE: 500,
  /** A socket with no traffic at all (Bun pings every idle period) is closed after this many seconds. */
  IDLE_TIMEOUT_SECONDS: 60,
  /** Open sockets per token (per API token, or per client token). */
  MAX_SOCKETS_PER_TOKEN: 50,
  /** Recent events each followed session keeps in memory, so a reconnect near the tail replays without a query… */
  TAIL_CACHE_EVENTS: 1_000,
  /** …and at most this many bytes of them. */
  TAIL_CACHE_BYTES: 1024 * 1024,
  /** Presence changes of a session are pushed at most this often per 25 subscribers (a full list to everyone is O(n²) in a busy session). */
  PRESENCE_PUSH_MS: 50,
} as const;

/** Close codes we send; docs/websocket.md documents them. */
export const CLOSE_CODES = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  SLOW_CONSUMER: 4008,
  TOKEN_EXPIRED: 4001,
  TOKEN_REVOKED: 4003,
} as const;

const frameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("subscribe"), session: z.string().min(1).max(200), offset: z.string().max(100).optional(), mode: z.enum(["events", "snapshot"]).optional(), id: z.string().max(200).optional() }),
  z.object({ type: z.literal("unsubscribe"), session: z.string().min(1).max(200), id: z.string().max(200).optional() }),
  z.object({
    type: z.literal("publish"),
    session: z.string().min(1).max(200),
    event: z.unknown(),
    id: z.string().max(200).optional(),
    /** For a user message that starts a turn: this message's double-texting policy. */
    doubleTexting: z.enum(DOUBLE_TEXTING).optional(),
  }),
  z.object({
    type: z.literal("control"),
    session: z.string().min(1).max(200),
    action: z.enum(["cancel", "interrupt", "steer", "respond"]),
    runId: z.string().max(200).optional(),
    text: z.string().max(100_000).optional(),
    scope: z.enum(["run", "own", "all"]).optional(),
    /** respond: the input.request answered, and the answer. */
    requestId: z.string().max(200).optional(),
    value: z.unknown().optional(),
    id: z.string().max(200).optional(),
  }),
  z.object({ type: z.literal("ping"), id: z.string().max(200).optional() }),
]);
type ClientFrame = z.infer<typeof frameSchema>;

export interface SocketData {
  id: string;
  principal: Principal;
  token: string;
  /** The API token's, client token's or cookie session's id, so a revocation or logout finds its sockets (none for the bootstrap token). */
  tokenId: string | undefined;
  /** Closes the socket when its client token expires. */
  expiry: ReturnType<typeof setTimeout> | undefined;
  clientId: string;
  device: string;
  /** Who the principal is, as presence shows it (`memberName`). */
  name: string | undefined;
  subs: Map<string, Subscription>;
  tokens: number;
  refilledAt: number;
  drainWaiters: Array<() => void>;
  closed: boolean;
  queue: Promise<void>;
}

type Socket = ServerWebSocket<SocketData>;

interface Subscription {
  ws: Socket;
  sessionId: string;
  feed: Feed;
  /** Position of the last event this socket received. */
  pos: number;
  /** Resumed from an offset inside an append: that append's events up to this offset were received already. */
  within?: { pos: number; offset: string };
  /** Live subscriptions get events from the feed; replaying ones read the table (or the feed's tail cache) themselves. */
  live: boolean;
  memberId?: string;
  cancelled: boolean;
}

/**
 * One per session with local subscribers: takes each new batch of events from the process's
 * session follower (read from the table once), serialises each event once, and sends the same
 * strings to every live subscriber. It keeps the latest frames as a tail cache, so a client
 * resuming near the tail is replayed from memory.
 */
interface Feed {
  sessionId: string;
  streamId: number;
  /** Position up to which events have been delivered to live subscribers. */
  lastPos: number;
  subs: Set<Subscription>;
  /** Every frame with `cacheFromPos < pos <= lastPos`, in order. */
  cache: Frame[];
  cacheFromPos: number;
  cacheBytes: number;
  following: Following | undefined;
}

/** One event serialised as an `event` frame, with the position it is filtered by. */
interface Frame {
  pos: number;
  /** The event's own offset (events of one append have distinct offsets). */
  offset: string;
  text: string;
}

/** Whether a subscription has received this frame already (by position, or inside the append it resumed in). */
function received(sub: Subscription, frame: Frame): boolean {
  return frame.pos <= sub.pos || (sub.within !== undefined && frame.pos === sub.within.pos && frame.offset <= sub.within.offset);
}

/** Per session: pushes of presence are coalesced (see #pushPresence). */
interface PresencePush {
  timer?: ReturnType<typeof setTimeout>;
  running: boolean;
  dirty: boolean;
  lastAt: number;
}

/**
 * The `/ws` endpoint on Bun's native WebSocket handlers (with their backpressure results and
 * `drain`). One socket carries many sessions. Closing a socket never cancels anything: cancel,
 * interrupt and steer are explicit control events.
 */
export class SessionSockets {
  #service: SessionService;
  #turns: Turns;
  #inputs: InputRequests;
  #followers: SessionFollowers;
  #presence: Presence;
  #auth: Authenticator;
  #log: Logger;
  #feeds = new Map<string, Feed>();
  #sockets = new Set<Socket>();
  #perToken = new Map<string, number>();
  /** Open sockets by API token id, client token id or cookie session id, for revocations. */
  #byTokenId = new Map<string, Set<Socket>>();
  #listener: Listener | undefined;
  #subscriptions = 0;
  #presencePushes = new Map<string, PresencePush>();

  #cookieAuth: ((request: Request) => Promise<Principal | undefined>) | undefined;
  #memberName: ((principal: Principal) => Promise<string | undefined>) | undefined;
  #cookieOrigin: ((origin: string, request: Request) => boolean) | undefined;

  constructor(options: {
    service: SessionService;
    turns: Turns;
    inputs: InputRequests;
    followers: SessionFollowers;
    presence: Presence;
    auth: Authenticator;
    log: Logger;
    /** The process's LISTEN connection: revocations from any process arrive on it. */
    listener?: Listener;
    cookieAuth?: (request: Request) => Promise<Principal | undefined>;
    /** The name presence shows for a principal (a user's name, an API token's name). */
    memberName?: (principal: Principal) => Promise<string | undefined>;
    /** Which `Origin` may open a cookie-authenticated socket (default: the request's own origin). */
    cookieOrigin?: (origin: string, request: Request) => boolean;
  }) {
    this.#cookieAuth = options.cookieAuth;
    this.#memberName = options.memberName;
    this.#cookieOrigin = options.cookieOrigin;
    this.#service = options.service;
    this.#turns = options.turns;
    this.#inputs = options.inputs;
    this.#followers = options.followers;
    this.#presence = options.presence;
    this.#auth = options.auth;
    this.#log = options.log;
    this.#presence.onChange((sessionId) => this.#pushPresence(sessionId));
    this.#listener = options.listener;
  }

  /**
   * Closes sockets whose token is revoked, from any process (NOTIFY on TOKEN_REVOKED_CHANNEL). A
   * NOTIFY missed while the LISTEN connection was down is made up for by checking every open
   * socket's token again after it reconnects.
   */
  async start(): Promise<void> {
    await this.#listener?.on(TOKEN_REVOKED_CHANNEL, (tokenId) => this.#revoked(tokenId));
    this.#listener?.onResync(() => void this.#recheckTokens());
  }

  #revoked(tokenId: string) {
    for (const ws of this.#byTokenId.get(tokenId) ?? []) this.#closeFor(ws, CLOSE_CODES.TOKEN_REVOKED, "token revoked");
  }

  async #recheckTokens() {
    // One check per token, however many sockets share it; a failed check keeps the socket (it degrades, never closes wrongly).
    const valid = new Map<string, Promise<boolean>>();
    for (const ws of [...this.#sockets]) {
      if (ws.data.principal.kind === "user" || ws.data.closed) continue;
      let check = valid.get(ws.data.token);
      if (!check) valid.set(ws.data.token, (check = this.#auth.authenticate(ws.data.token).then((still) => still !== undefined, () => true)));
      if (!(await check)) this.#closeFor(ws, CLOSE_CODES.TOKEN_REVOKED, "token revoked");
    }
  }

  #closeFor(ws: Socket, code: number, reason: string) {
    if (ws.data.closed) return;
    ws.data.closed = true;
    this.#log.info("closing websocket", { socket: ws.data.id, code, reason });
    ws.close(code, reason);
  }

  /** Upgrades `GET /ws?token=…[&clientId=…&device=…]`, or answers why not. */
  async upgrade(request: Request, server: Server<SocketData>): Promise<Response | undefined> {
    const url = new URL(request.url);
    let token = url.searchParams.get("token") ?? Authenticator.bearer(request);
    let principal = await this.#auth.authenticate(token);
    if (!token && this.#cookieAuth) {
      // The web app's own pages connect with their session cookie. A browser sends the cookie with a
      // handshake that another site's page starts, too (cross-site WebSocket hijacking): only our
      // own pages may ride on it.
      const origin = request.headers.get("origin");
      if (origin && !(this.#cookieOrigin?.(origin, request) ?? origin === url.origin)) {
        return Response.json({ error: { code: "forbidden_origin", message: "Cookie-authenticated sockets are only for this site's own pages; other clients pass ?token=." } }, { status: 403 });
      }
      principal = await this.#cookieAuth(request);
      if (principal?.kind === "user") token = `user:${principal.userId}`;
    }
    if (!principal || !token) return Response.json({ error: { code: "unauthorized", message: "Pass a valid API or client token as ?token=." } }, { status: 401 });
    const open = this.#perToken.get(token) ?? 0;
    if (open >= WS_LIMITS.MAX_SOCKETS_PER_TOKEN) {
      return Response.json({ error: { code: "too_many_sockets", message: `At most ${WS_LIMITS.MAX_SOCKETS_PER_TOKEN} open sockets per token.` } }, { status: 429 });
    }
    const requestedClient = (url.searchParams.get("clientId") ?? "").slice(0, 100);
    const data: SocketData = {
      id: newId("ws"),
      principal,
      token,
      tokenId: principal.kind === "client" || principal.kind === "token" ? principal.tokenId : principal.kind === "user" ? principal.sessionId : undefined,
      expiry: undefined,
      clientId: principal.kind === "client" ? principal.clientId : requestedClient || newId("client"),
      device: (url.searchParams.get("device") ?? "unknown").slice(0, 100) || "unknown",
      name: await this.#memberName?.(principal).catch(() => undefined),
      subs: new Map(),
      tokens: rateOf(principal) * 2,
      refilledAt: Date.now(),
      drainWaiters: [],
      closed: false,
      queue: Promise.resolve(),
    };
    if (server.upgrade(request, { data })) return undefined;
    return Response.json({ error: { code: "upgrade_required", message: "This endpoint speaks WebSocket." } }, { status: 426 });
  }

  /** Bun's handlers, for `Bun.serve({ websocket })`. */
  readonly handlers: WebSocketHandler<SocketData> = {
    // We check frame size ourselves so an oversized frame gets an error and the socket stays usable.
    maxPayloadLength: 1024 * 1024,
    idleTimeout: WS_LIMITS.IDLE_TIMEOUT_SECONDS,
    sendPings: true,
    backpressureLimit: WS_LIMITS.MAX_BUFFERED_BYTES * 2,
    closeOnBackpressureLimit: false,
    open: (ws) => {
      this.#sockets.add(ws);
      this.#perToken.set(ws.data.token, (this.#perToken.get(ws.data.token) ?? 0) + 1);
      const { tokenId, principal } = ws.data;
      if (tokenId) {
        let set = this.#byTokenId.get(tokenId);
        if (!set) this.#byTokenId.set(tokenId, (set = new Set()));
        set.add(ws);
      }
      if (principal.kind === "client") {
        ws.data.expiry = setTimeout(() => this.#closeFor(ws, CLOSE_CODES.TOKEN_EXPIRED, "token expired"), Math.max(0, principal.expiresAtMs - Date.now()));
      }
    },
    // Frames of one socket are handled in order (a publish must not overtake the one before it).
    message: (ws, message) => {
      ws.data.queue = ws.data.queue.then(() => this.#onMessage(ws, message));
    },
    drain: (ws) => {
      const waiters = ws.data.drainWaiters.splice(0);
      for (const wake of waiters) wake();
    },
    close: (ws) => void this.#onClose(ws),
  };

  /** Open sockets, for metrics and the benchmark. */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /** Session subscriptions over all sockets, for metrics. */
  get subscriptionCount(): number {
    return this.#subscriptions;
  }

  /** Sessions followed by at least one local subscriber, for metrics. */
  get feedCount(): number {
    return this.#feeds.size;
  }

  /** Closes every socket (shutdown): clients reconnect elsewhere and resume from their offsets. */
  closeAll(): void {
    for (const ws of this.#sockets) ws.close(CLOSE_CODES.GOING_AWAY, "server shutting down");
  }

  async #onMessage(ws: Socket, message: string | Buffer) {
    const size = typeof message === "string" ? Buffer.byteLength(message) : message.byteLength;
    if (size > WS_LIMITS.MAX_FRAME_BYTES) return this.#error(ws, undefined, "frame_too_large", `Frames are limited to ${WS_LIMITS.MAX_FRAME_BYTES} bytes.`);
    if (!this.#takeToken(ws)) return this.#error(ws, undefined, "rate_limited", `At most ${rateOf(ws.data.principal)} frames per second.`);
    const text = typeof message === "string" ? message : message.toString("utf8");
    const problem = inspectJsonText(text);
    if (problem) return this.#error(ws, undefined, problem.code, problem.message);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.#error(ws, undefined, "bad_json", "Frames are JSON text.");
    }
    const frameId = typeof (raw as { id?: unknown })?.id === "string" ? (raw as { id: string }).id : undefined;
    const parsed = frameSchema.safeParse(raw);
    if (!parsed.success) {
      const type = (raw as { type?: unknown })?.type;
      if (typeof type !== "string" || !["subscribe", "unsubscribe", "publish", "control", "ping"].includes(type)) {
        return this.#error(ws, frameId, "unknown_type", `Unknown frame type ${JSON.stringify(type)}; expected subscribe, unsubscribe, publish, control or ping.`);
      }
      const issue = parsed.error.issues[0]!;
      return this.#error(ws, frameId, "invalid_frame", `Invalid ${type} frame: ${issue.path.join(".") || "frame"}: ${issue.message}.`);
    }
    const frame = parsed.data;
    try {
      await this.#dispatch(ws, frame);
    } catch (error) {
      this.#log.error("websocket frame failed", { type: frame.type, error });
      this.#error(ws, frame.id, "internal", "The server could not handle this frame; it has been logged.");
    }
  }

  async #dispatch(ws: Socket, frame: ClientFrame) {
    switch (frame.type) {
      case "ping":
        return this.#send(ws, JSON.stringify(frame.id ? { type: "pong", id: frame.id } : { type: "pong" }));
      case "subscribe":
        return this.#subscribe(ws, frame);
      case "unsubscribe": {
        const sub = ws.data.subs.get(frame.session);
        if (!sub) return this.#error(ws, frame.id, "not_subscribed", `Not subscribed to ${frame.session}.`);
        await this.#drop(sub);
        if (frame.id) this.#send(ws, JSON.stringify({ type: "ack", id: frame.id }));
        return;
      }
      case "publish": {
        const session = await this.#session(ws, frame.session, frame.id);
        if (!session) return;
        const checked = parseEvent(frame.event);
        if (!checked.ok) return this.#error(ws, frame.id, checked.code, checked.message);
        const { principal } = ws.data;
        if (principal.kind === "client" && !CLIENT_EVENT_TYPES.has(checked.event.type)) {
          return this.#error(ws, frame.id, "forbidden_event", `Clients may publish ${[...CLIENT_EVENT_TYPES].join(" and ")} events; ${checked.event.type} is written by agents.`);
        }
        let event = checked.event;
        if (event.type === "control" && event.action === "respond") return this.#respond(ws, frame.session, event.requestId, event.value, frame.id);
        if (event.type === "message" && principal.kind === "client") {
          const allowed = authorizeMessage(principal, event);
          if (!allowed.ok) return this.#error(ws, frame.id, allowed.code, allowed.message);
          event = allowed.event;
        }
        if (event.type === "control") {
          const allowed = await authorizeControl(principal, { ...event, clientId: ws.data.clientId }, (runId) => this.#service.runClient(frame.session, runId));
          if (!allowed.ok) return this.#error(ws, frame.id, allowed.code, allowed.message);
          event = allowed.event;
        }
        if (event.type === "message" && event.role === "user") {
          // A user message may start a turn (the session's default agent) under the double-texting policy.
          const posted = await this.#turns.postUserMessage({ sessionId: frame.session, event, doubleTexting: frame.doubleTexting, clientId: event.clientId });
          if (!posted.ok) {
            if (posted.code === "turn_active") return this.#send(ws, JSON.stringify({ type: "error", ...(frame.id ? { id: frame.id } : {}), code: "turn_active", message: `A turn is running (${posted.runId}); this session rejects messages until it ends. Nothing was stored.`, runId: posted.runId }));
            return this.#error(ws, frame.id, posted.code, posted.code === "session_closed" ? "This session is closed." : `No session ${frame.session}.`);
          }
          if (frame.id) this.#send(ws, JSON.stringify({ type: "ack", id: frame.id, offset: posted.offset, messageId: event.id, ...(posted.runId ? { runId: posted.runId, turn: posted.turn } : {}) }));
          return;
        }
        // A message's id names the event itself; start/delta/end ids name the message they belong to,
        // so those are made idempotent by the frame id instead.
        const key = event.type === "message" ? `event:${event.id}` : frame.id ? `frame:${ws.data.clientId}:${frame.id}` : undefined;
        return this.#appendAndAck(ws, frame.session, event, key, frame.id);
      }
      case "control": {
        const session = await this.#session(ws, frame.session, frame.id);
        if (!session) return;
        const requested: Extract<SessionEvent, { type: "control" }> = {
          type: "control",
          action: frame.action,
          clientId: ws.data.clientId,
          ...(frame.runId ? { runId: frame.runId } : {}),
          ...(frame.text !== undefined ? { text: frame.text } : {}),
          ...(frame.scope ? { scope: frame.scope } : {}),
        };
        if (frame.action === "steer" && !frame.text) return this.#error(ws, frame.id, "invalid_frame", "steer needs text.");
        if (frame.action === "respond") return this.#respond(ws, frame.session, frame.requestId, frame.value, frame.id);
        const allowed = await authorizeControl(ws.data.principal, requested, (runId) => this.#service.runClient(frame.session, runId));
        if (!allowed.ok) return this.#error(ws, frame.id, allowed.code, allowed.message);
        return this.#appendAndAck(ws, frame.session, allowed.event, frame.id ? `control:${ws.data.clientId}:${frame.id}` : undefined, frame.id);
      }
    }
  }

  /** Answers a run's question (validated, first answer wins), then acks with the answer's offset. */
  async #respond(ws: Socket, sessionId: string, requestId: string | undefined, value: unknown, frameId: string | undefined) {
    if (!requestId || value === undefined) return this.#error(ws, frameId, "invalid_frame", "respond needs requestId and value.");
    if (ws.data.principal.kind === "client" && !can(ws.data.principal, "publish")) return this.#error(ws, frameId, "forbidden", "Answering a question needs the publish capability.");
    const answered = await this.#inputs.respond({ sessionId, requestId, value, clientId: ws.data.clientId });
    if (!answered.ok) return this.#error(ws, frameId, answered.code, answered.message);
    if (frameId) this.#send(ws, JSON.stringify({ type: "ack", id: frameId, offset: answered.offset }));
  }

  async #appendAndAck(ws: Socket, sessionId: string, event: SessionEvent, dedupeKey: string | undefined, frameId: string | undefined) {
    const result = await this.#service.append(sessionId, event, dedupeKey);
    if (!result.ok) return this.#error(ws, frameId, result.code, result.code === "session_closed" ? "This session is closed." : `No session ${sessionId}.`);
    if (frameId) this.#send(ws, JSON.stringify({ type: "ack", id: frameId, offset: result.offset }));
  }

  /** The session, if it exists and this socket's principal may use it; otherwise sends the error. */
  async #session(ws: Socket, sessionId: string, frameId: string | undefined) {
    const session = await this.#service.get(sessionId, scopeOf(ws.data.principal));
    if (!session || !(await mayUseSession(this.#service, ws.data.principal, session))) {
      this.#error(ws, frameId, "session_not_found", `No session ${sessionId}.`);
      return undefined;
    }
    return session;
  }

  async #subscribe(ws: Socket, frame: Extract<ClientFrame, { type: "subscribe" }>) {
    const { data } = ws;
    if (data.subs.has(frame.session)) return this.#error(ws, frame.id, "already_subscribed", `Already subscribed to ${frame.session}; unsubscribe first to change the offset.`);
    if (data.subs.size >= WS_LIMITS.MAX_SUBSCRIPTIONS) return this.#error(ws, frame.id, "too_many_subscriptions", `At most ${WS_LIMITS.MAX_SUBSCRIPTIONS} sessions per socket.`);
    const offset = frame.offset ?? "-1";
    if (!parseResumeOffset(offset, 0)) return this.#error(ws, frame.id, "bad_offset", "offset must be -1, now, or an offset this server returned.");
    const session = await this.#session(ws, frame.session, frame.id);
    if (!session) return;
    if (!can(data.principal, "read")) return this.#error(ws, frame.id, "forbidden", "This client token may not read the session (no read capability).");
    // In a branched conversation the ack says which branch its clients follow (then branch.switched events).
    const followed = await this.#service.followed(session);
    const branch = followed ? { branch: followed } : {};
    const row = await this.#service.stream(frame.session);
    if (!row) return this.#error(ws, frame.id, "session_not_found", `No session ${frame.session}.`);
    const resume = await this.#service.resumePoint(row, offset);
    if (!resume) return this.#error(ws, frame.id, "bad_offset", "offset must be -1, now, or an offset this server returned (not a position inside an append).");
    if (data.closed || data.subs.has(frame.session)) return;

    const feed = this.#feed(frame.session, row.id, row.tailPos);
    const sub: Subscription = { ws, sessionId: frame.session, feed, pos: 0, live: false, cancelled: false };
    data.subs.set(frame.session, sub);
    feed.subs.add(sub);
    this.#subscriptions++;

    if (frame.mode === "snapshot") {
      const snapshot = await this.#service.compacted(row);
      sub.pos = snapshot.pos;
      this.#send(ws, JSON.stringify({ type: "subscribed", session: frame.session, offset: snapshot.offset, mode: "snapshot", ...branch, ...(frame.id ? { id: frame.id } : {}) }));
      ws.cork(() => {
        for (const message of snapshot.messages) {
          const { status, runId, agent, ...rest } = message;
          this.#send(ws, JSON.stringify({ type: "event", session: frame.session, offset: snapshot.offset, snapshot: true, event: { type: "message", ...rest, status, ...(runId ? { runId } : {}), ...(agent ? { agent } : {}) } }));
        }
      });
    } else {
      sub.pos = resume.afterPos;
      if (resume.within) sub.within = resume.within;
      this.#send(ws, JSON.stringify({ type: "subscribed", session: frame.session, offset: resume.within?.offset ?? formatOffset(sub.pos), ...branch, ...(frame.id ? { id: frame.id } : {}) }));
    }
    // A client token without the presence capability reads without being listed.
    if (can(data.principal, "presence")) {
      sub.memberId = newId("mem");
      void this.#presence.join({ sessionId: frame.session, clientId: data.clientId, device: data.device, memberId: sub.memberId, ...(data.name ? { name: data.name } : {}) }).catch((error) => this.#log.warn("presence join failed", { error }));
    }
    // Replay runs beside the frame queue: a long catch-up must not hold up this socket's other frames.
    void this.#replay(sub).catch((error) => this.#log.warn("replay failed", { session: sub.sessionId, error }));
  }

  /**
   * Sends the table's events after `sub.pos` until the subscription has caught up with its feed,
   * then makes it live — with no gap and no duplicate at the seam: the replay reads only up to the
   * feed's delivered position, and the switch to live happens in the same tick as the final check.
   * Near the tail the feed's cache serves the rest, in that same tick. A page's frames go out corked
   * (one write for many frames).
   */
  async #replay(sub: Subscription) {
    const { feed, ws } = sub;
    while (!sub.cancelled && !ws.data.closed) {
      const target = feed.lastPos;
      if (sub.pos < target && sub.pos >= feed.cacheFromPos) {
        if (!this.#sendCached(sub)) return;
      }
      if (sub.pos >= target) {
        sub.live = true;
        return;
      }
      const rows = await this.#service.page(feed.streamId, sub.pos, target, WS_LIMITS.REPLAY_PAGE);
      // Unsubscribed (perhaps resubscribed) while reading: these rows belong to nobody now.
      if (sub.cancelled) return;
      let sent = true;
      ws.cork(() => {
        for (const frame of eventFrames(sub.sessionId, toOffsetEvents(rows))) {
          if (received(sub, frame)) continue;
          if (!(sent = this.#send(ws, frame.text))) return;
        }
      });
      if (!sent) return;
      if (rows.length > 0) sub.pos = rows[rows.length - 1]!.pos;
      else sub.pos = target;
      if (ws.getBufferedAmount() > WS_LIMITS.REPLAY_PAUSE_BYTES) await new Promise<void>((resolve) => ws.data.drainWaiters.push(resolve));
    }
  }

  /** Sends the cached frames after `sub.pos` (all of them up to the feed's position); false if the socket gave up. */
  #sendCached(sub: Subscription): boolean {
    const { cache } = sub.feed;
    // Frames are in position order: find the first one past the subscriber.
    let low = 0;
    let high = cache.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cache[mid]!.pos <= sub.pos) low = mid + 1;
      else high = mid;
    }
    let sent = true;
    sub.ws.cork(() => {
      for (let i = low; i < cache.length; i++) if (!received(sub, cache[i]!) && !(sent = this.#send(sub.ws, cache[i]!.text))) return;
    });
    if (sent) sub.pos = sub.feed.lastPos;
    return sent;
  }

  #feed(sessionId: string, streamId: number, tailPos: number): Feed {
    const existing = this.#feeds.get(sessionId);
    if (existing) return existing;
    const feed: Feed = { sessionId, streamId, lastPos: tailPos, subs: new Set(), cache: [], cacheFromPos: tailPos, cacheBytes: 0, following: undefined };
    const following = this.#followers.follow({ sessionId, streamId, fromPos: tailPos }, (batch) => this.#deliver(feed, batch));
    // Another local reader (an agent run) may already follow this session from another position.
    feed.following = following;
    feed.lastPos = feed.cacheFromPos = following.fromPos;
    this.#feeds.set(sessionId, feed);
    return feed;
  }

  /**
   * Sends a batch from the session follower to every live subscriber, each one's frames corked into
   * one write: with several events in a batch that is several times cheaper than a write per frame
   * (see docs/performance.md). Bun's `server.publish` measured no better than this.
   */
  #deliver(feed: Feed, batch: FollowedBatch) {
    if (this.#feeds.get(feed.sessionId) !== feed) return;
    const frames = eventFrames(feed.sessionId, batch.events);
    for (const sub of feed.subs) {
      if (!sub.live || sub.cancelled) continue;
      sub.ws.cork(() => {
        for (const frame of frames) {
          if (received(sub, frame)) continue;
          if (!this.#send(sub.ws, frame.text)) return;
        }
      });
      sub.pos = Math.max(sub.pos, batch.lastPos);
    }
    feed.lastPos = batch.lastPos;
    this.#remember(feed, frames);
  }

  /** Adds delivered frames to the feed's tail cache, dropping the oldest positions past its limits. */
  #remember(feed: Feed, frames: Frame[]) {
    for (const frame of frames) {
      feed.cache.push(frame);
      feed.cacheBytes += frame.text.length;
    }
    let drop = 0;
    while (drop < feed.cache.length && (feed.cache.length - drop > WS_LIMITS.TAIL_CACHE_EVENTS || feed.cacheBytes > WS_LIMITS.TAIL_CACHE_BYTES)) {
      // Drop whole positions: the cache must hold every frame of each position it covers.
      const pos = feed.cache[drop]!.pos;
      while (drop < feed.cache.length && feed.cache[drop]!.pos === pos) feed.cacheBytes -= feed.cache[drop++]!.text.length;
      feed.cacheFromPos = pos;
    }
    if (drop > 0) feed.cache.splice(0, drop);
  }

  #closeSlow(ws: Socket) {
    this.#log.warn("closing slow websocket consumer", { socket: ws.data.id, bufferedBytes: ws.getBufferedAmount() });
    ws.data.closed = true;
    ws.close(CLOSE_CODES.SLOW_CONSUMER, "slow consumer: read faster or resubscribe from your last offset");
  }

  /** Sends a frame; a client whose queue grows past the limit is closed (4008) rather than buffered without bound. */
  #send(ws: Socket, text: string): boolean {
    if (ws.data.closed) return false;
    const result = ws.send(text);
    if (result === 0) return false;
    if (result === -1 && ws.getBufferedAmount() > WS_LIMITS.MAX_BUFFERED_BYTES) {
      this.#closeSlow(ws);
      return false;
    }
    return true;
  }

  #error(ws: Socket, id: string | undefined, code: string, message: string) {
    this.#send(ws, JSON.stringify(id ? { type: "error", id, code, message } : { type: "error", code, message }));
  }

  #takeToken(ws: Socket): boolean {
    const now = Date.now();
    const { data } = ws;
    const rate = rateOf(data.principal);
    data.tokens = Math.min(rate * 2, data.tokens + ((now - data.refilledAt) / 1000) * rate);
    data.refilledAt = now;
    if (data.tokens < 1) return false;
    data.tokens -= 1;
    return true;
  }

  async #drop(sub: Subscription) {
    if (sub.cancelled) return;
    sub.cancelled = true;
    this.#subscriptions--;
    sub.ws.data.subs.delete(sub.sessionId);
    sub.feed.subs.delete(sub);
    if (sub.feed.subs.size === 0 && this.#feeds.get(sub.sessionId) === sub.feed) {
      sub.feed.following?.stop();
      this.#feeds.delete(sub.sessionId);
    }
    if (sub.memberId) await this.#presence.leave(sub.memberId).catch((error) => this.#log.warn("presence leave failed", { error }));
  }

  /** A closed socket only unsubscribes: it never cancels or interrupts a run. */
  async #onClose(ws: Socket) {
    ws.data.closed = true;
    this.#sockets.delete(ws);
    if (ws.data.expiry) clearTimeout(ws.data.expiry);
    const sameToken = ws.data.tokenId ? this.#byTokenId.get(ws.data.tokenId) : undefined;
    sameToken?.delete(ws);
    if (sameToken?.size === 0) this.#byTokenId.delete(ws.data.tokenId!);
    const left = (this.#perToken.get(ws.data.token) ?? 1) - 1;
    if (left <= 0) this.#perToken.delete(ws.data.token);
    else this.#perToken.set(ws.data.token, left);
    for (const wake of ws.data.drainWaiters.splice(0)) wake();
    for (const sub of [...ws.data.subs.values()]) await this.#drop(sub);
  }

  /**
   * Pushes a session's member list to its local subscribers, coalescing changes: one query and one
   * push at a time per session, and at most one push per PRESENCE_PUSH_MS per 25 subscribers, since
   * every push sends the whole list to every subscriber (a busy session's join storm would
   * otherwise cost members² frames).
   */
  #pushPresence(sessionId: string) {
    const feed = this.#feeds.get(sessionId);
    if (!feed || feed.subs.size === 0) {
      this.#presencePushes.delete(sessionId);
      return;
    }
    let push = this.#presencePushes.get(sessionId);
    if (!push) this.#presencePushes.set(sessionId, (push = { running: false, dirty: false, lastAt: 0 }));
    if (push.running || push.timer) {
      push.dirty = true;
      return;
    }
    const gapMs = WS_LIMITS.PRESENCE_PUSH_MS * Math.ceil(feed.subs.size / 25);
    const waitMs = Math.max(0, push.lastAt + gapMs - performance.now());
    const state = push;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.#sendPresence(sessionId, state);
    }, waitMs);
  }

  async #sendPresence(sessionId: string, push: PresencePush) {
    push.running = true;
    push.dirty = false;
    try {
      const feed = this.#feeds.get(sessionId);
      if (!feed || feed.subs.size === 0) return;
      const members = await this.#presence.members(sessionId);
      const text = JSON.stringify({ type: "presence", session: sessionId, members });
      for (const sub of feed.subs) if (!sub.cancelled) this.#send(sub.ws, text);
    } catch (error) {
      this.#log.warn("presence push failed", { sessionId, error });
    } finally {
      push.running = false;
      push.lastAt = performance.now();
      if (push.dirty) this.#pushPresence(sessionId);
      else if (this.#presencePushes.get(sessionId) === push) this.#presencePushes.delete(sessionId);
    }
  }
}

function rateOf(principal: Principal): number {
  return principal.kind === "client" ? WS_LIMITS.FRAMES_PER_SECOND : WS_LIMITS.API_FRAMES_PER_SECOND;
}

/** Each event serialised once, with the position it is filtered by. */
function eventFrames(sessionId: string, events: OffsetEvent[]): Frame[] {
  return events.map((e) => ({ pos: e.pos, offset: e.offset, text: `{"type":"event","session":${JSON.stringify(sessionId)},"offset":"${e.offset}","event":${JSON.stringify(e.event)}}` }));
}

export { sessionStreamPath };
