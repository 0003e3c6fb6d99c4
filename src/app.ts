import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { serveStatic } from "hono/bun";
import { join } from "node:path";
import type { Server, WebSocketHandler } from "bun";
import type { PgBoss } from "pg-boss";
import type { Config } from "./infra/config";
import type { Logger } from "./infra/log";
import { safeUrl } from "./infra/log";
import { EmbeddedPostgres } from "./infra/embedded-postgres";
import { openDatabase, runMigrations, type Database } from "./infra/database";
import { ApiError, directRoute, errorHandler, notFound, pathOf, refuseHostless, requestLog } from "./infra/http";
import { router, type AppEnv } from "./infra/openapi";
import { jsonBodyGuard, nulGuard } from "./infra/input-guard";
import { startJobQueue, JOB_STOP_TIMEOUT_MS } from "../jobs/boss";
import { createStreams, scheduleStreamJobs } from "./streams";
import { SubscriptionManager } from "./streams/subscriptions";
import { subscriptionHost } from "./streams/subscription-host";
import { Authenticator, can, type Principal } from "./accounts/principal";
import { ALL_TEAMS, inScope, scopeOf } from "./accounts/scope";
import { Accounts } from "./accounts/service";
import { principalNames } from "./accounts/names";
import { accountPages } from "./web/account-pages";
import { accountRoutes } from "./accounts/routes";
import { cookiePrincipal, loadUser, type WebVariables } from "./web/cookies";
import { secureHeaders } from "hono/secure-headers";
import { csrf } from "hono/csrf";
import { SessionService, SESSION_STREAM_PREFIX } from "./sessions/service";
import type { StreamStore } from "./streams/store";
import { Presence } from "./sessions/presence";
import { SessionSockets, WS_LIMITS, type SocketData } from "./sessions/socket";
import { SessionFollowers } from "./sessions/follower";
import { sessionRoutes } from "./sessions/routes";
import { guardSessionStream, writesSessionStream } from "./sessions/stream-guard";
import { mayUseSession } from "./sessions/permissions";
import { Revocations } from "./accounts/revocations";
import { Turns } from "./sessions/turns";
import { chatRoutes } from "./sessions/chat-routes";
import { branchRoutes } from "./sessions/branch-routes";
import { Branches } from "./sessions/branches";
import { sessionOfStreamPath } from "./sessions/ui-chunks";
import { InputRequests } from "./sessions/input-requests";
import { apiDocs } from "./web/api-docs";
import { Providers } from "./agents/providers";
import { AgentRuntime } from "./agents/runtime";
import { BUILT_IN_AGENTS } from "./agents/agents";
import { AssetStore } from "./assets/store";
import { StudioStore } from "./email/studio";
import { emailAgents } from "./email/generation";
import { studioRoutes } from "./email/routes";
import { libraryRoutes } from "./email/library-routes";
import { imageRoutes } from "./email/image-routes";
import { EmailLibrary } from "./email/library";
import { assetRoutes, assetRoute } from "./assets/routes";
import { ServiceMetrics } from "./service-metrics";
import { EmailEditor } from "./email/editing";
import { Variants } from "./email/variants";
import { studioPages } from "./web/studio-pages";
import { libraryPages } from "./web/library-pages";
import { variantPages } from "./web/variant-pages";
import { sessionPages } from "./web/session-pages";
import { vendorFiles } from "./web/vendor";
import { BrandImports, brandImportAgent } from "./brands/import/imports";
import { ReferenceStore } from "./brands/references";
import { BRAND_UPLOAD_PATH, brandRoutes } from "./brands/routes";
import { brandPages } from "./brands/pages";
import { BrandStore } from "./brands/store";
import { brandImportPages } from "./brands/import/pages";

/** JSON API bodies are small; uploads and stream appends have their own limits. */
export const API_BODY_LIMIT_BYTES = 1024 * 1024;
/** On shutdown, how long session checkpoint writes under way get before the database closes anyway. */
export const CHECKPOINT_WRITES_TIMEOUT_MS = 10_000;

/** What start-up has finished; `/healthz` answers 200 only when all are true. */
export interface Readiness {
  database: boolean;
  migrations: boolean;
  jobs: boolean;
  shuttingDown: boolean;
}

/** A running service. */
export interface Service {
  url: string;
  port: number;
  readiness: Readiness;
  stop(): Promise<void>;
}

type Fetch = (request: Request, server: Server<SocketData>) => Response | Promise<Response | undefined> | undefined;

/**
 * Starts the whole service: HTTP first (so `/healthz` can say what is not ready yet), then the
 * database (embedded unless DATABASE_URL is set), migrations under an advisory lock, pg-boss, and
 * the features. Until they are ready every route but `/healthz` answers 503.
 *
 * @example
 * const service = await startService({ config: loadConfig(process.env), log });
 * await service.stop();
 */
export async function startService(options: { config: Config; log: Logger }): Promise<Service> {
  const { config, log } = options;
  const readiness: Readiness = { database: false, migrations: false, jobs: false, shuttingDown: false };

  const health = (c: { json: (body: unknown, status: 200 | 503) => Response }) => {
    if (readiness.shuttingDown) return c.json({ ok: false, error: { code: "shutting_down", message: "The service is shutting down." } }, 503);
    const waiting = (["database", "migrations", "jobs"] as const).filter((part) => !readiness[part]);
    if (waiting.length > 0) return c.json({ ok: false, notReady: waiting, error: { code: "not_ready", message: `Not ready yet: ${waiting.join(", ")}.` } }, 503);
    return c.json({ ok: true }, 200);
  };

  const boot = new Hono();
  boot.use(requestLog(log.child({ component: "http" })));
  boot.get("/healthz", (c) => health(c));
  boot.all("*", (c) => c.json({ error: { code: "not_ready", message: "The service is starting; try again in a moment." } }, 503));

  let current: Fetch = (request) => boot.fetch(request);
  let sockets: SessionSockets | undefined;
  // Bun takes WebSocket handlers at serve time; these forward to the session sockets once they exist.
  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: 1024 * 1024,
    idleTimeout: WS_LIMITS.IDLE_TIMEOUT_SECONDS,
    sendPings: true,
    backpressureLimit: WS_LIMITS.MAX_BUFFERED_BYTES * 2,
    closeOnBackpressureLimit: false,
    open: (ws) => sockets?.handlers.open?.(ws),
    message: (ws, message) => void sockets?.handlers.message?.(ws, message),
    drain: (ws) => sockets?.handlers.drain?.(ws),
    close: (ws, code, reason) => sockets?.handlers.close?.(ws, code, reason),
  };

  const server = Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    fetch: (request, srv) => refuseHostless(request) ?? current(request, srv),
    websocket,
    // Long-polls and SSE keep connections open; they send or finish well within this.
    idleTimeout: 120,
    maxRequestBodySize: 64 * 1024 * 1024,
  });
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  log.info("listening", { url, port: server.port, role: config.role });

  let embedded: EmbeddedPostgres | undefined;
  let database: Database | undefined;
  let boss: PgBoss | undefined;
  let subscriptions: SubscriptionManager | undefined;
  let presence: Presence | undefined;
  let runtime: AgentRuntime | undefined;
  /** The session service, for its checkpoint writes at shutdown. */
  let sessionService: SessionService | undefined;

  const stop = async () => {
    if (readiness.shuttingDown) return;
    readiness.shuttingDown = true;
    log.info("shutting down");
    // 1. Stop taking work: no new HTTP connections, no new jobs fetched; running jobs finish.
    const httpStopped = server.stop(false);
    subscriptions?.close();
    // Local runs end their current message as interrupted and go back to the queue for a retry.
    await runtime?.stop();
    if (boss) await boss.stop({ graceful: true, timeout: JOB_STOP_TIMEOUT_MS }).catch((error) => log.warn("job queue stop failed", { error }));
    // 2. Close what is still open: sockets (clients resume elsewhere from their offsets), long-polls.
    sockets?.closeAll();
    await presence?.close();
    await Promise.race([httpStopped, Bun.sleep(2_000)]);
    await server.stop(true);
    // 3. Then the database, once the session checkpoints being written are in (within reason): a
    // compaction still folding when the pools close has its next query refused, and its checkpoint
    // (the work of folding the whole session) is lost.
    if (sessionService?.checkpointsPending) {
      log.info("waiting for session checkpoint writes", { timeoutMs: CHECKPOINT_WRITES_TIMEOUT_MS });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([sessionService.checkpointsWritten(), new Promise((resolve) => (timer = setTimeout(resolve, CHECKPOINT_WRITES_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    if (database) await database.close().catch((error) => log.warn("database close failed", { error }));
    if (embedded) await embedded.stop();
    log.info("stopped");
  };

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      embedded = new EmbeddedPostgres({ dataDir: config.dataDir, log: log.child({ component: "embedded-postgres" }) });
      databaseUrl = await embedded.start();
    } else {
      log.info("using external postgres", { url: safeUrl(databaseUrl) });
    }
    database = await openDatabase({ url: databaseUrl, log, socketPath: embedded?.socketPath });
    readiness.database = true;
    await runMigrations({ url: databaseUrl, log });
    readiness.migrations = true;
    boss = await startJobQueue({ url: databaseUrl, log: log.child({ component: "jobs" }), schedule: config.role !== "web" });

    const accounts = new Accounts({ sql: database.sql });
    const auth = new Authenticator({ apiToken: config.apiToken, secretKey: config.secretKey, accounts });
    const revocations = new Revocations({ authenticate: async (token) => (await auth.authenticate(token)) !== undefined, log: log.child({ component: "revocations" }) });
    await revocations.start(database.listener);
    const streams = await createStreams({
      database,
      log,
      longPollTimeoutMs: config.longPollTimeoutMs,
      authorize: config.streamsAuth ? (request, path) => streamAuthorizer(auth, sessions, streams.store, revocations)(request, path) : undefined,
      reserved: ({ store, writer }) => (subscriptions = new SubscriptionManager({ host: subscriptionHost(store, writer), log: log.child({ component: "subscriptions" }), allowPrivate: config.importAllowPrivate })),
    });
    if (config.role !== "web") await scheduleStreamJobs(boss, streams, log);

    presence = new Presence({ sql: database.sql, log: log.child({ component: "presence" }) });
    await presence.start(database.listener);
    const sessions = new SessionService({ sql: database.sql, store: streams.store, writer: streams.writer, boss, log: log.child({ component: "sessions" }) });
    sessionService = sessions;
    const turns = new Turns({ sql: database.sql, sessions, log: log.child({ component: "turns" }) });
    const inputs = new InputRequests({ sql: database.sql, sessions, log: log.child({ component: "inputs" }) });
    const providers = new Providers(config);
    const studio = new StudioStore({ sql: database.sql });
    const brands = new BrandStore({ sql: database.sql });
    const assets = new AssetStore({ sql: database.sql });
    const brandImports = new BrandImports({ sql: database.sql, sessions, brands });
    const references = new ReferenceStore({ sql: database.sql });
    const followers = new SessionFollowers({ hub: streams.hub, reader: sessions, log: log.child({ component: "sessions" }) });
    runtime = new AgentRuntime({
      sql: database.sql, boss, followers, writer: streams.writer, sessions, turns, inputs, presence, providers,
      agents: [...BUILT_IN_AGENTS, ...emailAgents({ studio, brands, assets, providers }), brandImportAgent({ imports: brandImports, assets, allowPrivate: config.importAllowPrivate })],
      log: log.child({ component: "agents" }),
      listener: database.listener,
    });
    if (config.role !== "web") await runtime.start();
    log.info("ai providers", { text: providers.offlineOnly ? "offline" : (providers.anthropic ? "anthropic" : "openai"), images: providers.openai ? "openai" : "offline" });
    sockets = new SessionSockets({ service: sessions, turns, inputs, followers, presence, auth, listener: database.listener, log: log.child({ component: "ws" }), cookieAuth: (request) => cookiePrincipal(accounts, request), memberName: principalNames(accounts), cookieOrigin: (origin, request) => origin === new URL(request.url).origin || origin === config.publicUrl });
    const metrics = new ServiceMetrics({ role: config.role, sql: database.sql, listener: database.listener, hub: streams.hub, writer: streams.writer, boss, sockets, followers });
    if (config.role !== "worker") await sockets.start();
    await metrics.start();
    runtime.onRunEnded = (run) => metrics.runEnded(run);
    providers.onError = (provider, code) => metrics.providerError(provider, code);

    const api = router();
    api.use("/api/*", async (c, next) => {
      // Uploads have their own, larger limit (checked in the asset route); JSON bodies are small.
      if (c.req.path === "/api/assets" || BRAND_UPLOAD_PATH.test(c.req.path)) return next();
      return bodyLimit({ maxSize: API_BODY_LIMIT_BYTES, onError: () => { throw new ApiError(413, "payload_too_large", `JSON bodies are limited to ${API_BODY_LIMIT_BYTES} bytes.`); } })(c, next);
    });
    api.use("/api/*", async (c, next) => {
      const bearer = Authenticator.bearer(c.req.raw);
      let principal = bearer ? await auth.authenticate(bearer) : undefined;
      if (!bearer) {
        // The web app calls the API with its session cookie; unsafe methods then need the CSRF header.
        principal = (c as unknown as { get(key: "principal"): Principal | undefined }).get("principal");
        const csrfToken = (c as unknown as { get(key: "csrfToken"): string | undefined }).get("csrfToken");
        if (principal && !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && c.req.header("x-csrf-token") !== csrfToken) {
          throw new ApiError(403, "csrf", "Send the page's CSRF token in X-CSRF-Token.");
        }
      }
      if (!principal) throw new ApiError(401, "unauthorized", "Send Authorization: Bearer <API token or client token>.", { "www-authenticate": "Bearer" });
      c.set("principal", principal);
      // The team gate: every store call of a route takes this scope (docs/architecture.md).
      c.set("scope", scopeOf(principal));
      await next();
    });
    api.use("/api/*", jsonBodyGuard());
    api.route("/", accountRoutes({ accounts }));
    api.route("/", assetRoutes({ assets, publicUrl: config.publicUrl }));
    // The email's images are public asset URLs (what any mail client fetches), so the checks read them as the public route does.
    const offlineText = (provider: string | undefined) => {
      const chosen = providers.text(provider);
      return !("error" in chosen) && chosen.name === "offline";
    };
    const editor = new EmailEditor({ studio, brands, sessions, loadImage: async (id) => (await assets.bytes(ALL_TEAMS, id))?.bytes, offlineText });
    const variants = new Variants({ studio, sessions, editor });
    const library = new EmailLibrary({ sql: database.sql, studio, sessions });
    api.route("/", imageRoutes({ studio, brands, assets, editor, publicUrl: config.publicUrl, principalName: principalNames(accounts) }));
    api.route("/", libraryRoutes({ studio, brands, library, editor, publicUrl: config.publicUrl, principalName: principalNames(accounts) }));
    api.route("/", studioRoutes({ studio, brands, assets, editor, sessions, variants, library, mail: config.mail, publicUrl: config.publicUrl, allowPrivate: config.importAllowPrivate, textProvider: (requested) => providers.text(requested), principalName: principalNames(accounts) }));
    api.route("/", brandRoutes({ brands, assets, imports: brandImports, references, publicUrl: config.publicUrl, allowPrivate: config.importAllowPrivate }));
    api.route("/", sessionRoutes({ service: sessions, turns, inputs, presence, secretKey: config.secretKey, publicUrl: config.publicUrl, runnableAgents: () => runtime!.agentNames, revokeClientToken: (input) => accounts.revokeClientToken(input) }));
    api.route("/", chatRoutes({ service: sessions, turns, secretKey: config.secretKey, publicUrl: config.publicUrl }));
    api.route("/", branchRoutes({ service: sessions, branches: new Branches({ sql: database.sql, sessions, turns }), publicUrl: config.publicUrl }));

    // Session streams are read-only on /v1/stream (the operator's raw appends are checked event by event).
    const isOperator = async (request: Request) => (await auth.authenticate(Authenticator.bearer(request)))?.kind === "admin";
    const handleStreams = (request: Request, path: string = pathOf(request.url)) =>
      writesSessionStream(request, path) ? guardSessionStream(request, path, isOperator).then((refused) => refused ?? streams.http.handle(request, path)) : streams.http.handle(request, path);

    const app = new Hono<{ Variables: WebVariables }>();
    app.use(requestLog(log.child({ component: "http" })));
    app.onError(errorHandler(log));
    app.notFound(notFound);
    app.use("*", nulGuard());
    app.get("/healthz", (c) => health(c));
    // Prometheus text format, for the bootstrap API token or a team API token.
    app.get("/metrics", (c) => metrics.handle(c.req.raw, auth));
    if (config.role === "worker") {
      // A worker runs agent jobs and scheduled work; clients talk to ROLE=web (or all) processes.
      app.all("*", (c) => c.json({ error: { code: "not_found", message: "This is a ROLE=worker process: it serves only /healthz and /metrics." } }, 404));
    }
    app.use("/static/*", async (c, next) => {
      await next();
      if (c.res.status === 200) c.res.headers.set("cache-control", "public, max-age=300");
    });
    app.get("/static/vendor/:file", await vendorFiles(join(import.meta.dir, "../node_modules")));
    app.use("/static/*", serveStatic({ root: join(import.meta.dir, "..") }));
    // Browsers ask every page for /favicon.ico, an email opened on its own too: that document is
    // sandboxed (an opaque origin), so the answer must carry no same-origin resource policy.
    app.get("/favicon.ico", (c) => c.redirect("/static/favicon.svg", 301));
    app.all("/v1/stream/*", (c) => handleStreams(c.req.raw));
    app.get("/assets/:id", assetRoute(assets));
    // Pages and the JSON API: security headers, a strict CSP (no inline script), the Origin check on
    // form posts, and the signed-in person from the session cookie.
    app.use("*", secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:", "blob:", "https:"],
        connectSrc: ["'self'", "ws:", "wss:"],
        frameSrc: ["'self'"],
        frameAncestors: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
      },
      referrerPolicy: "same-origin",
      xContentTypeOptions: true,
      crossOriginEmbedderPolicy: false,
      // A route that sets its own policy keeps it (the rendered email preview: inline styles, sandboxed).
      overwrite: false,
    }));
    const originCheck = csrf({ origin: (origin, c) => origin === new URL(c.req.url).origin || origin === config.publicUrl });
    // A bearer token is not an ambient credential (a cross-site form cannot send one), so API calls
    // with one skip the Origin check: an upload or a body-less POST from a script has no Origin.
    app.use("*", (c, next) => (c.req.path.startsWith("/api/") && Authenticator.bearer(c.req.raw) ? next() : originCheck(c, next)));
    app.use("*", loadUser(accounts));
    app.route("/", api as never);
    app.route("/", apiDocs(api));
    app.route("/", brandImportPages({ imports: brandImports, publicUrl: config.publicUrl, allowPrivate: config.importAllowPrivate }));
    app.route("/", accountPages({ accounts, publicUrl: config.publicUrl, clientAddress: (c) => (c.env as unknown as Server<SocketData>)?.requestIP?.(c.req.raw)?.address ?? "unknown" }));
    const offline = () => providers.offlineOnly;
    app.route("/", brandPages({ brands, assets, publicUrl: config.publicUrl, offline }));
    app.route("/", variantPages({ studio, editor, variants, publicUrl: config.publicUrl, offline }));
    app.route("/", libraryPages({ studio, brands, library, editor, offline, publicUrl: config.publicUrl }));
    app.route("/", studioPages({ studio, brands, assets, sessions, editor, inputs, library, publicUrl: config.publicUrl, offline }));
    app.route("/", sessionPages({ sessions, presence: presence!, offline }));
    app.get("/", async (c) => {
      if (await accounts.needsSetup()) return c.redirect("/setup");
      if (!c.get("user")) return c.redirect("/login");
      return c.redirect("/emails");
    });

    // Appends and reads are most of the traffic: served without the app's routing and middleware
    // chain (see directRoute), which cost more than a stream's own handler.
    const streamsRoute = directRoute(log.child({ component: "http" }), handleStreams);
    current = (request, srv) => {
      if (config.role !== "worker") {
        const path = pathOf(request.url);
        // A successful upgrade must return nothing at all to Bun.
        if (path === "/ws") return sockets!.upgrade(request, srv);
        if (path.startsWith("/v1/stream/")) {
          const response = streamsRoute.take(request, path);
          if (response) return response;
        }
      }
      return app.fetch(request, srv);
    };
    readiness.jobs = true;
    log.info("ready", { url });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  return { url, port: server.port!, readiness, stop };
}

/**
 * Who may use `/v1/stream/*` when STREAMS_AUTH is on: the bootstrap token everywhere; a client token
 * only reads (GET/HEAD) its own session's stream; people and API tokens their team's session streams
 * and the streams their team created (another team's answer 404; PUT on a taken path is 409).
 */
function streamAuthorizer(auth: Authenticator, sessions: SessionService, store: StreamStore, revocations: Revocations) {
  const refuse = (status: number, code: string, message: string) => Response.json({ error: { code, message } }, { status, headers: status === 401 ? { "www-authenticate": "Bearer" } : {} });
  const notFound = () => refuse(404, "not_found", "No stream at this path.");
  // Whether the principal's team scope holds the stream: true, false (another team's), or undefined (none).
  const owns = async (principal: Principal, path: string): Promise<boolean | undefined> => {
    const scope = scopeOf(principal);
    if (path.startsWith(SESSION_STREAM_PREFIX)) {
      // Existence is read across teams (ALL_TEAMS) only to tell "taken" from "missing"; both answer 404 to a read.
      const session = await sessions.get(sessionOfStreamPath(SESSION_STREAM_PREFIX, path)!, ALL_TEAMS);
      return session ? inScope(scope, session.teamId) : undefined;
    }
    const owner = await store.ownerOf(path);
    return owner === undefined ? undefined : inScope(scope, owner);
  };
  // A client token reads its session's conversation: its own session or another of its branch tree.
  const readsConversation = async (principal: Extract<Principal, { kind: "client" }>, sessionId: string | undefined) => {
    if (sessionId === undefined) return false;
    if (sessionId === principal.sessionId) return true;
    const session = await sessions.get(sessionId, ALL_TEAMS);
    return session !== undefined && (await mayUseSession(sessions, principal, session));
  };
  // A live read (SSE, long-poll) by a revocable token ends when the token is revoked (see Revocations).
  const until = (request: Request, principal: Extract<Principal, { kind: "client" | "token" }>, token: string) =>
    request.method === "GET" && /[?&]live=/.test(request.url) ? (({ signal, release }) => ({ until: signal, release }))(revocations.track(principal.tokenId, token, request.signal)) : {};
  return async (request: Request, path: string): Promise<Response | { teamId: string | null; until?: AbortSignal; release?: () => void }> => {
    const token = Authenticator.bearer(request) ?? new URL(request.url).searchParams.get("token");
    const principal: Principal | undefined = await auth.authenticate(token);
    if (!principal || !token) return refuse(401, "unauthorized", "Send Authorization: Bearer <token> (or run with STREAMS_AUTH=off for development).");
    if (principal.kind === "admin") return { teamId: null };
    if (principal.kind === "client") {
      // Its session's stream, and the AI SDK streams of its turns (`…/sessions/<id>/ui/<uiId>`).
      if ((request.method === "GET" || request.method === "HEAD") && can(principal, "read") && (await readsConversation(principal, sessionOfStreamPath(SESSION_STREAM_PREFIX, path)))) return { teamId: principal.teamId, ...until(request, principal, token) };
      return refuse(403, "forbidden", "A client token may only read its own session's stream (with the read capability).");
    }
    if (path.startsWith("/v1/stream/__ds")) return refuse(403, "forbidden", "Subscriptions are managed with the bootstrap API_TOKEN.");
    const owned = await owns(principal, path);
    if (owned === false) return request.method === "PUT" ? refuse(409, "conflict", "This stream path is taken.") : notFound();
    if (owned === undefined && path.startsWith(SESSION_STREAM_PREFIX)) return notFound();
    const source = request.method === "PUT" ? request.headers.get("stream-forked-from") : null;
    if (source) {
      const sourcePath = source.startsWith("/") ? source : new URL(source, request.url).pathname;
      if ((await owns(principal, sourcePath)) === false) return notFound();
    }
    if (principal.kind === "token") return { teamId: principal.teamId, ...until(request, principal, token) };
    return { teamId: principal.teamId };
  };
}
