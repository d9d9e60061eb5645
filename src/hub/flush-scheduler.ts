/**
 * One setImmediate per event-loop turn for the whole process. Work accepted
 * during a turn is handled together at the end of it: first the hooks (the
 * embedded room log commits the turn's messages to history and delivers
 * them, which fills subscriber queues), then every dirty queue writes its
 * events as one batched frame. setImmediate rather than queueMicrotask: the
 * transport hands each incoming message over in its own microtask, so a
 * microtask would batch nothing.
 */
import type { QueueScheduler, SubscriberQueue } from "./subscriber-queue.js";

/** Also serves as the embedded room log's TurnHooks (its commit runs as a hook). */
export class FlushScheduler implements QueueScheduler {
  private readonly hooks: (() => void)[] = [];
  private dirty: SubscriberQueue[] = [];
  private scheduled = false;

  addHook(hook: () => void): void {
    this.hooks.push(hook);
  }

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
    for (const hook of this.hooks) hook();
    const queues = this.dirty;
    this.dirty = [];
    for (const queue of queues) queue.flush();
  };
}
