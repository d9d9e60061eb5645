/**
 * Redis trouble is bounded and honest. A frozen Redis (SIGSTOP) turns into
 * prompt UNAVAILABLE answers within the command timeout, and health (both ""
 * and chat.v1.ChatService) and the chat_room_log_available metric say so; they
 * come back when it answers again. A Redis password never reaches the logs or
 * metrics; a wrong or missing one stops the node at start-up with one line
 * naming the authentication failure. Every node connection carries a name.
 */
import { spawnSync } from "node:child_process";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { rawClient, unaryCall } from "./support/grpc-raw.js";
import { runScript, type ScriptRun } from "./support/run-script.js";
import { freePort, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster, type RedisProcess } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

/** The documented default of --redis-command-timeout: the tests hold the server to it. */
const COMMAND_TIMEOUT_MS = 3000;
/** Slack for a busy two-core machine on top of the timeout. */
const MARGIN_MS = 2500;
const PASSWORD = "s3cr3t-Pw-7781";
const INTERNALS = /ioredis|maxRetriesPerRequest|Command timed out|Stream isn't writeable|SimpleError|ReplyError/;

let redisUp = false;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redisUp = await redisAnswers();
});

afterEach(async () => {
  closeTesters();
  killServers();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
});

async function ownRedis(extra: string[] = []): Promise<RedisProcess> {
  const redis = await startRedisServer(undefined, extra);
  cleanups.push(async () => {
    redis.child.kill("SIGCONT");
    await redis.stop();
  });
  return redis;
}

async function node(url: string, extra: string[] = []): Promise<ServerProcess> {
  return spawnServer(["--port", "0", "--redis", url, "--redis-prefix", uniquePrefix("trouble"), "--metrics-port", "0", "--rate-limit", "0", ...extra]);
}

async function health(server: ServerProcess, service: string): Promise<Status> {
  const client = rawClient(server.address);
  try {
    const bytes = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })));
    return (await unaryCall(client, "/grpc.health.v1.Health/Check", bytes, (b) => fromBinary(HealthCheckResponseSchema, b))).status;
  } finally {
    client.close();
  }
}

const bothHealth = async (server: ServerProcess) => [await health(server, ""), await health(server, "chat.v1.ChatService")];

function metricsUrl(server: ServerProcess): string {
  const line = server.logs().find((l) => typeof l.metrics === "string");
  if (!line) throw new Error("the server did not say where its metrics are");
  return line.metrics as string;
}

async function metricsText(server: ServerProcess): Promise<string> {
  return (await fetch(metricsUrl(server))).text();
}

async function logAvailable(server: ServerProcess): Promise<number> {
  const m = /^chat_room_log_available (\d+)/m.exec(await metricsText(server));
  if (!m) throw new Error("no chat_room_log_available metric");
  return Number(m[1]);
}

/** How long a promise took to settle, and with what. */
async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = Date.now();
  try {
    return { ms: Date.now() - start, value: await run() };
  } catch (error) {
    return { ms: Date.now() - start, error };
  }
}

function runServer(args: string[]): Promise<ScriptRun> {
  return runScript("src/server/main.ts", ["--port", "0", "--http-port", "0", "--log-format", "json", ...args]);
}

function clientNames(port: number, password?: string): string[] {
  const args = ["-p", String(port), ...(password ? ["--no-auth-warning", "-a", password] : []), "client", "list"];
  const out = spawnSync("redis-cli", args, { encoding: "utf8" }).stdout;
  return out
    .split("\n")
    .map((l) => /\bname=(\S*)/.exec(l)?.[1] ?? "")
    .filter((n) => n !== "");
}

describe("a frozen Redis (SIGSTOP)", () => {
  it("sends, joins, GetHistory, ListMembers and ListRooms are refused as UNAVAILABLE within the command timeout; health and the metric say so, and recover on SIGCONT", async ({ skip }) => {
    if (!redisUp) return skip();
    const redis = await ownRedis();
    const server = await node(redis.url);
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    await ann.joined("lobby");
    ann.send("lobby", "before", "a-before");
    await ann.messageCount(1);
    expect(await bothHealth(server)).toEqual([Status.SERVING, Status.SERVING]);
    expect(await logAvailable(server)).toBe(1);

    redis.child.kill("SIGSTOP");
    const frozenAt = Date.now();
    // A send: refused with its own client_msg_id, in plain words, within the bound.
    ann.send("lobby", "while frozen", "a-frozen");
    const refused = await ann.waitFor("error", (e) => e.clientMsgId === "a-frozen", COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(refused.code).toBe(ErrorCode.UNAVAILABLE);
    expect(refused.message).not.toMatch(INTERNALS);
    // A timeout does not prove the message was not stored: the client is told to resend under the same id.
    expect(refused.message).toMatch(/not confirmed.*same client_msg_id/);
    expect(ann.ended).toBeUndefined();

    // Health (the whole server and the chat service) and the metric within the bound.
    await waitUntilAsync(async () => (await bothHealth(server)).every((s) => s === Status.NOT_SERVING), "NOT_SERVING on both names", COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(Date.now() - frozenAt).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(await logAvailable(server)).toBe(0);

    // A join is refused clearly.
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    const joinRefused = await bob.waitFor("error", () => true, COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(joinRefused.code).toBe(ErrorCode.UNAVAILABLE);
    expect(joinRefused.message).toMatch(/cannot join room lobby/);
    expect(joinRefused.message).not.toMatch(INTERNALS);

    // Queries fail with UNAVAILABLE and a plain message, promptly.
    const client = createChatClient(server.baseUrl);
    const queries: (() => Promise<unknown>)[] = [() => client.getHistory({ room: "lobby" }), () => client.listMembers({ room: "lobby" }), () => client.listRooms({})];
    for (const query of queries) {
      const r = await timed(query);
      expect(r.error).toBeInstanceOf(ConnectError);
      expect((r.error as ConnectError).code).toBe(Code.Unavailable);
      expect((r.error as ConnectError).rawMessage).not.toMatch(INTERNALS);
      expect(r.ms).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    }

    // Redis answers again: health, metric and sends come back.
    redis.child.kill("SIGCONT");
    await waitUntilAsync(async () => (await bothHealth(server)).every((s) => s === Status.SERVING), "SERVING again", 10_000);
    await waitUntilAsync(async () => (await logAvailable(server)) === 1, "metric back to 1", 5000);
    ann.send("lobby", "after", "a-after");
    await ann.waitFor("message", (m) => m.clientMsgId === "a-after", 10_000);
  }, 60_000);
});

describe("Redis Cluster in cluster_state:fail", () => {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    if (await redisAnswers()) cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it("health goes NOT_SERVING while a slot is unserved, and SERVING once it is back", async ({ skip }) => {
    if (!cluster) return skip();
    const server = await node(cluster.url, ["--redis-cluster"]);
    expect(await bothHealth(server)).toEqual([Status.SERVING, Status.SERVING]);
    const port = cluster.masters[0].port;
    const slot = firstSlotOf(port);
    // The master forgets one of its slots: the cluster is no longer whole (cluster_state:fail).
    expect(spawnSync("redis-cli", ["-p", String(port), "cluster", "delslots", String(slot)], { encoding: "utf8" }).stdout.trim()).toBe("OK");
    await waitUntilAsync(async () => (await bothHealth(server)).every((s) => s === Status.NOT_SERVING), "NOT_SERVING on cluster_state:fail", COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(await logAvailable(server)).toBe(0);
    expect(spawnSync("redis-cli", ["-p", String(port), "cluster", "addslots", String(slot)], { encoding: "utf8" }).stdout.trim()).toBe("OK");
    await waitUntilAsync(async () => (await bothHealth(server)).every((s) => s === Status.SERVING), "SERVING once whole again", 10_000);
  }, 60_000);
});

/** The first slot a master serves (from CLUSTER SLOTS). */
function firstSlotOf(port: number): number {
  const out = spawnSync("redis-cli", ["-p", String(port), "cluster", "slots"], { encoding: "utf8" }).stdout.trim().split("\n");
  // Each range prints: start, end, host, port, id (one per line).
  for (let i = 0; i + 3 < out.length; i++) {
    if (/^\d+$/.test(out[i]) && /^\d+$/.test(out[i + 1]) && out[i + 3] === String(port)) return Number(out[i]);
  }
  throw new Error(`no slot found for master ${port}`);
}

describe("a Redis password", () => {
  it("never appears in the logs or metrics; node connections are named in CLIENT LIST", async ({ skip }) => {
    if (!redisUp) return skip();
    const redis = await ownRedis(["--requirepass", PASSWORD]);
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    const server = await node(url, ["--log-level", "debug", "--node-id", "n7"]);
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    await ann.joined("lobby");
    const started = server.logs().find((l) => String(l.msg).includes("listening"))!;
    expect(JSON.stringify(started)).toContain(`redis://:***@127.0.0.1:${redis.port}`);
    // Named by the node's --node-id and the connection's role (the room log's two, and the node bus's two for the admin API).
    expect(clientNames(redis.port, PASSWORD).sort()).toEqual(["chat-n7-bus-cmd", "chat-n7-bus-sub", "chat-n7-cmd", "chat-n7-sub"]);
    // Trouble makes the node log about Redis: still no password.
    redis.child.kill("SIGSTOP");
    await waitUntilAsync(async () => (await health(server, "")) === Status.NOT_SERVING, "NOT_SERVING", COMMAND_TIMEOUT_MS + MARGIN_MS);
    redis.child.kill("SIGCONT");
    await waitUntilAsync(async () => (await health(server, "")) === Status.SERVING, "SERVING", 10_000);
    expect(await metricsText(server)).not.toContain(PASSWORD);
    expect(JSON.stringify(server.logs())).not.toContain(PASSWORD);
    expect(server.stderr()).not.toContain(PASSWORD);
  }, 60_000);

  it("is not written in the 'not answering yet' line either", async ({ skip }) => {
    if (!redisUp) return skip();
    const port = await freePort(); // nothing listens there
    const server = await node(`redis://:${PASSWORD}@127.0.0.1:${port}`);
    const warned = server.logs().find((l) => String(l.msg).includes("not answering"));
    expect(warned).toBeDefined();
    expect(JSON.stringify(warned)).toContain(`redis://:***@127.0.0.1:${port}`);
    expect(JSON.stringify(server.logs())).not.toContain(PASSWORD);
  }, 30_000);

  it("a wrong password: exit 1 with one line naming the authentication failure", async ({ skip }) => {
    if (!redisUp) return skip();
    const redis = await ownRedis(["--requirepass", PASSWORD]);
    const { code, stderr, stdout } = await runServer(["--redis", `redis://:not-${PASSWORD}@127.0.0.1:${redis.port}`]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    // The one line, not that line plus an error log saying it again.
    expect(stdout).not.toMatch(/WRONGPASS/);
    expect(stderr).toMatch(/WRONGPASS/);
    expect(stderr).toMatch(/password/);
    expect(stderr).not.toContain(PASSWORD);
  }, 30_000);

  it("a missing password: exit 1 with one line naming the authentication failure", async ({ skip }) => {
    if (!redisUp) return skip();
    const redis = await ownRedis(["--requirepass", PASSWORD]);
    const { code, stderr, stdout } = await runServer(["--redis", redis.url]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stdout).not.toMatch(/NOAUTH/);
    expect(stderr).toMatch(/NOAUTH/);
    expect(stderr).toMatch(/password/);
  }, 30_000);

  it("a password that stops working while the node runs is logged as an authentication failure", async ({ skip }) => {
    if (!redisUp) return skip();
    const redis = await ownRedis(["--requirepass", PASSWORD]);
    const server = await node(`redis://:${PASSWORD}@127.0.0.1:${redis.port}`);
    // The operator rotates the password and drops every connection: the node cannot log in again.
    const cli = (...args: string[]) => spawnSync("redis-cli", ["-p", String(redis.port), "--no-auth-warning", ...args], { encoding: "utf8" }).stdout;
    cli("-a", PASSWORD, "config", "set", "requirepass", "rotated-pw-1");
    cli("-a", "rotated-pw-1", "client", "kill", "type", "normal");
    cli("-a", "rotated-pw-1", "client", "kill", "type", "pubsub");
    const line = await waitUntil(() => server.logs().find((l) => /WRONGPASS/.test(JSON.stringify(l)) && /password/.test(String(l.msg))), "an authentication failure logged", 10_000);
    expect(JSON.stringify(line)).not.toContain(PASSWORD);
    await waitUntilAsync(async () => (await health(server, "")) === Status.NOT_SERVING, "NOT_SERVING", 5000);
  }, 30_000);
});
