/**
 * The reserved subscription APIs of the Durable Streams protocol, served under `/v1/stream/__ds`:
 * webhook subscriptions (Ed25519-signed deliveries, a JWKS, callbacks) and pull-wake subscriptions
 * (wake events in a stream, claim / ack / release), both fenced by a per-subscription generation.
 *
 * Everything here lives in this process's memory: subscriptions, links, wakes and timers. A restart
 * forgets them, and two processes do not share them. The streams themselves are reached only through
 * the narrow `SubscriptionHost`.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import type { Logger } from "../infra/log";
import { checkUrl, guardedFetch, precheckUrl, type Resolver } from "../infra/guarded-fetch";
import { ZERO_OFFSET, type SubscriptionHost } from "./subscription-host";

/** Lease a consumer gets on a wake when the subscription does not name one. */
export const DEFAULT_LEASE_TTL_MS = 30_000;
/** Shortest lease a subscription may ask for. */
export const MIN_LEASE_TTL_MS = 1_000;
/** Longest lease a subscription may ask for. */
export const MAX_LEASE_TTL_MS = 600_000;
/** One webhook POST (connect, response and body) must finish within this, or it counts as failed. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
const WEBHOOK_USER_AGENT = "DurableStudio-Webhooks/1.0";
/** First retry delay after a failed delivery; it doubles per attempt up to RETRY_MAX_DELAY_MS. */
export const RETRY_BASE_DELAY_MS = 1_000;
/** Longest wait between two delivery attempts of one wake. */
export const RETRY_MAX_DELAY_MS = 60_000;
/** Retry delays vary by up to this fraction either way, so failing receivers are not hit in lockstep. */
const RETRY_JITTER_RATIO = 0.2;
/** Callback and claim tokens expire after this. */
const TOKEN_TTL_S = 3_600;
/** How long clients may cache the JWKS. */
const JWKS_MAX_AGE_S = 300;
/** Control requests are small JSON documents; anything larger is refused before parsing. */
const MAX_BODY_BYTES = 1_048_576;
const MAX_SUBSCRIPTION_ID_LENGTH = 256;
const MAX_DESCRIPTION_LENGTH = 1_024;
/** The acked offset of a stream linked after the subscription existed: below every real offset, so all of it is pending. */
const BEFORE_FIRST_OFFSET = "-1";
const OFFSET_PATTERN = /^\d+_\d+$/;
const CONTROL_PATH = "/v1/stream/__ds";

/** Every error code the subscription APIs answer with. */
export type SubscriptionErrorCode =
  | "INVALID_REQUEST"
  | "WEBHOOK_URL_REJECTED"
  | "SUBSCRIPTION_NOT_FOUND"
  | "TOKEN_INVALID"
  | "TOKEN_EXPIRED"
  | "SUBSCRIPTION_ALREADY_EXISTS"
  | "FENCED"
  | "ALREADY_CLAIMED"
  | "NO_PENDING_WORK"
  | "INVALID_OFFSET"
  | "METHOD_NOT_ALLOWED"
  | "INTERNAL_ERROR";

const ERROR_STATUS: Record<SubscriptionErrorCode, number> = {
  INVALID_REQUEST: 400,
  WEBHOOK_URL_REJECTED: 400,
  SUBSCRIPTION_NOT_FOUND: 404,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  SUBSCRIPTION_ALREADY_EXISTS: 409,
  FENCED: 409,
  ALREADY_CLAIMED: 409,
  NO_PENDING_WORK: 409,
  INVALID_OFFSET: 409,
  METHOD_NOT_ALLOWED: 405,
  INTERNAL_ERROR: 500,
};

interface Failure {
  ok: false;
  code: SubscriptionErrorCode;
  message: string;
  /** Extra fields placed beside `code` and `message` in the error body. */
  details?: Record<string, unknown>;
}
type Result<T> = { ok: true; value: T } | Failure;

const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
const fail = (code: SubscriptionErrorCode, message: string, details?: Record<string, unknown>): Failure => ({ ok: false, code, message, details });

// ---------------------------------------------------------------------------------------------
// Glob patterns and webhook URLs
// ---------------------------------------------------------------------------------------------

/**
 * Matches a root-relative stream path against a subscription pattern. Segments split on `/`
 * (leading, trailing and repeated slashes ignored); `*` is exactly one segment, `**` is zero or
 * more; anything else is literal.
 *
 * @example
 * globMatch("events/*", "events/a");      // true
 * globMatch("events/*", "events/a/b");    // false
 * globMatch("events/**", "events");       // true
 */
export function globMatch(pattern: string, path: string): boolean {
  const want = segments(pattern);
  const have = segments(path);
  // reach[j]: the pattern segments seen so far match exactly the first j path segments.
  let reach = have.map(() => false).concat(false);
  reach[0] = true;
  for (const segment of want) {
    const next = reach.map(() => false);
    if (segment === "**") {
      let any = false;
      for (let j = 0; j < reach.length; j++) next[j] = any = any || reach[j]!;
    } else {
      for (let j = 1; j < reach.length; j++) next[j] = reach[j - 1]! && (segment === "*" || segment === have[j - 1]);
    }
    reach = next;
  }
  return reach[have.length]!;
}

function segments(path: string): string[] {
  return path.split("/").filter((segment) => segment.length > 0);
}

/**
 * Decides, without DNS, whether the server may POST to a webhook URL, by the guarded fetch's policy
 * (the same as brand import's): http(s) only, no credentials, no literal link-local or metadata
 * address, and no literal private or loopback address or `localhost` name unless IMPORT_ALLOW_PRIVATE
 * is on. Webhooks add one rule: `http:` only for a receiver on this machine (which needs the switch);
 * everything else uses `https:`. The host name is resolved and checked again at every delivery.
 *
 * @example
 * checkWebhookUrl("http://10.0.0.1/hook", { allowPrivate: false }); // { ok: false, code: "WEBHOOK_URL_REJECTED", … }
 */
export function checkWebhookUrl(raw: string, options: { allowPrivate: boolean }): { ok: true } | { ok: false; code: "WEBHOOK_URL_REJECTED"; message: string } {
  const reject = (message: string) => ({ ok: false as const, code: "WEBHOOK_URL_REJECTED" as const, message: `webhook.url refused: ${message}` });
  const checked = precheckUrl(raw, options);
  if (!checked.ok) return reject(checked.message);
  const host = checked.url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  const local = host === "localhost" || host.endsWith(".localhost") || (isIP(host) !== 0 && classifyLoopback(host));
  if (checked.url.protocol === "http:" && !local) return reject("use https:// (http:// is only for a receiver on this machine, with IMPORT_ALLOW_PRIVATE=on).");
  return { ok: true };
}

function classifyLoopback(ip: string): boolean {
  return ipaddr.process(ip).range() === "loopback";
}

/** A webhook receiver's answer is a small JSON document (`{"done":true}`); more is a failed delivery. */
const MAX_WEBHOOK_RESPONSE_BYTES = 65_536;

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  kid: string;
  use: "sig";
  alg: "EdDSA";
  x: string;
}

/** The Ed25519 key that signs webhook deliveries, published as a one-key JWKS. */
class WebhookSigner {
  readonly #privateKey: KeyObject;
  readonly jwk: PublicJwk;

  constructor(pem?: string) {
    this.#privateKey = pem ? createPrivateKey(pem) : generateKeyPairSync("ed25519").privateKey;
    if (this.#privateKey.asymmetricKeyType !== "ed25519") {
      throw new Error("signingKeyPem must be an Ed25519 private key in PEM (PKCS#8) form.");
    }
    const { x } = createPublicKey(this.#privateKey).export({ format: "jwk" });
    if (!x) throw new Error("Could not export the Ed25519 public key.");
    // The kid is the RFC 7638 thumbprint, so the same key always has the same kid.
    const kid = `ds_${createHash("sha256").update(JSON.stringify({ crv: "Ed25519", kty: "OKP", x })).digest("base64url")}`;
    this.jwk = { kty: "OKP", crv: "Ed25519", kid, use: "sig", alg: "EdDSA", x };
  }

  /** The `webhook-signature` header value: `t=<unix seconds>,kid=<kid>,ed25519=<base64url signature of "t.body">`. */
  signatureHeader(body: string): string {
    const t = Math.floor(Date.now() / 1000);
    const signature = sign(null, Buffer.from(`${t}.${body}`), this.#privateKey).toString("base64url");
    return `t=${t},kid=${this.jwk.kid},ed25519=${signature}`;
  }
}

interface TokenClaims {
  generation: number;
  wakeId: string;
}

const tokenPayloadSchema = z.object({ sub: z.string(), epoch: z.number(), wake: z.string(), exp: z.number() });

/**
 * Compact tokens `base64url(payload).base64url(HMAC-SHA256)` binding a subscription, a generation and
 * a wake. They are checked by recomputing the MAC, never by comparing with a stored copy: a stale
 * token stays *authentic* after its wake ends, so it is answered with FENCED rather than 401.
 */
class TokenSigner {
  readonly #key = randomBytes(32);

  issue(subscriptionId: string, claims: TokenClaims): string {
    const payload = {
      sub: `subscription:${subscriptionId}`,
      epoch: claims.generation,
      wake: claims.wakeId,
      exp: Math.floor(Date.now() / 1000) + TOKEN_TTL_S,
      jti: randomBytes(8).toString("hex"),
    };
    const encoded = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return `${encoded}.${this.#mac(encoded)}`;
  }

  verify(token: string, subscriptionId: string): Result<TokenClaims> {
    const invalid = fail("TOKEN_INVALID", "The bearer token is not a valid token for this subscription.");
    const [encoded, mac, extra] = token.split(".");
    if (!encoded || !mac || extra !== undefined) return invalid;
    const expected = Buffer.from(this.#mac(encoded));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
    let payload: z.infer<typeof tokenPayloadSchema>;
    try {
      const parsed = tokenPayloadSchema.safeParse(JSON.parse(Buffer.from(encoded, "base64url").toString("utf8")));
      if (!parsed.success) return invalid;
      payload = parsed.data;
    } catch {
      return invalid;
    }
    if (payload.sub !== `subscription:${subscriptionId}`) return invalid;
    if (Math.floor(Date.now() / 1000) > payload.exp) return fail("TOKEN_EXPIRED", "The bearer token has expired; claim again or wait for the next wake.");
    return ok({ generation: payload.epoch, wakeId: payload.wake });
  }

  #mac(encoded: string): string {
    return createHmac("sha256", this.#key).update(encoded).digest("base64url");
  }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/** Runs tasks one at a time in arrival order. A subscription's wake state is only changed inside its queue. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

type SubscriptionType = "webhook" | "pull-wake";

interface SubscriptionConfig {
  type: SubscriptionType;
  pattern: string | null;
  /** Explicit streams, root-relative, sorted and unique. */
  streams: string[];
  webhookUrl: string | null;
  wakeStream: string | null;
  leaseTtlMs: number;
  description: string | null;
}

interface Link {
  path: string;
  explicit: boolean;
  glob: boolean;
  ackedOffset: string;
}

interface Wake {
  id: string;
  generation: number;
  /** Each linked stream's tail when the wake was created: what a webhook `{done:true}` acknowledges. */
  snapshot: Map<string, string>;
  /** The pull-wake worker that claimed it. */
  holder: string | null;
  /** The webhook callback token, reused by every delivery attempt of this wake. */
  callbackToken: string | null;
}

interface Subscription {
  id: string;
  config: SubscriptionConfig;
  configHash: string;
  /** The origin the subscription was created through; webhook callback URLs are built from it. */
  origin: string;
  createdAt: string;
  status: "active" | "failed";
  /** False until the initial links are made; appends seen meanwhile wait in the queue. */
  ready: boolean;
  links: Map<string, Link>;
  generation: number;
  wake: Wake | null;
  leaseTimer: ReturnType<typeof setTimeout> | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
  retryCount: number;
  queue: SerialQueue;
}

interface StreamInfo {
  path: string;
  link_type: "explicit" | "glob";
  acked_offset: string;
  tail_offset: string;
  has_pending: boolean;
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

const createSchema = z.object(
  {
    type: z.enum(["webhook", "pull-wake"], { error: 'type is required and must be "webhook" or "pull-wake".' }),
    pattern: z.string({ error: 'pattern must be a string such as "events/*".' }).nullish(),
    streams: z.array(z.string({ error: "streams must contain only stream paths (strings)." }), { error: "streams must be an array of stream paths." }).nullish(),
    webhook: z.object({ url: z.string({ error: "webhook.url must be a string." }).nullish() }, { error: "webhook must be an object such as {\"url\":\"https://…\"}." }).nullish(),
    wake_stream: z.string({ error: "wake_stream must be a stream path (string)." }).nullish(),
    lease_ttl_ms: z
      .int({ error: `lease_ttl_ms must be an integer number of milliseconds from ${MIN_LEASE_TTL_MS} to ${MAX_LEASE_TTL_MS}.` })
      .min(MIN_LEASE_TTL_MS, { error: `lease_ttl_ms must be at least ${MIN_LEASE_TTL_MS}.` })
      .max(MAX_LEASE_TTL_MS, { error: `lease_ttl_ms must be at most ${MAX_LEASE_TTL_MS}.` })
      .nullish(),
    description: z.string({ error: "description must be a string." }).max(MAX_DESCRIPTION_LENGTH, { error: `description must be at most ${MAX_DESCRIPTION_LENGTH} characters.` }).nullish(),
  },
  { error: "The request body must be a JSON object." },
);

const addStreamsSchema = z.object({
  streams: z.array(z.string({ error: "streams must contain only stream paths (strings)." }), { error: "streams must be a non-empty array of stream paths." }).min(1, { error: "streams must be a non-empty array of stream paths." }),
});

const claimSchema = z.object({ worker: z.string({ error: "worker must be a non-empty string naming the claiming worker." }).min(1, { error: "worker must be a non-empty string naming the claiming worker." }) });

const wakeStepSchema = z.object({
  wake_id: z.string({ error: "wake_id must be a string." }).nullish(),
  generation: z.number({ error: "generation must be a number." }).nullish(),
  acks: z
    .array(
      z.object({
        stream: z.string({ error: "acks[].stream must be a string." }).nullish(),
        path: z.string({ error: "acks[].path must be a string." }).nullish(),
        offset: z.string({ error: "acks[].offset must be an offset string such as the tail_offset you were given." }),
      }),
      { error: "acks must be an array of {stream, offset}." },
    )
    .nullish(),
  done: z.boolean({ error: "done must be true or false." }).nullish(),
});
type WakeStep = z.infer<typeof wakeStepSchema>;

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

/**
 * Serves `/v1/stream/__ds/*` and drives subscription wakes from stream appends.
 *
 * State is held in memory by this one process (subscriptions, links, wakes, lease and retry timers);
 * nothing survives a restart.
 *
 * @example
 * const subscriptions = new SubscriptionManager({ host, log, allowPrivate: false });
 * // in the router, for any path under /v1/stream/__ds:
 * return subscriptions.handle(request, pathname.slice("/v1/stream/__ds".length));
 * // after every successful append, close, or create with an initial body:
 * subscriptions.onAppend("events/abc");
 */
export class SubscriptionManager {
  readonly #host: SubscriptionHost;
  readonly #log: Logger;
  readonly #signer: WebhookSigner;
  readonly #tokens = new TokenSigner();
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #shutdown = new AbortController();
  readonly #allowPrivate: boolean;
  readonly #resolve: Resolver | undefined;
  #closed = false;

  /**
   * `allowPrivate` is IMPORT_ALLOW_PRIVATE: webhooks may reach private and loopback addresses
   * (development, tests, intranets). `resolve` answers for DNS (tests). Throws when `signingKeyPem` is given and is not an Ed25519 private key.
   */
  constructor(options: { host: SubscriptionHost; log: Logger; allowPrivate: boolean; signingKeyPem?: string; resolve?: Resolver }) {
    this.#host = options.host;
    this.#allowPrivate = options.allowPrivate;
    this.#resolve = options.resolve;
    this.#log = options.log;
    this.#signer = new WebhookSigner(options.signingKeyPem);
  }

  /**
   * Answers one request under `/v1/stream/__ds`. `rest` is the still percent-encoded part of the
   * pathname after `/v1/stream/__ds` (`""`, `/jwks.json`, `/subscriptions/sub-1/claim`, …). Never throws.
   */
  async handle(request: Request, rest: string): Promise<Response> {
    try {
      return await this.#route(request, rest);
    } catch (error) {
      this.#log.error("subscription request failed", { method: request.method, path: CONTROL_PATH + rest, error });
      return errorResponse(fail("INTERNAL_ERROR", "Something went wrong on our side; the error has been logged."));
    }
  }

  /**
   * A stream (root-relative path) got new data, was closed, or was created with an initial body.
   * Links it to subscriptions whose pattern matches, and wakes idle subscriptions that now have
   * pending work. Returns at once; failures are logged.
   */
  onAppend(path: string): void {
    // Called for every append: nothing to do, and nothing to compute, without subscriptions.
    if (this.#subscriptions.size === 0) return;
    const relative = trimSlashes(path);
    if (this.#closed || !relative || isReserved(relative)) return;
    for (const subscription of this.#subscriptions.values()) {
      const concerned = !subscription.ready || subscription.links.has(relative) || this.#globCovers(subscription, relative);
      if (!concerned) continue;
      subscription.queue
        .run(() => this.#afterAppend(subscription, relative))
        .catch((error) => this.#log.error("subscription append hook failed", { subscriptionId: subscription.id, path: relative, error }));
    }
  }

  /** A stream (root-relative path) was deleted: every subscription forgets its link to it. */
  onDelete(path: string): void {
    const relative = trimSlashes(path);
    for (const subscription of this.#subscriptions.values()) subscription.links.delete(relative);
  }

  /** Stops every lease and retry timer and aborts deliveries in flight (at shutdown). */
  close(): void {
    this.#closed = true;
    this.#shutdown.abort();
    for (const subscription of this.#subscriptions.values()) this.#clearTimers(subscription);
  }

  // --- routing (the HTTP edge) ---------------------------------------------------------------

  async #route(request: Request, rest: string): Promise<Response> {
    const origin = new URL(request.url).origin;
    const method = request.method;
    const parts = rest.replace(/^\//, "").split("/");
    const notFound = errorResponse(fail("SUBSCRIPTION_NOT_FOUND", `There is no subscription API at ${CONTROL_PATH}${rest}.`));

    if (parts.length === 1 && parts[0] === "jwks.json") {
      if (method !== "GET" && method !== "HEAD") return methodNotAllowed("GET, HEAD");
      const headers = { "content-type": "application/jwk-set+json", "cache-control": `public, max-age=${JWKS_MAX_AGE_S}` };
      return new Response(method === "HEAD" ? null : JSON.stringify({ keys: [this.#signer.jwk] }), { status: 200, headers });
    }
    if (parts[0] !== "subscriptions" || parts.length < 2 || !parts[1]) return notFound;

    const id = safeDecode(parts[1]);
    if (id === undefined || id.length > MAX_SUBSCRIPTION_ID_LENGTH) {
      return errorResponse(fail("INVALID_REQUEST", `A subscription id must be percent-encoded text of at most ${MAX_SUBSCRIPTION_ID_LENGTH} characters.`));
    }
    const action = parts.slice(2);

    if (action.length === 0) {
      if (method === "PUT") return this.#handlePut(request, id, origin);
      if (method === "GET") return this.#handleGet(id, origin);
      if (method === "DELETE") {
        this.#delete(id);
        return new Response(null, { status: 204 });
      }
      return methodNotAllowed("PUT, GET, DELETE");
    }
    if (action[0] === "streams" && action.length === 1) {
      return method === "POST" ? this.#handleAddStreams(request, id) : methodNotAllowed("POST");
    }
    if (action[0] === "streams") {
      if (method !== "DELETE") return methodNotAllowed("DELETE");
      const path = safeDecode(action.slice(1).join("/"));
      if (path === undefined) return errorResponse(fail("INVALID_REQUEST", "The stream path is not valid percent-encoding."));
      return this.#handleRemoveStream(id, trimSlashes(path));
    }
    if (action.length === 1 && (action[0] === "callback" || action[0] === "claim" || action[0] === "ack" || action[0] === "release")) {
      if (method !== "POST") return methodNotAllowed("POST");
      if (action[0] === "claim") return this.#handleClaim(request, id);
      return this.#handleWakeStep(request, id, action[0]);
    }
    return notFound;
  }

  async #handlePut(request: Request, id: string, origin: string): Promise<Response> {
    const body = await readJsonObject(request);
    if (!body.ok) return errorResponse(body);
    const config = parseConfig(body.value, { allowPrivate: this.#allowPrivate });
    if (!config.ok) return errorResponse(config);
    if (config.value.webhookUrl) {
      // A name that leads inward is refused now, with the reason. A name that does not resolve yet is
      // accepted: every delivery resolves and checks it again.
      const target = await checkUrl(config.value.webhookUrl, { allowPrivate: this.#allowPrivate, resolve: this.#resolve });
      if (!target.ok && target.code !== "dns_failed") return errorResponse(fail("WEBHOOK_URL_REJECTED", `webhook.url refused: ${target.message}`));
    }
    const result = await this.#createOrConfirm(id, config.value, origin);
    if (!result.ok) return errorResponse(result);
    const { subscription, created } = result.value;
    // Waiting in the queue means a concurrent PUT sees the links only once the first one has made them.
    const serialized = await subscription.queue.run(() => this.#serialize(subscription, origin));
    return jsonResponse(created ? 201 : 200, serialized);
  }

  async #handleGet(id: string, origin: string): Promise<Response> {
    const subscription = this.#find(id);
    if (!subscription.ok) return errorResponse(subscription);
    return jsonResponse(200, await subscription.value.queue.run(() => this.#serialize(subscription.value, origin)));
  }

  async #handleAddStreams(request: Request, id: string): Promise<Response> {
    const subscription = this.#find(id);
    if (!subscription.ok) return errorResponse(subscription);
    const body = await readJsonObject(request);
    if (!body.ok) return errorResponse(body);
    const parsed = parseWith(addStreamsSchema, body.value);
    if (!parsed.ok) return errorResponse(parsed);
    const paths = streamPaths(parsed.value.streams, subscription.value.config.wakeStream);
    if (!paths.ok) return errorResponse(paths);
    const added = await this.#inQueue(subscription.value, () => this.#addExplicit(subscription.value, paths.value));
    return added.ok ? new Response(null, { status: 204 }) : errorResponse(added);
  }

  #handleRemoveStream(id: string, path: string): Response {
    const subscription = this.#find(id);
    if (!subscription.ok) return errorResponse(subscription);
    const link = subscription.value.links.get(path);
    if (link) {
      link.explicit = false;
      // A link the pattern also covers outlives the explicit request for it.
      if (!link.glob && !this.#globCovers(subscription.value, path)) subscription.value.links.delete(path);
      else link.glob = true;
    }
    return new Response(null, { status: 204 });
  }

  async #handleClaim(request: Request, id: string): Promise<Response> {
    const subscription = this.#find(id);
    if (!subscription.ok) return errorResponse(subscription);
    if (subscription.value.config.type !== "pull-wake") return errorResponse(wrongType(subscription.value, "claim"));
    const body = await readJsonObject(request);
    if (!body.ok) return errorResponse(body);
    const parsed = parseWith(claimSchema, body.value);
    if (!parsed.ok) return errorResponse(parsed);
    const claimed = await this.#inQueue(subscription.value, () => this.#claim(subscription.value, parsed.value.worker));
    return claimed.ok ? jsonResponse(200, claimed.value) : errorResponse(claimed);
  }

  async #handleWakeStep(request: Request, id: string, action: "callback" | "ack" | "release"): Promise<Response> {
    const subscription = this.#find(id);
    if (!subscription.ok) return errorResponse(subscription);
    const expectedType: SubscriptionType = action === "callback" ? "webhook" : "pull-wake";
    if (subscription.value.config.type !== expectedType) return errorResponse(wrongType(subscription.value, action));
    const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (!token) return errorResponse(fail("TOKEN_INVALID", "Send the wake's token as `Authorization: Bearer <token>`."));
    const body = await readJsonObject(request);
    if (!body.ok) return errorResponse(body);
    const step = parseWith(wakeStepSchema, body.value);
    if (!step.ok) return errorResponse(step);
    const mode = action === "release" ? "release" : "ack";
    const result = await this.#inQueue(subscription.value, () => this.#wakeStep(subscription.value, token, step.value, mode));
    if (!result.ok) return errorResponse(result);
    return action === "release" ? new Response(null, { status: 204 }) : jsonResponse(200, { ok: true, next_wake: result.value.nextWake });
  }

  // --- subscription lifecycle ------------------------------------------------------------------

  async #createOrConfirm(id: string, config: SubscriptionConfig, origin: string): Promise<Result<{ subscription: Subscription; created: boolean }>> {
    const configHash = hashConfig(config);
    const existing = this.#subscriptions.get(id);
    if (existing) {
      if (existing.configHash !== configHash) {
        return fail("SUBSCRIPTION_ALREADY_EXISTS", `Subscription ${id} already exists with a different configuration; delete it first or use another id.`);
      }
      return ok({ subscription: existing, created: false });
    }
    const subscription: Subscription = {
      id,
      config,
      configHash,
      origin,
      createdAt: new Date().toISOString(),
      status: "active",
      ready: false,
      links: new Map(),
      generation: 0,
      wake: null,
      leaseTimer: null,
      retryTimer: null,
      retryCount: 0,
      queue: new SerialQueue(),
    };
    // Registered before the first await, so a concurrent PUT of the same id confirms instead of creating twice.
    this.#subscriptions.set(id, subscription);
    try {
      await subscription.queue.run(() => this.#linkExisting(subscription));
    } catch (error) {
      this.#subscriptions.delete(id);
      throw error;
    }
    this.#log.info("subscription created", { subscriptionId: id, type: config.type, pattern: config.pattern });
    return ok({ subscription, created: true });
  }

  /** Links the explicit streams and every existing stream the pattern matches, at their current tails: no history is replayed. */
  async #linkExisting(subscription: Subscription): Promise<void> {
    const { streams, pattern } = subscription.config;
    const matching = pattern ? (await this.#host.listPaths()).map(trimSlashes).filter((path) => !isReserved(path) && this.#globCovers(subscription, path)) : [];
    const tails = await this.#tails([...new Set([...streams, ...matching])]);
    for (const path of streams) subscription.links.set(path, { path, explicit: true, glob: false, ackedOffset: tails.get(path) ?? ZERO_OFFSET });
    for (const path of matching) {
      const link = subscription.links.get(path);
      const tail = tails.get(path);
      if (link) link.glob = true;
      else if (tail !== undefined) subscription.links.set(path, { path, explicit: false, glob: true, ackedOffset: tail });
    }
    subscription.ready = true;
  }

  async #addExplicit(subscription: Subscription, paths: string[]): Promise<Result<void>> {
    const tails = await this.#tails(paths);
    for (const path of paths) {
      const link = subscription.links.get(path);
      if (link) link.explicit = true;
      else subscription.links.set(path, { path, explicit: true, glob: false, ackedOffset: tails.get(path) ?? ZERO_OFFSET });
    }
    return ok(undefined);
  }

  #delete(id: string): void {
    const subscription = this.#subscriptions.get(id);
    if (!subscription) return;
    this.#clearTimers(subscription);
    subscription.wake = null;
    this.#subscriptions.delete(id);
    this.#log.info("subscription deleted", { subscriptionId: id });
  }

  async #afterAppend(subscription: Subscription, path: string): Promise<void> {
    if (!this.#isRegistered(subscription)) return;
    if (this.#globCovers(subscription, path)) {
      const existing = subscription.links.get(path);
      if (existing) existing.glob = true;
      else subscription.links.set(path, { path, explicit: false, glob: true, ackedOffset: BEFORE_FIRST_OFFSET });
    }
    const link = subscription.links.get(path);
    if (!link || subscription.wake) return;
    const tail = await this.#host.tailOf(path);
    if (tail === undefined || !(tail > link.ackedOffset)) return;
    await this.#createWake(subscription, path);
  }

  // --- wakes -----------------------------------------------------------------------------------

  /** Starts a new wake generation: a webhook delivery, or a wake event in the pull-wake stream. */
  async #createWake(subscription: Subscription, triggeredBy: string, infos?: StreamInfo[]): Promise<void> {
    if (this.#closed) return;
    const current = infos ?? (await this.#streamInfos(subscription));
    subscription.generation += 1;
    const wake: Wake = {
      id: `w_${randomBytes(12).toString("hex")}`,
      generation: subscription.generation,
      snapshot: new Map(current.map((info) => [info.path, info.tail_offset])),
      holder: null,
      callbackToken: null,
    };
    subscription.wake = wake;
    this.#log.debug("wake created", { subscriptionId: subscription.id, wakeId: wake.id, generation: wake.generation, stream: triggeredBy });

    if (subscription.config.type === "webhook") {
      wake.callbackToken = this.#tokens.issue(subscription.id, { generation: wake.generation, wakeId: wake.id });
      subscription.retryCount = 0;
      // Not awaited: delivery must not hold the queue (its outcome re-enters it) nor delay the append.
      void this.#deliver(subscription, wake);
      return;
    }
    const wakeStream = subscription.config.wakeStream!;
    const event = { type: "wake", subscription_id: subscription.id, stream: triggeredBy, generation: wake.generation, ts: Date.now() };
    if (!(await this.#host.appendJson(wakeStream, event))) {
      this.#log.warn("wake stream does not exist; wake not announced", { subscriptionId: subscription.id, wakeStream });
    }
  }

  /** After a wake ends: starts the next one if any linked stream has data past its acked offset. */
  async #wakeIfPending(subscription: Subscription): Promise<boolean> {
    const infos = await this.#streamInfos(subscription);
    const pending = infos.find((info) => info.has_pending);
    if (!pending) return false;
    await this.#createWake(subscription, pending.path, infos);
    return true;
  }

  #endWake(subscription: Subscription): void {
    this.#clearTimers(subscription);
    subscription.wake = null;
  }

  async #claim(subscription: Subscription, worker: string) {
    const holder = subscription.wake?.holder;
    if (holder) {
      return fail("ALREADY_CLAIMED", `Worker ${holder} holds the current wake until it acks, releases, or its lease expires.`, {
        current_holder: holder,
        generation: subscription.generation,
      });
    }
    const infos = await this.#streamInfos(subscription);
    const pending = infos.find((info) => info.has_pending);
    if (!pending) {
      // An unclaimed wake with nothing left to do (its streams were deleted) must not block future wakes.
      if (subscription.wake) this.#endWake(subscription);
      return fail("NO_PENDING_WORK", `Subscription ${subscription.id} has no unacknowledged data.`);
    }
    if (!subscription.wake) await this.#createWake(subscription, pending.path, infos);
    const wake = subscription.wake!;
    wake.holder = worker;
    const token = this.#tokens.issue(subscription.id, { generation: wake.generation, wakeId: wake.id });
    this.#startLease(subscription, wake);
    return ok({ wake_id: wake.id, generation: wake.generation, token, streams: infos, lease_ttl_ms: subscription.config.leaseTtlMs });
  }

  /** A webhook callback, a pull-wake ack (mode "ack"), or a pull-wake release. */
  async #wakeStep(subscription: Subscription, token: string, step: WakeStep, mode: "ack" | "release"): Promise<Result<{ nextWake: boolean }>> {
    const claims = this.#tokens.verify(token, subscription.id);
    if (!claims.ok) return claims;
    const wake = subscription.wake;
    const current = claims.value.generation === wake?.generation && claims.value.wakeId === wake.id && step.generation === wake.generation && step.wake_id === wake.id;
    if (!wake || !current) {
      return fail("FENCED", `Wake ${step.wake_id ?? "(none)"} generation ${step.generation ?? "(none)"} is no longer current for subscription ${subscription.id}.`);
    }
    if (mode === "ack") {
      const applied = await this.#applyAcks(subscription, step.acks ?? []);
      if (!applied.ok) return applied;
    }
    if (mode === "release" || step.done === true) {
      this.#endWake(subscription);
      return ok({ nextWake: await this.#wakeIfPending(subscription) });
    }
    this.#startLease(subscription, wake);
    return ok({ nextWake: false });
  }

  /** Checks every ack before applying any, so a bad ack leaves all offsets as they were. */
  async #applyAcks(subscription: Subscription, acks: NonNullable<WakeStep["acks"]>): Promise<Result<void>> {
    const staged = new Map<string, string>();
    for (const ack of acks) {
      const path = trimSlashes(ack.stream ?? ack.path ?? "");
      const link = subscription.links.get(path);
      if (!link) return fail("INVALID_OFFSET", `Stream "${path}" is not linked to subscription ${subscription.id}.`);
      if (!OFFSET_PATTERN.test(ack.offset)) return fail("INVALID_OFFSET", `"${ack.offset}" is not a stream offset; ack a tail_offset you were given.`);
      const floor = staged.get(path) ?? link.ackedOffset;
      if (ack.offset < floor) return fail("INVALID_OFFSET", `Offset ${ack.offset} for "${path}" is behind its acked offset ${floor}; acks cannot move backwards.`);
      const tail = (await this.#host.tailOf(path)) ?? ZERO_OFFSET;
      if (ack.offset > tail) return fail("INVALID_OFFSET", `Offset ${ack.offset} for "${path}" is beyond the stream's tail ${tail}.`);
      staged.set(path, ack.offset);
    }
    for (const [path, offset] of staged) {
      const link = subscription.links.get(path);
      if (link) link.ackedOffset = offset;
    }
    return ok(undefined);
  }

  // --- webhook delivery and timers ---------------------------------------------------------------

  /** One delivery attempt of `wake`. Never rejects; its outcome is applied inside the subscription's queue. */
  async #deliver(subscription: Subscription, wake: Wake): Promise<void> {
    if (!this.#isLive(subscription, wake)) return;
    const body = JSON.stringify({
      subscription_id: subscription.id,
      wake_id: wake.id,
      generation: wake.generation,
      streams: this.#snapshotInfos(subscription, wake),
      callback_url: `${subscription.origin}${CONTROL_PATH}/subscriptions/${encodeURIComponent(subscription.id)}/callback`,
      callback_token: wake.callbackToken,
    });
    let outcome: { delivered: true; done: boolean } | { delivered: false; reason: string };
    // Resolved, classified and pinned to the checked address at every attempt (DNS may have changed
    // since the subscription was made); a 307/308 redirect is followed only to an address that passes too.
    const response = await guardedFetch(subscription.config.webhookUrl!, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "webhook-signature": this.#signer.signatureHeader(body) },
      accept: "application/json",
      userAgent: WEBHOOK_USER_AGENT,
      allowPrivate: this.#allowPrivate,
      resolve: this.#resolve,
      maxBytes: MAX_WEBHOOK_RESPONSE_BYTES,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      signal: this.#shutdown.signal,
    });
    if (response.ok) outcome = { delivered: true, done: parseDone(new TextDecoder().decode(response.bytes)) };
    else outcome = { delivered: false, reason: `${response.code}: ${response.message}` };

    await subscription.queue
      .run(async () => {
        if (!this.#isLive(subscription, wake)) return;
        if (!outcome.delivered) return this.#scheduleRetry(subscription, wake, outcome.reason);
        subscription.status = "active";
        subscription.retryCount = 0;
        if (!outcome.done) return this.#startLease(subscription, wake);
        // `{"done":true}` acknowledges exactly what the delivery showed.
        for (const [path, tail] of wake.snapshot) {
          const link = subscription.links.get(path);
          if (link && tail > link.ackedOffset) link.ackedOffset = tail;
        }
        this.#endWake(subscription);
        await this.#wakeIfPending(subscription);
      })
      .catch((error) => this.#log.error("webhook delivery bookkeeping failed", { subscriptionId: subscription.id, error }));
  }

  /**
   * The lease is paused while delivery keeps failing: it measures the consumer's time to act on a wake
   * it has received, and expiring it here would only start a new generation that fails the same way.
   */
  #scheduleRetry(subscription: Subscription, wake: Wake, reason: string): void {
    this.#clearTimers(subscription);
    if (this.#closed) return;
    subscription.status = "failed";
    subscription.retryCount += 1;
    const base = Math.min(RETRY_BASE_DELAY_MS * 2 ** (subscription.retryCount - 1), RETRY_MAX_DELAY_MS);
    const delayMs = Math.round(base * (1 + RETRY_JITTER_RATIO * (Math.random() * 2 - 1)));
    this.#log.warn("webhook delivery failed; will retry", { subscriptionId: subscription.id, wakeId: wake.id, attempt: subscription.retryCount, reason, retryInMs: delayMs });
    subscription.retryTimer = setTimeout(() => {
      subscription.retryTimer = null;
      void this.#deliver(subscription, wake);
    }, delayMs);
  }

  /** (Re)starts the lease on `wake`; when it runs out the wake ends and, if work is pending, a new generation starts. */
  #startLease(subscription: Subscription, wake: Wake): void {
    if (subscription.leaseTimer) clearTimeout(subscription.leaseTimer);
    subscription.leaseTimer = null;
    if (this.#closed) return;
    subscription.leaseTimer = setTimeout(() => {
      subscription.leaseTimer = null;
      subscription.queue
        .run(async () => {
          if (!this.#isLive(subscription, wake)) return;
          this.#log.info("wake lease expired", { subscriptionId: subscription.id, wakeId: wake.id, generation: wake.generation, holder: wake.holder });
          this.#endWake(subscription);
          await this.#wakeIfPending(subscription);
        })
        .catch((error) => this.#log.error("lease expiry failed", { subscriptionId: subscription.id, error }));
    }, subscription.config.leaseTtlMs);
  }

  #clearTimers(subscription: Subscription): void {
    if (subscription.leaseTimer) clearTimeout(subscription.leaseTimer);
    if (subscription.retryTimer) clearTimeout(subscription.retryTimer);
    subscription.leaseTimer = null;
    subscription.retryTimer = null;
  }

  // --- helpers ---------------------------------------------------------------------------------

  #find(id: string): Result<Subscription> {
    const subscription = this.#subscriptions.get(id);
    return subscription ? ok(subscription) : fail("SUBSCRIPTION_NOT_FOUND", `There is no subscription ${id}.`);
  }

  /** Runs `task` in the subscription's queue, unless the subscription was deleted while the task waited. */
  #inQueue<T>(subscription: Subscription, task: () => Promise<Result<T>>): Promise<Result<T>> {
    return subscription.queue.run(() => (this.#isRegistered(subscription) ? task() : fail("SUBSCRIPTION_NOT_FOUND", `There is no subscription ${subscription.id}.`)));
  }

  #isRegistered(subscription: Subscription): boolean {
    return this.#subscriptions.get(subscription.id) === subscription;
  }

  /** Whether `wake` is still the subscription's current wake, so work done for it still counts. */
  #isLive(subscription: Subscription, wake: Wake): boolean {
    return !this.#closed && this.#isRegistered(subscription) && subscription.wake === wake;
  }

  /** Whether the pattern links `path`. A subscription never links its own wake stream, which would wake itself forever. */
  #globCovers(subscription: Subscription, path: string): boolean {
    const { pattern, wakeStream } = subscription.config;
    return pattern !== null && path !== wakeStream && globMatch(pattern, path);
  }

  async #tails(paths: string[]): Promise<Map<string, string | undefined>> {
    const tails = await Promise.all(paths.map((path) => this.#host.tailOf(path)));
    return new Map(paths.map((path, index) => [path, tails[index]]));
  }

  async #streamInfos(subscription: Subscription): Promise<StreamInfo[]> {
    const links = [...subscription.links.values()];
    const tails = await this.#tails(links.map((link) => link.path));
    return links.map((link) => streamInfo(link, tails.get(link.path) ?? ZERO_OFFSET));
  }

  #snapshotInfos(subscription: Subscription, wake: Wake): StreamInfo[] {
    const infos: StreamInfo[] = [];
    for (const [path, tail] of wake.snapshot) {
      const link = subscription.links.get(path);
      if (link) infos.push(streamInfo(link, tail));
    }
    return infos;
  }

  #serialize(subscription: Subscription, origin: string) {
    const { config } = subscription;
    return {
      id: subscription.id,
      subscription_id: subscription.id,
      type: config.type,
      pattern: config.pattern,
      streams: [...subscription.links.values()].map((link) => ({ path: link.path, link_type: linkType(link), acked_offset: link.ackedOffset })),
      webhook:
        config.webhookUrl === null
          ? null
          : { url: config.webhookUrl, signing: { alg: "ed25519", kid: this.#signer.jwk.kid, jwks_url: `${origin}${CONTROL_PATH}/jwks.json` } },
      wake_stream: config.wakeStream,
      lease_ttl_ms: config.leaseTtlMs,
      created_at: subscription.createdAt,
      status: subscription.status,
      description: config.description,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers
// ---------------------------------------------------------------------------------------------

function parseConfig(body: unknown, options: { allowPrivate: boolean }): Result<SubscriptionConfig> {
  const parsed = parseWith(createSchema, body);
  if (!parsed.ok) return parsed;
  const input = parsed.value;
  const pattern = trimSlashes(input.pattern ?? "") || null;
  if (pattern && isReserved(pattern)) return fail("INVALID_REQUEST", "pattern must not reach into the reserved __ds namespace.");
  const wakeStream = input.type === "pull-wake" ? trimSlashes(input.wake_stream ?? "") || null : null;
  if (input.type === "pull-wake" && !wakeStream) return fail("INVALID_REQUEST", "pull-wake subscriptions need wake_stream: the JSON stream wake events are appended to.");
  if (wakeStream && isReserved(wakeStream)) return fail("INVALID_REQUEST", "wake_stream must not be in the reserved __ds namespace.");
  const streams = streamPaths(input.streams ?? [], wakeStream);
  if (!streams.ok) return streams;
  if (!pattern && streams.value.length === 0) return fail("INVALID_REQUEST", 'Give a pattern (such as "events/*"), a non-empty streams list, or both.');

  let webhookUrl: string | null = null;
  if (input.type === "webhook") {
    webhookUrl = input.webhook?.url ?? null;
    if (!webhookUrl) return fail("INVALID_REQUEST", 'webhook subscriptions need webhook.url, e.g. {"webhook":{"url":"https://example.com/hook"}}.');
    const checked = checkWebhookUrl(webhookUrl, options);
    if (!checked.ok) return fail(checked.code, checked.message);
  }
  return ok({
    type: input.type,
    pattern,
    streams: streams.value,
    webhookUrl,
    wakeStream,
    leaseTtlMs: input.lease_ttl_ms ?? DEFAULT_LEASE_TTL_MS,
    description: input.description ?? null,
  });
}

/** Normalizes stream paths (trimmed of slashes, sorted, unique) and rejects empty, reserved, or wake-stream ones. */
function streamPaths(raw: string[], wakeStream: string | null): Result<string[]> {
  const paths = new Set<string>();
  for (const entry of raw) {
    const path = trimSlashes(entry);
    if (!path) return fail("INVALID_REQUEST", "streams must not contain empty paths.");
    if (isReserved(path)) return fail("INVALID_REQUEST", `Stream "${path}" is in the reserved __ds namespace.`);
    if (path === wakeStream) return fail("INVALID_REQUEST", `Stream "${path}" is this subscription's wake_stream; linking it would wake the subscription on its own wake events.`);
    paths.add(path);
  }
  return ok([...paths].sort());
}

/** The idempotency key of a PUT: equal configurations hash equal whatever the order of `streams`. */
function hashConfig(config: SubscriptionConfig): string {
  const canonical = {
    type: config.type,
    pattern: config.pattern,
    streams: config.streams,
    webhook: config.webhookUrl === null ? null : { url: config.webhookUrl },
    wake_stream: config.wakeStream,
    lease_ttl_ms: config.leaseTtlMs,
    description: config.description,
  };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}

function streamInfo(link: Link, tail: string): StreamInfo {
  return { path: link.path, link_type: linkType(link), acked_offset: link.ackedOffset, tail_offset: tail, has_pending: tail > link.ackedOffset };
}

function linkType(link: Link): "explicit" | "glob" {
  return link.explicit ? "explicit" : "glob";
}

function wrongType(subscription: Subscription, action: string): Failure {
  const hint = subscription.config.type === "webhook" ? "webhook subscriptions are acknowledged through /callback" : "pull-wake subscriptions use /claim, /ack and /release";
  return fail("INVALID_REQUEST", `Subscription ${subscription.id} is a ${subscription.config.type} subscription; /${action} does not apply (${hint}).`);
}

function parseDone(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && (value as { done?: unknown }).done === true;
  } catch {
    return false;
  }
}

async function readJsonObject(request: Request): Promise<Result<Record<string, unknown>>> {
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return fail("INVALID_REQUEST", `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
  if (text.trim() === "") return ok({});
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail("INVALID_REQUEST", "The request body is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("INVALID_REQUEST", "The request body must be a JSON object.");
  return ok(value as Record<string, unknown>);
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): Result<T> {
  const parsed = schema.safeParse(value);
  return parsed.success ? ok(parsed.data) : fail("INVALID_REQUEST", parsed.error.issues[0]?.message ?? "The request body is not valid.");
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}

function isReserved(path: string): boolean {
  return path === "__ds" || path.startsWith("__ds/");
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function errorResponse(failure: Failure): Response {
  return jsonResponse(ERROR_STATUS[failure.code], { error: { code: failure.code, message: failure.message, ...failure.details } });
}

function methodNotAllowed(allow: string): Response {
  return jsonResponse(405, { error: { code: "METHOD_NOT_ALLOWED", message: `Use ${allow} here.` } }, { allow });
}
