/**
 * The JoinedEvent with its recent messages, assembled from bytes: the recent
 * messages come from the room log already encoded (as message events), so
 * their ChatMessage bytes are copied into JoinedEvent.recent instead of being
 * decoded and encoded again. A protobuf decoder reads fields in any order, so
 * the recent messages may follow the other fields.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { JoinedEventSchema, type JoinedEvent } from "../../gen/chat/v1/chat_pb.js";
import { wrapEventBytes, type EncodedEvent } from "./encoded-event.js";
import { varintSize, writeVarint } from "./varint.js";

const JOINED_FIELD_TAG = (1 << 3) | 2; // ServerEvent.joined
const RECENT_FIELD_TAG = (4 << 3) | 2; // JoinedEvent.recent

/** The ChatMessage bytes inside an encoded message event (ChatResponse.events[i].message). */
export function chatMessageBytes(event: EncodedEvent): Uint8Array {
  let pos = 1; // ChatResponse.events tag
  pos = skipVarint(event, pos); // event length
  pos++; // ServerEvent.message tag
  const [length, start] = readVarint(event, pos);
  return event.subarray(start, start + length);
}

export function encodeJoinedEvent(fields: Omit<JoinedEvent, "$typeName" | "recent">, recent: readonly EncodedEvent[]): EncodedEvent {
  const base = toBinary(JoinedEventSchema, create(JoinedEventSchema, fields));
  const bodies = recent.map(chatMessageBytes);
  let joinedSize = base.length;
  for (const b of bodies) joinedSize += 1 + varintSize(b.length) + b.length;
  const serverEvent = new Uint8Array(1 + varintSize(joinedSize) + joinedSize);
  let pos = 0;
  serverEvent[pos++] = JOINED_FIELD_TAG;
  pos = writeVarint(serverEvent, pos, joinedSize);
  serverEvent.set(base, pos);
  pos += base.length;
  for (const b of bodies) {
    serverEvent[pos++] = RECENT_FIELD_TAG;
    pos = writeVarint(serverEvent, pos, b.length);
    serverEvent.set(b, pos);
    pos += b.length;
  }
  return wrapEventBytes(serverEvent);
}

function skipVarint(buf: Uint8Array, pos: number): number {
  while (buf[pos] & 0x80) pos++;
  return pos + 1;
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
}
