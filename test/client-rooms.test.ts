/**
 * Rooms with state through the client core (src/client/room-admin.ts, wired
 * into ChatSession), against a real server with authentication: a private
 * room that an invitee may join and a stranger cannot find, a ban that takes
 * the banned client out for good (also across a reconnect, and when the ban
 * happened while it was away), direct messages opened from either side, "my
 * rooms", and a moderation action whose acknowledgement is lost being resent
 * and applied once. Over the terminal client's transport (the Chat stream)
 * and the browser's (OpenSession + Command over the Connect protocol).
 */
import { createConnectTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  ChatMessageSchema,
  ErrorCode,
  JoinedEventSchema,
  LeaveReason,
  ReadReceiptsSetting,
  RoomActionKind,
  RoomRole,
  RoomVisibility,
  type ChatMessage,
  type ServerEvent,
} from "../gen/chat/v1/chat_pb.js";
import { ChatSession } from "../src/client/chat-session.js";
import { commandTransport } from "../src/client/command-transport.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import { isMutedNow, RoomAdmin, RoomCommandError, type RoomStateView } from "../src/client/room-admin.js";
import type { SessionTransport } from "../src/client/session-transport.js";
import { createChatClient } from "../src/client/transport.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { tamper, type FrameFilter } from "./support/session-transports.js";
import { waitUntil } from "./support/wait.js";

const secret = "client-rooms-test-secret-of-at-least-32-bytes";
const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

const mint = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(secret));

interface TransportKind {
  name: string;
  make(server: TestServer, token: string): SessionTransport & { client?: unknown };
}

const kinds: TransportKind[] = [
  { name: "Chat stream (gRPC)", make: (server, token) => createGrpcSessionTransport(server.baseUrl, { token }) },
  {
    name: "OpenSession + Command (Connect protocol)",
    make: (server, token) =>
      commandTransport(createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true }), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      }),
  },
];

/** A signed-in session (`signedIn` false: without a token) plus what it reported. `filter`: tamper with its frames (see tamper()). */
async function user(server: TestServer, kind: TransportKind, sub: string, filter?: FrameFilter, signedIn = true) {
  const token = signedIn ? await mint(sub) : "";
  const tampered = tamper(kind.make(server, token), filter);
  const session = new ChatSession({
    transport: tampered.transport,
    server: "test",
    nickname: sub,
    backoff: { baseMs: 20, maxMs: 200 },
    // ListRooms for myRooms(), with the same token, whatever the session's transport.
    client: createChatClient(server.baseUrl, { token }),
  });
  sessions.push(session);
  const log = {
    session,
    sent: tampered.sent,
    tamper: tampered.state,
    messages: [] as ChatMessage[],
    events: [] as ServerEvent[],
    removed: [] as { room: string; reason: LeaveReason; action?: ChatMessage }[],
    joinFailed: [] as { room: string; code: ErrorCode; message: string }[],
    nicknameRefused: 0,
    connected: 0,
  };
  session.on("event", (e) => {
    log.events.push(e);
    if (e.event.case === "message") log.messages.push(e.event.value);
  });
  session.on("removed", (r) => log.removed.push(r));
  session.on("joinFailed", (f) => log.joinFailed.push(f));
  session.on("nicknameRefused", () => log.nicknameRefused++);
  session.on("connected", () => log.connected++);
  void session.start();
  return log;
}

const live = (session: ChatSession, room: string) => waitUntil(() => session.isLive(room), `#${room} to be live`);
/** The JoinCommands a session wrote on one of its connections. */
const joinsOn = (sent: { command: { case?: string; value?: unknown } }[]) =>
  sent.filter((r) => r.command.case === "join").map((r) => (r.command.value as { room: string }).room);

describe.each(kinds)("rooms with state over $name", (kind) => {
  it("a private room: created with its topic, the invitee joins it, a stranger is told it does not exist", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await user(server, kind, "alice");
    const joined = await alice.session.createRoom("plans", { visibility: "private", topic: "the surprise party" });
    expect(joined.state).toMatchObject({ visibility: RoomVisibility.PRIVATE, topic: "the surprise party", creator: "alice", yourRole: RoomRole.OWNER });
    expect(alice.session.roomState("plans")).toMatchObject({ topic: "the surprise party", yourRole: RoomRole.OWNER, muted: false });
    expect(alice.session.isLive("plans")).toBe(true);

    // A stranger, before and after the invitation: nothing to find.
    const carol = await user(server, kind, "carol");
    carol.session.join("plans");
    await waitUntil(() => carol.joinFailed.length === 1, "carol's join to be refused");
    expect(carol.joinFailed[0]).toMatchObject({ room: "plans", code: ErrorCode.NOT_FOUND });
    expect(carol.session.roomNames).toEqual([]);

    const invited = await alice.session.moderate("plans", { kind: RoomActionKind.INVITE, targetUser: "bob" });
    expect(invited.action?.kind).toBe(RoomActionKind.INVITE);
    expect(invited.sender).toBe("alice");
    expect(invited.text).toBe("alice invited bob");

    const bob = await user(server, kind, "bob");
    bob.session.join("plans");
    await live(bob.session, "plans");
    expect(bob.session.roomState("plans")).toMatchObject({ visibility: RoomVisibility.PRIVATE, topic: "the surprise party", yourRole: RoomRole.MEMBER });
    bob.session.send("plans", "count me in");
    await waitUntil(() => alice.messages.some((m) => m.text === "count me in"), "alice to get bob's message");

    // The topic changes for everyone in the room; the action entry says so.
    await alice.session.moderate("plans", { kind: RoomActionKind.SET_TOPIC, topic: "party on friday" });
    await waitUntil(() => bob.session.roomState("plans")?.topic === "party on friday", "bob to see the new topic");
    expect(bob.messages.find((m) => m.action?.kind === RoomActionKind.SET_TOPIC)?.text).toBe("alice set the topic: party on friday");

    // A member may not moderate: the refusal comes back as the promise's rejection.
    const refused = await bob.session.moderate("plans", { kind: RoomActionKind.KICK, targetUser: "alice" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RoomCommandError);
    expect((refused as RoomCommandError).code).toBe(ErrorCode.PERMISSION_DENIED);

    // Creating a room that exists is refused, and leaves nothing behind.
    const again = await bob.session.createRoom("plans").catch((e: unknown) => e);
    expect(again).toBeInstanceOf(RoomCommandError);
    const taken = await carol.session.createRoom("plans").catch((e: unknown) => e);
    expect((taken as RoomCommandError).code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(carol.session.roomNames).toEqual([]);
  });

  it("a ban: the banned client leaves the room, is told who and why, and does not rejoin it after a reconnect", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await user(server, kind, "alice");
    await alice.session.createRoom("town");
    let cut = false;
    const bob = await user(server, kind, "bob", (_c, events) => (cut ? ((cut = false), "drop") : events));
    bob.session.join("town");
    bob.session.join("lobby");
    await live(bob.session, "town");
    await live(bob.session, "lobby");
    const userId = bob.session.userIdOf("town", "bob") ?? "bob";

    const ban = await alice.session.moderate("town", { kind: RoomActionKind.BAN, targetUser: userId, reason: "spam" });
    expect(ban.text).toBe("bob was banned by alice: spam");
    await waitUntil(() => bob.removed.length === 1, "bob to be removed");
    expect(bob.removed[0]).toMatchObject({ room: "town", reason: LeaveReason.BANNED });
    expect(bob.removed[0].action?.sender).toBe("alice");
    expect(bob.removed[0].action?.action?.reason).toBe("spam");
    expect(bob.session.roomNames).toEqual(["lobby"]);
    // What bob queued for the room is given up on, not kept for a rejoin.
    expect(bob.session.send("town", "let me back").ok).toBe(false);

    // The connection drops (at the next frame: alice's message in lobby): lobby is rejoined, town is not.
    alice.session.join("lobby");
    await live(alice.session, "lobby");
    cut = true;
    alice.session.send("lobby", "poke");
    await waitUntil(() => bob.connected === 2 && bob.session.isLive("lobby"), "bob to reconnect and rejoin lobby");
    expect(joinsOn(bob.sent.at(-1)!)).toEqual(["lobby"]);
    expect(bob.session.roomNames).toEqual(["lobby"]);

    // Asked by hand, the join is refused as a ban (not taken for a nickname problem).
    bob.session.join("town");
    await waitUntil(() => bob.joinFailed.length === 1, "bob's join to be refused");
    expect(bob.joinFailed[0]).toMatchObject({ room: "town", code: ErrorCode.PERMISSION_DENIED });
    expect(bob.joinFailed[0].message).toMatch(/banned/);
    expect(bob.nicknameRefused).toBe(0);
    expect(bob.session.roomNames).toEqual(["lobby"]);
  });

  it("banned while away: the rejoin is refused as a ban (not as a nickname problem) and the room is given up", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await user(server, kind, "alice");
    await alice.session.createRoom("town");
    let cut = false;
    const bob = await user(server, kind, "bob", (_c, events) => (cut ? ((cut = false), "drop") : events));
    let disconnected = 0;
    bob.session.on("disconnected", () => disconnected++);
    bob.session.join("town");
    bob.session.join("lobby");
    await live(bob.session, "town");
    await live(bob.session, "lobby");

    // Bob's connection drops and stays down while alice bans him.
    bob.tamper.offline = true;
    cut = true;
    alice.session.send("town", "poke");
    await waitUntil(() => disconnected === 1, "bob's connection to drop");
    await alice.session.moderate("town", { kind: RoomActionKind.BAN, targetUser: "bob", reason: "spam" });
    bob.tamper.offline = false;

    await waitUntil(() => bob.joinFailed.length === 1 && bob.session.isLive("lobby"), "bob's rejoin of town to be refused");
    expect(bob.joinFailed[0]).toMatchObject({ room: "town", code: ErrorCode.PERMISSION_DENIED });
    expect(bob.joinFailed[0].message).toMatch(/banned/);
    expect(bob.nicknameRefused).toBe(0);
    expect(bob.session.roomNames).toEqual(["lobby"]);
  });

  it("direct messages: opened from either side, it is the same room; both see it in their rooms, under the other's id", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await user(server, kind, "alice");
    const bob = await user(server, kind, "bob");
    const [fromAlice, fromBob] = await Promise.all([alice.session.openDirect("bob"), bob.session.openDirect("alice")]);
    expect(fromAlice).toBe(fromBob);
    expect(fromAlice).toMatch(/^dm\.[0-9a-f]{40}$/);
    expect(alice.session.directUser(fromAlice)).toBe("bob");
    expect(bob.session.directUser(fromBob)).toBe("alice");

    alice.session.join(fromAlice);
    bob.session.join(fromBob);
    await live(alice.session, fromAlice);
    await live(bob.session, fromBob);
    expect(alice.session.roomState(fromAlice)).toMatchObject({ visibility: RoomVisibility.PRIVATE, directUserId: "bob" });
    alice.session.send(fromAlice, "psst");
    await waitUntil(() => bob.messages.some((m) => m.text === "psst" && m.room === fromAlice), "bob to get the direct message");

    const mine = await alice.session.myRooms();
    const dm = mine.find((r) => r.name === fromAlice);
    expect(dm).toMatchObject({ directUserId: "bob" });
    expect(dm?.lastMessage?.text).toBe("psst");

    // Opening it again finds the same room.
    expect(await alice.session.openDirect("bob")).toBe(fromAlice);
    const self = await alice.session.openDirect("alice").catch((e: unknown) => e);
    expect((self as RoomCommandError).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it("an action whose acknowledgement is lost with the connection is sent again with the same id and applied once", async () => {
    const server = await startTestServer({ authSecret: secret });
    let dropped = false;
    // Lose the connection instead of delivering the mute's entry, once.
    const isMute = (e: ServerEvent) => e.event.case === "message" && e.event.value.action?.kind === RoomActionKind.MUTE;
    const alice = await user(server, kind, "alice", (_c, events) => (!dropped && events.some(isMute) ? ((dropped = true), "drop") : events));
    await alice.session.createRoom("hall");
    const bob = await user(server, kind, "bob");
    bob.session.join("hall");
    await live(bob.session, "hall");

    const muted = await alice.session.moderate("hall", { kind: RoomActionKind.MUTE, targetUser: "bob", reason: "calm down" });
    expect(dropped).toBe(true);
    expect(muted.text).toBe("bob was muted by alice: calm down");
    const history = await createChatClient(server.baseUrl, { token: await mint("alice") }).getHistory({ room: "hall", limit: 100 });
    expect(history.messages.filter((m) => m.action?.kind === RoomActionKind.MUTE)).toHaveLength(1);
    const moderates = alice.sent.flat().filter((r) => r.command.case === "moderate");
    expect(moderates.length).toBe(2);
    expect(new Set(moderates.map((r) => (r.command.value as { clientActionId: string }).clientActionId)).size).toBe(1);

    // The muted client knows it, and says so before sending.
    await waitUntil(() => bob.session.roomState("hall")?.muted === true, "bob to know he is muted");
    expect(bob.session.send("hall", "hello?")).toMatchObject({ ok: false, reason: "you are muted in #hall" });
  });

  it("a create whose answer is lost is refused, saying it may have happened (not resent); a join then tells", async () => {
    const server = await startTestServer({ authSecret: secret });
    let dropped = false;
    const isJoined = (e: ServerEvent) => e.event.case === "joined" && e.event.value.room === "den";
    const alice = await user(server, kind, "alice", (_c, events) => (!dropped && events.some(isJoined) ? ((dropped = true), "drop") : events));
    alice.session.join("lobby");
    await live(alice.session, "lobby");
    const lost = await alice.session.createRoom("den", { visibility: "private" }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(RoomCommandError);
    expect((lost as RoomCommandError).message).toBe("the connection was lost before the server answered: #den may or may not have been created (joining it tells)");
    expect(alice.session.roomNames).toEqual(["lobby"]);
    await live(alice.session, "lobby");
    expect(alice.sent.flat().filter((r) => r.command.case === "createRoom")).toHaveLength(1);
    alice.session.join("den");
    await live(alice.session, "den");
    expect(alice.session.roomState("den")).toMatchObject({ visibility: RoomVisibility.PRIVATE, yourRole: RoomRole.OWNER });
  });

  it("an action asked while disconnected goes out once connected", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await user(server, kind, "alice");
    await alice.session.createRoom("den");
    let cut = false;
    const bob = await user(server, kind, "bob", (_c, events) => (cut ? ((cut = false), "drop") : events));
    bob.session.join("den");
    await live(bob.session, "den");
    await alice.session.moderate("den", { kind: RoomActionKind.SET_ROLE, targetUser: "bob", role: RoomRole.MODERATOR });
    await waitUntil(() => bob.session.roomState("den")?.yourRole === RoomRole.MODERATOR, "bob to learn he is a moderator");

    bob.tamper.offline = true;
    cut = true;
    alice.session.send("den", "poke");
    await waitUntil(() => !bob.session.connected, "bob's connection to drop");
    const topic = bob.session.moderate("den", { kind: RoomActionKind.SET_TOPIC, topic: "set while away" });
    bob.tamper.offline = false;
    expect((await topic).text).toBe("bob set the topic: set while away");
    await waitUntil(() => alice.session.roomState("den")?.topic === "set while away", "alice to see the topic");
  });

  it("a direct room the other user created is told at once (the server pushes it), reported as not asked for", async () => {
    const server = await startTestServer({ authSecret: secret });
    const bob = await user(server, kind, "bob");
    const opened: { room: string; userId: string; asked: boolean }[] = [];
    bob.session.on("directOpened", (d) => opened.push(d));
    bob.session.join("lobby");
    await live(bob.session, "lobby");
    const alice = await user(server, kind, "alice");
    const room = await alice.session.openDirect("bob");
    await waitUntil(() => opened.length === 1, "bob to hear of the conversation");
    expect(opened[0]).toEqual({ room, userId: "alice", asked: false });
    expect(bob.session.directUser(room)).toBe("alice");
    bob.session.join(room);
    await live(bob.session, room);
    // Opened again, by either: nobody is told anything new.
    expect(await bob.session.openDirect("alice")).toBe(room);
    expect(await alice.session.openDirect("bob")).toBe(room);
    expect(opened).toEqual([{ room, userId: "alice", asked: false }, { room, userId: "alice", asked: true }]);
  });

  it("without authentication, an action resent after a reconnect goes out after the rejoin (it is taken under our nickname there)", async () => {
    const server = await startTestServer();
    let dropped = false;
    const isKick = (e: ServerEvent) => e.event.case === "message" && e.event.value.action?.kind === RoomActionKind.KICK;
    const alice = await user(server, kind, "alice", (_c, events) => (!dropped && events.some(isKick) ? ((dropped = true), "drop") : events), false);
    await alice.session.createRoom("hall");
    const bob = await user(server, kind, "bob", undefined, false);
    bob.session.join("hall");
    await live(bob.session, "hall");
    const kicked = await alice.session.moderate("hall", { kind: RoomActionKind.KICK, targetUser: "bob" });
    expect(dropped).toBe(true);
    expect(kicked.text).toBe("bob was kicked by alice");
    await waitUntil(() => bob.removed.length === 1, "bob to be kicked");
    expect(bob.removed[0].reason).toBe(LeaveReason.KICKED);
  });
});

describe("what the client core keeps of a room's state (no server)", () => {
  const joined = (lastSeq: bigint) =>
    create(JoinedEventSchema, {
      room: "town",
      nickname: "ann",
      userId: "u-ann",
      lastSeq,
      members: [
        { nickname: "ann", userId: "u-ann" },
        { nickname: "bob", userId: "u-bob" },
      ],
      state: { visibility: RoomVisibility.PUBLIC, topic: "now", yourRole: RoomRole.MEMBER },
    });
  const entry = (seq: bigint, action: Record<string, unknown>, text = "") =>
    create(ChatMessageSchema, { room: "town", seq, sender: "carol", senderId: "u-carol", text, action });

  it("applies action entries newer than the joined state only (a replay does not undo it), and about us only", () => {
    const changes: RoomStateView[] = [];
    const admin = new RoomAdmin(() => "id", (_room, state) => changes.push({ ...state }));
    admin.onJoined(joined(10n));
    // Replayed entries the joined state already includes.
    admin.onMessage(entry(5n, { kind: RoomActionKind.SET_TOPIC, topic: "old" }), true);
    admin.onMessage(entry(6n, { kind: RoomActionKind.MUTE, targetUser: "u-ann" }), true);
    expect(admin.state("town")).toMatchObject({ topic: "now", muted: false, yourRole: RoomRole.MEMBER });
    // Newer ones.
    admin.onMessage(entry(11n, { kind: RoomActionKind.SET_TOPIC, topic: "later" }), true);
    admin.onMessage(entry(12n, { kind: RoomActionKind.SET_ROLE, targetUser: "u-bob", role: RoomRole.OWNER }), true);
    admin.onMessage(entry(13n, { kind: RoomActionKind.SET_ROLE, targetUser: "u-ann", role: RoomRole.MODERATOR }), true);
    admin.onMessage(entry(14n, { kind: RoomActionKind.MUTE, targetUser: "u-ann", until: { seconds: BigInt(Math.floor(Date.now() / 1000) + 60) } }), true);
    expect(admin.state("town")).toMatchObject({ topic: "later", yourRole: RoomRole.MODERATOR, muted: true });
    expect(isMutedNow(admin.state("town"))).toBe(true);
    expect(isMutedNow(admin.state("town"), Date.now() + 120_000)).toBe(false);
    expect(changes.map((c) => c.topic)).toEqual(["now", "later", "later", "later"]);
  });

  it("keeps the read receipts setting as joined and as later set (what the page's dialog offers as the current one)", () => {
    const admin = new RoomAdmin(() => "id", () => {});
    admin.onJoined(joined(10n));
    expect(admin.state("town")?.readReceipts).toBe(ReadReceiptsSetting.UNSPECIFIED);
    admin.onMessage(entry(9n, { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.ON }), true);
    expect(admin.state("town")?.readReceipts).toBe(ReadReceiptsSetting.UNSPECIFIED);
    admin.onMessage(entry(11n, { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF }), true);
    expect(admin.state("town")?.readReceipts).toBe(ReadReceiptsSetting.OFF);
    admin.onJoined(create(JoinedEventSchema, { room: "town", userId: "u-ann", lastSeq: 20n, state: { readReceipts: ReadReceiptsSetting.ON } }));
    expect(admin.state("town")?.readReceipts).toBe(ReadReceiptsSetting.ON);
  });

  it("knows members' user ids by nickname (what /kick NAME acts on), and who removed us", () => {
    const admin = new RoomAdmin(() => "id", () => {});
    admin.onJoined(joined(1n));
    expect(admin.userIdOf("town", "bob")).toBe("u-bob");
    admin.memberJoined("town", { nickname: "dave", userId: "u-dave" } as never);
    expect(admin.userIdOf("town", "dave")).toBe("u-dave");
    expect(admin.userIdOf("town", "nobody")).toBeUndefined();
    admin.onMessage(entry(2n, { kind: RoomActionKind.BAN, targetUser: "u-ann", reason: "spam" }, "ann was banned by carol: spam"), true);
    expect(admin.removalOf("town")?.text).toBe("ann was banned by carol: spam");
    expect(admin.userIdOf("town", "carol")).toBe("u-carol");
  });
});

