/** Reactions in the terminal (issue 19): /react and /unreact parsing, and how reactions and reaction lines look, no terminal needed. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatMessageSchema, JoinedEventSchema, ServerEventSchema, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { COMMAND_HELP, parseLine } from "../src/cli/commands.js";
import { formatEvent, formatMessage, formatRooms } from "../src/cli/format.js";

const now = new Date(2025, 5, 15, 14, 30);
const sentAt = timestampFromDate(new Date(2025, 5, 15, 14, 2));
const msg = (fields: MessageInitShape<typeof ChatMessageSchema>) => create(ChatMessageSchema, { room: "lobby", sentAt, ...fields });
const opts = { color: false, now, currentRoom: "lobby" };
const event = (m: ChatMessage) => create(ServerEventSchema, { event: { case: "message", value: m } });

describe("parsing /react and /unreact", () => {
  it("takes a message number and one emoji, or a common shortcode", () => {
    expect(parseLine("/react 12 👍")).toEqual({ kind: "react", seq: 12n, emoji: "👍", remove: false });
    expect(parseLine("/react #12 :+1:")).toEqual({ kind: "react", seq: 12n, emoji: "👍", remove: false });
    expect(parseLine("/react 3 :heart:")).toMatchObject({ emoji: "❤️" });
    expect(parseLine("/react 3 :tada:")).toMatchObject({ emoji: "🎉" });
    expect(parseLine("/unreact 12 :joy:")).toEqual({ kind: "react", seq: 12n, emoji: "😂", remove: true });
    expect(parseLine("/unreact 12 👀")).toEqual({ kind: "react", seq: 12n, emoji: "👀", remove: true });
  });

  it("explains what is missing or wrong", () => {
    for (const line of ["/react", "/react 12", "/react x 👍", "/react 0 👍", "/react 12 👍 👍"]) {
      expect(parseLine(line)).toMatchObject({ kind: "invalid", message: expect.stringMatching(/usage: \/react <n> <emoji>/) });
    }
    expect(parseLine("/react 12 yes")).toMatchObject({ kind: "invalid", message: expect.stringMatching(/^"yes" is not one emoji/) });
    expect(parseLine("/react 12 :nope:")).toMatchObject({ kind: "invalid" });
    expect(parseLine("/unreact 12")).toMatchObject({ kind: "invalid", message: expect.stringMatching(/usage: \/unreact <n> <emoji>/) });
  });

  it("/help lists them", () => {
    expect(COMMAND_HELP.some((l) => l.startsWith("/react <n> <emoji>"))).toBe(true);
    expect(COMMAND_HELP.some((l) => l.startsWith("/unreact <n> <emoji>"))).toBe(true);
  });
});

describe("how reactions look", () => {
  const reactions = [
    { emoji: "👍", count: 2, mine: false, userIds: ["bob", "carol"] },
    { emoji: "❤️", count: 1, mine: true, userIds: ["ann"] },
  ];

  it("after the message line, * on yours; none on a message without, nor on a tombstone", () => {
    expect(formatMessage(msg({ seq: 12n, sender: "bob", text: "hi", reactions }), opts)).toBe("[14:02] <bob> hi [👍 2 ❤️ 1*]");
    expect(formatMessage(msg({ seq: 12n, sender: "bob", text: "hi" }), opts)).toBe("[14:02] <bob> hi");
    expect(formatMessage(msg({ seq: 12n, sender: "bob", deleted: true, reactions }), opts)).toBe("[14:02] <bob> (message deleted)");
    expect(formatMessage(msg({ seq: 12n, sender: "bob", text: "hi", editedAt: sentAt, reactions }), { ...opts, showSeq: true })).toBe("[14:02] #12 <bob> hi (edited) [👍 2 ❤️ 1*]");
  });

  it("a reaction entry is a short line saying who reacted to what, and the message's reactions now, never a message", () => {
    const added = msg({ seq: 14n, sender: "carol", senderId: "carol", reaction: { targetSeq: 12n, emoji: "👍" } });
    expect(formatEvent(event(added), opts)).toEqual(["[14:02] * carol reacted 👍 to #12"]);
    const lookup = () => msg({ seq: 12n, sender: "bob", text: "hello everyone, this is a rather long message", reactions });
    expect(formatEvent(event(added), { ...opts, lookup })).toEqual(["[14:02] * carol reacted 👍 to #12 (bob: hello everyone, this is a rather long m…) [👍 2 ❤️ 1*]"]);
    const removed = msg({ seq: 15n, sender: "ann", reaction: { targetSeq: 12n, emoji: "❤️", removed: true } });
    expect(formatEvent(event(removed), { ...opts, lookup: () => msg({ seq: 12n, sender: "bob", text: "hi" }) })).toEqual(["[14:02] * ann took ❤️ off #12 (bob: hi)"]);
    // What others send is sanitised here too.
    const sneaky = msg({ seq: 16n, sender: "\x1b[2Jmallory", reaction: { targetSeq: 12n, emoji: "👍" } });
    expect(formatEvent(event(sneaky), opts)[0]).not.toContain("\x1b");
  });

  it("a join's recent messages show with their reactions, without the reaction entries", () => {
    const j = create(JoinedEventSchema, {
      room: "lobby",
      nickname: "ann",
      memberCount: 1,
      members: [{ nickname: "ann" }],
      recent: [msg({ seq: 1n, sender: "bob", text: "hi", reactions }), msg({ seq: 2n, sender: "ann", reaction: { targetSeq: 1n, emoji: "❤️" } })],
    });
    expect(formatEvent(create(ServerEventSchema, { event: { case: "joined", value: j } }), opts)).toEqual(["*** joined #lobby as ann (1 member: ann)", "[14:02] <bob> hi [👍 2 ❤️ 1*]"]);
  });

  it("/rooms shows a reaction as a room's last entry in words", () => {
    const last = msg({ seq: 2n, sender: "ann", reaction: { targetSeq: 1n, emoji: "❤️" } });
    const rooms = formatRooms([{ $typeName: "chat.v1.RoomInfo", name: "lobby", memberCount: 2, lastSeq: 2n } as never], new Set(), new Map([["lobby", last]]), now);
    expect(rooms[0]).toContain("[14:02] * ann reacted ❤️ to #1");
  });
});
