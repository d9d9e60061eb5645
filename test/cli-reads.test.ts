/**
 * Read positions and mentions in the interactive terminal client, on
 * pseudo-terminals against a server that requires tokens: `@name` typed in a
 * message mentions that member (their line is marked), a mention in another
 * room is a line of its own, the room on screen is marked read as its
 * messages are shown (the server keeps it: /rooms counts what is unread),
 * and a later join of the same user draws the new-messages line where they
 * stopped reading.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createChatClient } from "../src/client/transport.js";
import { AUTH_SECRET, token } from "./support/rooms.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";
import { waitUntilAsync } from "./support/wait.js";

afterEach(async () => {
  await stopTerminalClis();
  await stopTestServers();
});

const CLOCK = "\\[\\d\\d:\\d\\d\\]";

async function signedIn(baseUrl: string, name: string, room = "lobby"): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name, "--token", await token(name), "--room", room]);
  await t.waitForLine(`joined #${room} as ${name}`);
  await t.waitFor(() => t.cursorLine().startsWith(`[#${room}] `), "the prompt");
  return t;
}

describe("read positions and mentions in the terminal", () => {
  it("@name mentions, the mention line elsewhere, the room on screen marked read, unread counts in /rooms, the new-messages line", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET });
    const api = createChatClient(server.baseUrl, { token: await token("alice") });
    const den = async () => (await api.listRooms({ mine: true })).rooms.find((r) => r.name === "den");
    const alice = await signedIn(server.baseUrl, "alice");
    const bob = await signedIn(server.baseUrl, "bob");

    alice.enter("/create den");
    await alice.waitFor(() => alice.cursorLine().startsWith("[#den] "), "alice in #den");
    bob.enter("/join den");
    await alice.waitForLine("*** bob joined #den");

    // A known member's @name is a mention: alice's line for it is marked. An unknown one is text.
    bob.enter("hello @alice and @nobody");
    await alice.waitForLine(new RegExp(`^${CLOCK} #den » <bob> hello @alice and @nobody$`));
    await bob.waitForLine(new RegExp(`^${CLOCK} #den <bob> hello @alice and @nobody$`));
    // Shown in the room on screen: read, and the server keeps it.
    const read = await waitUntilAsync(async () => { const r = await den(); return r && r.readSeq > 0n && r.readSeq === r.lastSeq ? r : undefined; }, "alice's position in #den stored up to its last message");
    expect(read).toMatchObject({ unreadCount: 0, mentionCount: 0, lastSeq: read.readSeq });

    // In another room, alice is told of a mention in #den by a line of its own; #den is not read.
    alice.enter("/switch lobby");
    await alice.waitFor(() => alice.cursorLine().startsWith("[#lobby] "), "alice in the lobby");
    bob.enter("@alice: over here");
    await alice.waitForLine("*** bob mentioned you in #den: @alice: over here");
    bob.enter("and more");
    await alice.waitForLine(new RegExp(`^${CLOCK} #den <bob> and more$`));
    alice.enter("/rooms");
    await alice.waitForLine(new RegExp(`^    \\* #den +public, owner +2 unread, 1 mention +${CLOCK} <bob> and more$`));
    expect(await den()).toMatchObject({ readSeq: read.readSeq, unreadCount: 2, mentionCount: 1 });

    // Another terminal of alice's joins #den: the line says where she stopped reading; showing it reads it.
    const laptop = await signedIn(server.baseUrl, "alice", "den");
    await laptop.waitForLine("--- new messages ---");
    const lines = laptop.lines();
    const at = lines.indexOf("--- new messages ---");
    expect(lines[at - 1]).toMatch(/<bob> hello @alice and @nobody$/);
    expect(lines[at + 1]).toMatch(/» <bob> @alice: over here$/);
    await waitUntilAsync(async () => (await den())?.unreadCount === 0 || undefined, "the laptop marked #den read");

    alice.enter("/rooms");
    await alice.waitFor(() => alice.count(new RegExp(`^    \\* #den +public, owner +${CLOCK} <bob> and more$`)) === 1, "#den listed as read");

    // Back on alice's first terminal, a message in #den while she is in the lobby stays unread until /switch shows her #den.
    laptop.enter("/quit");
    expect(await laptop.exitCode()).toBe(0);
    bob.enter("later");
    await alice.waitForLine(new RegExp(`^${CLOCK} #den <bob> later$`));
    await waitUntilAsync(async () => (await den())?.unreadCount === 1 || undefined, "#den unread again");
    alice.enter("/switch den");
    await waitUntilAsync(async () => (await den())?.unreadCount === 0 || undefined, "/switch marked #den read");
  });
});
