/**
 * What travels on a room's pub/sub channel (see scripts.ts for the format).
 * Parsing is by hand on Buffers: a stored message arrives as its encoded
 * event, which is handed to the hub as is.
 */
import { LeaveReason } from "../../../gen/chat/v1/chat_pb.js";

export type ChannelMessage =
  /** A stored entry; `action`: the encoded RoomAction of an action entry. */
  | { kind: "message"; epoch: string; seq: number; event: Uint8Array; action?: Uint8Array }
  | { kind: "joined"; nickname: string; joinedAtMs: number; memberCount: number; userId?: string }
  | { kind: "left"; nickname: string; reason: LeaveReason; memberCount: number }
  | { kind: "replaced"; nickname: string; tokenHash: string; memberCount: number }
  | { kind: "renamed"; from: string; to: string; memberCount: number; skeleton?: string }
  | { kind: "typing"; from: string; event: Uint8Array };

const M = 0x4d;
const A = 0x41;
const J = 0x4a;
const L = 0x4c;
const T = 0x54;
const R = 0x52;
const N = 0x4e;
const NEWLINE = 0x0a;
const SPACE = 0x20;

export function parseChannelMessage(payload: Buffer): ChannelMessage | undefined {
  switch (payload[0]) {
    case M: {
      const space = payload.indexOf(SPACE, 1);
      const newline = payload.indexOf(NEWLINE, space + 1);
      if (space < 0 || newline < 0) return undefined;
      // Copied out of the subscriber's read buffer (unpooled): queues hold these bytes for a while.
      const event = new Uint8Array(payload.subarray(newline + 1));
      return { kind: "message", epoch: payload.toString("latin1", 1, space), seq: Number(payload.toString("latin1", space + 1, newline)), event };
    }
    case A: {
      // A<epoch> <seq> <action length>\n<action><event>
      const space = payload.indexOf(SPACE, 1);
      const space2 = payload.indexOf(SPACE, space + 1);
      const newline = payload.indexOf(NEWLINE, space2 + 1);
      if (space < 0 || space2 < 0 || newline < 0) return undefined;
      const actionEnd = newline + 1 + Number(payload.toString("latin1", space2 + 1, newline));
      if (!(actionEnd <= payload.length)) return undefined;
      return {
        kind: "message",
        epoch: payload.toString("latin1", 1, space),
        seq: Number(payload.toString("latin1", space + 1, space2)),
        action: new Uint8Array(payload.subarray(newline + 1, actionEnd)),
        event: new Uint8Array(payload.subarray(actionEnd)),
      };
    }
    case J:
    case L: {
      const body = JSON.parse(payload.toString("utf8", 1)) as { n: string; j?: string; r?: number; c: number; u?: string };
      return payload[0] === J
        ? { kind: "joined", nickname: body.n, joinedAtMs: Number(body.j), memberCount: body.c, ...(body.u !== undefined ? { userId: body.u } : {}) }
        : { kind: "left", nickname: body.n, reason: (body.r ?? LeaveReason.UNSPECIFIED) as LeaveReason, memberCount: body.c };
    }
    case R: {
      const body = JSON.parse(payload.toString("utf8", 1)) as { n: string; t?: string; c: number };
      return { kind: "replaced", nickname: body.n, tokenHash: body.t ?? "", memberCount: body.c };
    }
    case N: {
      const body = JSON.parse(payload.toString("utf8", 1)) as { f: string; n: string; c: number; s?: string };
      return { kind: "renamed", from: body.f, to: body.n, memberCount: body.c, ...(body.s !== undefined ? { skeleton: body.s } : {}) };
    }
    case T: {
      const newline = payload.indexOf(NEWLINE, 1);
      if (newline < 0) return undefined;
      return { kind: "typing", from: payload.toString("utf8", 1, newline), event: new Uint8Array(payload.subarray(newline + 1)) };
    }
    default:
      return undefined;
  }
}

export function typingPayload(from: string, event: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`T${from}\n`, "utf8"), event]);
}
