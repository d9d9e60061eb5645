/**
 * The per-room feed that turns a lossy, unordered channel into the log's
 * gap-free sequence: held entries, repairs from history, catch-up after a
 * reconnect, a foreign epoch. History here is an in-memory array.
 */
import { describe, expect, it } from "vitest";
import { waitUntil } from "../../../test/support/wait.js";
import type { LogEntry, RoomListener, RoomPosition } from "../room-log.js";
import { RoomFeed } from "./room-feed.js";

function setup(stored: number) {
  const history: LogEntry[] = Array.from({ length: stored }, (_, i) => ({ seq: i + 1, event: new Uint8Array([i + 1]) }));
  const delivered: number[] = [];
  const resets: RoomPosition[] = [];
  const foreign: string[] = [];
  const stale: number[] = [];
  const listener: RoomListener = {
    entries: (_room, entries) => delivered.push(...entries.map((e) => e.seq)),
    presence: () => {},
    signal: () => {},
    reset: (_room, p) => resets.push(p),
  };
  const feed = new RoomFeed(
    "r",
    listener,
    async (_room, after, upTo) => history.filter((e) => e.seq > after && e.seq <= upTo),
    () => foreign.push("x"),
    (err) => {
      throw err;
    },
    (f) => stale.push(f.lastDelivered),
  );
  return { feed, history, delivered, resets, foreign, stale };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("RoomFeed", () => {
  it("delivers in order what arrives in order, and drops what the starting position covers", async () => {
    const { feed, delivered } = setup(5);
    feed.onEntry("e", 3, new Uint8Array()); // arrives before the start is known
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 3 });
    feed.onEntry("e", 4, new Uint8Array());
    feed.onEntry("e", 5, new Uint8Array());
    feed.onEntry("e", 5, new Uint8Array()); // twice
    await settle();
    expect(delivered).toEqual([4, 5]);
  });

  it("holds an entry that jumps ahead until the gap is read from history", async () => {
    const { feed, delivered } = setup(10);
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 2 });
    feed.onEntry("e", 6, new Uint8Array());
    await settle();
    expect(delivered).toEqual([3, 4, 5, 6]);
  });

  it("catches up to a number it learns of (after a reconnect) with nothing held", async () => {
    const { feed, delivered } = setup(4);
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 1 });
    feed.catchUpTo(4);
    await settle();
    expect(delivered).toEqual([2, 3, 4]);
  });

  it("skips numbers history no longer has, rather than waiting for them", async () => {
    const { feed, history, delivered } = setup(8);
    history.splice(0, 5); // 1..5 trimmed
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 1 });
    feed.catchUpTo(8);
    await settle();
    expect(delivered).toEqual([6, 7, 8]);
  });

  it("reports an entry of another epoch instead of delivering it", async () => {
    const { feed, delivered, foreign } = setup(2);
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 2 });
    feed.onEntry("other", 1, new Uint8Array());
    await settle();
    expect(delivered).toEqual([]);
    expect(foreign).toHaveLength(1);
  });

  it("tells the log when a number comes again (a counter that went back shows that way), and knows the highest number seen", async () => {
    const { feed, delivered, stale } = setup(8);
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 5 });
    feed.onEntry("e", 8, new Uint8Array([8])); // ahead: 6 and 7 are read from history
    await settle();
    expect(delivered).toEqual([6, 7, 8]);
    expect(feed.highestSeen).toBe(8);
    expect(stale).toEqual([]);
    feed.onEntry("e", 4, new Uint8Array()); // a number already delivered, in the same epoch
    expect(stale).toEqual([8]);
    expect(delivered).toEqual([6, 7, 8]);
  });

  it("reads an entry this node stored from history when its announcement never comes, and only then", async () => {
    const { feed, delivered } = setup(3);
    feed.start({ epoch: "e", firstSeq: 1, lastSeq: 1 });
    feed.onEntry("e", 2, new Uint8Array()); // announced
    feed.expect(2, "e", 5);
    feed.expect(3, "e", 5); // stored and confirmed, but its announcement is lost (the channel moved in a failover)
    await settle();
    expect(delivered).toEqual([2]);
    await waitUntil(() => delivered.length === 2, "the lost entry to be read back", 1000);
    expect(delivered).toEqual([2, 3]);
  });

  it("a number expected in an old epoch is void after a reset: the new epoch's entries are not skipped", async () => {
    const { feed, history, delivered } = setup(0);
    feed.start({ epoch: "old", firstSeq: 1, lastSeq: 8 });
    feed.expect(12, "old", 5); // appended before the counter went back, never announced
    // The room resets to a new epoch whose numbers continue after 8; nothing is stored past 9 yet.
    feed.reset({ epoch: "new", firstSeq: 0, lastSeq: 8 });
    await new Promise((r) => setTimeout(r, 20)); // the old timer has fired
    history.push({ seq: 9, event: new Uint8Array([9]) });
    feed.onEntry("new", 9, new Uint8Array([9]));
    await settle();
    expect(delivered).toEqual([9]);
  });

  it("an entry this node appended in the new epoch before the reset reached it is still read back", async () => {
    const { feed, history, delivered } = setup(0);
    feed.start({ epoch: "old", firstSeq: 1, lastSeq: 8 });
    history.push({ seq: 9, event: new Uint8Array([9]) });
    feed.expect(9, "new", 5); // stored in the new epoch; its announcement lost
    feed.reset({ epoch: "new", firstSeq: 0, lastSeq: 8 });
    await waitUntil(() => delivered.length === 1, "the entry read back after the reset", 2000);
    expect(delivered).toEqual([9]);
  });
});
