/**
 * What a reload of the page must not lose: the nickname, the rooms, and the
 * messages typed but not yet acknowledged (with their client_msg_ids, so a
 * message the server stored just before the reload is not stored twice).
 * Kept in sessionStorage: it belongs to one tab (two open tabs are two sessions
 * and never send each other's messages) and goes when the tab is closed (its
 * unsent messages are kept apart for the next tab: stranded-outbox.ts). A sign-in
 * token is not kept: a signed-in user signs in again and then gets the rest back.
 */
export interface SavedMessage {
  id: string;
  room: string;
  text: string;
  /** A reply: the number of the message it answers, in decimal (JSON has no bigint). */
  replyTo?: string;
  /** User ids it mentions (restored with it, so they are still told). */
  mentions?: string[];
}

export interface SavedSession {
  nickname: string;
  /** Signed in with a token (not kept): the user must sign in again. */
  signedIn: boolean;
  rooms: string[];
  /** The room on screen. */
  current: string | undefined;
  pending: SavedMessage[];
  /**
   * Per room, the resume token of our membership (JoinedEvent.resume_token):
   * the rejoin after a reload presents it and takes the old session's
   * membership over at once, instead of being refused until the server lets
   * it go. A secret, like the session itself: tab-scoped storage only.
   */
  tokens: Record<string, string>;
}

const KEY = "chat.session.v1";

const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === "string");

/** A stored message as this page wrote it (anything else in storage is not sent). */
export function isSavedMessage(m: unknown): m is SavedMessage {
  if (!m || typeof m !== "object") return false;
  const v = m as Partial<SavedMessage>;
  return (
    typeof v.id === "string" &&
    typeof v.room === "string" &&
    typeof v.text === "string" &&
    (v.replyTo === undefined || (typeof v.replyTo === "string" && /^\d{1,19}$/.test(v.replyTo))) &&
    (v.mentions === undefined || strings(v.mentions))
  );
}

export function loadSession(): SavedSession | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const v = JSON.parse(raw) as Partial<SavedSession>;
    const messages = (a: unknown): a is SavedMessage[] => Array.isArray(a) && a.every(isSavedMessage);
    if (typeof v.nickname !== "string" || typeof v.signedIn !== "boolean" || !strings(v.rooms) || !messages(v.pending)) return undefined;
    const tokens: Record<string, string> = {};
    if (v.tokens && typeof v.tokens === "object") for (const [room, t] of Object.entries(v.tokens)) if (typeof t === "string") tokens[room] = t;
    return { nickname: v.nickname, signedIn: v.signedIn, rooms: v.rooms, current: typeof v.current === "string" ? v.current : undefined, pending: v.pending, tokens };
  } catch {
    return undefined; // storage off (private mode) or a value from elsewhere: start afresh
  }
}

export function saveSession(session: SavedSession): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(session));
  } catch {
    // Storage full or off: the page still works, only a reload forgets.
  }
}

export function forgetSession(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing kept, nothing to forget
  }
}
