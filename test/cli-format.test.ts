/** How the terminal client words things (issue 11 and big rooms): pure formatting, no terminal needed. */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChatMessageSchema, JoinedEventSchema, PresenceEventSchema, RoomInfoSchema, ServerEventSchema } from "../gen/chat/v1/chat_pb.js";
import { clock, formatEvent, formatMessage, formatPresence, formatRooms, formatTyping, type LastMessage } from "../src/cli/format.js";
import { roomsToShow } from "../src/cli/look-around.js";
import { StatusLine } from "../src/cli/status.js";
import { describeError } from "../src/client/errors.js";

const at = timestampFromDate;
const names = (n: number, prefix = "user") => Array.from({ length: n }, (_, i) => ({ nickname: `${prefix}${i + 1}` }));

describe("message times", () => {
  const now = new Date(2025, 5, 15, 14, 30);
  it("today's messages show HH:MM, older ones their date too", () => {
    expect(clock(at(new Date(2025, 5, 15, 9, 5)), now)).toBe("09:05");
    expect(clock(at(new Date(2025, 5, 14, 23, 59)), now)).toBe("2025-06-14 23:59");
    expect(clock(at(new Date(2024, 11, 31, 8, 0)), now)).toBe("2024-12-31 08:00");
    const old = create(ChatMessageSchema, { room: "lobby", sender: "bob", text: "hi", sentAt: at(new Date(2025, 5, 1, 10, 0)) });
    expect(formatMessage(old, { color: false, now })).toBe("[2025-06-01 10:00] #lobby <bob> hi");
  });
});

describe("big rooms", () => {
  it("a joined event of a large room shows the member count and the first names, not the whole list", () => {
    const j = create(JoinedEventSchema, { room: "lobby", nickname: "ann", memberCount: 4812, members: names(100), membersPageToken: "t" });
    const [line] = formatEvent(create(ServerEventSchema, { event: { case: "joined", value: j } }), { color: false });
    expect(line).toBe("*** joined #lobby as ann (4,812 members: user1, user2, user3, user4, user5, user6, user7, user8, user9, user10, … and 4,802 more; /who lobby lists them)");
    const small = create(JoinedEventSchema, { room: "dev", nickname: "ann", memberCount: 2, members: names(2) });
    expect(formatEvent(create(ServerEventSchema, { event: { case: "joined", value: small } }), { color: false })).toEqual([
      "*** joined #dev as ann (2 members: user1, user2)",
    ]);
  });

  it("a presence digest is one compact line", () => {
    const both = create(PresenceEventSchema, { room: "lobby", joined: names(20, "j"), joinedCount: 37, left: ["l1", "l2"], leftCount: 12, memberCount: 4812 });
    expect(formatPresence(both, false)).toBe("*** 37 joined, 12 left #lobby (4,812 members): j1, j2, j3, j4, j5, … joined; l1, l2, … left");
    const joins = create(PresenceEventSchema, { room: "lobby", joined: names(3, "j"), joinedCount: 3, memberCount: 204 });
    expect(formatPresence(joins, false)).toBe("*** 3 joined #lobby (204 members): j1, j2, j3");
    const leaves = create(PresenceEventSchema, { room: "lobby", left: ["x"], leftCount: 1, memberCount: 203 });
    expect(formatPresence(leaves, false)).toBe("*** 1 left #lobby (203 members): x");
  });
});

describe("/rooms", () => {
  it("aligns its columns and shows when and what was last said, not a sequence number", () => {
    const now = new Date(2026, 11, 3, 18, 0);
    const rooms = [
      create(RoomInfoSchema, { name: "a", memberCount: 1, lastSeq: 0n }),
      create(RoomInfoSchema, { name: "lobby", memberCount: 4812, lastSeq: 12345n }),
      create(RoomInfoSchema, { name: "dev", memberCount: 12, lastSeq: 7n }),
      create(RoomInfoSchema, { name: "old", memberCount: 2, lastSeq: 3n }),
      create(RoomInfoSchema, { name: "flaky", memberCount: 3, lastSeq: 9n }),
    ];
    const last = new Map<string, LastMessage>([
      ["lobby", create(ChatMessageSchema, { room: "lobby", sender: "bob", text: "see you all tomorrow, and bring the slides\nplease", sentAt: at(new Date(2026, 11, 3, 14, 2)) })],
      ["dev", create(ChatMessageSchema, { room: "dev", sender: "carol", text: "merged", sentAt: at(new Date(2026, 10, 30, 9, 5)) })],
      ["flaky", "unavailable"],
    ]);
    expect(formatRooms(rooms, new Set(["lobby"]), last, now)).toEqual([
      "      #a          1 member   no messages yet",
      "    * #lobby  4,812 members  [14:02] <bob> see you all tomorrow, and bring the sli…",
      "      #dev       12 members  [2026-11-30 09:05] <carol> merged",
      "      #old        2 members  no stored messages",
      "      #flaky      3 members  last message unavailable",
    ]);
  });

  it("lists a bounded number of rooms: yours first, then the biggest, in name order", () => {
    const rooms = ["a", "b", "c", "d", "e"].map((name, i) => create(RoomInfoSchema, { name, memberCount: [5, 1, 9, 2, 7][i] }));
    expect(roomsToShow(rooms, new Set(["b"]), 3).map((r) => r.name)).toEqual(["b", "c", "e"]);
    expect(roomsToShow(rooms, new Set(), 10)).toHaveLength(5);
  });
});

describe("status line", () => {
  it("counts down to the next reconnect attempt in place, and says who is typing and who has read the last message", () => {
    let now = 1_000_000;
    const shown: (string | undefined)[] = [];
    const status = new StatusLine((t) => shown.push(t), () => now);
    status.reconnecting({ attempt: 5, at: now + 4000, reason: "cannot reach server x: connection refused" });
    expect(shown.at(-1)).toBe("reconnecting, attempt 5, next try in 4 s (cannot reach server x: connection refused)");
    now += 4000;
    expect(status.text()).toBe("reconnecting, attempt 5, trying now (cannot reach server x: connection refused)");
    status.connected();
    expect(shown.at(-1)).toBeUndefined();
    status.setTyping(["bob"]);
    expect(shown.at(-1)).toBe("bob is typing…");
    status.setSeen("seen by alice and carol");
    expect(shown.at(-1)).toBe("bob is typing… · seen by alice and carol");
    status.setTyping([]);
    expect(shown.at(-1)).toBe("seen by alice and carol");
    status.close();
    expect(formatTyping(["bob", "carol"])).toBe("bob and carol are typing…");
    expect(formatTyping(["a", "b", "c", "d"])).toBe("4 people are typing…");
  });
});

describe("one notice, in plain words", () => {
  it("a shutdown is said once, without repeating its reason", () => {
    const shutdown = (reason: string) => formatEvent(create(ServerEventSchema, { event: { case: "shutdown", value: { reason } } }), { color: false });
    expect(shutdown("server is shutting down")).toEqual(["*** the server is shutting down"]);
    expect(shutdown("maintenance until 14:00")).toEqual(["*** the server is shutting down (maintenance until 14:00)"]);
  });

  it("transport failures become words", () => {
    const s = "http://h:1";
    expect(describeError(new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled), s)).toBe("the connection was closed");
    expect(describeError(new ConnectError("http/2 stream closed with error code INTERNAL_ERROR (0x2)", Code.Internal), s)).toBe("the connection broke");
    expect(describeError(new ConnectError("Premature close", Code.Unavailable), s)).toBe("the connection to http://h:1 was closed");
    expect(describeError(new ConnectError("server is shutting down", Code.Unavailable), s)).toBe("server http://h:1 is shutting down");
    // A browser's fetch that reached no server, as connect-web reports it.
    expect(describeError(new ConnectError("Failed to fetch", Code.Unknown), s)).toBe("cannot reach server http://h:1");
  });
});
