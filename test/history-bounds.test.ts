/**
 * What the history stores keep is bounded by the retention settings, and a
 * room that has members never loses its history or its epoch to make room
 * for others. (Issue 8, defects 4 and 5.)
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

/** One client joins and leaves `count` distinct rooms, `window` at a time. */
async function churnRooms(t: ChatTester, count: number, prefix: string, withMessage: boolean): Promise<void> {
  const window = 16;
  for (let start = 0; start < count; start += window) {
    const names = Array.from({ length: Math.min(window, count - start) }, (_, i) => `${prefix}${start + i}`);
    for (const room of names) t.join(room);
    if (withMessage) for (const room of names) t.send(room, "x");
    for (const room of names) t.leave(room);
    const want = start + names.length;
    await waitUntil(() => t.of("left").length >= want || t.ended, `${want} rooms left`, 20_000);
    if (t.ended) throw new Error(`churn stream ended: ${t.ended.message}`);
  }
}

describe("the memory store", () => {
  it("never forgets a room that has members, however many other rooms come and go", async () => {
    const server = await startTestServer({ store: "memory" });
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("keep");
    const joined = await alice.joined("keep");
    alice.send("keep", "remember me", "keep-1");
    const ack = await alice.waitFor("message", (m) => m.clientMsgId === "keep-1");

    const churn = ChatTester.connect(server.baseUrl, "churn");
    await churnRooms(churn, 10_001, "tmp-", false);

    const history = await createChatClient(server.baseUrl).getHistory({ room: "keep" });
    expect(history.messages.map((m) => m.text)).toEqual(["remember me"]);
    expect(history.epoch).toBe(joined.epoch);
    // A resume with the epoch it holds is not told its history changed.
    const back = ChatTester.connect(server.baseUrl, "alice2");
    back.join("keep", "alice2", { afterSeq: 0n, epoch: joined.epoch });
    const rejoined = await back.joined("keep");
    expect(rejoined.epochChanged).toBe(false);
    // And the acknowledged id is still known.
    alice.send("keep", "remember me", "keep-1");
    await waitUntil(() => alice.messages().filter((m) => m.clientMsgId === "keep-1").length === 2, "second ack");
    expect(alice.messages().filter((m) => m.clientMsgId === "keep-1").map((m) => m.seq)).toEqual([ack.seq, ack.seq]);
  }, 120_000);
});

describe("the SQLite store", () => {
  it("keeps no row for a room that was only joined, and drops rooms whose history is gone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-rows-"));
    const db = join(dir, "chat.db");
    const server = await startTestServer({ store: "sqlite", db, historyMaxAgeSec: 1 });
    const churn = ChatTester.connect(server.baseUrl, "churn");
    await churnRooms(churn, 300, "empty-", false);
    const talker = ChatTester.connect(server.baseUrl, "talker");
    talker.join("talk");
    await talker.joined("talk");
    talker.send("talk", "hello");
    await talker.messageCount(1);
    talker.end();
    await talker.done;
    await stopTestServers();
    const file = new Database(db, { readonly: true });
    const rooms = () => (file.prepare("SELECT name FROM rooms ORDER BY name").pluck().all() as string[]);
    expect(rooms()).toEqual(["talk"]);
    file.close();
  }, 60_000);
});
