import type { Context } from "hono";
import type { WebVariables } from "./cookies";
import { MessagePage } from "../../views/components";

/** Helpers shared by the page routes. */

export type PageEnv = { Variables: WebVariables };
export type FormBody = Record<string, string | File | (string | File)[]>;

/** True for requests htmx made (they get a fragment back instead of a redirect or a whole page). */
export function isHtmx(c: Context): boolean {
  return c.req.header("hx-request") === "true";
}

/** A posted form (urlencoded or multipart), with repeated names as arrays. */
export async function readForm(c: Context): Promise<FormBody> {
  return (await c.req.parseBody({ all: true })) as FormBody;
}

/** One string field of a form ("" when missing). */
export function field(form: FormBody, name: string): string {
  const value = form[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

/** Form posts carry the session's CSRF token (on top of the Origin check every unsafe request gets). */
export function formCsrfOk(c: Context<PageEnv>, form: FormBody): boolean {
  const expected = c.get("csrfToken");
  return !!expected && field(form, "csrf") === expected;
}

/** Where asset and email links point: PUBLIC_URL, or the origin the request came to. */
export function baseUrl(c: Context, publicUrl: string | undefined): string {
  return publicUrl ?? new URL(c.req.url).origin;
}

/** Renders a whole page. */
export function html(c: Context, element: unknown, status: 200 | 400 | 403 | 404 | 409 | 422 = 200) {
  return c.html("<!doctype html>" + String(element), status);
}

/** Renders a fragment for htmx. */
export function fragment(c: Context, element: unknown, status: 200 | 400 | 404 | 409 | 422 = 200) {
  return c.html(String(element), status);
}

export const FORM_EXPIRED = "The form expired; reload the page and try again.";

/** The 404 page for a record that does not exist or belongs to another team (the two look the same). */
export function notFoundPage(c: Context<PageEnv>, what: string, back: { href: string; label: string }) {
  const user = c.get("user");
  return html(c, MessagePage({ title: "Not found", message: `This ${what} does not exist, or belongs to another team.`, ...(user ? { user } : {}), csrfToken: c.get("csrfToken"), back }), 404);
}
