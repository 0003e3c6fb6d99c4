import { BriefInput } from "../email/studio";
import { assetUrl } from "../assets/store";

/** The brief form: values to show again, and the posted form as the API's brief input. */

/** How many product rows the form shows (empty rows are ignored). */
export const PRODUCT_ROWS = 3;
/** The brief takes 3–4 reference screenshots; the API accepts up to 6. */
export const MAX_REFERENCES = 6;
/** Offline pace choices: pause between sections, so a demo can be watched (and left, and rejoined). */
export const OFFLINE_PACES = { fast: 250, slow: 1_500 } as const;

export interface BriefFormValues {
  brandId: string;
  objective: string;
  audience: string;
  tone: string;
  hook: string;
  products: Array<{ name: string; description: string; url: string }>;
  ctaLabel: string;
  ctaUrl: string;
  references: Array<{ id: string; url: string }>;
  pace: keyof typeof OFFLINE_PACES;
}

export function emptyBriefForm(brandId = ""): BriefFormValues {
  return { brandId, objective: "", audience: "", tone: "", hook: "", products: [], ctaLabel: "", ctaUrl: "", references: [], pace: "fast" };
}

type Form = Record<string, string | File | (string | File)[]>;
const strings = (form: Form, key: string): string[] => {
  const value = form[key];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === "string");
};
const string = (form: Form, key: string) => (strings(form, key)[0] ?? "").trim();

export function readBriefForm(form: Form, base: string): { values: BriefFormValues; referenceFiles: File[] } {
  const products: BriefFormValues["products"] = [];
  for (let i = 0; i < PRODUCT_ROWS; i++) {
    const row = { name: string(form, `product.${i}.name`), description: string(form, `product.${i}.description`), url: string(form, `product.${i}.url`) };
    if (row.name || row.description || row.url) products.push(row);
  }
  const value = form.referenceFiles;
  const files = (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is File => typeof v === "object" && v !== null && (v as File).size > 0);
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
      references: strings(form, "referenceAssetIds").filter(Boolean).slice(0, MAX_REFERENCES).map((id) => ({ id, url: assetUrl(base, id) })),
      pace: string(form, "pace") === "slow" ? "slow" : "fast",
    },
    referenceFiles: files,
  };
}

const LABELS: Record<string, string> = { brandId: "Brand", objective: "Objective", audience: "Audience", tone: "Tone", hook: "Headline hook", products: "Products", cta: "Call to action", referenceAssetIds: "Reference screenshots" };

/** Form values → the API's brief input, or a message that says what to fix. */
export function toBriefInput(values: BriefFormValues): { ok: true; input: BriefInput } | { ok: false; message: string } {
  if (!values.brandId) return { ok: false, message: "Choose a brand." };
  for (const key of ["objective", "audience", "tone", "hook"] as const) if (!values[key]) return { ok: false, message: `${LABELS[key]}: please fill this in.` };
  if (values.products.some((p) => !p.name)) return { ok: false, message: "Products: give every product a name (or clear its row)." };
  if ((values.ctaLabel && !values.ctaUrl) || (!values.ctaLabel && values.ctaUrl)) return { ok: false, message: "Call to action: give both the button label and its link." };
  const parsed = BriefInput.safeParse({
    brandId: values.brandId,
    objective: values.objective,
    audience: values.audience,
    tone: values.tone,
    hook: values.hook,
    ...(values.products.length ? { products: values.products.map((p) => ({ name: p.name, ...(p.description ? { description: p.description } : {}), ...(p.url ? { url: p.url } : {}) })) } : {}),
    ...(values.ctaLabel ? { cta: { label: values.ctaLabel, url: values.ctaUrl } } : {}),
    ...(values.references.length ? { referenceAssetIds: values.references.map((r) => r.id) } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, message: `${LABELS[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}.` };
  }
  return { ok: true, input: parsed.data };
}
