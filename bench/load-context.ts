/**
 * What a scenario's load function gets in the generator process: the target,
 * a way to open clients on it, and probes of the server process.
 */
import type { Target } from "./children.js";
import type { ServerProbe } from "./fleet.js";
import { grpcConnector } from "./grpc-load.js";
import type { ClientEvents, Connector } from "./load-client.js";
import type { BenchOptions } from "./options.js";
import { machineCpuUs, processCpuUs, processRssBytes } from "./proc.js";
import { redisStepProbe } from "./redis-stats.js";
import { sioConnector } from "./sio-load.js";
import { wsConnector } from "./ws-load.js";

/** Sent by the orchestrator to a generator process. */
export interface LoadPlan {
  load: string;
  target: Target;
  address: string;
  serverPid: number;
  /** Several nodes (ours on Redis): every node's host:port; client i goes to addresses[i % n]. */
  addresses?: string[];
  /** Processes whose CPU counts as the server's, summed (default: serverPid): every node, and their Redis. */
  cpuPids?: number[];
  /** Processes whose RSS counts as the server's, summed (default: serverPid). */
  rssPids?: number[];
  /** A Redis whose command counters are read around each step. */
  redisUrl?: string;
  /** Our server's Prometheus endpoint, when the run asked for one. */
  metricsUrl?: string;
  clockTicks: number;
  options: BenchOptions;
  /** The generator gives up (and says so) after this long; default 15 min. */
  watchdogMs?: number;
  /** Multi-process loads (storm): which generator this is, of how many. */
  shard?: { index: number; count: number };
}

export interface LoadContext {
  target: Target;
  /** The server's host:port. */
  address: string;
  /** Read one gauge or counter from our server's /metrics; undefined without metrics or on failure. */
  metric(name: string): Promise<number | undefined>;
  probe: ServerProbe;
  /** The Redis's command counters around a step, when the run has a Redis (see LoadPlan.redisUrl). */
  redis: ReturnType<typeof redisStepProbe> | undefined;
  /** Open clients on the target; grpc-js puts `streamsPerChannel` streams on each connection. */
  connector(events: ClientEvents, streamsPerChannel?: number): Connector;
  progress(msg: string): void;
  /** Multi-process loads (storm): which generator this is, of how many. */
  shard: { index: number; count: number };
  /** Phased loads: tell the orchestrator something (it arrives as {type: "phase", ...}). */
  tell(message: Record<string, unknown>): void;
  /** Phased loads: the next message of this type (or of any of these types) from the orchestrator (queued if it came first). */
  next<T = Record<string, unknown>>(type: string | string[]): Promise<T>;
}

/** Messages from the orchestrator after the plan, for phased loads. */
export class Inbox {
  private readonly queued: Record<string, unknown>[] = [];
  private readonly waiting: { types: string[]; resolve: (m: Record<string, unknown>) => void }[] = [];

  deliver(message: Record<string, unknown>): void {
    const w = this.waiting.findIndex((x) => x.types.includes(message.type as string));
    if (w >= 0) this.waiting.splice(w, 1)[0].resolve(message);
    else this.queued.push(message);
  }

  next(type: string | string[]): Promise<Record<string, unknown>> {
    const types = typeof type === "string" ? [type] : type;
    const q = this.queued.findIndex((x) => types.includes(x.type as string));
    if (q >= 0) return Promise.resolve(this.queued.splice(q, 1)[0]);
    return new Promise((resolve) => this.waiting.push({ types, resolve }));
  }
}

export type LoadFn = (ctx: LoadContext, options: BenchOptions) => Promise<unknown>;

export function loadContext(
  plan: LoadPlan,
  progress: (msg: string) => void,
  connectors: Connector[],
  inbox: Inbox = new Inbox(),
  tell: (message: Record<string, unknown>) => void = () => {},
): LoadContext {
  return {
    target: plan.target,
    address: plan.address,
    async metric(name) {
      if (!plan.metricsUrl) return undefined;
      try {
        const text = await (await fetch(plan.metricsUrl)).text();
        const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    probe: serverProbe(plan),
    redis: plan.redisUrl ? redisStepProbe(plan.redisUrl) : undefined,
    connector(events, streamsPerChannel = 1) {
      // ours and the grpc-js peer speak the same Chat stream.
      const one = (address: string) =>
        plan.target === "ws" ? wsConnector(address, events) : plan.target === "sio" ? sioConnector(address, events) : grpcConnector(address, events, streamsPerChannel);
      const addresses = plan.addresses ?? [plan.address];
      const c = addresses.length === 1 ? one(addresses[0]) : spread(addresses.map(one));
      connectors.push(c);
      return c;
    },
    progress,
    shard: plan.shard ?? { index: 0, count: 1 },
    tell,
    next: <T>(type: string | string[]) => inbox.next(type) as Promise<T>,
  };
}

function serverProbe(plan: LoadPlan): ServerProbe {
  const cpuPids = plan.cpuPids ?? [plan.serverPid];
  const rssPids = plan.rssPids ?? [plan.serverPid];
  const cpuByProcessUs = () => cpuPids.map((pid) => processCpuUs(pid, plan.clockTicks));
  return {
    cpuUs: () => cpuByProcessUs().reduce((a, b) => a + b, 0),
    cpuByProcessUs: cpuPids.length > 1 ? cpuByProcessUs : undefined,
    rssBytes: () => rssPids.reduce((sum, pid) => sum + processRssBytes(pid), 0),
    machineCpuUs: () => machineCpuUs(plan.clockTicks),
  };
}

/** Client i on the (i mod n)-th connector: clients, and so senders, split evenly over the nodes. */
function spread(connectors: Connector[]): Connector {
  return {
    open: (index) => connectors[index % connectors.length].open(index),
    closeAll: () => connectors.forEach((c) => c.closeAll()),
  };
}

/** A message text of `bytes` ASCII bytes. */
export function payloadText(bytes: number): string {
  const words = "the quick brown fox jumps over the lazy dog ";
  return words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);
}
