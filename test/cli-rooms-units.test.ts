/**
 * The terminal client's room commands as typed (issue 18): durations, roles,
 * visibility and reasons parsed before anything is sent, and how room state
 * is worded (action lines, topic on join, removals, my rooms, @user for
 * direct messages). Pure: no server, no terminal.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  ChatMessageSchema,
  JoinedEventSchema,
  LeaveReason,
  ReadReceiptsSetting,
  RoomActionKind,
  RoomActionSchema,
  RoomInfoSchema,
  RoomRole,
  RoomStateSchema,
  RoomVisibility,
  ServerEventSchema,
} from "../gen/chat/v1/chat_pb.js";
import { COMMAND_HELP, parseLine } from "../src/cli/commands.js";
import { formatEvent, formatMessage, formatMyRooms, formatRemoval, formatRooms } from "../src/cli/format.js";
import { DURATION_MAX_MS, parseDuration, parseRole } from "../src/cli/room-commands.js";

const at = timestampFromDate;

describe("durations and roles", () => {
  it("reads 30s, 10m, 2h, 1d, 1w; anything else is not a duration (it starts the reason)", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("1W")).toBe(7 * 86_400_000);
    for (const no of ["10", "m", "1.5h", "-1h", "10min", "spam", ""]) expect(parseDuration(no)).toBeUndefined();
  });

  it("roles by name, case-insensitive; none removes the role", () => {
    expect(parseRole("owner")).toBe(RoomRole.OWNER);
    expect(parseRole("Moderator")).toBe(RoomRole.MODERATOR);
    expect(parseRole("mod")).toBe(RoomRole.MODERATOR);
    expect(parseRole("member")).toBe(RoomRole.MEMBER);
    expect(parseRole("none")).toBe(RoomRole.UNSPECIFIED);
    expect(parseRole("admin")).toBeUndefined();
  });
});

describe("room commands", () => {
  it("/create: name, then private or public, then the topic as typed", () => {
    expect(parseLine("/create #plans private the  surprise party")).toEqual({ kind: "create", room: "plans", visibility: "private", topic: "the  surprise party" });
    expect(parseLine("/create town")).toEqual({ kind: "create", room: "town", visibility: "public", topic: "" });
    expect(parseLine("/create town all things town")).toEqual({ kind: "create", room: "town", visibility: "public", topic: "all things town" });
    expect(parseLine("/create")).toMatchObject({ kind: "invalid", message: "usage: /create <room> [private] [topic]" });
    expect(parseLine("/create bad/name")).toMatchObject({ kind: "invalid" });
  });

  it("/ban and /mute: an optional duration, then the reason", () => {
    expect(parseLine("/ban bob 2h spam and more spam")).toEqual({
      kind: "act",
      action: { kind: RoomActionKind.BAN, user: "bob", reason: "spam and more spam", durationMs: 7_200_000 },
    });
    expect(parseLine("/ban bob spam")).toEqual({ kind: "act", action: { kind: RoomActionKind.BAN, user: "bob", reason: "spam", durationMs: undefined } });
    expect(parseLine("/ban bob")).toEqual({ kind: "act", action: { kind: RoomActionKind.BAN, user: "bob", reason: "", durationMs: undefined } });
    expect(parseLine("/mute carol 10m")).toEqual({ kind: "act", action: { kind: RoomActionKind.MUTE, user: "carol", reason: "", durationMs: 600_000 } });
    expect(parseLine("/ban bob 0s")).toMatchObject({ kind: "invalid" });
    expect(parseLine(`/ban bob ${DURATION_MAX_MS / 86_400_000 + 1}d`)).toMatchObject({ kind: "invalid" });
    expect(parseLine("/ban")).toMatchObject({ kind: "invalid", message: "usage: /ban <user> [duration] [reason]" });
  });

  it("/kick, /invite, /unban, /unmute, /op, /topic, /msg", () => {
    expect(parseLine("/kick bob be nice")).toEqual({ kind: "act", action: { kind: RoomActionKind.KICK, user: "bob", reason: "be nice" } });
    expect(parseLine("/invite bob")).toEqual({ kind: "act", action: { kind: RoomActionKind.INVITE, user: "bob" } });
    expect(parseLine("/unban bob")).toEqual({ kind: "act", action: { kind: RoomActionKind.UNBAN, user: "bob" } });
    expect(parseLine("/unmute bob")).toEqual({ kind: "act", action: { kind: RoomActionKind.UNMUTE, user: "bob" } });
    expect(parseLine("/invite bob carol")).toMatchObject({ kind: "invalid", message: "usage: /invite <user>" });
    expect(parseLine("/op bob")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_ROLE, user: "bob", role: RoomRole.MODERATOR } });
    expect(parseLine("/op bob owner")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_ROLE, user: "bob", role: RoomRole.OWNER } });
    expect(parseLine("/op bob none")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_ROLE, user: "bob", role: RoomRole.UNSPECIFIED } });
    expect(parseLine("/op bob king")).toMatchObject({ kind: "invalid", message: '/op: the role is owner, moderator, member or none (got "king")' });
    expect(parseLine("/topic party on  friday")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_TOPIC, topic: "party on  friday" } });
    expect(parseLine("/topic -")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_TOPIC, topic: "" } });
    expect(parseLine("/topic")).toEqual({ kind: "showTopic" });
    expect(parseLine("/msg bob")).toEqual({ kind: "msg", user: "bob" });
    expect(parseLine("/msg bob hi there")).toEqual({ kind: "msg", user: "bob", text: "hi there" });
    expect(parseLine("/msg")).toMatchObject({ kind: "invalid", message: "usage: /msg <user> [text]" });
  });

  it("/receipts: on, off or default sets the current room's read receipts; alone, shows them", () => {
    expect(parseLine("/receipts off")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF } });
    expect(parseLine("/receipts ON")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.ON } });
    expect(parseLine("/receipts default")).toEqual({ kind: "act", action: { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.UNSPECIFIED } });
    expect(parseLine("/receipts")).toEqual({ kind: "showReceipts" });
    expect(parseLine("/receipts maybe")).toMatchObject({ kind: "invalid", message: "usage: /receipts [on|off|default]" });
  });

  it("/help lists every room command", () => {
    for (const c of ["/create", "/invite", "/kick", "/ban", "/unban", "/mute", "/unmute", "/topic", "/op", "/msg", "/receipts"]) {
      expect(COMMAND_HELP.some((l) => l.startsWith(`${c} `))).toBe(true);
    }
  });
});

describe("room state on screen", () => {
  const now = new Date(2026, 11, 4, 12, 0);
  const sentAt = at(new Date(2026, 11, 4, 11, 58));

  it("an action entry is a quiet line, not someone speaking", () => {
    const ban = create(ChatMessageSchema, {
      room: "town",
      sender: "alice",
      text: "bob was banned by alice: spam",
      sentAt,
      action: create(RoomActionSchema, { kind: RoomActionKind.BAN, targetUser: "bob", reason: "spam" }),
    });
    expect(formatMessage(ban, { color: false, now, currentRoom: "town" })).toBe("[11:58] * bob was banned by alice: spam");
    expect(formatMessage(ban, { color: false, now })).toBe("[11:58] #town * bob was banned by alice: spam");
  });

  it("joining shows the topic, and a direct-message room by the other user", () => {
    const joined = (room: string, state: Parameters<typeof create<typeof RoomStateSchema>>[1], resumed = false) =>
      formatEvent(
        create(ServerEventSchema, {
          event: { case: "joined", value: create(JoinedEventSchema, { room, nickname: "ann", memberCount: 1, members: [{ nickname: "ann" }], resumed, state: create(RoomStateSchema, state) }) },
        }),
        { color: false, roomLabel: (r) => (r.startsWith("dm.") ? "@bob" : `#${r}`) },
      );
    expect(joined("plans", { visibility: RoomVisibility.PRIVATE, topic: "the party" })).toEqual([
      "*** joined private room #plans as ann (1 member: ann)",
      "*** topic: the party",
    ]);
    expect(joined("plans", { visibility: RoomVisibility.PRIVATE, topic: "the party" }, true)).toEqual(["*** rejoined private room #plans as ann (1 member: ann)"]);
    expect(joined("dm.0123", { visibility: RoomVisibility.PRIVATE, directUserId: "bob" })).toEqual(["*** joined direct messages with @bob as ann (1 member: ann)"]);
    expect(joined("town", { visibility: RoomVisibility.PUBLIC, muted: true })).toEqual([
      "*** joined #town as ann (1 member: ann)",
      "*** you are muted in #town: you may read, not post",
    ]);
  });

  it("a removal says who and why, and that the room is not rejoined", () => {
    const entry = create(ChatMessageSchema, { room: "town", sender: "alice", text: "bob was banned by alice: spam", action: { kind: RoomActionKind.BAN, reason: "spam" } });
    expect(formatRemoval("town", LeaveReason.BANNED, entry, { color: false })).toBe("!!! you were banned from #town by alice: spam; you cannot rejoin it");
    expect(formatRemoval("town", LeaveReason.KICKED, undefined, { color: false })).toBe("!!! you were kicked from #town");
    expect(formatRemoval("town", LeaveReason.ROOM_DELETED, undefined, { color: false })).toBe("!!! #town was deleted");
  });

  it("being disconnected by the service is not worded as a server shutdown", () => {
    const notice = (reason: string) => formatEvent(create(ServerEventSchema, { event: { case: "shutdown", value: { reason } } }), { color: false });
    expect(notice("disconnected by the server's administrator: abuse")).toEqual(["*** disconnected by the server's administrator: abuse"]);
    expect(notice("server is shutting down")).toEqual(["*** the server is shutting down"]);
  });

  it("my rooms: name or @user, visibility and role, last message", () => {
    const rooms = [
      create(RoomInfoSchema, { name: "dm.abc", directUserId: "bob", visibility: RoomVisibility.PRIVATE, yourRole: RoomRole.MEMBER, lastSeq: 2n, lastMessage: { sender: "bob", text: "psst", sentAt } }),
      create(RoomInfoSchema, { name: "plans", visibility: RoomVisibility.PRIVATE, yourRole: RoomRole.OWNER, lastSeq: 0n }),
      create(RoomInfoSchema, { name: "town", visibility: RoomVisibility.PUBLIC, yourRole: RoomRole.MODERATOR, lastSeq: 4n, lastMessage: { sender: "alice", text: "carol was kicked by alice", action: { kind: RoomActionKind.KICK }, sentAt } }),
    ];
    expect(formatMyRooms(rooms, new Set(["plans"]), { now })).toEqual([
      "      @bob    direct             [11:58] <bob> psst",
      "    * #plans  private, owner     no messages yet",
      "      #town   public, moderator  [11:58] * carol was kicked by alice",
    ]);
    // The other rooms' list words a last action the same way.
    const town = create(RoomInfoSchema, { name: "town", memberCount: 2, lastSeq: 4n });
    const kicked = create(ChatMessageSchema, { room: "town", sender: "alice", text: "carol was kicked by alice", action: { kind: RoomActionKind.KICK }, sentAt });
    expect(formatRooms([town], new Set(), new Map([["town", kicked]]), now)).toEqual(["      #town  2 members  [11:58] * carol was kicked by alice"]);
  });
});
