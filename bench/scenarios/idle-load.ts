/**
 * Idle streams, generator side: open `idleStreams` joined streams (rooms of
 * `idleRoomSize`) that then say nothing, and measure the server's RSS per
 * stream: (RSS after - RSS before) / streams. A few warm-up streams are
 * opened first so one-time costs (first connection, JIT) are in "before".
 */
import { Fleet } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import type { BenchOptions } from "../options.js";
import { sleep } from "../proc.js";

const WARM = 10;

export interface IdleLoadResult {
  streams: number;
  streamsPerConnection: number;
  roomSize: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerStreamBytes: number;
  joinSeconds: number;
  serverCpuPerJoinUs: number;
}

/** RSS after the server has been quiet for a moment: the median of a few samples. */
export async function settledRss(ctx: LoadContext, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(ctx.probe.rssBytes());
    await sleep(100);
  }
  return samples.sort((a, b) => a - b)[2];
}

export async function loadIdle(ctx: LoadContext, o: BenchOptions): Promise<IdleLoadResult> {
  const perConnection = ctx.target === "ours" ? o.idlePerConnection : 1;
  const fleet = new Fleet(WARM + o.idleStreams, ctx.probe, payloadText(o.payload));
  const connector = ctx.connector(fleet, perConnection);
  const room = (i: number) => (i < WARM ? "idle-warm" : `idle-${Math.floor((i - WARM) / o.idleRoomSize)}`);
  await fleet.openAndJoin(connector, room, (i) => `i${i}`, { to: WARM });
  const before = await settledRss(ctx, o.settleMs / 2);
  const cpu0 = ctx.probe.cpuUs();
  const t0 = performance.now();
  await fleet.openAndJoin(connector, room, (i) => `i${i}`, { from: WARM, progress: ctx.progress, timeoutMs: 300_000 });
  const joinSeconds = (performance.now() - t0) / 1000;
  const cpu = ctx.probe.cpuUs() - cpu0;
  const after = await settledRss(ctx, o.settleMs);
  if (fleet.endedCount > 0) throw new Error(`${fleet.endedCount} idle streams ended: ${fleet.endedHow.find((h) => h)}`);
  ctx.progress(`${o.idleStreams} streams (${perConnection} per connection): ${((after - before) / o.idleStreams / 1024).toFixed(1)} KiB each`);
  return {
    streams: o.idleStreams,
    streamsPerConnection: perConnection,
    roomSize: o.idleRoomSize,
    rssBeforeBytes: before,
    rssAfterBytes: after,
    rssPerStreamBytes: (after - before) / o.idleStreams,
    joinSeconds,
    serverCpuPerJoinUs: cpu / o.idleStreams,
  };
}
