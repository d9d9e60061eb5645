/**
 * The web page's accessibility in Chromium: the axe-core checker finds no
 * serious or critical problem on the sign-in screen or the chat view (with
 * messages, quiet lines, a day line, an error, the create-room form and the
 * byte count up; the members menu and the ban dialog in web-rooms.test.ts), at
 * desktop and phone sizes; and the page works by keyboard alone: a sensible
 * tab order, the message box focused after joining, the phone's side panel
 * opened with Enter and closed with Escape.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { artifacts, browserSuite, DESKTOP, haveBrowser, joined, sharedBrowser, newPage, openSignedIn, PHONE, say, seriousViolations, shownCount } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;

async function startServer() {
  const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
  const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort())]);
  return { ...server, url: server.httpUrl! };
}

/** What has focus, as "tag#id" or "tag: accessible text". */
const focused = (page: Page) =>
  page.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    if (!a) return "";
    if (a.id) return `${a.tagName.toLowerCase()}#${a.id}`;
    if (a.tagName === "OL") return `ol[data-room=${a.dataset.room}]`;
    return `${a.tagName.toLowerCase()}: ${a.textContent?.trim()}`;
  });

describeInBrowser(browserSuite("the web page's accessibility in Chromium"), () => {
  const chromium = sharedBrowser();

  it.each([
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ])("axe-core finds no serious or critical problem on the sign-in screen or in the chat (%s)", async (size, viewport) => {
    const server = await startServer();
    const { page } = await newPage(chromium.browser, server.url, viewport);
    expect(await seriousViolations(page)).toEqual([]);
    // The sign-in screen with an error up.
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.locator("#alert", { hasText: "Pick a nickname first." }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel("Nickname", { exact: true }).fill("ann");
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await joined(page);
    expect(await seriousViolations(page)).toEqual([]); // the empty room
    const { page: bob } = await openSignedIn(chromium.browser, server.url, "bob");
    await say(bob, "hello");
    await say(bob, "a second line from bob");
    await say(page, "hi bob");
    await shownCount(page, 3);
    if (size === "phone") await page.getByRole("button", { name: "Rooms and members" }).click();
    await page.getByLabel("Join a room").fill("not a room!");
    await page.getByLabel("Join a room").press("Enter");
    await page.locator("#alert", { hasText: "room name" }).waitFor();
    await page.getByText("Create a room").click(); // its form open too (name, visibility, topic)
    await page.getByLabel("Name", { exact: true }).waitFor();
    expect(await seriousViolations(page)).toEqual([]); // messages, a quiet line, a day line, an error
    await page.locator("#composer-input").fill("x".repeat(4000));
    await page.locator("#composer-count", { hasText: "4,000 / 4,096 bytes" }).waitFor({ state: "attached" });
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, `web-axe-chat-${size}.png`) });
  }, 90_000);

  it("keyboard only: tab order, focus on the message box after joining, Escape closes the phone's side panel", async () => {
    const server = await startServer();
    const { page } = await newPage(chromium.browser, server.url, PHONE);
    // The nickname field has focus on load; Tab walks the form in reading order.
    expect(await focused(page)).toBe("input#nickname");
    await page.keyboard.type("kim");
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press("Tab");
      order.push(await focused(page));
    }
    expect(order).toEqual(["input#first-room", "summary: Sign-in token", "button: Join"]);
    await page.keyboard.press("Enter");
    await joined(page);
    expect(await focused(page)).toBe("textarea#composer-input");
    await page.keyboard.type("by keyboard");
    await page.keyboard.press("Enter");
    await shownCount(page, 1);

    // Backwards from the message box: the log (scrollable, so focusable), then the room's controls.
    await page.keyboard.press("Shift+Tab");
    expect(await focused(page)).toBe("ol[data-room=lobby]");
    await page.keyboard.press("Shift+Tab");
    expect(await focused(page)).toBe("button#leave-room");
    await page.keyboard.press("Shift+Tab");
    expect(await focused(page)).toBe("button#toggle-side");
    await page.keyboard.press("Enter");
    expect(await page.locator("#side").isVisible()).toBe(true);
    // Into the panel: the room list comes next.
    await page.keyboard.press("Tab");
    expect(await focused(page)).toBe("button: #lobby");
    await page.keyboard.press("Escape");
    expect(await page.locator("#side").isVisible()).toBe(false);
    expect(await focused(page)).toBe("button#toggle-side");
    expect(await page.locator("#toggle-side").getAttribute("aria-expanded")).toBe("false");

    // Joining a room from the panel by keyboard: the panel closes, the message box has focus.
    await page.keyboard.press("Enter");
    await page.getByLabel("Join a room").focus();
    await page.keyboard.type("second");
    await page.keyboard.press("Enter");
    await page.locator("#member-count", { hasText: "1 member" }).waitFor({ state: "attached" });
    expect(await page.locator("#side").isVisible()).toBe(false);
    expect(await focused(page)).toBe("textarea#composer-input");
  }, 60_000);
});
