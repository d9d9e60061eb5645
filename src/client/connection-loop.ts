/**
 * Keeping one connection to the server open, over any SessionTransport: open
 * it, read its frames, ping it when quiet and drop it when it stays silent (a
 * dead link sends no error), and when it fails, wait (exponential backoff,
 * full jitter) and open another, until the session is done or the failures
 * in a row pass the limit. Over several servers (failover.ts) each failure
 * moves on to the next: every server is tried once before giving up on a
 * first connection, and the backoff grows only with each full round. What to send on a new connection and what the
 * frames mean is the session's business (chat-session.ts), through LoopHost.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { ChatRequestSchema, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import { backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
import { describeError, isRetryable } from "./errors.js";
import type { SessionConnection, SessionTransport } from "./session-transport.js";
import { unref } from "./typing.js";

/** How the session ended: cleanly (finished, or stopped by us) or by giving up. */
export type SessionEnd = { ok: true } | { ok: false; message: string };

export interface LoopOptions {
  transport: SessionTransport;
  /** Server address, only for messages (a transport that names its current server wins). */
  server: string;
  /** Consecutive failed reconnect attempts before giving up (default: unlimited). */
  maxRetries?: number;
  backoff?: BackoffPolicy;
  /** Ping the server after this much silence (default 15 s). */
  pingIntervalMs?: number;
  /** Treat the connection as dead after this much silence (default 45 s). */
  idleTimeoutMs?: number;
  random?: () => number;
}

export interface Disconnected {
  reason: string;
  /** The server had announced its shutdown (a ShutdownEvent) before the connection ended. */
  shutdown: boolean;
}

export interface Reconnecting {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  /** Why the previous attempt (or the connection) failed, in plain words. */
  reason: string;
  maxRetries: number;
}

/** What the loop needs from the session. */
export interface LoopHost {
  /** Stop for good (the user aborted). */
  readonly stopped: boolean;
  /** Finishing, and nothing is owed: no reason to (re)connect. */
  readonly done: boolean;
  opened(conn: Connection): void;
  frame(conn: Connection, events: ServerEvent[]): void;
  closed(conn: Connection): void;
  connected(info: { reconnect: boolean; attempts: number; server: string }): void;
  disconnected(info: Disconnected): void;
  reconnecting(info: Reconnecting): void;
}

const KEEPALIVE_NONCE = "client-keepalive";

/** One connection attempt. */
export class Connection {
  readonly abort = new AbortController();
  readonly link: SessionConnection;
  /** A frame arrived on it. */
  established = false;
  lastReceivedAt = Date.now();
  /** We called finish() on it and expect a clean end. */
  finished = false;
  /** The server announced it is shutting down. */
  shutdown = false;
  /** Set when we drop the connection ourselves because it went silent. */
  dropReason: string | undefined;

  constructor(
    readonly generation: number,
    transport: SessionTransport,
  ) {
    this.link = transport.open(this.abort.signal);
  }

  /** `requestId`: echoed by an ErrorEvent that refuses this command, to tell which one it was. */
  send(command: MessageInitShape<typeof ChatRequestSchema>["command"], requestId = ""): void {
    if (this.finished || this.abort.signal.aborted) return;
    this.link.send(create(ChatRequestSchema, { command, requestId }));
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.link.finish();
  }
}

/** A listener threw while handling an event: a bug in the caller, not a connection problem. */
export class ListenerError extends Error {
  constructor(readonly original: unknown) {
    super("event listener failed");
  }
}

export class ConnectionLoop {
  current: Connection | undefined;
  private readonly maxRetries: number;
  private readonly backoff: BackoffPolicy;
  private readonly pingIntervalMs: number;
  private readonly idleTimeoutMs: number;
  private readonly random: () => number;
  private generation = 0;
  private everConnected = false;
  /** Consecutive failed attempts since the last established connection. */
  private failures = 0;
  private wakeSleep: (() => void) | undefined;

  constructor(
    private readonly options: LoopOptions,
    private readonly host: LoopHost,
  ) {
    this.maxRetries = options.maxRetries ?? Infinity;
    this.backoff = options.backoff ?? defaultBackoff;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    this.random = options.random ?? Math.random;
  }

  get connected(): boolean {
    return this.current?.established ?? false;
  }

  /** Cut a wait between attempts short (finishing or stopping). */
  wake(): void {
    this.wakeSleep?.();
  }

  /** Where the next connection goes: the caller's name for it, unless the transport moves between several. */
  get server(): string {
    const { transport } = this.options;
    return (transport.serverCount ?? 1) > 1 && transport.server ? transport.server : this.options.server;
  }

  async run(): Promise<SessionEnd> {
    const servers = Math.max(1, this.options.transport.serverCount ?? 1);
    /** Why each server failed, while no connection was ever made. */
    const firstFailures: string[] = [];
    for (;;) {
      if (this.host.stopped) return { ok: true };
      if (this.host.done && this.generation > 0) return { ok: true };
      const server = this.server;
      const conn = new Connection(++this.generation, this.options.transport);
      this.current = conn;
      const watchdog = setInterval(() => this.checkLiveness(conn), Math.max(10, Math.min(this.pingIntervalMs, this.idleTimeoutMs) / 2));
      unref(watchdog);
      let reason: string;
      let retryable: boolean;
      try {
        this.host.opened(conn);
        for await (const events of conn.link.events) {
          if (this.current !== conn) break;
          conn.lastReceivedAt = Date.now();
          try {
            if (!conn.established) this.established(conn);
            this.host.frame(conn, events);
          } catch (err) {
            throw new ListenerError(err);
          }
        }
        if (conn.finished) return { ok: true };
        // The server only ends cleanly after our finish; anything else is a drop.
        reason = conn.shutdown ? `server ${server} is shutting down` : "the server ended the session";
        retryable = true;
      } catch (err) {
        if (err instanceof ListenerError) throw err;
        if (conn.dropReason) {
          reason = conn.dropReason;
          retryable = true;
        } else if (this.host.stopped) {
          return { ok: true };
        } else {
          retryable = isRetryable(ConnectError.from(err).code);
          // A notice followed by a final status (the service disconnected this user) is told by the status.
          reason = conn.shutdown && retryable ? `server ${server} is shutting down` : describeError(err, server);
        }
      } finally {
        clearInterval(watchdog);
        conn.abort.abort();
        if (this.current === conn) this.current = undefined;
        this.host.closed(conn);
      }

      // Never connected: fail fast once every server has been tried, a wrong address should not look like a hang.
      if (!this.everConnected) {
        firstFailures.push(reason);
        if (firstFailures.length >= servers || !retryable) return { ok: false, message: firstFailures.join("; ") };
        continue;
      }
      if (!retryable) return { ok: false, message: `connection lost: ${reason}` };
      if (this.host.done || this.host.stopped) return { ok: true };
      if (conn.established) this.host.disconnected({ reason, shutdown: conn.shutdown });
      this.failures++;
      if (this.failures > this.maxRetries) {
        const gaveUp = this.maxRetries === 0 ? "not reconnecting (max retries is 0)" : `gave up after ${this.maxRetries} reconnect attempts`;
        return { ok: false, message: `connection lost: ${reason}; ${gaveUp}` };
      }
      // With several servers, the next one is tried at once (with jitter); the wait grows per round.
      const delayMs = backoffDelay(Math.ceil(this.failures / servers), this.backoff, this.random);
      this.host.reconnecting({ attempt: this.failures, delayMs, reason, maxRetries: this.maxRetries });
      await this.sleep(delayMs);
    }
  }

  private established(conn: Connection): void {
    conn.established = true;
    const attempts = this.failures;
    this.failures = 0;
    const reconnect = this.everConnected;
    this.everConnected = true;
    this.host.connected({ reconnect, attempts, server: this.server });
  }

  /** Ping when quiet; drop the connection when the server stays silent. */
  private checkLiveness(conn: Connection): void {
    if (this.current !== conn) return;
    const silentMs = Date.now() - conn.lastReceivedAt;
    if (silentMs >= this.idleTimeoutMs) {
      conn.dropReason = `no response from server ${this.server} for ${Math.round(silentMs / 1000)} s`;
      // Before the abort: a failover transport still points at this connection's server.
      this.options.transport.abandon?.();
      conn.abort.abort();
    } else if (silentMs >= this.pingIntervalMs) {
      conn.send({ case: "ping", value: { nonce: KEEPALIVE_NONCE } });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleep = done;
    });
  }
}
