/** `npm run bench` flags, their defaults, and the --smoke profile. */
import { parseArgs } from "node:util";
import { PEERS, type Target } from "./children.js";

export const SCENARIOS = ["fanout", "redis", "idle", "stalled", "rooms", "idle-shared", "storm"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: ScenarioName[];
  targets: Target[];
  /** --target was given: run exactly those, in --smoke too. */
  targetsChosen: boolean;
  json: boolean;
  smoke: boolean;
  /** Fan-out: clients in the room, how many of them send, payload bytes. */
  clients: number;
  senders: number;
  payload: number;
  stepSeconds: number;
  drainMs: number;
  warmupSeconds: number;
  /** Quiet time before reading a "settled" RSS. */
  settleMs: number;
  /** Offered rates (messages/s, all senders together), tried in order until one fails. */
  rates: number[];
  /** Extra tries of a failed step before it counts as failed. */
  retries: number;
  /** Run every rate even after one failed (set per run by a scenario, not a flag). */
  keepStepping: boolean;
  /** Idle: streams, members per room, and streams per connection for the multiplexed variant (0: skip it). */
  idleStreams: number;
  idleRoomSize: number;
  idleMultiplex: number;
  /** Streams per connection in the current idle run (set by the idle scenario, not a flag). */
  idlePerConnection: number;
  /** How long an idle run may take to join all its streams (set per scenario, not a flag). */
  idleJoinTimeoutSeconds: number;
  /** Idle-shared: client counts, each run with every client in one room (one connection each). */
  sharedClients: number[];
  /** Idle-shared: how long the joins may take before the run stops and reports a miss. */
  sharedJoinTimeoutSeconds: number;
  /** Storm: clients (one connection each, one room), and how many generator processes share them. */
  stormClients: number;
  stormGenerators: number;
  /** Storm: clients that send, messages each before the restart, and messages each queued during the outage. */
  stormSenders: number;
  stormMessages: number;
  stormOutageMessages: number;
  /** Storm: a reconnecting client's delay is uniform in [0, ceiling); the ceiling starts at jitter and doubles per failure up to backoffMax. */
  stormJitterMs: number;
  stormBackoffMaxMs: number;
  /** Storm: the initial joins, and the recovery after the restart, stop and report a miss past these. */
  stormJoinTimeoutSeconds: number;
  stormRecoverTimeoutSeconds: number;
  /** Stalled: rate and duration of the chat with and without the stalled reader. */
  stallRate: number;
  stallSeconds: number;
  stallReferenceSeconds: number;
  /** Rooms: count, members each, offered rates. */
  rooms: number;
  roomSize: number;
  roomRates: number[];
  /** Redis: clients in the room for each run (the first is the main one), and how many nodes share them. */
  redisClients: number[];
  redisNodes: number;
  /** Redis: fail instead of skipping when redis-server is not installed (--require-redis, or REQUIRE_REDIS=1). */
  requireRedis: boolean;
  /** Directory for --cpu-prof profiles of our server (every run of it). */
  cpuProfDir: string | undefined;
  /** Directory for --cpu-prof profiles of the load generator (to see what a target costs the clients). */
  generatorCpuProfDir: string | undefined;
  /** Extra flags for our server. */
  serverArgs: string[];
  /** Extra node flags for our server's process (e.g. --perf-basic-prof). */
  serverNodeFlags: string[];
  /** Keep the server logs and SQLite files instead of deleting them. */
  keepLogs: boolean;
}

export const HELP = `Usage: npm run bench -- [options]

Starts the chat server and its peers (a ws forwarder, a bare grpc-js batched
broadcast server, a Socket.IO 4 room server) as child processes, drives each
from a separate load-generator process under the same load, and prints the
comparison.

  --scenario <name>           fanout | redis | idle | stalled | rooms | idle-shared | storm | all (default all; repeatable)
  --target <name>             ours | ws | grpc | sio (default all; repeatable). The peers: ws = a ws forwarder
                              (frames relayed unparsed), grpc = a bare grpc-js batched broadcast server on
                              chat.v1, sio = a Socket.IO 4 room server; fanout runs all, stalled and
                              idle-shared also grpc (in --smoke only if named), the others ours/ws
  --json                      print the results as JSON on stdout (tables go to stderr)
  --smoke                     a short run of every scenario (~2 min), for CI; exits non-zero if broken
  --clients <n>               fan-out: clients in the room (default 100)
  --senders <n>               fan-out: senders among them (default 10)
  --payload <bytes>           message text size (default 100)
  --step-seconds <s>          duration of each offered-rate step (default 3)
  --drain-ms <ms>             wait for deliveries after a step before counting the rest lost (default 3000)
  --rates <a,b,...>           offered rates in messages/s, in order (default 200,300,400,500,700,1000,...,10000)
  --retries <n>               run a failed step again up to n times before it counts (default 1)
  --idle-streams <n>          idle: joined streams (default 5000)
  --idle-room-size <n>        idle: members per room (default 10)
  --idle-multiplex <n>        idle: also measure n streams per connection (default 100; 0 skips)
  --shared-clients <a,b>      idle-shared: client counts, all in one room (default 5000,10000)
  --shared-join-timeout <s>   idle-shared: stop and report a miss if the joins take longer (default 900)
  --storm-clients <n>         storm: clients in one room, one connection each (default 10000)
  --storm-generators <n>      storm: load-generator processes sharing the clients (default 2)
  --storm-senders <n>         storm: clients that send messages (default 10)
  --storm-messages <n>        storm: messages per sender before the restart (default 5)
  --storm-outage-messages <n> storm: messages per sender queued during the outage, sent on rejoin (default 3)
  --storm-jitter-ms <ms>      storm: reconnect delay uniform in [0, ms) (default 1000)
  --storm-backoff-max-ms <ms> storm: ceiling doubles per failed attempt up to this (default 1000: flat; the
                              terminal client's policy is --storm-jitter-ms 250 --storm-backoff-max-ms 10000)
  --storm-join-timeout <s>    storm: stop and report a miss if the initial joins take longer (default 120)
  --storm-recover-timeout <s> storm: stop and report a miss if recovery after the restart takes longer (default 120)
  --stall-rate <n>            stalled: messages/s the others send (default 500)
  --stall-seconds <s>         stalled: duration with and without the stalled reader (default 10)
  --rooms <n>                 rooms: number of rooms (default 1000)
  --room-size <n>             rooms: members per room (default 5)
  --room-rates <a,b,...>      rooms: offered rates in messages/s (default 500,1000,2000,4000)
  --redis-clients <a,b,...>   redis: clients in one room per size, fan-out load on two nodes sharing a Redis, each
                              size also on one embedded node (default <--clients>,20; --smoke 10,4)
  --redis-nodes <n>           redis: our server processes on the one Redis (default 2)
  --require-redis             redis: fail when redis-server is not installed (default: skip it, saying so;
                              also REQUIRE_REDIS=1)
  --cpu-prof <dir>            run our server under node --cpu-prof (profiles in <dir>); logs each step's window
  --generator-cpu-prof <dir>  run the load generator under node --cpu-prof (not the storm's): what a target's
                              frames cost the clients, e.g. in a join storm where the generator is the limit
  --server-arg <flag>         pass a flag to our server (repeatable), e.g. --server-arg=--max-queued-bytes=2097152
  --server-node-flag <f>      pass a node flag to our server's process (repeatable), e.g. --server-node-flag=--perf-basic-prof
  --keep-logs                 keep the servers' logs and SQLite files (the path is printed at exit)
  --help                      this text
`;

const DEFAULT_RATES = [200, 300, 400, 500, 700, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000];

/**
 * The targets of --target that a scenario runs: every scenario runs ours and
 * the ws peer; the fan-out step-up runs every peer; `also` adds peers a
 * scenario supports beyond ws (e.g. the grpc-js peer in the stalled scenario),
 * in full runs only (or when --target names them): --smoke exercises every
 * peer in the fan-out step-up and stays within its two minutes.
 */
export function targetsFor(o: BenchOptions, also: Target[] = []): Target[] {
  return o.targets.filter((t) => t === "ours" || t === "ws" || ((!o.smoke || o.targetsChosen) && also.includes(t)));
}

export class UsageError extends Error {}

export function parseOptions(argv: string[]): BenchOptions | "help" {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: "string", multiple: true },
        target: { type: "string", multiple: true },
        json: { type: "boolean" },
        smoke: { type: "boolean" },
        clients: { type: "string" },
        senders: { type: "string" },
        payload: { type: "string" },
        "step-seconds": { type: "string" },
        "drain-ms": { type: "string" },
        rates: { type: "string" },
        retries: { type: "string" },
        "idle-streams": { type: "string" },
        "idle-room-size": { type: "string" },
        "idle-multiplex": { type: "string" },
        "shared-clients": { type: "string" },
        "shared-join-timeout": { type: "string" },
        "storm-clients": { type: "string" },
        "storm-generators": { type: "string" },
        "storm-senders": { type: "string" },
        "storm-messages": { type: "string" },
        "storm-outage-messages": { type: "string" },
        "storm-jitter-ms": { type: "string" },
        "storm-backoff-max-ms": { type: "string" },
        "storm-join-timeout": { type: "string" },
        "storm-recover-timeout": { type: "string" },
        "stall-rate": { type: "string" },
        "stall-seconds": { type: "string" },
        rooms: { type: "string" },
        "room-size": { type: "string" },
        "room-rates": { type: "string" },
        "redis-clients": { type: "string" },
        "redis-nodes": { type: "string" },
        "require-redis": { type: "boolean" },
        "cpu-prof": { type: "string" },
        "generator-cpu-prof": { type: "string" },
        "server-arg": { type: "string", multiple: true },
        "server-node-flag": { type: "string", multiple: true },
        "keep-logs": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return "help";
  const smoke = values.smoke === true;
  const o: BenchOptions = {
    scenarios: [...SCENARIOS],
    targets: ["ours", ...PEERS],
    targetsChosen: false,
    json: values.json === true,
    smoke,
    clients: smoke ? 20 : 100,
    senders: smoke ? 4 : 10,
    payload: 100,
    stepSeconds: smoke ? 1 : 3,
    drainMs: smoke ? 2000 : 3000,
    warmupSeconds: smoke ? 0.5 : 2,
    settleMs: smoke ? 300 : 2000,
    rates: smoke ? [200, 1000] : DEFAULT_RATES,
    retries: smoke ? 0 : 1,
    keepStepping: false,
    idleStreams: smoke ? 200 : 5000,
    idleRoomSize: 10,
    idleMultiplex: smoke ? 50 : 100,
    idlePerConnection: 1,
    idleJoinTimeoutSeconds: 300,
    sharedClients: smoke ? [300] : [5000, 10000],
    sharedJoinTimeoutSeconds: smoke ? 120 : 900,
    stormClients: smoke ? 300 : 10000,
    stormGenerators: 2,
    stormSenders: smoke ? 3 : 10,
    stormMessages: smoke ? 3 : 5,
    stormOutageMessages: smoke ? 2 : 3,
    stormJitterMs: 1000,
    stormBackoffMaxMs: 1000,
    stormJoinTimeoutSeconds: smoke ? 60 : 120,
    stormRecoverTimeoutSeconds: smoke ? 60 : 120,
    stallRate: 500,
    stallSeconds: smoke ? 4 : 10,
    stallReferenceSeconds: smoke ? 1.5 : 10,
    rooms: smoke ? 30 : 1000,
    roomSize: 5,
    roomRates: smoke ? [200, 1000] : [500, 1000, 2000, 4000],
    redisClients: smoke ? [10, 4] : [],
    redisNodes: 2,
    requireRedis: values["require-redis"] === true || process.env.REQUIRE_REDIS === "1",
    cpuProfDir: values["cpu-prof"] as string | undefined,
    generatorCpuProfDir: values["generator-cpu-prof"] as string | undefined,
    serverArgs: (values["server-arg"] as string[] | undefined) ?? [],
    serverNodeFlags: (values["server-node-flag"] as string[] | undefined) ?? [],
    keepLogs: values["keep-logs"] === true,
  };
  const scen = values.scenario as string[] | undefined;
  if (scen && !scen.includes("all")) {
    for (const s of scen) if (!SCENARIOS.includes(s as ScenarioName)) throw new UsageError(`unknown scenario "${s}" (${SCENARIOS.join(", ")}, all)`);
    o.scenarios = SCENARIOS.filter((s) => scen.includes(s));
  }
  const targets = values.target as string[] | undefined;
  if (targets) {
    const known: Target[] = ["ours", ...PEERS];
    for (const t of targets) if (!known.includes(t as Target)) throw new UsageError(`unknown target "${t}" (${known.join(", ")})`);
    o.targets = known.filter((t) => targets.includes(t));
    o.targetsChosen = true;
  }
  const int = (flag: string, min: number): number | undefined => {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag} must be a number >= ${min} (got "${raw}")`);
    return n;
  };
  const list = (flag: string): number[] | undefined => {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) return undefined;
    const xs = raw.split(",").map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x <= 0)) throw new UsageError(`--${flag} must be positive numbers, comma-separated`);
    return xs;
  };
  o.clients = int("clients", 2) ?? o.clients;
  o.senders = int("senders", 1) ?? o.senders;
  if (o.senders > o.clients) throw new UsageError("--senders cannot exceed --clients");
  o.payload = int("payload", 1) ?? o.payload;
  if (o.payload > 4000) throw new UsageError("--payload must be at most 4000 bytes (the server's text limit is 4096)");
  o.stepSeconds = int("step-seconds", 0.2) ?? o.stepSeconds;
  o.drainMs = int("drain-ms", 100) ?? o.drainMs;
  o.rates = list("rates") ?? o.rates;
  o.retries = int("retries", 0) ?? o.retries;
  o.idleStreams = int("idle-streams", 1) ?? o.idleStreams;
  o.idleRoomSize = int("idle-room-size", 1) ?? o.idleRoomSize;
  o.idleMultiplex = int("idle-multiplex", 0) ?? o.idleMultiplex;
  o.sharedClients = list("shared-clients") ?? o.sharedClients;
  o.sharedJoinTimeoutSeconds = int("shared-join-timeout", 1) ?? o.sharedJoinTimeoutSeconds;
  o.stormClients = int("storm-clients", 2) ?? o.stormClients;
  o.stormGenerators = int("storm-generators", 1) ?? o.stormGenerators;
  o.stormSenders = int("storm-senders", 1) ?? o.stormSenders;
  if (o.stormSenders > o.stormClients) throw new UsageError("--storm-senders cannot exceed --storm-clients");
  if (o.stormGenerators > o.stormClients) throw new UsageError("--storm-generators cannot exceed --storm-clients");
  o.stormMessages = int("storm-messages", 0) ?? o.stormMessages;
  o.stormOutageMessages = int("storm-outage-messages", 0) ?? o.stormOutageMessages;
  o.stormJitterMs = int("storm-jitter-ms", 0) ?? o.stormJitterMs;
  o.stormBackoffMaxMs = int("storm-backoff-max-ms", 0) ?? Math.max(o.stormBackoffMaxMs, o.stormJitterMs);
  o.stormJoinTimeoutSeconds = int("storm-join-timeout", 1) ?? o.stormJoinTimeoutSeconds;
  o.stormRecoverTimeoutSeconds = int("storm-recover-timeout", 1) ?? o.stormRecoverTimeoutSeconds;
  o.stallRate = int("stall-rate", 1) ?? o.stallRate;
  o.stallSeconds = int("stall-seconds", 1) ?? o.stallSeconds;
  if (values["stall-seconds"] !== undefined) o.stallReferenceSeconds = o.stallSeconds;
  o.rooms = int("rooms", 1) ?? o.rooms;
  o.roomSize = int("room-size", 2) ?? o.roomSize;
  o.roomRates = list("room-rates") ?? o.roomRates;
  o.redisClients = list("redis-clients") ?? (o.redisClients.length > 0 ? o.redisClients : [o.clients, 20]);
  if (o.redisClients.some((n) => n < 2 || !Number.isInteger(n))) throw new UsageError("--redis-clients must be whole numbers >= 2");
  o.redisNodes = int("redis-nodes", 1) ?? o.redisNodes;
  if (o.redisClients.some((n) => n < o.redisNodes)) throw new UsageError("--redis-clients: every size needs at least one client per node (--redis-nodes)");
  return o;
}
