/**
 * A client that stops reading, generator side. The others chat at
 * `stallRate` messages/s first with everybody reading (the reference), then
 * with the last client no longer reading. Reports the others' latency in both
 * phases, the server's RSS growth while the stalled one is connected, and
 * when (if ever) the server dropped it: the first of the others being told it
 * left (MemberLeftEvent) or its own stream ending. For a server with metrics
 * (ours), a third phase, not measured, stalls a second client to read the
 * subscriber queues' high-water mark (see queueHighWater).
 */
import { LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import { Fleet, nowUs, type StepResult } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import type { BenchOptions } from "../options.js";

export interface StalledLoadResult {
  clients: number;
  rate: number;
  reference: StepResult;
  stalled: StepResult;
  rssBeforeBytes: number;
  /** Largest RSS during the stalled phase minus RSS at its start. */
  rssGrowthBytes: number;
  /** The same during the reference phase (heap growth that has nothing to do with a stalled client). */
  referenceRssGrowthBytes: number;
  /** Seconds from the stall to the drop; undefined when it was not dropped. */
  droppedAfterSeconds: number | undefined;
  dropHow: string | undefined;
  /** Largest chat_queued_bytes (all subscriber queues) seen while one client was stalled; ours only. */
  maxQueuedBytes: number | undefined;
}

export async function loadStalled(ctx: LoadContext, o: BenchOptions): Promise<StalledLoadResult> {
  const fleet = new Fleet(o.clients, ctx.probe, payloadText(o.payload));
  await fleet.openAndJoin(ctx.connector(fleet), () => "stall", (i) => `c${i}`);
  const sloth = o.clients - 1; // never a sender
  const slothName = `c${sloth}`;
  fleet.excluded[sloth] = 1; // its deliveries are neither expected nor counted, in either phase
  const sender = (k: number) => k % o.senders;
  if (o.warmupSeconds > 0) await fleet.runStep({ rate: o.stallRate, seconds: o.warmupSeconds, drainMs: o.drainMs, sender });
  const rssAtReference = ctx.probe.rssBytes();
  const reference = await fleet.runStep({ rate: o.stallRate, seconds: o.stallReferenceSeconds, drainMs: o.drainMs, sender });
  ctx.progress(`reference: p99 ${reference.latency.p99Ms.toFixed(1)} ms`);

  const rssBefore = ctx.probe.rssBytes();
  const stallUs = nowUs();
  fleet.clients[sloth]!.stopReading();
  const stalled = await fleet.runStep({ rate: o.stallRate, seconds: o.stallSeconds, drainMs: o.drainMs, sender });
  const told = fleet.left.find((l) => l.nickname === slothName);
  const endedUs = fleet.endedHow[sloth] !== undefined ? fleet.endedAtUs[sloth] : undefined;
  let droppedAfterSeconds: number | undefined;
  let dropHow: string | undefined;
  if (told && (endedUs === undefined || told.atUs <= endedUs)) {
    droppedAfterSeconds = (told.atUs - stallUs) / 1e6;
    dropHow = `others told: member left (${LeaveReason[told.reason]})`;
  } else if (endedUs !== undefined) {
    droppedAfterSeconds = (endedUs - stallUs) / 1e6;
    dropHow = `its stream ended: ${fleet.endedHow[sloth]}`;
  }
  const maxQueued = await queueHighWater(ctx, o, fleet, o.clients - 2, sender);
  ctx.progress(
    `stalled: p99 ${stalled.latency.p99Ms.toFixed(1)} ms, RSS +${((stalled.serverRssMaxBytes - rssBefore) / 1048576).toFixed(1)} MiB, ` +
      (droppedAfterSeconds === undefined ? "not dropped" : `dropped after ${droppedAfterSeconds.toFixed(1)} s`),
  );
  return {
    clients: o.clients,
    rate: o.stallRate,
    reference,
    stalled,
    rssBeforeBytes: rssBefore,
    rssGrowthBytes: Math.max(0, stalled.serverRssMaxBytes - rssBefore),
    referenceRssGrowthBytes: Math.max(0, reference.serverRssMaxBytes - rssAtReference),
    droppedAfterSeconds,
    dropHow,
    maxQueuedBytes: maxQueued,
  };
}

/**
 * The largest chat_queued_bytes while a client stalls, measured in a phase of
 * its own after the measured one, with a second client stalling: scraping
 * /metrics during the measured phase (every 0.5 s, ~2 ms of event loop each)
 * added work to ours alone, as the peers have no metrics, and raised its p99
 * there (two pairs of runs: 1.54x and 1.39x its reference with the scrapes,
 * 1.19x and 1.24x without). Skipped for a server without metrics.
 */
async function queueHighWater(ctx: LoadContext, o: BenchOptions, fleet: Fleet, staller: number, sender: (k: number) => number): Promise<number | undefined> {
  if ((await ctx.metric("chat_queued_bytes")) === undefined) return undefined;
  fleet.excluded[staller] = 1;
  fleet.clients[staller]!.stopReading();
  let maxQueued: number | undefined;
  let scraping = false;
  let ticks = 0;
  const scrape = () => {
    // Every 5th tick (~0.5 s), one scrape at a time.
    if (scraping || ticks++ % 5 !== 0) return;
    scraping = true;
    void ctx.metric("chat_queued_bytes").then((v) => {
      scraping = false;
      if (v !== undefined) maxQueued = Math.max(maxQueued ?? 0, v);
    });
  };
  await fleet.runStep({ rate: o.stallRate, seconds: o.stallSeconds, drainMs: o.drainMs, sender, onTick: scrape });
  return maxQueued;
}
