import { parse, walk, type CssNode } from "css-tree";
import { decodeHTML } from "entities";
import { MAX_FONT_NAME_CHARS, SCAN_LIMITS } from "./limits";

/**
 * What a page's CSS is made of, read with css-tree (error-tolerant, like a browser): style rules
 * (inside @media, @supports, @layer, @container, @document and @scope too), `@font-face` blocks,
 * custom properties resolved through each other, and font families.
 */

export interface CssRule {
  selector: string;
  declarations: Array<[string, string]>;
}

export interface ParsedCss {
  rules: CssRule[];
  fontFaces: Array<Array<[string, string]>>;
}

/** At-rules whose rules apply to the page (a @keyframes block's "rules" are animation steps). */
const CONTAINER_AT_RULES = new Set(["media", "supports", "layer", "container", "document", "scope"]);

const PARSE_OPTIONS = { parseValue: false, parseRulePrelude: false, parseAtrulePrelude: false, parseCustomProperty: false, positions: false, onParseError: () => {} } as const;

/** Text of a node css-tree kept raw (preludes and values, since we ask it not to parse them). */
function raw(node: CssNode | null | undefined): string {
  return node && node.type === "Raw" ? node.value : "";
}

/** The `name: value` pairs of a block (names lower-cased, `!important` dropped, empty ones skipped). */
function declarationsIn(block: CssNode | null | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!block || block.type !== "Block") return out;
  block.children.forEach((child) => {
    if (child.type !== "Declaration") return;
    const value = raw(child.value).trim();
    const name = child.property.trim().toLowerCase();
    if (name && value) out.push([name, value]);
  });
  return out;
}

/**
 * The declarations of a `style="…"` attribute.
 *
 * @example parseDeclarations("color: #fff; background: red !important") // [["color", "#fff"], ["background", "red"]]
 */
export function parseDeclarations(style: string): Array<[string, string]> {
  const list = parse(style, { ...PARSE_OPTIONS, context: "declarationList" });
  return declarationsIn({ type: "Block", children: list.type === "DeclarationList" ? list.children : (list as never) } as CssNode);
}

/**
 * Style rules and `@font-face` blocks of a style sheet; other at-rules are skipped. Appends to `into`
 * (several sheets make one list), up to `SCAN_LIMITS.MAX_CSS_RULES` rules.
 *
 * @example parseCss(":root{--brand:#0a7d5a}").rules[0] // { selector: ":root", declarations: [["--brand", "#0a7d5a"]] }
 */
export function parseCss(input: string, into: ParsedCss = { rules: [], fontFaces: [] }): ParsedCss {
  const ast = parse(input, PARSE_OPTIONS);
  walk(ast, {
    enter(node: CssNode) {
      if (into.rules.length >= SCAN_LIMITS.MAX_CSS_RULES) return walk.break;
      if (node.type === "Atrule") {
        const name = node.name.toLowerCase();
        if (name === "font-face") {
          into.fontFaces.push(declarationsIn(node.block));
          return walk.skip;
        }
        return CONTAINER_AT_RULES.has(name) ? undefined : walk.skip;
      }
      if (node.type === "Rule") {
        const selector = raw(node.prelude).replace(/\s+/g, " ").trim();
        if (selector) into.rules.push({ selector, declarations: declarationsIn(node.block) });
        return walk.skip;
      }
      return undefined;
    },
  });
  return into;
}

/** Resolves `var(--name, fallback)` against custom properties (bounded depth: properties may refer to each other). */
export function resolveVars(value: string, vars: ReadonlyMap<string, string>, depth = 0): string {
  if (depth > SCAN_LIMITS.MAX_VAR_DEPTH || !value.includes("var(")) return value;
  const resolved = value.replace(/var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*(?:\([^()]*\)[^()]*)*))?\)/g, (_, name: string, fallback?: string) => vars.get(name) ?? fallback ?? "");
  return resolveVars(resolved, vars, depth + 1);
}

const GENERIC_FAMILIES = new Set([
  "serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif", "ui-serif", "ui-monospace", "ui-rounded",
  "-apple-system", "blinkmacsystemfont", "inherit", "initial", "unset", "revert", "emoji", "math", "fangsong",
  "apple color emoji", "segoe ui emoji", "segoe ui symbol", "noto color emoji",
]);

/** A font name as a brand may keep it: letters, digits, spaces and hyphens, at most 60 characters. */
export function cleanFontName(name: string): string | undefined {
  const clean = decodeHTML(name).replace(/^["']|["']$/g, "").replace(/[^A-Za-z0-9 -]/g, "").replace(/\s+/g, " ").trim().slice(0, MAX_FONT_NAME_CHARS);
  return clean && !GENERIC_FAMILIES.has(clean.toLowerCase()) && !/^var\b/i.test(clean) ? clean : undefined;
}

/** The first real family of a `font-family` list (generic and system names skipped). */
export function firstFamily(value: string, vars: ReadonlyMap<string, string> = new Map()): string | undefined {
  for (const part of resolveVars(value, vars).split(",")) {
    const name = cleanFontName(part.trim());
    if (name) return name;
  }
  return undefined;
}

/** Families named in a Google Fonts / Bunny Fonts URL (`family=Playfair+Display:wght@700`). */
export function familiesFromFontUrl(href: string): string[] {
  try {
    const url = new URL(href, "https://fonts.example/");
    return url.searchParams
      .getAll("family")
      .flatMap((value) => value.split("|"))
      .map((value) => cleanFontName(value.split(":")[0]!.replace(/\+/g, " ")))
      .filter((name): name is string => !!name);
  } catch {
    return [];
  }
}
