/**
 * How a ChatSession talks to the server, whatever carries it. The server
 * offers two shapes of the same session:
 *
 * - `Chat`, one bidirectional stream (native gRPC over HTTP/2: the terminal
 *   client, chat-stream-transport.ts);
 * - `OpenSession` (a server stream of events) plus one unary `Command` call
 *   per command, for clients that cannot stream requests (browsers over the
 *   Connect protocol or gRPC-Web: command-transport.ts).
 *
 * Both fit one connection contract: events come in frames, in order;
 * commands go out in order; finishing lets the server end the session
 * cleanly. Everything else (acknowledgements, resume, resends, reconnecting)
 * is the session's, the same over either.
 */
import type { ChatRequest, ServerEvent } from "../../gen/chat/v1/chat_pb.js";

export interface SessionTransport {
  /**
   * Whether finish() ends the server's session cleanly (a half-close, which
   * the others see as LEAVE_REASON_LEFT). When it cannot (OpenSession is
   * ended by cancelling it), the session leaves every room before finishing.
   */
  readonly halfClose: boolean;
  /** Where the next connection goes, for messages (a failover transport changes it after a failure). */
  readonly server?: string;
  /** How many servers it tries in turn (failover.ts); 1 when absent. */
  readonly serverCount?: number;
  /**
   * Open one connection (a session on the server). Aborting `signal` tears it
   * down: `events` then throws. Never throws itself: a failure to connect
   * surfaces through `events`.
   */
  open(signal: AbortSignal): SessionConnection;
  /**
   * The connection went silent (the session's watchdog gave up on it): drop
   * whatever the transport keeps open to that server (an HTTP/2 connection
   * other calls would share), so the next open does not go down the same dead
   * path. Optional: a browser's fetch manages its own connections.
   */
  abandon?(): void;
}

export interface SessionConnection {
  /**
   * The server's events, a frame at a time (the server batches what is
   * queued), oldest first. Ends normally only when the server ended the
   * session cleanly after finish(); throws (a ConnectError, or what the
   * transport threw) when the connection fails or the server ends the
   * session with a status.
   */
  readonly events: AsyncIterable<ServerEvent[]>;
  /** Send one command. Commands reach the server in the order sent. Ignored after finish(). */
  send(request: ChatRequest): void;
  /**
   * No more commands. The server answers those already sent, then the
   * connection ends cleanly (`events` ends). The session calls it only when
   * nothing is owed (every message acknowledged, every join answered).
   */
  finish(): void;
}
