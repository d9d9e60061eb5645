/**
 * The interactive client's look-around commands, over the unary RPCs (no
 * session needed): /rooms, /who (a page of members at a time, never the
 * whole list of a big room) and /history. Each returns the lines to print.
 */
import type { ChatClient } from "../client/transport.js";
import { count, formatMessage, formatNames, formatNotice, formatRooms } from "./format.js";

/** Deadline of the unary calls. */
const UNARY_TIMEOUT_MS = 5000;
/** Members listed per /who page. */
export const WHO_PAGE_SIZE = 50;

export class LookAround {
  /** Where `/who <room> more` continues: the next page token, and how many were listed so far. */
  private readonly whoNext = new Map<string, { token: string; listed: number }>();

  constructor(
    private readonly client: ChatClient,
    private readonly color: boolean,
  ) {}

  async rooms(joined: Set<string>): Promise<string[]> {
    const { rooms } = await this.client.listRooms({}, { timeoutMs: UNARY_TIMEOUT_MS });
    if (rooms.length === 0) return [formatNotice("info", "no rooms have members", this.color)];
    return [formatNotice("info", "rooms (* = joined):", this.color), ...formatRooms(rooms, joined)];
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
    const names = formatNames(page.members.map((m) => m.nickname), page.members.length, WHO_PAGE_SIZE);
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
      ...page.messages.map((m) => formatMessage(m, { color: this.color, currentRoom: room })),
      formatNotice("info", "end of history", this.color),
    ];
  }
}
