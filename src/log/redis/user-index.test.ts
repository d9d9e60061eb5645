import { describe, expect, it } from "vitest";
import { RoomRole } from "../../../gen/chat/v1/chat_pb.js";
import { defaultState, type RoomStateData } from "../../rooms/room-state.js";
import { indexChanges } from "./user-index.js";

const state = (version: number, roles: Record<string, RoomRole>, createdAtMs = 10): RoomStateData => ({ ...defaultState(createdAtMs), version, roles });

describe("what an action changes in users' room indexes", () => {
  it("only the users whose role changed, stamped with the new state's version", () => {
    const before = state(3, { ann: RoomRole.OWNER, bob: RoomRole.MEMBER });
    const after = state(4, { ann: RoomRole.OWNER, eve: RoomRole.MEMBER });
    expect(indexChanges(before, after)).toEqual([
      { userId: "bob", role: RoomRole.UNSPECIFIED, createdAtMs: 10, version: 4 },
      { userId: "eve", role: RoomRole.MEMBER, createdAtMs: 10, version: 4 },
    ]);
    expect(indexChanges(after, { ...after, version: 5, topic: "t" })).toEqual([]);
  });

  it("a deleted room: every role gone, one version past the last", () => {
    expect(indexChanges(state(7, { ann: RoomRole.OWNER }), undefined)).toEqual([{ userId: "ann", role: RoomRole.UNSPECIFIED, createdAtMs: 10, version: 8 }]);
  });

  it("a room made by a join getting its first state: every role in it", () => {
    expect(indexChanges(undefined, state(1, { ann: RoomRole.MODERATOR }))).toEqual([{ userId: "ann", role: RoomRole.MODERATOR, createdAtMs: 10, version: 1 }]);
  });
});
