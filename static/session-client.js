// @ts-check
/**
 * session-client.js: a small browser client for Durable Studio's `/ws` session channel.
 * Plain ES module, no dependencies, no build step. docs/websocket.md describes the protocol
 * and this API.
 *
 * What it does for you:
 * - one socket for many sessions, opened from `?token=&clientId=&device=`;
 * - on any disconnect it reconnects with jittered exponential backoff and resubscribes from
 *   where each subscription left off, so every event arrives once, in order;
 * - publishes and controls made while disconnected wait and are sent after reconnecting, with the
 *   same frame id, so the server's de-duplication makes a retry harmless;
 * - a heartbeat ping every 20 s, a pong deadline, and client-side pacing under the server's
 *   frames-per-second limit.
 * Closing a socket never cancels anything, and this client never sends cancel on its own.
 *
 * @example
 * import { SessionClient } from "/static/session-client.js";
 * const client = new SessionClient({ token: clientToken });
 * const sub = client.subscribe(sessionId, { mode: "snapshot" });
 * sub.on("event", ({ event, snapshot }) => render(event, snapshot));
 * const { offset } = await client.sendMessage(sessionId, "Write a subject line");
 * await client.cancel(sessionId, { scope: "own" });
 */

/** Largest frame the server reads (WS_LIMITS.MAX_FRAME_BYTES); larger ones are refused locally. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Defaults of {@link SessionClientOptions}. */
export const DEFAULTS = Object.freeze({
  heartbeatMs: 20_000,
  pongTimeoutMs: 10_000,
  minBackoffMs: 250,
  maxBackoffMs: 10_000,
  /** Below the server's 50 frames/s (burst 100) for client tokens, leaving room for network jitter. */
  maxFramesPerSecond: 40,
});

/** A connection that stayed open this long resets the backoff; shorter ones keep growing it. */
const STABLE_CONNECTION_MS = 5_000;
/** Close code we use when we drop a socket ourselves (heartbeat timeout, resync). */
const CLIENT_DROP_CODE = 4000;

/**
 * @typedef {"idle" | "connecting" | "open" | "reconnecting" | "closed"} ConnectionStatus
 * @typedef {{ code?: number, reason?: string, attempt?: number, delayMs?: number }} StatusDetail
 * @typedef {{ type: string, [field: string]: unknown }} SessionEvent
 * @typedef {{ clientId: string, device: string, since: string, status?: string }} PresenceMember
 *
 * @typedef {object} ReceivedEvent One event, as a subscription's `event` listeners get it.
 * @property {string} session
 * @property {string} offset The event's own offset: resume from it to get every later event exactly once.
 * @property {SessionEvent} event
 * @property {boolean} snapshot True for the compacted `message` events of a snapshot subscription.
 *
 * @typedef {object} SubscribedInfo
 * @property {string} offset The offset the server starts from (for a snapshot: the offset it reflects).
 * @property {"events" | "snapshot"} mode
 * @property {boolean} resumed False for the first subscription, true after a reconnect.
 *
 * @typedef {object} SessionClientOptions
 * @property {string | (() => string | Promise<string>)} [token] An API token or a session's client token;
 *   a function is called before every (re)connect, so it can fetch a fresh token when the old one expired.
 *   Without one, the server authenticates the page by its signed-in session cookie (the app's own pages).
 * @property {string} [url] `wss://host/ws` (http(s) URLs work too); default: `/ws` on this page's host.
 * @property {string} [clientId] Who this client is for presence and de-duplication (client tokens carry their own,
 *   which the server uses instead). Default: a random id, kept for this client's lifetime.
 * @property {string} [device] Shown in presence, e.g. "desktop". Default: "mobile" or "desktop" from the user agent.
 * @property {number} [heartbeatMs]
 * @property {number} [pongTimeoutMs] A socket that answers nothing this long after a ping is dropped and reopened.
 * @property {number} [minBackoffMs]
 * @property {number} [maxBackoffMs]
 * @property {number} [maxFramesPerSecond] Outgoing frames are paced to this rate (burst twice that).
 * @property {typeof WebSocket} [WebSocket] A WebSocket implementation, for runtimes without a global one.
 *
 * @typedef {{ status: (status: ConnectionStatus, detail: StatusDetail) => void, error: (error: SessionError) => void, frame: (frame: any) => void }} ClientEvents
 * @typedef {{ event: (received: ReceivedEvent) => void, presence: (update: { session: string, members: PresenceMember[] }) => void, error: (error: SessionError) => void, subscribed: (info: SubscribedInfo) => void }} SubscriptionEvents
 */

/**
 * A refusal with the server's stable `code` (or one of ours: `closed`, `frame_too_large`).
 *
 * @example
 * try { await client.steer(id, "") } catch (e) { if (e instanceof SessionError) console.log(e.code) }
 */
export class SessionError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "SessionError";
    /** @readonly */
    this.code = code;
  }
}

const EMIT = Symbol("emit");

/** @template {Record<string, (...args: any[]) => void>} Events */
class Emitter {
  /** @type {Map<keyof Events, Set<Function>>} */
  #listeners = new Map();

  /**
   * Adds a listener; returns a function that removes it.
   * @template {keyof Events} K
   * @param {K} type
   * @param {Events[K]} listener
   * @returns {() => void}
   */
  on(type, listener) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  /**
   * @template {keyof Events} K
   * @param {K} type
   * @param {Events[K]} listener
   */
  off(type, listener) {
    this.#listeners.get(type)?.delete(listener);
  }

  /**
   * @template {keyof Events} K
   * @param {K} type
   * @param {Parameters<Events[K]>} args
   */
  [EMIT](type, ...args) {
    for (const listener of [...(this.#listeners.get(type) ?? [])]) {
      // A failing listener must not break delivery to the others or the client's state.
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

// Internal hooks between the client and its subscriptions, kept off their public surface.
const NEXT_FRAME = Symbol("nextFrame");
const ON_SUBSCRIBED = Symbol("onSubscribed");
const ON_EVENT = Symbol("onEvent");
const ON_PRESENCE = Symbol("onPresence");
const ON_FAILED = Symbol("onFailed");
const ON_DISCONNECT = Symbol("onDisconnect");
const SETTLE_SNAPSHOT = Symbol("settleSnapshot");
const FORGET = Symbol("forget");

/**
 * One session followed over one client, across reconnects. Get one from {@link SessionClient#subscribe}.
 *
 * How resuming stays exact: offsets sort as strings, and every event has its own offset (this
 * server gives the events of one append distinct offsets; servers where they share one are
 * handled too). The subscription remembers the last offset it delivered and how many events
 * carried it, and resumes from the offset *before* it; what it already delivered (same offset,
 * same index) is skipped.
 *
 * @extends {Emitter<SubscriptionEvents>}
 */
export class Subscription extends Emitter {
  #client;
  #session;
  #mode;
  #startOffset;
  /** @type {"subscribing" | "subscribed" | "failed" | "closed"} */
  #state = "subscribing";
  /** @type {string | undefined} id of the subscribe frame of the current attempt */
  #requestId;
  #confirmed = false;
  /** Everything up to and including this offset has been delivered. */
  /** @type {string | undefined} */
  #resumeFrom;
  /** @type {string | undefined} offset of the last delivered event */
  #last;
  /** Events of `#last` delivered (Infinity: all of them, as after a snapshot). */
  #lastCount = 0;
  /** Offset and index of the previous event of the current attempt, to number events that share an offset. */
  /** @type {string | undefined} */
  #attemptOffset;
  #attemptIndex = -1;
  #snapshotPending = false;
  /** Snapshot messages delivered while the snapshot may be incomplete, to skip identical repeats. */
  /** @type {Map<string, string>} */
  #snapshotSeen = new Map();
  /** @type {PresenceMember[]} */
  #members = [];

  /**
   * @param {SessionClient} client
   * @param {string} session
   * @param {{ offset: string, mode: "events" | "snapshot" }} options
   */
  constructor(client, session, options) {
    super();
    this.#client = client;
    this.#session = session;
    this.#mode = options.mode;
    this.#startOffset = options.offset;
  }

  get session() {
    return this.#session;
  }

  /** The mode asked for; after a snapshot has arrived, reconnects resume in `events` mode. */
  get mode() {
    return this.#mode;
  }

  /** `subscribing` (also while reconnecting), `subscribed`, `failed` (see the `error` event) or `closed`. */
  get state() {
    return this.#state;
  }

  /** Offset of the last event delivered (or where the subscription started, before any event). */
  get lastOffset() {
    return this.#last ?? this.#resumeFrom ?? this.#startOffset;
  }

  /** Who is connected to the session, from the latest `presence` frame. */
  get members() {
    return this.#members;
  }

  /** Stops following the session. Never cancels anything. */
  unsubscribe() {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#client[FORGET](this);
  }

  /**
   * The subscribe frame for the next attempt: the original request until the server confirmed it,
   * a fresh snapshot if the last one may have been cut off, and otherwise events after `#resumeFrom`.
   * @param {string} id
   */
  [NEXT_FRAME](id) {
    this.#requestId = id;
    this.#state = "subscribing";
    this.#attemptOffset = undefined;
    this.#attemptIndex = -1;
    if (this.#mode === "snapshot" && (!this.#confirmed || this.#snapshotPending)) return { type: "subscribe", session: this.#session, mode: "snapshot", id };
    return { type: "subscribe", session: this.#session, offset: this.#confirmed ? this.#resumeFrom : this.#startOffset, id };
  }

  /** @param {{ id?: string, offset: string, mode?: string, branch?: { rootId: string, current: string } }} frame */
  [ON_SUBSCRIBED](frame) {
    if (this.#state !== "subscribing" || (frame.id !== undefined && frame.id !== this.#requestId)) return false;
    const resumed = this.#confirmed;
    this.#state = "subscribed";
    if (frame.mode === "snapshot") {
      // The snapshot reflects everything up to its offset; live events follow it.
      this.#resumeFrom = frame.offset;
      this.#last = frame.offset;
      this.#lastCount = Infinity;
      this.#snapshotPending = true;
    } else if (!this.#confirmed) {
      this.#resumeFrom = frame.offset;
    }
    this.#confirmed = true;
    this[EMIT]("subscribed", { offset: frame.offset, mode: frame.mode === "snapshot" ? "snapshot" : "events", resumed, ...(frame.branch ? { branch: frame.branch } : {}) });
    return this.#snapshotPending;
  }

  /** @param {{ offset: string, event: SessionEvent, snapshot?: boolean }} frame */
  [ON_EVENT](frame) {
    // Frames before our `subscribed` belong to an earlier subscription on this socket.
    if (this.#state !== "subscribed") return;
    if (frame.snapshot) {
      if (!this.#snapshotPending) return;
      const key = String(frame.event.id);
      const text = JSON.stringify(frame.event);
      if (this.#snapshotSeen.get(key) === text) return;
      this.#snapshotSeen.set(key, text);
      this[EMIT]("event", { session: this.#session, offset: frame.offset, event: frame.event, snapshot: true });
      return;
    }
    this[SETTLE_SNAPSHOT]();
    const offset = frame.offset;
    const index = offset === this.#attemptOffset ? this.#attemptIndex + 1 : 0;
    this.#attemptOffset = offset;
    this.#attemptIndex = index;
    const last = this.#last;
    if (last !== undefined && (offset < last || (offset === last && index < this.#lastCount))) return;
    if (offset !== last) {
      if (last !== undefined) this.#resumeFrom = last;
      this.#last = offset;
    }
    this.#lastCount = index + 1;
    this[EMIT]("event", { session: this.#session, offset, event: frame.event, snapshot: false });
  }

  /** @param {PresenceMember[]} members */
  [ON_PRESENCE](members) {
    if (this.#state === "closed") return;
    this.#members = members;
    this[EMIT]("presence", { session: this.#session, members });
  }

  /** @param {SessionError} error */
  [ON_FAILED](error) {
    if (this.#state === "closed") return;
    this.#state = "failed";
    this[EMIT]("error", error);
  }

  [ON_DISCONNECT]() {
    if (this.#state === "subscribed") this.#state = "subscribing";
  }

  /** Any later frame on the socket proves the snapshot arrived whole (the server sends it in one go). */
  [SETTLE_SNAPSHOT]() {
    this.#snapshotPending = false;
    this.#snapshotSeen.clear();
  }
}

/**
 * @typedef {object} PendingRequest
 * @property {string} text The frame, serialised once and re-sent unchanged after a reconnect.
 * @property {(ack: { offset?: string, messageId?: string }) => void} resolve
 * @property {(error: SessionError) => void} reject
 */

/**
 * A WebSocket client for Durable Studio sessions that survives disconnects.
 *
 * @extends {Emitter<ClientEvents>}
 *
 * @example
 * const client = new SessionClient({ token: () => fetch("/my/token").then((r) => r.text()) });
 * client.on("status", (status) => console.log(status));
 * const sub = client.subscribe("ses_123", { offset: "-1" });
 * sub.on("event", ({ offset, event }) => console.log(offset, event.type));
 */
export class SessionClient extends Emitter {
  #options;
  #url;
  #clientId;
  #device;
  /** @type {ConnectionStatus} */
  #status = "idle";
  /** @type {WebSocket | undefined} */
  #ws;
  #open = false;
  #closed = false;
  #attempt = 0;
  #openedAt = 0;
  #lastReceivedAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #heartbeatTimer;
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  #pongTimers = new Set();
  /** @type {Map<string, Subscription>} */
  #subs = new Map();
  /** @type {Map<string, Subscription>} subscribe frame id → subscription */
  #subscribeIds = new Map();
  /** @type {Set<Subscription>} */
  #snapshotsPending = new Set();
  /** @type {Map<string, PendingRequest>} in send order */
  #pending = new Map();
  /** @type {string[]} */
  #outbox = [];
  #tokens = 0;
  #refilledAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #flushTimer;
  #onOnline = () => {
    if (this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#connect();
  };

  /** @param {SessionClientOptions} [options] */
  constructor(options = {}) {
    super();
    if (options?.token !== undefined && typeof options.token !== "string" && typeof options.token !== "function") throw new TypeError("token must be a string or a function returning one.");
    this.#options = { ...DEFAULTS, ...definedOnly(options) };
    this.#url = socketUrl(options.url);
    this.#clientId = options.clientId || randomId("client");
    this.#device = options.device || guessDevice();
    globalThis.addEventListener?.("online", this.#onOnline);
    // Connect after the caller's synchronous set-up, so its `status` listener sees "connecting".
    queueMicrotask(() => void this.#connect());
  }

  /** `idle` (before the first attempt), `connecting`, `open`, `reconnecting` or `closed`. */
  get status() {
    return this.#status;
  }

  /** The clientId sent to the server (a client token's own clientId takes precedence there). */
  get clientId() {
    return this.#clientId;
  }

  get device() {
    return this.#device;
  }

  /**
   * Follows a session. `offset`: `-1` (from the start, the default), `now` (only new events) or an
   * offset from an earlier event. `mode: "snapshot"` first sends the session compacted into whole
   * `message` events (`snapshot: true`), then live events. One subscription per session per client.
   *
   * @param {string} session
   * @param {{ offset?: string, mode?: "events" | "snapshot" }} [options]
   * @returns {Subscription}
   */
  subscribe(session, options = {}) {
    if (this.#closed) throw new SessionError("closed", "This client is closed.");
    if (this.#subs.has(session)) throw new SessionError("already_subscribed", `Already subscribed to ${session}; unsubscribe first.`);
    const sub = new Subscription(this, session, { offset: options.offset ?? "-1", mode: options.mode ?? "events" });
    this.#subs.set(session, sub);
    if (this.#open) this.#sendSubscribe(sub);
    return sub;
  }

  /**
   * Appends an event to a session. Client tokens may publish `message` (role user) and `control`
   * events; API tokens any event type. Resolves with the append's offset once the server acks it.
   *
   * @param {string} session
   * @param {SessionEvent} event
   * @returns {Promise<{ offset: string }>}
   */
  publish(session, event) {
    return /** @type {Promise<{ offset: string }>} */ (this.#request({ type: "publish", session, event }));
  }

  /**
   * Posts a user message. The message id (given, or generated) makes retries and reconnects
   * append it once. With a client token the server stores it in the client's namespace
   * (`<clientId>:<id>`); the resolved `id` is the stored one.
   *
   * @param {string} session
   * @param {string} text
   * @param {{ id?: string }} [options]
   * @returns {Promise<{ id: string, offset: string }>}
   */
  async sendMessage(session, text, options = {}) {
    const id = options.id ?? randomId("msg");
    const ack = /** @type {{ offset: string, messageId?: string }} */ (await this.publish(session, { type: "message", id, role: "user", text }));
    return { id: ack.messageId ?? id, offset: ack.offset };
  }

  /**
   * Asks agents to stop: with `runId`, that run and its sub-agents; with `scope: "own"`, the runs
   * this client started; otherwise (`scope: "all"`) every run of the session.
   *
   * @param {string} session
   * @param {{ runId?: string, scope?: "run" | "own" | "all" }} [options]
   * @returns {Promise<{ offset: string }>}
   */
  cancel(session, options = {}) {
    return this.#control(session, "cancel", options);
  }

  /**
   * Stops the message being generated (it ends as `interrupted`); the run waits for the next user message.
   * @param {string} session
   * @param {{ runId?: string }} [options]
   * @returns {Promise<{ offset: string }>}
   */
  interrupt(session, options = {}) {
    return this.#control(session, "interrupt", options);
  }

  /**
   * Stops the message being generated and continues the run with `text` as a new instruction.
   * @param {string} session
   * @param {string} text
   * @param {{ runId?: string }} [options]
   * @returns {Promise<{ offset: string }>}
   */
  steer(session, text, options = {}) {
    return this.#control(session, "steer", { ...options, text });
  }

  /** Closes the socket and stops reconnecting; unanswered requests reject with code `closed`. Cancels nothing. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    globalThis.removeEventListener?.("online", this.#onOnline);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const ws = this.#ws;
    this.#teardown();
    ws?.close(1000, "client closed");
    for (const request of this.#pending.values()) request.reject(new SessionError("closed", "The client was closed before the server answered."));
    this.#pending.clear();
    for (const sub of this.#subs.values()) sub.unsubscribe();
    this.#setStatus("closed", {});
  }

  /**
   * Testing hook: drops the socket as a network failure would, and lets the client reconnect.
   * @param {string} [reason]
   */
  _debugDropConnection(reason = "debug drop") {
    this.#drop(reason);
  }

  /**
   * Called by {@link Subscription#unsubscribe}.
   * @param {Subscription} sub
   */
  [FORGET](sub) {
    if (this.#subs.get(sub.session) !== sub) return;
    this.#subs.delete(sub.session);
    this.#snapshotsPending.delete(sub);
    // The server answers with an ack (or not_subscribed); both are ignored by their `u_` id.
    if (this.#open) this.#enqueue(JSON.stringify({ type: "unsubscribe", session: sub.session, id: randomId("u") }));
  }

  /**
   * @param {string} session
   * @param {"cancel" | "interrupt" | "steer"} action
   * @param {{ runId?: string, scope?: string, text?: string }} options
   */
  #control(session, action, options) {
    /** @type {Record<string, unknown>} */
    const frame = { type: "control", session, action };
    if (options.runId !== undefined) frame.runId = options.runId;
    if (options.scope !== undefined) frame.scope = options.scope;
    if (options.text !== undefined) frame.text = options.text;
    return /** @type {Promise<{ offset: string }>} */ (this.#request(frame));
  }

  /**
   * Sends a frame with an id and settles with its ack or error. The frame is kept until then and
   * re-sent after every reconnect: the server de-duplicates by message id, or by frame id and clientId.
   * @param {Record<string, unknown>} frame
   * @returns {Promise<{ offset?: string }>}
   */
  #request(frame) {
    if (this.#closed) return Promise.reject(new SessionError("closed", "This client is closed."));
    const id = randomId("r");
    const text = JSON.stringify({ ...frame, id });
    const bytes = new TextEncoder().encode(text).byteLength;
    if (bytes > MAX_FRAME_BYTES) return Promise.reject(new SessionError("frame_too_large", `This frame is ${bytes} bytes; the server reads at most ${MAX_FRAME_BYTES}.`));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { text, resolve, reject });
      if (this.#open) this.#enqueue(text);
    });
  }

  async #connect() {
    if (this.#closed || this.#ws) return;
    if (this.#status === "idle") this.#setStatus("connecting", {});
    let token;
    try {
      const given = this.#options.token;
      token = typeof given === "function" ? await given() : given;
    } catch (error) {
      this[EMIT]("error", new SessionError("token_failed", `Could not get a token: ${error instanceof Error ? error.message : String(error)}`));
      this.#scheduleReconnect({ reason: "token_failed" });
      return;
    }
    if (this.#closed || this.#ws) return;
    const url = new URL(this.#url);
    if (token) url.searchParams.set("token", token);
    url.searchParams.set("clientId", this.#clientId);
    url.searchParams.set("device", this.#device);
    const Impl = this.#options.WebSocket ?? globalThis.WebSocket;
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new Impl(url.toString());
    } catch (error) {
      this[EMIT]("error", new SessionError("connect_failed", error instanceof Error ? error.message : String(error)));
      this.#scheduleReconnect({ reason: "connect_failed" });
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws === ws) this.#onOpen();
    };
    ws.onmessage = (message) => {
      if (this.#ws === ws) this.#onMessage(message.data);
    };
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#teardown();
      this.#scheduleReconnect({ code: event.code, reason: event.reason });
    };
    // An error is always followed by a close, which is where we act.
    ws.onerror = () => {};
  }

  #onOpen() {
    this.#open = true;
    this.#openedAt = Date.now();
    this.#lastReceivedAt = Date.now();
    this.#tokens = this.#options.maxFramesPerSecond * 2;
    this.#refilledAt = Date.now();
    this.#outbox = [];
    this.#subscribeIds.clear();
    this.#snapshotsPending.clear();
    // Subscriptions first, then everything still unanswered, in the order it was asked for.
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    for (const request of this.#pending.values()) this.#enqueue(request.text);
    this.#heartbeatTimer = setInterval(() => this.#ping(), this.#options.heartbeatMs);
    this.#setStatus("open", {});
  }

  /** @param {Subscription} sub */
  #sendSubscribe(sub) {
    const id = randomId("s");
    this.#subscribeIds.set(id, sub);
    this.#enqueue(JSON.stringify(sub[NEXT_FRAME](id)));
  }

  /** @param {unknown} data */
  #onMessage(data) {
    this.#lastReceivedAt = Date.now();
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    this[EMIT]("frame", frame);
    if (this.#snapshotsPending.size > 0) {
      for (const sub of this.#snapshotsPending) {
        if (frame.type === "event" && frame.snapshot && frame.session === sub.session) continue;
        sub[SETTLE_SNAPSHOT]();
        this.#snapshotsPending.delete(sub);
      }
    }
    switch (frame.type) {
      case "event":
        this.#subs.get(frame.session)?.[ON_EVENT](frame);
        return;
      case "subscribed": {
        const sub = frame.id ? this.#subscribeIds.get(frame.id) : this.#subs.get(frame.session);
        if (!sub || this.#subs.get(sub.session) !== sub) return;
        if (sub[ON_SUBSCRIBED](frame)) this.#snapshotsPending.add(sub);
        return;
      }
      case "presence":
        this.#subs.get(frame.session)?.[ON_PRESENCE](Array.isArray(frame.members) ? frame.members : []);
        return;
      case "ack": {
        const request = this.#pending.get(frame.id);
        if (!request) return;
        this.#pending.delete(frame.id);
        request.resolve({ ...(frame.offset === undefined ? {} : { offset: frame.offset }), ...(frame.messageId === undefined ? {} : { messageId: frame.messageId }) });
        return;
      }
      case "error":
        this.#onError(frame);
        return;
    }
  }

  /** @param {{ id?: string, code: string, message: string }} frame */
  #onError(frame) {
    const error = new SessionError(frame.code, frame.message);
    const id = frame.id;
    if (id !== undefined) {
      const request = this.#pending.get(id);
      if (request) {
        this.#pending.delete(id);
        request.reject(error);
        return;
      }
      const sub = this.#subscribeIds.get(id);
      if (sub) {
        this.#subscribeIds.delete(id);
        if (this.#subs.get(sub.session) === sub) this.#subs.delete(sub.session);
        sub[ON_FAILED](error);
        return;
      }
      if (id.startsWith("u_")) return;
    }
    this[EMIT]("error", error);
    // The server dropped one of our frames without saying which: resync by reconnecting, which
    // resubscribes from our offsets and re-sends every unanswered request (all idempotent).
    if (frame.code === "rate_limited") this.#drop("resync after rate_limited");
  }

  #ping() {
    const sentAt = Date.now();
    this.#enqueue(JSON.stringify({ type: "ping" }));
    const timer = setTimeout(() => {
      this.#pongTimers.delete(timer);
      if (this.#lastReceivedAt < sentAt) this.#drop("heartbeat timeout");
    }, this.#options.pongTimeoutMs);
    this.#pongTimers.add(timer);
  }

  /** @param {string} text */
  #enqueue(text) {
    this.#outbox.push(text);
    this.#flush();
  }

  /** Sends queued frames as fast as the pacing allows (the server drops frames over its rate). */
  #flush() {
    const ws = this.#ws;
    if (!this.#open || !ws || this.#flushTimer !== undefined) return;
    const rate = this.#options.maxFramesPerSecond;
    const now = Date.now();
    this.#tokens = Math.min(rate * 2, this.#tokens + ((now - this.#refilledAt) / 1000) * rate);
    this.#refilledAt = now;
    while (this.#outbox.length > 0 && this.#tokens >= 1) {
      ws.send(/** @type {string} */ (this.#outbox.shift()));
      this.#tokens -= 1;
    }
    if (this.#outbox.length > 0) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush();
      }, Math.ceil(((1 - this.#tokens) / rate) * 1000));
    }
  }

  /** @param {string} reason */
  #drop(reason) {
    const ws = this.#ws;
    if (!ws || this.#closed) return;
    this.#teardown();
    try {
      ws.close(CLIENT_DROP_CODE, reason);
    } catch {
      // Already closing.
    }
    this.#scheduleReconnect({ code: CLIENT_DROP_CODE, reason });
  }

  /** Forgets the current socket and its timers; subscriptions wait to be resumed. */
  #teardown() {
    const ws = this.#ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    }
    this.#ws = undefined;
    this.#open = false;
    this.#outbox = [];
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const timer of this.#pongTimers) clearTimeout(timer);
    this.#pongTimers.clear();
    this.#subscribeIds.clear();
    this.#snapshotsPending.clear();
    for (const sub of this.#subs.values()) sub[ON_DISCONNECT]();
  }

  /** @param {{ code?: number, reason?: string }} detail */
  #scheduleReconnect(detail) {
    if (this.#closed) return;
    // A connection that stayed up a while resets the backoff; one that fails at once keeps growing it.
    if (this.#openedAt && Date.now() - this.#openedAt >= STABLE_CONNECTION_MS) this.#attempt = 0;
    this.#openedAt = 0;
    const delayMs = backoffMs(this.#attempt, this.#options.minBackoffMs, this.#options.maxBackoffMs);
    this.#attempt += 1;
    this.#setStatus("reconnecting", { ...detail, attempt: this.#attempt, delayMs });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, delayMs);
  }

  /**
   * @param {ConnectionStatus} status
   * @param {StatusDetail} detail
   */
  #setStatus(status, detail) {
    if (status === this.#status && status !== "reconnecting") return;
    this.#status = status;
    this[EMIT]("status", status, detail);
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): `min` doubling up to `max`, ±50 % jitter so
 * that many clients cut off together do not come back together.
 * @param {number} attempt
 * @param {number} min
 * @param {number} max
 */
export function backoffMs(attempt, min, max) {
  const base = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.5 + Math.random()));
}

/** @param {string | undefined} url */
function socketUrl(url) {
  if (!url) {
    if (typeof location === "undefined") throw new TypeError("SessionClient needs a url outside a browser page.");
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  }
  const parsed = new URL(url, typeof location === "undefined" ? undefined : location.href);
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  if (parsed.protocol === "https:") parsed.protocol = "wss:";
  return parsed.toString();
}

/**
 * @template {object} T
 * @param {T} object
 * @returns {T}
 */
function definedOnly(object) {
  return /** @type {T} */ (Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)));
}

function guessDevice() {
  const agent = typeof navigator === "undefined" ? "" : navigator.userAgent;
  return /Mobi|Android|iPhone|iPad/i.test(agent) ? "mobile" : "desktop";
}

/** @param {string} prefix */
function randomId(prefix) {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return `${prefix}_${hex}`;
}
