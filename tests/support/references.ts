import sharp from "sharp";

/**
 * Briefs need 3–4 reference email screenshots (`referenceAssetIds`). `referenceAssets` uploads
 * `count` small, distinct PNGs as `kind=reference` assets with the given token and returns their ids,
 * ready for `POST /api/briefs`:
 *
 * @example
 * const referenceAssetIds = await referenceAssets(server.url, token);
 * await call("POST", "/api/briefs", { brandId, objective, audience, tone, hook, referenceAssetIds });
 */
export async function referenceAssets(baseUrl: string, token: string, count = 3): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const png = await referencePng(i);
    const form = new FormData();
    form.append("file", new File([png as BlobPart], `reference-${i + 1}.png`, { type: "image/png" }));
    form.append("kind", "reference");
    const res = await fetch(`${baseUrl}/api/assets`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
    const body = (await res.json()) as { id?: string; error?: unknown };
    if (res.status !== 201 || !body.id) throw new Error(`uploading a reference screenshot failed: ${res.status} ${JSON.stringify(body)}`);
    ids.push(body.id);
  }
  return ids;
}

/** A 120×200 "email screenshot": a coloured header band over a light body, different for each `n`. */
export async function referencePng(n: number): Promise<Uint8Array> {
  const hue = [{ r: 190, g: 60, b: 60 }, { r: 40, g: 140, b: 90 }, { r: 50, g: 80, b: 190 }, { r: 160, g: 110, b: 30 }][n % 4]!;
  const band = await sharp({ create: { width: 120, height: 60, channels: 3, background: hue } }).png().toBuffer();
  const png = await sharp({ create: { width: 120, height: 200, channels: 3, background: { r: 245, g: 245, b: 240 - (n % 10) } } })
    .composite([{ input: band, top: 0, left: 0 }])
    .png()
    .toBuffer();
  return new Uint8Array(png);
}
