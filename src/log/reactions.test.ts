import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../gen/chat/v1/chat_pb.js";
import type { StoredMessage } from "./message.js";
import { applyReaction, decideReaction, MAX_REACTIONS_PER_MESSAGE, reactionCounts, reactionsFromJson, reactionsToJson, type ReactRequest } from "./reactions.js";

const position = { epoch: "e", firstSeq: 1, lastSeq: 1 };
const request = (senderId: string, emoji: string, remove = false): ReactRequest => ({
  room: "r",
  targetSeq: 1,
  emoji,
  remove,
  sender: senderId,
  senderId,
  clientMsgId: "",
  sentAtMs: 0,
});
const target = (reactions: StoredMessage["reactions"]): StoredMessage => ({ room: "r", seq: 1, sender: "a", text: "t", sentAtMs: 0, clientMsgId: "", reactions });

describe("reaction rules", () => {
  it("bound a message's reactions in all: past the limit nobody adds one, removing still works", () => {
    const crowd = Array.from({ length: MAX_REACTIONS_PER_MESSAGE / 10 }, (_, i) => `u${i}`);
    const full = target(["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊"].map((emoji) => ({ emoji, userIds: crowd })));
    expect(decideReaction(request("newcomer", "😀"), full, position, undefined, 0)).toMatchObject({ ok: false, code: ErrorCode.RESOURCE_EXHAUSTED });
    expect(decideReaction(request("u1", "😀", true), full, position, undefined, 0)).toEqual({ ok: true, changed: true });
    const oneLess = target(full.reactions!.map((r, i) => (i === 0 ? { emoji: r.emoji, userIds: r.userIds.slice(1) } : r)));
    expect(decideReaction(request("newcomer", "😀"), oneLess, position, undefined, 0)).toEqual({ ok: true, changed: true });
  });

  it("apply in order, keep emoji in the order first used, and round-trip through their stored form", () => {
    let list = applyReaction(undefined, "a", { targetSeq: 1, emoji: "👍", removed: false });
    list = applyReaction(list, "b", { targetSeq: 1, emoji: "🎉", removed: false });
    list = applyReaction(list, "b", { targetSeq: 1, emoji: "👍", removed: false });
    list = applyReaction(list, "a", { targetSeq: 1, emoji: "👍", removed: true });
    expect(list).toEqual([
      { emoji: "👍", userIds: ["b"] },
      { emoji: "🎉", userIds: ["b"] },
    ]);
    expect(reactionsFromJson(reactionsToJson(list))).toEqual(list);
    expect(reactionsToJson([])).toBe("");
    expect(reactionCounts(list, "b").map((c) => c.mine)).toEqual([true, true]);
  });
});
