import { describe, expect, it } from "vitest";
import { parseChannelMessage } from "./channel-message.js";

describe("channel payloads", () => {
  it("a stored message: epoch, number and the event as sent", () => {
    const event = Buffer.from([10, 3, 1, 2, 3]);
    const m = parseChannelMessage(Buffer.concat([Buffer.from("Mep-1 42\n"), event]));
    expect(m).toEqual({ kind: "message", epoch: "ep-1", seq: 42, event: new Uint8Array(event) });
  });

  it("a room action: the RoomAction bytes apart from the event, even when they hold a newline or a space", () => {
    const action = Buffer.from([8, 3, 10, 32, 10]);
    const event = Buffer.from([10, 2, 0x0a, 0x20]);
    const m = parseChannelMessage(Buffer.concat([Buffer.from(`Aep-1 7 ${action.length}\n`), action, event]));
    expect(m).toEqual({ kind: "message", epoch: "ep-1", seq: 7, action: new Uint8Array(action), event: new Uint8Array(event) });
  });

  it("a room action whose length runs past the payload is not read", () => {
    expect(parseChannelMessage(Buffer.from("Aep-1 7 99\n\x08\x03"))).toBeUndefined();
  });
});
