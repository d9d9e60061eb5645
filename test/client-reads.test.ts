/**
 * Read positions and mentions in the client core (src/client/read-state.ts,
 * wired into ChatSession), against a real server with authentication, over
 * the terminal's transport (the Chat stream) and the browser's (OpenSession +
 * Command over the Connect protocol): a room marked read on one session of a
 * user shows read on the other, the counts a join brings, markRead coalesced
 * and never backwards, nothing sent without a sign-in, and a mention reaching
 * a session that is not in the room.
 */
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import type { ChatRequest } from "../gen/chat/v1/chat_pb.js";
import { ChatSession, type Mention, type ReadPosition } from "../src/client/chat-session.js";
import { commandTransport } from "../src/client/command-transport.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import type { SessionTransport } from "../src/client/session-transport.js";
import { AUTH_SECRET, token } from "./support/rooms.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { tamper, type FrameFilter } from "./support/session-transports.js";
import { waitUntil } from "./support/wait.js";

const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

interface TransportKind {
  name: string;
  make(server: TestServer, token: string): SessionTransport;
}

const kinds: TransportKind[] = [
  { name: "Chat stream (gRPC)", make: (server, token) => createGrpcSessionTransport(server.baseUrl, { token }) },
  {
    name: "OpenSession + Command (Connect protocol)",
    make: (server, token) =>
      commandTransport(createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true }), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      }),
  },
];

/** A session of user `sub` (signed in unless `signedIn` is false), recording what it reports and sends. */
async function user(server: TestServer, kind: TransportKind, sub: string, rooms: string[], signedIn = true, filter?: FrameFilter) {
  const tampered = tamper(kind.make(server, signedIn ? await token(sub) : ""), filter);
  const session = new ChatSession({ transport: tampered.transport, server: "test", nickname: sub, backoff: { baseMs: 20, maxMs: 200 }, signedIn });
  sessions.push(session);
  const log = { session, sent: tampered.sent, tamper: tampered.state, positions: [] as ReadPosition[], mentions: [] as Mention[] };
  session.on("readPosition", (p) => log.positions.push(p));
  session.on("mention", (m) => log.mentions.push(m));
  for (const room of rooms) session.join(room);
  void session.start();
  for (const room of rooms) await waitUntil(() => session.isLive(room), `${sub} live in #${room}`);
  return log;
}

const marksSent = (sent: ChatRequest[][]) => sent.flat().filter((r) => r.command.case === "markRead").map((r) => (r.command.value as { seq: bigint }).seq);

/** Bob says each text; resolves with their numbers once acknowledged. */
async function say(bob: ChatSession, room: string, texts: string[], mentions?: string[]): Promise<bigint[]> {
  const seqs: bigint[] = [];
  for (const text of texts) {
    const sent = bob.send(room, text, { mentions });
    if (!sent.ok) throw new Error(sent.reason);
    const acked = new Promise<bigint>((resolve) => {
      const off = bob.on("ack", (m) => {
        if (m.clientMsgId !== sent.id) return;
        off();
        resolve(m.seq);
      });
    });
    seqs.push(await acked);
  }
  return seqs;
}

describe.each(kinds)("read positions and mentions in the client core over $name", (kind) => {
  it("a join brings the counts; a position marked on the phone arrives on the laptop; marks are coalesced and never go back", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const bob = await user(server, kind, "bob", ["den"]);
    const phone = await user(server, kind, "ann", ["den"]);
    const [first, second, third] = await say(bob.session, "den", ["one", "two", "three"], ["ann"]);
    await waitUntil(() => phone.session.readPosition("den")?.unreadCount === 3 || undefined, "the phone counts bob's messages");
    expect(phone.session.readPosition("den")).toMatchObject({ readSeq: 0n, unreadCount: 3, mentionCount: 3 });

    // The laptop joins later: the server's counts come with the join.
    const laptop = await user(server, kind, "ann", ["den"]);
    expect(laptop.session.readPosition("den")).toMatchObject({ readSeq: 0n, unreadCount: 3, mentionCount: 3 });

    // Three marks in a row: one command on the wire, then the latest; an older one is ignored.
    expect(phone.session.markRead("den", first)).toBe(true);
    expect(phone.session.markRead("den", second)).toBe(true);
    expect(phone.session.markRead("den", first)).toBe(false);
    expect(marksSent(phone.sent)).toEqual([first]);
    await waitUntil(() => laptop.session.readPosition("den")?.readSeq === second || undefined, "the laptop sees the phone's position");
    expect(laptop.session.readPosition("den")).toMatchObject({ readSeq: second, unreadCount: 1, mentionCount: 1 });
    expect(marksSent(phone.sent)).toEqual([first, second]);
    expect(phone.session.readPosition("den")).toMatchObject({ readSeq: second, unreadCount: 1, mentionCount: 1 });

    // Bob's own session counts nothing of his own messages.
    expect(bob.session.readPosition("den")).toMatchObject({ unreadCount: 0 });

    laptop.session.markRead("den", third);
    await waitUntil(() => phone.session.readPosition("den")?.unreadCount === 0 || undefined, "the phone shows the room read");
    expect(phone.positions.at(-1)).toMatchObject({ room: "den", readSeq: third, unreadCount: 0, mentionCount: 0 });
  });

  it("a mention reaches a session of the user that is not in the room; sends carry the mentioned ids", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const bob = await user(server, kind, "bob", ["den"]);
    const ann = await user(server, kind, "ann", ["lobby"]);
    expect(bob.session.send("den", "x", { mentions: ["ann", "ann"] })).toMatchObject({ ok: false });
    const [seq] = await say(bob.session, "den", ["@ann look at this"], ["ann"]);
    await waitUntil(() => ann.mentions.length === 1 || undefined, "ann is told of the mention");
    expect(ann.mentions[0]).toEqual({ room: "den", seq, sender: "bob", senderId: "bob", quote: "@ann look at this" });
    const sent = bob.sent.flat().find((r) => r.command.case === "send");
    expect(sent?.command.value).toMatchObject({ mentions: ["ann"] });
  });

  it("a position marked while the connection is down goes out once the room is joined again", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const bob = await user(server, kind, "bob", ["den"]);
    let cut = false;
    const phone = await user(server, kind, "ann", ["den"], true, (_c, events) => (cut ? ((cut = false), "drop") : events));
    const laptop = await user(server, kind, "ann", ["den"]);
    const [first, second] = await say(bob.session, "den", ["one", "two"]);
    await waitUntil(() => phone.session.readPosition("den")?.unreadCount === 2 || undefined, "the phone has both");
    phone.tamper.offline = true;
    cut = true;
    await say(bob.session, "den", ["three"]); // its frame takes the phone's connection down
    await waitUntil(() => !phone.session.isLive("den") || undefined, "the phone offline");
    expect(phone.session.markRead("den", first)).toBe(true);
    expect(phone.session.markRead("den", second)).toBe(true);
    phone.tamper.offline = false;
    await waitUntil(() => laptop.session.readPosition("den")?.readSeq === second || undefined, "the laptop told of the phone's position", 10_000);
    expect(laptop.session.readPosition("den")).toMatchObject({ unreadCount: 1 });
    // One command on the new connection: the latest position, not each mark.
    expect(phone.sent.at(-1)!.filter((r) => r.command.case === "markRead").map((r) => (r.command.value as { seq: bigint }).seq)).toEqual([second]);
  });

  it("told it is signed in by mistake, one refusal stops it asking; the refusal is not the user's problem", async () => {
    const server = await startTestServer();
    const bob = await user(server, kind, "bob", ["den"], false);
    const tampered = tamper(kind.make(server, ""));
    const ann = new ChatSession({ transport: tampered.transport, server: "test", nickname: "ann", backoff: { baseMs: 20, maxMs: 200 }, signedIn: true });
    sessions.push(ann);
    const errors: unknown[] = [];
    ann.on("commandError", (e) => errors.push(e));
    ann.join("den");
    void ann.start();
    await waitUntil(() => ann.isLive("den"), "ann live");
    const [first, second] = await say(bob.session, "den", ["one", "two"]);
    await waitUntil(() => ann.readPosition("den")?.unreadCount === 2 || undefined, "ann has both");
    ann.markRead("den", first);
    await say(ann, "den", ["hello"]); // answered after the refusal: the server runs a stream's commands in order
    ann.markRead("den", second);
    await say(ann, "den", ["again"]);
    expect(marksSent(tampered.sent)).toEqual([first]);
    expect(errors).toEqual([]);
    expect(ann.readPosition("den")).toMatchObject({ readSeq: second, unreadCount: 0 });
  });

  it("without a sign-in markRead moves the position here and sends nothing", async () => {
    const server = await startTestServer();
    const bob = await user(server, kind, "bob", ["den"], false);
    const ann = await user(server, kind, "ann", ["den"], false);
    const [seq] = await say(bob.session, "den", ["hello"]);
    await waitUntil(() => ann.session.readPosition("den")?.unreadCount === 1 || undefined, "ann counts bob's message");
    expect(ann.session.markRead("den", seq)).toBe(true);
    expect(ann.session.readPosition("den")).toMatchObject({ readSeq: seq, unreadCount: 0 });
    // A ping round trip: anything the session wrote would have been answered by now.
    await say(ann.session, "den", ["still here"]);
    expect(marksSent(ann.sent)).toEqual([]);
  });
});
