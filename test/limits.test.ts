/** Transport-level limits: connections, streams per connection, idle connections. */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, type ChatResponse } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { codec, rawClient } from "./support/grpc-raw.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const chat = codec(ChatRequestSchema, ChatResponseSchema);

/** Open a Chat stream on `client` and join; resolves when joined, or with the status if the call ends first. */
function joinOn(client: grpc.Client, nickname: string) {
  const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
  let joined = false;
  let status: grpc.StatusObject | undefined;
  call.on("data", (r: ChatResponse) => r.events.some((e) => e.event.case === "joined") && (joined = true));
  call.on("status", (s) => (status = s));
  call.on("error", () => {});
  call.write(chat.create({ command: { case: "join", value: { room: "lobby", nickname } } }));
  return { call, joined: () => joined, status: () => status };
}

describe("limits", () => {
  it("refuses connections beyond the limit with a clear error, and serves again when one closes", async () => {
    const server = await startTestServer({ maxConnections: 2, idleTimeoutMs: 1000 });
    // Each tester has its own transport, hence its own connection.
    const first = ChatTester.connect(server.baseUrl, "u1");
    const second = ChatTester.connect(server.baseUrl, "u2");
    for (const t of [first, second]) t.join("lobby");
    for (const t of [first, second]) await t.joined("lobby");
    expect(server.connections()).toBe(2);
    const third = ChatTester.connect(server.baseUrl, "u3");
    third.join("lobby");
    const refused = await third.done;
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.message).toMatch(/limit of 2 connections/);
    expect(server.hub.sessionCount).toBe(2);
    const id = second.send("lobby", "unaffected");
    await first.waitFor("message", (m) => m.clientMsgId === id);
    first.cancel();
    await waitUntil(() => server.hub.sessionCount === 1, "first stream gone");
    // The client keeps its idle connection; the server's idle timeout closes it and frees the slot.
    await waitUntil(() => server.connections() === 1, "idle connection closed", 10_000);
    const fourth = ChatTester.connect(server.baseUrl, "u4");
    fourth.join("lobby");
    await fourth.joined("lobby");
  });

  it("holds streams beyond the per-connection limit until one ends", async () => {
    const server = await startTestServer({ maxStreamsPerConnection: 2 });
    const client = rawClient(server.address);
    const first = joinOn(client, "s1");
    const second = joinOn(client, "s2");
    await waitUntil(() => first.joined() && second.joined(), "two streams");
    const third = joinOn(client, "s3");
    // The third stream waits for a slot: prove it is not served while two are open.
    const probe = ChatTester.connect(server.baseUrl, "probe");
    probe.join("lobby");
    await probe.joined("lobby");
    expect(server.hub.localMembers("lobby").map((m) => m.nickname).sort()).toEqual(["probe", "s1", "s2"]);
    expect(third.joined()).toBe(false);
    first.call.cancel();
    await waitUntil(() => third.joined(), "third stream served once a slot is free");
    client.close();
  });

  it("closes a connection that has had no call for the idle timeout", async () => {
    const server = await startTestServer({ idleTimeoutMs: 1000 });
    const client = rawClient(server.address);
    const s = joinOn(client, "idle");
    await waitUntil(() => s.joined(), "joined");
    expect(server.connections()).toBe(1);
    s.call.end();
    await waitUntil(() => s.status(), "stream ended");
    await waitUntil(() => server.connections() === 0, "idle connection closed", 10_000);
    client.close();
  });

  it("ends only the stream whose request is over the size limit", async () => {
    const server = await startTestServer({ maxRequestBytes: 16_384 });
    const bystander = ChatTester.connect(server.baseUrl, "bystander");
    bystander.join("lobby");
    await bystander.joined("lobby");
    const big = ChatTester.connect(server.baseUrl, "big");
    big.join("lobby");
    await big.joined("lobby");
    big.send("lobby", "z".repeat(20_000));
    const end = await big.done;
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await bystander.waitFor("memberLeft", (e) => e.nickname === "big");
    const id = bystander.send("lobby", "still fine");
    await bystander.waitFor("message", (m) => m.clientMsgId === id);
  });
});
