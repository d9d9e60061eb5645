/**
 * Read positions and mentions in the web page, in Chromium, against a server
 * that requires sign-in tokens: the sidebar's badges are the server's counts
 * (a mention makes the badge say so), opening the room draws the
 * "New messages" line where the reader had stopped and marks it read, and a
 * second page of the same user shows it read too (the position comes from
 * the server). "@ann" typed in the message box mentions ann; her page
 * highlights the message. Screenshots go to test-artifacts/web-reads-*.png.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester, closeTesters } from "./support/chat-tester.js";
import { AUTH_SECRET, createRoom, RoomVisibility, token } from "./support/rooms.js";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { artifacts, browserSuite, DESKTOP, haveBrowser, joined, newPage, PHONE, say, seriousViolations, sharedBrowser } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;

async function startServer() {
  const db = join(mkdtempSync(join(tmpdir(), "chat-web-reads-")), "chat.db");
  const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort()), "--auth-secret", AUTH_SECRET]);
  return { ...server, url: server.httpUrl! };
}

async function signedIn(browser: Browser, url: string, user: string, viewport = DESKTOP): Promise<Page> {
  const { page } = await newPage(browser, url, viewport);
  await page.getByLabel("Room", { exact: true }).fill("lobby");
  await page.getByText("Sign-in token").click();
  await page.getByLabel("Token", { exact: true }).fill(await token(user));
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await joined(page);
  return page;
}

async function openSide(page: Page): Promise<void> {
  if (!(await page.locator("#side").isVisible())) await page.getByRole("button", { name: /^Rooms and members/ }).click();
}

async function joinRoom(page: Page, room: string): Promise<void> {
  await openSide(page);
  await page.getByLabel("Join a room").fill(room);
  await page.getByLabel("Join a room").press("Enter");
  await page.locator("#room-title", { hasText: `#${room}` }).waitFor();
  await joined(page);
}

async function pick(page: Page, room: string): Promise<void> {
  await openSide(page);
  await page.locator("#rooms button", { hasText: `#${room}` }).click();
  await page.locator("#room-title", { hasText: `#${room}` }).waitFor();
}

const badge = (page: Page, room: string) => page.locator("#rooms button", { hasText: `#${room}` }).locator(".unread");

describeInBrowser(browserSuite("read positions and mentions in the web page"), () => {
  const chromium = sharedBrowser();
  afterEach(() => closeTesters());

  it("badges count what is unread and say a mention; reading on one page clears the badge on the other; the new-messages line; @mentions", async () => {
    const server = await startServer();
    const laptop = await signedIn(chromium.browser, server.url, "ann");
    const phone = await signedIn(chromium.browser, server.url, "ann", PHONE);
    const bob = await signedIn(chromium.browser, server.url, "bob");
    for (const page of [laptop, phone]) {
      await joinRoom(page, "town");
      await pick(page, "lobby");
    }
    await joinRoom(bob, "town");
    await say(bob, "hello town");
    // Tab completes a member's name after "@"; the message then mentions her.
    const box = bob.locator("#composer-input");
    await box.fill("@an");
    await box.press("Tab");
    expect(await box.inputValue()).toBe("@ann ");
    await box.pressSequentially("look at this");
    await box.press("Enter");
    await bob.locator('ol[data-room="town"] li.msg:not(.pending)', { hasText: "@ann look at this" }).waitFor();

    // Both of ann's pages: two unread in #town, one of them a mention.
    await openSide(phone);
    for (const page of [laptop, phone]) {
      await badge(page, "town").filter({ hasText: "@2" }).waitFor();
      expect(await badge(page, "town").getAttribute("aria-label")).toBe("2 unread, 1 mention");
      expect(await badge(page, "town").getAttribute("class")).toContain("mention");
    }
    await laptop.screenshot({ path: join(artifacts, "web-reads-badges-desktop.png") });
    await phone.screenshot({ path: join(artifacts, "web-reads-badges-phone.png") });
    expect(await seriousViolations(phone)).toEqual([]);

    // The laptop opens #town: the line stands where ann had stopped, the mention stands out, the room is read.
    await pick(laptop, "town");
    const log = laptop.locator('ol[data-room="town"]');
    await log.locator("li.unread-line").waitFor();
    const order = await log.locator(":scope > li.msg, :scope > li.unread-line").evaluateAll((items) => items.map((li) => (li.classList.contains("unread-line") ? "---" : li.querySelector(".text")!.textContent)));
    expect(order.slice(-3)).toEqual(["---", "hello town", "@ann look at this"]);
    expect(await log.locator("li.msg", { hasText: "@ann look at this" }).getAttribute("class")).toContain("mentions-me");
    expect(await log.locator("li.msg", { hasText: "hello town" }).getAttribute("class")).not.toContain("mentions-me");
    await laptop.screenshot({ path: join(artifacts, "web-reads-line-desktop.png") });
    // The line, the badge and the highlight pass axe-core (contrast, names) like the rest of the page.
    expect(await seriousViolations(laptop)).toEqual([]);

    // Read on the laptop: the phone's badge goes (the server tells every session of ann's).
    await badge(phone, "town").waitFor({ state: "detached" });
    // And the folded panel's button on the phone has nothing left to count.
    await expect.poll(() => phone.locator("#toggle-side .unread").count()).toBe(0);

    // The laptop's window hidden (another tab in front): what comes is not read there.
    const setVisible = (page: Page, visible: boolean) =>
      page.evaluate((v) => {
        Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (v ? "visible" : "hidden") });
        document.dispatchEvent(new Event("visibilitychange"));
      }, visible);
    await setVisible(laptop, false);
    await say(bob, "while you were away");
    await log.locator("li.msg", { hasText: "while you were away" }).waitFor();
    await badge(phone, "town").filter({ hasText: /^1$/ }).waitFor();
    // Back in front: the line stands above what came meanwhile, and it is read (the phone's badge goes).
    await setVisible(laptop, true);
    await badge(phone, "town").waitFor({ state: "detached" });
    const after = await log.locator(":scope > li.msg, :scope > li.unread-line").evaluateAll((items) => items.map((li) => (li.classList.contains("unread-line") ? "---" : li.querySelector(".text")!.textContent)));
    expect(after.slice(-2)).toEqual(["---", "while you were away"]);
  }, 120_000);

  it("a mention in a room of ann's not joined on the page: said in the room on screen, and a mention badge on the room's entry", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    // bob, from a program: a private room with ann invited, and a message that mentions her.
    const bob = ChatTester.connect(server.baseUrl, "bob", { token: await token("bob") });
    createRoom(bob, "den", { visibility: RoomVisibility.PRIVATE, invite: ["ann"] });
    await bob.joined("den");
    bob.request({ command: { case: "send", value: { room: "den", text: "@ann are you coming?", clientMsgId: "m-1", mentions: ["ann"] } } });
    await ann.locator('ol[data-room="lobby"] li.notice', { hasText: "bob mentioned you in #den: @ann are you coming?" }).waitFor();
    const offer = ann.locator("#rooms button.not-joined", { hasText: "#den" });
    await offer.locator(".unread.mention").filter({ hasText: "@1" }).waitFor();
    expect(await offer.locator(".unread").getAttribute("aria-label")).toBe("1 unread, 1 mention");
    await ann.locator("#side").screenshot({ path: join(artifacts, "web-reads-not-joined.png") });
  }, 60_000);
});
