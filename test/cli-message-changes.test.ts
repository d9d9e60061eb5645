/**
 * Messages that change (issue 19) in the interactive terminal client, on
 * pseudo-terminals: /seq shows message numbers, /reply quotes, /edit and
 * /delete. A terminal cannot rewrite a printed line, so a change is a short
 * line of its own; someone joining later sees the room as it is now
 * ("(edited)", the tombstone, the reply quoting it).
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

describe("edits, deletes and replies in the terminal", () => {
  it("/seq, /reply, /edit and /delete: each change a short line, refusals said, a later joiner sees the room as it is now", async () => {
    const server = await startTestServer();
    const alice = await joinedAs(server.baseUrl, "alice");
    const bob = await joinedAs(server.baseUrl, "bob");

    alice.enter("helo everyone");
    await bob.waitForLine(line("<alice> helo everyone"));
    bob.enter("/seq");
    await bob.waitForLine("*** message numbers shown (#12): /edit, /delete, /reply and /react take them; /seq off hides them");
    bob.enter("/reply 1 hi alice");
    await bob.waitForLine("    ↳ alice #1: helo everyone");
    await bob.waitForLine(line("#2 <bob> hi alice"));
    await alice.waitForLine("    ↳ alice: helo everyone");
    await alice.waitForLine(line("<bob> hi alice"));

    alice.enter("/edit 1 hello everyone");
    await alice.waitForLine(line("* alice edited #1: hello everyone"));
    await bob.waitForLine(line("* alice edited #1: hello everyone"));

    // Not bob's to edit nor delete: refused, once, with the number.
    bob.enter("/edit #1 hijacked");
    await bob.waitForLine(/^!!! could not edit #1 in #lobby: /);
    bob.enter("/delete 1");
    await bob.waitForLine(/^!!! could not delete #1 in #lobby: /);
    bob.enter("/edit one two");
    await bob.waitForLine(/^!!! usage: \/edit <n> <new text>/);

    alice.enter("/delete 1");
    await bob.waitForLine(line("* alice deleted #1"));
    await alice.waitForLine(line("* alice deleted #1"));
    // The client knows it is gone: no second try goes out.
    alice.enter("/edit 1 resurrected");
    await alice.waitForLine("!!! could not edit #1: message #1 was deleted");

    const carol = await joinedAs(server.baseUrl, "carol");
    await carol.waitForLine(line("<alice> (message deleted)"));
    await carol.waitForLine("    ↳ alice: message deleted");
    await carol.waitForLine(line("<bob> hi alice"));
    // The join's recent messages are the room as it is now: no change lines among them.
    expect(carol.lines().filter((l) => / edited #| deleted #/.test(l))).toEqual([]);
    expect(alice.lines().join("\n")).not.toContain("hijacked");

    bob.enter("/help");
    await bob.waitForLine(/^ {4}\/edit <n> <text> {2}replace the text of your message number n/);
  });
});
