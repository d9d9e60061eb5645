/**
 * Room history behind a small interface, so the hub does not care whether it
 * lives in memory or in SQLite. Calls are synchronous on purpose: both
 * embedded stores answer without I/O waits, and a synchronous read lets the
 * hub switch a resuming member from replay to live traffic without a window
 * in which a message could slip between the two.
 */

/** A message as stored. Sequence numbers are per room and start at 1. */
export interface StoredMessage {
  room: string;
  seq: number;
  sender: string;
  text: string;
  sentAtMs: number;
  clientMsgId: string;
}

/** What the store knows about one room's history. */
export interface RoomHistoryState {
  /** Changes whenever this room's history is reset (e.g. a new memory store). */
  epoch: string;
  /** Latest stored sequence number, 0 when none. */
  lastSeq: number;
  /** Oldest stored sequence number still kept, 0 when none. */
  firstSeq: number;
}

export interface HistoryStore {
  /** The room's history state; creates the room's epoch on first use. */
  roomState(room: string): RoomHistoryState;
  /** The room's history state if it has one; never creates anything. */
  peekState(room: string): RoomHistoryState | undefined;
  /** Store messages atomically (all or none), in the given order. */
  append(messages: readonly StoredMessage[]): void;
  /** Up to `limit` newest messages, oldest first. */
  recent(room: string, limit: number): StoredMessage[];
  /** Up to `limit` messages with seq > afterSeq, oldest first. */
  after(room: string, afterSeq: number, limit: number): StoredMessage[];
  /** Up to `limit` messages with seq < beforeSeq (the newest of them), oldest first. */
  before(room: string, beforeSeq: number, limit: number): StoredMessage[];
  /** The stored message that `sender` posted with `clientMsgId`, if still kept. */
  findByClientMsgId(room: string, sender: string, clientMsgId: string): StoredMessage | undefined;
  close(): void;
}
