/**
 * The JoinedEvent with its members and recent messages, assembled from bytes:
 * the recent messages come from the room log already encoded (as message
 * events), so their ChatMessage bytes are copied into JoinedEvent.recent
 * instead of being decoded and encoded again, and members are written by hand
 * (a join storm would otherwise build and reflect over 100 Member objects per
 * join). A protobuf decoder reads fields in any order, so these may follow the
 * other fields. A test checks the result against protobuf-es.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { JoinedEventSchema, type JoinedEvent } from "../../gen/chat/v1/chat_pb.js";
import { wrapEventBytes, type EncodedEvent } from "./encoded-event.js";
import { varintSize, writeVarint } from "./varint.js";

const JOINED_FIELD_TAG = (1 << 3) | 2; // ServerEvent.joined
const RECENT_FIELD_TAG = (4 << 3) | 2; // JoinedEvent.recent
const MEMBERS_FIELD_TAG = (3 << 3) | 2; // JoinedEvent.members

/** A member as the joined event lists it. */
export interface JoinedMember {
  nickname: string;
  joinedAtMs: number;
  /** Member.user_id (absent in records made before users had ids). */
  userId?: string;
}

/**
 * Encoded members by record: the room log hands out the same record objects
 * for as long as a member stays, so in a big room each member is encoded once,
 * not once per join that lists it. The role (the last field) can change while
 * the record stays, so it is appended per listing.
 */
const encodedMembers = new WeakMap<JoinedMember, Uint8Array>();

function cachedMember(m: JoinedMember, role: number): Uint8Array {
  let bytes = encodedMembers.get(m);
  if (!bytes) encodedMembers.set(m, (bytes = encodeMember(m)));
  return role ? withRole(bytes, role) : bytes;
}

/** Member.role (field 4, the last one) after the other fields: the bytes protobuf-es writes. */
function withRole(member: Uint8Array, role: number): Uint8Array {
  const out = new Uint8Array(member.length + 1 + varintSize(role));
  out.set(member, 0);
  out[member.length] = 4 << 3;
  writeVarint(out, member.length + 1, role);
  return out;
}

/**
 * Member { nickname = 1; joined_at = 2 (Timestamp: seconds = 1, nanos = 2);
 * user_id = 3; role = 4 }, as protobuf-es writes it.
 */
export function encodeMember(m: JoinedMember, role = 0): Uint8Array {
  if (role) return withRole(encodeMember(m), role);
  const name = Buffer.from(m.nickname, "utf8");
  const user = Buffer.from(m.userId ?? "", "utf8");
  const seconds = Math.floor(m.joinedAtMs / 1000);
  const nanos = (m.joinedAtMs - seconds * 1000) * 1_000_000;
  const tsSize = (seconds ? 1 + varintSize(seconds) : 0) + (nanos ? 1 + varintSize(nanos) : 0);
  const size =
    (name.length ? 1 + varintSize(name.length) + name.length : 0) + 1 + varintSize(tsSize) + tsSize + (user.length ? 1 + varintSize(user.length) + user.length : 0);
  const out = new Uint8Array(size);
  let pos = 0;
  if (name.length) {
    out[pos++] = (1 << 3) | 2;
    pos = writeVarint(out, pos, name.length);
    out.set(name, pos);
    pos += name.length;
  }
  out[pos++] = (2 << 3) | 2;
  pos = writeVarint(out, pos, tsSize);
  if (seconds) {
    out[pos++] = 1 << 3;
    pos = writeVarint(out, pos, seconds);
  }
  if (nanos) {
    out[pos++] = 2 << 3;
    pos = writeVarint(out, pos, nanos);
  }
  if (user.length) {
    out[pos++] = (3 << 3) | 2;
    pos = writeVarint(out, pos, user.length);
    out.set(user, pos);
  }
  return out;
}

/** A room's last listed members (the records and their roles) and their encoded JoinedEvent.members fields. */
interface MembersBlock {
  members: readonly JoinedMember[];
  roles: number[];
  bytes: Uint8Array;
}

/**
 * The last members block of up to MEMBER_BLOCK_ROOMS rooms: in a join storm
 * every joiner is shown the same first page of members, so the page is
 * written once and copied into each joined event (it was ~40 µs per join).
 */
const lastBlocks = new Map<string, MembersBlock>();
const MEMBER_BLOCK_ROOMS = 64;

function membersBlock(room: string, members: readonly JoinedMember[], roleOf: (m: JoinedMember) => number): Uint8Array {
  const roles = members.map(roleOf);
  const last = lastBlocks.get(room);
  if (last && last.members.length === members.length && members.every((m, i) => m === last.members[i] && roles[i] === last.roles[i])) {
    return last.bytes;
  }
  const memberBytes = members.map((m, i) => cachedMember(m, roles[i]));
  const bytes = new Uint8Array(fieldsSize(memberBytes));
  writeFields(bytes, 0, MEMBERS_FIELD_TAG, memberBytes);
  lastBlocks.delete(room);
  lastBlocks.set(room, { members: [...members], roles, bytes });
  if (lastBlocks.size > MEMBER_BLOCK_ROOMS) lastBlocks.delete(lastBlocks.keys().next().value!);
  return bytes;
}

/** The ChatMessage bytes inside an encoded message event (ChatResponse.events[i].message). */
export function chatMessageBytes(event: EncodedEvent): Uint8Array {
  let pos = 1; // ChatResponse.events tag
  pos = skipVarint(event, pos); // event length
  pos++; // ServerEvent.message tag
  const [length, start] = readVarint(event, pos);
  return event.subarray(start, start + length);
}

export function encodeJoinedEvent(
  fields: Omit<JoinedEvent, "$typeName" | "recent" | "members" | "userId" | "state" | "readSeq" | "unreadCount" | "mentionCount" | "readReceipts"> &
    Partial<Pick<JoinedEvent, "userId" | "state" | "readSeq" | "unreadCount" | "mentionCount" | "readReceipts">>,
  members: readonly JoinedMember[],
  recent: readonly EncodedEvent[],
  /** Each member's role (Member.role); none: every role unspecified. */
  roleOf: (m: JoinedMember) => number = () => 0,
): EncodedEvent {
  const base = toBinary(JoinedEventSchema, create(JoinedEventSchema, fields));
  const block = membersBlock(fields.room, members, roleOf);
  const bodies = recent.map(chatMessageBytes);
  const joinedSize = base.length + block.length + fieldsSize(bodies);
  const serverEvent = new Uint8Array(1 + varintSize(joinedSize) + joinedSize);
  let pos = 0;
  serverEvent[pos++] = JOINED_FIELD_TAG;
  pos = writeVarint(serverEvent, pos, joinedSize);
  serverEvent.set(base, pos);
  pos += base.length;
  serverEvent.set(block, pos);
  pos += block.length;
  writeFields(serverEvent, pos, RECENT_FIELD_TAG, bodies);
  return wrapEventBytes(serverEvent);
}

/** Bytes of `parts` written as length-delimited fields (one-byte tag, varint length, bytes). */
function fieldsSize(parts: readonly Uint8Array[]): number {
  let size = 0;
  for (const b of parts) size += 1 + varintSize(b.length) + b.length;
  return size;
}

/** Write `parts` as length-delimited fields with `tag` at `pos`; returns the position after them. */
function writeFields(out: Uint8Array, pos: number, tag: number, parts: readonly Uint8Array[]): number {
  for (const b of parts) {
    out[pos++] = tag;
    pos = writeVarint(out, pos, b.length);
    out.set(b, pos);
    pos += b.length;
  }
  return pos;
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
