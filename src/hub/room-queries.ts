/**
 * The read-only questions about rooms (their list, members, history), asked
 * by a caller: a private room answers a stranger exactly as a room that does
 * not exist (no history, no members, not listed).
 */
import { RoomRole, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";
import type { HistoryPage, HistoryQuery, MemberPage, RoomLog } from "../log/room-log.js";
import type { StoredMessage } from "../log/message.js";
import type { ReadState } from "../log/read-positions.js";
import { maySee, roleOf, type RoomStateData } from "../rooms/room-state.js";
import { grantIn, type Caller } from "./caller.js";
import { otherOf, storedRole } from "./room-rights.js";

/** One room in a listing, as the caller sees it. */
export interface RoomListing {
  name: string;
  memberCount: number;
  lastSeq: number;
  state: RoomStateData | undefined;
  yourRole: RoomRole;
  directUserId: string;
  /** In "my rooms": the newest entry. */
  last?: StoredMessage;
  /** In "my rooms": where the caller has read it up to. */
  read?: ReadState;
}

/** A page of members, each with its stored role. */
export interface MemberListing extends MemberPage {
  roles: RoomRole[];
}

const NO_HISTORY: HistoryPage = { messages: [], position: { epoch: "", firstSeq: 0, lastSeq: 0 }, hasMore: false };

export class RoomQueries {
  constructor(
    private readonly log: RoomLog,
    private readonly maxRooms: number,
  ) {}

  /** The room's state if the caller may see the room; `false` if it is hidden from them. */
  private async visible(room: string, caller: Caller): Promise<{ state: RoomStateData | undefined } | false> {
    const state = await this.log.state(room);
    // A caller without authentication is nobody: a stranger to every private room.
    return maySee(state, caller?.subject ?? "", grantIn(caller, room), Date.now()) && (caller !== undefined || !isPrivate(state)) ? { state } : false;
  }

  async history(room: string, query: HistoryQuery, caller: Caller): Promise<HistoryPage> {
    if (!(await this.visible(room, caller))) return NO_HISTORY;
    return this.log.history(room, query);
  }

  async members(room: string, pageToken: string, pageSize: number, caller: Caller): Promise<MemberListing> {
    const seen = await this.visible(room, caller);
    // Asked anyway, so that a page token is judged the same whether or not the room is hidden.
    const page = await this.log.members(room, pageToken, pageSize);
    if (!seen) return { members: [], memberCount: 0, nextPageToken: "", roles: [] };
    return { ...page, roles: page.members.map((m) => storedRole(seen.state, m.userId)) };
  }

  /** Rooms with members, leaving out the private ones the caller may not see. */
  async rooms(caller: Caller): Promise<RoomListing[]> {
    const rooms = await this.log.rooms(this.maxRooms);
    const states = await Promise.all(rooms.map((r) => this.log.state(r.name)));
    const now = Date.now();
    const listed: RoomListing[] = [];
    rooms.forEach((r, i) => {
      const state = states[i];
      const me = caller?.subject ?? "";
      if (isPrivate(state) && (!caller || !maySee(state, me, grantIn(caller, r.name), now))) return;
      listed.push({ ...r, state, yourRole: caller ? roleOf(state, me, grantIn(caller, r.name)) : RoomRole.UNSPECIFIED, directUserId: otherOf(state, me) });
    });
    return listed;
  }

  /** "My rooms": where the caller holds a role, with the newest entry of each. */
  async mine(caller: NonNullable<Caller>): Promise<RoomListing[]> {
    const rooms = await this.log.userRooms(caller.subject, this.maxRooms);
    const reads = await Promise.all(rooms.map((r) => this.log.readState(r.name, caller.subject)));
    return rooms.map((r, i) => ({
      name: r.name,
      memberCount: r.memberCount,
      lastSeq: r.lastSeq,
      state: r.state,
      yourRole: roleOf(r.state, caller.subject, grantIn(caller, r.name)),
      directUserId: otherOf(r.state, caller.subject),
      last: r.last,
      read: reads[i],
    }));
  }
}

const isPrivate = (state: RoomStateData | undefined) => state?.visibility === RoomVisibility.PRIVATE;
