/**
 * Encode-once helpers. An event is encoded a single time as an element of
 * ChatResponse.events (field tag + length + ServerEvent bytes), and those
 * same bytes go to every receiver. Concatenating such elements is a valid
 * encoding of a ChatResponse carrying all of them, so batching several events
 * into one frame re-encodes nothing.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { ServerEventSchema, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import { varintSize, writeVarint } from "./varint.js";

/** ChatResponse.events is field 1, wire type 2 (length-delimited). */
const EVENTS_TAG = (1 << 3) | 2;

/** One encoded ServerEvent, ready to be concatenated into a ChatResponse frame. */
export type EncodedEvent = Uint8Array;

export type ServerEventInit = ServerEvent["event"];

export function encodeEvent(event: ServerEventInit): EncodedEvent {
  const body = toBinary(ServerEventSchema, create(ServerEventSchema, { event }));
  return wrapEventBytes(body);
}

/** Prefix raw ServerEvent bytes with the ChatResponse.events tag and length. */
export function wrapEventBytes(body: Uint8Array): EncodedEvent {
  // Unpooled on purpose: a queued slice of Node's shared pool would pin a whole 8 KiB slab.
  const out = new Uint8Array(1 + varintSize(body.length) + body.length);
  out[0] = EVENTS_TAG;
  out.set(body, writeVarint(out, 1, body.length));
  return out;
}

/** Join events[start, end) into one ChatResponse frame of `bytes` bytes. */
export function joinFrame(events: EncodedEvent[], start: number, end: number, bytes: number): Uint8Array {
  if (end - start === 1) return events[start];
  const frame = new Uint8Array(bytes);
  let offset = 0;
  for (let i = start; i < end; i++) {
    frame.set(events[i], offset);
    offset += events[i].length;
  }
  return frame;
}
