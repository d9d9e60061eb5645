/**
 * Messages that change (issue 19), on the client: the room's recent messages
 * as they are now. An edit or delete is a new numbered entry (ChatMessage.change)
 * that names its target; it is never a message of its own. MessageBook keeps
 * each room's latest messages (bounded) and applies such entries to them: an
 * edit replaces the text and marks the time, a delete leaves a tombstone
 * without text, and replies quoting the target follow (the new quote, or the
 * tombstone). Pure bookkeeping, no I/O: front ends render what it says.
 */
import { MessageChangeKind, type ChatMessage, type ReplyTo } from "../../gen/chat/v1/chat_pb.js";
import { copyCounts, isReaction } from "./reactions.js";

/** Messages kept per room at most (the oldest leave first): enough for what a screen shows. */
export const KEPT_PER_ROOM = 1000;
/** Characters of a message a reply quotes (the server's rule, src/log/message-changes.ts). */
export const REPLY_QUOTE_CHARS = 100;

export type ChangeKind = "edit" | "delete";

/** What one edit or delete entry changed, as the session's messageChanged event says it. */
export interface MessageChanged {
  room: string;
  /** The changed message's sequence number. */
  seq: bigint;
  kind: ChangeKind;
  /** Who changed it (the entry's sender: the author, or a moderator for a delete). */
  by: string;
  /** The change entry itself (its seq, sent_at, client_msg_id). */
  entry: ChatMessage;
  /** The message in its new state, when it is one of the kept messages. */
  message?: ChatMessage;
  /** Kept replies to it, with their quote brought up to date. */
  replies: ChatMessage[];
}

/** An edit or delete entry (not a message to show). */
export function isChange(m: ChatMessage): boolean {
  return m.change !== undefined && m.change.kind !== MessageChangeKind.UNSPECIFIED;
}

/** The start of a text, as a reply quotes it (whole characters, never half a surrogate pair). */
export function quoteOf(text: string): string {
  const chars = Array.from(text);
  return chars.length <= REPLY_QUOTE_CHARS ? text : chars.slice(0, REPLY_QUOTE_CHARS).join("");
}

export class MessageBook {
  private readonly rooms = new Map<string, Map<bigint, ChatMessage>>();

  constructor(private readonly perRoom = KEPT_PER_ROOM) {}

  /** A message as it is now (undefined when not kept). */
  get(room: string, seq: bigint): ChatMessage | undefined {
    return this.rooms.get(room)?.get(seq);
  }

  /**
   * An entry of a room's log, in order: a message is kept (a copy, as it is
   * now); an edit or delete is applied. Returns what a change changed;
   * undefined for anything else (a room action, a message).
   */
  add(m: ChatMessage): MessageChanged | undefined {
    if (isChange(m)) return this.apply(m);
    if (!m.action) this.keep(m);
    return undefined;
  }

  /** Forget a room (left, or its history reset). */
  forget(room: string): void {
    this.rooms.delete(room);
  }

  private keep(m: ChatMessage): void {
    let kept = this.rooms.get(m.room);
    if (!kept) this.rooms.set(m.room, (kept = new Map()));
    kept.set(m.seq, { ...m, replyTo: m.replyTo && { ...m.replyTo }, reactions: copyCounts(m.reactions) });
    // A Map iterates in insertion order: the first key is the oldest kept.
    if (kept.size > this.perRoom) kept.delete(kept.keys().next().value!);
  }

  private apply(entry: ChatMessage): MessageChanged {
    const change = entry.change!;
    const kind: ChangeKind = change.kind === MessageChangeKind.DELETE ? "delete" : "edit";
    const kept = this.rooms.get(entry.room);
    const target = kept?.get(change.targetSeq);
    if (target) {
      if (kind === "delete") {
        target.deleted = true;
        target.text = "";
        // A tombstone takes no reactions, and shows none.
        target.reactions = [];
      } else if (!target.deleted) {
        target.text = entry.text;
        target.editedAt = entry.sentAt;
      }
    }
    const replies: ChatMessage[] = [];
    for (const m of kept?.values() ?? []) {
      const to = m.replyTo;
      if (!to || to.seq !== change.targetSeq || m.seq <= change.targetSeq) continue;
      updateQuote(to, kind, entry.text);
      replies.push(m);
    }
    return { room: entry.room, seq: change.targetSeq, kind, by: entry.sender, entry, message: target, replies };
  }
}

function updateQuote(to: ReplyTo, kind: ChangeKind, text: string): void {
  if (kind === "delete") {
    to.deleted = true;
    to.quote = "";
  } else if (!to.deleted) to.quote = quoteOf(text);
}
