/**
 * Who a session or a query speaks for, as the server established it: the
 * authenticated subject (its user id) and the rooms its token grants. Without
 * authentication a session's user id is its nickname in each room, and a
 * query's caller is a stranger to every private room.
 */
import type { RoomRole } from "../../gen/chat/v1/chat_pb.js";

export interface SessionIdentity {
  /** The token's subject: the user id. */
  subject: string;
  /** The token's display name (its "name" claim), if it has one. */
  name?: string;
  /** The token's "rooms" claim: room name -> role, in that room only. */
  grants?: Readonly<Record<string, RoomRole>>;
}

/** The caller of a query (ListRooms, ListMembers, GetHistory); undefined without authentication. */
export type Caller = SessionIdentity | undefined;

/** The role a token grants in this room, if any (own properties only: a room named "constructor" is granted nothing). */
export function grantIn(identity: SessionIdentity | undefined, room: string): RoomRole | undefined {
  const grants = identity?.grants;
  return grants && Object.prototype.hasOwnProperty.call(grants, room) ? grants[room] : undefined;
}
