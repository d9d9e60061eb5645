/**
 * Read positions (issue 19, item 5) as clients see them: a signed-in user
 * marks a room read, the position is stored per user and room, the user's
 * other sessions (on any node) are told, and joins and "my rooms" report
 * where the user stands with unread counts.
 */
import { createClient } from "@connectrpc/connect";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatService, ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { AUTH_SECRET, createRoom, RoomVisibility, token } from "./support/rooms.js";
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

async function device(baseUrl: string, sub: string, label = sub): Promise<ChatTester> {
  return ChatTester.connect(baseUrl, label, { token: await token(sub) });
}

function markRead(t: ChatTester, room: string, seq: number): void {
  t.request({ command: { case: "markRead", value: { room, seq: BigInt(seq) } } });
}

/** Bob says `texts` in the room; resolves with their numbers once he has them back. */
async function say(bob: ChatTester, room: string, texts: string[]): Promise<number[]> {
  const ids = texts.map((text) => bob.send(room, text));
  const seqs: number[] = [];
  for (const id of ids) seqs.push(Number((await bob.waitFor("message", (m) => m.clientMsgId === id)).seq));
  return seqs;
}

describe("read positions (embedded)", () => {
  it("marking read on the phone tells the laptop and a tab not in the room; a new join and 'my rooms' report it", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const phone = await device(server.baseUrl, "ann", "phone");
    createRoom(phone, "den", { visibility: RoomVisibility.PRIVATE, invite: ["bob"] });
    await phone.joined("den");
    const laptop = await device(server.baseUrl, "ann", "laptop");
    laptop.join("den", "");
    await laptop.joined("den");
    const tab = await device(server.baseUrl, "ann", "tab"); // signed in, in no room
    await waitUntil(() => server.hub.sessionCount === 3 || undefined, "the tab's session open");
    const bob = await device(server.baseUrl, "bob");
    bob.join("den", "");
    await bob.joined("den");
    const [, second, third] = await say(bob, "den", ["one", "two", "three"]);

    markRead(phone, "den", second);
    const answer = await phone.waitFor("readPosition", (e) => e.room === "den");
    expect(answer).toMatchObject({ readSeq: BigInt(second), unreadCount: 1 });
    expect(await laptop.waitFor("readPosition", (e) => e.room === "den")).toMatchObject({ readSeq: BigInt(second), unreadCount: 1 });
    expect(await tab.waitFor("readPosition", (e) => e.room === "den")).toMatchObject({ readSeq: BigInt(second), unreadCount: 1 });
    expect(phone.of("readPosition")).toHaveLength(1); // answered once, not told again
    expect(bob.of("readPosition")).toEqual([]);

    // Never back; never beyond the room's last number.
    markRead(laptop, "den", 1);
    expect(await laptop.waitFor("readPosition", (e) => e.readSeq === BigInt(second) && laptop.of("readPosition").length === 2)).toBeDefined();
    markRead(laptop, "den", third + 5);
    expect(await laptop.error((e) => e.room === "den")).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/beyond the last message/) });

    // A new device joins knowing where the user stands; "my rooms" says the same.
    const desktop = await device(server.baseUrl, "ann", "desktop");
    desktop.join("den", "");
    expect(await desktop.joined("den")).toMatchObject({ readSeq: BigInt(second), unreadCount: 1 });
    const api = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("ann") }));
    const mine = await api.listRooms({ mine: true });
    expect(mine.rooms.find((r) => r.name === "den")).toMatchObject({ readSeq: BigInt(second), unreadCount: 1 });
  });

  it("without authentication a read position is refused, and the stream stays usable", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby", "ann");
    await a.joined("lobby");
    markRead(a, "lobby", 0);
    expect(await a.error()).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, room: "lobby", message: expect.stringMatching(/signed-in users/) });
    markRead(a, "nowhere", 0);
    expect((await a.error((e) => e.room === "nowhere")).code).toBe(ErrorCode.NOT_FOUND);
    const id = a.send("lobby", "still here");
    await a.waitFor("message", (m) => m.clientMsgId === id);
  });
});

describe("read positions across nodes (Redis)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  it("a room read on one node shows read on the user's session on another, and on a node started later", async ({ skip }) => {
    if (!redisUp) return skip();
    const prefix = uniquePrefix("reads");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--rate-limit", "0", "--auth-secret", AUTH_SECRET];
    const [a, b] = await Promise.all([spawnServer(args), spawnServer(args)]);
    const phone = await device(a.baseUrl, "ann", "phone");
    const laptop = await device(b.baseUrl, "ann", "laptop");
    const bob = await device(a.baseUrl, "bob");
    for (const t of [phone, laptop, bob]) {
      t.join("hall", "");
      await t.joined("hall");
    }
    const [first, second] = await say(bob, "hall", ["one", "two"]);
    markRead(phone, "hall", first);
    expect(await phone.waitFor("readPosition", () => true)).toMatchObject({ readSeq: BigInt(first), unreadCount: 1 });
    expect(await laptop.waitFor("readPosition", () => true)).toMatchObject({ room: "hall", readSeq: BigInt(first), unreadCount: 1 });
    markRead(laptop, "hall", second);
    expect(await phone.waitFor("readPosition", (e) => e.readSeq === BigInt(second))).toMatchObject({ unreadCount: 0 });
    // Kept in Redis: a session on a fresh node joins knowing it.
    const c = await spawnServer(args);
    const tablet = await device(c.baseUrl, "ann", "tablet");
    tablet.join("hall", "");
    expect(await tablet.joined("hall")).toMatchObject({ readSeq: BigInt(second), unreadCount: 0 });
  });
});
