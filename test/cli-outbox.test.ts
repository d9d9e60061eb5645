/**
 * The terminal client's outbox as scripts rely on it: every line stored once,
 * in the order it was read, past the server's rate limit and across a moment
 * when the server cannot store anything; an exit status that says whether
 * that happened, naming the lines that were not sent; and never a hang.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultHubLimits } from "../src/hub/limits.js";
import { createChatClient } from "../src/client/transport.js";
import { spawnCli, stopCliProcesses } from "./support/cli-process.js";
import { deletePrefix, redisAnswers, startRedisServer, uniquePrefix } from "./support/redis.js";
import { freePort } from "./support/free-port.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis } from "./support/terminal.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await stopCliProcesses();
  await stopTerminalClis();
  await stopTestServers();
  killServers();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
});

async function stored(baseUrl: string, room: string): Promise<{ sender: string; text: string }[]> {
  const page = await createChatClient(baseUrl).getHistory({ room, limit: 500 });
  return page.messages.map((m) => ({ sender: m.sender, text: m.text }));
}

const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

describe("chat CLI, scripted: the outbox", () => {
  it("past the server's default rate limit: `seq 1 110 | chat` stores all 110 in order and exits 0", async () => {
    // The server's own defaults (the test helper turns the limit off unless asked).
    const server = await startTestServer({ rateLimit: defaultHubLimits.rateLimitPerSec, rateBurst: defaultHubLimits.rateBurst });
    const cli = spawnCli(["--server", server.baseUrl, "--name", "a", "--room", "r"]);
    cli.write(...lines(1, 110));
    cli.end();
    expect(await cli.exitCode(30_000)).toBe(0);
    expect((await stored(server.baseUrl, "r")).map((m) => m.text)).toEqual(lines(1, 110));
    // Not one error line per refused message: at most a word about pacing.
    expect(cli.stderrLines.length).toBeLessThanOrEqual(2);
    expect(cli.stderr).not.toMatch(/not delivered|RESOURCE_EXHAUSTED/);
  }, 40_000);

  it("a message the server refuses for good is dropped with one line naming it; the rest go through and the exit is 1", async () => {
    const server = await startTestServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "heidi", "--room", "r"]);
    cli.write("first", "x".repeat(5000), "third");
    cli.end();
    expect(await cli.exitCode()).toBe(1);
    expect((await stored(server.baseUrl, "r")).map((m) => m.text)).toEqual(["first", "third"]);
    const about = cli.stderrLines.filter((l) => l.includes("line 2"));
    expect(about).toHaveLength(1);
    expect(about[0]).toMatch(/^chat: line 2 not sent to #r: .*at most 4096 bytes.*: "x{60}…"$/);
    expect(cli.stderrLines.filter((l) => /line [13]\b/.test(l))).toEqual([]);
  });
});

describe("chat CLI, interactive: the outbox", () => {
  it("130 lines pasted at once past the default rate limit are all stored, in order, without an error line each", async () => {
    const server = await startTestServer({ rateLimit: defaultHubLimits.rateLimitPerSec, rateBurst: defaultHubLimits.rateBurst });
    const t = spawnTerminalCli(["--server", server.baseUrl, "--name", "pat", "--room", "r"]);
    await t.waitForLine("joined #r as pat", 20_000);
    t.type(lines(1, 130).map((l) => `${l}\r`).join(""));
    await waitUntilAsync(async () => (await stored(server.baseUrl, "r")).length === 130, "130 messages stored", 20_000);
    expect((await stored(server.baseUrl, "r")).map((m) => m.text)).toEqual(lines(1, 130));
    expect(t.count(/rate limit/)).toBeLessThanOrEqual(1);
    expect(t.count(/not delivered|not sent/)).toBe(0);
    t.enter("/quit");
    expect(await t.exitCode()).toBe(0);
  }, 60_000);
});

describe("chat CLI, scripted: the outbox across a Redis restart", () => {
  it("messages refused while the room log is away are kept and stored in the order typed, none lost, none twice", async ({ skip }) => {
    if (!(await redisAnswers())) return skip();
    // A Redis of the test's own, with an append-only file so the history survives its restart.
    const dir = mkdtempSync(join(tmpdir(), "redis-aof-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    let redis = await startRedisServer(undefined, aof);
    const port = redis.port;
    cleanups.push(() => redis.stop());
    const prefix = uniquePrefix("outbox");
    cleanups.push(() => deletePrefix(redis.url, prefix));
    const server = await spawnServer(["--port", "0", "--redis", redis.url, "--redis-prefix", prefix, "--rate-limit", "0"]);

    const cli = spawnCli(["--server", server.baseUrl, "--name", "ann", "--room", "r"]);
    await cli.waitForStdout("joined #r as ann");
    cli.write(...lines(1, 10));
    await cli.waitForStdout("<ann> 10");

    await redis.stop("SIGKILL");
    cli.write(...lines(11, 50));
    // The server refuses them for now; the client says so once and keeps them.
    await cli.waitForStderr(/accept/, 15_000);
    redis = await startRedisServer(port, aof);
    cli.write(...lines(51, 60));
    cli.end();

    expect(await cli.exitCode(60_000)).toBe(0);
    const texts = (await stored(server.baseUrl, "r")).map((m) => m.text);
    expect(texts).toEqual(lines(1, 60));
    expect(cli.stderr.match(/did not accept/g)).toHaveLength(1);
  }, 90_000);
});

describe("chat CLI, scripted: a rejoin while the room log is away", () => {
  it("is retried for as long as it takes (not given up after a few refusals), like a newcomer's first join, and the queued lines are stored once it is back", async ({ skip }) => {
    if (!(await redisAnswers())) return skip();
    const dir = mkdtempSync(join(tmpdir(), "redis-aof-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    let redis = await startRedisServer(undefined, aof);
    const redisPort = redis.port;
    cleanups.push(() => redis.stop());
    const prefix = uniquePrefix("rejoin");
    cleanups.push(() => deletePrefix(redis.url, prefix));
    const args = ["--port", String(await freePort()), "--redis", redis.url, "--redis-prefix", prefix, "--rate-limit", "0", "--redis-command-timeout", "500"];
    const first = await spawnServer(args);

    const cli = spawnCli(["--server", first.baseUrl, "--name", "ann", "--room", "r"]);
    await cli.waitForStdout("joined #r as ann");
    cli.write("1");
    await cli.waitForStdout("<ann> 1");

    // Redis goes away, and so does the node: the client reconnects to the node's successor, whose
    // room log cannot take it back in yet. Its rejoin is refused as UNAVAILABLE, again and again.
    await redis.stop("SIGKILL");
    first.child.kill("SIGKILL");
    await first.exited;
    const second = await spawnServer(args);
    cli.write("2", "3");
    // A newcomer joining meanwhile waits the same way (it gave up after 5 refusals and exited 1).
    const late = spawnCli(["--server", second.baseUrl, "--name", "latecomer", "--room", "r"]);
    late.write("late-1", "late-2");
    late.end();
    await waitUntil(() => (cli.stderr.match(/could not rejoin #r/g)?.length ?? 0) >= 7, "more refused rejoins than the old limit of 5", 60_000);
    await waitUntil(() => (late.stderr.match(/could not join #r/g)?.length ?? 0) >= 7, "more refused joins than the old limit of 5", 60_000);

    redis = await startRedisServer(redisPort, aof);
    cli.end();
    expect(await cli.exitCode(60_000), cli.stderr).toBe(0);
    expect(await late.exitCode(60_000), late.stderr).toBe(0);
    const texts = (await stored(second.baseUrl, "r")).map((m) => m.text);
    expect(texts.filter((t) => !t.startsWith("late"))).toEqual(["1", "2", "3"]);
    expect(texts.filter((t) => t.startsWith("late"))).toEqual(["late-1", "late-2"]);
    for (const c of [cli, late]) expect(c.stderr).not.toMatch(/not sent|^chat: cannot join/m);
  }, 150_000);
});
