/**
 * Offsets are opaque to clients but ours have a fixed shape: `<16 digits>_<16 digits>`, the second
 * part being the stream position after the message. Fixed width makes them sort byte-wise, which the
 * protocol requires (and which a Postgres text comparison in a non-C collation would break, so we
 * compare positions as numbers).
 */
export const ZERO_OFFSET = "0000000000000000_0000000000000000";
const OFFSET_PATTERN = /^(\d{1,16})_(\d{1,16})$/;
/** Offsets as this server issues them: a zero first part and a padded position. */
const OFFSET_PARAM = /^(-1|now|0{16}_\d{16})$/;

/** The offset string for stream position `pos`. */
export function formatOffset(pos: number): string {
  const digits = String(pos);
  // Cheaper than padStart, on every answer.
  return digits.length >= 16 ? OFFSET_PREFIX + digits : OFFSET_PADDING[digits.length]! + digits;
}
const OFFSET_PREFIX = "0000000000000000_";
const OFFSET_PADDING = Array.from({ length: 16 }, (_, digits) => OFFSET_PREFIX + "0".repeat(16 - digits));

/** The position in an offset string, or undefined if it is not one of ours (or out of range). */
export function parseOffset(offset: string): number | undefined {
  const match = OFFSET_PATTERN.exec(offset);
  if (!match) return undefined;
  if (Number(match[1]) !== 0) return Number.MAX_SAFE_INTEGER;
  const pos = Number(match[2]);
  return Number.isSafeInteger(pos) ? pos : Number.MAX_SAFE_INTEGER;
}

/**
 * True for the values the `offset` query parameter accepts: `-1`, `now`, or an offset in exactly the
 * form this server issues (unpadded or other-epoch forms were never issued). Whether the position is
 * one this stream issued is checked against the table (`StreamStore.isIssuedPosition`).
 */
export function isOffsetParam(value: string): boolean {
  return OFFSET_PARAM.test(value);
}

const EVENT_OFFSET = /^(\d{16})_(\d{16})\.(\d{6})$/;

/**
 * The offset of one event of a JSON append (sessions give every event its own, so resuming from
 * the last event received is exact even when a disconnect cut an append in half). The last event
 * of an append has the append's offset (the Durable Streams offset); the others have the offset
 * just before that position plus `.<index+1>`, which sorts after the previous append, before the
 * append's own offset, and in event order.
 *
 * @example
 * eventOffset(440, 0, 3); // "0000000000000000_0000000000000439.000001"
 * eventOffset(440, 2, 3); // "0000000000000000_0000000000000440"
 */
export function eventOffset(pos: number, index: number, count: number): string {
  if (index >= count - 1) return formatOffset(pos);
  return `${formatOffset(pos - 1)}.${String(index + 1).padStart(6, "0")}`;
}

/**
 * Where a session read resumes: after position `afterPos`, skipping, in the append that ends at
 * `within.pos`, the events whose offsets are `<= within.offset`. Undefined if not `-1`, `now`, an
 * offset or an event offset.
 */
export function parseResumeOffset(offset: string, tailPos: number): { afterPos: number; within?: { pos: number; offset: string } } | undefined {
  if (offset === "-1") return { afterPos: 0 };
  if (offset === "now") return { afterPos: tailPos };
  const event = EVENT_OFFSET.exec(offset);
  if (event) {
    if (Number(event[1]) !== 0) return undefined;
    const before = Number(event[2]);
    if (before >= tailPos) return { afterPos: tailPos };
    return { afterPos: before, within: { pos: before + 1, offset } };
  }
  if (!isOffsetParam(offset)) return undefined;
  return { afterPos: Math.min(parseOffset(offset)!, tailPos) };
}
