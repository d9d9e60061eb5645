/**
 * Idle clients sharing one room, orchestrator side: for each client count
 * (5,000 and 10,000 by default), a fresh server, one HTTP/2 connection per
 * client (as real clients connect), every client joined to the same room,
 * then nothing said. Reports the connect+join wall time, server RSS per
 * client once the joins have settled, and what each client received while
 * the others joined (the presence traffic a big room costs). Runs against
 * ours and the ws baseline (which sends no presence). The table puts these
 * beside the idle scenario's rooms of 10 and a room each, when it ran.
 *
 * Today a join into a big room costs O(room size) (the joined event lists
 * every member; every join is broadcast to every member), so the joins are
 * slow: the timeout is generous (--shared-join-timeout), and a run that hits
 * it stops and reports how far it got instead of failing the benchmark.
 */
import type { Target } from "../children.js";
import { targetsFor } from "../options.js";
import { runLoad, type RunContext } from "../runner.js";
import { ratio } from "../stats.js";
import { fixed, int, kib, table, times, type Cell } from "../table.js";
import type { IdleReport } from "./idle.js";
import type { IdleLoadResult } from "./idle-load.js";

export interface SharedRun {
  clients: number;
  runs: Partial<Record<Target, IdleLoadResult>>;
}

export interface IdleSharedReport {
  sizes: SharedRun[];
}

export async function runIdleShared(ctx: RunContext): Promise<IdleSharedReport> {
  const report: IdleSharedReport = { sizes: [] };
  const timeout = ctx.options.sharedJoinTimeoutSeconds;
  for (const clients of ctx.options.sharedClients) {
    const size: SharedRun = { clients, runs: {} };
    report.sizes.push(size);
    // The grpc-js peer too: how fast the least a gRPC server can do takes 10,000 joins into one room.
    for (const target of targetsFor(ctx.options, ["grpc"])) {
      const r = await runLoad<IdleLoadResult>(
        ctx,
        target,
        "idle",
        { idleStreams: clients, idleRoomSize: clients, idlePerConnection: 1, idleJoinTimeoutSeconds: timeout },
        // Joins, then up to a minute for the server to go quiet and the settle, with room to spare.
        { timeoutMs: (timeout + 180) * 1000, label: `idle-shared ${clients}` },
      );
      size.runs[target] = r;
      if (!r.completed) ctx.warnings.push(`idle-shared/${target}: only ${r.joined} of ${clients} clients joined one room within ${timeout} s`);
      if (r.ended > 0) ctx.warnings.push(`idle-shared/${target}: the server ended ${r.ended} of ${clients} clients in one room (${r.endedHow})`);
      if (r.joined === 0) ctx.problems.push(`idle-shared/${target}: no client joined`);
      if (r.rssAfterBytes <= r.rssBeforeBytes) ctx.warnings.push(`idle-shared/${target}: RSS did not grow with ${clients} clients (too few to measure?)`);
    }
  }
  return report;
}

const HEADERS = [
  "server",
  "clients",
  "rooms",
  "joined",
  "open+join s",
  "KiB per client",
  "ratio",
  "server µs per join",
  "server / gen CPU %",
  "presence events per client",
  "presence KiB per client (max)",
  "joined-event KiB per client (max)",
  "frames per client",
  "ended",
];

function row(name: string, x: IdleLoadResult | undefined, base?: IdleLoadResult): Cell[] | undefined {
  if (!x) return undefined;
  return [
    name,
    int(x.streams),
    x.roomSize === 1 ? "a room each" : x.roomSize >= x.streams ? "one room" : `rooms of ${int(x.roomSize)}`,
    x.completed ? int(x.joined) : `${int(x.joined)} (stopped at ${x.joinTimeoutSeconds} s)`,
    fixed(x.joinSeconds, 1),
    kib(x.rssPerStreamBytes),
    // RSS differences of a few hundred clients can be noise (even negative): no ratio then.
    times(base && base.rssPerStreamBytes > 0 && x.rssPerStreamBytes > 0 ? ratio(x.rssPerStreamBytes, base.rssPerStreamBytes) : undefined),
    fixed(x.serverCpuPerJoinUs, 0),
    x.cpu ? `${fixed(x.cpu.serverPct, 0)} / ${fixed(x.cpu.genPct, 0)}` : undefined,
    x.received ? fixed(x.received.presenceEventsMean, 0) : undefined,
    x.received ? `${kib(x.received.presenceBytesMean)} (${kib(x.received.presenceBytesMax)})` : undefined,
    x.received ? `${kib(x.received.joinedBytesMean)} (${kib(x.received.joinedBytesMax)})` : undefined,
    x.received ? fixed(x.received.framesMean, 0) : undefined,
    x.ended > 0 ? `${x.ended}: ${x.endedHow}` : 0,
  ];
}

/** One table: the shared room at each size, beside the idle scenario's rooms of 10 and a room each. */
export function renderIdleShared(r: IdleSharedReport, idle?: IdleReport): string {
  const rows: (Cell[] | undefined)[] = [];
  for (const s of r.sizes) {
    rows.push(row("ours", s.runs.ours, s.runs.ws));
    rows.push(row("ws peer", s.runs.ws));
    rows.push(row("grpc-js peer", s.runs.grpc));
  }
  if (idle) {
    rows.push(row("ours", idle.runs.ours, idle.runs.ws));
    rows.push(row("ws peer", idle.runs.ws));
    rows.push(row("ours", idle.oursRoomEach, idle.runs.ws));
  }
  const notes = [
    "ratio = ours / ws at the same size and rooms. Presence = member_joined/member_left events and events the bench does not know",
    "(e.g. a presence digest); joined-event bytes carry the room's member list. Per client, received from its connect until RSS was read.",
    "server / gen CPU % = % of one core each during the joins: the one near 100 limited the join rate.",
  ];
  for (const s of r.sizes) {
    const o = s.runs.ours;
    const g = s.runs.grpc;
    if (o && g) {
      notes.push(
        `${int(s.clients)} in one room, ours / grpc-js peer: open+join ${times(ratio(o.joinSeconds, g.joinSeconds))}, ` +
          `server µs per join ${times(ratio(o.serverCpuPerJoinUs, g.serverCpuPerJoinUs))}, KiB per client ${times(ratio(o.rssPerStreamBytes, g.rssPerStreamBytes))}.`,
      );
    }
  }
  return (
    table(
      "Idle clients: all in one room vs rooms of 10 vs a room each (one HTTP/2 connection per client)",
      HEADERS,
      rows.filter((x): x is Cell[] => x !== undefined),
    ) +
    notes.join("\n") +
    "\n"
  );
}
