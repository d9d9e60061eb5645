/**
 * Rooms and rights on the Redis log, across nodes (issue 18): a room's state
 * lives in Redis and every node enforces it at once, in the same atomic step
 * that stores or admits. Each test runs two RedisRoomLog instances ("nodes")
 * on one key prefix, on a single Redis and on a three-master Redis Cluster
 * started by this file.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatResponseSchema, ErrorCode, RoomActionKind, RoomActionSchema, RoomRole, RoomVisibility, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { Redis } from "ioredis";
import { userRoomsKey } from "../src/log/redis/keys.js";
import { RedisRoomLog } from "../src/log/redis/redis-log.js";
import { USER_INDEX_SCRIPT } from "../src/log/redis/scripts.js";
import type { ActOutcome, ActRequest, LogEntry, MemberRecord, PublishOutcome, RoomListener, RoomPosition } from "../src/log/room-log.js";
import type { ActionInput, Actor } from "../src/rooms/room-state.js";
import { defaultRetention } from "../src/store/retention.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, uniquePrefix, type RedisCluster } from "./support/redis.js";
import { waitUntil } from "./support/wait.js";

let redisUp = false;
let cluster: RedisCluster | undefined;
const opened: RedisRoomLog[] = [];
const prefixes: string[] = [];
/** The key prefix of the nodes twoNodes() opened last. */
let lastPrefix = "";

beforeAll(async () => {
  redisUp = await redisAnswers();
  if (redisUp) cluster = await startRedisCluster();
}, 60_000);

afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
});

afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(REDIS_URL, prefix).catch(() => {});
  await cluster?.stop();
}, 30_000);

const targets = [
  { name: "Redis", target: () => (redisUp ? { url: REDIS_URL, cluster: false } : undefined) },
  { name: "Redis Cluster (3 masters)", target: () => (cluster ? { url: cluster.url, cluster: true } : undefined) },
];

const owner: Actor = { userId: "u-owner", name: "Olga" };
const admin: Actor = { userId: "admin", name: "admin", admin: true };
const member = (nickname: string): MemberRecord => ({ nickname, skeleton: nickname.toLowerCase(), joinedAtMs: Date.now(), userId: `u-${nickname}` });
const send = (room: string, userId: string, text: string, clientMsgId = "", grant?: RoomRole) => ({
  room,
  sender: userId.replace(/^u-/, ""),
  text,
  clientMsgId,
  sentAtMs: Date.now(),
  senderId: userId,
  grant,
});
const act = (room: string, actor: Actor, action: ActionInput, clientActionId = ""): ActRequest => ({ room, actor, action, clientActionId, sentAtMs: Date.now() });

const decode = (e: LogEntry): ChatMessage => {
  const event = fromBinary(ChatResponseSchema, e.event).events[0].event;
  if (event.case !== "message") throw new Error("not a message");
  return event.value;
};

function recorder() {
  const entries: LogEntry[] = [];
  const resets: RoomPosition[] = [];
  const l: RoomListener = { entries: (_r, e) => entries.push(...e), presence: () => {}, signal: () => {}, reset: (_r, p) => resets.push(p) };
  return { l, entries, resets };
}

function stored(o: ActOutcome | PublishOutcome): number {
  if (o.kind !== "stored") throw new Error(`expected stored, got ${JSON.stringify(o)}`);
  return o.seq;
}

describe.each(targets)("rooms and rights on $name", ({ target }) => {
  /** Two nodes on one fresh prefix. */
  async function twoNodes(): Promise<[RedisRoomLog, RedisRoomLog]> {
    const t = target()!;
    const prefix = uniquePrefix("rooms");
    lastPrefix = prefix;
    if (!t.cluster) prefixes.push(prefix);
    const nodes = [0, 1].map(() => new RedisRoomLog({ ...t, prefix, retention: defaultRetention, leaseMs: 3000 }));
    opened.push(...nodes);
    for (const n of nodes) expect(await n.connect()).toBe(true);
    return nodes as [RedisRoomLog, RedisRoomLog];
  }

  it("a ban on one node refuses the banned user's join and sends on another at once", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    stored(await one.act(act("cafe", owner, { kind: RoomActionKind.CREATE, topic: "coffee" })));
    expect(await two.claim("cafe", member("bob"), 100, "", { userId: "u-bob" })).toMatchObject({ kind: "claimed" });
    stored(await two.publish(send("cafe", "u-bob", "hi")));

    stored(await one.act(act("cafe", owner, { kind: RoomActionKind.BAN, targetUser: "u-bob", reason: "spam" })));
    // No waiting: the state is in Redis, checked by the script that would store.
    const refused = await two.publish(send("cafe", "u-bob", "still here?"));
    expect(refused).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(refused.kind === "refused" && refused.message).toBe("you are banned from room cafe: spam");
    expect(await two.claim("cafe", member("bobby"), 100, "", { userId: "u-bob" })).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    // Others are untouched; an unban lets bob in again, also at once.
    stored(await two.publish(send("cafe", "u-ann", "hello")));
    stored(await one.act(act("cafe", owner, { kind: RoomActionKind.UNBAN, targetUser: "u-bob" })));
    expect(await two.claim("cafe", member("bobby"), 100, "", { userId: "u-bob" })).toMatchObject({ kind: "claimed" });
    stored(await two.publish(send("cafe", "u-bob", "back")));
  });

  it("a mute refuses sends but not joins; a private room admits members and token grants only, and hides itself from others", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    stored(await one.act(act("club", owner, { kind: RoomActionKind.CREATE, visibility: RoomVisibility.PRIVATE, roles: { "u-ann": RoomRole.MEMBER } })));
    expect(await two.claim("club", member("eve"), 100, "", { userId: "u-eve" })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    expect(await two.publish(send("club", "u-eve", "let me in"))).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    expect(await two.claim("club", member("eve"), 100, "", { userId: "u-eve", grant: RoomRole.MEMBER })).toMatchObject({ kind: "claimed" });
    stored(await two.publish(send("club", "u-eve", "granted", "", RoomRole.MEMBER)));
    expect(await two.claim("club", member("ann"), 100, "", { userId: "u-ann" })).toMatchObject({ kind: "claimed" });
    stored(await two.publish(send("club", "u-ann", "member")));

    stored(await one.act(act("club", owner, { kind: RoomActionKind.MUTE, targetUser: "u-ann", untilMs: Date.now() + 60_000 })));
    const muted = await two.publish(send("club", "u-ann", "muted?"));
    expect(muted).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(muted.kind === "refused" && muted.message).toMatch(/^you are muted in room club until /);
    expect(await two.claim("club", member("ann2"), 100, "", { userId: "u-ann" })).toMatchObject({ kind: "claimed" });
    // A trusted sender (no senderId: the admin API's Publish) is not checked.
    stored(await two.publish({ room: "club", sender: "ann", text: "via admin", clientMsgId: "", sentAtMs: Date.now() }));
    // Kicked from a private room: no longer a member, so no longer admitted.
    stored(await one.act(act("club", owner, { kind: RoomActionKind.KICK, targetUser: "u-ann" })));
    expect(await two.claim("club", member("ann3"), 100, "", { userId: "u-ann" })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("nothing the log acknowledges after a ban's entry is from the banned user, while they send as fast as they can from another node", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    const seen = recorder();
    await one.subscribe("race", seen.l);
    stored(await one.act(act("race", owner, { kind: RoomActionKind.CREATE })));
    const outcomes: PublishOutcome[] = [];
    let banSeq = 0;
    let i = 0;
    // Bob keeps 20 sends in flight from node two until the ban's outcome is known, and a little after.
    const sender = (async () => {
      let after = 0;
      while (after < 40) {
        const banned = banSeq > 0;
        const batch = await Promise.all(Array.from({ length: 20 }, () => two.publish(send("race", "u-bob", `m${++i}`, `k${i}`))));
        outcomes.push(...batch);
        if (banned) after += batch.length; // sent after the ban was acknowledged: all refused
      }
    })();
    await waitUntil(() => outcomes.length >= 40, "bob's first sends", 10_000);
    banSeq = stored(await one.act(act("race", owner, { kind: RoomActionKind.BAN, targetUser: "u-bob" })));
    await sender;

    const accepted = outcomes.filter((o) => o.kind === "stored").map((o) => (o.kind === "stored" ? o.seq : 0));
    expect(accepted.length).toBeGreaterThan(0);
    expect(Math.max(...accepted)).toBeLessThan(banSeq);
    expect(outcomes.filter((o) => o.kind === "refused").length).toBeGreaterThanOrEqual(40);
    // What every node delivers says the same: the ban, then nothing from bob.
    const last = accepted.length + 2;
    await waitUntil(() => seen.entries.length >= last, "every entry delivered");
    const afterBan = seen.entries.filter((e) => e.seq > banSeq).map(decode);
    expect(afterBan.filter((m) => m.senderId === "u-bob")).toEqual([]);
    const ban = seen.entries.find((e) => e.seq === banSeq)!;
    expect(ban.action).toBeDefined();
    expect(fromBinary(RoomActionSchema, ban.action!)).toMatchObject({ kind: RoomActionKind.BAN, targetUser: "u-bob" });
    expect(decode(ban)).toMatchObject({ senderId: owner.userId, sender: owner.name, text: "u-bob was banned by Olga" });
  });

  it("two nodes acting at once on one room: every action applied once, versions in the order of the entries", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    stored(await one.act(act("busy", owner, { kind: RoomActionKind.CREATE })));
    const invites = Array.from({ length: 8 }, (_, i) => one.act(act("busy", owner, { kind: RoomActionKind.INVITE, targetUser: `u-i${i}` })));
    const mutes = Array.from({ length: 8 }, (_, i) => two.act(act("busy", owner, { kind: RoomActionKind.MUTE, targetUser: `u-m${i}` })));
    const outcomes = await Promise.all([...invites, ...mutes]);
    const applied = outcomes.map((o) => {
      if (o.kind !== "stored") throw new Error(`not applied: ${JSON.stringify(o)}`);
      return { seq: o.seq, version: o.state!.version };
    });
    applied.sort((a, b) => a.seq - b.seq);
    // Entry 1 is the create (version 1); each action after it is the next entry and the next version.
    expect(applied.map((a) => a.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));
    expect(applied.map((a) => a.version)).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));
    for (const node of [one, two]) {
      const state = (await node.state("busy"))!;
      expect(state.version).toBe(17);
      expect(Object.keys(state.roles).sort()).toEqual([owner.userId, ...Array.from({ length: 8 }, (_, i) => `u-i${i}`)].sort());
      expect(Object.keys(state.mutes).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `u-m${i}`).sort());
    }
  });

  it("an action is an entry like a message: numbered with them, read back with its action and sender id, resent under its key once", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    const seen = recorder();
    await two.subscribe("log", seen.l);
    expect(await one.exists("log")).toBe(false);
    const created = await one.act(act("log", owner, { kind: RoomActionKind.CREATE, topic: "t" }, "c1"));
    expect(created).toMatchObject({ kind: "stored", seq: 1, state: { version: 1, topic: "t", roles: { [owner.userId]: RoomRole.OWNER } } });
    expect(await two.exists("log")).toBe(true);
    stored(await two.publish(send("log", "u-ann", "hello", "m1")));
    const topic = await one.act(act("log", owner, { kind: RoomActionKind.SET_TOPIC, topic: "new" }, "c2"));
    expect(topic).toMatchObject({ kind: "stored", seq: 3 });
    // Resent: the original, nothing new; the key for another action: a conflict.
    const again = await two.act(act("log", owner, { kind: RoomActionKind.SET_TOPIC, topic: "new" }, "c2"));
    expect(again).toMatchObject({ kind: "duplicate", original: { seq: 3, senderId: owner.userId, text: "Olga set the topic: new" } });
    expect(again.kind === "duplicate" && fromBinary(RoomActionSchema, again.original.action!).topic).toBe("new");
    expect(await two.act(act("log", owner, { kind: RoomActionKind.SET_TOPIC, topic: "other" }, "c2"))).toEqual({ kind: "conflict" });
    expect(await one.act(act("log", owner, { kind: RoomActionKind.CREATE }, "c3"))).toMatchObject({ kind: "refused", code: ErrorCode.ALREADY_EXISTS });
    expect((await two.state("log"))!.topic).toBe("new");

    await waitUntil(() => seen.entries.length === 3, "three entries delivered");
    expect(seen.entries.map((e) => [e.seq, e.action !== undefined])).toEqual([[1, true], [2, false], [3, true]]);
    for (const entries of [await two.read("log", 0, { maxMessages: 10, maxBytes: 1 << 20 }), await one.recent("log", 3, { maxMessages: 10, maxBytes: 1 << 20 })]) {
      expect(entries.map((e) => [e.seq, e.action ? fromBinary(RoomActionSchema, e.action).kind : undefined])).toEqual([
        [1, RoomActionKind.CREATE],
        [2, undefined],
        [3, RoomActionKind.SET_TOPIC],
      ]);
    }
    const page = await one.history("log", { limit: 10 });
    expect(page.messages.map((m) => [m.seq, m.senderId, m.action !== undefined])).toEqual([
      [1, owner.userId, true],
      [2, "u-ann", false],
      [3, owner.userId, true],
    ]);
  });

  it("lists a user's rooms from any node, and a deleted room is gone everywhere after its entry went out", async ({ skip }) => {
    if (!target()) return skip();
    const [one, two] = await twoNodes();
    const seen = recorder();
    const { epoch } = await two.subscribe("b-room", seen.l);
    stored(await one.act(act("b-room", owner, { kind: RoomActionKind.CREATE, roles: { "u-ann": RoomRole.MEMBER } })));
    stored(await one.act(act("a-room", owner, { kind: RoomActionKind.CREATE })));
    stored(await two.act(act("a-room", owner, { kind: RoomActionKind.INVITE, targetUser: "u-ann" })));
    stored(await two.act(act("c-room", owner, { kind: RoomActionKind.CREATE, visibility: RoomVisibility.PRIVATE })));
    expect(await two.claim("b-room", member("ann"), 100, "", { userId: "u-ann" })).toMatchObject({ kind: "claimed" });
    stored(await two.publish(send("b-room", "u-ann", "hi")));

    const anns = await one.userRooms("u-ann", 10);
    expect(anns.map((r) => [r.name, r.state.roles["u-ann"], r.lastSeq, r.memberCount])).toEqual([
      ["a-room", RoomRole.MEMBER, 2, 0],
      ["b-room", RoomRole.MEMBER, 2, 1],
    ]);
    expect(anns[1].last).toMatchObject({ seq: 2, text: "hi", senderId: "u-ann" });
    expect((await two.userRooms(owner.userId, 2)).map((r) => r.name)).toEqual(["a-room", "b-room"]);

    stored(await one.act(act("a-room", owner, { kind: RoomActionKind.KICK, targetUser: "u-ann" })));
    expect((await two.userRooms("u-ann", 10)).map((r) => r.name)).toEqual(["b-room"]);

    const deleted = await two.act(act("b-room", admin, { kind: RoomActionKind.DELETE, reason: "closed" }));
    expect(deleted).toMatchObject({ kind: "stored", seq: 3, state: undefined });
    await waitUntil(() => seen.entries.some((e) => e.seq === 3), "the delete's entry delivered");
    expect(fromBinary(RoomActionSchema, seen.entries.find((e) => e.seq === 3)!.action!).kind).toBe(RoomActionKind.DELETE);
    // Then the other node's subscription starts again on the room's new history.
    await waitUntil(() => seen.resets.length === 1, "the reset after the delete");
    expect(seen.resets[0]).toMatchObject({ firstSeq: 0, lastSeq: 0 });
    expect(seen.resets[0].epoch).not.toBe(epoch);
    for (const node of [one, two]) {
      expect(await node.state("b-room")).toBeUndefined();
      expect(await node.exists("b-room")).toBe(false);
      expect((await node.history("b-room", { limit: 10 })).messages).toEqual([]);
      expect((await node.members("b-room", "", 10)).memberCount).toBe(0);
      expect((await node.userRooms("u-ann", 10)).map((r) => r.name)).toEqual([]);
    }
    // A late index write of an older state (a slow node) does not bring a room back into a user's list.
    if (!target()!.cluster) {
      const redis = new Redis(REDIS_URL);
      try {
        const key = userRoomsKey(lastPrefix, "u-ann");
        const kicked = await redis.hget(key, "a-room");
        expect(kicked).toMatch(/^0 /);
        const [, createdAt, version] = kicked!.split(" ");
        expect(await redis.eval(USER_INDEX_SCRIPT, 1, key, "a-room", RoomRole.MEMBER, createdAt, Number(version) - 1, Date.now())).toBe(0);
        expect(await redis.hget(key, "a-room")).toBe(kicked);
      } finally {
        redis.disconnect();
      }
    }
    // The name is free again.
    expect(await one.act(act("b-room", owner, { kind: RoomActionKind.CREATE }))).toMatchObject({ kind: "stored", state: { version: 1 } });
    expect((await two.userRooms(owner.userId, 10)).map((r) => r.name)).toEqual(["a-room", "b-room", "c-room"]);
  });
});
