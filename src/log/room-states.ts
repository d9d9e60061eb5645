/**
 * What a log needs to record a room action as an entry: the entry itself
 * (sender, sender id, text, the RoomAction bytes it carries as
 * ChatMessage.action), and the fingerprint that tells a retried action (same
 * idempotency key, same action) from a key reused for another one. Shared by
 * the embedded and the Redis log so both record the same entry.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReadReceiptsSetting, RoomActionSchema, RoomRole, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";
import type { ActionInput, Decision, RoomStateData } from "../rooms/room-state.js";
import type { StoredMessage } from "./message.js";
import type { ActRequest } from "./room-log.js";
import { textHash } from "./text-hash.js";

/** The decided action as the entry records it (chat.v1.RoomAction; until from untilMs, target_name filled by decide()). */
export function encodeAction(a: ActionInput): Uint8Array {
  return toBinary(
    RoomActionSchema,
    create(RoomActionSchema, {
      kind: a.kind,
      targetUser: a.targetUser ?? "",
      reason: a.reason ?? "",
      until: a.untilMs ? timestampFromMs(a.untilMs) : undefined,
      topic: a.topic ?? "",
      role: a.role ?? RoomRole.UNSPECIFIED,
      visibility: a.visibility ?? RoomVisibility.UNSPECIFIED,
      targetName: a.targetName ?? "",
      readReceipts: a.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED,
    }),
  );
}

/**
 * The fingerprint kept with an action's idempotency key: the action as
 * requested (not the display name, which may change between retries). It
 * shares the key space of messages (a key names one thing: a message's text
 * hash never equals an action's fingerprint).
 */
export function actionFingerprint(a: ActionInput): string {
  const roles = a.roles ? Object.entries(a.roles).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)) : [];
  const fields = [a.kind, a.targetUser ?? "", a.reason ?? "", a.untilMs ?? 0, a.topic ?? "", a.role ?? 0, a.visibility ?? 0, roles, a.direct ? [...a.direct].sort() : []];
  // Only set_read_receipts carries a setting: other actions keep the fingerprints they had.
  if (a.readReceipts) fields.push(a.readReceipts);
  return textHash("\u0000room-action\u0000" + JSON.stringify(fields));
}

/** The sender id of an entry the admin API made (its sender name says which backend or bot). */
export const ADMIN_SENDER_ID = "admin";

/** The entry recording a decided action (its number is the log's to give). */
export function actionEntry(req: ActRequest, decision: Extract<Decision, { ok: true }>): Omit<StoredMessage, "seq"> {
  return {
    room: req.room,
    sender: req.actor.name,
    text: decision.text,
    sentAtMs: req.sentAtMs,
    clientMsgId: req.clientActionId,
    senderId: req.actor.admin ? ADMIN_SENDER_ID : req.actor.userId,
    action: encodeAction(decision.action),
  };
}

/**
 * The state as a log hands it out: frozen, since one object is shared by the
 * log's cache and every caller (a change is a new state, made by decide()).
 */
export function frozenState(state: RoomStateData): RoomStateData {
  if (Object.isFrozen(state)) return state;
  for (const part of [state.roles, state.bans, state.mutes, state.direct]) if (part) Object.freeze(part);
  for (const r of [...Object.values(state.bans), ...Object.values(state.mutes)]) Object.freeze(r);
  return Object.freeze(state);
}
