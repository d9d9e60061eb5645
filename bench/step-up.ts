/**
 * The step test: offer each rate in turn until one fails. On a shared,
 * virtualised 2-core machine a step can fail for a moment's contention (the
 * tables show other processes' CPU and hypervisor steal), so a failed step is
 * run again up to `retries` times before it counts; every attempt is kept.
 */
import type { Fleet, StepResult, StepSpec } from "./fleet.js";
import type { LoadContext } from "./load-context.js";

export async function stepUp(
  ctx: LoadContext,
  fleet: Fleet,
  rates: number[],
  spec: Omit<StepSpec, "rate">,
  retries: number,
  keepStepping = false,
): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  for (const rate of rates) {
    let r: StepResult | undefined;
    for (let attempt = 1; attempt <= retries + 1 && !r?.pass; attempt++) {
      r = { ...(await fleet.runStep({ ...spec, rate })), attempt };
      steps.push(r);
      ctx.progress(
        `${rate} msg/s${attempt > 1 ? ` (attempt ${attempt})` : ""}: ${Math.round(r.deliveriesPerSec)} deliveries/s, ` +
          `p99 ${r.latency.p99Ms.toFixed(1)} ms, ${r.cpuPerDeliveryUs.toFixed(2)} µs/delivery, gen ${r.genCpuPct.toFixed(0)}%, ` +
          `steal ${r.stealPct.toFixed(0)}%${r.pass ? "" : ` FAIL: ${r.why}`}`,
      );
    }
    if (!r!.pass && !keepStepping) break;
  }
  return steps;
}

/** The steps that count: for each rate, its last attempt. */
export function finalAttempts(steps: StepResult[]): StepResult[] {
  return steps.filter((s, i) => steps[i + 1]?.offeredRate !== s.offeredRate);
}
