/**
 * Writing already-encoded frames to a grpc-js server stream without the
 * per-message work of grpc-js's write path. A frame from the hub is a whole
 * encoded ChatResponse; on the wire a gRPC message is a 5-byte prefix (flag,
 * length) and those bytes. grpc-js would run each write through its object
 * stream, serialize it (a pass-through here) and copy it into a new buffer
 * behind a new prefix, once per receiver. Here the response headers are sent
 * up front, and each frame goes to the HTTP/2 stream as one buffer, prefix
 * included, made once per frame: a frame sent to a whole room (one event, the
 * same bytes for everyone) is framed once and the very same buffer is written
 * to every receiver's stream.
 *
 * grpc-js still ends the call: its status goes out as trailers after
 * everything written here (the HTTP/2 stream keeps writes in order). If the
 * call's internals are not where we expect them (a grpc-js change), this falls
 * back to grpc-js's own write path.
 */
import * as grpc from "@grpc/grpc-js";
import type { Http2Stream } from "node:http2";
import { http2StreamOf } from "./grpc-call-control.js";

type ChatCall = grpc.ServerDuplexStream<unknown, Uint8Array>;

export interface FrameWriter {
  /** False: the transport is full, wait for the drain listener. */
  write(frame: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  onDrain(listener: () => void): void;
}

/** gRPC messages by frame: a frame fanned out to many receivers is framed once. */
const framed = new WeakMap<Uint8Array, Buffer>();

function grpcMessage(frame: Uint8Array): Buffer {
  let message = framed.get(frame);
  if (!message) {
    // Unpooled: these live as long as the writes that hold them, and must not pin a pool slab.
    message = Buffer.allocUnsafeSlow(5 + frame.byteLength);
    message[0] = 0; // not compressed
    message.writeUInt32BE(frame.byteLength, 1);
    message.set(frame, 5);
    framed.set(frame, message);
  }
  return message;
}

/**
 * Classes, not objects of closures: one of these lives per open stream, and
 * prototype methods cost nothing per stream (10,000 streams: ~0.3 KiB each less).
 */
class Http2FrameWriter implements FrameWriter {
  constructor(private readonly stream: Http2Stream) {}
  write(frame: Uint8Array): boolean {
    const stream = this.stream;
    if (stream.destroyed || stream.closed || stream.writableEnded) return true; // the call is over: drop
    return stream.write(grpcMessage(frame));
  }
  cork(): void {
    this.stream.cork();
  }
  uncork(): void {
    this.stream.uncork();
  }
  onDrain(listener: () => void): void {
    this.stream.on("drain", listener);
  }
}

/** grpc-js's own write path, if its internals are not where we expect them. */
class CallFrameWriter implements FrameWriter {
  constructor(private readonly call: ChatCall) {}
  write(frame: Uint8Array): boolean {
    return this.call.write(frame);
  }
  cork(): void {}
  uncork(): void {}
  onDrain(listener: () => void): void {
    this.call.on("drain", listener);
  }
}

export function frameWriterFor(call: ChatCall): FrameWriter {
  const stream = http2StreamOf(call as grpc.ServerDuplexStream<unknown, unknown>);
  if (!stream) return new CallFrameWriter(call);
  // Headers now: from here on grpc-js only sends the trailers, after our data.
  call.sendMetadata(new grpc.Metadata());
  return new Http2FrameWriter(stream);
}
