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

/**
 * The last few frames joined. In a busy room every receiver flushes the same
 * run of events in the same turn: they share one frame (and so one gRPC
 * framing of it) instead of a copy each. A fixed handful, so a frame is kept
 * no longer than a few joins more.
 */
const JOINED_KEPT = 8;
const joinedRuns: (EncodedEvent[] | undefined)[] = new Array(JOINED_KEPT);
const joinedFrames: (Uint8Array | undefined)[] = new Array(JOINED_KEPT);
let joinedNext = 0;

/** Join events[start, end) into one ChatResponse frame of `bytes` bytes. Frames are shared: never write into one. */
export function joinFrame(events: EncodedEvent[], start: number, end: number, bytes: number): Uint8Array {
  if (end - start === 1) return events[start];
  for (let k = 0; k < JOINED_KEPT; k++) {
    const run = joinedRuns[k];
    if (run && sameRun(run, events, start, end)) return joinedFrames[k]!;
  }
  const frame = new Uint8Array(bytes);
  let offset = 0;
  for (let i = start; i < end; i++) {
    frame.set(events[i], offset);
    offset += events[i].length;
  }
  joinedRuns[joinedNext] = events.slice(start, end);
  joinedFrames[joinedNext] = frame;
  joinedNext = (joinedNext + 1) % JOINED_KEPT;
  return frame;
}

function sameRun(run: EncodedEvent[], events: EncodedEvent[], start: number, end: number): boolean {
  if (run.length !== end - start || run[0] !== events[start]) return false;
  for (let i = 1; i < run.length; i++) if (run[i] !== events[start + i]) return false;
  return true;
}
