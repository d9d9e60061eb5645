/**
 * The hub without any network: an in-memory transport records frames, over
 * the real embedded room log and memory store, so batching, encode-once,
 * backpressure, pacing and membership can be checked exactly. After every
 * test, the hub's invariant is checked: every member of every room belongs to
 * a live session, and the room log's members are exactly the hub's.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, LeaveReason, RoomActionKind, type ChatRequest, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import { EmbeddedRoomLog } from "../log/embedded-log.js";
import { MemoryHistoryStore } from "../store/memory-store.js";
import type { DisconnectReason } from "./disconnect.js";
import { FlushScheduler } from "./flush-scheduler.js";
import { Hub } from "./hub.js";
import type { HubLimits } from "./limits.js";
import { Session, type SessionTransport } from "./session.js";

class MemoryTransport implements SessionTransport {
  frames: Uint8Array[] = [];
  ended: DisconnectReason | undefined;
  accepting = true;
  /** When set, decides per write whether the transport reports back-pressure. */
  acceptWrite: ((frame: Uint8Array, index: number) => boolean) | undefined;
  write(frame: Uint8Array): boolean {
    this.frames.push(frame);
    return this.acceptWrite ? this.acceptWrite(frame, this.frames.length - 1) : this.accepting;
  }
  end(reason: DisconnectReason): void {
    this.ended = reason;
  }
  events(): ServerEvent[] {
    return this.frames.flatMap((f) => fromBinary(ChatResponseSchema, f).events);
  }
  of<C extends ServerEvent["event"]["case"]>(kind: C) {
    return this.events().flatMap((e) => (e.event.case === kind ? [e.event.value as Extract<ServerEvent["event"], { case: C }>["value"]] : []));
  }
  texts(): string[] {
    return this.of("message").map((m) => m.text);
  }
}

const nextTurn = () => new Promise((r) => setImmediate(r));
/** Let the hub, the log and the queues run until `done` holds (or fail after a deadline). */
async function until(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await nextTurn();
  }
}

const req = (command: ChatRequest["command"]) => create(ChatRequestSchema, { command } as never);

const hubs: { hub: Hub; log: EmbeddedRoomLog }[] = [];

function makeHub(limits: Partial<HubLimits> = {}, store = new MemoryHistoryStore(undefined, undefined, 0)): Hub {
  const scheduler = new FlushScheduler();
  const log = new EmbeddedRoomLog({ store, turn: scheduler });
  const hub = new Hub({ log, scheduler, limits: { heartbeatIntervalMs: 0, ...limits } });
  hubs.push({ hub, log });
  return hub;
}

afterEach(async () => {
  await nextTurn();
  for (const { hub, log } of hubs.splice(0)) {
    expect(hub.strayMembers()).toEqual([]);
    for (const room of (await log.rooms(1000)).map((r) => r.name)) {
      const inLog = (await log.members(room, "", 1000)).members.map((m) => m.nickname).sort();
      expect(inLog, `room ${room}: members in the log but not in the hub`).toEqual(hub.localMembers(room).map((m) => m.nickname).sort());
    }
  }
});

function connect(hub: Hub) {
  const transport = new MemoryTransport();
  const session = hub.openSession(transport);
  if (!(session instanceof Session)) throw new Error("refused");
  return { transport, session };
}

const join = (s: Session, room: string, nickname: string, extra: Record<string, unknown> = {}) =>
  s.handle(req({ case: "join", value: { room, nickname, ...extra } as never }));

async function member(hub: Hub, room: string, nickname: string) {
  const c = connect(hub);
  join(c.session, room, nickname);
  await until(() => c.transport.of("joined").length === 1, `${nickname} joined`);
  await until(() => hub.localMembers(room).find((m) => m.nickname === nickname)?.state === "live", `${nickname} live`);
  c.transport.frames = [];
  return c;
}

const send = (s: Session, room: string, text: string, id = text) =>
  s.handle(req({ case: "send", value: { room, text, clientMsgId: id } as never }));

type Client = ReturnType<typeof connect>;

/** `count` messages from `from`, a few per turn so the sender's own queue keeps up. */
async function fill(from: Client, room: string, count: number, text: (i: number) => string): Promise<void> {
  const start = from.transport.texts().length;
  for (let i = 1; i <= count; i++) {
    send(from.session, room, text(i), `fill-${room}-${i}`);
    if (i % 4 === 0) await until(() => from.transport.texts().length === start + i, "sent");
  }
  await until(() => from.transport.texts().length === start + count, "all sent");
}

describe("fan-out", () => {
  it("batches one turn's messages into one frame per receiver, every event in order", async () => {
    const hub = makeHub();
    const members: Client[] = [];
    for (const n of ["a", "b", "c", "d"]) members.push(await member(hub, "lobby", n));
    for (const m of members) m.transport.frames = [];
    const texts = Array.from({ length: 100 }, (_, i) => `m${i}`);
    texts.forEach((t, i) => send(members[i % 2].session, "lobby", t));
    await until(() => members.every((m) => m.transport.texts().length === 100), "all delivered");
    for (const m of members) {
      expect(m.transport.frames).toHaveLength(1);
      expect(m.transport.texts()).toEqual(texts);
    }
  });

  it("hands the very same encoded bytes to every receiver", async () => {
    const hub = makeHub();
    const members: Client[] = [];
    for (const n of ["a", "b", "c"]) members.push(await member(hub, "lobby", n));
    for (const m of members) m.transport.frames = [];
    send(members[0].session, "lobby", "once");
    await until(() => members.every((m) => m.transport.frames.length === 1), "delivered");
    const frames = members.map((m) => m.transport.frames[0]);
    expect(frames[1]).toBe(frames[0]);
    expect(frames[2]).toBe(frames[0]);
  });

  it("splits a large backlog into frames no bigger than the frame limit, losing nothing", async () => {
    const hub = makeHub({ maxFrameBytes: 4096, rateLimitPerSec: 0 });
    const a = await member(hub, "lobby", "a");
    const b = await member(hub, "lobby", "b");
    const texts = Array.from({ length: 300 }, (_, i) => `${i}:` + "z".repeat(50));
    texts.forEach((t, i) => send(a.session, "lobby", t, `id${i}`));
    await until(() => b.transport.texts().length === 300, "all delivered");
    expect(b.transport.frames.length).toBeGreaterThan(1);
    expect(Math.max(...b.transport.frames.map((f) => f.length))).toBeLessThanOrEqual(4096);
    expect(b.transport.texts()).toEqual(texts);
  });
});

describe("backpressure", () => {
  it("stops writing when the transport is full, resumes on drain, in order", async () => {
    const hub = makeHub();
    const a = await member(hub, "lobby", "a");
    const b = await member(hub, "lobby", "b");
    b.transport.accepting = false;
    send(a.session, "lobby", "one");
    await until(() => b.transport.frames.length === 1, "first write");
    send(a.session, "lobby", "two");
    send(a.session, "lobby", "three");
    await until(() => a.transport.texts().length === 3, "sent");
    expect(b.transport.frames).toHaveLength(1); // held in the queue
    expect(b.session.queue.bytes).toBeGreaterThan(0);
    b.transport.accepting = true;
    b.session.queue.drained();
    await until(() => b.transport.texts().length === 3, "drained");
    expect(b.transport.texts()).toEqual(["one", "two", "three"]);
  });

  it("drops a subscriber whose queue overflows, and only that one", async () => {
    const hub = makeHub({ maxQueuedBytes: 2000 });
    const a = await member(hub, "lobby", "a");
    const b = await member(hub, "lobby", "b");
    const c = await member(hub, "lobby", "c");
    b.transport.accepting = false;
    for (let i = 0; i < 50; i++) {
      send(a.session, "lobby", `msg ${i} ` + "q".repeat(100), `id${i}`);
      await nextTurn();
    }
    await until(() => c.transport.texts().length === 50, "c got everything");
    expect(b.transport.ended?.kind).toBe("too-slow");
    expect(b.session.queue.bytes).toBe(0); // released
    expect(c.transport.ended).toBeUndefined();
    expect(hub.localMembers("lobby").map((m) => m.nickname)).toEqual(["a", "c"]);
  });
});

describe("replay", () => {
  it("continues when the transport drains, even if back-pressure came with the very last frame of a flush", async () => {
    // Small pages and a small queue: the replay takes many steps, each ending
    // with a write that reports back-pressure and leaves the queue empty.
    const hub = makeHub({ maxQueuedBytes: 8192, replayPageSize: 5, rateLimitPerSec: 0 });
    const a = await member(hub, "lobby", "a");
    await fill(a, "lobby", 200, (i) => `m${i}`);
    const epoch = (await hub.history("lobby", { limit: 1 })).position.epoch;

    const r = connect(hub);
    r.transport.acceptWrite = () => false; // every write fills the transport
    join(r.session, "lobby", "reader", { afterSeq: 0n, epoch });
    for (let round = 0; round < 500 && r.transport.texts().length < 200; round++) {
      const before = r.transport.frames.length;
      await until(() => r.transport.frames.length > before || r.transport.texts().length === 200, "a write");
      r.session.queue.drained(); // the client read it: the transport can take more
    }
    expect(r.transport.texts()).toEqual(Array.from({ length: 200 }, (_, i) => `m${i + 1}`));
    await until(() => hub.localMembers("lobby").find((m) => m.nickname === "reader")?.state === "live", "reader live");
  });

  it("paces a resume by bytes: a queue smaller than one page of messages is never overrun", async () => {
    const hub = makeHub({ maxQueuedBytes: 16 * 1024, rateLimitPerSec: 0 });
    const a = await member(hub, "lobby", "a");
    await fill(a, "lobby", 40, (i) => `${i} ${"x".repeat(3000)}`);
    const epoch = (await hub.history("lobby", { limit: 1 })).position.epoch;
    const r = connect(hub);
    let largest = 0;
    r.transport.acceptWrite = () => {
      largest = Math.max(largest, r.session.queue.bytes);
      return true;
    };
    join(r.session, "lobby", "reader", { afterSeq: 0n, epoch });
    await until(() => r.transport.texts().length === 40, "replayed");
    expect(r.transport.ended).toBeUndefined();
    expect(largest).toBeLessThanOrEqual(16 * 1024);
  });
});

describe("membership", () => {
  it("a session dropped as too slow inside its own join leaves nothing behind", async () => {
    const stallTimeoutMs = 20;
    const hub = makeHub({ maxQueuedBytes: 4096, stallTimeoutMs, rateLimitPerSec: 0 });
    const a = await member(hub, "history", "a");
    await fill(a, "history", 20, (i) => `${i} ${"h".repeat(900)}`);
    const eve = connect(hub);
    eve.transport.accepting = false; // never reads
    join(eve.session, "history", "eve");
    await until(() => eve.transport.frames.length === 1, "eve's joined event written");
    // Heartbeats fill more than half of eve's queue: no room for another joined event.
    for (let i = 0; i < 30; i++) eve.session.handle(req({ case: "ping", value: { nonce: "x".repeat(60) } as never }));
    // The second join holds the nickname and waits for room in eve's queue for its joined event...
    join(eve.session, "plaza", "bob");
    await until(() => hub.localMembers("plaza")[0]?.state === "preparing", "bob's join under way");
    // ...when eve is dropped for not reading (the next event pushed to it after the stall timeout).
    await new Promise((r) => setTimeout(r, stallTimeoutMs + 5));
    send(a.session, "history", "anyone there?");
    await until(() => eve.transport.ended !== undefined, "eve dropped");
    expect(eve.transport.ended?.kind).toBe("too-slow");
    await nextTurn();
    expect(hub.localMembers("plaza")).toEqual([]);
    expect(hub.localMembers("history").map((m) => m.nickname)).toEqual(["a"]);
    const bob = await member(hub, "plaza", "bob");
    expect(bob.transport.ended).toBeUndefined();
  });

  it("commands sent right after a join run after it, in order", async () => {
    const hub = makeHub();
    const c = connect(hub);
    join(c.session, "lobby", "alice");
    send(c.session, "lobby", "first");
    send(c.session, "lobby", "second");
    await until(() => c.transport.texts().length === 2, "both acknowledged");
    const kinds = c.transport.events().map((e) => e.event.case);
    expect(kinds).toEqual(["joined", "message", "message"]);
    expect(c.transport.texts()).toEqual(["first", "second"]);
  });

  it("refuses a nickname that looks like one already in the room", async () => {
    const hub = makeHub();
    await member(hub, "lobby", "alice");
    const c = connect(hub);
    join(c.session, "lobby", "\u0430lice"); // Cyrillic а
    await until(() => c.transport.of("error").length === 1, "refused");
    expect(c.transport.of("error")[0].message).toMatch(/too much like "alice"/);
  });
});

describe("command replies (for transports that carry each command as its own call)", () => {
  it("answer each command with the event that answered it", async () => {
    const hub = makeHub();
    const c = connect(hub);
    const answers: (ServerEvent | undefined)[] = [];
    const reply = (answer: Uint8Array | undefined) => answers.push(answer && fromBinary(ChatResponseSchema, answer).events[0]);
    c.session.handle(req({ case: "join", value: { room: "lobby", nickname: "ann" } as never }), reply);
    c.session.handle(req({ case: "send", value: { room: "lobby", text: "hi", clientMsgId: "k1" } as never }), reply);
    c.session.handle(req({ case: "send", value: { room: "lobby", text: "", clientMsgId: "k2" } as never }), reply);
    c.session.handle(req({ case: "ping", value: { nonce: "n" } as never }), reply);
    c.session.handle(req({ case: "typing", value: { room: "lobby" } as never }), reply);
    await until(() => answers.length === 5, "five answers");
    const cases = answers.map((a) => a?.event.case);
    expect(cases).toEqual(["joined", "error", "heartbeat", undefined, "message"]); // the ack comes once stored
    const ack = answers[4]!.event.value as { seq: bigint; clientMsgId: string };
    expect(ack).toMatchObject({ seq: 1n, clientMsgId: "k1" });
  });
});

describe("big rooms", () => {
  it("a joined event lists a bounded page of members and says how many there are", async () => {
    const hub = makeHub({ membersOnJoin: 5, presenceThreshold: 1000 });
    for (let i = 0; i < 12; i++) await member(hub, "hall", `m${i}`);
    const c = connect(hub);
    join(c.session, "hall", "late");
    await until(() => c.transport.of("joined").length === 1, "joined");
    const joined = c.transport.of("joined")[0];
    expect(joined.members.map((m) => m.nickname)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(joined.memberCount).toBe(13);
    expect(joined.membersPageToken).not.toBe("");
    const rest = await hub.listMembers("hall", joined.membersPageToken, 100);
    expect(rest.members.map((m) => m.nickname)).toEqual(["m5", "m6", "m7", "m8", "m9", "m10", "m11", "late"]);
    expect(rest.nextPageToken).toBe("");
  });

  it("above the presence threshold, joins reach the others as one digest per interval, not one event each", async () => {
    const hub = makeHub({ presenceThreshold: 3, presenceIntervalMs: 50, presenceMaxNames: 2 });
    const watchers: Client[] = [];
    for (const n of ["w1", "w2", "w3"]) watchers.push(await member(hub, "hall", n));
    for (const w of watchers) w.transport.frames = [];
    for (let i = 0; i < 10; i++) await member(hub, "hall", `j${i}`);
    const w = watchers[0].transport;
    await until(() => w.of("presence").at(-1)?.memberCount === 13, "all joins reported");
    // j0 made the room 4 > 3: from then on, digests only.
    expect(w.of("memberJoined").map((e) => e.member?.nickname)).toEqual([]);
    const digests = w.of("presence");
    expect(digests.reduce((n, d) => n + d.joinedCount, 0)).toBe(10);
    // One digest per interval however many joined in it: far fewer events than joins.
    expect(digests.length).toBeLessThan(10);
    for (const d of digests) expect(d.joined.length).toBeLessThanOrEqual(2);
  });

  it("a room too big for its interval gets its digests further apart: at most presenceMaxDeliveriesPerSec deliveries", async () => {
    // 3 members at 10 deliveries a second: one digest per 300 ms, not per 50.
    const hub = makeHub({ presenceThreshold: 1, presenceIntervalMs: 50, presenceMaxDeliveriesPerSec: 10 });
    const w = await member(hub, "hall", "w");
    await member(hub, "hall", "a");
    await until(() => w.transport.of("presence").length === 1, "the first digest");
    const joinedAt = Date.now();
    await member(hub, "hall", "b");
    await until(() => w.transport.of("presence").some((p) => p.memberCount === 3), "the digest with b", 5000);
    expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(290);
  });

  it("below the threshold, every join and leave is its own event", async () => {
    const hub = makeHub({ presenceThreshold: 10 });
    const w = await member(hub, "small", "w");
    const j = await member(hub, "small", "j");
    j.session.handle(req({ case: "leave", value: { room: "small" } as never }));
    await until(() => w.transport.of("memberLeft").length === 1, "leave seen");
    expect(w.transport.of("memberJoined").map((e) => e.member?.nickname)).toEqual(["j"]);
  });
});

describe("limits", () => {
  it("refuses sessions beyond the limit", () => {
    const hub = makeHub({ maxSessions: 2 });
    connect(hub);
    connect(hub);
    const third = hub.openSession(new MemoryTransport());
    expect(third).not.toBeInstanceOf(Session);
    expect((third as DisconnectReason).kind).toBe("server-full");
  });

  it("refuses new rooms beyond the limit and members beyond a room's limit", async () => {
    const hub = makeHub({ maxRooms: 1, maxMembersPerRoom: 1 });
    await member(hub, "one", "a");
    const b = connect(hub);
    join(b.session, "two", "b");
    join(b.session, "one", "b");
    await until(() => b.transport.of("error").length === 2, "two refusals");
    expect(b.transport.of("error").map((e) => e.message)).toEqual([expect.stringMatching(/limit of 1 rooms/), expect.stringMatching(/room one is full/)]);
    expect(hub.roomCount).toBe(1);
  });
});

describe("identity", () => {
  it("a takeover by resume token on the same node: the old stream is told and dropped, the log and the hub agree on one member", async () => {
    const hub = makeHub();
    const old = connect(hub);
    join(old.session, "lobby", "ann");
    await until(() => old.transport.of("joined").length === 1, "ann joined");
    const token = old.transport.of("joined")[0].resumeToken;
    const back = connect(hub);
    join(back.session, "lobby", "ann", { resumeToken: token });
    await until(() => back.transport.of("joined").length === 1, "ann joined again");
    expect(back.transport.of("joined")[0].replaced).toBe(true);
    await until(() => old.transport.of("left").length === 1, "the old stream told");
    expect(hub.localMembers("lobby").map((m) => m.owner)).toEqual([back.session]);
  });

  it("a session that ends while the log renames it gives the new nickname back", async () => {
    const hub = makeHub();
    const log = hubs.at(-1)!.log;
    const rename = log.rename.bind(log);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    log.rename = async (...args) => {
      const outcome = await rename(...args);
      await gate;
      return outcome;
    };
    const ann = await member(hub, "lobby", "ann");
    ann.session.handle(req({ case: "rename", value: { room: "lobby", nickname: "alicia" } as never }));
    await nextTurn();
    ann.session.transportClosed();
    open();
    let inLog = -1;
    await until(() => {
      void log.members("lobby", "", 10).then((page) => (inLog = page.memberCount));
      return inLog === 0;
    }, "the log to forget alicia");
  });
});

describe("room state", () => {
  it("a deleted room: every local member gets the entry, then a LeftEvent ROOM_DELETED; the log keeps nobody", async () => {
    const hub = makeHub();
    const ann = await member(hub, "lobby", "ann");
    const bob = await member(hub, "lobby", "bob");
    const answer = await hub.act({
      room: "lobby",
      actor: { userId: "backend", name: "backend", admin: true },
      action: { kind: RoomActionKind.DELETE, reason: "closing down" },
      clientActionId: "del-1",
      sentAtMs: Date.now(),
    });
    expect(answer).not.toBeInstanceOf(Error);
    for (const c of [ann, bob]) {
      await until(() => c.transport.of("left").length === 1, "left");
      const cases = c.transport.events().map((e) => e.event.case);
      expect(cases.indexOf("message")).toBeLessThan(cases.indexOf("left"));
      expect(c.transport.of("left")[0].reason).toBe(LeaveReason.ROOM_DELETED);
      expect(c.transport.of("message")[0].action?.kind).toBe(RoomActionKind.DELETE);
      expect(c.transport.ended).toBeUndefined(); // the stream stays, only the membership ended
    }
    await until(() => hub.roomCount === 0, "the room dropped on this node");
  });

  it("a kick ends only the target's membership; the session stays usable in its other rooms", async () => {
    const hub = makeHub();
    const owner = connect(hub);
    owner.session.handle(req({ case: "createRoom", value: { room: "club", nickname: "ann" } as never }));
    await until(() => owner.transport.of("joined").length === 1, "ann created club");
    const bob = await member(hub, "club", "bob");
    join(bob.session, "hall", "bob");
    await until(() => bob.transport.of("joined").length === 1, "bob in hall");
    owner.session.handle(req({ case: "moderate", value: { room: "club", clientActionId: "k1", action: { kind: RoomActionKind.KICK, targetUser: "bob" } } as never }));
    await until(() => bob.transport.of("left").length === 1, "bob kicked");
    expect(bob.transport.of("left")[0]).toMatchObject({ room: "club", reason: LeaveReason.KICKED });
    expect(hub.localMembers("club").map((m) => m.nickname)).toEqual(["ann"]);
    send(bob.session, "hall", "still here");
    await until(() => bob.transport.texts().includes("still here"), "bob posts in hall");
  });
});
