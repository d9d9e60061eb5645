/**
 * Graceful shutdown: on SIGTERM or SIGINT the server refuses new streams,
 * tells every client, delivers what it accepted, and exits 0 within its
 * deadline, even with a client that stopped reading.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, type ChatResponse } from "../gen/chat/v1/chat_pb.js";
import { closeTesters, ChatTester } from "./support/chat-tester.js";
import { codec, rawClient } from "./support/grpc-raw.js";
import { RawH2Connection } from "./support/hostile-h2.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { waitUntil } from "./support/wait.js";

afterEach(() => {
  closeTesters();
  killServers();
});

const chat = codec(ChatRequestSchema, ChatResponseSchema);
const root = fileURLToPath(new URL("..", import.meta.url));

describe.each(["SIGTERM", "SIGINT"] as const)("on %s", (signal) => {
  it("tells clients, delivers everything accepted, refuses newcomers and exits 0", async () => {
    const server = await spawnServer(["--port", "0", "--store", "memory", "--rate-limit", "0"]);
    const alice = ChatTester.connect(server.baseUrl, "alice");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    alice.join("lobby");
    bob.join("lobby");
    await alice.joined("lobby");
    await bob.joined("lobby");
    for (let i = 0; i < 300; i++) alice.send("lobby", `m${i}`);
    await waitUntil(() => alice.messages().length > 0, "first acknowledgement");
    server.child.kill(signal);
    const notice = await bob.waitFor("shutdown");
    expect(notice.reason).toMatch(/shutting down/);
    const aliceEnd = await alice.done;
    const bobEnd = await bob.done;
    expect(aliceEnd.code).toBe(grpc.status.UNAVAILABLE);
    expect(bobEnd.code).toBe(grpc.status.UNAVAILABLE);
    // Whatever alice saw acknowledged, bob received too, in order.
    const acked = alice.messages().map((m) => m.text);
    const got = bob.messages().map((m) => m.text);
    expect(got.slice(0, acked.length)).toEqual(acked);
    expect(acked.length).toBeGreaterThan(0);
    // A newcomer is refused.
    const late = ChatTester.connect(server.baseUrl, "late");
    late.join("lobby");
    expect((await late.done).code).toBe(grpc.status.UNAVAILABLE);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.logs().some((l) => l.msg === "chat server stopped")).toBe(true);
  });
});

it("exits within its deadline even when a client has stopped reading", async () => {
  const server = await spawnServer(["--port", "0", "--store", "memory", "--rate-limit", "0", "--shutdown-deadline-ms", "1000", "--stall-timeout-ms", "600000", "--max-queued-bytes", "67108864"]);
  const client = rawClient(server.address);
  const call = client.makeBidiStreamRequest("/chat.v1.ChatService/Chat", chat.serialize, chat.deserialize);
  let joined = false;
  call.on("data", (r: ChatResponse) => r.events.some((e) => e.event.case === "joined") && (joined = true));
  call.on("error", () => {});
  call.write(chat.create({ command: { case: "join", value: { room: "lobby", nickname: "sloth" } } }));
  await waitUntil(() => joined, "joined");
  call.pause();
  const talker = ChatTester.connect(server.baseUrl, "talker");
  talker.join("lobby");
  await talker.joined("lobby");
  // Enough traffic to fill the stalled client's HTTP/2 window and socket buffers.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 100; i++) talker.send("lobby", "x".repeat(4000));
    await talker.messageCount((round + 1) * 100, "lobby", 10_000);
  }
  server.child.kill("SIGTERM");
  const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r("still running"), 8000))]);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(server.logs().some((l) => String(l.msg).includes("deadline passed"))).toBe(true);
  client.close();
});

it("does not wait for frozen clients to hang up once every stream has had its final status", async () => {
  // A long deadline: without cutting finished connections the server would sit here for a minute.
  const server = await spawnServer(["--port", "0", "--store", "memory", "--shutdown-deadline-ms", "60000"]);
  const port = server.address.split(":").pop()!;
  const clients = ["frozen1", "frozen2"].map((nick) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/frozen-client.ts", port, nick], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    return { child, out: () => out };
  });
  try {
    await waitUntil(() => clients.every((c) => c.out().includes("joined")), "both clients joined", 20_000);
    for (const c of clients) c.child.kill("SIGSTOP");
    server.child.kill("SIGTERM");
    const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r("still running after 20 s"), 20_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.logs().some((l) => String(l.msg).includes("deadline passed"))).toBe(false);
    // Everything had been written before the connections were closed: woken up, each reads its notice and status.
    for (const c of clients) c.child.kill("SIGCONT");
    for (const c of clients) {
      const summary = await waitUntil(() => c.out().split("\n").find((l) => l.startsWith("{")), "client summary", 20_000);
      expect(JSON.parse(summary)).toEqual({ shutdown: 1, status: { code: grpc.status.UNAVAILABLE, message: "server is shutting down" } });
    }
  } finally {
    for (const c of clients) {
      c.child.kill("SIGCONT");
      c.child.kill("SIGKILL");
    }
  }
});
