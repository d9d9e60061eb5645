/**
 * History kept in process memory: for tests and throwaway runs. Bounded per
 * room by the retention policy and in total by `maxBytes` (message texts,
 * names and idempotency keys, with a fixed overhead each). When over the
 * total, the least recently written rooms that nobody is in are forgotten
 * first, epoch and all; only if every room is in use are the oldest messages
 * of the least recently written rooms dropped (their epoch and sequence
 * numbers stay, so resuming members are told history_truncated, never a
 * silent reset). A new store is a new history: every room gets a fresh epoch.
 */
import { MessageChangeKind, quoteOf } from "../log/message-changes.js";
import { applyReaction } from "../log/reactions.js";
import type { RoomStateData } from "../rooms/room-state.js";
import type { AppendItem, HistoryStore, RoomOfUser, RoomPosition, SentRecord, StoredMessage } from "./history-store.js";
import { defaultRetention, type Retention } from "./retention.js";

/** Bookkeeping bytes counted per message and per key on top of their strings. */
const MESSAGE_OVERHEAD = 96;
const KEY_OVERHEAD = 96;

interface Sent extends SentRecord {
  key: string;
}

interface RoomHistory {
  readonly name: string;
  epoch: string;
  messages: StoredMessage[];
  /** Removed from the front lazily, to keep trimming O(1) amortised. */
  head: number;
  lastSeq: number;
  /** Idempotency keys in the order they were written (oldest first). */
  ids: Map<string, Sent>;
  bytes: number;
}

const messageBytes = (m: StoredMessage) =>
  MESSAGE_OVERHEAD +
  2 * (m.text.length + m.sender.length + m.clientMsgId.length + (m.senderId?.length ?? 0) + (m.replyTo ? m.replyTo.sender.length + m.replyTo.quote.length : 0)) +
  (m.action?.length ?? 0) +
  reactionBytes(m);
/** The reactions a message carries (each user id counted, with a small overhead per emoji). */
const reactionBytes = (m: StoredMessage) => {
  let bytes = m.reaction ? 2 * m.reaction.emoji.length + 16 : 0;
  for (const r of m.reactions ?? []) bytes += 16 + 2 * r.emoji.length + r.userIds.reduce((n, u) => n + 8 + 2 * u.length, 0);
  return bytes;
};
const keyBytes = (key: string) => KEY_OVERHEAD + 2 * key.length;
const clientKey = (sender: string, clientMsgId: string) => `${sender}\u0000${clientMsgId}`;

export class MemoryHistoryStore implements HistoryStore {
  /** Map order is the least-recently-written order. */
  private readonly rooms = new Map<string, RoomHistory>();
  private readonly inUse = new Set<string>();
  /** Room states: not history, so neither retention nor maxBytes ever drops them (only a room's deletion). */
  private readonly states = new Map<string, RoomStateData>();
  /** Read positions by room, then user: they go with the room's history (a room forgotten starts unread). */
  private readonly reads = new Map<string, Map<string, number>>();
  private totalBytes = 0;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly retention: Retention = defaultRetention,
    /** Total bytes of history kept (approximate; see the file comment). */
    private readonly maxBytes = 256 * 1024 * 1024,
    pruneIntervalMs = 60_000,
  ) {
    if (pruneIntervalMs > 0) {
      this.pruneTimer = setInterval(() => this.prune(), pruneIntervalMs);
      this.pruneTimer.unref();
    }
  }

  /** Bytes currently counted against maxBytes. */
  get bytes(): number {
    return this.totalBytes;
  }

  peek(room: string): RoomPosition | undefined {
    const h = this.rooms.get(room);
    if (!h) return undefined;
    const first = h.messages[h.head];
    return { epoch: h.epoch, lastSeq: h.lastSeq, firstSeq: first ? first.seq : 0 };
  }

  append(items: readonly AppendItem[]): void {
    // Check the whole batch before changing anything (all or nothing): each
    // message's seq must follow the previous one of its room, counting the
    // batch's own earlier messages.
    const lastSeqs = new Map<string, number>();
    for (const { message: m } of items) {
      const lastSeq = lastSeqs.get(m.room) ?? this.rooms.get(m.room)?.lastSeq ?? 0;
      if (!Number.isSafeInteger(m.seq) || m.seq <= lastSeq) throw new Error(`sequence ${m.seq} in room ${m.room} is not after ${lastSeq}`);
      lastSeqs.set(m.room, m.seq);
    }
    const now = Date.now();
    for (const { message: m, epoch, textHash, state } of items) {
      if (state === null) {
        this.deleteRoom(m.room);
        continue;
      }
      if (state) this.states.set(m.room, state);
      const h = this.touch(m.room, epoch);
      h.messages.push(m);
      h.lastSeq = m.seq;
      this.grow(h, messageBytes(m));
      if (m.change) this.applyChange(h, m);
      if (m.reaction) this.applyReactionEntry(h, m);
      if (m.clientMsgId) this.remember(h, clientKey(m.sender, m.clientMsgId), { seq: m.seq, sentAtMs: m.sentAtMs, textHash });
      this.trim(h, now);
    }
    this.evict();
  }

  get(room: string, seq: number): StoredMessage | undefined {
    const h = this.rooms.get(room);
    if (!h) return undefined;
    const found = h.messages[indexAfter(h, seq - 1)];
    return found?.seq === seq ? found : undefined;
  }

  recent(room: string, limit: number): StoredMessage[] {
    const h = this.rooms.get(room);
    if (!h || limit <= 0) return [];
    return h.messages.slice(Math.max(h.head, h.messages.length - limit));
  }

  after(room: string, afterSeq: number, limit: number): StoredMessage[] {
    const h = this.rooms.get(room);
    if (!h || limit <= 0) return [];
    const start = indexAfter(h, afterSeq);
    return h.messages.slice(start, start + limit);
  }

  before(room: string, beforeSeq: number, limit: number): StoredMessage[] {
    const h = this.rooms.get(room);
    if (!h || limit <= 0) return [];
    const end = indexAfter(h, beforeSeq - 1);
    return h.messages.slice(Math.max(h.head, end - limit), end);
  }

  findSent(room: string, sender: string, clientMsgId: string): SentRecord | undefined {
    const sent = this.rooms.get(room)?.ids.get(clientKey(sender, clientMsgId));
    if (!sent || sent.sentAtMs < Date.now() - this.retention.idWindowMs) return undefined;
    return { seq: sent.seq, sentAtMs: sent.sentAtMs, textHash: sent.textHash };
  }

  state(room: string): RoomStateData | undefined {
    return this.states.get(room);
  }

  roomsOf(userId: string, limit: number): RoomOfUser[] {
    const out: RoomOfUser[] = [];
    for (const [name, state] of this.states) if (state.roles[userId] !== undefined) out.push({ name, state });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, limit);
  }

  setInUse(room: string, inUse: boolean): void {
    if (inUse) this.inUse.add(room);
    else this.inUse.delete(room);
  }

  /** Drop what retention says is expired in every room, and rooms left with nothing. */
  prune(nowMs = Date.now()): void {
    for (const h of [...this.rooms.values()]) this.trim(h, nowMs);
  }

  close(): void {
    clearInterval(this.pruneTimer);
    this.rooms.clear();
    this.states.clear();
    this.totalBytes = 0;
  }

  /** The room's history, marked as most recently written (created with `epoch` if new). */
  private touch(room: string, epoch: string): RoomHistory {
    let h = this.rooms.get(room);
    if (h) this.rooms.delete(room);
    else h = { name: room, epoch, messages: [], head: 0, lastSeq: 0, ids: new Map(), bytes: 0 };
    this.rooms.set(room, h);
    return h;
  }

  readPosition(room: string, userId: string): number {
    return this.reads.get(room)?.get(userId) ?? 0;
  }

  markRead(room: string, userId: string, seq: number): number {
    // Only for a room with history: what bounds the rooms held bounds the positions too.
    if (!this.rooms.has(room)) return 0;
    let users = this.reads.get(room);
    if (!users) this.reads.set(room, (users = new Map()));
    const now = Math.max(users.get(userId) ?? 0, seq);
    users.set(userId, now);
    return now;
  }

  private deleteRoom(room: string): void {
    const h = this.rooms.get(room);
    this.reads.delete(room);
    if (h) this.forget(room, h);
    this.states.delete(room);
  }

  /** Apply an edit or delete entry to its target (and, for a delete, to the edits of it and the replies to it). */
  private applyChange(h: RoomHistory, entry: StoredMessage): void {
    const { targetSeq, kind } = entry.change!;
    const at = indexAfter(h, targetSeq - 1);
    const target = h.messages[at];
    if (target?.seq !== targetSeq || target.deleted) return;
    if (kind === MessageChangeKind.EDIT) {
      this.replace(h, at, { ...target, text: entry.text, editedAtMs: entry.sentAtMs });
      this.rewriteReplies(h, targetSeq, { quote: quoteOf(entry.text), deleted: false }, at);
      return;
    }
    // New objects, never changed in place: whoever holds the old ones (a duplicate's answer) keeps them.
    // A deleted message loses its reactions with its text.
    const { reactions: _gone, ...kept } = target;
    this.replace(h, at, { ...kept, text: "", deleted: true });
    for (let i = at + 1; i < h.messages.length; i++) {
      const m = h.messages[i];
      if (m.change?.targetSeq === targetSeq && m.change.kind === MessageChangeKind.EDIT && m.text !== "") this.replace(h, i, { ...m, text: "" });
    }
    this.rewriteReplies(h, targetSeq, { quote: "", deleted: true }, at);
  }

  /** Apply a reaction entry to its target's reactions (a target dropped by retention, or deleted, is left alone). */
  private applyReactionEntry(h: RoomHistory, entry: StoredMessage): void {
    const at = indexAfter(h, entry.reaction!.targetSeq - 1);
    const target = h.messages[at];
    if (target?.seq !== entry.reaction!.targetSeq || target.deleted) return;
    const { reactions: _old, ...rest } = target;
    const reactions = applyReaction(target.reactions, entry.senderId ?? "", entry.reaction!);
    this.replace(h, at, reactions.length > 0 ? { ...rest, reactions } : rest);
  }

  /** The replies to `targetSeq` (all after it) quote it as it is now. */
  private rewriteReplies(h: RoomHistory, targetSeq: number, quote: { quote: string; deleted: boolean }, from: number): void {
    for (let i = from + 1; i < h.messages.length; i++) {
      const m = h.messages[i];
      if (m.replyTo?.seq === targetSeq) this.replace(h, i, { ...m, replyTo: { ...m.replyTo, ...quote } });
    }
  }

  private replace(h: RoomHistory, index: number, next: StoredMessage): void {
    this.grow(h, messageBytes(next) - messageBytes(h.messages[index]));
    h.messages[index] = next;
  }

  private grow(h: RoomHistory, bytes: number): void {
    h.bytes += bytes;
    this.totalBytes += bytes;
  }

  private remember(h: RoomHistory, key: string, record: SentRecord): void {
    const old = h.ids.get(key);
    if (old) {
      h.ids.delete(key); // re-inserted at the end: the Map stays in time order
      this.grow(h, -keyBytes(key));
    }
    h.ids.set(key, { key, ...record });
    this.grow(h, keyBytes(key));
  }

  private dropOldestMessage(h: RoomHistory): void {
    this.grow(h, -messageBytes(h.messages[h.head++]));
  }

  private trim(h: RoomHistory, now: number): void {
    const { maxMessagesPerRoom, maxAgeMs, idWindowMs, maxIdsPerRoom } = this.retention;
    const cutoff = maxAgeMs > 0 ? now - maxAgeMs : -Infinity;
    while (h.head < h.messages.length && (h.messages.length - h.head > maxMessagesPerRoom || h.messages[h.head].sentAtMs < cutoff)) {
      this.dropOldestMessage(h);
    }
    const idCutoff = now - idWindowMs;
    for (const sent of h.ids.values()) {
      if (h.ids.size <= maxIdsPerRoom && sent.sentAtMs >= idCutoff) break;
      h.ids.delete(sent.key);
      this.grow(h, -keyBytes(sent.key));
    }
    this.compact(h);
  }

  private compact(h: RoomHistory): void {
    if (h.head === h.messages.length && h.ids.size === 0) {
      // Nothing left of this room: forget it (its next message starts a new epoch).
      if (this.rooms.get(h.name) === h) this.forget(h.name, h);
      return;
    }
    if (h.head > 1024 && h.head * 2 > h.messages.length) {
      h.messages = h.messages.slice(h.head);
      h.head = 0;
    }
  }

  private forget(name: string, h: RoomHistory): void {
    this.rooms.delete(name);
    this.reads.delete(name);
    this.totalBytes -= h.bytes;
  }

  /** Keep the total under maxBytes: idle rooms go first, whole; then the oldest messages of rooms in use. */
  private evict(): void {
    if (this.totalBytes <= this.maxBytes) return;
    for (const [name, h] of this.rooms) {
      if (this.totalBytes <= this.maxBytes) return;
      if (!this.inUse.has(name)) this.forget(name, h);
    }
    for (const h of this.rooms.values()) {
      while (this.totalBytes > this.maxBytes && h.head < h.messages.length - 1) this.dropOldestMessage(h);
      if (this.totalBytes <= this.maxBytes) return;
    }
  }
}

/** Index of the first kept message with seq > afterSeq (binary search: seqs are increasing). */
function indexAfter(h: RoomHistory, afterSeq: number): number {
  let lo = h.head;
  let hi = h.messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (h.messages[mid].seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
