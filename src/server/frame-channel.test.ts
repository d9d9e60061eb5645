/** FrameChannel: frames reach a pull-based consumer in order, and "full" holds the producer back until the consumer catches up. */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { FrameChannel } from "./frame-channel.js";

const frame = (n: number, bytes = 10) => new Uint8Array(bytes).fill(n);

describe("FrameChannel", () => {
  it("says full at the high-water mark, and calls drain once the consumer has taken what waited", async () => {
    let drains = 0;
    const channel = new FrameChannel(25, () => drains++);
    expect(channel.write(frame(1))).toBe(true);
    expect(channel.write(frame(2))).toBe(true);
    expect(channel.write(frame(3))).toBe(false); // 30 bytes waiting
    const it = channel[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual(frame(1));
    expect((await it.next()).value).toEqual(frame(2));
    expect(drains).toBe(0);
    expect((await it.next()).value).toEqual(frame(3));
    expect(drains).toBe(1);
  });

  it("a clean end finishes after what waits; an error end fails after it", async () => {
    const clean = new FrameChannel(100, () => {});
    clean.write(frame(1));
    clean.end(undefined);
    const got: Uint8Array[] = [];
    for await (const f of clean) got.push(f);
    expect(got).toEqual([frame(1)]);

    const failed = new FrameChannel(100, () => {});
    failed.write(frame(2));
    failed.end(new ConnectError("client too slow", Code.ResourceExhausted));
    const it = failed[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual(frame(2));
    await expect(it.next()).rejects.toThrow("client too slow");
  });

  it("a consumer waiting for frames wakes for the next one; close drops what waits", async () => {
    const channel = new FrameChannel(100, () => {});
    const it = channel[Symbol.asyncIterator]();
    const next = it.next();
    channel.write(frame(7));
    expect((await next).value).toEqual(frame(7));
    channel.write(frame(8));
    channel.close();
    expect((await it.next()).done).toBe(true);
    expect(channel.write(frame(9))).toBe(false);
  });
});
