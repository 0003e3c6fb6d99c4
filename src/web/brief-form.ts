import { BriefInput, MAX_REFERENCES, MIN_REFERENCES } from "../email/studio";
import { assetUrl } from "../assets/store";

/** The brief form: values to show again, and the posted form as the API's brief input. */

/** How many product rows the form shows (empty rows are ignored). */
export const PRODUCT_ROWS = 3;
export { MAX_REFERENCES, MIN_REFERENCES };
/** Offline pace choices: pause between sections, so a demo can be watched (and left, and rejoined). */
export const OFFLINE_PACES = { fast: 250, slow: 1_500 } as const;

export interface BriefProductValues {
  name: string;
  description: string;
  url: string;
  /** The product photo: one of the brand's product images, or one uploaded with the form. */
  imageAssetId: string;
}

export interface BriefFormValues {
  brandId: string;
  objective: string;
  audience: string;
  tone: string;
  hook: string;
  products: BriefProductValues[];
  ctaLabel: string;
  ctaUrl: string;
  offerText: string;
  offerCode: string;
  occasion: string;
  sendDate: string;
  references: Array<{ id: string; url: string }>;
  pace: keyof typeof OFFLINE_PACES;
}

export function emptyBriefForm(brandId = ""): BriefFormValues {
  return { brandId, objective: "", audience: "", tone: "", hook: "", products: [], ctaLabel: "", ctaUrl: "", offerText: "", offerCode: "", occasion: "", sendDate: "", references: [], pace: "fast" };
}

type Form = Record<string, string | File | (string | File)[]>;
const strings = (form: Form, key: string): string[] => {
  const value = form[key];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === "string");
};
const string = (form: Form, key: string) => (strings(form, key)[0] ?? "").trim();
const files = (form: Form, key: string): File[] => {
  const value = form[key];
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is File => typeof v === "object" && v !== null && (v as File).size > 0);
};

/**
 * The posted brief form: its values, the reference screenshots posted as files (without JavaScript),
 * and each product row's uploaded photo (by row index), to store before the brief is checked.
 */
export function readBriefForm(form: Form, base: string): { values: BriefFormValues; referenceFiles: File[]; productFiles: Map<number, File> } {
  const products: BriefFormValues["products"] = [];
  const productFiles = new Map<number, File>();
  for (let i = 0; i < PRODUCT_ROWS; i++) {
    const row = { name: string(form, `product.${i}.name`), description: string(form, `product.${i}.description`), url: string(form, `product.${i}.url`), imageAssetId: string(form, `product.${i}.imageAssetId`) };
    const file = files(form, `product.${i}.imageFile`)[0];
    if (row.name || row.description || row.url || row.imageAssetId || file) {
      if (file) productFiles.set(products.length, file);
      products.push(row);
    }
  }
  return {
    values: {
      brandId: string(form, "brandId"),
      objective: string(form, "objective"),
      audience: string(form, "audience"),
      tone: string(form, "tone"),
      hook: string(form, "hook"),
      products,
      ctaLabel: string(form, "ctaLabel"),
      ctaUrl: string(form, "ctaUrl"),
      offerText: string(form, "offerText"),
      offerCode: string(form, "offerCode"),
      occasion: string(form, "occasion"),
      sendDate: string(form, "sendDate"),
      references: [...new Set(strings(form, "referenceAssetIds").filter(Boolean))].slice(0, MAX_REFERENCES + 2).map((id) => ({ id, url: assetUrl(base, id) })),
      pace: string(form, "pace") === "slow" ? "slow" : "fast",
    },
    referenceFiles: files(form, "referenceFiles"),
    productFiles,
  };
}

const LABELS: Record<string, string> = {
  brandId: "Brand",
  objective: "Objective",
  audience: "Audience",
  tone: "Tone",
  hook: "Headline hook",
  products: "Products",
  cta: "Call to action",
  offer: "Offer",
  occasion: "Occasion",
  sendDate: "Send date",
  referenceAssetIds: "Reference screenshots",
};

/**
 * Form values → the API's brief input, or a message that says what to fix: every field that needs
 * fixing at once (one sentence each, in the form's order), so one submit shows them all.
 */
export function toBriefInput(values: BriefFormValues): { ok: true; input: BriefInput } | { ok: false; message: string } {
  if (!values.brandId) return { ok: false, message: "Choose a brand." };
  const problems: string[] = [];
  /** Fields already named by a check here, so the schema does not name them a second time. */
  const named = new Set<string>();
  const problem = (field: string, message: string) => {
    named.add(field);
    problems.push(message);
  };
  for (const key of ["objective", "audience", "tone", "hook"] as const) if (!values[key]) problem(key, `${LABELS[key]}: please fill this in.`);
  if (values.products.some((p) => !p.name)) problem("products", "Products: give every product a name (or clear its row).");
  if ((values.ctaLabel && !values.ctaUrl) || (!values.ctaLabel && values.ctaUrl)) problem("cta", "Call to action: give both the button label and its link.");
  if (values.offerCode && !values.offerText) problem("offer", "Offer: say what the offer is (e.g. 20% off your first order) as well as its code.");
  if (values.references.length < MIN_REFERENCES || values.references.length > MAX_REFERENCES) {
    problem("referenceAssetIds", `Reference screenshots: add ${MIN_REFERENCES} or ${MAX_REFERENCES} screenshots of emails you like (you have ${values.references.length}).`);
  }
  const parsed = BriefInput.safeParse({
    brandId: values.brandId,
    objective: values.objective,
    audience: values.audience,
    tone: values.tone,
    hook: values.hook,
    ...(values.products.length
      ? { products: values.products.map((p) => ({ name: p.name, ...(p.description ? { description: p.description } : {}), ...(p.url ? { url: p.url } : {}), ...(p.imageAssetId ? { imageAssetId: p.imageAssetId } : {}) })) }
      : {}),
    ...(values.ctaLabel ? { cta: { label: values.ctaLabel, url: values.ctaUrl } } : {}),
    ...(values.offerText ? { offer: { text: values.offerText, ...(values.offerCode ? { code: values.offerCode } : {}) } } : {}),
    ...(values.occasion ? { occasion: values.occasion } : {}),
    ...(values.sendDate ? { sendDate: values.sendDate } : {}),
    referenceAssetIds: values.references.map((r) => r.id),
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0]);
      if (named.has(field)) continue;
      problem(field, `${LABELS[field] ?? field}: ${issue.message}.`);
    }
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, message: problems.join(" ") };
  return { ok: true, input: parsed.data };
}
