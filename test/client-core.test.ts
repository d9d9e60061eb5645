/**
 * The client core (src/client/chat-session.ts), in-process against real
 * servers, over every session transport: the Chat stream that the terminal
 * client uses, and OpenSession + Command that a browser uses (over gRPC, and
 * over the Connect protocol on the HTTP port, as a browser does). The same
 * promises every way: reconnecting by itself, resuming rooms, delivering every message exactly once across drops,
 * leaving cleanly, typing indicators, nicknames as the server stored them.
 */
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LeaveReason, type ChatMessage, type JoinedEvent, type ServerEvent } from "../gen/chat/v1/chat_pb.js";
import { ChatSession, type ChatSessionOptions, type Notice } from "../src/client/chat-session.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import type { SessionTransport } from "../src/client/session-transport.js";
import { createChatClient } from "../src/client/transport.js";
import { defaultHubLimits } from "../src/hub/limits.js";
import type { HistoryStore } from "../src/store/history-store.js";
import { MemoryHistoryStore } from "../src/store/memory-store.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { sessionTransports, tamper } from "./support/session-transports.js";
import { waitUntil } from "./support/wait.js";

const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

/** A session plus everything it reported, for assertions. */
function record(options: Partial<ChatSessionOptions> & { transport: SessionTransport; nickname: string }) {
  const session = new ChatSession({ server: "test", backoff: { baseMs: 20, maxMs: 200 }, ...options });
  sessions.push(session);
  const log = {
    session,
    joined: [] as JoinedEvent[],
    messages: [] as ChatMessage[],
    acks: [] as ChatMessage[],
    notices: [] as Notice[],
    typing: [] as string[][],
    reconnecting: 0,
    connected: 0,
    disconnected: [] as { reason: string; shutdown: boolean }[],
    texts: () => log.messages.map((m) => m.text),
  };
  session.on("event", (e) => {
    if (e.event.case === "joined") log.joined.push(e.event.value);
    if (e.event.case === "message") log.messages.push(e.event.value);
  });
  session.on("ack", (m) => log.acks.push(m));
  session.on("notice", (n) => log.notices.push(n));
  session.on("typing", (t) => log.typing.push(t.nicknames));
  session.on("reconnecting", () => log.reconnecting++);
  session.on("connected", () => log.connected++);
  session.on("disconnected", (d) => log.disconnected.push(d));
  return log;
}

const waitForLive = (session: ChatSession, room: string) => waitUntil(() => session.isLive(room), `${room} to be live`);

/** Keeps history across servers: a new server on the same store is a restart with the same epoch. */
function sharedStore(): HistoryStore {
  const store = new MemoryHistoryStore();
  return {
    peek: (room) => store.peek(room),
    append: (items) => store.append(items),
    get: (room, seq) => store.get(room, seq),
    recent: (room, limit) => store.recent(room, limit),
    after: (room, afterSeq, limit) => store.after(room, afterSeq, limit),
    before: (room, beforeSeq, limit) => store.before(room, beforeSeq, limit),
    findSent: (room, sender, id) => store.findSent(room, sender, id),
    state: (room) => store.state(room),
    roomsOf: (userId, limit) => store.roomsOf(userId, limit),
    readPosition: (room, userId) => store.readPosition(room, userId),
    markRead: (room, userId, seq) => store.markRead(room, userId, seq),
    setInUse: (room, inUse) => store.setInUse(room, inUse),
    prune: (now) => store.prune(now),
    close: () => {}, // the servers come and go; the history stays
  };
}

async function historyTexts(baseUrl: string, room: string): Promise<string[]> {
  const page = await createChatClient(baseUrl).getHistory({ room, limit: 500 });
  return page.messages.map((m) => m.text);
}

const transports = await sessionTransports();

describe.each(transports)("client core over $name", (entry) => {
  // A transport the server cannot serve yet is skipped, saying why (see test/support/session-transports.ts).
  const run = entry.skip ? it.skip : it;
  if (entry.skip) it.skip(`(skipped: ${entry.skip})`, () => {});
  const own = (sender: string) => (events: ServerEvent[]) => events.some((e) => e.event.case === "message" && e.event.value.sender === sender);

  run("reconnects to a restarted server on the same port, rejoins, and delivers a message typed while down exactly once", async () => {
    const first = await startTestServer();
    const alice = record({ transport: entry.make(first.baseUrl), nickname: "alice" });
    alice.session.join("lobby");
    const done = alice.session.start();
    await waitForLive(alice.session, "lobby");
    alice.session.send("lobby", "before the restart");
    await waitUntil(() => alice.acks.length === 1, "first ack");
    const epochBefore = alice.joined[0].epoch;

    await first.close();
    await waitUntil(() => alice.reconnecting > 0, "the session to notice the drop");
    // The server said it was shutting down, so the drop is reported as that, once.
    expect(alice.disconnected).toEqual([{ reason: "server test is shutting down", shutdown: true }]);
    expect(alice.session.send("lobby", "typed while the server was down").ok).toBe(true);
    expect(alice.session.unacknowledged).toBe(1);

    // Same port, new in-memory store: history is gone and the epoch changes.
    const second = await startTestServer({ port: first.port });
    await waitUntil(() => alice.acks.length === 2, "the queued message to be acknowledged after reconnecting", 10_000);
    expect(alice.connected).toBe(2);
    expect(alice.joined[1]).toMatchObject({ room: "lobby", resumed: true, epochChanged: true });
    expect(alice.joined[1].epoch).not.toBe(epochBefore);
    expect(alice.notices.some((n) => n.text.includes("history of #lobby was reset"))).toBe(true);

    const bob = ChatTester.connect(second.baseUrl, "bob");
    bob.join("lobby");
    const bobJoined = await bob.joined("lobby");
    alice.session.send("lobby", "and after");
    await bob.waitFor("message", (m) => m.text === "and after");
    const bobSaw = [...bobJoined.recent, ...bob.messages()].map((m) => m.text);
    expect(bobSaw.filter((t) => t === "typed while the server was down")).toHaveLength(1);
    expect(await historyTexts(second.baseUrl, "lobby")).toEqual(["typed while the server was down", "and after"]);
    expect(alice.texts().filter((t) => t === "typed while the server was down")).toHaveLength(1);

    bob.end();
    expect(await alice.session.finish()).toEqual({ ok: true });
    expect(await done).toEqual({ ok: true });
    expect(alice.session.unacknowledged).toBe(0);
  });

  run("a message carried over from an earlier run keeps its id: sent again by a new session, it is stored once", async () => {
    const server = await startTestServer();
    const first = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    first.session.join("lobby");
    void first.session.start();
    await waitForLive(first.session, "lobby");
    first.session.send("lobby", "said once");
    expect(first.session.pending()).toEqual([{ id: expect.any(String), room: "lobby", text: "said once" }]);
    // What a page keeps when it is reloaded before the acknowledgement reaches it.
    const kept = first.session.pending()[0];
    await waitUntil(() => first.acks.length === 1, "the ack");
    expect(await first.session.finish()).toEqual({ ok: true });

    const second = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    second.session.join("lobby");
    void second.session.start();
    expect(second.session.send("lobby", kept.text, { id: kept.id })).toEqual({ ok: true, id: kept.id });
    expect(second.session.send("lobby", kept.text, { id: kept.id })).toEqual({ ok: true, id: kept.id });
    expect(second.session.pending()).toEqual([kept]);
    expect(second.session.send("lobby", "x", { id: "" }).ok).toBe(false);
    await waitUntil(() => second.acks.length === 1, "the resend's ack");
    expect(second.acks[0].seq).toBe(first.acks[0].seq);
    expect(second.session.pending()).toEqual([]);
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["said once"]);
  });

  run("a rejoin after a reload waits for the old session to let go of the nickname instead of giving the room up", async () => {
    const server = await startTestServer();
    const old = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    old.session.join("lobby");
    void old.session.start();
    await waitForLive(old.session, "lobby");
    const reloaded = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    let refused = false;
    reloaded.session.on("nicknameRefused", () => (refused = true));
    reloaded.session.join("lobby", { rejoin: true });
    void reloaded.session.start();
    await waitUntil(() => reloaded.notices.some((n) => n.text.includes("could not rejoin #lobby")), "a refused rejoin, to be retried");
    expect(await old.session.finish()).toEqual({ ok: true });
    await waitForLive(reloaded.session, "lobby");
    expect(refused).toBe(false);
  });

  run("resumes from the last sequence number seen: replays what was missed, without duplicates", async () => {
    const store = sharedStore();
    const first = await startTestServer({}, { store });
    const t = tamper(entry.make(first.baseUrl));
    const alice = record({ transport: t.transport, nickname: "alice" });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const bob = ChatTester.connect(first.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    bob.send("lobby", "seen 1");
    bob.send("lobby", "seen 2");
    await waitUntil(() => alice.messages.length === 2, "alice to see two messages");

    // Offline until the new server has traffic alice missed.
    t.state.offline = true;
    await first.close();
    await waitUntil(() => alice.reconnecting > 0, "the drop");
    alice.session.send("lobby", "alice offline");
    const second = await startTestServer({ port: first.port }, { store });
    const carol = ChatTester.connect(second.baseUrl, "carol");
    carol.join("lobby");
    await carol.joined("lobby");
    carol.send("lobby", "missed 1");
    carol.send("lobby", "missed 2");
    await carol.messageCount(2);
    t.state.offline = false;

    await waitUntil(() => alice.acks.length === 1, "alice's offline message to be acknowledged", 10_000);
    expect(alice.joined[1]).toMatchObject({ resumed: true, epochChanged: false, historyTruncated: false, lastSeq: 4n });
    expect(alice.joined[1].epoch).toBe(alice.joined[0].epoch);
    expect(alice.messages.map((m) => [Number(m.seq), m.text])).toEqual([
      [1, "seen 1"],
      [2, "seen 2"],
      [3, "missed 1"],
      [4, "missed 2"],
      [5, "alice offline"],
    ]);
    await carol.waitFor("message", (m) => m.text === "alice offline");
    carol.end();
  });

  run("a message whose acknowledgement was lost is acknowledged by the replay after reconnecting, and stored once", async () => {
    const server = await startTestServer();
    // The first connection dies right when alice's own message comes back: stored, but not acknowledged.
    const t = tamper(entry.make(server.baseUrl), (c, events) => (c === 0 && own("alice")(events) ? "drop" : events));
    const alice = record({ transport: t.transport, nickname: "alice" });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const sent = alice.session.send("lobby", "did this arrive?");
    if (!sent.ok) throw new Error(sent.reason);

    await waitUntil(() => alice.acks.length === 1, "the acknowledgement after reconnecting", 10_000);
    expect(t.sendIds(0)).toEqual([sent.id]);
    // The rejoin resumed after what alice had seen (nothing), and the replay carried the message.
    expect(t.join(t.sent.length - 1)).toMatchObject({ room: "lobby", afterSeq: 0n });
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["did this arrive?"]);
    expect(alice.messages.map((m) => [Number(m.seq), m.text])).toEqual([[1, "did this arrive?"]]);
    expect(alice.acks[0].clientMsgId).toBe(sent.id);
    expect(alice.session.unacknowledged).toBe(0);
  });

  run("resends an unacknowledged message with the same client_msg_id, and the server's dedupe keeps one copy", async () => {
    const server = await startTestServer();
    // Connection 0 dies when the ack arrives; connection 1 also loses the replayed copy, so only a resend can acknowledge it.
    let replayHidden = false;
    const mine = own("alice");
    const t = tamper(entry.make(server.baseUrl), (c, events) => {
      if (c === 0) return mine(events) ? "drop" : events;
      if (c === 1 && !replayHidden && mine(events)) {
        replayHidden = true;
        return events.filter((e) => !mine([e]));
      }
      return events;
    });
    const alice = record({ transport: t.transport, nickname: "alice", catchUpStallMs: 100 });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const sent = alice.session.send("lobby", "once only");
    if (!sent.ok) throw new Error(sent.reason);

    await waitUntil(() => alice.acks.length === 1, "the acknowledgement of the resend", 10_000);
    expect(replayHidden).toBe(true);
    expect(t.sendIds(0)).toEqual([sent.id]);
    expect(t.sendIds(1)).toEqual([sent.id]);
    expect(Number(alice.acks[0].seq)).toBe(1);
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["once only"]);

    alice.session.send("lobby", "next");
    await waitUntil(() => alice.acks.length === 2, "second ack");
    expect(alice.messages.map((m) => [Number(m.seq), m.text])).toEqual([
      [1, "once only"],
      [2, "next"],
    ]);
  });

  run("past the server's rate limit: every message is stored once, in the order sent, with no error for the user", async () => {
    // The server's default limit (the test helper turns it off unless asked).
    const server = await startTestServer({ rateLimit: defaultHubLimits.rateLimitPerSec, rateBurst: defaultHubLimits.rateBurst });
    const pat = record({ transport: entry.make(server.baseUrl), nickname: "pat" });
    const errors: string[] = [];
    pat.session.on("commandError", (e) => errors.push(e.message));
    pat.session.on("sendFailed", (f) => errors.push(f.reason));
    pat.session.join("lobby");
    void pat.session.start();
    await waitForLive(pat.session, "lobby");
    const texts = Array.from({ length: 130 }, (_, i) => `line ${i + 1}`);
    for (const text of texts) expect(pat.session.send("lobby", text).ok).toBe(true);
    await waitUntil(() => pat.acks.length === 130, "130 acknowledgements", 20_000);
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(texts);
    expect(errors).toEqual([]);
    // Said once, not once per refused message.
    expect(pat.notices.filter((n) => /rate limit/.test(n.text)).length).toBeLessThanOrEqual(1);
  });

  run("gives up on a server that never comes back after max retries", async () => {
    const server = await startTestServer();
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice", maxRetries: 3, backoff: { baseMs: 5, maxMs: 20 } });
    alice.session.join("lobby");
    const done = alice.session.start();
    await waitForLive(alice.session, "lobby");
    await server.close();
    const end = await done;
    expect(end.ok).toBe(false);
    expect(end.ok === false && end.message).toMatch(/gave up after 3 reconnect attempts/);
    expect(alice.reconnecting).toBe(3);
  });

  run("fails fast when the first connection cannot be made", async () => {
    const server = await startTestServer();
    const url = server.baseUrl;
    await server.close();
    const alice = record({ transport: entry.make(url), nickname: "alice", server: url });
    alice.session.join("lobby");
    expect(await alice.session.start()).toEqual({ ok: false, message: `cannot reach server ${url}: connection refused` });
    expect(alice.reconnecting).toBe(0);
  });

  run("drops a silent connection and reconnects (the keepalive watchdog)", async () => {
    const server = await startTestServer({ heartbeatMs: 0 });
    // The first connection goes deaf after the join: frames stop arriving, no error either.
    const t = tamper(entry.make(server.baseUrl), (c, events) => (c > 0 || events.some((e) => e.event.case === "joined") ? events : []));
    const alice = record({ transport: t.transport, nickname: "alice", pingIntervalMs: 50, idleTimeoutMs: 200 });
    alice.session.join("lobby");
    void alice.session.start();
    await waitUntil(() => alice.reconnecting > 0, "the watchdog to drop the connection");
    expect(alice.disconnected[0].reason).toMatch(/^no response from server test for \d+ s$/);
    await waitUntil(() => alice.joined.length === 2, "the rejoin", 10_000);
  });

  run("finishing leaves cleanly: the others see LEFT, not disconnected", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    alice.session.join("lobby");
    const done = alice.session.start();
    await waitForLive(alice.session, "lobby");
    alice.session.send("lobby", "bye");
    expect(await alice.session.finish()).toEqual({ ok: true });
    expect(await done).toEqual({ ok: true });
    expect(alice.session.unacknowledged).toBe(0);
    const left = await bob.waitFor("memberLeft", (m) => m.nickname === "alice");
    expect(left.reason).toBe(LeaveReason.LEFT);
    expect(bob.messages().map((m) => m.text)).toEqual(["bye"]);
  });

  run("adopts the nickname as the server stored it (RFC 8266), for acknowledgements and display", async () => {
    const server = await startTestServer();
    const ann = record({ transport: entry.make(server.baseUrl), nickname: "  ａｎｎ " });
    ann.session.join("lobby");
    void ann.session.start();
    await waitForLive(ann.session, "lobby");
    expect(ann.session.nickname).toBe("ann");
    ann.session.send("lobby", "acknowledged under the stored name");
    await waitUntil(() => ann.acks.length === 1, "the ack, sent by 'ann'");
    expect(ann.acks[0].sender).toBe("ann");
    expect(await ann.session.finish()).toEqual({ ok: true });
  });

  run("checks room names and texts with the server's rules before sending", async () => {
    const server = await startTestServer();
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    expect(alice.session.join("bad room!")).toEqual({ ok: false, reason: "room name may contain only letters, digits, '.', '_' and '-'" });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    expect(alice.session.send("lobby", "é".repeat(2049))).toEqual({ ok: false, reason: "message text must be at most 4096 bytes of UTF-8 (got 4098)" });
    expect(alice.session.unacknowledged).toBe(0);
  });

  run("typing: sends at most one indicator per interval, and tells who is typing until they send or go quiet", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice", typing: { intervalMs: 3000, expiryMs: 300 } });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");

    for (let i = 0; i < 5; i++) alice.session.typing("lobby");
    alice.session.send("lobby", "typed");
    await bob.waitFor("message", (m) => m.text === "typed");
    expect(bob.of("typing")).toEqual([expect.objectContaining({ room: "lobby", nickname: "alice" })]);

    bob.request({ command: { case: "typing", value: { room: "lobby" } } });
    await waitUntil(() => alice.typing.some((t) => t.includes("bob")), "alice to see bob typing");
    expect(alice.session.typingIn("lobby")).toEqual(["bob"]);
    bob.send("lobby", "done typing");
    await waitUntil(() => alice.texts().includes("done typing"), "bob's message");
    expect(alice.session.typingIn("lobby")).toEqual([]);
    // Without a message, the indicator expires by itself.
    bob.request({ command: { case: "typing", value: { room: "lobby" } } });
    await waitUntil(() => alice.session.typingIn("lobby").length === 1, "bob typing again");
    await waitUntil(() => alice.session.typingIn("lobby").length === 0, "the indicator to expire");
  });

  run("changes nickname in place in every room: the others see a rename, nothing is missed, messages before and after are acknowledged", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    bob.join("side");
    await bob.joined("lobby");
    await bob.joined("side");
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    const names: string[] = [];
    alice.session.on("nickname", (n) => names.push(n));
    alice.session.join("lobby");
    alice.session.join("side");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    await waitForLive(alice.session, "side");
    alice.session.send("lobby", "as alice");
    expect(alice.session.changeNickname("alicia")).toEqual({ ok: true });
    bob.send("lobby", "during the change");
    await waitUntil(() => alice.session.nickname === "alicia", "the new name");
    alice.session.send("lobby", "as alicia");
    await waitUntil(() => alice.acks.length === 2, "both acknowledged");
    expect(alice.acks.map((m) => [m.sender, m.text])).toEqual([
      ["alice", "as alice"],
      ["alicia", "as alicia"],
    ]);
    expect(names).toEqual(["alice", "alicia"]);
    expect(alice.texts().filter((t) => t === "during the change")).toHaveLength(1);
    // One join per room, ever: no leave and rejoin.
    expect(alice.joined).toHaveLength(2);
    for (const room of ["lobby", "side"]) await bob.waitFor("memberRenamed", (e) => e.room === room && e.oldNickname === "alice" && e.newNickname === "alicia");
    expect(bob.of("memberLeft")).toEqual([]);
    expect(bob.of("memberJoined").map((e) => e.member?.nickname)).toEqual(["alice", "alice"]);
  });

  run("a nickname change refused in one room is undone in all: the old nickname and every room are kept", async () => {
    const server = await startTestServer();
    const alicia = ChatTester.connect(server.baseUrl, "alicia");
    alicia.join("side");
    await alicia.joined("side");
    const alice = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    const refused: { nickname: string; room: string; message: string }[] = [];
    alice.session.on("nicknameChangeRefused", (r) => refused.push(r));
    alice.session.join("lobby");
    alice.session.join("side");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    await waitForLive(alice.session, "side");
    expect(alice.session.changeNickname("Alicia")).toEqual({ ok: true });
    await waitUntil(() => refused.length === 1, "the refusal");
    expect(refused[0]).toMatchObject({ nickname: "Alicia", room: "side" });
    expect(refused[0].message).toMatch(/too much like "alicia"/);
    // lobby was renamed, then renamed back.
    await waitUntil(() => alice.session.roomNames.length === 2 && alice.session.isLive("lobby") && alice.session.isLive("side"), "both rooms kept");
    expect(alice.session.nickname).toBe("alice");
    alice.session.send("lobby", "still alice");
    alice.session.send("side", "still alice");
    await waitUntil(() => alice.acks.length === 2, "acknowledged under the old name");
    expect(alice.acks.map((m) => m.sender)).toEqual(["alice", "alice"]);
    expect(alicia.of("memberLeft")).toEqual([]);
    expect(alicia.of("memberRenamed")).toEqual([]);
  });

  run("a reloaded client with its saved resume token takes its old membership over at once, and the old session gives the room up", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const old = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    old.session.join("lobby");
    void old.session.start();
    await waitForLive(old.session, "lobby");
    const token = old.session.resumeTokens().lobby;
    expect(token).toBe(old.joined[0].resumeToken);
    const oldLeft: string[] = [];
    old.session.on("roomLeft", (room) => oldLeft.push(room));

    const reloaded = record({ transport: entry.make(server.baseUrl), nickname: "alice" });
    reloaded.session.join("lobby", { rejoin: true, resumeToken: token });
    void reloaded.session.start();
    await waitForLive(reloaded.session, "lobby");
    expect(reloaded.joined[0].replaced).toBe(true);
    expect(reloaded.notices.filter((n) => n.text.includes("could not rejoin"))).toEqual([]);
    expect(reloaded.session.resumeTokens().lobby).toBe(reloaded.joined[0].resumeToken);
    // The old session does not fight back: it leaves the room for good.
    await waitUntil(() => oldLeft.length === 1, "the old session to give the room up");
    expect(old.session.roomNames).toEqual([]);
    reloaded.session.send("lobby", "back");
    await bob.waitFor("message", (m) => m.text === "back" && m.sender === "alice");
    expect(bob.of("memberLeft")).toEqual([]);
    expect(bob.of("memberJoined").map((e) => e.member?.nickname)).toEqual(["alice"]);
  });

  run("a taken nickname parks the room until another is picked", async () => {
    const server = await startTestServer();
    const holder = ChatTester.connect(server.baseUrl, "grace");
    holder.join("lobby");
    await holder.joined("lobby");
    const grace = record({ transport: entry.make(server.baseUrl), nickname: "grace" });
    const refused: string[] = [];
    grace.session.on("nicknameRefused", (r) => refused.push(`${r.room}: ${r.message}`));
    grace.session.join("lobby");
    void grace.session.start();
    await waitUntil(() => refused.length === 1, "the refusal");
    expect(refused).toEqual(['lobby: nickname "grace" is already taken in room lobby']);
    expect(grace.session.roomNames).toEqual(["lobby"]);
    expect(grace.session.roomPhase("lobby")).toBe("parked");
    expect(grace.session.send("lobby", "x").ok).toBe(false);

    grace.session.changeNickname("grace2");
    await waitForLive(grace.session, "lobby");
    expect(grace.session.nickname).toBe("grace2");
    holder.end();
  });
});

/**
 * A TCP relay to the server whose open connections can be frozen: nothing
 * more is passed either way and nothing is closed, as when a network drops
 * a path. The server then does not notice the client is gone.
 */
async function freezableRelay(port: number): Promise<{ baseUrl: string; freeze(): void; close(): void }> {
  const pairs: [Socket, Socket][] = [];
  const relay = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    for (const s of [client, upstream]) s.on("error", () => {});
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    freeze() {
      for (const [client, upstream] of pairs.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        // Kept open on the server's side; the client's side may close, unheard.
        client.removeAllListeners("end");
      }
    },
    close() {
      relay.close();
    },
  };
}

describe("client core when the network path to the server goes dead", () => {
  /**
   * Bob in #lobby on the server; alice's session (not started) reaches it
   * through a relay to freeze, with a watchdog that gives up after 300 ms.
   * No heartbeat: the server does not notice the frozen connection.
   */
  async function behindRelay() {
    const server = await startTestServer({ heartbeatMs: 0 });
    const relay = await freezableRelay(server.port);
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const alice = record({ transport: createGrpcSessionTransport(relay.baseUrl), nickname: "alice", pingIntervalMs: 50, idleTimeoutMs: 300 });
    return { server, relay, bob, alice };
  }

  it("reconnects on a new connection (not down the dead one) and sends what was typed meanwhile, once", async () => {
    const { server, relay, bob, alice } = await behindRelay();
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    relay.freeze();
    alice.session.send("lobby", "typed as the path died");
    await waitUntil(() => alice.reconnecting > 0, "the watchdog to give the silent connection up");
    await waitUntil(() => alice.joined.length === 2, "the rejoin on a new connection", 10_000);
    await bob.waitFor("message", (m) => m.text === "typed as the path died");
    await waitUntil(() => alice.acks.length === 1, "the acknowledgement");
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["typed as the path died"]);
    relay.close();
  });

  it("a nickname change asked for meanwhile is made once back in the rooms: the old membership the server still holds is taken back and renamed, not left behind under the old name", async () => {
    const { relay, bob, alice } = await behindRelay();
    const names: string[] = [];
    alice.session.on("nickname", (n) => names.push(n));
    const asked: { ok: boolean }[] = [];
    alice.session.on("reconnecting", () => {
      if (asked.length === 0) asked.push(alice.session.changeNickname("alicia"));
    });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    await bob.waitFor("memberJoined", (e) => e.member?.nickname === "alice");
    relay.freeze();
    await waitUntil(() => asked.length === 1, "the change, asked for while disconnected");
    expect(asked[0]).toEqual({ ok: true });
    await waitUntil(() => alice.session.nickname === "alicia", "the new name", 10_000);
    await bob.waitFor("memberRenamed", (e) => e.oldNickname === "alice" && e.newNickname === "alicia");
    // One member all along: the rejoin took the old membership back (its resume token), then renamed it in place.
    expect(alice.joined.map((j) => [j.nickname, j.replaced])).toEqual([
      ["alice", false],
      ["alice", true],
    ]);
    expect(bob.of("memberJoined").map((e) => e.member?.nickname)).toEqual(["alice"]);
    expect(bob.of("memberLeft")).toEqual([]);
    expect(names).toEqual(["alice", "alicia"]);
    alice.session.send("lobby", "as alicia");
    await bob.waitFor("message", (m) => m.text === "as alicia" && m.sender === "alicia");
    relay.close();
  });
});
