/**
 * Every input rule answers with a typed error event and leaves the stream
 * usable: after each refusal the same client still chats normally.
 */
import { afterEach, describe, expect, it } from "vitest";
import { CommandKind, ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(stopTestServers);

/** The client can still join and get its own message back after the refusal. */
async function stillUsable(client: ChatTester, room = "still-ok"): Promise<void> {
  client.join(room, "checker");
  await client.joined(room);
  const id = client.send(room, "still here");
  await client.waitFor("message", (m) => m.clientMsgId === id);
}

describe("nicknames", () => {
  it("a second alice in the same room gets ALREADY_EXISTS and her stream stays usable", async () => {
    const server = await startTestServer();
    const first = ChatTester.connect(server.baseUrl, "alice");
    first.join("lobby");
    await first.joined("lobby");
    const second = ChatTester.connect(server.baseUrl, "alice");
    second.request({ requestId: "j1", command: { case: "join", value: { room: "lobby", nickname: "alice" } } });
    const err = await second.error();
    expect(err.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(err.command).toBe(CommandKind.JOIN);
    expect(err.requestId).toBe("j1");
    expect(err.room).toBe("lobby");
    expect(err.message).toContain("alice");
    // The same nickname in another room is fine.
    second.join("elsewhere", "alice");
    await second.joined("elsewhere");
    await stillUsable(second);
    expect(second.ended).toBeUndefined();
  });

  it.each([
    ["empty", ""],
    ["33 characters", "a".repeat(33)],
    ["a control character", "ali\u0007ce"],
    ["a newline", "ali\nce"],
    ["a zero-width space", "al\u200Bice"],
    ["a soft hyphen", "ali\u00ADce"],
    ["a right-to-left override", "\u202Ealice"],
    ["a bidi isolate", "\u2066alice\u2069"],
    ["the Hangul filler", "\u3164"],
    ["only spaces", "   "],
  ])("refuses a nickname with %s", async (_why, nickname) => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby", nickname);
    const err = await c.error();
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/nickname/);
    await stillUsable(c);
  });

  it("prepares a nickname as RFC 8266 says: outer spaces trimmed, inner runs collapsed, NFKC (fullwidth letters become ASCII)", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("a", "  ann   lee ");
    c.join("b", "\uFF41\uFF4C\uFF49\uFF43\uFF45"); // ａｌｉｃｅ
    expect((await c.joined("a")).nickname).toBe("ann lee");
    expect((await c.joined("b")).nickname).toBe("alice");
  });

  it("says exactly which character a nickname was refused for", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby", "al\u200Bice");
    expect((await c.error()).message).toMatch(/invisible character \(U\+200B ZERO WIDTH SPACE\)/);
  });

  it("refuses a nickname that looks like one already in the room (confusable skeleton), naming the holder", async () => {
    const server = await startTestServer();
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("lobby");
    await alice.joined("lobby");
    for (const lookalike of ["\u0430lice", "ALICE", "Alice", "\uFF41lice"]) {
      const c = ChatTester.connect(server.baseUrl, "c");
      c.join("lobby", lookalike);
      const err = await c.error();
      expect(err.code).toBe(ErrorCode.ALREADY_EXISTS);
      expect(err.message).toMatch(/"alice"/);
    }
  });

  it("accepts 32 characters, including non-ASCII ones", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    const name = "é".repeat(31) + "😀";
    c.join("lobby", name);
    expect((await c.joined("lobby")).nickname).toBe(name);
  });
});

describe("room names", () => {
  it.each([
    ["empty", ""],
    ["spaces", "the lobby"],
    ["a slash", "a/b"],
    ["65 characters", "r".repeat(65)],
  ])("refuses a room name with %s", async (_why, room) => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join(room);
    const err = await c.error();
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/room name/);
    await stillUsable(c);
  });

  it("refuses joining the same room twice on one stream", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby", "a");
    await c.joined("lobby");
    c.join("lobby", "b");
    expect((await c.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
  });
});

describe("message text", () => {
  it("refuses empty text and text over 4096 bytes, accepts exactly 4096", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby");
    await c.joined("lobby");
    c.send("lobby", "", "empty");
    const empty = await c.error((e) => e.clientMsgId === "empty");
    expect(empty.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(empty.command).toBe(CommandKind.SEND);
    // 4097 bytes: 2048 two-byte characters plus one byte.
    c.send("lobby", "é".repeat(2048) + "x", "big");
    const big = await c.error((e) => e.clientMsgId === "big");
    expect(big.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(big.message).toContain("4096 bytes");
    c.send("lobby", "é".repeat(2048), "max");
    const max = await c.waitFor("message", (m) => m.clientMsgId === "max");
    expect(Buffer.byteLength(max.text)).toBe(4096);
    expect(c.messages()).toHaveLength(1);
  });

  it("refuses sending to a room the client has not joined", async () => {
    const server = await startTestServer();
    const member = ChatTester.connect(server.baseUrl, "member");
    member.join("lobby");
    await member.joined("lobby");
    const outsider = ChatTester.connect(server.baseUrl, "outsider");
    outsider.send("lobby", "let me in", "x1");
    const err = await outsider.error();
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.message).toMatch(/not a member/);
    await stillUsable(outsider);
    expect(member.messages()).toHaveLength(0);
  });

  it("refuses an overlong client_msg_id", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby");
    await c.joined("lobby");
    c.send("lobby", "hi", "x".repeat(65));
    expect((await c.error()).message).toMatch(/client_msg_id/);
  });
});

describe("limits and malformed commands", () => {
  it("limits the rooms one stream may join", async () => {
    const server = await startTestServer({ maxRoomsPerClient: 3 });
    const c = ChatTester.connect(server.baseUrl, "c");
    for (const r of ["r1", "r2", "r3"]) c.join(r);
    await c.joined("r3");
    c.join("r4");
    const err = await c.error();
    expect(err.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/at most 3 rooms/);
    // Leaving one makes room for another.
    c.leave("r1");
    c.join("r4");
    await c.joined("r4");
  });

  it("answers a request with no command set", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.request({ requestId: "nothing" });
    const err = await c.error();
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.command).toBe(CommandKind.UNSPECIFIED);
    expect(err.requestId).toBe("nothing");
    await stillUsable(c);
  });

  it("refuses leaving a room the client is not in", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.leave("lobby");
    const err = await c.error();
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.command).toBe(CommandKind.LEAVE);
  });

  it("answers a ping with a heartbeat carrying its nonce", async () => {
    const server = await startTestServer();
    const c = ChatTester.connect(server.baseUrl, "c");
    c.request({ command: { case: "ping", value: { nonce: "n-42" } } });
    const hb = await c.waitFor("heartbeat", (h) => h.nonce === "n-42");
    expect(Number(hb.serverTime?.seconds)).toBeGreaterThan(0);
  });

  it("sends periodic heartbeats", async () => {
    const server = await startTestServer({ heartbeatMs: 50 });
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby");
    await c.waitFor("heartbeat", (h) => h.nonce === "");
  });

  it("tells the other members who is typing, not the typist", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    const b = ChatTester.connect(server.baseUrl, "b");
    a.join("lobby");
    b.join("lobby");
    await a.joined("lobby");
    await b.joined("lobby");
    a.request({ command: { case: "typing", value: { room: "lobby" } } });
    expect((await b.waitFor("typing")).nickname).toBe("a");
    const id = a.send("lobby", "done typing");
    await a.waitFor("message", (m) => m.clientMsgId === id);
    expect(a.of("typing")).toHaveLength(0);
  });
});
