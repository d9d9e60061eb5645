/**
 * The bounded outbound queue of one subscriber (one stream). Events are
 * pushed by the fan-out loop, which never waits: if the transport cannot keep
 * up, events pile up here until a byte limit or a stall deadline is hit, and
 * then the subscriber is dropped. Flushing happens once per event-loop turn
 * (see FlushScheduler), batching everything queued into as few frames as the
 * frame size allows.
 *
 * Paced producers (a member's replay, a joined event carrying history) do not
 * push blindly: they ask for room() and, when there is too little, wait for
 * whenWritable(), which fires once the transport has taken the queue below
 * its low-water mark, however the last flush ended (a write that reported
 * back-pressure on the very last frame leaves the queue empty, and it is the
 * transport's drain that must wake them then).
 */
import { joinFrame, type EncodedEvent } from "../wire/encoded-event.js";

/** The transport side of a subscriber: write frames, nothing else. */
export interface FrameSink {
  /** Write one encoded ChatResponse frame. False means "buffer full": stop until drained(). */
  write(frame: Uint8Array): boolean;
  /** Optional: group the writes of one flush into as few socket writes as possible. */
  cork?(): void;
  uncork?(): void;
}

export interface QueueLimits {
  maxQueuedBytes: number;
  stallTimeoutMs: number;
  maxFrameBytes: number;
}

/** Who a queue answers to: an object with methods, not closures (one queue per stream). */
export interface QueueOwner {
  /** The subscriber must be dropped (called once); the queue is closed by then. */
  queueOverflowed(detail: string): void;
  /** The queue has been written out completely and the transport is not blocked. */
  queueIdle(): void;
}

export interface QueueScheduler {
  markDirty(queue: SubscriberQueue): void;
}

export class SubscriberQueue {
  private events: EncodedEvent[] = [];
  private head = 0;
  private queuedBytes = 0;
  private blocked = false;
  private blockedSince = 0;
  private dirty = false;
  private closed = false;
  /** Made at the first wait: most queues never have a paced producer waiting. */
  private waiters: (() => void)[] | undefined;
  /** Bytes promised to paced producers whose reads are in flight. */
  private reserved = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: QueueLimits,
    private readonly scheduler: QueueScheduler,
    private readonly owner: QueueOwner,
  ) {}

  get bytes(): number {
    return this.queuedBytes;
  }

  get isIdle(): boolean {
    return this.queuedBytes === 0 && !this.blocked;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes paced producers may still push now: up to half the limit is theirs to fill. */
  room(): number {
    return this.limits.maxQueuedBytes / 2 - this.queuedBytes - this.reserved;
  }

  /**
   * Hold `bytes` of room for a paced producer while it fetches what it will
   * push (several rooms replaying at once must not each count the same room);
   * returns the function that gives the hold back.
   */
  reserve(bytes: number): () => void {
    this.reserved += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.reserved -= bytes;
    };
  }

  /** Whether an event of `bytes` may be pushed by a paced producer now. An empty queue always takes one. */
  fits(bytes: number): boolean {
    return (this.queuedBytes === 0 && this.reserved === 0) || bytes <= this.room();
  }

  /** Call `fn` once, when the queue is at or below its low-water mark and the transport takes writes. */
  whenWritable(fn: () => void): void {
    if (this.closed) return;
    (this.waiters ??= []).push(fn);
    if (!this.blocked && this.queuedBytes <= this.lowWater) this.markDirty();
  }

  push(event: EncodedEvent): void {
    if (this.closed) return;
    if (this.queuedBytes + event.length > this.limits.maxQueuedBytes) {
      return this.overflow(`more than ${this.limits.maxQueuedBytes} bytes of events waiting to be read`);
    }
    if (this.blocked && Date.now() - this.blockedSince > this.limits.stallTimeoutMs) {
      return this.overflow(`not reading for more than ${this.limits.stallTimeoutMs} ms`);
    }
    this.events.push(event);
    this.queuedBytes += event.length;
    if (!this.blocked) this.markDirty();
  }

  /** The transport can take more frames again. */
  drained(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    // Flush what is queued, or, with nothing queued, wake whoever waits for room.
    this.markDirty();
  }

  /** Write queued events as frames until the queue is empty or the transport pushes back; then wake waiters. */
  flush(): void {
    this.dirty = false;
    if (this.head < this.events.length && !this.closed && !this.blocked) {
      // Corking only pays when several frames go out: for one it is a buffered write and a second pass.
      const cork = this.queuedBytes > this.limits.maxFrameBytes;
      if (cork) this.sink.cork?.();
      while (!this.closed && !this.blocked && this.head < this.events.length) {
        const start = this.head;
        let bytes = this.events[start].length;
        let end = start + 1;
        while (end < this.events.length && bytes + this.events[end].length <= this.limits.maxFrameBytes) {
          bytes += this.events[end].length;
          end++;
        }
        const frame = joinFrame(this.events, start, end, bytes);
        this.head = end;
        this.queuedBytes -= bytes;
        if (!this.sink.write(frame)) {
          this.blocked = true;
          this.blockedSince = Date.now();
        }
      }
      if (cork) this.sink.uncork?.();
      this.compact();
    }
    if (this.closed || this.blocked) return;
    if (this.queuedBytes <= this.lowWater && this.waiters !== undefined && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = undefined;
      for (const fn of waiters) fn();
    }
    if (this.queuedBytes === 0 && !this.blocked) this.owner.queueIdle();
  }

  /** Stop delivering and release everything queued. */
  close(): void {
    this.closed = true;
    this.events = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.reserved = 0;
    // Wake paced producers so they notice the end and let go of what they hold.
    const waiters = this.waiters;
    this.waiters = undefined;
    for (const fn of waiters ?? []) fn();
  }

  private get lowWater(): number {
    return this.limits.maxQueuedBytes / 4;
  }

  private markDirty(): void {
    if (this.dirty || this.closed) return;
    this.dirty = true;
    this.scheduler.markDirty(this);
  }

  private compact(): void {
    if (this.head === this.events.length) {
      this.events.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }

  private overflow(detail: string): void {
    this.close();
    this.owner.queueOverflowed(detail);
  }
}
