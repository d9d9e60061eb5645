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
import { wsConnector } from "./ws-load.js";

/** Sent by the orchestrator to a generator process. */
export interface LoadPlan {
  load: string;
  target: Target;
  address: string;
  serverPid: number;
  /** Our server's Prometheus endpoint, when the run asked for one. */
  metricsUrl?: string;
  clockTicks: number;
  options: BenchOptions;
}

export interface LoadContext {
  target: Target;
  /** Read one gauge or counter from our server's /metrics; undefined without metrics or on failure. */
  metric(name: string): Promise<number | undefined>;
  probe: ServerProbe;
  /** Open clients on the target; grpc-js puts `streamsPerChannel` streams on each connection. */
  connector(events: ClientEvents, streamsPerChannel?: number): Connector;
  progress(msg: string): void;
}

export type LoadFn = (ctx: LoadContext, options: BenchOptions) => Promise<unknown>;

export function loadContext(plan: LoadPlan, progress: (msg: string) => void, connectors: Connector[]): LoadContext {
  return {
    target: plan.target,
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
    probe: {
      cpuUs: () => processCpuUs(plan.serverPid, plan.clockTicks),
      rssBytes: () => processRssBytes(plan.serverPid),
      machineCpuUs: () => machineCpuUs(plan.clockTicks),
    },
    connector(events, streamsPerChannel = 1) {
      const c =
        plan.target === "ours" ? grpcConnector(plan.address, events, streamsPerChannel) : wsConnector(plan.address, events);
      connectors.push(c);
      return c;
    },
    progress,
  };
}

/** A message text of `bytes` ASCII bytes. */
export function payloadText(bytes: number): string {
  const words = "the quick brown fox jumps over the lazy dog ";
  return words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);
}
