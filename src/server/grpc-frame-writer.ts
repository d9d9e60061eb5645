/**
 * Writing already-encoded frames to a grpc-js server stream without the
 * per-message work of grpc-js's write path. A frame from the hub is a whole
 * encoded ChatResponse; on the wire a gRPC message is a 5-byte prefix (flag,
 * length) and those bytes. grpc-js would run each write through its object
 * stream, serialize it (a pass-through here) and copy it into a new buffer
 * behind a new prefix, once per receiver. Here the response headers are sent
 * up front, and each frame goes to the HTTP/2 stream as the prefix and the
 * frame itself (one writev when corked), sharing the frame's bytes across
 * receivers: a frame sent to a whole room gets its prefix made once.
 *
 * grpc-js still ends the call: its status goes out as trailers after
 * everything written here (the HTTP/2 stream keeps writes in order). If the
 * call's internals are not where we expect them (a grpc-js change), this falls
 * back to grpc-js's own write path.
 */
import * as grpc from "@grpc/grpc-js";
import { asBuffer } from "./grpc-definition.js";
import { http2StreamOf } from "./grpc-call-control.js";

type ChatCall = grpc.ServerDuplexStream<unknown, Uint8Array>;

export interface FrameWriter {
  /** False: the transport is full, wait for the drain listener. */
  write(frame: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  onDrain(listener: () => void): void;
}

/** Prefixes by frame: a frame fanned out to many receivers gets its prefix once. */
const prefixes = new WeakMap<Uint8Array, Buffer>();

function prefixFor(frame: Uint8Array): Buffer {
  let prefix = prefixes.get(frame);
  if (!prefix) {
    // Unpooled: prefixes live as long as queued frames, and must not pin a pool slab.
    prefix = Buffer.allocUnsafeSlow(5);
    prefix[0] = 0; // not compressed
    prefix.writeUInt32BE(frame.byteLength, 1);
    prefixes.set(frame, prefix);
  }
  return prefix;
}

export function frameWriterFor(call: ChatCall): FrameWriter {
  const stream = http2StreamOf(call as grpc.ServerDuplexStream<unknown, unknown>);
  if (!stream) {
    return {
      write: (frame) => call.write(frame),
      cork: () => {},
      uncork: () => {},
      onDrain: (listener) => call.on("drain", listener),
    };
  }
  // Headers now: from here on grpc-js only sends the trailers, after our data.
  call.sendMetadata(new grpc.Metadata());
  return {
    write: (frame) => {
      if (stream.destroyed || stream.closed || stream.writableEnded) return true; // the call is over: drop
      stream.write(prefixFor(frame));
      return stream.write(asBuffer(frame));
    },
    cork: () => stream.cork(),
    uncork: () => stream.uncork(),
    onDrain: (listener) => stream.on("drain", listener),
  };
}
