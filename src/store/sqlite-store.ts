/**
 * Room history in a SQLite file (better-sqlite3, synchronous like the
 * HistoryStore interface). History, sequence numbers and each room's epoch
 * survive restarts: a client resuming after a server restart keeps its
 * position instead of being told its history was reset.
 *
 * Durability. The hub acknowledges a message only after append() returns, so
 * what append() has returned must survive what we can survive:
 *  - WAL mode with synchronous=NORMAL (the default here): a commit is written
 *    to the WAL file with write(2) before append() returns, and fsync happens
 *    only at checkpoints. A committed message therefore survives the process
 *    being killed (crash, SIGKILL, OOM kill): the data is in the OS page cache
 *    and recovered from the WAL on the next open. It does NOT survive an OS
 *    crash or power loss: the last commits before one may be lost (the file
 *    stays consistent, it just ends at an earlier commit). For a chat server
 *    that is the usual trade: one fsync per turn would bound throughput by the
 *    disk's flush latency.
 *  - synchronous=FULL (option) fsyncs the WAL on every commit, so an
 *    acknowledged message also survives power loss, at the cost of one fsync
 *    per append() call (one per hub turn, not per message).
 *
 * Ownership. By default the store takes SQLite's EXCLUSIVE locking mode: the
 * process that opened the file is the only one that can read or write it until
 * it closes it. The hub is the single sequencer of every room (it hands out
 * sequence numbers from memory), so a second server on the same file would
 * fight over sequence numbers; with the lock it fails at startup instead, with
 * a clear StoreOpenError. Pass `exclusive: false` to let tools read the file
 * while a server runs.
 *
 * Retention. Count retention is enforced inside the append transaction, for the
 * rooms the batch touched only, and costs O(messages dropped). Age retention is
 * applied to the touched rooms in the same way (dropping the expired prefix of
 * the room) and, for rooms nobody writes to, by prune(), which the store runs
 * itself on an unref'd timer (pruneIntervalMs) in small slices so that it never
 * holds up delivery for long. Deleting messages never moves a room's lastSeq
 * back: it is kept in the rooms table.
 */
import { mkdirSync, statSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { HistoryStore, RoomHistoryState, StoredMessage } from "./history-store.js";
import { defaultRetention, type Retention } from "./retention.js";

/** Schema version stored in PRAGMA user_version; bump it with a migration step in migrate(). */
export const SCHEMA_VERSION = 1;

/** The history database could not be opened: the message names the file and says why, in one line. */
export class StoreOpenError extends Error {
  override readonly name = "StoreOpenError";
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open history database ${path}: ${reason}`, options);
  }
}

export interface SqliteStoreOptions {
  retention?: Retention;
  /** NORMAL (default): survives a process crash, not power loss. FULL: fsync per append, survives power loss. */
  synchronous?: "NORMAL" | "FULL";
  /** How long to wait for a lock held by another connection before failing. Default 2000 ms. */
  busyTimeoutMs?: number;
  /** Hold the file exclusively while open (default true); see the file comment. */
  exclusive?: boolean;
  /** How often to drop messages past retention.maxAgeMs in rooms nobody writes to. Default 60 s; 0 disables. */
  pruneIntervalMs?: number;
  /** Run PRAGMA quick_check at open (reads the whole file: slow for big databases). Default false. */
  quickCheck?: boolean;
}

interface RoomRow {
  epoch: string;
  last_seq: number;
  kept: number;
  first_seq: number | null;
}

interface MessageRow {
  room: string;
  seq: number;
  sender: string;
  text: string;
  sent_at_ms: number;
  client_msg_id: string;
}

/** Rooms handled per slice of a background prune pass. */
const PRUNE_SLICE_ROOMS = 200;

const SCHEMA_V1 = `
CREATE TABLE rooms (
  name TEXT PRIMARY KEY NOT NULL,
  -- Random id of this room's history: stays the same as long as this file does.
  epoch TEXT NOT NULL,
  -- Highest sequence number ever stored; never goes back when messages are deleted.
  last_seq INTEGER NOT NULL DEFAULT 0,
  -- Number of messages currently kept (for count retention without counting).
  kept INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL
);
CREATE TABLE messages (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sender TEXT NOT NULL,
  text TEXT NOT NULL,
  sent_at_ms INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (room, seq)
);
CREATE UNIQUE INDEX messages_by_client_msg_id
  ON messages (room, sender, client_msg_id) WHERE client_msg_id != '';
`;

const MESSAGE_COLUMNS = "room, seq, sender, text, sent_at_ms, client_msg_id";

export class SqliteHistoryStore implements HistoryStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly retention: Retention;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly appendTx: (messages: readonly StoredMessage[]) => void;
  private readonly pruneSliceTx: (afterRoom: string, cutoffMs: number, maxRooms: number) => { deleted: number; lastRoom: string | undefined };
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruneRunning: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.retention = options.retention ?? defaultRetention;
    this.db = openDatabase(path, options);
    this.stmts = prepareStatements(this.db);
    this.appendTx = this.db.transaction((messages: readonly StoredMessage[]) => this.appendInTx(messages));
    this.pruneSliceTx = this.db.transaction((afterRoom: string, cutoffMs: number, maxRooms: number) => {
      const rooms = this.stmts.roomsToPrune.all(afterRoom, maxRooms) as string[];
      let deleted = 0;
      for (const room of rooms) {
        const n = this.trimByAge(room, cutoffMs);
        if (n > 0) {
          this.stmts.reduceKept.run(n, room);
          deleted += n;
        }
      }
      return { deleted, lastRoom: rooms.length === maxRooms ? rooms[rooms.length - 1] : undefined };
    });
    const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    if (this.retention.maxAgeMs > 0 && pruneIntervalMs > 0) {
      this.pruneTimer = setInterval(() => this.startBackgroundPrune(), pruneIntervalMs);
      this.pruneTimer.unref();
    }
  }

  roomState(room: string): RoomHistoryState {
    const state = this.peekState(room);
    if (state) return state;
    this.stmts.insertRoom.run(room, randomUUID(), Date.now());
    return this.peekState(room)!;
  }

  peekState(room: string): RoomHistoryState | undefined {
    const row = this.stmts.roomState.get(room) as RoomRow | undefined;
    if (!row) return undefined;
    return { epoch: row.epoch, lastSeq: row.last_seq, firstSeq: row.first_seq ?? 0 };
  }

  append(messages: readonly StoredMessage[]): void {
    if (messages.length === 0) return;
    this.appendTx(messages);
  }

  recent(room: string, limit: number): StoredMessage[] {
    if (limit <= 0) return [];
    return (this.stmts.recent.all(room, limit) as MessageRow[]).reverse().map(toMessage);
  }

  after(room: string, afterSeq: number, limit: number): StoredMessage[] {
    if (limit <= 0) return [];
    return (this.stmts.after.all(room, afterSeq, limit) as MessageRow[]).map(toMessage);
  }

  before(room: string, beforeSeq: number, limit: number): StoredMessage[] {
    if (limit <= 0) return [];
    return (this.stmts.before.all(room, beforeSeq, limit) as MessageRow[]).reverse().map(toMessage);
  }

  findByClientMsgId(room: string, sender: string, clientMsgId: string): StoredMessage | undefined {
    if (!clientMsgId) return undefined;
    const row = this.stmts.byClientMsgId.get(room, sender, clientMsgId) as MessageRow | undefined;
    return row ? toMessage(row) : undefined;
  }

  /**
   * Drop messages older than retention.maxAgeMs in every room (the expired
   * oldest messages of each room). Returns how many were deleted. Runs in
   * slices of a few hundred rooms, each its own transaction. The store calls
   * this itself in the background; call it directly to prune now.
   */
  prune(nowMs = Date.now()): number {
    if (this.retention.maxAgeMs <= 0) return 0;
    const cutoff = nowMs - this.retention.maxAgeMs;
    let deleted = 0;
    let cursor: string | undefined = "";
    while (cursor !== undefined) {
      const slice = this.pruneSliceTx(cursor, cutoff, PRUNE_SLICE_ROOMS);
      deleted += slice.deleted;
      cursor = slice.lastRoom;
    }
    return deleted;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pruneTimer);
    if (this.pruneRunning) clearImmediate(this.pruneRunning);
    this.db.close();
  }

  /** One prune pass, one slice per event-loop turn, so appends interleave with it. */
  private startBackgroundPrune(): void {
    if (this.pruneRunning || this.closed) return;
    const cutoff = Date.now() - this.retention.maxAgeMs;
    const step = (cursor: string) => {
      this.pruneRunning = undefined;
      if (this.closed) return;
      let next: string | undefined;
      try {
        next = this.pruneSliceTx(cursor, cutoff, PRUNE_SLICE_ROOMS).lastRoom;
      } catch {
        // Give up this pass and try again at the next interval; a real storage
        // problem also fails append(), where the hub reports it.
        return;
      }
      if (next !== undefined) {
        this.pruneRunning = setImmediate(step, next);
        this.pruneRunning.unref();
      }
    };
    step("");
  }

  private appendInTx(messages: readonly StoredMessage[]): void {
    const touched = new Map<string, { lastSeq: number; kept: number }>();
    for (const m of messages) {
      let room = touched.get(m.room);
      if (!room) {
        let row = this.stmts.roomCounters.get(m.room) as { last_seq: number; kept: number } | undefined;
        if (!row) {
          this.stmts.insertRoom.run(m.room, randomUUID(), Date.now());
          row = { last_seq: 0, kept: 0 };
        }
        room = { lastSeq: row.last_seq, kept: row.kept };
        touched.set(m.room, room);
      }
      if (!Number.isSafeInteger(m.seq) || m.seq <= room.lastSeq) {
        // Thrown inside the transaction: everything this batch wrote is rolled back.
        throw new Error(`sequence ${m.seq} in room ${m.room} is not after ${room.lastSeq}`);
      }
      this.stmts.insertMessage.run(m.room, m.seq, m.sender, m.text, m.sentAtMs, m.clientMsgId);
      room.lastSeq = m.seq;
      room.kept++;
    }
    const { maxMessagesPerRoom, maxAgeMs } = this.retention;
    const cutoff = maxAgeMs > 0 ? Date.now() - maxAgeMs : undefined;
    for (const [name, room] of touched) {
      if (room.kept > maxMessagesPerRoom) {
        room.kept -= this.stmts.deleteOldest.run(name, name, room.kept - maxMessagesPerRoom).changes;
      }
      if (cutoff !== undefined) room.kept -= this.trimByAge(name, cutoff);
      this.stmts.setCounters.run(room.lastSeq, room.kept, name);
    }
  }

  /** Delete the room's oldest messages sent before cutoffMs, up to the first newer one. */
  private trimByAge(room: string, cutoffMs: number): number {
    const keepFrom = this.stmts.firstNotExpired.get(room, cutoffMs) as number | undefined;
    if (keepFrom === undefined) return this.stmts.deleteAll.run(room).changes;
    return this.stmts.deleteBelow.run(room, keepFrom).changes;
  }
}

function prepareStatements(db: Database.Database) {
  return {
    roomState: db.prepare(
      "SELECT epoch, last_seq, kept, (SELECT min(seq) FROM messages WHERE room = rooms.name) AS first_seq FROM rooms WHERE name = ?",
    ),
    roomCounters: db.prepare("SELECT last_seq, kept FROM rooms WHERE name = ?"),
    insertRoom: db.prepare("INSERT INTO rooms (name, epoch, last_seq, kept, created_at_ms) VALUES (?, ?, 0, 0, ?) ON CONFLICT (name) DO NOTHING"),
    setCounters: db.prepare("UPDATE rooms SET last_seq = ?, kept = ? WHERE name = ?"),
    reduceKept: db.prepare("UPDATE rooms SET kept = kept - ? WHERE name = ?"),
    insertMessage: db.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`),
    recent: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?`),
    after: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`),
    before: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`),
    // The extra "client_msg_id != ''" lets SQLite use the partial unique index.
    byClientMsgId: db.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND sender = ? AND client_msg_id = ? AND client_msg_id != ''`,
    ),
    deleteOldest: db.prepare("DELETE FROM messages WHERE room = ? AND seq IN (SELECT seq FROM messages WHERE room = ? ORDER BY seq LIMIT ?)"),
    firstNotExpired: db.prepare("SELECT seq FROM messages WHERE room = ? AND sent_at_ms >= ? ORDER BY seq LIMIT 1").pluck(),
    deleteBelow: db.prepare("DELETE FROM messages WHERE room = ? AND seq < ?"),
    deleteAll: db.prepare("DELETE FROM messages WHERE room = ?"),
    roomsToPrune: db.prepare("SELECT name FROM rooms WHERE name > ? AND kept > 0 ORDER BY name LIMIT ?").pluck(),
  };
}

function toMessage(row: MessageRow): StoredMessage {
  return {
    room: row.room,
    seq: row.seq,
    sender: row.sender,
    text: row.text,
    sentAtMs: row.sent_at_ms,
    clientMsgId: row.client_msg_id,
  };
}

/** Open (creating if needed) and check the database, or throw a StoreOpenError. */
function openDatabase(path: string, options: SqliteStoreOptions): Database.Database {
  const fail = (reason: string, cause?: unknown): never => {
    throw new StoreOpenError(path, reason, { cause });
  };
  const dir = dirname(resolve(path));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    fail(`cannot create directory ${dir}: ${errnoText(err)}`, err);
  }
  if (isDirectory(path)) fail("path is a directory, not a database file");

  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 2000 });
    // EXCLUSIVE before the first access, so WAL runs without a shared-memory
    // index and the lock is taken by the very first read below.
    if (options.exclusive ?? true) db.pragma("locking_mode = EXCLUSIVE");
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") fail(`could not switch to WAL journal mode (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
    migrate(db, fail);
    if (options.quickCheck) {
      const result = db.pragma("quick_check(1)", { simple: true });
      if (result !== "ok") fail(`integrity check failed: ${String(result)}`);
    }
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // already failing; the original error is the one to report
    }
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(path, sqliteReason(err), { cause: err });
  }
}

/** Create the schema in a fresh file, or check an existing one; never touches data of a file it does not recognise. */
function migrate(db: Database.Database, fail: (reason: string) => never): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
  if (version === 0) {
    if (tables.length > 0) fail(`not a chat history database (it has tables ${tables.join(", ")} but no schema version)`);
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    return;
  }
  if (version > SCHEMA_VERSION) {
    fail(`schema version ${version} is newer than this server understands (${SCHEMA_VERSION}); upgrade the server`);
  }
  // Future: `if (version < 2) { ...; user_version = 2 }`, each step in its own transaction.
  for (const table of ["rooms", "messages"]) {
    if (!tables.includes(table)) fail(`schema version ${version} but table ${table} is missing`);
  }
}

function sqliteReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = oneLine(err instanceof Error ? err.message : String(err));
  switch (code) {
    case "SQLITE_NOTADB":
      return "file is not a database (corrupt, encrypted, or not SQLite)";
    case "SQLITE_CORRUPT":
      return `database file is corrupt (${message})`;
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return "database is locked by another process (is another server using this file?)";
    case "SQLITE_CANTOPEN":
      return "unable to open database file (check that the path is a writable location)";
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
      return `database is not writable (${message})`;
    case "SQLITE_FULL":
      return "disk is full";
    default:
      return typeof code === "string" ? `${message} (${code})` : message;
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOTDIR" || e.code === "EEXIST") return "a path component is a file, not a directory";
  if (e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS") return `not writable (${e.code})`;
  return oneLine(e.message ?? String(err));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
