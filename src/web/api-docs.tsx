import { Hono } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { ApiDocsPage } from "../../views/api-docs";

const INFO = { title: "Durable Studio", version: "0.1.0" };

/** `GET /openapi.json` (OpenAPI 3.1 of every JSON route) and `GET /docs/api` (its reference page). */
export function apiDocs(api: OpenAPIHono<any>) {
  const app = new Hono();
  const document = () =>
    api.getOpenAPI31Document({
      openapi: "3.1.0",
      info: { ...INFO, description: "Durable sessions and the email studio. See docs/ for the Durable Streams protocol and the WebSocket channel." },
      security: [{ bearer: [] }],
    });
  app.get("/openapi.json", (c) => {
    const doc = document() as Record<string, any>;
    doc.components = { ...(doc.components ?? {}), securitySchemes: { bearer: { type: "http", scheme: "bearer" } } };
    return c.json(doc);
  });
  app.get("/docs/api", (c) => {
    const doc = document() as { paths?: Record<string, Record<string, any>> };
    const operations = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method,
        path,
        summary: op.summary,
        tag: op.tags?.[0],
        request: op.requestBody?.content?.["application/json"]?.schema ?? (op.parameters ? { parameters: op.parameters } : undefined),
        responses: Object.entries(op.responses ?? {}).map(([status, r]: [string, any]) => ({ status, description: r.description, schema: r.content?.["application/json"]?.schema })),
      })),
    );
    return c.html("<!doctype html>" + String(<ApiDocsPage title={INFO.title} version={INFO.version} operations={operations} />));
  });
  return app;
}
