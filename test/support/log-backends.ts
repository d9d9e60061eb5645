/**
 * The room logs a contract suite runs against: the embedded log on the
 * memory and the SQLite store, and the Redis log on a real Redis, on a
 * three-master Redis Cluster and waiting for a replica
 * (--redis-min-replicas 1), the last two started by startLogBackends(). Each
 * Redis backend takes a fresh key prefix per test (cleanup()). Shared by the
 * reactions contract; the older contract files keep their own copy.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { EmbeddedRoomLog, type TurnHooks } from "../../src/log/embedded-log.js";
import { RedisRoomLog } from "../../src/log/redis/redis-log.js";
import type { RoomLog } from "../../src/log/room-log.js";
import { MemoryHistoryStore } from "../../src/store/memory-store.js";
import { defaultRetention, type Retention } from "../../src/store/retention.js";
import { SqliteHistoryStore } from "../../src/store/sqlite-store.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster, type RedisProcess } from "./redis.js";
import { waitUntil } from "./wait.js";

/** The end of an event-loop turn, as the server's scheduler runs the embedded log's commit. */
export function turnHooks(): TurnHooks {
  const hooks: (() => void)[] = [];
  let scheduled = false;
  return {
    addHook: (hook: () => void) => hooks.push(hook),
    schedule: () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        for (const h of hooks) h();
      });
    },
  };
}

export interface LogBackend {
  name: string;
  open(retention?: Retention): Promise<RoomLog>;
  /** Whether it can run here (a Redis backend needs its Redis). */
  available(): boolean;
  /** Another node of the same deployment (Redis logs): opened as open() does, sharing its keys. */
  multiNode?: boolean;
  /** The SQLite file of the last open() (embedded, SQLite). */
  file?: string;
  /** Redis: every key under the prefix with its PTTL (-1: no expiry), on every server. */
  keys?(): Promise<Map<string, number>>;
  /** A fresh key prefix: each test starts from an empty deployment. */
  cleanup?(): Promise<void>;
}

const dirs: string[] = [];
let redisUp = false;
let cluster: RedisCluster | undefined;
let withReplica: { master: RedisProcess; replica: RedisProcess } | undefined;
const prefixes: { url: string; prefix: string }[] = [];

async function redisKeys(urls: string[], prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const url of urls) {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        for (const key of keys) out.set(key, Math.max(out.get(key) ?? -2, await client.pttl(key)));
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
  }
  return out;
}

function redisBackend(name: string, what: string, target: () => { url: string; cluster: boolean; servers: string[] } | undefined, minReplicas = 0): LogBackend {
  let prefix = uniquePrefix(what);
  return {
    name,
    multiNode: true,
    available: () => target() !== undefined,
    async open(retention = defaultRetention) {
      const t = target()!;
      const log = new RedisRoomLog({ url: t.url, cluster: t.cluster, prefix, retention, leaseMs: 3000, minReplicas });
      if (!(await log.connect())) throw new Error(`${name}: Redis did not answer`);
      if (!t.cluster && !prefixes.some((p) => p.prefix === prefix)) prefixes.push({ url: t.url, prefix });
      return log;
    },
    keys: () => redisKeys(target()!.servers, prefix),
    async cleanup() {
      prefix = uniquePrefix(what);
    },
  };
}

/** Every backend; those whose Redis is not up say so in available(). */
export function logBackends(what: string): LogBackend[] {
  return [
    {
      name: "embedded, memory store",
      available: () => true,
      open: async (retention = defaultRetention) => new EmbeddedRoomLog({ store: new MemoryHistoryStore(retention, undefined, 0), turn: turnHooks() }),
    },
    {
      name: "embedded, SQLite store",
      available: () => true,
      async open(retention = defaultRetention) {
        const dir = mkdtempSync(join(tmpdir(), `${what}-contract-`));
        dirs.push(dir);
        this.file = join(dir, "chat.db");
        return new EmbeddedRoomLog({ store: new SqliteHistoryStore(this.file, { retention, pruneIntervalMs: 0 }), turn: turnHooks() });
      },
    },
    redisBackend("Redis", what, () => (redisUp ? { url: REDIS_URL, cluster: false, servers: [REDIS_URL] } : undefined)),
    redisBackend("Redis Cluster (3 masters)", what, () => (cluster ? { url: cluster.url, cluster: true, servers: cluster.all.map((p) => p.url) } : undefined)),
    redisBackend(
      "Redis with a replica, --redis-min-replicas 1",
      what,
      () => (withReplica ? { url: withReplica.master.url, cluster: false, servers: [withReplica.master.url] } : undefined),
      1,
    ),
  ];
}

/** Start the cluster and the master with a replica (when a Redis answers on the default port). */
export async function startLogBackends(): Promise<void> {
  redisUp = await redisAnswers();
  if (!redisUp) return;
  cluster = await startRedisCluster();
  const master = await startRedisServer();
  const replica = await startRedisServer(undefined, ["--replicaof", "127.0.0.1", String(master.port)]);
  withReplica = { master, replica };
  await waitUntil(() => spawnSync("redis-cli", ["-p", String(replica.port), "info", "replication"], { encoding: "utf8" }).stdout.includes("master_link_status:up"), "replica in sync", 20_000);
}

export async function stopLogBackends(): Promise<void> {
  for (const { url, prefix } of prefixes) await deletePrefix(url, prefix).catch(() => {});
  await cluster?.stop();
  await withReplica?.replica.stop();
  await withReplica?.master.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
