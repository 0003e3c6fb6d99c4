import { z } from "zod";

/**
 * The bounds of every run option, checked once at the edge (`POST /api/sessions/:id/runs`,
 * `POST …/messages` with `run`); docs/agents.md lists them. A run's options are stored with it and
 * handed to its sub-agents, so they are bounded here rather than trusted later.
 */
export const RUN_OPTION_BOUNDS = {
  /** Tokens the offline provider writes (DESIGN.md's default is about 300). */
  tokens: { min: 1, max: 20_000 },
  /** Offline pacing, tokens per second (default 40). */
  tokensPerSecond: { min: 1, max: 1_000 },
  /** How long tokens are gathered into one `message.delta` (default 40 ms). */
  rollupWindowMs: { min: 1, max: 1_000 },
  /** Offline email generation: the pause between sections, so a person can watch it build (0 = none). */
  sectionDelayMs: { min: 0, max: 5_000 },
  /** A model name for the real providers. */
  modelChars: { max: 100 },
} as const;

const { tokens, tokensPerSecond, rollupWindowMs, sectionDelayMs, modelChars } = RUN_OPTION_BOUNDS;

/** Run options: unknown keys are refused, so a typo is an error rather than silently ignored. */
export const runOptionsSchema = z
  .object({
    tokens: z.number().int().min(tokens.min).max(tokens.max).optional(),
    tokensPerSecond: z.number().min(tokensPerSecond.min).max(tokensPerSecond.max).optional(),
    rollupWindowMs: z.number().int().min(rollupWindowMs.min).max(rollupWindowMs.max).optional(),
    sectionDelayMs: z.number().int().min(sectionDelayMs.min).max(sectionDelayMs.max).optional(),
    model: z.string().min(1).max(modelChars.max).optional(),
  })
  .strict();

export type RunOptions = z.infer<typeof runOptionsSchema>;

/**
 * Options as stored with a run, checked again when the run starts (a row written before the
 * bounds existed, or by hand): anything out of bounds is dropped, so defaults apply.
 */
export function storedRunOptions(value: unknown): RunOptions {
  const parsed = runOptionsSchema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const kept: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(runOptionsSchema.shape)) {
    const one = option.safeParse((value as Record<string, unknown> | null)?.[key]);
    if (one.success && one.data !== undefined) kept[key] = one.data;
  }
  return kept as RunOptions;
}
