/**
 * The interactive client's look-around commands, over the unary RPCs (no
 * session needed): /rooms (signed in: your rooms and direct messages first;
 * then a bounded number of rooms with members, each with its last
 * message), /who (a page of members at a time, never the whole list of a big
 * room) and /history. Each returns the lines to print.
 */
import { RoomRole, type RoomInfo } from "../../gen/chat/v1/chat_pb.js";
import type { ChatClient } from "../client/transport.js";
import { isChange } from "../client/message-changes.js";
import { isReaction } from "../client/reactions.js";
import { count, formatMessageLines, formatMyRooms, formatNames, formatNotice, formatRooms, type LastMessage } from "./format.js";

/** Deadline of the unary calls. */
const UNARY_TIMEOUT_MS = 5000;
/** Members listed per /who page. */
export const WHO_PAGE_SIZE = 50;
/** Rooms listed by /rooms, each with its last message (one history call apiece). */
export const ROOMS_SHOWN = 20;

export class LookAround {
  /** Where `/who <room> more` continues: the next page token, and how many were listed so far. */
  private readonly whoNext = new Map<string, { token: string; listed: number }>();

  constructor(
    private readonly client: ChatClient,
    private readonly color: boolean,
    /** Whether message numbers are shown (/seq). */
    private readonly showSeq: () => boolean = () => false,
  ) {}

  /**
   * `mine`: the signed-in user's rooms (ListRooms mine, through the client
   * core), listed first, with their role and last message; the rooms with
   * members that are not among them follow.
   */
  async rooms(joined: Set<string>, mine?: () => Promise<RoomInfo[]>): Promise<string[]> {
    const [own, all] = await Promise.all([mine ? mine() : Promise.resolve(undefined), this.client.listRooms({}, { timeoutMs: UNARY_TIMEOUT_MS })]);
    const lines: string[] = [];
    if (own !== undefined) {
      const shown = own.slice(0, ROOMS_SHOWN);
      if (shown.length === 0) lines.push(formatNotice("info", "you are not a member of any room yet (/create one, or /msg someone)", this.color));
      else lines.push(formatNotice("info", "your rooms and direct messages (* = joined):", this.color), ...formatMyRooms(shown, joined));
      if (own.length > shown.length) lines.push(formatNotice("info", `… and ${count(own.length - shown.length)} more of yours`, this.color));
    }
    const ownNames = new Set(own?.map((r) => r.name));
    const rooms = all.rooms.filter((r) => !ownNames.has(r.name));
    if (own !== undefined && rooms.length === 0) return lines;
    if (rooms.length === 0) return [formatNotice("info", "no rooms have members", this.color)];
    return [...lines, ...(await this.others(rooms, joined, own !== undefined))];
  }

  private async others(rooms: RoomInfo[], joined: Set<string>, afterMine: boolean): Promise<string[]> {
    const shown = roomsToShow(rooms, joined);
    const last = await this.lastMessages(shown);
    const lines = [formatNotice("info", afterMine ? "other rooms (* = joined):" : "rooms (* = joined):", this.color), ...formatRooms(shown, joined, last)];
    const more = rooms.length - shown.length;
    if (more > 0) lines.push(formatNotice("info", `… and ${count(more)} more room${more === 1 ? "" : "s"} (shown: yours, then the biggest)`, this.color));
    return lines;
  }

  /**
   * The last message of each room, one GetHistory (limit 1) per room, all at
   * once: RoomInfo carries only the sequence number. `rooms` is already
   * bounded (ROOMS_SHOWN), so is the number of calls. A room whose call fails
   * says so on its row instead of failing the whole list.
   */
  private async lastMessages(rooms: RoomInfo[]): Promise<Map<string, LastMessage>> {
    const last = new Map<string, LastMessage>();
    await Promise.all(
      rooms
        .filter((r) => r.lastSeq > 0n)
        .map(async (r) => {
          try {
            const page = await this.client.getHistory({ room: r.name, limit: 1 }, { timeoutMs: UNARY_TIMEOUT_MS });
            const message = page.messages.at(-1);
            if (message) last.set(r.name, message);
          } catch {
            last.set(r.name, "unavailable");
          }
        }),
    );
    return last;
  }

  /** A page of a room's members: the first, or with `more` the one after the last shown. */
  async who(room: string, more: boolean): Promise<string[]> {
    const from = more ? this.whoNext.get(room) : undefined;
    if (more && !from) return [formatNotice("info", `no more members of #${room} to list; /who ${room} starts again`, this.color)];
    const page = await this.client.listMembers(
      { room, pageSize: WHO_PAGE_SIZE, pageToken: from?.token ?? "" },
      { timeoutMs: UNARY_TIMEOUT_MS },
    );
    if (page.members.length === 0 && !from) return [formatNotice("info", `#${room} has no members`, this.color)];
    const listed = (from?.listed ?? 0) + page.members.length;
    // Who may moderate is worth knowing before asking them; members and visitors are the rest.
    const names = formatNames(page.members.map((m) => (m.role >= RoomRole.MODERATOR ? `${m.nickname} (${m.role === RoomRole.OWNER ? "owner" : "moderator"})` : m.nickname)), page.members.length, WHO_PAGE_SIZE);
    const head = from ? `#${room}, members ${count(from.listed + 1)} to ${count(listed)} of ${count(page.memberCount)}` : `#${room} (${count(page.memberCount)} member${page.memberCount === 1 ? "" : "s"})`;
    const lines = [formatNotice("info", `${head}: ${names}`, this.color)];
    if (page.nextPageToken) {
      this.whoNext.set(room, { token: page.nextPageToken, listed });
      const rest = Math.max(page.memberCount - listed, 1);
      lines.push(formatNotice("info", `… and ${count(rest)} more: /who ${room} more`, this.color));
    } else {
      this.whoNext.delete(room);
    }
    return lines;
  }

  async history(room: string, limit: number): Promise<string[]> {
    const page = await this.client.getHistory({ room, limit }, { timeoutMs: UNARY_TIMEOUT_MS });
    if (page.messages.length === 0) return [formatNotice("info", `#${room} has no history`, this.color)];
    return [
      formatNotice("info", `last ${page.messages.length} message(s) of #${room}${page.hasMore ? " (older ones exist)" : ""}:`, this.color),
      // History gives each message as it is now: its edit and delete entries would only repeat that.
      ...page.messages.filter((m) => !isChange(m) && !isReaction(m)).flatMap((m) => formatMessageLines(m, { color: this.color, currentRoom: room, showSeq: this.showSeq() })),
      formatNotice("info", "end of history", this.color),
    ];
  }
}

/**
 * Which rooms /rooms lists when there are more than ROOMS_SHOWN: the ones you
 * are in, then the biggest; listed by name, as the server sorts them.
 */
export function roomsToShow(rooms: RoomInfo[], joined: Set<string>, max = ROOMS_SHOWN): RoomInfo[] {
  if (rooms.length <= max) return rooms;
  const rank = (r: RoomInfo) => (joined.has(r.name) ? 1 : 0);
  const picked = new Set([...rooms].sort((a, b) => rank(b) - rank(a) || b.memberCount - a.memberCount).slice(0, max));
  return rooms.filter((r) => picked.has(r));
}
