import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../gen/chat/v1/chat_pb.js";
import {
  decide,
  defaultState,
  directRoomName,
  evicts,
  isBanned,
  mayJoin,
  mayPost,
  maySee,
  ReadReceiptsSetting,
  receiptsOn,
  RoomActionKind as K,
  RoomRole,
  RoomVisibility,
  type Actor,
  type ActionInput,
  type RoomStateData,
} from "./room-state.js";

const NOW = 1_800_000_000_000;

/** A public room with an owner, a moderator, a member and a target member. */
function room(extra: Partial<RoomStateData> = {}): RoomStateData {
  return {
    ...defaultState(NOW),
    creator: "u-o",
    roles: { "u-o": RoomRole.OWNER, "u-m": RoomRole.MODERATOR, "u-mem": RoomRole.MEMBER, "u-t": RoomRole.MEMBER },
    version: 1,
    ...extra,
  };
}

const actors: Record<string, Actor> = {
  owner: { userId: "u-o", name: "olga" },
  moderator: { userId: "u-m", name: "mo" },
  member: { userId: "u-mem", name: "meg" },
  none: { userId: "u-x", name: "xavier" },
  admin: { userId: "", name: "app", admin: true },
};

const actions: Record<string, ActionInput> = {
  invite: { kind: K.INVITE, targetUser: "u-new" },
  kick: { kind: K.KICK, targetUser: "u-t" },
  ban: { kind: K.BAN, targetUser: "u-t", reason: "spam" },
  unban: { kind: K.UNBAN, targetUser: "u-t" },
  mute: { kind: K.MUTE, targetUser: "u-t" },
  unmute: { kind: K.UNMUTE, targetUser: "u-t" },
  set_topic: { kind: K.SET_TOPIC, topic: "news" },
  set_role: { kind: K.SET_ROLE, targetUser: "u-t", role: RoomRole.MODERATOR },
  leave: { kind: K.LEAVE_MEMBERSHIP },
  delete: { kind: K.DELETE },
  receipts: { kind: K.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF },
};

const OK = "ok";
const D = ErrorCode.PERMISSION_DENIED;
const F = ErrorCode.FAILED_PRECONDITION;

// Rows: actor; columns: the actions above, in order.
const table: Record<string, (typeof OK | ErrorCode)[]> = {
  //         invite kick ban unban mute unmute topic role leave delete receipts
  owner: [OK, OK, OK, OK, OK, OK, OK, OK, F, D, OK],
  moderator: [OK, OK, OK, OK, OK, OK, OK, D, OK, D, OK],
  member: [D, D, D, D, D, D, D, D, OK, D, D],
  none: [D, D, D, D, D, D, D, D, F, D, D],
  admin: [OK, OK, OK, OK, OK, OK, OK, OK, F, OK, OK],
};

const cases = Object.entries(table).flatMap(([who, row]) => Object.keys(actions).map((what, i) => [who, what, row[i]] as const));

describe("rights: who may take which action", () => {
  it.each(cases)("%s / %s -> %s", (who, what, expected) => {
    const d = decide("hall", room(), true, actors[who], actions[what], NOW);
    if (expected === OK) expect(d).toMatchObject({ ok: true });
    else expect(d).toMatchObject({ ok: false, code: expected });
  });

  it("a moderator cannot act on another moderator or an owner; an owner can", () => {
    const state = room({ roles: { ...room().roles, "u-m2": RoomRole.MODERATOR } });
    for (const target of ["u-o", "u-m2"]) {
      for (const kind of [K.KICK, K.BAN, K.MUTE]) {
        expect(decide("hall", state, true, actors.moderator, { kind, targetUser: target }, NOW)).toMatchObject({ ok: false, code: D });
      }
    }
    expect(decide("hall", state, true, actors.owner, { kind: K.BAN, targetUser: "u-m2" }, NOW)).toMatchObject({ ok: true });
  });

  it("the last owner cannot give up the role (leave, demote, be kicked or banned); with a second owner they can", () => {
    const state = room();
    expect(decide("hall", state, true, actors.owner, { kind: K.SET_ROLE, targetUser: "u-o", role: RoomRole.MEMBER }, NOW)).toMatchObject({ ok: false, code: F });
    expect(decide("hall", state, true, actors.admin, { kind: K.BAN, targetUser: "u-o" }, NOW)).toMatchObject({ ok: false, code: F });
    const two = room({ roles: { ...state.roles, "u-o2": RoomRole.OWNER } });
    const left = decide("hall", two, true, actors.owner, { kind: K.LEAVE_MEMBERSHIP }, NOW);
    expect(left).toMatchObject({ ok: true, text: "olga left the room's members" });
    if (left.ok) expect(left.next?.roles["u-o"]).toBeUndefined();
  });

  it("refuses acting on oneself (except invite), bad input, and a target-less action that needs one", () => {
    expect(decide("hall", room(), true, actors.moderator, { kind: K.BAN, targetUser: "u-m" }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("hall", room(), true, actors.owner, { kind: K.KICK }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("hall", room(), true, actors.owner, { kind: K.SET_TOPIC, topic: "x".repeat(257) }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("hall", room(), true, actors.owner, { kind: K.BAN, targetUser: "u-t", untilMs: NOW - 1 }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("hall", room(), true, actors.owner, { kind: K.UNSPECIFIED }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    const many = Object.fromEntries(Array.from({ length: 102 }, (_, i) => [`u-${i}`, RoomRole.MEMBER]));
    expect(decide("new", undefined, false, actors.none, { kind: K.CREATE, roles: many }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("new", undefined, false, actors.none, { kind: K.CREATE, roles: { "u-b": RoomRole.UNSPECIFIED } }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
    expect(decide("new", undefined, false, actors.none, { kind: K.CREATE, roles: { "": RoomRole.MEMBER } }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
  });

  it("create needs a free name; the creator becomes owner; delete needs an existing room", () => {
    expect(decide("new", undefined, true, actors.none, { kind: K.CREATE }, NOW)).toMatchObject({ ok: false, code: ErrorCode.ALREADY_EXISTS });
    const made = decide("new", undefined, false, actors.none, { kind: K.CREATE, visibility: RoomVisibility.PRIVATE, roles: { "u-b": RoomRole.MEMBER } }, NOW);
    expect(made).toMatchObject({ ok: true, next: { visibility: RoomVisibility.PRIVATE, creator: "u-x", roles: { "u-x": RoomRole.OWNER, "u-b": RoomRole.MEMBER }, version: 1 } });
    expect(decide("new", undefined, false, actors.admin, { kind: K.DELETE }, NOW)).toMatchObject({ ok: false, code: ErrorCode.NOT_FOUND });
  });

  it("every change bumps the version and leaves the previous state untouched", () => {
    const before = room();
    const copy = structuredClone(before);
    const d = decide("hall", before, true, actors.owner, actions.ban, NOW);
    expect(before).toEqual(copy);
    expect(d).toMatchObject({ ok: true, next: { version: 2, bans: { "u-t": { untilMs: 0, reason: "spam" } } } });
    if (d.ok) expect(d.next?.roles["u-t"]).toBeUndefined();
  });
});

describe("read receipts", () => {
  it("owners and moderators set them (a member cannot); the entry says what changed; unspecified goes back to the default", () => {
    expect(decide("hall", room(), true, actors.member, actions.receipts, NOW)).toMatchObject({ ok: false, code: D, message: expect.stringMatching(/moderator/) });
    const off = decide("hall", room(), true, actors.moderator, actions.receipts, NOW);
    expect(off).toMatchObject({ ok: true, text: "mo turned read receipts off", next: { readReceipts: ReadReceiptsSetting.OFF, version: 2 }, action: { readReceipts: ReadReceiptsSetting.OFF } });
    if (!off.ok || !off.next) throw new Error("refused");
    const on = decide("hall", off.next, true, actors.owner, { kind: K.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.ON }, NOW);
    expect(on).toMatchObject({ ok: true, text: "olga turned read receipts on", next: { readReceipts: ReadReceiptsSetting.ON } });
    const back = decide("hall", off.next, true, actors.owner, { kind: K.SET_READ_RECEIPTS }, NOW);
    expect(back).toMatchObject({ ok: true, text: "olga set read receipts to the server's default", action: { readReceipts: ReadReceiptsSetting.UNSPECIFIED } });
    if (back.ok) expect(back.next).not.toHaveProperty("readReceipts");
    expect(decide("hall", room(), true, actors.owner, { kind: K.SET_READ_RECEIPTS, readReceipts: 7 as ReadReceiptsSetting }, NOW)).toMatchObject({ ok: false, code: ErrorCode.INVALID_ARGUMENT });
  });

  it("are on by default up to the size limit and off above it; on and off hold whatever the size", () => {
    expect(receiptsOn(undefined, 50, 50)).toBe(true);
    expect(receiptsOn(room(), 51, 50)).toBe(false);
    expect(receiptsOn(room({ readReceipts: ReadReceiptsSetting.ON }), 5000, 50)).toBe(true);
    expect(receiptsOn(room({ readReceipts: ReadReceiptsSetting.OFF }), 2, 50)).toBe(false);
  });

  it("either user of a direct-message room may set them (it has no moderators)", () => {
    const dm = { ...room({ roles: { "u-a": RoomRole.MEMBER, "u-b": RoomRole.MEMBER } }), direct: ["u-a", "u-b"] as [string, string] };
    expect(decide("dm.x", dm, true, { userId: "u-a", name: "a" }, actions.receipts, NOW)).toMatchObject({ ok: true });
  });
});

describe("private rooms and grants", () => {
  const secret = room({ visibility: RoomVisibility.PRIVATE });

  it("a stranger cannot see, join or act, and is told NOT_FOUND as for a missing room", () => {
    expect(maySee(secret, "u-x", undefined, NOW)).toBe(false);
    expect(mayJoin("secret", secret, "u-x", undefined, NOW)).toMatchObject({ ok: false, code: ErrorCode.NOT_FOUND });
    expect(mayPost("secret", secret, "u-x", undefined, NOW)).toMatchObject({ ok: false, code: ErrorCode.NOT_FOUND });
    expect(decide("secret", secret, true, actors.none, actions.set_topic, NOW)).toMatchObject({ ok: false, code: ErrorCode.NOT_FOUND });
  });

  it("members and a token's grant get in; a grant counts as a role", () => {
    expect(mayJoin("secret", secret, "u-mem", undefined, NOW)).toEqual({ ok: true });
    expect(mayJoin("secret", secret, "u-x", RoomRole.MEMBER, NOW)).toEqual({ ok: true });
    expect(decide("secret", secret, true, { ...actors.none, grant: RoomRole.MODERATOR }, actions.kick, NOW)).toMatchObject({ ok: true });
  });

  it("evicts kicked and banned users, everyone on delete, and a private room's member who lost the role", () => {
    expect(evicts(actions.kick, secret)).toEqual({ user: "u-t" });
    expect(evicts(actions.ban, secret)).toEqual({ user: "u-t" });
    expect(evicts(actions.delete, undefined)).toEqual({ all: true });
    expect(evicts({ kind: K.SET_ROLE, targetUser: "u-t", role: RoomRole.UNSPECIFIED }, { ...secret, roles: { "u-o": RoomRole.OWNER } })).toEqual({ user: "u-t" });
    expect(evicts({ kind: K.SET_ROLE, targetUser: "u-t", role: RoomRole.UNSPECIFIED }, room({ roles: { "u-o": RoomRole.OWNER } }))).toBeUndefined();
    expect(evicts(actions.mute, secret)).toBeUndefined();
  });
});

describe("bans and mutes", () => {
  it("a ban refuses join and post with its reason; a timed one ends by itself", () => {
    const until = NOW + 60_000;
    const state = room({ bans: { "u-t": { untilMs: until, reason: "spam" } } });
    expect(mayJoin("hall", state, "u-t", undefined, NOW)).toMatchObject({ ok: false, code: D, message: expect.stringContaining("spam") });
    expect(mayPost("hall", state, "u-t", undefined, until - 1)).toMatchObject({ ok: false, code: D });
    expect(isBanned(state, "u-t", until)).toBe(false);
    expect(mayJoin("hall", state, "u-t", undefined, until)).toEqual({ ok: true });
    // A ban outweighs a token's grant.
    expect(mayJoin("hall", state, "u-t", RoomRole.OWNER, NOW)).toMatchObject({ ok: false, code: D });
  });

  it("a mute refuses posting only, until it ends", () => {
    const until = NOW + 60_000;
    const state = room({ mutes: { "u-t": { untilMs: until, reason: "" } } });
    expect(mayJoin("hall", state, "u-t", undefined, NOW)).toEqual({ ok: true });
    expect(mayPost("hall", state, "u-t", undefined, NOW)).toMatchObject({ ok: false, code: D, message: expect.stringContaining("muted") });
    expect(mayPost("hall", state, "u-t", undefined, until)).toEqual({ ok: true });
  });

  it("a banned user cannot be invited until unbanned", () => {
    const state = room({ bans: { "u-new": { untilMs: 0, reason: "" } } });
    expect(decide("hall", state, true, actors.owner, actions.invite, NOW)).toMatchObject({ ok: false, code: F });
  });
});

describe("direct rooms", () => {
  it("directRoomName is the same whoever asks, and tells pairs apart", () => {
    expect(directRoomName("alice", "bob")).toBe(directRoomName("bob", "alice"));
    expect(directRoomName("alice", "bob")).toMatch(/^dm\.[0-9a-f]{40}$/);
    expect(directRoomName("ab", "c")).not.toBe(directRoomName("a", "bc"));
    expect(directRoomName("alice", "bob")).not.toBe(directRoomName("alice", "carol"));
  });

  it("is created private for its two users, has no moderation, but either may set the topic", () => {
    const made = decide("dm.x", undefined, false, { userId: "u-b", name: "b" }, {
      kind: K.CREATE,
      visibility: RoomVisibility.PRIVATE,
      direct: ["u-b", "u-a"],
      roles: { "u-a": RoomRole.OWNER, "u-b": RoomRole.OWNER },
    }, NOW);
    expect(made).toMatchObject({ ok: true, next: { direct: ["u-a", "u-b"], visibility: RoomVisibility.PRIVATE } });
    if (!made.ok || !made.next) throw new Error("not created");
    const dm = made.next;
    expect(mayJoin("dm.x", dm, "u-c", undefined, NOW)).toMatchObject({ ok: false, code: ErrorCode.NOT_FOUND });
    expect(decide("dm.x", dm, true, { userId: "u-a", name: "a" }, { kind: K.BAN, targetUser: "u-b" }, NOW)).toMatchObject({ ok: false, code: D });
    expect(decide("dm.x", dm, true, { userId: "u-a", name: "a" }, { kind: K.SET_TOPIC, topic: "plans" }, NOW)).toMatchObject({ ok: true });
    expect(decide("dm.x", dm, true, actors.admin, { kind: K.BAN, targetUser: "u-b" }, NOW)).toMatchObject({ ok: true });
  });
});
