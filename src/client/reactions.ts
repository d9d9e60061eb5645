/**
 * Reactions (issue 19), on the client: a reaction is a numbered entry of the
 * room's log (ChatMessage.reaction: who added or removed which emoji on which
 * message), never a message of its own. The session keeps each kept
 * message's counts (ChatMessage.reactions, as history and a join's recent
 * messages give them) and applies the live entries to them in
 * order; reactionChanged tells the front ends. Pure bookkeeping, no I/O.
 *
 * Counts are applied by who reacted, not blindly, so that an entry already
 * in a message's counts is not counted twice (the server gives a resume's
 * replayed messages without counts for that reason; this keeps the client
 * right whatever the source of the counts). The users who reacted
 * (ReactionCount.user_ids, the first 10) make adding and removing
 * idempotent: an add by someone already listed, or a removal by someone not
 * listed while the list is complete, changes nothing.
 */
import { create } from "@bufbuild/protobuf";
import { ReactionCountSchema, type ChatMessage, type ReactionCount } from "../../gen/chat/v1/chat_pb.js";
import { checkEmoji as serverCheckEmoji, EMOJI_MAX_BYTES } from "../hub/validate.js";

/** Users the server lists per emoji (ReactionCount.user_ids): the first 10 by time. */
export const LISTED_USERS = 10;

/** A handful of common reactions: what a picker offers first. */
export const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "🙏"] as const;

/** Shortcodes people type (Slack, GitHub), for front ends without an emoji keyboard. */
export const SHORTCODES: Readonly<Record<string, string>> = {
  "+1": "👍",
  thumbsup: "👍",
  "-1": "👎",
  thumbsdown: "👎",
  heart: "❤️",
  joy: "😂",
  laughing: "😆",
  smile: "😄",
  tada: "🎉",
  eyes: "👀",
  open_mouth: "😮",
  cry: "😢",
  pray: "🙏",
  fire: "🔥",
  rocket: "🚀",
  ok_hand: "👌",
  clap: "👏",
  thinking: "🤔",
  white_check_mark: "✅",
  x: "❌",
};

/** One reaction change, as the session's reactionChanged event says it. */
export interface ReactionChanged {
  room: string;
  /** The message reacted to. */
  seq: bigint;
  /** Its reactions now, by emoji in the order first used (empty when it is not one of the kept messages and nothing is known). */
  reactions: ReactionCount[];
  /** The message in its new state, when it is one of the kept messages. */
  message?: ChatMessage;
  /**
   * What changed, from a reaction entry: absent when the server answered a
   * reaction that changed nothing with the message as it is (our counts were
   * refreshed from it).
   */
  change?: {
    emoji: string;
    removed: boolean;
    /** Who reacted (nickname, user id). */
    by: string;
    byId: string;
    /** It was us. */
    mine: boolean;
    /** The reaction entry itself (its seq, sent_at, client_msg_id). */
    entry: ChatMessage;
  };
}

/** A reaction entry (not a message to show). */
export function isReaction(m: ChatMessage): boolean {
  return m.reaction !== undefined && m.reaction.emoji !== "";
}

/** ":+1:" → "👍"; anything else as typed (trimmed). */
export function emojiFromInput(text: string): string {
  const t = text.trim();
  const m = /^:([a-z0-9_+-]+):$/i.exec(t);
  return m ? (SHORTCODES[m[1].toLowerCase()] ?? t) : t;
}

/** Why the server would refuse this as a reaction (its own rule, hub/validate.ts), in the words of someone typing one; undefined: one emoji. */
export function checkEmoji(emoji: string): string | undefined {
  const refused = serverCheckEmoji(emoji);
  if (refused === undefined) return undefined;
  if (emoji === "") return "a reaction is one emoji";
  return new TextEncoder().encode(emoji).length > EMOJI_MAX_BYTES ? `a reaction is one emoji (at most ${EMOJI_MAX_BYTES} bytes)` : `"${emoji}" is not one emoji (try 👍 or :+1:)`;
}

/** A copy of a message's counts (protobuf-es messages are plain objects; the lists are copied too). */
export function copyCounts(counts: readonly ReactionCount[]): ReactionCount[] {
  return counts.map((c) => ({ ...c, userIds: [...c.userIds] }));
}

/**
 * The counts after one reaction entry: `who` (a user id) added or removed
 * `emoji`; `mine`: it is us. Returns a new list (the old one is not changed);
 * undefined when the entry changes nothing (it is already in the counts).
 */
export function applyReaction(counts: readonly ReactionCount[], emoji: string, removed: boolean, who: string, mine: boolean): ReactionCount[] | undefined {
  const next = copyCounts(counts);
  const i = next.findIndex((c) => c.emoji === emoji);
  const c = i >= 0 ? next[i] : undefined;
  // Complete: every user who reacted is listed, so the list says for sure whether `who` did.
  const listed = c?.userIds.includes(who) ?? false;
  const complete = c === undefined || c.userIds.length >= c.count;
  if (!removed) {
    if (listed || (mine && c?.mine)) return undefined;
    if (!c) {
      next.push(create(ReactionCountSchema, { emoji, count: 1, mine, userIds: [who] }));
      return next;
    }
    c.count++;
    if (c.userIds.length < LISTED_USERS) c.userIds.push(who);
    if (mine) c.mine = true;
    return next;
  }
  if (!c || (!listed && complete) || (mine && !c.mine && !listed)) return undefined;
  c.count--;
  if (listed) c.userIds.splice(c.userIds.indexOf(who), 1);
  if (mine) c.mine = false;
  if (c.count <= 0) next.splice(i, 1);
  return next;
}

/** A chip's words (its aria-label): "👍 2 reactions, you reacted". */
export function reactionLabel(c: Pick<ReactionCount, "emoji" | "count" | "mine">): string {
  const n = `${c.count} ${c.count === 1 ? "reaction" : "reactions"}`;
  return `${c.emoji} ${n}${c.mine ? ", you reacted" : ""}`;
}
