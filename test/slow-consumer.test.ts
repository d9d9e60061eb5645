/**
 * A client that stops reading must never delay anyone else nor make the
 * server's memory grow: it is dropped with RESOURCE_EXHAUSTED, and the
 * others keep getting every message, in order.
 */
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, LeaveReason, type ChatResponse } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { codec, rawClient } from "./support/grpc-raw.js";
import { RawH2Connection } from "./support/hostile-h2.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const chat = codec(ChatRequestSchema, ChatResponseSchema);

/** A grpc-js client that joins, then stops reading (its HTTP/2 window fills up). */
async function stalledMember(server: TestServer, room: string) {
  const client = rawClient(server.address);
  const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
  let joined = false;
  call.on("data", (r: ChatResponse) => r.events.some((e) => e.event.case === "joined") && (joined = true));
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => {});
  call.write(chat.create({ command: { case: "join", value: { room, nickname: "sloth" } } }));
  await waitUntil(() => joined, "sloth joined");
  call.pause();
  return { call, status, client };
}

function expectContiguous(seqs: bigint[], count: number): void {
  expect(seqs).toHaveLength(count);
  seqs.forEach((s, i) => expect(Number(s)).toBe(i + 1));
}

describe("a client that stops reading", () => {
  it("is dropped when its queue overflows, while the others get everything in order, and queued bytes stay bounded", async () => {
    const limit = 256 * 1024;
    const server = await startTestServer({ maxQueuedBytes: limit, stallTimeoutMs: 60_000 });
    const readers = ["r1", "r2"].map((n) => ChatTester.connect(server.baseUrl, n));
    for (const r of readers) r.join("lobby");
    for (const r of readers) await r.joined("lobby");
    const sloth = await stalledMember(server, "lobby");
    const sender = ChatTester.connect(server.baseUrl, "sender");
    sender.join("lobby");
    await sender.joined("lobby");

    let largest = 0;
    const sampler = setInterval(() => (largest = Math.max(largest, server.hub.largestQueueBytes)), 1);
    const text = "x".repeat(1000);
    // Phase 1: a little traffic; everyone, the stalled one included, is still there.
    for (let i = 0; i < 20; i++) sender.send("lobby", text);
    for (const r of readers) await r.messageCount(20);
    expect(server.hub.sessionCount).toBe(4);
    // Phase 2: keep talking, in bounded rounds, until the stalled one is dropped.
    let sent = 20;
    while (server.hub.sessionCount === 4 && sent < 20_000) {
      for (let i = 0; i < 200; i++) sender.send("lobby", text);
      sent += 200;
      for (const r of readers) await r.messageCount(sent, undefined, 10_000);
    }
    clearInterval(sampler);
    expect(server.hub.sessionCount).toBe(3);
    for (const r of readers) {
      const left = await r.waitFor("memberLeft", (e) => e.nickname === "sloth");
      expect(left.reason).toBe(LeaveReason.TOO_SLOW);
      expectContiguous(r.messages().map((m) => m.seq), sent);
    }
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(limit);
    // When it finally reads again, it learns why it was dropped.
    sloth.call.resume();
    const status = await sloth.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/too slow/);
    sloth.client.close();
  });

  it("is dropped after the stall timeout even when its queue has room", async () => {
    const server = await startTestServer({ maxQueuedBytes: 64 * 1024 * 1024, stallTimeoutMs: 300 });
    const reader = ChatTester.connect(server.baseUrl, "reader");
    reader.join("lobby");
    await reader.joined("lobby");
    const sloth = await stalledMember(server, "lobby");
    const text = "y".repeat(2000);
    let sent = 0;
    // Bounded: at most 200 rounds, each waiting for the reader to get its messages.
    for (let round = 0; round < 200 && server.hub.sessionCount === 2; round++) {
      for (let i = 0; i < 50; i++) reader.send("lobby", text);
      sent += 50;
      await reader.messageCount(sent, undefined, 10_000);
    }
    expect(server.hub.sessionCount).toBe(1);
    await reader.waitFor("memberLeft", (e) => e.nickname === "sloth" && e.reason === LeaveReason.TOO_SLOW);
    sloth.call.resume();
    const status = await sloth.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/not reading for more than 300 ms/);
    sloth.client.close();
  });
});

describe("a dropped slow client", () => {
  it("sees RESOURCE_EXHAUSTED even when it reads again only after the server gave up on its stream", async () => {
    const server = await startTestServer({ stallTimeoutMs: 200 }, { resetGraceMs: 0 });
    const reader = ChatTester.connect(server.baseUrl, "reader");
    reader.join("lobby");
    await reader.joined("lobby");
    const conn = await RawH2Connection.open(server.port);
    const sloth = conn.stream();
    sloth.join("lobby", "sloth");
    await sloth.waitFor("joined");
    sloth.pause();
    const text = "z".repeat(4000);
    let sent = 0;
    for (let round = 0; round < 200 && server.hub.sessionCount === 2; round++) {
      for (let i = 0; i < 50; i++) reader.send("lobby", text);
      sent += 50;
      await reader.messageCount(sent, undefined, 10_000);
    }
    expect(server.hub.sessionCount).toBe(1);
    // The server has reset the stream by now (no grace); whatever the client reads, it ends as RESOURCE_EXHAUSTED.
    await waitUntil(() => sloth.closed, "the server to give up on the stream");
    sloth.resume();
    expect(sloth.status?.code ?? rstStatus(sloth.rstCode)).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await conn.close().catch(() => {});
  });
});

/** How gRPC clients map an RST_STREAM code (PROTOCOL-HTTP2.md): ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED. */
function rstStatus(code: number | undefined): grpc.status {
  if (code === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) return grpc.status.RESOURCE_EXHAUSTED;
  if (code === http2.constants.NGHTTP2_CANCEL) return grpc.status.CANCELLED;
  if (code === http2.constants.NGHTTP2_REFUSED_STREAM) return grpc.status.UNAVAILABLE;
  return grpc.status.INTERNAL;
}
