/**
 * The interactive client as a person meets it: on a pseudo-terminal, the
 * screen read back through a terminal emulator (test/support/terminal.ts).
 * Each test is one promise from issue 11 (and /who paging from issue 9).
 */
import { afterEach, describe, expect, it } from "vitest";
import { LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";
import { waitUntil } from "./support/wait.js";

afterEach(async () => {
  await stopTerminalClis();
  await stopTestServers();
  killServers();
});

async function joinedAs(baseUrl: string, name: string, extra: string[] = []): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name, ...extra]);
  await t.waitForLine(`joined #lobby as ${name}`);
  return t;
}

describe("interactive chat on a terminal", () => {
  it("a taken nickname: one error line, an offer to pick another, and /nick joins under it", async () => {
    const server = await startTestServer();
    const holder = ChatTester.connect(server.baseUrl, "grace");
    holder.join("lobby");
    await holder.joined("lobby");

    const t = spawnTerminalCli(["--server", server.baseUrl, "--name", "grace"]);
    await t.waitForLine("/nick NAME");
    expect(t.lines().filter((l) => l.includes("already taken"))).toEqual([
      'cannot join #lobby: nickname "grace" is already taken in room lobby; type /nick NAME to pick another nickname',
    ].map((l) => `!!! ${l}`));
    // Still in the room, waiting for a name, not in "no room".
    await t.waitFor(() => t.cursorLine().startsWith("[#lobby, not joined]"), "the prompt to say the room is not joined");

    t.enter("/nick grace2");
    await t.waitForLine("joined #lobby as grace2");
    await t.waitFor(() => t.cursorLine().startsWith("[#lobby] "), "the prompt to show the room");
    t.enter("hello as grace2");
    await holder.waitFor("message", (m) => m.sender === "grace2" && m.text === "hello as grace2");
    holder.end();
  });

  it("/nick renames in every room: the others see a rename, not a leave and a join, and messages carry the new name", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const t = await joinedAs(server.baseUrl, "alice");
    t.enter("/nick  ann ");
    await t.waitForLine("you are now ann");
    t.enter("renamed");
    const m = await bob.waitFor("message", (x) => x.text === "renamed");
    expect(m.sender).toBe("ann");
    expect(await bob.waitFor("memberRenamed")).toMatchObject({ room: "lobby", oldNickname: "alice", newNickname: "ann" });
    expect(bob.of("memberLeft")).toEqual([]);
    expect(bob.of("memberJoined").map((x) => x.member?.nickname)).toEqual(["alice"]);
    expect(t.count(/you left #lobby|rejoined/)).toBe(0);
    bob.end();
  });

  it("/nick to a taken, look-alike or invalid name is refused in one line: the old name and the room are kept, nobody sees anything", async () => {
    const server = await startTestServer();
    const holder = ChatTester.connect(server.baseUrl, "alicia");
    holder.join("lobby");
    await holder.joined("lobby");
    const t = await joinedAs(server.baseUrl, "bob");
    t.enter("/nick Alicia");
    await t.waitForLine("nickname not changed");
    t.enter("/nick al\u200Bice");
    await t.waitForLine("cannot change nickname");
    expect(t.lines().filter((l) => l.startsWith("!!!"))).toEqual([
      `!!! nickname not changed (#lobby: nickname "Alicia" is too much like "alicia", who is already in room lobby); you are still bob`,
      expect.stringMatching(/^!!! cannot change nickname to "al.?ice": .*; you are still bob$/),
    ]);
    await t.waitFor(() => t.cursorLine().startsWith("[#lobby] "), "the prompt to still show the room, joined");
    t.enter("still here");
    const m = await holder.waitFor("message", (x) => x.text === "still here");
    expect(m.sender).toBe("bob");
    expect(holder.of("memberLeft")).toEqual([]);
    expect(holder.of("memberRenamed")).toEqual([]);
    holder.end();
  });

  it("/join with a bad room name says what is wrong with the name, in one line", async () => {
    const server = await startTestServer();
    const t = await joinedAs(server.baseUrl, "alice");
    t.enter("/join bad room!");
    await t.waitForLine("cannot join");
    expect(t.lines().filter((l) => l.startsWith("!!!"))).toEqual([
      `!!! cannot join "bad room!": room name may contain only letters, digits, '.', '_' and '-'`,
    ]);
  });

  it("a line typed while in no room stays on screen, with the hint to /join", async () => {
    const server = await startTestServer();
    const t = await joinedAs(server.baseUrl, "alice");
    t.enter("/leave");
    await t.waitFor(() => t.cursorLine().startsWith("[no room]"), "no room");
    t.enter("do not lose me");
    await t.waitForLine("not sent: you are not in a room");
    const lines = t.lines();
    const typed = lines.findIndex((l) => l === "[no room] do not lose me");
    expect(typed).toBeGreaterThan(-1);
    expect(lines[typed + 1]).toBe("!!! not sent: you are not in a room; /join one first (↑ brings the line back)");
    // ↑ brings it back into the input line.
    t.type("\x1b[A");
    await t.waitFor(() => t.cursorLine() === "[no room] do not lose me", "the line recalled");
  });

  for (const [how, keys] of [
    ["/quit", "/quit\r"],
    ["Ctrl-D", "\x04"],
  ] as const) {
    it(`leaving with ${how} is shown to the others as leaving, not as a disconnection`, async () => {
      const server = await startTestServer();
      const bob = ChatTester.connect(server.baseUrl, "bob");
      bob.join("lobby");
      await bob.joined("lobby");
      const t = await joinedAs(server.baseUrl, "alice");
      t.enter("last words");
      await t.waitForLine("<alice> last words");
      t.type(keys);
      expect(await t.exitCode()).toBe(0);
      const left = await bob.waitFor("memberLeft", (m) => m.nickname === "alice");
      expect(left.reason).toBe(LeaveReason.LEFT);
      bob.end();
    });
  }

  it("typing: the others are told while the user types, and 'bob is typing…' shows in the status line until it expires", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    const t = await joinedAs(server.baseUrl, "alice");
    t.type("hel");
    await bob.waitFor("typing", (e) => e.nickname === "alice");
    t.type("lo there");
    t.type("\r");
    await bob.waitFor("message", (m) => m.text === "hello there");
    // Throttled: one indicator for the whole line.
    expect(bob.of("typing")).toHaveLength(1);

    bob.request({ command: { case: "typing", value: { room: "lobby" } } });
    await t.waitFor(() => t.aboveCursor() === "bob is typing…", "the status line to show bob typing");
    // Never printed as history: only the status row says it.
    expect(t.count(/is typing/)).toBe(1);
    await t.waitFor(() => !t.lines().some((l) => l.includes("is typing")), "the indicator to expire", 10_000);
    bob.end();
  });

  it("a server shutdown is one notice; reconnecting is one status line counting down; coming back is one line", async () => {
    const first = await startTestServer();
    const t = await joinedAs(first.baseUrl, "alice");
    await first.close();
    await t.waitFor(() => /^reconnecting, attempt \d+, (next try in \d+ s|trying now)/.test(t.aboveCursor()), "the reconnect status line");
    await t.waitFor(() => /attempt [3-9]/.test(t.aboveCursor()), "a few attempts", 15_000);
    const lines = t.lines();
    expect(lines.filter((l) => l.includes("shutting down"))).toEqual(["*** the server is shutting down"]);
    // Attempts update the one status row in place: nothing about them scrolled into the history.
    expect(lines.filter((l) => /reconnect/.test(l))).toHaveLength(1);
    expect(lines.join("\n")).not.toMatch(/http\/2|0x8|CANCEL/);

    await startTestServer({ port: first.port });
    await t.waitForLine(`*** reconnected to ${first.baseUrl}`, 15_000);
    await t.waitFor(() => !/reconnecting/.test(t.aboveCursor()), "the status line to go");
    expect(t.count(/reconnected to/)).toBe(1);
    expect(t.count(/rejoined #lobby as alice/)).toBe(1);
  });

  it("--server a,b: coming back on b says b, not the whole list", async () => {
    const a = await startTestServer();
    const b = await startTestServer();
    const t = await joinedAs(`${a.baseUrl},${b.baseUrl}`, "alice");
    await a.close();
    await t.waitForLine(`*** reconnected to ${b.baseUrl}`, 15_000);
    expect(t.count(/reconnected to .*,/)).toBe(0);
  });

  it("a dropped connection (server killed) is one plain line, then the status line", async () => {
    const server = await spawnServer(["--port", "0", "--store", "memory"]);
    const t = await joinedAs(server.baseUrl, "alice");
    server.child.kill("SIGKILL");
    await t.waitForLine("connection lost (");
    await t.waitFor(() => /^reconnecting, attempt [2-9]/.test(t.aboveCursor()), "the status line", 15_000);
    const lost = t.lines().filter((l) => l.includes("connection lost"));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(/^\*\*\* connection lost \((the connection|cannot reach server|connection reset)[^)]*\); reconnecting$/);
    expect(t.aboveCursor()).toMatch(/^reconnecting, attempt \d+, (next try in \d+ s|trying now) \(cannot reach server: connection refused\)$/);
    expect(t.count(/reconnect/)).toBe(2); // the one line, and the status row
  });

  it("/who pages through a big room's members with the total, and /who ROOM more continues", async () => {
    const server = await startTestServer();
    const members = Array.from({ length: 52 }, (_, i) => ChatTester.connect(server.baseUrl, `m${i + 1}`));
    for (const m of members) m.join("lobby");
    await Promise.all(members.map((m) => m.joined("lobby")));
    const t = await joinedAs(server.baseUrl, "alice");
    t.enter("/who");
    await t.waitForLine("#lobby (53 members): m1, m2");
    await t.waitForLine("*** … and 3 more: /who lobby more");
    const first = t.lines().find((l) => l.startsWith("*** #lobby (53 members)"))!;
    expect(first.split(", ")).toHaveLength(50);
    t.enter("/who lobby more");
    await t.waitForLine("*** #lobby, members 51 to 53 of 53: m51, m52, alice");
    t.enter("/rooms");
    await t.waitForLine(/^    \* #lobby  53 members  no messages yet$/);
  });
});
