/**
 * One setImmediate per event-loop turn for the whole hub. Work accepted during
 * a turn (messages to store, queues with new events) is handled together at
 * the end of it: `beforeFlush` commits the turn's messages to history and fans
 * them out, then every dirty queue writes its events as one batched frame.
 * setImmediate rather than queueMicrotask: the transport hands each incoming
 * message over in its own microtask, so a microtask would batch nothing.
 */
import type { QueueScheduler, SubscriberQueue } from "./subscriber-queue.js";

export class FlushScheduler implements QueueScheduler {
  private dirty: SubscriberQueue[] = [];
  private scheduled = false;

  constructor(private readonly beforeFlush: () => void) {}

  markDirty(queue: SubscriberQueue): void {
    this.dirty.push(queue);
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    this.beforeFlush();
    const queues = this.dirty;
    this.dirty = [];
    for (const queue of queues) queue.flush();
  };
}
