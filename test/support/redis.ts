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

/** A three-master Redis Cluster of the test's own, started with redis-server and `redis-cli --cluster create`. */
export interface RedisCluster {
  /** Seed list for --redis with --redis-cluster. */
  url: string;
  masters: RedisProcess[];
  /** The master (by port) that serves a key's slot. */
  ownerOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const masters: RedisProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    masters.push(await startRedisServer(port, ["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000"]));
  }
  const create = spawnSync(
    "redis-cli",
    ["--cluster", "create", ...masters.map((m) => `127.0.0.1:${m.port}`), "--cluster-replicas", "0", "--cluster-yes"],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
  await waitUntil(
    () => masters.every((m) => spawnSync("redis-cli", ["-p", String(m.port), "cluster", "info"], { encoding: "utf8" }).stdout.includes("cluster_state:ok")),
    "cluster state ok",
    20_000,
  );
  return {
    url: masters.map((m) => m.url).join(","),
    masters,
    async ownerOf(key) {
      const client = new Redis(masters[0].url, { maxRetriesPerRequest: 1 });
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
    },
    stop: async () => {
      await Promise.all(masters.map((m) => m.stop()));
    },
  };
}
