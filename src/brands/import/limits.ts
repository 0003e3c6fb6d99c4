/**
 * Caps on what one page may contribute to a brand import, so a hostile page costs bounded work, and
 * the lengths a proposal may keep.
 */

export const SCAN_LIMITS = {
  MAX_ICONS: 20,
  MAX_LOGO_IMAGES: 10,
  MAX_STYLESHEETS_FOUND: 20,
  MAX_STYLE_CHARS: 512 * 1024,
  MAX_INLINE_STYLES: 300,
  MAX_FOOTER_CHARS: 4_000,
  MAX_JSON_LD_CHARS: 64 * 1024,
  MAX_CSS_RULES: 20_000,
  MAX_VAR_DEPTH: 8,
} as const;

/** A proposed brand name. */
export const MAX_NAME_CHARS = 120;
/** A proposed font family name. */
export const MAX_FONT_NAME_CHARS = 60;
/** A proposed postal address. */
export const MAX_ADDRESS_CHARS = 500;
