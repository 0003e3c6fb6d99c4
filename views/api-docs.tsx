import type { FC } from "hono/jsx";

interface Operation {
  method: string;
  path: string;
  summary?: string;
  tag?: string;
  request?: unknown;
  responses: Array<{ status: string; description?: string; schema?: unknown }>;
}

/** The API reference page: every JSON route from the OpenAPI document, with its schemas. No script. */
export const ApiDocsPage: FC<{ title: string; version: string; operations: Operation[] }> = ({ title, version, operations }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{title} — API reference</title>
      <link rel="stylesheet" href="/static/app.css" />
    </head>
    <body class="docs">
      <main>
        <h1>{title} API</h1>
        <p>
          Version {version}. Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with{" "}
          <code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{'{"error":{"code","message"}}'}</code>.
        </p>
        {operations.map((op) => (
          <section class="operation" id={`${op.method}-${op.path}`}>
            <h2>
              <span class={`method method-${op.method}`}>{op.method.toUpperCase()}</span> <code>{op.path}</code>
            </h2>
            {op.summary && <p>{op.summary}</p>}
            {op.request !== undefined && (
              <details open>
                <summary>Request</summary>
                <pre>{JSON.stringify(op.request, null, 2)}</pre>
              </details>
            )}
            {op.responses.map((r) => (
              <details>
                <summary>
                  {r.status} {r.description}
                </summary>
                {r.schema !== undefined && <pre>{JSON.stringify(r.schema, null, 2)}</pre>}
              </details>
            ))}
          </section>
        ))}
      </main>
    </body>
  </html>
);
