/**
 * Read positions and mentions as the terminal words them (src/cli/read-marks.ts,
 * format.ts): `@name` resolved to a member's user id (unknown names stay text),
 * the new-messages line after the last read message of a join, a message that
 * mentions us highlighted, the line for a mention elsewhere, and unread counts
 * in /rooms. Pure: no server, no terminal.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatMessageSchema, RoomInfoSchema, RoomRole, RoomVisibility, ServerEventSchema } from "../gen/chat/v1/chat_pb.js";
import { formatEvent, formatMessage, formatMyRooms, sanitize } from "../src/cli/format.js";
import { formatMentionText, mentionsIn, NEW_MESSAGES_LINE, unreadLabel } from "../src/cli/read-marks.js";

const now = new Date(2026, 0, 5, 12, 0);
const sentAt = timestampFromDate(new Date(2026, 0, 5, 11, 58));

describe("mentions typed as @name", () => {
  const members = new Map([
    ["bob", "user-bob"],
    ["carol", "user-carol"],
    ["dr.who?", "user-who"],
  ]);
  const lookup = (name: string) => members.get(name);

  it("a member's name becomes their user id; unknown names, e-mail addresses and repeats do not", () => {
    expect(mentionsIn("@bob look", lookup)).toEqual(["user-bob"]);
    expect(mentionsIn("hi @bob, @carol: and @bob again", lookup)).toEqual(["user-bob", "user-carol"]);
    expect(mentionsIn("@nobody here, mail bob@example.com", lookup)).toEqual([]);
    expect(mentionsIn("ask @dr.who? now", lookup)).toEqual(["user-who"]);
    expect(mentionsIn("no mentions", lookup)).toEqual([]);
  });

  it("at most 20 per message (the server's bound)", () => {
    const many = new Map<string, string>(Array.from({ length: 30 }, (_, i) => [`u${i}`, `id${i}`]));
    const text = [...many.keys()].map((n) => `@${n}`).join(" ");
    expect(mentionsIn(text, (n) => many.get(n))).toHaveLength(20);
  });
});

describe("how reads and mentions look", () => {
  it("a join draws the new-messages line after the last read message, only when unread ones are shown", () => {
    const recent = [1n, 2n, 3n].map((seq) => create(ChatMessageSchema, { room: "den", seq, sender: "bob", senderId: "bob", text: `m${seq}`, sentAt }));
    const joined = (readSeq: bigint, unreadCount: number, resumed = false) =>
      formatEvent(create(ServerEventSchema, { event: { case: "joined", value: { room: "den", nickname: "ann", memberCount: 1, members: [{ nickname: "ann" }], recent, readSeq, unreadCount, resumed } } }), {
        color: false,
        now,
        currentRoom: "den",
        newMessagesLine: true,
      });
    expect(joined(1n, 2)).toEqual(["*** joined #den as ann (1 member: ann)", "[11:58] <bob> m1", NEW_MESSAGES_LINE, "[11:58] <bob> m2", "[11:58] <bob> m3"]);
    expect(joined(3n, 0)).not.toContain(NEW_MESSAGES_LINE);
    expect(joined(0n, 3)[1]).toBe(NEW_MESSAGES_LINE);
    expect(joined(1n, 2, true)).not.toContain(NEW_MESSAGES_LINE);
  });

  it("a message that mentions us is marked (and yellow in colour); others are not", () => {
    const m = create(ChatMessageSchema, { room: "den", seq: 4n, sender: "bob", text: "@ann look", mentions: ["ann"], sentAt });
    expect(formatMessage(m, { color: false, now, currentRoom: "den", me: "ann" })).toBe("[11:58] » <bob> @ann look");
    expect(formatMessage(m, { color: false, now, currentRoom: "den", me: "carol" })).toBe("[11:58] <bob> @ann look");
    expect(formatMessage(m, { color: true, now, currentRoom: "den", me: "ann" })).toContain("\x1b[33m@ann look\x1b[0m");
  });

  it("a mention elsewhere is one line with a bounded quote", () => {
    const mention = { room: "den", seq: 4n, sender: "bob", senderId: "bob", quote: `@ann ${"x".repeat(100)}` };
    const text = formatMentionText(mention, "#den", sanitize);
    expect(text.startsWith("bob mentioned you in #den: @ann xxx")).toBe(true);
    expect(text.length).toBeLessThan(100);
  });

  it("unread counts in /rooms: a column when any room has some, 99+ beyond 99", () => {
    expect(unreadLabel(0, 0)).toBe("");
    expect(unreadLabel(3, 0)).toBe("3 unread");
    expect(unreadLabel(100, 1)).toBe("99+ unread, 1 mention");
    const rooms = [
      create(RoomInfoSchema, { name: "den", visibility: RoomVisibility.PUBLIC, yourRole: RoomRole.MEMBER, lastSeq: 5n, unreadCount: 2, mentionCount: 1, lastMessage: { sender: "bob", text: "psst", sentAt } }),
      create(RoomInfoSchema, { name: "plans", visibility: RoomVisibility.PRIVATE, yourRole: RoomRole.OWNER, lastSeq: 0n }),
    ];
    expect(formatMyRooms(rooms, new Set(["plans"]), { now })).toEqual([
      "      #den    public, member  2 unread, 1 mention  [11:58] <bob> psst",
      "    * #plans  private, owner                       no messages yet",
    ]);
  });
});
