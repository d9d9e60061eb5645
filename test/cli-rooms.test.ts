/**
 * Rooms with state in the interactive terminal client (issue 18, item 8), on
 * pseudo-terminals against a server that requires tokens: two users exchange
 * direct messages with /msg (the room shown as @user, never as dm.<hash>;
 * the other one told at once and joined to it),
 * and the owner of a public room bans the other, who is told who and why and
 * whose prompt leaves the room.
 */
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { spawnCli, stopCliProcesses } from "./support/cli-process.js";
import { createRoom, moderate, RoomActionKind } from "./support/rooms.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";

afterEach(async () => {
  await stopTerminalClis();
  await stopCliProcesses();
  await stopTestServers();
});

const secret = "cli-rooms-test-secret-of-at-least-32-bytes";
const CLOCK = "\\[\\d\\d:\\d\\d\\]";
/** The moment a line's "until [YYYY-MM-DD ]HH:MM" names, read as the client prints it: local time, today unless dated. */
function shownMoment(line: string): number {
  const m = / until (?:(\d{4})-(\d\d)-(\d\d) )?(\d\d):(\d\d):/.exec(line);
  if (!m) throw new Error(`no "until" time in: ${line}`);
  const now = new Date();
  const [y, mo, d] = m[1] ? [Number(m[1]), Number(m[2]) - 1, Number(m[3])] : [now.getFullYear(), now.getMonth(), now.getDate()];
  return new Date(y, mo, d, Number(m[4]), Number(m[5])).getTime();
}
const mint = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(secret));

async function signedIn(baseUrl: string, name: string): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name, "--token", await mint(name), "--room", "lobby"]);
  await t.waitForLine(`joined #lobby as ${name}`);
  await t.waitFor(() => t.cursorLine().startsWith("[#lobby] "), "the prompt");
  return t;
}

describe("rooms with state in the terminal", () => {
  it("two signed-in users exchange direct messages with /msg; the room is @user on screen and in /rooms", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await signedIn(server.baseUrl, "alice");
    const bob = await signedIn(server.baseUrl, "bob");

    alice.enter("/msg bob are you there?");
    await alice.waitForLine("*** joined direct messages with @bob as alice");
    await alice.waitFor(() => alice.cursorLine().startsWith("[@bob] "), "the prompt in the conversation with bob");
    await alice.waitForLine(new RegExp(`^${CLOCK} @bob <alice> are you there\\?$`));

    // Bob is told at once (the DM push): the conversation is joined, the line says how to answer.
    await bob.waitForLine("*** alice opened a direct conversation with you: /switch @alice to answer");
    await bob.waitForLine("*** joined direct messages with @alice as bob");
    await bob.waitForLine(new RegExp(`^${CLOCK} @alice <alice> are you there\\?$`));
    expect(bob.cursorLine()).toMatch(/^\[#lobby\] /);

    // Bob opens the same conversation from his side, and finds alice's message in it.
    bob.enter("/msg alice");
    await bob.waitForLine("*** joined direct messages with @alice as bob");
    await bob.waitForLine(new RegExp(`^${CLOCK} @alice <alice> are you there\\?$`));
    await bob.waitFor(() => bob.cursorLine().startsWith("[@alice] "), "bob's prompt in the conversation");
    bob.enter("yes, all ears");
    await alice.waitForLine(new RegExp(`^${CLOCK} @bob <bob> yes, all ears$`));

    // Back to the lobby and to the conversation by its @name.
    alice.enter("/switch lobby");
    await alice.waitFor(() => alice.cursorLine().startsWith("[#lobby] "), "the lobby prompt");
    alice.enter("/switch @bob");
    await alice.waitFor(() => alice.cursorLine().startsWith("[@bob] "), "back in the conversation");

    bob.enter("/rooms");
    await bob.waitForLine("*** your rooms and direct messages (* = joined):");
    await bob.waitForLine(new RegExp(`^    \\* @alice +direct +${CLOCK} <bob> yes, all ears$`));
    // The dm.<hash> name is the server's business, never shown.
    expect(alice.lines().join("\n")).not.toMatch(/dm\.[0-9a-f]/);
    expect(bob.lines().join("\n")).not.toMatch(/dm\.[0-9a-f]/);
  });

  it("the owner of a public room bans the other: action lines for the room, the banned one told why and out of the room", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = await signedIn(server.baseUrl, "alice");
    const bob = await signedIn(server.baseUrl, "bob");

    alice.enter("/create town all things town");
    await alice.waitForLine("*** joined #town as alice (1 member: alice)");
    await alice.waitForLine("*** topic: all things town");
    bob.enter("/join town");
    await bob.waitForLine("*** joined #town as bob (2 members: alice, bob)");
    await bob.waitForLine("*** topic: all things town");
    await bob.waitFor(() => bob.cursorLine().startsWith("[#town] "), "bob's prompt in town");

    // A visitor may not ban: said in one line, nothing changes.
    bob.enter("/ban alice");
    await bob.waitForLine(/^!!! could not ban alice in #town: only a moderator or an owner may ban$/);

    bob.enter("/who");
    await bob.waitForLine("*** #town (2 members): alice (owner), bob");
    alice.enter("/topic no spam please");
    await bob.waitForLine(new RegExp(`^${CLOCK} #town \\* alice set the topic: no spam please$`));

    const banSentAt = Date.now();
    alice.enter("/ban bob 1h spam");
    await alice.waitForLine(new RegExp(`^${CLOCK} #town \\* bob was banned by alice until .+: spam$`));
    // The end is shown as a local time, with its date when that is not today (a ban an hour before midnight).
    const banned = await bob.waitForLine(/^!!! you were banned from #town by alice until (?:\d{4}-\d\d-\d\d )?\d\d:\d\d: spam; you cannot rejoin it$/);
    expect(shownMoment(banned) - (banSentAt + 3_600_000)).toBeGreaterThan(-61_000);
    expect(shownMoment(banned) - (Date.now() + 3_600_000)).toBeLessThan(1_000);
    await bob.waitFor(() => bob.cursorLine().startsWith("[#lobby] "), "bob's prompt back in the lobby");
    expect(bob.lines().some((l) => /you left #town/.test(l))).toBe(false);

    bob.enter("/join town");
    await bob.waitForLine(/^!!! could not join #town: you are banned from room town until .+: spam$/);
    await bob.waitFor(() => bob.cursorLine().startsWith("[#lobby] "), "bob still in the lobby");

    alice.enter("/unban bob");
    await alice.waitForLine(new RegExp(`^${CLOCK} #town \\* bob was unbanned by alice$`));
  });

  it("scripted (piped): a banned client says who and why once, stops reading, and exits 1", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = ChatTester.connect(server.baseUrl, "alice", { token: await mint("alice") });
    createRoom(alice, "town", { nickname: "alice" });
    await alice.joined("town");
    const bob = spawnCli(["--server", server.baseUrl, "--name", "bob", "--room", "town", "--token", await mint("bob")]);
    await bob.waitForStdout("joined #town as bob");
    bob.write("hello town");
    await alice.waitFor("message", (m) => m.text === "hello town");
    moderate(alice, "town", RoomActionKind.BAN, { targetUser: "bob", reason: "spam" });
    expect(await bob.exitCode()).toBe(1);
    expect(bob.stderrLines).toEqual(["chat: you were banned from #town by alice: spam; you cannot rejoin it"]);
    expect(bob.stdout).not.toMatch(/you left #town/);
  });
});
