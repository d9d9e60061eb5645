/**
 * Two terminal clients chat with each other while a third client, which
 * learned the schema only through reflection, sees the same messages in the
 * same order.
 */
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { spawnCli, stopCliProcesses, type CliProcess } from "./support/cli-process.js";
import { rawClient } from "./support/grpc-raw.js";
import { ReflectionClient } from "./support/reflection-client.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(async () => {
  await stopCliProcesses();
  await stopTestServers();
});

const messagesOf = (cli: CliProcess) =>
  cli.stdoutLines
    .map((l) => JSON.parse(l) as { message?: { seq: string; sender: string; text: string } })
    .flatMap((e) => (e.message ? [`${e.message.seq} ${e.message.sender}: ${e.message.text}`] : []));

describe("three different clients in one room", () => {
  it("all see the same messages in the same order", async () => {
    const server = await startTestServer();
    // The observer knows nothing but the reflection protocol.
    const grpc = rawClient(server.address);
    const reflection = new ReflectionClient(grpc, "v1");
    const registry = await reflection.registryFor(["chat.v1.ChatService"]);
    reflection.close();
    const Req = registry.getMessage("chat.v1.ChatRequest")!;
    const Res = registry.getMessage("chat.v1.ChatResponse")!;
    const observed: string[] = [];
    const call = grpc.makeBidiStreamRequest(
      "/chat.v1.ChatService/Chat",
      (m: any) => Buffer.from(toBinary(Req, m)),
      (b: Buffer) => toJson(Res, fromBinary(Res, b), { registry }) as any,
    );
    call.on("data", (r: any) => {
      for (const e of r.events ?? []) if (e.message) observed.push(`${e.message.seq} ${e.message.sender}: ${e.message.text}`);
    });
    call.on("error", () => {});
    call.write(create(Req, { command: { case: "join", value: create(registry.getMessage("chat.v1.JoinCommand")!, { room: "lobby", nickname: "observer" }) } } as any));

    const alice = spawnCli(["--server", server.baseUrl, "--name", "alice", "--json"]);
    const bob = spawnCli(["--server", server.baseUrl, "--name", "bob", "--json"]);
    await alice.waitForStdout('"joined"');
    await bob.waitForStdout('"joined"');
    for (let i = 0; i < 10; i++) {
      alice.write(`alice says ${i}`);
      bob.write(`bob says ${i}`);
    }
    await waitUntil(() => messagesOf(alice).length === 20 && messagesOf(bob).length === 20 && observed.length === 20, "20 messages everywhere", 20_000);
    alice.end();
    bob.end();
    expect(await alice.exitCode()).toBe(0);
    expect(await bob.exitCode()).toBe(0);
    expect(messagesOf(alice)).toEqual(observed);
    expect(messagesOf(bob)).toEqual(observed);
    // Each sender's own messages are in the order it typed them.
    expect(observed.filter((m) => m.includes("alice:")).map((m) => m.split(": ")[1])).toEqual(Array.from({ length: 10 }, (_, i) => `alice says ${i}`));
    call.cancel();
    grpc.close();
  });
});
