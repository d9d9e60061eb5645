/** Messages that change in the terminal (issue 19): /edit, /delete, /reply, /seq parsing and how lines look, no terminal needed. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatMessageSchema, JoinedEventSchema, MessageChangeKind, ServerEventSchema, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { parseLine } from "../src/cli/commands.js";
import { formatEvent, formatMessage } from "../src/cli/format.js";

const now = new Date(2025, 5, 15, 14, 30);
const sentAt = timestampFromDate(new Date(2025, 5, 15, 14, 2));
const msg = (fields: MessageInitShape<typeof ChatMessageSchema>) => create(ChatMessageSchema, { room: "lobby", sentAt, ...fields });
const opts = { color: false, now, currentRoom: "lobby" };
const event = (m: ChatMessage) => create(ServerEventSchema, { event: { case: "message", value: m } });

describe("parsing /edit, /delete, /reply, /seq", () => {
  it("takes a message number as 12 or #12, and the text as typed", () => {
    expect(parseLine("/edit 12 hello  world")).toEqual({ kind: "edit", seq: 12n, text: "hello  world" });
    expect(parseLine("/e #12 fixed")).toEqual({ kind: "edit", seq: 12n, text: "fixed" });
    expect(parseLine("/delete #7")).toEqual({ kind: "delete", seq: 7n });
    expect(parseLine("/del 7")).toEqual({ kind: "delete", seq: 7n });
    expect(parseLine("/reply 3 me too")).toEqual({ kind: "reply", seq: 3n, text: "me too" });
    expect(parseLine("/re #3 3 cheers")).toEqual({ kind: "reply", seq: 3n, text: "3 cheers" });
    expect(parseLine("/seq")).toEqual({ kind: "seq", on: undefined });
    expect(parseLine("/seq on")).toEqual({ kind: "seq", on: true });
    expect(parseLine("/seq OFF")).toEqual({ kind: "seq", on: false });
  });

  it("explains what is missing or wrong", () => {
    for (const line of ["/edit", "/edit 12", "/edit twelve text", "/edit 0 text", "/edit -1 text", "/edit 99999999999999999999 x"]) {
      expect(parseLine(line)).toMatchObject({ kind: "invalid", message: expect.stringMatching(/^usage: \/edit <n> <new text>/) });
    }
    expect(parseLine("/delete")).toMatchObject({ kind: "invalid", message: expect.stringMatching(/^usage: \/delete <n>/) });
    expect(parseLine("/delete 1 2")).toMatchObject({ kind: "invalid" });
    expect(parseLine("/reply 4")).toMatchObject({ kind: "invalid", message: expect.stringMatching(/^usage: \/reply <n> <text>/) });
    expect(parseLine("/seq maybe")).toEqual({ kind: "invalid", message: "usage: /seq [on|off]" });
  });
});

describe("how changed messages look", () => {
  it('an edited message ends with "(edited)"; a deleted one is a tombstone without text', () => {
    expect(formatMessage(msg({ seq: 12n, sender: "bob", text: "new text", editedAt: sentAt }), opts)).toBe("[14:02] <bob> new text (edited)");
    expect(formatMessage(msg({ seq: 12n, sender: "bob", deleted: true }), opts)).toBe("[14:02] <bob> (message deleted)");
  });

  it("numbers show with /seq on", () => {
    expect(formatMessage(msg({ seq: 12n, sender: "bob", text: "hi" }), { ...opts, showSeq: true })).toBe("[14:02] #12 <bob> hi");
  });

  it("a reply comes under a short quote of what it answers, or of its tombstone", () => {
    const long = "a".repeat(60);
    const reply = msg({ seq: 13n, sender: "ann", text: "agreed", replyTo: { seq: 12n, sender: "bob", quote: long, deleted: false } });
    expect(formatEvent(event(reply), opts)).toEqual([`    ↳ bob: ${"a".repeat(39)}…`, "[14:02] <ann> agreed"]);
    const orphan = msg({ seq: 13n, sender: "ann", text: "agreed", replyTo: { seq: 12n, sender: "bob", quote: "", deleted: true } });
    expect(formatEvent(event(orphan), { ...opts, showSeq: true })).toEqual(["    ↳ bob #12: message deleted", "[14:02] #13 <ann> agreed"]);
  });

  it("an edit or delete entry is a short line saying what changed, never a message", () => {
    const edit = msg({ seq: 14n, sender: "bob", text: "new text", change: { targetSeq: 12n, kind: MessageChangeKind.EDIT } });
    expect(formatEvent(event(edit), opts)).toEqual(["[14:02] * bob edited #12: new text"]);
    const del = msg({ seq: 15n, sender: "bob", change: { targetSeq: 12n, kind: MessageChangeKind.DELETE } });
    expect(formatEvent(event(del), opts)).toEqual(["[14:02] * bob deleted #12"]);
    // A moderator's: whose message it was, when the client keeps it.
    const byMod = msg({ seq: 16n, sender: "alice", change: { targetSeq: 12n, kind: MessageChangeKind.DELETE } });
    const lookup = () => msg({ seq: 12n, sender: "bob", deleted: true });
    expect(formatEvent(event(byMod), { ...opts, lookup })).toEqual(["[14:02] * alice deleted bob's message #12"]);
    // Text from others is sanitised here too.
    const sneaky = msg({ seq: 17n, sender: "bob", text: "\x1b[2Jgone", change: { targetSeq: 12n, kind: MessageChangeKind.EDIT } });
    expect(formatEvent(event(sneaky), opts)[0]).not.toContain("\x1b");
  });

  it("a join's recent messages show as they are now, without their change entries", () => {
    const j = create(JoinedEventSchema, {
      room: "lobby",
      nickname: "ann",
      memberCount: 1,
      members: [{ nickname: "ann" }],
      recent: [
        msg({ seq: 1n, sender: "bob", text: "fixed", editedAt: sentAt }),
        msg({ seq: 2n, sender: "bob", deleted: true }),
        msg({ seq: 3n, sender: "bob", text: "fixed", change: { targetSeq: 1n, kind: MessageChangeKind.EDIT } }),
        msg({ seq: 4n, sender: "bob", change: { targetSeq: 2n, kind: MessageChangeKind.DELETE } }),
      ],
    });
    expect(formatEvent(create(ServerEventSchema, { event: { case: "joined", value: j } }), opts)).toEqual([
      "*** joined #lobby as ann (1 member: ann)",
      "[14:02] <bob> fixed (edited)",
      "[14:02] <bob> (message deleted)",
    ]);
  });
});
