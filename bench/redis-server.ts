/**
 * The bench's own Redis for the two-node scenario: Debian's `redis-server`,
 * started on a free loopback port without persistence (`--save ""
 * --appendonly no`), as a tracked child (killed with the others on exit,
 * SIGINT or SIGTERM), so its CPU can be read by pid and its counters by INFO.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Redis } from "ioredis";
import { logTail, tmpDir, track } from "./children.js";
import { sleep } from "./proc.js";

export interface RedisChild {
  pid: number;
  port: number;
  url: string;
  version: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** `redis-server --version`'s version, or undefined when it is not installed. */
export function redisServerVersion(): string | undefined {
  try {
    const out = execFileSync("redis-server", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function ping(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Start a redis-server on a free port and wait until it answers PING. */
export async function startRedis(version: string): Promise<RedisChild> {
  let lastError = "";
  // A free port can be taken between the probe and redis-server's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = join(tmpDir(), `redis-${port}`);
    mkdirSync(dir, { recursive: true });
    const logFile = join(dir, "redis.log");
    const fd = openSync(logFile, "w");
    const child = track(
      spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
        stdio: ["ignore", fd, fd],
      }),
    );
    closeSync(fd);
    const url = `redis://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      if (await ping(url)) {
        return {
          pid: child.pid!,
          port,
          url,
          version,
          child,
          logFile,
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
            await exited;
            clearTimeout(timer);
          },
        };
      }
      await sleep(50);
    }
    lastError = logTail(logFile, 5);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  throw new Error(`redis-server did not start:\n${lastError}`);
}
