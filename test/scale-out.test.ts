/**
 * Many nodes, one chat: server processes on a real Redis (and a real
 * three-master Redis Cluster started here) behave as one server. Clients on
 * different nodes see the same messages in the same order; a node killed with
 * SIGKILL costs nothing stored, its members are reported gone by the others
 * within the lease, and its clients resume on another node; a Redis restart is
 * survived by everyone.
 */
import { spawnSync } from "node:child_process";
import * as net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ChatSession } from "../src/client/chat-session.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { CliProcess, stopCliProcesses } from "./support/cli-process.js";
import { rawClient, unaryCall } from "./support/grpc-raw.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

const LEASE_MS = 2000;

/**
 * A TCP load balancer in front of the nodes: each new connection goes to the
 * address `target()` names when it arrives (the first node still alive).
 */
async function tcpBalancer(target: () => string): Promise<{ address: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const [host, port] = target().split(":");
    const upstream = net.connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
let redisUp = false;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redisUp = await redisAnswers();
});

afterEach(async () => {
  closeTesters();
  await stopCliProcesses();
  killServers();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
});

/** `count` server processes on one Redis deployment, each on its own port. */
async function nodes(count: number, redis: { url: string; cluster?: boolean }, extra: string[] = []): Promise<ServerProcess[]> {
  const prefix = uniquePrefix("nodes");
  if (!redis.cluster) cleanups.push(() => deletePrefix(redis.url, prefix));
  const args = ["--port", "0", "--redis", redis.url, "--redis-prefix", prefix, "--node-lease-ms", String(LEASE_MS), "--rate-limit", "0", ...extra];
  if (redis.cluster) args.push("--redis-cluster");
  return Promise.all(Array.from({ length: count }, () => spawnServer(args)));
}

/** The chat service's health on a node, as a load balancer would ask. */
async function chatHealth(server: ServerProcess): Promise<HealthCheckResponse_ServingStatus> {
  const client = rawClient(server.address);
  try {
    const bytes = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "chat.v1.ChatService" })));
    return (await unaryCall(client, "/grpc.health.v1.Health/Check", bytes, (b) => fromBinary(HealthCheckResponseSchema, b))).status;
  } finally {
    client.close();
  }
}

const seqs = (t: ChatTester, room = "lobby") => t.messages(room).map((m) => Number(m.seq));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("several nodes on one Redis", () => {
  it("clients on three nodes see the same messages in the same order under concurrent senders", async ({ skip }) => {
    if (!redisUp) return skip();
    const servers = await nodes(3, { url: REDIS_URL });
    const clients = ["ann", "bob", "cy", "dee", "eve", "flo"].map((name, i) => ChatTester.connect(servers[i % 3].baseUrl, name));
    for (const c of clients) c.join("lobby");
    for (const c of clients) await c.joined("lobby");
    // Everyone sends at once, spread over the three nodes.
    for (let round = 0; round < 20; round++) for (const c of clients) c.send("lobby", `${c.name} ${round}`);
    for (const c of clients) await c.messageCount(120, "lobby", 15_000);
    const reference = clients[0].messages("lobby").map((m) => `${m.seq}:${m.sender}:${m.text}`);
    for (const c of clients) expect(c.messages("lobby").map((m) => `${m.seq}:${m.sender}:${m.text}`)).toEqual(reference);
    expect(seqs(clients[0])).toEqual(range(1, 120));
    // Presence is shared: everyone is listed from any node.
    const members = await createChatClient(servers[2].baseUrl).listMembers({ room: "lobby" });
    expect(members.members.map((m) => m.nickname).sort()).toEqual(["ann", "bob", "cy", "dee", "eve", "flo"]);
    // Nicknames are unique across nodes.
    const clash = ChatTester.connect(servers[1].baseUrl, "ann2");
    clash.join("lobby", "ANN");
    expect((await clash.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
  });

  it("a node killed with SIGKILL: its members are reported gone within the lease, its clients resume on another node, nothing lost or twice", async ({ skip }) => {
    if (!redisUp) return skip();
    const servers = await nodes(3, { url: REDIS_URL });
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    const cy = ChatTester.connect(servers[2].baseUrl, "cy");
    for (const c of [ann, bob, cy]) c.join("lobby");
    const joined = await cy.joined("lobby");
    await ann.joined("lobby");
    await bob.joined("lobby");
    for (let i = 1; i <= 10; i++) (i % 2 ? ann : bob).send("lobby", `before ${i}`);
    await cy.messageCount(10);
    const cyLast = Number(cy.messages().at(-1)!.seq);

    // cy's node dies mid-conversation; cy had queued one more message that was never acknowledged.
    servers[2].child.kill("SIGKILL");
    const killedAt = Date.now();
    for (let i = 11; i <= 20; i++) (i % 2 ? ann : bob).send("lobby", `during ${i}`);
    const left = await ann.waitFor("memberLeft", (e) => e.nickname === "cy", 15_000);
    expect(left.reason).toBe(LeaveReason.DISCONNECTED);
    // Within the lease (2 s here) and a check interval, with room for a busy machine.
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS * 4);

    // cy comes back on another node, resuming from what it saw, and resends its unacknowledged message.
    const back = ChatTester.connect(servers[0].baseUrl, "cy");
    back.join("lobby", "cy", { afterSeq: BigInt(cyLast), epoch: joined.epoch });
    const rejoined = await back.joined("lobby");
    expect(rejoined.epochChanged).toBe(false);
    back.send("lobby", "cy's late message", "cy-late-1");
    back.send("lobby", "cy's late message", "cy-late-1"); // a second resend: still stored once
    await ann.messageCount(21, "lobby", 10_000);
    // (The second resend is acknowledged to cy alone, with the original number: the client drops it by number.)
    const once = (list: ReturnType<ChatTester["messages"]>) => list.filter((m, i) => list.findIndex((x) => x.seq === m.seq) === i);
    await waitUntil(() => once(back.messages()).length === 21 - cyLast, "cy caught up");
    const all = once([...cy.messages().filter((m) => Number(m.seq) <= cyLast), ...back.messages()]);
    expect(all.map((m) => Number(m.seq))).toEqual(range(1, 21));
    expect(ann.messages().map((m) => m.text)).toEqual(all.map((m) => m.text));
    expect(ann.messages().filter((m) => m.clientMsgId === "cy-late-1")).toHaveLength(1);
  }, 60_000);

  it("a client of a SIGKILLed node rejoins on a survivor with its resume token at once, long before the lease, and nobody sees it leave", async ({ skip }) => {
    if (!redisUp) return skip();
    const lease = 8000;
    const servers = await nodes(2, { url: REDIS_URL }, ["--node-lease-ms", String(lease)]);
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const cy = ChatTester.connect(servers[0].baseUrl, "cy");
    cy.join("lobby");
    await cy.joined("lobby");
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    ann.join("lobby");
    const first = await ann.joined("lobby");
    ann.send("lobby", "before");
    await bob.messageCount(1);

    servers[0].child.kill("SIGKILL");
    const killedAt = Date.now();
    // Without the token the nickname is still held by the dead node's membership...
    const impostor = ChatTester.connect(servers[1].baseUrl, "ann");
    impostor.join("lobby", "ann");
    expect((await impostor.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
    // ...with it, the rejoin takes that membership over at once.
    const back = ChatTester.connect(servers[1].baseUrl, "ann");
    back.join("lobby", "ann", { afterSeq: first.lastSeq, epoch: first.epoch, resumeToken: first.resumeToken });
    const rejoined = await back.joined("lobby");
    expect(Date.now() - killedAt).toBeLessThan(lease / 2);
    expect(rejoined.replaced).toBe(true);
    expect(rejoined.epochChanged).toBe(false);
    await back.messageCount(1);
    expect(back.messages().map((m) => m.text)).toEqual(["before"]);
    back.send("lobby", "after", "ann-after");
    await bob.messageCount(2);
    // The dead node's lease runs out and its members are evicted (cy, who does not come back): ann, now on node 2, stays.
    await bob.waitFor("memberLeft", (e) => e.nickname === "cy", lease * 3);
    bob.send("lobby", "still here?");
    await back.messageCount(3, "lobby", 10_000);
    expect(bob.of("memberLeft").filter((e) => e.nickname === "ann")).toEqual([]);
    expect(bob.of("memberJoined").filter((e) => e.member?.nickname === "ann")).toHaveLength(1);
    const members = await createChatClient(servers[1].baseUrl).listMembers({ room: "lobby" });
    expect(members.members.map((m) => m.nickname).sort()).toEqual(["ann", "bob"]);
  }, 60_000);

  it("the client core behind a load balancer: its node is SIGKILLed, it reconnects to a survivor and its rejoin is accepted at once", async ({ skip }) => {
    if (!redisUp) return skip();
    const lease = 8000;
    const servers = await nodes(2, { url: REDIS_URL }, ["--node-lease-ms", String(lease)]);
    const balancer = await tcpBalancer(() => servers.find((s) => s.child.exitCode === null && s.child.signalCode === null)!.address);
    cleanups.push(balancer.close);
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const session = new ChatSession({ transport: createGrpcSessionTransport(`http://${balancer.address}`), server: balancer.address, nickname: "ann", backoff: { baseMs: 20, maxMs: 200 } });
    const notices: string[] = [];
    const joins: boolean[] = [];
    session.on("notice", (n) => notices.push(n.text));
    session.on("event", (e) => {
      if (e.event.case === "joined") joins.push(e.event.value.replaced);
    });
    session.join("lobby");
    void session.start();
    cleanups.push(async () => void (await session.abort()));
    await waitUntil(() => session.isLive("lobby"), "ann joined through the balancer (node 1)");

    servers[0].child.kill("SIGKILL");
    const killedAt = Date.now();
    await waitUntil(() => joins.length === 2 && session.isLive("lobby"), "ann rejoined on node 2", lease);
    expect(Date.now() - killedAt).toBeLessThan(lease / 2);
    expect(joins).toEqual([false, true]);
    expect(notices.filter((n) => n.includes("could not rejoin"))).toEqual([]);
    session.send("lobby", "made it");
    await bob.waitFor("message", (m) => m.text === "made it" && m.sender === "ann");
    expect(bob.of("memberLeft")).toEqual([]);
  }, 60_000);

  it("two CLI clients on different nodes chat", async ({ skip }) => {
    if (!redisUp) return skip();
    const servers = await nodes(2, { url: REDIS_URL });
    const alice = new CliProcess(["--server", servers[0].baseUrl, "--name", "alice", "--room", "lobby"]);
    const bob = new CliProcess(["--server", servers[1].baseUrl, "--name", "bob", "--room", "lobby"]);
    await alice.waitForStdout(/joined #lobby/);
    await bob.waitForStdout(/joined #lobby/);
    alice.write("hello bob, from node one");
    await bob.waitForStdout("<alice> hello bob, from node one");
    bob.write("hello alice, from node two");
    await alice.waitForStdout("<bob> hello alice, from node two");
    alice.end();
    bob.end();
    expect(await alice.exitCode()).toBe(0);
    expect(await bob.exitCode()).toBe(0);
  }, 60_000);
});

describe("Redis restarting", () => {
  it("with persistence (AOF): streams stay open, sends are refused while it is away and go through after, nothing acknowledged is lost", async ({ skip }) => {
    if (!redisUp) return skip();
    const dir = mkdtempSync(join(tmpdir(), "redis-aof-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    let redis = await startRedisServer(undefined, aof);
    const port = redis.port;
    cleanups.push(() => redis.stop());
    const servers = await nodes(2, { url: redis.url });
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    ann.join("lobby");
    bob.join("lobby");
    await ann.joined("lobby");
    await bob.joined("lobby");
    for (let i = 1; i <= 5; i++) ann.send("lobby", `before ${i}`, `a${i}`);
    await bob.messageCount(5);

    await redis.stop("SIGKILL");
    // While Redis is away: the streams stay open, a send is refused (not acknowledged).
    await waitUntil(() => {
      ann.send("lobby", "while away", "a-away");
      return ann.of("error").some((e) => e.clientMsgId === "a-away" && e.code === ErrorCode.UNAVAILABLE);
    }, "a refused send", 10_000);
    expect(ann.ended).toBeUndefined();
    expect(bob.ended).toBeUndefined();
    expect(await chatHealth(servers[0])).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);

    redis = await startRedisServer(port, aof);
    // Each node comes back on its own (reconnect backoff): both serve again before both send.
    for (const server of servers) {
      await waitUntilAsync(async () => (await chatHealth(server)) === HealthCheckResponse_ServingStatus.SERVING, "SERVING again", 10_000);
    }
    // The client resends what was refused (same id) until it goes through.
    await waitUntil(() => {
      if (!ann.messages().some((m) => m.clientMsgId === "a-away")) ann.send("lobby", "while away", "a-away");
      return ann.messages().some((m) => m.clientMsgId === "a-away");
    }, "the resend to go through", 20_000);
    for (let i = 6; i <= 8; i++) bob.send("lobby", `after ${i}`, `b${i}`);
    // (A resend of a stored message is acknowledged again, to its sender only: count distinct numbers.)
    const distinct = (t: ChatTester) => [...new Set(seqs(t))];
    for (const c of [ann, bob]) await waitUntil(() => distinct(c).length === 9, `${c.name}: 9 messages`, 10_000).catch((e) => { throw new Error(`${e.message}: ${c.name} ${JSON.stringify(c.messages().map((m) => [Number(m.seq), m.text]))} errors ${JSON.stringify(c.of("error").map((x) => x.message))} ended ${JSON.stringify(c.ended)}`); });
    for (const c of [ann, bob]) expect(distinct(c)).toEqual(range(1, 9));
    expect(bob.messages().filter((m) => m.clientMsgId === "a-away")).toHaveLength(1);
  }, 60_000);

  it("without persistence: the history is gone, and members rejoin and are told the epoch changed", async ({ skip }) => {
    if (!redisUp) return skip();
    let redis = await startRedisServer();
    const port = redis.port;
    cleanups.push(() => redis.stop());
    const [server] = await nodes(1, { url: redis.url });
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    const joined = await ann.joined("lobby");
    for (let i = 1; i <= 3; i++) ann.send("lobby", `m${i}`);
    await ann.messageCount(3);
    await redis.stop("SIGKILL");
    redis = await startRedisServer(port);
    // The node notices the new history and ends the stream so the client rejoins.
    const end = await ann.done;
    expect(end.code).not.toBe("ok");
    expect(end.message).toMatch(/history of room lobby was reset/);
    const back = ChatTester.connect(server.baseUrl, "ann");
    back.join("lobby", "ann", { afterSeq: 3n, epoch: joined.epoch });
    const rejoined = await back.joined("lobby");
    expect(rejoined.epochChanged).toBe(true);
    expect(rejoined.epoch).not.toBe(joined.epoch);
  }, 60_000);
});

describe("Redis Cluster (three masters, started here)", () => {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    if (await redisAnswers()) cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it("spreads rooms over every master, and nodes on it chat as one", async ({ skip }) => {
    if (!cluster) return skip();
    const servers = await nodes(2, { url: cluster.url, cluster: true });
    const rooms = Array.from({ length: 12 }, (_, i) => `room-${i}`);
    const ann = ChatTester.connect(servers[0].baseUrl, "ann");
    const bob = ChatTester.connect(servers[1].baseUrl, "bob");
    for (const room of rooms) {
      ann.join(room);
      bob.join(room);
    }
    for (const room of rooms) await bob.joined(room);
    for (const room of rooms) ann.send(room, `hello ${room}`);
    for (const room of rooms) await bob.waitFor("message", (m) => m.room === room && m.text === `hello ${room}`, 10_000);
    // Where do the rooms' keys live? On every master.
    const owners = new Set<number>();
    for (const master of cluster.masters) {
      const keys = spawnSync("redis-cli", ["-p", String(master.port), "--scan", "--pattern", "*:{room-*}:log"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
      if (keys.length > 0) owners.add(master.port);
      for (const key of keys) expect(await cluster.ownerOf(key)).toBe(master.port);
    }
    expect(owners.size).toBe(3);
  }, 60_000);
});
