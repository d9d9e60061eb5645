/**
 * Read positions and mentions on a terminal, as pure functions: which user
 * ids a typed `@name` stands for, the line a mention in another room prints,
 * the `--- new messages ---` line a join puts after the last read message,
 * and the unread column of /rooms. interactive.ts wires them to the client
 * core (markRead, the mention and readPosition events).
 */
import type { Mention } from "../client/read-state.js";
import { truncate } from "./prompt-screen.js";

export { mentionsIn } from "../client/read-state.js";

/** Drawn after the last read message of a join's recent messages, when unread ones follow. */
export const NEW_MESSAGES_LINE = "--- new messages ---";

/** Characters of a mention's quote on its line. */
const QUOTE_SHOWN = 60;

/** "bob mentioned you in #room: quote", for a mention outside the room on screen. */
export function formatMentionText(m: Mention, roomLabel: string, sanitize: (s: string) => string): string {
  return `${sanitize(m.sender)} mentioned you in ${roomLabel}: ${truncate(sanitize(m.quote), QUOTE_SHOWN)}`;
}

/** "3 unread", "99+ unread, 2 mentions", or "" when everything is read. */
export function unreadLabel(unread: number, mentions: number): string {
  if (unread <= 0 && mentions <= 0) return "";
  const n = unread > 99 ? "99+" : String(unread);
  return mentions > 0 ? `${n} unread, ${mentions > 99 ? "99+" : mentions} mention${mentions === 1 ? "" : "s"}` : `${n} unread`;
}

/**
 * Where the new-messages line goes among a join's recent messages (by
 * index: before that message), or -1: only when the server counts unread
 * messages and one of those shown is after the read position.
 */
export function newMessagesAt(recent: readonly { seq: bigint }[], readSeq: bigint, unreadCount: number): number {
  if (unreadCount <= 0) return -1;
  return recent.findIndex((m) => m.seq > readSeq);
}
