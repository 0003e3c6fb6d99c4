import { z } from "zod";

/**
 * The email document's limits and the small zod builders its section schemas share. Kept apart from
 * `document.ts` so each section module (`sections/<type>.ts`) and the theme can use them without
 * importing the whole model.
 */

// Field limits. They are generous for people and tight enough to keep an email under Gmail's clip.
export const MAX_SECTIONS = 40;
export const MAX_SECTION_ID_CHARS = 64;
export const MAX_HEADLINE_CHARS = 200;
export const MAX_SHORT_TEXT_CHARS = 300;
export const MAX_BODY_TEXT_CHARS = 3_000;
export const MAX_LABEL_CHARS = 80;
export const MAX_NAME_CHARS = 120;
export const MAX_ALT_CHARS = 300;
export const MAX_URL_CHARS = 2_048;
export const MAX_PRICE_CHARS = 40;
export const MAX_ADDRESS_CHARS = 500;
export const MAX_LIST_ITEMS = 8;
export const MAX_PRODUCTS = 12;
export const MAX_SUBJECT_CHARS = 200;
export const MAX_PREHEADER_CHARS = 300;
export const MAX_GUIDANCE_CHARS = 1_000;
export const MAX_VOICE_CHARS = 2_000;
export const MAX_BRIEF_TEXT_CHARS = 1_000;
export const MAX_FONT_NAME_CHARS = 60;

/** Section ids end up in HTML attributes and CSS classes, so they are kept to a safe alphabet. */
export const SECTION_ID_PATTERN = /^[A-Za-z0-9_-]+$/;
/** `#rgb` or `#rrggbb`. */
export const HEX_COLOR_PATTERN = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** A string of at most `max` characters. */
export const text = (max: number) => z.string().max(max, { error: `must be at most ${max} characters` });
/** A non-empty (after trimming) string of at most `max` characters. */
export const required = (max: number) => text(max).trim().min(1, { error: "must not be empty" });
/** A URL as written (it may be a merge tag or empty); the renderer filters it, the checks report it. */
export const url = () => text(MAX_URL_CHARS);
