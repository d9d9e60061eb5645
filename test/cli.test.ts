/** The CLI as users run it from scripts: a child process with piped stdin, against a real server. */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { spawnCli, stopCliProcesses } from "./support/cli-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(async () => {
  await stopCliProcesses();
  await stopTestServers();
});

/** A port nothing listens on: bind an ephemeral one, then let it go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe("chat CLI, non-interactive", () => {
  it("lets two clients in one room exchange messages and both exit 0", async () => {
    const server = await startTestServer();
    const alice = spawnCli(["--server", server.baseUrl, "--name", "alice", "--room", "lobby"]);
    const bob = spawnCli(["--server", server.baseUrl, "--name", "bob", "--room", "lobby"]);
    await alice.waitForStdout("joined #lobby as alice");
    await bob.waitForStdout("joined #lobby as bob");

    alice.write("hello from alice");
    bob.write("hi from bob");
    // Each stays until it has seen the other's message, then ends its input.
    await alice.waitForStdout(/<bob> hi from bob/);
    await bob.waitForStdout(/<alice> hello from alice/);
    alice.end();
    bob.end();

    expect(await alice.exitCode()).toBe(0);
    expect(await bob.exitCode()).toBe(0);
    expect(alice.stdout).toMatch(/^\[\d\d:\d\d\] #lobby <alice> hello from alice$/m);
    expect(alice.stdout).toMatch(/^\[\d\d:\d\d\] #lobby <bob> hi from bob$/m);
    expect(bob.stdout).toMatch(/^\[\d\d:\d\d\] #lobby <alice> hello from alice$/m);
    expect(alice.stderr).toBe("");
    expect(bob.stderr).toBe("");
  });

  it("with --json prints one protobuf-JSON ServerEvent per line, and sends input given all at once only after joining", async () => {
    const server = await startTestServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "carol", "--room", "dev", "--json"]);
    // Everything at once, before the join is confirmed: nothing may be lost or reordered.
    cli.write("one", "", "two", "three");
    cli.end();
    expect(await cli.exitCode()).toBe(0);

    const events = cli.stdoutLines.map((line) => JSON.parse(line) as Record<string, any>);
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(events[0].joined).toMatchObject({ room: "dev", nickname: "carol" });
    const messages = events.filter((e) => e.message).map((e) => e.message);
    expect(messages.map((m) => m.text)).toEqual(["one", "two", "three"]);
    // protobuf JSON form: uint64 as a string, camelCase names, the client id echoed.
    expect(messages[0]).toMatchObject({ room: "dev", seq: "1", sender: "carol" });
    expect(messages[0].clientMsgId).toMatch(/^carol-/);
    expect(new Set(messages.map((m) => m.clientMsgId)).size).toBe(3);
    expect(cli.stderr).toBe("");
  });

  it("prints the other members' events as they happen", async () => {
    const server = await startTestServer();
    const dave = spawnCli(["--server", server.baseUrl, "--name", "dave"]);
    await dave.waitForStdout("joined #lobby as dave");
    const erin = ChatTester.connect(server.baseUrl, "erin");
    erin.join("lobby");
    await dave.waitForStdout("*** erin joined #lobby");
    erin.send("lobby", "anyone here?");
    await dave.waitForStdout("<erin> anyone here?");
    erin.leave("lobby");
    await dave.waitForStdout("*** erin left #lobby");
    erin.end();
    dave.end();
    expect(await dave.exitCode()).toBe(0);
  });

  it("survives a server restart: reconnects, rejoins, and delivers what was typed meanwhile", async () => {
    const first = await startTestServer();
    const cli = spawnCli(["--server", first.baseUrl, "--name", "judy"]);
    await cli.waitForStdout("joined #lobby as judy");
    cli.write("before");
    await cli.waitForStdout("<judy> before");

    await first.close();
    // One notice for the shutdown, not one for the event and another for the drop that follows.
    await cli.waitForStderr("chat: the server is shutting down; reconnecting (up to 20 attempts)");
    cli.write("during");
    await startTestServer({ port: first.port });
    await cli.waitForStdout("<judy> during");
    cli.end();

    expect(await cli.exitCode()).toBe(0);
    expect(cli.stdout.match(/<judy> during/g)).toHaveLength(1);
    expect(cli.stdout).toContain("rejoined #lobby as judy");
    expect(cli.stderr).toContain("reconnected to");
    expect((cli.stdout + cli.stderr).match(/shutting down/g)).toHaveLength(1);
    noStackTrace(cli.stderr);
  });

  it("reports a server that is not listening in one line and exits non-zero", async () => {
    const port = await closedPort();
    const cli = spawnCli(["--server", `http://127.0.0.1:${port}`, "--name", "frank"]);
    cli.write("hello?");
    cli.end();
    const code = await cli.exitCode();
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(cli.stderrLines).toEqual([`chat: cannot reach server http://127.0.0.1:${port}: connection refused`]);
    noStackTrace(cli.stderr);
    expect(cli.stdout).toBe("");
  });

  it("exits non-zero with a clear message when the nickname is taken", async () => {
    const server = await startTestServer();
    const holder = ChatTester.connect(server.baseUrl, "grace");
    holder.join("lobby");
    await holder.joined("lobby");

    const cli = spawnCli(["--server", server.baseUrl, "--name", "grace", "--room", "lobby"]);
    cli.write("this must not be sent");
    cli.end();
    expect(await cli.exitCode()).toBe(1);
    // One line: the refusal, not the error event and then the refusal again.
    expect(cli.stderrLines).toEqual(['chat: cannot join #lobby: nickname "grace" is already taken in room lobby']);
    // Nothing was posted under the taken name.
    expect(holder.messages()).toEqual([]);
    holder.end();
  });

  it("keeps going after a refused message, but says so and exits 1", async () => {
    const server = await startTestServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "heidi"]);
    cli.write("x".repeat(5000), "still here");
    cli.end();
    expect(await cli.exitCode()).toBe(1);
    expect(cli.stdout).toContain("<heidi> still here");
    expect(cli.stderr).toContain("at most 4096");
    noStackTrace(cli.stderr);
  });

  it("checks the room name with the server's rule before connecting: exit 2 and the rule", async () => {
    const port = await closedPort(); // nothing listens: the check must come first
    const cli = spawnCli(["--server", `http://127.0.0.1:${port}`, "--name", "ivan", "--room", "bad room!"]);
    cli.end();
    expect(await cli.exitCode()).toBe(2);
    expect(cli.stderrLines[0]).toBe(`chat: --room "bad room!": room name may contain only letters, digits, '.', '_' and '-'`);
    noStackTrace(cli.stderr);
  });

  it("at the end of input leaves cleanly: the others see it leave, not disconnect", async () => {
    const server = await startTestServer();
    const watcher = spawnCli(["--server", server.baseUrl, "--name", "watcher"]);
    await watcher.waitForStdout("joined #lobby as watcher");
    const cli = spawnCli(["--server", server.baseUrl, "--name", "kim"]);
    await watcher.waitForStdout("*** kim joined #lobby");
    cli.write("bye now");
    cli.end();
    expect(await cli.exitCode()).toBe(0);
    await watcher.waitForStdout("*** kim left #lobby");
    expect(watcher.stdout).toMatch(/^\*\*\* kim left #lobby$/m);
    expect(watcher.stdout).not.toContain("disconnected");
    watcher.end();
    expect(await watcher.exitCode()).toBe(0);
  });

  it("--history N shows only the N most recent messages on joining, 0 none", async () => {
    const server = await startTestServer();
    const writer = spawnCli(["--server", server.baseUrl, "--name", "writer"]);
    writer.write("one", "two", "three", "four");
    writer.end();
    expect(await writer.exitCode()).toBe(0);

    const two = spawnCli(["--server", server.baseUrl, "--name", "reader", "--history", "2"]);
    two.end();
    expect(await two.exitCode()).toBe(0);
    expect(two.stdoutLines.filter((l) => l.includes("<writer>")).map((l) => l.replace(/^.*<writer> /, ""))).toEqual(["three", "four"]);

    const none = spawnCli(["--server", server.baseUrl, "--name", "reader", "--history", "0"]);
    none.end();
    expect(await none.exitCode()).toBe(0);
    expect(none.stdout).toContain("joined #lobby as reader");
    expect(none.stdout).not.toContain("<writer>");

    const all = spawnCli(["--server", server.baseUrl, "--name", "reader"]);
    all.end();
    expect(await all.exitCode()).toBe(0);
    expect(all.stdout.match(/<writer>/g)).toHaveLength(4);

    const bad = spawnCli(["--name", "reader", "--history", "lots"]);
    expect(await bad.exitCode()).toBe(2);
    expect(bad.stderrLines[0]).toBe(`chat: --history must be an integer from 0 to 50 (got "lots")`);
  });

  it("rejects bad flags with a one-line error, the usage, and exit status 2", async () => {
    const unknown = spawnCli(["--nmae", "x"]);
    expect(await unknown.exitCode()).toBe(2);
    expect(unknown.stderrLines[0]).toBe("chat: Unknown option '--nmae'");
    expect(unknown.stderr).toContain("Usage:");

    const missing = spawnCli(["--room", "lobby"]);
    expect(await missing.exitCode()).toBe(2);
    expect(missing.stderrLines[0]).toBe("chat: --name is required");

    const help = spawnCli(["--help"]);
    expect(await help.exitCode()).toBe(0);
    expect(help.stdout).toContain("--max-retries");
  });
});
