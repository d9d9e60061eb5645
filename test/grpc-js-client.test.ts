/** The wire contract holds for a second client stack: plain @grpc/grpc-js, no Connect. */
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ChatRequestSchema, ChatResponseSchema, LeaveReason, type ServerEvent } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { codec, rawClient } from "./support/grpc-raw.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const chat = codec(ChatRequestSchema, ChatResponseSchema);

describe("a plain grpc-js client", () => {
  it("holds a full join, send, receive and leave conversation", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
    const events: ServerEvent[] = [];
    call.on("data", (r) => events.push(...r.events));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => {});
    const of = (c: ServerEvent["event"]["case"]) => events.filter((e) => e.event.case === c).map((e) => e.event.value);

    call.write(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "grace" } } }));
    await waitUntil(() => of("joined").length > 0, "joined");
    const connect = ChatTester.connect(server.baseUrl, "ada");
    connect.join("lobby");
    await connect.joined("lobby");
    await waitUntil(() => of("memberJoined").length > 0, "member joined");

    call.write(chat.create({ command: { case: "send", value: { room: "lobby", text: "from grpc-js", clientMsgId: "g1" } } }));
    connect.send("lobby", "from connect", "a1");
    const got = await waitUntil(() => of("message").length >= 2 && of("message"), "two messages");
    const fromConnect = await connect.messageCount(2);
    expect(got.map((m: any) => m.text)).toEqual(fromConnect.map((m) => m.text));
    expect((got as any[]).find((m) => m.clientMsgId === "g1").sender).toBe("grace");

    call.write(chat.create({ command: { case: "leave", value: { room: "lobby" } } }));
    const left = await connect.waitFor("memberLeft", (e) => e.nickname === "grace");
    expect(left.reason).toBe(LeaveReason.LEFT);
    await waitUntil(() => of("left").length > 0, "left");
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    client.close();
  });

  it("a frame that is not a ChatRequest gets an error event, the stream goes on, and others are unaffected", async () => {
    const server = await startTestServer();
    const bystander = ChatTester.connect(server.baseUrl, "bystander");
    bystander.join("lobby");
    await bystander.joined("lobby");
    const client = rawClient(server.address);
    // Serialize by hand so we can send bytes that are not valid protobuf.
    const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", (b: Buffer) => b, chat.deserialize);
    const events: ServerEvent[] = [];
    call.on("data", (r) => events.push(...r.events));
    call.on("error", () => {});
    call.write(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])); // field 2, absurd length
    const err = await waitUntil(() => events.find((e) => e.event.case === "error"), "error event");
    expect((err.event.value as any).message).toMatch(/could not be decoded/);
    call.write(Buffer.from(chat.serialize(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "after" } } }))));
    await waitUntil(() => events.find((e) => e.event.case === "joined"), "joined after the bad frame");
    const id = bystander.send("lobby", "unaffected");
    await bystander.waitFor("message", (m) => m.clientMsgId === id);
    call.cancel();
    client.close();
  });
});
