/**
 * Ending a grpc-js server stream with a status. The public path (emit
 * "error") queues the status behind every pending write, and a client that
 * stopped reading never lets those flush: its memory would stay pinned. So
 * after a grace period we reset the HTTP/2 stream, which grpc-js offers no
 * public call for; we reach its stream through the call chain and fall back
 * to doing nothing if its internals ever change (the stalled-client test
 * would then fail).
 */
import * as http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";

export interface CallStatus {
  code: grpc.status;
  details: string;
}

/**
 * End the call with `status`; if its HTTP/2 stream is still open after
 * `graceMs`, reset it. The call object may look finished long before that:
 * the peer can keep its half of the stream open (a client still "sending"),
 * which would hold the connection, and a graceful shutdown, forever; and a
 * peer that stopped reading never lets the trailers through (they queue
 * behind the data its flow-control window refuses).
 *
 * The reset's code is chosen so that gRPC clients still learn the status
 * class (PROTOCOL-HTTP2.md maps RST_STREAM codes to statuses): ENHANCE_YOUR_CALM
 * reads as RESOURCE_EXHAUSTED, REFUSED_STREAM as UNAVAILABLE, CANCEL as CANCELLED.
 */
export function endCall(call: grpc.ServerDuplexStream<unknown, unknown>, status: CallStatus, graceMs: number): void {
  call.emit("error", status);
  if (graceMs < 0) return;
  setTimeout(() => resetStream(call, resetCodeFor(status.code)), graceMs).unref();
}

function resetCodeFor(code: grpc.status): number {
  switch (code) {
    case 8: // RESOURCE_EXHAUSTED
      return http2.constants.NGHTTP2_ENHANCE_YOUR_CALM;
    default:
      return http2.constants.NGHTTP2_CANCEL;
  }
}

/**
 * Walk grpc-js's chain of call objects (interceptors wrap the one that owns
 * the HTTP/2 stream) and return the first link where `pick` finds something.
 */
function findInCallChain<T>(call: grpc.ServerDuplexStream<unknown, unknown>, pick: (link: Record<string, unknown>) => T | undefined): T | undefined {
  let link = (call as unknown as { call?: Record<string, unknown> }).call;
  for (let depth = 0; link && depth < 8; depth++) {
    const found = pick(link);
    if (found !== undefined) return found;
    link = link.nextCall as Record<string, unknown> | undefined;
  }
  return undefined;
}

/** The HTTP/2 stream under a grpc-js call, if its internals are where we expect them. */
export function http2StreamOf(call: grpc.ServerDuplexStream<unknown, unknown>): http2.ServerHttp2Stream | undefined {
  return findInCallChain(call, (link) => {
    const s = link.stream as http2.ServerHttp2Stream | undefined;
    return s && typeof s.close === "function" && typeof s.write === "function" ? s : undefined;
  });
}

/** Reset the call's HTTP/2 stream, freeing whatever is still queued for it. */
export function resetStream(call: grpc.ServerDuplexStream<unknown, unknown>, code: number = http2.constants.NGHTTP2_CANCEL): boolean {
  const stream = http2StreamOf(call);
  if (!stream) return false;
  if (!stream.closed && !stream.destroyed) stream.close(code);
  return true;
}

/**
 * True when the client ended its side in the middle of a gRPC message (a
 * truncated frame). grpc-js reports that as a clean half-close and drops the
 * partial bytes; we look at its decoder so the client is told, not sent OK.
 */
export function endedInsideMessage(call: grpc.ServerDuplexStream<unknown, unknown>): boolean {
  const readState = findInCallChain(call, (link) => {
    const state = (link.decoder as { readState?: unknown } | undefined)?.readState;
    return typeof state === "number" ? state : undefined;
  });
  return readState !== undefined && readState !== 0; // 0: between messages
}
