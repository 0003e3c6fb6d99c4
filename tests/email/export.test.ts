import { describe, expect, test } from "bun:test";
import { strFromU8, unzipSync } from "fflate";
import { exportZip, safeFileName } from "../../src/email/export";
import { renderEmail } from "../../src/email/render";
import { emailToText } from "../../src/email/text";
import { brand, fullDocument } from "./fixtures";

describe("exportZip", () => {
  test("contains the HTML, MJML, text and images, with the HTML pointing at the images by relative path", async () => {
    const document = fullDocument();
    const heroUrl = "https://cdn.glow.example/hero.png";
    const queryUrl = "https://glow.example/serum?a=1&b=2"; // escaped as &amp; in the HTML
    const { html, mjml } = await renderEmail({ document, brand });
    const text = emailToText(html);
    const hero = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const other = new Uint8Array([9, 9, 9]);
    const zip = exportZip({ html, mjml, text, images: [{ name: "hero.png", bytes: hero, url: heroUrl }, { name: "product.png", bytes: other, url: queryUrl }] });

    const files = unzipSync(zip);
    expect(Object.keys(files).sort()).toEqual(["email.html", "email.mjml", "email.txt", "images/hero.png", "images/product.png"]);
    expect(files["images/hero.png"]).toEqual(hero);
    expect(strFromU8(files["email.txt"]!)).toBe(text);
    const zippedHtml = strFromU8(files["email.html"]!);
    expect(zippedHtml).toContain(`src="images/hero.png"`);
    expect(zippedHtml).not.toContain(heroUrl);
    expect(zippedHtml).toContain(`href="images/product.png"`);
    expect(zippedHtml).not.toContain("serum?a=1&amp;b=2");
    expect(strFromU8(files["email.mjml"]!)).toContain(`src="images/hero.png"`);
  });

  test("makes image names safe and unique", () => {
    const bytes = new Uint8Array([1]);
    const zip = exportZip({ html: "", mjml: "", text: "", baseName: "../Spring sale!", images: [{ name: "../../etc/passwd", bytes }, { name: "a b.png", bytes }, { name: "a-b.png", bytes }, { name: "..", bytes }] });
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(["Spring-sale-.html", "Spring-sale-.mjml", "Spring-sale-.txt", "images/a-b-2.png", "images/a-b.png", "images/image-4", "images/passwd"]);
  });

  test("safeFileName strips folders and odd characters", () => {
    expect(safeFileName("C:\\x\\hero image (1).png")).toBe("hero-image-1-.png");
    expect(safeFileName("...")).toBe("file");
  });
});
