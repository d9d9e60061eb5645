/**
 * The hub's side of room state: what an action entry asks the local room to
 * do (who leaves, and why), and a room's state as one user sees it in their
 * JoinedEvent. The rules themselves are in rooms/room-state.ts; the room log
 * decides every change.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { LeaveReason, RoomActionSchema, RoomStateSchema, type RoomState } from "../../gen/chat/v1/chat_pb.js";
import {
  ReadReceiptsSetting,
  RoomActionKind,
  RoomRole,
  RoomVisibility,
  evicts,
  isMuted,
  roleOf,
  type ActionInput,
  type RoomStateData,
} from "../rooms/room-state.js";

/** An entry's action (the bytes of ChatMessage.action) as the rules take it. */
export function actionOf(bytes: Uint8Array): ActionInput {
  const a = fromBinary(RoomActionSchema, bytes);
  return {
    kind: a.kind,
    targetUser: a.targetUser,
    targetName: a.targetName,
    reason: a.reason,
    untilMs: a.until ? timestampMs(a.until) : 0,
    topic: a.topic,
    role: a.role,
    visibility: a.visibility,
    readReceipts: a.readReceipts,
  };
}

/** Who must leave at once, without waiting for the room's new state (kick, ban, delete). */
export type Eviction = { all: true; reason: LeaveReason } | { user: string; reason: LeaveReason; unlessGranted: boolean };

/** What an action does to local memberships before the new state is known. */
export function immediateEviction(action: ActionInput): Eviction | undefined {
  if (action.kind === RoomActionKind.DELETE) return { all: true, reason: LeaveReason.ROOM_DELETED };
  if (action.kind === RoomActionKind.KICK) return { user: action.targetUser ?? "", reason: LeaveReason.KICKED, unlessGranted: false };
  if (action.kind === RoomActionKind.BAN) return { user: action.targetUser ?? "", reason: LeaveReason.BANNED, unlessGranted: false };
  return undefined;
}

/**
 * What an action does once the room's new state is known: a private room's
 * member whose membership was removed (set_role to none, leaving the
 * membership) leaves, unless their token grants the room.
 */
export function evictionAfter(action: ActionInput, next: RoomStateData | undefined): Eviction | undefined {
  if (action.kind !== RoomActionKind.SET_ROLE && action.kind !== RoomActionKind.LEAVE_MEMBERSHIP) return undefined;
  const out = evicts(action, next);
  if (!out || !("user" in out)) return undefined;
  const reason = action.kind === RoomActionKind.LEAVE_MEMBERSHIP ? LeaveReason.LEFT : LeaveReason.KICKED;
  return { user: out.user, reason, unlessGranted: true };
}

/** JoinedEvent.state: the room's state as this user sees it (`receiptsOn`: read receipts on at the room's size now). */
export function roomStateFor(state: RoomStateData | undefined, userId: string, grant: RoomRole | undefined, nowMs: number, receiptsOn = false): RoomState {
  const mute = state?.mutes[userId];
  const muted = isMuted(state, userId, nowMs);
  return create(RoomStateSchema, {
    visibility: state?.visibility ?? RoomVisibility.PUBLIC,
    topic: state?.topic ?? "",
    creator: state?.creator ?? "",
    yourRole: roleOf(state, userId, grant),
    muted,
    mutedUntil: muted && mute && mute.untilMs > 0 ? timestampFromMs(mute.untilMs) : undefined,
    directUserId: otherOf(state, userId),
    readReceipts: state?.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED,
    readReceiptsOn: receiptsOn,
  });
}

/** For a direct-message room: the other user ("" otherwise). */
export function otherOf(state: RoomStateData | undefined, userId: string): string {
  if (!state?.direct) return "";
  const [a, b] = state.direct;
  return a === userId ? b : a;
}

/** A member's stored role (what others see; a token's grant is its holder's business). */
export function storedRole(state: RoomStateData | undefined, userId: string | undefined): RoomRole {
  return (userId !== undefined && state?.roles[userId]) || RoomRole.UNSPECIFIED;
}
