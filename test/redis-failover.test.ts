/**
 * The Redis room log when Redis itself fails: a cluster master dies and a
 * replica that lagged takes over, a node dies holding the only member of a
 * room, Redis restarts or pauses for less than a node's lease. Promises to
 * users: an acknowledged message is never lost or renumbered silently (with
 * --redis-min-replicas a message is acknowledged only once a replica has it;
 * a counter found behind what was delivered resets the room with a new
 * epoch, loudly); a dead node's members are released everywhere within the
 * lease; a short outage disconnects nobody.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { RedisRoomLog } from "../src/log/redis/redis-log.js";
import type { LogEntry, RoomPosition } from "../src/log/room-log.js";
import { defaultRetention } from "../src/store/retention.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster, type RedisProcess } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  closeTesters();
  killServers();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
});

async function nodes(count: number, redis: { url: string; cluster?: boolean }, leaseMs: number, extra: string[] = []): Promise<ServerProcess[]> {
  const prefix = uniquePrefix("failover");
  if (!redis.cluster) cleanups.push(() => deletePrefix(redis.url, prefix));
  const args = ["--port", "0", "--redis", redis.url, "--redis-prefix", prefix, "--node-lease-ms", String(leaseMs), "--rate-limit", "0", ...extra];
  if (redis.cluster) args.push("--redis-cluster");
  return Promise.all(Array.from({ length: count }, () => spawnServer(args, 60_000)));
}

/** Send until the message comes back acknowledged, resending under the same id while the log refuses it. */
async function sendUntilStored(t: ChatTester, room: string, text: string, id: string, timeoutMs = 20_000): Promise<void> {
  let refusals = 0;
  t.send(room, text, id);
  await waitUntil(
    () => {
      if (t.messages(room).some((m) => m.clientMsgId === id)) return true;
      if (t.ended) throw new Error(`${t.name}: stream ended (${t.ended.message}) before ${id} was acknowledged`);
      const refused = t.of("error").filter((e) => e.clientMsgId === id).length;
      if (refused > refusals) {
        refusals = refused;
        t.send(room, text, id);
      }
      return false;
    },
    `${id} acknowledged`,
    timeoutMs,
  ).catch((e: Error) => {
    // Say what the client was told: a timeout alone does not say whether the log refused, hung or stored it silently.
    const told = t.of("error").filter((x) => x.clientMsgId === id).map((x) => x.message);
    throw new Error(`${e.message}; ${refusals} refusal(s): ${JSON.stringify(told.slice(-3))}`);
  });
}

/** Everything written to a master so far has reached its replica (a write of our own, then WAIT on its connection). */
async function replicated(master: RedisProcess, room: string): Promise<void> {
  const client = new Redis(master.url, { maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  try {
    await client.set(`sync:{${room}}`, "1");
    expect(Number(await client.call("WAIT", 1, 5000))).toBe(1);
  } finally {
    client.disconnect();
  }
}

const logLines = (s: ServerProcess) => s.logs().map((l) => String(l.msg ?? ""));
const distinctSeqs = (t: ChatTester, room: string) => [...new Set(t.messages(room).map((m) => Number(m.seq)))];
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("Redis Cluster failover (three masters, three replicas, started here)", () => {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    if (await redisAnswers()) cluster = await startRedisCluster({ replicas: 1 });
  }, 90_000);
  afterAll(async () => cluster?.stop());

  /** A room whose slot is served by the i-th master as started (each failover test takes a master of its own). */
  async function roomOnMaster(i: number, tag: string): Promise<{ room: string; master: RedisProcess }> {
    for (let n = 0; n < 200; n++) {
      const room = `${tag}-${n}`;
      const master = await cluster!.masterOf(`{${room}}`);
      if (master === cluster!.masters[i]) return { room, master };
    }
    throw new Error("no room name on that master");
  }

  it("a lagging replica promoted (no --redis-min-replicas): the room starts a new epoch, loudly; no delivered number is reused and no sender hangs", async ({ skip }) => {
    if (!cluster) return skip();
    const { room, master } = await roomOnMaster(0, "lag");
    const replica = cluster.replicaOf(master);
    const servers = await nodes(2, { url: cluster.url, cluster: true }, 2000);
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    ann.join(room);
    bob.join(room);
    const joined = await ann.joined(room);
    await bob.joined(room);
    for (let i = 1; i <= 3; i++) ann.send(room, `kept ${i}`, `k${i}`);
    await bob.messageCount(3, room);
    await replicated(master, room);

    // The replica falls behind: five more messages reach the master only, and are acknowledged.
    cluster.detachReplica(master, replica);
    for (let i = 4; i <= 8; i++) ann.send(room, `lost ${i}`, `l${i}`);
    await ann.messageCount(8, room, 10_000);
    await bob.messageCount(8, room, 10_000);

    // The master dies; the replica, 5 behind, takes over.
    await cluster.failOver(master, replica);

    // The next send must not be stored as number 4 again (every node would drop it): the room resets instead.
    ann.send(room, "after the failover", "after-1");
    let refusals = 0;
    await waitUntil(
      () => {
        const refused = ann.of("error").filter((e) => e.clientMsgId === "after-1" && e.code === ErrorCode.UNAVAILABLE).length;
        if (!ann.ended && refused > refusals) {
          refusals = refused;
          ann.send(room, "after the failover", "after-1"); // the cluster was still settling: resend, as a client does
        }
        return ann.ended && bob.ended;
      },
      "both streams to end with a reset",
      45_000,
    ).catch((e: Error) => {
      const warnings = servers.map((s) => s.logs().filter((l) => l.level !== undefined && Number(l.level) >= 40).map((l) => l.msg));
      const errors = ann.of("error").map((x) => x.message);
      throw new Error(`${e.message}; ann ${JSON.stringify(ann.ended)} bob ${JSON.stringify(bob.ended)} errors ${JSON.stringify(errors)} warnings ${JSON.stringify(warnings)}`);
    });
    for (const t of [ann, bob]) expect(t.ended!.message).toMatch(new RegExp(`history of room ${room} was reset`));
    // Every node says why, with both numbers.
    for (const s of servers) {
      await waitUntil(() => logLines(s).some((l) => l.includes(`room ${room}: its Redis counter was at 3 but 8 had been delivered`)), "the log line", 5000);
    }

    // Resuming from number 8 of the old epoch: the client is told the epoch changed.
    const back = ChatTester.connect(servers[1].baseUrl, "bob");
    back.join(room, "bob", { afterSeq: 8n, epoch: joined.epoch });
    const rejoined = await back.joined(room);
    expect(rejoined.epochChanged).toBe(true);
    expect(rejoined.epoch).not.toBe(joined.epoch);
    expect(Number(rejoined.lastSeq)).toBeGreaterThanOrEqual(8);
    // A new message is numbered after everything ever delivered, and acknowledged.
    await sendUntilStored(back, room, "fresh start", "fresh-1");
    const fresh = back.messages(room).find((m) => m.clientMsgId === "fresh-1")!;
    expect(Number(fresh.seq)).toBeGreaterThan(8);
    // History never shows other text under a number that was delivered as "lost n".
    const history = await createChatClient(servers[0].baseUrl).getHistory({ room, limit: 100 });
    for (const m of history.messages) {
      if (Number(m.seq) >= 4 && Number(m.seq) <= 8) expect(m.text).toBe(`lost ${Number(m.seq)}`);
    }
    expect(history.messages.filter((m) => m.text.startsWith("kept")).map((m) => Number(m.seq))).toEqual([1, 2, 3]);
  }, 120_000);

  it("with --redis-min-replicas 1: a send no replica confirmed is refused and its retry is answered with its number; no acknowledged message is lost in a failover", async ({ skip }) => {
    if (!cluster) return skip();
    const { room, master } = await roomOnMaster(1, "wait");
    const replica = cluster.replicaOf(master);
    const servers = await nodes(2, { url: cluster.url, cluster: true }, 2000, ["--redis-min-replicas", "1"]);
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    ann.join(room);
    bob.join(room);
    const joined = await ann.joined(room);
    await bob.joined(room);
    // With the replica in sync, each send is acknowledged at once (after WAIT), never refused.
    for (let i = 1; i <= 3; i++) ann.send(room, `acked ${i}`, `a${i}`);
    await ann.messageCount(3, room, 10_000);
    await bob.messageCount(3, room, 10_000);
    expect(ann.of("error")).toEqual([]);

    // The replica cannot confirm: the send is refused (UNAVAILABLE), not acknowledged.
    cluster.detachReplica(master, replica);
    ann.send(room, "unconfirmed", "u1");
    const refused = await ann.error((e) => e.clientMsgId === "u1");
    expect(refused.code).toBe(ErrorCode.UNAVAILABLE);
    // Nobody saw it (the sender's copy is its acknowledgement): it is announced only once a replica has it.
    expect(ann.messages(room).some((m) => m.clientMsgId === "u1")).toBe(false);
    expect(bob.messages(room).some((m) => m.clientMsgId === "u1")).toBe(false);

    // The replica catches up; the client's retry (same id) is answered with the number it was stored under.
    cluster.resume(replica);
    await waitUntil(() => spawnSync("redis-cli", ["-p", String(replica.port), "info", "replication"], { encoding: "utf8" }).stdout.includes("master_link_status:up"), "replica back in sync", 20_000);
    await sendUntilStored(ann, room, "unconfirmed", "u1");
    const u1 = ann.messages(room).filter((m) => m.clientMsgId === "u1");
    expect(new Set(u1.map((m) => Number(m.seq)))).toEqual(new Set([4]));

    // Cut off again: a send is refused; the master dies; the replica takes over.
    cluster.detachReplica(master, replica);
    ann.send(room, "never acknowledged", "u2");
    expect((await ann.error((e) => e.clientMsgId === "u2")).code).toBe(ErrorCode.UNAVAILABLE);
    await cluster.failOver(master, replica);

    // Every acknowledged message is still there, under its number.
    const history = await waitUntilAsync(async () => {
      const page = await createChatClient(servers[1].baseUrl).getHistory({ room, limit: 100 });
      return page.messages.length > 0 ? page : undefined;
    }, "history after the failover", 20_000);
    const texts = new Map(history.messages.map((m) => [Number(m.seq), m.text]));
    expect([1, 2, 3, 4].map((n) => texts.get(n))).toEqual(["acked 1", "acked 2", "acked 3", "unconfirmed"]);
    // u2 was never confirmed, so never shown to anyone: its loss costs no reset, and nobody saw a number go back.
    expect(texts.has(5)).toBe(false);
    for (const t of [ann, bob]) {
      expect(t.messages(room).some((m) => m.clientMsgId === "u2")).toBe(false);
      expect(t.ended).toBeUndefined();
    }
    const back = ChatTester.connect(servers[0].baseUrl, "cy");
    back.join(room, "cy", { afterSeq: 4n, epoch: joined.epoch });
    expect((await back.joined(room)).epochChanged).toBe(false);
  }, 120_000);

  it("with --redis-min-replicas 1: after a failover whose old master comes back as a replica, sends go through again (the publish connection follows the slot)", async ({ skip }) => {
    if (!cluster) return skip();
    const { room, master } = await roomOnMaster(2, "moved");
    const replica = cluster.replicaOf(master);
    const [server] = await nodes(1, { url: cluster.url, cluster: true }, 2000, ["--redis-min-replicas", "1"]);
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join(room);
    await ann.joined(room);
    await sendUntilStored(ann, room, "before", "b1");
    // A manual failover: the replica takes over and the old master, still running, serves as its replica.
    // The node's publish connection still sends this room's script (and its WAIT) to the old master.
    const role = (p: RedisProcess) => spawnSync("redis-cli", ["-p", String(p.port), "info", "replication"], { encoding: "utf8" }).stdout;
    spawnSync("redis-cli", ["-p", String(replica.port), "cluster", "failover"], { encoding: "utf8" });
    await waitUntil(() => role(replica).includes("role:master") && role(master).includes("master_link_status:up"), "the replica promoted, the old master its replica", 20_000);
    await sendUntilStored(ann, room, "after", "a1", 30_000).catch((e: Error) => {
      const lines = server.logs().filter((l) => Number(l.level ?? 0) >= 40).map((l) => String(l.msg));
      throw new Error(`${e.message}; node warnings: ${JSON.stringify(lines.slice(-8))}`);
    });
    expect(ann.messages(room).map((m) => m.text)).toEqual(["before", "after"]);
  }, 120_000);
});

describe("a room's counter behind what was delivered (an older snapshot restored, in-process nodes)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  /** Two nodes (logs) on one prefix, each subscribed to the room, with what they were told. */
  async function twoNodes(room: string) {
    const prefix = uniquePrefix("behind");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    return Promise.all(
      [0, 1].map(async () => {
        const told = { entries: [] as LogEntry[], resets: [] as RoomPosition[], warnings: [] as string[], behind: 0 };
        const log = new RedisRoomLog({
          url: REDIS_URL,
          cluster: false,
          prefix,
          retention: defaultRetention,
          leaseMs: 2000,
          onEvent: (_level, message) => told.warnings.push(message),
          onCounterBehind: () => told.behind++,
        });
        cleanups.push(() => log.close());
        await log.connect();
        await log.subscribe(room, {
          entries: (_r, e) => told.entries.push(...e),
          presence: () => {},
          signal: () => {},
          reset: (_r, p) => told.resets.push(p),
        });
        return { log, told, prefix };
      }),
    );
  }

  /** Redis goes back to the state after message 2 (history and counter), as a restore or a lagging replica would. */
  async function restoreToTwo(prefix: string, room: string): Promise<void> {
    const client = new Redis(REDIS_URL);
    try {
      await client.hset(`${prefix}:{${room}}:meta`, "seq", 2);
      await client.xtrim(`${prefix}:{${room}}:log`, "MAXLEN", 2);
    } finally {
      client.disconnect();
    }
  }

  for (const how of ["the next publish", "the regular sweep (nobody publishes)"]) {
    it(`is found by ${how}: every node resets the room to a new epoch, says so with both numbers, and no number is reused`, async ({ skip }) => {
      if (!redisUp) return skip();
      const room = "snap";
      const [a, b] = await twoNodes(room);
      for (let i = 1; i <= 5; i++) await a.log.publish({ room, sender: "ann", text: `m${i}`, clientMsgId: `m${i}`, sentAtMs: Date.now() });
      await waitUntil(() => a.told.entries.length === 5 && b.told.entries.length === 5, "5 delivered on both nodes");
      const epoch = (await a.log.position(room)).epoch;
      await restoreToTwo(a.prefix, room);
      if (how === "the next publish") {
        const outcome = await a.log.publish({ room, sender: "ann", text: "next", clientMsgId: "n1", sentAtMs: Date.now() });
        expect(outcome.kind === "stored" && outcome.seq).toBe(6);
      }
      for (const node of [a, b]) {
        await waitUntil(() => node.told.resets.length === 1, "a reset", 5000);
        expect(node.told.resets[0].epoch).not.toBe(epoch);
        expect(node.told.resets[0].lastSeq).toBeGreaterThanOrEqual(5);
        expect(node.told.warnings.some((w) => w.includes(`room ${room}: its Redis counter was at 2 but 5 had been delivered`))).toBe(true);
        expect(node.told.behind).toBe(1);
      }
      const after = await a.log.publish({ room, sender: "ann", text: "later", clientMsgId: "n2", sentAtMs: Date.now() });
      expect(after.kind === "stored" && after.seq).toBeGreaterThan(5);
    }, 30_000);
  }
});

describe("a node dying", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  it("its member alone in a room is released within the lease, though no other node has members there", async ({ skip }) => {
    if (!redisUp) return skip();
    const leaseMs = 2000;
    const servers = await nodes(2, { url: REDIS_URL }, leaseMs);
    const erin = ChatTester.connect(servers[0].baseUrl, "erin");
    erin.join("solo");
    await erin.joined("solo");
    const other = createChatClient(servers[1].baseUrl);
    expect((await other.listMembers({ room: "solo" })).members.map((m) => m.nickname)).toEqual(["erin"]);

    servers[0].child.kill("SIGKILL");
    const killedAt = Date.now();
    await waitUntilAsync(async () => (await other.listMembers({ room: "solo" })).members.length === 0, "erin to be released", leaseMs * 4);
    expect(Date.now() - killedAt).toBeLessThan(leaseMs * 4);
    const again = ChatTester.connect(servers[1].baseUrl, "erin");
    again.join("solo");
    const joined = await again.joined("solo");
    expect(joined.room).toBe("solo");
  }, 60_000);
});

describe("a Redis outage shorter than the lease", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  /** Two nodes on a Redis of the test's own (AOF, fsync always), ann and bob in a room, two messages. */
  async function chatting(leaseMs: number) {
    const dir = mkdtempSync(join(tmpdir(), "redis-aof-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    const redis = { current: await startRedisServer(undefined, aof), aof };
    cleanups.push(() => redis.current.stop());
    const servers = await nodes(2, { url: redis.current.url }, leaseMs);
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    ann.join("lobby");
    await ann.joined("lobby");
    bob.join("lobby");
    await bob.joined("lobby");
    await sendUntilStored(ann, "lobby", "before 1", "b1");
    await sendUntilStored(bob, "lobby", "before 2", "b2");
    return { redis, servers, ann, bob };
  }

  /** Nobody was disconnected or told anyone left, and the chat goes on. */
  async function nothingHappened(ann: ChatTester, bob: ChatTester, servers: ServerProcess[], leaseMs: number): Promise<void> {
    await sendUntilStored(ann, "lobby", "after 1", "x1");
    await sendUntilStored(bob, "lobby", "after 2", "x2");
    await bob.messageCount(4, "lobby", 10_000);
    // Asserting that nothing happens needs a window: a lease after Redis answers again, when a
    // node would have found the other's lease gone and evicted its members.
    await new Promise((r) => setTimeout(r, leaseMs));
    for (const t of [ann, bob]) {
      expect(t.ended).toBeUndefined();
      expect(t.of("memberLeft")).toEqual([]);
      expect(distinctSeqs(t, "lobby")).toEqual(range(1, 4));
    }
    // (A node may find its own lease lapsed, when the outage outlasted it since its last renewal: that alone resets nothing.)
    for (const s of servers) expect(logLines(s).filter((l) => /reset|rejoin/.test(l))).toEqual([]);
  }

  it("a restart (AOF, same epoch): streams stay open, nobody is told anyone left, nothing is reset", async ({ skip }) => {
    if (!redisUp) return skip();
    const leaseMs = 4000;
    const { redis, servers, ann, bob } = await chatting(leaseMs);
    const port = redis.current.port;
    await redis.current.stop("SIGKILL");
    // Down for a good part of the lease (each node has noticed, then a while longer).
    const downAt = Date.now();
    await waitUntil(() => servers.every((s) => logLines(s).some((l) => l.includes("room log (Redis) unreachable"))), "both nodes to notice", 10_000);
    await new Promise((r) => setTimeout(r, Math.max(0, leaseMs / 2 - (Date.now() - downAt))));
    redis.current = await startRedisServer(port, redis.aof);
    await nothingHappened(ann, bob, servers, leaseMs);
  }, 60_000);

  it("a CLIENT PAUSE: streams stay open, nobody is told anyone left, nothing is reset", async ({ skip }) => {
    if (!redisUp) return skip();
    const leaseMs = 4000;
    const { redis, servers, ann, bob } = await chatting(leaseMs);
    const pause = spawnSync("redis-cli", ["-p", String(redis.current.port), "client", "pause", String(Math.floor(leaseMs * 0.8))], { encoding: "utf8" });
    expect(pause.stdout.trim()).toBe("OK");
    await nothingHappened(ann, bob, servers, leaseMs);
  }, 60_000);

  it("a freeze (SIGSTOP): streams stay open, nobody is told anyone left, nothing is reset", async ({ skip }) => {
    if (!redisUp) return skip();
    const leaseMs = 4000;
    const { redis, servers, ann, bob } = await chatting(leaseMs);
    redis.current.child.kill("SIGSTOP");
    // Frozen for most of a lease (connections stay open; commands wait), then it runs on.
    setTimeout(() => redis.current.child.kill("SIGCONT"), Math.floor(leaseMs * 0.8)).unref();
    await nothingHappened(ann, bob, servers, leaseMs);
  }, 60_000);
});
