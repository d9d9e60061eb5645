/**
 * Nothing lost, nothing twice: resuming after a known sequence number replays
 * exactly what was missed, then continues live, even while others keep
 * sending; resends of the same client id are stored once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const seqs = (t: ChatTester, room = "lobby") => t.messages(room).map((m) => Number(m.seq));

describe("resume after a sequence number", () => {
  it("replays what was missed, then goes live, with no gap and no duplicate while others keep sending", async () => {
    // Small replay pages so the replay takes many steps, interleaved with live traffic.
    // and a small queue, so the replay pauses for the client to read and resumes from the queue.
    const server = await startTestServer({ maxQueuedBytes: 8192 }, { hubLimits: { replayPageSize: 7 } });
    const senders = ["s1", "s2", "s3"].map((n) => ChatTester.connect(server.baseUrl, n));
    for (const s of senders) s.join("lobby");
    for (const s of senders) await s.joined("lobby");
    const first = ChatTester.connect(server.baseUrl, "reader");
    first.join("lobby");
    const joined = await first.joined("lobby");
    for (let i = 0; i < 100; i++) senders[i % 3].send("lobby", `before ${i}`);
    await first.messageCount(100);
    first.cancel();
    await waitUntil(() => server.hub.localMembers("lobby").length === 3, "reader gone");
    const resumeAfter = 10; // it saw more, but pretend it only processed up to 10

    // Senders keep going while the reader comes back.
    let stop = false;
    let sent = 100;
    const traffic = (async () => {
      while (!stop && sent < 5000) {
        for (let i = 0; i < 30; i++) senders[i % 3].send("lobby", `during ${sent++}`);
        await senders[0].messageCount(sent - 30);
      }
    })();
    const back = ChatTester.connect(server.baseUrl, "reader");
    back.join("lobby", "reader", { afterSeq: BigInt(resumeAfter), epoch: joined.epoch });
    const rejoined = await back.joined("lobby");
    expect(rejoined.resumed).toBe(true);
    expect(rejoined.historyTruncated).toBe(false);
    expect(rejoined.epochChanged).toBe(false);
    expect(rejoined.recent).toEqual([]);
    await waitUntil(() => back.messages().length > 300, "replay and some live traffic");
    stop = true;
    await traffic;
    await back.messageCount(sent - resumeAfter, "lobby", 10_000);
    const got = seqs(back);
    expect(got).toEqual(Array.from({ length: sent - resumeAfter }, (_, i) => resumeAfter + 1 + i));
  });

  it("says explicitly when retention already dropped part of what was missed", async () => {
    const server = await startTestServer({ historyLimit: 10 });
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    const joined = await a.joined("lobby");
    for (let i = 1; i <= 30; i++) a.send("lobby", `m${i}`);
    await a.messageCount(30);
    const b = ChatTester.connect(server.baseUrl, "b");
    b.join("lobby", "b", { afterSeq: 5n, epoch: joined.epoch });
    const j = await b.joined("lobby");
    expect(j.historyTruncated).toBe(true);
    expect(Number(j.firstSeq)).toBe(21);
    await b.messageCount(10);
    expect(seqs(b)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
  });

  it("tells a client whose position is from another history, and replays what there is", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    await a.joined("lobby");
    for (let i = 1; i <= 3; i++) a.send("lobby", `m${i}`);
    await a.messageCount(3);
    const b = ChatTester.connect(server.baseUrl, "b");
    b.join("lobby", "b", { afterSeq: 2n, epoch: "some-other-history" });
    const j = await b.joined("lobby");
    expect(j.epochChanged).toBe(true);
    await b.messageCount(3);
    expect(seqs(b)).toEqual([1, 2, 3]);
  });

  it("treats a position without its epoch as from another history: epoch_changed and everything replayed", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    await a.joined("lobby");
    for (let i = 1; i <= 3; i++) a.send("lobby", `m${i}`);
    await a.messageCount(3);
    const b = ChatTester.connect(server.baseUrl, "b");
    b.join("lobby", "b", { afterSeq: 2n, epoch: "" });
    const j = await b.joined("lobby");
    expect(j.resumed).toBe(true);
    expect(j.epochChanged).toBe(true);
    await b.messageCount(3);
    expect(seqs(b)).toEqual([1, 2, 3]);
    // after_seq 0 without an epoch has lost nothing: no epoch change.
    const c = ChatTester.connect(server.baseUrl, "c");
    c.join("lobby", "c", { afterSeq: 0n, epoch: "" });
    expect((await c.joined("lobby")).epochChanged).toBe(false);
  });

  it("a join without a position gets the most recent messages in the joined event", async () => {
    const server = await startTestServer();
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    await a.joined("lobby");
    for (let i = 1; i <= 60; i++) a.send("lobby", `m${i}`);
    await a.messageCount(60);
    const b = ChatTester.connect(server.baseUrl, "b");
    b.join("lobby");
    const j = await b.joined("lobby");
    expect(j.recent.map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${11 + i}`));
    expect(Number(j.lastSeq)).toBe(60);
    expect(j.resumed).toBe(false);
  });
});

describe("idempotent send", () => {
  it("a resend with the same client id is stored once and acknowledged with the original sequence number", async () => {
    const server = await startTestServer();
    const watcher = ChatTester.connect(server.baseUrl, "watcher");
    watcher.join("lobby");
    await watcher.joined("lobby");
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("lobby");
    await alice.joined("lobby");
    alice.send("lobby", "hello", "msg-1");
    const ack = await alice.waitFor("message", (m) => m.clientMsgId === "msg-1");
    // Alice reconnects and resends what she is unsure of.
    alice.cancel();
    const again = ChatTester.connect(server.baseUrl, "alice");
    again.join("lobby");
    await again.joined("lobby");
    again.send("lobby", "hello", "msg-1");
    again.send("lobby", "hello", "msg-1"); // twice in one turn, too
    again.send("lobby", "next", "msg-2");
    const acks = await waitUntil(() => {
      const m = again.messages().filter((x) => x.clientMsgId === "msg-1");
      return m.length >= 1 && again.messages().some((x) => x.clientMsgId === "msg-2") && m;
    }, "acks");
    expect(acks.every((m) => m.seq === ack.seq)).toBe(true);
    const seen = await watcher.messageCount(2);
    expect(seen.map((m) => [m.clientMsgId, Number(m.seq)])).toEqual([
      ["msg-1", 1],
      ["msg-2", 2],
    ]);
    // The same client id from someone else is a different message.
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    bob.send("lobby", "hello", "msg-1");
    expect(Number((await bob.waitFor("message", (m) => m.clientMsgId === "msg-1")).seq)).toBe(3);
  });
});

describe("idempotency keys", () => {
  it("a client id reused for a different text is refused with an error event, and the original stands", async () => {
    const server = await startTestServer();
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("lobby");
    await alice.joined("lobby");
    alice.send("lobby", "the original", "k-1");
    await alice.waitFor("message", (m) => m.clientMsgId === "k-1");
    alice.send("lobby", "something else", "k-1");
    const err = await alice.error((e) => e.clientMsgId === "k-1");
    expect(err.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(err.message).toMatch(/client_msg_id "k-1" was already used for another message/);
    const history = await createChatClient(server.baseUrl).getHistory({ room: "lobby" });
    expect(history.messages.map((m) => m.text)).toEqual(["the original"]);
  });

  it("outlive history retention: a resend after the original was dropped is not stored again", async () => {
    const server = await startTestServer({ historyLimit: 5 });
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("lobby");
    await alice.joined("lobby");
    alice.send("lobby", "first", "k-1");
    const ack = await alice.waitFor("message", (m) => m.clientMsgId === "k-1");
    for (let i = 0; i < 20; i++) alice.send("lobby", `filler ${i}`);
    await alice.messageCount(21);
    alice.send("lobby", "first", "k-1");
    const acks = await waitUntil(() => {
      const got = alice.messages().filter((m) => m.clientMsgId === "k-1");
      return got.length === 2 && got;
    }, "the resend's acknowledgement");
    expect(acks[1].seq).toBe(ack.seq);
    alice.send("lobby", "marker", "k-2");
    const marker = await alice.waitFor("message", (m) => m.clientMsgId === "k-2");
    expect(Number(marker.seq)).toBe(22); // nothing was stored in between
  });
});
