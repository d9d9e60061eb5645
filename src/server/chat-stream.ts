/**
 * The Chat bidi stream on grpc-js: decoded requests go to a hub Session, the
 * session's frames come back as writes, and the session's end reason becomes
 * the call's status. Nothing here knows about rooms.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ChatRequest } from "../../gen/chat/v1/chat_pb.js";
import { Disconnect, type DisconnectReason } from "../hub/disconnect.js";
import type { Hub } from "../hub/hub.js";
import { Session, type SessionTransport } from "../hub/session.js";
import { AuthError, type Authenticator, type Identity } from "./auth.js";
import { endCall, endedInsideMessage } from "./grpc-call-control.js";
import { disconnectCode } from "./disconnect-status.js";
import { MalformedRequest } from "./grpc-definition.js";
import { frameWriterFor, type FrameWriter } from "./grpc-frame-writer.js";

/** How long after the request side ends a reset still counts as a cancel (see the "end" handler). */
const HALF_CLOSE_GRACE_MS = 50;

/** setTimeout cannot wait longer than this; a token valid for longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ChatStreamOptions {
  hub: Hub;
  log: Logger;
  /** How long a dropped stream's pending writes may take to flush before it is reset. */
  resetGraceMs: number;
  /** When set, every stream must carry a valid bearer token. */
  authenticate?: Authenticator;
}

type ChatCall = grpc.ServerDuplexStream<unknown, Uint8Array>;

export function chatStreamHandler(options: ChatStreamOptions) {
  const { authenticate, resetGraceMs, log } = options;
  return (call: ChatCall): void => {
    if (!authenticate) return serve(call, options, undefined);
    authenticate(call.metadata.get("authorization")[0] as string | undefined).then(
      (identity) => {
        if (!call.cancelled) serve(call, options, identity);
      },
      (err) => {
        const details = err instanceof AuthError ? err.message : "authentication failed";
        log.info({ peer: call.getPeer(), reason: details }, "stream refused: unauthenticated");
        endCall(call, { code: grpc.status.UNAUTHENTICATED, details }, resetGraceMs);
      },
    );
  };
}

/** The session's transport: writes go to the stream's frame writer; the end becomes the call's status. */
class CallTransport implements SessionTransport {
  ended = false;
  expiry: NodeJS.Timeout | undefined;
  session: Session | undefined;

  constructor(
    private readonly call: ChatCall,
    private readonly writer: FrameWriter,
    private readonly log: Logger,
    readonly peer: string,
    private readonly resetGraceMs: number,
  ) {}

  write(frame: Uint8Array): boolean {
    return this.writer.write(frame);
  }
  cork(): void {
    this.writer.cork();
  }
  uncork(): void {
    this.writer.uncork();
  }
  onDrain(listener: () => void): void {
    this.writer.onDrain(listener);
  }
  /** The hub ends the session. */
  end(reason: DisconnectReason): void {
    this.logClosed(reason.kind, reason.message);
    this.close(reason);
  }
  /** End the call with the reason's status (once). */
  close(reason: DisconnectReason): void {
    if (!this.markEnded()) return;
    const code = disconnectCode(reason);
    if (code === "ok") this.call.end();
    else endCall(this.call, { code: code as number as grpc.status, details: reason.message }, this.resetGraceMs);
  }
  /** The client went away (cancelled, closed, errored) before the hub ended the session. */
  clientGone(): void {
    if (this.markEnded()) this.logClosed("client-gone");
    this.session?.transportClosed();
  }
  /** Whether this call just ended (false: it had already). */
  private markEnded(): boolean {
    if (this.ended) return false;
    this.ended = true;
    clearTimeout(this.expiry);
    return true;
  }
  private logClosed(reason: string, detail?: string): void {
    const who = this.session ? { session: this.session.id, rooms: this.session.describeRooms() } : {};
    this.log.info({ peer: this.peer, ...who, reason, ...(detail === undefined ? {} : { detail }) }, "stream closed");
  }
}

function serve(call: ChatCall, { hub, log, resetGraceMs }: ChatStreamOptions, identity: Identity | undefined): void {
  const peer = call.getPeer();
  const transport = new CallTransport(call, frameWriterFor(call), log, peer, resetGraceMs);
  const opened = hub.openSession(transport, identity);
  if (!(opened instanceof Session)) {
    log.warn({ peer, reason: opened.kind }, "stream refused");
    transport.close(opened);
    return;
  }
  const session = (transport.session = opened);
  log.info({ peer, session: session.id, identity: identity?.subject }, "stream opened");
  if (identity?.expiresAtMs !== undefined) {
    const delay = identity.expiresAtMs - Date.now();
    if (delay < MAX_TIMER_MS) {
      transport.expiry = setTimeout(() => session.abort(Disconnect.unauthenticated("token expired")), Math.max(0, delay));
      transport.expiry.unref();
    }
  }
  transport.onDrain(() => session.queue.drained());
  call.on("data", (req: ChatRequest | MalformedRequest) => {
    try {
      if (req instanceof MalformedRequest) session.handleMalformed(req.reason);
      else session.handle(req);
    } catch (err) {
      // A bug, not bad input: log it, tell the client only that it was internal.
      log.error({ err, session: session.id }, "command failed");
      session.abort(Disconnect.internal());
    }
  });
  call.on("end", () => {
    if (endedInsideMessage(call)) {
      session.abort({ kind: "internal", message: "request stream ended inside a message (truncated gRPC frame)", reconnect: false });
    } else {
      // A cancel reaches us as the end of the request side followed, a moment
      // later, by the reset (grpc-js and connect-es clients both do this).
      // Wait briefly so a cancel is not taken for a clean end, whose members
      // are reported as having left rather than disconnected.
      setTimeout(() => {
        if (!transport.ended && !call.cancelled) session.endInput();
      }, HALF_CLOSE_GRACE_MS);
    }
  });
  // One handler for the three ways a call goes (a closure each would cost every stream).
  const gone = (err?: unknown) => {
    if (err instanceof Error) log.debug({ err, session: session.id }, "stream error"); // "cancelled" brings a string
    transport.clientGone();
  };
  call.on("cancelled", gone);
  call.on("close", gone);
  call.on("error", gone);
}
