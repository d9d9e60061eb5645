/**
 * People, rooms and rights (issue 18): private rooms with invited members,
 * moderation (kick, ban, mute, topic, roles) decided in the room log and
 * shown to the room as entries, the last-owner rule, token room grants, and
 * direct messages. Real server, authentication on (users are token subjects).
 */
import { createClient } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ChatService, ErrorCode, LeaveReason, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { actions, AUTH_SECRET, createRoom, moderate, openDirect, RoomActionKind, RoomRole, RoomVisibility, token } from "./support/rooms.js";
import { closeSessionTesters, SessionTester, transportFor } from "./support/session-tester.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";

afterEach(async () => {
  closeSessionTesters();
  await stopTestServers();
});

async function user(server: TestServer, sub: string, claims: Record<string, unknown> = {}): Promise<ChatTester> {
  return ChatTester.connect(server.baseUrl, sub, { token: await token(sub, claims) });
}

/** The tester's session is open on the server: a ping was answered. */
async function open(t: ChatTester): Promise<ChatTester> {
  const nonce = `ping-${t.name}-${t.events.length}`;
  t.request({ command: { case: "ping", value: { nonce } } });
  await t.waitFor("heartbeat", (h) => h.nonce === nonce);
  return t;
}

async function joined(t: ChatTester, room: string) {
  t.join(room, "");
  return t.joined(room);
}

describe("private rooms", () => {
  it("the creator owns it, an invited user joins as a member, a stranger is told it does not exist", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    createRoom(alice, "plans", { visibility: RoomVisibility.PRIVATE, topic: "the surprise party", invite: ["bob"] });
    const created = await alice.joined("plans");
    expect(created.userId).toBe("alice");
    expect(created.state).toMatchObject({ visibility: RoomVisibility.PRIVATE, topic: "the surprise party", creator: "alice", yourRole: RoomRole.OWNER });
    expect(created.recent.map((m) => m.action?.kind)).toEqual([RoomActionKind.CREATE]);

    const bob = await user(server, "bob");
    const bobJoined = await joined(bob, "plans");
    expect(bobJoined.state?.yourRole).toBe(RoomRole.MEMBER);
    expect(bobJoined.members.find((m) => m.nickname === "alice")).toMatchObject({ userId: "alice", role: RoomRole.OWNER });
    const seen = await alice.waitFor("memberJoined", (e) => e.member?.nickname === "bob");
    expect(seen.member).toMatchObject({ userId: "bob", role: RoomRole.MEMBER });

    const carol = await user(server, "carol");
    carol.join("plans", "");
    const refused = await carol.error();
    expect(refused).toMatchObject({ code: ErrorCode.NOT_FOUND, message: "no room plans that you may join" });
  });

  it("a member whose membership is taken away leaves at once, unless their token grants the room; one who gives it up leaves too", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    createRoom(alice, "plans", { visibility: RoomVisibility.PRIVATE, invite: ["bob", "carol"] });
    await alice.joined("plans");
    const bob = await user(server, "bob");
    const carol = await user(server, "carol");
    const hire = await user(server, "hire", { rooms: { plans: "member" } });
    for (const t of [bob, carol, hire]) await joined(t, "plans");
    moderate(alice, "plans", RoomActionKind.SET_ROLE, { targetUser: "bob", role: RoomRole.UNSPECIFIED });
    expect((await bob.waitFor("left")).reason).toBe(LeaveReason.KICKED);
    bob.join("plans", "");
    expect((await bob.error()).code).toBe(ErrorCode.NOT_FOUND);
    // The grant holder has no stored role to lose: a set_role to none leaves them in.
    moderate(alice, "plans", RoomActionKind.SET_ROLE, { targetUser: "hire", role: RoomRole.UNSPECIFIED });
    await hire.waitFor("message", (m) => m.action?.targetUser === "hire");
    moderate(carol, "plans", RoomActionKind.LEAVE_MEMBERSHIP);
    expect((await carol.waitFor("left")).reason).toBe(LeaveReason.LEFT);
    const id = hire.send("plans", "still here");
    await alice.waitFor("message", (m) => m.clientMsgId === id);
    expect(hire.of("left")).toEqual([]);
  });

  it("a room that exists cannot be created again; names starting with dm. are kept for direct messages", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    await joined(alice, "lobby");
    createRoom(alice, "lobby");
    expect(await alice.error()).toMatchObject({ code: ErrorCode.ALREADY_EXISTS });
    createRoom(alice, "dm.mine");
    expect(await alice.error((e) => e.room === "dm.mine")).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/kept for direct messages/) });
    createRoom(alice, "big", { topic: "x".repeat(257) });
    expect(await alice.error((e) => e.room === "big")).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/topic must be at most 256 bytes/) });
  });
});

describe("moderation in a public room", () => {
  async function publicRoom() {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    createRoom(alice, "lobby");
    await alice.joined("lobby");
    const bob = await user(server, "bob");
    const carol = await user(server, "carol");
    await joined(bob, "lobby");
    await joined(carol, "lobby");
    return { server, alice, bob, carol };
  }

  it("a ban: the room sees 'bob was banned by alice: spam', bob leaves with BANNED, his rejoin is refused, a resume replays the entry", async () => {
    const { server, alice, bob, carol } = await publicRoom();
    bob.send("lobby", "buy cheap watches");
    await carol.messageCount(1, "lobby");
    const id = moderate(alice, "lobby", RoomActionKind.BAN, { targetUser: "bob", reason: "spam" });

    // The actor's acknowledgement is the entry itself, with its client_action_id.
    const ack = await alice.waitFor("message", (m) => m.clientMsgId === id);
    expect(ack).toMatchObject({ sender: "alice", senderId: "alice", text: "bob was banned by alice: spam" });
    expect(ack.action).toMatchObject({ kind: RoomActionKind.BAN, targetUser: "bob", reason: "spam" });
    const seen = await carol.waitFor("message", (m) => m.action?.kind === RoomActionKind.BAN);
    expect(seen.text).toBe("bob was banned by alice: spam");
    expect((await carol.waitFor("memberLeft", (e) => e.nickname === "bob")).reason).toBe(LeaveReason.BANNED);

    // Bob first gets the entry, then his LeftEvent.
    const left = await bob.waitFor("left", (e) => e.room === "lobby");
    expect(left.reason).toBe(LeaveReason.BANNED);
    const kinds = bob.events.map((e) => e.event.case);
    const entryAt = bob.events.findIndex((e) => e.event.case === "message" && e.event.value.action?.kind === RoomActionKind.BAN);
    expect(entryAt).toBeGreaterThan(-1);
    expect(entryAt).toBeLessThan(kinds.lastIndexOf("left"));

    bob.join("lobby", "");
    expect(await bob.error((e) => e.command === 1)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, message: expect.stringMatching(/banned from room lobby: spam/) });
    // His second device is refused as well.
    const bob2 = await user(server, "bob");
    bob2.join("lobby", "");
    expect((await bob2.error()).code).toBe(ErrorCode.PERMISSION_DENIED);

    // A resume from before the ban replays it.
    const dave = await user(server, "dave");
    const first = await joined(dave, "lobby");
    dave.leave("lobby");
    await dave.waitFor("left");
    const again = await user(server, "dave");
    again.join("lobby", "", { afterSeq: first.lastSeq - 2n, epoch: first.epoch });
    await again.joined("lobby");
    const replayed = await again.waitFor("message", (m) => m.action?.kind === RoomActionKind.BAN);
    expect(replayed.text).toBe("bob was banned by alice: spam");

    // And history keeps it.
    const client = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("carol") }));
    const history = await client.getHistory({ room: "lobby" });
    expect(history.messages.filter((m) => m.action).map((m) => m.text)).toContain("bob was banned by alice: spam");

    // Unbanned, he may come back.
    moderate(alice, "lobby", RoomActionKind.UNBAN, { targetUser: "bob" });
    await carol.waitFor("message", (m) => m.action?.kind === RoomActionKind.UNBAN);
    const back = await user(server, "bob");
    await joined(back, "lobby");
  });

  it("over OpenSession + Command, a moderate is answered with the action's entry, also from a session not in the room", async () => {
    const { server, alice, bob } = await publicRoom();
    const tab = new SessionTester("alice-tab", transportFor("connect", server.httpUrl, { token: await token("alice") }));
    const answer = await tab.command({
      command: { case: "moderate", value: { room: "lobby", clientActionId: "tab-1", action: { kind: RoomActionKind.MUTE, targetUser: "bob", reason: "tab" } } },
    });
    expect(answer?.event.case).toBe("message");
    const entry = answer!.event.value as ChatMessage;
    expect(entry).toMatchObject({ clientMsgId: "tab-1", senderId: "alice", text: "bob was muted by alice: tab" });
    expect(entry.action?.kind).toBe(RoomActionKind.MUTE);
    // The same entry the room got, and the tab's stream got it too.
    expect((await bob.waitFor("message", (m) => m.clientMsgId === "tab-1")).seq).toBe(entry.seq);
    await tab.waitFor("message", (m) => m.clientMsgId === "tab-1");
    // A resend with the same id is answered with the original, and records nothing new.
    const again = await tab.command({
      command: { case: "moderate", value: { room: "lobby", clientActionId: "tab-1", action: { kind: RoomActionKind.MUTE, targetUser: "bob", reason: "tab" } } },
    });
    expect((again!.event.value as ChatMessage).seq).toBe(entry.seq);
    const refused = await tab.command({ command: { case: "moderate", value: { room: "lobby", clientActionId: "tab-2", action: { kind: RoomActionKind.KICK, targetUser: "alice" } } } });
    expect(refused?.event.value).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, command: 8, room: "lobby" });
    expect(alice.of("error")).toEqual([]);
  });

  it("a kick: bob leaves with KICKED, the others see why, and he may join again", async () => {
    const { server, alice, bob, carol } = await publicRoom();
    moderate(alice, "lobby", RoomActionKind.KICK, { targetUser: "bob", reason: "calm down" });
    expect((await bob.waitFor("left")).reason).toBe(LeaveReason.KICKED);
    expect((await carol.waitFor("memberLeft", (e) => e.nickname === "bob")).reason).toBe(LeaveReason.KICKED);
    expect((await carol.waitFor("message", (m) => m.action !== undefined && m.action.kind === RoomActionKind.KICK)).text).toBe("bob was kicked by alice: calm down");
    const back = await user(server, "bob");
    await joined(back, "lobby");
  });

  it("a mute: bob still reads, cannot post; after unmute he posts again", async () => {
    const { server, alice, bob, carol } = await publicRoom();
    moderate(alice, "lobby", RoomActionKind.MUTE, { targetUser: "bob", reason: "cool off" });
    await bob.waitFor("message", (m) => m.action?.kind === RoomActionKind.MUTE);
    const id = bob.send("lobby", "but I have to say this");
    const refused = await bob.error((e) => e.clientMsgId === id);
    expect(refused).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, message: expect.stringMatching(/you are muted in room lobby: cool off/) });
    carol.send("lobby", "bob can read this");
    await bob.waitFor("message", (m) => m.text === "bob can read this");
    // A user muted before joining learns it from the JoinedEvent.
    const until = Date.now() + 3_600_000;
    moderate(alice, "lobby", RoomActionKind.MUTE, { targetUser: "dave", untilMs: until });
    await carol.waitFor("message", (m) => m.action?.targetUser === "dave");
    const dave = await user(server, "dave");
    const state = (await joined(dave, "lobby")).state;
    expect(state?.muted).toBe(true);
    expect(Number(state?.mutedUntil?.seconds)).toBe(Math.floor(until / 1000));
    moderate(alice, "lobby", RoomActionKind.UNMUTE, { targetUser: "bob" });
    await bob.waitFor("message", (m) => m.action?.kind === RoomActionKind.UNMUTE);
    const ok = bob.send("lobby", "thanks");
    await carol.waitFor("message", (m) => m.clientMsgId === ok);
  });

  it("the topic is set by a moderator and shown in the next JoinedEvent", async () => {
    const { server, alice, carol } = await publicRoom();
    moderate(alice, "lobby", RoomActionKind.SET_TOPIC, { topic: "weekend plans" });
    expect((await carol.waitFor("message", (m) => m.action?.kind === RoomActionKind.SET_TOPIC)).text).toBe("alice set the topic: weekend plans");
    const dave = await user(server, "dave");
    expect((await joined(dave, "lobby")).state?.topic).toBe("weekend plans");
    // A member without a role may not.
    moderate(carol, "lobby", RoomActionKind.SET_TOPIC, { topic: "mine now" });
    expect((await carol.error()).code).toBe(ErrorCode.PERMISSION_DENIED);
  });

  it("a moderator cannot demote or kick the owner; the last owner cannot leave the membership", async () => {
    const { alice, bob } = await publicRoom();
    moderate(alice, "lobby", RoomActionKind.SET_ROLE, { targetUser: "bob", role: RoomRole.MODERATOR });
    expect((await bob.waitFor("message", (m) => m.action?.kind === RoomActionKind.SET_ROLE)).text).toBe("alice made bob a moderator");
    moderate(bob, "lobby", RoomActionKind.SET_ROLE, { targetUser: "alice", role: RoomRole.MEMBER });
    expect(await bob.error()).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, message: "only an owner may set roles" });
    moderate(bob, "lobby", RoomActionKind.KICK, { targetUser: "alice" });
    expect(await bob.error((e) => e.message.includes("moderator or an owner"))).toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    moderate(alice, "lobby", RoomActionKind.LEAVE_MEMBERSHIP);
    expect(await alice.error()).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, message: expect.stringMatching(/last owner of room lobby/) });
    moderate(alice, "lobby", RoomActionKind.SET_ROLE, { targetUser: "alice", role: RoomRole.MEMBER });
    expect(await alice.error((e) => e.message.includes("last owner") && alice.of("error").length === 2)).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION });
  });

  it("bad fields are refused with INVALID_ARGUMENT, each saying which", async () => {
    const { alice } = await publicRoom();
    const cases: [Parameters<typeof moderate>[2], Parameters<typeof moderate>[3], RegExp][] = [
      [RoomActionKind.UNSPECIFIED, {}, /action.kind must be one of/],
      [RoomActionKind.CREATE, {}, /action.kind must be one of/],
      [RoomActionKind.KICK, { targetUser: "x".repeat(257) }, /target_user must be 1 to 256/],
      [RoomActionKind.BAN, { targetUser: "bob", reason: "r".repeat(257) }, /reason must be at most 256 bytes/],
      [RoomActionKind.MUTE, { targetUser: "bob", untilMs: Date.now() - 60_000 }, /until is in the past/],
      [RoomActionKind.SET_ROLE, { targetUser: "bob", role: 9 as RoomRole }, /role must be one of/],
      [RoomActionKind.SET_TOPIC, { topic: "line\nbreak" }, /control characters/],
    ];
    for (const [kind, fields, message] of cases) {
      const id = moderate(alice, "lobby", kind, fields);
      const err = await alice.error((e) => e.clientMsgId === id);
      expect(err.code, String(message)).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toMatch(message);
      expect(err.command).toBe(8); // COMMAND_KIND_MODERATE
    }
  });
});

describe("token room grants", () => {
  it("a grant of moderator in one room lets its holder moderate there, and nowhere else", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    createRoom(alice, "ops");
    await alice.joined("ops");
    createRoom(alice, "lobby");
    await alice.joined("lobby");
    const mallory = await user(server, "mallory");
    await joined(mallory, "ops");
    await joined(mallory, "lobby");
    const mod = await user(server, "mod", { rooms: { ops: "moderator" } });
    expect((await joined(mod, "ops")).state?.yourRole).toBe(RoomRole.MODERATOR);
    await joined(mod, "lobby");
    moderate(mod, "ops", RoomActionKind.KICK, { targetUser: "mallory" });
    expect((await mallory.waitFor("left", (e) => e.room === "ops")).reason).toBe(LeaveReason.KICKED);
    moderate(mod, "lobby", RoomActionKind.KICK, { targetUser: "mallory" });
    expect((await mod.error((e) => e.room === "lobby")).code).toBe(ErrorCode.PERMISSION_DENIED);
  });

  it("a grant opens a private room the holder was never invited to", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    createRoom(alice, "staff", { visibility: RoomVisibility.PRIVATE });
    await alice.joined("staff");
    const hire = await user(server, "hire", { rooms: { staff: "member" } });
    expect((await joined(hire, "staff")).state?.yourRole).toBe(RoomRole.MEMBER);
  });

  it.each([
    ["not an object", ["ops"], /must be an object/],
    ["an unknown role", { ops: "admin" }, /unknown role "admin"/],
    ["an invalid room name", { "no spaces": "member" }, /invalid room/],
  ])("a token whose rooms claim is %s is refused (UNAUTHENTICATED), saying why", async (_what, rooms, message) => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const t = await user(server, "eve", { rooms });
    t.join("lobby", "");
    const end = await t.done;
    expect(end.code).toBe(Code.Unauthenticated);
    expect(end.message).toMatch(message);
  });
});

describe("direct messages", () => {
  it("either user opens the same room; both join, nobody else can; both list it in their rooms", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    const bob = await open(await user(server, "bob"));
    openDirect(alice, "bob");
    const opened = await alice.waitFor("directOpened");
    expect(opened).toMatchObject({ userId: "bob", created: true });
    expect(opened.room).toMatch(/^dm\.[0-9a-f]{40}$/);
    // Bob was told when alice created it; his own open finds it.
    expect(await bob.waitFor("directOpened")).toMatchObject({ room: opened.room, userId: "alice", created: true });
    openDirect(bob, "alice");
    expect(await bob.waitFor("directOpened", (d) => !d.created)).toMatchObject({ room: opened.room, userId: "alice", created: false });
    const a = await joined(alice, opened.room);
    expect(a.state).toMatchObject({ visibility: RoomVisibility.PRIVATE, directUserId: "bob", yourRole: RoomRole.MEMBER });
    await joined(bob, opened.room);
    const id = alice.send(opened.room, "hi bob");
    await bob.waitFor("message", (m) => m.clientMsgId === id);

    const carol = await user(server, "carol");
    carol.join(opened.room, "");
    expect(await carol.error()).toMatchObject({ code: ErrorCode.NOT_FOUND, message: `no room ${opened.room} that you may join` });
    carol.join("dm.0000000000000000000000000000000000000000", "");
    expect(await carol.error((e) => e.room.startsWith("dm.0"))).toMatchObject({ code: ErrorCode.NOT_FOUND });

    const client = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("bob") }));
    const mine = await client.listRooms({ mine: true });
    const dm = mine.rooms.find((r) => r.name === opened.room);
    expect(dm).toMatchObject({ directUserId: "alice", visibility: RoomVisibility.PRIVATE });
    expect(dm?.lastMessage?.text).toBe("hi bob");
  });

  it("the other user's every open session is told at once when it is created (not when it is opened again); nobody else is", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    const [phone, laptop, carol] = [await open(await user(server, "bob")), await user(server, "bob"), await open(await user(server, "carol"))];
    // A session with no room joined (the phone) is told too: the notice is for the user, not for a room.
    await joined(laptop, "lobby");
    openDirect(alice, "bob");
    const opened = await alice.waitFor("directOpened");
    for (const bob of [phone, laptop]) {
      const told = await bob.waitFor("directOpened");
      expect(told).toMatchObject({ room: opened.room, userId: "alice", created: true });
      expect(told.room).toMatch(/^dm\.[0-9a-f]{40}$/);
    }
    // Carol's answer comes after anything queued for her before it.
    await joined(carol, "lobby");
    expect(carol.of("directOpened")).toEqual([]);
    // Told joins it like any member.
    await joined(phone, opened.room);

    // Opened again (by either): nobody else is told.
    openDirect(alice, "bob");
    await alice.waitFor("directOpened", (d) => !d.created);
    openDirect(phone, "alice");
    await phone.waitFor("directOpened", (d) => !d.created);
    await joined(laptop, "other");
    await joined(alice, "other");
    expect(laptop.of("directOpened")).toHaveLength(1);
    expect(alice.of("directOpened")).toHaveLength(2);
  });

  it("the opener's other devices are told too (with the other user's id); the opening session only gets its answer", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const [alicePhone, aliceLaptop] = [await user(server, "alice"), await user(server, "alice")];
    await joined(aliceLaptop, "lobby");
    openDirect(alicePhone, "bob");
    const opened = await alicePhone.waitFor("directOpened");
    expect(opened).toMatchObject({ userId: "bob", created: true });
    expect(await aliceLaptop.waitFor("directOpened")).toMatchObject({ room: opened.room, userId: "bob", created: true });
    // Anything queued for the phone before this join's answer is in: the answer was its only notice.
    await joined(alicePhone, "other");
    expect(alicePhone.of("directOpened")).toHaveLength(1);
  });

  it("needs another user, and authentication", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const alice = await user(server, "alice");
    openDirect(alice, "alice");
    expect((await alice.error()).code).toBe(ErrorCode.INVALID_ARGUMENT);
    openDirect(alice, "");
    expect((await alice.error((e) => e.message.includes("1 to 256"))).code).toBe(ErrorCode.INVALID_ARGUMENT);

    const open = await startTestServer();
    const anon = ChatTester.connect(open.baseUrl, "anon");
    openDirect(anon, "bob");
    expect(await anon.error()).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, command: 9 });
    const client = createClient(ChatService, transportFor("grpc", open.baseUrl));
    await expect(client.listRooms({ mine: true })).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });
});
