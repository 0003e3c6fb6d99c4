import { describe, expect, test } from "bun:test";
import sharp from "sharp";
import { heroImageSvg, HERO_IMAGE_HEIGHT_PX, HERO_IMAGE_WIDTH_PX, renderOfflineHeroImage } from "../../src/email/offline-image";
import { brand, brief, HOSTILE_TEXT } from "./fixtures";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async function pixel(png: Uint8Array, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

function hex(h: string): [number, number, number] {
  return [1, 3, 5].map((i) => Number.parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

function expectClose(actual: number[], expected: number[], tolerance = 8) {
  actual.forEach((c, i) => expect(Math.abs(c - expected[i]!)).toBeLessThanOrEqual(tolerance));
}

describe("renderOfflineHeroImage", () => {
  test("is a valid PNG of the expected size", async () => {
    const image = await renderOfflineHeroImage({ brand, brief });
    expect([...image.png.slice(0, 8)]).toEqual(PNG_SIGNATURE);
    expect(image).toMatchObject({ width: HERO_IMAGE_WIDTH_PX, height: HERO_IMAGE_HEIGHT_PX, contentType: "image/png" });
    const meta = await sharp(image.png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 1200, 600]);
  });

  test("paints the brand's colours: primary in one corner, secondary in the other", async () => {
    const { png } = await renderOfflineHeroImage({ brand, brief });
    expectClose(await pixel(png, 1, 1), hex(brand.colors.primary));
    expectClose(await pixel(png, 1198, 598), hex(brand.colors.secondary!));
    // Not a flat box: the middle differs from both corners.
    const stats = await sharp(png).stats();
    expect(stats.channels[0]!.stdev).toBeGreaterThan(10);
  });

  test("is deterministic for the same input and differs for another", async () => {
    const a = await renderOfflineHeroImage({ brand, brief });
    const b = await renderOfflineHeroImage({ brand: structuredClone(brand), brief: structuredClone(brief) });
    expect(Buffer.from(a.png).equals(Buffer.from(b.png))).toBe(true);
    const c = await renderOfflineHeroImage({ brand, title: "Another product" });
    expect(Buffer.from(a.png).equals(Buffer.from(c.png))).toBe(false);
  });

  test("uses the product name, then the hook, as the large text", () => {
    expect(heroImageSvg({ brand, brief }).svg).toContain(">Radiance C Serum<");
    expect(heroImageSvg({ brand, brief: { hook: "Brighter in 14 days", products: [] } }).svg).toContain(">Brighter in 14 days<");
  });

  test("escapes text in the SVG and still renders", async () => {
    const { svg } = heroImageSvg({ brand: { ...brand, name: HOSTILE_TEXT }, title: HOSTILE_TEXT });
    expect(svg).not.toContain("<script");
    expect(svg).not.toContain("<img");
    expect(svg).toContain("&lt;script&gt;");
    const image = await renderOfflineHeroImage({ brand: { ...brand, name: HOSTILE_TEXT }, title: HOSTILE_TEXT });
    expect((await sharp(image.png).metadata()).width).toBe(1200);
  });

  test("honours a custom size", async () => {
    const image = await renderOfflineHeroImage({ brand, brief, width: 600, height: 300 });
    const meta = await sharp(image.png).metadata();
    expect([meta.width, meta.height, image.width, image.height]).toEqual([600, 300, 600, 300]);
  });
});
