/**
 * The web page in Chromium: signing in again after a refused nickname works
 * exactly like a first sign-in; errors stay until dismissed and go when they no
 * longer apply; a long paste is counted in bytes and never cut; the page serves
 * its icon and loads without a console error. Screenshots at desktop and phone
 * sizes go to test-artifacts/.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { artifacts, browserSuite, DESKTOP, haveBrowser, joined, sharedBrowser, newPage, openSignedIn, PHONE, say, shown, shownCount, signIn } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;

async function startServer(extra: string[] = []) {
  const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
  const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort()), ...extra]);
  return { ...server, url: server.httpUrl! };
}

const alertTexts = (page: Page) => page.locator("#alert li .alert-text").allTextContents();

describeInBrowser(browserSuite("the web page in Chromium: sign-in, errors, long messages"), () => {
  const chromium = sharedBrowser();

  it.each([
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ])("a refused nickname, then another: the retry behaves exactly like a first sign-in (%s)", async (size, viewport) => {
    const server = await startServer();
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    const { page } = await newPage(chromium.browser, server.url, viewport);

    await signIn(page, "ann");
    await page.locator("#alert", { hasText: "Could not join #lobby" }).waitFor();
    expect(await page.locator("#login").isVisible()).toBe(true);
    await page.screenshot({ path: join(artifacts, `web-nickname-refused-${size}.png`) });

    await signIn(page, "bob");
    await joined(page);
    // The refusal was about the last attempt: gone once this one succeeded.
    expect(await page.locator("#alert").isHidden()).toBe(true);
    await ann.locator("#members li", { hasText: "bob" }).waitFor();

    if (size === "phone") {
      // One click opens the panel (not two handlers toggling it open and shut), Escape closes it.
      await page.getByRole("button", { name: "Rooms and members" }).click();
      expect(await page.getByRole("button", { name: "Rooms and members" }).getAttribute("aria-expanded")).toBe("true");
      expect(await page.locator("#side").isVisible()).toBe(true);
      await page.keyboard.press("Escape");
      expect(await page.locator("#side").isVisible()).toBe(false);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("toggle-side");
      await page.getByRole("button", { name: "Rooms and members" }).click();
    }
    // A second room: both listed, its title over its own (empty) log, and its join answered.
    await page.getByLabel("Join a room").fill("second");
    await page.getByLabel("Join a room").press("Enter");
    await page.locator("#member-count", { hasText: "1 member" }).waitFor({ state: "attached" });
    expect(await page.locator("#rooms button").allTextContents()).toEqual(["#lobby", "#second"]);
    expect(await page.locator("#room-title").textContent()).toBe("#second");
    expect(await page.locator('ol[data-room="second"]').isVisible()).toBe(true);
    expect(await page.locator('ol[data-room="lobby"]').isVisible()).toBe(false);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("composer-input");

    // Every action once: one message sent is one message stored.
    if (size === "phone") await page.getByRole("button", { name: "Rooms and members" }).click();
    await page.getByRole("button", { name: "#lobby" }).click();
    await say(page, "hello once");
    await shownCount(ann, 1);
    await shownCount(page, 1);
    expect(await shown(ann)).toEqual(["1 bob: hello once"]);
    expect(await shown(page)).toEqual(["1 bob: hello once"]);
    expect(await ann.locator("#members li").allTextContents()).toEqual(["ann (you)", "bob"]);
    await page.screenshot({ path: join(artifacts, `web-retry-signed-in-${size}.png`) });
  }, 90_000);

  it("errors stay until dismissed, and those that no longer apply go", async () => {
    const server = await startServer();
    const { page } = await newPage(chromium.browser, server.url);
    // Fake timers that still run in real time, so the test can jump past any self-hiding delay.
    await page.clock.install();
    await page.reload();
    await signIn(page, "ann");
    await joined(page);

    await page.getByLabel("Join a room").fill("no spaces allowed");
    await page.getByLabel("Join a room").press("Enter");
    await page.locator("#alert", { hasText: "room name may contain only" }).waitFor();
    await page.clock.fastForward(60_000);
    expect(await alertTexts(page)).toEqual(["room name may contain only letters, digits, '.', '_' and '-'"]);
    await page.screenshot({ path: join(artifacts, "web-error-desktop.png") });
    await page.getByRole("button", { name: "Dismiss this error" }).click();
    expect(await page.locator("#alert").isHidden()).toBe(true);

    // An error in the chat, then the last room left: the sign-in screen shows nothing of it.
    await page.getByLabel("Join a room").fill("bad room");
    await page.getByLabel("Join a room").press("Enter");
    await page.locator("#alert", { hasText: "room name may contain only" }).waitFor();
    await page.getByRole("button", { name: "Leave room" }).click();
    await page.locator("#login").waitFor();
    expect(await page.locator("#alert").isHidden()).toBe(true);
    // A sign-in error goes when the form is sent again and passes.
    await page.getByLabel("Nickname", { exact: true }).fill("");
    await page.getByRole("button", { name: "Join", exact: true }).click();
    expect(await alertTexts(page)).toEqual(["Pick a nickname first."]);
    await signIn(page, "ann2");
    await joined(page);
    expect(await page.locator("#alert").isHidden()).toBe(true);
  }, 90_000);

  it("a long paste is counted in bytes, never cut, and refused past the limit with the reason", async () => {
    const server = await startServer();
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    const { page: bob } = await openSignedIn(chromium.browser, server.url, "bob", PHONE);
    const box = ann.locator("#composer-input");

    await box.focus();
    await ann.keyboard.insertText("x".repeat(5000)); // as a paste arrives
    expect((await box.inputValue()).length).toBe(5000);
    expect(await ann.locator("#composer-count").textContent()).toBe("Too long to send: 5,000 / 4,096 bytes. Remove 904 bytes (accented letters count 2, emoji 4).");
    expect(await ann.getByRole("button", { name: "Send" }).isDisabled()).toBe(true);
    await box.press("Enter");
    expect(await ann.locator("li.pending").count()).toBe(0);
    expect((await box.inputValue()).length).toBe(5000);
    await ann.screenshot({ path: join(artifacts, "web-long-paste-desktop.png") });

    // Bytes, not characters: 2,048 "é" are 4,096 bytes, exactly the limit; one more is over.
    await box.fill("é".repeat(2049));
    expect(await ann.locator("#composer-count").textContent()).toContain("4,098 / 4,096 bytes");
    await box.press("Backspace");
    expect(await ann.locator("#composer-count").textContent()).toBe("4,096 / 4,096 bytes");
    expect(await ann.getByRole("button", { name: "Send" }).isEnabled()).toBe(true);
    await box.press("Enter");
    await shownCount(bob, 1);
    expect(await shown(bob)).toEqual([`1 ann: ${"é".repeat(2048)}`]);
    expect(await ann.locator("#composer-count").textContent()).toBe("");
    await bob.locator("#composer-input").fill("🙂".repeat(1100));
    expect(await bob.locator("#composer-count").textContent()).toContain("4,400 / 4,096 bytes");
    await bob.screenshot({ path: join(artifacts, "web-long-paste-phone.png") });
  }, 90_000);

  it("serves its icon, and loads and chats without a console error or a failed request", async () => {
    const server = await startServer();
    for (const path of ["/favicon.svg", "/favicon.ico"]) {
      const res = await fetch(new URL(path, server.url));
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/svg+xml");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(await res.text()).toContain("<svg");
    }
    const page = await fetch(server.url);
    expect(page.headers.get("content-security-policy")).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    const ann = await openSignedIn(chromium.browser, server.url, "ann");
    await say(ann.page, "hello");
    await shownCount(ann.page, 1);
    expect(ann.problems).toEqual([]);
  }, 60_000);
});
