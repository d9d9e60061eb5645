/**
 * Mentions (issue 19, item 4): a send names user ids; each mentioned user who
 * may see the room is told on every open session, on every node, whether or
 * not the client is in the room; joins and "my rooms" count the unread ones.
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

async function user(baseUrl: string, sub: string, label = sub): Promise<ChatTester> {
  return ChatTester.connect(baseUrl, label, { token: await token(sub) });
}

let ids = 1;
/** A send with mentions; returns its client_msg_id. */
function mention(t: ChatTester, room: string, text: string, mentions: string[]): string {
  const clientMsgId = `m-${ids++}`;
  t.request({ command: { case: "send", value: { room, text, clientMsgId, mentions } } });
  return clientMsgId;
}

describe("mentions (embedded)", () => {
  it("a mentioned member is told on every session, in the room or not; a stranger to a private room is not; joins and my rooms count them", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const bob = await user(server.baseUrl, "bob");
    createRoom(bob, "den", { visibility: RoomVisibility.PRIVATE, invite: ["ann"] });
    await bob.joined("den");
    const annInRoom = await user(server.baseUrl, "ann", "ann in den");
    annInRoom.join("den", "");
    await annInRoom.joined("den");
    const annElsewhere = await user(server.baseUrl, "ann", "ann elsewhere");
    const carol = await user(server.baseUrl, "carol");
    await waitUntil(() => server.hub.sessionCount === 4 || undefined, "every session open");

    const id = mention(bob, "den", "@ann and @carol, look", ["ann", "carol", "bob"]);
    const stored = await annInRoom.waitFor("message", (m) => m.clientMsgId === id);
    expect(stored.mentions).toEqual(["ann", "carol", "bob"]);
    for (const t of [annInRoom, annElsewhere]) {
      expect(await t.waitFor("mention", () => true)).toMatchObject({ room: "den", seq: stored.seq, sender: "bob", senderId: "bob", quote: "@ann and @carol, look" });
    }
    // Carol may not see the room; bob does not hear of his own mention. A later message proves nothing more came.
    const marker = mention(bob, "den", "@ann once more", ["ann"]);
    await annElsewhere.waitFor("mention", (e) => e.seq > stored.seq);
    await bob.waitFor("message", (m) => m.clientMsgId === marker);
    expect(carol.of("mention")).toEqual([]);
    expect(bob.of("mention")).toEqual([]);

    const later = await user(server.baseUrl, "ann", "ann later");
    later.join("den", "");
    expect(await later.joined("den")).toMatchObject({ unreadCount: 2, mentionCount: 2 });
    const api = createClient(ChatService, transportFor("grpc", server.baseUrl, { token: await token("ann") }));
    expect((await api.listRooms({ mine: true })).rooms.find((r) => r.name === "den")).toMatchObject({ unreadCount: 2, mentionCount: 2 });
  });

  it("refuses too many or repeated mentions as a typed error, nothing stored", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const bob = await user(server.baseUrl, "bob");
    bob.join("lobby", "");
    await bob.joined("lobby");
    mention(bob, "lobby", "everyone", Array.from({ length: 21 }, (_, i) => `u${i}`));
    expect(await bob.error()).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/at most 20 mentions/) });
    mention(bob, "lobby", "twice", ["ann", "ann"]);
    expect(await bob.error((e) => e.message.includes("twice"))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    mention(bob, "lobby", "empty", [""]);
    expect(await bob.error((e) => e.message.includes("user id of 1 to 256"))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect((await server.hub.history("lobby", { limit: 10 })).messages).toEqual([]);
  });
});

describe("mentions across nodes (Redis)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  it("a user mentioned on one node is told on another node, where no session is in the room", async ({ skip }) => {
    if (!redisUp) return skip();
    const prefix = uniquePrefix("mentions");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--rate-limit", "0", "--auth-secret", AUTH_SECRET];
    const [a, b] = await Promise.all([spawnServer(args), spawnServer(args)]);
    const bob = await user(a.baseUrl, "bob");
    bob.join("hall", "");
    await bob.joined("hall");
    const ann = await user(b.baseUrl, "ann");
    ann.join("elsewhere", "");
    await ann.joined("elsewhere");
    const id = mention(bob, "hall", "@ann come to the hall", ["ann"]);
    const seq = (await bob.waitFor("message", (m) => m.clientMsgId === id)).seq;
    expect(await ann.waitFor("mention", () => true)).toMatchObject({ room: "hall", seq, sender: "bob", quote: "@ann come to the hall" });
  });
});
