/**
 * The hub without any network: an in-memory transport records frames, so
 * batching, encode-once and backpressure can be checked exactly.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, type ChatRequest } from "../../gen/chat/v1/chat_pb.js";
import type { DisconnectReason } from "./disconnect.js";
import { Hub } from "./hub.js";
import { Session, type SessionTransport } from "./session.js";

class MemoryTransport implements SessionTransport {
  frames: Uint8Array[] = [];
  ended: DisconnectReason | undefined;
  accepting = true;
  write(frame: Uint8Array): boolean {
    this.frames.push(frame);
    return this.accepting;
  }
  end(reason: DisconnectReason): void {
    this.ended = reason;
  }
  events() {
    return this.frames.flatMap((f) => fromBinary(ChatResponseSchema, f).events);
  }
  texts(): string[] {
    return this.events().flatMap((e) => (e.event.case === "message" ? [e.event.value.text] : []));
  }
}

const nextTurn = () => new Promise((r) => setImmediate(r));
const req = (command: ChatRequest["command"]) => create(ChatRequestSchema, { command } as never);

function connect(hub: Hub) {
  const transport = new MemoryTransport();
  const session = hub.openSession(transport);
  if (!(session instanceof Session)) throw new Error("refused");
  return { transport, session };
}

async function member(hub: Hub, room: string, nickname: string) {
  const c = connect(hub);
  c.session.handle(req({ case: "join", value: { room, nickname } as never }));
  await nextTurn();
  await nextTurn();
  c.transport.frames = [];
  return c;
}

const send = (s: Session, room: string, text: string, id = text) =>
  s.handle(req({ case: "send", value: { room, text, clientMsgId: id } as never }));

describe("fan-out", () => {
  it("batches one turn's messages into one frame per receiver, every event in order", async () => {
    const hub = new Hub({ limits: { heartbeatIntervalMs: 0 } });
    const members = await Promise.all(["a", "b", "c", "d"].map((n) => member(hub, "lobby", n)));
    const texts = Array.from({ length: 100 }, (_, i) => `m${i}`);
    texts.forEach((t, i) => send(members[i % 2].session, "lobby", t));
    await nextTurn();
    await nextTurn();
    for (const m of members) {
      expect(m.transport.frames).toHaveLength(1);
      expect(m.transport.texts()).toEqual(texts);
    }
  });

  it("hands the very same encoded bytes to every receiver", async () => {
    const hub = new Hub({ limits: { heartbeatIntervalMs: 0 } });
    const members = await Promise.all(["a", "b", "c"].map((n) => member(hub, "lobby", n)));
    send(members[0].session, "lobby", "once");
    await nextTurn();
    await nextTurn();
    const frames = members.map((m) => m.transport.frames[0]);
    expect(frames[1]).toBe(frames[0]);
    expect(frames[2]).toBe(frames[0]);
  });

  it("splits a large backlog into frames no bigger than the frame limit, losing nothing", async () => {
    const hub = new Hub({ limits: { heartbeatIntervalMs: 0, maxFrameBytes: 4096, rateLimitPerSec: 0 } });
    const [a, b] = await Promise.all(["a", "b"].map((n) => member(hub, "lobby", n)));
    const texts = Array.from({ length: 300 }, (_, i) => `${i}:` + "z".repeat(50));
    texts.forEach((t, i) => send(a.session, "lobby", t, `id${i}`));
    await nextTurn();
    await nextTurn();
    expect(b.transport.frames.length).toBeGreaterThan(1);
    expect(Math.max(...b.transport.frames.map((f) => f.length))).toBeLessThanOrEqual(4096);
    expect(b.transport.texts()).toEqual(texts);
  });
});

describe("backpressure", () => {
  it("stops writing when the transport is full, resumes on drain, in order", async () => {
    const hub = new Hub({ limits: { heartbeatIntervalMs: 0 } });
    const [a, b] = await Promise.all(["a", "b"].map((n) => member(hub, "lobby", n)));
    b.transport.accepting = false;
    send(a.session, "lobby", "one");
    await nextTurn();
    await nextTurn();
    expect(b.transport.frames).toHaveLength(1); // written, then the transport said "full"
    send(a.session, "lobby", "two");
    send(a.session, "lobby", "three");
    await nextTurn();
    await nextTurn();
    expect(b.transport.frames).toHaveLength(1); // held in the queue
    expect(b.session.queue.bytes).toBeGreaterThan(0);
    b.transport.accepting = true;
    b.session.queue.drained();
    await nextTurn();
    expect(b.transport.texts()).toEqual(["one", "two", "three"]);
  });

  it("drops a subscriber whose queue overflows, and only that one", async () => {
    const hub = new Hub({ limits: { heartbeatIntervalMs: 0, maxQueuedBytes: 2000 } });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => member(hub, "lobby", n)));
    b.transport.accepting = false;
    for (let i = 0; i < 50; i++) {
      send(a.session, "lobby", `msg ${i} ` + "q".repeat(100), `id${i}`);
      await nextTurn();
    }
    await nextTurn();
    expect(b.transport.ended?.kind).toBe("too-slow");
    expect(b.session.queue.bytes).toBe(0); // released
    expect(c.transport.ended).toBeUndefined();
    expect(c.transport.texts()).toHaveLength(50);
    expect(hub.listMembers("lobby").map((m) => m.nickname)).toEqual(["a", "c"]);
  });
});

describe("limits", () => {
  it("refuses sessions beyond the limit", () => {
    const hub = new Hub({ limits: { maxSessions: 2, heartbeatIntervalMs: 0 } });
    connect(hub);
    connect(hub);
    const third = hub.openSession(new MemoryTransport());
    expect(third).not.toBeInstanceOf(Session);
    expect((third as DisconnectReason).kind).toBe("server-full");
  });

  it("refuses new rooms beyond the limit and members beyond a room's limit", async () => {
    const hub = new Hub({ limits: { maxRooms: 1, maxMembersPerRoom: 1, heartbeatIntervalMs: 0 } });
    await member(hub, "one", "a");
    const b = connect(hub);
    b.session.handle(req({ case: "join", value: { room: "two", nickname: "b" } as never }));
    b.session.handle(req({ case: "join", value: { room: "one", nickname: "b" } as never }));
    await nextTurn();
    await nextTurn();
    const errors = b.transport.events().flatMap((e) => (e.event.case === "error" ? [e.event.value.message] : []));
    expect(errors).toEqual([expect.stringMatching(/limit of 1 rooms/), expect.stringMatching(/room one is full/)]);
    expect(hub.roomCount).toBe(1);
  });
});
