/**
 * Why the hub ended a session. Each reason says whether the client should
 * reconnect; the transport maps the kind to its own status code.
 */
export type DisconnectKind =
  /** The client half-closed and everything owed to it was sent: a clean end. */
  | "finished"
  /** The client went away (cancel, closed connection); nothing can be sent. */
  | "client-gone"
  /** The client did not read fast enough; its queue overflowed. */
  | "too-slow"
  /** The hub is at its session limit. */
  | "server-full"
  /** The client kept sending over its rate limit. */
  | "rate-limited"
  /** The client kept sending requests that could not be decoded. */
  | "malformed"
  /** The room log lost a room's history (e.g. Redis restarted empty): rejoin to learn the new epoch. */
  | "history-reset"
  /** The server is shutting down. */
  | "shutdown"
  /** The client's credentials expired or were refused. */
  | "unauthenticated"
  /** The admin API ended every session of this user (DisconnectUser). */
  | "disconnected-by-admin"
  /** The server hit a bug handling this stream. */
  | "internal";

export interface DisconnectReason {
  kind: DisconnectKind;
  message: string;
  reconnect: boolean;
}

export const Disconnect = {
  finished: (): DisconnectReason => ({ kind: "finished", message: "stream finished", reconnect: false }),
  clientGone: (): DisconnectReason => ({ kind: "client-gone", message: "client went away", reconnect: true }),
  tooSlow: (detail: string): DisconnectReason => ({
    kind: "too-slow",
    message: `client too slow: ${detail}; disconnected so the others are not delayed`,
    reconnect: true,
  }),
  serverFull: (limit: number): DisconnectReason => ({
    kind: "server-full",
    message: `server is at its limit of ${limit} concurrent streams; retry later`,
    reconnect: true,
  }),
  rateLimited: (limit: number): DisconnectReason => ({
    kind: "rate-limited",
    message: `kept sending over the rate limit of ${limit} commands per second`,
    reconnect: true,
  }),
  malformed: (limit: number): DisconnectReason => ({
    kind: "malformed",
    message: `sent more than ${limit} undecodable requests in a row`,
    reconnect: false,
  }),
  historyReset: (room: string): DisconnectReason => ({
    kind: "history-reset",
    message: `the history of room ${room} was reset on the server; reconnect and rejoin to resume`,
    reconnect: true,
  }),
  shutdown: (): DisconnectReason => ({ kind: "shutdown", message: "server is shutting down", reconnect: true }),
  unauthenticated: (why: string): DisconnectReason => ({ kind: "unauthenticated", message: why, reconnect: false }),
  byAdmin: (reason: string): DisconnectReason => ({
    kind: "disconnected-by-admin",
    message: `disconnected by the server's administrator${reason ? `: ${reason}` : ""}`,
    reconnect: false,
  }),
  internal: (): DisconnectReason => ({ kind: "internal", message: "internal server error", reconnect: true }),
};
