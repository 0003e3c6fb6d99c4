/**
 * Merge tags: one neutral syntax in the document, translated into each email platform's dialect on
 * export and filled with sample values for test sends.
 *
 * The neutral syntax is `{{name}}`, or `{{name|fallback}}` for a tag that may be empty (only
 * `first_name` takes one). A fallback is plain words (at most 40 letters, digits, spaces and `. , ! ' -`).
 * Tags contain none of the characters HTML escaping changes except `'` (matched escaped too), so a
 * tag typed into any text field reaches the rendered HTML as written.
 */

export const MERGE_TAG_NAMES = ["first_name", "email", "unsubscribe_url", "view_in_browser_url", "preferences_url", "address"] as const;
export type MergeTagName = (typeof MERGE_TAG_NAMES)[number];

export const PLATFORMS = ["klaviyo", "mailchimp", "hubspot", "braze", "customerio", "sendgrid"] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface MergeTagInfo {
  name: MergeTagName;
  label: string;
  /** What the neutral tag looks like when inserted from the picker. */
  insert: string;
  /** A link target (goes in an href) rather than text. */
  link: boolean;
}

/** The tag set the picker offers, in the order it shows them. */
export const MERGE_TAGS: readonly MergeTagInfo[] = [
  { name: "first_name", label: "First name", insert: "{{first_name|there}}", link: false },
  { name: "email", label: "Email address", insert: "{{email}}", link: false },
  { name: "unsubscribe_url", label: "Unsubscribe link", insert: "{{unsubscribe_url}}", link: true },
  { name: "view_in_browser_url", label: "View in browser link", insert: "{{view_in_browser_url}}", link: true },
  { name: "preferences_url", label: "Preferences link", insert: "{{preferences_url}}", link: true },
  { name: "address", label: "Postal address", insert: "{{address}}", link: false },
];

/** Older spellings that mean the same tag (brands made before the tag set used `{{unsubscribe}}`). */
const ALIASES: Readonly<Record<string, MergeTagName>> = { unsubscribe: "unsubscribe_url", firstname: "first_name", view_in_browser: "view_in_browser_url", preferences: "preferences_url" };

/** `{{ name }}` or `{{ name|fallback }}`; the apostrophe may arrive escaped as `&#39;` from HTML. */
const TAG_PATTERN = /\{\{\s*([a-z_]+)\s*(?:\|((?:[A-Za-z0-9 .,!'-]|&#39;){0,40}))?\s*\}\}/g;

/** One neutral tag found in a text: where, which, and its fallback. */
export interface FoundTag {
  raw: string;
  name: MergeTagName;
  fallback: string | undefined;
}

function canonical(name: string): MergeTagName | undefined {
  if ((MERGE_TAG_NAMES as readonly string[]).includes(name)) return name as MergeTagName;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
}

/** Every neutral tag in `text` (unknown `{{…}}` names are not ours and are left alone). */
export function findMergeTags(text: string): FoundTag[] {
  const found: FoundTag[] = [];
  for (const match of text.matchAll(TAG_PATTERN)) {
    const name = canonical(match[1]!);
    if (name) found.push({ raw: match[0], name, fallback: match[2]?.replaceAll("&#39;", "'").trim() || undefined });
  }
  return found;
}

function replaceTags(text: string, to: (tag: FoundTag) => string): string {
  return text.replace(TAG_PATTERN, (raw, rawName: string, fallback: string | undefined) => {
    const name = canonical(rawName);
    return name ? to({ raw, name, fallback: fallback?.replaceAll("&#39;", "'").trim() || undefined }) : raw;
  });
}

// ---------------------------------------------------------------------------------------------
// Platform dialects.

type Dialect = { [N in MergeTagName]: ((fallback: string | undefined) => string) | null };

const quoteSingle = (s: string) => s.replaceAll("'", "\\'");
const quoteDouble = (s: string) => s.replaceAll('"', '\\"');

/**
 * Each platform's spelling of each tag; `null` where the platform has no equivalent (the export
 * leaves the neutral tag and `unsupportedMergeTags` reports it). Sources: each platform's template
 * language reference (Klaviyo template tags, Mailchimp merge tags, HubSpot HubL email variables,
 * Braze Liquid, Customer.io Liquid, SendGrid dynamic templates/Marketing Campaigns tags).
 */
export const DIALECTS: Readonly<Record<Platform, Dialect>> = {
  klaviyo: {
    first_name: (f) => (f ? `{{ first_name|default:'${quoteSingle(f)}' }}` : "{{ first_name }}"),
    email: () => "{{ email }}",
    unsubscribe_url: () => "{% unsubscribe_url %}",
    view_in_browser_url: () => "{% web_view_url %}",
    preferences_url: () => "{% manage_preferences_url %}",
    address: () => "{{ organization.full_address }}",
  },
  mailchimp: {
    first_name: (f) => (f ? `*|IF:FNAME|**|FNAME|**|ELSE:|*${f}*|END:IF|*` : "*|FNAME|*"),
    email: () => "*|EMAIL|*",
    unsubscribe_url: () => "*|UNSUB|*",
    view_in_browser_url: () => "*|ARCHIVE|*",
    preferences_url: () => "*|UPDATE_PROFILE|*",
    address: () => "*|LIST:ADDRESSLINE|*",
  },
  hubspot: {
    first_name: (f) => (f ? `{{ contact.firstname|default("${quoteDouble(f)}") }}` : "{{ contact.firstname }}"),
    email: () => "{{ contact.email }}",
    unsubscribe_url: () => "{{ unsubscribe_link_all }}",
    view_in_browser_url: () => "{{ view_as_page_url }}",
    preferences_url: () => "{{ unsubscribe_link }}",
    address: () => "{{ site_settings.company_street_address_1 }}, {{ site_settings.company_city }}",
  },
  braze: {
    first_name: (f) => (f ? `{{\${first_name} | default: '${quoteSingle(f)}'}}` : "{{${first_name}}}"),
    email: () => "{{${email_address}}}",
    unsubscribe_url: () => "{{${set_user_to_unsubscribed_url}}}",
    // Braze has no hosted web version of an email.
    view_in_browser_url: null,
    preferences_url: () => "{% preference_center default %}",
    // Braze keeps no sender postal address; write it into the footer.
    address: null,
  },
  customerio: {
    first_name: (f) => (f ? `{{ customer.first_name | default: "${quoteDouble(f)}" }}` : "{{ customer.first_name }}"),
    email: () => "{{ customer.email }}",
    unsubscribe_url: () => "{% unsubscribe_url %}",
    view_in_browser_url: () => "{% view_in_browser_url %}",
    preferences_url: () => "{% manage_subscription_preferences_url %}",
    address: null,
  },
  sendgrid: {
    first_name: (f) => (f ? `{{#if first_name}}{{first_name}}{{else}}${f}{{/if}}` : "{{first_name}}"),
    email: () => "{{email}}",
    unsubscribe_url: () => "{{{unsubscribe}}}",
    // Dynamic templates have no hosted web version.
    view_in_browser_url: null,
    preferences_url: () => "{{{unsubscribe_preferences}}}",
    address: () => "{{Sender_Address}}, {{Sender_City}}, {{Sender_State}} {{Sender_Zip}}",
  },
};

/** Display names for the UI and docs. */
export const PLATFORM_LABELS: Readonly<Record<Platform, string>> = {
  klaviyo: "Klaviyo",
  mailchimp: "Mailchimp",
  hubspot: "HubSpot",
  braze: "Braze",
  customerio: "Customer.io",
  sendgrid: "SendGrid (dynamic templates)",
};

export function isPlatform(value: string): value is Platform {
  return (PLATFORMS as readonly string[]).includes(value);
}

/** The platform's spelling of one tag, or `undefined` when it has none. */
export function platformTag(platform: Platform, name: MergeTagName, fallback?: string): string | undefined {
  return DIALECTS[platform][name]?.(fallback) ?? undefined;
}

/**
 * Translates every neutral tag in `text` into `platform`'s dialect. Tags the platform cannot express
 * stay neutral and are listed in `unsupported`.
 *
 * @example
 * translateMergeTags("Hi {{first_name|there}}", "mailchimp").text // "Hi *|IF:FNAME|**|FNAME|**|ELSE:|*there*|END:IF|*"
 */
export function translateMergeTags(text: string, platform: Platform): { text: string; unsupported: MergeTagName[] } {
  const unsupported = new Set<MergeTagName>();
  const out = replaceTags(text, (tag) => {
    const translated = platformTag(platform, tag.name, tag.fallback);
    if (translated === undefined) unsupported.add(tag.name);
    return translated ?? tag.raw;
  });
  return { text: out, unsupported: [...unsupported] };
}

/** The tags used in `text` that `platform` does not support. */
export function unsupportedMergeTags(text: string, platform: Platform): MergeTagName[] {
  return [...new Set(findMergeTags(text).map((t) => t.name))].filter((name) => DIALECTS[platform][name] === null);
}

/** Sample values for a test send; `email` is the recipient's own address. */
export type MergeSamples = Readonly<Record<MergeTagName, string>>;

export const SAMPLE_FIRST_NAME = "Alex";

/**
 * Fills every neutral tag with a sample value (a `first_name` sample wins over its fallback, as it
 * would for a subscriber with a name). Values are HTML-escaped when `html` is true.
 */
export function fillMergeTags(text: string, samples: MergeSamples, options: { html: boolean }): string {
  const escape = (s: string) => (options.html ? s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;") : s);
  return replaceTags(text, (tag) => escape(samples[tag.name] || tag.fallback || ""));
}
