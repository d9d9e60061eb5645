/**
 * Read receipts through the client core (src/client/read-receipts.ts, wired
 * into ChatSession): markRead, the "receipts" event and seenBy() for "seen by
 * alice, bob" under a message, the join's snapshot, and the setting turning
 * them off. Against a real server with authentication, over the terminal
 * client's transport (the Chat stream) and the browser's (OpenSession +
 * Command over the Connect protocol).
 */
import { createConnectTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ReadReceiptsSetting, RoomActionKind } from "../gen/chat/v1/chat_pb.js";
import { ChatSession } from "../src/client/chat-session.js";
import { commandTransport } from "../src/client/command-transport.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import { seenByLine, type ReceiptView } from "../src/client/read-receipts.js";
import type { SessionTransport } from "../src/client/session-transport.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

const secret = "client-receipts-test-secret-of-at-least-32-bytes";
const sessions: ChatSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
  await stopTestServers();
});

const mint = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(secret));

const kinds: { name: string; make(server: TestServer, token: string): SessionTransport }[] = [
  { name: "Chat stream (gRPC)", make: (server, token) => createGrpcSessionTransport(server.baseUrl, { token }) },
  {
    name: "OpenSession + Command (Connect protocol)",
    make: (server, token) =>
      commandTransport(createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true }), { headers: { authorization: `Bearer ${token}` } }),
  },
];

async function user(server: TestServer, kind: (typeof kinds)[number], sub: string) {
  const session = new ChatSession({ transport: kind.make(server, await mint(sub)), server: "test", nickname: sub, signedIn: true, backoff: { baseMs: 20, maxMs: 200 } });
  sessions.push(session);
  const changes: { room: string; receipts: ReceiptView[] }[] = [];
  session.on("receipts", (r) => changes.push(r));
  void session.start();
  return { session, changes };
}

const live = (session: ChatSession, room: string) => waitUntil(() => session.isLive(room), `#${room} to be live`);

describe.each(kinds)("read receipts in the client core over $name", (kind) => {
  it("shows who has seen a message, takes the join's snapshot, and forgets them when turned off", async () => {
    const server = await startTestServer({ authSecret: secret, presenceIntervalMs: 100 });
    const alice = await user(server, kind, "alice");
    await alice.session.createRoom("team", { invite: ["bob", "carol"] });
    const bob = await user(server, kind, "bob");
    bob.session.join("team");
    await live(bob.session, "team");
    const acked: bigint[] = [];
    alice.session.on("ack", (m) => acked.push(m.seq));
    alice.session.send("team", "first");
    alice.session.send("team", "second");
    await waitUntil(() => acked.length === 2, "alice's messages acknowledged");
    const [first, second] = acked;

    bob.session.markRead("team", first);
    await waitUntil(() => alice.session.seenBy("team", first).length === 1 || undefined, "alice to see bob's receipt");
    expect(alice.session.seenBy("team", first)).toEqual(["bob"]);
    expect(alice.session.seenBy("team", second)).toEqual([]);
    expect(alice.changes.at(-1)).toEqual({ room: "team", receipts: [{ userId: "bob", nickname: "bob", readSeq: first }] });
    expect(bob.session.receipts("team")).toEqual([]); // never his own

    alice.session.markRead("team", second);
    await waitUntil(() => bob.session.seenBy("team", second).length === 1 || undefined, "bob to see alice's receipt");
    const carol = await user(server, kind, "carol");
    carol.session.join("team");
    await live(carol.session, "team");
    expect(carol.session.receipts("team").map((r) => [r.nickname, r.readSeq])).toEqual([
      ["alice", second],
      ["bob", first],
    ]);
    expect(seenByLine(carol.session.seenBy("team", first))).toBe("seen by alice and bob");

    await alice.session.moderate("team", { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: ReadReceiptsSetting.OFF });
    await waitUntil(() => carol.session.receipts("team").length === 0 || undefined, "carol to forget the receipts");
    expect(carol.changes.at(-1)).toEqual({ room: "team", receipts: [] });
  });
});

describe("read positions without authentication", () => {
  it("a client that thinks it is signed in: markRead is refused quietly (no command error), and not sent again", async () => {
    const server = await startTestServer({ presenceIntervalMs: 100 });
    const session = new ChatSession({ transport: createGrpcSessionTransport(server.baseUrl, {}), server: "test", nickname: "ann", signedIn: true, backoff: { baseMs: 20, maxMs: 200 } });
    sessions.push(session);
    const errors: string[] = [];
    const refusals: string[] = [];
    session.on("commandError", (e) => errors.push(e.message));
    session.on("event", (e) => {
      if (e.event.case === "error") refusals.push(e.event.value.message);
    });
    void session.start();
    session.join("lobby");
    await live(session, "lobby");
    const acked: bigint[] = [];
    session.on("ack", (m) => acked.push(m.seq));
    session.send("lobby", "one");
    session.send("lobby", "two");
    await waitUntil(() => acked.length === 2, "both acknowledged");
    session.markRead("lobby", acked[0]);
    await waitUntil(() => refusals.length === 1, "the refusal");
    session.markRead("lobby", acked[1]);
    // A later command goes through; the second mark was not sent, and no error was said for the first.
    session.send("lobby", "three");
    await waitUntil(() => acked.length === 3, "the third acknowledged");
    expect(refusals).toEqual([expect.stringMatching(/signed-in users/)]);
    expect(errors).toEqual([]);
  });
});

describe("seenByLine", () => {
  it("names up to three, then counts the others", () => {
    expect(seenByLine([])).toBe("");
    expect(seenByLine(["alice"])).toBe("seen by alice");
    expect(seenByLine(["alice", "bob", "cy"])).toBe("seen by alice, bob and cy");
    expect(seenByLine(["alice", "bob", "cy", "dee"])).toBe("seen by alice, bob, cy and 1 other");
    expect(seenByLine(["a", "b", "c", "d", "e"])).toBe("seen by a, b, c and 2 others");
  });
});
