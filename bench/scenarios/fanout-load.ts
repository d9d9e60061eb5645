/**
 * Fan-out step test, generator side: `clients` in one room, the first
 * `senders` of them sending round-robin, the offered rate stepped up until a
 * step fails (p99 over 100 ms, anything lost or duplicated, a receiver seeing
 * the room's seq skip or go back, a client dropped, or the generator unable
 * to offer the rate), after `retries` more tries. With several nodes (ours on
 * Redis) client i is on node i mod n, so the senders are split too and every
 * message reaches members on every node; the Redis's command counters are
 * read around each step.
 */
import { Fleet, type StepResult } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import { stepUp } from "../step-up.js";
import type { BenchOptions } from "../options.js";

export interface FanoutLoadResult {
  clients: number;
  senders: number;
  payloadBytes: number;
  stepSeconds: number;
  steps: StepResult[];
}

export async function loadFanout(ctx: LoadContext, o: BenchOptions): Promise<FanoutLoadResult> {
  const fleet = new Fleet(o.clients, ctx.probe, payloadText(o.payload));
  // The forwarding peers assign no room seq (per-sender order is still checked).
  fleet.checkRoomSeq = ctx.target === "ours" || ctx.target === "grpc";
  await fleet.openAndJoin(ctx.connector(fleet), () => "fanout", (i) => `c${i}`);
  const sender = (k: number) => k % o.senders;
  if (o.warmupSeconds > 0) {
    await fleet.runStep({ rate: o.rates[0], seconds: o.warmupSeconds, drainMs: o.drainMs, sender });
  }
  const steps = await stepUp(ctx, fleet, o.rates, { seconds: o.stepSeconds, drainMs: o.drainMs, sender, redis: ctx.redis }, o.retries, o.keepStepping);
  return { clients: o.clients, senders: o.senders, payloadBytes: o.payload, stepSeconds: o.stepSeconds, steps };
}
