/**
 * The RoomLog contract for reactions (issue 19): decided by the log in the
 * step that numbers them, applied to the target's counts, given back by
 * history, a join's recent messages and a replay. Run against every backend
 * of support/log-backends.ts (embedded on memory and SQLite; Redis, Redis
 * Cluster and --redis-min-replicas 1).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ChatResponseSchema, ErrorCode, LeaveReason, MessageChangeKind, RoomActionKind, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { DEFAULT_EDIT_WINDOW_MS } from "../src/log/message-changes.js";
import type { ReactRequest } from "../src/log/reactions.js";
import type { LogEntry, RoomListener, RoomLog } from "../src/log/room-log.js";
import type { Actor } from "../src/rooms/room-state.js";
import { defaultRetention, type Retention } from "../src/store/retention.js";
import { toChatMessage } from "../src/wire/events.js";
import { eventFor } from "../src/wire/reaction-codec.js";
import { logBackends, startLogBackends, stopLogBackends } from "./support/log-backends.js";
import { REDIS_URL } from "./support/redis.js";
import { waitUntil } from "./support/wait.js";

const decode = (e: LogEntry | Uint8Array): ChatMessage => {
  const event = fromBinary(ChatResponseSchema, e instanceof Uint8Array ? e : e.event).events[0].event;
  if (event.case !== "message") throw new Error("not a message");
  return event.value;
};

function recorder() {
  const entries: LogEntry[] = [];
  const l: RoomListener = { entries: (_r, e) => entries.push(...e), presence: () => {}, signal: () => {}, reset: () => {} };
  return { l, entries };
}

const opened: RoomLog[] = [];
beforeAll(startLogBackends, 60_000);
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
});
afterAll(stopLogBackends, 30_000);

const ann: Actor = { userId: "u-ann", name: "ann" };
const bob: Actor = { userId: "u-bob", name: "bob" };
const mod: Actor = { userId: "u-mod", name: "mod" };
const user = (i: number): Actor => ({ userId: `u-${i}`, name: `user${i}` });

const post = (log: RoomLog, room: string, who: Actor, text: string) => log.publish({ room, sender: who.name, senderId: who.userId, text, clientMsgId: "", sentAtMs: Date.now() });
const react = (log: RoomLog, room: string, who: Actor, targetSeq: number, emoji: string, extra: Partial<ReactRequest> = {}) =>
  log.react({ room, targetSeq, emoji, remove: false, sender: who.name, senderId: who.userId, clientMsgId: "", sentAtMs: Date.now(), ...extra });
const unreact = (log: RoomLog, room: string, who: Actor, targetSeq: number, emoji: string, extra: Partial<ReactRequest> = {}) =>
  react(log, room, who, targetSeq, emoji, { remove: true, ...extra });
const seqOf = (o: { kind: string; seq?: number }) => (o.kind === "stored" ? o.seq! : -1);
const all = { maxMessages: 100, maxBytes: 1e9 };

/** [emoji, count, mine, user ids] of a message, as `viewer` is given it. */
const counts = (m: ChatMessage) => m.reactions.map((r) => [r.emoji, r.count, r.mine, r.userIds]);

/** The message `seq` as GetHistory gives it to `viewer`. */
async function inHistory(log: RoomLog, room: string, seq: number, viewer?: string): Promise<ChatMessage> {
  const page = await log.history(room, { afterSeq: seq - 1, limit: 10 });
  const m = page.messages.find((x) => x.seq === seq);
  if (!m) throw new Error(`no message ${seq} in history`);
  return toChatMessage(m, viewer);
}

/** The message `seq` of entries (recent, read) as `viewer` is given it. */
function inEntries(entries: LogEntry[], seq: number, viewer?: string): ChatMessage {
  const e = entries.find((x) => x.seq === seq);
  if (!e) throw new Error(`no entry ${seq}`);
  return decode(eventFor(e, viewer));
}

describe.each(logBackends("reactions"))("reactions: $name", (backend) => {
  beforeEach(({ skip }) => {
    if (!backend.available()) skip();
  });
  afterEach(() => backend.cleanup?.());

  async function open(retention?: Retention): Promise<RoomLog> {
    const log = await backend.open(retention);
    opened.push(log);
    return log;
  }

  it("a reaction is a numbered entry naming its target; history, recent and a replay count it on the target, mine for who reacted", async () => {
    const log = await open();
    const r = recorder();
    await log.subscribe("lobby", r.l);
    await post(log, "lobby", ann, "lunch?");
    await log.recent("lobby", 1, all); // fills a cached tail, which the reaction must not leave stale
    expect(await react(log, "lobby", bob, 1, "👍", { clientMsgId: "r1" })).toEqual({ kind: "stored", seq: 2 });
    expect(seqOf(await react(log, "lobby", ann, 1, "👍"))).toBe(3);
    expect(seqOf(await react(log, "lobby", bob, 1, "🍕"))).toBe(4);
    await waitUntil(() => r.entries.length === 4, "four deliveries");
    const live = decode(r.entries[1]);
    expect(live).toMatchObject({ seq: 2n, sender: "bob", senderId: "u-bob", text: "", clientMsgId: "r1", reaction: { targetSeq: 1n, emoji: "👍", removed: false } });
    expect(live.reactions).toEqual([]);
    const forBob = [
      ["👍", 2, true, ["u-bob", "u-ann"]],
      ["🍕", 1, true, ["u-bob"]],
    ];
    const forAnn = [
      ["👍", 2, true, ["u-bob", "u-ann"]],
      ["🍕", 1, false, ["u-bob"]],
    ];
    const forNobody = forAnn.map(([e, n, , u]) => [e, n, false, u]);
    for (const entries of [await log.recent("lobby", 4, all), await log.read("lobby", 0, all)]) {
      expect(counts(inEntries(entries, 1, "u-bob"))).toEqual(forBob);
      expect(counts(inEntries(entries, 1, "u-ann"))).toEqual(forAnn);
      expect(counts(inEntries(entries, 1, "u-stranger"))).toEqual(forNobody);
      expect(counts(inEntries(entries, 1, undefined))).toEqual(forNobody);
      expect(inEntries(entries, 3, "u-ann")).toMatchObject({ reaction: { targetSeq: 1n, emoji: "👍" }, reactions: [] });
    }
    expect(counts(await inHistory(log, "lobby", 1, "u-bob"))).toEqual(forBob);
    expect(counts(await inHistory(log, "lobby", 1))).toEqual(forNobody);
    expect((await inHistory(log, "lobby", 1, "u-bob")).text).toBe("lunch?");
  });

  it("recent() counts reactions as of the number it reads up to (a joiner gets the later ones as entries)", async () => {
    const log = await open();
    await log.subscribe("lobby", recorder().l);
    await post(log, "lobby", ann, "count me");
    await react(log, "lobby", bob, 1, "👍");
    await react(log, "lobby", ann, 1, "🎉");
    await unreact(log, "lobby", bob, 1, "👍");
    await react(log, "lobby", mod, 1, "🎉");
    const asOf = async (seq: number) => counts(inEntries(await log.recent("lobby", seq, all), 1, "u-ann")).sort();
    expect(await asOf(1)).toEqual([]);
    expect(await asOf(2)).toEqual([["👍", 1, false, ["u-bob"]]]);
    // (An emoji that went away since comes back last: the order of the counts may differ, not the counts.)
    expect(await asOf(3)).toEqual([["👍", 1, false, ["u-bob"]], ["🎉", 1, true, ["u-ann"]]].sort());
    expect(await asOf(4)).toEqual([["🎉", 1, true, ["u-ann"]]]);
    expect(await asOf(5)).toEqual([["🎉", 2, true, ["u-ann", "u-mod"]]]);
  });

  it("removing: the count goes down, an emoji nobody uses goes, and used again it comes last", async () => {
    const log = await open();
    await post(log, "lobby", ann, "hi");
    await react(log, "lobby", ann, 1, "👍");
    await react(log, "lobby", bob, 1, "👍");
    await react(log, "lobby", bob, 1, "🎉");
    const removed = await unreact(log, "lobby", ann, 1, "👍");
    expect(seqOf(removed)).toBe(5);
    expect((await log.read("lobby", 4, all)).map(decode)[0]).toMatchObject({ reaction: { targetSeq: 1n, emoji: "👍", removed: true } });
    expect(counts(await inHistory(log, "lobby", 1, "u-ann"))).toEqual([
      ["👍", 1, false, ["u-bob"]],
      ["🎉", 1, false, ["u-bob"]],
    ]);
    expect(seqOf(await unreact(log, "lobby", bob, 1, "👍"))).toBe(6);
    expect(seqOf(await react(log, "lobby", ann, 1, "👍"))).toBe(7);
    expect(counts(await inHistory(log, "lobby", 1, "u-ann"))).toEqual([
      ["🎉", 1, false, ["u-bob"]],
      ["👍", 1, true, ["u-ann"]],
    ]);
  });

  it("a reaction that changes nothing is not recorded: answered with the target as it stands", async () => {
    const log = await open();
    await post(log, "lobby", ann, "hi");
    await react(log, "lobby", bob, 1, "👍");
    const again = await react(log, "lobby", bob, 1, "👍", { clientMsgId: "again" });
    expect(again.kind).toBe("unchanged");
    if (again.kind !== "unchanged") return;
    expect(again.target.seq).toBe(1);
    expect(decode(eventFor(again.target, "u-bob"))).toMatchObject({ seq: 1n, text: "hi", reactions: [{ emoji: "👍", count: 1, mine: true, userIds: ["u-bob"] }] });
    expect((await unreact(log, "lobby", ann, 1, "👍")).kind).toBe("unchanged");
    expect((await unreact(log, "lobby", bob, 1, "🎉")).kind).toBe("unchanged");
    expect((await log.position("lobby")).lastSeq).toBe(2);
    // Nothing recorded, so the key is still free.
    expect(seqOf(await react(log, "lobby", ann, 1, "👍", { clientMsgId: "again" }))).toBe(3);
  });

  it("limits: 20 different emoji on a message, 10 reactions of one user on it (RESOURCE_EXHAUSTED); joining an emoji in use is fine", async () => {
    const log = await open();
    await post(log, "lobby", ann, "react to me");
    const emoji = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂", "🤗"];
    for (let i = 0; i < 10; i++) expect(seqOf(await react(log, "lobby", bob, 1, emoji[i]))).toBeGreaterThan(0);
    expect(await react(log, "lobby", bob, 1, emoji[10])).toMatchObject({ kind: "refused", code: ErrorCode.RESOURCE_EXHAUSTED, message: expect.stringContaining("10 reactions") });
    for (let i = 10; i < 20; i++) expect(seqOf(await react(log, "lobby", ann, 1, emoji[i]))).toBeGreaterThan(0);
    expect(await react(log, "lobby", mod, 1, emoji[20])).toMatchObject({ kind: "refused", code: ErrorCode.RESOURCE_EXHAUSTED, message: expect.stringContaining("20 different emoji") });
    expect(seqOf(await react(log, "lobby", mod, 1, emoji[0]))).toBeGreaterThan(0);
    // Removing one makes room again.
    expect(seqOf(await unreact(log, "lobby", bob, 1, emoji[9]))).toBeGreaterThan(0);
    expect(seqOf(await react(log, "lobby", bob, 1, emoji[20]))).toBeGreaterThan(0);
    const m = await inHistory(log, "lobby", 1, "u-mod");
    expect(m.reactions).toHaveLength(20);
    expect(m.reactions[0]).toMatchObject({ emoji: emoji[0], count: 2, mine: true, userIds: ["u-bob", "u-mod"] });
  });

  it("counts every user but lists the first 10 by time; mine is the reader's", async () => {
    const log = await open();
    await post(log, "lobby", ann, "vote");
    for (let i = 1; i <= 12; i++) expect(seqOf(await react(log, "lobby", user(i), 1, "✅"))).toBe(i + 1);
    const first10 = Array.from({ length: 10 }, (_, i) => `u-${i + 1}`);
    expect(counts(await inHistory(log, "lobby", 1, "u-12"))).toEqual([["✅", 12, true, first10]]);
    expect(counts(await inHistory(log, "lobby", 1, "u-ann"))).toEqual([["✅", 12, false, first10]]);
    expect(counts(inEntries(await log.recent("lobby", 13, all), 1, "u-11"))).toEqual([["✅", 12, true, first10]]);
  });

  it("a deleted message loses its reactions, and cannot be reacted to", async () => {
    const log = await open();
    await post(log, "lobby", ann, "soon gone");
    await react(log, "lobby", bob, 1, "👀");
    expect(counts(await inHistory(log, "lobby", 1))).toHaveLength(1);
    expect(seqOf(await log.change({ room: "lobby", kind: MessageChangeKind.DELETE, targetSeq: 1, text: "", sender: "ann", senderId: "u-ann", clientMsgId: "", sentAtMs: Date.now(), editWindowMs: DEFAULT_EDIT_WINDOW_MS }))).toBe(3);
    const gone = await inHistory(log, "lobby", 1, "u-bob");
    expect(gone).toMatchObject({ deleted: true, reactions: [] });
    expect(inEntries(await log.read("lobby", 0, all), 1, "u-bob").reactions).toEqual([]);
    expect(await react(log, "lobby", bob, 1, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
    expect(await unreact(log, "lobby", bob, 1, "👀")).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
  });

  it("is idempotent by client_msg_id: the same reaction again is the original entry; another under the key is a conflict", async () => {
    const log = await open();
    await post(log, "lobby", ann, "one");
    await post(log, "lobby", ann, "two");
    expect(seqOf(await react(log, "lobby", bob, 1, "👍", { clientMsgId: "k" }))).toBe(3);
    expect(await react(log, "lobby", bob, 1, "👍", { clientMsgId: "k" })).toMatchObject({ kind: "duplicate", original: { seq: 3, reaction: { targetSeq: 1, emoji: "👍", removed: false } } });
    expect(await react(log, "lobby", bob, 1, "👎", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(await react(log, "lobby", bob, 2, "👍", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(await unreact(log, "lobby", bob, 1, "👍", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    // A key of a send is not a reaction's.
    await log.publish({ room: "lobby", sender: "bob", senderId: "u-bob", text: "three", clientMsgId: "s", sentAtMs: Date.now() });
    expect(await react(log, "lobby", bob, 1, "👍", { clientMsgId: "s" })).toEqual({ kind: "conflict" });
    expect((await inHistory(log, "lobby", 1)).reactions).toHaveLength(1);
  });

  it("refuses a message of another room, a number never given, one beyond retention, a room action, a reaction or change entry", async () => {
    const log = await open({ ...defaultRetention, maxMessagesPerRoom: 4 });
    await post(log, "other", ann, "over there");
    await post(log, "other", ann, "and there");
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "here");
    // Numbers are per room: club has no message 3 (other has 2).
    expect(await react(log, "club", bob, 3, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    expect(await react(log, "club", bob, 1, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("room action") });
    expect(seqOf(await react(log, "club", bob, 2, "👍"))).toBe(3);
    expect(await react(log, "club", ann, 3, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("reaction") });
    await log.change({ room: "club", kind: MessageChangeKind.EDIT, targetSeq: 2, text: "here!", sender: "ann", senderId: "u-ann", clientMsgId: "", sentAtMs: Date.now(), editWindowMs: DEFAULT_EDIT_WINDOW_MS });
    expect(await react(log, "club", bob, 4, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT });
    // Retention keeps 4: messages 1 and 2 go.
    await post(log, "club", ann, "x");
    await post(log, "club", ann, "y");
    expect(await react(log, "club", bob, 1, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("beyond retention") });
    expect(await react(log, "club", bob, 99, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("a muted or banned user may not react; nor may a stranger to a private room", async () => {
    const log = await open();
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", mod, "a");
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.MUTE, targetUser: "u-ann" }, clientActionId: "", sentAtMs: Date.now() });
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.BAN, targetUser: "u-bob" }, clientActionId: "", sentAtMs: Date.now() });
    expect(await react(log, "club", ann, 2, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("muted") });
    expect(await react(log, "club", bob, 2, "👍")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("banned") });
    expect(seqOf(await react(log, "club", mod, 2, "👍"))).toBe(5);
  });

  it("many users reacting to one message at once (on two nodes when there are two) are all counted, each once", async () => {
    const a = await open();
    const b = backend.multiNode ? await open() : a;
    await post(a, "lobby", ann, "everyone react");
    // Enough that deciding them all at once on a node (each making the others stale) would give up on some.
    const users = Array.from({ length: 300 }, (_, i) => user(i + 1));
    const outcomes = await Promise.all(users.map((u, i) => react(i % 2 ? b : a, "lobby", u, 1, i % 3 ? "👍" : "🎉")));
    expect(outcomes.every((o) => o.kind === "stored")).toBe(true);
    expect(new Set(outcomes.map(seqOf)).size).toBe(300);
    const m = await inHistory(b, "lobby", 1);
    expect(m.reactions.map((r) => [r.emoji, r.count]).sort()).toEqual([
      ["🎉", 100],
      ["👍", 200],
    ]);
    expect((await a.position("lobby")).lastSeq).toBe(301);
  });

  it("Redis: reactions keep an empty room's history expiring, go with a deleted message and a deleted room, and forget messages retention dropped", async ({ skip }) => {
    if (!backend.keys) return skip();
    const log = await open({ ...defaultRetention, maxAgeMs: 60 * 60 * 1000, maxMessagesPerRoom: 3 });
    const member = { nickname: "ann", skeleton: "ann", joinedAtMs: Date.now(), userId: ann.userId };
    await log.claim("lobby", member, 10);
    await post(log, "lobby", ann, "one");
    expect(seqOf(await react(log, "lobby", bob, 1, "👍"))).toBe(2);
    const reactionsKey = (keys: Map<string, number>) => [...keys].find(([k]) => k.endsWith("{lobby}:reactions"));
    expect(reactionsKey(await backend.keys())?.[1]).toBe(-1); // a room with members keeps it, as its history
    await log.release("lobby", member, LeaveReason.LEFT);
    expect(reactionsKey(await backend.keys())?.[1]).toBeGreaterThan(0); // the empty room's history expires, and its reactions with it
    await log.claim("lobby", member, 10);
    expect(reactionsKey(await backend.keys())?.[1]).toBe(-1);
    // Retention keeps 3 entries: message 1 goes; the hash forgets it once it holds more than 2 x 3 fields.
    for (let i = 0; i < 7; i++) {
      const seq = seqOf(await post(log, "lobby", ann, `m${i}`));
      expect(seqOf(await react(log, "lobby", bob, seq, "👀"))).toBe(seq + 1);
    }
    const client = new Redis(REDIS_URL);
    try {
      const key = reactionsKey(await backend.keys())![0];
      // (Read on the default Redis; the other deployments run the same script.)
      if (backend.name === "Redis") expect(Number(await client.hlen(key))).toBeLessThanOrEqual(6);
    } finally {
      client.disconnect();
    }
    // A delete drops its target's reactions from the hash.
    const last = (await log.position("lobby")).lastSeq - 1;
    expect((await inHistory(log, "lobby", last)).reactions).toHaveLength(1);
    await log.change({ room: "lobby", kind: MessageChangeKind.DELETE, targetSeq: last, text: "", sender: "ann", senderId: "u-ann", clientMsgId: "", sentAtMs: Date.now(), editWindowMs: DEFAULT_EDIT_WINDOW_MS });
    expect((await inHistory(log, "lobby", last)).reactions).toEqual([]);
    // A deleted room leaves no reactions behind.
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "club talk");
    await react(log, "club", bob, 2, "👍");
    expect([...(await backend.keys()).keys()].some((k) => k.endsWith("{club}:reactions"))).toBe(true);
    await log.act({ room: "club", actor: { userId: "", name: "the app", admin: true }, action: { kind: RoomActionKind.DELETE }, clientActionId: "", sentAtMs: Date.now() });
    expect([...(await backend.keys()).keys()].filter((k) => k.includes("{club}")).map((k) => k.slice(k.indexOf("}") + 2))).not.toContain("reactions");
  });

  it("across nodes: a reaction made on one node reaches the other live, in order; its replay, recent and history count it", async ({ skip }) => {
    if (!backend.multiNode) return skip();
    const a = await open();
    const b = await open();
    const rb = recorder();
    await a.subscribe("lobby", recorder().l);
    await b.subscribe("lobby", rb.l);
    await post(a, "lobby", ann, "first");
    await post(b, "lobby", bob, "second");
    await waitUntil(() => rb.entries.length === 2, "node b got two messages");
    expect(seqOf(await react(a, "lobby", ann, 2, "🔥"))).toBe(3);
    expect(seqOf(await react(b, "lobby", bob, 2, "🔥"))).toBe(4);
    await waitUntil(() => rb.entries.length === 4, "node b got the reactions");
    expect(rb.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(decode(rb.entries[2])).toMatchObject({ sender: "ann", reaction: { targetSeq: 2n, emoji: "🔥" } });
    const expected = [["🔥", 2, true, ["u-ann", "u-bob"]]];
    expect(counts(inEntries(await b.read("lobby", 0, all), 2, "u-ann"))).toEqual(expected);
    expect(counts(inEntries(await b.recent("lobby", 4, all), 2, "u-ann"))).toEqual(expected);
    expect(counts(await inHistory(b, "lobby", 2, "u-ann"))).toEqual(expected);
  });
});
