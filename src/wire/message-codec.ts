/**
 * Hand-written encoder for the hottest event: a ChatMessage wrapped as
 * ChatResponse.events[i].message. It produces exactly the bytes protobuf-es
 * would (fields in number order, defaults omitted; a test checks this), at a
 * fraction of the cost of building and reflecting over a message object.
 *
 * The encoding is also available in two halves around the sequence number
 * (field 2): whoever assigns the number (the Redis log's publish script) can
 * then assemble the final bytes with three copies, so a message is encoded
 * once in the whole cluster. Every other event is rare enough to go through
 * the generic encoder.
 */
import type { StoredMessage } from "../log/message.js";
import type { EncodedEvent } from "./encoded-event.js";
import { encodeReactionCounts, encodeReactionRef } from "./reaction-codec.js";
import { varintSize, writeVarint } from "./varint.js";

const LEN = 2; // wire type: length-delimited
const VARINT = 0;
const tag = (field: number, wire: number) => (field << 3) | wire;

/** Size of a length-delimited field with a body of `len` bytes (0 when omitted). */
const lenField = (len: number) => (len === 0 ? 0 : 1 + varintSize(len) + len);
const varintField = (n: number) => (n === 0 ? 0 : 1 + varintSize(n));

function writeString(buf: Buffer, pos: number, field: number, s: string, bytes: number): number {
  if (bytes === 0) return pos;
  buf[pos++] = tag(field, LEN);
  pos = writeVarint(buf, pos, bytes);
  return pos + buf.write(s, pos, bytes, "utf8");
}

function writeUint(buf: Buffer, pos: number, field: number, n: number): number {
  if (n === 0) return pos;
  buf[pos++] = tag(field, VARINT);
  return writeVarint(buf, pos, n);
}

type Unsequenced = Omit<StoredMessage, "seq">;

interface Sizes {
  room: number;
  sender: number;
  text: number;
  id: number;
  action: number;
  senderId: number;
  seconds: number;
  nanos: number;
  ts: number;
  /** Body sizes of the change (9), edited_at (10) and reply_to (12) fields, -1 when absent. */
  change: number;
  edited: number;
  reply: number;
  replySender: number;
  replyQuote: number;
  /** Byte lengths of the mentions (13). */
  mentions: number[];
  /** The reaction (14) and reaction counts (15) fields, encoded (empty when absent). */
  reaction: Buffer;
  reactions: Buffer;
  /** Bytes of fields 3 to 15 (everything after the sequence number). */
  tail: number;
}

/** A Timestamp's body: its seconds and nanos fields. */
function timestampParts(ms: number): { seconds: number; nanos: number; size: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return { seconds, nanos, size: varintField(seconds) + varintField(nanos) };
}

/** A message field that is present (even when its body is empty): tag, length, body. */
const presentField = (len: number) => (len < 0 ? 0 : 1 + varintSize(len) + len);

function sizes(m: Unsequenced, viewer?: string): Sizes {
  const { seconds, nanos, size: ts } = timestampParts(m.sentAtMs);
  const sender = Buffer.byteLength(m.sender);
  const text = Buffer.byteLength(m.text);
  const id = Buffer.byteLength(m.clientMsgId);
  const action = m.action?.length ?? 0;
  const senderId = m.senderId ? Buffer.byteLength(m.senderId) : 0;
  // sent_at is a message field: present (even if empty) whenever set, and we always set it.
  // action (7) is a message field too: present whenever the entry is an action, even if all its fields are defaults.
  const change = m.change ? varintField(m.change.targetSeq) + varintField(m.change.kind) : -1;
  const edited = m.editedAtMs !== undefined ? timestampParts(m.editedAtMs).size : -1;
  const replySender = m.replyTo ? Buffer.byteLength(m.replyTo.sender) : 0;
  const replyQuote = m.replyTo ? Buffer.byteLength(m.replyTo.quote) : 0;
  const reply = m.replyTo ? varintField(m.replyTo.seq) + lenField(replySender) + lenField(replyQuote) + (m.replyTo.deleted ? 2 : 0) : -1;
  const mentions = m.mentions?.map((u) => Buffer.byteLength(u)) ?? [];
  let mentionBytes = 0;
  // Repeated: every element is written, empty or not.
  for (const n of mentions) mentionBytes += 1 + varintSize(n) + n;
  const tail =
    lenField(sender) + lenField(text) + 1 + varintSize(ts) + ts + lenField(id) + (m.action ? 1 + varintSize(action) + action : 0) + lenField(senderId) +
    presentField(change) + presentField(edited) + (m.deleted ? 2 : 0) + presentField(reply) + mentionBytes;
  // Rare (a reaction entry; a message with reactions, read back): encoded apart, copied in.
  const reaction = m.reaction ? encodeReactionRef(m.reaction) : NONE;
  const reactions = encodeReactionCounts(m.reactions, viewer);
  return {
    room: Buffer.byteLength(m.room),
    sender, text, id, action, senderId, seconds, nanos, ts, change, edited, reply, replySender, replyQuote, mentions, reaction, reactions,
    tail: tail + reaction.length + reactions.length,
  };
}

function writeTail(buf: Buffer, pos: number, m: Unsequenced, s: Sizes): number {
  pos = writeString(buf, pos, 3, m.sender, s.sender);
  pos = writeString(buf, pos, 4, m.text, s.text);
  buf[pos++] = tag(5, LEN);
  pos = writeVarint(buf, pos, s.ts);
  pos = writeUint(buf, pos, 1, s.seconds);
  pos = writeUint(buf, pos, 2, s.nanos);
  pos = writeString(buf, pos, 6, m.clientMsgId, s.id);
  if (m.action) {
    buf[pos++] = tag(7, LEN);
    pos = writeVarint(buf, pos, s.action);
    pos += Buffer.from(m.action.buffer, m.action.byteOffset, m.action.byteLength).copy(buf, pos);
  }
  if (m.senderId) pos = writeString(buf, pos, 8, m.senderId, s.senderId);
  if (m.change) {
    buf[pos++] = tag(9, LEN);
    pos = writeVarint(buf, pos, s.change);
    pos = writeUint(buf, pos, 1, m.change.targetSeq);
    pos = writeUint(buf, pos, 2, m.change.kind);
  }
  if (m.editedAtMs !== undefined) {
    const t = timestampParts(m.editedAtMs);
    buf[pos++] = tag(10, LEN);
    pos = writeVarint(buf, pos, s.edited);
    pos = writeUint(buf, pos, 1, t.seconds);
    pos = writeUint(buf, pos, 2, t.nanos);
  }
  if (m.deleted) pos = writeUint(buf, pos, 11, 1);
  if (m.replyTo) {
    buf[pos++] = tag(12, LEN);
    pos = writeVarint(buf, pos, s.reply);
    pos = writeUint(buf, pos, 1, m.replyTo.seq);
    pos = writeString(buf, pos, 2, m.replyTo.sender, s.replySender);
    pos = writeString(buf, pos, 3, m.replyTo.quote, s.replyQuote);
    if (m.replyTo.deleted) pos = writeUint(buf, pos, 4, 1);
  }
  m.mentions?.forEach((user, i) => {
    buf[pos++] = tag(13, LEN);
    pos = writeVarint(buf, pos, s.mentions[i]);
    pos += buf.write(user, pos, "utf8");
  });
  pos += s.reaction.copy(buf, pos);
  pos += s.reactions.copy(buf, pos);
  return pos;
}

const NONE = Buffer.alloc(0);

export function encodeMessageEvent(m: StoredMessage): EncodedEvent {
  return encodeMessageEventFor(m, undefined);
}

/** The message event as `viewer` (a user id) reads it: the same bytes as everyone's unless they reacted to it (ReactionCount.mine). */
export function encodeMessageEventFor(m: StoredMessage, viewer: string | undefined): EncodedEvent {
  const s = sizes(m, viewer);
  const chatSize = lenField(s.room) + varintField(m.seq) + s.tail;
  const eventSize = 1 + varintSize(chatSize) + chatSize; // ServerEvent.message = field 2
  const total = 1 + varintSize(eventSize) + eventSize; // ChatResponse.events = field 1
  // Unpooled: these bytes sit in queues, and a pooled slice would pin an 8 KiB slab.
  const buf = Buffer.allocUnsafeSlow(total);
  let pos = 0;
  buf[pos++] = tag(1, LEN);
  pos = writeVarint(buf, pos, eventSize);
  buf[pos++] = tag(2, LEN);
  pos = writeVarint(buf, pos, chatSize);
  pos = writeString(buf, pos, 1, m.room, s.room);
  pos = writeUint(buf, pos, 2, m.seq);
  pos = writeTail(buf, pos, m, s);
  if (pos !== total) throw new Error(`message encoding size mismatch: ${pos} != ${total}`);
  return buf;
}

/** A ChatMessage encoded without its sequence number: the room field, and fields 3 to 15. */
export interface MessageHalves {
  /** ChatMessage field 1 (room). */
  head: Buffer;
  /** ChatMessage fields 3 to 15 (sender, text, sent_at, client_msg_id, action, sender_id, change, edited_at, deleted, reply_to, mentions, reaction, reactions). */
  tail: Buffer;
}

export function encodeMessageHalves(m: Unsequenced): MessageHalves {
  const s = sizes(m);
  const head = Buffer.allocUnsafeSlow(lenField(s.room));
  writeString(head, 0, 1, m.room, s.room);
  const tail = Buffer.allocUnsafeSlow(s.tail);
  writeTail(tail, 0, m, s);
  return { head, tail };
}

/** Join the halves around `seq`: the same bytes encodeMessageEvent writes. */
export function assembleMessageEvent(halves: MessageHalves, seq: number): EncodedEvent {
  const chatSize = halves.head.length + varintField(seq) + halves.tail.length;
  const eventSize = 1 + varintSize(chatSize) + chatSize;
  const total = 1 + varintSize(eventSize) + eventSize;
  const buf = Buffer.allocUnsafeSlow(total);
  let pos = 0;
  buf[pos++] = tag(1, LEN);
  pos = writeVarint(buf, pos, eventSize);
  buf[pos++] = tag(2, LEN);
  pos = writeVarint(buf, pos, chatSize);
  pos += halves.head.copy(buf, pos);
  pos = writeUint(buf, pos, 2, seq);
  pos += halves.tail.copy(buf, pos);
  return buf;
}
