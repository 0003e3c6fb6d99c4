/**
 * `bun run bench`: starts our server and the `@durable-streams/server` reference server (file-backed
 * and in-memory), each in its own child process and one at a time, measures each with every section
 * in SECTIONS, prints the markdown report and writes it to docs/performance.md.
 *
 * Flags:
 *   --only=ours,reference-file,reference-memory   measure only these servers (comma-separated)
 *   --quick                                       shorter runs, for iterating
 *   --write / --no-write                          write docs/performance.md or not (default: only
 *                                                 for a full run, i.e. without --only and --quick)
 *   --reference-runtime=node|bun                  runtime for the reference server (default node)
 *   --sections=streams-http,wrk,…                 measure only these sections (ids as in SECTIONS)
 *   --growth=full                                 the growth section with a 1,000,000-event session
 *                                                 (default: 100,000, to keep a full run short)
 *
 * The same from the environment (flags win): BENCH_QUICK=1, BENCH_SECTIONS=wrk,resume, BENCH_ONLY=ours.
 * A full run takes about 8 minutes on an idle 2-core machine, 20 or more on a busy one (the
 * file-backed reference syncs every append).
 */
import { cpus, platform, release, arch, totalmem, loadavg } from "node:os";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeTarget, nodeVersion, ROOT, startTarget, TARGET_IDS, type RunningTarget, type StartOptions, type TargetId } from "./targets";
import type { Column, RunOptions, Section } from "./section";
import { streamsHttpSection } from "./sections/streams-http";
import { websocketSection } from "./sections/websocket";
import { wrkSection } from "./sections/wrk";
import { SESSION_SECTIONS } from "./sections/sessions-suite";
import { growthSection } from "./sections/growth";

/** The sections of docs/performance.md, in order. Add a module here to add figures. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const SECTIONS: Section<any>[] = [streamsHttpSection, wrkSection, websocketSection, ...SESSION_SECTIONS, growthSection];

const OUTPUT_PATH = join(ROOT, "docs/performance.md");
const GIB = 1024 ** 3;

const USAGE = `usage: bun run bench [--only=${TARGET_IDS.join(",")}] [--sections=${SECTIONS.map((section) => section.id).join(",")}] [--quick] [--growth=full] [--write|--no-write] [--reference-runtime=node|bun]`;

interface Flags extends RunOptions, StartOptions {
  only: TargetId[];
  sections: Section<unknown>[];
  write: boolean;
  /** The flags as given, for the report's "command" line. */
  given: string[];
}

/** BENCH_QUICK, BENCH_SECTIONS and BENCH_ONLY as flags, placed before the command line's (which win). */
function environmentFlags(env: Record<string, string | undefined>): string[] {
  const flags: string[] = [];
  if (env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true") flags.push("--quick");
  if (env.BENCH_SECTIONS) flags.push(`--sections=${env.BENCH_SECTIONS}`);
  if (env.BENCH_ONLY) flags.push(`--only=${env.BENCH_ONLY}`);
  return flags;
}

function parseFlags(argv: string[]): Flags {
  let only: TargetId[] = [...TARGET_IDS];
  let quick = false;
  let write: boolean | undefined;
  let referenceRuntime: "node" | "bun" = "node";
  let onlyGiven = false;
  let sections = SECTIONS;
  let growthFull = false;
  for (const arg of argv) {
    const [name, value] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (name === "--only" && value) {
      const ids = value.split(",").map((id) => id.trim());
      const unknown = ids.filter((id) => !(TARGET_IDS as readonly string[]).includes(id));
      if (unknown.length > 0) usageError(`--only: unknown server "${unknown.join(", ")}"; choose from ${TARGET_IDS.join(", ")}`);
      only = TARGET_IDS.filter((id) => ids.includes(id));
      onlyGiven = true;
    } else if (name === "--sections" && value) {
      const ids = value.split(",").map((id) => id.trim());
      const unknown = ids.filter((id) => !SECTIONS.some((section) => section.id === id));
      if (unknown.length > 0) usageError(`--sections: unknown section "${unknown.join(", ")}"; choose from ${SECTIONS.map((section) => section.id).join(", ")}`);
      sections = SECTIONS.filter((section) => ids.includes(section.id));
      onlyGiven = true;
    } else if (name === "--growth" && value === "full") growthFull = true;
    else if (name === "--quick" && value === undefined) quick = true;
    else if (name === "--write" && value === undefined) write = true;
    else if (name === "--no-write" && value === undefined) write = false;
    else if (name === "--reference-runtime" && (value === "node" || value === "bun")) referenceRuntime = value;
    else if (name === "--help" || name === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else usageError(`unknown or incomplete flag "${arg}"`);
  }
  return { only, sections, quick, growthFull, referenceRuntime, write: write ?? (!quick && !onlyGiven), given: argv };
}

function usageError(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function progress(message: string) {
  process.stderr.write(`${message}\n`);
}

async function main() {
  const flags = parseFlags([...environmentFlags(process.env), ...process.argv.slice(2)]);
  const startedAt = new Date();
  const loadAtStart = loadavg()[0]!;
  const node = nodeVersion();
  if (flags.referenceRuntime === "node" && !node && flags.only.some((id) => id !== "ours")) {
    usageError("node is not installed; use --reference-runtime=bun");
  }

  const columns = new Map<string, Column<unknown>[]>(flags.sections.map((section) => [section.id, []]));
  let current: RunningTarget | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      progress(`\n${signal}: stopping ${current?.label ?? "nothing"}…`);
      await current?.stop();
      process.exit(130);
    });
  }

  for (const id of flags.only) {
    const info = describeTarget(id, flags);
    progress(`▶ ${info.label}: starting…`);
    const startTime = performance.now();
    try {
      current = await startTarget(id, flags);
    } catch (error) {
      const reason = `failed to start: ${(error as Error).message}`;
      progress(`  ${reason}`);
      for (const section of flags.sections) columns.get(section.id)!.push({ target: info, outcome: { ok: false, reason } });
      continue;
    }
    progress(`  ${current.url} (${current.runtime}) up in ${((performance.now() - startTime) / 1000).toFixed(1)} s`);
    for (const section of flags.sections) {
      const sectionStart = performance.now();
      try {
        const value = await section.measure(current, flags);
        columns.get(section.id)!.push({ target: info, outcome: { ok: true, value } });
        progress(`  ${section.title}: ${((performance.now() - sectionStart) / 1000).toFixed(1)} s`);
      } catch (error) {
        const reason = `error: ${(error as Error).message}`;
        columns.get(section.id)!.push({ target: info, outcome: { ok: false, reason } });
        progress(`  ${section.title}: ${reason}`);
      }
    }
    await current.stop();
    current = undefined;
  }

  const report = [
    header({ flags, startedAt, node, load: [loadAtStart, loadavg()[0]!], seconds: (Date.now() - startedAt.getTime()) / 1000 }),
    ...flags.sections.map((section) => `## ${section.title}\n\n${section.render(columns.get(section.id)!, flags)}\n`),
  ].join("\n");
  progress(`\ndone in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s\n`);
  console.log(report);
  if (flags.write) {
    writeFileSync(OUTPUT_PATH, report);
    progress(`wrote ${OUTPUT_PATH}`);
  } else {
    progress(`not written to docs/performance.md (partial or --quick run; pass --write to write it anyway)`);
  }
  // Keep-alive sockets to servers that are gone can hold the event loop open for a while.
  process.exit(0);
}

function header(options: { flags: Flags; startedAt: Date; node: string | undefined; load: [number, number]; seconds: number }): string {
  const { flags, startedAt, node, load, seconds } = options;
  const cpuList = cpus();
  const model = cpuList[0]?.model.trim() ?? "unknown CPU";
  const date = startedAt.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  const command = ["bun run bench", ...flags.given].join(" ");
  const servers = flags.only.map((id) => {
    const info = describeTarget(id, flags);
    return `  - **${info.label}**: ${info.description}`;
  });
  return [
    "# Performance",
    "",
    "<!-- Generated by `bun run bench` (bench/run.ts) and rewritten in full on every run: to add figures, add a section module under bench/sections/ and list it in SECTIONS in bench/run.ts. -->",
    "",
    `Measured ${date} with \`${command}\`${flags.quick ? " (quick mode: shorter runs, noisier figures)" : ""}; the run took ${Math.round(seconds / 60)} min.`,
    "",
    `To measure part of it: \`--sections=${SECTIONS.map((section) => section.id).join(",")}\` (any of them), \`--only=${TARGET_IDS.join(",")}\` (servers), \`--quick\` (shorter runs), or the same as \`BENCH_SECTIONS\`, \`BENCH_ONLY\`, \`BENCH_QUICK=1\`; \`--growth=full\` builds the 1,000,000-event session (default 100,000). A partial run prints its report without rewriting this file unless given \`--write\`.`,
    "",
    `- **Machine**: ${cpuList.length} cores (${model}), ${(totalmem() / GIB).toFixed(1)} GiB memory, ${platform()} ${release()} ${arch()}`,
    `- **Runtimes**: Bun ${Bun.version}${node ? `, Node ${node}` : ""}`,
    "- **Servers**, started one at a time, each measured alone and stopped before the next:",
    ...servers,
    "",
    "Every process — the server under test, its Postgres, and the load generator — shares this machine, so compare the columns with one another, not with figures from other machines.",
    "",
    `- **Load** (1-minute load average) when the run started / ended: ${load[0].toFixed(1)} / ${load[1].toFixed(1)} on ${cpuList.length} cores.${Math.max(...load) > cpuList.length ? " The machine was shared with other work (more runnable processes than cores): absolute figures are pessimistic and noisy; the servers were measured one after another under similar load, so compare them with one another." : ""}`,
    "",
  ].join("\n");
}

await main();
