import { api, BENCH_API_TOKEN, isOurs } from "../ours";
import { referenceAssets } from "../../tests/support/references";
import { formatMs, percentile, type Column, type Outcome, type RunOptions, type Section } from "../section";
import type { RunningTarget } from "../targets";
import type { Brand, Brief } from "../../src/email/document";

/** Poll of `GET /api/emails/:id` while waiting for `ready`. */
const POLL_MS = 20;
/** A generation not ready by then failed. */
const READY_TIMEOUT_MS = 30_000;

const FULL = { renderWarmup: 5, renderSamples: 40, briefs: 3 };
const QUICK = { renderWarmup: 2, renderSamples: 10, briefs: 1 };

const BRAND: Brand = {
  name: "Glow & Co",
  colors: { primary: "#0f5132", secondary: "#c9a227", background: "#fffaf2", text: "#222222" },
  fonts: { heading: "Playfair Display", body: "Lato" },
  voice: "warm, confident, no jargon",
  logoUrl: "https://cdn.glow.example/logo.png",
  footer: { address: "12 Market Street\nPortland, OR 97201", unsubscribeUrl: "{{unsubscribe}}" },
};

const BRIEF: Brief = {
  objective: "Launch the new Vitamin C serum and drive first purchases",
  audience: "Women 30-45 with dull, tired skin",
  tone: "warm and reassuring",
  hook: "Wake up to brighter skin in 14 days",
  products: [{ name: "Radiance C Serum", description: "A 15% vitamin C serum that brightens dull skin. Fades dark spots over four weeks.", imageUrl: "https://cdn.glow.example/serum.png", url: "https://glow.example/serum" }],
  cta: { label: "Shop the serum", url: "https://glow.example/serum?utm_source=email" },
};

interface Timings {
  p50Ms: number;
  maxMs: number;
  samples: number;
}

export interface EmailResult {
  /** `renderEmail` of the offline writer's draft (MJML → HTML), in the harness process. */
  render: Outcome<Timings>;
  /** `POST /api/briefs/:id/generate {provider:"offline"}` → `GET /api/emails/:id` says ready, with the offline writer's default pacing… */
  briefToReady: Outcome<Timings>;
  /** …and with `options.sectionDelayMs: 0`: only the work. */
  briefToReadyUnpaced: Outcome<Timings>;
}

/** The email studio: rendering one email, and an offline generation from brief to ready. */
export const emailSection: Section<EmailResult | null> = {
  id: "email",
  title: "Email studio",

  async measure(target: RunningTarget, options: RunOptions): Promise<EmailResult | null> {
    if (!isOurs(target)) return null;
    const timing = options.quick ? QUICK : FULL;
    const render = await attempt(() => renderTimes(timing.renderWarmup, timing.renderSamples));
    const { id: brandId } = await api<{ id: string }>(target, "POST", "/api/brands", { name: BRAND.name, colors: BRAND.colors, fonts: BRAND.fonts, voice: BRAND.voice, footer: BRAND.footer });
    const { id: briefId } = await api<{ id: string }>(target, "POST", "/api/briefs", { brandId, objective: BRIEF.objective, audience: BRIEF.audience, tone: BRIEF.tone, hook: BRIEF.hook, products: BRIEF.products!.map(({ name, description, url }) => ({ name, description, url })), cta: BRIEF.cta, referenceAssetIds: await referenceAssets(target.url, BENCH_API_TOKEN) });
    const briefToReady = await attempt(() => generations(target, briefId, timing.briefs, undefined));
    const briefToReadyUnpaced = await attempt(() => generations(target, briefId, timing.briefs, { sectionDelayMs: 0 }));
    return { render, briefToReady, briefToReadyUnpaced };
  },

  render(columns: Column<EmailResult | null>[], options: RunOptions): string {
    const timing = options.quick ? QUICK : FULL;
    const method = `**Render**: \`renderEmail\` (document → MJML → table-based HTML) of the offline writer's draft for a six-section brief, in the harness process, ${timing.renderSamples} times after ${timing.renderWarmup} warm-up. **Brief → ready**: \`POST /api/briefs/:id/generate {provider:"offline"}\` until \`GET /api/emails/:id\` (polled every ${POLL_MS} ms) says \`ready\`, ${timing.briefs} times one after another; once with the offline writer's default pacing (a pause between sections, so progress is visible in the editor) and once with \`options.sectionDelayMs: 0\`, which leaves only the work: the run, the copy and hero sub-agents, assembly, rendering and checks.`;
    const ours = columns.find((column) => column.target.id === "ours");
    if (!ours) return `${method}\n\n_Not measured: this run did not include our server._`;
    if (!ours.outcome.ok) return `${method}\n\nfailed: ${ours.outcome.reason.split("\n")[0]}`;
    const result = ours.outcome.value;
    if (!result) return method;
    const notes: string[] = [];
    const cell = (name: string, outcome: Outcome<Timings>) => {
      if (outcome.ok) return `${formatMs(outcome.value.p50Ms)} (${formatMs(outcome.value.maxMs)})`;
      notes.push(`- ${name}: ${outcome.reason.split("\n")[0]}`);
      return "error";
    };
    const rows = [
      "| p50 (slowest), ms | ours |",
      "|---|--:|",
      `| Render an email (MJML → HTML) | ${cell("render", result.render)} |`,
      `| Offline brief → ready, default pacing | ${cell("brief → ready", result.briefToReady)} |`,
      `| Offline brief → ready, \`sectionDelayMs: 0\` | ${cell("brief → ready, unpaced", result.briefToReadyUnpaced)} |`,
    ];
    return [method, "", ...rows, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
  },
};

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function summarise(samples: number[]): Timings {
  return { p50Ms: percentile(samples, 0.5), maxMs: Math.max(...samples), samples: samples.length };
}

async function renderTimes(warmup: number, samples: number): Promise<Timings> {
  // Loaded here, not at the top: only this section needs MJML in the harness.
  const { writeOfflineEmail } = await import("../../src/email/offline-writer");
  const { renderEmail } = await import("../../src/email/render");
  const document = writeOfflineEmail({ brand: BRAND, brief: BRIEF });
  const times: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const started = performance.now();
    const result = await renderEmail({ document, brand: BRAND });
    const elapsed = performance.now() - started;
    if (result.errors.length > 0) throw new Error(`render reported ${result.errors.length} errors: ${result.errors[0]!.message}`);
    if (i >= warmup) times.push(elapsed);
  }
  return summarise(times);
}

async function generations(target: RunningTarget, briefId: string, count: number, options: Record<string, unknown> | undefined): Promise<Timings> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const { emailId } = await api<{ emailId: string }>(target, "POST", `/api/briefs/${briefId}/generate`, { provider: "offline", ...(options ? { options } : {}) });
    const deadline = started + READY_TIMEOUT_MS;
    for (;;) {
      const email = await api<{ status?: string }>(target, "GET", `/api/emails/${emailId}`);
      if (email.status === "ready") break;
      if (email.status === "failed") throw new Error(`generation ${emailId} failed`);
      if (performance.now() > deadline) throw new Error(`generation ${emailId} not ready within ${READY_TIMEOUT_MS / 1000} s (status ${email.status})`);
      await Bun.sleep(POLL_MS);
    }
    times.push(performance.now() - started);
  }
  return summarise(times);
}
