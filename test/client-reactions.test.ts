/**
 * Reactions (issue 19) in the client core (src/client/chat-session.ts,
 * reactions.ts), in-process against a real server, over every session
 * transport: react() and unreact() go out like messages (outbox, ids,
 * resends after a drop), every member's session keeps each message's counts
 * (reactionChanged; `mine` on one's own), a reaction entry is never a message
 * of its own, and a member who missed reactions counts them right after the
 * replay (not twice).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { ChatSession, type ReactionChanged } from "../src/client/chat-session.js";
import { isChange } from "../src/client/message-changes.js";
import { isReaction } from "../src/client/reactions.js";
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
    /** What a front end shows as messages: everything but change and reaction entries and room actions. */
    messages: [] as ChatMessage[],
    reactions: [] as ReactionChanged[],
    acks: [] as ChatMessage[],
    failed: [] as { reason: string; reaction?: { seq: bigint; emoji: string; remove: boolean } }[],
  };
  session.on("event", (e) => {
    const m = e.event.case === "message" ? e.event.value : undefined;
    if (m && !isChange(m) && !isReaction(m) && !m.action) log.messages.push(m);
  });
  session.on("reactionChanged", (c) => log.reactions.push(c));
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

/** A message's counts as [emoji, count, mine]. */
const counts = (m: ChatMessage | undefined) => m?.reactions.map((c) => [c.emoji, c.count, c.mine]);

const transports = await sessionTransports();

describe.each(transports)("reactions in the client core over $name", (entry) => {
  it("react and unreact: every member's counts follow, mine on one's own; a reaction entry is never a message; a later joiner gets the counts", async () => {
    const server = await startTestServer();
    const alice = record(entry.make(server.baseUrl), "alice");
    const bob = record(entry.make(server.baseUrl), "bob");
    await waitUntil(() => alice.session.isLive("lobby") && bob.session.isLive("lobby"), "both live");

    ok(alice.session.send("lobby", "lunch?"));
    const m = await waitUntil(() => bob.messages.find((x) => x.text === "lunch?"), "alice's message at bob's");

    const bobId = ok(bob.session.react("lobby", m.seq, "👍"));
    await waitUntil(() => bob.acks.some((a) => a.clientMsgId === bobId), "bob's reaction acknowledged");
    ok(alice.session.react("lobby", m.seq, "👍"));
    ok(alice.session.react("lobby", m.seq, "❤️"));
    for (const who of [alice, bob]) await waitUntil(() => who.reactions.length === 3, `three reaction changes at ${who.session.nickname}'s`);
    expect(counts(alice.session.message("lobby", m.seq))).toEqual([
      ["👍", 2, true],
      ["❤️", 1, true],
    ]);
    expect(counts(bob.session.message("lobby", m.seq))).toEqual([
      ["👍", 2, true],
      ["❤️", 1, false],
    ]);
    const last = bob.reactions[2];
    expect(last).toMatchObject({ room: "lobby", seq: m.seq, change: { emoji: "❤️", removed: false, by: "alice", mine: false } });
    expect(alice.reactions[2].change?.mine).toBe(true);
    expect(alice.session.message("lobby", m.seq)?.reactions[0].userIds).toEqual([bob.session.userId, alice.session.userId]);

    // Reacting again with the same emoji changes nothing: acknowledged all the same, nothing counted twice.
    const again = ok(bob.session.react("lobby", m.seq, "👍"));
    await waitUntil(() => bob.session.unacknowledged === 0, "the repeated reaction answered");
    expect(bob.failed).toEqual([]);
    expect(again).not.toBe(bobId);
    expect(counts(bob.session.message("lobby", m.seq))).toEqual([
      ["👍", 2, true],
      ["❤️", 1, false],
    ]);

    // toggleReaction: alice has ❤️, so it comes off.
    const toggled = alice.session.toggleReaction("lobby", m.seq, "❤️");
    expect(toggled).toMatchObject({ ok: true, removed: true });
    for (const who of [alice, bob]) await waitUntil(() => who.session.message("lobby", m.seq)?.reactions.length === 1, "❤️ gone");
    ok(bob.session.unreact("lobby", m.seq, "👍"));
    for (const who of [alice, bob]) await waitUntil(() => who.session.message("lobby", m.seq)?.reactions[0].count === 1, "one 👍 left");
    expect(counts(bob.session.message("lobby", m.seq))).toEqual([["👍", 1, false]]);
    expect(counts(alice.session.message("lobby", m.seq))).toEqual([["👍", 1, true]]);

    // No reaction entry was ever a message.
    expect(alice.messages.map((x) => x.text)).toEqual(["lunch?"]);
    expect(bob.messages.map((x) => x.text)).toEqual(["lunch?"]);
    expect(alice.session.unacknowledged + bob.session.unacknowledged).toBe(0);

    // A member joining later gets the message counted, as it is for them.
    const carol = record(entry.make(server.baseUrl), "carol");
    await waitUntil(() => carol.session.isLive("lobby"), "carol live");
    expect(counts(carol.session.message("lobby", m.seq))).toEqual([["👍", 1, false]]);
    expect(carol.reactions).toEqual([]);
    ok(carol.session.react("lobby", m.seq, "👍"));
    await waitUntil(() => carol.session.message("lobby", m.seq)?.reactions[0]?.count === 2, "carol's 👍 counted");
    expect(counts(carol.session.message("lobby", m.seq))).toEqual([["👍", 2, true]]);
  });

  it("a reaction whose acknowledgement was lost goes again after the reconnect with its id, and counts once", async () => {
    const server = await startTestServer();
    // The first connection dies right when alice's reaction entry comes back: stored, not acknowledged.
    const t = tamper(entry.make(server.baseUrl), (c, events) =>
      c === 0 && events.some((e) => e.event.case === "message" && e.event.value.reaction !== undefined) ? "drop" : events,
    );
    const alice = record(t.transport, "alice");
    await waitUntil(() => alice.session.isLive("lobby"), "live");
    ok(alice.session.send("lobby", "vote here"));
    const m = await waitUntil(() => alice.messages[0], "the message");
    const id = ok(alice.session.react("lobby", m.seq, "🎉"));
    await waitUntil(() => alice.session.unacknowledged === 0, "the reaction acknowledged after reconnecting", 10_000);
    await waitUntil(() => alice.session.message("lobby", m.seq)?.reactions.length === 1, "counted");
    expect(counts(alice.session.message("lobby", m.seq))).toEqual([["🎉", 1, true]]);
    expect(t.sent.length).toBeGreaterThan(1);
    const reacts = t.sent.flatMap((reqs) => reqs.flatMap((r) => (r.command.case === "react" ? [r.command.value.clientMsgId] : [])));
    expect(new Set(reacts)).toEqual(new Set([id]));
    const page = await createChatClient(server.baseUrl).getHistory({ room: "lobby", limit: 50 });
    expect(page.messages.filter((x) => x.reaction).length).toBe(1);
    expect(page.messages.find((x) => x.seq === m.seq)?.reactions.map((c) => [c.emoji, c.count])).toEqual([["🎉", 1]]);
  });
});

describe.each(transports)("a member who missed reactions, over $name", (entry) => {
  it("counts them right after the replay: each reaction once, the ones taken back not at all", async () => {
    const server = await startTestServer();
    const alice = record(entry.make(server.baseUrl), "alice");
    // Bob's first connection dies as the first reaction arrives, and he stays offline until alice is
    // done: the replay then gives "second" and every reaction entry after it.
    const t = tamper(entry.make(server.baseUrl), (c, events) => {
      if (c > 0 || !events.some((e) => e.event.case === "message" && e.event.value.reaction !== undefined)) return events;
      t.state.offline = true;
      return "drop";
    });
    const bob = record(t.transport, "bob");
    await waitUntil(() => alice.session.isLive("lobby") && bob.session.isLive("lobby"), "both live");
    ok(alice.session.send("lobby", "first"));
    const first = await waitUntil(() => bob.messages.find((x) => x.text === "first"), "first at bob's");
    ok(alice.session.react("lobby", first.seq, "👀"));
    ok(alice.session.send("lobby", "second"));
    await waitUntil(() => alice.messages.some((x) => x.text === "second"), "second at alice's");
    const second = alice.messages.find((x) => x.text === "second")!;
    ok(alice.session.react("lobby", second.seq, "👍"));
    ok(alice.session.react("lobby", second.seq, "😂"));
    ok(alice.session.unreact("lobby", second.seq, "😂"));
    await waitUntil(() => alice.session.unacknowledged === 0, "alice's reactions stored");
    await waitUntil(() => t.state.offline, "bob offline");
    t.state.offline = false;
    await waitUntil(() => t.sent.length > 1 && bob.session.isLive("lobby") && bob.messages.some((x) => x.text === "second"), "bob back, caught up", 10_000);
    // The last of them, live or replayed: everything before it is in.
    await waitUntil(() => bob.reactions.some((r) => r.change?.emoji === "😂" && r.change.removed), "the 😂 taken off, at bob's", 10_000);
    expect(counts(bob.session.message("lobby", first.seq))).toEqual([["👀", 1, false]]);
    expect(counts(bob.session.message("lobby", second.seq))).toEqual([["👍", 1, false]]);
    expect(bob.messages.map((x) => x.text)).toEqual(["first", "second"]);
  });
});

describe("refusals", () => {
  it("a reaction that is not one emoji, to no number, to a deleted message or outside the room is refused before it is sent; one to a number the room never had is the server's to refuse", async () => {
    const server = await startTestServer();
    const [first] = transports;
    const alice = record(first.make(server.baseUrl), "alice");
    await waitUntil(() => alice.session.isLive("lobby"), "live");
    ok(alice.session.send("lobby", "soon gone"));
    const m = await waitUntil(() => alice.messages[0], "the message");
    ok(alice.session.deleteMessage("lobby", m.seq));
    await waitUntil(() => alice.session.message("lobby", m.seq)?.deleted, "deleted");
    expect(alice.session.react("lobby", m.seq, "👍")).toEqual({ ok: false, reason: `message #${m.seq} was deleted` });
    expect(alice.session.react("lobby", 0, "👍").ok).toBe(false);
    expect(alice.session.react("lobby", 1, "yes").ok).toBe(false);
    expect(alice.session.react("lobby", 1, "👍👍").ok).toBe(false);
    expect(alice.session.react("elsewhere", 1, "👍")).toEqual({ ok: false, reason: "not in #elsewhere" });
    expect(alice.session.unacknowledged).toBe(0);
    ok(alice.session.react("lobby", 99, "👍"));
    await waitUntil(() => alice.failed.length === 1, "the refusal");
    expect(alice.failed[0].reaction).toEqual({ seq: 99n, emoji: "👍", remove: false });
    expect(alice.session.unacknowledged).toBe(0);
  });

  it("pending() leaves reactions out (sent again as messages they would say something else)", () => {
    const [first] = transports;
    const session = new ChatSession({ server: "test", transport: first.make("http://127.0.0.1:9"), nickname: "alice" });
    session.join("lobby");
    const plain = ok(session.send("lobby", "hello"));
    ok(session.react("lobby", 4, "👍"));
    expect(session.unacknowledged).toBe(2);
    expect(session.pending()).toEqual([{ id: plain, room: "lobby", text: "hello" }]);
  });
});
