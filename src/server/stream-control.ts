/**
 * What a Connect handler may need of the HTTP exchange under it, which
 * connect-node does not expose: the HTTP version (the bidi Chat needs HTTP/2),
 * the peer for logs, and a way to reset a stream whose client stopped
 * reading (its end-of-stream waits behind data the client will never take,
 * so only a reset frees it). Set per request through connect-node's
 * contextValues.
 */
import type * as http from "node:http";
import * as http2 from "node:http2";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";

type NodeServerRequest = http.IncomingMessage | http2.Http2ServerRequest;

export interface StreamControl {
  readonly httpVersion: string;
  readonly peer: string;
  /** Reset the HTTP/2 stream with this code, or close the HTTP/1.1 connection (which carries only this exchange). */
  reset(code?: number): void;
}

export const streamControlKey = createContextKey<StreamControl | undefined>(undefined, { description: "the HTTP exchange under a call" });

export function streamControlValues(req: NodeServerRequest): ContextValues {
  const socket = req.socket;
  const control: StreamControl = {
    httpVersion: req.httpVersion,
    peer: `${socket?.remoteAddress}:${socket?.remotePort}`,
    reset: (code = http2.constants.NGHTTP2_CANCEL) => {
      if ("stream" in req) {
        if (!req.stream.closed && !req.stream.destroyed) req.stream.close(code);
      } else {
        socket?.destroy();
      }
    },
  };
  return createContextValues().set(streamControlKey, control);
}
