/** What /proc says about a process (Linux only), and small shared helpers. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Clock ticks per second for /proc/<pid>/stat times. */
export function clockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** User + system CPU time of a whole process (all threads), in µs. */
export function processCpuUs(pid: number, ticksPerSecond: number): number {
  return statCpuUs(`/proc/${pid}/stat`, ticksPerSecond);
}

/** User + system CPU time of one thread of a process (its main thread: tid = pid), in µs. */
export function threadCpuUs(pid: number, tid: number, ticksPerSecond: number): number {
  return statCpuUs(`/proc/${pid}/task/${tid}/stat`, ticksPerSecond);
}

function statCpuUs(statFile: string, ticksPerSecond: number): number {
  const stat = readFileSync(statFile, "utf8");
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return ((utime + stime) * 1e6) / ticksPerSecond;
}

/** Resident set size of a process, in bytes. */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU time of the whole machine (all CPUs), µs, from /proc/stat. */
export interface MachineCpu {
  /** user + nice + system + irq: processes, ours included. */
  processes: number;
  /** softirq: largely the kernel's loopback network work, not charged to any process. */
  softirq: number;
  /** steal: time the hypervisor ran someone else while this VM wanted the CPU. */
  steal: number;
}

export function machineCpuUs(ticksPerSecond: number): MachineCpu {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const us = (ticks: number) => (ticks * 1e6) / ticksPerSecond;
  return { processes: us(user + nice + system + irq), softirq: us(softirq), steal: us(steal) };
}
