/**
 * Fan-out step test, orchestrator side: run the steps against each target,
 * find the sustainable rate (the highest step before the first failure),
 * then measure a fresh server at half that rate (not in --smoke). Renders per-target tables
 * and the side-by-side comparison.
 */
import { PEERS, TARGET_NAMES, type Target } from "../children.js";
import type { StepResult } from "../fleet.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, int, mib, table, times, type Cell } from "../table.js";
import { finalAttempts } from "../step-up.js";
import type { FanoutLoadResult } from "./fanout-load.js";

export interface Sustainable {
  /** Highest passing offered rate (messages/s), undefined when even the first step failed. */
  rate: number | undefined;
  step: StepResult | undefined;
  deliveriesPerSec: number | undefined;
  /** True when every step passed: the real limit is higher than the steps went. */
  capped: boolean;
  /** Why the step after it failed. */
  failedBecause: string | undefined;
  /** The failing step's generator CPU: near 100% means the generator, not the server, was the limit. */
  failedGenCpuPct: number | undefined;
}

export interface FanoutReport {
  runs: Partial<Record<Target, FanoutLoadResult>>;
  sustainable: Partial<Record<Target, Sustainable>>;
  half: Partial<Record<Target, StepResult>>;
}

export function sustainableOf(all: StepResult[]): Sustainable {
  const steps = finalAttempts(all);
  let last: StepResult | undefined;
  for (const s of steps) {
    if (!s.pass) break;
    last = s;
  }
  const failed = steps.find((s) => !s.pass);
  return {
    rate: last?.offeredRate,
    step: last,
    deliveriesPerSec: last?.deliveriesPerSec,
    capped: failed === undefined,
    failedBecause: failed?.why,
    failedGenCpuPct: failed?.genCpuPct,
  };
}

/**
 * Broken, not slow: nothing delivered, a duplicate or out-of-order delivery
 * (per sender, or the room's seq going back or, ours, skipping a number),
 * an error event (e.g. a rate limit the benchmark should have lifted), or our
 * server losing messages or dropping a client at the lowest rate. The
 * baseline losing messages is only overload (it has no flow control).
 */
export function checkSteps(ctx: RunContext, what: string, target: Target, all: StepResult[]): void {
  const steps = finalAttempts(all);
  const first = steps[0];
  if (!first || first.received === 0) return void ctx.problems.push(`${what}: nothing delivered`);
  for (const s of steps) {
    if (s.duplicated > 0) ctx.problems.push(`${what}: ${s.duplicated} duplicated or out-of-order deliveries at ${s.offeredRate} msg/s`);
    if (s.errors > 0) ctx.problems.push(`${what}: ${s.errors} error events at ${s.offeredRate} msg/s`);
  }
  // Room order is checked on every attempt, a retried one included: a step's load cannot excuse it.
  for (const s of all) {
    if (s.seqBackwards > 0) ctx.problems.push(`${what}: ${s.seqBackwards} deliveries with a room seq lower than one seen before at ${s.offeredRate} msg/s`);
    // A client that is still connected must see every number: a gap is a message lost without the client being told.
    // The baseline has no flow control, so for it a gap is overload.
    if (s.seqGaps > 0) {
      (target === "ours" ? ctx.problems : ctx.warnings).push(`${what}: ${s.seqGaps} gaps in the room's seq seen by receivers at ${s.offeredRate} msg/s`);
    }
  }
  if (first.lost > 0 || first.dropped > 0) {
    (target === "ours" ? ctx.problems : ctx.warnings).push(`${what}: the lowest step (${first.offeredRate} msg/s) failed: ${first.why}`);
  }
}

export async function runFanout(ctx: RunContext): Promise<FanoutReport> {
  const report: FanoutReport = { runs: {}, sustainable: {}, half: {} };
  for (const target of ctx.options.targets) {
    const run = await runLoad<FanoutLoadResult>(ctx, target, "fanout");
    report.runs[target] = run;
    report.sustainable[target] = sustainableOf(run.steps);
    checkSteps(ctx, `fanout/${target}`, target, run.steps);
  }
  // The half-rate check needs two more servers; smoke runs skip it (same code path as a step).
  for (const target of ctx.options.smoke ? [] : ctx.options.targets) {
    const rate = report.sustainable[target]?.rate;
    if (rate === undefined) continue;
    const half = await runLoad<FanoutLoadResult>(ctx, target, "fanout", { rates: [rate / 2] });
    // The step that counts: its retry if the first attempt failed (as for every other step).
    report.half[target] = finalAttempts(half.steps)[0];
  }
  return report;
}

const NAMES = TARGET_NAMES;
const ALL: Target[] = ["ours", ...PEERS];

export function stepRow(s: StepResult): Cell[] {
  return [...stepLeadCells(s), fixed(s.cpuPerDeliveryUs, 2), ...stepTailCells(s)];
}

/** A step's first columns, every fan-out table alike: rates, batching, latency, loss. */
export function stepLeadCells(s: StepResult): Cell[] {
  return [
    s.attempt > 1 ? `${int(s.offeredRate)} (retry)` : int(s.offeredRate),
    int(s.sentRate),
    int(s.deliveriesPerSec),
    fixed(s.eventsPerFrame, 1),
    fixed(s.latency.p50Ms, 2),
    fixed(s.latency.p99Ms, 2),
    fixed(s.latency.maxMs, 1),
    s.lost,
    s.duplicated,
  ];
}

/** A step's last columns, every fan-out table alike: server memory, the machine, the verdict. */
export function stepTailCells(s: StepResult): Cell[] {
  return [mib(s.serverRssMaxBytes), fixed(s.genCpuPct, 0), fixed(s.otherCpuPct, 0), fixed(s.stealPct, 0), s.pass ? "pass" : `FAIL: ${s.why}`];
}

/** Headers of stepLeadCells(). */
export const STEP_LEAD_HEADERS = ["offered msg/s", "sent msg/s", "deliveries/s", "events/frame", "p50 ms", "p99 ms", "max ms", "lost", "dup"];

/** Headers of stepTailCells(), after the column of server memory (named by the caller: one server or several). */
export const STEP_TAIL_HEADERS = ["gen CPU %", "other procs CPU %", "steal %", "result"];

export const STEP_HEADERS = [...STEP_LEAD_HEADERS, "server µs/delivery", "server RSS MiB", ...STEP_TAIL_HEADERS];

export function renderFanout(r: FanoutReport): string {
  const out: string[] = [];
  const any = ALL.map((t) => r.runs[t]).find((x) => x !== undefined);
  const shape = any ? `${any.clients} clients in one room, ${any.senders} senders, ${any.payloadBytes}-byte messages, ${any.stepSeconds} s steps` : "";
  for (const target of ALL) {
    const run = r.runs[target];
    if (!run) continue;
    const rows = run.steps.map(stepRow);
    const half = r.half[target];
    if (half) {
      const row = stepRow(half);
      row[0] = `${int(half.offeredRate)} (half, fresh server)`;
      rows.push(row);
    }
    out.push(table(`Fan-out, ${NAMES[target]}: ${shape}`, STEP_HEADERS, rows));
  }
  const ours = r.runs.ours;
  const peers = PEERS.filter((t) => r.runs[t]);
  if (ours && peers.length > 0) {
    const rows: Cell[][] = [];
    for (const o of finalAttempts(ours.steps)) {
      for (const peer of peers) {
        const w = finalAttempts(r.runs[peer]!.steps).find((s) => s.offeredRate === o.offeredRate);
        rows.push([
          int(o.offeredRate),
          peer,
          fixed(o.cpuPerDeliveryUs, 2),
          fixed(w?.cpuPerDeliveryUs, 2),
          times(ratio(o.cpuPerDeliveryUs, w?.cpuPerDeliveryUs)),
          fixed(o.latency.p99Ms, 2),
          fixed(w?.latency.p99Ms, 2),
          times(ratio(o.latency.p99Ms, w?.latency.p99Ms)),
          int(o.deliveriesPerSec),
          int(w?.deliveriesPerSec),
          `${o.pass ? "pass" : "FAIL"} / ${w ? (w.pass ? "pass" : "FAIL") : "-"}`,
        ]);
      }
    }
    out.push(
      table(
        `Fan-out, ours vs each peer at the same offered rate (ratio = ours / peer; peers: ${peers.map((t) => `${t} = ${NAMES[t]}`).join(", ")})`,
        ["offered msg/s", "peer", "ours µs/deliv", "peer µs/deliv", "ratio", "ours p99 ms", "peer p99 ms", "ratio", "ours deliv/s", "peer deliv/s", "ours / peer"],
        rows,
      ),
    );
    out.push(renderPeerSummary(r, peers));
  }
  const lines: string[] = [];
  for (const target of ALL) {
    const s = r.sustainable[target];
    if (!s) continue;
    lines.push(
      `sustainable ${NAMES[target]}: ${s.rate === undefined ? "none (the first step failed)" : `${s.capped ? "≥ " : ""}${int(s.rate)} msg/s = ${int(s.deliveriesPerSec)} deliveries/s`}` +
        (s.failedBecause ? `; next step failed: ${s.failedBecause} (generator CPU ${fixed(s.failedGenCpuPct, 0)}%)` : ""),
    );
  }
  const ro = r.sustainable.ours?.rate;
  const rw = r.sustainable.ws?.rate;
  if (ro !== undefined && rw !== undefined) lines.push(`sustainable ratio ours / ws: ${times(ratio(ro, rw))}`);
  for (const peer of PEERS.filter((t) => t !== "ws")) {
    const rp = r.sustainable[peer]?.rate;
    if (ro !== undefined && rp !== undefined) lines.push(`sustainable ratio ours / ${peer}: ${times(ratio(ro, rp))}`);
  }
  out.push(lines.join("\n") + "\n");
  return out.join("\n");
}

/**
 * The figures issue 20 chases, ours and each peer from the same run, with
 * ours / peer: the sustainable rate (higher is better), p99 at 1,000 msg/s
 * and CPU per delivery at 200 msg/s (lower is better).
 */
function renderPeerSummary(r: FanoutReport, peers: Target[]): string {
  const step = (t: Target, rate: number) => finalAttempts(r.runs[t]?.steps ?? []).find((s) => s.offeredRate === rate);
  const sust = (t: Target) => r.sustainable[t];
  const sustCell = (t: Target) => {
    const s = sust(t);
    return s?.rate === undefined ? "none" : `${s.capped ? "≥ " : ""}${int(s.rate)}`;
  };
  const rows: Cell[][] = [];
  for (const t of ["ours" as Target, ...peers]) {
    const p1000 = step(t, 1000)?.latency.p99Ms;
    const c200 = step(t, 200)?.cpuPerDeliveryUs;
    rows.push([
      NAMES[t],
      sustCell(t),
      t === "ours" ? undefined : times(ratio(sust("ours")?.rate, sust(t)?.rate)),
      fixed(p1000, 2),
      t === "ours" ? undefined : times(ratio(step("ours", 1000)?.latency.p99Ms, p1000)),
      fixed(c200, 2),
      t === "ours" ? undefined : times(ratio(step("ours", 200)?.cpuPerDeliveryUs, c200)),
    ]);
  }
  return table(
    "Fan-out, ours and every peer (ratio = ours / peer; a rate with ≥ passed every step)",
    ["server", "sustainable msg/s", "ratio", "p99 ms at 1,000 msg/s", "ratio", "server µs/delivery at 200 msg/s", "ratio"],
    rows,
  );
}
