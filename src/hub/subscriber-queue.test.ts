import { describe, expect, it } from "vitest";
import { create, fromBinary } from "@bufbuild/protobuf";
import { ChatResponseSchema, ErrorEventSchema } from "../../gen/chat/v1/chat_pb.js";
import { encodeEvent } from "../wire/encoded-event.js";
import { SubscriberQueue, type QueueScheduler } from "./subscriber-queue.js";

const limits = { maxQueuedBytes: 1 << 20, stallTimeoutMs: 10_000, maxFrameBytes: 64 * 1024 };

/** Flushes by hand, like one turn of the FlushScheduler. */
class Turn implements QueueScheduler {
  dirty: SubscriberQueue[] = [];
  markDirty(queue: SubscriberQueue): void {
    this.dirty.push(queue);
  }
  run(): void {
    const queues = this.dirty;
    this.dirty = [];
    for (const queue of queues) queue.flush();
  }
}

function receiver(turn: Turn) {
  const frames: Uint8Array[] = [];
  const queue = new SubscriberQueue({ write: (frame) => (frames.push(frame), true) }, limits, turn, { queueOverflowed: () => {}, queueIdle: () => {} });
  return { frames, queue };
}

const notice = (text: string) => encodeEvent({ case: "error", value: create(ErrorEventSchema, { message: text }) });

describe("SubscriberQueue", () => {
  it("receivers that flush the same events in one turn share one frame, and each frame carries its own events", () => {
    const turn = new Turn();
    const a = receiver(turn);
    const b = receiver(turn);
    const c = receiver(turn);
    const events = ["one", "two", "three"].map(notice);
    for (const e of events) {
      a.queue.push(e);
      b.queue.push(e);
    }
    // c got a different run: the first two, and an event of its own.
    c.queue.push(events[0]);
    c.queue.push(events[1]);
    c.queue.push(notice("mine"));
    turn.run();

    expect(a.frames).toHaveLength(1);
    expect(b.frames[0]).toBe(a.frames[0]);
    expect(c.frames[0]).not.toBe(a.frames[0]);
    const texts = (frame: Uint8Array) =>
      fromBinary(ChatResponseSchema, frame).events.map((e) => (e.event.value as { message: string }).message);
    expect(texts(a.frames[0])).toEqual(["one", "two", "three"]);
    expect(texts(c.frames[0])).toEqual(["one", "two", "mine"]);
  });
});
