/**
 * Messages typed in a tab that was closed (or a browser that quit) before
 * they were sent. sessionStorage (saved-session.ts) goes with its tab, so
 * each tab also keeps its unsent messages in localStorage under its own id,
 * and holds a Web Lock named after that id for as long as it is open. A tab
 * whose lock is free is gone: the next tab of the same user takes its
 * messages over and sends them under their own client_msg_ids, so one the
 * server stored just before the close is not stored twice.
 *
 * Who may take them: the same signed-in user id, or (without sign-in) the
 * same nickname. A record older than the server's idempotency window could
 * be stored twice, so an old one is dropped instead (STRANDED_MAX_AGE_MS).
 */
import { isSavedMessage, type SavedMessage } from "./saved-session.js";

export interface StrandedOutbox {
  nickname: string;
  signedIn: boolean;
  /** The token's subject, once a room was joined (signed in only). */
  userId?: string;
  pending: SavedMessage[];
  /** When the tab saved it (ms since the epoch). */
  savedAt: number;
}

/** Who a tab is chatting as. */
export interface Identity {
  nickname: string;
  signedIn: boolean;
  userId: string | undefined;
}

const TAB_KEY = "chat.tab.v1";
const PREFIX = "chat.outbox.v1.";
const LOCK_PREFIX = "chat.tab.";
/** Half the server's default --idempotency-window (24 h): older messages are not resent. */
export const STRANDED_MAX_AGE_MS = 12 * 3600_000;

/** This tab's id: in sessionStorage, so a reload is the same tab (and finds its own outbox, not a stranded one). */
export function tabId(): string {
  try {
    const known = sessionStorage.getItem(TAB_KEY);
    if (known) return known;
    const id = crypto.randomUUID();
    sessionStorage.setItem(TAB_KEY, id);
    return id;
  } catch {
    return crypto.randomUUID();
  }
}

/** Hold this tab's lock until the page goes: while it is held, no other tab takes this tab's messages. */
export function holdTabLock(id: string): void {
  void navigator.locks?.request(LOCK_PREFIX + id, () => new Promise<never>(() => {})).catch(() => {});
}

/** Keep (or, with nothing unsent, remove) this tab's unsent messages where other tabs can find them. */
export function keepOutbox(id: string, outbox: StrandedOutbox | undefined): void {
  if (!navigator.locks) return; // no tab could ever tell it was left behind: it would only pile up
  try {
    if (!outbox || outbox.pending.length === 0) localStorage.removeItem(PREFIX + id);
    else localStorage.setItem(PREFIX + id, JSON.stringify(outbox));
  } catch {
    // Storage full or off: a reload of this tab still has them (sessionStorage).
  }
}

/**
 * Take over the unsent messages of closed tabs that were chatting as `who`:
 * each closed tab's lock is taken first (so two new tabs cannot both take the
 * same messages), its record read and removed. Records too old to resend, or
 * unreadable, are removed; other users' records are left alone.
 */
export async function adoptStranded(ownId: string, who: Identity, now = Date.now()): Promise<SavedMessage[]> {
  const locks = navigator.locks;
  if (!locks) return []; // without Web Locks an open tab cannot be told from a closed one
  const adopted: SavedMessage[] = [];
  for (const key of strandedKeys(ownId)) {
    const id = key.slice(PREFIX.length);
    await locks.request(LOCK_PREFIX + id, { ifAvailable: true }, (lock) => {
      if (!lock) return; // that tab is open
      const outbox = read(key);
      if (!outbox || now - outbox.savedAt > STRANDED_MAX_AGE_MS) return remove(key);
      if (!sameUser(outbox, who)) return;
      adopted.push(...outbox.pending);
      remove(key);
    });
  }
  return adopted;
}

function sameUser(outbox: StrandedOutbox, who: Identity): boolean {
  if (outbox.signedIn !== who.signedIn) return false;
  return who.signedIn ? who.userId !== undefined && outbox.userId === who.userId : outbox.nickname === who.nickname;
}

function strandedKeys(ownId: string): string[] {
  try {
    const keys: string[] = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key?.startsWith(PREFIX) && key !== PREFIX + ownId) keys.push(key);
    }
    return keys;
  } catch {
    return [];
  }
}

function read(key: string): StrandedOutbox | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? "null") as Partial<StrandedOutbox> | null;
    if (!v || typeof v.nickname !== "string" || typeof v.signedIn !== "boolean" || typeof v.savedAt !== "number" || !Array.isArray(v.pending)) return undefined;
    const pending = v.pending.filter(isSavedMessage);
    return { nickname: v.nickname, signedIn: v.signedIn, userId: typeof v.userId === "string" ? v.userId : undefined, pending, savedAt: v.savedAt };
  } catch {
    return undefined;
  }
}

function remove(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    // nothing to do
  }
}
