/**
 * What reactions cost a page of history (issue 19 item 9), on SQLite: three
 * rooms of 1,000 messages each (100-byte texts), one without reactions, one
 * with 2 emoji x 3 users on every message, one with 3 emoji x 5 users. The
 * reactions are stored on the messages directly (as the store keeps them
 * after the reaction entries), so every page holds 50 reacted messages:
 * the worst case for reads. Timed, per page of 50:
 *
 *  - GetHistory: the embedded log's history() (one SQLite query) and the
 *    response encoded as the server does (toChatMessage with the caller's
 *    `mine`, protobuf-es toBinary); for a caller who reacted to none of the
 *    messages and for one who reacted to all of them.
 *  - join: the log's recent() as a join reads it with the tail cache off
 *    (query, hand-encoded events) and each event as the joiner gets it
 *    (eventFor(): shared bytes, or re-encoded counts for a reactor).
 *
 * Each figure is the median CPU time per page over batches of 50 pages,
 * the rooms' batches interleaved (a shared machine's noise hits all alike).
 *
 *   npx tsx bench/history-reactions-micro.ts [--pages 2000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetHistoryResponseSchema } from "../gen/chat/v1/chat_pb.js";
import { EmbeddedRoomLog } from "../src/log/embedded-log.js";
import type { StoredMessage, StoredReaction } from "../src/log/message.js";
import { SqliteHistoryStore } from "../src/store/sqlite-store.js";
import { toChatMessage } from "../src/wire/events.js";
import { eventFor } from "../src/wire/reaction-codec.js";

const { values } = parseArgs({ options: { pages: { type: "string" } } });
const pages = Number(values.pages ?? 2000);
const MESSAGES = 1000;
const EMOJI = ["👍", "🎉", "😂"];

const dir = mkdtempSync(join(tmpdir(), "history-reactions-micro-"));
const store = new SqliteHistoryStore(join(dir, "chat.db"), { pruneIntervalMs: 0 });
const log = new EmbeddedRoomLog({ store, turn: { addHook: () => {}, schedule: () => {} }, recentCache: 0 });

function reactions(emoji: number, users: number): StoredReaction[] | undefined {
  if (emoji === 0) return undefined;
  return EMOJI.slice(0, emoji).map((e, i) => ({ emoji: e, userIds: Array.from({ length: users }, (_, u) => `user-${(i + u) % 8}`) }));
}

const rooms = [
  { room: "plain", label: "no reactions", r: reactions(0, 0) },
  { room: "r2x3", label: "2 emoji x 3 users", r: reactions(2, 3) },
  { room: "r3x5", label: "3 emoji x 5 users", r: reactions(3, 5) },
];
for (const { room, r } of rooms) {
  const items = Array.from({ length: MESSAGES }, (_, i) => {
    const message: StoredMessage = {
      room,
      seq: i + 1,
      sender: `user-${i % 8}`,
      senderId: `user-${i % 8}`,
      text: "x".repeat(100),
      sentAtMs: Date.now(),
      clientMsgId: `c-${i}`,
      ...(r ? { reactions: r } : {}),
    };
    return { message, epoch: `epoch-${room}`, textHash: "h" };
  });
  store.append(items);
}

/** CPU µs per call of a batch of `batch` calls (CPU, not wall time: the machine may be shared). */
async function batchCpu(run: () => Promise<unknown>, batch: number): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < batch; i++) await run();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / batch;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median CPU µs per page for each room: rounds of a batch per room,
 * interleaved, so drift (other load, GC, JIT) hits every room alike.
 */
async function timeRooms(make: (room: string) => () => Promise<unknown>): Promise<number[]> {
  const runs = rooms.map((r) => make(r.room));
  for (const run of runs) for (let i = 0; i < 100; i++) await run(); // warm-up
  const batch = 50;
  const samples: number[][] = rooms.map(() => []);
  for (let round = 0; round < Math.max(1, Math.round(pages / batch)); round++) {
    for (let i = 0; i < runs.length; i++) samples[i].push(await batchCpu(runs[i], batch));
  }
  return samples.map(median);
}

const getHistory = (room: string, viewer: string) => async () => {
  const page = await log.history(room, { limit: 50 });
  return toBinary(GetHistoryResponseSchema, create(GetHistoryResponseSchema, { messages: page.messages.map((m) => toChatMessage(m, viewer)), epoch: page.position.epoch }));
};
const joinRecent = (room: string, viewer: string) => async () => {
  const entries = await log.recent(room, MESSAGES, { maxMessages: 50, maxBytes: 1e9 });
  return entries.map((e) => eventFor(e, viewer));
};

// user-0 reacted to every message of the reacted rooms (it is among the first users of every emoji); "stranger" to none.
const rows: string[][] = [];
for (const [what, make] of [
  ["GetHistory, caller reacted to none", (room: string) => getHistory(room, "stranger")],
  ["GetHistory, caller reacted to all", (room: string) => getHistory(room, "user-0")],
  ["join recent, joiner reacted to none", (room: string) => joinRecent(room, "stranger")],
  ["join recent, joiner reacted to all", (room: string) => joinRecent(room, "user-0")],
] as const) {
  const us = await timeRooms(make);
  rooms.forEach(({ label }, i) => rows.push([what, label, us[i].toFixed(0), (us[i] / us[0]).toFixed(2)]));
}
console.log(`page of 50 messages, SQLite, ${pages} pages each, median CPU per page of batches of 50 (node ${process.version})`);
console.log(["path", "reactions per message", "CPU µs per page", "x no reactions"].join(" | "));
for (const row of rows) console.log(row.join(" | "));
await log.close();
rmSync(dir, { recursive: true, force: true });
