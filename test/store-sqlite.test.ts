/** SQLite-only behaviour: persistence across restarts, startup errors, WAL, pruning. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { ReadReceiptsSetting, RoomActionKind, RoomActionSchema, RoomRole, RoomVisibility } from "../gen/chat/v1/chat_pb.js";
import { EmbeddedRoomLog } from "../src/log/embedded-log.js";
import { textHash } from "../src/log/text-hash.js";
import { defaultState } from "../src/rooms/room-state.js";
import type { HistoryStore, StoredMessage } from "../src/store/history-store.js";
import { DEFAULT_HISTORY_DB_PATH, openHistoryStore } from "../src/store/open-store.js";
import { defaultRetention } from "../src/store/retention.js";
import { SCHEMA_VERSION, SqliteHistoryStore, StoreOpenError, type SqliteStoreOptions } from "../src/store/sqlite-store.js";
import { waitUntil } from "./support/wait.js";

const projectRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
const storeModule = join(projectRoot, "src/store/sqlite-store.ts");

let dir: string;
let dbPath: string;
const stores: SqliteHistoryStore[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "store-sqlite-"));
  dbPath = join(dir, "chat.db");
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const store of stores.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(options: SqliteStoreOptions = {}, path = dbPath): SqliteHistoryStore {
  const store = new SqliteHistoryStore(path, { pruneIntervalMs: 0, ...options });
  stores.push(store);
  return store;
}

function close(store: SqliteHistoryStore): void {
  store.close();
  stores.splice(stores.indexOf(store), 1);
}

function msg(room: string, seq: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { room, seq, sender: "ann", text: `message ${seq}`, sentAtMs: Date.now(), clientMsgId: "", ...extra };
}

/** Append as the embedded log does: each room's epoch is "epoch-<room>". */
function put(store: HistoryStore, messages: StoredMessage[]): void {
  store.append(messages.map((message) => ({ message, epoch: `epoch-${message.room}`, textHash: textHash(message.text) })));
}

/** The embedded log's end-of-turn hook, run on setImmediate. */
function immediateTurn() {
  const hooks: (() => void)[] = [];
  return { addHook: (h: () => void) => hooks.push(h), schedule: () => void setImmediate(() => hooks.forEach((h) => h())) };
}

function openError(fn: () => unknown): StoreOpenError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreOpenError);
    const e = err as StoreOpenError;
    expect(e.message).not.toContain("\n");
    return e;
  }
  throw new Error("expected a StoreOpenError");
}

/** Run a script in another Node process (with tsx, so it can import the store); resolves once it prints "ready". */
function runChild(source: string): Promise<ChildProcess> {
  const script = join(dir, `child-${children.length}.mts`);
  writeFileSync(script, source);
  const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolvePromise, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("ready")) resolvePromise(child);
    });
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`child exited (${code}) before ready: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", () => r()));
}

describe("SqliteHistoryStore persistence", () => {
  it("keeps messages, epochs and sequence numbers across close and reopen", () => {
    const first = open();
    put(first, [msg("lobby", 1, { clientMsgId: "c1" }), msg("lobby", 2), msg("other", 1)]);
    const before = first.recent("lobby", 10);
    close(first);

    const second = open();
    expect(second.peek("lobby")).toEqual({ epoch: "epoch-lobby", firstSeq: 1, lastSeq: 2 });
    expect(second.recent("lobby", 10)).toEqual(before);
    expect(second.findSent("lobby", "ann", "c1")?.seq).toBe(1);
    expect(() => put(second, [msg("lobby", 2)])).toThrow();
    put(second, [msg("lobby", 3)]);
    expect(second.peek("lobby")).toEqual({ epoch: "epoch-lobby", firstSeq: 1, lastSeq: 3 });
  });

  it("keeps lastSeq across a restart when retention deleted every message but a key is still in its window", () => {
    const first = open({ retention: { ...defaultRetention, maxMessagesPerRoom: 10, maxAgeMs: 1000 } });
    put(first, [msg("r", 1, { sentAtMs: Date.now() - 5000, clientMsgId: "k" }), msg("r", 2, { sentAtMs: Date.now() - 5000 })]);
    close(first);
    const second = open();
    expect(second.peek("r")).toEqual({ epoch: "epoch-r", firstSeq: 0, lastSeq: 2 });
  });

  it("upgrades a version 1 file: keys of stored messages are kept in the new table, their window starting now", () => {
    const db = new Database(dbPath);
    db.pragma("journal_mode = WAL");
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY NOT NULL, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, kept INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, client_msg_id TEXT NOT NULL DEFAULT '', PRIMARY KEY (room, seq));
      CREATE UNIQUE INDEX messages_by_client_msg_id ON messages (room, sender, client_msg_id) WHERE client_msg_id != '';
      INSERT INTO rooms VALUES ('lobby', 'old-epoch', 2, 2, 1);
      INSERT INTO messages VALUES ('lobby', 1, 'ann', 'hello', 1000, 'c1'), ('lobby', 2, 'bob', 'hi', 2000, '');
      PRAGMA user_version = 1;
    `);
    db.close();
    const store = open();
    expect(store.peek("lobby")).toEqual({ epoch: "old-epoch", firstSeq: 1, lastSeq: 2 });
    expect(store.findSent("lobby", "ann", "c1")).toMatchObject({ seq: 1, textHash: textHash("hello") });
    put(store, [msg("lobby", 3, { clientMsgId: "c1", sender: "bob" })]);
    expect(store.recent("lobby", 10).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("upgrades a version 2 file (today's schema before rooms had state): messages kept, rooms without state, new entries with sender id and action", () => {
    const db = new Database(dbPath);
    db.pragma("journal_mode = WAL");
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY NOT NULL, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, kept INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL, id_count INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, client_msg_id TEXT NOT NULL DEFAULT '', PRIMARY KEY (room, seq));
      CREATE TABLE sent_ids (room TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT NULL, seq INTEGER NOT NULL, sent_at_ms INTEGER NOT NULL, text_hash TEXT NOT NULL, PRIMARY KEY (room, sender, client_msg_id)) WITHOUT ROWID;
      CREATE INDEX sent_ids_by_age ON sent_ids (room, sent_at_ms);
      INSERT INTO rooms VALUES ('lobby', 'old-epoch', 2, 2, 1, 1);
      INSERT INTO messages VALUES ('lobby', 1, 'ann', 'hello', 1000, 'c1'), ('lobby', 2, 'bob', 'hi', 2000, '');
      INSERT INTO sent_ids VALUES ('lobby', 'ann', 'c1', 1, ${Date.now()}, '${textHash("hello")}');
      PRAGMA user_version = 2;
    `);
    db.close();
    const store = open();
    expect(store.peek("lobby")).toEqual({ epoch: "old-epoch", firstSeq: 1, lastSeq: 2 });
    expect(store.recent("lobby", 10)).toEqual([
      { room: "lobby", seq: 1, sender: "ann", text: "hello", sentAtMs: 1000, clientMsgId: "c1" },
      { room: "lobby", seq: 2, sender: "bob", text: "hi", sentAtMs: 2000, clientMsgId: "" },
    ]);
    expect(store.findSent("lobby", "ann", "c1")?.seq).toBe(1);
    expect(store.state("lobby")).toBeUndefined();
    const state = { ...defaultState(5), roles: { "u-ann": RoomRole.OWNER }, version: 1 };
    const action = new Uint8Array([8, 1]);
    store.append([{ message: msg("lobby", 3, { senderId: "u-ann", action }), epoch: "x", textHash: "h", state }]);
    expect(store.recent("lobby", 1)[0]).toMatchObject({ seq: 3, senderId: "u-ann", action });
    expect(store.state("lobby")).toEqual(state);
    expect(store.roomsOf("u-ann", 10)).toEqual([{ name: "lobby", state }]);
    close(store);
    const raw = new Database(dbPath, { readonly: true });
    expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    raw.close();
  });

  it("upgrades a version 3 file (before messages could change): its messages are plain, and can then be edited, replied to, deleted and read", () => {
    const db = new Database(dbPath);
    db.pragma("journal_mode = WAL");
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY NOT NULL, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, kept INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL, id_count INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, client_msg_id TEXT NOT NULL DEFAULT '', sender_id TEXT NOT NULL DEFAULT '', action BLOB, PRIMARY KEY (room, seq));
      CREATE TABLE sent_ids (room TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT NULL, seq INTEGER NOT NULL, sent_at_ms INTEGER NOT NULL, text_hash TEXT NOT NULL, PRIMARY KEY (room, sender, client_msg_id)) WITHOUT ROWID;
      CREATE INDEX sent_ids_by_age ON sent_ids (room, sent_at_ms);
      CREATE TABLE room_states (name TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE room_roles (user_id TEXT NOT NULL, room TEXT NOT NULL, role INTEGER NOT NULL, PRIMARY KEY (user_id, room)) WITHOUT ROWID;
      CREATE INDEX room_roles_by_room ON room_roles (room);
      INSERT INTO rooms VALUES ('lobby', 'old-epoch', 2, 2, 1, 0);
      INSERT INTO messages VALUES ('lobby', 1, 'ann', 'a secret from v3', 1000, '', 'u-ann', NULL), ('lobby', 2, 'bob', 'hi', 2000, '', 'u-bob', NULL);
      PRAGMA user_version = 3;
    `);
    db.close();
    const store = open();
    expect(store.recent("lobby", 10)).toEqual([
      { room: "lobby", seq: 1, sender: "ann", text: "a secret from v3", sentAtMs: 1000, clientMsgId: "", senderId: "u-ann" },
      { room: "lobby", seq: 2, sender: "bob", text: "hi", sentAtMs: 2000, clientMsgId: "", senderId: "u-bob" },
    ]);
    store.append([{ message: msg("lobby", 3, { sender: "bob", text: "re", replyTo: { seq: 1, sender: "ann", quote: "a secret from v3", deleted: false } }), epoch: "x", textHash: "h" }]);
    store.append([{ message: msg("lobby", 4, { text: "edited in v4", sentAtMs: 5000, change: { targetSeq: 2, kind: 1 } }), epoch: "x", textHash: "h" }]);
    store.append([{ message: msg("lobby", 5, { text: "", change: { targetSeq: 1, kind: 2 } }), epoch: "x", textHash: "h" }]);
    expect(store.get("lobby", 1)).toEqual({ room: "lobby", seq: 1, sender: "ann", text: "", sentAtMs: 1000, clientMsgId: "", senderId: "u-ann", deleted: true });
    expect(store.get("lobby", 2)).toMatchObject({ text: "edited in v4", editedAtMs: 5000 });
    expect(store.get("lobby", 3)?.replyTo).toEqual({ seq: 1, sender: "ann", quote: "", deleted: true });
    expect(store.get("lobby", 5)?.change).toEqual({ targetSeq: 1, kind: 2 });
    expect(readFileSync(dbPath).includes(Buffer.from("secret from v3"))).toBe(false);
    // Version 5: read positions, forward only, kept across a restart.
    expect(store.readPosition("lobby", "u-ann")).toBe(0);
    expect(store.markRead("lobby", "u-ann", 3)).toBe(3);
    expect(store.markRead("lobby", "u-ann", 2)).toBe(3);
    close(store);
    const reopened = open();
    expect(reopened.readPosition("lobby", "u-ann")).toBe(3);
    expect(reopened.readPosition("lobby", "u-bob")).toBe(0);
    close(reopened);
    const raw = new Database(dbPath, { readonly: true });
    expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(6);
    raw.close();
  });

  it("upgrades a version 5 file (before reactions): its messages have none, then count reactions, lose them when deleted, and keep them across a restart", () => {
    const db = new Database(dbPath);
    db.pragma("journal_mode = WAL");
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY NOT NULL, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, kept INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL, id_count INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, client_msg_id TEXT NOT NULL DEFAULT '', sender_id TEXT NOT NULL DEFAULT '', action BLOB,
        change_kind INTEGER NOT NULL DEFAULT 0, change_target INTEGER NOT NULL DEFAULT 0, edited_at_ms INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
        reply_to_seq INTEGER NOT NULL DEFAULT 0, reply_sender TEXT NOT NULL DEFAULT '', reply_quote TEXT NOT NULL DEFAULT '', reply_deleted INTEGER NOT NULL DEFAULT 0,
        mentions TEXT NOT NULL DEFAULT '', PRIMARY KEY (room, seq));
      CREATE INDEX messages_by_change_target ON messages (room, change_target) WHERE change_target != 0;
      CREATE INDEX messages_by_reply_to ON messages (room, reply_to_seq) WHERE reply_to_seq != 0;
      CREATE TABLE sent_ids (room TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT NULL, seq INTEGER NOT NULL, sent_at_ms INTEGER NOT NULL, text_hash TEXT NOT NULL, PRIMARY KEY (room, sender, client_msg_id)) WITHOUT ROWID;
      CREATE INDEX sent_ids_by_age ON sent_ids (room, sent_at_ms);
      CREATE TABLE room_states (name TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE room_roles (user_id TEXT NOT NULL, room TEXT NOT NULL, role INTEGER NOT NULL, PRIMARY KEY (user_id, room)) WITHOUT ROWID;
      CREATE INDEX room_roles_by_room ON room_roles (room);
      CREATE TABLE read_positions (room TEXT NOT NULL, user_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (room, user_id)) WITHOUT ROWID;
      INSERT INTO rooms VALUES ('lobby', 'old-epoch', 2, 2, 1, 0);
      INSERT INTO messages (room, seq, sender, text, sent_at_ms, sender_id, mentions) VALUES ('lobby', 1, 'ann', 'from v5', 1000, 'u-ann', 'u-bob'), ('lobby', 2, 'bob', 'hi', 2000, 'u-bob', '');
      INSERT INTO read_positions VALUES ('lobby', 'u-bob', 1);
      PRAGMA user_version = 5;
    `);
    db.close();
    const store = open();
    expect(store.recent("lobby", 10)).toEqual([
      { room: "lobby", seq: 1, sender: "ann", text: "from v5", sentAtMs: 1000, clientMsgId: "", senderId: "u-ann", mentions: ["u-bob"] },
      { room: "lobby", seq: 2, sender: "bob", text: "hi", sentAtMs: 2000, clientMsgId: "", senderId: "u-bob" },
    ]);
    expect(store.readPosition("lobby", "u-bob")).toBe(1);
    const reaction = (seq: number, senderId: string, targetSeq: number, emoji: string, removed = false) =>
      msg("lobby", seq, { sender: senderId.slice(2), senderId, text: "", reaction: { targetSeq, emoji, removed } });
    store.append([
      { message: reaction(3, "u-bob", 1, "👍"), epoch: "x", textHash: "h" },
      { message: reaction(4, "u-ann", 1, "👍"), epoch: "x", textHash: "h" },
      { message: reaction(5, "u-ann", 2, "🎉"), epoch: "x", textHash: "h" },
      { message: reaction(6, "u-ann", 1, "👍", true), epoch: "x", textHash: "h" },
    ]);
    expect(store.get("lobby", 1)?.reactions).toEqual([{ emoji: "👍", userIds: ["u-bob"] }]);
    expect(store.get("lobby", 6)?.reaction).toEqual({ targetSeq: 1, emoji: "👍", removed: true });
    store.append([{ message: msg("lobby", 7, { sender: "bob", senderId: "u-bob", text: "", change: { targetSeq: 2, kind: 2 } }), epoch: "x", textHash: "h" }]);
    expect(store.get("lobby", 2)).toEqual({ room: "lobby", seq: 2, sender: "bob", text: "", sentAtMs: 2000, clientMsgId: "", senderId: "u-bob", deleted: true });
    close(store);
    const reopened = open();
    expect(reopened.get("lobby", 1)?.reactions).toEqual([{ emoji: "👍", userIds: ["u-bob"] }]);
    expect(reopened.get("lobby", 2)?.reactions).toBeUndefined();
    close(reopened);
    const raw = new Database(dbPath, { readonly: true });
    expect(raw.pragma("user_version", { simple: true })).toBe(6);
    raw.close();
  });

  it("a room log on the file keeps room state, bans and action entries across a restart", async () => {
    const first = new EmbeddedRoomLog({ store: open(), turn: immediateTurn() });
    const ann = { userId: "u-ann", name: "ann" };
    await first.act({ room: "pub", actor: ann, action: { kind: RoomActionKind.CREATE, topic: "t", visibility: RoomVisibility.PRIVATE, roles: { "u-bob": RoomRole.MEMBER } }, clientActionId: "", sentAtMs: Date.now() });
    await first.act({ room: "pub", actor: ann, action: { kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam" }, clientActionId: "b1", sentAtMs: Date.now() });
    const before = await first.state("pub");
    await first.close();
    stores.splice(0);

    const second = new EmbeddedRoomLog({ store: open(), turn: immediateTurn() });
    expect(await second.state("pub")).toEqual(before);
    expect(before?.bans["u-mal"]).toEqual({ untilMs: 0, reason: "spam" });
    expect(await second.claim("pub", { nickname: "mallory", skeleton: "mallory", joinedAtMs: 1 }, 10, undefined, { userId: "u-mal" })).toMatchObject({ kind: "refused" });
    expect(await second.claim("pub", { nickname: "bob", skeleton: "bob", joinedAtMs: 1 }, 10, undefined, { userId: "u-bob" })).toMatchObject({ kind: "claimed" });
    const page = await second.history("pub", { limit: 10 });
    expect(page.messages.map((m) => [m.seq, m.senderId, m.action ? fromBinary(RoomActionSchema, m.action).kind : undefined])).toEqual([
      [1, "u-ann", RoomActionKind.CREATE],
      [2, "u-ann", RoomActionKind.BAN],
    ]);
    expect((await second.read("pub", 0, { maxMessages: 10, maxBytes: 1e9 })).map((e) => e.action !== undefined)).toEqual([true, true]);
    // The ban's key is remembered too: a retry is a duplicate, not a second ban.
    expect(await second.act({ room: "pub", actor: ann, action: { kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam" }, clientActionId: "b1", sentAtMs: Date.now() })).toMatchObject({ kind: "duplicate", original: { seq: 2 } });
    expect((await second.userRooms("u-bob", 10)).map((r) => r.name)).toEqual(["pub"]);
    await second.close();
    stores.splice(0);
  });

  it("a room state stored before read receipts reads as the server's default; a setting is kept across a restart (no schema change: states are JSON)", async () => {
    const store = open();
    // As version 5 stored a state before the setting existed: no readReceipts key (written as it wrote it).
    const old = { ...defaultState(1000), creator: "u-ann", roles: { "u-ann": RoomRole.OWNER }, version: 1 };
    expect(old).not.toHaveProperty("readReceipts");
    close(store);
    const raw = new Database(dbPath);
    raw.prepare("INSERT INTO room_states (name, state, version) VALUES (?, ?, ?)").run("den", JSON.stringify(old), 1);
    raw.close();
    const first = new EmbeddedRoomLog({ store: open(), turn: immediateTurn() });
    expect(await first.state("den")).toEqual(old);
    const ann = { userId: "u-ann", name: "ann" };
    const off = await first.act({ room: "den", actor: ann, action: { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF }, clientActionId: "", sentAtMs: Date.now() });
    expect(off).toMatchObject({ kind: "stored", state: { readReceipts: ReadReceiptsSetting.OFF, version: 2 } });
    await first.close();
    stores.splice(0);
    const second = new EmbeddedRoomLog({ store: open(), turn: immediateTurn() });
    expect(await second.state("den")).toMatchObject({ readReceipts: ReadReceiptsSetting.OFF, roles: { "u-ann": RoomRole.OWNER } });
    const page = await second.history("den", { limit: 10 });
    expect(page.messages.map((m) => [m.text, fromBinary(RoomActionSchema, m.action!).readReceipts])).toEqual([["ann turned read receipts off", ReadReceiptsSetting.OFF]]);
    await second.close();
    stores.splice(0);
  });

  it("keeps every acknowledged append when the process is killed with SIGKILL while its WAL is being checkpointed", async () => {
    const child = await runChild(`
      import { SqliteHistoryStore } from ${JSON.stringify(storeModule)};
      const store = new SqliteHistoryStore(${JSON.stringify(dbPath)});
      let s = 0;
      const turn = () => {
        for (const end = s + 20; s < end; ) { s++; store.append([{ message: { room: "r", seq: s, sender: "ann", text: "t" + s, sentAtMs: Date.now(), clientMsgId: "c" + s }, epoch: "e", textHash: "h" }]); }
        console.log("acked " + s);
        setImmediate(turn);
      };
      console.log("ready");
      turn();
    `);
    let acked = 0;
    child.stdout!.on("data", (chunk: Buffer) => {
      for (const m of chunk.toString().matchAll(/acked (\d+)/g)) acked = Number(m[1]);
    });
    await waitUntil(() => acked >= 3000, "3,000 appends acknowledged", 20_000);
    child.kill("SIGKILL");
    await exited(child);
    const store = open();
    const last = store.peek("r")!.lastSeq;
    expect(last).toBeGreaterThanOrEqual(acked);
    expect(store.after("r", 0, 5000).map((m) => m.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  });

  it("keeps an acknowledged append when the process is killed with SIGKILL right after", async () => {
    const child = await runChild(`
      import { SqliteHistoryStore } from ${JSON.stringify(storeModule)};
      const store = new SqliteHistoryStore(${JSON.stringify(dbPath)});
      for (let s = 1; s <= 50; s++) store.append([{ message: { room: "r", seq: s, sender: "ann", text: "t" + s, sentAtMs: Date.now(), clientMsgId: "c" + s }, epoch: "e", textHash: "h" }]);
      console.log("ready");
      setInterval(() => {}, 1000);
    `);
    child.kill("SIGKILL");
    await exited(child);
    expect(existsSync(`${dbPath}-wal`)).toBe(true); // not checkpointed: recovery comes from the WAL
    const store = open();
    expect(store.peek("r")).toMatchObject({ firstSeq: 1, lastSeq: 50 });
    expect(store.recent("r", 1)[0]).toMatchObject({ seq: 50, text: "t50", clientMsgId: "c50" });
  });
});

describe("SqliteHistoryStore file format", () => {
  it("lets another process read the history while the store has it open (a backup, the sqlite3 shell)", () => {
    const store = open();
    put(store, [msg("r", 1), msg("r", 2)]);
    const read = `
      const Database = require("module").createRequire(${JSON.stringify(join(projectRoot, "package.json"))})("better-sqlite3");
      const db = new Database(${JSON.stringify(dbPath)}, { readonly: true, timeout: 50 });
      process.stdout.write(String(db.prepare("SELECT count(*) FROM messages WHERE room = 'r'").pluck().get()));
    `;
    expect(execFileSync(process.execPath, ["-e", read], { encoding: "utf8" })).toBe("2");
    put(store, [msg("r", 3)]); // and the store goes on writing
    expect(store.peek("r")).toMatchObject({ lastSeq: 3 });
  });

  it("copies committed messages into the database file from a worker thread, not in a commit", async () => {
    const store = open();
    const dbBytes = () => statSync(dbPath).size;
    const before = dbBytes();
    // 200 commits: fewer than the store lets go by before it checkpoints itself.
    for (let seq = 1; seq <= 200; seq++) {
      put(store, [msg("r", seq, { text: "x".repeat(500) })]);
      if (seq % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil(() => dbBytes() > before + 50_000, "100 KB of messages to reach the database file", 10_000);
  });

  it("keeps the WAL from growing while it commits turn after turn (checkpoints run in a worker, not in a commit)", async () => {
    const store = open();
    const walBytes = () => (existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0);
    let seq = 0;
    const commitTurns = async (turns: number) => {
      for (let i = 0; i < turns; i++) {
        put(store, [msg("r", ++seq)]);
        await new Promise((r) => setImmediate(r));
      }
    };
    await commitTurns(3000);
    // The WAL file keeps the largest size it has had. Never copied back (and so
    // never started over), it would have grown by several pages a commit: 80 MB
    // here. The worker copies it back; when it is starved of CPU (a busy machine)
    // the store does, every few hundred commits.
    expect(walBytes()).toBeLessThan(20_000_000);
    close(store);
    expect(existsSync(`${dbPath}-wal`)).toBe(false); // the last connection to close copies it back and removes it
    expect(open().peek("r")).toMatchObject({ lastSeq: seq });
  });

  it("deleted texts leave the files within a second of a burst of deletes, and at once when the store closes", async () => {
    const store = open();
    put(store, [msg("lobby", 1, { text: "first-secret-71" }), msg("lobby", 2, { text: "second-secret-72" }), msg("lobby", 3, { text: "third-secret-73" })]);
    const holds = (text: string) => [dbPath, `${dbPath}-wal`].some((file) => existsSync(file) && readFileSync(file).includes(Buffer.from(text)));
    expect(holds("first-secret-71")).toBe(true); // the check sees a text that is there
    // The first delete empties the WAL at once; the second, in the same second, waits for its end.
    put(store, [msg("lobby", 4, { text: "", change: { targetSeq: 1, kind: 2 } })]);
    expect(holds("first-secret-71")).toBe(false);
    put(store, [msg("lobby", 5, { text: "", change: { targetSeq: 2, kind: 2 } })]);
    await waitUntil(() => !holds("second-secret-72"), "the second deleted text to leave the WAL", 3000);
    // A third, still waiting when the store closes, is gone once it is closed.
    put(store, [msg("lobby", 6, { text: "", change: { targetSeq: 3, kind: 2 } })]);
    close(store);
    expect(holds("third-secret-73")).toBe(false);
  });

  it("runs in WAL mode", () => {
    const store = open();
    put(store, [msg("r", 1)]);
    expect(existsSync(`${dbPath}-wal`)).toBe(true);
    close(store);
    // Bytes 18 and 19 of the header are 2 for a WAL-mode database.
    const header = readFileSync(dbPath).subarray(0, 20);
    expect(header.subarray(0, 16).toString("latin1")).toBe("SQLite format 3\u0000");
    expect([header[18], header[19]]).toEqual([2, 2]);
  });

  it("records the schema version", () => {
    close(open());
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("creates missing parent directories", () => {
    const nested = join(dir, "a", "b", "c", "chat.db");
    const store = open({}, nested);
    put(store, [msg("r", 1)]);
    expect(statSync(nested).isFile()).toBe(true);
  });

  it("accepts synchronous = FULL", () => {
    const store = open({ synchronous: "FULL" });
    put(store, [msg("r", 1)]);
    expect(store.recent("r", 5)).toHaveLength(1);
  });
});

describe("SqliteHistoryStore startup errors", () => {
  it("refuses a corrupt file, naming it, and leaves it untouched", () => {
    const garbage = randomBytes(16 * 1024);
    writeFileSync(dbPath, garbage);
    const err = openError(() => open());
    expect(err.message).toBe(`cannot open history database ${dbPath}: file is not a database (corrupt, encrypted, or not SQLite)`);
    expect(err.path).toBe(dbPath);
    expect(readFileSync(dbPath).equals(garbage)).toBe(true);
  });

  it("refuses a file with a damaged schema page", () => {
    const store = open();
    put(store, [msg("r", 1)]);
    close(store);
    const bytes = readFileSync(dbPath);
    randomBytes(bytes.length - 100).copy(bytes, 100); // keep the 100-byte header, scramble the rest
    writeFileSync(dbPath, bytes);
    rmSync(`${dbPath}-wal`, { force: true });
    const err = openError(() => open());
    expect(err.message).toMatch(new RegExp(`^cannot open history database ${escape(dbPath)}: .*(corrupt|malformed|not a database)`));
  });

  it("refuses a SQLite database that is not a chat history, and leaves it untouched", () => {
    const other = new Database(dbPath);
    other.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (1)");
    other.close();
    const err = openError(() => open());
    expect(err.message).toContain(dbPath);
    expect(err.message).toContain("not a chat history database");
    const check = new Database(dbPath, { readonly: true });
    expect(check.prepare("SELECT count(*) FROM invoices").pluck().get()).toBe(1);
    check.close();
  });

  it("refuses a database written by a newer schema version", () => {
    close(open());
    const db = new Database(dbPath);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(openError(() => open()).message).toMatch(/schema version \d+ is newer/);
  });

  it("refuses a location under a regular file (fails even as root)", () => {
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const path = join(file, "data", "chat.db");
    const err = openError(() => open({}, path));
    expect(err.message).toMatch(new RegExp(`^cannot open history database ${escape(path)}: cannot create directory`));
  });

  it("refuses a location where files cannot be created (fails even as root)", () => {
    const path = "/proc/chat-history-test.db";
    const err = openError(() => open({}, path));
    expect(err.message).toBe(`cannot open history database ${path}: unable to open database file (check that the path is a writable location)`);
  });

  it("refuses a path that is a directory", () => {
    mkdirSync(dbPath);
    expect(openError(() => open()).message).toBe(`cannot open history database ${dbPath}: path is a directory, not a database file`);
  });

  it("refuses a file a second store in this process holds", () => {
    put(open(), [msg("r", 1)]);
    const err = openError(() => open({ busyTimeoutMs: 50 }));
    expect(err.message).toBe(
      `cannot open history database ${dbPath}: database is locked by another process (is another server using this file?)`,
    );
  });

  it("refuses a file another server process holds", async () => {
    await runChild(`
      import { SqliteHistoryStore } from ${JSON.stringify(storeModule)};
      const store = new SqliteHistoryStore(${JSON.stringify(dbPath)});
      store.append([{ message: { room: "r", seq: 1, sender: "ann", text: "hi", sentAtMs: Date.now(), clientMsgId: "" }, epoch: "e", textHash: "h" }]);
      console.log("ready");
      setInterval(() => {}, 1000);
    `);
    const err = openError(() => open({ busyTimeoutMs: 50 }));
    expect(err.message).toContain(dbPath);
    expect(err.message).toContain("locked by another process");
  });

  it("refuses a file another process has locked exclusively, even when not exclusive itself", async () => {
    close(open());
    await runChild(`
      import { createRequire } from "node:module";
      const Database = createRequire(${JSON.stringify(join(projectRoot, "package.json"))})("better-sqlite3");
      const db = new Database(${JSON.stringify(dbPath)});
      db.pragma("locking_mode = EXCLUSIVE");
      db.exec("BEGIN EXCLUSIVE");
      db.prepare("SELECT count(*) FROM rooms").get();
      console.log("ready");
      setInterval(() => {}, 1000);
    `);
    const err = openError(() => open({ busyTimeoutMs: 50, exclusive: false }));
    expect(err.message).toContain(dbPath);
    expect(err.message).toContain("locked by another process");
  });

  it("can be opened again once the other holder is gone", async () => {
    const child = await runChild(`
      import { SqliteHistoryStore } from ${JSON.stringify(storeModule)};
      const store = new SqliteHistoryStore(${JSON.stringify(dbPath)});
      store.append([{ message: { room: "r", seq: 1, sender: "ann", text: "t", sentAtMs: Date.now(), clientMsgId: "" }, epoch: "e", textHash: "h" }]);
      console.log("ready");
      setInterval(() => {}, 1000);
    `);
    openError(() => open({ busyTimeoutMs: 50 }));
    child.kill("SIGKILL");
    await exited(child);
    expect(open().peek("r")).toMatchObject({ lastSeq: 1 });
  });
});

describe("SqliteHistoryStore pruning", () => {
  it("prune() drops expired messages in rooms nobody writes to, then the rooms left with nothing", () => {
    const store = open({ retention: { ...defaultRetention, maxMessagesPerRoom: 100, maxAgeMs: 60_000 } });
    const now = Date.now();
    put(store, [msg("quiet", 1, { sentAtMs: now - 1000 }), msg("quiet", 2, { sentAtMs: now - 500 }), msg("quiet", 3, { sentAtMs: now })]);
    put(store, [msg("busy", 1, { sentAtMs: now })]);
    expect(store.prune(now + 59_000)).toBe(0);
    expect(store.prune(now + 59_600)).toBe(2);
    expect(store.peek("quiet")).toMatchObject({ firstSeq: 3, lastSeq: 3 });
    // Each room: its last message and then its row.
    expect(store.prune(now + 120_000)).toBe(4);
    expect(store.peek("quiet")).toBeUndefined();
    expect(store.peek("busy")).toBeUndefined();
    expect(store.roomCount()).toBe(0);
  });

  it("prune() forgets idempotency keys past their window, and with them the last trace of a room", () => {
    const store = open({ retention: { ...defaultRetention, maxAgeMs: 60_000, idWindowMs: 3_600_000 } });
    const now = Date.now();
    put(store, [msg("r", 1, { sentAtMs: now, clientMsgId: "k" })]);
    store.prune(now + 120_000);
    expect(store.peek("r")).toMatchObject({ firstSeq: 0, lastSeq: 1 });
    store.prune(now + 3_700_000);
    expect(store.peek("r")).toBeUndefined();
    expect(store.roomCount()).toBe(0);
  });

  it("prune() covers more rooms than one slice and keeps counts right", () => {
    const store = open({ retention: { ...defaultRetention, maxMessagesPerRoom: 3, maxAgeMs: 60_000 } });
    const now = Date.now();
    const rooms = Array.from({ length: 450 }, (_, i) => `room-${String(i).padStart(3, "0")}`);
    put(store, rooms.flatMap((room) => [msg(room, 1, { sentAtMs: now - 10 }), msg(room, 2, { sentAtMs: now })]));
    expect(store.prune(now + 60_000 - 5)).toBe(450);
    for (const room of [rooms[0], rooms[199], rooms[200], rooms[449]]) {
      expect(store.peek(room)).toMatchObject({ firstSeq: 2, lastSeq: 2 });
    }
    // Count retention still sees the right number of kept messages after a prune.
    put(store, [msg(rooms[0], 3), msg(rooms[0], 4), msg(rooms[0], 5)]);
    expect(store.recent(rooms[0], 10).map((m) => m.seq)).toEqual([3, 4, 5]);
  });

  it("prune() does nothing without an age bound", () => {
    const store = open({ retention: { ...defaultRetention, maxMessagesPerRoom: 100, maxAgeMs: 0 } });
    put(store, [msg("r", 1, { sentAtMs: 1 })]);
    expect(store.prune()).toBe(0);
    expect(store.recent("r", 10)).toHaveLength(1);
  });

  it("prunes in the background on its interval", async () => {
    const store = open({ retention: { ...defaultRetention, maxMessagesPerRoom: 100, maxAgeMs: 200 }, pruneIntervalMs: 20 });
    put(store, [msg("r", 1), msg("r", 2)]);
    expect(store.recent("r", 10)).toHaveLength(2);
    await vi.waitFor(() => expect(store.peek("r")).toBeUndefined(), { timeout: 3000, interval: 20 });
  });
});

describe("openHistoryStore", () => {
  it("opens a memory store", () => {
    const store = openHistoryStore({ kind: "memory", retention: { ...defaultRetention, maxMessagesPerRoom: 2 } });
    put(store, [msg("r", 1), msg("r", 2), msg("r", 3)]);
    expect(store.recent("r", 10).map((m) => m.seq)).toEqual([2, 3]);
    store.close();
  });

  it("opens a sqlite store at the given path, with retention", () => {
    const store = openHistoryStore({ kind: "sqlite", path: dbPath, retention: { ...defaultRetention, maxMessagesPerRoom: 2 } });
    try {
      put(store, [msg("r", 1), msg("r", 2), msg("r", 3)]);
      expect(store.recent("r", 10).map((m) => m.seq)).toEqual([2, 3]);
      expect(store).toBeInstanceOf(SqliteHistoryStore);
    } finally {
      store.close();
    }
    expect(existsSync(dbPath)).toBe(true);
  });

  it("throws StoreOpenError for a bad sqlite file", () => {
    writeFileSync(dbPath, randomBytes(4096));
    expect(() => openHistoryStore({ kind: "sqlite", path: dbPath })).toThrow(StoreOpenError);
  });

  it("has a default path under ./data", () => {
    expect(DEFAULT_HISTORY_DB_PATH).toBe("./data/chat.db");
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
