/**
 * The load generator's side of chat.v1, by hand: it encodes the two requests
 * it sends (join, send) and walks ChatResponse frames reading only the fields
 * it needs, without building message objects. Both servers (ours and the ws
 * baseline) speak these same bytes, so the generator does the same work for
 * either. checkWire() proves the hand code against protobuf-es at startup.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ChatRequestSchema,
  ChatResponseSchema,
  LeaveReason,
  ServerEventSchema,
} from "../gen/chat/v1/chat_pb.js";

const te = new TextEncoder();

function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n >>>= 7;
    size++;
  }
  return size;
}

function putVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function putField(buf: Uint8Array, pos: number, tag: number, bytes: Uint8Array): number {
  buf[pos++] = tag;
  pos = putVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Where a resuming join picks up: JoinCommand.after_seq and .epoch (from an earlier JoinedEvent). */
export interface ResumeFrom {
  afterSeq: number;
  epoch: string;
}

/** ChatRequest{join: JoinCommand{room, nickname[, after_seq, epoch]}}. */
export function encodeJoin(room: string, nickname: string, resume?: ResumeFrom): Buffer {
  const r = te.encode(room);
  const n = te.encode(nickname);
  const e = resume ? te.encode(resume.epoch) : undefined;
  let inner = fieldSize(r.length) + fieldSize(n.length);
  if (resume) inner += 1 + varintSize(resume.afterSeq) + (e!.length > 0 ? fieldSize(e!.length) : 0);
  const out = Buffer.alloc(fieldSize(inner));
  let pos = 0;
  out[pos++] = 0x12; // ChatRequest.join = 2
  pos = putVarint(out, pos, inner);
  pos = putField(out, pos, 0x0a, r); // JoinCommand.room = 1
  pos = putField(out, pos, 0x12, n); // JoinCommand.nickname = 2
  if (resume) {
    out[pos++] = 0x18; // JoinCommand.after_seq = 3 (optional: present even when 0)
    pos = putVarint(out, pos, resume.afterSeq);
    if (e!.length > 0) putField(out, pos, 0x22, e!); // JoinCommand.epoch = 4
  }
  return out;
}

/**
 * Encodes ChatRequest{send: SendCommand{room, text, client_msg_id}} for one
 * room and text; only the id changes per message.
 */
export class SendEncoder {
  private readonly room: Uint8Array;
  private readonly text: Uint8Array;

  constructor(room: string, text: string) {
    this.room = te.encode(room);
    this.text = te.encode(text);
  }

  encode(clientMsgId: string): Buffer {
    const idLen = clientMsgId.length; // ASCII only
    const inner = fieldSize(this.room.length) + fieldSize(this.text.length) + fieldSize(idLen);
    const out = Buffer.allocUnsafe(fieldSize(inner));
    let pos = 0;
    out[pos++] = 0x22; // ChatRequest.send = 4
    pos = putVarint(out, pos, inner);
    pos = putField(out, pos, 0x0a, this.room); // SendCommand.room = 1
    pos = putField(out, pos, 0x12, this.text); // SendCommand.text = 2
    out[pos++] = 0x1a; // SendCommand.client_msg_id = 3
    pos = putVarint(out, pos, idLen);
    out.write(clientMsgId, pos, idLen, "latin1");
    return out;
  }
}

/**
 * The id a load message carries: step, sender, per-sender sequence and the
 * send time in integer µs since the epoch (timeOrigin + now), so any process
 * on this machine can compute the latency.
 */
export function loadMessageId(step: number, sender: number, seq: number, sentUs: number): string {
  return `${step}.${sender}.${seq}.${sentUs}`;
}

/**
 * For the forwarding peers (a ws forwarder, a Socket.IO room), which relay a
 * sender's frame to every member without reading it: the frame a sender sends
 * there is already the ChatResponse every receiver walks, built here from the
 * SendCommand the fleet encoded. SendCommand{room=1, text=2, client_msg_id=3}
 * and ChatMessage{room=1, text=4, client_msg_id=6} lay out the same bytes but
 * for the tags, so the body is copied and three tags rewritten. No seq, no
 * sender: a forwarder assigns neither (the fleet checks per-sender order only).
 */
export function forwardFrameFromSend(req: Uint8Array): Buffer {
  p = 0;
  if (varint(req) !== 0x22) throw new Error("not a ChatRequest.send");
  const len = varint(req);
  const body = Buffer.from(req.subarray(p, p + len));
  p = 0;
  while (p < body.length) {
    const at = p;
    const tag = varint(body);
    if (tag === 0x12) body[at] = 0x22; // text 2 -> 4
    else if (tag === 0x1a) body[at] = 0x32; // client_msg_id 3 -> 6
    skip(body, tag);
  }
  const event = 1 + varintSize(len) + len;
  const out = Buffer.allocUnsafe(1 + varintSize(event) + event);
  let pos = 0;
  out[pos++] = 0x0a; // ChatResponse.events = 1
  pos = putVarint(out, pos, event);
  out[pos++] = 0x12; // ServerEvent.message = 2
  pos = putVarint(out, pos, len);
  body.copy(out, pos);
  return out;
}

/** ChatResponse{events: [{joined: {room}}]}: what a forwarding peer's connector reports once a client is in its room. */
export function joinedFrame(room: string): Uint8Array {
  return toBinary(ChatResponseSchema, create(ChatResponseSchema, { events: [create(ServerEventSchema, { event: { case: "joined", value: { room } } })] }));
}

/** The room of an encoded ChatRequest{join}, or undefined for any other request. */
export function joinRoom(req: Uint8Array): string | undefined {
  if (req[0] !== 0x12) return undefined;
  const r = fromBinary(ChatRequestSchema, req);
  return r.command.case === "join" ? r.command.value.room : undefined;
}

/** ServerEvent's oneof fields, as the bench knows them; any other field number is an event it does not know. */
export const EVENT_FIELD = {
  joined: 1,
  message: 2,
  memberJoined: 3,
  memberLeft: 4,
  error: 5,
  heartbeat: 6,
  left: 7,
  typing: 8,
  shutdown: 9,
} as const;

/** True for events that are presence: member joined/left, and events the bench does not know (e.g. a presence digest). */
export function isPresenceField(field: number): boolean {
  return field === EVENT_FIELD.memberJoined || field === EVENT_FIELD.memberLeft || field > EVENT_FIELD.shutdown || field === 0;
}

/** The fields of a JoinedEvent a resuming client needs (walked only when the visitor asks for them). */
export interface JoinedInfo {
  epoch: string;
  lastSeq: number;
  firstSeq: number;
  resumed: boolean;
  historyTruncated: boolean;
  epochChanged: boolean;
  /** Entries in its member list. */
  members: number;
}

/** What the frame walker reports. */
export interface FrameVisitor {
  joined(client: number): void;
  /** The joined event's details; when a visitor has this method, joined events are walked for them (slower). */
  joinedEvent?(client: number, info: JoinedInfo): void;
  /**
   * A load message (an id made by loadMessageId); `nowUs` is the frame's arrival time,
   * `roomSeq` the server's sequence number in the room.
   */
  message(client: number, step: number, sender: number, seq: number, sentUs: number, nowUs: number, roomSeq: number): void;
  memberLeft(client: number, nickname: string, reason: LeaveReason): void;
  error(client: number): void;
  /**
   * Every event, known or not: its ServerEvent field number (EVENT_FIELD, or a number the
   * bench does not know, which it only counts) and its encoded size in bytes.
   */
  event?(client: number, field: number, bytes: number): void;
}

// The walker's cursor: module state so reading a varint allocates nothing.
let p = 0;

function varint(buf: Uint8Array): number {
  let shift = 0;
  let n = 0;
  for (let i = 0; i < 10; i++) {
    const b = buf[p++];
    if (shift < 49) n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return n;
    shift += 7;
  }
  throw new Error("varint too long");
}

function skip(buf: Uint8Array, tag: number): void {
  switch (tag & 7) {
    case 3: {
      // A (deprecated) group: skip fields up to its matching end-group tag.
      for (;;) {
        if (p >= buf.length) throw new Error("unterminated group");
        const inner = varint(buf);
        if ((inner & 7) === 4) {
          if (inner >>> 3 !== tag >>> 3) throw new Error("mismatched end group");
          return;
        }
        skip(buf, inner);
      }
    }
    case 0:
      varint(buf);
      return;
    case 1:
      p += 8;
      return;
    case 2: {
      const len = varint(buf);
      p += len;
      return;
    }
    case 5:
      p += 4;
      return;
    default:
      throw new Error(`unsupported wire type ${tag & 7}`);
  }
}

/** Walk one ChatResponse frame and report the events it carries. */
export function walkFrame(buf: Uint8Array, client: number, nowUs: number, v: FrameVisitor): void {
  p = 0;
  const end = buf.length;
  while (p < end) {
    const tag = varint(buf);
    if (tag !== 0x0a) {
      skip(buf, tag); // not ChatResponse.events
      continue;
    }
    const len = varint(buf);
    const evEnd = p + len;
    walkEvent(buf, evEnd, client, nowUs, v);
    p = evEnd;
  }
}

/**
 * One ServerEvent. Only its oneof field is expected, but any field is
 * tolerated: fields the bench does not know (a newer schema's events, e.g. a
 * presence digest) are skipped by wire type, reported to `event` with their
 * size, and are neither errors nor messages.
 */
function walkEvent(buf: Uint8Array, end: number, client: number, nowUs: number, v: FrameVisitor): void {
  if (v.event) {
    const start = p;
    // The first field's number names the event (a oneof has one field set); an empty event is field 0.
    const field = p < end ? varint(buf) >>> 3 : 0;
    p = start;
    v.event(client, field, end - start);
  }
  while (p < end) {
    const tag = varint(buf);
    if (tag === 0x12) {
      // ServerEvent.message = 2
      const len = varint(buf);
      const msgEnd = p + len;
      walkMessage(buf, msgEnd, client, nowUs, v);
      p = msgEnd;
    } else if (tag === 0x0a) {
      v.joined(client); // ServerEvent.joined = 1
      if (v.joinedEvent) {
        const len = varint(buf);
        const joinedEnd = p + len;
        walkJoined(buf, joinedEnd, client, v);
        p = joinedEnd;
      } else {
        skip(buf, tag);
      }
    } else if (tag === 0x22) {
      // ServerEvent.member_left = 4
      const len = varint(buf);
      const leftEnd = p + len;
      walkMemberLeft(buf, leftEnd, client, v);
      p = leftEnd;
    } else if (tag === 0x2a) {
      v.error(client); // ServerEvent.error = 5
      skip(buf, tag);
    } else {
      skip(buf, tag);
    }
  }
}

function walkMessage(buf: Uint8Array, end: number, client: number, nowUs: number, v: FrameVisitor): void {
  let roomSeq = 0;
  let found = false;
  let step = 0;
  let sender = 0;
  let seq = 0;
  let sentUs = 0;
  while (p < end) {
    const tag = varint(buf);
    if (tag === 0x10) {
      roomSeq = varint(buf); // ChatMessage.seq = 2
      continue;
    }
    if (tag !== 0x32) {
      skip(buf, tag); // not ChatMessage.client_msg_id = 6
      continue;
    }
    const len = varint(buf);
    const idEnd = p + len;
    // "step.sender.seq.sentUs", ASCII digits and dots.
    let part = 0;
    let n = 0;
    for (let i = p; i < idEnd; i++) {
      const c = buf[i];
      if (c === 0x2e) {
        if (part === 0) step = n;
        else if (part === 1) sender = n;
        else if (part === 2) seq = n;
        part++;
        n = 0;
      } else if (c >= 0x30 && c <= 0x39) {
        n = n * 10 + (c - 0x30);
      } else {
        part = -100; // not a load message
      }
    }
    p = idEnd;
    found = part === 3;
    sentUs = n;
  }
  // Fields may come in any order: report once the whole message is read.
  if (found) v.message(client, step, sender, seq, sentUs, nowUs, roomSeq);
}

const td = new TextDecoder();

function walkJoined(buf: Uint8Array, end: number, client: number, v: FrameVisitor): void {
  const info: JoinedInfo = { epoch: "", lastSeq: 0, firstSeq: 0, resumed: false, historyTruncated: false, epochChanged: false, members: 0 };
  while (p < end) {
    const tag = varint(buf);
    if (tag === 0x1a) {
      info.members++; // JoinedEvent.members = 3
      skip(buf, tag);
    } else if (tag === 0x2a) {
      const len = varint(buf); // JoinedEvent.epoch = 5
      info.epoch = td.decode(buf.subarray(p, p + len));
      p += len;
    } else if (tag === 0x30) {
      info.lastSeq = varint(buf); // JoinedEvent.last_seq = 6
    } else if (tag === 0x38) {
      info.firstSeq = varint(buf); // JoinedEvent.first_seq = 7
    } else if (tag === 0x40) {
      info.resumed = varint(buf) !== 0; // JoinedEvent.resumed = 8
    } else if (tag === 0x48) {
      info.historyTruncated = varint(buf) !== 0; // JoinedEvent.history_truncated = 9
    } else if (tag === 0x50) {
      info.epochChanged = varint(buf) !== 0; // JoinedEvent.epoch_changed = 10
    } else {
      skip(buf, tag);
    }
  }
  v.joinedEvent!(client, info);
}

function walkMemberLeft(buf: Uint8Array, end: number, client: number, v: FrameVisitor): void {
  let nickname = "";
  let reason = LeaveReason.UNSPECIFIED;
  while (p < end) {
    const tag = varint(buf);
    if (tag === 0x12) {
      const len = varint(buf);
      nickname = td.decode(buf.subarray(p, p + len));
      p += len;
    } else if (tag === 0x18) {
      reason = varint(buf) as LeaveReason;
    } else {
      skip(buf, tag);
    }
  }
  v.memberLeft(client, nickname, reason);
}

/** Hand-built protobuf bytes for checkWire: fields the generated schema cannot produce (unknown ones). */
function pbVarint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const pbTag = (field: number, wireType: number) => pbVarint(field * 8 + wireType);
const pbBytes = (field: number, payload: number[] | Uint8Array) => [...pbTag(field, 2), ...pbVarint(payload.length), ...payload];
const pbString = (field: number, text: string) => pbBytes(field, te.encode(text));

/** Prove the hand encoders and the walker against protobuf-es; throws on any mismatch. */
export function checkWire(): void {
  const join = fromBinary(ChatRequestSchema, encodeJoin("room-1", "nick-é"));
  if (join.command.case !== "join" || join.command.value.room !== "room-1" || join.command.value.nickname !== "nick-é" || join.command.value.afterSeq !== undefined) {
    throw new Error("encodeJoin does not round-trip");
  }
  for (const resume of [{ afterSeq: 0, epoch: "" }, { afterSeq: 1_234_567, epoch: "epoch-1" }]) {
    const j = fromBinary(ChatRequestSchema, encodeJoin("big", "n1", resume));
    if (j.command.case !== "join" || j.command.value.afterSeq !== BigInt(resume.afterSeq) || j.command.value.epoch !== resume.epoch || j.command.value.nickname !== "n1") {
      throw new Error(`encodeJoin with resume ${JSON.stringify(resume)} does not round-trip`);
    }
  }
  const id = loadMessageId(3, 7, 12345, 1_700_000_000_123_456);
  const send = fromBinary(ChatRequestSchema, new SendEncoder("r", "x".repeat(300)).encode(id));
  if (send.command.case !== "send" || send.command.value.clientMsgId !== id || send.command.value.text.length !== 300) {
    throw new Error("SendEncoder does not round-trip");
  }
  const fwd = fromBinary(ChatResponseSchema, forwardFrameFromSend(new SendEncoder("room-é", "x".repeat(300)).encode(id)));
  const fm = fwd.events[0]?.event;
  if (fm?.case !== "message" || fm.value.room !== "room-é" || fm.value.text.length !== 300 || fm.value.clientMsgId !== id || joinRoom(encodeJoin("j", "n")) !== "j") {
    throw new Error("forwardFrameFromSend / joinRoom do not round-trip");
  }
  const known = toBinary(
    ChatResponseSchema,
    create(ChatResponseSchema, {
      events: [
        create(ServerEventSchema, {
          event: {
            case: "joined",
            value: { room: "r", nickname: "n", lastSeq: 5n, firstSeq: 2n, epoch: "ep", resumed: true, members: [{ nickname: "a" }, { nickname: "n" }] },
          },
        }),
        create(ServerEventSchema, {
          event: { case: "message", value: { room: "r", seq: 300n, sender: "s", text: "t", clientMsgId: id, sentAt: { seconds: 1n, nanos: 2 } } },
        }),
        create(ServerEventSchema, { event: { case: "memberJoined", value: { room: "r", member: { nickname: "newbie" } } } }),
        create(ServerEventSchema, { event: { case: "memberLeft", value: { room: "r", nickname: "sloth", reason: LeaveReason.TOO_SLOW } } }),
      ],
    }),
  );
  // Events and fields a newer schema may send (e.g. a coalesced presence digest): the walker must skip them,
  // whatever their wire type, and neither count them as errors nor lose its place.
  const unknownEvents = [
    pbBytes(112, [...pbString(1, "r"), ...pbTag(2, 0), ...pbVarint(5000), ...pbString(3, "a"), ...pbString(3, "b")]), // a digest-like message
    [...pbTag(200, 0), ...pbVarint(7)], // a varint, two-byte tag
    [...pbTag(111, 1), 1, 2, 3, 4, 5, 6, 7, 8], // fixed64
    [...pbTag(113, 5), 1, 2, 3, 4], // fixed32
    [...pbTag(114, 3), ...pbTag(1, 0), 1, ...pbTag(2, 3), ...pbTag(1, 0), 2, ...pbTag(2, 4), ...pbTag(114, 4)], // a group, nested
  ];
  // A known event with an unknown field inside, and its fields out of the usual order.
  const messageWithExtra = pbBytes(2, [...pbString(20, "future field"), ...pbString(6, loadMessageId(4, 1, 2, 99)), ...pbTag(2, 0), ...pbVarint(301)]);
  const frame = new Uint8Array([
    ...known,
    ...unknownEvents.flatMap((e) => pbBytes(1, e)),
    ...pbBytes(1, messageWithExtra),
    ...pbString(2, "an unknown ChatResponse field"),
  ]);
  const seen: string[] = [];
  const fast = {
    joined: (c: number) => seen.push(`joined ${c}`),
    message: (c: number, step: number, sender: number, seq: number, sentUs: number, now: number, roomSeq: number) =>
      seen.push(`message ${c} ${step} ${sender} ${seq} ${sentUs} ${now} #${roomSeq}`),
    memberLeft: (c: number, nick: string, reason: LeaveReason) => seen.push(`left ${c} ${nick} ${reason}`),
    error: (c: number) => seen.push(`error ${c}`),
  };
  walkFrame(frame, 9, 42, fast);
  const want = [
    "joined 9",
    "message 9 3 7 12345 1700000000123456 42 #300",
    `left 9 sloth ${LeaveReason.TOO_SLOW}`,
    "message 9 4 1 2 99 42 #301",
  ];
  if (seen.join("|") !== want.join("|")) throw new Error(`walkFrame: got ${seen.join("|")}`);
  // The detailed visitor: joined events walked for their fields, every event counted with its size.
  seen.length = 0;
  const sizes: number[] = [];
  walkFrame(frame, 9, 42, {
    ...fast,
    joinedEvent: (c, j) =>
      seen.push(`joinedEvent ${c} ${j.epoch} ${j.lastSeq} ${j.firstSeq} ${j.resumed} ${j.historyTruncated} ${j.epochChanged} ${j.members}`),
    event: (c, field, bytes) => {
      seen.push(`event ${c} ${field}${isPresenceField(field) ? " presence" : ""}`);
      sizes.push(bytes);
    },
  });
  const wantDetailed = [
    "event 9 1",
    "joined 9",
    "joinedEvent 9 ep 5 2 true false false 2",
    "event 9 2",
    "message 9 3 7 12345 1700000000123456 42 #300",
    "event 9 3 presence",
    "event 9 4 presence",
    `left 9 sloth ${LeaveReason.TOO_SLOW}`,
    "event 9 112 presence",
    "event 9 200 presence",
    "event 9 111 presence",
    "event 9 113 presence",
    "event 9 114 presence",
    "event 9 2",
    "message 9 4 1 2 99 42 #301",
  ];
  if (seen.join("|") !== wantDetailed.join("|")) throw new Error(`walkFrame (detailed): got ${seen.join("|")}`);
  const decoded = fromBinary(ChatResponseSchema, frame); // protobuf-es keeps unknown fields aside
  const wantSizes = decoded.events.map((e) => toBinary(ServerEventSchema, e).length);
  if (sizes.join(",") !== wantSizes.join(",")) throw new Error(`walkFrame event sizes: got ${sizes.join(",")}, protobuf-es ${wantSizes.join(",")}`);
}
