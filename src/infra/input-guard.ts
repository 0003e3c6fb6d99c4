import type { MiddlewareHandler } from "hono";
import { ApiError } from "./http";

/**
 * Cheap checks on raw input that every route would otherwise have to remember: how deeply JSON
 * nests, and the NUL character, which Postgres cannot store in text (a NUL in an id, a title or a
 * query would otherwise surface as a 500 from the database driver).
 */

/**
 * Deepest nesting of arrays and objects a JSON body or WebSocket frame may have. Real payloads
 * (an email document, agent options) are under ten levels; thousands of levels only serve to make
 * recursive code downstream (validators, serialisers, other languages' parsers) run out of stack.
 */
export const MAX_JSON_DEPTH = 64;

/** Form bodies up to this size are checked for NUL; bigger ones are the routes' business. */
const MAX_CHECKED_FORM_BYTES = 1024 * 1024;

export type JsonTextProblem =
  | { code: "json_too_deep"; message: string }
  | { code: "invalid_text"; message: string };

/**
 * What is wrong with a JSON text before it is parsed: nesting deeper than `maxDepth`, or a string
 * holding NUL (`\u0000`). One pass that skips string contents; it does not validate the JSON (the
 * parser after it does).
 *
 * @example inspectJsonText("[[[1]]]", 2) // { code: "json_too_deep", … }
 */
export function inspectJsonText(text: string, maxDepth = MAX_JSON_DEPTH): JsonTextProblem | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) {
        if (text.startsWith("u0000", i + 1)) return { code: "invalid_text", message: "Text may not contain the NUL character (\\u0000)." };
        i++;
      } else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      if (++depth > maxDepth) return { code: "json_too_deep", message: `JSON nested more than ${maxDepth} levels deep is refused.` };
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) depth--;
  }
  return undefined;
}

/**
 * Refuses JSON request bodies that `inspectJsonText` objects to, with a 400 and its code. Reads a
 * clone of the body, so routes that read the raw request themselves still can; put it after the
 * body-size limit.
 *
 * @example api.use("/api/*", jsonBodyGuard());
 */
export function jsonBodyGuard(maxDepth = MAX_JSON_DEPTH): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && /\bjson\b/i.test(c.req.header("content-type") ?? "") && c.req.raw.body) {
      const problem = inspectJsonText(await c.req.raw.clone().text(), maxDepth);
      if (problem) throw new ApiError(400, problem.code, problem.message);
    }
    await next();
  };
}

/**
 * Refuses a NUL (`%00`) anywhere in the URL, and in small URL-encoded form bodies, with
 * `400 invalid_text`. It runs before every route, the Durable Streams endpoint and pages included.
 *
 * @example app.use("*", nulGuard());
 */
export function nulGuard(): MiddlewareHandler {
  const refuse = () => new ApiError(400, "invalid_text", "Text may not contain the NUL character (%00).");
  return async (c, next) => {
    if (/%00/.test(c.req.url)) throw refuse();
    const type = c.req.header("content-type") ?? "";
    const length = Number(c.req.header("content-length") ?? NaN);
    if (/^application\/x-www-form-urlencoded/i.test(type) && c.req.raw.body && length <= MAX_CHECKED_FORM_BYTES) {
      if (/%00/.test(await c.req.raw.clone().text())) throw refuse();
    }
    await next();
  };
}
