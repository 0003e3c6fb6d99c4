import { parseEvent } from "./events";
import { SESSION_STREAM_PREFIX } from "./service";

/** Methods that only read a stream (CORS preflights included). */
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function refuse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

/**
 * Whether `request` (to `path`, as the stream handler reads it) is one guardSessionStream may refuse:
 * a write to a session stream. Most stream requests are not, and skip the guard (and its await) altogether.
 */
export function writesSessionStream(request: Request, path: string): boolean {
  return path.startsWith(SESSION_STREAM_PREFIX) && !READ_METHODS.has(request.method);
}

/**
 * Session streams on `/v1/stream`: read-only. A session's stream is written through the session API
 * and `/ws`, which check every event; its runs, presence and listing live beside it, so a raw DELETE,
 * create or close would leave a broken session. The one exception is the operator's bootstrap
 * API_TOKEN (which may publish any event over `/ws` anyway): its raw appends are checked event by
 * event against the session vocabulary, so tools and benchmarks can still write several events in
 * one append. Returns the refusal, or undefined to let the request through.
 *
 * @example
 * const refused = await guardSessionStream(request, pathOf(request.url), (r) => isOperator(r));
 * if (refused) return refused;
 */
export async function guardSessionStream(request: Request, path: string, isOperator: (request: Request) => Promise<boolean>): Promise<Response | undefined> {
  if (!writesSessionStream(request, path)) return undefined;
  const readOnly = "Session streams are read-only here: post messages, runs and control through /api/sessions/:id/… or /ws.";
  if (request.method !== "POST" || /^true$/i.test(request.headers.get("stream-closed") ?? "") || !(await isOperator(request))) return refuse(403, "read_only_stream", readOnly);
  let values: unknown;
  try {
    values = JSON.parse(await request.clone().text());
  } catch {
    return refuse(400, "bad_json", "Appends to a session stream are JSON: one event or an array of events.");
  }
  const events = Array.isArray(values) ? values : [values];
  for (const [index, value] of events.entries()) {
    const checked = parseEvent(value);
    if (!checked.ok) return refuse(400, checked.code, events.length > 1 ? `Event ${index}: ${checked.message}` : checked.message);
  }
  return undefined;
}
