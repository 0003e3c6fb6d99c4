import type { Context, MiddlewareHandler, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "./log";

/**
 * The one exception thrown at the HTTP edge. Domain code returns result values with codes;
 * route handlers turn a failed result into an ApiError, and the error handler renders it as
 * `{"error":{"code","message"}}`.
 *
 * @example
 * throw new ApiError(404, "session_not_found", "No session with id s_123.");
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra members of the error body (e.g. `currentVersion` of a version conflict). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Renders an error body in the contract's shape. */
export function errorBody(code: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { ...details, code, message } };
}

/** Requests slower than this are logged at warn, whatever their path (live reads excepted: they wait on purpose). */
export const SLOW_REQUEST_MS = 1_000;
/**
 * High-volume protocol paths: a line per append would cost more than the append itself, so their
 * successful requests are logged at debug; errors and slow requests still reach the default level.
 */
export const QUIET_PATH_PREFIXES = ["/v1/stream/"];

/**
 * Logs one line per request with method, path, status and duration (never query strings: they can
 * hold tokens). 5xx at error, slow requests at warn, the rest at info, except successes on
 * QUIET_PATH_PREFIXES and every `/healthz` (200, or 503 while starting or stopping) at debug.
 */
export function requestLog(log: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    logRequest(log, c.req.method, c.req.path, c.res.status, started, c.req.raw);
  };
}

/**
 * The request log line of requestLog, for a request that ended with `status`. Called for every
 * request, appends included: nothing is built (fields, the URL) unless a line is written.
 */
function logRequest(log: Logger, method: string, path: string, status: number, started: number, request: Request) {
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  let level: "debug" | "info" | "warn" | "error" = "info";
  // Health checks are polled: a 503 while starting or stopping is the expected answer, not an error.
  if (path === "/healthz") level = "debug";
  else if (status >= 500) level = "error";
  else if (durationMs >= SLOW_REQUEST_MS && !isLiveRead(request.url)) level = "warn";
  else if (status < 400 && isQuietPath(path)) level = "debug";
  if (level === "debug" && !log.enabled("debug")) return;
  log[level](level === "warn" ? "slow request" : "request", { method, path, status, durationMs });
}

function isQuietPath(path: string): boolean {
  for (const prefix of QUIET_PATH_PREFIXES) if (path.startsWith(prefix)) return true;
  return false;
}

/**
 * Serves a hot path (the Durable Streams protocol) straight from Bun's `fetch`, without the
 * framework's routing and middleware chain, with the edge behaviour that chain gives every route:
 * requestLog's log line, and errorHandler's logged 500 for an unexpected error. Requests the
 * chain's NUL guard must see (a `%00` in the URL, a URL-encoded form body), and paths with dot
 * segments, are not taken: `take`
 * answers undefined for them and the caller hands them to the app.
 *
 * @example
 * const direct = directRoute(log, (request, path) => streams.http.handle(request, path));
 * return direct.take(request, path) ?? app.fetch(request);
 */
export function directRoute(log: Logger, handle: (request: Request, path: string) => Promise<Response>) {
  const serve = async (request: Request, path: string): Promise<Response> => {
    const started = performance.now();
    let response: Response;
    try {
      response = await handle(request, path);
    } catch (error) {
      log.error("unhandled error", { method: request.method, path, error, stack: (error as Error).stack?.split("\n").slice(0, 4).join(" | ") });
      response = Response.json(errorBody("internal", "Something went wrong on our side; the error has been logged."), { status: 500 });
    }
    logRequest(log, request.method, path, response.status, started, request);
    return response;
  };
  return {
    take(request: Request, path: string): Promise<Response> | undefined {
      if (request.url.includes("%00")) return undefined;
      // Dot segments: the URL parser would resolve them to another route; the app decides.
      if (/\/\.|%2e/i.test(path)) return undefined;
      const type = request.headers.get("content-type");
      if (type !== null && /^application\/x-www-form-urlencoded/i.test(type)) return undefined;
      return serve(request, path);
    },
  };
}

/** Long-polls and SSE hold the request open by design. */
function isLiveRead(url: string): boolean {
  return url.includes("live=");
}

/** Maps thrown errors to the contract's error body; unexpected errors are logged and answer 500. */
export function errorHandler(log: Logger): ErrorHandler {
  return (error, c) => {
    if (error instanceof ApiError) {
      for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
      return c.json(errorBody(error.code, error.message, error.details), error.status);
    }
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      const code = status === 413 ? "payload_too_large" : status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "bad_request";
      return c.json(errorBody(code, error.message || "Request rejected."), status);
    }
    log.error("unhandled error", { method: c.req.method, path: c.req.path, error, stack: (error as Error).stack?.split("\n").slice(0, 4).join(" | ") });
    return c.json(errorBody("internal", "Something went wrong on our side; the error has been logged."), 500);
  };
}

export const notFound: NotFoundHandler = (c: Context) =>
  c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}.`), 404);

/** Dot segments (plain or percent-encoded), which only the URL parser resolves. */
const DOT_SEGMENT = /\/\.|%2e/i;

/**
 * The path of an absolute request URL (`http://host/path?query` → `/path`), as `new URL(url).pathname`
 * gives it, without parsing all of it. Bun resolves dot segments in a request's URL already; a URL
 * that still has any goes through the URL parser. A relative URL never gets here (see refuseHostless).
 *
 * @example
 * pathOf("http://localhost:3000/v1/stream/a?offset=-1"); // "/v1/stream/a"
 */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (end === -1 || (hash !== -1 && hash < end)) end = hash;
  const path = end === -1 ? url.slice(start) : url.slice(start, end);
  return DOT_SEGMENT.test(path) ? new URL(url).pathname : path;
}

/**
 * A 400 for a request that came without a usable Host header (`a b`, `a?b`, `a/b`, or none under
 * HTTP/1.0): Bun then hands it over with its bare request target as a relative URL, which no router
 * reads right (Hono and pathOf slice it as if it were absolute: `/ab/v1/stream/x` would be taken for
 * `/v1/stream/x`). Checked once, before any routing.
 *
 * @example
 * fetch: (request, server) => refuseHostless(request) ?? route(request, server)
 */
export function refuseHostless(request: Request): Response | undefined {
  if (request.url.charCodeAt(0) !== 47) return undefined; // "/": not absolute
  return Response.json(errorBody("bad_request", "The request needs a Host header naming a host (and port)."), { status: 400 });
}
