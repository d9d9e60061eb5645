/**
 * Reactions (issue 19): the rules of a ReactCommand, decided by a log in the
 * atomic step that numbers the reaction's entry, against the target as
 * stored and the room's state. Pure functions, shared by every log so that
 * each decides (and counts) the same way.
 *
 * A reaction that changes something is a new entry (ChatMessage.reaction
 * names the target); the store applies it to the target's reaction state in
 * the same step (applyReaction()). That state lists, per emoji in the order
 * first used, every user who reacted with it: the count, the caller's `mine`
 * and the first user ids are computed from it when a reader is known
 * (reactionCounts()). A delete empties it (a deleted message has no
 * reactions, and none can be added).
 */
import { ErrorCode, type RoomRole } from "../../gen/chat/v1/chat_pb.js";
import { mayPost, type RoomStateData } from "../rooms/room-state.js";
import type { ReactionRef, RoomPosition, StoredMessage, StoredReaction } from "./message.js";
import { missing, notAMessage } from "./message-changes.js";
import { textHash } from "./text-hash.js";

/** Different emoji one message may carry. */
export const MAX_EMOJI_PER_MESSAGE = 20;
/** Reactions one user may have on one message. */
export const MAX_REACTIONS_PER_USER = 10;
/**
 * Reactions one message may carry in all (every user of every emoji): its
 * state is kept whole and rewritten by each reaction, so it is bounded (at
 * the default room size, everyone may still react once).
 */
export const MAX_REACTIONS_PER_MESSAGE = 10_000;
/** User ids a ReactionCount lists ("alice, bob and 3 others"). */
export const REACTION_USER_IDS = 10;

export interface ReactRequest {
  room: string;
  targetSeq: number;
  /** Checked by the session (validate.ts checkEmoji). */
  emoji: string;
  /** Remove this user's reaction instead of adding it. */
  remove: boolean;
  /** Who reacts: nickname (for the entry and the idempotency key) and user id (for the rules and the counts). */
  sender: string;
  senderId: string;
  /** The role the sender's token grants in this room. */
  grant?: RoomRole;
  /** Idempotency key (the key space of sends); "" for none. */
  clientMsgId: string;
  sentAtMs: number;
}

/** What a log decides: refused, or allowed and either changing the target or not (a no-op, answered with the target). */
export type ReactionDecision = { ok: true; changed: boolean } | { ok: false; code: ErrorCode; message: string };

/** May this reaction be made to `target` as stored, in a room with this state and position; does it change anything? */
export function decideReaction(req: ReactRequest, target: StoredMessage | undefined, position: RoomPosition, state: RoomStateData | undefined, nowMs: number): ReactionDecision {
  const { room, targetSeq: seq, emoji, senderId } = req;
  // Who may post may react (a muted user may not): checked first, so a stranger learns nothing of the messages.
  const access = mayPost(room, state, senderId, req.grant, nowMs);
  if (!access.ok) return access;
  if (!target) return missing(room, seq, position, "reacted to") as ReactionDecision;
  const problem = notAMessage(room, target);
  if (problem) return { ok: false, code: ErrorCode.INVALID_ARGUMENT, message: `cannot react: ${problem}` };
  if (target.deleted) return { ok: false, code: ErrorCode.FAILED_PRECONDITION, message: `message ${seq} of room ${room} was deleted` };
  const list = target.reactions ?? [];
  const same = list.find((r) => r.emoji === emoji);
  const has = same !== undefined && same.userIds.includes(senderId);
  if (req.remove || has) return { ok: true, changed: req.remove === has };
  if (!same && list.length >= MAX_EMOJI_PER_MESSAGE) {
    return { ok: false, code: ErrorCode.RESOURCE_EXHAUSTED, message: `message ${seq} of room ${room} already has ${MAX_EMOJI_PER_MESSAGE} different emoji` };
  }
  if (list.filter((r) => r.userIds.includes(senderId)).length >= MAX_REACTIONS_PER_USER) {
    return { ok: false, code: ErrorCode.RESOURCE_EXHAUSTED, message: `at most ${MAX_REACTIONS_PER_USER} reactions of yours on one message; remove one first` };
  }
  if (list.reduce((n, r) => n + r.userIds.length, 0) >= MAX_REACTIONS_PER_MESSAGE) {
    return { ok: false, code: ErrorCode.RESOURCE_EXHAUSTED, message: `message ${seq} of room ${room} already has ${MAX_REACTIONS_PER_MESSAGE} reactions` };
  }
  return { ok: true, changed: true };
}

/** The target's reactions after `userId`'s reaction entry (new arrays: whoever holds the old ones keeps them). */
export function applyReaction(current: readonly StoredReaction[] | undefined, userId: string, ref: ReactionRef): StoredReaction[] {
  const list = current ?? [];
  const i = list.findIndex((r) => r.emoji === ref.emoji);
  if (ref.removed) {
    if (i < 0 || !list[i].userIds.includes(userId)) return [...list];
    const userIds = list[i].userIds.filter((u) => u !== userId);
    // An emoji nobody uses any more goes; used again, it comes last.
    return userIds.length > 0 ? list.map((r, j) => (j === i ? { emoji: r.emoji, userIds } : r)) : list.filter((_, j) => j !== i);
  }
  if (i < 0) return [...list, { emoji: ref.emoji, userIds: [userId] }];
  if (list[i].userIds.includes(userId)) return [...list];
  return list.map((r, j) => (j === i ? { emoji: r.emoji, userIds: [...r.userIds, userId] } : r));
}

/** The entry recording a decided reaction (its number is the log's to give). */
export function reactionEntry(req: ReactRequest): Omit<StoredMessage, "seq"> {
  return {
    room: req.room,
    sender: req.sender,
    text: "",
    sentAtMs: req.sentAtMs,
    clientMsgId: req.clientMsgId,
    senderId: req.senderId,
    reaction: { targetSeq: req.targetSeq, emoji: req.emoji, removed: req.remove },
  };
}

/** The fingerprint kept with a reaction's idempotency key: never a send's or a change's. */
export function reactionFingerprint(req: ReactRequest): string {
  return textHash(`\u0000reaction\u0000${req.targetSeq}\u0000${req.remove ? "-" : "+"}\u0000${req.emoji}`);
}

/** chat.v1.ReactionCount as one reader sees it. */
export interface ReactionCountView {
  emoji: string;
  count: number;
  mine: boolean;
  userIds: string[];
}

/** The counts a reader (`viewer`: a user id; none: nobody's) is given of a message's reactions. */
export function reactionCounts(reactions: readonly StoredReaction[] | undefined, viewer?: string): ReactionCountView[] {
  return (reactions ?? []).map((r) => ({
    emoji: r.emoji,
    count: r.userIds.length,
    mine: viewer !== undefined && viewer !== "" && r.userIds.includes(viewer),
    userIds: r.userIds.slice(0, REACTION_USER_IDS),
  }));
}

/** Whether `viewer` reacted to the message at all (only then does its encoding differ from everyone's). */
export function reactedBy(reactions: readonly StoredReaction[] | undefined, viewer: string): boolean {
  return reactions !== undefined && viewer !== "" && reactions.some((r) => r.userIds.includes(viewer));
}

/** A message's reactions as stored (SQLite's column, a Redis hash field): [[emoji, [userId, ...]], ...]; "" for none. */
export function reactionsToJson(reactions: readonly StoredReaction[] | undefined): string {
  return reactions && reactions.length > 0 ? JSON.stringify(reactions.map((r) => [r.emoji, r.userIds])) : "";
}

export function reactionsFromJson(json: string): StoredReaction[] | undefined {
  if (!json) return undefined;
  const list = (JSON.parse(json) as [string, string[]][]).map(([emoji, userIds]) => ({ emoji, userIds }));
  return list.length > 0 ? list : undefined;
}

/**
 * The reactions of message `seq` as they were before the entries `later`
 * (oldest first; the reaction entries among them numbered after the point
 * wanted): each of them undone, newest first. What a join's recent messages
 * count when the room moved on after the joiner's position (the reactions
 * after it reach the joiner as entries).
 */
export function reactionsBefore(seq: number, reactions: readonly StoredReaction[] | undefined, later: readonly StoredMessage[]): readonly StoredReaction[] | undefined {
  let out = reactions;
  for (let i = later.length - 1; i >= 0; i--) {
    const r = later[i].reaction;
    if (r?.targetSeq === seq) out = applyReaction(out, later[i].senderId ?? "", { ...r, removed: !r.removed });
  }
  return out && out.length > 0 ? out : undefined;
}
