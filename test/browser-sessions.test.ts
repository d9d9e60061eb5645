/**
 * OpenSession + Command, the browser's way to chat: the same hub, rules and
 * room as a Chat stream, over the Connect protocol and gRPC-Web on the HTTP
 * port and over gRPC on either port.
 */
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";
import { Code, closeSessionTesters, rejection, SessionTester, transportFor, type TransportKind } from "./support/session-tester.js";

afterEach(async () => {
  closeSessionTesters();
  await stopTestServers();
});

const transports: [TransportKind, string, (s: TestServer) => string][] = [
  ["connect", "the HTTP port (HTTP/1.1)", (s) => s.httpUrl],
  ["grpc-web", "the HTTP port (HTTP/1.1)", (s) => s.httpUrl],
  ["grpc", "the HTTP port (h2c)", (s) => s.httpUrl],
  ["grpc", "the gRPC port", (s) => s.baseUrl],
];

describe.each(transports)("OpenSession and Command over %s on %s", (kind, _where, urlOf) => {
  it("a browser-style session and a Chat stream in one room see each other, in the same order", async () => {
    const server = await startTestServer();
    const web = new SessionTester("web", transportFor(kind, urlOf(server)));
    const id = await web.sessionId();
    expect(id.startsWith(`${server.nodeId}.`)).toBe(true);

    const joined = await web.join("lobby");
    expect(joined?.event.case).toBe("joined");
    const cli = ChatTester.connect(server.baseUrl, "cli");
    cli.join("lobby");
    await cli.joined("lobby");
    await web.waitFor("memberJoined", (e) => e.member?.nickname === "cli");

    // The Command's answer is the acknowledgement: the stored message with its sequence number.
    const ack = await web.send("lobby", "hello from the browser", "w-1");
    expect(ack?.event.case).toBe("message");
    const acked = ack!.event.value as { seq: bigint; clientMsgId: string; sender: string };
    expect(acked).toMatchObject({ clientMsgId: "w-1", sender: "web" });
    cli.send("lobby", "hello from the terminal");
    await web.waitFor("message", (m) => m.text === "hello from the terminal");
    await cli.messageCount(2, "lobby");

    const order = (texts: { seq: bigint; text: string }[]) => texts.map((m) => `${m.seq} ${m.text}`);
    expect(order(web.of("message"))).toEqual(order(cli.messages("lobby")));
    expect(web.of("message")[0].seq).toBe(acked.seq);
  });

  it("a refused command is answered with its error event; the session stays usable", async () => {
    const server = await startTestServer();
    const web = new SessionTester("web", transportFor(kind, urlOf(server)));
    const refused = await web.send("lobby", "not joined yet");
    expect(refused?.event.case).toBe("error");
    expect(refused?.event.value).toMatchObject({ code: ErrorCode.NOT_FOUND, message: "not a member of room lobby; join it first" });
    expect((await web.join("lobby"))?.event.case).toBe("joined");
    expect((await web.command({ command: { case: "ping", value: { nonce: "n1" } } }))?.event.value).toMatchObject({ nonce: "n1" });
    // Typing is answered with no event.
    expect(await web.command({ command: { case: "typing", value: { room: "lobby" } } })).toBeUndefined();
  });
});

describe("sessions", () => {
  it("an unknown session id is NOT_FOUND, naming both nodes when the id names another", async () => {
    const server = await startTestServer({ nodeId: "node-a" });
    const client = new SessionTester("probe", transportFor("connect", server.httpUrl)).client;
    const err = await rejection(client.command({ sessionId: "node-b.AAAAAAAAAAAAAAAAAAAAAA", request: {} }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe("no such session (it ended, or lives on another node) (this is node node-a; the session names node node-b)");
  });

  it("ids are unguessable and name the node: 128 random bits after the node id", async () => {
    const server = await startTestServer({ nodeId: "n1" });
    const ids = await Promise.all([1, 2, 3].map((i) => new SessionTester(`s${i}`, transportFor("connect", server.httpUrl)).sessionId()));
    for (const id of ids) expect(id).toMatch(/^n1\.[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(3);
  });

  it("the session ends with its stream: members see the browser leave as disconnected, and its id is gone", async () => {
    const server = await startTestServer();
    const web = new SessionTester("web", transportFor("connect", server.httpUrl));
    const id = await web.sessionId();
    await web.join("lobby");
    const cli = ChatTester.connect(server.baseUrl, "cli");
    cli.join("lobby");
    await cli.joined("lobby");
    web.cancel();
    const left = await cli.waitFor("memberLeft", (e) => e.nickname === "web");
    expect(left.reason).toBe(LeaveReason.DISCONNECTED);
    const err = await rejection(web.client.command({ sessionId: id, request: { command: { case: "ping", value: {} } } }));
    expect(err.code).toBe(Code.NotFound);
    expect(server.sessions.size).toBe(0);
  });

  it("sessions count against --max-streams", async () => {
    const server = await startTestServer({ maxStreams: 1 });
    const first = new SessionTester("first", transportFor("connect", server.httpUrl));
    await first.sessionId();
    const second = new SessionTester("second", transportFor("connect", server.httpUrl));
    expect(await second.waitForEnd()).toEqual({ code: Code.ResourceExhausted, message: "server is at its limit of 1 concurrent streams; retry later" });
  });

  it("the hub's rate limit applies to Command calls", async () => {
    const server = await startTestServer({ rateLimit: 1, rateBurst: 2 });
    const web = new SessionTester("web", transportFor("connect", server.httpUrl));
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await web.command({ command: { case: "ping", value: { nonce: `p${i}` } } }));
    const refused = answers.filter((a) => a?.event.case === "error");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.event.value).toMatchObject({ code: ErrorCode.RESOURCE_EXHAUSTED });
  });

  it("a session that sends no Command for the lease (keepalive + timeout) is taken for gone", async () => {
    const server = await startTestServer({ keepaliveMs: 1000, keepaliveTimeoutMs: 100 });
    const web = new SessionTester("web", transportFor("connect", server.httpUrl));
    await web.join("lobby");
    const end = await web.waitForEnd(5000);
    expect(end.code).toBe(Code.DeadlineExceeded);
    expect(end.message).toMatch(/^no command for 1 s: the client was taken for gone/);
    expect(server.sessions.size).toBe(0);
  });

  it("at shutdown the session gets the shutdown event and ends UNAVAILABLE", async () => {
    const server = await startTestServer();
    const web = new SessionTester("web", transportFor("connect", server.httpUrl));
    await web.join("lobby");
    await server.close(2000);
    expect((await web.waitFor("shutdown")).reason).toBe("server is shutting down");
    expect((await web.waitForEnd()).code).toBe(Code.Unavailable);
  });
});

describe("sessions with authentication", () => {
  const secret = "a-development-secret-of-at-least-32-bytes!";
  const token = (sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));

  it("needs a token, speaks under its subject, and only the same subject may command the session", async () => {
    const server = await startTestServer({ authSecret: secret });
    const anonymous = new SessionTester("anon", transportFor("connect", server.httpUrl));
    expect(await anonymous.waitForEnd()).toMatchObject({ code: Code.Unauthenticated, message: "missing bearer token: send 'authorization: Bearer <jwt>' metadata" });

    const alice = new SessionTester("alice", transportFor("connect", server.httpUrl, { token: await token("alice") }));
    const id = await alice.sessionId();
    expect((await alice.join("lobby", ""))?.event.value).toMatchObject({ nickname: "alice" });

    const mallory = new SessionTester("mallory", transportFor("connect", server.httpUrl, { token: await token("mallory") }));
    const err = await rejection(mallory.command({ command: { case: "send", value: { room: "lobby", text: "as alice", clientMsgId: "m1" } } }, id));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe("this session belongs to another identity");
    const noToken = new SessionTester("none", transportFor("connect", server.httpUrl)).client;
    expect((await rejection(noToken.command({ sessionId: id, request: {} }))).code).toBe(Code.Unauthenticated);
  });
});

describe("sessions on several nodes (Redis)", () => {
  it("a browser on one node and a Chat stream on another share the room; a Command sent to the wrong node is NOT_FOUND, naming both", async (ctx) => {
    if (!(await redisAnswers())) return ctx.skip();
    const redisPrefix = uniquePrefix("web");
    try {
      const nodeA = await startTestServer({ redis: REDIS_URL, redisPrefix, nodeId: "a" });
      const nodeB = await startTestServer({ redis: REDIS_URL, redisPrefix, nodeId: "b" });
      const web = new SessionTester("web", transportFor("connect", nodeA.httpUrl));
      const id = await web.sessionId();
      expect(id.startsWith("a.")).toBe(true);
      await web.join("lobby");
      const cli = ChatTester.connect(nodeB.baseUrl, "cli");
      cli.join("lobby");
      await cli.joined("lobby");
      await web.send("lobby", "from node a");
      cli.send("lobby", "from node b");
      await web.waitFor("message", (m) => m.text === "from node b");
      await cli.messageCount(2, "lobby");
      expect(web.of("message").map((m) => `${m.seq} ${m.text}`)).toEqual(cli.messages("lobby").map((m) => `${m.seq} ${m.text}`));

      const misrouted = new SessionTester("probe", transportFor("connect", nodeB.httpUrl)).client;
      const err = await rejection(misrouted.command({ sessionId: id, request: { command: { case: "ping", value: {} } } }));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe("no such session (it ended, or lives on another node) (this is node b; the session names node a)");
    } finally {
      await stopTestServers();
      await deletePrefix(REDIS_URL, redisPrefix);
    }
  });
});

describe("a session whose client stops reading", () => {
  it.each(["connect", "grpc"] as const)("over %s is dropped as too slow, and its stream and memory are let go", async (kind) => {
    const server = await startTestServer({ maxQueuedBytes: 64 * 1024, stallTimeoutMs: 300 });
    const url = kind === "grpc" ? server.baseUrl : server.httpUrl;
    const stalled = new SessionTester("stalled", transportFor(kind, url));
    // Pull the first frames, then never read again: only the transport's back-pressure tells the server.
    const id = await stalled.sessionId();
    await stalled.join("lobby");
    stalled.pause();
    const flood = ChatTester.connect(server.baseUrl, "flood");
    flood.join("lobby");
    await flood.joined("lobby");
    const text = "x".repeat(4000);
    let sent = 0;
    // Enough to fill the socket buffers on both sides and the session's queue, bounded in count.
    await waitUntil(() => {
      if (server.sessions.size === 0) return true;
      if (sent < 5000) for (let i = 0; i < 50; i++) flood.send("lobby", text, `f-${sent++}`);
      return false;
    }, "the stalled session to be dropped", 30_000);
    expect(server.hub.largestQueueBytes).toBeLessThanOrEqual(64 * 1024);
    const err = await rejection(stalled.client.command({ sessionId: id, request: { command: { case: "ping", value: {} } } }));
    expect(err.code).toBe(Code.NotFound);
    const left = await flood.waitFor("memberLeft", (e) => e.nickname === "stalled", 10_000);
    expect(left.reason).toBe(LeaveReason.TOO_SLOW);
  }, 60_000);
});
