/**
 * Real Redis for tests: the one answering at REDIS_URL (default
 * redis://127.0.0.1:6379), and Redis Clusters the tests start themselves
 * (three masters on free ports). Every test run uses its own key prefix, so
 * runs never collide. Without a Redis, tests that need one are skipped,
 * unless REQUIRE_REDIS=1 (CI), when they fail.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitUntil } from "./wait.js";

export const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

let answering: boolean | undefined;

/** Whether a Redis answers at REDIS_URL (asked once per test file). */
export async function redisAnswers(): Promise<boolean> {
  if (answering !== undefined) return answering;
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    answering = (await client.ping()) === "PONG";
  } catch {
    answering = false;
  } finally {
    client.disconnect();
  }
  if (!answering && process.env.REQUIRE_REDIS === "1") throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${REDIS_URL}`);
  return answering;
}

/** A key prefix no other test run uses. */
export function uniquePrefix(what = "t"): string {
  return `test-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Delete every key under a prefix (on one Redis; for clusters, call per master). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server process of the test's own (standalone), on a free port. */
export interface RedisProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startRedisServer(port?: number, extra: string[] = []): Promise<RedisProcess> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "redis-"));
  const child = spawn("redis-server", ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extra], {
    stdio: "ignore",
  });
  const url = `redis://127.0.0.1:${p}`;
  await waitUntil(() => pingSync(p), `redis-server on ${p}`, 10_000);
  return {
    url,
    port: p,
    child,
    stop: async (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill(signal);
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pingSync(port: number): boolean {
  const out = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8", timeout: 2000 });
  // A redis-server started with --requirepass answers NOAUTH: it is up.
  return out.stdout?.trim() === "PONG" || /^NOAUTH/.test(out.stdout?.trim() ?? "");
}

/**
 * A three-master Redis Cluster of the test's own, started with redis-server and
 * `redis-cli --cluster create`, optionally with one replica per master, and the
 * means to fail it over the hard way (a lagging replica promoted).
 */
export interface RedisCluster {
  /** Seed list for --redis with --redis-cluster (the first masters; the client discovers the rest). */
  url: string;
  /** The masters as started (a failover changes who is master; see masterOf). */
  masters: RedisProcess[];
  /** Every redis-server process of the cluster, masters and replicas. */
  all: RedisProcess[];
  /** The master (by port) that serves a key's slot. */
  ownerOf(key: string): Promise<number>;
  /** The process serving a key's slot now. */
  masterOf(key: string): Promise<RedisProcess>;
  /** The replica (online) of a master. */
  replicaOf(master: RedisProcess): RedisProcess;
  /**
   * Cut a replica off its master without it noticing: the replica is frozen
   * (SIGSTOP), then the master drops its replication link (CLIENT KILL TYPE
   * replica). Writes from now on reach the master only.
   */
  detachReplica(master: RedisProcess, replica: RedisProcess): void;
  /** Let a frozen replica run again (it reconnects to its master if it can). */
  resume(replica: RedisProcess): void;
  /** SIGKILL a master, resume its (frozen) replica and promote it with CLUSTER FAILOVER TAKEOVER. */
  failOver(master: RedisProcess, replica: RedisProcess): Promise<void>;
  stop(): Promise<void>;
}

const cli = (port: number, ...args: string[]) => spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8", timeout: 5000 }).stdout ?? "";
const alive = (p: RedisProcess) => p.child.exitCode === null && p.child.signalCode === null;

export async function startRedisCluster(options: { replicas?: 0 | 1 } = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0;
  const all: RedisProcess[] = [];
  for (let i = 0; i < 3 * (1 + replicas); i++) {
    const port = await freePort();
    // A short node timeout: failure detection (and a test's failover) within seconds.
    all.push(await startRedisServer(port, ["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000"]));
  }
  const create = spawnSync(
    "redis-cli",
    ["--cluster", "create", ...all.map((m) => `127.0.0.1:${m.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
  const clusterOk = () => all.filter(alive).every((m) => cli(m.port, "cluster", "info").includes("cluster_state:ok"));
  await waitUntil(clusterOk, "cluster state ok", 20_000);
  const masters = all.filter((p) => cli(p.port, "info", "replication").includes("role:master"));
  if (replicas > 0) {
    await waitUntil(
      () => all.filter((p) => !masters.includes(p)).every((r) => cli(r.port, "info", "replication").includes("master_link_status:up")),
      "replicas in sync",
      20_000,
    );
  }
  const byPort = (port: number) => {
    const found = all.find((p) => p.port === port);
    if (!found) throw new Error(`no redis-server of this cluster on port ${port}`);
    return found;
  };
  const ownerOf = async (key: string) => {
    const client = new Redis(all.find(alive)!.url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      const slot = (await client.call("CLUSTER", "KEYSLOT", key)) as number;
      const ranges = (await client.call("CLUSTER", "SLOTS")) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const range = ranges.find(([start, end]) => slot >= start && slot <= end);
      if (!range) throw new Error(`no master serves slot ${slot}`);
      return range[2][1];
    } finally {
      client.disconnect();
    }
  };
  return {
    // Seeds that answer: a seed list naming a dead master can keep a client from starting.
    get url() {
      return all.filter(alive).map((m) => m.url).join(",");
    },
    masters,
    all,
    ownerOf,
    masterOf: async (key) => byPort(await ownerOf(key)),
    replicaOf(master) {
      const line = cli(master.port, "info", "replication").split("\n").find((l) => /^slave\d+:/.test(l));
      const port = line ? Number(/port=(\d+)/.exec(line)?.[1]) : NaN;
      if (!Number.isFinite(port)) throw new Error(`master ${master.port} has no replica`);
      return byPort(port);
    },
    detachReplica(master, replica) {
      replica.child.kill("SIGSTOP");
      cli(master.port, "client", "kill", "type", "replica");
    },
    resume(replica) {
      replica.child.kill("SIGCONT");
    },
    async failOver(master, replica) {
      const exited = new Promise((r) => master.child.once("exit", r));
      master.child.kill("SIGKILL");
      await exited;
      replica.child.kill("SIGCONT");
      await waitUntil(() => cli(replica.port, "ping").trim() === "PONG", "the replica to answer", 10_000);
      // It may have started a failover of its own meanwhile; TAKEOVER needs no other node's vote.
      let probes = 0;
      await waitUntil(
        () => {
          if (cli(replica.port, "info", "replication").includes("role:master")) return true;
          if (probes++ % 200 === 0) cli(replica.port, "cluster", "failover", "takeover"); // again about every second
          return false;
        },
        "the replica to become master",
        20_000,
      );
      await waitUntil(clusterOk, "cluster state ok after the failover", 30_000);
    },
    stop: async () => {
      for (const p of all) if (alive(p)) p.child.kill("SIGCONT");
      await Promise.all(all.map((m) => m.stop()));
    },
  };
}
