/** When a client goes away, however it goes, it leaves every room and the others are told. */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ChatRequestSchema, ChatResponseSchema, LeaveReason, type ChatResponse } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { codec, rawClient } from "./support/grpc-raw.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

const chat = codec(ChatRequestSchema, ChatResponseSchema);

async function watcherIn(baseUrl: string, ...rooms: string[]): Promise<ChatTester> {
  const w = ChatTester.connect(baseUrl, "watcher");
  for (const r of rooms) w.join(r);
  for (const r of rooms) await w.joined(r);
  return w;
}

describe("leaving on disconnect", () => {
  it("a cancelled stream (RST_STREAM CANCEL) leaves all its rooms, reported as disconnected", async () => {
    const server = await startTestServer();
    const watcher = await watcherIn(server.baseUrl, "r1", "r2");
    const client = rawClient(server.address);
    const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
    call.on("error", () => {});
    const joined = new Set<string>();
    call.on("data", (r: ChatResponse) => r.events.forEach((e) => e.event.case === "joined" && joined.add(e.event.value.room)));
    for (const room of ["r1", "r2"]) call.write(chat.create({ command: { case: "join", value: { room, nickname: "quitter" } } }));
    await waitUntil(() => joined.size === 2, "quitter joined both rooms");
    call.cancel(); // grpc-js cancels with RST_STREAM alone, no half-close first
    for (const room of ["r1", "r2"]) {
      const left = await watcher.waitFor("memberLeft", (e) => e.room === room && e.nickname === "quitter");
      expect(left.reason).toBe(LeaveReason.DISCONNECTED);
    }
    await waitUntil(() => server.hub.sessionCount === 1, "session released");
    client.close();
  });

  it("a stream that half-closes leaves its rooms, reported as having left", async () => {
    const server = await startTestServer();
    const watcher = await watcherIn(server.baseUrl, "r1");
    const quitter = ChatTester.connect(server.baseUrl, "quitter");
    quitter.join("r1");
    await quitter.joined("r1");
    quitter.end();
    expect((await quitter.done).code).toBe("ok");
    const left = await watcher.waitFor("memberLeft", (e) => e.nickname === "quitter");
    expect(left.reason).toBe(LeaveReason.LEFT);
  });

  it("a closed connection leaves its rooms", async () => {
    const server = await startTestServer();
    const watcher = await watcherIn(server.baseUrl, "lobby");
    const client = rawClient(server.address);
    const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
    call.on("error", () => {});
    call.write(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "closer" } } }));
    await watcher.waitFor("memberJoined", (e) => e.member?.nickname === "closer");
    client.close();
    call.cancel();
    await watcher.waitFor("memberLeft", (e) => e.nickname === "closer");
  });

  it("a client process that crashes leaves its rooms", async () => {
    const server = await startTestServer();
    const watcher = await watcherIn(server.baseUrl, "lobby");
    // A separate process joins, then is killed with SIGKILL: no goodbye at all.
    const script = `
      const grpc = require("@grpc/grpc-js");
      const c = new grpc.Client(${JSON.stringify(server.address)}, grpc.credentials.createInsecure());
      const call = c.makeBidiStreamRequest("/chat.v1.ChatService/Chat", (b) => b, (b) => b);
      call.on("data", () => process.stdout.write("joined\\n"));
      call.on("error", () => {});
      call.write(Buffer.from(${JSON.stringify([...chat.serialize(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "crasher" } } }))])}));
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await watcher.waitFor("memberJoined", (e) => e.member?.nickname === "crasher", 10_000);
    child.kill("SIGKILL");
    await watcher.waitFor("memberLeft", (e) => e.nickname === "crasher", 10_000);
  });
});

describe("half-close", () => {
  it("acknowledges everything the client sent, then ends with OK", async () => {
    const server = await startTestServer();
    const watcher = await watcherIn(server.baseUrl, "lobby");
    const c = ChatTester.connect(server.baseUrl, "scripted");
    c.join("lobby");
    const ids = Array.from({ length: 50 }, (_, i) => c.send("lobby", `line ${i}`));
    c.end();
    expect(await c.done).toEqual({ code: "ok", message: "" });
    // Every message was acknowledged before the OK, in order.
    expect(c.messages().map((m) => m.clientMsgId)).toEqual(ids);
    await watcher.messageCount(50);
    await watcher.waitFor("memberLeft", (e) => e.nickname === "scripted");
  });

  it("a plain grpc-js client that half-closes right after its commands gets its acks and OK", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
    const texts: string[] = [];
    call.on("data", (r: ChatResponse) => r.events.forEach((e) => e.event.case === "message" && texts.push(e.event.value.text)));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.write(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "g" } } }));
    call.write(chat.create({ command: { case: "send", value: { room: "lobby", text: "one", clientMsgId: "1" } } }));
    call.write(chat.create({ command: { case: "send", value: { room: "lobby", text: "two", clientMsgId: "2" } } }));
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    expect(texts).toEqual(["one", "two"]);
    client.close();
  });
});
