/**
 * Read positions and mentions in the client core (wired into ChatSession):
 * per joined room, where this user has read up to and how many messages from
 * others (and mentions of us) follow it, from the JoinedEvent, the server's
 * ReadPositionEvents (ours, or another session's of the same user: a room read
 * on the phone shows read on the laptop) and, between those, the messages
 * that arrive live (an estimate the next server count replaces).
 *
 * markRead(room, seq) is coalesced: at most one MarkReadCommand per room on
 * the wire and one per MARK_INTERVAL_MS, never backwards, the latest wins (a
 * front end may call it for every message it shows: a busy room read as it
 * scrolls costs the server one write a second, not one per message). Only when signed in: the server keeps positions for
 * signed-in users and refuses the command otherwise, so without a token the
 * position is only moved here.
 */
import type { ChatMessage, JoinedEvent, MentionEvent, ReadPositionEvent } from "../../gen/chat/v1/chat_pb.js";
import type { Connection } from "./connection-loop.js";

/** Where the user stands in a room. */
export interface ReadPosition {
  room: string;
  /** Everything up to this number is read (0: nothing). */
  readSeq: bigint;
  /** Messages from others after readSeq (the server stops at 100: show "99+" beyond 99). */
  unreadCount: number;
  /** Of those, the ones that mention us. */
  mentionCount: number;
}

/** A message that mentions us (MentionEvent), in any room, joined or not. */
export interface Mention {
  room: string;
  seq: bigint;
  sender: string;
  senderId: string;
  /** The start of its text. */
  quote: string;
}

/** The server's cap on unread counts; a local estimate stops there too. */
export const UNREAD_CAP = 100;
/** A room's read position goes to the server at most this often (the latest position at the end). */
export const MARK_INTERVAL_MS = 1000;
/** Mentions per message, at most (the server refuses more). */
export const MENTIONS_MAX = 20;

interface RoomRead {
  room: string;
  readSeq: bigint;
  /** The server's counts, as of `basisSeq` (the join's last message, or the newest we had when its event came). */
  base: { unread: number; mentions: number; basisSeq: bigint };
  /** Messages from others counted here since (bounded by UNREAD_CAP): a mark short of the newest keeps the ones after it. */
  local: { seq: bigint; mention: boolean }[];
  /** The newest message number taken into account (a replayed one at or below it is not counted again). */
  countedTo: bigint;
  /** The position the user asked for and the server has not confirmed. */
  wanted?: bigint;
  /** The MarkReadCommand on the wire: its seq and connection. */
  sent?: { seq: bigint; generation: number };
  /** When the last MarkReadCommand for the room went out. */
  sentAt?: number;
}

export class ReadState {
  private readonly rooms = new Map<string, RoomRead>();

  constructor(
    /** Whether the server keeps our read positions (we are signed in). */
    public signedIn: boolean,
    private readonly changed: (position: ReadPosition) => void,
  ) {}

  position(room: string): ReadPosition | undefined {
    const r = this.rooms.get(room);
    return r && view(r);
  }

  /** A join tells where we stand as of its last message. */
  onJoined(j: JoinedEvent): void {
    const old = this.rooms.get(j.room);
    const r: RoomRead = {
      room: j.room,
      readSeq: j.readSeq,
      base: { unread: j.unreadCount, mentions: j.mentionCount, basisSeq: j.lastSeq },
      local: [],
      countedTo: j.lastSeq,
    };
    // Without a sign-in the server keeps nothing: what this session marked is all there is.
    if (!this.signedIn && old && old.readSeq > r.readSeq) r.readSeq = old.readSeq;
    if (old?.wanted !== undefined && old.wanted > r.readSeq) r.wanted = old.wanted;
    this.rooms.set(j.room, r);
    this.emit(r);
  }

  /** The server's word (our answer, or another session's move): it replaces the estimate. */
  onReadPosition(e: ReadPositionEvent): void {
    const r = this.rooms.get(e.room);
    if (!r) return;
    if (r.sent && e.readSeq >= r.sent.seq) r.sent = undefined;
    if (r.wanted !== undefined && r.wanted <= e.readSeq) r.wanted = undefined;
    // Positions only move forward: an older answer overtaken by a newer one says nothing new.
    if (e.readSeq < r.readSeq) return;
    r.readSeq = e.readSeq;
    r.base = { unread: e.unreadCount, mentions: e.mentionCount, basisSeq: r.countedTo };
    r.local = [];
    this.emit(r);
  }

  /** A fresh message of a joined room: one more unread, unless it is ours or already counted. */
  onMessage(m: ChatMessage, me: string | undefined): void {
    const r = this.rooms.get(m.room);
    // Room actions, edits, deletes and reactions are not counted, as on the server.
    if (!r || m.action || m.change || m.reaction || m.seq <= r.countedTo) return;
    r.countedTo = m.seq;
    if (m.seq <= r.readSeq || (me !== undefined && m.senderId === me)) return;
    if (r.base.unread + r.local.length >= UNREAD_CAP) return;
    r.local.push({ seq: m.seq, mention: me !== undefined && m.mentions.includes(me) });
    this.emit(r);
  }

  /**
   * The user has seen the room up to `seq`. Moves the position here at once
   * (a seq at or before it is ignored); signed in, the server is told (see
   * flush). Returns whether the position moved.
   */
  markRead(room: string, seq: bigint): boolean {
    const r = this.rooms.get(room);
    if (!r || seq <= r.readSeq || (r.wanted !== undefined && seq <= r.wanted)) return false;
    // The server's counts are of messages up to its basis; those counted here are known one by one.
    if (seq >= r.base.basisSeq) r.base = { ...r.base, unread: 0, mentions: 0 };
    r.local = r.local.filter((l) => l.seq > seq);
    r.readSeq = seq;
    if (this.signedIn) r.wanted = seq;
    this.emit(r);
    return true;
  }

  /**
   * Send each live room's wanted position, unless one is already on the wire
   * on this connection or the room's last went out less than MARK_INTERVAL_MS
   * ago. Returns when a position held back that way may go (undefined: none).
   */
  flush(conn: Connection | undefined, isLive: (room: string) => boolean, now: number): number | undefined {
    if (!conn || conn.finished || !this.signedIn) return undefined;
    let next: number | undefined;
    for (const r of this.rooms.values()) {
      if (r.wanted === undefined || !isLive(r.room)) continue;
      if (r.sent && r.sent.generation === conn.generation) continue;
      if (r.sentAt !== undefined && now - r.sentAt < MARK_INTERVAL_MS) {
        next = Math.min(next ?? Infinity, r.sentAt + MARK_INTERVAL_MS);
        continue;
      }
      r.sent = { seq: r.wanted, generation: conn.generation };
      r.sentAt = now;
      conn.send({ case: "markRead", value: { room: r.room, seq: r.wanted } });
    }
    return next;
  }

  /**
   * A MarkReadCommand was refused. Without a sign-in the server never keeps
   * positions: stop asking. Otherwise the position is given up on (a seq the
   * server does not know, a room not joined); the next mark tries again.
   */
  onRefused(room: string, signedOut: boolean): void {
    if (signedOut) this.signedIn = false;
    const r = this.rooms.get(room);
    if (!r) return;
    r.sent = undefined;
    r.wanted = undefined;
  }

  forget(room: string): void {
    this.rooms.delete(room);
  }

  private emit(r: RoomRead): void {
    this.changed(view(r));
  }
}

const view = (r: RoomRead): ReadPosition => ({
  room: r.room,
  readSeq: r.readSeq,
  unreadCount: Math.min(UNREAD_CAP, r.base.unread + r.local.length),
  mentionCount: r.base.mentions + r.local.filter((l) => l.mention).length,
});

/** The MentionEvent as a front end gets it. */
export const mentionOf = (e: MentionEvent): Mention => ({ room: e.room, seq: e.seq, sender: e.sender, senderId: e.senderId, quote: e.quote });

/** A send's mentions, checked: distinct user ids of 1 to 256 characters, at most MENTIONS_MAX; undefined when fine. */
export function checkMentions(mentions: readonly string[]): string | undefined {
  if (mentions.length > MENTIONS_MAX) return `at most ${MENTIONS_MAX} mentions per message`;
  if (mentions.some((u) => u === "" || [...u].length > 256)) return "a mention is a user id of 1 to 256 characters";
  if (new Set(mentions).size !== mentions.length) return "a user is mentioned twice";
  return undefined;
}

/**
 * The user ids `@name`s in a typed text stand for: `lookup` gives a member's
 * user id by nickname (members heard of in the room); an unknown name stays
 * plain text. A name ends at white space or trailing punctuation ("@bob,").
 * Distinct, in order, at most MENTIONS_MAX (the server's bound).
 */
export function mentionsIn(text: string, lookup: (nickname: string) => string | undefined): string[] {
  const ids: string[] = [];
  // After the start or a space, so an e-mail address is not a mention.
  for (const match of text.matchAll(/(?:^|\s)@([^\s@]+)/g)) {
    const word = match[1];
    // "@bob," or "@bob:" names bob; a nickname that ends in punctuation itself is tried whole first.
    const id = lookup(word) ?? lookup(word.replace(/[.,:;!?)'"]+$/u, ""));
    if (id !== undefined && !ids.includes(id) && ids.length < MENTIONS_MAX) ids.push(id);
  }
  return ids;
}
