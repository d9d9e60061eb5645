import { fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ChatResponseSchema } from "../../gen/chat/v1/chat_pb.js";
import { MAX_RECEIPTS_PER_EVENT, ReceiptDigest, ReceiptFanOut, type ReceiptMove } from "./read-receipts.js";

const move = (userId: string, readSeq: number): ReceiptMove => ({ userId, nickname: userId, readSeq });

const decoded = (bytes: Uint8Array | undefined) => {
  if (!bytes) return undefined;
  const e = fromBinary(ChatResponseSchema, bytes).events[0].event;
  if (e.case !== "readReceipts") throw new Error(`not receipts: ${e.case}`);
  return e.value.receipts.map((r) => `${r.userId}@${r.readSeq}`);
};

afterEach(() => {
  vi.useRealTimers();
});

describe("ReceiptDigest", () => {
  it("sends each mover once per interval with the latest position; a position that went back (crossed on the way) is ignored", () => {
    vi.useFakeTimers();
    const sent: ReceiptMove[][] = [];
    const digest = new ReceiptDigest(1000, (moves) => sent.push(moves));
    digest.add(move("ann", 3));
    digest.add(move("bob", 2));
    digest.add(move("ann", 5));
    digest.add(move("ann", 4));
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([[move("bob", 2), move("ann", 5)]]);
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(1); // nothing moved: nothing sent
    digest.add(move("cy", 1));
    digest.stop();
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(1); // stopped: dropped
  });

  it("sends early once it holds its bound of movers", () => {
    vi.useFakeTimers();
    const sent: ReceiptMove[][] = [];
    const digest = new ReceiptDigest(1000, (moves) => sent.push(moves));
    for (let i = 0; i < MAX_RECEIPTS_PER_EVENT + 1; i++) digest.add(move(`u${i}`, 1));
    expect(sent.map((s) => s.length)).toEqual([MAX_RECEIPTS_PER_EVENT]);
    vi.advanceTimersByTime(1000);
    expect(sent.map((s) => s.length)).toEqual([MAX_RECEIPTS_PER_EVENT, 1]);
  });
});

describe("ReceiptFanOut", () => {
  it("gives everyone every move except their own; a lone mover gets nothing", () => {
    const fanOut = new ReceiptFanOut("den", [move("ann", 5), move("bob", 2)]);
    expect(decoded(fanOut.eventFor("cy"))).toEqual(["ann@5", "bob@2"]);
    expect(decoded(fanOut.eventFor(undefined))).toEqual(["ann@5", "bob@2"]);
    expect(decoded(fanOut.eventFor("ann"))).toEqual(["bob@2"]);
    expect(fanOut.eventFor("ann")).toBe(fanOut.eventFor("ann")); // encoded once per mover
    expect(new ReceiptFanOut("den", [move("ann", 5)]).eventFor("ann")).toBeUndefined();
  });
});
