import { BrandInput, type BrandRecord } from "./store";
import { SECTION_TYPES, DEFAULT_FORMULA, type SectionType } from "../email/document";
import { contrastRatio, emailTheme, MIN_CONTRAST_LARGE_TEXT, MIN_CONTRAST_TEXT } from "../email/theme";
import { assetUrl } from "../assets/store";
import { darkPaletteOf, proposeDarkPalette, type DarkPalette } from "../email/dark-mode";

/**
 * The brand form: what it shows (values with asset previews), how a posted form becomes a
 * `BrandInput`, and the palette report (swatches and contrast) shown beside it.
 */

export interface BrandFormValues {
  name: string;
  colors: { primary: string; secondary: string; background: string; text: string };
  /** Shown filled with the proposal; stored only where it differs from the proposal (so it follows the light colours). */
  darkColors: DarkPalette;
  fonts: { heading: string; body: string };
  voice: string;
  logo?: { id: string; url: string };
  products: Array<{ id: string; url: string }>;
  formula: Array<{ type: SectionType; guidance: string }>;
  footer: { address: string; unsubscribeUrl: string };
}

export const DEFAULT_BRAND_COLORS = { primary: "#4f46e5", secondary: "#b45309", background: "#ffffff", text: "#1f2328" };

/** Web-safe font names suggested in the font inputs (any name works; email clients fall back). */
export const FONT_SUGGESTIONS = ["Helvetica", "Arial", "Verdana", "Tahoma", "Trebuchet MS", "Georgia", "Times New Roman", "Courier New", "Playfair Display", "Lora", "Inter"];

export function emptyBrandForm(): BrandFormValues {
  return {
    name: "",
    colors: { ...DEFAULT_BRAND_COLORS },
    darkColors: proposeDarkPalette(DEFAULT_BRAND_COLORS),
    fonts: { heading: "", body: "" },
    voice: "",
    products: [],
    formula: DEFAULT_FORMULA.map((step) => ({ type: step.type, guidance: "" })),
    footer: { address: "", unsubscribeUrl: "" },
  };
}

/** A stored brand as form values. */
export function brandFormValues(record: BrandRecord, base: string): BrandFormValues {
  const d = record.data;
  const formula = d.formula && d.formula.length > 0 ? d.formula.map((s) => (typeof s === "string" ? { type: s, guidance: "" } : { type: s.type, guidance: s.guidance ?? "" })) : emptyBrandForm().formula;
  return {
    name: d.name,
    colors: {
      primary: d.colors.primary,
      secondary: d.colors.secondary ?? DEFAULT_BRAND_COLORS.secondary,
      background: d.colors.background ?? DEFAULT_BRAND_COLORS.background,
      text: d.colors.text ?? DEFAULT_BRAND_COLORS.text,
    },
    darkColors: darkPaletteOf(d),
    fonts: { heading: d.fonts?.heading ?? "", body: d.fonts?.body ?? "" },
    voice: d.voice ?? "",
    ...(d.logoAssetId ? { logo: { id: d.logoAssetId, url: assetUrl(base, d.logoAssetId) } } : {}),
    products: (d.productImageAssetIds ?? []).map((id) => ({ id, url: assetUrl(base, id) })),
    formula,
    footer: { address: d.footer?.address ?? "", unsubscribeUrl: d.footer?.unsubscribeUrl ?? "" },
  };
}

type Form = Record<string, string | File | (string | File)[]>;

const strings = (form: Form, key: string): string[] => {
  const value = form[key];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === "string");
};
const string = (form: Form, key: string): string => strings(form, key)[0] ?? "";
const files = (form: Form, key: string): File[] => {
  const value = form[key];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is File => typeof v === "object" && v !== null && "arrayBuffer" in v && (v as File).size > 0);
};

/** The posted form as form values (for re-showing it), and the files chosen without JavaScript. */
export function readBrandForm(form: Form, base: string): { values: BrandFormValues; logoFile?: File; productFiles: File[]; action?: string; addType?: string } {
  const types = strings(form, "formulaType");
  const guidance = strings(form, "formulaGuidance");
  const logoId = string(form, "logoAssetId");
  const values: BrandFormValues = {
    name: string(form, "name").trim(),
    colors: {
      primary: string(form, "primary") || DEFAULT_BRAND_COLORS.primary,
      secondary: string(form, "secondary") || DEFAULT_BRAND_COLORS.secondary,
      background: string(form, "background") || DEFAULT_BRAND_COLORS.background,
      text: string(form, "text") || DEFAULT_BRAND_COLORS.text,
    },
    darkColors: { background: "", text: "", heading: "" },
    fonts: { heading: string(form, "headingFont").trim(), body: string(form, "bodyFont").trim() },
    voice: string(form, "voice").trim(),
    ...(logoId ? { logo: { id: logoId, url: assetUrl(base, logoId) } } : {}),
    products: strings(form, "productImageAssetIds").filter(Boolean).map((id) => ({ id, url: assetUrl(base, id) })),
    formula: types.filter((t): t is SectionType => (SECTION_TYPES as readonly string[]).includes(t)).map((type, i) => ({ type, guidance: (guidance[i] ?? "").trim() })),
    footer: { address: string(form, "footerAddress").trim(), unsubscribeUrl: string(form, "unsubscribeUrl").trim() },
  };
  const proposed = proposeDarkPalette(values.colors);
  values.darkColors = { background: string(form, "darkBackground") || proposed.background, text: string(form, "darkText") || proposed.text, heading: string(form, "darkHeading") || proposed.heading };
  const logoFile = files(form, "logoFile")[0];
  return { values, ...(logoFile ? { logoFile } : {}), productFiles: files(form, "productFiles"), action: string(form, "formulaAction") || undefined, addType: string(form, "addType") || undefined };
}

/**
 * Applies a formula button pressed without JavaScript (`up:2`, `down:0`, `remove:1`, `add`):
 * the form comes back changed but unsaved, as it would with the script.
 */
export function applyFormulaAction(values: BrandFormValues, action: string, addType: string | undefined): BrandFormValues {
  const formula = [...values.formula];
  const [verb, at] = action.split(":");
  const index = Number(at);
  if (verb === "add" && addType && (SECTION_TYPES as readonly string[]).includes(addType)) formula.push({ type: addType as SectionType, guidance: "" });
  else if (verb === "remove" && formula[index]) formula.splice(index, 1);
  else if ((verb === "up" || verb === "down") && formula[index]) {
    const to = verb === "up" ? index - 1 : index + 1;
    if (to >= 0 && to < formula.length) [formula[index], formula[to]] = [formula[to]!, formula[index]!];
  }
  return { ...values, formula };
}

/** The dark colours that differ from the proposal for the light ones (the rest keep following it). */
function ownDarkColors(values: BrandFormValues): { darkColors?: BrandInput["darkColors"] } {
  const proposed = proposeDarkPalette(values.colors);
  const own = Object.fromEntries((["background", "text", "heading"] as const).filter((k) => values.darkColors[k].toLowerCase() !== proposed[k]).map((k) => [k, values.darkColors[k]]));
  return Object.keys(own).length > 0 ? { darkColors: own } : {};
}

/** Form values → the API's brand input, or a message that says what to fix. */
export function toBrandInput(values: BrandFormValues): { ok: true; input: BrandInput } | { ok: false; message: string } {
  const candidate = {
    name: values.name,
    colors: values.colors,
    ...ownDarkColors(values),
    ...(values.fonts.heading || values.fonts.body ? { fonts: { ...(values.fonts.heading ? { heading: values.fonts.heading } : {}), ...(values.fonts.body ? { body: values.fonts.body } : {}) } } : {}),
    ...(values.voice ? { voice: values.voice } : {}),
    ...(values.logo ? { logoAssetId: values.logo.id } : {}),
    ...(values.products.length ? { productImageAssetIds: values.products.map((p) => p.id) } : {}),
    formula: values.formula.map((s) => (s.guidance ? { type: s.type, guidance: s.guidance } : s.type)),
    ...(values.footer.address ? { footer: { address: values.footer.address, ...(values.footer.unsubscribeUrl ? { unsubscribeUrl: values.footer.unsubscribeUrl } : {}) } } : {}),
  };
  if (!values.name) return { ok: false, message: "Give the brand a name." };
  if (values.formula.length === 0) return { ok: false, message: "The formula needs at least one section." };
  if (!values.footer.address && values.footer.unsubscribeUrl) return { ok: false, message: "Add the postal address for the footer (it is required with an unsubscribe link)." };
  const parsed = BrandInput.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const labels: Record<string, string> = { name: "Name", colors: "Colours", fonts: "Fonts", voice: "Voice", formula: "Formula", footer: "Footer", logoAssetId: "Logo", productImageAssetIds: "Product images" };
    const field = labels[String(issue.path[0])] ?? String(issue.path[0]);
    const detail = issue.path[0] === "footer" && issue.path[1] === "unsubscribeUrl" ? "the unsubscribe link must be an http(s) URL or an ESP merge tag such as {{unsubscribe_url}}" : issue.message;
    return { ok: false, message: `${field}: ${detail}.` };
  }
  return { ok: true, input: parsed.data };
}

export interface ContrastPair {
  label: string;
  foreground: string;
  background: string;
  ratio: number;
  minimum: number;
  ok: boolean;
}

export interface PaletteReport {
  colors: BrandFormValues["colors"];
  theme: { background: string; text: string; heading: string; buttonBackground: string; buttonText: string; secondary: string; headingFont: string; bodyFont: string };
  pairs: ContrastPair[];
  /** Set when the primary colour is too light (or dark) for headings, which then use the text colour. */
  primaryFallback: boolean;
}

/** The colours as the email will paint them, and the contrast of each pair that appears in it. */
export function paletteReport(colors: BrandFormValues["colors"], fonts: BrandFormValues["fonts"] = { heading: "", body: "" }): PaletteReport {
  const theme = emailTheme({ colors, fonts: { ...(fonts.heading ? { heading: fonts.heading } : {}), ...(fonts.body ? { body: fonts.body } : {}) } });
  const pair = (label: string, foreground: string, background: string, minimum: number): ContrastPair => {
    const ratio = contrastRatio(foreground, background);
    return { label, foreground, background, ratio: Number.isNaN(ratio) ? 0 : ratio, minimum, ok: ratio >= minimum };
  };
  return {
    colors,
    theme,
    primaryFallback: theme.heading !== theme.primary,
    pairs: [
      pair("Body text on background", theme.text, theme.background, MIN_CONTRAST_TEXT),
      pair("Headings on background", theme.heading, theme.background, MIN_CONTRAST_LARGE_TEXT),
      pair("Button label on primary", theme.buttonText, theme.buttonBackground, MIN_CONTRAST_TEXT),
      pair("Accent lines (secondary) on background", theme.secondary, theme.background, MIN_CONTRAST_LARGE_TEXT),
    ],
  };
}
