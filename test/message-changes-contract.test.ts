/**
 * The RoomLog contract for messages that change (issue 19): edits, deletes
 * and replies, decided by the log in the step that numbers them. Run against
 * the embedded log on the memory and the SQLite store, and the Redis log on a
 * real Redis, on a three-master Redis Cluster and waiting for a replica
 * (--redis-min-replicas 1), the last two started by this file. A deleted
 * text must be gone from the backend's storage: SQLite's files, and every
 * key of the deployment in Redis, read value by value and as DUMP gives it
 * (the servers this file starts do not compress DUMP, so bytes left in a
 * stream's node would show).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatResponseSchema, ErrorCode, LeaveReason, MessageChangeKind, RoomActionKind, RoomRole, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { EmbeddedRoomLog } from "../src/log/embedded-log.js";
import { DEFAULT_EDIT_WINDOW_MS, type ChangeRequest } from "../src/log/message-changes.js";
import { RedisRoomLog } from "../src/log/redis/redis-log.js";
import type { LogEntry, RoomListener, RoomLog } from "../src/log/room-log.js";
import type { Actor } from "../src/rooms/room-state.js";
import { MemoryHistoryStore } from "../src/store/memory-store.js";
import { defaultRetention, type Retention } from "../src/store/retention.js";
import { SqliteHistoryStore } from "../src/store/sqlite-store.js";
import { encodeMessageEvent } from "../src/wire/message-codec.js";
import { deletePrefix, REDIS_URL, redisAnswers, startRedisCluster, startRedisServer, uniquePrefix, type RedisCluster, type RedisProcess } from "./support/redis.js";
import { waitUntil } from "./support/wait.js";

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

interface Backend {
  name: string;
  open(retention?: Retention): Promise<RoomLog>;
  /** Whether it can run here (a Redis backend needs its Redis). */
  available(): boolean;
  /** Another node of the same deployment (Redis logs): opened as open() does, sharing its keys. */
  multiNode?: boolean;
  /** The files the backend writes (to look for a deleted text in them). */
  files?: string[];
  /** Whether the text is anywhere in the deployment's storage (Redis: every key under the prefix). */
  holds?(text: string): Promise<boolean>;
  /** Redis: every key under the prefix with its PTTL (-1: no expiry), masters and replicas alike. */
  keys?(): Promise<Map<string, number>>;
  /** A fresh key prefix: each test starts from an empty deployment. */
  cleanup?(): Promise<void>;
}

const dirs: string[] = [];
const opened: RoomLog[] = [];
let redisUp = false;
let cluster: RedisCluster | undefined;
let withReplica: { master: RedisProcess; replica: RedisProcess } | undefined;
const prefixes: { url: string; prefix: string }[] = [];

/**
 * Every value of every key under the prefix, on each server: read by type,
 * and as DUMP (what an RDB file would hold of it, deleted-but-kept bytes
 * included; uncompressed on the servers this file starts).
 */
async function redisHolds(urls: string[], prefix: string, text: string): Promise<boolean> {
  const needle = Buffer.from(text);
  for (const url of urls) {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        for (const key of keys) {
          const type = await client.type(key);
          const values: Buffer[] = [];
          if (type === "string") values.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
          else if (type === "hash") for (const [field, value] of Object.entries(await client.hgetallBuffer(key))) values.push(Buffer.from(field), value);
          else if (type === "stream") for (const [, fields] of await client.xrangeBuffer(key, "-", "+")) values.push(...fields);
          else if (type === "zset") values.push(...(await client.zrangeBuffer(key, "0", "-1")));
          else if (type === "set") values.push(...(await client.smembersBuffer(key)));
          else if (type === "list") values.push(...(await client.lrangeBuffer(key, 0, -1)));
          const dump = await client.dumpBuffer(key);
          if (dump) values.push(dump);
          if (values.some((v) => v.includes(needle))) return true;
        }
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
  }
  return false;
}

async function redisKeys(urls: string[], prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const url of urls) {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        for (const key of keys) out.set(key, Math.max(out.get(key) ?? -2, await client.pttl(key)));
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
  }
  return out;
}

function redisBackend(name: string, target: () => { url: string; cluster: boolean; servers: string[] } | undefined, minReplicas = 0): Backend {
  let prefix = uniquePrefix("changes");
  return {
    name,
    multiNode: true,
    available: () => target() !== undefined,
    async open(retention = defaultRetention) {
      const t = target()!;
      const log = new RedisRoomLog({ url: t.url, cluster: t.cluster, prefix, retention, leaseMs: 3000, minReplicas });
      if (!(await log.connect())) throw new Error(`${name}: Redis did not answer`);
      if (!t.cluster && !prefixes.some((p) => p.prefix === prefix)) prefixes.push({ url: t.url, prefix });
      return log;
    },
    holds: (text) => redisHolds(target()!.servers, prefix, text),
    keys: () => redisKeys(target()!.servers, prefix),
    async cleanup() {
      prefix = uniquePrefix("changes");
    },
  };
}

const backends: Backend[] = [
  {
    name: "embedded, memory store",
    available: () => true,
    open: async (retention = defaultRetention) => new EmbeddedRoomLog({ store: new MemoryHistoryStore(retention, undefined, 0), turn: turnHooks() }),
  },
  {
    name: "embedded, SQLite store",
    available: () => true,
    files: [],
    async open(retention = defaultRetention) {
      const dir = mkdtempSync(join(tmpdir(), "changes-contract-"));
      dirs.push(dir);
      const path = join(dir, "chat.db");
      this.files = [path, `${path}-wal`];
      return new EmbeddedRoomLog({ store: new SqliteHistoryStore(path, { retention, pruneIntervalMs: 0 }), turn: turnHooks() });
    },
  },
  redisBackend("Redis", () => (redisUp ? { url: REDIS_URL, cluster: false, servers: [REDIS_URL] } : undefined)),
  redisBackend("Redis Cluster (3 masters)", () => (cluster ? { url: cluster.url, cluster: true, servers: cluster.all.map((p) => p.url) } : undefined)),
  redisBackend(
    "Redis with a replica, --redis-min-replicas 1",
    () => (withReplica ? { url: withReplica.master.url, cluster: false, servers: [withReplica.master.url, withReplica.replica.url] } : undefined),
    1,
  ),
];

/** The servers this file starts: DUMP uncompressed, so a text's bytes would show as they are. */
const PLAIN_DUMP = ["--rdbcompression", "no"];

beforeAll(async () => {
  redisUp = await redisAnswers();
  if (!redisUp) return;
  cluster = await startRedisCluster();
  for (const p of cluster.all) spawnSync("redis-cli", ["-p", String(p.port), "config", "set", "rdbcompression", "no"], { timeout: 5000 });
  const master = await startRedisServer(undefined, PLAIN_DUMP);
  const replica = await startRedisServer(undefined, [...PLAIN_DUMP, "--replicaof", "127.0.0.1", String(master.port)]);
  withReplica = { master, replica };
  await waitUntil(() => spawnSync("redis-cli", ["-p", String(replica.port), "info", "replication"], { encoding: "utf8" }).stdout.includes("master_link_status:up"), "replica in sync", 20_000);
}, 60_000);

afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
});
afterAll(async () => {
  for (const { url, prefix } of prefixes) await deletePrefix(url, prefix).catch(() => {});
  await cluster?.stop();
  await withReplica?.replica.stop();
  await withReplica?.master.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 30_000);

const ann: Actor = { userId: "u-ann", name: "ann" };
const bob: Actor = { userId: "u-bob", name: "bob" };
const mod: Actor = { userId: "u-mod", name: "mod" };

const post = (log: RoomLog, room: string, user: Actor, text: string, extra: { clientMsgId?: string; replyToSeq?: number; sentAtMs?: number } = {}) =>
  log.publish({ room, sender: user.name, senderId: user.userId, text, clientMsgId: extra.clientMsgId ?? "", sentAtMs: extra.sentAtMs ?? Date.now(), ...(extra.replyToSeq ? { replyToSeq: extra.replyToSeq } : {}) });

function change(kind: MessageChangeKind.EDIT | MessageChangeKind.DELETE, room: string, user: Actor, targetSeq: number, text = "", extra: Partial<ChangeRequest> = {}): ChangeRequest {
  return { room, kind, targetSeq, text, sender: user.name, senderId: user.userId, clientMsgId: "", sentAtMs: Date.now(), editWindowMs: DEFAULT_EDIT_WINDOW_MS, ...extra };
}
const edit = (log: RoomLog, room: string, user: Actor, seq: number, text: string, extra: Partial<ChangeRequest> = {}) =>
  log.change(change(MessageChangeKind.EDIT, room, user, seq, text, extra));
const del = (log: RoomLog, room: string, user: Actor, seq: number, extra: Partial<ChangeRequest> = {}) => log.change(change(MessageChangeKind.DELETE, room, user, seq, "", extra));
const seqOf = (o: { kind: string; seq?: number }) => (o.kind === "stored" ? o.seq! : -1);

/** GetHistory's page, as the client decodes it. */
async function historyOf(log: RoomLog, room: string): Promise<ChatMessage[]> {
  const page = await log.history(room, { limit: 100 });
  return page.messages.map((m) => decode(encodeMessageEvent(m)));
}

describe.each(backends)("message changes: $name", (backend) => {
  beforeEach(({ skip }) => {
    if (!backend.available()) skip();
  });
  afterEach(() => backend.cleanup?.());

  async function open(retention?: Retention): Promise<RoomLog> {
    const log = await backend.open(retention);
    opened.push(log);
    return log;
  }

  it("an edit is a new numbered entry naming its target; history, recent and a replay give the target edited, then the edit", async () => {
    const log = await open();
    const r = recorder();
    await log.subscribe("lobby", r.l);
    await post(log, "lobby", ann, "helo");
    await post(log, "lobby", bob, "hi");
    const before = await log.recent("lobby", 2, { maxMessages: 10, maxBytes: 1e9 }); // fills the cached tail
    expect(before).toHaveLength(2);
    const outcome = await edit(log, "lobby", ann, 1, "hello", { clientMsgId: "e1" });
    expect(outcome).toEqual({ kind: "stored", seq: 3 });
    await waitUntil(() => r.entries.length === 3, "three deliveries");
    const live = decode(r.entries[2]);
    expect(live).toMatchObject({ seq: 3n, sender: "ann", senderId: "u-ann", text: "hello", clientMsgId: "e1", change: { targetSeq: 1n, kind: MessageChangeKind.EDIT } });
    for (const entries of [await log.recent("lobby", 3, { maxMessages: 10, maxBytes: 1e9 }), await log.read("lobby", 0, { maxMessages: 10, maxBytes: 1e9 })]) {
      const msgs = entries.map(decode);
      expect(msgs.map((m) => [Number(m.seq), m.text, m.editedAt !== undefined])).toEqual([
        [1, "hello", true],
        [2, "hi", false],
        [3, "hello", false],
      ]);
    }
    const history = await historyOf(log, "lobby");
    expect(history[0].text).toBe("hello");
    expect(history[0].editedAt).toBeDefined();
  });

  it("a delete leaves a tombstone without text; the edits of it and the quotes of replies to it lose their text too", async () => {
    const log = await open();
    await post(log, "lobby", ann, "my secret plan");
    await edit(log, "lobby", ann, 1, "my edited secret plan");
    await post(log, "lobby", bob, "what plan?", { replyToSeq: 1 });
    const reply = (await log.history("lobby", { limit: 10 })).messages[2];
    expect(reply.replyTo).toEqual({ seq: 1, sender: "ann", quote: "my edited secret plan", deleted: false });
    // The check can see the text where it is (so its "not found" below means something).
    if (backend.holds) expect(await backend.holds("secret plan")).toBe(true);
    expect(seqOf(await del(log, "lobby", ann, 1))).toBe(4);
    const history = await historyOf(log, "lobby");
    expect(history.map((m) => [Number(m.seq), m.text, m.deleted, m.change?.kind ?? 0])).toEqual([
      [1, "", true, 0],
      [2, "", false, MessageChangeKind.EDIT],
      [3, "what plan?", false, 0],
      [4, "", false, MessageChangeKind.DELETE],
    ]);
    expect(history[2].replyTo).toMatchObject({ seq: 1n, quote: "", deleted: true });
    // SQLite empties its WAL at most once a second (a deleted text leaves the files within it).
    const inFiles = () =>
      (backend.files ?? []).filter((file) => {
        try {
          return readFileSync(file).includes(Buffer.from("secret plan"));
        } catch {
          return false; // no WAL file: nothing in it
        }
      });
    await waitUntil(() => inFiles().length === 0, `"secret plan" to leave ${inFiles().join(", ")}`, 3000).catch(() => {
      expect(inFiles(), "files still holding the deleted text").toEqual([]);
    });
    if (backend.holds) expect(await backend.holds("secret plan"), "the deleted text in Redis").toBe(false);
  });

  it("a deleted text leaves no bytes behind in Redis, even where the history keeps messages around it", async ({ skip }) => {
    if (!backend.holds) return skip();
    const log = await open();
    await post(log, "lobby", bob, "before it");
    const target = seqOf(await post(log, "lobby", ann, "unforgettable words"));
    await post(log, "lobby", bob, "after it");
    expect(await backend.holds("unforgettable words")).toBe(true);
    expect(seqOf(await del(log, "lobby", ann, target))).toBe(4);
    expect((await historyOf(log, "lobby")).map((m) => m.text)).toEqual(["before it", "", "after it", ""]);
    // Deleting an entry from a Redis stream (XDEL) would only flag it: its bytes stay in the stream's node (DUMP, RDB).
    expect(await backend.holds("unforgettable words")).toBe(false);
  });

  it("a reply to a deleted message carries the tombstone; a reply to a room action or an unknown number is refused", async () => {
    const log = await open();
    await post(log, "lobby", ann, "gone soon");
    await del(log, "lobby", ann, 1);
    const stored = await post(log, "lobby", bob, "re", { replyToSeq: 1 });
    expect(stored.kind).toBe("stored");
    expect((await historyOf(log, "lobby"))[2].replyTo).toMatchObject({ seq: 1n, sender: "ann", quote: "", deleted: true });
    expect(await post(log, "lobby", bob, "re", { replyToSeq: 2 })).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT });
    expect(await post(log, "lobby", bob, "re", { replyToSeq: 99 })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("a reply to a message of another room is refused (numbers are per room)", async () => {
    const log = await open();
    await post(log, "other", ann, "over there");
    await post(log, "lobby", ann, "here");
    expect(await post(log, "lobby", bob, "re", { replyToSeq: 2 })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    expect(await edit(log, "lobby", ann, 2, "x")).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("a reply may name a message sent in the same turn (numbered, not yet stored)", async ({ skip }) => {
    // The embedded log's batching; a log shared by nodes numbers each send on its own.
    if (backend.multiNode) return skip();
    const log = await open();
    const [first, second] = await Promise.all([post(log, "lobby", ann, "question"), post(log, "lobby", bob, "answer", { replyToSeq: 1 })]);
    expect([seqOf(first), seqOf(second)]).toEqual([1, 2]);
    expect((await log.history("lobby", { limit: 10 })).messages[1].replyTo).toEqual({ seq: 1, sender: "ann", quote: "question", deleted: false });
  });

  it("only the author edits; the author, a moderator or an owner deletes; anyone else is refused", async () => {
    const log = await open();
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE, roles: { "u-mod": RoomRole.OWNER } }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "ann's");
    await post(log, "club", bob, "bob's");
    expect(await edit(log, "club", bob, 2, "mine now")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(await edit(log, "club", mod, 2, "moderated")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(await del(log, "club", bob, 2)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(await del(log, "club", ann, 3)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(seqOf(await edit(log, "club", ann, 2, "ann's, edited"))).toBe(4);
  });

  it("the owner deletes someone's message; a member may not delete another's", async () => {
    const log = await open();
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE, roles: { "u-mod": RoomRole.OWNER } }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "ann's");
    await post(log, "club", bob, "bob's");
    expect(await del(log, "club", ann, 3)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED });
    expect(seqOf(await del(log, "club", mod, 3))).toBe(4);
    expect(seqOf(await del(log, "club", ann, 2))).toBe(5);
    expect(seqOf(await edit(log, "club", bob, 3, "too late"))).toBe(-1);
  });

  it("refuses a change of a room action, of a change entry, of a deleted message, and an edit past the window", async () => {
    const log = await open();
    await log.act({ room: "club", actor: ann, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "old", { sentAtMs: Date.now() - 2 * 60 * 60 * 1000 });
    await post(log, "club", ann, "new");
    expect(await edit(log, "club", ann, 1, "x")).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT });
    expect(await edit(log, "club", ann, 2, "x", { editWindowMs: 60 * 60 * 1000 })).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("edit window (1 h)") });
    expect(seqOf(await edit(log, "club", ann, 3, "newer"))).toBe(4);
    expect(await del(log, "club", ann, 4)).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT });
    expect(seqOf(await del(log, "club", ann, 3))).toBe(5);
    expect(await del(log, "club", ann, 3)).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("was deleted") });
    expect(await edit(log, "club", ann, 3, "back")).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
    expect(await edit(log, "club", ann, 0, "x")).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("a message beyond retention cannot be edited or deleted (FAILED_PRECONDITION); a number never given is NOT_FOUND", async () => {
    const log = await open({ ...defaultRetention, maxMessagesPerRoom: 2 });
    for (const text of ["a", "b", "c"]) await post(log, "lobby", ann, text);
    expect(await edit(log, "lobby", ann, 1, "x")).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("beyond retention") });
    expect(await del(log, "lobby", ann, 1)).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
    expect(await del(log, "lobby", ann, 4)).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
    expect(await post(log, "lobby", ann, "re", { replyToSeq: 1 })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
  });

  it("is idempotent by client_msg_id: the same change again is the original entry; another change under the key is a conflict", async () => {
    const log = await open();
    await post(log, "lobby", ann, "one");
    await post(log, "lobby", ann, "two");
    expect(seqOf(await edit(log, "lobby", ann, 1, "uno", { clientMsgId: "k" }))).toBe(3);
    expect(await edit(log, "lobby", ann, 1, "uno", { clientMsgId: "k" })).toMatchObject({ kind: "duplicate", original: { seq: 3, text: "uno", change: { targetSeq: 1 } } });
    expect(await edit(log, "lobby", ann, 1, "eins", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(await edit(log, "lobby", ann, 2, "uno", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(await del(log, "lobby", ann, 1, { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(await post(log, "lobby", ann, "uno", { clientMsgId: "k" })).toEqual({ kind: "conflict" });
    expect(seqOf(await del(log, "lobby", ann, 2, { clientMsgId: "d" }))).toBe(4);
    expect(await del(log, "lobby", ann, 2, { clientMsgId: "d" })).toMatchObject({ kind: "duplicate", original: { seq: 4 } });
    expect((await log.position("lobby")).lastSeq).toBe(4);
  });

  it("an edit racing a delete: decided one after the other, the message ends deleted with no text left anywhere", async () => {
    const log = await open();
    await post(log, "lobby", ann, "racy text");
    const [edited, deleted] = await Promise.all([edit(log, "lobby", ann, 1, "racier text"), del(log, "lobby", ann, 1)]);
    expect(deleted.kind).toBe("stored");
    const history = await historyOf(log, "lobby");
    expect(history[0]).toMatchObject({ text: "", deleted: true });
    expect(history.map((m) => m.text).join("")).not.toContain("rac");
    // The other order: a delete first, the edit after it is refused.
    await post(log, "lobby", ann, "second");
    const last = (await log.position("lobby")).lastSeq;
    const [d2, e2] = await Promise.all([del(log, "lobby", ann, last), edit(log, "lobby", ann, last, "resurrected")]);
    expect(d2.kind).toBe("stored");
    expect(e2).toMatchObject({ kind: "refused", code: ErrorCode.FAILED_PRECONDITION });
    expect(edited.kind === "stored" || edited.kind === "refused").toBe(true);
  });

  it("a banned or muted user may not edit; a banned one may not delete", async () => {
    const log = await open();
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "a");
    await post(log, "club", bob, "b");
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.MUTE, targetUser: "u-ann" }, clientActionId: "", sentAtMs: Date.now() });
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.BAN, targetUser: "u-bob" }, clientActionId: "", sentAtMs: Date.now() });
    expect(await edit(log, "club", ann, 2, "x")).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("muted") });
    expect(await del(log, "club", bob, 3)).toMatchObject({ kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: expect.stringContaining("banned") });
    expect(seqOf(await del(log, "club", ann, 2))).toBe(6);
  });

  it("across nodes: an edit and a delete made on one node reach the other live, in order; its replay, recent and history show them applied", async ({ skip }) => {
    if (!backend.multiNode) return skip();
    const a = await open();
    const b = await open();
    const ra = recorder();
    const rb = recorder();
    await a.subscribe("lobby", ra.l);
    await b.subscribe("lobby", rb.l);
    await post(a, "lobby", ann, "first draft");
    await post(b, "lobby", bob, "agreed", { replyToSeq: 1 });
    await post(a, "lobby", ann, "to be removed");
    await waitUntil(() => rb.entries.length === 3, "node b got three messages");
    expect(seqOf(await edit(a, "lobby", ann, 1, "final text"))).toBe(4);
    expect(seqOf(await del(a, "lobby", ann, 3))).toBe(5);
    await waitUntil(() => rb.entries.length === 5, "node b got the edit and the delete");
    expect(rb.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(decode(rb.entries[3])).toMatchObject({ text: "final text", change: { targetSeq: 1n, kind: MessageChangeKind.EDIT } });
    expect(decode(rb.entries[4])).toMatchObject({ text: "", change: { targetSeq: 3n, kind: MessageChangeKind.DELETE } });
    // A client of node b resuming from before the changes: each message as it is now, then the change entries.
    const shown = (msgs: ChatMessage[]) => msgs.map((m) => [Number(m.seq), m.text, m.deleted, m.editedAt !== undefined, m.replyTo?.quote ?? null]);
    const now = [
      [1, "final text", false, true, null],
      [2, "agreed", false, false, "final text"],
      [3, "", true, false, null],
      [4, "final text", false, false, null],
      [5, "", false, false, null],
    ];
    expect(shown((await b.read("lobby", 0, { maxMessages: 10, maxBytes: 1e9 })).map(decode))).toEqual(now);
    expect(shown((await b.recent("lobby", 5, { maxMessages: 10, maxBytes: 1e9 })).map(decode))).toEqual(now);
    expect(shown(await historyOf(b, "lobby"))).toEqual(now);
  });

  it("Redis: a change keeps an empty room's history expiring, leaves no working key behind, and a deleted room leaves no key", async ({ skip }) => {
    if (!backend.keys) return skip();
    const log = await open({ ...defaultRetention, maxAgeMs: 60 * 60 * 1000 });
    const member = { nickname: "ann", skeleton: "ann", joinedAtMs: Date.now(), userId: ann.userId };
    await log.claim("lobby", member, 10);
    await post(log, "lobby", ann, "left behind");
    await log.release("lobby", member, LeaveReason.LEFT);
    const logKey = (keys: Map<string, number>) => [...keys].find(([k]) => k.endsWith("{lobby}:log"));
    expect(logKey(await backend.keys())?.[1]).toBeGreaterThan(0); // the empty room's history expires
    expect(seqOf(await edit(log, "lobby", ann, 1, "left behind, edited"))).toBe(2);
    expect(seqOf(await del(log, "lobby", ann, 1))).toBe(3);
    const after = await backend.keys();
    expect(logKey(after)?.[1]).toBeGreaterThan(0);
    expect([...after.keys()].filter((k) => k.includes("rewrite"))).toEqual([]);
    // A room with state, changed, then deleted: nothing of it is left but its new epoch and the idempotency keys' window.
    await log.act({ room: "club", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
    await post(log, "club", ann, "club talk");
    expect(seqOf(await del(log, "club", mod, 2))).toBe(3);
    expect(await log.act({ room: "club", actor: { userId: "", name: "the app", admin: true }, action: { kind: RoomActionKind.DELETE }, clientActionId: "", sentAtMs: Date.now() })).toMatchObject({ kind: "stored" });
    expect([...(await backend.keys()).keys()].filter((k) => k.includes("{club}")).map((k) => k.slice(k.indexOf("}") + 2)).sort()).toEqual(["meta"]);
  });

  it("across nodes: edits are decided while another node keeps sending (messages in between do not make them start over for ever)", async ({ skip }) => {
    if (!backend.multiNode) return skip();
    const a = await open();
    const b = await open();
    const targets: number[] = [];
    for (let i = 0; i < 5; i++) targets.push(seqOf(await post(a, "lobby", ann, `draft ${i}`)));
    const sends = Array.from({ length: 200 }, (_, i) => post(b, "lobby", bob, `chatter ${i}`));
    const edits = targets.map((seq, i) => edit(a, "lobby", ann, seq, `final ${i}`));
    const outcomes = await Promise.all(edits);
    await Promise.all(sends);
    expect(outcomes.map((o) => o.kind)).toEqual(["stored", "stored", "stored", "stored", "stored"]);
    const history = (await a.history("lobby", { limit: 300 })).messages;
    expect(targets.map((seq) => history.find((m) => m.seq === seq)?.text)).toEqual(["final 0", "final 1", "final 2", "final 3", "final 4"]);
    expect(history.filter((m) => m.text.startsWith("chatter"))).toHaveLength(200);
  });

  it("across nodes: a reply racing a delete of its target never keeps the deleted text", async ({ skip }) => {
    if (!backend.multiNode) return skip();
    const a = await open();
    const b = await open();
    for (let i = 0; i < 8; i++) {
      const target = seqOf(await post(a, "lobby", ann, `doomed words ${i}`));
      const [deleted, reply] = await Promise.all([del(a, "lobby", ann, target), post(b, "lobby", bob, `re ${i}`, { replyToSeq: target })]);
      expect(deleted.kind).toBe("stored");
      // Stored before the delete (and rewritten by it) or after it (quoting the tombstone): no quote either way.
      const stored = (await b.history("lobby", { afterSeq: seqOf(reply) - 1, limit: 1 })).messages[0];
      expect(stored.replyTo).toEqual({ seq: target, sender: "ann", quote: "", deleted: true });
    }
    expect(await backend.holds!("doomed words")).toBe(false);
  });
});

describe("message changes: the Redis log", () => {
  it("stores replies with their quote; refuses a reply to a room action or an unknown number", async ({ skip }) => {
    if (!(await redisAnswers())) return skip();
    const prefix = uniquePrefix("replies");
    const log = new RedisRoomLog({ url: REDIS_URL, cluster: false, prefix, retention: defaultRetention, leaseMs: 3000 });
    try {
      expect(await log.connect()).toBe(true);
      const r = recorder();
      await log.subscribe("lobby", r.l);
      await log.act({ room: "lobby", actor: mod, action: { kind: RoomActionKind.CREATE }, clientActionId: "", sentAtMs: Date.now() });
      await post(log, "lobby", ann, "question? ".repeat(20));
      const stored = await post(log, "lobby", bob, "answer", { replyToSeq: 2, clientMsgId: "r1" });
      const quote = { seq: 2, sender: "ann", quote: "question? ".repeat(10), deleted: false };
      expect(stored).toEqual({ kind: "stored", seq: 3, replyTo: quote });
      await waitUntil(() => r.entries.length === 3, "three deliveries");
      expect(decode(r.entries[2]).replyTo).toMatchObject({ seq: 2n, sender: "ann", quote: quote.quote, deleted: false });
      expect((await log.history("lobby", { limit: 10 })).messages[2].replyTo).toEqual(quote);
      // A resend names the same target: the original; another target under the key: a conflict.
      expect(await post(log, "lobby", bob, "answer", { replyToSeq: 2, clientMsgId: "r1" })).toMatchObject({ kind: "duplicate", original: { seq: 3 } });
      expect(await post(log, "lobby", bob, "answer", { replyToSeq: 3, clientMsgId: "r1" })).toEqual({ kind: "conflict" });
      expect(await post(log, "lobby", bob, "re", { replyToSeq: 1 })).toMatchObject({ kind: "refused", code: ErrorCode.INVALID_ARGUMENT });
      expect(await post(log, "lobby", bob, "re", { replyToSeq: 99 })).toMatchObject({ kind: "refused", code: ErrorCode.NOT_FOUND });
      expect((await log.position("lobby")).lastSeq).toBe(3);
    } finally {
      await log.close();
      await deletePrefix(REDIS_URL, prefix).catch(() => {});
    }
  });
});
