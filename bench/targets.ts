/** The targets of issue 4, judged from one run's reports. */
import type { FanoutReport } from "./scenarios/fanout.js";
import type { IdleReport } from "./scenarios/idle.js";
import type { StalledReport } from "./scenarios/stalled.js";
import type { StepResult } from "./fleet.js";
import { ratio } from "./stats.js";
import { finalAttempts } from "./step-up.js";
import { fixed, table, times } from "./table.js";

export interface TargetVerdict {
  target: string;
  measured: string;
  met: boolean | undefined;
  /** How far off, when missed. */
  gap: string;
}

export interface Reports {
  fanout?: FanoutReport;
  idle?: IdleReport;
  stalled?: StalledReport;
}

function atMost(name: string, value: number | undefined, limit: number, shown: string): TargetVerdict {
  if (value === undefined || !Number.isFinite(value)) return { target: name, measured: "not measured", met: undefined, gap: "" };
  const met = value <= limit;
  return { target: name, measured: shown, met, gap: met ? "" : `${times(value / limit)} over the limit` };
}

function atLeast(name: string, value: number | undefined, floor: number, shown: string, lowerBound = false): TargetVerdict {
  if (value === undefined || !Number.isFinite(value)) return { target: name, measured: "not measured", met: undefined, gap: "" };
  const met = value >= floor;
  return {
    target: name,
    measured: shown,
    met,
    gap: met ? "" : `${times(floor / value)} short${lowerBound ? " (a lower bound: the steps ran out)" : ""}`,
  };
}

export function judgeTargets(r: Reports): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const so = r.fanout?.sustainable.ours;
  const sw = r.fanout?.sustainable.ws;
  const sust = ratio(so?.rate, sw?.rate);
  const sustShown = `${so?.capped ? "≥ " : ""}${so?.rate} vs ${sw?.capped ? "≥ " : ""}${sw?.rate} msg/s = ${times(sust)}`;
  const sustVerdict = atLeast("sustainable fan-out ≥ 2.0× ws", sust, 2.0, sustShown, so?.capped);
  if (sw?.capped && sust !== undefined) {
    // The baseline never failed: its real limit, and so the ratio, are unknown.
    Object.assign(sustVerdict, { met: undefined, gap: "inconclusive: the ws baseline passed every step (raise --rates)" });
  }
  out.push(sustVerdict);
  const topO = so?.step?.cpuPerDeliveryUs;
  const topW = sw?.step?.cpuPerDeliveryUs;
  const top = ratio(topO, topW);
  out.push(
    atMost(
      "CPU/delivery at the top sustainable step ≤ 0.5× ws",
      top,
      0.5,
      `${fixed(topO, 2)} µs (at ${so?.rate}) vs ${fixed(topW, 2)} µs (at ${sw?.rate}) = ${times(top)}`,
    ),
  );
  const at200 = (steps: StepResult[] | undefined) => finalAttempts(steps ?? []).find((s) => s.offeredRate === 200)?.cpuPerDeliveryUs;
  const at200O = at200(r.fanout?.runs.ours?.steps);
  const at200W = at200(r.fanout?.runs.ws?.steps);
  const low = ratio(at200O, at200W);
  out.push(atMost("CPU/delivery at 200 msg/s ≤ 1.5× ws", low, 1.5, `${fixed(at200O, 2)} vs ${fixed(at200W, 2)} µs = ${times(low)}`));
  const idle = r.idle?.runs.ours?.rssPerStreamBytes;
  out.push(atMost("≤ 36 KiB server RSS per idle stream", idle === undefined ? undefined : idle / 1024, 36, `${fixed(idle === undefined ? undefined : idle / 1024, 1)} KiB (one stream per connection)`));
  const half = r.fanout?.half.ours;
  out.push(atMost("p99 ≤ 25 ms at half the sustainable rate", half?.latency.p99Ms, 25, `${fixed(half?.latency.p99Ms, 2)} ms at ${half?.offeredRate} msg/s`));
  const st = r.stalled?.runs.ours;
  if (st) {
    const dropped = st.droppedAfterSeconds;
    out.push(
      dropped === undefined
        ? { target: "stalled client dropped within 5 s", measured: `not dropped within ${fixed(st.stalled.wallSeconds, 0)} s`, met: false, gap: "never dropped" }
        : atMost("stalled client dropped within 5 s", dropped, 5, `${fixed(dropped, 2)} s`),
    );
    out.push(
      atMost(
        "RSS growth with a stalled client < 4 MiB",
        st.rssGrowthBytes / 1048576,
        4,
        `${fixed(st.rssGrowthBytes / 1048576, 2)} MiB (same phase with all reading: ${fixed(st.referenceRssGrowthBytes / 1048576, 2)} MiB; ` +
          `queued bytes peaked at ${st.maxQueuedBytes === undefined ? "?" : `${fixed(st.maxQueuedBytes / 1024, 0)} KiB`})`,
      ),
    );
    const p99r = ratio(st.stalled.latency.p99Ms, st.reference.latency.p99Ms);
    out.push(
      atMost(
        "others' p99 with a stalled client within 2×",
        p99r,
        2,
        `${fixed(st.stalled.latency.p99Ms, 2)} vs ${fixed(st.reference.latency.p99Ms, 2)} ms = ${times(p99r)}`,
      ),
    );
  }
  return out;
}

export function renderTargets(verdicts: TargetVerdict[], smoke: boolean): string {
  return table(
    smoke ? "Targets (issue 4) -- a --smoke run is too short and too small to judge them" : "Targets (issue 4)",
    ["target", "measured", "verdict"],
    verdicts.map((v) => [v.target, v.measured, v.met === undefined ? v.gap || "not measured" : v.met ? "met" : `MISSED: ${v.gap}`]),
  );
}
