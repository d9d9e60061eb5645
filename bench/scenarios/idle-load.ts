/**
 * Idle streams, generator side: open `idleStreams` joined streams (rooms of
 * `idleRoomSize`; one room of all of them for idle-shared) that then say
 * nothing, and measure the server's RSS per stream: (RSS after - RSS before)
 * / streams. A few warm-up streams (in a room of their own) are opened first
 * so one-time costs (first connection, JIT) are in "before"; "after" is read
 * once the server has gone quiet (in a big room it is still flushing presence
 * events when the last join is answered). Also reports what each client
 * received while the others joined (frames, bytes, presence), and the CPU of
 * the server and of this generator during the joins (which one limited).
 * Clients the server drops while joining (e.g. too slow to read the presence
 * traffic) are counted, not fatal; joins that run past the timeout stop the
 * run, which reports how far it got.
 */
import { cpuWindow, Fleet, type CpuShares, type ReceivedSummary } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import type { BenchOptions } from "../options.js";
import { sleep } from "../proc.js";

const WARM = 10;

export interface IdleLoadResult {
  streams: number;
  streamsPerConnection: number;
  roomSize: number;
  /** Streams that got their joined event (all of them unless some ended or the joins timed out). */
  joined: number;
  /** False when the joins ran past the timeout (then RSS per stream is over the joined ones). */
  completed: boolean;
  joinTimeoutSeconds: number;
  /** Streams the server ended (during the joins or the settle), and how the first one ended. */
  ended: number;
  endedHow: string | undefined;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerStreamBytes: number;
  joinSeconds: number;
  serverCpuPerJoinUs: number;
  /** CPU during the joins: server, generator, others, steal (% of one core). */
  cpu: CpuShares;
  /** What each measured client received from its first byte until the settled RSS was read. */
  received: ReceivedSummary;
  /** Seconds from the last join answered until the server went quiet. */
  quietAfterSeconds: number;
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

/** Wait until the server uses under 10% of a core over 500 ms (at most `maxMs`); returns the seconds waited. */
export async function serverQuiet(ctx: LoadContext, maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const c0 = ctx.probe.cpuUs();
    await sleep(500);
    if (ctx.probe.cpuUs() - c0 < 50_000) break;
  }
  return (performance.now() - t0) / 1000;
}

export async function loadIdle(ctx: LoadContext, o: BenchOptions): Promise<IdleLoadResult> {
  const perConnection = ctx.target === "ours" ? o.idlePerConnection : 1;
  const fleet = new Fleet(WARM + o.idleStreams, ctx.probe, payloadText(o.payload));
  const connector = ctx.connector(fleet, perConnection);
  const room = (i: number) => (i < WARM ? "idle-warm" : `idle-${Math.floor((i - WARM) / o.idleRoomSize)}`);
  await fleet.openAndJoin(connector, room, (i) => `i${i}`, { to: WARM });
  const before = await settledRss(ctx, o.settleMs / 2);
  const window = cpuWindow(ctx.probe);
  const t0 = performance.now();
  const completed = await fleet.openAndJoin(connector, room, (i) => `i${i}`, {
    from: WARM,
    progress: ctx.progress,
    timeoutMs: o.idleJoinTimeoutSeconds * 1000,
    tolerateEnded: true,
    stopAtTimeout: true,
  });
  const joinSeconds = (performance.now() - t0) / 1000;
  const cpu = window.stop();
  const quietAfterSeconds = await serverQuiet(ctx, 60_000);
  const after = await settledRss(ctx, o.settleMs);
  let joined = 0;
  for (let i = WARM; i < fleet.count; i++) if (fleet.isJoined(i)) joined++;
  const ended = fleet.endedCount;
  const endedHow = fleet.endedHow.find((h) => h);
  const perStream = (after - before) / Math.max(1, joined);
  ctx.progress(
    `${joined} of ${o.idleStreams} streams joined in ${joinSeconds.toFixed(1)} s (${perConnection} per connection, rooms of ${o.idleRoomSize})` +
      `${completed ? "" : `: STOPPED at the ${o.idleJoinTimeoutSeconds} s timeout`}${ended ? `, ${ended} ended (${endedHow})` : ""}: ` +
      `${(perStream / 1024).toFixed(1)} KiB each; server CPU ${cpu.serverPct.toFixed(0)}%, generator ${cpu.genPct.toFixed(0)}%`,
  );
  return {
    streams: o.idleStreams,
    streamsPerConnection: perConnection,
    roomSize: o.idleRoomSize,
    joined,
    completed,
    joinTimeoutSeconds: o.idleJoinTimeoutSeconds,
    ended,
    endedHow,
    rssBeforeBytes: before,
    rssAfterBytes: after,
    rssPerStreamBytes: perStream,
    joinSeconds,
    serverCpuPerJoinUs: cpu.serverCpuUs / Math.max(1, joined),
    cpu,
    received: fleet.received.summary(WARM, fleet.count),
    quietAfterSeconds,
  };
}
