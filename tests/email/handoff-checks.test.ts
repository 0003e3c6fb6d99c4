import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import sharp from "sharp";
import { structureChecks, mergeTagChecks, checkEmail } from "../../src/email/checks";
import { imageChecks, linkStatusChecks, linksIn, MAX_TOTAL_IMAGE_BYTES } from "../../src/email/resource-checks";
import { renderEmail } from "../../src/email/render";
import { brand, fullDocument } from "./fixtures";

/** The checks before sending added for hand-off: structure, merge tags, images, links. */

const page = (body: string, lang = ' lang="en"') => `<!doctype html><html${lang}><head><title>x</title><style>p{}</style></head><body>${body}</body></html>`;
const TEXT = "<p>" + "Plenty of words about the product and why it matters. ".repeat(8) + "</p>";
const ids = (checks: { id: string }[]) => checks.map((c) => c.id);

describe("structureChecks", () => {
  test("a rendered email passes: lang, heading order, presentation tables, enough text", async () => {
    const { html } = await renderEmail({ document: fullDocument(), brand });
    expect(structureChecks(html)).toEqual([]);
  });

  test("missing lang, a skipped heading level, a bare table and a mostly-image email are flagged", () => {
    const html = page(`<h1>Hi</h1><h3>Skipped</h3><table role="presentation"><tr><td><img src="a.png"></td></tr></table><table><tr><td><img src="b.png"></td></tr></table><p>Short.</p>`, "");
    const checks = structureChecks(html);
    expect(ids(checks)).toEqual(["lang-missing", "heading-order", "table-role", "text-image-ratio"]);
    expect(checks.find((c) => c.id === "heading-order")!.message).toContain("an <h3> comes after an <h1>");
    expect(checks.find((c) => c.id === "table-role")!.message).toContain("1 of 2 layout tables");
    expect(checks.find((c) => c.id === "text-image-ratio")!.message).toContain("for 2 images");
    expect(ids(structureChecks(page(`<h1>Hi</h1><h2>Next</h2><table role="presentation"><tr><td><img src="a.png"></td></tr></table>${TEXT}`)))).toEqual([]);
    expect(structureChecks(page("<h2>Starts at two</h2>" + TEXT))[0]!.message).toContain("first, before any <h1>");
  });
});

describe("mergeTagChecks", () => {
  test("unknown tags are warnings; tags a platform lacks are named per platform", () => {
    const checks = mergeTagChecks(page(`<p>Hi {{first_name|there}} {{frist_name}}</p><a href="{{view_in_browser_url}}">web</a> {{address}}`));
    const unknown = checks.find((c) => c.id === "merge-tag-unknown")!;
    expect(unknown.level).toBe("warning");
    expect(unknown.message).toStartWith("Unknown merge tag {{frist_name}}: ");
    expect(ids(checks).filter((id) => id.startsWith("merge-tag-unsupported")).sort()).toEqual(["merge-tag-unsupported:braze", "merge-tag-unsupported:customerio", "merge-tag-unsupported:sendgrid"]);
    expect(checks.find((c) => c.id === "merge-tag-unsupported:braze")!.message).toContain("{{view_in_browser_url}}, {{address}}");
    expect(checks.find((c) => c.id === "merge-tag-unsupported:customerio")!.message).toContain("{{address}}");
    expect(mergeTagChecks(page("<p>{{first_name|there}} {{email}} {{unsubscribe}}</p>"))).toEqual([]);
  });

  test("checkEmail runs the new checks", async () => {
    const document = fullDocument();
    const { html } = await renderEmail({ document, brand });
    const broken = html.replace("<html ", "<html data-x ").replace(/\slang="en"/, "") + "{{nope}}";
    const checks = checkEmail({ document, brand, html: broken, clients: [] });
    expect(ids(checks)).toContain("lang-missing");
    expect(ids(checks)).toContain("merge-tag-unknown");
  });
});

describe("imageChecks", () => {
  const base = "https://studio.example.test";
  test("total image weight: info under the limit, warning over it", async () => {
    const small = new Uint8Array(await sharp({ create: { width: 10, height: 10, channels: 3, background: "#ff0000" } }).png().toBuffer());
    const noisy = new Uint8Array(await sharp(Buffer.from(Array.from({ length: 700 * 700 * 3 }, (_, i) => (i * 2654435761) % 251)), { raw: { width: 700, height: 700, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer());
    expect(noisy.byteLength).toBeGreaterThan(MAX_TOTAL_IMAGE_BYTES);
    const html = `<img src="${base}/assets/ast_small"><img src="${base}/assets/ast_big"><img src="https://elsewhere.example/x.png">`;
    const light = await imageChecks({ html, base, brand, load: async (id) => (id === "ast_small" ? small : undefined) });
    expect(light).toEqual([{ id: "image-weight", level: "info", message: "The images weigh 0 KB in all." }]);
    const heavy = await imageChecks({ html, base, brand, load: async (id) => (id === "ast_small" ? small : noisy) });
    expect(heavy.find((c) => c.id === "image-weight")).toMatchObject({ level: "warning", message: expect.stringContaining("over 977 KB") });
  });
});

describe("linkStatusChecks (opt-in, through the guarded fetch)", () => {
  let site: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    site = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new URL(req.url).pathname === "/ok" ? new Response("fine") : new URL(req.url).pathname === "/gone" ? new Response("no", { status: 404 }) : new Response("boom", { status: 503 }) });
  });
  afterAll(() => site.stop(true));

  test("4xx is an error, 5xx a warning, an answering link nothing; merge-tag links are skipped", async () => {
    const url = (p: string) => `http://127.0.0.1:${site.port}${p}`;
    const html = `<a href="${url("/ok")}">ok</a><a href="${url("/gone")}">gone</a><a href="${url("/down")}">down</a><a href="${url("/ok")}">again</a><a href="{{unsubscribe_url}}">u</a><a href="mailto:x@y.z">m</a>`;
    expect(linksIn(html)).toEqual([url("/ok"), url("/gone"), url("/down")]);
    const checks = await linkStatusChecks({ html, allowPrivate: true });
    expect(checks).toEqual([
      { id: "link-broken:2", level: "error", message: `The link ${url("/gone")} answers 404.` },
      { id: "link-broken:3", level: "warning", message: `The link ${url("/down")} answers 503.` },
      { id: "links-checked", level: "info", message: "Checked 3 links: 1 answers." },
    ]);
    // Without IMPORT_ALLOW_PRIVATE the guarded fetch refuses loopback: reported, not fetched.
    const refused = await linkStatusChecks({ html: `<a href="${url("/ok")}">ok</a>`, allowPrivate: false });
    expect(refused[0]).toMatchObject({ id: "link-broken:1", level: "warning" });
  });
});
