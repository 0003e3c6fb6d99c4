import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Principal } from "../accounts/principal";
import type { TeamScope } from "../accounts/scope";

/** Variables our middleware puts on the Hono context. */
export interface AppEnv {
  /** Who is calling, and the team scope every store call of the route takes (set by one middleware). */
  Variables: { principal: Principal; scope: TeamScope };
}

/** The error body of every JSON route. */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string().openapi({ example: "session_not_found" }), message: z.string() }) })
  .openapi("Error");

/** Standard error responses for route declarations. */
export function errors(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: "Invalid input",
    401: "Missing or invalid token",
    403: "Not allowed",
    404: "Not found (or another team's)",
    409: "Conflict",
    413: "Body too large",
    429: "Rate limited",
  };
  return Object.fromEntries(statuses.map((status) => [status, { description: descriptions[status] ?? "Error", content: { "application/json": { schema: ErrorSchema } } }]));
}

/**
 * An OpenAPIHono router whose validation failures answer in our error shape with a message a person
 * can act on: `{"error":{"code":"invalid_request","message":"text: Required"}}`.
 */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
        return c.json({ error: { code: "invalid_request", message: `${where}${issue?.message ?? "invalid input"}` } }, 400);
      }
    },
  });
}
