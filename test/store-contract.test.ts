/**
 * The HistoryStore contract, run against every implementation: whatever the
 * embedded room log may rely on must hold for the memory store and the SQLite
 * store alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RoomRole } from "../gen/chat/v1/chat_pb.js";
import { textHash } from "../src/log/text-hash.js";
import { defaultState, type RoomStateData } from "../src/rooms/room-state.js";
import type { HistoryStore, StoredMessage } from "../src/store/history-store.js";
import { MemoryHistoryStore } from "../src/store/memory-store.js";
import { openHistoryStore } from "../src/store/open-store.js";
import { defaultRetention, type Retention } from "../src/store/retention.js";
import { SqliteHistoryStore } from "../src/store/sqlite-store.js";

interface Factory {
  name: string;
  open(retention?: Retention): HistoryStore;
}

const tempDirs: string[] = [];
const openStores: HistoryStore[] = [];

const factories: Factory[] = [
  { name: "memory", open: (retention) => new MemoryHistoryStore(retention) },
  {
    name: "sqlite",
    open: (retention) => {
      const dir = mkdtempSync(join(tmpdir(), "store-contract-"));
      tempDirs.push(dir);
      return new SqliteHistoryStore(join(dir, "chat.db"), { retention, pruneIntervalMs: 0 });
    },
  },
  {
    name: "sqlite via openHistoryStore",
    open: (retention) => {
      const dir = mkdtempSync(join(tmpdir(), "store-contract-"));
      tempDirs.push(dir);
      return openHistoryStore({ kind: "sqlite", path: join(dir, "nested", "dir", "chat.db"), retention });
    },
  },
];

afterEach(() => {
  for (const store of openStores.splice(0)) store.close();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function msg(room: string, seq: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { room, seq, sender: "ann", text: `message ${seq} in ${room}`, sentAtMs: Date.now(), clientMsgId: "", ...extra };
}

/** Append messages as the embedded log does: each room's epoch is "epoch-<room>". */
function put(store: HistoryStore, messages: StoredMessage[]): void {
  store.append(messages.map((message) => ({ message, epoch: `epoch-${message.room}`, textHash: textHash(message.text) })));
}

function seqs(messages: StoredMessage[]): number[] {
  return messages.map((m) => m.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe.each(factories)("HistoryStore contract: $name", (factory) => {
  function open(retention: Retention = defaultRetention): HistoryStore {
    const store = factory.open(retention);
    openStores.push(store);
    return store;
  }

  describe("room state", () => {
    it("knows nothing of a room before its first message: peek creates nothing", () => {
      const store = open();
      expect(store.peek("nowhere")).toBeUndefined();
      expect(store.recent("nowhere", 10)).toEqual([]);
      expect(store.after("nowhere", 0, 10)).toEqual([]);
      expect(store.before("nowhere", 100, 10)).toEqual([]);
      expect(store.findSent("nowhere", "ann", "x")).toBeUndefined();
      expect(store.peek("nowhere")).toBeUndefined();
    });

    it("records the room with the epoch given with its first message, and keeps it", () => {
      const store = open();
      put(store, [msg("lobby", 1)]);
      expect(store.peek("lobby")).toEqual({ epoch: "epoch-lobby", firstSeq: 1, lastSeq: 1 });
      store.append([{ message: msg("lobby", 2), epoch: "another", textHash: "h" }]);
      expect(store.peek("lobby")?.epoch).toBe("epoch-lobby");
    });

    it("tracks firstSeq and lastSeq", () => {
      const store = open();
      put(store, [msg("r", 1), msg("r", 2), msg("r", 3)]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 1, lastSeq: 3 });
    });
  });

  describe("rooms with state (issue 18)", () => {
    const state = (roles: Record<string, RoomRole>, topic = ""): RoomStateData => ({ ...defaultState(1), topic, roles, version: 1 });

    it("stores a room's state with its entry, keeps the entry's sender id and action, and lists rooms by user", () => {
      const store = open();
      const action = new Uint8Array([8, 1, 18, 3, 117, 45, 98]);
      const s1 = state({ "u-a": RoomRole.OWNER, "u-b": RoomRole.MEMBER }, "one");
      store.append([
        { message: msg("r1", 1, { senderId: "u-a", action }), epoch: "e", textHash: "h", state: s1 },
        { message: msg("r1", 2, { senderId: "u-b" }), epoch: "e", textHash: "h" },
        { message: msg("r2", 1, { action }), epoch: "e", textHash: "h", state: state({ "u-b": RoomRole.OWNER }) },
      ]);
      expect(store.state("r1")).toEqual(s1);
      expect(store.state("nowhere")).toBeUndefined();
      expect(store.after("r1", 0, 10).map((m) => [m.senderId, m.action])).toEqual([
        ["u-a", action],
        ["u-b", undefined],
      ]);
      expect(store.roomsOf("u-b", 10).map((r) => r.name)).toEqual(["r1", "r2"]);
      expect(store.roomsOf("u-b", 1).map((r) => r.name)).toEqual(["r1"]);
      expect(store.roomsOf("u-a", 10)).toEqual([{ name: "r1", state: s1 }]);
      // A later state replaces the roles the listing knows.
      const s2 = { ...s1, roles: { "u-a": RoomRole.OWNER }, version: 2 };
      store.append([{ message: msg("r1", 3, { action }), epoch: "e", textHash: "h", state: s2 }]);
      expect(store.roomsOf("u-b", 10).map((r) => r.name)).toEqual(["r2"]);
    });

    it("keeps a room's state when retention drops its history", () => {
      const store = open({ ...defaultRetention, maxMessagesPerRoom: 1 });
      const s = state({ "u-a": RoomRole.OWNER });
      store.append([{ message: msg("r", 1), epoch: "e", textHash: "h", state: s }]);
      put(store, [msg("r", 2), msg("r", 3)]);
      expect(seqs(store.after("r", 0, 10))).toEqual([3]);
      expect(store.state("r")).toEqual(s);
    });

    it("a deleting entry drops the room's history, keys and state at once", () => {
      const store = open();
      store.append([{ message: msg("r", 1, { clientMsgId: "k" }), epoch: "e", textHash: "h", state: state({ "u-a": RoomRole.OWNER }) }]);
      put(store, [msg("other", 1)]);
      store.append([{ message: msg("r", 2), epoch: "e", textHash: "h", state: null }]);
      expect(store.peek("r")).toBeUndefined();
      expect(store.after("r", 0, 10)).toEqual([]);
      expect(store.findSent("r", "ann", "k")).toBeUndefined();
      expect(store.state("r")).toBeUndefined();
      expect(store.roomsOf("u-a", 10)).toEqual([]);
      expect(store.peek("other")).toMatchObject({ lastSeq: 1 });
      // The name is free: a new history under a new epoch.
      store.append([{ message: msg("r", 1), epoch: "new", textHash: "h" }]);
      expect(store.peek("r")).toEqual({ epoch: "new", firstSeq: 1, lastSeq: 1 });
    });
  });

  describe("reading", () => {
    function filled(n: number): HistoryStore {
      const store = open();
      put(store, range(1, n).map((s) => msg("r", s)));
      return store;
    }

    it("stores every field as given", () => {
      const store = open();
      const m: StoredMessage = { room: "ünï 🚀", seq: 7, sender: "zoë", text: "héllo\nworld 👋 ' \" \\", sentAtMs: 1_234_567_890_123, clientMsgId: "c-1" };
      put(store, [m]);
      expect(store.recent("ünï 🚀", 10)).toEqual([m]);
      expect(store.after("ünï 🚀", 0, 10)).toEqual([m]);
      expect(store.before("ünï 🚀", 8, 10)).toEqual([m]);
    });

    it("recent returns the newest messages, oldest first, up to the limit", () => {
      const store = filled(10);
      expect(seqs(store.recent("r", 3))).toEqual([8, 9, 10]);
      expect(seqs(store.recent("r", 10))).toEqual(range(1, 10));
      expect(seqs(store.recent("r", 50))).toEqual(range(1, 10));
      expect(store.recent("r", 0)).toEqual([]);
    });

    it("after is exclusive of afterSeq, oldest first, up to the limit", () => {
      const store = filled(10);
      expect(seqs(store.after("r", 0, 3))).toEqual([1, 2, 3]);
      expect(seqs(store.after("r", 4, 3))).toEqual([5, 6, 7]);
      expect(seqs(store.after("r", 8, 5))).toEqual([9, 10]);
      expect(store.after("r", 10, 5)).toEqual([]);
      expect(store.after("r", 99, 5)).toEqual([]);
      expect(store.after("r", 0, 0)).toEqual([]);
    });

    it("before is exclusive of beforeSeq and returns the newest of the older messages, oldest first", () => {
      const store = filled(10);
      expect(seqs(store.before("r", 11, 3))).toEqual([8, 9, 10]);
      expect(seqs(store.before("r", 5, 3))).toEqual([2, 3, 4]);
      expect(seqs(store.before("r", 3, 5))).toEqual([1, 2]);
      expect(store.before("r", 1, 5)).toEqual([]);
      expect(seqs(store.before("r", Number.MAX_SAFE_INTEGER, 2))).toEqual([9, 10]);
      expect(store.before("r", 5, 0)).toEqual([]);
    });

    it("pages through history with before and after without gaps or overlaps", () => {
      const store = filled(25);
      const back: number[] = [];
      let cursor = 26;
      for (;;) {
        const page = store.before("r", cursor, 7);
        if (page.length === 0) break;
        back.unshift(...seqs(page));
        cursor = page[0].seq;
      }
      expect(back).toEqual(range(1, 25));
      const forward: number[] = [];
      cursor = 0;
      for (;;) {
        const page = store.after("r", cursor, 7);
        if (page.length === 0) break;
        forward.push(...seqs(page));
        cursor = page[page.length - 1].seq;
      }
      expect(forward).toEqual(range(1, 25));
    });

    it("keeps rooms apart, also within one batch", () => {
      const store = open();
      put(store, [msg("a", 1), msg("b", 1), msg("a", 2), msg("b", 2), msg("b", 3)]);
      expect(seqs(store.recent("a", 10))).toEqual([1, 2]);
      expect(store.recent("a", 10).every((m) => m.room === "a")).toBe(true);
      expect(seqs(store.after("b", 0, 10))).toEqual([1, 2, 3]);
      expect(store.peek("a")).toMatchObject({ firstSeq: 1, lastSeq: 2 });
      expect(store.peek("b")).toMatchObject({ firstSeq: 1, lastSeq: 3 });
    });

    it("handles gaps in sequence numbers", () => {
      const store = open();
      put(store, [msg("r", 2), msg("r", 5), msg("r", 9)]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 2, lastSeq: 9 });
      expect(seqs(store.after("r", 2, 10))).toEqual([5, 9]);
      expect(seqs(store.after("r", 3, 10))).toEqual([5, 9]);
      expect(seqs(store.before("r", 9, 10))).toEqual([2, 5]);
      expect(seqs(store.before("r", 6, 1))).toEqual([5]);
    });
  });

  describe("append", () => {
    it("accepts an empty batch", () => {
      const store = open();
      store.append([]);
      expect(store.peek("r")).toBeUndefined();
    });

    it("appends across calls", () => {
      const store = open();
      put(store, [msg("r", 1)]);
      put(store, [msg("r", 2), msg("r", 3)]);
      put(store, [msg("r", 4)]);
      expect(seqs(store.recent("r", 10))).toEqual([1, 2, 3, 4]);
    });

    it("rejects a sequence number that is not after the last one, storing nothing of the batch", () => {
      const store = open();
      put(store, [msg("r", 1), msg("r", 2)]);
      const before = store.peek("r");
      expect(() => put(store, [msg("r", 3), msg("r", 4), msg("r", 2)])).toThrow();
      expect(() => put(store, [msg("r", 3), msg("r", 1)])).toThrow();
      expect(() => put(store, [msg("r", 2)])).toThrow();
      expect(store.peek("r")).toEqual(before);
      expect(seqs(store.after("r", 0, 10))).toEqual([1, 2]);
      // The room still accepts the right next message.
      put(store, [msg("r", 3)]);
      expect(seqs(store.recent("r", 10))).toEqual([1, 2, 3]);
    });

    it("rejects a batch whose sequence numbers repeat or go backwards within the batch", () => {
      const store = open();
      put(store, [msg("r", 1)]);
      expect(() => put(store, [msg("r", 2), msg("r", 2)])).toThrow();
      expect(() => put(store, [msg("r", 3), msg("r", 2)])).toThrow();
      expect(seqs(store.recent("r", 10))).toEqual([1]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 1, lastSeq: 1 });
    });

    it("is all or nothing across rooms", () => {
      const store = open();
      put(store, [msg("a", 1), msg("b", 1)]);
      const a = store.peek("a");
      const b = store.peek("b");
      expect(() => put(store, [msg("a", 2, { clientMsgId: "x" }), msg("new-room", 1), msg("b", 1)])).toThrow();
      expect(store.peek("a")).toEqual(a);
      expect(store.peek("b")).toEqual(b);
      expect(store.recent("a", 10).map((m) => m.seq)).toEqual([1]);
      expect(store.findSent("a", "ann", "x")).toBeUndefined();
      expect(store.peek("new-room")).toBeUndefined();
    });

  });

  describe("idempotency keys", () => {
    it("finds what a sender sent with a key, by room, sender and key", () => {
      const store = open();
      const at = Date.now();
      put(store, [
        msg("a", 1, { sender: "ann", clientMsgId: "m1", sentAtMs: at }),
        msg("a", 2, { sender: "bob", clientMsgId: "m1" }),
        msg("b", 1, { sender: "ann", clientMsgId: "m1" }),
        msg("a", 3, { sender: "ann", clientMsgId: "m2" }),
        msg("a", 4, { sender: "ann", clientMsgId: "" }),
      ]);
      expect(store.findSent("a", "ann", "m1")).toEqual({ seq: 1, sentAtMs: at, textHash: textHash("message 1 in a") });
      expect(store.findSent("a", "bob", "m1")?.seq).toBe(2);
      expect(store.findSent("b", "ann", "m1")?.seq).toBe(1);
      expect(store.findSent("a", "ann", "m2")?.seq).toBe(3);
      expect(store.findSent("a", "carol", "m1")).toBeUndefined();
      expect(store.findSent("c", "ann", "m1")).toBeUndefined();
      expect(store.findSent("a", "ann", "m3")).toBeUndefined();
      expect(store.findSent("a", "ann", "")).toBeUndefined();
    });

    it("outlive the messages they were used for, within their window", () => {
      const store = open({ ...defaultRetention, maxMessagesPerRoom: 2 });
      put(store, range(1, 5).map((s) => msg("r", s, { clientMsgId: `c${s}` })));
      expect(seqs(store.recent("r", 10))).toEqual([4, 5]);
      expect(store.findSent("r", "ann", "c1")?.seq).toBe(1);
    });

    it("are forgotten once their window has passed", () => {
      const store = open({ ...defaultRetention, idWindowMs: 60_000 });
      put(store, [msg("r", 1, { clientMsgId: "old", sentAtMs: Date.now() - 120_000 }), msg("r", 2, { clientMsgId: "new" })]);
      expect(store.findSent("r", "ann", "old")).toBeUndefined();
      expect(store.findSent("r", "ann", "new")?.seq).toBe(2);
    });

    it("are bounded per room, the oldest forgotten first", () => {
      const store = open({ ...defaultRetention, maxIdsPerRoom: 3 });
      put(store, range(1, 5).map((s) => msg("r", s, { clientMsgId: `c${s}`, sentAtMs: Date.now() - 10_000 + s })));
      expect(store.findSent("r", "ann", "c2")).toBeUndefined();
      expect(store.findSent("r", "ann", "c3")?.seq).toBe(3);
      expect(store.findSent("r", "ann", "c5")?.seq).toBe(5);
    });

    it("a key used again after its window is recorded for the new message", () => {
      const store = open({ ...defaultRetention, idWindowMs: 60_000 });
      put(store, [msg("r", 1, { clientMsgId: "k", sentAtMs: Date.now() - 120_000 })]);
      put(store, [msg("r", 2, { clientMsgId: "k" })]);
      expect(store.findSent("r", "ann", "k")?.seq).toBe(2);
      expect(seqs(store.recent("r", 10))).toEqual([1, 2]);
    });
  });

  describe("retention by count", () => {
    const retention: Retention = { ...defaultRetention, maxMessagesPerRoom: 3 };

    it("drops the oldest messages one append at a time", () => {
      const store = open(retention);
      for (let s = 1; s <= 5; s++) put(store, [msg("r", s, { clientMsgId: `c${s}` })]);
      expect(seqs(store.recent("r", 10))).toEqual([3, 4, 5]);
      expect(seqs(store.after("r", 0, 10))).toEqual([3, 4, 5]);
      expect(seqs(store.before("r", 100, 10))).toEqual([3, 4, 5]);
      expect(store.peek("r")).toEqual({ epoch: "epoch-r", firstSeq: 3, lastSeq: 5 });
    });

    it("drops the oldest messages within one big batch", () => {
      const store = open(retention);
      put(store, range(1, 10).map((s) => msg("r", s, { clientMsgId: `c${s}` })));
      expect(seqs(store.recent("r", 10))).toEqual([8, 9, 10]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 8, lastSeq: 10 });
    });

    it("counts messages, not sequence numbers", () => {
      const store = open(retention);
      put(store, [msg("r", 10), msg("r", 20), msg("r", 30), msg("r", 40)]);
      expect(seqs(store.recent("r", 10))).toEqual([20, 30, 40]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 20, lastSeq: 40 });
    });

    it("applies per room", () => {
      const store = open(retention);
      put(store, [...range(1, 5).map((s) => msg("a", s)), msg("b", 1)]);
      expect(seqs(store.recent("a", 10))).toEqual([3, 4, 5]);
      expect(seqs(store.recent("b", 10))).toEqual([1]);
    });

    it("never moves lastSeq back and keeps refusing old sequence numbers", () => {
      const store = open(retention);
      put(store, range(1, 6).map((s) => msg("r", s)));
      expect(() => put(store, [msg("r", 2)])).toThrow();
      expect(() => put(store, [msg("r", 6)])).toThrow();
      expect(store.peek("r")).toMatchObject({ firstSeq: 4, lastSeq: 6 });
    });
  });

  describe("retention by age", () => {
    const retention: Retention = { ...defaultRetention, maxMessagesPerRoom: 1000, maxAgeMs: 60_000, idWindowMs: 60_000 };

    it("drops messages older than maxAgeMs when the room is written to", () => {
      const store = open(retention);
      const old = Date.now() - 120_000;
      put(store, [msg("r", 1, { sentAtMs: old, clientMsgId: "old" }), msg("r", 2, { sentAtMs: old + 1 })]);
      put(store, [msg("r", 3, { clientMsgId: "new" })]);
      expect(seqs(store.recent("r", 10))).toEqual([3]);
      expect(store.peek("r")).toEqual({ epoch: "epoch-r", firstSeq: 3, lastSeq: 3 });
    });

    it("keeps messages younger than maxAgeMs", () => {
      const store = open(retention);
      const recent = Date.now() - 30_000;
      put(store, [msg("r", 1, { sentAtMs: recent }), msg("r", 2)]);
      expect(seqs(store.recent("r", 10))).toEqual([1, 2]);
    });

    it("keeps the room (epoch and lastSeq) while a key of it is within its window, though every message expired", () => {
      const store = open({ ...retention, idWindowMs: 24 * 3600_000 });
      const old = Date.now() - 120_000;
      put(store, [msg("r", 1, { sentAtMs: old, clientMsgId: "k" }), msg("r", 2, { sentAtMs: old })]);
      expect(store.recent("r", 10)).toEqual([]);
      expect(store.peek("r")).toEqual({ epoch: "epoch-r", firstSeq: 0, lastSeq: 2 });
      expect(() => put(store, [msg("r", 2)])).toThrow();
      put(store, [msg("r", 3)]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 3, lastSeq: 3 });
    });

    it("forgets a room whose messages and keys have all expired: its next message starts a new history", () => {
      const store = open(retention);
      const old = Date.now() - 120_000;
      put(store, [msg("r", 1, { sentAtMs: old, clientMsgId: "k" }), msg("r", 2, { sentAtMs: old })]);
      store.prune();
      expect(store.peek("r")).toBeUndefined();
      store.append([{ message: msg("r", 1), epoch: "fresh", textHash: "h" }]);
      expect(store.peek("r")).toEqual({ epoch: "fresh", firstSeq: 1, lastSeq: 1 });
    });

    it("combines with the count bound", () => {
      const store = open({ ...retention, maxMessagesPerRoom: 3 });
      const old = Date.now() - 120_000;
      put(store, [...range(1, 4).map((s) => msg("r", s, { sentAtMs: old })), msg("r", 5), msg("r", 6)]);
      expect(seqs(store.recent("r", 10))).toEqual([5, 6]);
      expect(store.peek("r")).toMatchObject({ firstSeq: 5, lastSeq: 6 });
    });
  });
});
