/**
 * Hostile input (issue 5, item 6): garbage on the TCP port, a gRPC frame cut
 * short, a length prefix claiming gigabytes, a request over the size limit,
 * and a thousand connect/disconnect cycles. After each, the server still
 * serves a bystander that was connected all along and a newcomer, and the
 * process's open file descriptors and live heap are back near where they were
 * before (the server runs in this process, so its sockets and objects are
 * counted here; the test closes its own clients before measuring).
 */
import { gzipSync } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { expectStillServes } from "./support/hostile-checks.js";
import { chatRequestFrame, grpcFrame, RawH2Connection, type GrpcStatus } from "./support/hostile-h2.js";
import {
  backToBaseline,
  liveInstances,
  measure,
  mb,
  peakFdsDuring,
  report,
  type Resources,
} from "./support/hostile-resources.js";
import { goawayCode, H2_ERROR, HTTP2_PREFACE, http2Frame, pseudoRandomBytes, writeRawAndAwaitClose } from "./support/hostile-tcp.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const WAIT = 15_000;
/** Allowed growth once everything is closed: a leaked socket per attempt would be far above these. */
const FD_SLACK = 2;
const HEAP_SLACK = 3 * 1024 * 1024;

const RESOURCE_EXHAUSTED = 8;

interface Scene {
  server: TestServer;
  bystander: ChatTester;
}

/** A server with a bystander in "lobby", warmed up by one full newcomer round trip. */
async function scene(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<Scene> {
  const server = await startTestServer(overrides);
  const bystander = ChatTester.connect(server.baseUrl, "bystander");
  bystander.join("lobby");
  await bystander.joined("lobby");
  await expectStillServes(server.port, bystander, "lobby");
  return { server, bystander };
}

/** After the hostile input: others are served, the bystander never noticed, and nothing is left open or alive. */
async function expectRecovered({ server, bystander }: Scene, what: string, baseline: Resources, peakFds?: number): Promise<void> {
  await expectStillServes(server.port, bystander, "lobby");
  expect(bystander.ended).toBeUndefined();
  // Only the bystander's stream and connection remain.
  await waitUntil(() => server.hub.sessionCount === 1, "only the bystander's session left", WAIT);
  expect(server.hub.roomCount).toBe(1);
  await waitUntil(() => server.connections() === 1, "only the bystander's connection left", WAIT);
  const after = await backToBaseline(baseline, { fds: FD_SLACK, heapBytes: HEAP_SLACK });
  report(what, { baseline, after, peakFds });
}

describe("random bytes on the gRPC port", () => {
  const ATTEMPTS = 20;
  const garbage = (seed: number, n: number) => {
    const b = pseudoRandomBytes(seed, n);
    // A lone "P" could be the start of the HTTP/2 preface, which the server rightly waits for
    // (the keepalive test covers a peer that stops mid-preface).
    if (b[0] === 0x50) b[0] = 0x51;
    return b;
  };
  const settings = http2Frame(0x4, 0, 0, Buffer.alloc(0));

  // Refused before the HTTP/2 handshake completes (a bad preface, or a first frame that is not
  // SETTINGS): the server closes the socket at once. Keepalive is set far beyond the wait, so it
  // cannot be what closes them.
  const refusedAtOnce: Array<[string, (i: number) => Buffer]> = [
    ["1 random byte", (i) => garbage(1 + i, 1)],
    ["23 random bytes (shorter than the preface)", (i) => garbage(100 + i, 23)],
    ["4 KiB of random bytes", (i) => garbage(200 + i, 4096)],
    ["1 MiB of random bytes", (i) => garbage(300 + i, 1024 * 1024)],
    ["a valid HTTP/2 preface, then random bytes", (i) => Buffer.concat([HTTP2_PREFACE, pseudoRandomBytes(400 + i, 4096)])],
    ["an HTTP/1.1 request", () => Buffer.from("GET /chat.v1.ChatService/Chat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")],
    ["a TLS ClientHello record on the plaintext port", (i) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), pseudoRandomBytes(700 + i, 512)])],
  ];

  it.each(refusedAtOnce)("%s: the server closes that socket, others are unaffected, fds and heap come back", async (what, bytes) => {
    const s = await scene({ keepaliveMs: 600_000 });
    await writeRawAndAwaitClose(s.server.port, bytes(-1), WAIT); // warm-up, before the baseline
    const baseline = measure();
    const { result: outcomes, peakFds } = await peakFdsDuring(() =>
      Promise.all(Array.from({ length: ATTEMPTS }, (_, i) => writeRawAndAwaitClose(s.server.port, bytes(i), WAIT))),
    );
    // Every one of them was closed by the server (writeRawAndAwaitClose rejects if it is left open).
    expect(outcomes).toHaveLength(ATTEMPTS);
    await expectRecovered(s, `random bytes: ${what} x${ATTEMPTS}`, baseline, peakFds);
  });

  // A protocol error inside an established HTTP/2 session: nghttp2 answers GOAWAY with the right
  // code, but Node (20.x) then only stops reading and never closes the socket (RFC 9113 5.4.1 says
  // it MUST). What closes it is the keepalive watchdog: the PING it sends is never written, so it
  // times out. These tests pin that bound with a short keepalive.
  const afterSettings: Array<[string, (i: number) => Buffer, number]> = [
    [
      "preface and SETTINGS, then a frame claiming 16 MiB",
      (i) => Buffer.concat([HTTP2_PREFACE, settings, http2Frame(0x0, 0, 1, pseudoRandomBytes(500 + i, 64), 0xffffff)]),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
    [
      "preface and SETTINGS, then HEADERS of random HPACK",
      (i) => Buffer.concat([HTTP2_PREFACE, settings, http2Frame(0x1, 0x4, 1, pseudoRandomBytes(600 + i, 200))]),
      H2_ERROR.COMPRESSION_ERROR,
    ],
    [
      "preface and SETTINGS, then random bytes",
      (i) => Buffer.concat([HTTP2_PREFACE, settings, garbage(800 + i, 4096)]),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
  ];

  it.each(afterSettings)("%s: GOAWAY with the right error code, the socket closed within the keepalive bound, fds and heap come back", async (what, bytes, code) => {
    const keepalive = { keepaliveMs: 1000, keepaliveTimeoutMs: 500 };
    const s = await scene(keepalive);
    await writeRawAndAwaitClose(s.server.port, bytes(-1), WAIT);
    const baseline = measure();
    const started = Date.now();
    const { result: outcomes, peakFds } = await peakFdsDuring(() =>
      Promise.all(Array.from({ length: ATTEMPTS }, (_, i) => writeRawAndAwaitClose(s.server.port, bytes(i), WAIT))),
    );
    const elapsed = Date.now() - started;
    for (const o of outcomes) expect(goawayCode(o.received)).toBe(code);
    console.log(`[timing] ${what} x${ATTEMPTS}: all closed after ${elapsed} ms (keepalive ${keepalive.keepaliveMs} + ${keepalive.keepaliveTimeoutMs} ms)`);
    await expectRecovered(s, `random bytes: ${what} x${ATTEMPTS}`, baseline, peakFds);
  });

  // KNOWN NODE BUG (see above): with keepalive far away, the socket stays open after the GOAWAY.
  // The body asserts the right behaviour, so it fails today. When Node (or a workaround in
  // src/server) closes the socket after the GOAWAY, the body passes and this test is reported as
  // failing: then make it a plain it(...) named after the behaviour.
  it.fails("Node 20 limitation (expected to fail): after a protocol error, the socket is not closed right after the GOAWAY, only by keepalive later", async () => {
    const s = await scene({ keepaliveMs: 600_000 });
    await Promise.all(afterSettings.map(([, bytes]) => writeRawAndAwaitClose(s.server.port, bytes(0), 3000)));
  });
});

describe("a truncated gRPC frame", () => {
  // A real join request, cut after its first 10 bytes, under a prefix announcing 100.
  const cutShort = () => {
    const join = chatRequestFrame({ command: { case: "join", value: { room: "lobby", nickname: "x".repeat(200) } } });
    return grpcFrame(join.subarray(5, 15), { declaredLength: 100 });
  };

  async function sendTruncated(port: number) {
    const conn = await RawH2Connection.open(port, WAIT);
    const stream = conn.stream();
    stream.end(cutShort());
    const status = await stream.waitStatus(WAIT);
    await conn.close(WAIT);
    return status;
  }

  it("is answered with a status (the server neither crashes nor hangs), nobody joins, fds and heap come back", async () => {
    const s = await scene();
    await sendTruncated(s.server.port);
    const baseline = measure();
    const { result: statuses, peakFds } = await peakFdsDuring(() => Promise.all(Array.from({ length: 20 }, () => sendTruncated(s.server.port))));
    expect(statuses.every((st) => typeof st.code === "number")).toBe(true);
    // The partial join never took effect.
    expect(s.bystander.of("memberJoined").filter((e) => e.member?.nickname.startsWith("xxx"))).toEqual([]);
    await expectRecovered(s, "truncated frame x20", baseline, peakFds);
  });

  // grpc-js treats the end of the stream inside a message as a clean half-close; the Chat handler
  // checks the decoder and answers INTERNAL, as gRPC servers in other languages do.
  it("is answered with an error status, not OK", async () => {
    const s = await scene();
    const status = await sendTruncated(s.server.port);
    expect(status.code).not.toBe(0);
  });
});

describe("a length prefix claiming gigabytes", () => {
  it("gets RESOURCE_EXHAUSTED while the stream is still open (without waiting for the body), without allocating it", async () => {
    const s = await scene();
    const claim = async () => {
      const conn = await RawH2Connection.open(s.server.port, WAIT);
      const stream = conn.stream();
      // 0xffffffff bytes announced, 10 sent, and the stream left open: the answer cannot wait for the rest.
      stream.write(grpcFrame(pseudoRandomBytes(9, 10), { declaredLength: 0xffffffff }));
      const status = await stream.waitStatus(WAIT);
      stream.cancel();
      await conn.close(WAIT);
      return status;
    };
    await claim();
    const baseline = measure();
    // Watch memory while the claims are in flight: a 4 GiB buffer would show in arrayBuffers
    // (even if never touched), a zero-filled one in rss.
    const before = process.memoryUsage();
    let peak = { arrayBuffers: before.arrayBuffers, rss: before.rss, heapUsed: before.heapUsed };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = { arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers), rss: Math.max(peak.rss, m.rss), heapUsed: Math.max(peak.heapUsed, m.heapUsed) };
    }, 1);
    let statuses: GrpcStatus[] = [];
    let peakFds = 0;
    try {
      ({ result: statuses, peakFds } = await peakFdsDuring(() => Promise.all(Array.from({ length: 10 }, claim))));
    } finally {
      clearInterval(sampler);
    }
    for (const st of statuses) {
      expect(st.code).toBe(RESOURCE_EXHAUSTED);
      expect(st.message).toContain("larger than max");
    }
    console.log(
      `[resources] 4 GiB claims x10: peak arrayBuffers +${mb(peak.arrayBuffers - before.arrayBuffers)}, rss +${mb(peak.rss - before.rss)}, heapUsed (uncollected) +${mb(peak.heapUsed - before.heapUsed)}`,
    );
    expect(peak.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
    expect(peak.rss - before.rss).toBeLessThan(256 * 1024 * 1024);
    await expectRecovered(s, "4 GiB length prefix x10", baseline, peakFds);
  });

  it("a small compressed frame that inflates past the limit gets RESOURCE_EXHAUSTED too (a zip bomb)", async () => {
    const s = await scene();
    // 32 MiB of zeros gzip to ~32 KiB: under the 64 KiB request limit on the wire, far over it inflated.
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const detonate = async () => {
      const conn = await RawH2Connection.open(s.server.port, WAIT);
      const stream = conn.stream(undefined, { "grpc-encoding": "gzip" });
      stream.end(grpcFrame(bomb, { compressed: true }));
      const status = await stream.waitStatus(WAIT);
      await conn.close(WAIT);
      return status;
    };
    await detonate();
    const baseline = measure();
    const before = process.memoryUsage();
    let peakArrayBuffers = before.arrayBuffers;
    const sampler = setInterval(() => (peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers)), 1);
    let statuses: GrpcStatus[] = [];
    try {
      statuses = await Promise.all(Array.from({ length: 10 }, detonate));
    } finally {
      clearInterval(sampler);
    }
    for (const st of statuses) expect(st.code).toBe(RESOURCE_EXHAUSTED);
    console.log(`[resources] gzip bombs x10 (32 MiB each inflated): peak arrayBuffers +${mb(peakArrayBuffers - before.arrayBuffers)}`);
    // Ten bombs fully inflated would be 320 MiB.
    expect(peakArrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
    await expectRecovered(s, "gzip bomb x10", baseline);
  });
});

describe("a request over the size limit", () => {
  it("ends only that stream with RESOURCE_EXHAUSTED; another stream on the same connection and other clients keep chatting", async () => {
    const s = await scene({ maxRequestBytes: 16_384 });
    const baseline = measure();
    // A well-behaved client library, one connection of its own.
    const bigmouth = ChatTester.connect(s.server.baseUrl, "bigmouth");
    bigmouth.join("lobby");
    await bigmouth.joined("lobby");
    bigmouth.send("lobby", "y".repeat(20 * 1024));
    expect(await bigmouth.done).toMatchObject({ code: Code.ResourceExhausted });
    await s.bystander.waitFor("memberLeft", (e) => e.nickname === "bigmouth", WAIT);
    expect(s.bystander.messages().some((m) => m.sender === "bigmouth")).toBe(false);

    // Two streams on one HTTP/2 connection: the oversized one ends, its sibling does not.
    const conn = await RawH2Connection.open(s.server.port, WAIT);
    const big = conn.stream();
    const sibling = conn.stream();
    big.join("lobby", "big-stream");
    sibling.join("lobby", "sibling");
    await big.waitFor("joined", () => true, WAIT);
    await sibling.waitFor("joined", () => true, WAIT);
    big.send("lobby", "z".repeat(20 * 1024), "big-1");
    const status = await big.waitStatus(WAIT);
    expect(status.code).toBe(RESOURCE_EXHAUSTED);
    big.cancel(); // our half of it is still open; the server answered and stopped reading it
    await s.bystander.waitFor("memberLeft", (e) => e.nickname === "big-stream", WAIT);
    sibling.send("lobby", "still here", "sib-1");
    await s.bystander.waitFor("message", (m) => m.text === "still here", WAIT);
    s.bystander.send("lobby", "hello sibling");
    await sibling.waitFor("message", (m) => m.text === "hello sibling", WAIT);
    expect(sibling.status).toBeUndefined();
    expect(conn.socketClosed).toBe(false);
    sibling.end();
    expect((await sibling.waitStatus(WAIT)).code).toBe(0);
    await conn.close(WAIT);
    bigmouth.cancel();

    await expectStillServes(s.server.port, s.bystander, "lobby");
    await waitUntil(() => s.server.hub.sessionCount === 1, "only the bystander's session left", WAIT);
    // bigmouth's Connect client keeps its idle connection for reuse (both ends are in this process): 2 more fds.
    const after = await backToBaseline(baseline, { fds: FD_SLACK + 2, heapBytes: HEAP_SLACK });
    report("oversized request", { baseline, after });
  });
});

describe("a thousand connect/disconnect cycles", () => {
  const CYCLES = 1000;
  const CONCURRENCY = 10;
  const ROOMS = 10;
  type Close = "half-close" | "cancel" | "destroy-session" | "tcp-fin" | "tcp-reset";
  const closes: Close[] = ["half-close", "cancel", "destroy-session", "tcp-fin", "tcp-reset"];
  /** Per-connection and per-call objects on both ends (the test's own clients are closed too). */
  const SERVER_CLASSES = [
    "Socket",
    "ServerHttp2Session",
    "ServerHttp2Stream",
    "ClientHttp2Session",
    "BaseServerInterceptingCall",
    "ServerDuplexStreamImpl",
    "Session",
  ] as const;

  /** Connect, open a Chat stream, join, wait for joined, then leave in the given way; resolves once our socket is closed. */
  async function cycle(port: number, i: number): Promise<void> {
    const conn = await RawH2Connection.open(port, WAIT);
    const stream = conn.stream();
    const room = `cycle-${i % ROOMS}`;
    stream.join(room, `c${i}`);
    await stream.waitFor("joined", (j) => j.room === room, WAIT);
    switch (closes[i % closes.length]) {
      case "half-close":
        stream.end();
        expect((await stream.waitStatus(WAIT)).code).toBe(0);
        return conn.close(WAIT);
      case "cancel":
        stream.cancel();
        return conn.close(WAIT);
      case "destroy-session":
        return conn.destroySession(WAIT);
      case "tcp-fin":
        return conn.dropSocket(WAIT);
      case "tcp-reset":
        return conn.resetSocket(WAIT);
    }
  }

  async function run(port: number, from: number, count: number): Promise<void> {
    let next = from;
    const worker = async () => {
      while (next < from + count) await cycle(port, next++);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }

  it("leave no session, room, connection, fd or heap behind, and the others are served throughout", async () => {
    const s = await scene();
    // The bystander also sits in one of the cycling rooms and must see every visitor come and go.
    s.bystander.join("cycle-0");
    await s.bystander.joined("cycle-0");
    // Warm-up (numbered after the real ones): long enough for the hot paths to be optimised, whose
    // code would otherwise count as heap growth.
    await run(s.server.port, CYCLES, 300);
    await waitUntil(() => s.server.hub.sessionCount === 1, "warm-up sessions released", WAIT);
    const baseline = measure();
    const instancesBefore = await liveInstances(SERVER_CLASSES);
    const started = Date.now();
    const { peakFds } = await peakFdsDuring(() => run(s.server.port, 0, CYCLES));
    const elapsed = Date.now() - started;

    const visitors = (e: { nickname: string }) => /^c\d+$/.test(e.nickname) && Number(e.nickname.slice(1)) < CYCLES;
    const expected = CYCLES / ROOMS;
    await waitUntil(() => s.bystander.of("memberLeft").filter((e) => e.room === "cycle-0" && visitors(e)).length === expected, "every visitor of cycle-0 left", WAIT);
    expect(s.bystander.of("memberJoined").filter((e) => e.room === "cycle-0" && /^c\d+$/.test(e.member!.nickname) && Number(e.member!.nickname.slice(1)) < CYCLES)).toHaveLength(expected);

    await expectStillServes(s.server.port, s.bystander, "lobby");
    expect(s.bystander.ended).toBeUndefined();
    await waitUntil(() => s.server.hub.sessionCount === 1, "only the bystander's session left", WAIT);
    // lobby and cycle-0 (the bystander's); the other nine cycling rooms are gone.
    expect(s.server.hub.roomCount).toBe(2);
    await waitUntil(() => s.server.connections() === 1, "only the bystander's connection left", WAIT);
    const after = await backToBaseline(baseline, { fds: FD_SLACK, heapBytes: HEAP_SLACK, timeoutMs: 30_000 });
    // No more sockets, HTTP/2 sessions or streams, gRPC calls or hub sessions than before (2 may still be on their way out).
    const instancesAfter = await liveInstances(SERVER_CLASSES);
    console.log(`[resources] live instances before ${JSON.stringify(instancesBefore)}, after ${JSON.stringify(instancesAfter)}`);
    for (const name of SERVER_CLASSES) expect(instancesAfter[name], name).toBeLessThanOrEqual(instancesBefore[name] + 2);
    console.log(`[resources] ${CYCLES} cycles took ${elapsed} ms`);
    report(`${CYCLES} connect/disconnect cycles`, { baseline, after, peakFds });
  }, 240_000);
});
