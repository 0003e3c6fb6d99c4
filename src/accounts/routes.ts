import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../infra/http";
import { errors, router } from "../infra/openapi";
import { MIN_PASSWORD_LENGTH, type Accounts } from "./service";

/** Team administration for the bootstrap admin token (automation, multi-team installations). */
export function accountRoutes(options: { accounts: Accounts }) {
  const app = router();
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/teams",
      tags: ["Accounts"],
      summary: "Create a team with its owner and a first API token (bootstrap API_TOKEN only)",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({
                name: z.string().trim().min(1).max(100),
                owner: z.object({ name: z.string().trim().min(1).max(100), email: z.string().trim().email().max(200), password: z.string().min(MIN_PASSWORD_LENGTH).max(200) }),
              }),
            },
          },
        },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: z.object({ teamId: z.string(), userId: z.string(), apiToken: z.string(), apiTokenId: z.string() }) } } },
        ...errors(400, 401, 403, 409),
      },
    }),
    async (c) => {
      if (c.get("principal").kind !== "admin") throw new ApiError(403, "forbidden", "Only the bootstrap API_TOKEN can create teams.");
      const body = c.req.valid("json");
      const result = await options.accounts.createTeam({ teamName: body.name, ...body.owner });
      if (!result.ok) throw new ApiError(409, "email_taken", "An account with this email exists already.");
      const token = await options.accounts.createApiToken(result.user, "bootstrap");
      return c.json({ teamId: result.user.teamId, userId: result.user.id, apiToken: token.token, apiTokenId: token.info.id }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/tokens/{id}",
      tags: ["Accounts"],
      summary: "Revoke an API token of your team: refused from now on, and its open sockets close on every instance",
      request: { params: z.object({ id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "tok_3Jq8sPz0aLmN2vXy" }) }) },
      responses: { 204: { description: "Revoked" }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      if (c.get("principal").kind === "client") throw new ApiError(403, "forbidden", "Client tokens cannot manage API tokens.");
      const { id } = c.req.valid("param");
      if (!(await options.accounts.revokeApiToken(c.get("scope"), id))) throw new ApiError(404, "token_not_found", `No live API token ${id} in your team.`);
      return c.body(null, 204);
    },
  );
  return app;
}
