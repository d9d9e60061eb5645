/** Many small rooms, orchestrator side: run both targets, tabulate per-room memory and per-delivery CPU. */
import type { Target } from "../children.js";
import { targetsFor } from "../options.js";
import type { StepResult } from "../fleet.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, int, kib, table, times } from "../table.js";
import { finalAttempts } from "../step-up.js";
import { checkSteps } from "./fanout.js";
import type { RoomsLoadResult } from "./rooms-load.js";

export interface RoomsReport {
  runs: Partial<Record<Target, RoomsLoadResult>>;
}

export async function runRooms(ctx: RunContext): Promise<RoomsReport> {
  const report: RoomsReport = { runs: {} };
  for (const target of targetsFor(ctx.options)) {
    const r = await runLoad<RoomsLoadResult>(ctx, target, "rooms");
    report.runs[target] = r;
    checkSteps(ctx, `rooms/${target}`, target, r.steps);
  }
  return report;
}

function verdict(s: StepResult | undefined): string {
  if (!s) return "-";
  return (s.pass ? "pass" : `FAIL: ${s.why}`) + (s.attempt > 1 ? " (retry)" : "");
}

export function renderRooms(r: RoomsReport): string {
  const out: string[] = [];
  const o = r.runs.ours;
  const w = r.runs.ws;
  const any = o ?? w;
  if (!any) return "";
  out.push(
    table(
      `${int(any.rooms)} rooms of ${any.roomSize}: memory (ratio = ours / ws)`,
      ["server", "KiB per room", "KiB per member", "ratio"],
      [
        ...(o ? [["ours", kib(o.rssPerRoomBytes), kib(o.rssPerRoomBytes / o.roomSize), times(ratio(o.rssPerRoomBytes, w?.rssPerRoomBytes))]] : []),
        ...(w ? [["ws peer", kib(w.rssPerRoomBytes), kib(w.rssPerRoomBytes / w.roomSize), undefined]] : []),
      ],
    ),
  );
  const rates = [...new Set([...(o?.steps ?? []), ...(w?.steps ?? [])].map((s) => s.offeredRate))];
  const at = (x: RoomsLoadResult | undefined, rate: number) => (x ? finalAttempts(x.steps) : []).find((s) => s.offeredRate === rate);
  out.push(
    table(
      `${int(any.rooms)} rooms of ${any.roomSize}: every member sends, messages spread over the rooms`,
      ["offered msg/s", "ours deliv/s", "ours p99 ms", "ours µs/deliv", "ours gen CPU %", "ws deliv/s", "ws p99 ms", "ws µs/deliv", "µs ratio", "other procs / steal % ours; ws", "ours / ws"],
      rates.map((rate) => {
        const a = at(o, rate);
        const b = at(w, rate);
        return [
          int(rate),
          int(a?.deliveriesPerSec),
          fixed(a?.latency.p99Ms, 2),
          fixed(a?.cpuPerDeliveryUs, 2),
          fixed(a?.genCpuPct, 0),
          int(b?.deliveriesPerSec),
          fixed(b?.latency.p99Ms, 2),
          fixed(b?.cpuPerDeliveryUs, 2),
          times(ratio(a?.cpuPerDeliveryUs, b?.cpuPerDeliveryUs)),
          `${fixed(a?.otherCpuPct, 0) ?? "-"}/${fixed(a?.stealPct, 0) ?? "-"}; ${fixed(b?.otherCpuPct, 0) ?? "-"}/${fixed(b?.stealPct, 0) ?? "-"}`,
          `${verdict(a)} / ${verdict(b)}`,
        ];
      }),
    ),
  );
  return out.join("\n");
}
