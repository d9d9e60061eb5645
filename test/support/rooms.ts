/** Helpers for room-state tests: tokens with room grants, and the room commands for a ChatTester. */
import { SignJWT } from "jose";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReadReceiptsSetting, RoomActionKind, RoomRole, RoomVisibility, type ChatMessage } from "../../gen/chat/v1/chat_pb.js";
import type { ChatTester } from "./chat-tester.js";

export { ReadReceiptsSetting, RoomActionKind, RoomRole, RoomVisibility };

export const AUTH_SECRET = "a-development-secret-of-at-least-32-bytes!";
const hmac = new TextEncoder().encode(AUTH_SECRET);

/** A token for `sub`, valid for an hour, with any extra claims (e.g. `rooms`). */
export function token(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(hmac);
}

export interface ActionFields {
  targetUser?: string;
  reason?: string;
  untilMs?: number;
  topic?: string;
  role?: RoomRole;
  readReceipts?: ReadReceiptsSetting;
}

let nextAction = 1;

/** Send a ModerateCommand; returns its client_action_id. */
export function moderate(t: ChatTester, room: string, kind: RoomActionKind, fields: ActionFields = {}, clientActionId = `act-${nextAction++}`): string {
  const { untilMs, ...rest } = fields;
  t.request({
    command: {
      case: "moderate",
      value: { room, clientActionId, action: { kind, ...rest, until: untilMs ? timestampFromMs(untilMs) : undefined } },
    },
  });
  return clientActionId;
}

export function createRoom(t: ChatTester, room: string, opts: { visibility?: RoomVisibility; topic?: string; invite?: string[]; nickname?: string } = {}): void {
  t.request({ command: { case: "createRoom", value: { room, nickname: opts.nickname ?? "", visibility: opts.visibility, topic: opts.topic, invite: opts.invite ?? [] } } });
}

export function openDirect(t: ChatTester, userId: string): void {
  t.request({ command: { case: "openDirect", value: { userId } } });
}

/** The action entries a tester received (ChatMessage with action set). */
export function actions(t: ChatTester, room?: string): ChatMessage[] {
  return t.messages(room).filter((m) => m.action !== undefined);
}
