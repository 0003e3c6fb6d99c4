import { describe, expect, test } from "bun:test";
import { renderEmail } from "../../src/email/render";
import { emailToText } from "../../src/email/text";
import { brand, fullDocument, HOSTILE } from "./fixtures";

describe("emailToText", () => {
  test("keeps headings, paragraphs and links as `text (url)`, without the hidden preheader or images", async () => {
    const { html } = await renderEmail({ document: fullDocument(), brand });
    const text = emailToText(html);
    expect(text).toContain("Introducing Radiance C");
    expect(text).toContain("Hi {{ first_name }}, wake up to brighter skin");
    expect(text).toContain("Shop the serum (https://glow.example/serum?a=1&b=2)");
    expect(text).toContain("Shop Serum (https://glow.example/p1)");
    expect(text).toContain("Unsubscribe (*|UNSUB|*)");
    expect(text).toContain("First paragraph.\nSame paragraph.\n\nSecond paragraph.");
    expect(text).toContain("12 Market Street\nPortland, OR 97201");
    expect(text).toContain("Glow & Co");
    expect(text).not.toContain("Our new vitamin C serum is here"); // the preheader
    expect(text).not.toContain("cdn.glow.example"); // image URLs
    expect(text).not.toMatch(/^https?:\/\/\S+$/m); // no bare URLs from linked images
    expect(text).not.toContain("<");
  });

  test("neutralised links keep only their text; mailto stays readable", () => {
    const text = emailToText(`<p><a href="#">Shop now</a> and <a href="mailto:hi@glow.example">write to us</a></p>`);
    expect(text).toBe("Shop now and write to us (mailto:hi@glow.example)");
  });

  test("hostile markup arrives as the literal text a person typed", async () => {
    const doc = fullDocument();
    doc.sections[7] = { id: "text-1", type: "text", fields: { text: `${HOSTILE.script} ${HOSTILE.breakout}` } };
    const { html } = await renderEmail({ document: doc, brand });
    expect(emailToText(html)).toContain(`${HOSTILE.script} ${HOSTILE.breakout}`);
  });
});
