import type { StreamStore } from "./store";
import { jsonAppend } from "./json-append";
import type { AppendWriter } from "./writer";
import { formatOffset, ZERO_OFFSET } from "./offsets";
import { STREAM_PREFIX } from "./http";

export { ZERO_OFFSET };

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


/** The host on top of our store and writer. */
export function subscriptionHost(store: StreamStore, writer: AppendWriter): SubscriptionHost {
  return {
    async tailOf(path) {
      const found = await store.lookup(STREAM_PREFIX + path);
      return found.kind === "ok" ? formatOffset(found.row.tailPos) : undefined;
    },
    async listPaths() {
      return (await store.listPaths(STREAM_PREFIX)).map((p) => p.slice(STREAM_PREFIX.length)).filter((p) => !p.startsWith("__ds/"));
    },
    async appendJson(path, value) {
      const result = await writer.append(jsonAppend(STREAM_PREFIX + path, [value]));
      return result.kind === "appended";
    },
  };
}
