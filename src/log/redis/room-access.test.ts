import { describe, expect, it } from "vitest";
import { ErrorCode, RoomRole, RoomVisibility } from "../../../gen/chat/v1/chat_pb.js";
import { defaultState, type RoomStateData } from "../../rooms/room-state.js";
import { accessChanges, accessFields, refusalOf } from "./room-access.js";

const state = (patch: Partial<RoomStateData>): RoomStateData => ({ ...defaultState(0), version: 1, ...patch });

describe("the access hash the Redis scripts check", () => {
  it("holds what mayJoin and mayPost look at: private, roles, bans and mutes with until and reason", () => {
    const s = state({
      visibility: RoomVisibility.PRIVATE,
      roles: { ann: RoomRole.OWNER },
      bans: { mal: { untilMs: 0, reason: "spam" } },
      mutes: { bob: { untilMs: 1_700_000_000_000, reason: "" } },
    });
    expect(Object.fromEntries(accessFields(s))).toEqual({ p: "1", "r:ann": "3", "b:mal": "0 spam", "m:bob": "1700000000000 " });
    expect(accessFields(undefined).size).toBe(0);
  });

  it("is written as the difference from the previous state, the version first", () => {
    const before = state({ roles: { ann: RoomRole.OWNER, bob: RoomRole.MEMBER }, mutes: { eve: { untilMs: 0, reason: "" } } });
    const after = state({ version: 2, roles: { ann: RoomRole.OWNER }, bans: { bob: { untilMs: 0, reason: "x" } }, mutes: { eve: { untilMs: 0, reason: "" } } });
    expect(accessChanges(before, after)).toEqual({ set: ["v", "2", "b:bob", "0 x"], del: ["r:bob"] });
    expect(accessChanges(undefined, before).set).toEqual(["v", "1", "r:ann", "3", "r:bob", "1", "m:eve", "0 "]);
  });

  it("words a script's refusal as the room's rules do", () => {
    const now = 1_000;
    expect(refusalOf("r", ["refused", "", "0 spam", "", ""], "mal", undefined, now, true)).toEqual({
      kind: "refused",
      code: ErrorCode.PERMISSION_DENIED,
      message: "you are banned from room r: spam",
    });
    expect(refusalOf("r", ["refused", "1", "", "", ""], "eve", undefined, now, false)).toMatchObject({ code: ErrorCode.NOT_FOUND });
    expect(refusalOf("r", ["refused", "", "", "5000 shh", ""], "bob", undefined, now, true)).toMatchObject({
      code: ErrorCode.PERMISSION_DENIED,
      message: "you are muted in room r until 1970-01-01T00:00:05.000Z: shh",
    });
  });
});
