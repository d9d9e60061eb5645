/**
 * Messages that change (issue 19, edits, deletes, replies), end to end: a
 * real server process on an SQLite file, authentication on, clients on the
 * Chat stream. Each member applies the change entries it receives; a live
 * member, one that resumed after a reconnect and GetHistory must show the
 * same room. A deleted text must be gone from the database files. The last
 * describe runs two server processes on one Redis: a change made on one node
 * reaches members of the other, and a deleted text is gone from Redis.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CommandKind, ErrorCode, MessageChangeKind, type ChatMessage } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { closeSessionTesters, SessionTester, transportFor } from "./support/session-tester.js";
import { AUTH_SECRET, createRoom, moderate, RoomActionKind, RoomRole, token } from "./support/rooms.js";
import { redisAnswers, startRedisServer, uniquePrefix } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil } from "./support/wait.js";

let dir: string;
let dbPath: string;
let server: ServerProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "message-changes-"));
  dbPath = join(dir, "chat.db");
  server = await spawnServer(["--port", "0", "--store", "sqlite", "--db", dbPath, "--auth-secret", AUTH_SECRET, "--history-limit", "20"]);
}, 30_000);

afterEach(() => {
  closeTesters();
  closeSessionTesters();
});

afterAll(() => {
  killServers();
  rmSync(dir, { recursive: true, force: true });
});

async function user(sub: string, base = server.baseUrl): Promise<ChatTester> {
  return ChatTester.connect(base, sub, { token: await token(sub) });
}

let nextId = 1;
function editMessage(t: ChatTester, room: string, seq: bigint, text: string, clientMsgId = `e-${nextId++}`): string {
  t.request({ command: { case: "editMessage", value: { room, seq, text, clientMsgId } } });
  return clientMsgId;
}
function deleteMessage(t: ChatTester, room: string, seq: bigint, clientMsgId = `d-${nextId++}`): string {
  t.request({ command: { case: "deleteMessage", value: { room, seq, clientMsgId } } });
  return clientMsgId;
}
function reply(t: ChatTester, room: string, text: string, replyToSeq: bigint, clientMsgId = `r-${nextId++}`): string {
  t.request({ command: { case: "send", value: { room, text, clientMsgId, replyToSeq } } });
  return clientMsgId;
}
const acked = (t: ChatTester, id: string) => t.waitFor("message", (m) => m.clientMsgId === id);

/** A room as a client shows it: each message by number, the change entries applied. */
function view(messages: ChatMessage[]): Map<bigint, { text: string; deleted: boolean; edited: boolean; reply?: string }> {
  const shown = new Map<bigint, { text: string; deleted: boolean; edited: boolean; reply?: string }>();
  for (const m of messages) {
    if (m.action) continue;
    const change = m.change;
    if (!change) {
      shown.set(m.seq, { text: m.text, deleted: m.deleted, edited: m.editedAt !== undefined, ...(m.replyTo ? { reply: m.replyTo.deleted ? "(deleted)" : m.replyTo.quote } : {}) });
      continue;
    }
    const target = shown.get(change.targetSeq);
    if (!target) continue;
    if (change.kind === MessageChangeKind.EDIT) Object.assign(target, { text: m.text, edited: true });
    else Object.assign(target, { text: "", deleted: true });
  }
  // Quotes follow the messages they quote.
  for (const m of messages) {
    if (!m.replyTo) continue;
    const target = shown.get(m.replyTo.seq);
    const mine = shown.get(m.seq);
    if (target && mine) mine.reply = target.deleted ? "(deleted)" : target.text.slice(0, 100);
  }
  return shown;
}

function databaseHolds(text: string): boolean {
  const needle = Buffer.from(text);
  for (const file of [dbPath, `${dbPath}-wal`]) {
    try {
      if (readFileSync(file).includes(needle)) return true;
    } catch {
      // no such file (the WAL after a truncate may be absent): nothing in it
    }
  }
  return false;
}

describe("edits, deletes and replies between members", () => {
  it("the author edits and deletes, a moderator deletes, others are refused, a reply to a deleted message shows the tombstone, and a resumed member sees what a live one sees", async () => {
    const alice = await user("alice");
    createRoom(alice, "club");
    await alice.joined("club");
    const bob = await user("bob");
    bob.join("club", "");
    await bob.joined("club");
    const carol = await user("carol");
    carol.join("club", "");
    await carol.joined("club");
    await acked(alice, moderate(alice, "club", RoomActionKind.SET_ROLE, { targetUser: "carol", role: RoomRole.MODERATOR }));

    // dave sees the first message, then loses his connection.
    const dave = await user("dave");
    dave.join("club", "");
    const daveJoined = await dave.joined("club");
    const first = await acked(bob, bob.send("club", "helo evryone"));
    await dave.waitFor("message", (m) => m.seq === first.seq);
    const davePosition = first.seq;
    dave.cancel();

    // The author edits: everyone gets the edit entry; the author's copy is the acknowledgement.
    const editId = editMessage(bob, "club", first.seq, "hello everyone");
    const edit = await acked(bob, editId);
    expect(edit).toMatchObject({ sender: "bob", senderId: "bob", text: "hello everyone", change: { targetSeq: first.seq, kind: MessageChangeKind.EDIT } });
    expect((await acked(alice, editId)).seq).toBe(edit.seq);

    // Someone else may not edit it, not even the owner; the refusal names the command and its id.
    const foreign = editMessage(alice, "club", first.seq, "alice was here");
    expect(await alice.error((e) => e.clientMsgId === foreign)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, command: CommandKind.EDIT_MESSAGE, room: "club" });
    const foreignDelete = deleteMessage(bob, "club", (await acked(alice, alice.send("club", "alice's own"))).seq);
    expect(await bob.error((e) => e.clientMsgId === foreignDelete)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, command: CommandKind.DELETE_MESSAGE });

    // The author deletes their own; a moderator deletes someone else's.
    const oops = await acked(bob, bob.send("club", "oops-secret-4f1c"));
    const byAuthor = await acked(alice, deleteMessage(bob, "club", oops.seq));
    expect(byAuthor).toMatchObject({ sender: "bob", text: "", change: { targetSeq: oops.seq, kind: MessageChangeKind.DELETE } });
    const rude = await acked(bob, bob.send("club", "rude-words-9a2e"));
    const byModerator = await acked(bob, deleteMessage(carol, "club", rude.seq));
    expect(byModerator).toMatchObject({ sender: "carol", senderId: "carol", change: { targetSeq: rude.seq, kind: MessageChangeKind.DELETE } });

    // A reply to a deleted message carries its tombstone; a reply to a live one quotes it.
    const toDeleted = await acked(alice, reply(alice, "club", "what did you say?", oops.seq));
    expect(toDeleted.replyTo).toMatchObject({ seq: oops.seq, sender: "bob", quote: "", deleted: true });
    const toLive = await acked(alice, reply(alice, "club", "hi bob", first.seq));
    expect(toLive.replyTo).toMatchObject({ seq: first.seq, sender: "bob", quote: "hello everyone", deleted: false });

    // The deleted texts are gone from the database files, not hidden (from the WAL within a second: README).
    expect(databaseHolds("hello everyone")).toBe(true); // the check can see texts that are there
    await waitUntil(() => !databaseHolds("oops-secret-4f1c") && !databaseHolds("rude-words-9a2e"), "the deleted texts to leave the files", 3000);

    // dave comes back: his replay carries the changes after his position; he ends up where alice is.
    const back = await user("dave");
    back.join("club", "", { afterSeq: davePosition, epoch: daveJoined.epoch, resumeToken: daveJoined.resumeToken });
    expect((await back.joined("club")).resumed).toBe(true);
    await back.waitFor("message", (m) => m.seq === toLive.seq);
    const live = view([...daveJoined.recent, ...alice.messages("club")]);
    const resumed = view([...daveJoined.recent, ...dave.messages("club"), ...back.messages("club")]);
    expect(resumed).toEqual(live);
    expect(live.get(first.seq)).toEqual({ text: "hello everyone", deleted: false, edited: true });
    expect(live.get(oops.seq)).toEqual({ text: "", deleted: true, edited: false });

    // A new joiner's recent messages and GetHistory give each message in its current state, and the change entries.
    const eve = await user("eve");
    eve.join("club", "");
    const eveJoined = await eve.joined("club");
    const page = await createChatClient(server.baseUrl, { token: await token("eve") }).getHistory({ room: "club", limit: 100 });
    for (const messages of [eveJoined.recent, page.messages]) {
      expect(view(messages)).toEqual(live);
      const bySeq = new Map(messages.map((m) => [m.seq, m]));
      expect(bySeq.get(first.seq)).toMatchObject({ text: "hello everyone", editedAt: expect.anything() });
      expect(bySeq.get(oops.seq)).toMatchObject({ text: "", deleted: true });
      expect(bySeq.get(rude.seq)).toMatchObject({ text: "", deleted: true });
      expect(bySeq.get(edit.seq)?.change).toMatchObject({ targetSeq: first.seq, kind: MessageChangeKind.EDIT });
      expect(bySeq.get(toDeleted.seq)?.replyTo).toMatchObject({ deleted: true, quote: "" });
    }
  });

  it("an edit or delete resent with its client_msg_id is answered with the original entry; the key reused for another change is refused", async () => {
    const bob = await user("bob2");
    bob.join("resend", "");
    await bob.joined("resend");
    const m = await acked(bob, bob.send("resend", "first"));
    const id = editMessage(bob, "resend", m.seq, "first!", "same-key");
    const original = await acked(bob, id);
    editMessage(bob, "resend", m.seq, "first!", "same-key");
    await bob.waitFor("message", (x) => x !== original && x.clientMsgId === "same-key");
    const copies = bob.messages("resend").filter((x) => x.clientMsgId === "same-key");
    expect(copies.map((x) => x.seq)).toEqual([original.seq, original.seq]);
    editMessage(bob, "resend", m.seq, "first?!", "same-key");
    expect(await bob.error((e) => e.clientMsgId === "same-key")).toMatchObject({ code: ErrorCode.ALREADY_EXISTS, command: CommandKind.EDIT_MESSAGE });
  });
});

describe("a user on two devices", () => {
  it("an edit or delete made on one device reaches the other, acknowledged on the first", async () => {
    const phone = await user("multi");
    phone.join("devices", "");
    await phone.joined("devices");
    const laptop = await user("multi");
    laptop.join("devices", "");
    await laptop.joined("devices");
    const m = await acked(phone, phone.send("devices", "sent from my phone"));
    await laptop.waitFor("message", (x) => x.seq === m.seq);
    const id = editMessage(laptop, "devices", m.seq, "fixed on my laptop");
    const edit = await acked(laptop, id);
    expect(await phone.waitFor("message", (x) => x.clientMsgId === id)).toMatchObject({ seq: edit.seq, text: "fixed on my laptop", change: { targetSeq: m.seq } });
    const del = deleteMessage(phone, "devices", m.seq);
    const gone = await acked(laptop, del);
    expect(gone.change?.kind).toBe(MessageChangeKind.DELETE);
    expect(laptop.messages("devices").filter((x) => x.clientMsgId === id)).toHaveLength(1); // each entry once per device
  });
});

describe("over OpenSession and Command (the browser's session calls)", () => {
  it("Command answers a reply, an edit and a delete with their entries, and a refusal with an error event carrying the id", async () => {
    const t = new SessionTester("json", transportFor("grpc", server.baseUrl, { token: await token("json") }));
    await t.join("json-room", "");
    const sent = await t.send("json-room", "typo hree");
    if (sent?.event.case !== "message") throw new Error(`send answered with ${sent?.event.case}`);
    const seq = sent.event.value.seq;
    const replied = await t.command({ command: { case: "send", value: { room: "json-room", text: "re", clientMsgId: "j-r", replyToSeq: seq } } });
    expect(replied?.event).toMatchObject({ case: "message", value: { replyTo: { seq, quote: "typo hree" } } });
    const edited = await t.command({ command: { case: "editMessage", value: { room: "json-room", seq, text: "typo here", clientMsgId: "j-e" } } });
    expect(edited?.event).toMatchObject({ case: "message", value: { clientMsgId: "j-e", text: "typo here", change: { targetSeq: seq, kind: MessageChangeKind.EDIT } } });
    const deleted = await t.command({ command: { case: "deleteMessage", value: { room: "json-room", seq, clientMsgId: "j-d" } } });
    expect(deleted?.event).toMatchObject({ case: "message", value: { clientMsgId: "j-d", change: { targetSeq: seq, kind: MessageChangeKind.DELETE } } });
    const again = await t.command({ command: { case: "editMessage", value: { room: "json-room", seq, text: "back", clientMsgId: "j-e2" } } });
    expect(again?.event).toMatchObject({ case: "error", value: { code: ErrorCode.FAILED_PRECONDITION, command: CommandKind.EDIT_MESSAGE, clientMsgId: "j-e2", room: "json-room" } });
    // The session's stream got the same entries, in order.
    await t.waitFor("message", (m) => m.clientMsgId === "j-d");
    expect(t.of("message").map((m) => m.change?.kind ?? 0)).toEqual([0, 0, MessageChangeKind.EDIT, MessageChangeKind.DELETE]);
  });
});

describe("hostile", () => {
  it("a reply or change naming a message of another room never reaches it: numbers are per room", async () => {
    const mallory = await user("mallory");
    mallory.join("here", "");
    await mallory.joined("here");
    const victim = await user("victim");
    victim.join("there", "");
    await victim.joined("there");
    for (let i = 0; i < 5; i++) await acked(victim, victim.send("there", `there-${i}-text`));
    const mine = await acked(mallory, mallory.send("here", "my only message"));
    const far = 5n;
    expect(far).toBeGreaterThan(mine.seq);
    const r = reply(mallory, "here", "gotcha", far);
    expect(await mallory.error((e) => e.clientMsgId === r)).toMatchObject({ code: ErrorCode.NOT_FOUND, command: CommandKind.SEND });
    const d = deleteMessage(mallory, "here", far);
    expect(await mallory.error((e) => e.clientMsgId === d)).toMatchObject({ code: ErrorCode.NOT_FOUND });
    // The largest numbers the wire allows name nothing either.
    const huge = 2n ** 64n - 1n;
    const hr = reply(mallory, "here", "far away", huge);
    expect(await mallory.error((x) => x.clientMsgId === hr)).toMatchObject({ code: ErrorCode.NOT_FOUND });
    const he = editMessage(mallory, "here", huge, "far away");
    expect(await mallory.error((x) => x.clientMsgId === he)).toMatchObject({ code: ErrorCode.NOT_FOUND });
    // Not joined there: refused before the log is asked.
    const e = editMessage(mallory, "there", 1n, "defaced");
    expect(await mallory.error((x) => x.clientMsgId === e)).toMatchObject({ code: ErrorCode.NOT_FOUND, message: expect.stringContaining("not a member") });
    const same = await acked(mallory, reply(mallory, "here", "to my own", mine.seq));
    expect(same.replyTo?.quote).toBe("my only message");
    const history = await createChatClient(server.baseUrl, { token: await token("victim") }).getHistory({ room: "there", limit: 10 });
    expect(history.messages.map((m) => [m.text, m.deleted, m.editedAt])).toEqual(Array.from({ length: 5 }, (_, i) => [`there-${i}-text`, false, undefined]));
  });

  it("editing or deleting a message beyond retention is refused with FAILED_PRECONDITION; a seq of 0 or a bad text with INVALID_ARGUMENT", async () => {
    const ann = await user("ann");
    ann.join("busy", "");
    await ann.joined("busy");
    const first = await acked(ann, ann.send("busy", "soon forgotten"));
    for (let i = 0; i < 20; i++) ann.send("busy", `filler ${i}`);
    await ann.messageCount(21, "busy");
    const e = editMessage(ann, "busy", first.seq, "too late");
    expect(await ann.error((x) => x.clientMsgId === e)).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("beyond retention") });
    const d = deleteMessage(ann, "busy", first.seq);
    expect(await ann.error((x) => x.clientMsgId === d)).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION });
    const zero = deleteMessage(ann, "busy", 0n);
    expect(await ann.error((x) => x.clientMsgId === zero)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    const last = ann.messages("busy").at(-1)!;
    const empty = editMessage(ann, "busy", last.seq, "");
    expect(await ann.error((x) => x.clientMsgId === empty)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    const huge = editMessage(ann, "busy", last.seq, "x".repeat(4097));
    expect(await ann.error((x) => x.clientMsgId === huge)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it("an edit racing a delete from another stream: one order is decided, and the message ends deleted with its text gone", async () => {
    const owner = await user("owner");
    createRoom(owner, "race");
    await owner.joined("race");
    const author = await user("author");
    author.join("race", "");
    await author.joined("race");
    const target = await acked(author, author.send("race", "race-original-77"));
    const editId = editMessage(author, "race", target.seq, "race-edited-77");
    const deleteId = deleteMessage(owner, "race", target.seq);
    const deleted = await acked(owner, deleteId);
    expect(deleted.change?.kind).toBe(MessageChangeKind.DELETE);
    // The edit either came first (an entry before the delete) or was refused after it.
    const outcome = await Promise.race([
      author.waitFor("message", (m) => m.clientMsgId === editId).then((m) => ({ stored: m.seq })),
      author.error((e) => e.clientMsgId === editId).then((e) => ({ refused: e.code })),
    ]);
    if ("stored" in outcome) expect(outcome.stored).toBeLessThan(deleted.seq);
    else expect(outcome.refused).toBe(ErrorCode.FAILED_PRECONDITION);
    const page = await createChatClient(server.baseUrl, { token: await token("owner") }).getHistory({ room: "race", limit: 100 });
    expect(page.messages.find((m) => m.seq === target.seq)).toMatchObject({ text: "", deleted: true });
    expect(page.messages.map((m) => m.text).join(" ")).not.toMatch(/race-(original|edited)-77/);
    await waitUntil(() => !databaseHolds("race-original-77") && !databaseHolds("race-edited-77"), "the deleted texts to leave the files", 3000);
  });
});

describe("the edit window", () => {
  it("is configurable (--edit-window; 0 turns edits off): past it the author's edit is refused, a delete is not", async () => {
    const strict = await spawnServer(["--port", "0", "--store", "memory", "--auth-secret", AUTH_SECRET, "--edit-window", "0"]);
    const ann = await user("ann", strict.baseUrl);
    ann.join("lobby", "");
    await ann.joined("lobby");
    const m = await acked(ann, ann.send("lobby", "typo"));
    const e = editMessage(ann, "lobby", m.seq, "fixed");
    const refused = await ann.error((x) => x.clientMsgId === e);
    expect(refused).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, message: expect.stringContaining("edit window") });
    const d = await acked(ann, deleteMessage(ann, "lobby", m.seq));
    expect(d.change?.kind).toBe(MessageChangeKind.DELETE);
  }, 30_000);
});

describe("on the Redis log, two nodes", () => {
  it("an edit and a delete made on one node reach members on the other live and after a resume; the deleted text is gone from Redis", async ({ skip }) => {
    if (!(await redisAnswers())) return skip();
    // A Redis of the test's own, DUMP uncompressed: a deleted text's bytes left in a stream node would show.
    const redis = await startRedisServer(undefined, ["--rdbcompression", "no"]);
    const prefix = uniquePrefix("changes-e2e");
    const args = ["--port", "0", "--redis", redis.url, "--redis-prefix", prefix, "--auth-secret", AUTH_SECRET];
    const [one, two] = await Promise.all([spawnServer(args), spawnServer(args)]);
    try {
      const ann = await user("ann", one.baseUrl);
      ann.join("lobby", "");
      await ann.joined("lobby");
      const carol = await user("carol", two.baseUrl);
      carol.join("lobby", "");
      const carolJoined = await carol.joined("lobby");
      const bob = await user("bob", two.baseUrl);
      bob.join("lobby", "");
      const bobJoined = await bob.joined("lobby");

      const m = await acked(ann, ann.send("lobby", "on redis"));
      const r = await acked(bob, reply(bob, "lobby", "me too", m.seq));
      expect(r.replyTo).toMatchObject({ seq: m.seq, quote: "on redis", deleted: false });
      const secret = await acked(ann, ann.send("lobby", "redis-secret-5e7b"));
      await bob.waitFor("message", (x) => x.seq === secret.seq);
      bob.cancel(); // bob's connection drops; he resumes below

      // Someone else's message: refused with the command's id, on the Redis log too.
      const foreign = editMessage(carol, "lobby", m.seq, "carol was here");
      expect(await carol.error((e) => e.clientMsgId === foreign)).toMatchObject({ code: ErrorCode.PERMISSION_DENIED, command: CommandKind.EDIT_MESSAGE });

      const edit = await acked(ann, editMessage(ann, "lobby", m.seq, "on redis, edited"));
      expect(edit.change).toMatchObject({ targetSeq: m.seq, kind: MessageChangeKind.EDIT });
      expect(await redisHolds(redis.url, prefix, "redis-secret-5e7b")).toBe(true); // the check sees a text that is there
      const deleted = await acked(ann, deleteMessage(ann, "lobby", secret.seq));
      expect(deleted.change).toMatchObject({ targetSeq: secret.seq, kind: MessageChangeKind.DELETE });
      expect(await redisHolds(redis.url, prefix, "redis-secret-5e7b")).toBe(false);

      // Live on node two, in order.
      await carol.waitFor("message", (x) => x.seq === deleted.seq);
      expect(carol.messages("lobby").map((x) => x.seq)).toEqual([m.seq, r.seq, secret.seq, edit.seq, deleted.seq]);
      const live = view([...carolJoined.recent, ...carol.messages("lobby")]);
      expect(live.get(m.seq)).toEqual({ text: "on redis, edited", deleted: false, edited: true });
      expect(live.get(secret.seq)).toEqual({ text: "", deleted: true, edited: false });

      // bob resumes on node two: his replay carries the changes; he ends up where carol is.
      const back = await user("bob", two.baseUrl);
      back.join("lobby", "", { afterSeq: secret.seq, epoch: bobJoined.epoch, resumeToken: bobJoined.resumeToken });
      expect((await back.joined("lobby")).resumed).toBe(true);
      await back.waitFor("message", (x) => x.seq === deleted.seq);
      expect(view([...bobJoined.recent, ...bob.messages("lobby"), ...back.messages("lobby")])).toEqual(live);

      // GetHistory (node one) gives each message as it is now.
      const page = await createChatClient(one.baseUrl, { token: await token("ann") }).getHistory({ room: "lobby", limit: 100 });
      const bySeq = new Map(page.messages.map((x) => [x.seq, x]));
      expect(bySeq.get(m.seq)).toMatchObject({ text: "on redis, edited", editedAt: expect.anything() });
      expect(bySeq.get(secret.seq)).toMatchObject({ text: "", deleted: true });
      expect(bySeq.get(r.seq)?.replyTo).toMatchObject({ quote: "on redis, edited", deleted: false });
      await acked(ann, ann.send("lobby", "still here"));
    } finally {
      for (const node of [one, two]) {
        node.child.kill("SIGKILL");
        await node.exited;
      }
      await redis.stop();
    }
  }, 60_000);
});

/** Whether the text is in any key under the prefix: read value by value, and as DUMP gives it. */
async function redisHolds(url: string, prefix: string, text: string): Promise<boolean> {
  const needle = Buffer.from(text);
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const type = await client.type(key);
        const values: Buffer[] = [];
        if (type === "string") values.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
        else if (type === "hash") for (const [field, value] of Object.entries(await client.hgetallBuffer(key))) values.push(Buffer.from(field), value);
        else if (type === "stream") for (const [, fields] of await client.xrangeBuffer(key, "-", "+")) values.push(...fields);
        const dump = await client.dumpBuffer(key);
        if (dump) values.push(dump);
        if (values.some((v) => v.includes(needle))) return true;
      }
    } while (cursor !== "0");
    return false;
  } finally {
    client.disconnect();
  }
}
