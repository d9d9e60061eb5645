/**
 * A client that reads normally always completes its resume and its joins,
 * whatever the message sizes and the queue limit: replay and join history are
 * paced by bytes against the room left in the client's queue. (Issue 8,
 * defect 2.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { chatRequestFrame, RawH2Connection } from "./support/hostile-h2.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

async function fill(server: TestServer, room: string, count: number, bytes: number): Promise<string> {
  const seeder = ChatTester.connect(server.baseUrl, `seed-${room}`);
  seeder.join(room);
  const joined = await seeder.joined(room);
  const base = Number(joined.lastSeq);
  for (let i = 0; i < count; i++) seeder.send(room, `${base + i + 1}:${"x".repeat(bytes - 12)}`);
  await seeder.messageCount(count, room, 20_000);
  seeder.end();
  await seeder.done;
  return joined.epoch;
}

const seqs = (t: ChatTester, room: string) => t.messages(room).map((m) => Number(m.seq));

describe("resume and join history are paced by bytes", () => {
  it("resumes into a room of 300 messages of 4 KiB with the default queue", async () => {
    const server = await startTestServer();
    const epoch = await fill(server, "long", 300, 4096);
    const reader = ChatTester.connect(server.baseUrl, "reader");
    reader.join("long", "reader", { afterSeq: 0n, epoch });
    await reader.messageCount(300, "long", 20_000);
    expect(seqs(reader, "long")).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(reader.ended).toBeUndefined();
    // And it is live afterwards.
    reader.send("long", "after the replay");
    await reader.waitFor("message", (m) => m.text === "after the replay");
  });

  it("resumes with --max-queued-bytes 262144 in a room of 1 KiB messages", async () => {
    const server = await startTestServer({ maxQueuedBytes: 262_144 });
    const epoch = await fill(server, "chatty", 600, 1024);
    const reader = ChatTester.connect(server.baseUrl, "reader");
    reader.join("chatty", "reader", { afterSeq: 0n, epoch });
    await reader.messageCount(600, "chatty", 20_000);
    expect(seqs(reader, "chatty")).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(reader.ended).toBeUndefined();
  });

  it("joins 6 rooms at once (one write), each with 50 recent messages of 4 KiB, with the default queue", async () => {
    const server = await startTestServer();
    const rooms = ["r1", "r2", "r3", "r4", "r5", "r6"];
    for (const room of rooms) await fill(server, room, 50, 4096);
    const conn = await RawH2Connection.open(server.port);
    const reader = conn.stream();
    reader.write(Buffer.concat(rooms.map((room) => chatRequestFrame({ command: { case: "join", value: { room, nickname: "reader" } } }))));
    await waitUntil(() => reader.of("joined").length === rooms.length || reader.closed, "six joined events", 20_000);
    expect(reader.status).toBeUndefined();
    for (const room of rooms) {
      const joined = reader.of("joined").find((j) => j.room === room)!;
      // Whatever part of the recent history the joined event carries, it ends at last_seq with no gap.
      const recent = joined.recent.map((m) => Number(m.seq));
      expect(recent.length).toBeGreaterThan(0);
      expect(recent).toEqual(Array.from({ length: recent.length }, (_, i) => Number(joined.lastSeq) - recent.length + 1 + i));
    }
    reader.end();
    expect((await reader.waitStatus()).code).toBe(0);
    await conn.close();
  });

  it("resumes 6 rooms at once with --max-queued-bytes 65536", async () => {
    const server = await startTestServer({ maxQueuedBytes: 65_536 });
    const rooms = ["a1", "a2", "a3", "a4", "a5", "a6"];
    const epochs = new Map<string, string>();
    for (const room of rooms) epochs.set(room, await fill(server, room, 120, 2048));
    const reader = ChatTester.connect(server.baseUrl, "reader");
    for (const room of rooms) reader.join(room, "reader", { afterSeq: 0n, epoch: epochs.get(room)! });
    for (const room of rooms) await reader.messageCount(120, room, 20_000);
    for (const room of rooms) expect(seqs(reader, room)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(reader.ended).toBeUndefined();
  });
});
