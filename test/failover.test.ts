/**
 * Clients fail over by themselves: the terminal client given several servers
 * moves to the next when its node dies, and behind a real load balancer
 * (HAProxy, as docs/scaling.md sets it up) a node's death costs its clients a
 * reconnect of a few seconds, nothing stored twice and nothing lost.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { LookupFunction } from "node:net";
import { ChatSession } from "../src/client/chat-session.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import { createChatClient } from "../src/client/transport.js";
import { freePort } from "./support/free-port.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { CliProcess, stopCliProcesses } from "./support/cli-process.js";
import { haproxyInstalled, startHaproxy } from "./support/haproxy.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

/**
 * Whether a client rejoining on another node right after its node died is let
 * in at once. Today the dead node's session still holds the nickname until its
 * lease runs out, so the rejoin is refused as "taken" and retried; the resume
 * token (another branch) lets the same client take its seat back. Set to true
 * once that is merged: the "nobody refused" assertions below then run.
 */
const RESUME_TOKEN_LANDED = true;

const LEASE_MS = 2000;
let redisUp = false;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redisUp = await redisAnswers();
});

afterEach(async () => {
  closeTesters();
  await stopCliProcesses();
  killServers();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
});

/** Nodes on one Redis; each `listen` entry is extra flags for one node (default: any port). */
async function nodes(count: number, listen: string[][] = []): Promise<ServerProcess[]> {
  const prefix = uniquePrefix("failover");
  cleanups.push(() => deletePrefix(REDIS_URL, prefix));
  const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--node-lease-ms", String(LEASE_MS), "--rate-limit", "0"];
  // One after the other: starting several at once on a busy 2-core machine can pass spawnServer's deadline.
  const started: ServerProcess[] = [];
  for (let i = 0; i < count; i++) started.push(await spawnServer([...args, ...(listen[i] ?? [])], 40_000));
  return started;
}

async function history(server: ServerProcess, room: string): Promise<{ sender: string; text: string }[]> {
  const page = await createChatClient(server.baseUrl).getHistory({ room, limit: 500 });
  return page.messages.map((m) => ({ sender: m.sender, text: m.text }));
}

/** Chat streams a node has open now, from its own log. */
function openStreams(server: ServerProcess): number {
  const logs = server.logs();
  return logs.filter((l) => l.msg === "stream opened").length - logs.filter((l) => l.msg === "stream closed").length;
}

const numbered = (name: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${name} ${from + i}`);

describe("the terminal client with several servers", () => {
  it("--server a,b,c: when a is killed it resumes on b, and every line is stored once, in order", async ({ skip }) => {
    if (!redisUp) return skip();
    const [a, b] = await nodes(2);
    const c = `127.0.0.1:${await freePort()}`; // nothing listens there: never reached before b
    // Someone else in the room, on another node: survivors check a dead node's lease only for
    // rooms they have members in, and until they do it holds ann's nickname (see RESUME_TOKEN_LANDED).
    const watcher = ChatTester.connect(b.baseUrl, "watcher");
    watcher.join("lobby");
    await watcher.joined("lobby");
    // host:port, as the server prints it, is accepted too.
    const cli = new CliProcess(["--server", [a.address, b.address, c].join(","), "--name", "ann", "--room", "lobby"]);
    await cli.waitForStdout("joined #lobby as ann");
    expect(openStreams(a)).toBe(1);
    cli.write(...numbered("ann", 1, 5));
    await cli.waitForStdout("<ann> ann 5");

    a.child.kill("SIGKILL");
    cli.write(...numbered("ann", 6, 15));
    await cli.waitForStderr(`reconnected to ${b.baseUrl}`, 15_000);
    cli.end();
    expect(await cli.exitCode(30_000), cli.stderr).toBe(0);
    expect((await history(b, "lobby")).map((m) => m.text)).toEqual(numbered("ann", 1, 15));
    if (RESUME_TOKEN_LANDED) expect(cli.stderr).not.toMatch(/could not rejoin/);
  }, 120_000);

  it("--server a,b with a already dead connects to b", async ({ skip }) => {
    if (!redisUp) return skip();
    const [a, b] = await nodes(2);
    a.child.kill("SIGKILL");
    await a.exited;
    const cli = new CliProcess(["--server", `${a.baseUrl},${b.baseUrl}`, "--name", "bob", "--room", "lobby"]);
    cli.write("hello from bob");
    cli.end();
    expect(await cli.exitCode(), cli.stderr).toBe(0);
    expect((await history(b, "lobby")).map((m) => m.text)).toEqual(["hello from bob"]);
  }, 90_000);
});

describe("the client core with a host name that resolves to several addresses", () => {
  it("moves to the name's next address when the node at the first dies", async ({ skip }) => {
    if (!redisUp) return skip();
    // Two nodes on one port, on two loopback addresses; "chat.test" resolves to both, the first one first.
    // (A resolver of the test's own: no DNS server runs here, and /etc/hosts is not the test's to edit.)
    const port = String(await freePort());
    const [first, second] = await nodes(2, [["--host", "127.0.0.2", "--port", port], ["--host", "127.0.0.1", "--port", port]]);
    const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      const addresses = [{ address: "127.0.0.2", family: 4 }, { address: "127.0.0.1", family: 4 }];
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, 4);
    }) as unknown as LookupFunction;
    const watcher = ChatTester.connect(second.baseUrl, "watcher");
    watcher.join("lobby");
    await watcher.joined("lobby");

    const server = `http://chat.test:${port}`;
    const session = new ChatSession({ transport: createGrpcSessionTransport(server, { lookup }), server, nickname: "dora", backoff: { baseMs: 20, maxMs: 200 } });
    cleanups.push(async () => void (await session.abort()));
    const acked: string[] = [];
    session.on("ack", (m) => acked.push(m.text));
    session.join("lobby");
    void session.start();
    session.send("lobby", "one");
    await waitUntil(() => acked.length === 1, "the first message acknowledged", 20_000);
    expect(openStreams(first)).toBe(1);

    first.child.kill("SIGKILL");
    session.send("lobby", "two");
    session.send("lobby", "three");
    await waitUntil(() => acked.length === 3, "the others acknowledged after the failover", 30_000);
    expect(openStreams(second)).toBe(2); // the watcher and dora
    expect((await history(second, "lobby")).map((m) => m.text)).toEqual(["one", "two", "three"]);
  }, 90_000);
});

describe("behind HAProxy (h2c, health-checked)", () => {
  it("a node killed behind the balancer: its clients resume on the others within seconds, nothing lost or twice", async ({ skip }) => {
    if (!redisUp) return skip();
    // CI installs haproxy (.ci/run): missing there is a failure, not a skip.
    if (!haproxyInstalled() && process.env.REQUIRE_REDIS !== "1") return skip();
    const servers = await nodes(3);
    const proxy = await startHaproxy(servers.map((s) => s.address));
    cleanups.push(() => proxy.stop());

    const names = ["ann", "bob", "cy", "dee"];
    const clients = names.map((name) => new CliProcess(["--server", proxy.address, "--name", name, "--room", "lobby"]));
    // (Generous: each client is a Node process starting on a busy 2-core machine.)
    for (const c of clients) await c.waitForStdout(/joined #lobby as /, 40_000);
    for (const [i, c] of clients.entries()) c.write(...numbered(names[i], 1, 5));
    await waitUntilAsync(async () => (await history(servers[0], "lobby")).length === 20, "20 messages stored", 15_000);

    // The node carrying the most clients dies.
    const victim = servers.reduce((most, s) => (openStreams(s) > openStreams(most) ? s : most));
    const moved = openStreams(victim);
    expect(moved).toBeGreaterThan(0);
    victim.child.kill("SIGKILL");
    const killedAt = Date.now();
    for (const [i, c] of clients.entries()) c.write(...numbered(names[i], 6, 10));
    const survivor = servers.find((s) => s !== victim)!;
    await waitUntilAsync(async () => (await history(survivor, "lobby")).length === 40, "all 40 messages stored", 30_000);
    const resumedMs = Date.now() - killedAt;

    for (const c of clients) c.end();
    for (const c of clients) expect(await c.exitCode(30_000), c.stderr).toBe(0);
    const stored = await history(survivor, "lobby");
    for (const name of names) {
      expect(stored.filter((m) => m.sender === name).map((m) => m.text)).toEqual(numbered(name, 1, 10));
    }
    expect(clients.filter((c) => c.stderr.includes("reconnected to")).length).toBe(moved);
    // A few seconds: the lease (2 s here) bounds how long the dead node holds the nicknames.
    expect(resumedMs).toBeLessThan(RESUME_TOKEN_LANDED ? 5_000 : 15_000);
    if (RESUME_TOKEN_LANDED) for (const c of clients) expect(c.stderr).not.toMatch(/could not rejoin/);
  }, 150_000);
});
