/**
 * ChatSession, the CLI's connection logic, in-process against real servers:
 * reconnecting by itself, resuming rooms, and delivering every typed message
 * exactly once across drops.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ChatResponseSchema, type ChatMessage, type ChatRequest, type ChatResponse, type JoinedEvent } from "../gen/chat/v1/chat_pb.js";
import { createChatClient, type ChatClient } from "../src/client/transport.js";
import { ChatSession, type ChatSessionOptions, type Notice } from "../src/cli/chat-session.js";
import type { HistoryStore } from "../src/store/history-store.js";
import { MemoryHistoryStore } from "../src/store/memory-store.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

/** A session plus everything it reported, for assertions. */
function record(options: Partial<ChatSessionOptions> & { client: ChatClient; nickname: string }) {
  const session = new ChatSession({
    server: "test",
    backoff: { baseMs: 20, maxMs: 200 },
    ...options,
  });
  sessions.push(session);
  const log = {
    session,
    joined: [] as JoinedEvent[],
    messages: [] as ChatMessage[],
    acks: [] as ChatMessage[],
    notices: [] as Notice[],
    reconnecting: 0,
    connected: 0,
    texts(): string[] {
      return log.messages.map((m) => m.text);
    },
  };
  session.on("event", (e) => {
    if (e.event.case === "joined") log.joined.push(e.event.value);
    if (e.event.case === "message") log.messages.push(e.event.value);
  });
  session.on("ack", (m) => log.acks.push(m));
  session.on("notice", (n) => log.notices.push(n));
  session.on("reconnecting", () => log.reconnecting++);
  session.on("connected", () => log.connected++);
  return log;
}

async function waitForLive(session: ChatSession, room: string): Promise<void> {
  await waitUntil(() => session.isLive(room), `${room} to be live`);
}

/** Keeps history across servers: a new server on the same store is a restart with the same epoch. */
function sharedStore(): HistoryStore {
  const store = new MemoryHistoryStore();
  return {
    peek: (room) => store.peek(room),
    append: (items) => store.append(items),
    recent: (room, limit) => store.recent(room, limit),
    after: (room, afterSeq, limit) => store.after(room, afterSeq, limit),
    before: (room, beforeSeq, limit) => store.before(room, beforeSeq, limit),
    findSent: (room, sender, id) => store.findSent(room, sender, id),
    setInUse: (room, inUse) => store.setInUse(room, inUse),
    prune: (now) => store.prune(now),
    close: () => {}, // the servers come and go; the history stays
  };
}

async function historyTexts(baseUrl: string, room: string): Promise<string[]> {
  const page = await createChatClient(baseUrl).getHistory({ room, limit: 500 });
  return page.messages.map((m) => m.text);
}

describe("ChatSession reconnect", () => {
  it("reconnects to a restarted server on the same port, rejoins, and delivers a message typed while down exactly once", async () => {
    const first = await startTestServer();
    const alice = record({ client: createChatClient(first.baseUrl), nickname: "alice" });
    alice.session.join("lobby");
    const done = alice.session.start();
    await waitForLive(alice.session, "lobby");
    alice.session.send("lobby", "before the restart");
    await waitUntil(() => alice.acks.length === 1, "first ack");
    const epochBefore = alice.joined[0].epoch;

    await first.close();
    await waitUntil(() => alice.reconnecting > 0, "the session to notice the drop");
    const typed = alice.session.send("lobby", "typed while the server was down");
    expect(typed.ok).toBe(true);
    expect(alice.session.unacknowledged).toBe(1);

    // Same port, new in-memory store: history is gone and the epoch changes.
    const second = await startTestServer({ port: first.port });
    await waitUntil(() => alice.acks.length === 2, "the queued message to be acknowledged after reconnecting", 10_000);

    expect(alice.connected).toBe(2);
    const rejoin = alice.joined[1];
    // The rejoin asked to resume (after_seq + epoch), and the server said the epoch moved on.
    expect(rejoin).toMatchObject({ room: "lobby", resumed: true, epochChanged: true });
    expect(rejoin.epoch).not.toBe(epochBefore);
    expect(alice.notices.some((n) => n.text.includes("history of #lobby was reset"))).toBe(true);

    // Someone on the new server sees it once, and the new history holds it once.
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

  it("resumes from the last sequence number seen: replays what was missed, without duplicates", async () => {
    const store = sharedStore();
    const first = await startTestServer({}, { store });
    // A gate in front of the client keeps the session offline until the test is ready.
    let online = true;
    const real = createChatClient(first.baseUrl);
    const gated: ChatClient = {
      ...real,
      chat: (requests, options) => {
        if (!online) {
          return (async function* () {
            throw new ConnectError("connect ECONNREFUSED (gated by test)", Code.Unavailable);
          })();
        }
        return real.chat(requests, options);
      },
    };
    const alice = record({ client: gated, nickname: "alice" });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const bob = ChatTester.connect(first.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    bob.send("lobby", "seen 1");
    bob.send("lobby", "seen 2");
    await waitUntil(() => alice.messages.length === 2, "alice to see two messages");

    online = false;
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
    online = true;

    await waitUntil(() => alice.acks.length === 1, "alice's offline message to be acknowledged", 10_000);
    const rejoin = alice.joined[1];
    expect(rejoin).toMatchObject({ resumed: true, epochChanged: false, historyTruncated: false, lastSeq: 4n });
    expect(rejoin.epoch).toBe(alice.joined[0].epoch);
    // The replay brought exactly what was missed, then live traffic continued in order.
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

  /**
   * A client over the real one that records what each stream wrote and lets
   * a test tamper with what each stream receives (`filter` returns the events
   * to deliver, or "drop" to kill the connection as if it had been reset).
   */
  function tamperedClient(baseUrl: string, filter: (stream: number, frame: ChatResponse) => ChatResponse["events"] | "drop") {
    const real = createChatClient(baseUrl);
    const written: ChatRequest[][] = [];
    const client: ChatClient = {
      ...real,
      chat: (requests, options) => {
        const stream = written.length;
        const sent: ChatRequest[] = [];
        written.push(sent);
        const inner = new AbortController();
        options?.signal?.addEventListener("abort", () => inner.abort());
        const recorded = (async function* () {
          for await (const r of requests) {
            sent.push(r as ChatRequest);
            yield r;
          }
        })();
        const responses = real.chat(recorded, { ...options, signal: inner.signal });
        return (async function* () {
          for await (const frame of responses) {
            const events = filter(stream, frame);
            if (events === "drop") {
              inner.abort();
              throw new ConnectError("connection reset (simulated)", Code.Unavailable);
            }
            if (events.length > 0) yield create(ChatResponseSchema, { events });
          }
        })();
      },
    };
    const sendIds = (stream: number) =>
      written[stream].flatMap((r) => (r.command.case === "send" ? [r.command.value.clientMsgId] : []));
    const join = (stream: number) => written[stream].find((r) => r.command.case === "join")?.command.value;
    return { client, written, sendIds, join };
  }

  const isOwnMessage = (e: ChatResponse["events"][number]) => e.event.case === "message" && e.event.value.sender === "alice";

  it("a message whose acknowledgement was lost is acknowledged by the replay after reconnecting, and stored once", async () => {
    const server = await startTestServer();
    // The first stream dies right when alice's own message comes back: stored, but not acknowledged.
    const t = tamperedClient(server.baseUrl, (stream, frame) => (stream === 0 && frame.events.some(isOwnMessage) ? "drop" : frame.events));
    const alice = record({ client: t.client, nickname: "alice" });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const sent = alice.session.send("lobby", "did this arrive?");
    if (!sent.ok) throw new Error(sent.reason);

    await waitUntil(() => alice.acks.length === 1, "the acknowledgement after reconnecting", 10_000);
    expect(t.sendIds(0)).toEqual([sent.id]);
    // The rejoin resumed after what alice had seen (nothing), and the replay carried the message: no resend needed.
    const last = t.written.length - 1;
    expect(t.join(last)).toMatchObject({ room: "lobby", afterSeq: 0n });
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["did this arrive?"]);
    expect(alice.messages.map((m) => [Number(m.seq), m.text])).toEqual([[1, "did this arrive?"]]);
    expect(alice.acks[0].clientMsgId).toBe(sent.id);
    expect(alice.session.unacknowledged).toBe(0);
  });

  it("resends an unacknowledged message with the same client_msg_id, and the server's dedupe keeps one copy", async () => {
    const server = await startTestServer();
    // Stream 0 dies when the ack arrives; stream 1 also loses the replayed copy, so only a resend can acknowledge it.
    let replayHidden = false;
    const t = tamperedClient(server.baseUrl, (stream, frame) => {
      if (stream === 0) return frame.events.some(isOwnMessage) ? "drop" : frame.events;
      if (stream === 1 && !replayHidden && frame.events.some(isOwnMessage)) {
        replayHidden = true;
        return frame.events.filter((e) => !isOwnMessage(e));
      }
      return frame.events;
    });
    const alice = record({ client: t.client, nickname: "alice", catchUpStallMs: 100 });
    alice.session.join("lobby");
    void alice.session.start();
    await waitForLive(alice.session, "lobby");
    const sent = alice.session.send("lobby", "once only");
    if (!sent.ok) throw new Error(sent.reason);

    await waitUntil(() => alice.acks.length === 1, "the acknowledgement of the resend", 10_000);
    expect(replayHidden).toBe(true);
    expect(t.sendIds(0)).toEqual([sent.id]);
    expect(t.sendIds(1)).toEqual([sent.id]);
    // Acknowledged with its original sequence number; stored once.
    expect(Number(alice.acks[0].seq)).toBe(1);
    expect(await historyTexts(server.baseUrl, "lobby")).toEqual(["once only"]);

    alice.session.send("lobby", "next");
    await waitUntil(() => alice.acks.length === 2, "second ack");
    expect(alice.messages.map((m) => [Number(m.seq), m.text])).toEqual([
      [1, "once only"],
      [2, "next"],
    ]);
  });

  it("gives up on a server that never comes back after max retries", async () => {
    const server = await startTestServer();
    const alice = record({ client: createChatClient(server.baseUrl), nickname: "alice", maxRetries: 3, backoff: { baseMs: 5, maxMs: 20 } });
    alice.session.join("lobby");
    const done = alice.session.start();
    await waitForLive(alice.session, "lobby");
    await server.close();
    const end = await done;
    expect(end.ok).toBe(false);
    expect(end.ok === false && end.message).toMatch(/gave up after 3 reconnect attempts/);
    expect(alice.reconnecting).toBe(3);
  });

  it("fails fast when the first connection cannot be made", async () => {
    const server = await startTestServer();
    const url = server.baseUrl;
    await server.close();
    const alice = record({ client: createChatClient(url), nickname: "alice", server: url });
    alice.session.join("lobby");
    const end = await alice.session.start();
    expect(end).toEqual({ ok: false, message: `cannot reach server ${url}: connection refused` });
    expect(alice.reconnecting).toBe(0);
  });

  it("drops a silent connection and reconnects (the keepalive watchdog)", async () => {
    const server = await startTestServer({ heartbeatMs: 0 });
    const real = createChatClient(server.baseUrl);
    let calls = 0;
    // The first stream goes deaf after the join: frames stop arriving, no error either.
    const deaf: ChatClient = {
      ...real,
      chat: (requests, options) => {
        const responses = real.chat(requests, options);
        if (++calls > 1) return responses;
        return (async function* () {
          for await (const frame of responses) {
            if (frame.events.some((e) => e.event.case === "joined")) yield frame;
          }
        })();
      },
    };
    const alice = record({ client: deaf, nickname: "alice", pingIntervalMs: 50, idleTimeoutMs: 200 });
    alice.session.join("lobby");
    void alice.session.start();
    await waitUntil(() => alice.reconnecting > 0, "the watchdog to drop the stream");
    expect(alice.notices.some((n) => n.text.includes("no response from server"))).toBe(true);
    await waitUntil(() => alice.joined.length === 2, "the rejoin", 10_000);
  });
});
