/** Builders for the ServerEvents the hub emits, from plain values, each returning its encoded form. */
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ChatMessageSchema,
  CommandKind,
  ErrorEventSchema,
  MemberSchema,
  RoomActionSchema,
  type ChatMessage,
  type ErrorCode,
  type JoinedEvent,
  type LeaveReason,
  type Member,
  type PresenceEvent,
  type RoomRole,
} from "../../gen/chat/v1/chat_pb.js";
import type { StoredMessage } from "../log/message.js";
import type { ReadState } from "../log/read-positions.js";
import { encodeEvent, type EncodedEvent } from "./encoded-event.js";
import { encodeMessageEvent } from "./message-codec.js";
import { reactionCounts } from "../log/reactions.js";

/** A room member as events describe it. */
export interface MemberInfo {
  nickname: string;
  joinedAtMs: number;
  userId?: string;
}

/** A stored message as protobuf-es gives it; `viewer` (a user id) is whose reactions are `mine`. */
export function toChatMessage(m: StoredMessage, viewer?: string): ChatMessage {
  return create(ChatMessageSchema, {
    room: m.room,
    seq: BigInt(m.seq),
    sender: m.sender,
    text: m.text,
    sentAt: timestampFromMs(m.sentAtMs),
    clientMsgId: m.clientMsgId,
    senderId: m.senderId ?? "",
    action: m.action ? fromBinary(RoomActionSchema, m.action) : undefined,
    change: m.change ? { targetSeq: BigInt(m.change.targetSeq), kind: m.change.kind } : undefined,
    editedAt: m.editedAtMs !== undefined ? timestampFromMs(m.editedAtMs) : undefined,
    deleted: m.deleted ?? false,
    replyTo: m.replyTo ? { seq: BigInt(m.replyTo.seq), sender: m.replyTo.sender, quote: m.replyTo.quote, deleted: m.replyTo.deleted } : undefined,
    mentions: [...(m.mentions ?? [])],
    reaction: m.reaction ? { targetSeq: BigInt(m.reaction.targetSeq), emoji: m.reaction.emoji, removed: m.reaction.removed } : undefined,
    // Already messages ($typeName set): create() takes them as they are instead of converting each.
    reactions: reactionCounts(m.reactions, viewer).map((c) => ({ $typeName: "chat.v1.ReactionCount" as const, ...c })),
  });
}

export function toMember(m: MemberInfo, role: RoomRole = 0 as RoomRole): Member {
  return create(MemberSchema, { nickname: m.nickname, joinedAt: timestampFromMs(m.joinedAtMs), userId: m.userId ?? "", role });
}

/** The hot path: hand-encoded, byte-for-byte what protobuf-es would write. */
export const messageEvent = encodeMessageEvent;

export const joinedEvent = (value: Omit<JoinedEvent, "$typeName">): EncodedEvent =>
  encodeEvent({ case: "joined", value: { $typeName: "chat.v1.JoinedEvent", ...value } });

export const leftEvent = (room: string, reason: LeaveReason = 0 as LeaveReason): EncodedEvent =>
  encodeEvent({ case: "left", value: { $typeName: "chat.v1.LeftEvent", room, reason } });

export const memberRenamedEvent = (room: string, oldNickname: string, newNickname: string): EncodedEvent =>
  encodeEvent({ case: "memberRenamed", value: { $typeName: "chat.v1.MemberRenamedEvent", room, oldNickname, newNickname } });

export const memberJoinedEvent = (room: string, m: MemberInfo, role?: RoomRole): EncodedEvent =>
  encodeEvent({ case: "memberJoined", value: { $typeName: "chat.v1.MemberJoinedEvent", room, member: toMember(m, role) } });

export const readPositionEvent = (room: string, read: ReadState): EncodedEvent =>
  encodeEvent({
    case: "readPosition",
    value: { $typeName: "chat.v1.ReadPositionEvent", room, readSeq: BigInt(read.readSeq), unreadCount: read.unread, mentionCount: read.mentions },
  });

export const mentionEvent = (room: string, seq: number, sender: string, senderId: string, quote: string): EncodedEvent =>
  encodeEvent({ case: "mention", value: { $typeName: "chat.v1.MentionEvent", room, seq: BigInt(seq), sender, senderId, quote } });

export const directOpenedEvent = (room: string, userId: string, created: boolean): EncodedEvent =>
  encodeEvent({ case: "directOpened", value: { $typeName: "chat.v1.DirectOpenedEvent", room, userId, created } });

export const memberLeftEvent = (room: string, nickname: string, reason: LeaveReason): EncodedEvent =>
  encodeEvent({ case: "memberLeft", value: { $typeName: "chat.v1.MemberLeftEvent", room, nickname, reason } });

export const presenceEvent = (value: Omit<PresenceEvent, "$typeName">): EncodedEvent =>
  encodeEvent({ case: "presence", value: { $typeName: "chat.v1.PresenceEvent", ...value } });

export const typingEvent = (room: string, nickname: string): EncodedEvent =>
  encodeEvent({ case: "typing", value: { $typeName: "chat.v1.TypingEvent", room, nickname } });

export const heartbeatEvent = (nowMs: number, nonce = ""): EncodedEvent =>
  encodeEvent({ case: "heartbeat", value: { $typeName: "chat.v1.HeartbeatEvent", serverTime: timestampFromMs(nowMs), nonce } });

export const shutdownEvent = (reason: string): EncodedEvent => encodeEvent({ case: "shutdown", value: { $typeName: "chat.v1.ShutdownEvent", reason } });

export interface ErrorContext {
  command?: CommandKind;
  requestId?: string;
  room?: string;
  clientMsgId?: string;
}

export const errorEvent = (code: ErrorCode, message: string, ctx: ErrorContext): EncodedEvent =>
  encodeEvent({
    case: "error",
    value: create(ErrorEventSchema, {
      code,
      message,
      command: ctx.command ?? CommandKind.UNSPECIFIED,
      requestId: ctx.requestId ?? "",
      room: ctx.room ?? "",
      clientMsgId: ctx.clientMsgId ?? "",
    }),
  });
