/**
 * The reconnect storm, orchestrator side. One server (ours; the ws baseline
 * has no history to resume from) and `--storm-generators` load-generator
 * processes, each with its share of `--storm-clients` clients (one HTTP/2
 * connection each, all in one room). The phases (see storm-load.ts):
 *
 *   1. go: every client connects and joins at once. Time until the last one
 *      is joined (target: 5 s for 10,000). Past --storm-join-timeout the
 *      scenario stops here and reports the miss.
 *   2. chat: a few clients send a few messages; every client must get them.
 *   3. restart: SIGTERM to the server, wait for it to exit, start it again on
 *      the same SQLite file and port. Clients reconnect with jittered backoff
 *      and resume; senders resend what they queued meanwhile. Time from the
 *      SIGTERM until every client has rejoined and holds every message, with
 *      nothing lost or duplicated (target: 15 s). Past
 *      --storm-recover-timeout it stops and reports how far it got.
 */
import type { ChildProcess } from "node:child_process";
import { logTail, startGenerator, startServer, type ServerChild } from "../children.js";
import { nowUs, type ReceivedSummary } from "../fleet.js";
import type { LoadPlan } from "../load-context.js";
import { machineCpuUs, processCpuUs, sleep, type MachineCpu } from "../proc.js";
import { ticks, type RunContext } from "../runner.js";
import { fixed, int, kib, table, type Cell } from "../table.js";
import type { Spread, StormShardResult } from "./storm-load.js";

export interface StormReport {
  clients: number;
  generators: number;
  senders: number;
  messagesBefore: number;
  messagesOutage: number;
  jitterMs: number;
  backoffMaxMs: number;
  joinTimeoutSeconds: number;
  recoverTimeoutSeconds: number;
  /** Seconds from go until the last client was joined; undefined when not all joined in time. */
  joinSeconds: number | undefined;
  joined: number;
  joinReconnects: number;
  joinEnds: Record<string, number>;
  /** Seconds from go to each client's joined event, over all generators (max of each one's percentiles). */
  joinSpread: Spread | undefined;
  /** CPU during the joins (go until every generator reported): server, each generator, other processes, steal. */
  joinCpu: StormCpu | undefined;
  joinReceived: ReceivedSummary | undefined;
  chatted: boolean;
  restarted: boolean;
  /** Seconds the old server took to exit after SIGTERM, and the new one to log its address. */
  shutdownSeconds: number | undefined;
  shutdownHow: string | undefined;
  startSeconds: number | undefined;
  /** Seconds from the SIGTERM until every client had rejoined and held every message; undefined if not all did in time. */
  recoverSeconds: number | undefined;
  rejoined: number;
  recovered: number;
  rejoinSpread: Spread | undefined;
  recoverSpread: Spread | undefined;
  reconnectAttempts: number;
  maxAttempts: number;
  restartEnds: Record<string, number>;
  /** CPU during recovery (SIGTERM until every generator reported): the old server's shutdown plus the new one's start and work. */
  recoverCpu: StormCpu | undefined;
  recoverReceived: ReceivedSummary | undefined;
  messagesMade: number;
  messagesAcked: number;
  unacked: number;
  resends: number;
  reacks: number;
  duplicates: number;
  gaps: number;
  missing: number;
  storedTwice: number;
  beyondTotal: number;
  errorsBefore: number;
  errorsAfterRestart: number;
  epochChanged: number;
  historyTruncated: number;
  shards: StormShardResult[];
  /** Why the scenario stopped early, if it did. */
  stoppedBecause: string | undefined;
  wallSeconds: number;
}

/** One generator process and the messages it sent us. */
class GeneratorLink {
  readonly phases: Record<string, unknown>[] = [];
  result: StormShardResult | undefined;
  failure: string | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
    log: (msg: string) => void,
  ) {
    child.on("message", (m: { type: string; message?: string; result?: StormShardResult; phase?: string }) => {
      if (m.type === "progress") log(m.message ?? "");
      else if (m.type === "phase") this.phases.push(m as Record<string, unknown>);
      else if (m.type === "result") this.result = m.result;
      else if (m.type === "error") this.failure = `load generator ${index}: ${m.message}`;
      this.wake?.();
    });
    child.once("exit", (code, signal) => {
      if (!this.result && !this.failure) this.failure = `load generator ${index} exited (${signal ?? code}) without a result`;
      this.wake?.();
    });
  }

  send(message: Record<string, unknown>): void {
    if (this.child.connected) this.child.send(message);
  }

  /** The phase message `phase`, once it has come (throws on a generator failure or after `timeoutMs`). */
  async phase(phase: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.phases.find((p) => p.phase === phase);
      if (found) return found;
      if (this.failure) throw new Error(this.failure);
      if (Date.now() > deadline) throw new Error(`load generator ${this.index}: no "${phase}" within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  async awaitResult(timeoutMs: number): Promise<StormShardResult> {
    const deadline = Date.now() + timeoutMs;
    while (!this.result) {
      if (this.failure) throw new Error(this.failure);
      if (Date.now() > deadline) throw new Error(`load generator ${this.index}: no result within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
    return this.result;
  }
}

/** CPU time so far of a process, µs; undefined once it is gone. */
function cpuOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return processCpuUs(pid, ticks);
  } catch {
    return undefined;
  }
}

/** CPU shares over a window, % of one core: the server, each generator, the rest of the machine, steal. */
export interface StormCpu {
  seconds: number;
  serverPct: number;
  genPct: number[];
  otherPct: number;
  stealPct: number;
}

class CpuMeter {
  private readonly t0 = nowUs();
  private readonly m0: MachineCpu = machineCpuUs(ticks);
  private readonly gen0: (number | undefined)[];

  constructor(
    private readonly links: GeneratorLink[],
    /** Server CPU already used when the window opened (µs). */
    private readonly server0: number,
  ) {
    this.gen0 = links.map((l) => cpuOf(l.child.pid));
  }

  /** Close the window; `serverUs` is the server CPU used within it (the caller knows across a restart). */
  stop(serverUsNow: number): StormCpu {
    const seconds = (nowUs() - this.t0) / 1e6;
    const m1 = machineCpuUs(ticks);
    const pct = (us: number) => Math.max(0, (us / 1e6 / Math.max(seconds, 1e-3)) * 100);
    const server = serverUsNow - this.server0;
    const gens = this.links.map((l, i) => (cpuOf(l.child.pid) ?? NaN) - (this.gen0[i] ?? NaN));
    const gensTotal = gens.reduce((a, g) => a + (Number.isFinite(g) ? g : 0), 0);
    return {
      seconds,
      serverPct: pct(server),
      genPct: gens.map(pct),
      otherPct: pct(m1.processes - this.m0.processes - server - gensTotal),
      stealPct: pct(m1.steal - this.m0.steal),
    };
  }
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

export async function runStorm(ctx: RunContext): Promise<StormReport | undefined> {
  const o = ctx.options;
  if (!o.targets.includes("ours")) {
    ctx.log("storm: runs against our server only (the ws baseline has no history to resume from); skipped");
    return undefined;
  }
  const started = performance.now();
  const nodeFlags = [
    ...(o.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : []),
    ...o.serverNodeFlags,
  ];
  const G = Math.max(1, Math.min(o.stormGenerators, o.stormClients));
  const links: GeneratorLink[] = [];
  for (let g = 0; g < G; g++) links.push(new GeneratorLink(g, startGenerator(ctx.root), (m) => ctx.log(`storm: ${m}`)));
  let server: ServerChild | undefined;
  let restarting = false;
  let serverCrash: string | undefined;
  const watchServer = (s: ServerChild) =>
    s.child.once("exit", () => {
      if (!restarting) serverCrash = `our server crashed (${s.exited}) during storm:\n${logTail(s.logFile)}`;
    });
  const check = () => {
    if (serverCrash) throw new Error(serverCrash);
  };
  const report: Partial<StormReport> & { restartUs?: number } = {};
  let goUs = 0;
  try {
    server = await startServer({ target: "ours", root: ctx.root, nodeFlags, serverArgs: o.serverArgs });
    watchServer(server);
    const address = server.address;
    ctx.log(`storm: server pid ${server.pid} on ${address}; ${o.stormClients} clients over ${G} generator(s)`);
    for (const link of links) {
      const plan: LoadPlan = {
        load: "storm",
        target: "ours",
        address,
        serverPid: server.pid,
        clockTicks: ticks,
        options: o,
        shard: { index: link.index, count: G },
        watchdogMs: (o.stormJoinTimeoutSeconds + o.stormRecoverTimeoutSeconds + 600) * 1000,
      };
      link.child.send(plan);
    }
    for (const link of links) await link.phase("ready", 60_000);

    // 1. Everybody connects and joins at once.
    goUs = nowUs() + 300_000;
    const deadlineUs = goUs + o.stormJoinTimeoutSeconds * 1e6;
    for (const link of links) link.send({ type: "go", atUs: goUs, deadlineUs });
    while (nowUs() < goUs) await sleep(5);
    const joinMeter = new CpuMeter(links, cpuOf(server.pid) ?? 0);
    const joins = [];
    for (const link of links) joins.push(await link.phase("joined", o.stormJoinTimeoutSeconds * 1000 + 120_000));
    check();
    report.joinCpu = joinMeter.stop(cpuOf(server.pid) ?? NaN);
    const allJoined = joins.every((p) => p.allJoined === true);
    ctx.log(
      `storm: joins ${allJoined ? "complete" : `STOPPED at ${o.stormJoinTimeoutSeconds} s`}; CPU % of a core: ` +
        `server ${report.joinCpu.serverPct.toFixed(0)}, generators ${report.joinCpu.genPct.map((x) => x.toFixed(0)).join(", ")}`,
    );
    if (!allJoined) {
      report.stoppedBecause = `not every client joined within ${o.stormJoinTimeoutSeconds} s (--storm-join-timeout)`;
      for (const link of links) link.send({ type: "stop" });
    } else {
      // 2. A few messages; everybody must get them.
      for (const link of links) link.send({ type: "chat" });
      const chats = [];
      for (const link of links) chats.push(await link.phase("chatted", 120_000));
      check();
      if (!chats.every((p) => p.ok === true)) {
        report.stoppedBecause = "the messages before the restart did not reach every client within 60 s";
        for (const link of links) link.send({ type: "stop" });
      } else {
        // 3. Restart the server on the same history and port; clients find their way back.
        const restartUs = nowUs();
        report.restartUs = restartUs;
        for (const link of links) link.send({ type: "restart", atUs: restartUs });
        restarting = true;
        const old = server;
        const oldCpu0 = cpuOf(old.pid) ?? 0;
        const recoverMeter = new CpuMeter(links, 0);
        let oldCpu = oldCpu0;
        let exitedYet = false;
        const exited = new Promise<void>((resolve) => (old.exited ? resolve() : old.child.once("exit", () => resolve())));
        void exited.then(() => (exitedYet = true));
        old.child.kill("SIGTERM");
        const killTimer = setTimeout(() => old.child.kill("SIGKILL"), 60_000);
        // Its CPU while shutting down, read until it is gone (to within 50 ms).
        while (!exitedYet) {
          oldCpu = cpuOf(old.pid) ?? oldCpu;
          await Promise.race([exited, sleep(50)]);
        }
        clearTimeout(killTimer);
        report.shutdownSeconds = (nowUs() - restartUs) / 1e6;
        report.shutdownHow = old.exited;
        const startUs = nowUs();
        server = await startServer({ target: "ours", root: ctx.root, nodeFlags, serverArgs: o.serverArgs, dbFile: old.dbFile, port: portOf(address) });
        restarting = false;
        watchServer(server);
        report.startSeconds = (nowUs() - startUs) / 1e6;
        ctx.log(
          `storm: server restarted: old one exited (${old.exited}) ${report.shutdownSeconds.toFixed(1)} s after SIGTERM, ` +
            `new pid ${server.pid} listening ${report.startSeconds.toFixed(1)} s later on ${server.address}`,
        );
        if (server.address !== address) throw new Error(`the restarted server listens on ${server.address}, not ${address}`);
        for (const link of links) await link.phase("recovered", o.stormRecoverTimeoutSeconds * 1000 + 120_000);
        check();
        report.recoverCpu = recoverMeter.stop(oldCpu - oldCpu0 + (cpuOf(server.pid) ?? NaN));
        for (const link of links) link.send({ type: "finish" });
      }
    }
    const shards: StormShardResult[] = [];
    for (const link of links) shards.push(await link.awaitResult(120_000));
    check();
    return summarise(ctx, o, shards, report, goUs, (performance.now() - started) / 1000);
  } finally {
    for (const link of links) if (link.child.exitCode === null) link.child.kill("SIGKILL");
    await server?.stop(2_000);
  }
}

function sum(shards: StormShardResult[], f: (s: StormShardResult) => number): number {
  return shards.reduce((a, s) => a + f(s), 0);
}

function mergeCounts(xs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Per-client means weighted by clients; maxima of maxima. */
function mergeReceived(xs: (ReceivedSummary | undefined)[]): ReceivedSummary | undefined {
  const rs = xs.filter((x): x is ReceivedSummary => x !== undefined);
  if (rs.length === 0) return undefined;
  const n = rs.reduce((a, r) => a + r.clients, 0);
  const mean = (f: (r: ReceivedSummary) => number) => rs.reduce((a, r) => a + f(r) * r.clients, 0) / Math.max(1, n);
  const max = (f: (r: ReceivedSummary) => number) => Math.max(...rs.map(f));
  return {
    clients: n,
    framesMean: mean((r) => r.framesMean),
    bytesMean: mean((r) => r.bytesMean),
    bytesMax: max((r) => r.bytesMax),
    presenceEventsMean: mean((r) => r.presenceEventsMean),
    presenceBytesMean: mean((r) => r.presenceBytesMean),
    presenceBytesMax: max((r) => r.presenceBytesMax),
    joinedBytesMean: mean((r) => r.joinedBytesMean),
    joinedBytesMax: max((r) => r.joinedBytesMax),
    unknownEvents: rs.reduce((a, r) => a + r.unknownEvents, 0),
  };
}

/** Percentiles can't be merged exactly from summaries: the worst shard's, which is what "every client" means anyway. */
function mergeSpread(xs: Spread[]): Spread | undefined {
  const ys = xs.filter((x) => x.count > 0);
  if (ys.length === 0) return undefined;
  return {
    count: ys.reduce((a, x) => a + x.count, 0),
    p50: Math.max(...ys.map((x) => x.p50)),
    p99: Math.max(...ys.map((x) => x.p99)),
    max: Math.max(...ys.map((x) => x.max)),
  };
}

function summarise(
  ctx: RunContext,
  o: RunContext["options"],
  shards: StormShardResult[],
  partial: Partial<StormReport> & { restartUs?: number },
  goUs: number,
  wallSeconds: number,
): StormReport {
  const allJoined = shards.every((s) => s.allJoined);
  const allRecovered = shards.every((s) => s.restarted && s.recovered === s.to - s.from);
  const r: StormReport = {
    clients: o.stormClients,
    generators: shards.length,
    senders: o.stormSenders,
    messagesBefore: o.stormMessages,
    messagesOutage: o.stormOutageMessages,
    jitterMs: o.stormJitterMs,
    backoffMaxMs: o.stormBackoffMaxMs,
    joinTimeoutSeconds: o.stormJoinTimeoutSeconds,
    recoverTimeoutSeconds: o.stormRecoverTimeoutSeconds,
    joinSeconds: allJoined ? (Math.max(...shards.map((s) => s.lastJoinedUs)) - goUs) / 1e6 : undefined,
    joined: sum(shards, (s) => s.joined),
    joinReconnects: sum(shards, (s) => s.joinReconnects),
    joinEnds: mergeCounts(shards.map((s) => s.joinEnds)),
    joinSpread: mergeSpread(shards.map((s) => s.joinSpread)),
    joinCpu: partial.joinCpu,
    joinReceived: mergeReceived(shards.map((s) => s.joinReceived)),
    chatted: shards.every((s) => s.chatted),
    restarted: shards.every((s) => s.restarted),
    shutdownSeconds: partial.shutdownSeconds,
    shutdownHow: partial.shutdownHow,
    startSeconds: partial.startSeconds,
    recoverSeconds: undefined,
    rejoined: sum(shards, (s) => s.rejoined),
    recovered: sum(shards, (s) => s.recovered),
    rejoinSpread: mergeSpread(shards.map((s) => s.rejoinSpread)),
    recoverSpread: mergeSpread(shards.map((s) => s.recoverSpread)),
    reconnectAttempts: sum(shards, (s) => s.reconnectAttempts),
    maxAttempts: Math.max(...shards.map((s) => s.maxAttempts)),
    restartEnds: mergeCounts(shards.map((s) => s.restartEnds)),
    recoverCpu: partial.recoverCpu,
    recoverReceived: mergeReceived(shards.map((s) => s.recoverReceived)),
    messagesMade: sum(shards, (s) => s.messagesMade),
    messagesAcked: sum(shards, (s) => s.messagesAcked),
    unacked: sum(shards, (s) => s.unacked),
    resends: sum(shards, (s) => s.resends),
    reacks: sum(shards, (s) => s.reacks),
    duplicates: sum(shards, (s) => s.duplicates),
    gaps: sum(shards, (s) => s.gaps),
    missing: sum(shards, (s) => s.missing),
    storedTwice: sum(shards, (s) => s.storedTwice),
    beyondTotal: sum(shards, (s) => s.beyondTotal),
    errorsBefore: sum(shards, (s) => s.errorsBefore),
    errorsAfterRestart: sum(shards, (s) => s.errorsAfterRestart),
    epochChanged: sum(shards, (s) => s.epochChanged),
    historyTruncated: sum(shards, (s) => s.historyTruncated),
    shards,
    stoppedBecause: partial.stoppedBecause,
    wallSeconds,
  };
  if (allRecovered && r.restarted && partial.restartUs !== undefined) {
    r.recoverSeconds = (Math.max(...shards.map((s) => s.lastRecoveredUs)) - partial.restartUs) / 1e6;
  } else if (r.restarted && !r.stoppedBecause) {
    r.stoppedBecause = `not every client recovered within ${o.stormRecoverTimeoutSeconds} s (--storm-recover-timeout)`;
  }
  // Broken, not slow: anything lost, duplicated or stored twice, or errors where none should be.
  const p = ctx.problems;
  if (r.duplicates > 0) p.push(`storm: ${r.duplicates} duplicate deliveries (a seq delivered twice to one client)`);
  if (r.gaps > 0) p.push(`storm: ${r.gaps} lost deliveries (holes in a client's seqs)`);
  if (r.storedTwice > 0 || r.beyondTotal > 0) p.push(`storm: messages stored twice (${r.storedTwice} ids under two seqs, ${r.beyondTotal} seqs beyond the messages made)`);
  if (r.restarted && r.recoverSeconds !== undefined && (r.missing > 0 || r.unacked > 0)) p.push(`storm: ${r.missing} deliveries missing, ${r.unacked} messages unacknowledged after recovery`);
  if (r.errorsBefore > 0) p.push(`storm: ${r.errorsBefore} error events before the restart`);
  if (r.epochChanged > 0 || r.historyTruncated > 0) p.push(`storm: after the restart ${r.epochChanged} rejoins saw a new epoch, ${r.historyTruncated} truncated history (same SQLite file: neither should happen)`);
  if (r.joinSeconds === undefined && r.joined === 0) p.push("storm: no client joined");
  if (allJoined && !r.chatted) p.push("storm: the messages before the restart did not reach every client");
  if (r.stoppedBecause) ctx.warnings.push(`storm: stopped early: ${r.stoppedBecause}`);
  return r;
}

const secs = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? undefined : x.toFixed(d));
const spreadCell = (s: Spread | undefined) => (s ? `${secs(s.p50, 2)} / ${secs(s.p99, 2)} / ${secs(s.max, 2)}` : undefined);
const countsCell = (c: Record<string, number>) => {
  const all = Object.entries(c).sort((a, b) => b[1] - a[1]);
  const shown = all.slice(0, 4).map(([k, v]) => `${v}× ${k}`);
  if (all.length > 4) shown.push(`${all.slice(4).reduce((a, [, v]) => a + v, 0)}× other`);
  return shown.join("; ") || "-";
};

const cpuCell = (c: StormCpu | undefined) =>
  c ? `${fixed(c.serverPct, 0)}; ${c.genPct.map((x) => fixed(x, 0)).join(", ")}; ${fixed(c.otherPct, 0)}; ${fixed(c.stealPct, 0)}` : undefined;

export function renderStorm(r: StormReport | undefined): string {
  if (!r) return "";
  const rows: Cell[][] = [
    ["clients (one connection each, one room)", `${int(r.clients)} over ${r.generators} generator process(es)`],
    ["all joined after s (target ≤ 5)", r.joinSeconds !== undefined ? secs(r.joinSeconds, 2) : `not all: ${int(r.joined)} joined when stopped at ${r.joinTimeoutSeconds} s`],
    ["joined after s: p50 / p99 / max", spreadCell(r.joinSpread)],
    ["streams ended before the restart (clients reconnected)", `${r.joinReconnects}${r.joinReconnects ? `: ${countsCell(r.joinEnds)}` : ""}`],
    [
      "CPU % of a core during the joins: server; generators; other processes; steal",
      cpuCell(r.joinCpu),
    ],
    [
      "received per client during the joins: KiB (max); frames",
      r.joinReceived ? `${kib(r.joinReceived.bytesMean)} (${kib(r.joinReceived.bytesMax)}); ${fixed(r.joinReceived.framesMean, 0)}` : undefined,
    ],
    [
      "  of which presence: events; KiB (max); joined-event KiB (max)",
      r.joinReceived
        ? `${fixed(r.joinReceived.presenceEventsMean, 0)}; ${kib(r.joinReceived.presenceBytesMean)} (${kib(r.joinReceived.presenceBytesMax)}); ${kib(r.joinReceived.joinedBytesMean)} (${kib(r.joinReceived.joinedBytesMax)})`
        : undefined,
    ],
    ["messages: senders × (before + during the outage)", `${r.senders} × (${r.messagesBefore} + ${r.messagesOutage}); all delivered before the restart: ${r.chatted ? "yes" : r.joinSeconds === undefined ? "not reached" : "no"}`],
  ];
  if (r.restarted) {
    rows.push(
      ["old server exited after SIGTERM, s; new one listening after, s", `${secs(r.shutdownSeconds, 2)} (${r.shutdownHow}); ${secs(r.startSeconds, 2)}`],
      [
        "all rejoined with every message after s (target ≤ 15)",
        r.recoverSeconds !== undefined ? secs(r.recoverSeconds, 2) : `not all: ${int(r.recovered)} of ${int(r.clients)} when stopped at ${r.recoverTimeoutSeconds} s`,
      ],
      ["rejoined after s: p50 / p99 / max (from SIGTERM)", spreadCell(r.rejoinSpread)],
      ["had every message after s: p50 / p99 / max", spreadCell(r.recoverSpread)],
      [
        "reconnect attempts (most by one client); backoff",
        `${int(r.reconnectAttempts)} (${r.maxAttempts}); uniform 0-${r.jitterMs} ms` +
          (r.backoffMaxMs > r.jitterMs ? `, ceiling doubling per failure up to ${r.backoffMaxMs} ms` : " per attempt"),
      ],
      ["how streams ended after the restart", countsCell(r.restartEnds)],
      [
        "CPU % of a core during recovery: server (old and new); generators; other processes; steal",
        cpuCell(r.recoverCpu),
      ],
      [
        "received per client during recovery: KiB (max); presence events; presence KiB; joined-event KiB",
        r.recoverReceived
          ? `${kib(r.recoverReceived.bytesMean)} (${kib(r.recoverReceived.bytesMax)}); ${fixed(r.recoverReceived.presenceEventsMean, 0)}; ${kib(r.recoverReceived.presenceBytesMean)}; ${kib(r.recoverReceived.joinedBytesMean)}`
          : undefined,
      ],
    );
  }
  rows.push(
    ["messages made / acknowledged / unacknowledged; resends (re-acks)", `${r.messagesMade} / ${r.messagesAcked} / ${r.unacked}; ${r.resends} (${r.reacks})`],
    ["lost (holes) / missing at the end / duplicated / stored twice", `${r.gaps} / ${r.missing} / ${r.duplicates} / ${r.storedTwice + r.beyondTotal}`],
    ["error events before / after the restart (sends refused while shutting down)", `${r.errorsBefore} / ${r.errorsAfterRestart}`],
  );
  if (r.stoppedBecause) rows.push(["stopped early", r.stoppedBecause]);
  return table(`Reconnect storm: ${int(r.clients)} clients in one room, server restarted on the same SQLite file and port (${secs(r.wallSeconds, 0)} s)`, ["", "measured"], rows);
}
