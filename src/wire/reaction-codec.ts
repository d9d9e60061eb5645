/**
 * Reactions on the wire, by hand like the rest of a ChatMessage
 * (message-codec.ts): the Reaction of a reaction entry (field 14) and the
 * ReactionCounts of a message (field 15, the last field).
 *
 * A message's encoding shared by every reader counts its reactions with
 * `mine` false. Only a reader who reacted to it needs other bytes: since the
 * counts are the last fields, eventFor() cuts them off the shared bytes and
 * appends the reader's, so the rest of the message is never encoded again
 * (a join's recent messages and history stay shared for everyone else). A
 * resume's replay gives no counts at all (withoutCounts()): the reaction
 * entries it replays after the message count them.
 */
import type { ReactionRef, StoredReaction } from "../log/message.js";
import { REACTION_USER_IDS, reactedBy } from "../log/reactions.js";
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
  // Pooled: copied into the message's bytes.
  const out = Buffer.allocUnsafe(1 + varintSize(body) + body);
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

/**
 * UTF-8 length of a short string: counted in JS when it is ASCII (user ids
 * usually are), which beats a call into Buffer for strings this short.
 */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text);
  return text.length;
}

/** Write a string of `n` UTF-8 bytes at `pos` (ASCII byte by byte, as utf8Length() counted it). */
function writeText(out: Buffer, pos: number, text: string, n: number): number {
  if (n !== text.length) return pos + out.write(text, pos, n, "utf8");
  for (let i = 0; i < n; i++) out[pos + i] = text.charCodeAt(i);
  return pos + n;
}

/** The body size of one ReactionCount, and the byte lengths of its emoji and listed user ids. */
function countBody(r: StoredReaction, mine: boolean, lengths: number[]): number {
  const emoji = utf8Length(r.emoji);
  lengths.push(emoji);
  const count = r.userIds.length;
  let body = (emoji ? 1 + varintSize(emoji) + emoji : 0) + (count ? 1 + varintSize(count) : 0) + (mine ? 2 : 0);
  const listed = Math.min(count, REACTION_USER_IDS);
  for (let i = 0; i < listed; i++) {
    const n = utf8Length(r.userIds[i]);
    lengths.push(n);
    body += 1 + varintSize(n) + n;
  }
  return body;
}

/** Whether `viewer` reacted with this emoji (ReactionCount.mine). */
const isMine = (r: StoredReaction, viewer: string | undefined) => viewer !== undefined && viewer !== "" && r.userIds.includes(viewer);

/** The sizes a ReactionCount writer needs: each count's body size, the byte lengths of its strings, and the total. */
interface CountSizes {
  total: number;
  bodies: number[];
  lengths: number[];
  mine: boolean[];
}

function countSizes(reactions: readonly StoredReaction[], viewer: string | undefined): CountSizes {
  const lengths: number[] = [];
  const bodies: number[] = [];
  const mine: boolean[] = [];
  let total = 0;
  for (const r of reactions) {
    const m = isMine(r, viewer);
    const body = countBody(r, m, lengths);
    bodies.push(body);
    mine.push(m);
    total += 1 + varintSize(body) + body;
  }
  return { total, bodies, lengths, mine };
}

/** Write the ReactionCount fields sized by countSizes() at `pos`; returns the position after them. */
function writeCounts(out: Buffer, pos: number, reactions: readonly StoredReaction[], s: CountSizes): number {
  let l = 0;
  reactions.forEach((r, i) => {
    out[pos++] = REACTIONS_TAG;
    pos = writeVarint(out, pos, s.bodies[i]);
    const emoji = s.lengths[l++];
    if (emoji) {
      out[pos++] = (1 << 3) | 2;
      pos = writeVarint(out, pos, emoji);
      pos = writeText(out, pos, r.emoji, emoji);
    }
    if (r.userIds.length) {
      out[pos++] = 2 << 3;
      pos = writeVarint(out, pos, r.userIds.length);
    }
    if (s.mine[i]) {
      out[pos++] = 3 << 3;
      out[pos++] = 1;
    }
    const listed = Math.min(r.userIds.length, REACTION_USER_IDS);
    for (let u = 0; u < listed; u++) {
      const n = s.lengths[l++];
      out[pos++] = (4 << 3) | 2;
      pos = writeVarint(out, pos, n);
      pos = writeText(out, pos, r.userIds[u], n);
    }
  });
  return pos;
}

/**
 * The ReactionCount fields (15) of a message for a reader (none: nobody's
 * `mine`), as reactionCounts() describes them; empty when it has no
 * reactions. Pooled: the caller copies them into the message's bytes.
 */
export function encodeReactionCounts(reactions: readonly StoredReaction[] | undefined, viewer?: string): Buffer {
  if (!reactions || reactions.length === 0) return EMPTY;
  const sizes = countSizes(reactions, viewer);
  const out = Buffer.allocUnsafe(sizes.total);
  const end = writeCounts(out, 0, reactions, sizes);
  if (end !== sizes.total) throw new Error(`reaction counts encoding size mismatch: ${end} != ${sizes.total}`);
  return out;
}

/** The size of the same counts for nobody (every `mine` false): where the shared bytes' counts start, from the end. */
function sharedSize(s: CountSizes): number {
  let total = 0;
  s.bodies.forEach((body, i) => {
    const shared = s.mine[i] ? body - 2 : body;
    total += 1 + varintSize(shared) + shared;
  });
  return total;
}

const EMPTY = Buffer.alloc(0);

/**
 * A message event with its reactions counted (`mine` for `viewer`), from the
 * event encoded without them: the counts appended to its ChatMessage.
 */
export function withReactionCounts(plain: EncodedEvent, reactions: readonly StoredReaction[] | undefined, viewer?: string): EncodedEvent {
  if (!reactions || reactions.length === 0) return plain;
  return appendCounts(chatMessageBytes(plain), reactions, countSizes(reactions, viewer));
}

/** The entry's event as `viewer` (a user id) is to see it: the shared bytes unless they reacted to it. */
export function eventFor(entry: ReactedEntry, viewer: string | undefined): EncodedEvent {
  if (viewer === undefined || !reactedBy(entry.reactions, viewer)) return entry.event;
  const chat = chatMessageBytes(entry.event);
  const sizes = countSizes(entry.reactions!, viewer);
  return appendCounts(chat.subarray(0, chat.length - sharedSize(sizes)), entry.reactions!, sizes);
}

/**
 * The entry's event without its reaction counts, as a resume's replay gives
 * it: the reaction entries that follow it in the replay are what counts them
 * (counted here as well, they would be counted twice).
 */
export function withoutCounts(entry: ReactedEntry): EncodedEvent {
  if (!entry.reactions || entry.reactions.length === 0) return entry.event;
  const chat = chatMessageBytes(entry.event);
  const sizes = countSizes(entry.reactions, undefined);
  return appendCounts(chat.subarray(0, chat.length - sizes.total), [], { total: 0, bodies: [], lengths: [], mine: [] });
}

/** ChatResponse.events[0].message = `chat` followed by the counts, in one allocation. */
function appendCounts(chat: Uint8Array, reactions: readonly StoredReaction[], sizes: CountSizes): EncodedEvent {
  const chatSize = chat.length + sizes.total;
  const eventSize = 1 + varintSize(chatSize) + chatSize;
  const total = 1 + varintSize(eventSize) + eventSize;
  // Unpooled: these bytes sit in queues, and a pooled slice would pin an 8 KiB slab.
  const out = Buffer.allocUnsafeSlow(total);
  let pos = 0;
  out[pos++] = (1 << 3) | 2; // ChatResponse.events
  pos = writeVarint(out, pos, eventSize);
  out[pos++] = (2 << 3) | 2; // ServerEvent.message
  pos = writeVarint(out, pos, chatSize);
  out.set(chat, pos);
  pos = writeCounts(out, pos + chat.length, reactions, sizes);
  if (pos !== total) throw new Error(`reaction counts encoding size mismatch: ${pos} != ${total}`);
  return out;
}
