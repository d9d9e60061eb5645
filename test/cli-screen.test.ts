/**
 * The interactive client as a newcomer meets it (issue 17): Ctrl-C as in a
 * shell, /rooms that says when and what was last said, and which lines carry
 * their room. On a pseudo-terminal, the screen read back through a terminal
 * emulator (test/support/terminal.ts).
 */
import { afterEach, describe, expect, it } from "vitest";
import { LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";

afterEach(async () => {
  await stopTerminalClis();
  closeTesters();
  await stopTestServers();
});

const CLOCK = "\\[\\d\\d:\\d\\d\\]";

async function joinedAs(baseUrl: string, name: string, room = "lobby"): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name, "--room", room]);
  await t.waitForLine(`joined #${room} as ${name}`);
  await t.waitFor(() => t.cursorLine().startsWith(`[#${room}] `), "the prompt");
  return t;
}

async function member(baseUrl: string, name: string, ...rooms: string[]): Promise<ChatTester> {
  const m = ChatTester.connect(baseUrl, name);
  for (const room of rooms) m.join(room);
  for (const room of rooms) await m.joined(room);
  return m;
}

describe("Ctrl-C as in a shell", () => {
  it("with a half-typed line it clears the line and keeps running; ↑ brings the line back", async () => {
    const server = await startTestServer();
    const bob = await member(server.baseUrl, "bob", "lobby");
    const t = await joinedAs(server.baseUrl, "alice");
    t.type("half a thou");
    await t.waitFor(() => t.cursorLine() === "[#lobby] half a thou", "the draft on the input line");
    t.type("\x03");
    await t.waitForLine("*** line cleared (↑ brings it back); Ctrl+C again or Ctrl+D quits");
    await t.waitFor(() => t.cursorLine() === "[#lobby] ", "an empty input line");
    // Still connected and in the room: the others saw no leave, and a message still goes out.
    t.enter("still here");
    await bob.waitFor("message", (m) => m.sender === "alice" && m.text === "still here");
    expect(bob.of("memberLeft")).toEqual([]);
    // The draft was not sent, and is not lost.
    expect(bob.messages().map((m) => m.text)).toEqual(["still here"]);
    t.type("\x1b[A\x1b[A");
    await t.waitFor(() => t.cursorLine() === "[#lobby] half a thou", "the cleared draft recalled with ↑");
  });

  it("a second Ctrl-C (the line now empty) quits cleanly: the others see a leave, not a disconnection", async () => {
    const server = await startTestServer();
    const bob = await member(server.baseUrl, "bob", "lobby");
    const t = await joinedAs(server.baseUrl, "alice");
    t.type("never mind");
    t.type("\x03");
    await t.waitForLine("*** line cleared (↑ brings it back); Ctrl+C again or Ctrl+D quits");
    await t.waitFor(() => t.cursorLine() === "[#lobby] ", "the line cleared");
    expect(bob.of("memberLeft")).toEqual([]);
    t.type("\x03");
    expect(await t.exitCode()).toBe(0);
    const left = await bob.waitFor("memberLeft", (m) => m.nickname === "alice");
    expect(left.reason).toBe(LeaveReason.LEFT);
  });
});

describe("/rooms", () => {
  it("shows when and what was last said in each room, not a sequence number", async () => {
    const server = await startTestServer();
    const bob = await member(server.baseUrl, "bob", "lobby", "dev");
    bob.send("dev", "first");
    bob.send("dev", "the build is green again, ship it before lunch please");
    await bob.messageCount(2, "dev");
    const t = await joinedAs(server.baseUrl, "alice");
    t.enter("/rooms");
    await t.waitForLine("*** rooms (* = joined):");
    await t.waitFor(() => t.count(/^    [* ] #(dev|lobby) /) === 2, "a row for each room");
    const rows = t.lines().filter((l) => /^    [* ] #/.test(l));
    expect(rows[0]).toMatch(new RegExp(`^      #dev    1 member   ${CLOCK} <bob> the build is green again, ship it befor…$`));
    expect(rows[1]).toBe("    * #lobby  2 members  no messages yet");
    expect(t.lines().join("\n")).not.toMatch(/last message #/);
  });
});

describe("which lines name their room", () => {
  it("in one room lines leave #room out; in two or more every line names its room, the current one too", async () => {
    const server = await startTestServer();
    const bob = await member(server.baseUrl, "bob", "lobby", "dev");
    const t = await joinedAs(server.baseUrl, "alice");
    bob.send("lobby", "just the one room");
    await t.waitForLine(new RegExp(`^${CLOCK} <bob> just the one room$`));

    t.enter("/join dev");
    await t.waitForLine("joined #dev as alice");
    await t.waitFor(() => t.cursorLine().startsWith("[#dev] "), "#dev the current room");
    bob.send("dev", "said in dev");
    bob.send("lobby", "said in lobby");
    await t.waitForLine(new RegExp(`^${CLOCK} #dev <bob> said in dev$`));
    await t.waitForLine(new RegExp(`^${CLOCK} #lobby <bob> said in lobby$`));

    t.enter("/leave dev");
    await t.waitForLine("you left #dev");
    bob.send("lobby", "one room again");
    await t.waitForLine(new RegExp(`^${CLOCK} <bob> one room again$`));
  });
});
