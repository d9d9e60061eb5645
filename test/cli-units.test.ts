/** Pure parts of the CLI (flags, slash commands) and of the client core (backoff, room bookkeeping, outbox, ids, error words). */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatMessageSchema, JoinedEventSchema, ServerEventSchema } from "../gen/chat/v1/chat_pb.js";
import { DEFAULT_SERVER, parseCliArgs, UsageError } from "../src/cli/args.js";
import { backoffDelay } from "../src/client/backoff.js";
import { clientIdGenerator } from "../src/client/client-ids.js";
import { HISTORY_DEFAULT, parseLine } from "../src/cli/commands.js";
import { describeError, isRetryable } from "../src/client/errors.js";
import { formatEvent, sanitize } from "../src/cli/format.js";
import { Outbox } from "../src/client/outbox.js";
import { Pacer } from "../src/client/pacer.js";
import { RoomTracker } from "../src/client/room-tracker.js";

describe("flags", () => {
  it("has defaults, reads CHAT_SERVER, and lets flags win", () => {
    expect(parseCliArgs(["--name", "alice"], {})).toEqual({ server: DEFAULT_SERVER, name: "alice", room: "lobby", json: false, maxRetries: undefined });
    expect(parseCliArgs(["--name", "a", "--history", "0", "--room", "#dev"], {})).toMatchObject({ history: 0, room: "dev" });
    expect(parseCliArgs(["--name", "a"], { CHAT_SERVER: "http://env:1" })).toMatchObject({ server: "http://env:1" });
    expect(parseCliArgs(["--name", "a", "--server", "http://flag:2/"], { CHAT_SERVER: "http://env:1" })).toMatchObject({ server: "http://flag:2" });
    expect(parseCliArgs(["--name", "a", "--room", "dev", "--json", "--max-retries", "3"], {})).toMatchObject({ room: "dev", json: true, maxRetries: 3 });
    expect(parseCliArgs(["--name", "a", "--max-retries", "unlimited"], {})).toMatchObject({ maxRetries: Infinity });
    expect(parseCliArgs(["--help"], {})).toBe("help");
  });

  it("--server takes host:port as the server prints it, and several addresses separated by commas", () => {
    expect(parseCliArgs(["--name", "a", "--server", "127.0.0.1:51100"], {})).toMatchObject({ server: "http://127.0.0.1:51100" });
    expect(parseCliArgs(["--name", "a", "--server", "[::1]:50051"], {})).toMatchObject({ server: "http://[::1]:50051" });
    expect(parseCliArgs(["--name", "a", "--server", "10.0.0.1:50051, http://b.example:50051/,https://c.example"], {})).toMatchObject({
      server: "http://10.0.0.1:50051,http://b.example:50051,https://c.example",
    });
    expect(parseCliArgs(["--name", "a"], { CHAT_SERVER: "a.example:1,b.example:2" })).toMatchObject({ server: "http://a.example:1,http://b.example:2" });
    for (const bad of ["a:1,,b:2", "nohost", "a:1,ftp://b", "http://a:1/path"]) {
      expect(() => parseCliArgs(["--name", "a", "--server", bad], {}), bad).toThrow(UsageError);
    }
  });

  it("refuses bad input with a one-line UsageError", () => {
    const bad = [[], ["--name", ""], ["--name", "a", "--room", "bad room!"], ["--name", "a", "--room", ""], ["--name", "a", "--history", "51"], ["--name", "a", "--bogus"], ["--name", "a", "extra"], ["--name", "a", "--server", "nope"], ["--name", "a", "--server", "ftp://x"], ["--name", "a", "--max-retries", "-1"], ["--name"]];
    for (const argv of bad) {
      let caught: unknown;
      try {
        parseCliArgs(argv, {});
      } catch (err) {
        caught = err;
      }
      expect(caught, argv.join(" ")).toBeInstanceOf(UsageError);
      expect((caught as Error).message).not.toContain("\n");
    }
  });
});

describe("slash commands", () => {
  it("parses commands and plain text", () => {
    expect(parseLine("hello /join")).toEqual({ kind: "say", text: "hello /join" });
    expect(parseLine("  ")).toEqual({ kind: "none" });
    expect(parseLine("//not a command")).toEqual({ kind: "say", text: "/not a command" });
    expect(parseLine("/join #dev")).toEqual({ kind: "join", room: "dev" });
    expect(parseLine("/join")).toMatchObject({ kind: "invalid" });
    // The server's room rule, whole: what is wrong with the name, not a usage line.
    expect(parseLine("/join bad room!")).toEqual({
      kind: "invalid",
      message: `cannot join "bad room!": room name may contain only letters, digits, '.', '_' and '-'`,
    });
    expect(parseLine("/leave")).toEqual({ kind: "leave", room: undefined });
    expect(parseLine("/leave dev")).toEqual({ kind: "leave", room: "dev" });
    expect(parseLine("/switch dev")).toEqual({ kind: "switch", room: "dev" });
    expect(parseLine("/rooms")).toEqual({ kind: "rooms" });
    expect(parseLine("/who")).toEqual({ kind: "who", room: undefined, more: false });
    expect(parseLine("/who #lobby more")).toEqual({ kind: "who", room: "lobby", more: true });
    expect(parseLine("/who more")).toEqual({ kind: "who", room: undefined, more: true });
    expect(parseLine("/nick  ann lee ")).toEqual({ kind: "nick", nickname: "ann lee" });
    expect(parseLine("/nick")).toMatchObject({ kind: "invalid" });
    expect(parseLine("/nick al\u200Bice")).toMatchObject({ kind: "badNick", nickname: "al\u200Bice", reason: expect.stringContaining("U+200B") });
    expect(parseLine("/history")).toEqual({ kind: "history", count: HISTORY_DEFAULT });
    expect(parseLine("/history 5")).toEqual({ kind: "history", count: 5 });
    expect(parseLine("/history 0")).toMatchObject({ kind: "invalid" });
    expect(parseLine("/history lots")).toMatchObject({ kind: "invalid" });
    expect(parseLine("/QUIT")).toEqual({ kind: "quit" });
    expect(parseLine("/help")).toEqual({ kind: "help" });
    expect(parseLine("/nope")).toEqual({ kind: "invalid", message: "unknown command /nope (try /help)" });
  });
});

describe("backoff", () => {
  it("doubles its ceiling from 250 ms up to 10 s, with full jitter", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, undefined, () => 0.999999))).toEqual([249, 499, 999, 1999, 3999, 7999, 9999, 9999]);
    expect(backoffDelay(3, undefined, () => 0)).toBe(0);
    expect(backoffDelay(10_000, undefined, () => 0.5)).toBe(5000);
  });
});

describe("errors", () => {
  it("describes socket failures in one line and classifies codes", () => {
    const refused = new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable, undefined, undefined, Object.assign(new Error("x"), { code: "ECONNREFUSED" }));
    expect(describeError(refused, "http://127.0.0.1:1")).toBe("cannot reach server http://127.0.0.1:1: connection refused");
    expect(describeError(new ConnectError("bad\nsecond line", Code.InvalidArgument), "s")).toBe("invalid_argument: bad");
    // A client dropped as too slow learns it in plain words, from the status or from the stream reset.
    const tooSlow = "the server dropped us for reading too slowly (we could not keep up with the room)";
    expect(describeError(new ConnectError("client too slow: not reading for more than 3000 ms", Code.ResourceExhausted), "s")).toBe(tooSlow);
    expect(describeError(new ConnectError("http/2 stream closed with error code ENHANCE_YOUR_CALM (0xb)", Code.ResourceExhausted), "s")).toBe(tooSlow);
    expect(isRetryable(Code.Unavailable)).toBe(true);
    expect(isRetryable(Code.ResourceExhausted)).toBe(true);
    expect(isRetryable(Code.Internal)).toBe(true);
    expect(isRetryable(Code.InvalidArgument)).toBe(false);
    expect(isRetryable(Code.Unimplemented)).toBe(false);
  });
});

describe("room tracking", () => {
  const msg = (seq: number) => create(ChatMessageSchema, { room: "lobby", seq: BigInt(seq), sender: "bob", text: `m${seq}` });
  const joined = (init: Record<string, unknown>) => create(JoinedEventSchema, { room: "lobby", nickname: "alice", ...init });

  it("joins fresh first, then resumes from the last sequence number and epoch it saw, with its membership's resume token", () => {
    const room = new RoomTracker("lobby");
    expect(room.joinCommand("alice")).toEqual({ room: "lobby", nickname: "alice", epoch: "", resumeToken: "" });
    room.onJoined(joined({ epoch: "e1", lastSeq: 5n, resumeToken: "t1" }));
    expect(room.isLive).toBe(true);
    expect(room.accept(msg(6))).toBe(true);
    expect(room.accept(msg(6))).toBe(false); // duplicate by (room, seq)
    expect(room.accept(msg(4))).toBe(false);
    room.connectionLost();
    expect(room.joinCommand("alice")).toEqual({ room: "lobby", nickname: "alice", afterSeq: 6n, epoch: "e1", resumeToken: "t1" });
    // Each join issues a new token: the next rejoin presents the newest.
    room.onJoined(joined({ epoch: "e1", lastSeq: 6n, resumed: true, resumeToken: "t2" }));
    room.connectionLost();
    expect(room.joinCommand("alice").resumeToken).toBe("t2");
  });

  it("catches up through the replay before going live", () => {
    const room = new RoomTracker("lobby");
    room.joinCommand("alice");
    room.onJoined(joined({ epoch: "e1", lastSeq: 2n }));
    room.connectionLost();
    room.joinCommand("alice");
    const outcome = room.onJoined(joined({ epoch: "e1", lastSeq: 4n, resumed: true }));
    expect(outcome).toEqual({ rejoin: true, epochReset: false, truncated: false });
    expect(room.phase).toBe("catching-up");
    expect(room.accept(msg(3))).toBe(true);
    expect(room.phase).toBe("catching-up");
    expect(room.accept(msg(4))).toBe(true);
    expect(room.phase).toBe("live");
  });

  it("starts numbering over when the epoch changes, and reports truncation", () => {
    const room = new RoomTracker("lobby");
    room.joinCommand("alice");
    room.onJoined(joined({ epoch: "e1", lastSeq: 9n }));
    room.connectionLost();
    room.joinCommand("alice");
    const outcome = room.onJoined(joined({ epoch: "e2", lastSeq: 1n, resumed: true, epochChanged: true, historyTruncated: true }));
    expect(outcome).toEqual({ rejoin: true, epochReset: true, truncated: true });
    expect(room.accept(msg(1))).toBe(true); // seq 1 of the new history is not a duplicate of the old one
    expect(room.isLive).toBe(true);
  });
});

describe("outbox", () => {
  it("keeps typing order per room and is bounded", () => {
    const box = new Outbox(2);
    box.add("a", "lobby", "1");
    box.add("b", "dev", "2");
    expect(box.add("c", "lobby", "3")).toBeUndefined();
    expect(box.isFull).toBe(true);
    box.remove("a");
    box.add("c", "lobby", "3");
    expect(box.forRoom("lobby").map((e) => e.id)).toEqual(["c"]);
    expect(box.countForRoom("dev")).toBe(1);
  });

  it("puts only each room's oldest message on the wire, and pins a refusal without an id on it", () => {
    const box = new Outbox();
    for (const [id, room] of [["a1", "a"], ["b1", "b"], ["a2", "a"], ["b2", "b"]]) box.add(id, room, id);
    expect(box.heads().map((e) => e.id)).toEqual(["a1", "b1"]);
    box.get("a1")!.sentOn = 7;
    expect(box.inFlight(7, "a")?.id).toBe("a1");
    expect(box.inFlight(7, "b")).toBeUndefined();
    expect(box.inFlight(7)?.id).toBe("a1"); // the only one in flight: a refusal naming no room is its
    box.get("b1")!.sentOn = 7;
    expect(box.inFlight(7)).toBeUndefined(); // two in flight: no guessing
    expect(box.inFlight(8, "a")).toBeUndefined(); // written on an earlier connection
    box.remove("a1");
    expect(box.heads().map((e) => e.id)).toEqual(["b1", "a2"]);
  });
});

describe("pacer", () => {
  it("sends freely until the server's rate limit is hit, then a little under the rate it named", () => {
    const pacer = new Pacer();
    pacer.sent(1000);
    expect(pacer.delay(1000)).toBe(0);
    pacer.limited("rate limit: at most 50 commands per second; slow down");
    expect(pacer.pacing).toBe(true);
    pacer.sent(2000);
    const gap = pacer.delay(2000);
    expect(gap).toBeGreaterThan(20); // 50/s is 20 ms apart; a little more
    expect(gap).toBeLessThan(25);
    expect(pacer.delay(2000 + gap)).toBe(0);
    // A refusal that names no rate: twice as far apart each time, up to a second.
    const unnamed = new Pacer();
    for (let i = 0; i < 10; i++) unnamed.limited("slow down");
    unnamed.sent(0);
    expect(unnamed.delay(0)).toBe(1000);
  });

  it("honours an announced limit from the start: half the burst at once, then a little under the rate", () => {
    const pacer = new Pacer();
    pacer.setRate(20, 40); // 20/s, bucket of 40: ours holds 20 and refills every ~56 ms
    let now = 1000;
    for (let i = 0; i < 20; i++) {
      expect(pacer.delay(now)).toBe(0);
      pacer.sent(now);
    }
    const gap = pacer.delay(now);
    expect(gap).toBeGreaterThan(50);
    expect(gap).toBeLessThan(60);
    now += gap;
    expect(pacer.delay(now)).toBe(0);
    pacer.sent(now);
    expect(pacer.delay(now)).toBeGreaterThan(50);
    // Idle for a while: the burst is back, but never more than it.
    now += 60_000;
    for (let i = 0; i < 20; i++) pacer.sent(now);
    expect(pacer.delay(now)).toBeGreaterThan(0);
  });
});

describe("formatting", () => {
  it("shows time, nickname and text, and neutralises control characters", () => {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const event = create(ServerEventSchema, {
      event: { case: "message", value: { room: "lobby", seq: 1n, sender: "bob", text: "hi\x1b[2Jthere\nnext", sentAt: { seconds: now, nanos: 0 } } },
    });
    const [line] = formatEvent(event, { color: false, currentRoom: "lobby" });
    expect(line).toMatch(/^\[\d\d:\d\d\] <bob> hi�\[2Jthere⏎next$/);
    expect(formatEvent(event, { color: false })[0]).toContain("#lobby <bob>");
    expect(sanitize("tab\tkept")).toBe("tab\tkept");
    expect(formatEvent(create(ServerEventSchema, { event: { case: "heartbeat", value: {} } }), { color: false })).toEqual([]);
  });
});

describe("client ids", () => {
  it("are unique, carry the nickname, and fit the server's 64-character limit", () => {
    const next = clientIdGenerator("alice");
    const ids = [next(), next(), next()];
    expect(new Set(ids).size).toBe(3);
    expect(ids[0]).toMatch(/^alice-[0-9a-f]{12}-1$/);
    expect(clientIdGenerator("alice")()).not.toBe(ids[0]);
    const long = clientIdGenerator("𝓁".repeat(32))();
    expect(long.length).toBeLessThanOrEqual(64);
  });
});
