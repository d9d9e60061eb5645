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

/** ChatRequest{join: JoinCommand{room, nickname}}. */
export function encodeJoin(room: string, nickname: string): Buffer {
  const r = te.encode(room);
  const n = te.encode(nickname);
  const inner = fieldSize(r.length) + fieldSize(n.length);
  const out = Buffer.alloc(fieldSize(inner));
  let pos = 0;
  out[pos++] = 0x12; // ChatRequest.join = 2
  pos = putVarint(out, pos, inner);
  pos = putField(out, pos, 0x0a, r); // JoinCommand.room = 1
  putField(out, pos, 0x12, n); // JoinCommand.nickname = 2
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

/** What the frame walker reports. */
export interface FrameVisitor {
  joined(client: number): void;
  /** A load message (an id made by loadMessageId); `nowUs` is the frame's arrival time. */
  message(client: number, step: number, sender: number, seq: number, sentUs: number, nowUs: number): void;
  memberLeft(client: number, nickname: string, reason: LeaveReason): void;
  error(client: number): void;
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

function walkEvent(buf: Uint8Array, end: number, client: number, nowUs: number, v: FrameVisitor): void {
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
      skip(buf, tag);
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
  while (p < end) {
    const tag = varint(buf);
    if (tag !== 0x32) {
      skip(buf, tag); // not ChatMessage.client_msg_id = 6
      continue;
    }
    const len = varint(buf);
    const idEnd = p + len;
    // "step.sender.seq.sentUs", ASCII digits and dots.
    let part = 0;
    let n = 0;
    let step = 0;
    let sender = 0;
    let seq = 0;
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
    if (part === 3) v.message(client, step, sender, seq, n, nowUs);
  }
}

const td = new TextDecoder();

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

/** Prove the hand encoders and the walker against protobuf-es; throws on any mismatch. */
export function checkWire(): void {
  const join = fromBinary(ChatRequestSchema, encodeJoin("room-1", "nick-é"));
  if (join.command.case !== "join" || join.command.value.room !== "room-1" || join.command.value.nickname !== "nick-é") {
    throw new Error("encodeJoin does not round-trip");
  }
  const id = loadMessageId(3, 7, 12345, 1_700_000_000_123_456);
  const send = fromBinary(ChatRequestSchema, new SendEncoder("r", "x".repeat(300)).encode(id));
  if (send.command.case !== "send" || send.command.value.clientMsgId !== id || send.command.value.text.length !== 300) {
    throw new Error("SendEncoder does not round-trip");
  }
  const frame = toBinary(
    ChatResponseSchema,
    create(ChatResponseSchema, {
      events: [
        create(ServerEventSchema, { event: { case: "joined", value: { room: "r", nickname: "n", lastSeq: 5n } } }),
        create(ServerEventSchema, {
          event: { case: "message", value: { room: "r", seq: 300n, sender: "s", text: "t", clientMsgId: id, sentAt: { seconds: 1n, nanos: 2 } } },
        }),
        create(ServerEventSchema, { event: { case: "memberLeft", value: { room: "r", nickname: "sloth", reason: LeaveReason.TOO_SLOW } } }),
      ],
    }),
  );
  const seen: string[] = [];
  walkFrame(frame, 9, 42, {
    joined: (c) => seen.push(`joined ${c}`),
    message: (c, step, sender, seq, sentUs, now) => seen.push(`message ${c} ${step} ${sender} ${seq} ${sentUs} ${now}`),
    memberLeft: (c, nick, reason) => seen.push(`left ${c} ${nick} ${reason}`),
    error: (c) => seen.push(`error ${c}`),
  });
  const want = ["joined 9", "message 9 3 7 12345 1700000000123456 42", `left 9 sloth ${LeaveReason.TOO_SLOW}`];
  if (seen.join("|") !== want.join("|")) throw new Error(`walkFrame: got ${seen.join("|")}`);
}
