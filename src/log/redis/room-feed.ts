/**
 * One subscribed room on one node: turns what the room's channel delivers
 * (in whatever order, with whatever is lost around a reconnect) into the
 * gap-free, duplicate-free sequence the room log promises. It remembers the
 * last number it delivered; an entry that jumps ahead is held, and the gap is
 * filled from the stored history (the stream) before anything later goes out.
 * Entries that arrive before the subscription's starting position is known
 * are held too, then sorted out against it.
 */
import type { LogEntry, RoomListener, RoomPosition } from "../room-log.js";

/** Reads stored entries with afterSeq < seq <= upToSeq, oldest first. */
export type RangeReader = (room: string, afterSeq: number, upToSeq: number) => Promise<LogEntry[]>;

/** After a reset, how long an entry this node appended in the new epoch may take to arrive before it is read. */
const RESET_GRACE_MS = 500;

/** Held out-of-order entries at most; past it they are dropped and read back from history. */
const MAX_HELD = 10_000;

export class RoomFeed {
  private started = false;
  private epoch = "";
  private delivered = 0;
  private readonly held = new Map<number, LogEntry>();
  /** Highest number known to exist (seen on the channel or read from meta). */
  private known = 0;
  private repairing = false;
  private closed = false;
  /** The highest number this node appended and is waiting to see delivered (see expect), and its epoch. */
  private expected = 0;
  private expectedEpoch = "";
  private expectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly room: string,
    readonly listener: RoomListener,
    private readonly readRange: RangeReader,
    /** Called when an entry of another epoch arrives: the log checks and resets the room. */
    private readonly onForeignEpoch: (feed: RoomFeed) => void,
    /** Told when a repair read fails (the backend is unreachable): it is retried later. */
    private readonly onRepairFailed: (err: unknown) => void,
    /**
     * Told when the channel brings a number already delivered: usually a repair
     * read got there first, but it is also how a counter that went back (a
     * failover to a lagging replica) shows, so the log checks the counter.
     */
    private readonly onStaleEntry: (feed: RoomFeed) => void = () => {},
    /** Told after a room action's entry was delivered (a delete starts the room again). */
    private readonly onAction: (feed: RoomFeed, entry: LogEntry) => void = () => {},
  ) {}

  get lastDelivered(): number {
    return this.delivered;
  }

  /** The highest number this node knows the room handed out in its current epoch. */
  get highestSeen(): number {
    return Math.max(this.delivered, this.known);
  }

  get currentEpoch(): string {
    return this.epoch;
  }

  /** The subscription is in place and this is where the room stands: deliver what follows it. */
  start(position: RoomPosition): void {
    this.started = true;
    this.epoch = position.epoch;
    this.delivered = position.lastSeq;
    this.known = Math.max(this.known, position.lastSeq);
    for (const seq of [...this.held.keys()]) if (seq <= this.delivered) this.held.delete(seq);
    this.pump();
  }

  /** A stored entry arrived on the channel (`action`: a room action's encoded RoomAction). */
  onEntry(epoch: string, seq: number, event: Uint8Array, action?: Uint8Array): void {
    if (this.closed) return;
    if (this.started && epoch !== this.epoch) {
      this.onForeignEpoch(this);
      return;
    }
    if (this.started && seq <= this.delivered) {
      this.onStaleEntry(this); // seen already (a repair read got it first), or the counter went back
      return;
    }
    this.known = Math.max(this.known, seq);
    if (this.held.size >= MAX_HELD) this.held.clear(); // a repair reads them all back
    this.held.set(seq, action ? { seq, event, action } : { seq, event });
    this.pump();
  }

  /** The room's last number as the backend says (after a reconnect): fill up to it. */
  catchUpTo(lastSeq: number): void {
    this.known = Math.max(this.known, lastSeq);
    this.pump();
  }

  /**
   * This node stored entry `seq` (it is confirmed): if it has not been
   * delivered within `graceMs` (its announcement lost), read it from history.
   */
  expect(seq: number, epoch: string, graceMs: number): void {
    if (epoch === this.epoch && seq <= this.delivered) return;
    if (epoch !== this.expectedEpoch) this.expected = 0;
    this.expectedEpoch = epoch;
    this.expected = Math.max(this.expected, seq);
    this.armExpectTimer(graceMs);
  }

  private armExpectTimer(graceMs: number): void {
    if (this.expectTimer) return;
    this.expectTimer = setTimeout(() => {
      this.expectTimer = undefined;
      if (this.closed || this.expected <= this.delivered) return;
      // A number of another epoch means nothing here: catching up to it would skip this epoch's
      // entries. The room's reset to that epoch (under way) re-arms it.
      if (this.expectedEpoch !== this.epoch) return;
      this.catchUpTo(this.expected);
    }, graceMs);
    this.expectTimer.unref();
  }

  /** The room's history was reset: start over at `position`. */
  reset(position: RoomPosition): void {
    this.held.clear();
    this.epoch = position.epoch;
    this.delivered = position.lastSeq;
    this.known = position.lastSeq;
    // What this node appended in the new epoch is still owed to its sender; anything else is void.
    if (this.expectedEpoch !== position.epoch) this.expected = 0;
    else if (this.expected > this.delivered) this.armExpectTimer(RESET_GRACE_MS);
    this.listener.reset(this.room, position);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.expectTimer);
    this.held.clear();
  }

  /** Deliver what is contiguous; start a repair when a gap remains. */
  private pump(): void {
    if (!this.started || this.repairing || this.closed) return;
    this.deliverContiguous();
    if (this.known > this.delivered) void this.repair();
  }

  private deliverContiguous(): void {
    const batch: LogEntry[] = [];
    for (;;) {
      const next = this.delivered + 1;
      const entry = this.held.get(next);
      if (!entry) break;
      this.held.delete(next);
      this.delivered = next;
      batch.push(entry);
    }
    if (batch.length > 0) this.deliver(batch);
  }

  /** Read the missing numbers from history, deliver them in order, and go on until no gap is left. */
  private async repair(): Promise<void> {
    this.repairing = true;
    try {
      while (!this.closed && this.known > this.delivered) {
        // Up to the first held entry (the gap before it), or, with none held, to the last known number.
        const firstHeld = this.firstHeldAfter(this.delivered);
        const upTo = Number.isFinite(firstHeld) ? firstHeld - 1 : this.known;
        const entries = await this.readRange(this.room, this.delivered, upTo);
        if (this.closed) return;
        const batch: LogEntry[] = [];
        for (const e of entries) {
          if (e.seq <= this.delivered) continue;
          this.delivered = e.seq;
          batch.push(e);
          this.held.delete(e.seq);
        }
        // Numbers missing from history (trimmed meanwhile) are skipped rather than waited for.
        if (entries.length === 0 || this.delivered < upTo) this.delivered = Math.max(this.delivered, upTo);
        if (batch.length > 0) this.deliver(batch);
        for (const seq of [...this.held.keys()]) if (seq <= this.delivered) this.held.delete(seq);
        this.deliverContiguous();
      }
    } catch (err) {
      this.onRepairFailed(err);
    } finally {
      this.repairing = false;
    }
  }

  private deliver(batch: LogEntry[]): void {
    this.listener.entries(this.room, batch);
    for (const e of batch) if (e.action) this.onAction(this, e);
  }

  private firstHeldAfter(seq: number): number {
    let first = Infinity;
    for (const s of this.held.keys()) if (s > seq && s < first) first = s;
    return first;
  }
}
