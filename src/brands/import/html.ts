import { decodeHTML } from "entities";
import { familiesFromFontUrl } from "./css";
import { SCAN_LIMITS } from "./limits";

/**
 * What a page's HTML says about its brand: names, icons, theme colours, logo images, stylesheets,
 * inline styles, the footer and any JSON-LD, with URLs made absolute. Read with Bun's streaming
 * HTMLRewriter; no I/O (fetching is the import agent's job, through the guarded fetch).
 */

export interface IconLink {
  href: string;
  rel: string;
  sizes?: string;
  type?: string;
}

/** What the HTML of a page says about its brand, with URLs made absolute. */
export interface PageScan {
  pageUrl: string;
  title?: string;
  siteName?: string;
  applicationName?: string;
  themeColors: string[];
  icons: IconLink[];
  ogImage?: string;
  logoImages: Array<{ src: string; hint: string }>;
  stylesheets: string[];
  /** Font families named by Google Fonts (or similar) stylesheet links, read from their URLs. */
  linkedFonts: string[];
  styles: string[];
  /** `style="…"` attributes of the body, buttons and links, with what the element looked like. */
  inlineStyles: Array<{ kind: "body" | "button" | "link" | "heading"; style: string }>;
  footerText: string;
  addressText?: string;
  jsonLd: string[];
}

/** Decodes the HTML entities HTMLRewriter leaves in text and attribute values. */
export function decodeEntities(text: string): string {
  return decodeHTML(text);
}

/** An http(s) URL (or a small inline image) made absolute against `base`; anything else is `undefined`. */
export function absolute(href: string | null | undefined, base: string): string | undefined {
  if (!href) return undefined;
  const value = decodeEntities(href).trim();
  if (!value || value.length > 2_048) return undefined;
  try {
    const url = new URL(value, base);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    if (url.protocol === "data:" && /^data:image\/(png|jpeg|gif|webp);base64,/i.test(value)) return value;
  } catch {
    // not a URL: ignored
  }
  return undefined;
}

const BUTTON_HINT = /\b(btn|button|cta|call-to-action|shop-now)\b/i;
const LOGO_HINT = /logo|brand-?mark|wordmark|site-?brand|navbar-brand/i;
const BLOCK_TAGS = new Set(["p", "div", "br", "li", "address", "section", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "ul", "ol", "footer", "span"]);

/**
 * Scans a page's HTML with Bun's streaming HTMLRewriter: names, icons, theme colours, logo images,
 * stylesheets, inline styles, the footer's text and any JSON-LD.
 *
 * @example
 * const scan = await scanPage("<title>Acme</title>", "https://acme.example/");
 * scan.title // "Acme"
 */
export async function scanPage(html: string, pageUrl: string): Promise<PageScan> {
  let base = pageUrl;
  const raw = {
    icons: [] as IconLink[],
    logoImages: [] as Array<{ src: string; hint: string }>,
    stylesheets: [] as string[],
    ogImage: undefined as string | undefined,
  };
  const scan: PageScan = { pageUrl, themeColors: [], icons: [], logoImages: [], stylesheets: [], linkedFonts: [], styles: [], inlineStyles: [], footerText: "", jsonLd: [] };
  let title = "";
  let styleChars = 0;
  let currentStyle = "";
  let footer = "";
  let address = "";
  let inAddress = 0;
  let currentJson = "";
  let logoContext = 0;
  const push = <T>(list: T[], item: T, max: number) => {
    if (list.length < max) list.push(item);
  };
  const hintOf = (el: HTMLRewriterTypes.Element) => ["class", "id", "alt", "title", "src", "aria-label", "itemprop"].map((name) => el.getAttribute(name) ?? "").join(" ");

  await new HTMLRewriter()
    .on("base[href]", {
      element(el) {
        base = absolute(el.getAttribute("href"), pageUrl) ?? base;
      },
    })
    .on("title", {
      text(chunk) {
        if (title.length < 500) title += chunk.text;
      },
    })
    .on("meta", {
      element(el) {
        const key = (el.getAttribute("property") ?? el.getAttribute("name") ?? "").toLowerCase().trim();
        const content = decodeEntities(el.getAttribute("content") ?? "").trim();
        if (!content) return;
        if (key === "og:site_name") scan.siteName ??= content.slice(0, 300);
        else if (key === "application-name" || key === "apple-mobile-web-app-title") scan.applicationName ??= content.slice(0, 300);
        else if (key === "theme-color" || key === "msapplication-tilecolor") push(scan.themeColors, content.slice(0, 100), 5);
        else if (key === "og:image" || key === "og:image:url" || key === "og:image:secure_url") raw.ogImage ??= content;
      },
    })
    .on("link[href]", {
      element(el) {
        const rel = (el.getAttribute("rel") ?? "").toLowerCase();
        const href = el.getAttribute("href") ?? "";
        if (/\bicon\b|apple-touch-icon|mask-icon/.test(rel)) push(raw.icons, { href, rel, sizes: el.getAttribute("sizes") ?? undefined, type: el.getAttribute("type") ?? undefined }, SCAN_LIMITS.MAX_ICONS);
        if (/\bstylesheet\b/.test(rel) || (/\bpreload\b/.test(rel) && el.getAttribute("as") === "style")) {
          if (/fonts\.googleapis\.com|fonts\.bunny\.net|use\.typekit\.net/i.test(href)) {
            for (const family of familiesFromFontUrl(decodeEntities(href))) push(scan.linkedFonts, family, 10);
          } else push(raw.stylesheets, href, SCAN_LIMITS.MAX_STYLESHEETS_FOUND);
        }
      },
    })
    .on("style", {
      text(chunk) {
        if (styleChars + chunk.text.length > SCAN_LIMITS.MAX_STYLE_CHARS) return;
        styleChars += chunk.text.length;
        currentStyle += chunk.text;
        if (chunk.lastInTextNode) {
          scan.styles.push(currentStyle);
          currentStyle = "";
        }
      },
    })
    .on("[class*=logo], [id*=logo], .brand, .navbar-brand, .site-brand, .site-title", {
      element(el) {
        if (el.tagName === "img" || !el.canHaveContent) return;
        logoContext++;
        el.onEndTag(() => {
          logoContext--;
        });
      },
    })
    .on("img", {
      element(el) {
        const src = el.getAttribute("src") ?? el.getAttribute("data-src") ?? "";
        const hint = hintOf(el);
        if (src && (LOGO_HINT.test(hint) || logoContext > 0)) push(raw.logoImages, { src, hint: LOGO_HINT.test(hint) ? hint.trim().slice(0, 200) : "inside an element marked logo/brand" }, SCAN_LIMITS.MAX_LOGO_IMAGES);
      },
    })
    .on("body[style], a[style], button[style], input[style], h1[style], h2[style], [class*=btn][style], [class*=button][style]", {
      element(el) {
        const style = decodeEntities(el.getAttribute("style") ?? "");
        const tag = el.tagName;
        const kind = tag === "body" ? "body" : tag === "button" || tag === "input" || BUTTON_HINT.test(el.getAttribute("class") ?? "") ? "button" : tag === "a" ? "link" : "heading";
        if (style) push(scan.inlineStyles, { kind, style: style.slice(0, 2_000) }, SCAN_LIMITS.MAX_INLINE_STYLES);
      },
    })
    .on("body[bgcolor]", {
      element(el) {
        push(scan.inlineStyles, { kind: "body", style: `background-color: ${el.getAttribute("bgcolor")}` }, SCAN_LIMITS.MAX_INLINE_STYLES);
      },
    })
    .on("footer, [role=contentinfo], #footer, .footer, .site-footer", {
      text(chunk) {
        if (footer.length < SCAN_LIMITS.MAX_FOOTER_CHARS) footer += chunk.text;
      },
    })
    .on("footer *, [role=contentinfo] *, #footer *, .footer *, .site-footer *", {
      element(el) {
        if (!BLOCK_TAGS.has(el.tagName)) return;
        footer += "\n";
        if (el.canHaveContent) el.onEndTag(() => {
          footer += "\n";
        });
      },
    })
    .on("address", {
      element(el) {
        inAddress++;
        el.onEndTag(() => {
          inAddress--;
          address += "\n\n";
        });
      },
      text(chunk) {
        if (inAddress > 0 && address.length < SCAN_LIMITS.MAX_FOOTER_CHARS) address += chunk.text;
      },
    })
    .on("address br, address p, address div", {
      element() {
        address += "\n";
      },
    })
    .on('script[type="application/ld+json"]', {
      text(chunk) {
        if (currentJson.length + chunk.text.length <= SCAN_LIMITS.MAX_JSON_LD_CHARS) currentJson += chunk.text;
        if (chunk.lastInTextNode) {
          if (currentJson.trim()) push(scan.jsonLd, currentJson, 5);
          currentJson = "";
        }
      },
    })
    .transform(new Response(html))
    .text();

  scan.title = cleanText(decodeEntities(title)) || undefined;
  scan.icons = raw.icons.flatMap((icon) => {
    const href = absolute(icon.href, base);
    return href ? [{ ...icon, href }] : [];
  });
  scan.logoImages = raw.logoImages.flatMap((img) => {
    const src = absolute(img.src, base);
    return src ? [{ src, hint: img.hint }] : [];
  });
  scan.stylesheets = [...new Set(raw.stylesheets.flatMap((href) => absolute(href, base) ?? []))].filter((u) => !u.startsWith("data:"));
  scan.ogImage = absolute(raw.ogImage, base);
  scan.footerText = decodeEntities(footer).slice(0, SCAN_LIMITS.MAX_FOOTER_CHARS);
  const cleanAddress = decodeEntities(address).split(/\n\s*\n/).map(cleanLines).find((a) => a.length > 0);
  if (cleanAddress) scan.addressText = cleanAddress;
  return scan;
}

/** Whitespace collapsed to single spaces. */
export function cleanText(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function cleanLines(text: string): string {
  return text.split("\n").map(cleanText).filter(Boolean).join("\n");
}
