/**
 * A room's state as the Redis scripts check it: the access hash derived from
 * RoomStateData (keys.ts RoomKeys.access), written as a difference from the
 * previous state, and a script's refusal worded by the same rules
 * (rooms/room-state.ts) the embedded log uses.
 */
import { ErrorCode, RoomRole, RoomVisibility } from "../../../gen/chat/v1/chat_pb.js";
import { mayJoin, mayPost, type Restriction, type RoomStateData } from "../../rooms/room-state.js";
import type { Refusal } from "../room-log.js";

/** The access hash's fields for a state, version excluded. */
export function accessFields(state: RoomStateData | undefined): Map<string, string> {
  const fields = new Map<string, string>();
  if (!state) return fields;
  if (state.visibility === RoomVisibility.PRIVATE) fields.set("p", "1");
  for (const [user, role] of Object.entries(state.roles)) if (role > RoomRole.UNSPECIFIED) fields.set(`r:${user}`, String(role));
  for (const [user, r] of Object.entries(state.bans)) fields.set(`b:${user}`, restriction(r));
  for (const [user, r] of Object.entries(state.mutes)) fields.set(`m:${user}`, restriction(r));
  return fields;
}

const restriction = (r: Restriction) => `${Math.max(0, Math.floor(r.untilMs))} ${r.reason}`;

/**
 * What to write to go from `prev` to `next` (which must exist): field/value
 * pairs to set (the version first) and fields to delete. Only the
 * difference, so an action in a room of many members writes a few fields.
 */
export function accessChanges(prev: RoomStateData | undefined, next: RoomStateData): { set: string[]; del: string[] } {
  const before = accessFields(prev);
  const after = accessFields(next);
  const set = ["v", String(next.version)];
  for (const [field, value] of after) if (before.get(field) !== value) set.push(field, value);
  const del = [...before.keys()].filter((field) => !after.has(field));
  return { set, del };
}

/**
 * A script's refusal (its reply {'refused', p, ban, mute, role}) in words:
 * the fields rebuilt as the part of the state they come from, judged by
 * mayJoin/mayPost at the script's time, so Redis and the embedded log
 * refuse with the same code and message.
 */
export function refusalOf(
  room: string,
  reply: readonly string[],
  userId: string,
  grant: RoomRole | undefined,
  nowMs: number,
  posting: boolean,
): Refusal {
  const [, p, ban, mute, role] = reply;
  const state: RoomStateData = {
    visibility: p === "1" ? RoomVisibility.PRIVATE : RoomVisibility.PUBLIC,
    topic: "",
    creator: "",
    createdAtMs: 0,
    roles: role ? { [userId]: Number(role) as RoomRole } : {},
    bans: ban ? { [userId]: parseRestriction(ban) } : {},
    mutes: mute ? { [userId]: parseRestriction(mute) } : {},
    version: 0,
  };
  const access = posting ? mayPost(room, state, userId, grant, nowMs) : mayJoin(room, state, userId, grant, nowMs);
  if (!access.ok) return { kind: "refused", code: access.code, message: access.message };
  // Only if the rules and the script disagree (a bug): still a refusal, in plain words.
  return { kind: "refused", code: ErrorCode.PERMISSION_DENIED, message: `you may not ${posting ? "post in" : "join"} room ${room} now` };
}

function parseRestriction(raw: string): Restriction {
  const space = raw.indexOf(" ");
  return space < 0 ? { untilMs: Number(raw), reason: "" } : { untilMs: Number(raw.slice(0, space)), reason: raw.slice(space + 1) };
}
