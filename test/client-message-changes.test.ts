/**
 * Messages that change (issue 19), in the client core (src/client/chat-session.ts,
 * message-changes.ts), in-process against a real server, over every session
 * transport: edit(), deleteMessage() and send(..., { replyTo }) go out like
 * messages (outbox, ids, resends after a drop), and every member's session
 * applies the change entries to the room's kept messages (messageChanged),
 * replies' quotes included, so a change entry is never a message of its own.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { ChatSession, type MessageChanged } from "../src/client/chat-session.js";
import { isChange } from "../src/client/message-changes.js";
import type { SessionTransport } from "../src/client/session-transport.js";
import { createChatClient } from "../src/client/transport.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { sessionTransports, tamper } from "./support/session-transports.js";
import { waitUntil } from "./support/wait.js";

const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

function record(transport: SessionTransport, nickname: string) {
  const session = new ChatSession({ server: "test", transport, nickname, backoff: { baseMs: 20, maxMs: 200 } });
  sessions.push(session);
  const log = {
    session,
    /** What a front end shows as messages: everything but change entries and room actions. */
    messages: [] as ChatMessage[],
    changes: [] as MessageChanged[],
    acks: [] as ChatMessage[],
    failed: [] as { reason: string; change?: { kind: string; seq: bigint } }[],
  };
  session.on("event", (e) => {
    if (e.event.case === "message" && !isChange(e.event.value) && !e.event.value.action) log.messages.push(e.event.value);
  });
  session.on("messageChanged", (c) => log.changes.push(c));
  session.on("ack", (m) => log.acks.push(m));
  session.on("sendFailed", (f) => log.failed.push(f));
  session.join("lobby");
  void session.start();
  return log;
}

const ok = (r: { ok: true; id: string } | { ok: false; reason: string }) => {
  if (!r.ok) throw new Error(r.reason);
  return r.id;
};

const transports = await sessionTransports();

describe.each(transports)("messages that change, in the client core over $name", (entry) => {
  it("an edit, a reply and a delete: every member's kept messages and reply quotes follow; a change entry is never a message", async () => {
    const server = await startTestServer();
    const alice = record(entry.make(server.baseUrl), "alice");
    const bob = record(entry.make(server.baseUrl), "bob");
    await waitUntil(() => alice.session.isLive("lobby") && bob.session.isLive("lobby"), "both live");

    ok(alice.session.send("lobby", "helo world"));
    const original = await waitUntil(() => bob.messages.find((m) => m.text === "helo world"), "alice's message at bob's");
    ok(bob.session.send("lobby", "what?", { replyTo: original.seq }));
    const answer = await waitUntil(() => alice.messages.find((m) => m.text === "what?"), "bob's reply at alice's");
    expect(answer.replyTo).toMatchObject({ seq: original.seq, sender: "alice", quote: "helo world", deleted: false });

    const editId = ok(alice.session.edit("lobby", original.seq, "hello world"));
    for (const who of [alice, bob]) {
      const c = await waitUntil(() => who.changes.find((x) => x.kind === "edit"), "the edit");
      expect(c).toMatchObject({ room: "lobby", seq: original.seq, by: "alice", message: { text: "hello world", deleted: false } });
      expect(c.message?.editedAt).toBeDefined();
      expect(c.replies.map((r) => [r.seq, r.replyTo?.quote])).toEqual([[answer.seq, "hello world"]]);
      expect(who.session.message("lobby", answer.seq)?.replyTo?.quote).toBe("hello world");
    }
    // The edit entry acknowledged the edit, and left the outbox.
    await waitUntil(() => alice.acks.some((m) => m.clientMsgId === editId), "the edit's acknowledgement");
    expect(alice.session.unacknowledged).toBe(0);

    // Bob may not edit nor delete alice's message: refused, said once, with what it was.
    ok(bob.session.edit("lobby", original.seq, "bob was here"));
    ok(bob.session.deleteMessage("lobby", original.seq));
    await waitUntil(() => bob.failed.length === 2, "bob's refusals");
    expect(bob.failed.map((f) => f.change?.kind)).toEqual(["edit", "delete"]);
    expect(bob.failed[0].reason).toMatch(/author|permission|not yours|own/i);
    expect(bob.session.unacknowledged).toBe(0);

    ok(alice.session.deleteMessage("lobby", original.seq));
    for (const who of [alice, bob]) {
      const c = await waitUntil(() => who.changes.find((x) => x.kind === "delete"), "the delete");
      expect(c.message).toMatchObject({ seq: original.seq, text: "", deleted: true });
      expect(c.replies[0].replyTo).toMatchObject({ seq: original.seq, quote: "", deleted: true });
    }
    // Refused before it goes out: there is nothing left to edit.
    expect(alice.session.edit("lobby", original.seq, "again")).toEqual({ ok: false, reason: `message #${original.seq} was deleted` });

    // A change entry never came as a message of its own.
    expect(alice.messages.map((m) => m.text)).toEqual(["helo world", "what?"]);
    expect(bob.messages.map((m) => m.text)).toEqual(["helo world", "what?"]);

    // A member joining later starts from the room as it is now: the tombstone, and the reply showing it.
    const carol = record(entry.make(server.baseUrl), "carol");
    await waitUntil(() => carol.session.isLive("lobby"), "carol live");
    expect(carol.session.message("lobby", original.seq)).toMatchObject({ deleted: true, text: "" });
    expect(carol.session.message("lobby", answer.seq)?.replyTo).toMatchObject({ deleted: true, quote: "" });
    expect(carol.changes).toEqual([]);
  });

  it("an edit whose acknowledgement was lost goes again after the reconnect with its id, and is stored once", async () => {
    const server = await startTestServer();
    // The first connection dies right when alice's edit entry comes back: stored, not acknowledged.
    const t = tamper(entry.make(server.baseUrl), (c, events) =>
      c === 0 && events.some((e) => e.event.case === "message" && e.event.value.change !== undefined) ? "drop" : events,
    );
    const alice = record(t.transport, "alice");
    await waitUntil(() => alice.session.isLive("lobby"), "live");
    ok(alice.session.send("lobby", "frist"));
    const m = await waitUntil(() => alice.messages[0], "the message");
    const id = ok(alice.session.edit("lobby", m.seq, "first"));
    await waitUntil(() => alice.acks.some((a) => a.clientMsgId === id), "the edit acknowledged after reconnecting", 10_000);
    expect(alice.changes.map((c) => [c.kind, c.message?.text])).toEqual([["edit", "first"]]);
    expect(alice.session.unacknowledged).toBe(0);
    const page = await createChatClient(server.baseUrl).getHistory({ room: "lobby", limit: 50 });
    expect(page.messages.filter((x) => x.change).length).toBe(1);
    expect(page.messages.find((x) => x.seq === m.seq)?.text).toBe("first");
    // The edit went out under the same id on both connections.
    expect(t.sent.length).toBeGreaterThan(1);
    const edits = t.sent.flatMap((reqs) => reqs.flatMap((r) => (r.command.case === "editMessage" ? [r.command.value.clientMsgId] : [])));
    expect(new Set(edits)).toEqual(new Set([id]));
  });
});

describe.each(transports)("a member who missed a change, over $name", (entry) => {
  it("gets it in the replay after reconnecting: the kept message and the reply's quote follow, in order", async () => {
    const server = await startTestServer();
    const alice = record(entry.make(server.baseUrl), "alice");
    // Bob's first connection dies as the edit arrives: he never saw it live.
    const t = tamper(entry.make(server.baseUrl), (c, events) =>
      c === 0 && events.some((e) => e.event.case === "message" && e.event.value.change !== undefined) ? "drop" : events,
    );
    const bob = record(t.transport, "bob");
    await waitUntil(() => alice.session.isLive("lobby") && bob.session.isLive("lobby"), "both live");
    ok(alice.session.send("lobby", "v1"));
    const target = await waitUntil(() => bob.messages.find((m) => m.text === "v1"), "v1 at bob's");
    ok(alice.session.send("lobby", "about v1", { replyTo: target.seq }));
    const reply = await waitUntil(() => bob.messages.find((m) => m.text === "about v1"), "the reply at bob's");
    ok(alice.session.edit("lobby", target.seq, "v2"));
    ok(alice.session.deleteMessage("lobby", target.seq));
    await waitUntil(() => bob.changes.length === 2, "both changes at bob's, after his reconnect", 10_000);
    expect(t.sent.length).toBeGreaterThan(1);
    expect(bob.changes.map((c) => [c.kind, c.seq])).toEqual([
      ["edit", target.seq],
      ["delete", target.seq],
    ]);
    expect(bob.session.message("lobby", target.seq)).toMatchObject({ text: "", deleted: true });
    expect(bob.session.message("lobby", reply.seq)?.replyTo).toMatchObject({ deleted: true, quote: "" });
    expect(bob.messages.map((m) => m.text)).toEqual(["v1", "about v1"]);
  });
});

describe("refusals by the session itself", () => {
  it("a reply or change without a message number, an empty edit, or a room not joined are refused before anything is sent", async () => {
    const server = await startTestServer();
    const [first] = transports;
    const alice = record(first.make(server.baseUrl), "alice");
    await waitUntil(() => alice.session.isLive("lobby"), "live");
    expect(alice.session.send("lobby", "hi", { replyTo: 0 }).ok).toBe(false);
    expect(alice.session.edit("lobby", 0, "x").ok).toBe(false);
    expect(alice.session.edit("lobby", 1, "").ok).toBe(false);
    expect(alice.session.deleteMessage("elsewhere", 1)).toEqual({ ok: false, reason: "not in #elsewhere" });
    expect(alice.session.unacknowledged).toBe(0);
    // And a number the room never had is the server's to refuse: NOT_FOUND, given up on.
    ok(alice.session.deleteMessage("lobby", 99));
    await waitUntil(() => alice.failed.length === 1, "the refusal");
    expect(alice.failed[0].change).toEqual({ kind: "delete", seq: 99n });
  });
});

describe("what a front end keeps across a restart", () => {
  it("pending() keeps a queued reply with its number, and leaves edits and deletes out (sent again as messages they would say something else)", () => {
    const [first] = transports;
    const session = new ChatSession({ server: "test", transport: first.make("http://127.0.0.1:9"), nickname: "alice" });
    session.join("lobby");
    const reply = ok(session.send("lobby", "me too", { replyTo: 4 }));
    const plain = ok(session.send("lobby", "hello"));
    ok(session.edit("lobby", 4, "fixed"));
    ok(session.deleteMessage("lobby", 5));
    expect(session.unacknowledged).toBe(4);
    expect(session.pending()).toEqual([
      { id: reply, room: "lobby", text: "me too", replyTo: 4n },
      { id: plain, room: "lobby", text: "hello" },
    ]);
  });
});
