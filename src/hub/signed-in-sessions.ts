/**
 * The signed-in sessions of each user on this node, by user id: who hears of
 * what concerns a user wherever their clients are (a read position moved
 * elsewhere, a mention, a direct conversation opened with them), without a
 * scan of every room's members.
 */
import type { EncodedEvent } from "../wire/encoded-event.js";

/** The signed-in sessions of each user on this node. */
export class SignedInSessions<S extends { readonly queue: { push(event: EncodedEvent): void } }> {
  private readonly byUser = new Map<string, Set<S>>();

  add(userId: string, session: S): void {
    let sessions = this.byUser.get(userId);
    if (!sessions) this.byUser.set(userId, (sessions = new Set()));
    sessions.add(session);
  }

  delete(userId: string, session: S): void {
    const sessions = this.byUser.get(userId);
    if (!sessions?.delete(session)) return;
    if (sessions.size === 0) this.byUser.delete(userId);
  }

  /** Queue the event for the user's sessions here, except `except`; how many were told. */
  push(userId: string, event: EncodedEvent, except?: S): number {
    let told = 0;
    for (const session of this.byUser.get(userId) ?? []) {
      if (session === except) continue;
      session.queue.push(event);
      told++;
    }
    return told;
  }
}
