/**
 * The client core's read bookkeeping (src/client/read-state.ts) on its own:
 * the join's counts, messages counted as they arrive (not ours, not room
 * actions nor changes, not a replay), a mark short of the newest keeping the
 * ones after it, the server's word replacing the estimate, and marks sent
 * one at a time per room, only when signed in.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatMessageSchema, JoinedEventSchema, ReadPositionEventSchema } from "../gen/chat/v1/chat_pb.js";
import type { Connection } from "../src/client/connection-loop.js";
import { MARK_INTERVAL_MS, ReadState, type ReadPosition } from "../src/client/read-state.js";

const msg = (seq: number, senderId: string, extra: object = {}) => create(ChatMessageSchema, { room: "den", seq: BigInt(seq), senderId, sender: senderId, text: "x", ...extra });
const joined = (lastSeq: number, readSeq: number, unreadCount: number, mentionCount = 0) =>
  create(JoinedEventSchema, { room: "den", lastSeq: BigInt(lastSeq), readSeq: BigInt(readSeq), unreadCount, mentionCount });

function conn(generation = 1) {
  const sent: { room: string; seq: bigint }[] = [];
  const c = { generation, finished: false, send: (cmd: { case: string; value: { room: string; seq: bigint } }) => sent.push(cmd.value) };
  return { c: c as unknown as Connection, sent };
}

describe("read state", () => {
  it("counts others' messages after the join, once each; a mark short of the newest keeps the ones after it", () => {
    const seen: ReadPosition[] = [];
    const reads = new ReadState(false, (p) => seen.push(p));
    reads.onJoined(joined(10, 7, 3, 1));
    expect(reads.position("den")).toEqual({ room: "den", readSeq: 7n, unreadCount: 3, mentionCount: 1 });
    reads.onMessage(msg(9, "bob"), "ann"); // replayed: in the join's count already
    reads.onMessage(msg(11, "bob", { mentions: ["ann"] }), "ann");
    reads.onMessage(msg(12, "ann"), "ann"); // ours
    reads.onMessage(msg(13, "bob", { action: { kind: 1 } }), "ann"); // a room action
    reads.onMessage(msg(14, "bob"), "ann");
    reads.onMessage(msg(15, "bob", { text: "", reaction: { targetSeq: 14n, emoji: "👍" } }), "ann"); // a reaction
    expect(reads.position("den")).toMatchObject({ unreadCount: 5, mentionCount: 2 });
    expect(reads.markRead("den", 11n)).toBe(true);
    expect(reads.position("den")).toMatchObject({ readSeq: 11n, unreadCount: 1, mentionCount: 0 });
    expect(reads.markRead("den", 8n)).toBe(false); // never back
    // Not signed in: nothing is sent.
    const { c, sent } = conn();
    reads.flush(c, () => true, 0);
    expect(sent).toEqual([]);
    expect(seen.length).toBeGreaterThan(3);
  });

  it("signed in: one mark on the wire per room and per second, the latest next; the server's answer replaces the estimate", () => {
    const reads = new ReadState(true, () => {});
    reads.onJoined(joined(10, 0, 10));
    const { c, sent } = conn();
    reads.markRead("den", 4n);
    expect(reads.flush(c, () => true, 0)).toBeUndefined();
    reads.markRead("den", 6n);
    reads.flush(c, () => true, 10);
    expect(sent).toEqual([{ room: "den", seq: 4n }]);
    reads.onReadPosition(create(ReadPositionEventSchema, { room: "den", readSeq: 4n, unreadCount: 6 }));
    // Answered, but the last went out less than a second ago: held until then.
    expect(reads.flush(c, () => true, 20)).toBe(MARK_INTERVAL_MS);
    expect(sent).toHaveLength(1);
    reads.flush(c, () => true, MARK_INTERVAL_MS);
    expect(sent.map((s) => s.seq)).toEqual([4n, 6n]);
    // The answer to 4 came after the user moved on to 6: the position stays at 6 until the server says 6.
    expect(reads.position("den")).toMatchObject({ readSeq: 6n });
    reads.onReadPosition(create(ReadPositionEventSchema, { room: "den", readSeq: 6n, unreadCount: 4 }));
    expect(reads.position("den")).toEqual({ room: "den", readSeq: 6n, unreadCount: 4, mentionCount: 0 });
    // A room not live now waits; a refusal for want of a sign-in stops all marks.
    reads.markRead("den", 8n);
    reads.flush(c, () => false, 5 * MARK_INTERVAL_MS);
    expect(sent).toHaveLength(2);
    reads.onRefused("den", true);
    reads.markRead("den", 9n);
    reads.flush(c, () => true, 9 * MARK_INTERVAL_MS);
    expect(sent).toHaveLength(2);
  });
});
