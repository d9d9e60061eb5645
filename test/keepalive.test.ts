/**
 * Clients that vanish without closing (issue 5, items 3 and 6): no FIN, no
 * RST, no GOAWAY, the peer simply stops answering. A TCP proxy between the
 * client and the server is "frozen" (it stops forwarding both ways and keeps
 * both sockets open), so the server sees a silent peer. HTTP/2 keepalive
 * pings must find it and remove it from its rooms within keepalive interval
 * + timeout; without them it would stay a member forever.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { expectStillServes } from "./support/hostile-checks.js";
import { RawH2Connection } from "./support/hostile-h2.js";
import { backToBaseline, measure, report } from "./support/hostile-resources.js";
import { FreezableProxy, HTTP2_PREFACE, writeRawAndAwaitClose } from "./support/hostile-tcp.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

const WAIT = 15_000;
const FAST = { keepaliveMs: 1000, keepaliveTimeoutMs: 500 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
  await stopTestServers();
});

async function proxyTo(server: TestServer): Promise<FreezableProxy> {
  const proxy = await FreezableProxy.start(server.port);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client that joins `rooms` through `proxy` (heartbeats are off in these servers, so nothing else is sent to it). */
async function ghostThrough(proxy: FreezableProxy, nickname: string, rooms: string[]): Promise<RawH2Connection> {
  const conn = await RawH2Connection.open(proxy.port, WAIT);
  cleanups.push(async () => void conn.socket.destroy());
  const stream = conn.stream();
  for (const room of rooms) stream.join(room, nickname);
  for (const room of rooms) await stream.waitFor("joined", (j) => j.room === room, WAIT);
  return conn;
}

async function watcherOn(server: TestServer, ...rooms: string[]): Promise<ChatTester> {
  const w = ChatTester.connect(server.baseUrl, "watcher");
  for (const r of rooms) w.join(r);
  for (const r of rooms) await w.joined(r);
  return w;
}

// Heartbeat events off: traffic to the ghost would let the slow-consumer
// detector drop it too, and this test is about keepalive alone.
const serverOptions = { heartbeatMs: 0 };

describe("a client that vanishes without closing", () => {
  it("is detected by keepalive and removed from all its rooms; fds and heap come back", async () => {
    const server = await startTestServer({ ...serverOptions, ...FAST });
    const watcher = await watcherOn(server, "lobby");
    await expectStillServes(server.port, watcher, "lobby"); // warm-up
    const baseline = measure();

    const proxy = await proxyTo(server);
    const ghost = await ghostThrough(proxy, "ghost", ["lobby", "attic"]);
    await watcher.waitFor("memberJoined", (e) => e.member?.nickname === "ghost", WAIT);
    expect(server.hub.sessionCount).toBe(2);
    expect(server.hub.roomCount).toBe(2);
    await waitUntil(() => server.connections() === 2, "watcher and ghost connected", WAIT);

    const frozenAt = Date.now();
    proxy.freeze();
    const left = await watcher.waitFor("memberLeft", (e) => e.nickname === "ghost", WAIT);
    const detectedMs = Date.now() - frozenAt;
    expect(left).toMatchObject({ room: "lobby", reason: LeaveReason.DISCONNECTED });
    await waitUntil(() => server.hub.sessionCount === 1, "the ghost's session released", WAIT);
    expect(server.hub.roomCount).toBe(1); // "attic" is gone with its only member
    // The server closed its end of the connection, while the proxy still holds both of its sockets
    // open: nothing but the keepalive could have told the server the client was gone.
    await waitUntil(() => server.connections() === 1, "the ghost's connection closed by the server", WAIT);
    expect(proxy.connections).toBe(1);
    expect(ghost.socketClosed).toBe(false);
    console.log(`[timing] frozen client removed ${detectedMs} ms after the freeze (keepalive ${FAST.keepaliveMs} + ${FAST.keepaliveTimeoutMs} ms)`);

    await expectStillServes(server.port, watcher, "lobby");
    expect(watcher.ended).toBeUndefined();
    ghost.socket.destroy();
    await proxy.close();
    const after = await backToBaseline(baseline, { fds: 2, heapBytes: 3 * 1024 * 1024 });
    report("frozen client removed by keepalive", { baseline, after });
  });

  it("with a long keepalive the same silent client is still a member after the short one has fired (twice)", async () => {
    const fast = await startTestServer({ ...serverOptions, ...FAST });
    const slow = await startTestServer({ ...serverOptions, keepaliveMs: 600_000, keepaliveTimeoutMs: 10_000 });
    const fastWatcher = await watcherOn(fast, "lobby");
    const slowWatcher = await watcherOn(slow, "lobby");
    const fastProxy = await proxyTo(fast);
    const slowProxy = await proxyTo(slow);
    await ghostThrough(fastProxy, "ghost", ["lobby"]);
    await ghostThrough(slowProxy, "ghost", ["lobby"]);
    for (const w of [fastWatcher, slowWatcher]) await w.waitFor("memberJoined", (e) => e.member?.nickname === "ghost", WAIT);

    // Freeze both at the same moment; the fast server drops its ghost.
    fastProxy.freeze();
    slowProxy.freeze();
    await fastWatcher.waitFor("memberLeft", (e) => e.nickname === "ghost", WAIT);
    // Let the fast server's keepalive fire once more, on a second ghost frozen only now.
    const secondProxy = await proxyTo(fast);
    await ghostThrough(secondProxy, "ghost-2", ["lobby"]);
    secondProxy.freeze();
    await fastWatcher.waitFor("memberLeft", (e) => e.nickname === "ghost-2", WAIT);

    // Same silence, twice as long: on the slow server the ghost is still there.
    expect(slowWatcher.of("memberLeft")).toEqual([]);
    expect(slow.hub.sessionCount).toBe(2);
    expect(slow.connections()).toBe(2);
    expect(fast.hub.sessionCount).toBe(1);
  });

  it("a connection that stops in the middle of the HTTP/2 preface is closed by keepalive too", async () => {
    const server = await startTestServer({ ...serverOptions, ...FAST });
    const watcher = await watcherOn(server, "lobby");
    await writeRawAndAwaitClose(server.port, HTTP2_PREFACE.subarray(0, 10), WAIT); // warm-up
    const baseline = measure();
    const started = Date.now();
    // A slowloris: half a preface, then nothing. Twenty of them at once.
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => writeRawAndAwaitClose(server.port, HTTP2_PREFACE.subarray(0, 10), WAIT)));
    const elapsed = Date.now() - started;
    expect(outcomes).toHaveLength(20);
    expect(elapsed).toBeGreaterThanOrEqual(FAST.keepaliveTimeoutMs);
    console.log(`[timing] 20 half-preface connections closed after ${elapsed} ms`);
    await expectStillServes(server.port, watcher, "lobby");
    await waitUntil(() => server.connections() === 1, "only the watcher's connection left", WAIT);
    const after = await backToBaseline(baseline, { fds: 2, heapBytes: 3 * 1024 * 1024 });
    report("half-preface connections closed by keepalive", { baseline, after });
  });
});
