/**
 * Idle streams, orchestrator side: one connection per stream on both targets
 * (the like-for-like comparison), and for ours also many streams per HTTP/2
 * connection, which separates the per-stream cost from the per-connection one.
 */
import type { Target } from "../children.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, int, kib, mib, table, times, type Cell } from "../table.js";
import type { IdleLoadResult } from "./idle-load.js";

export interface IdleReport {
  runs: Partial<Record<Target, IdleLoadResult>>;
  oursMultiplexed: IdleLoadResult | undefined;
}

export async function runIdle(ctx: RunContext): Promise<IdleReport> {
  const report: IdleReport = { runs: {}, oursMultiplexed: undefined };
  for (const target of ctx.options.targets) {
    report.runs[target] = await runLoad<IdleLoadResult>(ctx, target, "idle");
  }
  if (ctx.options.targets.includes("ours") && ctx.options.idleMultiplex > 1) {
    report.oursMultiplexed = await runLoad<IdleLoadResult>(ctx, "ours", "idle", { idlePerConnection: ctx.options.idleMultiplex });
  }
  // Every stream joining is checked by the load itself (it fails otherwise); RSS is only a measurement,
  // and with few streams (--smoke) the heap's own movements can outweigh them.
  for (const r of [...Object.values(report.runs), report.oursMultiplexed]) {
    if (r && r.rssAfterBytes <= r.rssBeforeBytes) ctx.warnings.push(`idle: RSS did not grow with ${r.streams} streams (too few to measure?)`);
  }
  return report;
}

export function renderIdle(r: IdleReport): string {
  const rows: Cell[][] = [];
  const add = (name: string, x: IdleLoadResult | undefined, base?: IdleLoadResult) => {
    if (!x) return;
    rows.push([
      name,
      int(x.streams),
      x.streamsPerConnection,
      mib(x.rssBeforeBytes),
      mib(x.rssAfterBytes),
      kib(x.rssPerStreamBytes),
      times(base ? ratio(x.rssPerStreamBytes, base.rssPerStreamBytes) : undefined),
      fixed(x.joinSeconds, 1),
      fixed(x.serverCpuPerJoinUs, 0),
    ]);
  };
  add("ours", r.runs.ours, r.runs.ws);
  add("ws baseline", r.runs.ws);
  add("ours, multiplexed", r.oursMultiplexed, r.runs.ws);
  const any = r.runs.ours ?? r.runs.ws;
  return table(
    `Idle joined streams (rooms of ${any?.roomSize ?? "?"}; ratio = ours / ws)`,
    ["server", "streams", "streams/conn", "RSS before MiB", "RSS after MiB", "KiB per stream", "ratio", "open+join s", "server µs per join"],
    rows,
  );
}
