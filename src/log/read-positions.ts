/**
 * Read positions: where each user has read each room up to, and how many
 * messages from others follow. Every room log stores the positions; this is
 * the counting they share, so "unread" means the same on every backend.
 */
import type { StoredMessage } from "./message.js";

/**
 * Unread counts stop here: a client shows "99+" (ReadPositionEvent.unread_count).
 * Counting reads the entries after the position, on every join of a signed-in
 * user: the cap bounds that read.
 */
export const UNREAD_CAP = 100;

export interface ReadState {
  /** Everything up to this number is read (0: nothing marked). */
  readSeq: number;
  /** Messages from other users after readSeq, at most UNREAD_CAP. */
  unread: number;
  /** Of those, the ones that mention the user. */
  mentions: number;
}

/** Messages from someone else (room actions, edits, deletions and tombstones are not news to read), and those naming the user. */
export function countUnread(after: readonly StoredMessage[], userId: string): { unread: number; mentions: number } {
  let unread = 0;
  let mentions = 0;
  for (const m of after) {
    if (m.action || m.change || m.reaction || m.deleted || m.senderId === userId) continue;
    unread++;
    if (m.mentions?.includes(userId)) mentions++;
  }
  return { unread, mentions };
}
