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
  return `0000000000000000_${String(pos).padStart(16, "0")}`;
}

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
