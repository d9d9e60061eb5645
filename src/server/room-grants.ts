/**
 * A token's "rooms" claim: an object naming rooms and the role the token
 * grants in each, in that room only, e.g. {"ops": "moderator", "team": "member"}.
 * A grant counts as that role (the higher of it and a stored role); it is
 * never stored, and it opens no other room.
 */
import { RoomRole } from "../../gen/chat/v1/chat_pb.js";
import { checkRoom } from "../hub/validate.js";

const ROLES: Record<string, RoomRole> = { member: RoomRole.MEMBER, moderator: RoomRole.MODERATOR, owner: RoomRole.OWNER };
/** More grants than any sensible token carries: a bound on what one token may make the server hold. */
export const MAX_ROOM_GRANTS = 1000;

/** The grants, or why the claim is refused. An absent claim grants nothing. */
export function parseRoomGrants(claim: unknown): Record<string, RoomRole> | string {
  const grants: Record<string, RoomRole> = Object.create(null) as Record<string, RoomRole>;
  if (claim === undefined) return grants;
  if (claim === null || typeof claim !== "object" || Array.isArray(claim)) {
    return `token claim "rooms" must be an object of room name -> "member", "moderator" or "owner"`;
  }
  const entries = Object.entries(claim as Record<string, unknown>);
  if (entries.length > MAX_ROOM_GRANTS) return `token claim "rooms" names ${entries.length} rooms; at most ${MAX_ROOM_GRANTS}`;
  for (const [room, role] of entries) {
    const problem = checkRoom(room);
    if (problem) return `token claim "rooms" names an invalid room "${room.slice(0, 80)}": ${problem}`;
    const granted = typeof role === "string" && Object.hasOwn(ROLES, role) ? ROLES[role] : undefined;
    if (granted === undefined) return `token claim "rooms" grants room ${room} an unknown role ${JSON.stringify(role)?.slice(0, 40)}: use "member", "moderator" or "owner"`;
    grants[room] = granted;
  }
  return grants;
}
