/**
 * Coalesced presence for large rooms. Above a member threshold, joins and
 * leaves are not sent one by one (each would go to every member: a storm of
 * N joins into a room of N costs N² deliveries); they are collected and sent
 * as one PresenceEvent per interval, with a bounded number of names and the
 * counts. So a join costs the same however big the room is, and a room gets
 * at most one presence delivery per member per interval; the interval grows
 * with the room, so its digests cost at most presenceMaxDeliveriesPerSec.
 */
import type { Member } from "../../gen/chat/v1/chat_pb.js";
import type { PresenceChange } from "../log/room-log.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";

export interface PresenceLimits {
  /** Rooms with more members than this get digests instead of individual events. */
  presenceThreshold: number;
  /** How often a large room's digest goes out. */
  presenceIntervalMs: number;
  /** Names listed per digest, for joins and for leaves each. */
  presenceMaxNames: number;
  /**
   * Digest deliveries a room may cost per second: a room with more members
   * than this many per interval gets its digests further apart (10,000
   * members at 2,000 a second: one every 5 s), so presence in a huge room
   * costs a bounded share of the server, however many come and go.
   */
  presenceMaxDeliveriesPerSec: number;
}

/** How long a room of `members` collects presence before its digest goes out. */
export function digestIntervalMs(limits: PresenceLimits, members: number): number {
  return Math.max(limits.presenceIntervalMs, Math.ceil((members * 1000) / limits.presenceMaxDeliveriesPerSec));
}

export class PresenceDigest {
  private joined: Member[] = [];
  private left: string[] = [];
  private joinedCount = 0;
  private leftCount = 0;
  private memberCount = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly room: string,
    private readonly limits: PresenceLimits,
    private readonly send: (event: EncodedEvent) => void,
  ) {}

  /** Whether the change goes into the digest (the room is large, or a digest is already collecting). */
  takes(change: Extract<PresenceChange, { kind: "joined" | "left" }>): boolean {
    if (!this.timer && change.memberCount <= this.limits.presenceThreshold) return false;
    this.memberCount = change.memberCount;
    if (change.kind === "joined") {
      this.joinedCount++;
      if (this.joined.length < this.limits.presenceMaxNames) this.joined.push(events.toMember(change.member));
    } else {
      this.leftCount++;
      if (this.left.length < this.limits.presenceMaxNames) this.left.push(change.nickname);
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), digestIntervalMs(this.limits, change.memberCount));
      this.timer.unref();
    }
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    const event = events.presenceEvent({
      room: this.room,
      joined: this.joined,
      left: this.left,
      joinedCount: this.joinedCount,
      leftCount: this.leftCount,
      memberCount: this.memberCount,
    });
    this.joined = [];
    this.left = [];
    this.joinedCount = 0;
    this.leftCount = 0;
    this.send(event);
  }
}
