import sharp from "sharp";
import { gzipSync } from "node:zlib";

/**
 * A local website for brand-import tests: realistic brand pages and hostile ones.
 *
 * - `/a/`  Acme Botanicals: og:site_name, theme-color, CSS custom properties, a linked stylesheet
 *          with @font-face, Google Fonts, an `<img>` logo, an `<address>` in the footer.
 * - `/b/`  Bluebird Coffee Roasters: only a favicon and inline styles (a `<style>` block and style
 *          attributes), a generic title, the address in a footer line; served gzipped.
 * - `/h/…` hostile: a huge page, redirect loops and chains, links and redirects to link-local and
 *          metadata addresses, an SVG logo, an oversized logo, a page that never finishes.
 */

export const ACME = { green: "#0a7d5a", gold: "#f4b400", cream: "#fffaf0", ink: "#1d2a24" };
export const BLUEBIRD = { orange: "#d84315", blue: "#1565c0", paper: "#fdf6ec", brown: "#3e2723" };

/** A PNG of flat colour blocks (left to right), transparent outside them. */
export async function blocksPng(width: number, height: number, blocks: Array<{ hex: string; share: number }>): Promise<Uint8Array> {
  const raw = new Uint8Array(width * height * 4);
  const rgb = (hex: string) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  let x0 = 0;
  for (const block of blocks) {
    const x1 = Math.min(width, x0 + Math.round(width * block.share));
    const [r, g, b] = rgb(block.hex);
    for (let y = 4; y < height - 4; y++) {
      for (let x = x0; x < x1; x++) raw.set([r!, g!, b!, 255], (y * width + x) * 4);
    }
    x0 = x1;
  }
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 4 } }).png().toBuffer());
}

export async function solidPng(hex: string, size = 64): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: size, height: size, channels: 3, background: hex } }).png().toBuffer());
}

const ACME_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Acme Botanicals &mdash; Plant-powered skincare</title>
  <meta name="description" content="Plant-powered skincare, made in small batches.">
  <meta property="og:site_name" content="Acme Botanicals">
  <meta property="og:title" content="Spring serums are here">
  <meta property="og:image" content="/a/img/og-spring.jpg">
  <meta name="theme-color" content="${ACME.green}">
  <link rel="icon" href="/a/favicon.ico" sizes="any">
  <link rel="icon" href="/a/icon.svg" type="image/svg+xml">
  <link rel="apple-touch-icon" href="/a/apple-touch-icon.png">
  <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
  <link href="https://fonts.googleapis.com/css2?family=Playfair+Display:wght@700&amp;family=Inter:wght@400;600&amp;display=swap" rel="stylesheet">
  <link rel="stylesheet" href="/a/css/site.css?v=3">
  <style>
    :root {
      --brand-primary: ${ACME.green};
      --brand-primary-dark: #06583f;
      --brand-secondary: ${ACME.gold};
      --color-bg: ${ACME.cream};
      --color-text: ${ACME.ink};
      --font-heading: "Playfair Display", Georgia, serif;
      --radius: 6px;
    }
  </style>
  <script type="application/ld+json">{"@context":"https://schema.org","@type":"Organization","name":"Acme Botanicals Ltd","url":"https://acme.example"}</script>
</head>
<body>
  <header class="site-header">
    <a class="site-logo" href="/a/"><img src="/a/img/logo.png" alt="Acme Botanicals logo" width="160" height="60"></a>
    <nav><a href="/a/shop">Shop</a> <a href="/a/about">About</a></nav>
  </header>
  <main>
    <section class="hero"><h1>Glow, naturally</h1><p>Serums made from cold-pressed botanicals.</p>
      <a class="btn btn-primary" href="/a/shop">Shop serums</a></section>
    <img src="/a/img/team.jpg" alt="Our team in the greenhouse">
  </main>
  <footer class="site-footer">
    <p>&copy; 2026 Acme Botanicals Ltd. All rights reserved.</p>
    <address>12 Market Street<br>Portland, OR 97201</address>
    <p><a href="/a/privacy">Privacy</a> · <a href="/a/terms">Terms</a></p>
  </footer>
</body>
</html>`;

const ACME_CSS = `@charset "utf-8";
@import url("/a/css/reset.css");
/* Brand type */
@font-face { font-family: "Acme Sans"; src: url(/a/fonts/acme-sans.woff2) format("woff2"); font-weight: 400; }
@font-face { font-family: 'Acme Sans'; src: url(/a/fonts/acme-sans-bold.woff2) format("woff2"); font-weight: 700; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font-family: "Acme Sans", Helvetica, Arial, sans-serif; color: var(--color-text); background: var(--color-bg); }
h1, h2, h3 { font-family: var(--font-heading); letter-spacing: -0.01em; }
a { color: var(--brand-primary); }
a:hover { color: var(--brand-primary-dark); }
.btn-primary { background-color: var(--brand-primary); color: #fff; border-radius: var(--radius); }
@media (prefers-color-scheme: dark) { .card { background: #111; } }`;

const BLUEBIRD_HTML = `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Home | Bluebird Coffee Roasters</title>
<link rel="icon" type="image/png" sizes="32x32" href="favicon-32.png">
<style>
  body { margin: 0; font-family: Georgia, 'Times New Roman', serif; background: #ffffff; color: #333333 }
  a, a:visited { color: ${BLUEBIRD.blue} }
  .button { display: inline-block; background: rgb(216, 67, 21); color: #fff; padding: 12px 20px; text-decoration: none }
  .hero { padding: 48px 24px; }
</style>
</head>
<body style="background-color: ${BLUEBIRD.paper}; color: ${BLUEBIRD.brown}">
  <div class="hero">
    <h1>Fresh roasted, every Monday</h1>
    <p>Single-origin beans from farms we know by name.</p>
    <a class="button" href="/b/shop">Order beans</a>
  </div>
  <footer>
    <p>Bluebird Coffee Roasters · 400 Harbor Way, Seattle, WA 98104 · hello@bluebird.example</p>
  </footer>
</body>
</html>`;

const HOSTILE_LINKS_HTML = (metadata: string) => `<!doctype html>
<html><head>
<title>Totally Normal Shop</title>
<link rel="stylesheet" href="http://[fe80::1]/steal.css">
<link rel="stylesheet" href="${metadata}/latest/meta-data/iam.css">
<link rel="apple-touch-icon" href="/h/to-metadata">
<meta property="og:image" content="file:///etc/passwd">
<style>:root { --brand: #7b1fa2; }</style>
</head><body>
<img class="logo" src="/h/logo.svg" alt="logo">
<img id="main-logo" src="/h/big-logo.png" alt="Our logo">
<img class="brand-logo" src="${metadata}/latest/meta-data/logo.png">
<p>Nothing to see.</p>
</body></html>`;

export interface BrandSite {
  url: string;
  port: number;
  stop(): void;
  /** Requests the site has answered, by path (to prove what was, or was not, fetched). */
  hits: string[];
}

/** Starts the site on 127.0.0.1 (a free port). */
export async function startBrandSite(): Promise<BrandSite> {
  const logo = await blocksPng(160, 60, [{ hex: ACME.green, share: 0.7 }, { hex: ACME.gold, share: 0.3 }]);
  const touchIcon = await solidPng(ACME.green, 180);
  const favicon = await blocksPng(32, 32, [{ hex: BLUEBIRD.orange, share: 1 }]);
  const og = new Uint8Array(await sharp({ create: { width: 120, height: 63, channels: 3, background: "#88aa99" } }).jpeg().toBuffer());
  const hits: string[] = [];
  const html = (body: string, init: ResponseInit = {}) => new Response(body, { ...init, headers: { "content-type": "text/html; charset=utf-8", ...(init.headers as Record<string, string>) } });
  const png = (bytes: Uint8Array) => new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": "image/png" } });
  const redirect = (location: string, status = 302) => new Response(null, { status, headers: { location } });
  const metadata = "http://169.254.169.254";

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 60,
    async fetch(request) {
      const url = new URL(request.url);
      const path = url.pathname;
      hits.push(path);
      switch (path) {
        case "/a/":
          return html(ACME_HTML);
        case "/a/css/site.css":
          return new Response(ACME_CSS, { headers: { "content-type": "text/css" } });
        case "/a/css/reset.css":
          return new Response("*{box-sizing:border-box}", { headers: { "content-type": "text/css" } });
        case "/a/img/logo.png":
          return png(logo);
        case "/a/apple-touch-icon.png":
          return png(touchIcon);
        case "/a/img/og-spring.jpg":
          return new Response(og as Uint8Array<ArrayBuffer>, { headers: { "content-type": "image/jpeg" } });
        case "/b":
          return redirect("/b/", 301);
        case "/b/":
          return new Response(gzipSync(BLUEBIRD_HTML), { headers: { "content-type": "text/html; charset=utf-8", "content-encoding": "gzip" } });
        case "/b/favicon-32.png":
          return png(favicon);
        case "/h/huge": {
          // 64 MB of markup, streamed: the importer must stop reading long before the end.
          const chunk = new TextEncoder().encode("<div class=\"pad\">" + "x".repeat(65_000) + "</div>\n");
          let sent = 0;
          return new Response(new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("<!doctype html><html><head><title>Huge</title></head><body>"));
            },
            pull(controller) {
              if (sent++ > 1_000) return controller.close();
              controller.enqueue(chunk);
            },
          }), { headers: { "content-type": "text/html" } });
        }
        case "/h/loop":
          return redirect("/h/loop-back");
        case "/h/loop-back":
          return redirect("/h/loop");
        case "/h/to-metadata":
          return redirect(`${metadata}/latest/meta-data/`);
        case "/h/to-file":
          return redirect("file:///etc/passwd");
        case "/h/links":
          return html(HOSTILE_LINKS_HTML(metadata));
        case "/h/logo.svg":
          return new Response(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="10" height="10"/></svg>`, { headers: { "content-type": "image/svg+xml" } });
        case "/h/big-logo.png":
          return new Response(new Uint8Array(12 * 1024 * 1024), { headers: { "content-type": "image/png" } });
        case "/h/slow":
          await Bun.sleep(30_000);
          return html("<title>late</title>");
        case "/h/json":
          return Response.json({ not: "html" });
        default: {
          const chain = /^\/h\/chain\/(\d+)$/.exec(path);
          if (chain) return redirect(`/h/chain/${Number(chain[1]) + 1}`);
          return html("<h1>Not found</h1>", { status: 404 });
        }
      }
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, port: server.port!, hits, stop: () => server.stop(true) };
}
