/** Big rooms in the terminal client (issue 9): compact presence and joined lines, never a huge list. */
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { spawnCli, stopCliProcesses } from "./support/cli-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(async () => {
  await stopCliProcesses();
  await stopTestServers();
});

describe("big rooms in the CLI", () => {
  it("the joined line of a large room shows the member count and the first names", async () => {
    const server = await startTestServer({ membersOnJoin: 3 });
    const members = Array.from({ length: 14 }, (_, i) => ChatTester.connect(server.baseUrl, `m${i + 1}`));
    for (const m of members) m.join("lobby");
    await Promise.all(members.map((m) => m.joined("lobby")));
    const cli = spawnCli(["--server", server.baseUrl, "--name", "alice"]);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
    expect(cli.stdoutLines[0]).toBe("*** joined #lobby as alice (15 members: m1, m2, m3, … and 12 more; /who lobby lists them)");
  });

  it("coalesced joins and leaves of a large room are one compact line each", async () => {
    const server = await startTestServer({ presenceThreshold: 1, presenceIntervalMs: 100 });
    const cli = spawnCli(["--server", server.baseUrl, "--name", "alice"]);
    await cli.waitForStdout("joined #lobby as alice");
    const first = ChatTester.connect(server.baseUrl, "first");
    first.join("lobby");
    await first.joined("lobby");
    // From here the room is over the threshold: joins come as presence digests.
    const crowd = Array.from({ length: 8 }, (_, i) => ChatTester.connect(server.baseUrl, `c${i + 1}`));
    for (const c of crowd) c.join("lobby");
    await Promise.all(crowd.map((c) => c.joined("lobby")));
    const presence = () => cli.stdoutLines.filter((l) => / joined #lobby \(\d+ members\): /.test(l));
    const joins = () => presence().reduce((n, l) => n + Number(/^\*\*\* (\d+) joined/.exec(l)?.[1] ?? 0), 0);
    await waitUntil(() => joins() === 9, `9 joins in presence lines\n${cli.stdout}`);
    // A line per digest (per interval), however many joined in it; at most 5 names each.
    expect(presence().length).toBeLessThan(9);
    for (const line of presence()) expect(line).toMatch(/^\*\*\* \d+ joined #lobby \(\d+ members\): \w+(, \w+){0,4}(, …)?$/);
    expect(cli.stdout).not.toMatch(/^\*\*\* c\d+ joined #lobby$/m);

    for (const c of crowd.slice(0, 3)) c.end();
    await cli.waitForStdout(/^\*\*\* \d+ left #lobby \(\d+ members\): /m);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  });
});
