/**
 * A signed-in user on several devices at once (issue 18, item 1): every
 * session of the user shares one membership per room, on one node or many.
 * Presence reports the user once (joined with the first session, left after
 * the last), every session receives the room's messages, the sending session
 * gets the acknowledgement, and a kick or ban ends every session of the user.
 */
import { createClient } from "@connectrpc/connect";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatService, ErrorCode, LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { AUTH_SECRET, createRoom, moderate, RoomActionKind, RoomVisibility, token } from "./support/rooms.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { transportFor } from "./support/session-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopTestServers();
  killServers();
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

async function device(baseUrl: string, sub: string, name = sub): Promise<ChatTester> {
  return ChatTester.connect(baseUrl, name, { token: await token(sub) });
}

const joinsOf = (t: ChatTester, nickname: string) => t.of("memberJoined").filter((e) => e.member?.nickname === nickname);
const leavesOf = (t: ChatTester, nickname: string) => t.of("memberLeft").filter((e) => e.nickname === nickname);

describe("one user on two devices (embedded)", () => {
  it("chat in a private room as one member: one join, every device gets every message, the sender its acknowledgement, one leave after the last", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const phone = await device(server.baseUrl, "ann", "ann's phone");
    createRoom(phone, "den", { visibility: RoomVisibility.PRIVATE, invite: ["bob"] });
    await phone.joined("den");
    const bob = await device(server.baseUrl, "bob");
    bob.join("den", "");
    await bob.joined("den");
    // The laptop asks for another name: it joins the membership the user holds, under its name.
    const laptop = await device(server.baseUrl, "ann", "ann's laptop");
    laptop.join("den", "Annie");
    expect(await laptop.joined("den")).toMatchObject({ nickname: "ann", userId: "ann" });
    // A third user sees nothing of the room through any door.
    const carol = await device(server.baseUrl, "carol");
    carol.join("den", "");
    expect((await carol.error()).code).toBe(ErrorCode.NOT_FOUND);
    const carolApi = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("carol") }));
    // (What a missing room gives: nothing; test/private-rooms-hostile.test.ts tries every door.)
    expect((await carolApi.getHistory({ room: "den" })).messages).toEqual([]);

    const fromPhone = phone.send("den", "on my way");
    const fromBob = bob.send("den", "see you");
    for (const t of [phone, laptop, bob]) {
      for (const id of [fromPhone, fromBob]) await t.waitFor("message", (m) => m.clientMsgId === id);
    }
    const said = (t: ChatTester) => t.messages("den").filter((m) => !m.action).map((m) => m.text);
    expect(said(laptop)).toEqual(said(phone));
    expect(laptop.messages("den").find((m) => m.text === "on my way")).toMatchObject({ sender: "ann", senderId: "ann" });
    expect(bob.messages("den").map((m) => m.clientMsgId)).toContain(fromBob);
    // One member, reported once.
    expect((await server.hub.listMembers("den", "", 10, { subject: "bob" })).members.map((m) => m.nickname).sort()).toEqual(["ann", "bob"]);
    expect(joinsOf(bob, "ann")).toEqual([]);

    // The laptop leaves: ann is still here. The phone leaves: ann left.
    laptop.leave("den");
    await laptop.waitFor("left", (e) => e.room === "den");
    const marker = bob.send("den", "still there?");
    await phone.waitFor("message", (m) => m.clientMsgId === marker);
    expect(leavesOf(bob, "ann")).toEqual([]);
    phone.leave("den");
    await bob.waitFor("memberLeft", (e) => e.nickname === "ann");
    expect(leavesOf(bob, "ann")).toHaveLength(1);
  });

  it("a rename on one device renames the user on every device", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const phone = await device(server.baseUrl, "ann");
    const laptop = await device(server.baseUrl, "ann");
    const bob = await device(server.baseUrl, "bob");
    for (const t of [phone, laptop, bob]) {
      t.join("lobby", "");
      await t.joined("lobby");
    }
    phone.rename("lobby", "Annabel");
    await phone.waitFor("memberRenamed", (e) => e.newNickname === "Annabel");
    await laptop.waitFor("memberRenamed", (e) => e.oldNickname === "ann" && e.newNickname === "Annabel");
    await bob.waitFor("memberRenamed", (e) => e.newNickname === "Annabel");
    const id = laptop.send("lobby", "new name");
    expect(await bob.waitFor("message", (m) => m.clientMsgId === id)).toMatchObject({ sender: "Annabel", senderId: "ann" });
    expect(phone.of("memberRenamed")).toHaveLength(1);
  });

  it("without authentication a nickname is still held by one stream", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    const b = ChatTester.connect(server.baseUrl, "b");
    a.join("lobby", "ann");
    await a.joined("lobby");
    b.join("lobby", "ann");
    expect((await b.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
  });
});

describe("one user on two nodes (Redis)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  it("the sessions on both nodes share the membership; a ban ends both, and the others see one leave", async ({ skip }) => {
    if (!redisUp) return skip();
    const prefix = uniquePrefix("devices");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--rate-limit", "0", "--auth-secret", AUTH_SECRET];
    const [a, b] = await Promise.all([spawnServer(args), spawnServer(args)]);
    const bob = await device(a.baseUrl, "bob");
    createRoom(bob, "hall");
    await bob.joined("hall");
    const onA = await device(a.baseUrl, "ann", "ann on node a");
    const onB = await device(b.baseUrl, "ann", "ann on node b");
    onA.join("hall", "");
    await onA.joined("hall");
    onB.join("hall", "");
    expect(await onB.joined("hall")).toMatchObject({ nickname: "ann", memberCount: 2 });
    const id = onB.send("hall", "from node b");
    await onB.waitFor("message", (m) => m.clientMsgId === id);
    await onA.waitFor("message", (m) => m.clientMsgId === id);
    await bob.waitFor("message", (m) => m.clientMsgId === id);
    expect(joinsOf(bob, "ann")).toHaveLength(1);

    moderate(bob, "hall", RoomActionKind.BAN, { targetUser: "ann", reason: "spam" });
    expect((await onA.waitFor("left", (e) => e.room === "hall")).reason).toBe(LeaveReason.BANNED);
    expect((await onB.waitFor("left", (e) => e.room === "hall")).reason).toBe(LeaveReason.BANNED);
    await bob.waitFor("memberLeft", (e) => e.nickname === "ann");
    await waitUntil(async () => (await bobMembers()).length === 1 || undefined, "only bob left in the hall");
    expect(leavesOf(bob, "ann")).toHaveLength(1);
    onB.join("hall", "");
    expect((await onB.error((e) => e.room === "hall")).code).toBe(ErrorCode.PERMISSION_DENIED);

    async function bobMembers(): Promise<string[]> {
      const api = createClient(ChatService, transportFor("grpc", a.baseUrl, { token: await token("bob") }));
      return (await api.listMembers({ room: "hall" })).members.map((m) => m.nickname);
    }
  });
});
