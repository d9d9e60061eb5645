/**
 * History kept in process memory: for tests and throwaway runs. Bounded per
 * room by the retention policy and in room count (the least recently written
 * room's history is forgotten first). A new store is a new history, so every
 * room gets a fresh epoch.
 */
import { randomUUID } from "node:crypto";
import type { HistoryStore, RoomHistoryState, StoredMessage } from "./history-store.js";
import { defaultRetention, type Retention } from "./retention.js";

interface RoomLog {
  epoch: string;
  messages: StoredMessage[];
  /** Removed from the front lazily, to keep trimming O(1) amortised. */
  head: number;
  lastSeq: number;
  byClientId: Map<string, StoredMessage>;
}

export class MemoryHistoryStore implements HistoryStore {
  private readonly rooms = new Map<string, RoomLog>();

  constructor(
    private readonly retention: Retention = defaultRetention,
    private readonly maxRooms = 10_000,
  ) {}

  roomState(room: string): RoomHistoryState {
    const log = this.log(room);
    const first = log.messages[log.head];
    return { epoch: log.epoch, lastSeq: log.lastSeq, firstSeq: first ? first.seq : 0 };
  }

  peekState(room: string): RoomHistoryState | undefined {
    return this.rooms.has(room) ? this.roomState(room) : undefined;
  }

  append(messages: readonly StoredMessage[]): void {
    // Check the whole batch before changing anything (all or nothing): each
    // message's seq must follow the previous one of its room, counting the
    // batch's own earlier messages, and a kept (sender, client id) must not repeat.
    // Nothing is created here, so a refused batch leaves no new room behind.
    const lastSeqs = new Map<string, number>();
    const clientIds = new Set<string>();
    for (const m of messages) {
      const lastSeq = lastSeqs.get(m.room) ?? this.rooms.get(m.room)?.lastSeq ?? 0;
      if (m.seq <= lastSeq) throw new Error(`sequence ${m.seq} in room ${m.room} is not after ${lastSeq}`);
      lastSeqs.set(m.room, m.seq);
      if (m.clientMsgId) {
        const key = clientKey(m.sender, m.clientMsgId);
        if (this.rooms.get(m.room)?.byClientId.has(key) || clientIds.has(`${m.room}\u0000${key}`)) {
          throw new Error(`client message id ${m.clientMsgId} of ${m.sender} in room ${m.room} is already stored`);
        }
        clientIds.add(`${m.room}\u0000${key}`);
      }
    }
    for (const m of messages) {
      const log = this.touch(m.room);
      log.messages.push(m);
      log.lastSeq = m.seq;
      if (m.clientMsgId) log.byClientId.set(clientKey(m.sender, m.clientMsgId), m);
      this.trim(log);
    }
  }

  recent(room: string, limit: number): StoredMessage[] {
    const log = this.rooms.get(room);
    if (!log) return [];
    return log.messages.slice(Math.max(log.head, log.messages.length - limit));
  }

  after(room: string, afterSeq: number, limit: number): StoredMessage[] {
    const log = this.rooms.get(room);
    if (!log) return [];
    const start = this.indexAfter(log, afterSeq);
    return log.messages.slice(start, start + limit);
  }

  before(room: string, beforeSeq: number, limit: number): StoredMessage[] {
    const log = this.rooms.get(room);
    if (!log) return [];
    const end = this.indexAfter(log, beforeSeq - 1);
    return log.messages.slice(Math.max(log.head, end - limit), end);
  }

  findByClientMsgId(room: string, sender: string, clientMsgId: string): StoredMessage | undefined {
    return this.rooms.get(room)?.byClientId.get(clientKey(sender, clientMsgId));
  }

  close(): void {
    this.rooms.clear();
  }

  /** Index of the first kept message with seq > afterSeq (binary search: seqs are increasing). */
  private indexAfter(log: RoomLog, afterSeq: number): number {
    let lo = log.head;
    let hi = log.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log.messages[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private log(room: string): RoomLog {
    let log = this.rooms.get(room);
    if (!log) {
      log = { epoch: randomUUID(), messages: [], head: 0, lastSeq: 0, byClientId: new Map() };
      this.rooms.set(room, log);
      this.evictRooms();
    }
    return log;
  }

  /** Mark a room as most recently written (Map order is the LRU order). */
  private touch(room: string): RoomLog {
    const log = this.log(room);
    this.rooms.delete(room);
    this.rooms.set(room, log);
    return log;
  }

  private evictRooms(): void {
    while (this.rooms.size > this.maxRooms) {
      const oldest = this.rooms.keys().next().value as string;
      this.rooms.delete(oldest);
    }
  }

  private trim(log: RoomLog): void {
    const { maxMessagesPerRoom, maxAgeMs } = this.retention;
    const cutoff = maxAgeMs > 0 ? Date.now() - maxAgeMs : -Infinity;
    while (
      log.head < log.messages.length &&
      (log.messages.length - log.head > maxMessagesPerRoom || log.messages[log.head].sentAtMs < cutoff)
    ) {
      const dropped = log.messages[log.head++];
      if (dropped.clientMsgId) log.byClientId.delete(clientKey(dropped.sender, dropped.clientMsgId));
    }
    if (log.head > 1024 && log.head * 2 > log.messages.length) {
      log.messages = log.messages.slice(log.head);
      log.head = 0;
    }
  }
}

function clientKey(sender: string, clientMsgId: string): string {
  return `${sender}\u0000${clientMsgId}`;
}
