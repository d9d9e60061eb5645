import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatResponseSchema, RoomActionKind, RoomRole, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";
import { encodeAction } from "../log/room-states.js";
import type { StoredMessage } from "../log/message.js";
import { toChatMessage } from "./events.js";
import { assembleMessageEvent, encodeMessageEvent, encodeMessageEventFor, encodeMessageHalves } from "./message-codec.js";
import { eventFor, withoutCounts, withReactionCounts } from "./reaction-codec.js";
import { encodeEvent } from "./encoded-event.js";

/** The generic path: build the message object and let protobuf-es encode it. */
const reference = (m: StoredMessage) => encodeEvent({ case: "message", value: toChatMessage(m) });

const base: StoredMessage = { room: "lobby", seq: 1, sender: "alice", text: "hi", sentAtMs: 1_795_000_000_123, clientMsgId: "c-1" };

describe("the hand-written message encoder", () => {
  it.each<[string, Partial<StoredMessage>]>([
    ["a plain message", {}],
    ["empty client id", { clientMsgId: "" }],
    ["a whole second (no nanos)", { sentAtMs: 1_795_000_000_000 }],
    ["non-ASCII text and names", { text: "héllo wörld 😀 ".repeat(30), sender: "zoë", room: "café" }],
    ["a 4096-byte text (multi-byte lengths)", { text: "x".repeat(4096) }],
    ["large sequence numbers", { seq: 2 ** 40 + 17 }],
    ["seq just past one varint byte", { seq: 128 }],
    ["a sender id", { senderId: "3f2c9a7e-user" }],
    ["a non-ASCII sender id", { senderId: "zoë-😀".repeat(20) }],
    ["a ban action with a sender id", { senderId: "u-ann", action: encodeAction({ kind: RoomActionKind.BAN, targetUser: "u-mal", targetName: "mallory", reason: "spam", untilMs: 1_795_000_360_250 }) }],
    ["an action with every field default but its kind", { action: encodeAction({ kind: RoomActionKind.LEAVE_MEMBERSHIP }) }],
    ["an empty action (present, all defaults)", { action: new Uint8Array(0) }],
    ["a create action", { action: encodeAction({ kind: RoomActionKind.CREATE, visibility: RoomVisibility.PRIVATE, topic: "t".repeat(200) }) }],
    ["an edit entry", { senderId: "u-ann", change: { targetSeq: 300, kind: 1 } }],
    ["a delete entry (no text)", { text: "", change: { targetSeq: 2 ** 33, kind: 2 } }],
    ["an edited message", { editedAtMs: 1_795_000_360_250 }],
    ["an edit time at a whole second", { editedAtMs: 1_795_000_360_000 }],
    ["a tombstone", { text: "", deleted: true }],
    ["a reply", { replyTo: { seq: 7, sender: "bob", quote: "the quoted start 😀", deleted: false } }],
    ["a reply to a tombstone", { replyTo: { seq: 200, sender: "bob", quote: "", deleted: true } }],
    ["everything at once", { senderId: "u", editedAtMs: 5, deleted: true, text: "", replyTo: { seq: 1, sender: "", quote: "", deleted: false }, change: { targetSeq: 1, kind: 1 } }],
    ["mentions", { mentions: ["u-ann", "zoë-😀", "x".repeat(200)] }],
    ["a reply with mentions", { mentions: ["u"], replyTo: { seq: 7, sender: "bob", quote: "q", deleted: false } }],
    ["a reaction entry", { text: "", senderId: "u-b", reaction: { targetSeq: 300, emoji: "👍🏽", removed: false } }],
    ["a reaction removed", { text: "", reaction: { targetSeq: 2 ** 33, emoji: "👨‍👩‍👧‍👦", removed: true } }],
    ["a message with reactions", { mentions: ["u"], reactions: [{ emoji: "👍", userIds: ["u-a", "u-b"] }, { emoji: "🎉", userIds: Array.from({ length: 200 }, (_, i) => `user-${i}`) }] }],
    ["a set-role action, empty client id", { clientMsgId: "", action: encodeAction({ kind: RoomActionKind.SET_ROLE, targetUser: "u-b", role: RoomRole.MODERATOR }) }],
  ])("writes the same bytes as protobuf-es for %s", (_name, patch) => {
    const m = { ...base, ...patch };
    expect(Buffer.from(encodeMessageEvent(m))).toEqual(Buffer.from(reference(m)));
  });

  it("encodes `mine` for a reader; eventFor() gives the shared bytes to others, the reader's own to who reacted", () => {
    const m: StoredMessage = { ...base, reactions: [{ emoji: "👍", userIds: ["u-a", "u-b"] }, { emoji: "🎉", userIds: ["u-b"] }] };
    const shared = encodeMessageEvent(m);
    const entry = { event: shared, reactions: m.reactions };
    // A count whose body is 128 bytes with `mine` and 126 without: its length's varint changes size.
    const boundary = [...Array.from({ length: 8 }, (_, i) => `user-00000${i}`), "user-000008x"];
    expect(boundary.map((u) => u.length)).toEqual([11, 11, 11, 11, 11, 11, 11, 11, 12]);
    for (const [reactions, viewers] of [
      [[{ emoji: "👍", userIds: boundary }], [boundary[8], "nobody"]],
      [[{ emoji: "🎉", userIds: ["zoë-😀", "u-a"] }, { emoji: "🇫🇷", userIds: ["u-b"] }], ["zoë-😀", "u-b"]],
    ] as const) {
      const r: StoredMessage = { ...base, reactions: reactions.map((x) => ({ emoji: x.emoji, userIds: [...x.userIds] })) };
      for (const viewer of viewers) {
        const expected = Buffer.from(encodeEvent({ case: "message", value: toChatMessage(r, viewer) }));
        expect(Buffer.from(eventFor({ event: encodeMessageEvent(r), reactions: r.reactions }, viewer))).toEqual(expected);
        expect(Buffer.from(encodeMessageEventFor(r, viewer))).toEqual(expected);
      }
    }
    for (const viewer of ["u-a", "u-b", "u-c"]) {
      const mine = encodeMessageEventFor(m, viewer);
      expect(Buffer.from(mine)).toEqual(Buffer.from(encodeEvent({ case: "message", value: toChatMessage(m, viewer) })));
      expect(Buffer.from(eventFor(entry, viewer))).toEqual(Buffer.from(mine));
    }
    expect(eventFor(entry, "u-c")).toBe(shared);
    expect(Buffer.from(withoutCounts(entry))).toEqual(Buffer.from(encodeMessageEvent(base)));
    expect(Buffer.from(withReactionCounts(encodeMessageEvent({ ...base }), m.reactions, "u-a"))).toEqual(Buffer.from(encodeMessageEventFor(m, "u-a")));
  });

  it("the halves around the sequence number assemble into the same bytes, action and sender id included", () => {
    const m = { ...base, seq: 300, senderId: "u-ann", mentions: ["u-b"], action: encodeAction({ kind: RoomActionKind.KICK, targetUser: "u-b", reason: "bye" }) };
    expect(Buffer.from(assembleMessageEvent(encodeMessageHalves(m), m.seq))).toEqual(Buffer.from(reference(m)));
  });

  it("concatenated encodings decode as one ChatResponse with every event in order", () => {
    const msgs = Array.from({ length: 5 }, (_, i) => ({ ...base, seq: i + 1, text: `m${i}` }));
    const frame = Buffer.concat(msgs.map(encodeMessageEvent));
    const decoded = fromBinary(ChatResponseSchema, frame);
    expect(decoded.events.map((e) => (e.event.case === "message" ? e.event.value.text : ""))).toEqual(msgs.map((m) => m.text));
  });
});
