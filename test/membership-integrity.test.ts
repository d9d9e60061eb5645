/**
 * A stream that ends while one of its commands is being handled leaves no
 * trace: its nicknames are free again, no room counts it, and the others are
 * told it left. (Issue 8, defect 1: the ghost member.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester } from "./support/chat-tester.js";
import { RawH2Connection } from "./support/hostile-h2.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

async function seedHistory(server: TestServer, room: string, count: number, bytes: number): Promise<void> {
  const seeder = ChatTester.connect(server.baseUrl, "seeder");
  seeder.join(room);
  await seeder.joined(room);
  for (let i = 0; i < count; i++) seeder.send(room, `${i} ${"h".repeat(bytes - 8)}`);
  await seeder.messageCount(count, room, 15_000);
  seeder.end();
  await seeder.done;
}

describe("a stream dropped as too slow while its own join is handled", () => {
  it("leaves no member behind: the nickname is free, rooms are not counted, nobody waits for it", async () => {
    const stallTimeoutMs = 400;
    const server = await startTestServer({ stallTimeoutMs, heartbeatMs: 0 });
    await seedHistory(server, "archive", 50, 4096);
    const watcher = ChatTester.connect(server.baseUrl, "watcher");
    watcher.join("plaza");
    await watcher.joined("plaza");

    // A raw HTTP/2 client that never reads: its first join's recent history
    // (50 x 4 KiB) fills the stream's window, so the server's writes back up.
    const conn = await RawH2Connection.open(server.port);
    const eve = conn.stream();
    eve.pause();
    eve.join("archive", "eve");
    for (let i = 0; i < 20; i++) {
      eve.request({ command: { case: "ping", value: { nonce: `p${i}` } } });
      await new Promise((r) => setTimeout(r, 30));
    }
    // Past the stall timeout, the next event pushed to it (the joined event of
    // this second join) is what drops it.
    await new Promise((r) => setTimeout(r, stallTimeoutMs + 100));
    eve.join("plaza", "bob");
    await waitUntil(() => server.hub.sessionCount === 1, "the stalled stream to be dropped");
    await conn.destroySession().catch(() => {});

    // The real bob can take his name.
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("plaza");
    const joined = await bob.waitFor("joined", () => true).catch(async () => {
      throw new Error(`bob could not join: ${JSON.stringify(bob.of("error"))}`);
    });
    expect(joined.room).toBe("plaza");
    expect(bob.of("error").filter((e) => e.code === ErrorCode.ALREADY_EXISTS)).toEqual([]);

    const client = createChatClient(server.baseUrl);
    const members = await client.listMembers({ room: "plaza" });
    expect(members.members.map((m) => m.nickname).sort()).toEqual(["bob", "watcher"]);
    const rooms = await client.listRooms({});
    expect(rooms.rooms.map((r) => [r.name, r.memberCount])).toEqual([["plaza", 2]]);
    // Whatever the others were told about the ghost, they were told it left.
    const announced = (kind: "memberJoined" | "memberLeft") =>
      kind === "memberJoined"
        ? watcher.of("memberJoined").filter((e) => e.member?.nickname === "bob").length
        : watcher.of("memberLeft").filter((e) => e.nickname === "bob").length;
    await waitUntil(() => announced("memberJoined") === announced("memberLeft") + 1, "presence of bob to add up");
  });
});
