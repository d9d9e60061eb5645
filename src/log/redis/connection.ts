/**
 * Connections to Redis or Redis Cluster through ioredis. A standalone
 * deployment gets two connections (commands, and one in subscriber mode);
 * a cluster gets ioredis's Cluster client with one sharded subscriber per
 * master (SSUBSCRIBE routes each room's channel to the master owning its slot).
 *
 * Trouble is bounded: every command has a deadline (--redis-command-timeout)
 * and a liveness probe (liveness.ts) notices a Redis that stopped answering;
 * a refused password is told in plain words; connections carry the node's
 * name (CLIENT LIST), and a URL is only ever shown with its password masked.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from "ioredis";
import { Liveness } from "./liveness.js";

export interface RedisTarget {
  /** `redis://host:port[/db]` or `rediss://...` (TLS); with cluster, a comma-separated list of seed nodes. */
  url: string;
  cluster: boolean;
  /** A command (and a liveness probe) not answered within this fails: a frozen Redis is unavailable, not a hang. */
  commandTimeoutMs?: number;
}

/** What the connections are called and who hears about their trouble. */
export interface ConnectionHooks {
  /** The node's name, in the connections' names (CLIENT LIST): chat-<name>-cmd, chat-<name>-sub. */
  nodeName: string;
  /** Liveness or authentication changed: availability should be checked again. */
  onChange(): void;
  /** Redis refused the credentials (WRONGPASS/NOAUTH), in plain words, password left out. */
  onAuthFailure(message: string): void;
}

/** The documented default of --redis-command-timeout. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;

/** What the log needs from either kind of deployment. */
export interface RedisConnections {
  /** Runs commands and scripts (auto-pipelined: the writes of one event-loop turn go out together). */
  commands: Redis | Cluster;
  /** Receives room channels: `messageBuffer` (standalone) or `smessageBuffer` (cluster) events. */
  subscriber: Redis | Cluster;
  sharded: boolean;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Publish on a room channel from the node (typing signals). */
  publish(channel: string, payload: Buffer): Promise<unknown>;
  /** Whether both sides are connected now, and Redis answered the last liveness probe in time. */
  ready(): boolean;
  /** Why Redis last refused this node's credentials, while it does (undefined once it accepts them). */
  authFailure(): string | undefined;
  close(): Promise<void>;
}

/** The connections as opened, before liveness and authentication are folded into ready(). */
type Plain = Omit<RedisConnections, "authFailure">;

const RETRY = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 2000) + Math.floor(Math.random() * 100);

function baseOptions(commandTimeout: number): RedisOptions {
  return {
    // A frozen Redis keeps its connection open: without a deadline a command would wait for as long as it is frozen.
    commandTimeout,
    // Fail fast while disconnected: a send is refused (and kept by the client) rather than queued here.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    retryStrategy: RETRY,
    lazyConnect: true,
  };
}

/** Parse `redis://h:p/db` into ioredis options; rediss:// turns TLS on. */
function fromUrl(url: string): RedisOptions & { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new Error(`--redis: not a redis:// URL: "${redactRedisUrl(url)}"`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(`--redis: must start with redis:// or rediss:// (got "${redactRedisUrl(url)}")`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`--redis: database must be a number (got "${parsed.pathname.slice(1)}")`);
  return {
    host: parsed.hostname || "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === "rediss:" ? {} : undefined,
  };
}

/**
 * The URL (or comma-separated seed list) with any password replaced by ***,
 * for logs and error messages: redis://user:s3cr3t@h:6379 -> redis://user:***@h:6379.
 */
export function redactRedisUrl(url: string): string {
  return url.replace(/(\w+:\/\/[^:@/,\s]*:)[^@/,\s]*@/g, "$1***@");
}

/**
 * A WRONGPASS/NOAUTH refusal in plain words (naming the code an operator can
 * search for), or undefined for any other error.
 */
export function authFailureMessage(err: unknown, url: string): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const where = `Redis at ${redactRedisUrl(url)}`;
  if (/^WRONGPASS\b/.test(message)) return `${where} refused this node's password (WRONGPASS: wrong user name or password); check the password in --redis / REDIS_URL`;
  if (/^NOAUTH\b/.test(message)) return `${where} requires a password (NOAUTH) and none was given; write it in the URL: redis://:PASSWORD@host:port`;
  if (/^NOPERM\b/.test(message)) return `${where} refused a command to this node's user (NOPERM: the user lacks a permission); check its ACL`;
  return undefined;
}

export function connectRedis(target: RedisTarget, hooks: ConnectionHooks): RedisConnections {
  const timeout = target.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connections = target.cluster ? clusterConnections(target.url, timeout, hooks.nodeName) : standaloneConnections(target.url, timeout, hooks.nodeName);
  const clients = new Set<Redis | Cluster>([connections.commands, connections.subscriber]);
  let authFailure: string | undefined;
  const liveness = new Liveness({
    commandTimeoutMs: timeout,
    probe: () => probe(connections),
    onChange: () => hooks.onChange(),
  });
  const onError = (err: unknown) => {
    const failure = authFailureMessage(err, target.url);
    if (failure === undefined) return;
    const first = authFailure === undefined;
    authFailure = failure;
    if (first) {
      hooks.onAuthFailure(failure);
      hooks.onChange();
    }
  };
  for (const client of clients) {
    client.on("error", onError);
    // A cluster reports its node connections' errors (and its sharded subscribers') under these names.
    if (target.cluster) for (const event of ["node error", "nodeError"]) client.on(event, onError);
    client.on("ready", () => {
      authFailure = undefined;
      liveness.reset();
    });
  }
  liveness.start();
  return {
    ...connections,
    ready: () => connections.ready() && liveness.alive && authFailure === undefined,
    authFailure: () => authFailure,
    close: async () => {
      liveness.stop();
      await connections.close();
    },
  };
}

/** One liveness question: PING (standalone), or every master's CLUSTER INFO in cluster_state:ok. */
async function probe(connections: Plain): Promise<boolean> {
  if (!connections.ready()) return true; // not connected: the connection status already says so
  if (!connections.sharded) return (await (connections.commands as Redis).ping()) === "PONG";
  const masters = (connections.commands as Cluster).nodes("master");
  if (masters.length === 0) return false;
  const infos = await Promise.all(masters.map((m) => m.call("CLUSTER", "INFO") as Promise<string>));
  return infos.every((info) => /^cluster_state:ok\b/m.test(String(info)));
}

function standaloneConnections(url: string, commandTimeout: number, nodeName: string): Plain {
  const options = { ...baseOptions(commandTimeout), ...fromUrl(url) };
  const commands = new Redis({ ...options, connectionName: `chat-${nodeName}-cmd` });
  // The subscriber queues its (re)subscriptions until connected, and ioredis
  // subscribes again by itself after a reconnect.
  const subscriber = new Redis({
    ...options,
    connectionName: `chat-${nodeName}-sub`,
    enableOfflineQueue: true,
    enableAutoPipelining: false,
    maxRetriesPerRequest: null,
  });
  return {
    commands,
    subscriber,
    sharded: false,
    subscribe: (channel) => subscriber.subscribe(channel),
    unsubscribe: (channel) => subscriber.unsubscribe(channel),
    publish: (channel, payload) => commands.publish(channel, payload),
    ready: () => commands.status === "ready" && subscriber.status === "ready",
    close: async () => {
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}

function clusterConnections(urls: string, commandTimeout: number, nodeName: string): Plain {
  const seeds = urls.split(",").map((u) => fromUrl(u));
  const { host: _h, port: _p, db, ...redisOptions } = seeds[0];
  if (db) throw new Error("--redis-cluster: Redis Cluster has no databases; leave the /db part out");
  const nodes: ClusterNode[] = seeds.map((s) => ({ host: s.host, port: s.port }));
  const cluster = new Cluster(nodes, {
    shardedSubscribers: true,
    enableAutoPipelining: true,
    enableOfflineQueue: true,
    lazyConnect: true,
    clusterRetryStrategy: RETRY,
    scaleReads: "master",
    // ioredis names the sharded subscribers "ioredis-cluster(ssubscriber):chat-<id>" and its topology refresher "ioredis-cluster(refresher):chat-<id>".
    redisOptions: { ...redisOptions, maxRetriesPerRequest: 1, commandTimeout, connectionName: `chat-${nodeName}` },
  });
  return {
    commands: cluster,
    subscriber: cluster,
    sharded: true,
    subscribe: (channel) => cluster.ssubscribe(channel),
    unsubscribe: (channel) => cluster.sunsubscribe(channel),
    publish: (channel, payload) => cluster.spublish(channel, payload),
    ready: () => cluster.status === "ready",
    close: async () => {
      cluster.disconnect();
    },
  };
}
