/**
 * The RoomLog contract, run against every implementation: the embedded log
 * (memory and SQLite stores), the Redis log on a real Redis, and the Redis
 * log on a real three-master Redis Cluster started by this file, and the Redis
 * log waiting for a replica (--redis-min-replicas 1) on a master and replica
 * started here. Whatever the
 * hub relies on holds for all of them: numbering, order, exactly-once
 * delivery, idempotency, history reads bounded in bytes, presence.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ChatResponseSchema,
  ErrorCode,
  LeaveReason,
  ReadReceiptsSetting,
  RoomActionKind,
  RoomActionSchema,
  RoomRole,
  RoomVisibility,
  type ChatMessage,
  type RoomAction,
} from "../gen/chat/v1/chat_pb.js";
import { EmbeddedRoomLog } from "../src/log/embedded-log.js";
import { UNREAD_CAP } from "../src/log/read-positions.js";
import { RedisRoomLog } from "../src/log/redis/redis-log.js";
import type { ActOutcome, LogEntry, MemberRecord, PresenceChange, RoomListener, RoomLog, RoomPosition } from "../src/log/room-log.js";
import type { ActionInput, Actor } from "../src/rooms/room-state.js";
import { MemoryHistoryStore } from "../src/store/memory-store.js";
import { defaultRetention, type Retention } from "../src/store/retention.js";
import { SqliteHistoryStore } from "../src/store/sqlite-store.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster, type RedisProcess } from "./support/redis.js";
import { waitUntil } from "./support/wait.js";

/** Runs the embedded log's end-of-turn hook on setImmediate, as the hub's scheduler does. */
function turnHooks() {
  const hooks: (() => void)[] = [];
  let scheduled = false;
  return {
    addHook: (hook: () => void) => hooks.push(hook),
    schedule: () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        for (const h of hooks) h();
      });
    },
  };
}

/** A listener that records entries per room. */
function recorder() {
  const entries: LogEntry[] = [];
  const presences: PresenceChange[] = [];
  const signals: string[] = [];
  const resets: RoomPosition[] = [];
  const l: RoomListener = {
    entries: (_room, e) => entries.push(...e),
    presence: (_room, c) => presences.push(c),
    signal: (_room, _event, from) => signals.push(from),
    reset: (_room, p) => resets.push(p),
  };
  return { l, entries, presences, signals, resets };
}

const decode = (e: LogEntry): ChatMessage => {
  const event = fromBinary(ChatResponseSchema, e.event).events[0].event;
  if (event.case !== "message") throw new Error("not a message");
  return event.value;
};

interface Backend {
  name: string;
  /** A log as one node (a Redis backend opens a new node each time). */
  open(retention?: Retention): Promise<RoomLog>;
  multiNode: boolean;
  available(): Promise<boolean>;
  cleanup?(): Promise<void>;
}

const opened: RoomLog[] = [];
const dirs: string[] = [];
let cluster: RedisCluster | undefined;
const prefixes: { url: string; prefix: string }[] = [];

function redisBackend(name: string, target: () => { url: string; cluster: boolean } | undefined, minReplicas = 0): Backend {
  let prefix = uniquePrefix("log");
  return {
    name,
    multiNode: true,
    available: async () => target() !== undefined,
    async open(retention = defaultRetention) {
      const t = target()!;
      const log = new RedisRoomLog({ ...t, prefix, retention, leaseMs: 3000, minReplicas });
      if (!(await log.connect())) throw new Error(`${name}: Redis did not answer`);
      if (!prefixes.some((p) => p.prefix === prefix)) prefixes.push({ url: t.url, prefix });
      return log;
    },
    async cleanup() {
      prefix = uniquePrefix("log");
    },
  };
}

let redisUp = false;
const backends: Backend[] = [
  {
    name: "embedded, memory store",
    multiNode: false,
    available: async () => true,
    open: async (retention = defaultRetention) => new EmbeddedRoomLog({ store: new MemoryHistoryStore(retention, undefined, 0), turn: turnHooks() }),
  },
  {
    name: "embedded, SQLite store",
    multiNode: false,
    available: async () => true,
    open: async (retention = defaultRetention) => {
      const dir = mkdtempSync(join(tmpdir(), "log-contract-"));
      dirs.push(dir);
      return new EmbeddedRoomLog({ store: new SqliteHistoryStore(join(dir, "chat.db"), { retention, pruneIntervalMs: 0 }), turn: turnHooks() });
    },
  },
  redisBackend("Redis", () => (redisUp ? { url: REDIS_URL, cluster: false } : undefined)),
  redisBackend("Redis Cluster (3 masters)", () => (cluster ? { url: cluster.url, cluster: true } : undefined)),
  // Every publish waits for the replica (WAIT) and is announced after it: the same contract.
  redisBackend("Redis with a replica, --redis-min-replicas 1", () => (withReplica ? { url: withReplica.master.url, cluster: false } : undefined), 1),
];

let withReplica: { master: RedisProcess; replica: RedisProcess } | undefined;

beforeAll(async () => {
  redisUp = await redisAnswers();
  if (redisUp) cluster = await startRedisCluster();
  if (redisUp) {
    const master = await startRedisServer();
    const replica = await startRedisServer(undefined, ["--replicaof", "127.0.0.1", String(master.port)]);
    withReplica = { master, replica };
    await waitUntil(() => spawnSync("redis-cli", ["-p", String(replica.port), "info", "replication"], { encoding: "utf8" }).stdout.includes("master_link_status:up"), "replica in sync", 20_000);
  }
}, 60_000);

afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
});

afterAll(async () => {
  for (const { url, prefix } of prefixes) {
    if (!url.includes(",")) await deletePrefix(url, prefix).catch(() => {});
  }
  await cluster?.stop();
  await withReplica?.replica.stop();
  await withReplica?.master.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 30_000);

const member = (nickname: string, skeleton = nickname.toLowerCase()): MemberRecord => ({ nickname, skeleton, joinedAtMs: Date.now() });
const req = (room: string, text: string, clientMsgId = "", sender = "ann") => ({ room, sender, text, clientMsgId, sentAtMs: Date.now() });

// Room state (issue 18): users by id, actors as the server establishes them.
const ann: Actor = { userId: "u-ann", name: "ann" };
const bob: Actor = { userId: "u-bob", name: "bob" };
const admin: Actor = { userId: "", name: "the app", admin: true };
const act = (log: RoomLog, room: string, actor: Actor, action: ActionInput, clientActionId = ""): Promise<ActOutcome> =>
  log.act({ room, actor, action, clientActionId, sentAtMs: Date.now() });
const create = (log: RoomLog, room: string, actor: Actor, extra: Partial<ActionInput> = {}) => act(log, room, actor, { kind: RoomActionKind.CREATE, ...extra });
/** A user's message, checked against the room's state. */
const post = (log: RoomLog, room: string, user: Actor, text: string, grant?: RoomRole) =>
  log.publish({ ...req(room, text, "", user.name), senderId: user.userId, ...(grant ? { grant } : {}) });
const joinAs = (log: RoomLog, room: string, user: Actor, grant?: RoomRole) =>
  log.claim(room, { ...member(user.name), userId: user.userId }, 100, undefined, { userId: user.userId, ...(grant ? { grant } : {}) });
const actionOf = (e: { action?: Uint8Array }): RoomAction | undefined => (e.action ? fromBinary(RoomActionSchema, e.action) : undefined);
const seqOf = (o: { kind: string; seq?: number }) => (o.kind === "stored" ? o.seq! : -1);

describe.each(backends)("RoomLog contract: $name", (backend) => {
  // Each test starts from an empty backend: a fresh key prefix.
  afterEach(() => backend.cleanup?.());

  async function open(retention?: Retention): Promise<RoomLog> {
    const log = await backend.open(retention);
    opened.push(log);
    return log;
  }

  it("numbers a room's messages from 1 and delivers them in order, each once, as encoded ChatMessages", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    const start = await log.subscribe("lobby", r.l);
    expect(start.lastSeq).toBe(0);
    expect(start.epoch).not.toBe("");
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => log.publish(req("lobby", `m${i + 1}`, `k${i + 1}`))));
    expect(outcomes.map((o) => (o.kind === "stored" ? o.seq : -1))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await waitUntil(() => r.entries.length === 20, "20 deliveries");
    expect(r.entries.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const first = decode(r.entries[0]);
    expect(first).toMatchObject({ room: "lobby", seq: 1n, sender: "ann", text: "m1", clientMsgId: "k1" });
    expect((await log.position("lobby")).lastSeq).toBe(20);
  });

  it("keeps rooms apart", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const a = recorder();
    const b = recorder();
    await log.subscribe("a", a.l);
    await log.subscribe("b", b.l);
    await log.publish(req("a", "to a"));
    await log.publish(req("b", "to b"));
    await log.publish(req("a", "to a again"));
    await waitUntil(() => a.entries.length === 2 && b.entries.length === 1, "deliveries").catch((e) => { throw new Error(`${e.message}: a=${a.entries.map((x) => x.seq)} b=${b.entries.map((x) => x.seq)}`); });
    expect(a.entries.map((e) => decode(e).text)).toEqual(["to a", "to a again"]);
    expect(b.entries.map((e) => [e.seq, decode(e).text])).toEqual([[1, "to b"]]);
  });

  it("stores a resend with the same key and text once, and refuses the key for another text", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("lobby", r.l);
    const first = await log.publish(req("lobby", "hello", "k"));
    const again = await log.publish(req("lobby", "hello", "k"));
    const other = await log.publish(req("lobby", "something else", "k"));
    const bob = await log.publish(req("lobby", "hello", "k", "bob"));
    expect(first).toEqual({ kind: "stored", seq: 1 });
    expect(again).toMatchObject({ kind: "duplicate", original: { seq: 1, text: "hello", sender: "ann" } });
    expect(other).toEqual({ kind: "conflict" });
    expect(bob).toEqual({ kind: "stored", seq: 2 });
  });

  it("reads history after a position and the most recent, bounded in messages and bytes", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("lobby", r.l);
    for (let i = 1; i <= 30; i++) await log.publish(req("lobby", `${i}:${"x".repeat(200)}`));
    await waitUntil(() => r.entries.length === 30, "deliveries");
    expect((await log.read("lobby", 10, { maxMessages: 5, maxBytes: 1e9 })).map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
    const bounded = await log.read("lobby", 0, { maxMessages: 100, maxBytes: 1000 });
    expect(bounded.length).toBeGreaterThan(0);
    expect(bounded.reduce((n, e) => n + e.event.length, 0)).toBeLessThanOrEqual(1000);
    // At least one entry even when one alone is over the byte bound.
    expect(await log.read("lobby", 0, { maxMessages: 100, maxBytes: 1 })).toHaveLength(1);
    expect((await log.recent("lobby", 30, { maxMessages: 3, maxBytes: 1e9 })).map((e) => e.seq)).toEqual([28, 29, 30]);
    expect((await log.recent("lobby", 20, { maxMessages: 3, maxBytes: 1e9 })).map((e) => e.seq)).toEqual([18, 19, 20]);
    // The newest stay right as more arrive (whatever a log keeps in memory for them).
    await log.publish(req("lobby", "31"));
    await log.publish(req("lobby", "32"));
    await waitUntil(() => r.entries.length === 32, "two more deliveries");
    expect((await log.recent("lobby", 32, { maxMessages: 3, maxBytes: 1e9 })).map((e) => decode(e).text)).toEqual(["30:" + "x".repeat(200), "31", "32"]);
    const page = await log.history("lobby", { beforeSeq: 11, limit: 4 });
    expect(page.messages.map((m) => m.seq)).toEqual([7, 8, 9, 10]);
    expect(page.hasMore).toBe(true);
    expect(page.position).toMatchObject({ firstSeq: 1, lastSeq: 32 });
    const forward = await log.history("lobby", { afterSeq: 27, limit: 10 });
    expect(forward.messages.map((m) => m.text.split(":")[0])).toEqual(["28", "29", "30", "31", "32"]);
    expect(forward.hasMore).toBe(false);
  });

  it("drops the oldest messages past the history limit", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open({ ...defaultRetention, maxMessagesPerRoom: 5 });
    const r = recorder();
    await log.subscribe("lobby", r.l);
    for (let i = 1; i <= 12; i++) await log.publish(req("lobby", `m${i}`));
    await waitUntil(() => r.entries.length === 12, "deliveries");
    expect((await log.read("lobby", 0, { maxMessages: 100, maxBytes: 1e9 })).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(await log.position("lobby")).toMatchObject({ firstSeq: 8, lastSeq: 12 });
  });

  it("decides who is in a room: one holder per look-alike key, a member limit, join order, paging", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    const ann = member("ann");
    expect(await log.claim("hall", ann, 3)).toEqual({ kind: "claimed", memberCount: 1 });
    expect(await log.claim("hall", member("Ann", "ann"), 3)).toEqual({ kind: "taken", holder: "ann" });
    await log.claim("hall", member("bob"), 3);
    await log.claim("hall", member("cy"), 3);
    expect(await log.claim("hall", member("dee"), 3)).toEqual({ kind: "full", limit: 3 });
    const page1 = await log.members("hall", "", 2);
    expect(page1.members.map((m) => m.nickname)).toEqual(["ann", "bob"]);
    expect(page1.memberCount).toBe(3);
    const page2 = await log.members("hall", page1.nextPageToken, 2);
    expect(page2.members.map((m) => m.nickname)).toEqual(["cy"]);
    expect(page2.nextPageToken).toBe("");
    await log.release("hall", ann, LeaveReason.LEFT);
    expect((await log.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["bob", "cy"]);
    expect(await log.claim("hall", member("Ann", "ann"), 3)).toMatchObject({ kind: "claimed" });
    await waitUntil(() => r.presences.length === 5, "presence changes");
    expect(r.presences.map((c) => [c.kind, c.kind === "joined" ? c.member.nickname : c.kind === "renamed" ? c.to : c.nickname, c.memberCount])).toEqual([
      ["joined", "ann", 1],
      ["joined", "bob", 2],
      ["joined", "cy", 3],
      ["left", "ann", 2],
      ["joined", "Ann", 3],
    ]);
    expect((r.presences[3] as { reason: LeaveReason }).reason).toBe(LeaveReason.LEFT);
    expect((await log.rooms(10)).find((x) => x.name === "hall")?.memberCount).toBe(3);
    await expect(log.members("hall", "not-a-token", 2)).rejects.toThrow(/page_token/);
  });

  it("lets a claim that presents the holder's token hash take its membership over in place; any other token is refused", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    const old = { ...member("ann"), joinedAtMs: 1000, tokenHash: "a".repeat(64) };
    await log.claim("hall", old, 10);
    await log.claim("hall", { ...member("bob"), tokenHash: "b".repeat(64) }, 10);
    // No token, a wrong one, bob's, or ann's presented for a look-alike nickname: taken, as before.
    const next = { ...member("ann"), joinedAtMs: 2000, tokenHash: "c".repeat(64) };
    expect(await log.claim("hall", next, 10)).toEqual({ kind: "taken", holder: "ann" });
    expect(await log.claim("hall", next, 10, "d".repeat(64))).toEqual({ kind: "taken", holder: "ann" });
    expect(await log.claim("hall", next, 10, "b".repeat(64))).toEqual({ kind: "taken", holder: "ann" });
    expect(await log.claim("hall", { ...next, nickname: "ANN" }, 10, old.tokenHash)).toEqual({ kind: "taken", holder: "ann" });
    // The right one: taken over, join time and place kept, no join or leave announced.
    expect(await log.claim("hall", next, 10, old.tokenHash)).toEqual({ kind: "claimed", memberCount: 2, replaced: { joinedAtMs: 1000 } });
    await waitUntil(() => r.presences.length === 3, "the takeover announced");
    expect(r.presences[2]).toEqual({ kind: "replaced", nickname: "ann", tokenHash: old.tokenHash, memberCount: 2 });
    const listed = (await log.members("hall", "", 10)).members;
    expect(listed.map((m) => [m.nickname, m.joinedAtMs])).toEqual([
      ["ann", 1000],
      ["bob", expect.any(Number)],
    ]);
    // The old token is spent, and the old membership's release no longer removes anyone.
    expect(await log.claim("hall", { ...next, tokenHash: "e".repeat(64) }, 10, old.tokenHash)).toEqual({ kind: "taken", holder: "ann" });
    await log.release("hall", old, LeaveReason.DISCONNECTED);
    expect((await log.members("hall", "", 10)).memberCount).toBe(2);
    // The new holder (its join time is the kept one) leaves normally.
    await log.release("hall", { ...next, joinedAtMs: 1000 }, LeaveReason.LEFT);
    expect((await log.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["bob"]);
    // A token whose membership is gone is no hindrance: a plain claim.
    expect(await log.claim("hall", next, 10, "c".repeat(64))).toEqual({ kind: "claimed", memberCount: 2 });
  });

  it("renames a member in place, refusing a nickname that is held or looks like one that is", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    const ann = { ...member("ann"), tokenHash: "a".repeat(64) };
    await log.claim("hall", ann, 10);
    await log.claim("hall", member("bob"), 10);
    await log.claim("hall", member("cy"), 10);
    expect(await log.rename("hall", ann, { nickname: "BOB", skeleton: "bob" })).toEqual({ kind: "taken", holder: "bob" });
    expect(await log.rename("hall", ann, { nickname: "alicia", skeleton: "alicia" })).toEqual({ kind: "renamed", memberCount: 3 });
    await waitUntil(() => r.presences.length === 4, "the rename announced");
    expect(r.presences[3]).toEqual({ kind: "renamed", from: "ann", to: "alicia", memberCount: 3 });
    // Same place in the list; the old nickname is free, the new one taken.
    expect((await log.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["alicia", "bob", "cy"]);
    expect(await log.claim("hall", member("Alicia", "alicia"), 10)).toEqual({ kind: "taken", holder: "alicia" });
    expect(await log.claim("hall", member("ann"), 10)).toMatchObject({ kind: "claimed" });
    // The old record no longer names the membership; a case change keeps the look-alike key.
    expect(await log.rename("hall", ann, { nickname: "x", skeleton: "x" })).toEqual({ kind: "gone" });
    const alicia = { ...ann, nickname: "alicia", skeleton: "alicia" };
    expect(await log.rename("hall", alicia, { nickname: "Alicia", skeleton: "alicia" })).toEqual({ kind: "renamed", memberCount: 4 });
    // It leaves under its new nickname.
    await log.release("hall", { ...alicia, nickname: "Alicia" }, LeaveReason.LEFT);
    expect((await log.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["bob", "cy", "ann"]);
  });

  it("lets a signed-in user's sessions share one membership: one join, its name whatever they asked, one leave after the last", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    const phone = { ...member("ann"), userId: "u-ann", shared: true, tokenHash: "1".repeat(64) };
    const laptop = { ...member("Annie", "annie"), userId: "u-ann", shared: true, tokenHash: "2".repeat(64) };
    const access = { userId: "u-ann" };
    expect(await log.claim("hall", phone, 10, undefined, access)).toEqual({ kind: "claimed", memberCount: 1 });
    expect(await log.claim("hall", laptop, 10, undefined, access)).toEqual({
      kind: "claimed",
      memberCount: 1,
      joinedAs: { nickname: "ann", skeleton: "ann", joinedAtMs: phone.joinedAtMs },
    });
    // Another user may not take the name, nor share by guessing it.
    const other = { ...member("ANN", "ann"), userId: "u-other", shared: true, tokenHash: "3".repeat(64) };
    expect(await log.claim("hall", other, 10, undefined, { userId: "u-other" })).toEqual({ kind: "taken", holder: "ann" });
    expect((await log.members("hall", "", 10)).members).toMatchObject([{ nickname: "ann", userId: "u-ann" }]);
    // The phone goes: the user stays.
    await log.release("hall", phone, LeaveReason.LEFT);
    await log.release("hall", phone, LeaveReason.LEFT);
    expect((await log.members("hall", "", 10)).memberCount).toBe(1);
    // The laptop renames the membership (as its session knows it since joining), then leaves under the new name.
    const held = { ...laptop, nickname: "ann", skeleton: "ann", joinedAtMs: phone.joinedAtMs };
    expect(await log.rename("hall", held, { nickname: "anna", skeleton: "anna" })).toEqual({ kind: "renamed", memberCount: 1 });
    await log.release("hall", { ...held, tokenHash: "9".repeat(64) }, LeaveReason.LEFT);
    expect((await log.members("hall", "", 10)).memberCount).toBe(1);
    await log.release("hall", held, LeaveReason.LEFT);
    await waitUntil(() => r.presences.length === 3, "joined, renamed, left");
    expect(r.presences).toEqual([
      { kind: "joined", member: expect.objectContaining({ nickname: "ann" }), memberCount: 1 },
      { kind: "renamed", from: "ann", to: "anna", memberCount: 1 },
      { kind: "left", nickname: "anna", reason: LeaveReason.LEFT, memberCount: 0 },
    ]);
    expect((await log.members("hall", "", 10)).memberCount).toBe(0);
    // Gone: the next session is a new membership, announced again.
    expect(await log.claim("hall", { ...laptop }, 10, undefined, access)).toEqual({ kind: "claimed", memberCount: 1 });
  });

  it("keeps each user's read position, forward only, and counts the messages from others after it", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    await create(log, "hall", ann); // an action: never unread
    await post(log, "hall", ann, "mine");
    for (const text of ["one", "two", "three"]) await post(log, "hall", bob, text);
    await waitUntil(() => r.entries.length === 5, "5 entries");
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 0, unread: 3, mentions: 0 });
    expect(await log.markRead("hall", "u-ann", 3)).toBe(3);
    expect(await log.markRead("hall", "u-ann", 2)).toBe(3);
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 3, unread: 2, mentions: 0 });
    // Bob's own messages are not news to him; another user starts unread.
    expect(await log.readState("hall", "u-bob")).toEqual({ readSeq: 0, unread: 1, mentions: 0 });
    expect(await log.markRead("hall", "u-ann", 5)).toBe(5);
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 5, unread: 0, mentions: 0 });
    // Counted up to a cap, so a join never reads a long backlog to count it.
    for (let i = 0; i < UNREAD_CAP + 1; i++) await post(log, "hall", bob, `more ${i}`);
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 5, unread: UNREAD_CAP, mentions: 0 });
    // A deleted room takes its read positions with it.
    expect(await act(log, "hall", admin, { kind: RoomActionKind.DELETE })).toMatchObject({ kind: "stored" });
    expect((await log.readState("hall", "u-ann")).readSeq).toBe(0);
  });

  it("stores the users a message mentions, and counts the unread messages naming a user", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("hall", r.l);
    await log.publish({ ...req("hall", "hi @ann and @cy", "", "bob"), senderId: "u-bob", mentions: ["u-ann", "u-cy"] });
    await log.publish({ ...req("hall", "plain", "", "bob"), senderId: "u-bob" });
    await log.publish({ ...req("hall", "@ann again", "", "bob"), senderId: "u-bob", mentions: ["u-ann"] });
    await waitUntil(() => r.entries.length === 3, "3 entries");
    expect(r.entries.map((e) => decode(e).mentions)).toEqual([["u-ann", "u-cy"], [], ["u-ann"]]);
    expect((await log.history("hall", { limit: 10 })).messages.map((m) => m.mentions ?? [])).toEqual([["u-ann", "u-cy"], [], ["u-ann"]]);
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 0, unread: 3, mentions: 2 });
    await log.markRead("hall", "u-ann", 1);
    expect(await log.readState("hall", "u-ann")).toEqual({ readSeq: 1, unread: 2, mentions: 1 });
    expect(await log.readState("hall", "u-cy")).toEqual({ readSeq: 0, unread: 3, mentions: 1 });
  });

  it("passes ephemeral signals (typing) to subscribers", async ({ skip }) => {
    if (!(await backend.available())) return skip();
    const log = await open();
    const r = recorder();
    await log.subscribe("lobby", r.l);
    log.signal("lobby", new Uint8Array([10, 0]), "ann");
    await waitUntil(() => r.signals.length === 1, "signal");
    expect(r.signals).toEqual(["ann"]);
  });

  describe("room state", () => {
    it("creates a room once: a room with state, members or history is ALREADY_EXISTS; the entry is numbered and delivered with its action", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      await log.subscribe("club", r.l);
      expect(await log.exists("club")).toBe(false);
      expect(await log.state("club")).toBeUndefined();
      const made = await create(log, "club", ann, { topic: "tea", visibility: RoomVisibility.PUBLIC });
      expect(made).toMatchObject({ kind: "stored", seq: 1, state: { topic: "tea", creator: "u-ann", roles: { "u-ann": RoomRole.OWNER } } });
      expect(await log.state("club")).toMatchObject({ visibility: RoomVisibility.PUBLIC, topic: "tea", roles: { "u-ann": RoomRole.OWNER } });
      expect(await log.exists("club")).toBe(true);
      await waitUntil(() => r.entries.length === 1, "the create entry delivered");
      expect(r.entries[0].seq).toBe(1);
      expect(actionOf(r.entries[0])).toMatchObject({ kind: RoomActionKind.CREATE, topic: "tea" });
      expect(decode(r.entries[0])).toMatchObject({ sender: "ann", senderId: "u-ann", text: "ann created the room: tea", action: { kind: RoomActionKind.CREATE } });
      expect(await create(log, "club", bob)).toMatchObject({ kind: "refused", code: ErrorCode.ALREADY_EXISTS });
      await log.publish(req("chatty", "hi"));
      expect(await create(log, "chatty", ann)).toMatchObject({ kind: "refused", code: ErrorCode.ALREADY_EXISTS });
      await log.claim("busy", member("cy"), 10);
      expect(await create(log, "busy", ann)).toMatchObject({ kind: "refused", code: ErrorCode.ALREADY_EXISTS });
      expect((await log.position("club")).lastSeq).toBe(1);
    });

    it("hides a private room from strangers (NOT_FOUND, as a missing room); members, the invited and a token's grant get in", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const eve: Actor = { userId: "u-eve", name: "eve" };
      const cy: Actor = { userId: "u-cy", name: "cy" };
      await create(log, "secret", ann, { visibility: RoomVisibility.PRIVATE, roles: { "u-bob": RoomRole.MEMBER } });
      const hidden = await joinAs(log, "secret", eve);
      expect(hidden).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
      expect(await joinAs(log, "no-such-room-either", eve)).toMatchObject({ kind: "claimed" });
      expect(await post(log, "secret", eve, "let me in")).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
      expect(await joinAs(log, "secret", bob)).toMatchObject({ kind: "claimed", memberCount: 1 });
      expect(await post(log, "secret", bob, "hi")).toMatchObject({ kind: "stored" });
      expect(await joinAs(log, "secret", eve, RoomRole.MEMBER)).toMatchObject({ kind: "claimed", memberCount: 2 });
      expect(await post(log, "secret", eve, "granted", RoomRole.MEMBER)).toMatchObject({ kind: "stored" });
      expect(await joinAs(log, "secret", cy)).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
      expect(await act(log, "secret", ann, { kind: RoomActionKind.INVITE, targetUser: "u-cy", targetName: "cy" })).toMatchObject({ kind: "stored" });
      expect(await joinAs(log, "secret", cy)).toMatchObject({ kind: "claimed" });
      // A stranger cannot act on it either, and is told the same as for a missing room.
      expect(await act(log, "secret", eve, { kind: RoomActionKind.SET_TOPIC, topic: "mine" })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    });

    it("a ban is an entry with its action; the banned user can neither join nor post until unbanned", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      const mal: Actor = { userId: "u-mal", name: "mallory" };
      await log.subscribe("pub", r.l);
      await create(log, "pub", ann);
      expect(await joinAs(log, "pub", mal)).toMatchObject({ kind: "claimed" });
      expect(await post(log, "pub", mal, "buy now")).toEqual({ kind: "stored", seq: 2 });
      const until = Date.now() + 3_600_000;
      const ban = await act(log, "pub", ann, { kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam", untilMs: until });
      expect(ban).toMatchObject({ kind: "stored", seq: 3, state: { bans: { "u-mal": { untilMs: until, reason: "spam" } } } });
      await waitUntil(() => r.entries.length === 3, "the ban delivered");
      const entry = r.entries[2];
      expect(entry.seq).toBe(3);
      const action = actionOf(entry)!;
      expect(action).toMatchObject({ kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam" });
      expect(Number(action.until!.seconds) * 1000 + action.until!.nanos / 1e6).toBe(until);
      expect(decode(entry)).toMatchObject({ seq: 3n, sender: "ann", senderId: "u-ann", text: `mallory was banned by ann until ${new Date(until).toISOString()}: spam` });
      expect(r.entries[1].action).toBeUndefined();
      expect(await joinAs(log, "pub", mal)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("spam") });
      expect(await post(log, "pub", mal, "again")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      expect((await log.position("pub")).lastSeq).toBe(3);
      expect(await act(log, "pub", ann, { kind: RoomActionKind.UNBAN, targetUser: "u-mal", targetName: "mallory" })).toMatchObject({ kind: "stored", seq: 4 });
      expect((await log.state("pub"))?.bans).toEqual({});
      expect(await post(log, "pub", mal, "sorry")).toEqual({ kind: "stored", seq: 5 });
      expect(await joinAs(log, "pub", { ...mal, name: "mallory2" })).toMatchObject({ kind: "claimed" });
    });

    it("a mute refuses posting only; a kick is an entry and ends a private room's membership", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      await log.subscribe("den", r.l);
      await create(log, "den", ann, { visibility: RoomVisibility.PRIVATE, roles: { "u-bob": RoomRole.MEMBER } });
      await act(log, "den", ann, { kind: RoomActionKind.MUTE, targetUser: "u-bob", targetName: "bob", reason: "cool down" });
      expect(await post(log, "den", bob, "hey")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("muted") });
      expect(await joinAs(log, "den", bob)).toMatchObject({ kind: "claimed" });
      await act(log, "den", ann, { kind: RoomActionKind.UNMUTE, targetUser: "u-bob", targetName: "bob" });
      expect(await post(log, "den", bob, "thanks")).toMatchObject({ kind: "stored", seq: 4 });
      expect(await act(log, "den", ann, { kind: RoomActionKind.KICK, targetUser: "u-bob", targetName: "bob", reason: "bye" })).toMatchObject({ kind: "stored", seq: 5 });
      await waitUntil(() => r.entries.length === 5, "five entries");
      expect(r.entries.map((e) => actionOf(e)?.kind)).toEqual([RoomActionKind.CREATE, RoomActionKind.MUTE, RoomActionKind.UNMUTE, undefined, RoomActionKind.KICK]);
      expect(decode(r.entries[4])).toMatchObject({ text: "bob was kicked by ann: bye", action: { kind: RoomActionKind.KICK, targetUser: "u-bob", reason: "bye" } });
      expect((await log.state("den"))?.roles).toEqual({ "u-ann": RoomRole.OWNER });
      expect(await joinAs(log, "den", { ...bob, name: "bobby" })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    });

    it("a moderator cannot act on the owner, and the last owner cannot leave; refusals store nothing", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const mod: Actor = { userId: "u-mod", name: "mod" };
      await create(log, "hall", ann, { roles: { "u-mod": RoomRole.MODERATOR } });
      for (const action of [
        { kind: RoomActionKind.BAN, targetUser: "u-ann" },
        { kind: RoomActionKind.KICK, targetUser: "u-ann" },
        { kind: RoomActionKind.MUTE, targetUser: "u-ann" },
        { kind: RoomActionKind.SET_ROLE, targetUser: "u-ann", role: RoomRole.MEMBER },
      ]) {
        expect(await act(log, "hall", mod, action)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      }
      expect(await act(log, "hall", bob, { kind: RoomActionKind.KICK, targetUser: "u-mod" })).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      expect(await act(log, "hall", ann, { kind: RoomActionKind.LEAVE_MEMBERSHIP })).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
      expect(await act(log, "hall", ann, { kind: RoomActionKind.SET_ROLE, targetUser: "u-ann", role: RoomRole.MEMBER })).toMatchObject({
        kind: "refused",
        code: ErrorCode.FAILED_PRECONDITION,
      });
      expect((await log.position("hall")).lastSeq).toBe(1);
      expect(await act(log, "hall", ann, { kind: RoomActionKind.SET_ROLE, targetUser: "u-mod", role: RoomRole.OWNER })).toMatchObject({ kind: "stored", seq: 2 });
      expect(await act(log, "hall", ann, { kind: RoomActionKind.LEAVE_MEMBERSHIP })).toMatchObject({ kind: "stored", seq: 3, state: { roles: { "u-mod": RoomRole.OWNER } } });
    });

    it("an action retried with its key is answered with the original; the key used for another action is a conflict", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      await create(log, "hall", ann);
      const ban = { kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam" };
      const first = await act(log, "hall", ann, ban, "a-1");
      expect(first).toMatchObject({ kind: "stored", seq: 2 });
      const again = await act(log, "hall", ann, ban, "a-1");
      expect(again).toMatchObject({ kind: "duplicate", original: { seq: 2, sender: "ann", senderId: "u-ann", text: "mallory was banned by ann: spam", clientMsgId: "a-1" } });
      expect(again.kind === "duplicate" && actionOf(again.original)?.kind).toBe(RoomActionKind.BAN);
      expect(await act(log, "hall", ann, { ...ban, reason: "other" }, "a-1")).toEqual({ kind: "conflict" });
      expect(await act(log, "hall", ann, { ...ban, targetUser: "u-eve" }, "a-1")).toEqual({ kind: "conflict" });
      expect((await log.position("hall")).lastSeq).toBe(2);
      expect(await act(log, "hall", ann, { ...ban, targetUser: "u-eve" }, "a-2")).toMatchObject({ kind: "stored", seq: 3 });
    });

    it("read receipts are set by an entry with its setting (a moderator may, a member may not), kept in the state, retried by key", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      const mod: Actor = { userId: "u-mod", name: "mod" };
      await log.subscribe("hall", r.l);
      await create(log, "hall", ann, { roles: { "u-mod": RoomRole.MODERATOR, "u-bob": RoomRole.MEMBER } });
      expect((await log.state("hall"))?.readReceipts).toBeUndefined();
      const off = { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF };
      expect(await act(log, "hall", bob, off)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      expect(await act(log, "hall", mod, off, "rr-1")).toMatchObject({ kind: "stored", seq: 2, state: { readReceipts: ReadReceiptsSetting.OFF } });
      expect(await act(log, "hall", mod, off, "rr-1")).toMatchObject({ kind: "duplicate", original: { seq: 2 } });
      expect(await act(log, "hall", mod, { ...off, readReceipts: ReadReceiptsSetting.ON }, "rr-1")).toEqual({ kind: "conflict" });
      expect((await log.state("hall"))?.readReceipts).toBe(ReadReceiptsSetting.OFF);
      await waitUntil(() => r.entries.length === 2, "the setting's entry delivered");
      expect(actionOf(r.entries[1])).toMatchObject({ kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF });
      expect(decode(r.entries[1])).toMatchObject({ text: "mod turned read receipts off", senderId: "u-mod" });
      // Back to the server's default: the setting leaves the state.
      expect(await act(log, "hall", ann, { kind: RoomActionKind.SET_READ_RECEIPTS })).toMatchObject({ kind: "stored", seq: 3 });
      expect((await log.state("hall"))?.readReceipts).toBeUndefined();
      expect((await log.history("hall", { limit: 10 })).messages.map((m) => m.text)).toEqual([
        "ann created the room",
        "mod turned read receipts off",
        "ann set read receipts to the server's default",
      ]);
    });

    it("gives the read positions of several users at once, leaving out those who marked nothing", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      await log.subscribe("hall", r.l);
      for (const text of ["one", "two", "three"]) await post(log, "hall", bob, text);
      await waitUntil(() => r.entries.length === 3, "3 entries");
      await log.markRead("hall", "u-ann", 2);
      await log.markRead("hall", "u-bob", 3);
      expect(await log.readPositions("hall", ["u-ann", "u-bob", "u-cy"])).toEqual(new Map([["u-ann", 2], ["u-bob", 3]]));
      expect(await log.readPositions("hall", [])).toEqual(new Map());
      expect(await log.readPositions("elsewhere", ["u-ann"])).toEqual(new Map());
    });

    it("lists a user's rooms (where they hold a role) with their state, last entry and member count", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      await create(log, "r1", ann, { topic: "one" });
      await create(log, "r2", ann, { visibility: RoomVisibility.PRIVATE, roles: { "u-bob": RoomRole.MEMBER } });
      await create(log, "r3", bob);
      await post(log, "r2", bob, "latest in r2");
      await joinAs(log, "r2", bob);
      const anns = await log.userRooms("u-ann", 10);
      expect(anns.map((x) => x.name)).toEqual(["r1", "r2"]);
      expect(anns[0]).toMatchObject({ name: "r1", lastSeq: 1, memberCount: 0, state: { topic: "one" }, last: { seq: 1, text: "ann created the room: one" } });
      const bobs = await log.userRooms("u-bob", 10);
      expect(bobs.map((x) => x.name)).toEqual(["r2", "r3"]);
      expect(bobs[0]).toMatchObject({ lastSeq: 2, memberCount: 1, state: { visibility: RoomVisibility.PRIVATE }, last: { seq: 2, text: "latest in r2", senderId: "u-bob" } });
      expect((await log.userRooms("u-bob", 1)).map((x) => x.name)).toEqual(["r2"]);
      expect(await log.userRooms("u-nobody", 10)).toEqual([]);
    });

    it("history, read and recent carry action entries with their action and sender id", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      await log.subscribe("hall", r.l);
      await create(log, "hall", ann);
      await post(log, "hall", bob, "hello");
      await act(log, "hall", ann, { kind: RoomActionKind.SET_TOPIC, topic: "news" });
      await waitUntil(() => r.entries.length === 3, "three entries");
      const kinds = (entries: { action?: Uint8Array }[]) => entries.map((e) => actionOf(e)?.kind);
      const expected = [RoomActionKind.CREATE, undefined, RoomActionKind.SET_TOPIC];
      expect(kinds(await log.read("hall", 0, { maxMessages: 10, maxBytes: 1e9 }))).toEqual(expected);
      expect(kinds(await log.recent("hall", 3, { maxMessages: 10, maxBytes: 1e9 }))).toEqual(expected);
      const page = await log.history("hall", { limit: 10 });
      expect(kinds(page.messages)).toEqual(expected);
      expect(page.messages.map((m) => m.senderId)).toEqual(["u-ann", "u-bob", "u-ann"]);
      expect(page.messages[2]).toMatchObject({ sender: "ann", text: "ann set the topic: news" });
      // A node that did not subscribe reads them the same way.
      const other = await open();
      if (backend.multiNode) expect(kinds(await other.read("hall", 0, { maxMessages: 10, maxBytes: 1e9 }))).toEqual(expected);
    });

    it("a ban racing sends: every send stored is numbered before the ban, none after it", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      const mal: Actor = { userId: "u-mal", name: "mallory" };
      await log.subscribe("pub", r.l);
      await create(log, "pub", ann);
      const before = Array.from({ length: 20 }, (_, i) => post(log, "pub", mal, `before ${i}`));
      const ban = act(log, "pub", ann, { kind: RoomActionKind.BAN, targetUser: "u-mal" });
      const after = Array.from({ length: 20 }, (_, i) => post(log, "pub", mal, `after ${i}`));
      const banSeq = seqOf(await ban);
      const outcomes = await Promise.all([...before, ...after]);
      expect(banSeq).toBeGreaterThan(1);
      for (const o of outcomes) {
        if (o.kind === "stored") expect(o.seq).toBeLessThan(banSeq);
        else expect(o).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      }
      expect(await post(log, "pub", mal, "late")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      const stored = outcomes.filter((o) => o.kind === "stored").length;
      expect((await log.position("pub")).lastSeq).toBe(1 + stored + 1);
      const entries = await log.read("pub", 0, { maxMessages: 100, maxBytes: 1e9 });
      expect(entries[entries.length - 1].seq).toBe(banSeq);
      expect(actionOf(entries[entries.length - 1])?.kind).toBe(RoomActionKind.BAN);
    });

    it("deleting a room delivers its entry first, then a reset, and drops its state, members and history", async ({ skip }) => {
      if (!(await backend.available())) return skip();
      const log = await open();
      const r = recorder();
      await log.subscribe("gone", r.l);
      expect(await act(log, "gone", admin, { kind: RoomActionKind.DELETE })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
      const epoch = (await log.position("gone")).epoch;
      await create(log, "gone", ann, { visibility: RoomVisibility.PRIVATE });
      await joinAs(log, "gone", ann);
      await post(log, "gone", ann, "last words");
      expect(await act(log, "gone", ann, { kind: RoomActionKind.DELETE })).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
      expect(await act(log, "gone", admin, { kind: RoomActionKind.DELETE, reason: "closed" })).toMatchObject({ kind: "stored", seq: 3, state: undefined });
      await waitUntil(() => r.entries.length === 3, "the delete delivered");
      expect(decode(r.entries[2])).toMatchObject({ senderId: "admin", text: "the room was deleted: closed", action: { kind: RoomActionKind.DELETE } });
      // Then the subscriber is told the room starts again (a new history: its members' positions mean nothing now).
      await waitUntil(() => r.resets.length === 1, "the reset after the delete");
      expect(r.resets[0]).toMatchObject({ firstSeq: 0, lastSeq: 0 });
      expect(r.resets[0].epoch).not.toBe(epoch);
      expect(await log.position("gone")).toMatchObject({ lastSeq: 0 });
      expect(await log.state("gone")).toBeUndefined();
      expect((await log.members("gone", "", 10)).memberCount).toBe(0);
      expect((await log.history("gone", { limit: 10 })).messages).toEqual([]);
      expect(await log.exists("gone")).toBe(false);
      expect(await log.userRooms("u-ann", 10)).toEqual([]);
      expect(await create(log, "gone", bob)).toMatchObject({ kind: "stored" });
    });
  });

  describe("across nodes", () => {
    it("every subscribed node gets every message, in the same order, under concurrent publishers", async ({ skip }) => {
      if (!backend.multiNode || !(await backend.available())) return skip();
      const nodes = await Promise.all([open(), open(), open()]);
      const recorders = nodes.map(() => recorder());
      await Promise.all(nodes.map((n, i) => n.subscribe("lobby", recorders[i].l)));
      await Promise.all(Array.from({ length: 60 }, (_, i) => nodes[i % 3].publish(req("lobby", `from node ${i % 3}: ${i}`, `k${i}`, `s${i % 3}`))));
      await waitUntil(() => recorders.every((r) => r.entries.length === 60), "60 deliveries on every node");
      const orders = recorders.map((r) => r.entries.map((e) => `${e.seq}:${decode(e).text}`));
      expect(orders[1]).toEqual(orders[0]);
      expect(orders[2]).toEqual(orders[0]);
      expect(recorders[0].entries.map((e) => e.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    });

    it("a node that missed a message on the channel repairs the gap from history before delivering what follows", async ({ skip }) => {
      if (!backend.multiNode || !(await backend.available())) return skip();
      const [a, b] = await Promise.all([open(), open()]);
      const ra = recorder();
      const rb = recorder();
      await a.subscribe("lobby", ra.l);
      await b.subscribe("lobby", rb.l);
      // Node b stops listening for a moment (its subscription is gone: messages are lost to it)...
      const feed = (b as unknown as { feeds: Map<string, unknown> }).feeds.get("lobby");
      (b as unknown as { feeds: Map<string, unknown> }).feeds.delete("lobby");
      for (let i = 1; i <= 5; i++) await a.publish(req("lobby", `m${i}`));
      await waitUntil(() => ra.entries.length === 5, "a got 5");
      (b as unknown as { feeds: Map<string, unknown> }).feeds.set("lobby", feed);
      // ...then a later message arrives: it is held until 1 to 5 are read back.
      await a.publish(req("lobby", "m6"));
      await waitUntil(() => rb.entries.length === 6, "b repaired and delivered 6");
      expect(rb.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(rb.entries.map((e) => decode(e).text)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6"]);
    });

    it("a membership held by one node is taken over by a claim on another, whose old release is then a no-op", async ({ skip }) => {
      if (!backend.multiNode || !(await backend.available())) return skip();
      const [a, b] = await Promise.all([open(), open()]);
      const ra = recorder();
      const rb = recorder();
      await a.subscribe("hall", ra.l);
      await b.subscribe("hall", rb.l);
      const old = { ...member("ann"), tokenHash: "a".repeat(64) };
      await a.claim("hall", old, 10);
      const next = { ...member("ann"), joinedAtMs: old.joinedAtMs + 1, tokenHash: "b".repeat(64) };
      expect(await b.claim("hall", next, 10, old.tokenHash)).toEqual({ kind: "claimed", memberCount: 1, replaced: { joinedAtMs: old.joinedAtMs } });
      await waitUntil(() => ra.presences.some((c) => c.kind === "replaced"), "node a told its member was replaced");
      expect(ra.presences.find((c) => c.kind === "replaced")).toEqual({ kind: "replaced", nickname: "ann", tokenHash: old.tokenHash, memberCount: 1 });
      await a.release("hall", old, LeaveReason.DISCONNECTED);
      expect((await b.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["ann"]);
      await b.release("hall", { ...next, joinedAtMs: old.joinedAtMs }, LeaveReason.LEFT);
      expect((await a.members("hall", "", 10)).memberCount).toBe(0);
      expect(rb.presences.map((c) => c.kind)).toEqual(["joined", "replaced", "left"]);
    });

    it("a user's sessions on two nodes share one membership; a dead node's session goes without the member leaving", async ({ skip }) => {
      if (!backend.multiNode || !(await backend.available())) return skip();
      const [a, b] = await Promise.all([open(), open()]);
      const ra = recorder();
      const rb = recorder();
      await a.subscribe("hall", ra.l);
      await b.subscribe("hall", rb.l);
      const access = { userId: "u-ann" };
      const onA = { ...member("ann"), userId: "u-ann", shared: true, tokenHash: "1".repeat(64) };
      const onB = { ...member("ann"), userId: "u-ann", shared: true, tokenHash: "2".repeat(64) };
      const onA2 = { ...member("ann"), userId: "u-ann", shared: true, tokenHash: "3".repeat(64) };
      await a.claim("hall", onA, 10, undefined, access);
      expect(await b.claim("hall", onB, 10, undefined, access)).toMatchObject({ kind: "claimed", memberCount: 1, joinedAs: { nickname: "ann" } });
      expect(await a.claim("hall", onA2, 10, undefined, access)).toMatchObject({ kind: "claimed", memberCount: 1, joinedAs: { nickname: "ann" } });
      await waitUntil(() => rb.presences.length === 1, "b told of one join");
      // Renamed from node b: node a's sessions of it are found under the new name when node a dies.
      expect(await b.claim("hall", { ...member("cy"), userId: "u-cy", shared: true, tokenHash: "4".repeat(64) }, 10, undefined, { userId: "u-cy" })).toMatchObject({ kind: "claimed" });
      expect(await b.rename("hall", onB, { nickname: "anna", skeleton: "anna" })).toEqual({ kind: "renamed", memberCount: 2 });
      await waitUntil(() => ra.presences.some((c) => c.kind === "renamed"), "a told of the rename");
      // Node a dies: a survivor removes its sessions (as the lease check does); b's session keeps the member.
      const evict = (b as unknown as { evictNode(room: string, node: string): Promise<void> }).evictNode.bind(b);
      await evict("hall", (a as unknown as { nodeId: string }).nodeId);
      expect((await b.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["anna", "cy"]);
      await b.release("hall", { ...onB, nickname: "anna", skeleton: "anna" }, LeaveReason.LEFT);
      await waitUntil(() => rb.presences.some((c) => c.kind === "left"), "the member left with its last session");
      expect(rb.presences.filter((c) => c.kind === "left")).toEqual([{ kind: "left", nickname: "anna", reason: LeaveReason.LEFT, memberCount: 1 }]);
      expect(rb.presences.filter((c) => c.kind === "joined").length).toBe(2);
    });

    it("sees the same members and epoch from every node", async ({ skip }) => {
      if (!backend.multiNode || !(await backend.available())) return skip();
      const [a, b] = await Promise.all([open(), open()]);
      const ra = recorder();
      const rb = recorder();
      const pa = await a.subscribe("hall", ra.l);
      const pb = await b.subscribe("hall", rb.l);
      expect(pb.epoch).toBe(pa.epoch);
      await a.claim("hall", member("ann"), 100);
      expect(await b.claim("hall", member("ANN", "ann"), 100)).toEqual({ kind: "taken", holder: "ann" });
      await waitUntil(() => rb.presences.length === 1, "b told of ann");
      expect((await b.members("hall", "", 10)).members.map((m) => m.nickname)).toEqual(["ann"]);
    });
  });
});
