/** The joined event assembled from bytes decodes to exactly what protobuf-es would have built. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatResponseSchema, JoinedEventSchema, MemberSchema, RoomRole, RoomStateSchema, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";
import { toChatMessage } from "./events.js";
import { encodeJoinedEvent, encodeMember, type JoinedMember } from "./joined-event.js";
import { encodeMessageEvent } from "./message-codec.js";

describe("the hand-assembled joined event", () => {
  it.each([
    ["a plain member", { nickname: "ann", joinedAtMs: 1_795_000_000_123 }],
    ["a whole second", { nickname: "bob", joinedAtMs: 1_795_000_000_000 }],
    ["non-ASCII", { nickname: "Zoë 李", joinedAtMs: 5 }],
  ])("writes %s as protobuf-es does", (_what, m) => {
    const reference = toBinary(MemberSchema, create(MemberSchema, { nickname: m.nickname, joinedAt: timestampFromMs(m.joinedAtMs) }));
    expect(Buffer.from(encodeMember(m))).toEqual(Buffer.from(reference));
  });

  it.each([
    ["a user id", { nickname: "ann", joinedAtMs: 1_795_000_000_123, userId: "9b2c-ann" }, 0],
    ["a user id and a role", { nickname: "Zoë", joinedAtMs: 5, userId: "zoë@example" }, RoomRole.MODERATOR],
    ["a role without a user id", { nickname: "bob", joinedAtMs: 1_795_000_000_000 }, RoomRole.OWNER],
  ])("writes a member with %s as protobuf-es does", (_what, m: { nickname: string; joinedAtMs: number; userId?: string }, role) => {
    const reference = toBinary(
      MemberSchema,
      create(MemberSchema, { nickname: m.nickname, joinedAt: timestampFromMs(m.joinedAtMs), userId: m.userId ?? "", role: role as RoomRole }),
    );
    expect(Buffer.from(encodeMember(m, role))).toEqual(Buffer.from(reference));
  });

  it("decodes to the same JoinedEvent, members (with user ids and roles), state and recent messages in order", () => {
    const members = [
      { nickname: "ann", joinedAtMs: 1_795_000_000_123, userId: "ann-id" },
      { nickname: "bob", joinedAtMs: 1_795_000_001_000, userId: "bob-id" },
    ];
    const roles: Record<string, RoomRole> = { "ann-id": RoomRole.OWNER };
    const recent = [1, 2, 3].map((seq) => ({ room: "lobby", seq, sender: "ann", text: `m${seq}`, sentAtMs: 1_795_000_002_000 + seq, clientMsgId: `c${seq}` }));
    const fields = { room: "lobby", nickname: "cy", memberCount: 3, membersPageToken: "7", epoch: "e", lastSeq: 3n, firstSeq: 1n, resumed: false, historyTruncated: false, epochChanged: false, resumeToken: "t0k", replaced: true, rateLimitPerSecond: 50, rateLimitBurst: 100, userId: "cy-id" };
    const state = { visibility: RoomVisibility.PRIVATE, topic: "plans", creator: "ann-id", yourRole: RoomRole.MEMBER, muted: false, directUserId: "" };
    const bytes = encodeJoinedEvent({ ...fields, state: create(RoomStateSchema, state) }, members, recent.map(encodeMessageEvent), (m) => roles[m.userId!] ?? 0);
    const event = fromBinary(ChatResponseSchema, bytes).events[0].event;
    expect(event.case).toBe("joined");
    const expected = create(JoinedEventSchema, {
      ...fields,
      state,
      members: members.map((m) => ({ nickname: m.nickname, joinedAt: timestampFromMs(m.joinedAtMs), userId: m.userId, role: roles[m.userId] ?? 0 })),
      recent: recent.map((m) => toChatMessage(m)),
    });
    expect(event.value).toEqual(expected);
  });

  it("lists the members of each join as they are then: a role changed, a member added or another room's page", () => {
    const ann = { nickname: "ann", joinedAtMs: 1_795_000_000_123, userId: "ann-id" };
    const bob = { nickname: "bob", joinedAtMs: 1_795_000_001_000, userId: "bob-id" };
    const fields = { room: "hall", nickname: "cy", memberCount: 2, membersPageToken: "", epoch: "e", lastSeq: 0n, firstSeq: 0n, resumed: false, historyTruncated: false, epochChanged: false, resumeToken: "t", replaced: false, rateLimitPerSecond: 0, rateLimitBurst: 0 };
    const listed = (members: JoinedMember[], roleOf: (m: JoinedMember) => number = () => 0, room = "hall") => {
      const event = fromBinary(ChatResponseSchema, encodeJoinedEvent({ ...fields, room }, members, [], roleOf)).events[0].event;
      if (event.case !== "joined") throw new Error(event.case);
      return event.value.members.map((m) => `${m.nickname}:${m.role}`);
    };
    expect(listed([ann, bob])).toEqual(["ann:0", "bob:0"]);
    expect(listed([ann, bob])).toEqual(["ann:0", "bob:0"]);
    expect(listed([ann, bob], (m) => (m === bob ? RoomRole.MODERATOR : 0))).toEqual(["ann:0", `bob:${RoomRole.MODERATOR}`]);
    expect(listed([ann])).toEqual(["ann:0"]);
    expect(listed([bob], () => 0, "den")).toEqual(["bob:0"]);
    expect(listed([ann])).toEqual(["ann:0"]);
  });
});
