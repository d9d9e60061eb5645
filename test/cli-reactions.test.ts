/**
 * Reactions (issue 19) in the interactive terminal client, on
 * pseudo-terminals: /react and /unreact (emoji or a shortcode), a short line
 * for each reaction with the message's reactions now ("[👍 1 🎉 1*]", * on
 * one's own), and someone joining later sees them after the message line.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";

afterEach(async () => {
  await stopTerminalClis();
  await stopTestServers();
});

const CLOCK = "\\[\\d\\d:\\d\\d\\]";
const line = (text: string) => new RegExp(`^${CLOCK} ${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);

async function joinedAs(baseUrl: string, name: string): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name]);
  await t.waitForLine(`joined #lobby as ${name}`);
  await t.waitFor(() => t.cursorLine().startsWith("[#lobby] "), "the prompt");
  return t;
}

describe("reactions in the terminal", () => {
  it("/react and /unreact: a short line each, with the message's reactions now; a later joiner sees them on the message line", async () => {
    const server = await startTestServer();
    const alice = await joinedAs(server.baseUrl, "alice");
    const bob = await joinedAs(server.baseUrl, "bob");

    alice.enter("lunch at noon?");
    await bob.waitForLine(line("<alice> lunch at noon?"));

    bob.enter("/react 1 :+1:");
    await bob.waitForLine(line("* bob reacted 👍 to #1 (alice: lunch at noon?) [👍 1*]"));
    await alice.waitForLine(line("* bob reacted 👍 to #1 (alice: lunch at noon?) [👍 1]"));
    alice.enter("/react #1 🎉");
    await alice.waitForLine(line("* alice reacted 🎉 to #1 (alice: lunch at noon?) [👍 1 🎉 1*]"));
    await bob.waitForLine(line("* alice reacted 🎉 to #1 (alice: lunch at noon?) [👍 1* 🎉 1]"));

    // Already there: said, nothing sent.
    bob.enter("/react 1 👍");
    await bob.waitForLine("*** you already reacted 👍 to #1");
    bob.enter("/react 1 yes");
    await bob.waitForLine(/^!!! "yes" is not one emoji/);
    bob.enter("/react 99 👍");
    await bob.waitForLine(/^!!! could not react 👍 to #99 in #lobby: /);

    bob.enter("/unreact 1 :thumbsup:");
    await bob.waitForLine(line("* bob took 👍 off #1 (alice: lunch at noon?) [🎉 1]"));
    await alice.waitForLine(line("* bob took 👍 off #1 (alice: lunch at noon?) [🎉 1*]"));

    const carol = await joinedAs(server.baseUrl, "carol");
    await carol.waitForLine(line("<alice> lunch at noon? [🎉 1]"));
    // The join's recent messages are the room as it is now: no reaction lines among them.
    expect(carol.lines().filter((l) => / reacted | took /.test(l))).toEqual([]);

    bob.enter("/help");
    await bob.waitForLine(/^ {4}\/react <n> <emoji> {4}react to message number n/);
    await bob.waitForLine(/^ {4}\/unreact <n> <emoji> {2}take your reaction off/);
  });
});
