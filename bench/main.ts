/**
 * `npm run bench`: the fan-out benchmark, ours against a raw ws broadcast
 * server, and ours as two nodes on Redis against one embedded node. This process only orchestrates: each run starts a fresh server
 * child and a load-generator child (bench/runner.ts) and waits. Tables go to
 * stdout (stderr with --json, which prints the results as JSON on stdout);
 * progress goes to stderr. Exits 1 when the benchmark is broken (a crash,
 * nothing delivered, loss at the lowest rate), 2 on bad flags.
 */
import { cpus, totalmem } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuilt, keepServerLogs, OURS_ENTRY, oursArgs } from "./children.js";
import { HELP, parseOptions, UsageError, type BenchOptions } from "./options.js";
import type { RunContext } from "./runner.js";
import { renderFanout, runFanout } from "./scenarios/fanout.js";
import { renderIdle, runIdle } from "./scenarios/idle.js";
import { renderRedis, runRedis } from "./scenarios/redis.js";
import { renderIdleShared, runIdleShared } from "./scenarios/idle-shared.js";
import { renderRooms, runRooms } from "./scenarios/rooms.js";
import { renderStalled, runStalled } from "./scenarios/stalled.js";
import { renderStorm, runStorm } from "./scenarios/storm.js";
import { judgeTargets, renderTargets, type Reports } from "./targets.js";
import { checkWire } from "./wire.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

async function main(): Promise<number> {
  let options: BenchOptions | "help";
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  checkWire();
  if (options.keepLogs) keepServerLogs();
  const started = Date.now();
  const ctx: RunContext = {
    root,
    options,
    log: (msg) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`),
    problems: [],
    warnings: [],
  };
  if (options.targets.includes("ours")) ensureBuilt(root, ctx.log);
  const serverFlags = [...oursArgs(root, "<temp>.db"), ...options.serverArgs];
  if (options.targets.includes("ours")) ctx.log(`our server: node ${OURS_ENTRY} ${serverFlags.join(" ")}`);
  const print = (text: string) => (options.json ? console.error(text) : console.log(text));
  const reports: Reports & { rooms?: Awaited<ReturnType<typeof runRooms>> } = {};
  for (const scenario of options.scenarios) {
    // A broken scenario is reported; the others still run.
    try {
      ctx.log(`scenario ${scenario}`);
      if (scenario === "fanout") print(renderFanout((reports.fanout = await runFanout(ctx))));
      if (scenario === "redis") print(renderRedis((reports.redis = await runRedis(ctx))));
      if (scenario === "idle") print(renderIdle((reports.idle = await runIdle(ctx))));
      if (scenario === "stalled") print(renderStalled((reports.stalled = await runStalled(ctx))));
      if (scenario === "rooms") print(renderRooms((reports.rooms = await runRooms(ctx))));
      if (scenario === "idle-shared") print(renderIdleShared((reports.idleShared = await runIdleShared(ctx)), reports.idle));
      if (scenario === "storm") print(renderStorm((reports.storm = await runStorm(ctx))));
    } catch (err) {
      ctx.problems.push(`${scenario}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const targets = judgeTargets(reports);
  if (targets.length > 0) print(renderTargets(targets, options.smoke));
  const seconds = (Date.now() - started) / 1000;
  print(`machine: ${JSON.stringify(machine())}; ${seconds.toFixed(0)} s`);
  if (options.json) {
    console.log(JSON.stringify({ machine: machine(), options, serverFlags, seconds, reports, targets, problems: ctx.problems, warnings: ctx.warnings }, null, 2));
  }
  if (ctx.warnings.length > 0) console.error(`bench: warnings:\n  ${ctx.warnings.join("\n  ")}`);
  if (ctx.problems.length > 0) {
    console.error(`bench: BROKEN:\n  ${ctx.problems.join("\n  ")}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
