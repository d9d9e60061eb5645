/**
 * The ChatService for connect-node, registered once on a Connect router: the
 * HTTP port serves it over the Connect protocol, gRPC-Web and gRPC. Each RPC
 * is the same hub call as on the grpc-js port (the queries, the session
 * registry, hub sessions for the streams); this file only adapts them to
 * Connect's handler contract.
 *
 * Streams: a hub session writes encoded frames; a Connect handler yields
 * messages, so each frame is decoded once here for connect-node to encode
 * again (the price of serving browsers through the Connect runtime). The
 * frames reach the handler through a FrameChannel, which turns connect-node's
 * pull-after-drain into the session queue's back-pressure.
 */
import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ChatResponseSchema, ChatService, CommandResponseSchema, OpenSessionResponseSchema, type ChatRequest } from "../../gen/chat/v1/chat_pb.js";
import { Disconnect } from "../hub/disconnect.js";
import type { Hub } from "../hub/hub.js";
import { Session } from "../hub/session.js";
import type { Authenticator } from "./auth.js";
import { authenticateCall } from "./call-auth.js";
import { chatQueries } from "./chat-queries.js";
import { disconnectError } from "./disconnect-status.js";
import { FrameChannel } from "./frame-channel.js";
import type { OpenedSession, SessionRegistry } from "./session-registry.js";
import { streamControlKey, type StreamControl } from "./stream-control.js";

export interface ChatRoutesOptions {
  hub: Hub;
  registry: SessionRegistry;
  log: Logger;
  authenticate?: Authenticator;
  /** How long an ended stream may take to deliver its status before it is reset. */
  resetGraceMs: number;
  /** Frame bytes waiting for the HTTP response at most before the session queue holds the rest. */
  highWaterBytes: number;
}

/** How long after the request side ends a reset still counts as a cancel (as on the grpc-js port). */
const HALF_CLOSE_GRACE_MS = 50;

export function chatRoutes(options: ChatRoutesOptions): (router: ConnectRouter) => void {
  const { hub, registry, authenticate } = options;
  const queries = chatQueries(hub);
  const identify = (ctx: HandlerContext) => authenticateCall(authenticate, ctx.requestHeader.get("authorization") ?? undefined);
  return (router) => {
    router.service(ChatService, {
      async listRooms(req, ctx) {
        return queries.listRooms(req, await identify(ctx));
      },
      async listMembers(req, ctx) {
        return queries.listMembers(req, await identify(ctx));
      },
      async getHistory(req, ctx) {
        return queries.getHistory(req, await identify(ctx));
      },
      async command(req, ctx) {
        const identity = await identify(ctx);
        return fromBinary(CommandResponseSchema, await registry.commandBytes(req, identity));
      },
      async *openSession(_req, ctx) {
        const identity = await identify(ctx);
        const control = ctx.values.get(streamControlKey);
        const stream = new SessionStream(options, ctx, control);
        const opened = registry.open(stream.sink, identity, control?.peer ?? "unknown");
        if (!("id" in opened)) throw disconnectError(opened) ?? new ConnectError("session refused", Code.Unavailable);
        yield* stream.frames(opened, (frame) => fromBinary(OpenSessionResponseSchema, frame));
      },
      async *chat(requests, ctx) {
        // Reached over HTTP/2 only: the gateway answers a bidi call over HTTP/1.1 itself (UNIMPLEMENTED).
        const identity = await identify(ctx);
        const control = ctx.values.get(streamControlKey);
        const stream = new SessionStream(options, ctx, control);
        const opened = hub.openSession({ write: stream.sink.write, end: (reason) => stream.sink.end(disconnectError(reason)) }, identity);
        if (!(opened instanceof Session)) throw disconnectError(opened) ?? new ConnectError("stream refused", Code.Unavailable);
        const session = opened;
        void readRequests(requests, session, ctx, options.log);
        const handle: OpenedSession = { id: "", session, drained: () => session.queue.drained(), close: () => session.transportClosed() };
        yield* stream.frames(handle, (frame) => fromBinary(ChatResponseSchema, frame));
      },
    });
  };
}

/** One hub session's frames as a Connect response stream. */
class SessionStream {
  private readonly channel: FrameChannel;
  private opened: OpenedSession | undefined;
  private finished = false;

  constructor(
    private readonly options: ChatRoutesOptions,
    private readonly ctx: HandlerContext,
    private readonly control: StreamControl | undefined,
  ) {
    this.channel = new FrameChannel(options.highWaterBytes, () => this.opened?.drained());
  }

  readonly sink = {
    write: (frame: Uint8Array): boolean => this.channel.write(frame),
    end: (error: ConnectError | undefined): void => {
      this.channel.end(error);
      if (!error) return;
      // A client that stopped reading never pulls the end: reset its stream after a grace period.
      const code = error.code === Code.ResourceExhausted ? http2.constants.NGHTTP2_ENHANCE_YOUR_CALM : http2.constants.NGHTTP2_CANCEL;
      setTimeout(() => {
        if (!this.finished && !this.ctx.signal.aborted) this.control?.reset(code);
      }, this.options.resetGraceMs).unref();
    },
  };

  async *frames<T>(opened: OpenedSession, decode: (frame: Uint8Array) => T): AsyncGenerator<T> {
    this.opened = opened;
    const gone = () => {
      this.channel.close();
      opened.close();
    };
    if (this.ctx.signal.aborted) gone();
    this.ctx.signal.addEventListener("abort", gone, { once: true });
    try {
      for await (const frame of this.channel) yield decode(frame);
    } finally {
      this.finished = true;
      this.ctx.signal.removeEventListener("abort", gone);
      // However the response ended (a write failed, connect-node returned the generator), the session ends with it.
      opened.close();
    }
  }
}

/** The request side of a bidi Chat: each request to the session; a clean end is a half-close. */
async function readRequests(requests: AsyncIterable<ChatRequest>, session: Session, ctx: HandlerContext, log: Logger): Promise<void> {
  try {
    for await (const req of requests) {
      try {
        session.handle(req);
      } catch (err) {
        log.error({ err, session: session.id }, "command failed");
        session.abort(Disconnect.internal());
        return;
      }
    }
    // A cancel can look like a clean end followed by the reset: wait a moment before calling it a half-close.
    setTimeout(() => {
      if (!ctx.signal.aborted) session.endInput();
    }, HALF_CLOSE_GRACE_MS).unref();
  } catch (err) {
    if (ctx.signal.aborted) return;
    const e = ConnectError.from(err);
    session.abort({ kind: "malformed", message: `request stream failed: ${e.rawMessage}`, reconnect: false });
  }
}
