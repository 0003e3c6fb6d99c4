/**
 * Escaping and URL policy shared by the renderer, the checks and the offline image. Every string a
 * person or an agent wrote passes through `escapeHtml` before it reaches MJML, and every URL through
 * one of the `safe…Url` functions, so hostile brand or brief text can only ever be text.
 */

/** What an unsafe link is replaced with. */
export const NEUTRAL_HREF = "#";

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Escapes text for HTML/XML content and quoted attribute values. Merge tags such as
 * `{{ first_name }}` and `*|FNAME|*` contain none of these characters, so they survive.
 *
 * @example escapeHtml(`<b>"hi"</b>`) // "&lt;b&gt;&quot;hi&quot;&lt;/b&gt;"
 */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}

// A whole-value merge tag of a common ESP: {{ unsubscribe }}, {{{unsubscribe_url}}} (Handlebars,
// Liquid), *|UNSUB|* (Mailchimp), %%unsubscribe%% (Salesforce), [[unsubscribe]]. Only tags made of
// characters that need no HTML escaping, so the ESP finds them unchanged in the `href`.
const MERGE_TAG_PATTERNS = [
  /^\{\{\{?\s*[\w.:-]+\s*\}?\}\}$/,
  /^\*\|[A-Za-z0-9_:-]+\|\*$/,
  /^%%[\w.:-]+%%$/,
  /^\[\[\s*[\w.:-]+\s*\]\]$/,
];

/**
 * True when the whole value is one ESP merge tag (e.g. `{{unsubscribe}}`, `*|UNSUB|*`), which the
 * ESP replaces with a real URL at send time.
 */
export function isMergeTag(value: string): boolean {
  const trimmed = value.trim();
  return MERGE_TAG_PATTERNS.some((pattern) => pattern.test(trimmed));
}

export type UrlVerdict =
  | { ok: true; url: string; scheme: "https" | "http" | "mailto" | "merge-tag" }
  | { ok: false; reason: "empty" | "unsupported_scheme" | "malformed" };

// No whitespace or control characters anywhere: browsers strip some of them (`java\tscript:`),
// which is how scheme filters are usually bypassed.
const FORBIDDEN_CHARS = /[\s\u0000-\u001f\u007f-\u009f]/;

/**
 * Classifies a URL written by a person or an agent. Only `https:`, `http:` and `mailto:` are
 * accepted, plus a whole-value ESP merge tag when `allowMergeTag` is set. The URL is returned as
 * written (not normalised), so merge tags inside it such as `?e={{email}}` survive.
 */
export function inspectUrl(value: string | undefined, options: { allowMergeTag?: boolean } = {}): UrlVerdict {
  const trimmed = (value ?? "").trim();
  if (trimmed === "") return { ok: false, reason: "empty" };
  if (options.allowMergeTag && isMergeTag(trimmed)) return { ok: true, url: trimmed, scheme: "merge-tag" };
  if (FORBIDDEN_CHARS.test(trimmed)) return { ok: false, reason: "malformed" };
  const scheme = /^(https?|mailto):/i.exec(trimmed)?.[1]?.toLowerCase() as "https" | "http" | "mailto" | undefined;
  if (!scheme) return { ok: false, reason: /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? "unsupported_scheme" : "malformed" };
  if (!URL.canParse(trimmed)) return { ok: false, reason: "malformed" };
  if (scheme !== "mailto" && !new URL(trimmed).hostname) return { ok: false, reason: "malformed" };
  return { ok: true, url: trimmed, scheme };
}

/**
 * A URL that is safe to put in an `href`, or `"#"`.
 *
 * @example safeLinkUrl("javascript:alert(1)") // "#"
 * @example safeLinkUrl("*|UNSUB|*", { allowMergeTag: true }) // "*|UNSUB|*"
 */
export function safeLinkUrl(value: string | undefined, options: { allowMergeTag?: boolean } = {}): string {
  const verdict = inspectUrl(value, options);
  return verdict.ok ? verdict.url : NEUTRAL_HREF;
}

/**
 * A URL that is safe to put in an image `src` (http or https only), or `undefined`: a broken or
 * hostile image is left out rather than pointed at `#`.
 */
export function safeImageUrl(value: string | undefined): string | undefined {
  const verdict = inspectUrl(value);
  return verdict.ok && (verdict.scheme === "https" || verdict.scheme === "http") ? verdict.url : undefined;
}
