/**
 * Clients fail over by themselves: the terminal client given several servers
 * moves to the next when its node dies, and behind a real load balancer
 * (HAProxy, as docs/scaling.md sets it up) a node's death costs its clients a
 * reconnect of a few seconds, nothing stored twice and nothing lost.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createChatClient } from "../src/client/transport.js";
import { closeTesters } from "./support/chat-tester.js";
import { CliProcess, stopCliProcesses } from "./support/cli-process.js";
import { haproxyInstalled, startHaproxy } from "./support/haproxy.js";
import { deletePrefix, REDIS_URL, redisAnswers, uniquePrefix } from "./support/redis.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntilAsync } from "./support/wait.js";

/**
 * Whether a client rejoining on another node right after its node died is let
 * in at once. Today the dead node's session still holds the nickname until its
 * lease runs out, so the rejoin is refused as "taken" and retried; the resume
 * token (another branch) lets the same client take its seat back. Set to true
 * once that is merged: the "nobody refused" assertions below then run.
 */
const RESUME_TOKEN_LANDED = false;

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

async function nodes(count: number): Promise<ServerProcess[]> {
  const prefix = uniquePrefix("failover");
  cleanups.push(() => deletePrefix(REDIS_URL, prefix));
  const args = ["--port", "0", "--redis", REDIS_URL, "--redis-prefix", prefix, "--node-lease-ms", String(LEASE_MS), "--rate-limit", "0"];
  // One after the other: starting several at once on a busy 2-core machine can pass spawnServer's deadline.
  const started: ServerProcess[] = [];
  for (let i = 0; i < count; i++) started.push(await spawnServer(args, 40_000));
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
    const [a, b, c] = await nodes(3);
    void c; // the third, for the list
    // host:port, as the server prints it, is accepted too.
    const cli = new CliProcess(["--server", [a.address, b.address, c.address].join(","), "--name", "ann", "--room", "lobby"]);
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
  }, 60_000);

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
  }, 30_000);
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
