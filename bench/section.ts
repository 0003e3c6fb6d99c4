import type { RunningTarget, TargetInfo } from "./targets";

/** Flags that change how long a section measures. */
export interface RunOptions {
  /** `--quick`: shorter runs and fewer samples, for iterating; figures are noisier. */
  quick: boolean;
  /** `--growth=full`: the growth section builds a 1,000,000-event session (default 100,000). */
  growthFull?: boolean;
}

/** One server's result for one section: its figures, or why there are none. */
export type Outcome<Result> = { ok: true; value: Result } | { ok: false; reason: string };

/** A column of a section's table: a server and how it did. */
export interface Column<Result> {
  target: TargetInfo;
  outcome: Outcome<Result>;
}

/**
 * One `##` section of docs/performance.md. bench/run.ts starts each server once, hands it to every
 * section's `measure`, stops it, and finally asks each section to `render` all servers side by side.
 * To add figures (WebSocket, sessions, …) write a module exporting a Section and list it in
 * `SECTIONS` in bench/run.ts; the file is rewritten in full on every run.
 *
 * @example
 * export const pingSection: Section<{ p50Ms: number }> = {
 *   id: "ping",
 *   title: "Ping",
 *   async measure(target) { … return { p50Ms }; },
 *   render(columns) { return metricTable(columns, [["p50 (ms)", (r) => formatMs(r.p50Ms)]]); },
 * };
 */
export interface Section<Result> {
  id: string;
  /** The `##` heading. */
  title: string;
  /** Measures one running server. Throwing marks that server's column as failed for this section only. */
  measure(target: RunningTarget, options: RunOptions): Promise<Result>;
  /** The section body in markdown (no heading), comparing every server. */
  render(columns: Column<Result>[], options: RunOptions): string;
}

/** A table row: its label and how to print one server's figure. */
export type Row<Result> = [label: string, cell: (result: Result, target: TargetInfo) => string];

/**
 * A markdown table with one row per metric and one column per server; servers that failed get
 * their reason in a footnote under the table.
 */
export function metricTable<Result>(columns: Column<Result>[], rows: Row<Result>[]): string {
  const header = `| | ${columns.map((column) => column.target.label).join(" | ")} |`;
  const rule = `|---|${columns.map(() => "--:").join("|")}|`;
  const failed = columns.filter((column) => !column.outcome.ok);
  const body = rows.map(([label, cell], index) => {
    const cells = columns.map((column) => {
      if (column.outcome.ok) return cell(column.outcome.value, column.target);
      return index === 0 ? `failed (${failed.indexOf(column) + 1})` : "—";
    });
    return `| ${label} | ${cells.join(" | ")} |`;
  });
  const notes = failed.map((column, index) => {
    const reason = column.outcome.ok ? "" : column.outcome.reason.split("\n")[0];
    return `(${index + 1}) **${column.target.label}**: ${reason}`;
  });
  return [header, rule, ...body, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
}

/** Nearest-rank percentile of unsorted samples (`q` in 0..1); NaN for no samples. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Milliseconds for a table: two decimals under 10 ms, one above. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/** An integer with thousands separators (`12 345`). */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return "—";
  return Math.round(value).toLocaleString("en-US").replaceAll(",", " ");
}
