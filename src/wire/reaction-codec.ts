/**
 * Reactions on the wire, by hand like the rest of a ChatMessage
 * (message-codec.ts): the Reaction of a reaction entry (field 14) and the
 * ReactionCounts of a message (field 15, the last field).
 *
 * A message's encoding shared by every reader counts its reactions with
 * `mine` false. Only a reader who reacted to it needs other bytes: since the
 * counts are the last fields, eventFor() cuts them off the shared bytes and
 * appends the reader's, so the rest of the message is never encoded again
 * (a join's recent messages, a replay and history stay shared for everyone
 * else).
 */
import type { ReactionRef, StoredReaction } from "../log/message.js";
import { reactedBy, reactionCounts } from "../log/reactions.js";
import type { EncodedEvent } from "./encoded-event.js";
import { chatMessageBytes } from "./joined-event.js";
import { varintSize, writeVarint } from "./varint.js";

const REACTION_TAG = (14 << 3) | 2;
const REACTIONS_TAG = (15 << 3) | 2;

/** A stored entry with reactions as a log hands it out: the shared bytes, and what they count. */
export interface ReactedEntry {
  readonly event: EncodedEvent;
  readonly reactions?: readonly StoredReaction[];
}

/** The Reaction field (14) of a reaction entry: tag, length, body. */
export function encodeReactionRef(r: ReactionRef): Buffer {
  const emoji = Buffer.from(r.emoji, "utf8");
  const body = 1 + varintSize(r.targetSeq) + (emoji.length ? 1 + varintSize(emoji.length) + emoji.length : 0) + (r.removed ? 2 : 0);
  const out = Buffer.allocUnsafeSlow(1 + varintSize(body) + body);
  let pos = 0;
  out[pos++] = REACTION_TAG;
  pos = writeVarint(out, pos, body);
  // target_seq is never 0 (a number of the room), so it is always written.
  out[pos++] = 1 << 3;
  pos = writeVarint(out, pos, r.targetSeq);
  if (emoji.length) {
    out[pos++] = (2 << 3) | 2;
    pos = writeVarint(out, pos, emoji.length);
    pos += emoji.copy(out, pos);
  }
  if (r.removed) {
    out[pos++] = 3 << 3;
    out[pos++] = 1;
  }
  return out;
}

/** The ReactionCount fields (15) of a message for a reader (none: nobody's `mine`); empty when it has no reactions. */
export function encodeReactionCounts(reactions: readonly StoredReaction[] | undefined, viewer?: string): Buffer {
  if (!reactions || reactions.length === 0) return EMPTY;
  const parts: Buffer[] = [];
  for (const c of reactionCounts(reactions, viewer)) {
    const emoji = Buffer.from(c.emoji, "utf8");
    const users = c.userIds.map((u) => Buffer.from(u, "utf8"));
    let body = (emoji.length ? 1 + varintSize(emoji.length) + emoji.length : 0) + (c.count ? 1 + varintSize(c.count) : 0) + (c.mine ? 2 : 0);
    for (const u of users) body += 1 + varintSize(u.length) + u.length;
    const out = Buffer.allocUnsafeSlow(1 + varintSize(body) + body);
    let pos = 0;
    out[pos++] = REACTIONS_TAG;
    pos = writeVarint(out, pos, body);
    if (emoji.length) {
      out[pos++] = (1 << 3) | 2;
      pos = writeVarint(out, pos, emoji.length);
      pos += emoji.copy(out, pos);
    }
    if (c.count) {
      out[pos++] = 2 << 3;
      pos = writeVarint(out, pos, c.count);
    }
    if (c.mine) {
      out[pos++] = 3 << 3;
      out[pos++] = 1;
    }
    for (const u of users) {
      out[pos++] = (4 << 3) | 2;
      pos = writeVarint(out, pos, u.length);
      pos += u.copy(out, pos);
    }
    parts.push(out);
  }
  return Buffer.concat(parts);
}

const EMPTY = Buffer.alloc(0);

/**
 * A message event with its reactions counted (`mine` for `viewer`), from the
 * event encoded without them: the counts appended to its ChatMessage.
 */
export function withReactionCounts(plain: EncodedEvent, reactions: readonly StoredReaction[] | undefined, viewer?: string): EncodedEvent {
  const counts = encodeReactionCounts(reactions, viewer);
  if (counts.length === 0) return plain;
  return wrapChatMessage(chatMessageBytes(plain), counts);
}

/** The entry's event as `viewer` (a user id) is to see it: the shared bytes unless they reacted to it. */
export function eventFor(entry: ReactedEntry, viewer: string | undefined): EncodedEvent {
  if (viewer === undefined || !reactedBy(entry.reactions, viewer)) return entry.event;
  const chat = chatMessageBytes(entry.event);
  const shared = encodeReactionCounts(entry.reactions).length;
  return wrapChatMessage(chat.subarray(0, chat.length - shared), encodeReactionCounts(entry.reactions, viewer));
}

/** ChatResponse.events[0].message = `chat` followed by `extra`. */
function wrapChatMessage(chat: Uint8Array, extra: Uint8Array): EncodedEvent {
  const chatSize = chat.length + extra.length;
  const eventSize = 1 + varintSize(chatSize) + chatSize;
  const out = Buffer.allocUnsafeSlow(1 + varintSize(eventSize) + eventSize);
  let pos = 0;
  out[pos++] = (1 << 3) | 2; // ChatResponse.events
  pos = writeVarint(out, pos, eventSize);
  out[pos++] = (2 << 3) | 2; // ServerEvent.message
  pos = writeVarint(out, pos, chatSize);
  out.set(chat, pos);
  out.set(extra, pos + chat.length);
  return out;
}
