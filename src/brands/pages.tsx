import { Hono, type Context } from "hono";
import { assetUrl, type AssetStore } from "../assets/store";
import { ownsAssets, saveFormUploads } from "../assets/uploads";
import { BrandInput, type BrandStore } from "./store";
import { formulaOf } from "../email/document";
import { BrandsPage, BrandFormPage, PalettePreview, type BrandCard } from "../../views/brands";
import { requireUser } from "../web/account-pages";
import { baseUrl, fragment, formCsrfOk, html, notFoundPage, readForm, FORM_EXPIRED, type PageEnv } from "../web/forms";
import { applyFormulaAction, brandFormValues, emptyBrandForm, paletteReport, readBrandForm, toBrandInput, DEFAULT_BRAND_COLORS, type BrandFormValues } from "./form";

export interface BrandPagesOptions {
  brands: BrandStore;
  assets: AssetStore;
  publicUrl: string | undefined;
  /** True when no AI keys are set (the offline banner). */
  offline: () => boolean;
}

/** The brand pages: the list, the brand form with its live palette check, and saving a brand. */
export function brandPages(options: BrandPagesOptions) {
  const { brands, assets } = options;
  const app = new Hono<PageEnv>();
  const base = (c: Context) => baseUrl(c, options.publicUrl);
  const user = (c: Context<PageEnv>) => c.get("user")!;
  /** The team gate: set with the signed-in person by `loadUser`, required by every store call. */
  const scope = (c: Context<PageEnv>) => c.get("scope");
  const common = (c: Context<PageEnv>) => ({ user: user(c), csrfToken: c.get("csrfToken")!, offline: options.offline() });

  for (const path of ["/brands", "/brands/*"]) app.use(path, requireUser);

  app.get("/brands", async (c) => {
    const list = await brands.brands(scope(c));
    const cards: BrandCard[] = list.map((b) => ({
      id: b.id,
      name: b.name,
      colors: b.data.colors,
      ...(b.data.logoAssetId ? { logoUrl: assetUrl(base(c), b.data.logoAssetId) } : {}),
      formula: formulaOf({ formula: b.data.formula?.map((s) => (typeof s === "string" ? { type: s } : s)) }).map((s) => s.type),
    }));
    return html(c, <BrandsPage {...common(c)} brands={cards} />);
  });

  app.get("/brands/new", (c) => {
    const values = emptyBrandForm();
    return html(c, <BrandFormPage {...common(c)} values={values} report={paletteReport(values.colors, values.fonts)} />);
  });

  // The live preview beside the colour inputs (an htmx partial).
  app.get("/brands/palette", (c) => {
    const q = (name: string, fallback: string) => c.req.query(name) || fallback;
    const colors = { primary: q("primary", DEFAULT_BRAND_COLORS.primary), secondary: q("secondary", DEFAULT_BRAND_COLORS.secondary), background: q("background", DEFAULT_BRAND_COLORS.background), text: q("text", DEFAULT_BRAND_COLORS.text) };
    return fragment(c, <PalettePreview report={paletteReport(colors, { heading: q("headingFont", ""), body: q("bodyFont", "") })} />);
  });

  async function saveBrand(c: Context<PageEnv>, brandId: string | undefined) {
    const form = await readForm(c);
    const { values: posted, logoFile, productFiles, action, addType } = readBrandForm(form, base(c));
    let values: BrandFormValues = posted;
    const again = (error: string | undefined, status: 200 | 400 | 403 = 400) =>
      html(c, <BrandFormPage {...common(c)} brandId={brandId} values={values} report={paletteReport(values.colors, values.fonts)} error={error} />, status);
    if (!formCsrfOk(c, form)) return again(FORM_EXPIRED, 403);
    // Files chosen without JavaScript are stored first, so a re-shown form keeps them.
    if (logoFile) {
      const saved = await saveFormUploads(assets, scope(c), [logoFile], "logo");
      if (saved.error) return again(saved.error);
      values = { ...values, logo: { id: saved.ids[0]!, url: assetUrl(base(c), saved.ids[0]!) } };
    }
    if (productFiles.length > 0) {
      const saved = await saveFormUploads(assets, scope(c), productFiles, "product");
      values = { ...values, products: [...values.products, ...saved.ids.map((id) => ({ id, url: assetUrl(base(c), id) }))] };
      if (saved.error) return again(saved.error);
    }
    if (action) {
      values = applyFormulaAction(values, action, addType);
      return again(undefined, 200);
    }
    const input = toBrandInput(values);
    if (!input.ok) return again(input.message);
    if (!(await ownsAssets(assets, scope(c), [...(input.input.logoAssetId ? [input.input.logoAssetId] : []), ...(input.input.productImageAssetIds ?? [])]))) return again("An uploaded image is missing; upload it again.");
    if (brandId) {
      // Settings this form does not show (added by other features) are kept as they were.
      const stored = (await brands.brand(scope(c), brandId))?.data ?? {};
      const kept = Object.fromEntries(Object.entries(stored).filter(([key]) => !(key in BrandInput.shape)));
      await brands.updateBrand(scope(c), brandId, { ...kept, ...input.input } as typeof input.input);
      return c.redirect(`/brands/${encodeURIComponent(brandId)}?saved=1`, 303);
    }
    const created = await brands.createBrand(scope(c), input.input);
    return c.redirect(`/brands/${encodeURIComponent(created.id)}?saved=1`, 303);
  }

  app.post("/brands", (c) => saveBrand(c, undefined));

  app.get("/brands/:id", async (c) => {
    const brand = await brands.brand(scope(c), c.req.param("id"));
    if (!brand) return notFoundPage(c, "brand", { href: "/brands", label: "All brands" });
    const values = brandFormValues(brand, base(c));
    return html(c, <BrandFormPage {...common(c)} brandId={brand.id} values={values} report={paletteReport(values.colors, values.fonts)} saved={c.req.query("saved") === "1"} />);
  });

  app.post("/brands/:id", async (c) => {
    const brand = await brands.brand(scope(c), c.req.param("id"));
    if (!brand) return notFoundPage(c, "brand", { href: "/brands", label: "All brands" });
    return saveBrand(c, brand.id);
  });

  return app;
}
