import type { Context } from "hono";
import { join } from "node:path";

/** Browser libraries served from node_modules as they are (no build step, nothing vendored in git). */
export const VENDOR_FILES: Record<string, string> = {
  "htmx.js": "htmx.org/dist/htmx.min.js",
};

/**
 * `GET /static/vendor/:file`: a dependency's browser file, read once at start-up. Cached for a
 * day; the version in package.json changes with `bun update`, and a restart serves the new file.
 *
 * @example app.get("/static/vendor/:file", await vendorFiles(join(import.meta.dir, "../../node_modules")))
 */
export async function vendorFiles(nodeModules: string) {
  const files = new Map<string, string>();
  for (const [name, path] of Object.entries(VENDOR_FILES)) files.set(name, await Bun.file(join(nodeModules, path)).text());
  return (c: Context) => {
    const body = files.get(c.req.param("file") ?? "");
    if (body === undefined) return c.notFound();
    return c.body(body, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" });
  };
}
