/**
 * Room history behind a small interface: the embedded room log's storage, in
 * memory or in SQLite. Calls are synchronous: both stores answer without I/O
 * waits, so the embedded log can commit a turn's messages in one call.
 *
 * A store keeps two things per room, each bounded by the retention settings:
 * the messages (newest maxMessagesPerRoom, none older than maxAgeMs) and the
 * idempotency keys of recent sends (those younger than idWindowMs, at most
 * maxIdsPerRoom), which outlive the messages so that a late resend is still
 * recognised. A room with neither is forgotten, epoch included.
 *
 * An entry that edits or deletes an earlier message (StoredMessage.change) is
 * applied to its target in the same atomic append: an edit replaces the
 * target's text and sets its edit time; a delete empties it and marks it a
 * tombstone, and also empties the texts of the edits made to it and the
 * quotes of replies to it (gone from storage, not hidden). A target retention
 * has dropped is left alone (the entry is stored all the same).
 */
import type { RoomPosition, SentRecord, StoredMessage } from "../log/message.js";
import type { RoomStateData } from "../rooms/room-state.js";

export type { RoomPosition, SentRecord, StoredMessage };

/** One message to append, with what the store needs to create its room and remember its key. */
export interface AppendItem {
  message: StoredMessage;
  /** The room's epoch: used when this is the room's first stored message. */
  epoch: string;
  /** textHash(message.text), kept with the idempotency key. */
  textHash: string;
  /**
   * For a room action: the room's state after it, stored in the same atomic
   * step as the entry. null: the room is deleted — its history, keys and
   * state are dropped (the entry itself included) and its next message
   * starts a new epoch.
   */
  state?: RoomStateData | null;
}

/** A room where a user holds a role. */
export interface RoomOfUser {
  name: string;
  state: RoomStateData;
}

export interface HistoryStore {
  /** The room's position if the store holds anything of it; never creates anything. */
  peek(room: string): RoomPosition | undefined;
  /**
   * Store messages atomically (all or none), in the given order, with their
   * idempotency keys. Each message's seq must follow the room's last one.
   */
  append(items: readonly AppendItem[]): void;
  /** The kept message numbered `seq`, in its current state. */
  get(room: string, seq: number): StoredMessage | undefined;
  /** Up to `limit` newest messages, oldest first. */
  recent(room: string, limit: number): StoredMessage[];
  /** Up to `limit` messages with seq > afterSeq, oldest first. */
  after(room: string, afterSeq: number, limit: number): StoredMessage[];
  /** Up to `limit` messages with seq < beforeSeq (the newest of them), oldest first. */
  before(room: string, beforeSeq: number, limit: number): StoredMessage[];
  /** What `sender` sent with `clientMsgId` in the room, if the key is still within the window. */
  findSent(room: string, sender: string, clientMsgId: string): SentRecord | undefined;
  /** The room's state, if it has one (kept apart from history: retention never drops it). */
  state(room: string): RoomStateData | undefined;
  /** The rooms whose state gives the user a role, by name, at most `limit`. */
  roomsOf(userId: string, limit: number): RoomOfUser[];
  /** Where the user has read the room up to (0: nothing marked). */
  readPosition(room: string, userId: string): number;
  /** Move the user's read position forward to `seq` (never back); returns the position now stored. */
  markRead(room: string, userId: string, seq: number): number;
  /** A room in use (it has members) is never evicted to make room for others. */
  setInUse(room: string, inUse: boolean): void;
  /**
   * Drop what retention says has expired in every room, and rooms left with
   * nothing. Stores run it themselves on a timer; appends only trim the rooms
   * they touch.
   */
  prune(nowMs?: number): void;
  close(): void;
}
