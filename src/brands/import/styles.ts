import { parseColor, firstColorIn } from "./colour";
import { cleanFontName, firstFamily, parseCss, parseDeclarations, type ParsedCss } from "./css";
import type { PageScan } from "./html";

/**
 * Which colours and fonts a page's styles give its body, buttons, links and headings: the part of
 * the CSS a brand proposal is built from.
 */

/** What the CSS of a page says, after reading every stylesheet. */
export interface CssFindings {
  vars: Map<string, string>;
  colorVars: Array<{ name: string; hex: string }>;
  buttons: Array<{ background?: string; color?: string }>;
  links: string[];
  body: { background?: string; color?: string; font?: string };
  headingFont?: string;
  fontFaces: string[];
  fontVars: Array<{ name: string; family: string }>;
}

const ROOT_SELECTOR = /^(:root|html|body|:host|\*|:root\s*,\s*:host|html\s*,\s*body|\[data-theme[^\]]*\]|\.light|\.theme-[\w-]+)$/i;
const BUTTON_SELECTOR = /(^|[\s,>+~.#\[])(button|btn|\.btn|cta|button-primary|btn-primary|shop-now)\b|\[type=["']?submit|(^|[\s,])button\b/i;
const LINK_SELECTOR = /(^|[\s,>+~])a(?![\w-])(:link|:visited|:hover)?(\s*,|\s*$)/i;
const HEADING_SELECTOR = /(^|[\s,>+~])(h1|h2|h3|\.?heading|\.?title|\.?display)\b/i;
const BODY_SELECTOR = /^(html|body|:root|html\s*,\s*body|body\s*,\s*html)$/i;

/**
 * Reads colours and fonts from style sheets and inline styles: custom properties (resolved through
 * each other), button backgrounds, link colours, the body's colours and font, headings' font, and
 * `@font-face` families.
 */
export function readCss(sheets: string[], inline: PageScan["inlineStyles"] = []): CssFindings {
  const parsed: ParsedCss = { rules: [], fontFaces: [] };
  for (const sheet of sheets) parseCss(sheet, parsed);
  const vars = new Map<string, string>();
  // Root-level custom properties win over ones scoped to components.
  const rootFirst = [...parsed.rules.filter((r) => !ROOT_SELECTOR.test(r.selector)), ...parsed.rules.filter((r) => ROOT_SELECTOR.test(r.selector))];
  for (const rule of rootFirst) for (const [name, value] of rule.declarations) if (name.startsWith("--")) vars.set(name, value);

  const findings: CssFindings = { vars, colorVars: [], buttons: [], links: [], body: {}, fontFaces: [], fontVars: [] };
  for (const [name, value] of vars) {
    const hex = parseColor(value, vars);
    if (hex) findings.colorVars.push({ name, hex });
    else if (/font|family|typeface/i.test(name)) {
      const family = firstFamily(value, vars);
      if (family) findings.fontVars.push({ name, family });
    }
  }
  const colorOf = (declarations: Array<[string, string]>, prop: "background" | "color") => {
    for (const [name, value] of [...declarations].reverse()) {
      if (prop === "color" && name === "color") return parseColor(value, vars) ?? firstColorIn(value, vars);
      if (prop === "background" && (name === "background-color" || name === "background")) return firstColorIn(value, vars);
    }
    return undefined;
  };
  const fontOf = (declarations: Array<[string, string]>) => {
    for (const [name, value] of [...declarations].reverse()) {
      if (name === "font-family") return firstFamily(value, vars);
      if (name === "font") return firstFamily(value.replace(/^.*?\d[\w.%]*(\s*\/\s*[\w.%]+)?\s+/, ""), vars);
    }
    return undefined;
  };
  const take = (kind: "body" | "button" | "link" | "heading", declarations: Array<[string, string]>) => {
    if (kind === "button") {
      const background = colorOf(declarations, "background");
      const color = colorOf(declarations, "color");
      if (background || color) findings.buttons.push({ ...(background ? { background } : {}), ...(color ? { color } : {}) });
    } else if (kind === "link") {
      const color = colorOf(declarations, "color");
      if (color) findings.links.push(color);
    } else if (kind === "heading") {
      findings.headingFont ??= fontOf(declarations);
    } else {
      findings.body.background ??= colorOf(declarations, "background");
      findings.body.color ??= colorOf(declarations, "color");
      findings.body.font ??= fontOf(declarations);
    }
  };
  // Inline style attributes first: they win over style sheets in the page, and here the first value found wins.
  for (const item of inline) take(item.kind, parseDeclarations(item.style));
  for (const rule of parsed.rules) {
    if (BODY_SELECTOR.test(rule.selector)) take("body", rule.declarations);
    if (BUTTON_SELECTOR.test(rule.selector)) take("button", rule.declarations);
    else if (LINK_SELECTOR.test(rule.selector)) take("link", rule.declarations);
    if (HEADING_SELECTOR.test(rule.selector)) take("heading", rule.declarations);
  }
  for (const face of parsed.fontFaces) {
    const family = face.find(([name]) => name === "font-family")?.[1];
    const clean = family ? cleanFontName(family) : undefined;
    if (clean && !findings.fontFaces.includes(clean)) findings.fontFaces.push(clean);
  }
  return findings;
}
