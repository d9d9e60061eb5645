/**
 * Reactions in the client core (src/client/reactions.ts), without a server:
 * how a message's counts follow reaction entries (idempotent by who reacted,
 * so a replayed entry already in a replayed message's counts changes
 * nothing), shortcodes, and the emoji check that refuses a word before it is
 * sent.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ReactionCountSchema, type ReactionCount } from "../gen/chat/v1/chat_pb.js";
import { applyReaction, checkEmoji, emojiFromInput, reactionLabel } from "../src/client/reactions.js";

const count = (emoji: string, userIds: string[], mine = false, n = userIds.length) => create(ReactionCountSchema, { emoji, count: n, mine, userIds });
const plain = (counts: ReactionCount[] | undefined) => counts?.map((c) => [c.emoji, c.count, c.mine, c.userIds]);

describe("a message's counts after reaction entries", () => {
  it("adds and removes by user, in the order emoji were first used; mine on ours; an emoji nobody uses goes", () => {
    let counts: ReactionCount[] = [];
    counts = applyReaction(counts, "👍", false, "bob", false)!;
    counts = applyReaction(counts, "❤️", false, "ann", true)!;
    counts = applyReaction(counts, "👍", false, "ann", true)!;
    expect(plain(counts)).toEqual([
      ["👍", 2, true, ["bob", "ann"]],
      ["❤️", 1, true, ["ann"]],
    ]);
    counts = applyReaction(counts, "👍", true, "bob", false)!;
    counts = applyReaction(counts, "❤️", true, "ann", true)!;
    expect(plain(counts)).toEqual([["👍", 1, true, ["ann"]]]);
  });

  it("an entry already in the counts changes nothing (a replay gives the message counted, then its entries)", () => {
    const counts = [count("👍", ["bob", "ann"], true)];
    expect(applyReaction(counts, "👍", false, "bob", false)).toBeUndefined();
    expect(applyReaction(counts, "👍", false, "ann", true)).toBeUndefined();
    // Removing what the complete list says was never there: nothing.
    expect(applyReaction(counts, "👍", true, "carol", false)).toBeUndefined();
    expect(applyReaction(counts, "🎉", true, "carol", false)).toBeUndefined();
    // The old list is never changed in place (front ends may hold it).
    applyReaction(counts, "👍", true, "bob", false);
    expect(plain(counts)).toEqual([["👍", 2, true, ["bob", "ann"]]]);
  });

  it("past the users listed (the first 10), the count still follows, and mine by the flag", () => {
    const ten = Array.from({ length: 10 }, (_, i) => `u${i}`);
    const big = [count("👍", ten, false, 14)];
    const more = applyReaction(big, "👍", false, "me", true)!;
    expect(plain(more)).toEqual([["👍", 15, true, ten]]);
    expect(applyReaction(more, "👍", false, "me", true)).toBeUndefined();
    const less = applyReaction(more, "👍", true, "me", true)!;
    expect(plain(less)).toEqual([["👍", 14, false, ten]]);
    // Someone not listed takes theirs off: counted down (the list cannot say).
    expect(plain(applyReaction(less, "👍", true, "u12", false))).toEqual([["👍", 13, false, ten]]);
  });

  it("a chip's words", () => {
    expect(reactionLabel({ emoji: "👍", count: 2, mine: true })).toBe("👍 2 reactions, you reacted");
    expect(reactionLabel({ emoji: "❤️", count: 1, mine: false })).toBe("❤️ 1 reaction");
  });
});

describe("what may be a reaction", () => {
  it("shortcodes turn into their emoji; anything else stays as typed", () => {
    expect(["👍", ":+1:", ":heart:", ":joy:", ":tada:", ":eyes:", ":THUMBSUP:", ":nope:"].map(emojiFromInput)).toEqual(["👍", "👍", "❤️", "😂", "🎉", "👀", "👍", ":nope:"]);
  });

  it("one emoji, flags, skin tones and families included; not a word, two emoji, or nothing", () => {
    for (const ok of ["👍", "❤️", "👍🏽", "🇫🇷", "👨‍👩‍👧", "1️⃣", "🎉"]) expect(checkEmoji(ok), ok).toBeUndefined();
    for (const bad of ["", "ok", ":nope:", "👍👍", "👍 ", "a👍", "\u0007"]) expect(checkEmoji(bad), bad).toBeDefined();
    expect(checkEmoji("👨‍👩‍👧‍👦".repeat(2))).toBeDefined();
  });
});
