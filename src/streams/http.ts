import { isUtf8 } from "node:buffer";
import type { Logger } from "../infra/log";
import { pathOf } from "../infra/http";
import type { StreamChange, StreamHub } from "./hub";
import { formatOffset, isOffsetParam, parseOffset, ZERO_OFFSET } from "./offsets";
import { encodeJsonValues, isExpired, isJsonType, jsonArrayBytes, jsonArrayText, mediaType, readCommitted, type CatchUpPage, type ReadResult, type StoredMessage, type StreamRow, type StreamStore } from "./store";
import type { AppendResult, AppendWriter, ProducerHeaders } from "./writer";

/** The URL prefix every stream lives under. */
export const STREAM_PREFIX = "/v1/stream/";
/** Largest request body we accept on PUT/POST; past it: 413. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** SSE connections are closed after this long so clients reconnect with a fresh cursor (CDN-friendly). */
export const SSE_MAX_DURATION_MS = 60_000;
/** Cursor intervals, as the protocol's reference algorithm: 20 s buckets since 2024-10-09. */
const CURSOR_INTERVAL_MS = 20_000;
const CURSOR_EPOCH_MS = Date.parse("2024-10-09T00:00:00.000Z");

const utf8 = new TextDecoder();

const TTL_PATTERN = /^(0|[1-9]\d*)$/;
const SUB_OFFSET_PATTERN = /^(0|[1-9]\d*)$/;
const FORK_OFFSET_PATTERN = /^\d+_\d+$/;
const INTEGER_PATTERN = /^\d+$/;
const MEDIA_TYPE_PATTERN = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+/;
/** Reserved APIs that carry their own signed bearer tokens (webhook callbacks, pull-wake acks) or are public (the JWKS). */
const SELF_AUTHENTICATED = /^\/v1\/stream\/__ds\/(jwks\.json$|subscriptions\/[^/]+\/(callback|ack|release)$)/;

const ALLOW_HEADERS = [
  "content-type", "authorization", "if-none-match", "Stream-Seq", "Stream-TTL", "Stream-Expires-At", "Stream-Closed",
  "Producer-Id", "Producer-Epoch", "Producer-Seq", "Stream-Forked-From", "Stream-Fork-Offset", "Stream-Fork-Sub-Offset",
].join(", ");
const EXPOSE_HEADERS = [
  "Stream-Next-Offset", "Stream-Cursor", "Stream-Up-To-Date", "Stream-Closed", "Stream-SSE-Data-Encoding", "Stream-TTL",
  "Stream-Expires-At", "Producer-Epoch", "Producer-Seq", "Producer-Expected-Seq", "Producer-Received-Seq", "ETag", "Content-Type", "Location",
].join(", ");

/** The reserved `__ds` APIs, implemented by the subscription manager. */
export interface ReservedApis {
  handle(request: Request, rest: string): Promise<Response>;
}

export interface StreamsHttpOptions {
  store: StreamStore;
  writer: AppendWriter;
  hub: StreamHub;
  log: Logger;
  longPollTimeoutMs: number;
  /**
   * Decides whether a request may touch `path`: an error response refuses it; otherwise the team
   * that owns what the request creates (null = nobody's, e.g. with the bootstrap token).
   */
  /**
   * `until`, when given, ends what the request may do: a live read (SSE, long-poll) stops when it
   * aborts (its credentials were revoked), and a long-poll then answers 401; `release` is called
   * when a read that is not SSE has answered (an SSE response outlives the handler).
   */
  authorize?: (request: Request, path: string) => Promise<Response | { teamId: string | null; until?: AbortSignal; release?: () => void }>;
  reserved?: ReservedApis;
}

/**
 * Serves the Durable Streams protocol under `/v1/stream/*` with plain `Request` → `Response`
 * handlers (exact headers and statuses matter here, so no framework helpers sit in between).
 *
 * @example
 * app.all("/v1/stream/*", (c) => streams.handle(c.req.raw));
 */
export class StreamsHttp {
  #o: StreamsHttpOptions;

  constructor(options: StreamsHttpOptions) {
    this.#o = options;
  }

  /**
   * Answers one request; `path` is its path (`pathOf(request.url)`) when the caller has it already.
   * An append with no authorization to check (STREAMS_AUTH=off) goes straight to #append, whose
   * answers all carry COMMON_HEADERS: no async layer in between (most of the traffic, see
   * directRoute).
   */
  handle(request: Request, path: string = pathOf(request.url)): Promise<Response> {
    if (request.method === "POST" && !this.#o.authorize && path.length > STREAM_PREFIX.length && !isReservedPath(path)) return this.#append(request, path);
    return this.#handleAny(request, path);
  }

  async #handleAny(request: Request, path: string): Promise<Response> {
    const response = await this.#route(request, path);
    // Hot paths build their responses with COMMON_HEADERS already in (cheaper than setting them after).
    if (!response.headers.has("access-control-allow-origin")) applyCommonHeaders(response.headers);
    return response;
  }

  async #route(request: Request, path: string): Promise<Response> {
    const method = request.method;
    if (method === "OPTIONS") return new Response(null, { status: 204 });
    let teamId: string | null = null;
    let until: AbortSignal | undefined;
    let release: (() => void) | undefined;
    // Webhook callbacks and pull-wake acks carry their own signed bearer tokens; the JWKS is public.
    if (this.#o.authorize && !SELF_AUTHENTICATED.test(path)) {
      const decision = await this.#o.authorize(request, path);
      if (decision instanceof Response) return decision;
      teamId = decision.teamId;
      until = decision.until;
      release = decision.release;
    }
    if (isReservedPath(path)) {
      if (!this.#o.reserved) return errorResponse(404, "SUBSCRIPTION_NOT_FOUND", "Subscriptions are not enabled.");
      return this.#o.reserved.handle(request, path.slice(RESERVED_PREFIX.length));
    }
    if (path.length <= STREAM_PREFIX.length) return errorResponse(404, "not_found", "A stream path is required after /v1/stream/.");
    switch (method) {
      case "PUT":
        return this.#create(request, new URL(request.url), teamId);
      case "POST":
        return this.#append(request, path);
      case "GET": {
        if (!until) return this.#read(request, new URL(request.url));
        const response = await this.#read(new Request(request, { signal: AbortSignal.any([request.signal, until]) }), new URL(request.url));
        if (response.headers.get("content-type") !== "text/event-stream") release?.();
        return until.aborted ? errorResponse(401, "unauthorized", "This token was revoked.", { "www-authenticate": "Bearer" }) : response;
      }
      case "HEAD":
        return this.#head(path);
      case "DELETE":
        return this.#delete(path);
      default:
        return errorResponse(405, "method_not_allowed", `${method} is not supported on streams.`, { allow: "GET, POST, PUT, DELETE, HEAD, OPTIONS" });
    }
  }

  async #create(request: Request, url: URL, teamId: string | null): Promise<Response> {
    const h = request.headers;
    const ttlHeader = h.get("stream-ttl");
    const expiresHeader = h.get("stream-expires-at");
    if (ttlHeader !== null && expiresHeader !== null) return errorResponse(400, "bad_request", "Send Stream-TTL or Stream-Expires-At, not both.");
    if (ttlHeader !== null && !TTL_PATTERN.test(ttlHeader)) return errorResponse(400, "bad_request", "Stream-TTL must be a whole number of seconds.");
    let expiresAt: { date: Date; raw: string } | undefined;
    if (expiresHeader !== null) {
      const date = new Date(expiresHeader);
      if (Number.isNaN(date.getTime())) return errorResponse(400, "bad_request", "Stream-Expires-At must be an RFC 3339 timestamp.");
      expiresAt = { date, raw: expiresHeader };
    }
    const forkedFromHeader = h.get("stream-forked-from");
    const forkOffset = h.get("stream-fork-offset") ?? undefined;
    const subOffsetHeader = h.get("stream-fork-sub-offset");
    if (subOffsetHeader !== null && forkedFromHeader === null) return errorResponse(400, "bad_request", "Stream-Fork-Sub-Offset needs Stream-Forked-From.");
    if (subOffsetHeader !== null && !SUB_OFFSET_PATTERN.test(subOffsetHeader)) return errorResponse(400, "bad_request", "Stream-Fork-Sub-Offset must be a whole number.");
    if (forkOffset !== undefined && !FORK_OFFSET_PATTERN.test(forkOffset)) return errorResponse(400, "bad_request", "Stream-Fork-Offset must be an offset.");
    const forkedFrom = forkedFromHeader === null ? undefined : forkSourcePath(forkedFromHeader);

    const rawType = h.get("content-type");
    let contentType = rawType && MEDIA_TYPE_PATTERN.test(rawType.trim()) ? rawType.trim() : undefined;
    const body = await readBody(request);
    if (body instanceof Response) return body;

    let effectiveType = contentType;
    if (forkedFrom && !effectiveType) effectiveType = (await this.#o.store.get(forkedFrom))?.contentType;
    let initial: { data: Uint8Array; count: number } | undefined;
    if (body.byteLength > 0) {
      if (isJsonType(effectiveType ?? "")) {
        const parsed = parseJsonBody(body, true);
        if ("error" in parsed) return errorResponse(400, "bad_request", parsed.error);
        initial = parsed.count > 0 ? parsed : undefined;
      } else {
        initial = { data: body, count: 1 };
      }
    }
    if (!forkedFrom && !contentType) contentType = undefined;

    const result = await this.#o.store.create({
      path: url.pathname,
      teamId,
      contentType,
      ttlSeconds: ttlHeader === null ? undefined : Number(ttlHeader),
      expiresAt,
      closed: isTrue(h.get("stream-closed")),
      initial,
      fork: forkedFrom ? { fromPath: forkedFrom, offset: forkOffset, subOffset: subOffsetHeader === null ? 0 : Number(subOffsetHeader) } : undefined,
    });
    switch (result.kind) {
      case "created":
      case "exists": {
        const headers = new Headers({ "content-type": result.row.contentType, "stream-next-offset": formatOffset(result.row.tailPos) });
        if (result.row.closed) headers.set("stream-closed", "true");
        if (result.kind === "created") {
          headers.set("location", `${url.origin}${url.pathname}`);
          if (initial) this.#afterAppend(url.pathname);
        }
        return new Response(null, { status: result.kind === "created" ? 201 : 200, headers });
      }
      case "conflict":
        return errorResponse(409, "conflict", result.message);
      case "source_missing":
        return errorResponse(404, "not_found", "The fork source stream does not exist.");
      case "source_gone":
        return errorResponse(409, "conflict", "The fork source stream has been deleted.");
      case "bad_request":
        return errorResponse(400, "bad_request", result.message);
    }
  }

  #afterAppend(path: string) {
    this.#o.writer.onAppended(path);
  }

  async #append(request: Request, path: string): Promise<Response> {
    const h = request.headers;
    const producer = parseProducer(h);
    if (producer instanceof Response) return producer;
    const body = await readBody(request);
    if (body instanceof Response) return body;
    const close = isTrue(h.get("stream-closed"));
    if (body.byteLength === 0 && !close) return errorResponse(400, "bad_request", "An append needs a body (or Stream-Closed: true to close).");
    const contentType = h.get("content-type") ?? undefined;
    if (body.byteLength > 0 && !contentType) return errorResponse(400, "bad_request", "An append needs a Content-Type matching the stream's.");
    const json = body.byteLength > 0 && isJsonType(contentType ?? "") ? parseJsonBody(body, false) : undefined;
    const streamSeq = h.get("stream-seq") ?? undefined;

    const result = await this.#o.writer.append({ path, contentType, body, json, close, streamSeq, producer });
    return appendResponse(result, producer, body.byteLength === 0);
  }

  async #head(path: string): Promise<Response> {
    const found = await this.#o.store.lookup(path);
    if (found.kind === "missing") return new Response(null, { status: 404 });
    if (found.kind === "gone") return new Response(null, { status: 410 });
    const row = found.row;
    const headers = new Headers({ "content-type": row.contentType, "stream-next-offset": formatOffset(row.tailPos), "cache-control": "no-store" });
    if (row.closed) headers.set("stream-closed", "true");
    if (row.ttlSeconds !== null) headers.set("stream-ttl", String(row.ttlSeconds));
    if (row.expiresAtRaw) headers.set("stream-expires-at", row.expiresAtRaw);
    headers.set("etag", etag(row, "-1", row.tailPos, row.closed));
    return new Response(null, { status: 200, headers });
  }

  async #delete(path: string): Promise<Response> {
    const result = await this.#o.store.delete(path);
    if (result.kind === "missing") return errorResponse(404, "not_found", "No stream at this path.");
    if (result.kind === "gone") return errorResponse(410, "gone", "This stream has been deleted.");
    return new Response(null, { status: 204 });
  }

  async #read(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const offsets = url.searchParams.getAll("offset");
    const live = url.searchParams.get("live");
    // A plain catch-up read gets the row and a page of messages, as one body, in one round trip.
    const first = offsets[0];
    const catchUpFrom = live !== null || offsets.length > 1 ? undefined : first === undefined || first === "-1" ? 0 : parseOffset(first);
    const found = catchUpFrom === undefined ? await this.#o.store.lookup(path) : await this.#o.store.lookupWithPage(path, catchUpFrom);
    if (found.kind === "missing") return errorResponse(404, "not_found", "No stream at this path.");
    if (found.kind === "gone") return errorResponse(410, "gone", "This stream has been deleted.");
    const row = found.row;

    if (offsets.length > 1) return errorResponse(400, "bad_request", "Send one offset parameter.");
    const offset = offsets[0];
    if (offset !== undefined && !isOffsetParam(offset)) return errorResponse(400, "bad_offset", "offset must be -1, now, or an offset returned by this server.");
    if (live !== null && live !== "long-poll" && live !== "sse") return errorResponse(400, "bad_request", "live must be long-poll or sse.");
    if (live !== null && offset === undefined) return errorResponse(400, "bad_request", `live=${live} needs an offset.`);

    await this.#o.store.touch(row);
    const startPos = offset === undefined || offset === "-1" ? 0 : offset === "now" ? row.tailPos : parseOffset(offset)!;
    if (!(await this.#o.store.isIssuedPosition(row, startPos, "page" in found && catchUpFrom === startPos ? found.page : undefined))) return errorResponse(400, "bad_offset", "This offset points inside an append; use -1, now, or an offset this server returned.");
    const cursor = nextCursor(url.searchParams.get("cursor"));

    if (live === "sse") return this.#sse(request, row, startPos, url.searchParams.get("cursor"));
    if (live === "long-poll") return this.#longPoll(request, row, startPos, offset === "now", cursor);

    if (offset === "now") {
      const headers = new Headers({ "content-type": row.contentType, "stream-next-offset": formatOffset(row.tailPos), "stream-up-to-date": "true", "cache-control": "no-store" });
      if (row.closed) headers.set("stream-closed", "true");
      return new Response(isJsonType(row.contentType) ? "[]" : null, { status: 200, headers });
    }
    const read = "page" in found ? found.page : await this.#o.store.lookupWithPage(path, startPos).then((again) => (again.kind === "ok" ? again.page : undefined));
    if (!read) return errorResponse(404, "not_found", "No stream at this path.");
    const tag = etag(row, offset ?? "-1", read.nextPos, row.closed && read.upToDate);
    const headers = readHeaders(row, read.nextPos, read.upToDate);
    headers.set("etag", tag);
    headers.set("cache-control", read.upToDate ? "no-cache" : "private, max-age=60, stale-while-revalidate=300");
    if (request.headers.get("if-none-match") === tag) return new Response(null, { status: 304, headers });
    return new Response(pageBody(row, read), { status: 200, headers });
  }

  async #longPoll(request: Request, snapshot: StreamRow, startPos: number, fromNow: boolean, cursor: string): Promise<Response> {
    const { store, hub } = this.#o;
    const deadline = Date.now() + this.#o.longPollTimeoutMs;
    let row = snapshot;
    let read = await store.read(row, startPos);
    while (true) {
      if (read.messages.length > 0) {
        const headers = readHeaders(row, read.nextPos, read.upToDate);
        headers.set("stream-cursor", cursor);
        headers.set("etag", etag(row, formatOffset(startPos), read.nextPos, row.closed && read.upToDate));
        headers.set("cache-control", "no-cache");
        return new Response(renderBody(row, read.messages), { status: 200, headers });
      }
      const remaining = deadline - Date.now();
      if (row.closed || remaining <= 0) {
        const headers = new Headers({ "stream-next-offset": formatOffset(Math.max(startPos, fromNow ? row.tailPos : startPos)), "stream-up-to-date": "true", "stream-cursor": cursor, "cache-control": "no-cache" });
        if (row.closed) headers.set("stream-closed", "true");
        if (remaining <= 0) await store.touch(row);
        return new Response(null, { status: 204, headers });
      }
      // Register before re-reading, so an append between the read and the wait is never missed.
      const waiter = hub.waiter(row.id, remaining, request.signal);
      const fresh = await store.getAfter(row.path, waiter.version);
      if (!fresh || fresh.id !== row.id || fresh.state !== "active" || isExpired(fresh)) {
        waiter.cancel();
        return errorResponse(404, "not_found", "The stream was deleted while waiting.");
      }
      if (fresh.tailPos > startPos || fresh.closed) {
        waiter.cancel();
        row = fresh;
        read = await store.read(row, startPos);
        continue;
      }
      const outcome = await waiter.promise;
      if (outcome === "aborted") return new Response(null, { status: 204 });
      // Woken by this process's own commit: its rows came with the wake-up. Otherwise the row and
      // the new messages in one round trip, shared with readers woken by the same change.
      const woken = (waiter.change && readCommitted(row, startPos, [waiter.change])) ?? (await store.getWithRead(row.path, startPos, waiter.version));
      if (!woken || woken.row.id !== snapshot.id || woken.row.state !== "active") return errorResponse(404, "not_found", "The stream was deleted while waiting.");
      row = woken.row;
      read = woken.read;
    }
  }

  #sse(request: Request, snapshot: StreamRow, startPos: number, clientCursor: string | null): Response {
    const { store, hub, longPollTimeoutMs } = this.#o;
    const encoder = new TextEncoder();
    const startedAt = Date.now();
    const binary = !isJsonType(snapshot.contentType) && !mediaType(snapshot.contentType).startsWith("text/");
    let row = snapshot;
    let position = startPos;
    let first = true;
    let cursor = clientCursor;
    let finished = false;
    let cancelled = false;
    // Watched for the connection's whole life, so no change slips in between reads. The snapshot
    // predates the watch, hence `changed` starts true: the first pull reads the row again.
    let changed = true;
    // This process's commits since the last read, with their rows (see readCommitted); `undefined`
    // once a change came that carries none: then the table is read.
    let committed: StreamChange[] | undefined = undefined;
    let keepAliveDue = false;
    let wake: ((outcome: "changed" | "timeout" | "aborted") => void) | undefined;
    const unwatch = hub.watch(snapshot.id, (change) => {
      if (!changed) committed = [];
      if (committed && change?.committed) committed.push(change);
      else committed = undefined;
      changed = true;
      wake?.("changed");
    });
    // One abort listener and one timer for the connection's life, not one of each per wait (a
    // reader at the tail waits once per batch): the timer, when it fires, ends the wait that has
    // lasted longPollTimeoutMs, or is set again for what the current wait has left.
    const onAbort = () => wake?.("aborted");
    request.signal.addEventListener("abort", onAbort, { once: true });
    let waitingSince = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onTimer = () => {
      timer = undefined;
      if (!wake) return;
      const left = waitingSince + longPollTimeoutMs - Date.now();
      if (left > 0) timer = setTimeout(onTimer, left);
      else wake("timeout");
    };
    const nextChange = () =>
      new Promise<"changed" | "timeout" | "aborted">((resolve) => {
        waitingSince = Date.now();
        wake = (outcome) => {
          wake = undefined;
          resolve(outcome);
        };
        timer ??= setTimeout(onTimer, longPollTimeoutMs);
        if (request.signal.aborted) wake("aborted");
      });
    const stop = () => {
      finished = true;
      unwatch();
      request.signal.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    };

    // Control events as JSON.stringify would write them (offsets and cursors need no escaping), without it.
    const closedControl = (offset: number) => `event: control\ndata:{"streamNextOffset":"${formatOffset(offset)}","streamClosed":true,"upToDate":true}\n\n`;
    const liveControl = (upToDate: boolean) => {
      cursor = nextCursor(cursor);
      return `event: control\ndata:{"streamNextOffset":"${formatOffset(position)}","streamCursor":"${cursor}"${upToDate ? ',"upToDate":true' : ""}}\n\n`;
    };
    const close = (controller: ReadableStreamDefaultController<Uint8Array>) => {
      stop();
      controller.close();
    };

    // Pull-based: the next batch is read only when the client has taken the previous one, so a
    // slow reader holds at most one batch in memory, however far behind it is.
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            while (!finished) {
              let read: ReadResult;
              // What other readers of this batch share with this one, if anything: its data event is then built once (see sharedDataEvent).
              let batch: object | undefined;
              if (changed) {
                changed = false;
                const handed = committed && readCommitted(row, position, committed);
                // One commit, all of it after this reader's position: every reader at the tail read the same.
                const single = handed && committed!.length === 1 ? committed![0]! : undefined;
                if (single && single.committed!.afterPos === position && handed!.read.messages.length === single.committed!.messages.length) batch = single;
                committed = undefined;
                // Otherwise the row and the new messages in one round trip, shared by the readers
                // woken by the same change (see StreamStore.getWithRead).
                const found = handed ?? (await store.getWithRead(row.path, position, hub.version(snapshot.id)));
                if (cancelled) return;
                if (!found || found.row.id !== snapshot.id || found.row.state !== "active") return close(controller);
                row = found.row;
                read = found.read;
                if (!handed) batch = read;
                await store.touch(row);
              } else {
                read = await store.read(row, position);
              }
              if (cancelled) return;
              if (read.messages.length > 0) {
                position = read.nextPos;
                const data = batch ? sharedDataEvent(batch, row, read.messages, binary) : encoder.encode(dataFrame(row, read.messages, binary));
                const closing = row.closed && read.upToDate;
                // The control event is this reader's own (its cursor), sent in the same chunk.
                const after = closing ? closedControl(position) : liveControl(read.upToDate);
                first = false;
                keepAliveDue = false;
                controller.enqueue(withAscii(data, after));
                if (closing) close(controller);
                return;
              }
              if (row.closed && position >= row.tailPos) {
                controller.enqueue(encoder.encode(closedControl(Math.max(position, row.tailPos))));
                return close(controller);
              }
              if (first || keepAliveDue) {
                first = false;
                keepAliveDue = false;
                controller.enqueue(encoder.encode(liveControl(true)));
                return;
              }
              if (Date.now() - startedAt > SSE_MAX_DURATION_MS) return close(controller);
              if (changed) continue;
              const outcome = await nextChange();
              if (cancelled) return;
              if (outcome === "aborted") return close(controller);
              // A timeout re-reads the row too: the slow backstop should a wake-up ever be lost.
              changed = true;
              keepAliveDue = outcome === "timeout";
            }
          } catch (error) {
            // A client that went away mid-read is normal, not a failure.
            if (cancelled) return;
            this.#o.log.warn("sse reader failed", { path: row.path, error });
            stop();
            try {
              controller.close();
            } catch {}
          }
        },
        cancel: () => {
          cancelled = true;
          stop();
          wake?.("aborted");
        },
      },
      { highWaterMark: 1 },
    );

    const headers = new Headers({ "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    if (binary) headers.set("stream-sse-data-encoding", "base64");
    return new Response(stream, { status: 200, headers });
  }
}

/** Headers every protocol response carries: CORS for browsers and the browser security headers. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "cross-origin",
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, HEAD, OPTIONS",
  "access-control-allow-headers": ALLOW_HEADERS,
  "access-control-expose-headers": EXPOSE_HEADERS,
};

/** COMMON_HEADERS as a Headers object: copying it is cheaper than building headers from a record. */
const COMMON = new Headers(COMMON_HEADERS);

/** A fresh copy of COMMON_HEADERS with `name` set to `value`, for the hot paths' responses. */
function commonHeadersWith(name: string, value: string): Headers {
  const headers = new Headers(COMMON);
  headers.set(name, value);
  return headers;
}

export function applyCommonHeaders(headers: Headers) {
  for (const name in COMMON_HEADERS) headers.set(name, COMMON_HEADERS[name]!);
}

/** An error answer, with COMMON_HEADERS already in (the append path returns it as it is). */
function errorResponse(status: number, code: string, message: string, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers: { ...COMMON_HEADERS, "content-type": "application/json", ...extra } });
}

/** Where the reserved `__ds` APIs live. */
const RESERVED_PREFIX = "/v1/stream/__ds";

/** The reserved `__ds` APIs' paths: RESERVED_PREFIX itself, or below it. */
function isReservedPath(path: string): boolean {
  return path.startsWith(RESERVED_PREFIX) && (path.length === RESERVED_PREFIX.length || path[RESERVED_PREFIX.length] === "/");
}

function isTrue(value: string | null): boolean {
  return value !== null && value.trim().toLowerCase() === "true";
}

function forkSourcePath(value: string): string {
  const trimmed = value.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    try {
      return new URL(trimmed).pathname;
    } catch {
      return trimmed;
    }
  }
  return trimmed.startsWith("/") ? trimmed : STREAM_PREFIX + trimmed;
}

function parseProducer(h: Headers): ProducerHeaders | undefined | Response {
  const id = h.get("producer-id");
  const epoch = h.get("producer-epoch");
  const seq = h.get("producer-seq");
  if (id === null && epoch === null && seq === null) return undefined;
  if (id === null || epoch === null || seq === null) return errorResponse(400, "bad_request", "Producer-Id, Producer-Epoch and Producer-Seq go together.");
  if (id.trim() === "") return errorResponse(400, "bad_request", "Producer-Id must not be empty.");
  if (!INTEGER_PATTERN.test(epoch) || !Number.isSafeInteger(Number(epoch))) return errorResponse(400, "bad_request", "Producer-Epoch must be a whole number.");
  if (!INTEGER_PATTERN.test(seq) || !Number.isSafeInteger(Number(seq))) return errorResponse(400, "bad_request", "Producer-Seq must be a whole number.");
  return { id, epoch: Number(epoch), seq: Number(seq) };
}

/** Reads the body up to MAX_BODY_BYTES without trusting Content-Length (chunked bodies have none). */
function readBody(request: Request): Promise<Uint8Array | Response> | Uint8Array | Response {
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > MAX_BODY_BYTES) return errorResponse(413, "payload_too_large", `Bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  // With a Content-Length the body is exactly that long, so one buffered read is safe, and far
  // cheaper than pulling chunks through the stream machinery (the common case: every append).
  // Asking for `request.body` first would build a ReadableStream only to check it is there.
  if (length !== null) return request.bytes();
  if (!request.body) return new Uint8Array(0);
  return readChunks(request.body);
}

/** A body without Content-Length, chunk by chunk, refused past MAX_BODY_BYTES. */
async function readChunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array | Response> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > MAX_BODY_BYTES) return errorResponse(413, "payload_too_large", `Bodies are limited to ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/**
 * JSON mode: a top-level array is flattened one level; `[]` is an error on POST, an empty stream on PUT.
 * The body is parsed to check it, and stored as it came (each value followed by a comma, see
 * encodeJsonValues): a valid JSON text is already what a read returns, so serialising the parsed
 * values again would only cost time. Bodies that are not plain UTF-8 (invalid bytes, a byte order
 * mark: the decoder mends or drops them) are stored re-serialised from what was parsed.
 */
function parseJsonBody(body: Uint8Array, allowEmpty: boolean): { data: Uint8Array; count: number } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (error) {
    return { error: `The body is not valid JSON: ${(error as Error).message}` };
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 && !allowEmpty) return { error: "An empty JSON array appends nothing; send at least one value." };
  if (body[0] === 0xef || !isUtf8(body)) return { data: encodeJsonValues(values), count: values.length };
  if (values.length === 0) return { data: EMPTY, count: 0 };
  // An array's values are what lies between its outer brackets (only whitespace lies outside them).
  const text = value === values ? body.subarray(body.indexOf(0x5b) + 1, body.lastIndexOf(0x5d)) : body;
  const data = Buffer.allocUnsafe(text.byteLength + 1);
  data.set(text, 0);
  data[text.byteLength] = 0x2c; // ,
  return { data, count: values.length };
}

const EMPTY = new Uint8Array(0);

function appendResponse(result: AppendResult, producer: ProducerHeaders | undefined, closeOnly: boolean): Response {
  switch (result.kind) {
    case "appended": {
      const headers = commonHeadersWith("stream-next-offset", formatOffset(result.tailPos));
      if (result.closed) headers.set("stream-closed", "true");
      if (result.producer) {
        headers.set("producer-epoch", String(result.producer.epoch));
        headers.set("producer-seq", String(result.producer.seq));
      }
      return new Response(null, { status: producer && !closeOnly ? 200 : 204, headers });
    }
    case "duplicate": {
      const headers: Record<string, string> = {
        ...COMMON_HEADERS,
        "stream-next-offset": formatOffset(result.tailPos),
        "producer-epoch": String(result.epoch),
        "producer-seq": String(result.seq),
      };
      if (result.closed) headers["stream-closed"] = "true";
      return new Response(null, { status: 204, headers });
    }
    case "duplicate_key":
      return new Response(null, { status: 204, headers: { ...COMMON_HEADERS, "stream-next-offset": formatOffset(result.pos) } });
    case "missing":
      return errorResponse(404, "not_found", "No stream at this path.");
    case "gone":
      return errorResponse(410, "gone", "This stream has been deleted.");
    case "closed":
      return errorResponse(409, "stream_closed", "The stream is closed.", { "stream-closed": "true", "stream-next-offset": formatOffset(result.tailPos) });
    case "content_type_mismatch":
      return errorResponse(409, "content_type_mismatch", `This stream takes ${result.expected}.`);
    case "stale_epoch":
      return errorResponse(403, "stale_epoch", "A newer producer epoch has taken over.", { "producer-epoch": String(result.epoch) });
    case "producer_gap":
      return errorResponse(409, "producer_seq_gap", `Expected Producer-Seq ${result.expected}, received ${result.received}.`, {
        "producer-expected-seq": String(result.expected),
        "producer-received-seq": String(result.received),
      });
    case "epoch_seq_not_zero":
      return errorResponse(400, "bad_request", "A new Producer-Epoch must start at Producer-Seq 0.");
    case "seq_conflict":
      return errorResponse(409, "seq_conflict", "Stream-Seq must increase (byte-wise) with every append.");
    case "bad_json":
      return errorResponse(400, "bad_request", result.message);
  }
}

function readHeaders(row: StreamRow, nextPos: number, upToDate: boolean): Headers {
  const headers = new Headers({ ...COMMON_HEADERS, "content-type": row.contentType, "stream-next-offset": formatOffset(nextPos) });
  if (upToDate) headers.set("stream-up-to-date", "true");
  if (upToDate && row.closed) headers.set("stream-closed", "true");
  return headers;
}

function renderBody(row: StreamRow, messages: StoredMessage[]): BodyInit {
  if (isJsonType(row.contentType)) return jsonArrayBytes(messages) as Uint8Array<ArrayBuffer>;
  return concat(messages) as Uint8Array<ArrayBuffer>;
}

/** The body of a catch-up page: its bytes, or for JSON the array its values make (each is stored followed by a comma). */
function pageBody(row: StreamRow, page: CatchUpPage): BodyInit {
  // The page comes as text or bytes by Postgres's reading of the content type; either serves.
  if (!isJsonType(row.contentType)) return (page.text.length > 0 ? Buffer.from(page.text) : page.data) as Uint8Array<ArrayBuffer>;
  if (page.text.length > 0) return `[${page.text.slice(0, -1)}]`;
  return jsonArrayBytes(page.data.byteLength === 0 ? [] : [{ pos: 0, data: page.data, count: 0 }]) as Uint8Array<ArrayBuffer>;
}

function concat(messages: StoredMessage[]): Uint8Array {
  if (messages.length === 1) return messages[0]!.data;
  let total = 0;
  for (const m of messages) total += m.data.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const m of messages) {
    out.set(m.data, at);
    at += m.data.byteLength;
  }
  return out;
}

/**
 * The data event for a batch many SSE readers of a stream read alike (one commit handed to every
 * reader at the tail, or one shared table read), as bytes: built by the first reader, reused by
 * the rest. `batch` is the object they share; the event goes when it does.
 */
function sharedDataEvent(batch: object, row: StreamRow, messages: StoredMessage[], binary: boolean): Uint8Array {
  let event = DATA_EVENTS.get(batch);
  if (!event) {
    event = sseEncoder.encode(dataFrame(row, messages, binary));
    DATA_EVENTS.set(batch, event);
  }
  return event;
}
const DATA_EVENTS = new WeakMap<object, Uint8Array>();
const sseEncoder = new TextEncoder();

/** `bytes` followed by the ASCII text `text`, in one buffer (one chunk, one write to the socket). */
function withAscii(bytes: Uint8Array, text: string): Uint8Array {
  const out = Buffer.allocUnsafe(bytes.byteLength + text.length);
  out.set(bytes, 0);
  out.write(text, bytes.byteLength, "latin1");
  return out;
}

/** One SSE data event for a batch; payload lines are split on every line break so a payload can never inject an event. */
function dataFrame(row: StreamRow, messages: StoredMessage[], binary: boolean): string {
  let payload: string;
  if (isJsonType(row.contentType)) payload = jsonArrayText(messages);
  else if (binary) payload = Buffer.from(concat(messages)).toString("base64");
  else payload = utf8.decode(concat(messages));
  let frame = "event: data\n";
  for (const line of payload.split(/\r\n|\r|\n/)) frame += `data:${line}\n`;
  return frame + "\n";
}

function etag(row: StreamRow, start: string, nextPos: number, closedAtTail: boolean): string {
  return `"${row.id}:${start}:${formatOffset(nextPos)}${closedAtTail ? ":c" : ""}"`;
}

/** The reference cursor algorithm: the current 20 s interval, or strictly past the client's. */
export function nextCursor(client: string | null): string {
  const current = Math.floor((Date.now() - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS);
  const given = client === null ? NaN : Number.parseInt(client, 10);
  if (Number.isNaN(given) || given < current) return String(current);
  const jitterSeconds = 1 + Math.floor(Math.random() * 3600);
  return String(given + Math.max(1, Math.ceil(jitterSeconds / (CURSOR_INTERVAL_MS / 1000))));
}

export { ZERO_OFFSET };
