import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChatResponseSchema, ServerEventSchema } from "../../gen/chat/v1/chat_pb.js";
import type { StoredMessage } from "../store/history-store.js";
import { encodeMessageEvent } from "./message-codec.js";
import { wrapEventBytes } from "./wire.js";

function reference(m: StoredMessage): Uint8Array {
  const event = create(ServerEventSchema, {
    event: {
      case: "message",
      value: {
        room: m.room,
        seq: BigInt(m.seq),
        sender: m.sender,
        text: m.text,
        sentAt: timestampFromMs(m.sentAtMs),
        clientMsgId: m.clientMsgId,
      },
    },
  });
  return wrapEventBytes(toBinary(ServerEventSchema, event));
}

const base: StoredMessage = { room: "lobby", seq: 1, sender: "alice", text: "hi", sentAtMs: 1_795_000_000_123, clientMsgId: "c-1" };

describe("the hand-written message encoder", () => {
  it.each<[string, Partial<StoredMessage>]>([
    ["a plain message", {}],
    ["empty client id", { clientMsgId: "" }],
    ["a whole second (no nanos)", { sentAtMs: 1_795_000_000_000 }],
    ["non-ASCII text and names", { text: "héllo wörld 😀 ".repeat(30), sender: "zoë", room: "café" }],
    ["a 4096-byte text (multi-byte lengths)", { text: "x".repeat(4096) }],
    ["large sequence numbers", { seq: 2 ** 40 + 17 }],
    ["seq just past one varint byte", { seq: 128 }],
  ])("writes the same bytes as protobuf-es for %s", (_name, patch) => {
    const m = { ...base, ...patch };
    expect(Buffer.from(encodeMessageEvent(m))).toEqual(Buffer.from(reference(m)));
  });

  it("concatenated encodings decode as one ChatResponse with every event in order", () => {
    const msgs = Array.from({ length: 5 }, (_, i) => ({ ...base, seq: i + 1, text: `m${i}` }));
    const frame = Buffer.concat(msgs.map(encodeMessageEvent));
    const decoded = fromBinary(ChatResponseSchema, frame);
    expect(decoded.events.map((e) => (e.event.case === "message" ? e.event.value.text : ""))).toEqual(msgs.map((m) => m.text));
  });
});
