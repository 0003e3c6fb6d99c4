import { htmlToText, type DomNode, type FormatCallback, type HtmlToTextOptions } from "html-to-text";

/** Plain-text lines wrap at this width, the usual limit for text email. */
export const TEXT_WRAP_CHARS = 78;

function textOf(nodes: DomNode[] | undefined): string {
  return (nodes ?? []).map((node) => (node.type === "text" ? (node.data ?? "") : textOf(node.children))).join("");
}

/**
 * Links as `text (url)`. Unlike the built-in anchor format, a link with no text (a linked image)
 * is left out instead of becoming a bare URL, and `#` links (neutralised ones) keep only their text.
 */
const formatLink: FormatCallback = (elem, walk, builder) => {
  const text = textOf(elem.children).trim();
  if (text === "") return;
  walk(elem.children, builder);
  const href = (elem.attribs?.href ?? "").trim();
  if (href === "" || href.startsWith("#") || href === text) return;
  builder.addInline(` (${href})`, { noWordTransform: true });
};

const OPTIONS: HtmlToTextOptions = {
  wordwrap: TEXT_WRAP_CHARS,
  formatters: { link: formatLink },
  selectors: [
    // The preheader is a hidden `display:none` block; in plain text it would read as a stray line.
    { selector: 'div[style*="display:none"]', format: "skip" },
    { selector: "img", format: "skip" },
    { selector: "a", format: "link" },
    { selector: "h1", options: { uppercase: false } },
    { selector: "h2", options: { uppercase: false } },
    { selector: "h3", options: { uppercase: false } },
  ],
};

/**
 * The plain-text alternative of a rendered email: headings and paragraphs as blocks, links kept as
 * `text (url)`, images and the hidden preheader left out. Neutralised links (`#`) show only their text.
 *
 * @example emailToText('<p><a href="https://example.com">Shop now</a></p>') // "Shop now (https://example.com)"
 */
export function emailToText(html: string): string {
  return htmlToText(html, OPTIONS)
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
