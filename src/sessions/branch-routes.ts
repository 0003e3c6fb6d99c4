import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../infra/http";
import { errors, router, type AppEnv } from "../infra/openapi";
import { can } from "../accounts/principal";
import { loadSession } from "./routes";
import { MAX_EVENT_TEXT_CHARS } from "./events";
import { sessionStreamPath, type SessionService } from "./service";
import type { Branches, CreateBranchResult } from "./branches";

const SessionId = z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" }, example: "ses_8mH2kQ0c1v3pXyZa9bCdEfGh" });
const BranchId = z.string().min(1).max(200).openapi({ param: { name: "branchId", in: "path" }, example: "ses_Q2w9…" });
const Branch = z.object({ id: z.string(), parentId: z.string().nullable(), fromMessageId: z.string().nullable(), createdAt: z.string() }).openapi("Branch");

/** How a refused branch maps to a status. */
const BRANCH_STATUS = { session_not_found: 404, message_not_found: 404, not_a_user_message: 400, no_agent: 400, session_closed: 409 } as const satisfies Record<Extract<CreateBranchResult, { ok: false }>["code"], 400 | 404 | 409>;

/**
 * Branches of a conversation: `POST /api/sessions/:id/branches {messageId, text?}` edits a user
 * message (with `text`) or regenerates an answer (without) in a new branch — a session whose stream
 * forks this one just before that point; `GET …/branches` lists the tree and the branch followed;
 * `POST …/branches/:branchId/switch` changes it. A client token with `publish` may create and
 * switch (its edited message is its own); its token is good for every session of the tree.
 */
export function branchRoutes(options: { service: SessionService; branches: Branches; publicUrl: string | undefined }) {
  const { service, branches } = options;
  const app = router();
  const origin = (c: Context) => options.publicUrl ?? new URL(c.req.url).origin;
  /** Branching and switching are a user's acts: a client token needs `publish`. Returns the client's id for a client token. */
  const publisher = (c: Context<AppEnv>): string | undefined => {
    const principal = c.get("principal");
    if (principal.kind !== "client") return undefined;
    if (!can(principal, "publish")) throw new ApiError(403, "forbidden", "Branching or switching needs the publish capability.");
    return principal.clientId;
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/branches",
      tags: ["Sessions"],
      summary: "Edit a user message or regenerate an answer in a new branch (a forked session)",
      request: {
        params: z.object({ id: SessionId }),
        body: {
          content: {
            "application/json": {
              schema: z.object({
                messageId: z.string().min(1).max(200).openapi({ description: "The user message to edit (with text) or whose answer to regenerate, or the answer to regenerate" }),
                text: z.string().min(1).max(MAX_EVENT_TEXT_CHARS).optional().openapi({ description: "The edited text; without it the answer is regenerated" }),
              }),
            },
          },
        },
      },
      responses: {
        201: {
          description: "The branch",
          content: { "application/json": { schema: z.object({ id: z.string(), rootId: z.string(), parentId: z.string(), streamUrl: z.string(), messageId: z.string(), runId: z.string().optional() }).openapi("CreatedBranch") } },
        },
        ...errors(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await loadSession(c, service, id, "write");
      const clientId = publisher(c);
      const created = await branches.create({ sessionId: id, messageId: body.messageId, ...(body.text !== undefined ? { text: body.text } : {}), ...(clientId ? { clientId } : {}) });
      if (!created.ok) throw new ApiError(BRANCH_STATUS[created.code], created.code, created.message);
      return c.json({ id: created.branchId, rootId: created.rootId, parentId: id, streamUrl: origin(c) + sessionStreamPath(created.branchId), messageId: created.messageId, ...(created.runId ? { runId: created.runId } : {}) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/sessions/{id}/branches",
      tags: ["Sessions"],
      summary: "The conversation's branches (root first) and the one its clients follow",
      request: { params: z.object({ id: SessionId }) },
      responses: { 200: { description: "Branches", content: { "application/json": { schema: z.object({ rootId: z.string(), current: z.string(), branches: z.array(Branch) }) } } }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await loadSession(c, service, id, "read");
      const tree = await branches.list(id);
      return c.json({ rootId: tree.rootId, current: tree.current, branches: tree.branches.map((b) => ({ ...b, createdAt: new Date(b.createdAt).toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/sessions/{id}/branches/{branchId}/switch",
      tags: ["Sessions"],
      summary: "Follow another branch (appends branch.switched to every session of the tree)",
      request: { params: z.object({ id: SessionId, branchId: BranchId }) },
      responses: { 200: { description: "Switched", content: { "application/json": { schema: z.object({ current: z.string(), offset: z.string() }) } } }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      const { id, branchId } = c.req.valid("param");
      await loadSession(c, service, id, "write");
      publisher(c);
      const switched = await branches.switchTo(id, branchId);
      if (!switched.ok) throw new ApiError(404, switched.code, switched.message);
      return c.json({ current: branchId, offset: switched.offset }, 200);
    },
  );

  return app;
}
