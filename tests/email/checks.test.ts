import { describe, expect, test } from "bun:test";
import { checkEmail, contrastRatio, GMAIL_CLIP_BYTES, type EmailCheck } from "../../src/email/checks";
import type { Brand, EmailDocument } from "../../src/email/document";
import { renderEmail } from "../../src/email/render";
import { brand, fullDocument } from "./fixtures";

async function check(document: EmailDocument, b: Brand = brand, extra: Partial<Parameters<typeof checkEmail>[0]> = {}): Promise<EmailCheck[]> {
  const rendered = await renderEmail({ document, brand: b });
  return checkEmail({ document, brand: b, html: rendered.html, mjmlErrors: rendered.errors, ...extra });
}

const ids = (checks: EmailCheck[]) => checks.map((c) => c.id);
const find = (checks: EmailCheck[], id: string) => checks.find((c) => c.id === id);

describe("contrastRatio", () => {
  test("follows WCAG 2", () => {
    expect(contrastRatio("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrastRatio("#fff", "#ffffff")).toBeCloseTo(1, 5);
    expect(contrastRatio("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
    expect(contrastRatio("#ffffff", "#777777")).toBe(contrastRatio("#777777", "#ffffff"));
    expect(contrastRatio("red", "#ffffff")).toBeNaN();
  });
});

describe("checkEmail", () => {
  test("a well-formed email has no errors or warnings, only information", async () => {
    const checks = await check(fullDocument());
    expect(checks.filter((c) => c.level !== "info")).toEqual([]);
    expect(ids(checks)).toContain("html-size");
    expect(ids(checks)).toContain("client-support");
    expect(new Set(ids(checks)).size).toBe(checks.length);
  });

  test("warns about low text contrast with the ratio", async () => {
    const checks = await check(fullDocument(), { ...brand, colors: { ...brand.colors, text: "#aaaaaa", background: "#ffffff" } });
    const contrast = find(checks, "contrast-text");
    expect(contrast?.level).toBe("warning");
    expect(contrast?.message).toContain("2.32:1");
  });

  test("warns when no button text colour can reach 4.5:1 on the primary colour", async () => {
    const checks = await check(fullDocument(), { ...brand, colors: { primary: "#777777", background: "#ffffff" } });
    expect(find(checks, "contrast-button")).toMatchObject({ level: "warning", sectionId: "cta-1" });
    expect(find(checks, "contrast-hero")).toMatchObject({ level: "warning", sectionId: "hero-1" });
  });

  test("flags missing alt text on the section", async () => {
    const doc = fullDocument();
    doc.sections[0] = { id: "hero-1", type: "hero", fields: { imageUrl: "https://cdn.glow.example/h.png", imageAlt: " " } };
    doc.sections[8] = { id: "image-1", type: "image", fields: { url: "https://cdn.glow.example/i.png", alt: "" } };
    const checks = await check(doc);
    expect(find(checks, "alt-missing:hero-1")).toMatchObject({ level: "warning", sectionId: "hero-1" });
    expect(find(checks, "alt-missing:image-1")).toMatchObject({ level: "warning", sectionId: "image-1" });
  });

  test("flags missing, invalid and insecure CTA links", async () => {
    const doc = fullDocument();
    doc.sections[4] = { id: "cta-1", type: "cta", fields: { label: "Shop", url: "" } };
    expect(find(await check(doc), "cta-url-missing:cta-1")?.level).toBe("error");
    doc.sections[4] = { id: "cta-1", type: "cta", fields: { label: "Shop", url: "javascript:alert(1)" } };
    expect(find(await check(doc), "cta-url-invalid:cta-1")?.message).toContain(`replaced by "#"`);
    doc.sections[4] = { id: "cta-1", type: "cta", fields: { label: "Shop", url: "http://glow.example" } };
    expect(find(await check(doc), "link-insecure:cta-1")?.level).toBe("warning");
    doc.sections.splice(4, 1);
    expect(find(await check(doc), "cta-missing")?.level).toBe("warning");
  });

  test("requires a footer with a postal address and an unsubscribe link (CAN-SPAM)", async () => {
    const doc = fullDocument();
    doc.sections[10] = { id: "footer-1", type: "footer", fields: { address: "", unsubscribeUrl: "" } };
    const checks = await check(doc);
    expect(find(checks, "footer-address-missing:footer-1")?.level).toBe("error");
    expect(find(checks, "unsubscribe-missing:footer-1")?.level).toBe("error");

    doc.sections[10] = { id: "footer-1", type: "footer", fields: { address: "1 Main St", unsubscribeUrl: "javascript:alert(1)" } };
    expect(find(await check(doc), "unsubscribe-invalid:footer-1")?.level).toBe("error");

    for (const tag of ["{{unsubscribe}}", "*|UNSUB|*", "%%unsubscribe%%", "https://glow.example/unsub?e={{email}}"]) {
      doc.sections[10] = { id: "footer-1", type: "footer", fields: { address: "1 Main St", unsubscribeUrl: tag } };
      expect(ids(await check(doc)).filter((id) => id.startsWith("unsubscribe"))).toEqual([]);
    }

    doc.sections.splice(10, 1);
    expect(find(await check(doc), "footer-missing")?.level).toBe("error");
  });

  test("reports HTML over Gmail's clipping limit as an error", () => {
    const html = `<html><body>${"x".repeat(GMAIL_CLIP_BYTES + 1)}</body></html>`;
    const checks = checkEmail({ document: fullDocument(), brand, html, clients: [] });
    expect(find(checks, "html-size")?.level).toBe("error");
    expect(find(checks, "html-size")?.message).toContain("Gmail clips");
  });

  test("checks subject and preview text lengths", async () => {
    const doc = fullDocument();
    doc.subject = "S".repeat(70);
    doc.preheader = undefined;
    const checks = await check(doc);
    expect(find(checks, "subject-length")?.level).toBe("warning");
    expect(find(checks, "preheader-missing")?.level).toBe("warning");
    expect(find(await check(doc, brand, { preheader: "P".repeat(140) }), "preheader-length")?.level).toBe("warning");
  });

  test("reports MJML errors", () => {
    const checks = checkEmail({ document: fullDocument(), brand, html: "<p>x</p>", clients: [], mjmlErrors: [{ message: "Line 3 (mj-text): Attribute colr is illegal", line: 3 }] });
    expect(find(checks, "mjml:1")).toEqual({ id: "mjml:1", level: "error", message: "MJML: Line 3 (mj-text): Attribute colr is illegal" });
  });

  test("notes when the sections depart from the brand's formula", async () => {
    const doc = fullDocument();
    const checks = await check(doc, { ...brand, formula: [{ type: "hero" }, { type: "cta" }, { type: "footer" }] });
    expect(find(checks, "formula-order")?.level).toBe("info");
  });

  test("checks email-client support with caniemail: MJML's own output raises no warnings, unsupported features do", async () => {
    const checks = await check(fullDocument());
    expect(checks.filter((c) => c.id.startsWith("client-support") && c.level !== "info")).toEqual([]);
    expect(find(checks, "client-support:border-radius")?.message).toContain("Outlook (Windows)");

    const html = `<!doctype html><html><body><video src="https://x.example/v.mp4"></video><div style="position:absolute">x</div></body></html>`;
    const raw = checkEmail({ document: fullDocument(), brand, html });
    expect(find(raw, "client-support:video-element")?.level).toBe("warning");
    expect(find(raw, "client-support:position")?.message).toContain("Gmail");
  });
});
