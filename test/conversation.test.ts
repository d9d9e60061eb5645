/** Promises to users about an ordinary conversation, over the generated Connect client. */
import { afterEach, describe, expect, it } from "vitest";
import { LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(stopTestServers);

describe("a conversation", () => {
  it("joins, sends, receives in order with acknowledgements, and leaves", async () => {
    const server = await startTestServer();
    const alice = ChatTester.connect(server.baseUrl, "alice");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    alice.join("lobby");
    const aliceJoined = await alice.joined("lobby");
    expect(aliceJoined.members.map((m) => m.nickname)).toEqual(["alice"]);
    bob.join("lobby");
    const bobJoined = await bob.joined("lobby");
    expect(bobJoined.members.map((m) => m.nickname).sort()).toEqual(["alice", "bob"]);
    const seen = await alice.waitFor("memberJoined", (e) => e.member?.nickname === "bob");
    expect(seen.room).toBe("lobby");

    const ids = ["hello", "how are you", "bye"].map((t) => alice.send("lobby", t));
    bob.send("lobby", "hi alice", "bob-1");
    const aliceGot = await alice.messageCount(4);
    const bobGot = await bob.messageCount(4);
    // Everyone sees the same order, the order of sequence numbers.
    expect(bobGot.map((m) => [m.seq, m.sender, m.text])).toEqual(aliceGot.map((m) => [m.seq, m.sender, m.text]));
    expect(aliceGot.map((m) => Number(m.seq))).toEqual([1, 2, 3, 4]);
    // The sender's acknowledgement is its own message coming back with its client id.
    expect(aliceGot.filter((m) => m.sender === "alice").map((m) => m.clientMsgId)).toEqual(ids);
    const hello = aliceGot.find((m) => m.text === "hello")!;
    expect(Number(hello.sentAt?.seconds)).toBeGreaterThan(0);

    bob.leave("lobby");
    await bob.waitFor("left", (e) => e.room === "lobby");
    const left = await alice.waitFor("memberLeft", (e) => e.nickname === "bob");
    expect(left.reason).toBe(LeaveReason.LEFT);
    alice.end();
    bob.end();
    expect(await alice.done).toEqual({ code: "ok", message: "" });
    expect(await bob.done).toEqual({ code: "ok", message: "" });
  });
});
