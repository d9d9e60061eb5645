/**
 * Read receipts: where the other members of a room have read it up to, for
 * rooms that have them on (RoomState.read_receipts_on). A member's mark read
 * (on any node: the node bus brings other nodes' moves, read-marks.ts) is
 * not sent at once: moves are collected per room and sent as one
 * ReadReceiptsEvent per presence interval, listing each user who moved once
 * with their latest position. So a member marking read message by message
 * costs the room one delivery per interval, however fast they read.
 */
import { create } from "@bufbuild/protobuf";
import { ReadReceiptSchema, type ReadReceipt } from "../../gen/chat/v1/chat_pb.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import { encodeEvent } from "../wire/encoded-event.js";

/** One user's read position moved. */
export interface ReceiptMove {
  userId: string;
  nickname: string;
  readSeq: number;
}

/**
 * Users one digest collects at most: a room where more move within one
 * interval sends what it has early (bounded memory, and an event of bounded
 * size).
 */
export const MAX_RECEIPTS_PER_EVENT = 200;

export const readReceiptsEvent = (room: string, moves: readonly ReceiptMove[]): EncodedEvent =>
  encodeEvent({ case: "readReceipts", value: { $typeName: "chat.v1.ReadReceiptsEvent", room, receipts: moves.map(toReceipt) } });

export const toReceipt = (m: ReceiptMove): ReadReceipt => create(ReadReceiptSchema, { userId: m.userId, nickname: m.nickname, readSeq: BigInt(m.readSeq) });

/** Collects a room's moves and hands them out once per interval. */
export class ReceiptDigest {
  private pending = new Map<string, ReceiptMove>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (moves: ReceiptMove[]) => void,
  ) {}

  add(move: ReceiptMove): void {
    const before = this.pending.get(move.userId);
    // Positions only move forward; moves from two nodes may cross on the way.
    if (before && before.readSeq > move.readSeq) return;
    this.pending.delete(move.userId);
    this.pending.set(move.userId, move);
    if (this.pending.size >= MAX_RECEIPTS_PER_EVENT) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const moves = [...this.pending.values()];
    this.pending = new Map();
    if (moves.length > 0) this.send(moves);
  }
}

/** The receivers of one digest: who sees which event (a mover does not get their own move back). */
export class ReceiptFanOut {
  private readonly all: EncodedEvent;
  private readonly movers: Set<string>;
  private readonly withoutOwn = new Map<string, EncodedEvent | undefined>();

  constructor(
    private readonly room: string,
    private readonly moves: readonly ReceiptMove[],
  ) {
    this.all = readReceiptsEvent(room, moves);
    this.movers = new Set(moves.map((m) => m.userId));
  }

  /** The event for a member signed in as `userId` (undefined: not signed in); undefined: nothing for it. */
  eventFor(userId: string | undefined): EncodedEvent | undefined {
    if (userId === undefined || !this.movers.has(userId)) return this.all;
    if (!this.withoutOwn.has(userId)) {
      const others = this.moves.filter((m) => m.userId !== userId);
      this.withoutOwn.set(userId, others.length > 0 ? readReceiptsEvent(this.room, others) : undefined);
    }
    return this.withoutOwn.get(userId);
  }
}
