/**
 * Read positions and mentions on a terminal, as pure functions: which user
 * ids a typed `@name` stands for, the line a mention in another room prints,
 * the `--- new messages ---` line a join puts after the last read message,
 * and the unread column of /rooms. interactive.ts wires them to the client
 * core (markRead, the mention and readPosition events).
 */
import type { Mention } from "../client/read-state.js";
import { MENTIONS_MAX } from "../client/read-state.js";
import { truncate } from "./prompt-screen.js";

/** Drawn after the last read message of a join's recent messages, when unread ones follow. */
export const NEW_MESSAGES_LINE = "--- new messages ---";

/** Characters of a mention's quote on its line. */
const QUOTE_SHOWN = 60;

/**
 * The user ids `@name`s in a typed text stand for: `lookup` gives a member's
 * user id by nickname (members heard of in the room); an unknown name stays
 * plain text. A name ends at white space or trailing punctuation ("@bob,").
 * Distinct, in order, at most MENTIONS_MAX (the server's bound).
 */
export function mentionsIn(text: string, lookup: (nickname: string) => string | undefined): string[] {
  const ids: string[] = [];
  // After the start or a space, so an e-mail address is not a mention.
  for (const match of text.matchAll(/(?:^|\s)@([^\s@]+)/g)) {
    const word = match[1];
    // "@bob," or "@bob:" names bob; a nickname that ends in punctuation itself is tried whole first.
    const id = lookup(word) ?? lookup(word.replace(/[.,:;!?)'"]+$/u, ""));
    if (id !== undefined && !ids.includes(id) && ids.length < MENTIONS_MAX) ids.push(id);
  }
  return ids;
}

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
