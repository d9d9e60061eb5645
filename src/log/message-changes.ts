/**
 * Messages that change (issue 19): the rules of an edit, a delete and a
 * reply, decided by a log in the atomic step that numbers the entry, against
 * the target as stored and the room's state. Pure functions, shared by every
 * log so that each decides the same way.
 *
 * An edit or delete is a new entry (ChatMessage.change names the target); the
 * store applies it to the target in the same step (edited text and time, or
 * a tombstone whose text is gone, together with the texts of the edits made
 * to it and the quotes of replies to it).
 */
import { ErrorCode, MessageChangeKind, RoomRole } from "../../gen/chat/v1/chat_pb.js";
import { mayJoin, mayPost, roleOf, type Access, type RoomStateData } from "../rooms/room-state.js";
import type { ReplyRef, RoomPosition, StoredMessage } from "./message.js";
import { textHash } from "./text-hash.js";

export { MessageChangeKind };

/** Characters of the target's text a reply quotes. */
export const REPLY_QUOTE_CHARS = 100;

/** Edits are accepted this long after the message was sent, unless the hub says otherwise. */
export const DEFAULT_EDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface ChangeRequest {
  room: string;
  kind: MessageChangeKind.EDIT | MessageChangeKind.DELETE;
  targetSeq: number;
  /** The new text of an edit; "" for a delete. */
  text: string;
  /** Who changes it (nickname, for the entry and the idempotency key) and their user id (for the rules). */
  sender: string;
  senderId: string;
  /** The role the sender's token grants in this room. */
  grant?: RoomRole;
  /** Idempotency key (the key space of sends); "" for none. */
  clientMsgId: string;
  sentAtMs: number;
  /** How long after a message its author may still edit it. */
  editWindowMs: number;
}

/** The start of a text, as a reply quotes it (whole characters, never half a surrogate pair). */
export function quoteOf(text: string): string {
  const chars = Array.from(text);
  return chars.length <= REPLY_QUOTE_CHARS ? text : chars.slice(0, REPLY_QUOTE_CHARS).join("");
}

/** What a reply records of its target. */
export function replyRef(target: StoredMessage): ReplyRef {
  return { seq: target.seq, sender: target.sender, quote: target.deleted ? "" : quoteOf(target.text), deleted: target.deleted === true };
}

/** Why an entry may not be changed, replied or reacted to, or undefined when it is a message. */
export function notAMessage(room: string, target: StoredMessage): string | undefined {
  if (target.action) return `entry ${target.seq} of room ${room} is a room action, not a message`;
  if (target.change) return `entry ${target.seq} of room ${room} is an edit or delete, not a message`;
  if (target.reaction) return `entry ${target.seq} of room ${room} is a reaction, not a message`;
  return undefined;
}

/** The target was not found: never numbered (NOT_FOUND), or numbered and dropped by retention (FAILED_PRECONDITION). */
export function missing(room: string, seq: number, position: RoomPosition, doing: string): Access {
  if (seq < 1 || seq > position.lastSeq) return { ok: false, code: ErrorCode.NOT_FOUND, message: `room ${room} has no message ${seq}` };
  return { ok: false, code: ErrorCode.FAILED_PRECONDITION, message: `message ${seq} of room ${room} is beyond retention (no longer kept): it cannot be ${doing}` };
}

/** May the message `seq` (found as `target`, or not) be replied to? */
export function decideReply(room: string, seq: number, target: StoredMessage | undefined, position: RoomPosition): Access {
  if (!target) {
    const gone = missing(room, seq, position, "replied to");
    // Both are "not found" for a send: there is no message left to quote.
    return gone.ok ? gone : { ok: false, code: ErrorCode.NOT_FOUND, message: gone.message };
  }
  const problem = notAMessage(room, target);
  return problem ? { ok: false, code: ErrorCode.INVALID_ARGUMENT, message: `cannot reply: ${problem}` } : { ok: true };
}

/** May this edit or delete be made, to `target` as stored, in a room with this state and position? */
export function decideChange(req: ChangeRequest, target: StoredMessage | undefined, position: RoomPosition, state: RoomStateData | undefined, nowMs: number): Access {
  const { room, targetSeq: seq } = req;
  const edit = req.kind === MessageChangeKind.EDIT;
  // Who may act at all comes first: a stranger learns nothing about the room's messages.
  const access = edit ? mayPost(room, state, req.senderId, req.grant, nowMs) : mayJoin(room, state, req.senderId, req.grant, nowMs);
  if (!access.ok) return access;
  const doing = edit ? "edited" : "deleted";
  if (!target) return missing(room, seq, position, doing);
  const problem = notAMessage(room, target);
  if (problem) return { ok: false, code: ErrorCode.INVALID_ARGUMENT, message: `cannot be ${doing}: ${problem}` };
  if (target.deleted) return { ok: false, code: ErrorCode.FAILED_PRECONDITION, message: `message ${seq} of room ${room} was deleted` };
  const author = target.senderId !== undefined && target.senderId !== "" && target.senderId === req.senderId;
  if (edit) {
    if (!author) return { ok: false, code: ErrorCode.PERMISSION_DENIED, message: `only its author may edit message ${seq} of room ${room}` };
    // Within the window means younger than it: a window of 0 allows no edit at all.
    if (nowMs - target.sentAtMs >= req.editWindowMs) {
      return { ok: false, code: ErrorCode.FAILED_PRECONDITION, message: `message ${seq} of room ${room} is older than the edit window (${describeWindow(req.editWindowMs)})` };
    }
    return { ok: true };
  }
  if (!author && roleOf(state, req.senderId, req.grant) < RoomRole.MODERATOR) {
    return { ok: false, code: ErrorCode.PERMISSION_DENIED, message: `only its author or a moderator may delete message ${seq} of room ${room}` };
  }
  return { ok: true };
}

/** The entry recording a decided change (its number is the log's to give). */
export function changeEntry(req: ChangeRequest): Omit<StoredMessage, "seq"> {
  return {
    room: req.room,
    sender: req.sender,
    text: req.kind === MessageChangeKind.EDIT ? req.text : "",
    sentAtMs: req.sentAtMs,
    clientMsgId: req.clientMsgId,
    senderId: req.senderId,
    change: { targetSeq: req.targetSeq, kind: req.kind },
  };
}

/**
 * The fingerprint kept with a change's idempotency key: kind, target and
 * text. It never equals a send's text hash, so a key names one thing.
 */
export function changeFingerprint(req: ChangeRequest): string {
  return textHash(`\u0000message-change\u0000${req.kind}\u0000${req.targetSeq}\u0000${req.kind === MessageChangeKind.EDIT ? req.text : ""}`);
}

/** A send's fingerprint: its text, and the message it replies to if any (a resend must name the same one). */
export function sendFingerprint(text: string, replyToSeq: number | undefined): string {
  return replyToSeq ? textHash(`${text}\u0000reply-to\u0000${replyToSeq}`) : textHash(text);
}

function describeWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
