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
 * Ownership. By default the store holds a lock beside the file (FileLock,
 * `<file>-lock`) while open: the embedded room log is the single sequencer of
 * every room (it hands out sequence numbers from memory), so a second server
 * on the same file would fight over sequence numbers; with the lock it fails
 * at startup instead, with a clear StoreOpenError. The database itself is
 * shared: tools can read it while a server runs, and the WAL is checkpointed
 * from a worker thread's connection (WalCheckpointer), never inside a commit
 * on the event loop. Pass `exclusive: false` to open without the lock.
 * (Several servers share history through the Redis room log instead.)
 *
 * What is kept. A room has a row from its first stored message on (never for
 * a mere join), holding its epoch and last sequence number, which deleting
 * messages never moves back. Idempotency keys live in their own table with
 * their own window, so a resend is recognised after its message is gone. A
 * room whose messages and keys have all expired loses its row too: the store's
 * size is bounded by the retention settings alone.
 *
 * Deleted messages. A deleted message's text is emptied in its row (with the
 * texts of the edits made to it and the quotes of replies to it) in the
 * append that stores the delete; secure_delete overwrites the old bytes with
 * zeros in the database file, and a TRUNCATE checkpoint right after that
 * append empties the WAL, which still held the pages the text was written in.
 * The text is then in neither file (a test reads both byte by byte).
 *
 * Retention. Count bounds are enforced inside the append transaction, for the
 * rooms the batch touched only, at a cost of O(rows dropped). Age bounds are
 * applied to the touched rooms in the same way and, for rooms nobody writes
 * to, by prune(), which the store runs itself on an unref'd timer
 * (pruneIntervalMs) in small slices so that it never holds up delivery for long.
 */
import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { RoomStateData } from "../rooms/room-state.js";
import type { AppendItem, HistoryStore, RoomOfUser, RoomPosition, SentRecord, StoredMessage } from "./history-store.js";
import { MessageChangeKind, quoteOf } from "../log/message-changes.js";
import { applyReaction, reactionsFromJson, reactionsToJson } from "../log/reactions.js";
import { textHash } from "../log/text-hash.js";
import { FileLock } from "./file-lock.js";
import { WalCheckpointer } from "./wal-checkpointer.js";
import { defaultRetention, type Retention } from "./retention.js";

/** Schema version stored in PRAGMA user_version; bump it with a migration step in migrate(). */
export const SCHEMA_VERSION = 6;

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
  /** Hold the one-server lock beside the file while open (default true); see the file comment. */
  exclusive?: boolean;
  /** How often to drop expired messages and keys in rooms nobody writes to. Default 60 s; 0 disables. */
  pruneIntervalMs?: number;
  /** Run PRAGMA quick_check at open (reads the whole file: slow for big databases). Default false. */
  quickCheck?: boolean;
}

interface RoomRow {
  epoch: string;
  last_seq: number;
  first_seq: number | null;
}

interface MessageRow {
  room: string;
  seq: number;
  sender: string;
  text: string;
  sent_at_ms: number;
  client_msg_id: string;
  sender_id: string;
  action: Buffer | null;
  change_kind: number;
  change_target: number;
  edited_at_ms: number | null;
  deleted: number;
  reply_to_seq: number;
  reply_sender: string;
  reply_quote: string;
  reply_deleted: number;
  mentions: string;
  reaction_target: number;
  reaction_emoji: string;
  reaction_removed: number;
  reactions: string;
}

/** Rooms handled per slice of a background prune pass. */
const PRUNE_SLICE_ROOMS = 200;
/** At most one TRUNCATE checkpoint of the WAL per this long (see truncateWalSoon): a deleted text leaves the files within it. */
export const WAL_TRUNCATE_INTERVAL_MS = 1000;

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

/**
 * Version 2: idempotency keys get a table and a window of their own (they
 * outlive history retention), so the unique index on messages goes: an id may
 * be used again once its window has passed while the old message is still kept.
 */
const SCHEMA_V2 = `
CREATE TABLE sent_ids (
  room TEXT NOT NULL,
  sender TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sent_at_ms INTEGER NOT NULL,
  text_hash TEXT NOT NULL,
  PRIMARY KEY (room, sender, client_msg_id)
) WITHOUT ROWID;
CREATE INDEX sent_ids_by_age ON sent_ids (room, sent_at_ms);
ALTER TABLE rooms ADD COLUMN id_count INTEGER NOT NULL DEFAULT 0;
DROP INDEX messages_by_client_msg_id;
`;

/**
 * Version 3 (issue 18): rooms with state. A room's state is JSON with its
 * version (kept apart from history: retention never drops it); room_roles
 * indexes its roles by user for "my rooms". Entries record the sender's user
 * id and, for a room action, the encoded chat.v1.RoomAction. Rooms of
 * earlier files have no state: public, no roles, as before.
 */
const SCHEMA_V3 = `
CREATE TABLE room_states (
  name TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE room_roles (
  user_id TEXT NOT NULL,
  room TEXT NOT NULL,
  role INTEGER NOT NULL,
  PRIMARY KEY (user_id, room)
) WITHOUT ROWID;
CREATE INDEX room_roles_by_room ON room_roles (room);
ALTER TABLE messages ADD COLUMN sender_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN action BLOB;
`;

/**
 * Version 4 (issue 19): messages that change. An edit or delete entry names
 * its target (change_kind, change_target); the target records its edit time
 * or that it was deleted (its text emptied); a reply records the message it
 * answers and a quote of it. The indexes find the edits of and the replies to
 * a message when it is deleted (their texts and quotes go with it).
 */
const SCHEMA_V4 = `
ALTER TABLE messages ADD COLUMN change_kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN change_target INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at_ms INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_sender TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN reply_quote TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN reply_deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_change_target ON messages (room, change_target) WHERE change_target != 0;
CREATE INDEX messages_by_reply_to ON messages (room, reply_to_seq) WHERE reply_to_seq != 0;
`;

/**
 * Version 5 (issue 19): read positions, per room and user (they go with the
 * room's deletion), and the user ids a message mentions (newline-separated:
 * a user id has no control characters).
 */
const SCHEMA_V5 = `
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
CREATE TABLE read_positions (
  room TEXT NOT NULL,
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
`;

/**
 * Version 6 (issue 19): reactions. A reaction entry names its target, emoji
 * and whether it removes it (reaction_*); the target keeps its reactions as
 * JSON (log/reactions.ts reactionsToJson: per emoji in the order first used,
 * every user who reacted), rewritten in the append that stores the entry, so
 * a page of history reads them with its rows (no join, no second query).
 */
const SCHEMA_V6 = `
ALTER TABLE messages ADD COLUMN reaction_target INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reaction_emoji TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN reaction_removed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reactions TEXT NOT NULL DEFAULT '';
`;

const MESSAGE_COLUMNS =
  "room, seq, sender, text, sent_at_ms, client_msg_id, sender_id, action, change_kind, change_target, edited_at_ms, deleted, reply_to_seq, reply_sender, reply_quote, reply_deleted, mentions, reaction_target, reaction_emoji, reaction_removed, reactions";

export class SqliteHistoryStore implements HistoryStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly lock: FileLock | undefined;
  private readonly checkpointer: WalCheckpointer;
  private readonly retention: Retention;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly appendTx: (items: readonly AppendItem[]) => void;
  private readonly pruneSliceTx: (afterRoom: string, nowMs: number, maxRooms: number) => { deleted: number; lastRoom: string | undefined };
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruneRunning: NodeJS.Immediate | undefined;
  private closed = false;
  /** When the WAL was last emptied, and the timer that empties it next (a delete waiting). */
  private lastTruncateMs = -Infinity;
  private truncateTimer: NodeJS.Timeout | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.retention = options.retention ?? defaultRetention;
    const { db, lock } = openDatabase(path, options);
    this.db = db;
    this.lock = lock;
    this.checkpointer = new WalCheckpointer({
      path: resolve(path),
      synchronous: options.synchronous ?? "NORMAL",
      checkpointHere: () => this.checkpoint("PASSIVE"),
      // Without the worker, SQLite checkpoints inside commits again (its default threshold): the WAL stays bounded.
      // Called from the worker's error or exit event: it must not throw there.
      onFailure: () => {
        try {
          if (!this.closed) this.db.pragma("wal_autocheckpoint = 1000");
        } catch {
          // the connection is going away; nothing to bound
        }
      },
    });
    this.stmts = prepareStatements(this.db);
    this.appendTx = this.db.transaction((items: readonly AppendItem[]) => this.appendInTx(items));
    this.pruneSliceTx = this.db.transaction((afterRoom: string, nowMs: number, maxRooms: number) => {
      const rooms = this.stmts.roomsAfter.all(afterRoom, maxRooms) as string[];
      let deleted = 0;
      for (const room of rooms) deleted += this.trimByAge(room, nowMs);
      return { deleted, lastRoom: rooms.length === maxRooms ? rooms[rooms.length - 1] : undefined };
    });
    const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    if (pruneIntervalMs > 0) {
      this.pruneTimer = setInterval(() => this.startBackgroundPrune(), pruneIntervalMs);
      this.pruneTimer.unref();
    }
  }

  peek(room: string): RoomPosition | undefined {
    const row = this.stmts.roomState.get(room) as RoomRow | undefined;
    if (!row) return undefined;
    return { epoch: row.epoch, lastSeq: row.last_seq, firstSeq: row.first_seq ?? 0 };
  }

  append(items: readonly AppendItem[]): void {
    if (items.length === 0) return;
    this.appendTx(items);
    this.checkpointer.committed();
    // A deleted text must leave the file too: the WAL still holds the pages it was written in
    // (secure_delete zeroes it in the database file), so copy them back and empty the WAL soon.
    if (items.some((i) => i.message.change?.kind === MessageChangeKind.DELETE)) this.truncateWalSoon();
  }

  /**
   * Empty the WAL now, or (one was emptied less than WAL_TRUNCATE_INTERVAL_MS
   * ago) at the end of that interval: a TRUNCATE checkpoint is about a
   * millisecond of file work on the event loop, and one per delete capped a
   * room at ~250 deletes a second. A deleted text leaves the files within the
   * interval.
   */
  private truncateWalSoon(): void {
    if (this.truncateTimer) return;
    const wait = this.lastTruncateMs + WAL_TRUNCATE_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.truncateWal();
    this.truncateTimer = setTimeout(() => {
      this.truncateTimer = undefined;
      if (!this.closed) this.truncateWal();
    }, wait);
    this.truncateTimer.unref();
  }

  /** Checkpoint and empty the WAL. */
  private truncateWal(): void {
    this.lastTruncateMs = Date.now();
    this.checkpoint("TRUNCATE");
  }

  /**
   * Never fails the append before it (that is committed): a checkpoint that
   * finds the WAL busy (a tool reading the file) or fails is caught up by a
   * later one.
   */
  private checkpoint(mode: "PASSIVE" | "TRUNCATE"): void {
    try {
      this.db.pragma(`wal_checkpoint(${mode})`);
    } catch {
      // see above
    }
  }

  get(room: string, seq: number): StoredMessage | undefined {
    const row = this.stmts.get.get(room, seq) as MessageRow | undefined;
    return row && toMessage(row);
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

  findSent(room: string, sender: string, clientMsgId: string): SentRecord | undefined {
    if (!clientMsgId) return undefined;
    const row = this.stmts.findSent.get(room, sender, clientMsgId, Date.now() - this.retention.idWindowMs) as
      | { seq: number; sent_at_ms: number; text_hash: string }
      | undefined;
    return row ? { seq: row.seq, sentAtMs: row.sent_at_ms, textHash: row.text_hash } : undefined;
  }

  state(room: string): RoomStateData | undefined {
    const json = this.stmts.getState.get(room) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as RoomStateData);
  }

  roomsOf(userId: string, limit: number): RoomOfUser[] {
    if (limit <= 0) return [];
    const rows = this.stmts.roomsOf.all(userId, limit) as { name: string; state: string }[];
    return rows.map((r) => ({ name: r.name, state: JSON.parse(r.state) as RoomStateData }));
  }

  /** Rooms in use are protected by the room log's own position cache; nothing to do here. */
  readPosition(room: string, userId: string): number {
    return (this.stmts.readPosition.get(room, userId) as number | undefined) ?? 0;
  }

  markRead(room: string, userId: string, seq: number): number {
    const seqNow = this.stmts.markRead.get(room, userId, seq) as number;
    this.checkpointer.committed();
    return seqNow;
  }

  setInUse(): void {}

  /** Rooms with a row (for tests and tools). */
  roomCount(): number {
    return this.stmts.countRooms.get() as number;
  }

  /**
   * Drop expired messages and idempotency keys in every room, and the rows of
   * rooms left with neither. Returns how many rows were deleted. Runs in
   * slices of a few hundred rooms, each its own transaction. The store calls
   * this itself in the background; call it directly to prune now.
   */
  prune(nowMs = Date.now()): number {
    let deleted = 0;
    let cursor: string | undefined = "";
    while (cursor !== undefined) {
      const slice = this.pruneSlice(cursor, nowMs);
      deleted += slice.deleted;
      cursor = slice.lastRoom;
    }
    return deleted;
  }

  close(): void {
    if (this.closed) return;
    // A delete's text still waiting to leave the WAL leaves it now.
    if (this.truncateTimer) {
      clearTimeout(this.truncateTimer);
      this.truncateTimer = undefined;
      this.truncateWal();
    }
    this.closed = true;
    clearInterval(this.pruneTimer);
    if (this.pruneRunning) clearImmediate(this.pruneRunning);
    // The worker's connection closes first, so this one is the last: SQLite then checkpoints and removes the WAL.
    this.checkpointer.stop();
    this.db.close();
    this.lock?.release();
  }

  private pruneSlice(afterRoom: string, nowMs: number): { deleted: number; lastRoom: string | undefined } {
    const slice = this.pruneSliceTx(afterRoom, nowMs, PRUNE_SLICE_ROOMS);
    if (slice.deleted > 0) this.checkpointer.committed();
    return slice;
  }

  /** One prune pass, one slice per event-loop turn, so appends interleave with it. */
  private startBackgroundPrune(): void {
    if (this.pruneRunning || this.closed) return;
    const now = Date.now();
    const step = (cursor: string) => {
      this.pruneRunning = undefined;
      if (this.closed) return;
      let next: string | undefined;
      try {
        next = this.pruneSlice(cursor, now).lastRoom;
      } catch {
        // Give up this pass and try again at the next interval; a real storage
        // problem also fails append(), where the room log reports it.
        return;
      }
      if (next !== undefined) {
        this.pruneRunning = setImmediate(step, next);
        this.pruneRunning.unref();
      }
    };
    step("");
  }

  private appendInTx(items: readonly AppendItem[]): void {
    const touched = new Map<string, { lastSeq: number; kept: number; ids: number }>();
    for (const { message: m, epoch, textHash, state } of items) {
      if (state === null) {
        this.deleteRoom(m.room);
        touched.delete(m.room);
        continue;
      }
      let room = touched.get(m.room);
      if (!room) {
        let row = this.stmts.roomCounters.get(m.room) as { last_seq: number; kept: number; id_count: number } | undefined;
        if (!row) {
          this.stmts.insertRoom.run(m.room, epoch, Date.now());
          row = { last_seq: 0, kept: 0, id_count: 0 };
        }
        room = { lastSeq: row.last_seq, kept: row.kept, ids: row.id_count };
        touched.set(m.room, room);
      }
      if (!Number.isSafeInteger(m.seq) || m.seq <= room.lastSeq) {
        // Thrown inside the transaction: everything this batch wrote is rolled back.
        throw new Error(`sequence ${m.seq} in room ${m.room} is not after ${room.lastSeq}`);
      }
      const r = m.replyTo;
      this.stmts.insertMessage.run(
        m.room, m.seq, m.sender, m.text, m.sentAtMs, m.clientMsgId, m.senderId ?? "", m.action ?? null,
        m.change?.kind ?? 0, m.change?.targetSeq ?? 0, m.editedAtMs ?? null, m.deleted ? 1 : 0,
        r?.seq ?? 0, r?.sender ?? "", r?.quote ?? "", r?.deleted ? 1 : 0, m.mentions?.join("\n") ?? "",
        m.reaction?.targetSeq ?? 0, m.reaction?.emoji ?? "", m.reaction?.removed ? 1 : 0, reactionsToJson(m.reactions),
      );
      if (m.change) this.applyChange(m);
      if (m.reaction) this.applyReactionEntry(m);
      if (state) this.putState(m.room, state);
      room.lastSeq = m.seq;
      room.kept++;
      if (m.clientMsgId) {
        // One statement in the common case; a key used again after its window
        // passed (rare) replaces the old record and is not counted twice.
        if (this.stmts.insertSent.run(m.room, m.sender, m.clientMsgId, m.seq, m.sentAtMs, textHash).changes === 1) room.ids++;
        else this.stmts.replaceSent.run(m.seq, m.sentAtMs, textHash, m.room, m.sender, m.clientMsgId);
      }
    }
    const { maxMessagesPerRoom, maxIdsPerRoom, maxAgeMs } = this.retention;
    const now = Date.now();
    for (const [name, room] of touched) {
      if (room.kept > maxMessagesPerRoom) {
        room.kept -= this.stmts.deleteOldest.run(name, name, room.kept - maxMessagesPerRoom).changes;
      }
      if (room.ids > maxIdsPerRoom) room.ids -= this.stmts.deleteOldestIds.run(name, name, room.ids - maxIdsPerRoom).changes;
      this.stmts.setCounters.run(room.lastSeq, room.kept, room.ids, name);
      // Expired messages of a room being written to go now; expired keys wait for the periodic prune.
      if (maxAgeMs > 0) this.trimMessagesByAge(name, now);
    }
  }

  /** Apply an edit or delete entry to its target (and, for a delete, to the edits of it and the replies to it). */
  private applyChange(entry: StoredMessage): void {
    const { room, sentAtMs, text } = entry;
    const { targetSeq, kind } = entry.change!;
    if (kind === MessageChangeKind.EDIT) {
      if (this.stmts.editTarget.run(text, sentAtMs, room, targetSeq).changes === 1) this.stmts.setReplyQuotes.run(quoteOf(text), 0, room, targetSeq);
      return;
    }
    if (this.stmts.deleteTarget.run(room, targetSeq).changes === 0) return;
    this.stmts.emptyEdits.run(room, targetSeq, MessageChangeKind.EDIT);
    this.stmts.setReplyQuotes.run("", 1, room, targetSeq);
  }

  /** Apply a reaction entry to its target's reactions (a target dropped by retention, or deleted, is left alone). */
  private applyReactionEntry(entry: StoredMessage): void {
    const target = this.stmts.targetReactions.get(entry.room, entry.reaction!.targetSeq) as { reactions: string } | undefined;
    if (!target) return;
    const next = applyReaction(reactionsFromJson(target.reactions), entry.senderId ?? "", entry.reaction!);
    this.stmts.setReactions.run(reactionsToJson(next), entry.room, entry.reaction!.targetSeq);
  }

  private putState(room: string, state: RoomStateData): void {
    this.stmts.putState.run(room, JSON.stringify(state), state.version);
    this.stmts.deleteRoles.run(room);
    for (const [userId, role] of Object.entries(state.roles)) this.stmts.insertRole.run(userId, room, role);
  }

  /** Everything of the room: history, keys, its row (and so its epoch), its state. */
  private deleteRoom(room: string): void {
    this.stmts.deleteAll.run(room);
    this.stmts.deleteAllIds.run(room);
    this.stmts.deleteRoom.run(room);
    this.stmts.deleteState.run(room);
    this.stmts.deleteRoles.run(room);
    this.stmts.deleteReads.run(room);
  }

  /**
   * Delete the room's messages and keys that retention says have expired, and
   * the room's row if nothing is left. Returns the rows deleted.
   */
  private trimByAge(room: string, nowMs: number): number {
    const messages = this.retention.maxAgeMs > 0 ? this.trimMessagesByAge(room, nowMs) : 0;
    const ids = this.stmts.deleteExpiredIds.run(room, nowMs - this.retention.idWindowMs).changes;
    if (ids > 0) this.stmts.reduceCounters.run(0, ids, room);
    const gone = this.stmts.deleteIfEmpty.run(room).changes;
    return messages + ids + gone;
  }

  /** Delete the room's oldest messages sent before the age bound, up to the first newer one. */
  private trimMessagesByAge(room: string, nowMs: number): number {
    const keepFrom = this.stmts.firstNotExpired.get(room, nowMs - this.retention.maxAgeMs) as number | undefined;
    const deleted = keepFrom === undefined ? this.stmts.deleteAll.run(room).changes : this.stmts.deleteBelow.run(room, keepFrom).changes;
    if (deleted > 0) this.stmts.reduceCounters.run(deleted, 0, room);
    return deleted;
  }
}

function prepareStatements(db: Database.Database) {
  return {
    roomState: db.prepare("SELECT epoch, last_seq, (SELECT min(seq) FROM messages WHERE room = rooms.name) AS first_seq FROM rooms WHERE name = ?"),
    roomCounters: db.prepare("SELECT last_seq, kept, id_count FROM rooms WHERE name = ?"),
    countRooms: db.prepare("SELECT count(*) FROM rooms").pluck(),
    insertRoom: db.prepare("INSERT INTO rooms (name, epoch, last_seq, kept, created_at_ms) VALUES (?, ?, 0, 0, ?)"),
    setCounters: db.prepare("UPDATE rooms SET last_seq = ?, kept = ?, id_count = ? WHERE name = ?"),
    reduceCounters: db.prepare("UPDATE rooms SET kept = kept - ?, id_count = id_count - ? WHERE name = ?"),
    deleteIfEmpty: db.prepare("DELETE FROM rooms WHERE name = ? AND kept = 0 AND id_count = 0"),
    insertMessage: db.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    targetReactions: db.prepare("SELECT reactions FROM messages WHERE room = ? AND seq = ? AND deleted = 0"),
    setReactions: db.prepare("UPDATE messages SET reactions = ? WHERE room = ? AND seq = ?"),
    get: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq = ?`),
    editTarget: db.prepare("UPDATE messages SET text = ?, edited_at_ms = ? WHERE room = ? AND seq = ? AND deleted = 0"),
    // A deleted message loses its reactions with its text.
    deleteTarget: db.prepare("UPDATE messages SET text = '', deleted = 1, reactions = '' WHERE room = ? AND seq = ? AND deleted = 0"),
    // "!= 0" lets SQLite use the partial indexes (messages_by_change_target, messages_by_reply_to): without it, every change scans the room.
    emptyEdits: db.prepare("UPDATE messages SET text = '' WHERE room = ? AND change_target = ? AND change_target != 0 AND change_kind = ? AND text != ''"),
    setReplyQuotes: db.prepare("UPDATE messages SET reply_quote = ?, reply_deleted = ? WHERE room = ? AND reply_to_seq = ? AND reply_to_seq != 0"),
    recent: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?`),
    after: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`),
    before: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`),
    insertSent: db.prepare(
      `INSERT INTO sent_ids (room, sender, client_msg_id, seq, sent_at_ms, text_hash) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (room, sender, client_msg_id) DO NOTHING`,
    ),
    replaceSent: db.prepare("UPDATE sent_ids SET seq = ?, sent_at_ms = ?, text_hash = ? WHERE room = ? AND sender = ? AND client_msg_id = ?"),
    findSent: db.prepare("SELECT seq, sent_at_ms, text_hash FROM sent_ids WHERE room = ? AND sender = ? AND client_msg_id = ? AND sent_at_ms >= ?"),
    deleteOldest: db.prepare("DELETE FROM messages WHERE room = ? AND seq IN (SELECT seq FROM messages WHERE room = ? ORDER BY seq LIMIT ?)"),
    deleteOldestIds: db.prepare(
      "DELETE FROM sent_ids WHERE room = ? AND (sender, client_msg_id) IN (SELECT sender, client_msg_id FROM sent_ids WHERE room = ? ORDER BY sent_at_ms LIMIT ?)",
    ),
    deleteExpiredIds: db.prepare("DELETE FROM sent_ids WHERE room = ? AND sent_at_ms < ?"),
    firstNotExpired: db.prepare("SELECT seq FROM messages WHERE room = ? AND sent_at_ms >= ? ORDER BY seq LIMIT 1").pluck(),
    deleteBelow: db.prepare("DELETE FROM messages WHERE room = ? AND seq < ?"),
    deleteAll: db.prepare("DELETE FROM messages WHERE room = ?"),
    deleteAllIds: db.prepare("DELETE FROM sent_ids WHERE room = ?"),
    deleteRoom: db.prepare("DELETE FROM rooms WHERE name = ?"),
    getState: db.prepare("SELECT state FROM room_states WHERE name = ?").pluck(),
    putState: db.prepare("INSERT INTO room_states (name, state, version) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state, version = excluded.version"),
    deleteState: db.prepare("DELETE FROM room_states WHERE name = ?"),
    deleteReads: db.prepare("DELETE FROM read_positions WHERE room = ?"),
    readPosition: db.prepare("SELECT seq FROM read_positions WHERE room = ? AND user_id = ?").pluck(),
    markRead: db.prepare(
      "INSERT INTO read_positions (room, user_id, seq) VALUES (?, ?, ?) ON CONFLICT (room, user_id) DO UPDATE SET seq = max(seq, excluded.seq) RETURNING seq",
    ).pluck(),
    deleteRoles: db.prepare("DELETE FROM room_roles WHERE room = ?"),
    insertRole: db.prepare("INSERT INTO room_roles (user_id, room, role) VALUES (?, ?, ?)"),
    roomsOf: db.prepare(
      "SELECT s.name AS name, s.state AS state FROM room_roles r JOIN room_states s ON s.name = r.room WHERE r.user_id = ? ORDER BY r.room LIMIT ?",
    ),
    roomsAfter: db.prepare("SELECT name FROM rooms WHERE name > ? ORDER BY name LIMIT ?").pluck(),
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
    ...(row.sender_id ? { senderId: row.sender_id } : {}),
    ...(row.action ? { action: new Uint8Array(row.action.buffer, row.action.byteOffset, row.action.byteLength) } : {}),
    ...(row.change_kind ? { change: { targetSeq: row.change_target, kind: row.change_kind as 1 | 2 } } : {}),
    ...(row.edited_at_ms !== null ? { editedAtMs: row.edited_at_ms } : {}),
    ...(row.deleted ? { deleted: true } : {}),
    ...(row.reply_to_seq ? { replyTo: { seq: row.reply_to_seq, sender: row.reply_sender, quote: row.reply_quote, deleted: row.reply_deleted === 1 } } : {}),
    ...(row.mentions ? { mentions: row.mentions.split("\n") } : {}),
    ...(row.reaction_target ? { reaction: { targetSeq: row.reaction_target, emoji: row.reaction_emoji, removed: row.reaction_removed === 1 } } : {}),
    ...(row.reactions ? { reactions: reactionsFromJson(row.reactions) } : {}),
  };
}

/** Open (creating if needed) and check the database, taking its lock first (unless not exclusive), or throw a StoreOpenError. */
function openDatabase(path: string, options: SqliteStoreOptions): { db: Database.Database; lock: FileLock | undefined } {
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

  const busyTimeoutMs = options.busyTimeoutMs ?? 2000;
  let lock: FileLock | undefined;
  let db: Database.Database | undefined;
  try {
    if (options.exclusive ?? true) lock = FileLock.acquire(resolve(path), busyTimeoutMs);
    db = new Database(path, { timeout: busyTimeoutMs });
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") fail(`could not switch to WAL journal mode (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
    // Checkpoints run in a worker (see WalCheckpointer), never inside a commit on this thread.
    db.pragma("wal_autocheckpoint = 0");
    // Deleted content (a deleted message's text, messages dropped by retention) is overwritten with zeros, not left in free space.
    db.pragma("secure_delete = ON");
    migrate(db, fail);
    if (options.quickCheck) {
      const result = db.pragma("quick_check(1)", { simple: true });
      if (result !== "ok") fail(`integrity check failed: ${String(result)}`);
    }
    return { db, lock };
  } catch (err) {
    try {
      db?.close();
      lock?.release();
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
  if (version === 0 && tables.length > 0) fail(`not a chat history database (it has tables ${tables.join(", ")} but no schema version)`);
  if (version > SCHEMA_VERSION) {
    fail(`schema version ${version} is newer than this server understands (${SCHEMA_VERSION}); upgrade the server`);
  }
  if (version >= 1) {
    for (const table of ["rooms", "messages"]) {
      if (!tables.includes(table)) fail(`schema version ${version} but table ${table} is missing`);
    }
  }
  // Each step in its own transaction, so a failed upgrade leaves the file at the previous version.
  if (version < 1) step(db, 1, () => db.exec(SCHEMA_V1));
  if (version < 2) {
    step(db, 2, () => {
      db.exec(SCHEMA_V2);
      // Keys of the messages already stored start their window now.
      db.function("sha1_hex", { deterministic: true }, (text: unknown) => textHash(String(text)));
      db.prepare(
        `INSERT INTO sent_ids (room, sender, client_msg_id, seq, sent_at_ms, text_hash)
         SELECT room, sender, client_msg_id, seq, ?, sha1_hex(text) FROM messages WHERE client_msg_id != ''`,
      ).run(Date.now());
      db.exec("UPDATE rooms SET id_count = (SELECT count(*) FROM sent_ids WHERE sent_ids.room = rooms.name)");
    });
  }
  if (version < 3) step(db, 3, () => db.exec(SCHEMA_V3));
  if (version < 4) step(db, 4, () => db.exec(SCHEMA_V4));
  if (version < 5) step(db, 5, () => db.exec(SCHEMA_V5));
  if (version < 6) step(db, 6, () => db.exec(SCHEMA_V6));
}

function step(db: Database.Database, version: number, migrate: () => void): void {
  db.transaction(() => {
    migrate();
    db.pragma(`user_version = ${version}`);
  }).immediate();
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
