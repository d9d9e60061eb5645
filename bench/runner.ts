/**
 * One measured run, orchestrator side: start a fresh server (ours or the ws
 * baseline), fork a generator, hand it the plan, wait for its result, stop
 * both. The orchestrator only waits meanwhile; the two children are the only
 * busy processes.
 */
import type { ChildProcess } from "node:child_process";
import { logTail, oursHasFlag, startGenerator, startServer, type ServerChild, type Target } from "./children.js";
import type { StepResult } from "./fleet.js";
import type { LoadPlan } from "./load-context.js";
import type { BenchOptions } from "./options.js";
import { clockTicks } from "./proc.js";

export interface RunContext {
  root: string;
  options: BenchOptions;
  log(msg: string): void;
  /** Things that prove the benchmark or the server is broken (not merely slow): exit non-zero. */
  problems: string[];
  /** Things worth saying that break nothing (e.g. an overloaded baseline losing messages). */
  warnings: string[];
}

/** Default limit on one run (a scenario may give a longer one). */
export const RUN_TIMEOUT_MS = 10 * 60 * 1000;
export const ticks = clockTicks();

/** Which server process a result came from. */
export interface ServerInfo {
  pid: number;
  address: string;
  spawnedAtMs: number;
  profiled: boolean;
}

/** Run `load` against a fresh `target` server; the result says which server it was (`server`). */
export async function runLoad<T>(
  ctx: RunContext,
  target: Target,
  load: string,
  overrides: Partial<BenchOptions> = {},
  extra: { metrics?: boolean; timeoutMs?: number; label?: string } = {},
): Promise<T> {
  const label = extra.label ?? load;
  const options = { ...ctx.options, ...overrides };
  const profiling = target === "ours" && options.cpuProfDir !== undefined;
  // The generator loads its modules while the server starts; it waits for the plan.
  const generator = startGenerator(ctx.root);
  let server: ServerChild;
  try {
    server = await startServer({
      target,
      root: ctx.root,
      nodeFlags: [
        ...(profiling ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
        ...(target === "ours" ? options.serverNodeFlags : []),
      ],
      serverArgs: [...(extra.metrics && target === "ours" && oursHasFlag(ctx.root, "metrics-port") ? ["--metrics-port", "0"] : []), ...options.serverArgs],
    });
  } catch (err) {
    generator.kill("SIGKILL");
    throw err;
  }
  ctx.log(`${label} / ${target}: server pid ${server.pid} on ${server.address}`);
  try {
    const timeoutMs = extra.timeoutMs ?? RUN_TIMEOUT_MS;
    const plan: LoadPlan = {
      load,
      target,
      address: server.address,
      serverPid: server.pid,
      metricsUrl: server.metricsUrl,
      clockTicks: ticks,
      options,
      watchdogMs: timeoutMs + 60_000,
    };
    const result = await awaitResult<T>(generator, server, plan, (msg) => ctx.log(`${label} / ${target}: ${msg}`), timeoutMs);
    const info: ServerInfo = { pid: server.pid, address: server.address, spawnedAtMs: server.spawnedAtMs, profiled: profiling };
    if (profiling) logProfileWindows(ctx, info, result as { steps?: StepResult[] });
    return Object.assign(result as object, { server: info }) as T;
  } finally {
    if (generator.exitCode === null) generator.kill("SIGKILL");
    // A profiled server needs time to write its profile; the others may just go.
    await server.stop(profiling ? 30_000 : 2_000);
  }
}

/** Where each step lies in the server's --cpu-prof profile, and how to summarise just that window. */
function logProfileWindows(ctx: RunContext, server: ServerInfo, result: { steps?: StepResult[]; reference?: StepResult; stalled?: StepResult }): void {
  const steps = [...(result.steps ?? []), ...(result.reference ? [result.reference] : []), ...(result.stalled ? [result.stalled] : [])];
  for (const s of steps) {
    ctx.log(
      `profile of pid ${server.pid}, step ${s.offeredRate} msg/s: npx tsx bench/profile-summary.ts ` +
        `${ctx.options.cpuProfDir}/CPU.*.${server.pid}.0.*.cpuprofile ` +
        `--from-ms ${Math.round(s.startedAtMs - server.spawnedAtMs)} --to-ms ${Math.round(s.endedAtMs - server.spawnedAtMs)}`,
    );
  }
}

function awaitResult<T>(generator: ChildProcess, server: ServerChild, plan: LoadPlan, progress: (msg: string) => void, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.child.off("exit", onServerExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`${plan.load} / ${plan.target}: no result within ${timeoutMs / 1000} s`)), timeoutMs);
    const onServerExit = () =>
      finish(new Error(`${plan.target} server crashed (${server.exited}) during ${plan.load}:\n${logTail(server.logFile)}`));
    server.child.once("exit", onServerExit);
    generator.on("message", (m: { type: string; message?: string; result?: T }) => {
      if (m.type === "progress") progress(m.message ?? "");
      else if (m.type === "result") finish(undefined, m.result);
      else if (m.type === "error") finish(new Error(`${plan.load} / ${plan.target} load generator: ${m.message}`));
    });
    generator.once("exit", (code, signal) =>
      finish(new Error(`${plan.load} / ${plan.target} load generator exited (${signal ?? code}) without a result`)),
    );
    generator.send(plan);
  });
}
