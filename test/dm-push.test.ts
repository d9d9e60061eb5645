/**
 * The DM push across nodes (issue 18): when alice creates the direct-message
 * room with bob, every open session of bob's, on every node, is told at once
 * (a DirectOpenedEvent he did not ask for), through the node bus on Redis.
 * Two server processes on one Redis prefix, authentication on, no admin key
 * (the push does not need the admin API).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { openDirect, token } from "./support/rooms.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { AUTH_SECRET } from "./support/rooms.js";

let redisUp = false;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  redisUp = await redisAnswers();
});
afterEach(async () => {
  closeTesters();
  killServers();
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});
afterAll(() => closeTesters());

async function twoNodes(): Promise<[ServerProcess, ServerProcess] & { prefix: string }> {
  const prefix = uniquePrefix("dmpush");
  cleanups.push(() => deletePrefix(REDIS_URL, prefix));
  const common = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--auth-secret", AUTH_SECRET, "--rate-limit", "0"];
  const nodes = await Promise.all([spawnServer(["--node-id", "n1", ...common]), spawnServer(["--node-id", "n2", ...common])]);
  return Object.assign(nodes, { prefix }) as [ServerProcess, ServerProcess] & { prefix: string };
}

let pings = 0;
/** A round trip: anything queued for the session before is in by the time it returns. */
async function ping(t: ChatTester): Promise<void> {
  const nonce = `ping-${++pings}`;
  t.request({ command: { case: "ping", value: { nonce } } });
  await t.waitFor("heartbeat", (h) => h.nonce === nonce);
}

/** A signed-in session, open on the server. */
async function user(node: ServerProcess, sub: string): Promise<ChatTester> {
  const t = ChatTester.connect(node.baseUrl, sub, { token: await token(sub) });
  await ping(t);
  return t;
}

describe("DM push on two nodes on Redis", () => {
  it("alice on node 1 creates the DM: bob's sessions on both nodes are told at once, carol's are not", async ({ skip }) => {
    if (!redisUp) skip();
    const [n1, n2] = await twoNodes();
    const alice = await user(n1, "alice");
    const bobHere = await user(n1, "bob");
    const bobThere = await user(n2, "bob");
    const carol = await user(n2, "carol");

    openDirect(alice, "bob");
    const opened = await alice.waitFor("directOpened");
    expect(opened).toMatchObject({ userId: "bob", created: true });
    for (const bob of [bobHere, bobThere]) {
      expect(await bob.waitFor("directOpened")).toMatchObject({ room: opened.room, userId: "alice", created: true });
    }
    // Bob on node 2 joins the room alice created and hears her.
    bobThere.join(opened.room, "");
    await bobThere.joined(opened.room);
    alice.join(opened.room, "");
    await alice.joined(opened.room);
    const id = alice.send(opened.room, "psst");
    expect(await bobThere.waitFor("message", (m) => m.clientMsgId === id)).toMatchObject({ text: "psst" });

    // A notice for carol would have come by now (node 2 told its sessions at once, bob's included).
    await ping(carol);
    expect(carol.of("directOpened")).toEqual([]);
  });

  it("alice's own other device on node 2 is told of the DM she opened on node 1; the opening session gets only its answer", async ({ skip }) => {
    if (!redisUp) skip();
    const [n1, n2] = await twoNodes();
    const alicePhone = await user(n1, "alice");
    const aliceLaptop = await user(n2, "alice");
    openDirect(alicePhone, "bob");
    const opened = await alicePhone.waitFor("directOpened");
    expect(await aliceLaptop.waitFor("directOpened")).toMatchObject({ room: opened.room, userId: "bob", created: true });
    await ping(alicePhone);
    expect(alicePhone.of("directOpened")).toHaveLength(1);
  });

  it("a malformed or foreign notice on the bus is ignored; the nodes keep pushing", async ({ skip }) => {
    if (!redisUp) skip();
    const nodes = await twoNodes();
    const [n1, n2] = nodes;
    const bob = await user(n2, "bob");
    const intruder = new Redis(REDIS_URL);
    cleanups.push(async () => void intruder.disconnect());
    const channel = `${nodes.prefix}:nodebus`;
    const junk = [
      "not json",
      JSON.stringify({ t: "n", from: "x", op: "direct", room: 42, to: "bob", by: "mallory" }),
      JSON.stringify({ t: "n", from: "x", op: "direct", room: "dm.x", to: "bob", by: "m".repeat(10_000) }),
      JSON.stringify({ t: "n", from: "x", op: "explode", room: "dm.x", to: "bob", by: "mallory" }),
      JSON.stringify({ t: "n", from: "x", op: "direct", to: "bob" }),
    ];
    for (const message of junk) await intruder.publish(channel, message);

    const alice = await user(n1, "alice");
    openDirect(alice, "bob");
    const opened = await alice.waitFor("directOpened");
    const told = await bob.waitFor("directOpened");
    // The junk (published before) came first on the channel and was dropped: the one notice is alice's.
    expect(told).toMatchObject({ room: opened.room, userId: "alice" });
    expect(bob.of("directOpened")).toHaveLength(1);
    expect(bob.ended).toBeUndefined();
    expect(n2.stderr()).toBe("");
  });
});
