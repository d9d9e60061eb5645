/**
 * Connections to Redis or Redis Cluster through ioredis. A standalone
 * deployment gets two connections (commands, and one in subscriber mode);
 * a cluster gets ioredis's Cluster client with one sharded subscriber per
 * master (SSUBSCRIBE routes each room's channel to the master owning its slot).
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from "ioredis";

export interface RedisTarget {
  /** `redis://host:port[/db]` or `rediss://...` (TLS); with cluster, a comma-separated list of seed nodes. */
  url: string;
  cluster: boolean;
}

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
  /** Whether both sides are connected now. */
  ready(): boolean;
  close(): Promise<void>;
}

const RETRY = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 2000) + Math.floor(Math.random() * 100);

function baseOptions(): RedisOptions {
  return {
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
    throw new Error(`--redis: not a redis:// URL: "${url}"`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(`--redis: must start with redis:// or rediss:// (got "${url}")`);
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

export function connectRedis(target: RedisTarget): RedisConnections {
  return target.cluster ? clusterConnections(target.url) : standaloneConnections(target.url);
}

function standaloneConnections(url: string): RedisConnections {
  const options = { ...baseOptions(), ...fromUrl(url) };
  const commands = new Redis(options);
  // The subscriber queues its (re)subscriptions until connected, and ioredis
  // subscribes again by itself after a reconnect.
  const subscriber = new Redis({ ...options, enableOfflineQueue: true, enableAutoPipelining: false, maxRetriesPerRequest: null });
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

function clusterConnections(urls: string): RedisConnections {
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
    redisOptions: { ...redisOptions, maxRetriesPerRequest: 1 },
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
