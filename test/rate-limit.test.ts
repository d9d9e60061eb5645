/** A client that sends too fast is told to slow down; one that will not stop is disconnected. */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { grpcFrame, RawH2Connection } from "./support/hostile-h2.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

describe("per-client rate limit", () => {
  it("refuses commands over the burst with RESOURCE_EXHAUSTED error events, and the stream stays usable", async () => {
    const server = await startTestServer({ rateLimit: 1, rateBurst: 10 });
    const c = ChatTester.connect(server.baseUrl, "fast");
    c.join("lobby");
    const joined = await c.joined("lobby");
    // The limit is announced, so a client can pace itself.
    expect([joined.rateLimitPerSecond, joined.rateLimitBurst]).toEqual([1, 10]);
    for (let i = 0; i < 19; i++) c.send("lobby", `m${i}`, `id${i}`);
    // 10 tokens at start: the join and 9 sends pass, the other 10 sends are refused.
    await waitUntil(() => c.messages().length === 9 && c.of("error").length === 10, "9 accepted, 10 refused");
    const err = c.of("error")[0];
    expect(err.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/rate limit/);
    // It names the refused send, so the client knows which message to send again.
    expect(err.clientMsgId).toBe("id9");
    expect(c.of("error").map((e) => e.clientMsgId)).toEqual(Array.from({ length: 10 }, (_, i) => `id${9 + i}`));
    expect(err.room).toBe("lobby");
    // The refused ones were not stored or delivered.
    expect(c.messages().map((m) => m.clientMsgId)).toEqual(Array.from({ length: 9 }, (_, i) => `id${i}`));
    expect(c.ended).toBeUndefined();
  });

  it("disconnects a client that keeps sending over the limit", async () => {
    const server = await startTestServer({ rateLimit: 1, rateBurst: 5 });
    const watcher = ChatTester.connect(server.baseUrl, "watcher");
    watcher.join("lobby");
    await watcher.joined("lobby");
    const abuser = ChatTester.connect(server.baseUrl, "abuser");
    abuser.join("lobby");
    await abuser.joined("lobby");
    for (let i = 0; i < 400; i++) abuser.request({ command: { case: "ping", value: { nonce: `${i}` } } });
    const end = await abuser.done;
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(end.message).toMatch(/rate limit/);
    await watcher.waitFor("memberLeft", (e) => e.nickname === "abuser");
  });
});

describe("undecodable requests", () => {
  it("count against the rate limit like any command, and a client that keeps sending them is disconnected", async () => {
    const server = await startTestServer({ rateLimit: 1, rateBurst: 10 });
    const conn = await RawH2Connection.open(server.port);
    const stream = conn.stream();
    const garbage = grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    stream.write(Buffer.concat(Array.from({ length: 400 }, () => garbage)));
    const status = await stream.waitStatus();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.message).toMatch(/rate limit/);
    // At most the burst was answered as undecodable; the rest were refused by the rate limit.
    expect(stream.of("error").filter((e) => e.code === ErrorCode.INVALID_ARGUMENT).length).toBeLessThanOrEqual(10);
    await conn.close().catch(() => {});
  });

  it("a client that sends only undecodable requests is disconnected even without a rate limit", async () => {
    const server = await startTestServer({ rateLimit: 0 });
    const conn = await RawH2Connection.open(server.port);
    const stream = conn.stream();
    const garbage = grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    stream.write(Buffer.concat(Array.from({ length: 1000 }, () => garbage)));
    const status = await stream.waitStatus();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.message).toMatch(/undecodable/);
    expect(stream.of("error").length).toBeLessThan(1000);
    await conn.close().catch(() => {});
  });
});
