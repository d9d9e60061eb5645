/**
 * What a Redis did during a step: its `INFO commandstats` (calls and
 * microseconds per command) before and after, as a delta. Commands that a Lua
 * script runs with redis.call() are counted too, under their own names, so a
 * publish shows as one EVALSHA plus the XADD, PUBLISH... inside it. The INFO
 * that reads the counters is left out.
 */
import { Redis } from "ioredis";
import type { StepResult } from "./fleet.js";
import { finalAttempts } from "./step-up.js";

/** Calls and µs per command (lower-case names, e.g. "evalsha", "publish", "client|setinfo"). */
export interface CommandCounters {
  calls: Record<string, number>;
  usec: Record<string, number>;
}

/** One step's delta. */
export type RedisStepStats = CommandCounters;

/** Commands a client sends itself; the rest of a publish's commands run inside its script. */
export const SCRIPT_CALLS = ["evalsha", "eval", "evalsha_ro", "eval_ro", "fcall"];

/** Parse `INFO commandstats`: lines like `cmdstat_evalsha:calls=12,usec=345,usec_per_call=28.75,...`. */
export function parseCommandStats(info: string): CommandCounters {
  const out: CommandCounters = { calls: {}, usec: {} };
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):(.*)$/.exec(line);
    if (!m) continue;
    const fields = Object.fromEntries(m[2].split(",").map((kv) => kv.split("=") as [string, string]));
    out.calls[m[1]] = Number(fields.calls ?? 0);
    out.usec[m[1]] = Number(fields.usec ?? 0);
  }
  return out;
}

export function subtract(after: CommandCounters, before: CommandCounters): CommandCounters {
  const out: CommandCounters = { calls: {}, usec: {} };
  for (const name of Object.keys(after.calls)) {
    if (name === "info") continue;
    const calls = after.calls[name] - (before.calls[name] ?? 0);
    if (calls <= 0) continue;
    out.calls[name] = calls;
    out.usec[name] = after.usec[name] - (before.usec[name] ?? 0);
  }
  return out;
}

/** A step's commands divided by the messages sent in it. */
export interface PerMessage {
  /** Every command, those inside scripts included. */
  all: number;
  /** Script calls (EVALSHA...): the commands the nodes send for a message. */
  scripts: number;
  publish: number;
  /** Microseconds Redis spent in script calls per message (their commands included). */
  scriptUs: number;
  /** Each command's calls per message, most first. */
  byCommand: [string, number][];
}

export function perMessage(stats: RedisStepStats, messages: number): PerMessage {
  const n = Math.max(messages, 1);
  const entries = Object.entries(stats.calls).sort((a, b) => b[1] - a[1]);
  const sum = (names: string[]) => names.reduce((acc, c) => acc + (stats.calls[c] ?? 0), 0);
  return {
    all: entries.reduce((acc, [, c]) => acc + c, 0) / n,
    scripts: sum(SCRIPT_CALLS) / n,
    publish: sum(["publish", "spublish"]) / n,
    scriptUs: SCRIPT_CALLS.reduce((acc, c) => acc + (stats.usec[c] ?? 0), 0) / n,
    byCommand: entries.map(([c, calls]) => [c, calls / n]),
  };
}

/** The generator's view of the Redis: counters read around each step. */
export function redisStepProbe(url: string): { begin(): Promise<void>; end(): Promise<RedisStepStats>; close(): void } {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: false });
  let before: CommandCounters | undefined;
  const read = async () => {
    if (client.status === "wait") await client.connect();
    return parseCommandStats(await client.info("commandstats"));
  };
  return {
    async begin() {
      before = await read();
    },
    async end() {
      const after = await read();
      return subtract(after, before ?? { calls: {}, usec: {} });
    },
    close() {
      client.disconnect();
    },
  };
}

/** Commands per message of a step (messages sent in it), when it read a Redis. */
export function commandsPerMessage(s: StepResult): PerMessage | undefined {
  return s.redis ? perMessage(s.redis, s.sent) : undefined;
}

/** Every command per message, averaged over a run's steps (final attempts). */
export function meanCommandsPerMessage(steps: StepResult[] | undefined): number | undefined {
  const xs = finalAttempts(steps ?? []).flatMap((s) => {
    const c = commandsPerMessage(s);
    return c ? [c.all] : [];
  });
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}
