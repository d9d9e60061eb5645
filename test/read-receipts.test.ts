/**
 * Read receipts (issue 19, item 5) as clients see them: members of a room
 * with receipts on learn where the other members have read it up to, one
 * ReadReceiptsEvent per room per interval listing each mover once with their
 * latest position, never their own moves; a join carries the others'
 * positions; the setting is a room action (owners and moderators), and the
 * server's default turns them off above --read-receipts-max-members joined
 * members. Across nodes over Redis too.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, ReadReceiptsSetting, type ReadReceiptsEvent } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { actions, AUTH_SECRET, createRoom, moderate, RoomActionKind, RoomVisibility, token } from "./support/rooms.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopTestServers();
  killServers();
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

async function user(baseUrl: string, sub: string, label = sub): Promise<ChatTester> {
  return ChatTester.connect(baseUrl, label, { token: await token(sub) });
}

function markRead(t: ChatTester, room: string, seq: number | bigint): void {
  t.request({ command: { case: "markRead", value: { room, seq: BigInt(seq) } } });
}

/** Says `texts` in the room; resolves with their numbers once the sender has them back. */
async function say(t: ChatTester, room: string, texts: string[]): Promise<number[]> {
  const ids = texts.map((text) => t.send(room, text));
  const seqs: number[] = [];
  for (const id of ids) seqs.push(Number((await t.waitFor("message", (m) => m.clientMsgId === id)).seq));
  return seqs;
}

/** Waits until the tester has received entry `seq` of the room live. */
const got = (t: ChatTester, room: string, seq: number) => t.waitFor("message", (m) => m.room === room && m.seq === BigInt(seq));

/** Marks each position in turn, at once, and waits for the answer to the last. */
async function markAll(t: ChatTester, room: string, seqs: number[]): Promise<void> {
  for (const seq of seqs) markRead(t, room, seq);
  const last = BigInt(seqs[seqs.length - 1]);
  await t.waitFor("readPosition", (e) => e.room === room && e.readSeq === last);
}

const receipts = (e: ReadReceiptsEvent) => e.receipts.map((r) => ({ userId: r.userId, nickname: r.nickname, readSeq: Number(r.readSeq) }));

/** The tester's receipts events after the first `skip` of them. */
async function nextReceipts(t: ChatTester, skip: number, timeoutMs = 5000): Promise<ReadReceiptsEvent> {
  return t.waitFor("readReceipts", (e) => t.of("readReceipts").indexOf(e) === skip, timeoutMs);
}

/** An owner sets the room's read receipts; resolves with the entry's number once `seen` got it. */
async function setReceipts(owner: ChatTester, room: string, setting: ReadReceiptsSetting, seen: ChatTester): Promise<number> {
  const id = moderate(owner, room, RoomActionKind.SET_READ_RECEIPTS, { readReceipts: setting });
  const entry = await owner.waitFor("message", (m) => m.clientMsgId === id);
  await got(seen, room, Number(entry.seq));
  return Number(entry.seq);
}

describe("read receipts (embedded)", () => {
  it("two users in a small room see each other's receipts, coalesced (several marks: one event, the latest), never their own; a join gets the others' positions", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET, presenceIntervalMs: 500 });
    const ann = await user(server.baseUrl, "ann");
    createRoom(ann, "den", { visibility: RoomVisibility.PRIVATE, invite: ["bob", "cy"] });
    const annJoined = await ann.joined("den");
    expect(annJoined.state).toMatchObject({ readReceipts: ReadReceiptsSetting.UNSPECIFIED, readReceiptsOn: true });
    const bob = await user(server.baseUrl, "bob");
    bob.join("den", "");
    await bob.joined("den");
    const eve = await user(server.baseUrl, "eve"); // not a member: never hears of the room
    eve.join("elsewhere", "");
    await eve.joined("elsewhere");
    const seqs = await say(bob, "den", ["one", "two", "three"]);
    await got(ann, "den", seqs[2]);

    await markAll(ann, "den", seqs);
    const first = await nextReceipts(bob, 0);
    expect(first.room).toBe("den");
    expect(receipts(first)).toEqual([{ userId: "ann", nickname: "ann", readSeq: seqs[2] }]);

    // Bob's own move goes to Ann, not back to him.
    await markAll(bob, "den", [seqs[1]]);
    expect(receipts(await nextReceipts(ann, 0))).toEqual([{ userId: "bob", nickname: "bob", readSeq: seqs[1] }]);
    expect(bob.of("readReceipts")).toHaveLength(1);
    expect(ann.of("readReceipts").flatMap((e) => e.receipts).some((r) => r.userId === "ann")).toBe(false);

    // A member joining now learns where the others stand (not where it stands itself).
    const cy = await user(server.baseUrl, "cy");
    cy.join("den", "");
    const cyJoined = await cy.joined("den");
    expect(cyJoined.state?.readReceiptsOn).toBe(true);
    expect(cyJoined.readReceipts.map((r) => ({ userId: r.userId, nickname: r.nickname, readSeq: Number(r.readSeq) })).sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
      { userId: "ann", nickname: "ann", readSeq: seqs[2] },
      { userId: "bob", nickname: "bob", readSeq: seqs[1] },
    ]);
    // Bob, joining again on another device, is not told his own position as a receipt.
    const bobPhone = await user(server.baseUrl, "bob", "bob-phone");
    bobPhone.join("den", "");
    expect((await bobPhone.joined("den")).readReceipts.map((r) => r.userId)).toEqual(["ann"]);
    expect(eve.of("readReceipts")).toEqual([]);
  });

  it("a moderator turns them off: no more receipts, and joins say so; a member cannot set them; on again, they come back", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET, presenceIntervalMs: 200 });
    const ann = await user(server.baseUrl, "ann");
    createRoom(ann, "den", { invite: ["bob", "cy"] });
    await ann.joined("den");
    const bob = await user(server.baseUrl, "bob");
    bob.join("den", "");
    await bob.joined("den");
    const [one] = await say(ann, "den", ["one"]);
    await got(bob, "den", one);
    await markAll(bob, "den", [one]);
    expect(receipts(await nextReceipts(ann, 0))).toEqual([{ userId: "bob", nickname: "bob", readSeq: one }]);

    moderate(bob, "den", RoomActionKind.SET_READ_RECEIPTS, { readReceipts: ReadReceiptsSetting.ON });
    expect(await bob.error((e) => e.room === "den")).toMatchObject({ code: ErrorCode.PERMISSION_DENIED });

    const off = await setReceipts(ann, "den", ReadReceiptsSetting.OFF, bob);
    expect(actions(bob, "den").at(-1)).toMatchObject({ text: "ann turned read receipts off", action: { readReceipts: ReadReceiptsSetting.OFF } });
    await markAll(bob, "den", [off]);
    const cy = await user(server.baseUrl, "cy");
    cy.join("den", "");
    const cyJoined = await cy.joined("den");
    expect(cyJoined.state).toMatchObject({ readReceipts: ReadReceiptsSetting.OFF, readReceiptsOn: false });
    expect(cyJoined.readReceipts).toEqual([]);

    // Turned on again: the next receipts Ann sees are Cy's move after it, without Bob's while off (never sent, nor kept for later).
    const on = await setReceipts(ann, "den", ReadReceiptsSetting.ON, cy);
    await markAll(cy, "den", [on]);
    expect(receipts(await nextReceipts(ann, 1))).toEqual([{ userId: "cy", nickname: "cy", readSeq: on }]);
  });

  it("a room above --read-receipts-max-members has none by default; an owner can turn them on whatever the size", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET, presenceIntervalMs: 200, readReceiptsMaxMembers: 2 });
    const ann = await user(server.baseUrl, "ann");
    createRoom(ann, "hall");
    await ann.joined("hall");
    const bob = await user(server.baseUrl, "bob");
    bob.join("hall", "");
    expect((await bob.joined("hall")).state?.readReceiptsOn).toBe(true); // two members: at the limit
    const cy = await user(server.baseUrl, "cy");
    cy.join("hall", "");
    expect((await cy.joined("hall")).state).toMatchObject({ readReceipts: ReadReceiptsSetting.UNSPECIFIED, readReceiptsOn: false });
    const [one] = await say(ann, "hall", ["one"]);
    await got(bob, "hall", one);
    await markAll(bob, "hall", [one]);

    // Turned on: Ann's first receipts are Cy's move after it, without Bob's from before.
    const on = await setReceipts(ann, "hall", ReadReceiptsSetting.ON, cy);
    await markAll(cy, "hall", [on]);
    expect(receipts(await nextReceipts(ann, 0))).toEqual([{ userId: "cy", nickname: "cy", readSeq: on }]);
    expect(receipts(await nextReceipts(bob, 0))).toEqual([{ userId: "cy", nickname: "cy", readSeq: on }]);
  });
});

describe("read receipts across nodes (Redis)", () => {
  let redisUp = false;
  beforeAll(async () => {
    redisUp = await redisAnswers();
  });

  it("a move on one node reaches the members on another, coalesced; the mover's other sessions get no receipt; off on one node holds on the other", async ({ skip }) => {
    if (!redisUp) return skip();
    const prefix = uniquePrefix("receipts");
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--rate-limit", "0", "--auth-secret", AUTH_SECRET, "--presence-interval-ms", "500"];
    const [a, b] = await Promise.all([spawnServer(args), spawnServer(args)]);
    const ann = await user(a.baseUrl, "ann");
    createRoom(ann, "hall", { invite: ["bob", "cy"] });
    await ann.joined("hall");
    const laptop = await user(b.baseUrl, "ann", "ann-laptop");
    const bob = await user(b.baseUrl, "bob");
    const cy = await user(b.baseUrl, "cy");
    for (const t of [laptop, bob, cy]) {
      t.join("hall", "");
      await t.joined("hall");
    }
    const seqs = await say(bob, "hall", ["one", "two", "three"]);
    await got(ann, "hall", seqs[2]);

    await markAll(ann, "hall", seqs);
    expect(receipts(await nextReceipts(bob, 0))).toEqual([{ userId: "ann", nickname: "ann", readSeq: seqs[2] }]);
    await markAll(bob, "hall", [seqs[2]]);
    // Both of Ann's sessions see Bob's move; neither ever saw her own.
    for (const t of [ann, laptop]) expect(receipts(await nextReceipts(t, 0))).toEqual([{ userId: "bob", nickname: "bob", readSeq: seqs[2] }]);
    expect(bob.of("readReceipts")).toHaveLength(1);

    const off = await setReceipts(ann, "hall", ReadReceiptsSetting.OFF, bob);
    await markAll(bob, "hall", [off]);
    const on = await setReceipts(ann, "hall", ReadReceiptsSetting.ON, cy);
    await markAll(cy, "hall", [on]);
    expect(receipts(await nextReceipts(ann, 1))).toEqual([{ userId: "cy", nickname: "cy", readSeq: on }]);
    for (const t of [ann, laptop]) expect(t.of("readReceipts").flatMap((e) => e.receipts).some((r) => r.userId === "ann")).toBe(false);
  });
});
