/**
 * The admin API (chat.v1.AdminService), as an app's backend uses it: over
 * Connect JSON on the HTTP port (what curl sends) and over native gRPC with
 * a generated client; authorized by the admin key file and nothing else;
 * every session of a user reachable on every node.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, fromJson, toBinary, toJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { AdminService } from "../gen/chat/v1/admin_pb.js";
import { LeaveReason, RoomActionKind, RoomRole } from "../gen/chat/v1/chat_pb.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { rawClient } from "./support/grpc-raw.js";
import { ReflectionClient } from "./support/reflection-client.js";
import { runScript, type ScriptRun } from "./support/run-script.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { freePort } from "./support/free-port.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

const secret = "a-development-secret-of-at-least-32-bytes!";
const KEY = randomBytes(32).toString("hex");
const dir = mkdtempSync(join(tmpdir(), "chat-admin-"));
const keyFile = join(dir, "admin.key");
// With a trailing newline, as `openssl rand -hex 32 > file` writes it.
writeFileSync(keyFile, `${KEY}\n`);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopTestServers();
  killServers();
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

function token(sub: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));
}

/** A server with authentication on (users are token subjects) and the admin API on. */
const adminServer = (extra: Parameters<typeof startTestServer>[0] = {}) => startTestServer({ authSecret: secret, adminKeyFile: keyFile, ...extra });

interface JsonAnswer {
  status: number;
  body: Record<string, any>;
}

/** One Connect JSON call, exactly what `curl -H 'authorization: Bearer KEY' -H 'content-type: application/json' -d BODY URL` sends. */
async function admin(httpUrl: string, method: string, body: object, authorization: string | null = `Bearer ${KEY}`): Promise<JsonAnswer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization !== null) headers.authorization = authorization;
  const res = await fetch(`${httpUrl}/chat.v1.AdminService/${method}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** The same, expecting success. */
async function ok(httpUrl: string, method: string, body: object): Promise<Record<string, any>> {
  const answer = await admin(httpUrl, method, body);
  if (answer.status !== 200) throw new Error(`${method}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** `null`: no authorization header at all. */
function grpcAdmin(baseUrl: string, authorization: string | null = `Bearer ${KEY}`) {
  return createClient(
    AdminService,
    createGrpcTransport({
      baseUrl,
      interceptors: [
        (next) => (req) => {
          if (authorization !== null) req.header.set("authorization", authorization);
          return next(req);
        },
      ],
    }),
  );
}

async function user(server: { baseUrl: string }, name: string, room: string): Promise<ChatTester> {
  const t = ChatTester.connect(server.baseUrl, name, { token: await token(name) });
  t.join(room, name);
  await t.joined(room);
  return t;
}

describe("admin API over Connect JSON (curl)", () => {
  it("creates a room, adds members, and posts a system message that members receive, once per idempotency key", async () => {
    const server = await adminServer();
    const created = await ok(server.httpUrl, "CreateRoom", { room: "team", topic: "Release planning", owners: ["alice"], members: ["bob"] });
    expect(created.state).toMatchObject({ topic: "Release planning" });
    expect(Number((await ok(server.httpUrl, "AddMember", { room: "team", user_id: "carol" })).seq)).toBeGreaterThan(0);
    const alice = await user(server, "alice", "team");
    const bob = await user(server, "bob", "team");

    const first = await ok(server.httpUrl, "Publish", { room: "team", sender: "Deploy Bot", text: "v2 is out", idempotencyKey: "release-2" });
    expect(first.message).toMatchObject({ room: "team", sender: "Deploy Bot", text: "v2 is out", senderId: "system:Deploy Bot", clientMsgId: "release-2" });
    expect(first.duplicate).toBeUndefined();
    for (const t of [alice, bob]) {
      const m = await t.waitFor("message", (m) => m.text === "v2 is out");
      expect(m).toMatchObject({ sender: "Deploy Bot", senderId: "system:Deploy Bot", seq: BigInt(first.message.seq) });
    }

    // The backend retries (a timeout on its side): the same key is the same message, stored once.
    const again = await ok(server.httpUrl, "Publish", { room: "team", sender: "Deploy Bot", text: "v2 is out", idempotencyKey: "release-2" });
    expect(again).toMatchObject({ duplicate: true, message: { seq: first.message.seq } });
    const other = await admin(server.httpUrl, "Publish", { room: "team", sender: "Deploy Bot", text: "v3 is out", idempotencyKey: "release-2" });
    expect(other).toMatchObject({ status: 409, body: { code: "already_exists" } });
    await ok(server.httpUrl, "Publish", { room: "team", sender: "Deploy Bot", text: "marker" });
    await alice.waitFor("message", (m) => m.text === "marker");
    expect(alice.messages("team").filter((m) => m.text === "v2 is out")).toHaveLength(1);

    expect(await admin(server.httpUrl, "Publish", { room: "nowhere", sender: "bot", text: "hi" })).toMatchObject({ status: 404, body: { code: "not_found" } });
    expect(await admin(server.httpUrl, "CreateRoom", { room: "team" })).toMatchObject({ status: 409, body: { code: "already_exists" } });
    expect(await admin(server.httpUrl, "CreateRoom", { room: "no spaces" })).toMatchObject({ status: 400, body: { code: "invalid_argument" } });
  });

  it("ban and unban hold on joins; remove member kicks; set role, ban and kick are entries members see in the room", async () => {
    const server = await adminServer();
    await ok(server.httpUrl, "CreateRoom", { room: "hall", owners: ["alice"] });
    const alice = await user(server, "alice", "hall");

    const role = await ok(server.httpUrl, "SetRole", { room: "hall", user_id: "bob", role: "ROOM_ROLE_MODERATOR" });
    const roleEntry = await alice.waitFor("message", (m) => m.action?.kind === RoomActionKind.SET_ROLE);
    expect(roleEntry.seq).toBe(BigInt(role.seq));
    expect(roleEntry.action).toMatchObject({ targetUser: "bob", role: RoomRole.MODERATOR });

    const mallory = await user(server, "mallory", "hall");
    const ban = await ok(server.httpUrl, "Ban", { room: "hall", user_id: "mallory", reason: "spam" });
    const banEntry = await alice.waitFor("message", (m) => m.action?.kind === RoomActionKind.BAN);
    expect(banEntry).toMatchObject({ seq: BigInt(ban.seq), text: expect.stringContaining("spam") });
    await mallory.waitFor("left", (l) => l.room === "hall" && l.reason === LeaveReason.BANNED);
    mallory.join("hall", "mallory");
    expect((await mallory.error((e) => e.room === "hall")).message).toMatch(/banned/);

    await ok(server.httpUrl, "Unban", { room: "hall", user_id: "mallory" });
    const back = await user(server, "mallory", "hall");
    expect(back.ended).toBeUndefined();

    // RemoveMember is a kick: the membership goes and the user's sessions leave the room.
    await ok(server.httpUrl, "RemoveMember", { room: "hall", user_id: "mallory", reason: "cool off" });
    await back.waitFor("left", (l) => l.room === "hall" && l.reason === LeaveReason.KICKED);
    await alice.waitFor("message", (m) => m.action?.kind === RoomActionKind.KICK && m.text.includes("cool off"));
    expect(await admin(server.httpUrl, "Ban", { room: "nowhere", user_id: "x" })).toMatchObject({ status: 404 });
  });

  it("DeleteRoom: every member leaves with ROOM_DELETED and the name is free again", async () => {
    const server = await adminServer();
    await ok(server.httpUrl, "CreateRoom", { room: "doomed" });
    const alice = await user(server, "alice", "doomed");
    const bob = await user(server, "bob", "doomed");
    await ok(server.httpUrl, "DeleteRoom", { room: "doomed", reason: "project ended" });
    for (const t of [alice, bob]) await t.waitFor("left", (l) => l.room === "doomed" && l.reason === LeaveReason.ROOM_DELETED);
    expect(await admin(server.httpUrl, "DeleteRoom", { room: "doomed" })).toMatchObject({ status: 404, body: { code: "not_found" } });
    await ok(server.httpUrl, "CreateRoom", { room: "doomed" });
  });

  it("DisconnectUser ends every session of the user with the reason; ListUserSessions lists them", async () => {
    const server = await adminServer();
    const phone = await user(server, "eve", "one");
    const laptop = await user(server, "eve", "two");
    const frank = await user(server, "frank", "one");

    const listed = await ok(server.httpUrl, "ListUserSessions", { user_id: "eve" });
    expect(listed.sessions).toHaveLength(2);
    expect(listed.sessions.map((s: any) => s.rooms).sort()).toEqual([["one"], ["two"]]);
    for (const s of listed.sessions) {
      expect(s.node).toBe(server.nodeId);
      expect(s.sessionId.startsWith(`${server.nodeId}.`)).toBe(true);
      expect(Date.parse(s.openedAt)).toBeLessThanOrEqual(Date.now());
    }

    expect(await ok(server.httpUrl, "DisconnectUser", { user_id: "eve", reason: "account closed" })).toEqual({ sessions: 2 });
    for (const t of [phone, laptop]) {
      const end = await t.done;
      expect(end.code).toBe(Code.PermissionDenied);
      expect(end.message).toMatch(/account closed/);
      expect(t.of("shutdown").map((s) => s.reason).join()).toMatch(/account closed/);
    }
    await frank.waitFor("memberLeft", (m) => m.nickname === "eve" && m.reason === LeaveReason.DISCONNECTED_BY_ADMIN);
    expect(frank.ended).toBeUndefined();
    expect(await ok(server.httpUrl, "ListUserSessions", { user_id: "eve" })).toEqual({});
    expect(await ok(server.httpUrl, "DisconnectUser", { user_id: "eve" })).toEqual({});
  });
});

describe("admin API over native gRPC", () => {
  it("a generated client creates a room and lists sessions; reflection lists AdminService", async () => {
    const server = await adminServer();
    const client = grpcAdmin(server.baseUrl);
    const created = await client.createRoom({ room: "grpc-room", topic: "from grpc" });
    expect(created.state?.topic).toBe("from grpc");
    await user(server, "gina", "grpc-room");
    const { sessions } = await client.listUserSessions({ userId: "gina" });
    expect(sessions.map((s) => s.rooms)).toEqual([["grpc-room"]]);
    const published = await client.publish({ room: "grpc-room", sender: "bot", text: "hello", idempotencyKey: "k1" });
    expect(published.message?.senderId).toBe("system:bot");

    const raw = rawClient(server.address);
    const reflection = new ReflectionClient(raw, "v1");
    try {
      expect(await reflection.listServices()).toContain("chat.v1.AdminService");
      const registry = await reflection.registryFor(["chat.v1.AdminService"]);
      expect(registry.getService("chat.v1.AdminService")!.methods.map((m) => m.name)).toEqual([
        "CreateRoom",
        "DeleteRoom",
        "AddMember",
        "RemoveMember",
        "SetRole",
        "Ban",
        "Unban",
        "Publish",
        "DisconnectUser",
        "ListUserSessions",
      ]);
    } finally {
      reflection.close();
      raw.close();
    }
  });
});

/**
 * A unary call the way grpcurl makes it: the method and its messages found by
 * server reflection alone (no generated code), JSON in, JSON out.
 */
async function grpcurlLike(raw: grpc.Client, reflection: ReflectionClient, path: string, json: JsonValue, authorization: string): Promise<JsonValue> {
  const [service, name] = path.split("/");
  const registry = await reflection.registryFor([service]);
  const method = registry.getService(service)!.methods.find((m) => m.name === name)!;
  const request = fromJson(method.input, json, { registry });
  const metadata = new grpc.Metadata();
  metadata.set("authorization", authorization);
  const reply = await new Promise<Message>((resolve, reject) =>
    raw.makeUnaryRequest(
      `/${service}/${name}`,
      (m: Message) => Buffer.from(toBinary(method.input, m)),
      (b: Buffer) => fromBinary(method.output, b),
      request,
      metadata,
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
  return toJson(method.output, reply, { registry });
}

describe("admin API from reflection alone (what grpcurl does)", () => {
  it("the README's app-backend steps: create a room with members, add one, publish, list sessions", async () => {
    const server = await adminServer();
    const raw = rawClient(server.address);
    const reflection = new ReflectionClient(raw, "v1");
    const call = (path: string, json: JsonValue) => grpcurlLike(raw, reflection, path, json, `Bearer ${KEY}`);
    try {
      expect(await call("chat.v1.AdminService/CreateRoom", { room: "team", owners: ["alice"], members: ["bob"] })).toMatchObject({ state: { visibility: "ROOM_VISIBILITY_PUBLIC" } });
      expect(await call("chat.v1.AdminService/AddMember", { room: "team", user_id: "carol" })).toBeDefined();
      const published = (await call("chat.v1.AdminService/Publish", { room: "team", sender: "Deploy Bot", text: "v2 is out", idempotency_key: "release-2" })) as {
        message: { text: string; senderId: string };
      };
      expect(published.message).toMatchObject({ text: "v2 is out", senderId: "system:Deploy Bot" });
      await user(server, "alice", "team");
      expect(await call("chat.v1.AdminService/ListUserSessions", { user_id: "alice" })).toMatchObject({ sessions: [{ rooms: ["team"] }] });
      // A user's token is not the admin credential, by this route either.
      await expect(grpcurlLike(raw, reflection, "chat.v1.AdminService/CreateRoom", { room: "x" }, `Bearer ${await token("alice")}`)).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
      });
    } finally {
      reflection.close();
      raw.close();
    }
  });
});

describe("admin API: hostile callers", () => {
  const refusals: [string, () => Promise<string | null>][] = [
    ["no header", async () => null],
    ["a user's valid token", async () => `Bearer ${await token("mallory")}`],
    ["a wrong key", async () => `Bearer ${randomBytes(32).toString("hex")}`],
    ["the key without Bearer", async () => KEY],
  ];

  it.each(refusals)("%s: UNAUTHENTICATED on both ports, and nothing changes", async (_what, make) => {
    const server = await adminServer();
    const victim = await user(server, "victim", "lobby");
    const authorization = await make();
    const http = await admin(server.httpUrl, "DisconnectUser", { user_id: "victim", reason: "gotcha" }, authorization);
    expect(http).toMatchObject({ status: 401, body: { code: "unauthenticated" } });
    expect(await admin(server.httpUrl, "CreateRoom", { room: "stolen" }, authorization)).toMatchObject({ status: 401 });
    const grpcCall = grpcAdmin(server.baseUrl, authorization).disconnectUser({ userId: "victim" });
    await expect(grpcCall).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(grpcAdmin(server.baseUrl, authorization).publish({ room: "lobby", sender: "x", text: "forged" })).rejects.toMatchObject({ code: Code.Unauthenticated });

    // Nothing happened: the victim is still connected and got no forged message; the room was not created.
    expect(victim.ended).toBeUndefined();
    expect((await ok(server.httpUrl, "ListUserSessions", { user_id: "victim" })).sessions).toHaveLength(1);
    expect(victim.messages().map((m) => m.text)).not.toContain("forged");
    expect(await admin(server.httpUrl, "DeleteRoom", { room: "stolen" })).toMatchObject({ status: 404 });
  });

  it("an undecodable gRPC request: UNAUTHENTICATED without the key, INVALID_ARGUMENT with it", async () => {
    const server = await adminServer();
    const raw = rawClient(server.address);
    const call = (authorization?: string) =>
      new Promise<grpc.ServiceError>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        if (authorization) metadata.set("authorization", authorization);
        raw.makeUnaryRequest("/chat.v1.AdminService/CreateRoom", (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff]), metadata, (err) =>
          err ? resolve(err) : reject(new Error("answered")),
        );
      });
    try {
      expect(await call()).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect(await call(`Bearer ${KEY}`)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining("could not be decoded") });
    } finally {
      raw.close();
    }
  });

  it("a server without an admin key: PERMISSION_DENIED 'the admin API is off', whatever is sent", async () => {
    const server = await startTestServer({ authSecret: secret });
    for (const authorization of [null, `Bearer ${KEY}`, `Bearer ${await token("alice")}`]) {
      const http = await admin(server.httpUrl, "CreateRoom", { room: "x" }, authorization);
      expect(http).toMatchObject({ status: 403, body: { code: "permission_denied", message: expect.stringContaining("the admin API is off") } });
      const err = await grpcAdmin(server.baseUrl, authorization)
        .listUserSessions({ userId: "alice" })
        .catch((e: unknown) => ConnectError.from(e));
      expect(err).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("the admin API is off") });
    }
  });
});

describe("admin key file at start-up", () => {
  function run(args: string[]): Promise<ScriptRun> {
    return runScript("src/server/main.ts", ["--port", "0", "--http-port", "0", "--store", "memory", ...args]);
  }

  it("a missing file and a short key each stop the start with one line naming the file", async () => {
    const missing = join(dir, "no-such.key");
    const short = join(dir, "short.key");
    writeFileSync(short, "too-short\n");
    const [a, b] = await Promise.all([run(["--admin-key-file", missing]), run(["--admin-key-file", short])]);
    for (const [r, file, why] of [
      [a, missing, /no such file/],
      [b, short, /at least 32/],
    ] as const) {
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toContain("too-short");
    }
  });
});

describe("admin API on two nodes on Redis", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });
  afterAll(() => closeTesters());

  /** Two server processes on one Redis deployment, with authentication and the admin API on. */
  async function twoNodes() {
    const prefix = uniquePrefix("admin");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const common = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--auth-secret", secret, "--admin-key-file", keyFile, "--rate-limit", "0"];
    const [p1, p2] = [await freePort(), await freePort()];
    const nodes = await Promise.all([
      spawnServer(["--node-id", "n1", "--http-port", String(p1), ...common]),
      spawnServer(["--node-id", "n2", "--http-port", String(p2), ...common]),
    ]);
    return Object.assign(nodes, { prefix });
  }

  it("a room created and posted into through node 1 reaches its members on node 2", async ({ skip }) => {
    if (!redisUp) skip();
    const [n1, n2] = await twoNodes();
    await ok(n1.httpUrl!, "CreateRoom", { room: "shared", owners: ["kim"], topic: "on Redis" });
    expect(await admin(n2.httpUrl!, "CreateRoom", { room: "shared" })).toMatchObject({ status: 409 });
    await ok(n2.httpUrl!, "AddMember", { room: "shared", user_id: "lee" });
    const kim = await user(n2, "kim", "shared");
    const sent = await ok(n1.httpUrl!, "Publish", { room: "shared", sender: "Bot", text: "from node 1", idempotencyKey: "r-1" });
    const got = await kim.waitFor("message", (m) => m.text === "from node 1");
    expect(got).toMatchObject({ seq: BigInt(sent.message.seq), senderId: "system:Bot" });
    expect(await ok(n2.httpUrl!, "Publish", { room: "shared", sender: "Bot", text: "from node 1", idempotencyKey: "r-1" })).toMatchObject({ duplicate: true });
  });

  it("DisconnectUser on node 1 ends the user's session on node 2; ListUserSessions sees both nodes", async ({ skip }) => {
    if (!redisUp) skip();
    const started = await twoNodes();
    const [n1, n2] = started;
    const here = await user(n1, "ivy", "one");
    const there = await user(n2, "ivy", "two");
    const watcher = await user(n2, "jack", "two");

    const listed = await waitUntilAsync(async () => {
      const body = await ok(n1.httpUrl!, "ListUserSessions", { user_id: "ivy" });
      return body.sessions?.length === 2 && body;
    }, "both sessions listed");
    expect(listed.sessions.map((s: any) => `${s.node}:${s.rooms.join()}`).sort()).toEqual(["n1:one", "n2:two"]);

    // A third "node" that hears the question and never answers (frozen): the call still ends, bounded, and says so in the log.
    const frozen = new Redis(REDIS_URL);
    cleanups.push(async () => void frozen.disconnect());
    await frozen.subscribe(`${started.prefix}:nodebus`);
    expect(await ok(n1.httpUrl!, "DisconnectUser", { user_id: "ivy", reason: "terms violated" })).toEqual({ sessions: 2 });
    await waitUntil(() => n1.logs().find((l) => l.what === "DisconnectUser" && l.silent === 1), "the silent node in the log");
    for (const t of [here, there]) {
      const end = await t.done;
      expect(end).toMatchObject({ code: Code.PermissionDenied, message: expect.stringContaining("terms violated") });
    }
    await watcher.waitFor("memberLeft", (m) => m.nickname === "ivy" && m.reason === LeaveReason.DISCONNECTED_BY_ADMIN);
    expect(watcher.ended).toBeUndefined();
    // Every call is in the log of the node that answered it, with who and what.
    const audit = await waitUntil(() => n1.logs().find((l) => l.what === "DisconnectUser" && l.outcome === "ok"), "audit line");
    expect(audit).toMatchObject({ who: "admin", user: "ivy" });
    expect(await ok(n2.httpUrl!, "ListUserSessions", { user_id: "ivy" })).toEqual({});
  });
});
