/**
 * The bounded outbound queue of one subscriber (one stream). Events are
 * pushed by the fan-out loop, which never waits: if the transport cannot keep
 * up, events pile up here until a byte limit or a stall deadline is hit, and
 * then the subscriber is dropped. Flushing happens once per event-loop turn
 * (see FlushScheduler), batching everything queued into as few frames as the
 * frame size allows.
 */
import { joinFrame, type EncodedEvent } from "./wire.js";

/** The transport side of a subscriber: write frames, nothing else. */
export interface FrameSink {
  /** Write one encoded ChatResponse frame. False means "buffer full": stop until drained(). */
  write(frame: Uint8Array): boolean;
}

export interface QueueLimits {
  maxQueuedBytes: number;
  stallTimeoutMs: number;
  maxFrameBytes: number;
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
  /** Called once when the queue empties after a flush (used to finish a half-closed stream). */
  onEmpty: (() => void) | undefined;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: QueueLimits,
    private readonly scheduler: QueueScheduler,
    /** Called (once) when the subscriber must be dropped; the queue is closed by then. */
    private readonly onOverflow: (detail: string) => void,
  ) {}

  get bytes(): number {
    return this.queuedBytes;
  }

  get isIdle(): boolean {
    return this.queuedBytes === 0 && !this.blocked;
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
    if (!this.dirty && !this.blocked) {
      this.dirty = true;
      this.scheduler.markDirty(this);
    }
  }

  /** The transport can take more frames again. */
  drained(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    if (this.queuedBytes > 0 && !this.dirty) {
      this.dirty = true;
      this.scheduler.markDirty(this);
    }
  }

  /** Write queued events as frames until the queue is empty or the transport pushes back. */
  flush(): void {
    this.dirty = false;
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
    this.compact();
    if (this.queuedBytes === 0 && !this.blocked && this.onEmpty) this.onEmpty();
  }

  /** Stop delivering and release everything queued. */
  close(): void {
    this.closed = true;
    this.events = [];
    this.head = 0;
    this.queuedBytes = 0;
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
    this.onOverflow(detail);
  }
}
