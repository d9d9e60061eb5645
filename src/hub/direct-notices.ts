/**
 * The DM push: when a direct-message room is created, the other user's open
 * sessions are told at once (a DirectOpenedEvent they did not ask for), on
 * every node. The hub hands the notice to `DirectNotify` (the server wires it
 * to the node bus, which calls `tellDirectOpened` on each node); without it
 * the other user finds the room the next time their client lists its rooms.
 */
import type { DirectNotice } from "../log/node-bus.js";
import * as events from "../wire/events.js";
import type { Session } from "./session.js";

/** Where the hub sends a notice (set by the server; by default nowhere). */
export type DirectNotify = (notice: DirectNotice) => void;

export const notifyNobody: DirectNotify = () => {};

/**
 * Queue the notice for each of `sessions` signed in as its user (a session
 * without authentication is never told: direct messages need it). Returns
 * how many were told.
 */
export function tellDirectOpened(sessions: Iterable<{ session: Session }>, notice: DirectNotice): number {
  const event = events.directOpenedEvent(notice.room, notice.from, true);
  let told = 0;
  for (const { session } of sessions) {
    if (session.isEnded || session.identity?.subject !== notice.to) continue;
    session.queue.push(event);
    told++;
  }
  return told;
}
