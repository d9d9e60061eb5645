/** A client that stops reading, orchestrator side: run both targets, tabulate. */
import { TARGET_NAMES, type Target } from "../children.js";
import { targetsFor } from "../options.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, mib, table, times, type Cell } from "../table.js";
import type { StalledLoadResult } from "./stalled-load.js";

export interface StalledReport {
  runs: Partial<Record<Target, StalledLoadResult>>;
}

export async function runStalled(ctx: RunContext): Promise<StalledReport> {
  const report: StalledReport = { runs: {} };
  for (const target of targetsFor(ctx.options, ["grpc"])) {
    // Our server's queue gauge shows the stalled client's bound directly; RSS also moves with
    // native memory (buffers, allocator) that the hub does not control (docs/performance.md).
    const r = await runLoad<StalledLoadResult>(ctx, target, "stalled", {}, { metrics: true });
    report.runs[target] = r;
    if (r.reference.received === 0 || r.stalled.received === 0) ctx.problems.push(`stalled/${target}: the others received nothing`);
    for (const phase of [r.reference, r.stalled]) {
      if (phase.duplicated > 0) ctx.problems.push(`stalled/${target}: ${phase.duplicated} duplicated or out-of-order deliveries`);
      if (phase.lost > 0) ctx.warnings.push(`stalled/${target}: ${phase.lost} deliveries lost to the others (${phase.why})`);
    }
  }
  return report;
}

export function renderStalled(r: StalledReport): string {
  const rows: Cell[][] = [];
  for (const target of ["ours", "ws", "grpc"] as const) {
    const x = r.runs[target];
    if (!x) continue;
    rows.push([
      TARGET_NAMES[target],
      fixed(x.reference.latency.p99Ms, 2),
      fixed(x.stalled.latency.p99Ms, 2),
      times(ratio(x.stalled.latency.p99Ms, x.reference.latency.p99Ms)),
      x.stalled.lost,
      mib(x.rssBeforeBytes),
      fixed(x.referenceRssGrowthBytes / 1048576, 2),
      fixed(x.rssGrowthBytes / 1048576, 2),
      fixed(x.maxQueuedBytes === undefined ? undefined : x.maxQueuedBytes / 1024, 0),
      x.droppedAfterSeconds === undefined ? `never (within ${fixed(x.stalled.wallSeconds, 0)} s)` : fixed(x.droppedAfterSeconds, 2),
      x.dropHow ?? "-",
      `${fixed(x.reference.otherCpuPct, 0)}/${fixed(x.reference.stealPct, 0)}; ${fixed(x.stalled.otherCpuPct, 0)}/${fixed(x.stalled.stealPct, 0)}`,
    ]);
  }
  const any = r.runs.ours ?? r.runs.ws;
  return table(
    `One client stops reading while ${any ? `${any.clients - 1} others chat at ${any.rate} msg/s` : "the others chat"}`,
    ["server", "others p99 ms, all reading", "others p99 ms, one stalled", "ratio", "lost", "RSS before MiB", "RSS growth MiB, all reading", "RSS growth MiB, one stalled", "max queued KiB (metrics)", "dropped after s", "how", "other procs / steal %: all reading; stalled"],
    rows,
  );
}
