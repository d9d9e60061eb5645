/**
 * Idle streams, orchestrator side: one connection per stream on both targets
 * (the like-for-like comparison), for ours also a room each (no room shared,
 * so presence costs nothing) and many streams per HTTP/2 connection, which
 * separates the per-stream cost from the per-connection one.
 */
import type { Target } from "../children.js";
import { targetsFor } from "../options.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, int, kib, mib, table, times, type Cell } from "../table.js";
import type { IdleLoadResult } from "./idle-load.js";

export interface IdleReport {
  runs: Partial<Record<Target, IdleLoadResult>>;
  /** Ours with every stream in a room of its own (undefined when --idle-room-size is already 1). */
  oursRoomEach: IdleLoadResult | undefined;
  oursMultiplexed: IdleLoadResult | undefined;
}

/** An idle run that did not join everything is broken here (small rooms); idle-shared judges its own. */
function checkIdle(ctx: RunContext, what: string, r: IdleLoadResult | undefined): void {
  if (!r) return;
  if (!r.completed) ctx.problems.push(`${what}: only ${r.joined} of ${r.streams} streams joined within ${r.joinTimeoutSeconds} s`);
  if (r.ended > 0) ctx.problems.push(`${what}: ${r.ended} idle streams ended: ${r.endedHow}`);
  // RSS is only a measurement, and with few streams (--smoke) the heap's own movements can outweigh them.
  if (r.rssAfterBytes <= r.rssBeforeBytes) ctx.warnings.push(`${what}: RSS did not grow with ${r.streams} streams (too few to measure?)`);
}

export async function runIdle(ctx: RunContext): Promise<IdleReport> {
  const report: IdleReport = { runs: {}, oursRoomEach: undefined, oursMultiplexed: undefined };
  for (const target of targetsFor(ctx.options)) {
    report.runs[target] = await runLoad<IdleLoadResult>(ctx, target, "idle");
    checkIdle(ctx, `idle/${target}`, report.runs[target]);
  }
  if (ctx.options.targets.includes("ours") && ctx.options.idleRoomSize > 1) {
    report.oursRoomEach = await runLoad<IdleLoadResult>(ctx, "ours", "idle", { idleRoomSize: 1 });
    checkIdle(ctx, "idle/ours, a room each", report.oursRoomEach);
  }
  if (ctx.options.targets.includes("ours") && ctx.options.idleMultiplex > 1) {
    report.oursMultiplexed = await runLoad<IdleLoadResult>(ctx, "ours", "idle", { idlePerConnection: ctx.options.idleMultiplex });
    checkIdle(ctx, "idle/ours, multiplexed", report.oursMultiplexed);
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
      x.roomSize === 1 ? "a room each" : `rooms of ${int(x.roomSize)}`,
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
  add("ws peer", r.runs.ws);
  add("ours, a room each", r.oursRoomEach, r.runs.ws);
  add("ours, multiplexed", r.oursMultiplexed, r.runs.ws);
  return table(
    "Idle joined streams (ratio = ours / ws)",
    ["server", "streams", "rooms", "streams/conn", "RSS before MiB", "RSS after MiB", "KiB per stream", "ratio", "open+join s", "server µs per join"],
    rows,
  );
}
