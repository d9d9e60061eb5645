/** The joined event assembled from bytes decodes to exactly what protobuf-es would have built. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatResponseSchema, JoinedEventSchema, MemberSchema } from "../../gen/chat/v1/chat_pb.js";
import { toChatMessage } from "./events.js";
import { encodeJoinedEvent, encodeMember } from "./joined-event.js";
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

  it("decodes to the same JoinedEvent, members and recent messages in order", () => {
    const members = [
      { nickname: "ann", joinedAtMs: 1_795_000_000_123 },
      { nickname: "bob", joinedAtMs: 1_795_000_001_000 },
    ];
    const recent = [1, 2, 3].map((seq) => ({ room: "lobby", seq, sender: "ann", text: `m${seq}`, sentAtMs: 1_795_000_002_000 + seq, clientMsgId: `c${seq}` }));
    const fields = { room: "lobby", nickname: "cy", memberCount: 3, membersPageToken: "7", epoch: "e", lastSeq: 3n, firstSeq: 1n, resumed: false, historyTruncated: false, epochChanged: false, resumeToken: "t0k", replaced: true, rateLimitPerSecond: 50, rateLimitBurst: 100 };
    const bytes = encodeJoinedEvent(fields, members, recent.map(encodeMessageEvent));
    const event = fromBinary(ChatResponseSchema, bytes).events[0].event;
    expect(event.case).toBe("joined");
    const expected = create(JoinedEventSchema, {
      ...fields,
      members: members.map((m) => ({ nickname: m.nickname, joinedAt: timestampFromMs(m.joinedAtMs) })),
      recent: recent.map(toChatMessage),
    });
    expect(event.value).toEqual(expected);
  });
});
