import nodemailer from "nodemailer";
import { escapeHtml } from "./safety";
import { emailToText } from "./text";
import { fillMergeTags, SAMPLE_FIRST_NAME, type MergeSamples } from "./merge-tags";

/**
 * Test sends: the rendered email goes to a few addresses through the team's SMTP server
 * (`SMTP_URL`, `MAIL_FROM`), as `multipart/alternative` (HTML + plain text) with the subject, the
 * preheader, `List-Unsubscribe` headers and merge tags filled with sample values. Images are left at
 * their public URLs when the service has one (`PUBLIC_URL`); otherwise they travel inside the
 * message as CID parts, since a mailbox cannot reach a private address.
 */

/** At most this many recipients per test send. */
export const MAX_TEST_RECIPIENTS = 5;
/** Each team may make this many test sends per window (a test send is not a campaign). */
export const TEST_SENDS_PER_WINDOW = 10;
export const TEST_SEND_WINDOW_MS = 15 * 60_000;
const SMTP_CONNECT_TIMEOUT_MS = 10_000;
const SMTP_SOCKET_TIMEOUT_MS = 20_000;
/** The sample unsubscribe link of a test send when the footer has a merge tag rather than a URL. */
export const SAMPLE_UNSUBSCRIBE_URL = "https://example.com/unsubscribe?test-send=1";
export const TEST_SUBJECT_PREFIX = "[Test] ";

export interface InlineImage {
  /** The URL under which the HTML refers to the image; rewritten to `cid:…`. */
  url: string;
  cid: string;
  bytes: Uint8Array;
  contentType: string;
}

export interface TestSendInput {
  smtpUrl: string;
  from: string;
  to: readonly string[];
  subject: string;
  html: string;
  /** Images to carry inside the message (none when the HTML's images are public). */
  inlineImages: readonly InlineImage[];
  /** An http(s) unsubscribe link for the sample (and the List-Unsubscribe header). */
  unsubscribeUrl: string;
  /** Postal address shown for `{{address}}`. */
  address: string;
  viewInBrowserUrl: string;
}

export interface RecipientResult {
  address: string;
  status: "accepted" | "refused";
  /** The SMTP server's reply, e.g. `250 OK: queued` or `550 5.1.1 no such user`. */
  reply: string;
}

export type TestSendFailureCode = "smtp_unavailable" | "smtp_auth_failed" | "smtp_failed";
export type TestSendResult = { ok: true; results: RecipientResult[] } | { ok: false; code: TestSendFailureCode; message: string };

/** Fixed-window counter per team; in memory (one process's limit; a restart forgives). */
export class TestSendLimiter {
  #windows = new Map<string, { startedAt: number; count: number }>();

  constructor(
    readonly limit = TEST_SENDS_PER_WINDOW,
    readonly windowMs = TEST_SEND_WINDOW_MS,
  ) {}

  /** Counts one send for `key`; false when the key has used up its window. */
  take(key: string, now = Date.now()): boolean {
    const window = this.#windows.get(key);
    if (!window || now - window.startedAt >= this.windowMs) {
      this.#windows.set(key, { startedAt: now, count: 1 });
      return true;
    }
    if (window.count >= this.limit) return false;
    window.count++;
    return true;
  }
}

function rewriteImages(html: string, images: readonly InlineImage[]): string {
  let out = html;
  for (const image of [...images].sort((a, b) => b.url.length - a.url.length)) {
    out = out.split(escapeHtml(image.url)).join(`cid:${image.cid}`).split(image.url).join(`cid:${image.cid}`);
  }
  return out;
}

function failure(error: unknown): { ok: false; code: TestSendFailureCode; message: string } {
  const e = error as { code?: string; response?: string; message?: string };
  if (e.code === "EAUTH") return { ok: false, code: "smtp_auth_failed", message: `The SMTP server refused the login in SMTP_URL: ${e.response ?? e.message}` };
  if (e.code === "ESOCKET" || e.code === "ECONNECTION" || e.code === "ETIMEDOUT" || e.code === "EDNS" || e.code === "ECONNREFUSED") {
    return { ok: false, code: "smtp_unavailable", message: `Could not reach the SMTP server in SMTP_URL (${e.message ?? e.code}). Check that it is running and reachable.` };
  }
  return { ok: false, code: "smtp_failed", message: `The SMTP server did not take the message: ${e.response ?? e.message ?? String(error)}` };
}

/**
 * Sends one message per recipient (each sees their own address in `{{email}}`) and reports, per
 * address, whether the server accepted it and what it answered. A connection or login failure stops
 * the whole send and is returned as a failure code.
 *
 * @example
 * const result = await sendTest({ smtpUrl, from, to: ["me@example.com"], subject, html, inlineImages: [], unsubscribeUrl, address, viewInBrowserUrl });
 */
export async function sendTest(input: TestSendInput): Promise<TestSendResult> {
  const transport = nodemailer.createTransport(input.smtpUrl, {
    connectionTimeout: SMTP_CONNECT_TIMEOUT_MS,
    greetingTimeout: SMTP_CONNECT_TIMEOUT_MS,
    socketTimeout: SMTP_SOCKET_TIMEOUT_MS,
  } as object);
  const html = rewriteImages(input.html, input.inlineImages);
  const results: RecipientResult[] = [];
  try {
    for (const to of input.to) {
      const samples: MergeSamples = { first_name: SAMPLE_FIRST_NAME, email: to, unsubscribe_url: input.unsubscribeUrl, view_in_browser_url: input.viewInBrowserUrl, preferences_url: input.unsubscribeUrl, address: input.address };
      const filledHtml = fillMergeTags(html, samples, { html: true });
      try {
        const info = await transport.sendMail({
          from: input.from,
          to,
          subject: TEST_SUBJECT_PREFIX + fillMergeTags(input.subject, samples, { html: false }),
          html: filledHtml,
          text: emailToText(filledHtml),
          list: { unsubscribe: input.unsubscribeUrl },
          headers: { "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
          attachments: input.inlineImages.map((image) => ({ cid: image.cid, filename: image.cid.split("@")[0], content: Buffer.from(image.bytes), contentType: image.contentType, contentDisposition: "inline" as const })),
        });
        const accepted = info.accepted.map(String).includes(to);
        results.push({ address: to, status: accepted ? "accepted" : "refused", reply: info.response });
      } catch (error) {
        const e = error as { code?: string; response?: string; rejectedErrors?: Array<{ response?: string }> };
        if (e.code !== "EENVELOPE") return failure(error);
        results.push({ address: to, status: "refused", reply: e.rejectedErrors?.[0]?.response ?? e.response ?? "refused" });
      }
    }
    return { ok: true, results };
  } finally {
    transport.close();
  }
}
