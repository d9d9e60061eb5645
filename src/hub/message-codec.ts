/**
 * Hand-written encoder for the hottest event: a ChatMessage wrapped as
 * ChatResponse.events[i].message. It produces exactly the bytes protobuf-es
 * would (fields in number order, defaults omitted; a test checks this), at a
 * fraction of the cost of building and reflecting over a message object.
 * Every other event is rare enough to go through the generic encoder.
 */
import type { StoredMessage } from "../store/history-store.js";
import type { EncodedEvent } from "./wire.js";

const LEN = 2; // wire type: length-delimited
const VARINT = 0;
const tag = (field: number, wire: number) => (field << 3) | wire;

function varintSize(n: number): number {
  // Numbers here are non-negative and below 2^53.
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

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

export function encodeMessageEvent(m: StoredMessage): EncodedEvent {
  const roomBytes = Buffer.byteLength(m.room);
  const senderBytes = Buffer.byteLength(m.sender);
  const textBytes = Buffer.byteLength(m.text);
  const idBytes = Buffer.byteLength(m.clientMsgId);
  const seconds = Math.floor(m.sentAtMs / 1000);
  const nanos = (m.sentAtMs - seconds * 1000) * 1_000_000;
  const tsSize = varintField(seconds) + varintField(nanos);
  // sent_at is a message field: present (even if empty) whenever set, and we always set it.
  const chatSize =
    lenField(roomBytes) +
    varintField(m.seq) +
    lenField(senderBytes) +
    lenField(textBytes) +
    1 + varintSize(tsSize) + tsSize +
    lenField(idBytes);
  const eventSize = 1 + varintSize(chatSize) + chatSize; // ServerEvent.message = field 2
  const total = 1 + varintSize(eventSize) + eventSize; // ChatResponse.events = field 1
  // Unpooled: these bytes sit in queues, and a pooled slice would pin an 8 KiB slab.
  const buf = Buffer.allocUnsafeSlow(total);
  let pos = 0;
  buf[pos++] = tag(1, LEN);
  pos = writeVarint(buf, pos, eventSize);
  buf[pos++] = tag(2, LEN);
  pos = writeVarint(buf, pos, chatSize);
  pos = writeString(buf, pos, 1, m.room, roomBytes);
  pos = writeUint(buf, pos, 2, m.seq);
  pos = writeString(buf, pos, 3, m.sender, senderBytes);
  pos = writeString(buf, pos, 4, m.text, textBytes);
  buf[pos++] = tag(5, LEN);
  pos = writeVarint(buf, pos, tsSize);
  pos = writeUint(buf, pos, 1, seconds);
  pos = writeUint(buf, pos, 2, nanos);
  pos = writeString(buf, pos, 6, m.clientMsgId, idBytes);
  if (pos !== total) throw new Error(`message encoding size mismatch: ${pos} != ${total}`);
  return buf;
}
