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

/** More than the default single server: what a run needs beyond its options. */
export interface RunExtra {
  /** Start the server with a metrics endpoint (ours). */
  metrics?: boolean;
  timeoutMs?: number;
  label?: string;
  /** Start this many servers (ours on Redis: nodes of one chat); clients are spread over them. Default 1. */
  nodes?: number;
  /** Flags for every server of this run, before the user's --server-arg ones (e.g. --redis). */
  serverArgs?: string[];
  /** Other processes whose CPU counts as the server's (a Redis the nodes share); the run fails if one exits. */
  companions?: { name: string; pid: number; child?: ChildProcess; logFile?: string }[];
  /** A Redis whose command counters the generator reads around each step. */
  redisUrl?: string;
}

/**
 * Run `load` against fresh `target` servers (one unless `extra.nodes`); the
 * result says which servers they were (`server`: the first; `servers`: all).
 */
export async function runLoad<T>(
  ctx: RunContext,
  target: Target,
  load: string,
  overrides: Partial<BenchOptions> = {},
  extra: RunExtra = {},
): Promise<T> {
  const label = extra.label ?? load;
  const options = { ...ctx.options, ...overrides };
  // Peers are profiled too, so their profiles can be read beside ours.
  const profiling = options.cpuProfDir !== undefined;
  const count = extra.nodes ?? 1;
  // The generator loads its modules while the servers start; it waits for the plan.
  const genProfDir = options.generatorCpuProfDir;
  const generator = startGenerator(ctx.root, genProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${genProfDir}`] : []);
  const started = await Promise.allSettled(
    Array.from({ length: count }, () =>
      startServer({
        target,
        root: ctx.root,
        nodeFlags: [
          ...(profiling ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
          ...(target === "ours" ? options.serverNodeFlags : []),
        ],
        serverArgs: [
          ...(extra.metrics && target === "ours" && oursHasFlag(ctx.root, "metrics-port") ? ["--metrics-port", "0"] : []),
          ...(extra.serverArgs ?? []),
          ...options.serverArgs,
        ],
      }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    generator.kill("SIGKILL");
    await Promise.all(servers.map((s) => s.stop(0)));
    throw failed.reason;
  }
  const server = servers[0];
  ctx.log(`${label} / ${target}: server pid${count > 1 ? "s" : ""} ${servers.map((s) => `${s.pid} on ${s.address}`).join(", ")}`);
  try {
    const timeoutMs = extra.timeoutMs ?? RUN_TIMEOUT_MS;
    const pids = servers.map((s) => s.pid);
    const plan: LoadPlan = {
      load,
      target,
      address: server.address,
      serverPid: server.pid,
      ...(count > 1 ? { addresses: servers.map((s) => s.address), rssPids: pids } : {}),
      ...(count > 1 || extra.companions?.length ? { cpuPids: [...pids, ...(extra.companions ?? []).map((c) => c.pid)] } : {}),
      redisUrl: extra.redisUrl,
      metricsUrl: server.metricsUrl,
      clockTicks: ticks,
      options,
      watchdogMs: timeoutMs + 60_000,
    };
    const result = await awaitResult<T>(generator, servers, plan, (msg) => ctx.log(`${label} / ${target}: ${msg}`), timeoutMs, extra.companions);
    const infos: ServerInfo[] = servers.map((s) => ({ pid: s.pid, address: s.address, spawnedAtMs: s.spawnedAtMs, profiled: profiling }));
    if (profiling) for (const info of infos) logProfileWindows(ctx, info, result as { steps?: StepResult[] });
    return Object.assign(result as object, { server: infos[0], ...(count > 1 ? { servers: infos } : {}) }) as T;
  } finally {
    // The generator exits by itself once it has answered; a profiled one is writing its profile then.
    if (genProfDir !== undefined && generator.exitCode === null) await exitOrTimeout(generator, 30_000);
    if (generator.exitCode === null) generator.kill("SIGKILL");
    // A profiled server needs time to write its profile; the others may just go.
    await Promise.all(servers.map((s) => s.stop(profiling ? 30_000 : 2_000)));
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

function awaitResult<T>(
  generator: ChildProcess,
  servers: ServerChild[],
  plan: LoadPlan,
  progress: (msg: string) => void,
  timeoutMs: number,
  companions: RunExtra["companions"] = [],
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const { child, onExit } of watches) child.off("exit", onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`${plan.load} / ${plan.target}: no result within ${timeoutMs / 1000} s`)), timeoutMs);
    const watches = servers.map((server) => ({
      child: server.child,
      onExit: () =>
        finish(new Error(`${plan.target} server${servers.length > 1 ? ` pid ${server.pid}` : ""} crashed (${server.exited}) during ${plan.load}:\n${logTail(server.logFile)}`)),
    }));
    for (const c of companions) {
      if (!c.child) continue;
      const child = c.child;
      const onExit = () => finish(new Error(`${c.name} (pid ${c.pid}) exited (${child.signalCode ?? child.exitCode}) during ${plan.load}${c.logFile ? `:\n${logTail(c.logFile)}` : ""}`));
      watches.push({ child, onExit });
    }
    for (const { child, onExit } of watches) child.once("exit", onExit);
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

/** Resolves when `child` exits, or after `ms` (whichever is first). */
function exitOrTimeout(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
