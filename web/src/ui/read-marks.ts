/**
 * Read positions and mentions on the page. The counts are the server's (the
 * client core keeps them per joined room from the join and ReadPositionEvents,
 * "my rooms" for rooms not joined here), so a room read in another tab or on
 * another device shows read here too. A room is marked read when the reader
 * can see its newest message: it is on screen, the page is visible and its
 * log is scrolled to the end.
 */
import type { RoomInfo } from "../../../gen/chat/v1/chat_pb.js";
import type { ChatSession } from "../../../src/client/index.js";
import { atBottom, el } from "./dom.js";

export interface Badge {
  unread: number;
  mentions: number;
}

/** A room's counts: the session's for a joined room, "my rooms" for one not joined on this page. */
export function badgeOf(session: ChatSession, room: string, info?: RoomInfo): Badge {
  const p = session.readPosition(room);
  if (p) return { unread: p.unreadCount, mentions: p.mentionCount };
  return { unread: info?.unreadCount ?? 0, mentions: info?.mentionCount ?? 0 };
}

const shownCount = (n: number) => (n > 99 ? "99+" : String(n));

/** "3", or "@ 3" when some mention us (the server stops counting at 100: "99+"); none when all is read. */
export function badgeElement(b: Badge): HTMLElement | undefined {
  if (b.unread <= 0 && b.mentions <= 0) return undefined;
  const unread = Math.max(b.unread, b.mentions);
  const label = b.mentions > 0 ? `${shownCount(unread)} unread, ${shownCount(b.mentions)} ${b.mentions === 1 ? "mention" : "mentions"}` : `${shownCount(unread)} unread`;
  return el("span", { className: b.mentions > 0 ? "unread mention" : "unread", text: b.mentions > 0 ? `@${shownCount(unread)}` : shownCount(unread), attrs: { "aria-label": label } });
}

/** Whether the reader can see a room's newest message now. */
export function newestInSight(log: HTMLElement): boolean {
  return document.visibilityState === "visible" && !log.hidden && atBottom(log);
}
