import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** One row of /proc: enough to follow the process tree and add up CPU time. */
interface ProcessRow {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  startTicks: number;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
}

let clockTicksPerSecond: number | undefined;
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    clockTicksPerSecond = Number(result.stdout?.trim()) || 100;
  }
  return clockTicksPerSecond;
}

function processTable(): Map<number, ProcessRow> {
  const table = new Map<number, ProcessRow>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name (field 2) may contain spaces and parentheses; the fields after its last ')' do not.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.set(Number(entry), {
        pid: Number(entry),
        ppid: Number(fields[1]),
        cpuTicks: Number(fields[11]) + Number(fields[12]),
        startTicks: Number(fields[19]),
      });
    } catch {
      // The process ended while we were reading.
    }
  }
  return table;
}

/** `rootPid` and every process below it (the server's Postgres and its backends, for ours). */
export function processTree(rootPid: number): ProcessRow[] {
  const table = processTable();
  const children = new Map<number, ProcessRow[]>();
  for (const row of table.values()) {
    const siblings = children.get(row.ppid) ?? [];
    siblings.push(row);
    children.set(row.ppid, siblings);
  }
  const root = table.get(rootPid);
  if (!root) return [];
  const tree: ProcessRow[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const row = pending.pop()!;
    tree.push(row);
    pending.push(...(children.get(row.pid) ?? []));
  }
  return tree;
}

/**
 * CPU time (user + system, ms) used so far by `rootPid` and its live descendants; NaN where /proc
 * is not available. Subtract two readings to get the CPU a server spent in between.
 *
 * @example
 * const before = treeCpuMs(pid); await load(); const serverCpuMs = treeCpuMs(pid) - before;
 */
export function treeCpuMs(rootPid: number): number {
  const tree = processTree(rootPid);
  if (tree.length === 0) return Number.NaN;
  return (tree.reduce((sum, row) => sum + row.cpuTicks, 0) * 1000) / ticksPerSecond();
}

/** SIGKILLs the processes of an earlier `processTree` snapshot that are still the same processes. */
export function killSurvivors(snapshot: ProcessRow[]): number {
  const now = processTable();
  let killed = 0;
  for (const row of snapshot) {
    if (now.get(row.pid)?.startTicks !== row.startTicks) continue;
    try {
      process.kill(row.pid, "SIGKILL");
      killed++;
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/** Cumulative CPU ticks of the whole machine, from the first line of /proc/stat. */
export interface MachineCpuSample {
  total: number;
  steal: number;
}

/** A reading of the machine's CPU counters; undefined where /proc/stat is not available. */
export function machineCpuSample(): MachineCpuSample | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((sum, value) => sum + value, 0), steal: fields[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * Share of the machine's CPU time the hypervisor gave to other guests between two samples, in %.
 * High steal means the figures measured in between are unreliable (the host was busy elsewhere).
 */
export function stealPercent(from: MachineCpuSample | undefined, to: MachineCpuSample | undefined): number {
  if (!from || !to || to.total <= from.total) return Number.NaN;
  return ((to.steal - from.steal) / (to.total - from.total)) * 100;
}
