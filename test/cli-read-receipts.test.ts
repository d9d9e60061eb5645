/**
 * Read receipts in the interactive terminal client, on a pseudo-terminal
 * against a server that requires tokens: the signed-in terminal marks its
 * current room read as messages arrive (the others get a receipt), says who
 * has read the last message in its status line, lists receipts with
 * /receipts, and the owner turns them off with /receipts off.
 */
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { stopCliProcesses } from "./support/cli-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { spawnTerminalCli, stopTerminalClis, type TerminalCli } from "./support/terminal.js";

afterEach(async () => {
  await stopTerminalClis();
  await stopCliProcesses();
  await stopTestServers();
});

const secret = "cli-receipts-test-secret-of-at-least-32-bytes";
const CLOCK = "\\[\\d\\d:\\d\\d\\]";
const mint = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(secret));

async function signedIn(baseUrl: string, name: string): Promise<TerminalCli> {
  const t = spawnTerminalCli(["--server", baseUrl, "--name", name, "--token", await mint(name), "--room", "lobby"]);
  await t.waitForLine(`joined #lobby as ${name}`);
  await t.waitFor(() => t.cursorLine().startsWith("[#lobby] "), "the prompt");
  return t;
}

describe("read receipts in the terminal", () => {
  it("marks the current room read, shows 'seen by' in the status line, lists them with /receipts, and /receipts off turns them off (and /receipts says so)", async () => {
    const server = await startTestServer({ authSecret: secret, presenceIntervalMs: 100 });
    const alice = await signedIn(server.baseUrl, "alice");
    alice.enter("/create town");
    await alice.waitForLine("*** joined #town as alice (1 member: alice)");
    await alice.waitFor(() => alice.cursorLine().startsWith("[#town] "), "alice's prompt in town");
    alice.enter("/receipts");
    await alice.waitForLine("*** nobody else has read #town yet");
    const bob = ChatTester.connect(server.baseUrl, "bob", { token: await mint("bob") });
    bob.join("town", "");
    await bob.joined("town");

    const id = bob.send("town", "anyone home?");
    const seq = (await bob.waitFor("message", (m) => m.clientMsgId === id)).seq;
    await alice.waitForLine(new RegExp(`^${CLOCK} #town <bob> anyone home\\?$`));
    // Alice's terminal read it: Bob gets her receipt.
    await bob.waitFor("readReceipts", (e) => e.receipts.some((r) => r.userId === "alice" && r.readSeq === seq));

    bob.request({ command: { case: "markRead", value: { room: "town", seq } } });
    await alice.waitFor(() => alice.aboveCursor().includes("seen by bob"), "'seen by bob' in the status line");
    alice.enter("/receipts");
    await alice.waitForLine(`*** read in #town: bob up to #${seq}`);

    alice.enter("/receipts off");
    await alice.waitForLine(new RegExp(`^${CLOCK} #town \\* alice turned read receipts off$`));
    await alice.waitFor(() => !alice.aboveCursor().includes("seen by"), "the status line without receipts");
    alice.enter("/receipts");
    await alice.waitForLine("*** read receipts are off in #town (a moderator turns them on with /receipts on)");
    expect(alice.lines().some((l) => /^!!!/.test(l))).toBe(false);
  });
});
