/**
 * One user, a terminal and a page (issue 19's "done when"): a room read on
 * the page shows read in the terminal, because the read position is the
 * server's, not each client's. Ann creates #den in her terminal and goes back
 * to the lobby; bob posts twice; the terminal's /rooms says "2 unread". Ann
 * opens #den on her page (it is one of "my rooms"), which marks it read as it
 * shows it; her terminal's /rooms then lists #den with nothing unread.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { browserSuite, DESKTOP, haveBrowser, joined, newPage, sharedBrowser } from "./support/browser.js";
import { freePort } from "./support/free-port.js";
import { AUTH_SECRET, token } from "./support/rooms.js";
import { spawnServer } from "./support/server-process.js";
import { spawnTerminalCli, stopTerminalClis } from "./support/terminal.js";
import { waitUntilAsync } from "./support/wait.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;
const CLOCK = "\\[\\d\\d:\\d\\d\\]";

describeInBrowser(browserSuite("read positions shared by the page and the terminal"), () => {
  const chromium = sharedBrowser();
  afterEach(async () => {
    closeTesters();
    await stopTerminalClis();
  });

  it("a room read on the page shows read in the same user's terminal", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-cli-reads-")), "chat.db");
    const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort()), "--auth-secret", AUTH_SECRET]);
    const api = createChatClient(server.baseUrl, { token: await token("ann") });
    const den = async () => (await api.listRooms({ mine: true })).rooms.find((r) => r.name === "den");

    const terminal = spawnTerminalCli(["--server", server.baseUrl, "--name", "ann", "--token", await token("ann"), "--room", "lobby"]);
    await terminal.waitForLine("joined #lobby as ann");
    terminal.enter("/create den");
    await terminal.waitFor(() => terminal.cursorLine().startsWith("[#den] "), "ann in #den");
    terminal.enter("/switch lobby");
    await terminal.waitFor(() => terminal.cursorLine().startsWith("[#lobby] "), "ann back in the lobby");

    const bob = ChatTester.connect(server.baseUrl, "bob", { token: await token("bob") });
    bob.join("den", "");
    await bob.joined("den");
    bob.send("den", "first news");
    bob.send("den", "second news");
    await terminal.waitForLine(new RegExp(`^${CLOCK} #den <bob> second news$`));
    // In the background on the terminal: not read.
    terminal.enter("/rooms");
    await terminal.waitForLine(new RegExp(`^    \\* #den +public, owner +2 unread +${CLOCK} <bob> second news$`));

    const { page } = await newPage(chromium.browser, server.httpUrl!, DESKTOP);
    await page.getByLabel("Room", { exact: true }).fill("lobby");
    await page.getByText("Sign-in token").click();
    await page.getByLabel("Token", { exact: true }).fill(await token("ann"));
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await joined(page);
    // #den is one of ann's rooms: the page lists it with the server's count, and opening it reads it.
    const denButton = page.locator("#rooms button", { hasText: "#den" });
    await denButton.locator(".unread", { hasText: "2" }).waitFor();
    await denButton.click();
    await page.locator("#room-title", { hasText: "#den" }).waitFor();
    await page.getByText("second news").waitFor();
    const read = await waitUntilAsync(async () => {
      const r = await den();
      return r && r.unreadCount === 0 && r.readSeq === r.lastSeq ? r : undefined;
    }, "the page to mark #den read");
    expect(read.readSeq).toBeGreaterThan(0n);

    terminal.enter("/rooms");
    await terminal.waitFor(() => terminal.count(new RegExp(`^    \\* #den +public, owner +${CLOCK} <bob> second news$`)) === 1, "#den listed as read in the terminal");
    await page.close();
  });
});
