/** The data every room log and history store speaks in. */

/** A message as stored. Sequence numbers are per room (and epoch) and start at 1. */
export interface StoredMessage {
  room: string;
  seq: number;
  sender: string;
  text: string;
  sentAtMs: number;
  clientMsgId: string;
  /** The sender's user id (ChatMessage.sender_id); absent or "" when not recorded (entries stored before users had ids). */
  senderId?: string;
  /**
   * For an entry that changes the room's state (a moderation action): the
   * encoded chat.v1.RoomAction (ChatMessage.action), stored and forwarded as
   * bytes. Absent for a plain message.
   */
  action?: Uint8Array;
  /** For an entry that edits or deletes an earlier message (ChatMessage.change). */
  change?: MessageChangeRef;
  /** When the message was last edited (ChatMessage.edited_at); absent: never. */
  editedAtMs?: number;
  /** A tombstone: the message was deleted and its text is gone (ChatMessage.deleted). */
  deleted?: boolean;
  /** For a reply: the message it answers, as it stands now (ChatMessage.reply_to). */
  replyTo?: ReplyRef;
  /** The user ids the message mentions (ChatMessage.mentions); absent: none. */
  mentions?: readonly string[];
  /** For an entry that adds or removes a reaction (ChatMessage.reaction). */
  reaction?: ReactionRef;
  /** The message's reactions (log/reactions.ts): absent or empty when none. */
  reactions?: readonly StoredReaction[];
}

/** What a reaction entry changes: chat.v1.Reaction. */
export interface ReactionRef {
  targetSeq: number;
  emoji: string;
  removed: boolean;
}

/**
 * One emoji's reactions on a message: every user who reacted with it, in the
 * order they did (what ChatMessage.reactions counts, `mine` and the first
 * user ids are computed from it per reader).
 */
export interface StoredReaction {
  emoji: string;
  userIds: readonly string[];
}

/** What a change entry changes: chat.v1.MessageChange (kind: MessageChangeKind EDIT = 1, DELETE = 2). */
export interface MessageChangeRef {
  targetSeq: number;
  kind: 1 | 2;
}

/** chat.v1.ReplyTo as stored with the reply. */
export interface ReplyRef {
  seq: number;
  sender: string;
  /** The start of the target's current text; "" once it is deleted. */
  quote: string;
  deleted: boolean;
}

/** Where a room's history stands: centrifuge's stream position. */
export interface RoomPosition {
  /** Changes whenever this room's history is reset; sequence numbers compare only within one epoch. */
  epoch: string;
  /** Oldest stored sequence number still kept, 0 when none. */
  firstSeq: number;
  /** Latest sequence number assigned and stored, 0 when none. */
  lastSeq: number;
}

/** What an idempotency key remembers of the message it was first used for. */
export interface SentRecord {
  seq: number;
  sentAtMs: number;
  /** Hash of the text (see textHash), to tell a resend from a reuse of the key for another message. */
  textHash: string;
}
