/**
 * The DM push: when a direct-message room is created, the other user's open
 * sessions are told at once (a DirectOpenedEvent they did not ask for), on
 * every node. The hub hands the notice to `DirectNotify` (the server wires it
 * to the node bus, which calls Hub.tellDirectOpened on each node); without it
 * the other user finds the room the next time their client lists its rooms.
 * Only signed-in sessions are told: direct messages need authentication.
 */
import type { DirectNotice } from "../log/node-bus.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";

export type { DirectNotice };

/** Where the hub sends a notice (set by the server; by default nowhere). */
export type DirectNotify = (notice: DirectNotice) => void;

export const notifyNobody: DirectNotify = () => {};

/** The event a session of the other user gets. */
export const directOpenedNotice = (notice: DirectNotice): EncodedEvent => events.directOpenedEvent(notice.room, notice.from, true);
