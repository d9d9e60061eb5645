/**
 * Reflection and health, seen by a client that knows no schema in advance:
 * every type must resolve from what reflection returns, and that knowledge
 * alone must be enough to chat.
 */
import { create, fromBinary, toBinary, toJson, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { HealthCheckRequestSchema, HealthCheckResponseSchema } from "../gen/grpc/health/v1/health_pb.js";
import { ServingStatus } from "../src/server/health.js";
import { ChatTester } from "./support/chat-tester.js";
import { rawClient, unaryCall } from "./support/grpc-raw.js";
import { ReflectionClient, type ReflectionVersion } from "./support/reflection-client.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

function message(registry: FileRegistry, name: string): DescMessage {
  const desc = registry.getMessage(name);
  if (!desc) throw new Error(`${name} did not resolve from reflection`);
  return desc;
}

describe.each<ReflectionVersion>(["v1", "v1alpha"])("reflection %s", (version) => {
  it("lists every service and resolves every type, google.protobuf.* included", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const reflection = new ReflectionClient(client, version);
    expect((await reflection.listServices()).sort()).toEqual([
      "chat.v1.AdminService",
      "chat.v1.ChatService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
    const registry = await reflection.registryFor(["chat.v1.ChatService", "grpc.health.v1.Health"]);
    const service = registry.getService("chat.v1.ChatService")!;
    expect(service.methods.map((m) => m.name)).toEqual(["Chat", "ListRooms", "ListMembers", "GetHistory", "OpenSession", "Command"]);
    expect(service.methods[0].methodKind).toBe("bidi_streaming");
    const sentAt = message(registry, "chat.v1.ChatMessage").fields.find((f) => f.name === "sent_at")!;
    expect(sentAt.message?.typeName).toBe("google.protobuf.Timestamp");
    expect(registry.getFile("chat/v1/chat.proto")?.dependencies.map((d) => d.proto.name)).toEqual(["google/protobuf/timestamp.proto"]);
    // Symbols inside a file resolve to it too (methods, nested types, enums).
    expect((await reflection.files({ case: "fileContainingSymbol", value: "chat.v1.ChatService.Chat" }))[0].name).toBe("chat/v1/chat.proto");
    expect((await reflection.files({ case: "fileContainingSymbol", value: "chat.v1.ErrorCode" }))[0].name).toBe("chat/v1/chat.proto");
    await expect(reflection.files({ case: "fileContainingSymbol", value: "no.such.Thing" })).rejects.toThrow(/error 5/);
    reflection.close();
    client.close();
  });

  it("what reflection returns is enough to chat, seeing what other clients see in the same order", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const reflection = new ReflectionClient(client, version);
    const registry = await reflection.registryFor(["chat.v1.ChatService"]);
    reflection.close();
    const Req = message(registry, "chat.v1.ChatRequest");
    const Res = message(registry, "chat.v1.ChatResponse");
    const call = client.makeBidiStreamRequest(
      "/chat.v1.ChatService/Chat",
      (m: any) => Buffer.from(toBinary(Req, m)),
      (b: Buffer) => toJson(Res, fromBinary(Res, b), { registry }) as any,
    );
    const events: any[] = [];
    call.on("data", (r: any) => events.push(...(r.events ?? [])));
    call.on("error", () => {});
    call.write(create(Req, { command: { case: "join", value: create(message(registry, "chat.v1.JoinCommand"), { room: "lobby", nickname: "observer" }) } } as any));
    await waitUntil(() => events.find((e) => e.joined), "joined");

    const alice = ChatTester.connect(server.baseUrl, "alice");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    alice.join("lobby");
    bob.join("lobby");
    await alice.joined("lobby");
    await bob.joined("lobby");
    for (let i = 0; i < 10; i++) {
      alice.send("lobby", `a${i}`);
      bob.send("lobby", `b${i}`);
    }
    const seen = await waitUntil(() => {
      const m = events.filter((e) => e.message).map((e) => e.message);
      return m.length >= 20 && m;
    }, "20 messages");
    const aliceSaw = await alice.messageCount(20);
    expect(seen.map((m: any) => `${m.seq}:${m.sender}:${m.text}`)).toEqual(aliceSaw.map((m) => `${m.seq}:${m.sender}:${m.text}`));
    expect(seen[0].sentAt).toMatch(/^\d{4}-\d\d-\d\dT/); // Timestamp resolved and rendered as RFC 3339
    call.cancel();
    client.close();
  });
});

describe("health", () => {
  it("Check answers for the server and the chat service, NOT_FOUND for others; Watch follows changes", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const reflection = new ReflectionClient(client, "v1");
    const registry = await reflection.registryFor(["grpc.health.v1.Health"]);
    reflection.close();
    const Req = message(registry, "grpc.health.v1.HealthCheckRequest");
    const Res = message(registry, "grpc.health.v1.HealthCheckResponse");
    const check = (service: string) =>
      unaryCall(client, "/grpc.health.v1.Health/Check", Buffer.from(toBinary(Req, create(Req, { service } as any))), (b) => toJson(Res, fromBinary(Res, b)) as any);
    expect(await check("")).toEqual({ status: "SERVING" });
    expect(await check("chat.v1.ChatService")).toEqual({ status: "SERVING" });
    await expect(check("nope.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const watch = client.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      (m: any) => Buffer.from(toBinary(Req, m)),
      (b: Buffer) => toJson(Res, fromBinary(Res, b)) as any,
      create(Req, { service: "chat.v1.ChatService" } as any),
    );
    const seen: string[] = [];
    watch.on("data", (r: any) => seen.push(r.status));
    watch.on("error", () => {});
    await waitUntil(() => seen.length === 1, "first watch status");
    server.health.set("chat.v1.ChatService", ServingStatus.NOT_SERVING);
    await waitUntil(() => seen.length === 2, "changed status");
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    watch.cancel();
    client.close();
  });
});

describe("health during shutdown", () => {
  it("ends Watch calls right after NOT_SERVING, so a watching load balancer does not hold the shutdown", async () => {
    const server = await startTestServer();
    const client = rawClient(server.address);
    const watch = client.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b).status,
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "chat.v1.ChatService" })),
    );
    const seen: ServingStatus[] = [];
    watch.on("data", (s: ServingStatus) => seen.push(s));
    const status = new Promise<grpc.StatusObject>((resolve) => watch.on("status", resolve));
    watch.on("error", () => {});
    await waitUntil(() => seen.length === 1, "first watch status");
    // A deadline far beyond the test's timeout: only a prompt end lets close() finish in time.
    const closed = server.close(60_000);
    const end = await status;
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(end.code).toBe(grpc.status.OK);
    await closed;
    client.close();
  });
});
