/**
 * Hostile tests for rooms and rights (issue 18, items 4 and 9): a stranger
 * tries every door of a private room and gets exactly what a missing room
 * gives; a member forges roles and user ids; a token's grant for one room is
 * tried on another; a ban races a stream of sends; a banned user tries another
 * node.
 */
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatService, ErrorCode, LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { actions, AUTH_SECRET, createRoom, moderate, RoomActionKind, RoomRole, RoomVisibility, token } from "./support/rooms.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { closeSessionTesters, SessionTester, transportFor } from "./support/session-tester.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  closeSessionTesters();
  await stopTestServers();
  killServers();
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

async function user(baseUrl: string, sub: string, claims: Record<string, unknown> = {}): Promise<ChatTester> {
  return ChatTester.connect(baseUrl, sub, { token: await token(sub, claims) });
}

/** A server with alice's private room "secret" (one message in it, alice present) and bob invited. */
async function secretRoom(): Promise<{ server: TestServer; alice: ChatTester }> {
  const server = await startTestServer({ authSecret: AUTH_SECRET });
  const alice = await user(server.baseUrl, "alice");
  createRoom(alice, "secret", { visibility: RoomVisibility.PRIVATE, topic: "the plan", invite: ["bob"] });
  await alice.joined("secret");
  const id = alice.send("secret", "meet at noon");
  await alice.waitFor("message", (m) => m.clientMsgId === id);
  return { server, alice };
}

/** The same text with the room's name put in place of another's. */
const as = (text: string, from: string, to: string) => text.split(from).join(to);

describe("a stranger at every door of a private room gets what a missing room gives", () => {
  it("join and resume over Chat: NOT_FOUND, as for a direct-message room that does not exist", async () => {
    const { server, alice } = await secretRoom();
    const carol = await user(server.baseUrl, "carol");
    carol.join("secret", "");
    const refused = await carol.error((e) => e.room === "secret");
    carol.join("dm.0123456789012345678901234567890123456789", "");
    const missing = await carol.error((e) => e.room.startsWith("dm."));
    expect(refused.code).toBe(ErrorCode.NOT_FOUND);
    expect(refused.message).toBe(as(missing.message, missing.room, "secret"));
    carol.join("secret", "", { afterSeq: 0n, epoch: "" });
    carol.join("secret", "", { afterSeq: 1n, epoch: alice.of("joined")[0].epoch });
    await waitUntil(() => carol.of("error").filter((e) => e.room === "secret").length === 3 || undefined, "both resumes refused");
    for (const e of carol.of("error").filter((x) => x.room === "secret")) expect(e).toMatchObject({ code: ErrorCode.NOT_FOUND, message: refused.message });
    expect(carol.messages()).toEqual([]);
  });

  it("typing, send and moderate: the same error as in a room that does not exist", async () => {
    const { server, alice } = await secretRoom();
    const carol = await user(server.baseUrl, "carol");
    for (const room of ["secret", "nowhere"]) {
      carol.request({ command: { case: "typing", value: { room } } });
      carol.send(room, "hello?", `send-${room}`);
      moderate(carol, room, RoomActionKind.INVITE, { targetUser: "carol" }, `invite-${room}`);
      moderate(carol, room, RoomActionKind.KICK, { targetUser: "alice" }, `kick-${room}`);
    }
    await waitUntil(() => carol.of("error").length === 8 || undefined, "eight refusals");
    const of = (room: string) => carol.of("error").filter((e) => e.room === room).map((e) => ({ ...e, room: "R", clientMsgId: as(e.clientMsgId, room, "R"), message: as(e.message, room, "R") }));
    expect(of("secret")).toEqual(of("nowhere"));
    expect(of("secret").map((e) => e.code)).toEqual([ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND]);
    // Nothing reached the room.
    expect(alice.of("typing")).toEqual([]);
    expect(actions(alice, "secret")).toEqual([]); // the create entry came in the JoinedEvent, nothing since
  });

  it("GetHistory, ListMembers, ListRooms over gRPC: as for a room with no history and no members, and not listed", async () => {
    const { server } = await secretRoom();
    for (const who of [await token("carol"), undefined]) {
      const client = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: who }));
      if (who === undefined) {
        // Without a token the server refuses every call (authentication is on); tested below without it.
        await expect(client.getHistory({ room: "secret" })).rejects.toMatchObject({ code: Code.Unauthenticated });
        continue;
      }
      expect(await client.getHistory({ room: "secret" })).toEqual(await client.getHistory({ room: "nowhere" }));
      expect(await client.getHistory({ room: "secret", afterSeq: 0n, limit: 10 })).toEqual(await client.getHistory({ room: "nowhere", afterSeq: 0n, limit: 10 }));
      expect(await client.listMembers({ room: "secret" })).toEqual(await client.listMembers({ room: "nowhere" }));
      expect((await client.listRooms({})).rooms.map((r) => r.name)).not.toContain("secret");
    }
    // Its members see all of it.
    const alice = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("alice") }));
    expect((await alice.getHistory({ room: "secret" })).messages.map((m) => m.text)).toContain("meet at noon");
    expect((await alice.listMembers({ room: "secret" })).members).toMatchObject([{ nickname: "alice", userId: "alice", role: RoomRole.OWNER }]);
    expect((await alice.listRooms({})).rooms.find((r) => r.name === "secret")).toMatchObject({ visibility: RoomVisibility.PRIVATE, topic: "the plan", yourRole: RoomRole.OWNER });
  });

  it("OpenSession + Command and the Connect gateway (JSON over HTTP with fetch)", async () => {
    const { server } = await secretRoom();
    const carolToken = await token("carol");
    const session = new SessionTester("carol", transportFor("connect", server.httpUrl, { token: carolToken }));
    const joinAnswer = await session.join("secret", "");
    const missingAnswer = await session.join("dm.0123456789012345678901234567890123456789", "");
    expect(joinAnswer?.event.case).toBe("error");
    const [a, b] = [joinAnswer!.event.value, missingAnswer!.event.value] as { code: ErrorCode; message: string; room: string }[];
    expect(a.code).toBe(ErrorCode.NOT_FOUND);
    expect(a.message).toBe(as(b.message, b.room, "secret"));
    const typing = await session.command({ command: { case: "typing", value: { room: "secret" } } });
    const typingMissing = await session.command({ command: { case: "typing", value: { room: "nowhere" } } });
    expect(JSON.stringify(typing).split("secret").join("R")).toBe(JSON.stringify(typingMissing).split("nowhere").join("R"));

    const call = async (method: string, body: unknown) => {
      const res = await fetch(`${server.httpUrl}/chat.v1.ChatService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${carolToken}` },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    expect(await call("GetHistory", { room: "secret" })).toEqual(await call("GetHistory", { room: "nowhere" }));
    expect(await call("ListMembers", { room: "secret" })).toEqual(await call("ListMembers", { room: "nowhere" }));
    const rooms = await call("ListRooms", {});
    expect(rooms.status).toBe(200);
    expect(JSON.stringify(rooms.body)).not.toContain("secret");
  });

  it("without authentication, a caller is a stranger to every private room", async () => {
    const server = await startTestServer();
    const alice = ChatTester.connect(server.baseUrl, "alice");
    createRoom(alice, "secret", { visibility: RoomVisibility.PRIVATE, nickname: "alice" });
    await alice.joined("secret");
    const id = alice.send("secret", "hidden");
    await alice.waitFor("message", (m) => m.clientMsgId === id);
    const client = createClient(ChatService, transportFor("grpc", server.baseUrl));
    expect(await client.getHistory({ room: "secret" })).toEqual(await client.getHistory({ room: "nowhere" }));
    expect(await client.listMembers({ room: "secret" })).toEqual(await client.listMembers({ room: "nowhere" }));
    expect((await client.listRooms({})).rooms.map((r) => r.name)).not.toContain("secret");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("secret");
    expect((await bob.error()).code).toBe(ErrorCode.NOT_FOUND);
  });
});

describe("forgery", () => {
  it("a member cannot act on another user's behalf or give themselves a role; their messages carry their own id", async () => {
    const { server, alice } = await secretRoom();
    const bob = await user(server.baseUrl, "bob");
    bob.join("secret", "");
    await bob.joined("secret");
    moderate(bob, "secret", RoomActionKind.KICK, { targetUser: "alice" });
    moderate(bob, "secret", RoomActionKind.SET_ROLE, { targetUser: "bob", role: RoomRole.OWNER });
    moderate(bob, "secret", RoomActionKind.INVITE, { targetUser: "carol", role: RoomRole.OWNER });
    await waitUntil(() => bob.of("error").length === 3 || undefined, "three refusals");
    expect(bob.of("error").map((e) => e.code)).toEqual([ErrorCode.PERMISSION_DENIED, ErrorCode.PERMISSION_DENIED, ErrorCode.PERMISSION_DENIED]);
    // A display name is only a label: calling himself "alice" leaves bob bob.
    bob.rename("secret", "alice");
    expect((await bob.error((e) => e.code === ErrorCode.ALREADY_EXISTS)).message).toMatch(/"alice" is already taken/);
    bob.rename("secret", "alice2");
    await bob.waitFor("memberRenamed", (e) => e.newNickname === "alice2");
    const id = bob.send("secret", "it is me");
    expect(await alice.waitFor("message", (m) => m.clientMsgId === id)).toMatchObject({ sender: "alice2", senderId: "bob" });
    expect(actions(alice, "secret")).toEqual([]); // the create entry came in the JoinedEvent, nothing since
  });

  it("the names in an action entry are the server's: a command's target_name is ignored", async () => {
    const { server, alice } = await secretRoom();
    const bob = await user(server.baseUrl, "bob");
    bob.join("secret", "");
    await bob.joined("secret");
    alice.request({
      command: { case: "moderate", value: { room: "secret", clientActionId: "k", action: { kind: RoomActionKind.KICK, targetUser: "bob", targetName: "carol", reason: "r" } } },
    });
    const entry = await bob.waitFor("message", (m) => m.action?.kind === RoomActionKind.KICK);
    expect(entry).toMatchObject({ text: "bob was kicked by alice: r", sender: "alice", senderId: "alice" });
    expect(entry.action?.targetName).not.toBe("carol");
  });

  it("a token's grant for room A opens nothing of room B", async () => {
    const { server } = await secretRoom();
    const owner = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("mallory", { rooms: { a: "owner" } }) }));
    const mallory = await user(server.baseUrl, "mallory", { rooms: { a: "owner" } });
    mallory.join("secret", "");
    expect((await mallory.error()).code).toBe(ErrorCode.NOT_FOUND);
    moderate(mallory, "secret", RoomActionKind.INVITE, { targetUser: "mallory" });
    expect((await mallory.error((e) => e.command === 8)).code).toBe(ErrorCode.NOT_FOUND);
    expect((await owner.getHistory({ room: "secret" })).messages).toEqual([]);
    expect((await owner.listRooms({})).rooms.map((r) => r.name)).not.toContain("secret");
  });
});

describe("a ban racing a stream of sends", () => {
  it("nothing bob sends after the ban is acknowledged or stored; every send is answered once", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server.baseUrl, "alice");
    createRoom(alice, "lobby");
    await alice.joined("lobby");
    const bob = await user(server.baseUrl, "bob");
    bob.join("lobby", "");
    await bob.joined("lobby");
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(bob.send("lobby", `m${i}`));
    await alice.waitFor("message", (m) => m.sender === "bob");
    moderate(alice, "lobby", RoomActionKind.BAN, { targetUser: "bob", reason: "flood" });
    for (let i = 100; i < 200; i++) ids.push(bob.send("lobby", `m${i}`));
    const ban = await alice.waitFor("message", (m) => m.action?.kind === RoomActionKind.BAN);
    expect((await bob.waitFor("left")).reason).toBe(LeaveReason.BANNED);
    const answered = (id: string) => bob.messages().some((m) => m.clientMsgId === id) || bob.of("error").some((e) => e.clientMsgId === id);
    await waitUntil(() => ids.every(answered) || undefined, "every send answered");
    for (const id of ids) {
      const acks = bob.messages().filter((m) => m.clientMsgId === id);
      const errors = bob.of("error").filter((e) => e.clientMsgId === id);
      expect(acks.length + errors.length, id).toBe(1);
      for (const ack of acks) expect(ack.seq).toBeLessThan(ban.seq);
      for (const e of errors) expect([ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED]).toContain(e.code);
    }
    const client = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("alice") }));
    const after = await client.getHistory({ room: "lobby", afterSeq: ban.seq, limit: 500 });
    expect(after.messages.filter((m) => m.senderId === "bob")).toEqual([]);
  });
});

describe("a banned user rejoining through another node (Redis)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  // Passes once the Redis room log implements act/state (branch rooms-redis).
  it("the ban holds on every node", async ({ skip }) => {
    if (!redisUp) return skip();
    const prefix = uniquePrefix("ban");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--rate-limit", "0", "--auth-secret", AUTH_SECRET];
    const [a, b] = await Promise.all([spawnServer(args), spawnServer(args)]);
    const alice = await user(a.baseUrl, "alice");
    createRoom(alice, "lobby");
    await alice.joined("lobby");
    const bob = await user(b.baseUrl, "bob");
    bob.join("lobby", "");
    await bob.joined("lobby");
    moderate(alice, "lobby", RoomActionKind.BAN, { targetUser: "bob", reason: "spam" });
    expect((await bob.waitFor("left")).reason).toBe(LeaveReason.BANNED);
    expect((await alice.waitFor("memberLeft", (e) => e.nickname === "bob")).reason).toBe(LeaveReason.BANNED);
    for (const node of [a, b]) {
      const again = await user(node.baseUrl, "bob");
      again.join("lobby", "");
      expect((await again.error()).code).toBe(ErrorCode.PERMISSION_DENIED);
    }
    closeTesters();
  });
});
