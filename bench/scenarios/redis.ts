/**
 * Two nodes on Redis, orchestrator side: the fan-out load of the single-node
 * scenario (one room, `--senders` sending round-robin, stepped rates) with
 * the clients, and so the senders, split evenly over `--redis-nodes` of our
 * servers sharing one Redis (every message crosses nodes), next to one
 * embedded node (SQLite, as the fanout scenario runs it) under the same load
 * in the same invocation. The bench starts its own `redis-server` on a free
 * port, counts its CPU with the nodes', and reads its INFO commandstats
 * around each step: Redis commands per chat message, per step, for each room
 * size in `--redis-clients` (the first is the main one; the others run the
 * main one's sustained rates, every one of them even past a failed step,
 * enough to see whether the count depends on the number of members).
 *
 * Without redis-server it is skipped, saying so, unless --require-redis or
 * REQUIRE_REDIS=1 (then the run is broken).
 */
import { randomBytes } from "node:crypto";
import type { StepResult } from "../fleet.js";
import { redisServerVersion, startRedis, type RedisChild } from "../redis-server.js";
import { commandsPerMessage, meanCommandsPerMessage } from "../redis-stats.js";
import { runLoad, type RunContext, type ServerInfo } from "../runner.js";
import { ratio } from "../stats.js";
import { finalAttempts } from "../step-up.js";
import { fixed, int, mib, table, times, type Cell } from "../table.js";
import type { FanoutLoadResult } from "./fanout-load.js";
import { checkSteps, STEP_HEADERS, STEP_LEAD_HEADERS, STEP_TAIL_HEADERS, stepLeadCells, stepRow, stepTailCells, sustainableOf, type Sustainable } from "./fanout.js";

export type EmbeddedRun = FanoutLoadResult & { server?: ServerInfo };
export type NodesRun = FanoutLoadResult & { server?: ServerInfo; servers?: ServerInfo[] };

export interface RedisSize {
  clients: number;
  senders: number;
  rates: number[];
  embedded?: EmbeddedRun;
  redis?: NodesRun;
  sustainable: { embedded?: Sustainable; redis?: Sustainable };
  /** The key prefix the nodes used (--redis-prefix). */
  prefix: string;
}

export interface RedisReport {
  /** Why the scenario did not run. */
  skipped?: string;
  redisVersion?: string;
  nodes: number;
  /** Names of the processes in each step's cpuByProcessUs. */
  processes: string[];
  /** The nodes' flags on top of the single-node ones. */
  nodeFlags: string[];
  sizes: RedisSize[];
}

export async function runRedis(ctx: RunContext): Promise<RedisReport> {
  const o = ctx.options;
  const nodes = o.redisNodes;
  const processes = [...Array.from({ length: nodes }, (_, i) => `node ${i + 1}`), "redis-server"];
  const report: RedisReport = { nodes, processes, nodeFlags: [], sizes: [] };
  const version = redisServerVersion();
  if (!version) {
    const why = "redis-server is not installed (Debian: apt-get install redis-server)";
    if (o.requireRedis) throw new Error(`${why}, and --require-redis / REQUIRE_REDIS=1 asks for it`);
    ctx.warnings.push(`redis: skipped: ${why}`);
    ctx.log(`scenario redis skipped: ${why} (--require-redis or REQUIRE_REDIS=1 makes this an error)`);
    return { ...report, skipped: why };
  }
  report.redisVersion = version;
  let redis: RedisChild | undefined;
  try {
    redis = await startRedis(version);
    ctx.log(`redis: redis-server ${version} pid ${redis.pid} on ${redis.url}`);
    for (const [i, clients] of o.redisClients.entries()) {
      const senders = Math.min(o.senders, clients);
      const top = report.sizes[0]?.sustainable.redis?.rate;
      // The other sizes only need to show whether commands per message depend on the members: the main size's passing rates.
      const rates = i === 0 ? o.rates : o.rates.filter((r) => r <= (top ?? o.rates[0]));
      const prefix = `bench-${randomBytes(4).toString("hex")}`;
      const size: RedisSize = { clients, senders, rates, sustainable: {}, prefix };
      report.sizes.push(size);
      // The other sizes run all their rates (a noisy step must not hide the rest of the command counts).
      const overrides = { clients, senders, rates, keepStepping: i > 0 };
      const what = `${clients} clients`;
      // --smoke: the embedded node only at the main size (the fanout scenario covers it too), to stay short.
      if (i === 0 || !o.smoke) {
        try {
          size.embedded = await runLoad<EmbeddedRun>(ctx, "ours", "fanout", overrides, { label: `redis: embedded, ${what}` });
          size.sustainable.embedded = sustainableOf(size.embedded.steps);
          checkSteps(ctx, `redis/embedded, ${what}`, "ours", size.embedded.steps);
        } catch (err) {
          ctx.problems.push(`redis/embedded, ${what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const nodeFlags = ["--redis", redis.url, "--redis-prefix", prefix];
      report.nodeFlags = ["--redis", redis.url, "--redis-prefix", "bench-<random>"];
      try {
        size.redis = await runLoad<NodesRun>(ctx, "ours", "fanout", overrides, {
          label: `redis: ${nodes} nodes, ${what}`,
          nodes,
          serverArgs: nodeFlags,
          companions: [{ name: "redis-server", pid: redis.pid, child: redis.child, logFile: redis.logFile }],
          redisUrl: redis.url,
        });
        size.sustainable.redis = sustainableOf(size.redis.steps);
        checkSteps(ctx, `redis/${nodes} nodes, ${what}`, "ours", size.redis.steps);
        if (finalAttempts(size.redis.steps).some((s) => !s.redis)) ctx.problems.push(`redis/${nodes} nodes, ${what}: no command counters read`);
      } catch (err) {
        ctx.problems.push(`redis/${nodes} nodes, ${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await redis?.stop();
  }
  return report;
}

const perDelivery = (us: number | undefined, s: StepResult) => (us === undefined || s.received === 0 ? undefined : us / s.received);

function nodesRow(s: StepResult): Cell[] {
  const c = commandsPerMessage(s);
  return [
    ...stepLeadCells(s),
    `${s.seqGaps}/${s.seqBackwards}`,
    fixed(s.cpuPerDeliveryUs, 2),
    (s.cpuByProcessUs ?? []).map((us) => fixed(perDelivery(us, s), 2)).join(" + "),
    fixed(c?.all, 2),
    fixed(c?.scripts, 2),
    fixed(c?.scriptUs, 1),
    ...stepTailCells(s),
  ];
}

export function renderRedis(r: RedisReport): string {
  if (r.skipped) return `### Two nodes on Redis: skipped\n\n${r.skipped}; --require-redis (or REQUIRE_REDIS=1) makes this an error.\n`;
  const out: string[] = [];
  const procs = r.processes.join(" + ");
  for (const size of r.sizes) {
    const run = size.redis ?? size.embedded;
    const shape = `${size.clients} clients in one room, ${size.senders} senders, ${run?.payloadBytes ?? "?"}-byte messages, ${run?.stepSeconds ?? "?"} s steps`;
    if (size.embedded) out.push(table(`Fan-out, one embedded node (SQLite): ${shape}`, STEP_HEADERS, size.embedded.steps.map(stepRow)));
    if (size.redis) {
      out.push(
        table(
          `Fan-out, ${r.nodes} nodes on Redis ${r.redisVersion}: ${shape}, clients and senders split evenly over the nodes ` +
            `(µs/delivery: ${procs} together, then each; Redis commands per message, those inside scripts included)`,
          [
            ...STEP_LEAD_HEADERS,
            "seq gaps/back",
            "µs/delivery, all",
            `µs/delivery: ${procs}`,
            "Redis cmds/msg",
            "EVALSHA/msg",
            "script µs/msg",
            "nodes RSS MiB",
            ...STEP_TAIL_HEADERS,
          ],
          size.redis.steps.map(nodesRow),
        ),
      );
    }
    if (size.embedded && size.redis) {
      const emb = new Map(finalAttempts(size.embedded.steps).map((s) => [s.offeredRate, s]));
      const rows = finalAttempts(size.redis.steps).map((x) => {
        const e = emb.get(x.offeredRate);
        return [
          int(x.offeredRate),
          int(e?.deliveriesPerSec),
          int(x.deliveriesPerSec),
          e ? `${fixed(e.latency.p50Ms, 1)} / ${fixed(e.latency.p99Ms, 1)}` : "-",
          `${fixed(x.latency.p50Ms, 1)} / ${fixed(x.latency.p99Ms, 1)}`,
          fixed(e?.cpuPerDeliveryUs, 2),
          fixed(x.cpuPerDeliveryUs, 2),
          times(ratio(x.cpuPerDeliveryUs, e?.cpuPerDeliveryUs)),
          e ? `${fixed(e.otherCpuPct, 0)}/${fixed(e.stealPct, 0)}; ${fixed(x.otherCpuPct, 0)}/${fixed(x.stealPct, 0)}` : "-",
          `${e ? (e.pass ? "pass" : "FAIL") : "-"} / ${x.pass ? "pass" : "FAIL"}`,
        ];
      });
      out.push(
        table(
          `Fan-out, ${size.clients} clients: one embedded node vs ${r.nodes} nodes on Redis at the same offered rate (ratio = Redis / embedded, CPU of every process)`,
          [
            "offered msg/s",
            "embedded deliv/s",
            "Redis deliv/s",
            "embedded p50 / p99 ms",
            "Redis p50 / p99 ms",
            "embedded µs/deliv",
            "Redis µs/deliv",
            "ratio",
            "other procs / steal %: emb; Redis",
            "embedded / Redis",
          ],
          rows,
        ),
      );
    }
  }
  // Commands per message, every size side by side.
  const cmdRows: Cell[][] = [];
  for (const size of r.sizes) {
    for (const s of finalAttempts(size.redis?.steps ?? [])) {
      const c = commandsPerMessage(s);
      if (!c) continue;
      const redisUs = s.cpuByProcessUs?.[r.processes.length - 1];
      cmdRows.push([
        int(size.clients),
        int(s.offeredRate),
        int(s.sent),
        fixed(c.scripts, 3),
        fixed(c.publish, 3),
        fixed(c.all, 2),
        fixed(c.scriptUs, 1),
        fixed(redisUs === undefined ? undefined : redisUs / Math.max(1, s.sent), 1),
        c.byCommand
          .slice(0, 12)
          .map(([name, n]) => `${name} ${n.toFixed(2)}`)
          .join(", "),
      ]);
    }
  }
  if (cmdRows.length > 0) {
    out.push(
      table(
        "Redis commands per chat message (INFO commandstats delta over each step / messages sent in it; commands run inside scripts counted under their own names)",
        ["clients", "offered msg/s", "messages", "EVALSHA/msg", "PUBLISH/msg", "all cmds/msg", "script µs/msg", "redis-server CPU µs/msg", "per command"],
        cmdRows,
      ),
    );
  }
  const lines: string[] = [];
  for (const size of r.sizes) {
    for (const [name, s] of [
      ["one embedded node", size.sustainable.embedded],
      [`${r.nodes} nodes on Redis`, size.sustainable.redis],
    ] as const) {
      if (!s) continue;
      lines.push(
        `sustainable, ${size.clients} clients, ${name}: ${s.rate === undefined ? "none (the first step failed)" : `${s.capped ? "≥ " : ""}${int(s.rate)} msg/s = ${int(s.deliveriesPerSec)} deliveries/s`}` +
          (s.failedBecause ? `; next step failed: ${s.failedBecause} (generator CPU ${fixed(s.failedGenCpuPct, 0)}%)` : ""),
      );
    }
    const m = meanCommandsPerMessage(size.redis?.steps);
    if (m !== undefined) lines.push(`Redis commands per message, ${size.clients} clients: ${fixed(m, 2)} on average over the steps`);
  }
  out.push(lines.join("\n") + "\n");
  return out.join("\n");
}
