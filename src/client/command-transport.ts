/**
 * The session over OpenSession + Command, for clients that cannot stream
 * requests (a browser: plug in connect-web's createConnectTransport or
 * createGrpcWebTransport). Works over any Connect Transport, so Node can
 * run it too (tests do, over gRPC).
 *
 * One connection is one OpenSession call. Its first event is a SessionEvent
 * with the session's id; every command then goes out as one Command call
 * naming that id, one at a time and in order (the server runs a session's
 * commands in order, but separate calls could overtake each other on the
 * way). A command's answer also arrives on the event stream, which is what
 * the session reads, so the Command responses are not used. A failed Command
 * call means the connection is broken: the stream is cancelled and `events`
 * throws that failure, so the session reconnects as for any drop. finish()
 * lets the queued commands go out, then cancels the stream: there is no
 * half-close here (the session calls finish only when nothing is owed).
 *
 * Two things the server asks of such a client: every Command names its
 * session in the `chat-session-id` header too, so that a load balancer can
 * route it to the node holding the session without reading the body; and a
 * Command at least every 40 s (the server's lease: a browser cannot answer
 * HTTP/2 pings, so a session that falls silent is taken for a vanished
 * client), so when nothing else went out for `keepaliveMs` a ping does.
 */
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatService, type ChatRequest, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import type { SessionConnection, SessionTransport } from "./session-transport.js";

export interface CommandTransportOptions {
  /** Headers for every call (e.g. authorization: Bearer <jwt>). */
  headers?: Record<string, string>;
  /** Deadline of one Command call (default 30 s): a command that hangs longer breaks the connection. */
  commandTimeoutMs?: number;
  /** Send a ping when no Command went out for this long (default 15 s; the server's lease is 40 s by default). */
  keepaliveMs?: number;
}

/** The header naming the session on every Command, for load balancers (see the README, "Browser sessions across nodes"). */
export const SESSION_HEADER = "chat-session-id";

const KEEPALIVE_NONCE = "session-keepalive";

export function commandTransport(transport: Transport, options: CommandTransportOptions = {}): SessionTransport {
  const client = createClient(ChatService, transport);
  // No half-close: the session leaves its rooms before finishing, so the others see it leave.
  return { halfClose: false, open: (signal) => new CommandConnection(client, signal, options) };
}

class CommandConnection implements SessionConnection {
  readonly events: AsyncIterable<ServerEvent[]>;
  private readonly abort = new AbortController();
  private readonly queue: ChatRequest[] = [];
  private sessionId: string | undefined;
  private sending = false;
  private finishing = false;
  /** We cancelled the stream after finish(): its end is a clean one. */
  private finished = false;
  /** A Command call failed: the reason the connection is gone. */
  private failure: unknown;
  private lastCommandAt = Date.now();
  private keepalive: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly client: Client<typeof ChatService>,
    signal: AbortSignal,
    private readonly options: CommandTransportOptions,
  ) {
    if (signal.aborted) this.abort.abort();
    else signal.addEventListener("abort", () => this.abort.abort(), { once: true });
    this.events = this.read();
  }

  send(request: ChatRequest): void {
    if (this.finishing) return;
    this.queue.push(request);
    this.pump();
  }

  finish(): void {
    this.finishing = true;
    this.pump();
  }

  private async *read(): AsyncGenerator<ServerEvent[]> {
    try {
      const stream = this.client.openSession({}, { signal: this.abort.signal, headers: this.options.headers });
      for await (const frame of stream) {
        let events = frame.events;
        if (this.sessionId === undefined) {
          const first = events[0]?.event;
          if (first?.case !== "session") throw new ConnectError("the server did not start the session with its id", Code.Internal);
          this.sessionId = first.value.sessionId;
          events = events.slice(1);
          this.startKeepalive();
          this.pump();
        }
        if (events.length > 0) yield events;
      }
    } catch (err) {
      if (this.finished) return;
      throw this.failure ?? err;
    } finally {
      clearInterval(this.keepalive);
      this.abort.abort(); // stop any Command in flight
    }
  }

  private startKeepalive(): void {
    const every = this.options.keepaliveMs ?? 15_000;
    this.keepalive = setInterval(() => {
      if (!this.finishing && !this.sending && Date.now() - this.lastCommandAt >= every) {
        this.send(create(ChatRequestSchema, { command: { case: "ping", value: { nonce: KEEPALIVE_NONCE } } }));
      }
    }, Math.max(10, every / 3));
    // Node: a keepalive alone must not hold the process open (browsers have no unref).
    (this.keepalive as { unref?: () => void }).unref?.();
  }

  /** Send the next queued command once the previous one is answered. */
  private pump(): void {
    if (this.sending || this.sessionId === undefined || this.abort.signal.aborted) return;
    const request = this.queue.shift();
    if (!request) {
      if (this.finishing) {
        this.finished = true;
        this.abort.abort();
      }
      return;
    }
    this.sending = true;
    this.lastCommandAt = Date.now();
    this.client
      .command(
        { sessionId: this.sessionId, request },
        {
          signal: this.abort.signal,
          headers: { ...this.options.headers, [SESSION_HEADER]: this.sessionId },
          timeoutMs: this.options.commandTimeoutMs ?? 30_000,
        },
      )
      .then(
        () => {
          this.sending = false;
          this.pump();
        },
        (err: unknown) => {
          this.sending = false;
          if (this.abort.signal.aborted) return;
          this.failure = err;
          this.abort.abort();
        },
      );
  }
}
