/**
 * How a room reads in the web page, in Chromium: an empty room says so; joins
 * and leaves show as quiet lines (digests in a big room); consecutive messages
 * from one sender are grouped under one name and time; our own stand out; day
 * lines separate days (messages from earlier days come from a real SQLite
 * history whose times the test moved back while the server was stopped); the
 * newest message sits at the bottom and the view stays there, unless the
 * reader scrolled up; the unread badge's number sits in the middle of its
 * circle. Screenshots at desktop and phone sizes go to test-artifacts/.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { spawnCli, type CliProcess } from "./support/cli-process.js";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { spawnTerminalCli } from "./support/terminal.js";
import { waitUntil, waitUntilAsync } from "./support/wait.js";
import { artifacts, browserSuite, DESKTOP, haveBrowser, sharedBrowser, openSignedIn, PHONE, say, shown, shownCount } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;

async function startServer(db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db"), extra: string[] = []) {
  const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort()), ...extra]);
  return { ...server, url: server.httpUrl!, db };
}

const printedCount = (cli: CliProcess) => cli.stdoutLines.filter((l) => l.includes('"message"')).length;

/** The log's items as the reader sees them: day lines, quiet lines, and messages (grouped ones marked "…"). */
const rows = (page: Page, room = "lobby") =>
  page.$$eval(`ol[data-room="${room}"] > li:not([hidden])`, (items) =>
    items.map((li) => {
      if (li.classList.contains("day")) return `-- ${li.textContent} --`;
      if (li.classList.contains("empty")) return `(empty) ${li.querySelector("p")!.textContent}`;
      if (!li.classList.contains("msg")) return `(${li.querySelector("span")!.textContent})`;
      const text = li.querySelector(".text")!.textContent;
      return li.classList.contains("cont") ? `  … ${text}` : `${li.querySelector(".sender")!.textContent}: ${text}`;
    }),
  );

describeInBrowser(browserSuite("a room in the web page reads like a conversation"), () => {
  const chromium = sharedBrowser();

  it("an empty room says so; joins and leaves are quiet lines; one sender's run of messages is one group; ours stand out", async () => {
    const server = await startServer();
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    const empty = ann.locator('ol[data-room="lobby"] li.empty');
    await empty.waitFor();
    expect(await empty.textContent()).toContain("No messages yet — say hello");
    await ann.screenshot({ path: join(artifacts, "web-empty-room-desktop.png") });

    const { page: bob } = await openSignedIn(chromium.browser, server.url, "bob", PHONE);
    await bob.screenshot({ path: join(artifacts, "web-empty-room-phone.png") });
    await ann.locator("li.presence", { hasText: "bob joined" }).waitFor();
    await say(bob, "hi ann");
    await say(bob, "are you there?");
    await say(bob, "I have news");
    await shownCount(ann, 3);
    await say(ann, "here!");
    await shownCount(bob, 4);
    await say(ann, "tell me");
    await say(bob, "the build is green");
    await shownCount(ann, 6);
    expect(await empty.isHidden()).toBe(true);
    expect(await rows(ann)).toEqual([
      "-- Today --",
      "(bob joined)",
      "bob: hi ann",
      "  … are you there?",
      "  … I have news",
      "ann: here!",
      "  … tell me",
      "bob: the build is green",
    ]);
    // Name and time once per group: the later messages keep them for screen readers only.
    const seen = await ann.$$eval('ol[data-room="lobby"] .sender', (names) => names.filter((n) => n.closest(".meta")!.getBoundingClientRect().width > 2).map((n) => n.textContent));
    expect(seen).toEqual(["bob", "ann", "bob"]);
    expect(await ann.locator('ol[data-room="lobby"] .sender').count()).toBe(6);
    expect(await ann.locator("li.msg.mine").count()).toBe(2);
    expect(await ann.locator("li.msg.mine .you").first().textContent()).toBe("you");
    expect(await bob.locator("li.msg.mine").count()).toBe(4);

    // The newest message at the bottom of the pane, right above the typing line.
    const gap = await ann.evaluate(() => {
      const log = document.querySelector('ol[data-room="lobby"]')!;
      const last = log.querySelector("li:last-child")!;
      return log.getBoundingClientRect().bottom - last.getBoundingClientRect().bottom;
    });
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThan(30);
    await ann.screenshot({ path: join(artifacts, "web-conversation-desktop.png") });
    await bob.screenshot({ path: join(artifacts, "web-conversation-phone.png") });

    await bob.getByRole("button", { name: "Leave room" }).click();
    await ann.locator("li.presence", { hasText: "bob left" }).waitFor();
    await ann.locator("#members li").filter({ hasText: "bob" }).waitFor({ state: "detached" });
  }, 90_000);

  it("a big room's joins and leaves come as presence digests, shown as quiet lines", async () => {
    const server = await startServer(undefined, ["--presence-threshold", "2", "--presence-interval-ms", "100"]);
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    const clis = ["carl", "dora", "eve"].map((name) => spawnCli(["--server", server.baseUrl, "--name", name, "--room", "lobby", "--json"]));
    await ann.locator("li.presence", { hasText: "eve" }).waitFor();
    await ann.locator("#member-count", { hasText: "4 members" }).waitFor();
    clis[2].end();
    await ann.locator("li.presence", { hasText: /eve (left|disconnected)/ }).waitFor();
    const lines = await ann.locator("li.presence span").allTextContents();
    // Somewhere: "… joined (N members now)", one line per digest, every joiner named once.
    expect(lines.some((l) => /joined \(\d members now\)$/.test(l))).toBe(true);
    for (const name of ["carl", "dora", "eve"]) expect(lines.filter((l) => l.includes(`${name} joined`) || new RegExp(`${name}(,| and) .*joined`).test(l)).length).toBe(1);
    await ann.screenshot({ path: join(artifacts, "web-presence-digest-desktop.png") });
  }, 60_000);

  it("messages from earlier days get day lines (a real history moved back in time)", async () => {
    let server = await startServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    cli.write("three days ago", "still three days ago", "yesterday", "today");
    await waitUntil(() => printedCount(cli) >= 4 || undefined, "the terminal client's 4 messages", 20_000);
    cli.end();
    await cli.exitCode();
    server.child.kill("SIGTERM");
    await server.exited;
    // The server stopped: move the first three messages back, as if sent on earlier days.
    const db = new Database(server.db);
    const noon = (daysAgo: number) => {
      const d = new Date();
      return new Date(d.getFullYear(), d.getMonth(), d.getDate() - daysAgo, 12, 0).getTime();
    };
    const move = db.prepare("UPDATE messages SET sent_at_ms = ? WHERE room = 'lobby' AND seq = ?");
    move.run(noon(3), 1);
    move.run(noon(3) + 60_000, 2);
    move.run(noon(1), 3);
    db.close();
    server = await startServer(server.db);

    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    await shownCount(ann, 4);
    const threeDaysAgo = await ann.evaluate((t) => new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(new Date(t)), noon(3));
    expect(await rows(ann)).toEqual([`-- ${threeDaysAgo} --`, "cli: three days ago", "  … still three days ago", "-- Yesterday --", "cli: yesterday", "-- Today --", "cli: today"]);
    await say(ann, "and now");
    await shownCount(ann, 5);
    expect((await rows(ann)).slice(-3)).toEqual(["-- Today --", "cli: today", "ann: and now"]);
    await ann.screenshot({ path: join(artifacts, "web-day-separators-desktop.png") });
    const { page: phone } = await openSignedIn(chromium.browser, server.url, "bob", PHONE);
    await shownCount(phone, 5);
    await phone.screenshot({ path: join(artifacts, "web-day-separators-phone.png") });
  }, 90_000);

  it("the README's picture: three people in #lobby, one on a terminal, across two days", async () => {
    let server = await startServer();
    const early = spawnCli(["--server", server.baseUrl, "--name", "kim", "--room", "lobby", "--json"]);
    early.write("Morning! The staging deploy is done.", "Release notes are in the usual place.");
    await waitUntil(() => printedCount(early) >= 2 || undefined, "kim's 2 messages", 20_000);
    early.end();
    await early.exitCode();
    server.child.kill("SIGTERM");
    await server.exited;
    const db = new Database(server.db);
    const d = new Date();
    const yesterday = new Date(d.getFullYear(), d.getMonth(), d.getDate() - 1, 9, 41).getTime();
    db.prepare("UPDATE messages SET sent_at_ms = ? + (seq - 1) * 60000 WHERE room = 'lobby'").run(yesterday);
    db.close();
    server = await startServer(server.db);

    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    await shownCount(ann, 2);
    const { page: bob } = await openSignedIn(chromium.browser, server.url, "bob", PHONE);
    await ann.locator("li.presence", { hasText: "bob joined" }).waitFor();
    const kim = spawnCli(["--server", server.baseUrl, "--name", "kim", "--room", "lobby", "--json"]);
    await ann.locator("li.presence", { hasText: "kim joined" }).waitFor();
    await say(bob, "Hi all, is the new build out?");
    await shownCount(ann, 3);
    kim.write("Yes, since this morning.");
    await shownCount(ann, 4);
    kim.write("Ping me if anything looks off.");
    await shownCount(ann, 5);
    await say(ann, "Thanks kim! Trying it now.");
    await shownCount(ann, 6);
    await say(ann, "Looks good from the chromium.browser, too.");
    await shownCount(bob, 7);
    expect((await rows(ann)).filter((r) => r.startsWith("--"))).toEqual(["-- Yesterday --", "-- Today --"]);
    await ann.locator("#composer-input").fill("Shall we ship it?");
    await ann.mouse.move(0, 0);
    await ann.screenshot({ path: join(artifacts, "web-client.png") });
    await bob.mouse.move(0, 0);
    await bob.screenshot({ path: join(artifacts, "web-client-phone.png") });
    kim.end();
    await kim.exitCode();
  }, 90_000);

  it("the view stays at the newest message, but not when the reader scrolled up; unread counts sit centred in their badge", async () => {
    const server = await startServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    cli.write(...Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
    await waitUntil(() => printedCount(cli) >= 40 || undefined, "the terminal client's 40 messages", 20_000);
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    await shownCount(ann, 40);
    const scroll = () => ann.evaluate(() => {
      const log = document.querySelector<HTMLElement>('ol[data-room="lobby"]')!;
      return { top: log.scrollTop, fromBottom: log.scrollHeight - log.scrollTop - log.clientHeight };
    });
    expect((await scroll()).fromBottom).toBeLessThan(2);
    cli.write("line 41");
    await shownCount(ann, 41);
    expect((await scroll()).fromBottom).toBeLessThan(2);

    // Scrolled up to read: a new message does not pull the view down.
    await ann.evaluate(() => (document.querySelector<HTMLElement>('ol[data-room="lobby"]')!.scrollTop = 100));
    cli.write("line 42");
    await shownCount(ann, 42);
    expect((await scroll()).top).toBe(100);
    // ... but says it is there, and goes to it on request.
    const jump = ann.getByRole("button", { name: "1 new message ↓" });
    await jump.waitFor();
    await ann.screenshot({ path: join(artifacts, "web-new-below-desktop.png") });
    await jump.click();
    expect((await scroll()).fromBottom).toBeLessThan(2);
    expect(await jump.isHidden()).toBe(true);

    // Unread in another room: the badge is a circle with its number in the middle.
    await ann.getByLabel("Join a room").fill("second");
    await ann.getByLabel("Join a room").press("Enter");
    await ann.locator("#member-count", { hasText: "1 member" }).waitFor();
    cli.write("line 43");
    const badge = ann.locator("#rooms button", { hasText: "#lobby" }).locator(".unread");
    await badge.waitFor();
    expect(await badge.textContent()).toBe("1");
    const geometry = await badge.evaluate((node) => {
      const box = node.getBoundingClientRect();
      const range = document.createRange();
      range.selectNodeContents(node);
      const text = range.getBoundingClientRect();
      return { width: box.width, height: box.height, offset: text.top + text.height / 2 - (box.top + box.height / 2) };
    });
    expect(Math.abs(geometry.width - geometry.height)).toBeLessThan(1);
    expect(Math.abs(geometry.offset)).toBeLessThan(1.5);
    await ann.locator("#rooms").screenshot({ path: join(artifacts, "web-unread-badge.png") });
    cli.end();
    await cli.exitCode();
  }, 90_000);

  it("the newest line stays in sight when the log gets shorter under it (the byte count appears under the message box)", async () => {
    const server = await startServer();
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    cli.write(...Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    await waitUntil(() => printedCount(cli) >= 30 || undefined, "the terminal client's 30 messages", 20_000);
    const { page } = await openSignedIn(chromium.browser, server.url, "ann", PHONE);
    await shownCount(page, 30);
    const fromBottom = () => page.evaluate(() => {
      const log = document.querySelector<HTMLElement>('ol[data-room="lobby"]')!;
      return log.scrollHeight - log.scrollTop - log.clientHeight;
    });
    expect(await fromBottom()).toBeLessThan(2);
    const before = await page.locator('ol[data-room="lobby"]').evaluate((log) => log.clientHeight);
    await page.locator("#composer-input").fill("é".repeat(2100)); // 4,200 bytes: two lines of "too long" under the box
    await page.locator("#composer-count", { hasText: "Too long to send" }).waitFor();
    await waitUntilAsync(async () => (await page.locator('ol[data-room="lobby"]').evaluate((log) => log.clientHeight)) < before, "the log to get shorter");
    await waitUntilAsync(async () => (await fromBottom()) < 2, "the newest line still in sight", 3000);
    await page.screenshot({ path: join(artifacts, "web-count-keeps-newest-phone.png") });
    cli.end();
    await cli.exitCode();
  }, 60_000);

  it("on a phone, the folded 'Rooms and members' button says how many messages are unread in the other rooms", async () => {
    const server = await startServer();
    const { page } = await openSignedIn(chromium.browser, server.url, "ann", PHONE);
    const toggle = page.locator("#toggle-side");
    await toggle.click();
    await page.getByLabel("Join a room").fill("second");
    await page.getByLabel("Join a room").press("Enter");
    await page.locator("#member-count", { hasText: "1 member" }).waitFor({ state: "attached" });
    expect(await page.locator("#side").isVisible()).toBe(false); // joining folded the panel away
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    cli.write("news in the lobby", "more news");
    const badge = toggle.locator(".unread");
    await badge.filter({ hasText: "2" }).waitFor();
    expect(await badge.getAttribute("aria-label")).toBe("2 unread");
    await page.screenshot({ path: join(artifacts, "web-unread-folded-phone.png") });
    await toggle.click();
    await page.getByRole("button", { name: "#lobby" }).click();
    await badge.waitFor({ state: "detached" });
    expect((await toggle.textContent())?.trim()).toBe("Rooms and members");
    cli.end();
    await cli.exitCode();
  }, 60_000);

  it("a rename made from a terminal reads 'alice is now alicia', and the new name keeps its place among the members", async () => {
    const server = await startServer();
    const alice = spawnTerminalCli(["--server", `http://${server.address}`, "--name", "alice", "--room", "lobby"]);
    await alice.waitForLine("joined #lobby as alice");
    const { page: dana } = await openSignedIn(chromium.browser, server.url, "dana");
    const { page: erin } = await openSignedIn(chromium.browser, server.url, "erin", PHONE);
    const members = () => dana.locator("#members li").allTextContents();
    await waitUntilAsync(async () => (await members()).length === 3, "three members listed");
    expect(await members()).toEqual(["alice", "dana (you)", "erin"]);

    alice.enter("/nick alicia");
    await alice.waitForLine("you are now alicia");
    for (const page of [dana, erin]) await page.locator("li.presence", { hasText: "alice is now alicia" }).waitFor();
    // Not a leave and a join: one quiet line, and alicia where alice was (the list does not reshuffle on a rename).
    expect(await dana.locator("li.presence").allTextContents()).not.toContainEqual(expect.stringMatching(/alice (left|joined)/));
    await waitUntilAsync(async () => (await members())[0] === "alicia", "alicia in alice's place");
    expect(await members()).toEqual(["alicia", "dana (you)", "erin"]);
    await dana.screenshot({ path: join(artifacts, "web-rename-desktop.png") });
    await erin.screenshot({ path: join(artifacts, "web-rename-phone.png") });

    // The page renames too, from its own entry in the members list: a name taken in the room is refused, said at the top.
    const renameTo = async (name: string) => {
      await dana.locator('#members button[data-member="dana"]').click();
      await dana.getByRole("menuitem", { name: "Change your nickname…" }).click();
      const dialog = dana.getByRole("dialog", { name: "Change your nickname" });
      await dialog.getByLabel("New nickname (in every room)").fill(name);
      await dialog.getByRole("button", { name: "Change" }).click();
    };
    await renameTo("erin");
    await dana.locator("#alert", { hasText: /^Could not change your nickname to erin: .*taken/ }).waitFor();
    expect(await members()).toEqual(["alicia", "dana (you)", "erin"]);
    await renameTo("daniela");
    await erin.locator("li.presence", { hasText: "dana is now daniela" }).waitFor();
    await alice.waitForLine("dana is now daniela");
    await waitUntilAsync(async () => (await members())[1] === "daniela (you)", "daniela (you) in dana's place");
    expect(await members()).toEqual(["alicia", "daniela (you)", "erin"]);
    // What the page sends now goes out under the new name.
    await dana.getByLabel("Message #lobby").fill("new name, same me");
    await dana.getByLabel("Message #lobby").press("Enter");
    await alice.waitForLine(/<daniela> new name, same me$/);
  }, 60_000);
});

describe("day lines and groups, by the layout's own rules", () => {
  it("labels today, yesterday and earlier days; groups only close messages from one sender", async () => {
    const { dayLabel, dayKey, GROUP_GAP_MS } = await import("../web/src/ui/log-layout.js");
    const now = new Date(2026, 11, 3, 21, 0);
    expect(dayLabel(new Date(2026, 11, 3, 0, 1), now)).toBe("Today");
    expect(dayLabel(new Date(2026, 11, 2, 23, 59), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 0, 1, 12, 0), new Date(2026, 0, 2))).toBe("Yesterday");
    expect(dayLabel(new Date(2025, 11, 31, 12, 0), new Date(2026, 0, 1))).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 10, 30, 12, 0), now)).not.toMatch(/Today|Yesterday/);
    expect(dayKey(new Date(2026, 0, 5, 23, 59))).toBe("2026-01-05");
    expect(GROUP_GAP_MS).toBe(5 * 60_000);
  });
});
