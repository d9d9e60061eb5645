/**
 * Reactions (issue 19), end to end: a real server on an SQLite file,
 * authentication on, clients on the Chat stream, OpenSession + Command and
 * Connect JSON. A reaction is a numbered entry every member gets live; a
 * join's recent messages and GetHistory count it on its target,
 * `mine` for the user asking. Then the hostile side: rooms one is not in,
 * messages of other rooms, bad emoji, floods, mutes. The last describe runs
 * two servers on one Redis.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CommandKind, ErrorCode, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { redisAnswers, uniquePrefix } from "./support/redis.js";
import { AUTH_SECRET, createRoom, moderate, RoomActionKind, token } from "./support/rooms.js";
import { startTestServer, stopTestServers, type TestServer } from "./support/server.js";
import { closeSessionTesters, SessionTester, transportFor } from "./support/session-tester.js";
import { waitUntil } from "./support/wait.js";

let dir: string;
let server: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "reactions-"));
  server = await startTestServer({ store: "sqlite", db: join(dir, "chat.db"), authSecret: AUTH_SECRET });
}, 30_000);

afterEach(() => {
  closeTesters();
  closeSessionTesters();
});

afterAll(async () => {
  await stopTestServers();
  rmSync(dir, { recursive: true, force: true });
});

async function user(sub: string, base = server.baseUrl): Promise<ChatTester> {
  return ChatTester.connect(base, sub, { token: await token(sub) });
}

async function member(sub: string, room: string, base = server.baseUrl): Promise<ChatTester> {
  const t = await user(sub, base);
  t.join(room, "");
  await t.joined(room);
  return t;
}

let nextId = 1;
function react(t: ChatTester, room: string, seq: bigint, emoji: string, remove = false, clientMsgId = `x-${nextId++}`): string {
  t.request({ command: { case: "react", value: { room, seq, emoji, remove, clientMsgId } } });
  return clientMsgId;
}
const acked = (t: ChatTester, id: string) => t.waitFor("message", (m) => m.clientMsgId === id);
const shown = (m: ChatMessage | undefined) => m?.reactions.map((r) => [r.emoji, r.count, r.mine, r.userIds]);

describe("reactions", () => {
  it("are entries every member gets live; a join, a resume and GetHistory count them on the target, mine for the user asking", async () => {
    const ann = await member("ann", "cafe");
    const bob = await member("bob", "cafe");
    const dana = await member("dana", "cafe");
    const m = await acked(ann, ann.send("cafe", "coffee at 3?"));
    await dana.waitFor("message", (x) => x.seq === m.seq);
    const danaJoined = await dana.joined("cafe");
    dana.cancel(); // dana's connection drops; she resumes below

    const id = react(bob, "cafe", m.seq, "👍");
    const entry = await acked(bob, id);
    expect(entry).toMatchObject({ room: "cafe", sender: "bob", senderId: "bob", text: "", reaction: { targetSeq: m.seq, emoji: "👍", removed: false }, reactions: [] });
    expect(await acked(ann, id)).toMatchObject({ seq: entry.seq });
    const second = await acked(ann, react(ann, "cafe", m.seq, "☕"));
    await bob.waitFor("message", (x) => x.seq === second.seq);

    // A join's recent messages: the joiner's own reactions are mine, nobody else's.
    const bobAgain = await member("bob", "cafe");
    const recent = (await bobAgain.joined("cafe")).recent.find((x) => x.seq === m.seq);
    expect(shown(recent)).toEqual([
      ["👍", 1, true, ["bob"]],
      ["☕", 1, false, ["ann"]],
    ]);
    const carol = await member("carol", "cafe");
    expect(shown((await carol.joined("cafe")).recent.find((x) => x.seq === m.seq))).toEqual([
      ["👍", 1, false, ["bob"]],
      ["☕", 1, false, ["ann"]],
    ]);

    // dana resumes from the message: her replay carries both reaction entries, in order.
    const back = await user("dana");
    back.join("cafe", "", { afterSeq: m.seq, epoch: danaJoined.epoch, resumeToken: danaJoined.resumeToken });
    expect((await back.joined("cafe")).resumed).toBe(true);
    await back.waitFor("message", (x) => x.seq === second.seq);
    expect(back.messages("cafe").map((x) => [x.seq, x.reaction?.emoji])).toEqual([
      [entry.seq, "👍"],
      [second.seq, "☕"],
    ]);

    // GetHistory: mine for the caller.
    const history = async (sub: string) =>
      (await createChatClient(server.baseUrl, { token: await token(sub) }).getHistory({ room: "cafe", limit: 50 })).messages.find((x) => x.seq === m.seq);
    expect(shown(await history("ann"))).toEqual([
      ["👍", 1, false, ["bob"]],
      ["☕", 1, true, ["ann"]],
    ]);
    expect(shown(await history("bob"))).toEqual([
      ["👍", 1, true, ["bob"]],
      ["☕", 1, false, ["ann"]],
    ]);

    // Removing is an entry too; the emoji goes once nobody uses it.
    const removed = await acked(ann, react(bob, "cafe", m.seq, "👍", true));
    expect(removed.reaction).toMatchObject({ emoji: "👍", removed: true });
    expect(shown(await history("bob"))).toEqual([["☕", 1, false, ["ann"]]]);
  });

  it("a resume's replay gives the message without counts, then its reaction entries: applying them counts each once", async () => {
    const ann = await member("ann3", "replay");
    const eve = await member("eve3", "replay");
    const before = await acked(ann, ann.send("replay", "before"));
    await eve.waitFor("message", (x) => x.seq === before.seq);
    const eveJoined = await eve.joined("replay");
    eve.cancel();
    const m = await acked(ann, ann.send("replay", "while eve was away"));
    await acked(ann, react(ann, "replay", m.seq, "👍"));
    await acked(ann, react(ann, "replay", m.seq, "🎉"));
    const gone = await acked(ann, react(ann, "replay", m.seq, "🎉", true));
    const back = await user("eve3");
    back.join("replay", "", { afterSeq: before.seq, epoch: eveJoined.epoch, resumeToken: eveJoined.resumeToken });
    await back.waitFor("message", (x) => x.seq === gone.seq);
    const replayed = back.messages("replay");
    expect(replayed[0]).toMatchObject({ seq: m.seq, text: "while eve was away", reactions: [] });
    // What a client does with the entries: apply each to its target.
    const counts = new Map<string, Set<string>>();
    for (const x of replayed.slice(1)) {
      const r = x.reaction!;
      if (!counts.has(r.emoji)) counts.set(r.emoji, new Set());
      if (r.removed) counts.get(r.emoji)!.delete(x.senderId);
      else counts.get(r.emoji)!.add(x.senderId);
    }
    const applied = [...counts].filter(([, users]) => users.size > 0).map(([emoji, users]) => [emoji, users.size, users.has("eve3"), [...users]]);
    const history = await createChatClient(server.baseUrl, { token: await token("eve3") }).getHistory({ room: "replay", limit: 50 });
    expect(applied).toEqual(shown(history.messages.find((x) => x.seq === m.seq)));
    expect(applied).toEqual([["👍", 1, false, ["ann3"]]]);
  });

  it("a reaction that changes nothing is answered with the target as it stands, to the reactor only; a resend is the original entry", async () => {
    const ann = await member("ann2", "noop");
    const bob = await member("bob2", "noop");
    const m = await acked(ann, ann.send("noop", "hi"));
    const first = await acked(bob, react(bob, "noop", m.seq, "🎉", false, "once"));
    // The same command again (same key): the original entry.
    const resend = react(bob, "noop", m.seq, "🎉", false, "once");
    await waitUntil(() => bob.messages("noop").filter((x) => x.clientMsgId === resend).length === 2, "the resend answered");
    // A new key, nothing to change: the target, with bob's reaction counted as his.
    const again = react(bob, "noop", m.seq, "🎉", false, "twice");
    const answer = await bob.waitFor("message", (x) => x.seq === m.seq && x.reactions.length > 0);
    expect(answer).toMatchObject({ text: "hi", reactions: [{ emoji: "🎉", count: 1, mine: true, userIds: ["bob2"] }] });
    expect(again).toBe("twice");
    // Ann got the entry once and nothing for the no-op: the next thing she gets is the next message.
    const next = await acked(bob, bob.send("noop", "after"));
    await ann.waitFor("message", (x) => x.seq === next.seq);
    expect(ann.messages("noop").map((x) => x.seq)).toEqual([m.seq, first.seq, next.seq]);
  });

  it("work over OpenSession and Command, in Connect JSON as the README shows", async () => {
    const t = new SessionTester("json", transportFor("connect", server.httpUrl, { token: await token("json") }));
    await t.join("json-react", "");
    const sent = await t.send("json-react", "react to this");
    if (sent?.event.case !== "message") throw new Error(`send answered with ${sent?.event.case}`);
    const seq = sent.event.value.seq;
    const call = async (request: unknown) => {
      const res = await fetch(`${server.httpUrl}/chat.v1.ChatService/Command`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await token("json")}` },
        body: JSON.stringify({ sessionId: await t.sessionId(), request }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { event: Record<string, Record<string, unknown>> };
    };
    const added = await call({ react: { room: "json-react", seq: String(seq), emoji: "👍", clientMsgId: "j-1" } });
    expect(added.event.message).toMatchObject({ room: "json-react", seq: String(seq + 1n), clientMsgId: "j-1", reaction: { targetSeq: String(seq), emoji: "👍" } });
    const noop = await call({ react: { room: "json-react", seq: String(seq), emoji: "👍", clientMsgId: "j-2" } });
    expect(noop.event.message).toMatchObject({ seq: String(seq), reactions: [{ emoji: "👍", count: 1, mine: true, userIds: ["json"] }] });
    const removed = await call({ react: { room: "json-react", seq: String(seq), emoji: "👍", remove: true, clientMsgId: "j-3" } });
    expect(removed.event.message).toMatchObject({ reaction: { targetSeq: String(seq), emoji: "👍", removed: true } });
    const bad = await call({ react: { room: "json-react", seq: String(seq), emoji: "ok", clientMsgId: "j-4" } });
    expect(bad.event.error).toMatchObject({ code: "ERROR_CODE_INVALID_ARGUMENT", command: "COMMAND_KIND_REACT", clientMsgId: "j-4" });
  });
});

describe("reactions, hostile", () => {
  it("refused in a room one is not in, and for a message of another room (numbers are per room): nothing reaches that room", async () => {
    const victim = await member("victim", "there");
    for (let i = 0; i < 3; i++) await acked(victim, victim.send("there", `there ${i}`));
    const mallory = await member("mallory", "here");
    const own = await acked(mallory, mallory.send("here", "here 0"));
    const outside = react(mallory, "there", 2n, "💩");
    expect(await mallory.error((e) => e.clientMsgId === outside)).toMatchObject({ code: ErrorCode.NOT_FOUND, command: CommandKind.REACT, room: "there" });
    const cross = react(mallory, "here", 3n, "💩");
    expect(await mallory.error((e) => e.clientMsgId === cross)).toMatchObject({ code: ErrorCode.NOT_FOUND, command: CommandKind.REACT, room: "here" });
    // The room's own message is fine; the victim's room got nothing.
    await acked(mallory, react(mallory, "here", own.seq, "👋"));
    const marker = await acked(victim, victim.send("there", "marker"));
    expect(victim.messages("there").map((x) => x.seq)).toEqual([1n, 2n, 3n, marker.seq]);
    const history = await createChatClient(server.baseUrl, { token: await token("victim") }).getHistory({ room: "there", limit: 10 });
    expect(history.messages.every((x) => x.reactions.length === 0 && x.reaction === undefined)).toBe(true);
  });

  it("refuses a bad emoji with INVALID_ARGUMENT: two emoji, text, more than 32 bytes, empty; one emoji of many code points is fine", async () => {
    const t = await member("picky", "emoji");
    const m = await acked(t, t.send("emoji", "pick one"));
    for (const emoji of ["👍👍", "ok", "a", "😀".repeat(9), "x".repeat(40), "", " 👍", "👍\n"]) {
      const id = react(t, "emoji", m.seq, emoji);
      expect(await t.error((e) => e.clientMsgId === id), JSON.stringify(emoji)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, command: CommandKind.REACT });
    }
    for (const emoji of ["👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "❤", "#️⃣"]) {
      expect((await acked(t, react(t, "emoji", m.seq, emoji))).reaction?.emoji).toBe(emoji);
    }
    const zero = react(t, "emoji", 0n, "👍");
    expect(await t.error((e) => e.clientMsgId === zero)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it("a muted user cannot react (PERMISSION_DENIED); unmuted, they can", async () => {
    const owner = await user("owner");
    createRoom(owner, "quiet");
    await owner.joined("quiet");
    const loud = await member("loud", "quiet");
    const m = await acked(owner, owner.send("quiet", "hush"));
    await acked(owner, moderate(owner, "quiet", RoomActionKind.MUTE, { targetUser: "loud" }));
    const id = react(loud, "quiet", m.seq, "😡");
    expect(await loud.error((e) => e.clientMsgId === id)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, command: CommandKind.REACT, message: expect.stringContaining("muted") });
    await acked(owner, moderate(owner, "quiet", RoomActionKind.UNMUTE, { targetUser: "loud" }));
    await acked(loud, react(loud, "quiet", m.seq, "🙂"));
  });

  it("a flood of reactions hits the rate limit it shares with sends; the stream stays usable", async () => {
    const limited = await startTestServer({ rateLimit: 1, rateBurst: 10 });
    const c = ChatTester.connect(limited.baseUrl, "flooder");
    c.join("flood");
    await c.joined("flood");
    const m = await acked(c, c.send("flood", "target"));
    // 10 tokens: the join and the send took 2; 8 reactions pass, the other 12 are refused.
    const emoji = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂"];
    for (const e of emoji) react(c, "flood", m.seq, e);
    await waitUntil(() => c.of("error").length === 12 && c.messages("flood").filter((x) => x.reaction).length === 8, "8 reactions, 12 refusals");
    expect(c.of("error").every((e) => e.code === ErrorCode.RESOURCE_EXHAUSTED && /rate limit/.test(e.message) && e.command === CommandKind.REACT)).toBe(true);
    expect(c.ended).toBeUndefined();
  });
});

describe("reactions on two nodes over Redis", () => {
  it("a reaction on node A is seen live on node B, and counted in B's history and in a join after reconnecting", async ({ skip }) => {
    if (!(await redisAnswers())) return skip();
    const prefix = uniquePrefix("reactions-e2e");
    const config = { redis: "redis://127.0.0.1:6379", redisPrefix: prefix, authSecret: AUTH_SECRET };
    const [a, b] = await Promise.all([startTestServer(config), startTestServer(config)]);
    const ann = await member("ann", "lobby", a.baseUrl);
    const bob = await member("bob", "lobby", b.baseUrl);
    const m = await acked(bob, bob.send("lobby", "on node b"));
    await ann.waitFor("message", (x) => x.seq === m.seq);
    const bobJoined = await bob.joined("lobby");
    bob.cancel();
    const id = react(ann, "lobby", m.seq, "🚀");
    const entry = await acked(ann, id);
    const carol = await member("carol", "lobby", b.baseUrl);
    const live = await acked(carol, react(ann, "lobby", m.seq, "✨"));
    expect(live.reaction).toMatchObject({ targetSeq: m.seq, emoji: "✨" });
    // bob reconnects to node b: his replay has both entries; a fresh join counts them.
    const back = await user("bob", b.baseUrl);
    back.join("lobby", "", { afterSeq: m.seq, epoch: bobJoined.epoch, resumeToken: bobJoined.resumeToken });
    await back.waitFor("message", (x) => x.seq === live.seq);
    expect(back.messages("lobby").map((x) => x.seq)).toEqual([entry.seq, live.seq]);
    const fresh = await member("ann", "lobby", b.baseUrl);
    expect(shown((await fresh.joined("lobby")).recent.find((x) => x.seq === m.seq))).toEqual([
      ["🚀", 1, true, ["ann"]],
      ["✨", 1, true, ["ann"]],
    ]);
    const page = await createChatClient(b.baseUrl, { token: await token("bob") }).getHistory({ room: "lobby", limit: 50 });
    expect(shown(page.messages.find((x) => x.seq === m.seq))).toEqual([
      ["🚀", 1, false, ["ann"]],
      ["✨", 1, false, ["ann"]],
    ]);
  }, 30_000);
});
