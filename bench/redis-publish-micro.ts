/**
 * What the Redis log's publish script costs inside redis-server, alone: a
 * fresh redis-server (no persistence) on a free port, `n` EVALSHA calls of
 * PUBLISH_SCRIPT with the arguments a node sends for a 100-byte message (10
 * senders, fresh client_msg_ids), with `subscribers` connections subscribed
 * to the room's channel, one call at a time and then `n` at once (as
 * auto-pipelining sends them under load). Prints the script's time from INFO
 * commandstats and redis-server's CPU from /proc, per call.
 *
 * --access: the sender's user id is given (the access check runs), in a room
 * without state ("none") or with one ("state": a private room where the
 * sender is a member, with a few bans and mutes); default: not checked.
 *
 *   npx tsx bench/redis-publish-micro.ts [--calls 10000] [--subscribers 2] [--access none|state]
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { PUBLISH_SCRIPT } from "../src/log/redis/scripts.js";
import { encodeMessageHalves } from "../src/wire/message-codec.js";
import { clockTicks, processCpuUs } from "./proc.js";
import { redisServerVersion, startRedis } from "./redis-server.js";
import { parseCommandStats } from "./redis-stats.js";

const { values } = parseArgs({ options: { calls: { type: "string" }, subscribers: { type: "string" }, access: { type: "string" } } });
const calls = Number(values.calls ?? 10_000);
const subscriberCount = Number(values.subscribers ?? 2);
const version = redisServerVersion();
if (!version) {
  console.error("redis-server is not installed");
  process.exit(2);
}
const redis = await startRedis(version);
const ticks = clockTicks();
const client = new Redis(redis.url);
const subscribers = Array.from({ length: subscriberCount }, () => new Redis(redis.url));
const k = (s: string) => `micro:{r}:${s}`;
for (const s of subscribers) await s.subscribe(k("ch"));
const access = values.access;
if (access === "state") {
  await client.hset(k("access"), "v", "3", "p", "1", "b:x", "0 spam", "m:y", "0 noise");
  for (let i = 0; i < 10; i++) await client.hset(k("access"), `r:c${i}`, "1");
}
const sha = (await client.script("LOAD", PUBLISH_SCRIPT)) as string;
const halves = encodeMessageHalves({ room: "r", sender: "c1", text: "x".repeat(100), sentAtMs: Date.now(), clientMsgId: "0.1.1.1700000000000000" });
let next = 0;
const call = () => {
  const i = next++;
  const now = Date.now();
  // KEYS meta, log, ids, idTimes, channel, access; ARGV as redis-log.ts sends them (history 10,000, no age limit, 1-day id window).
  const senderId = access ? `c${i % 10}` : "";
  return client.evalsha(sha, 6, k("meta"), k("log"), k("ids"), k("idt"), k("ch"), k("access"), `c${i % 10}`, `0.${i % 10}.${i}.${now}000`, "0123abcd", halves.head, halves.tail, now, 10_000, 0, 86_400_000, 100_000, "epoch", "0", now, "", 0, "0", senderId, 0);
};

async function measure(label: string, run: () => Promise<unknown>): Promise<void> {
  const s0 = parseCommandStats(await client.info("commandstats"));
  const cpu0 = processCpuUs(redis.pid, ticks);
  const t0 = performance.now();
  await run();
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = processCpuUs(redis.pid, ticks) - cpu0;
  const s1 = parseCommandStats(await client.info("commandstats"));
  const n = s1.calls.evalsha - (s0.calls.evalsha ?? 0);
  const usec = s1.usec.evalsha - (s0.usec.evalsha ?? 0);
  console.log(
    `${label}: ${n} calls, script ${(usec / n).toFixed(1)} µs/call (commandstats), redis-server CPU ${(cpu / n).toFixed(1)} µs/call, ` +
      `wall ${(wallUs / n).toFixed(1)} µs/call (${subscriberCount} subscribers)`,
  );
}

try {
  await measure("warm-up, one at a time", async () => {
    for (let i = 0; i < 1000; i++) await call();
  });
  await measure("one at a time", async () => {
    for (let i = 0; i < calls; i++) await call();
  });
  await measure("all at once (pipelined)", () => Promise.all(Array.from({ length: calls }, call)));
} finally {
  client.disconnect();
  for (const s of subscribers) s.disconnect();
  await redis.stop();
}
