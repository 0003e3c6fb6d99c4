/**
 * What the reserved subscription APIs (webhooks, pull-wake) need from the stream store.
 * Paths here are stream-root-relative: `events/abc` is the stream `/v1/stream/events/abc`.
 */
export interface SubscriptionHost {
  /** The current tail offset of a live stream, or undefined when it does not exist (or is deleted/expired). */
  tailOf(path: string): Promise<string | undefined>;
  /** Every live stream's root-relative path (used to back-fill glob links when a subscription is created). */
  listPaths(): Promise<string[]>;
  /** Appends one JSON value to a JSON-mode stream through the normal append path (wakes readers). False when the stream is missing. */
  appendJson(path: string, value: unknown): Promise<boolean>;
}

/** The zero offset: the tail of an empty stream, "before any data". */
export const ZERO_OFFSET = "0000000000000000_0000000000000000";
