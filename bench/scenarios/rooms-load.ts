/**
 * Many small rooms, generator side: `rooms` rooms of `roomSize` members, one
 * connection each; RSS per room after joining, then offered rates stepped up
 * with every member a sender (message k goes to room k mod rooms), so the
 * cost per delivery is measured where batching has little to batch.
 */
import { Fleet, type StepResult } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import { stepUp } from "../step-up.js";
import type { BenchOptions } from "../options.js";
import { settledRss } from "./idle-load.js";

const WARM = 10;

export interface RoomsLoadResult {
  rooms: number;
  roomSize: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerRoomBytes: number;
  steps: StepResult[];
}

export async function loadRooms(ctx: LoadContext, o: BenchOptions): Promise<RoomsLoadResult> {
  const members = o.rooms * o.roomSize;
  const fleet = new Fleet(WARM + members, ctx.probe, payloadText(o.payload));
  const connector = ctx.connector(fleet);
  const room = (i: number) => (i < WARM ? "rooms-warm" : `room-${Math.floor((i - WARM) / o.roomSize)}`);
  await fleet.openAndJoin(connector, room, (i) => `m${i}`, { to: WARM });
  const before = await settledRss(ctx, o.settleMs / 2);
  await fleet.openAndJoin(connector, room, (i) => `m${i}`, { from: WARM, progress: ctx.progress, timeoutMs: 300_000 });
  const after = await settledRss(ctx, o.settleMs);
  ctx.progress(`${o.rooms} rooms joined: ${((after - before) / o.rooms / 1024).toFixed(1)} KiB per room`);

  const sender = (k: number) => WARM + (k % o.rooms) * o.roomSize + (Math.floor(k / o.rooms) % o.roomSize);
  if (o.warmupSeconds > 0) await fleet.runStep({ rate: o.roomRates[0], seconds: o.warmupSeconds, drainMs: o.drainMs, sender });
  const steps = await stepUp(ctx, fleet, o.roomRates, { seconds: o.stepSeconds, drainMs: o.drainMs, sender }, o.retries);
  return { rooms: o.rooms, roomSize: o.roomSize, rssBeforeBytes: before, rssAfterBytes: after, rssPerRoomBytes: (after - before) / o.rooms, steps };
}
