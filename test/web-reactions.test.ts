/**
 * Reactions (issue 19) in the web page, in Chromium, against a server that
 * requires sign-in tokens: React in a message's actions opens a small picker
 * of common emoji (by pointer, or + and the arrow keys); each reaction is a
 * chip under the message (emoji and count, pressed when it is one's own,
 * read out as "👍 2 reactions, you reacted") on every page; a click on a
 * chip adds one's own or takes it off; a page joining later sees the counts.
 * Screenshots go to /tmp/web-reactions-*.png.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { ChatSession } from "../src/client/chat-session.js";
import { createGrpcSessionTransport } from "../src/client/grpc-transport.js";
import { waitUntil } from "./support/wait.js";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { browserSuite, DESKTOP, haveBrowser, joined, newPage, openSignedIn, PHONE, say, seriousViolations, sharedBrowser } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;
const secret = "a-development-secret-of-at-least-32-bytes!";
const tokenFor = (sub: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));

const sessions: ChatSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.abort()));
});

async function startServer(auth = true) {
  const db = join(mkdtempSync(join(tmpdir(), "chat-web-reactions-")), "chat.db");
  const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(await freePort()), "--http-port", String(await freePort()), ...(auth ? ["--auth-secret", secret] : [])]);
  return { ...server, url: server.httpUrl! };
}

async function signedIn(browser: Browser, url: string, user: string, viewport = DESKTOP): Promise<Page> {
  const { page } = await newPage(browser, url, viewport);
  await page.getByLabel("Room", { exact: true }).fill("lobby");
  await page.getByText("Sign-in token").click();
  await page.getByLabel("Token", { exact: true }).fill(await tokenFor(user));
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await joined(page);
  return page;
}

const item = (page: Page, text: string) => page.locator(`ol[data-room="lobby"] li.msg[data-seq]`, { has: page.locator(":scope > .body > .text", { hasText: text }) });
/** A message's chips as their accessible names, with whether each is pressed. */
const chips = (page: Page, text: string) =>
  item(page, text)
    .locator(".reactions button")
    .evaluateAll((buttons) => buttons.map((b) => `${b.getAttribute("aria-label")}${b.getAttribute("aria-pressed") === "true" ? " [pressed]" : ""}`));
const waitChips = async (page: Page, text: string, expected: string[]) => {
  await expect.poll(() => chips(page, text), { timeout: 10_000 }).toEqual(expected);
};
const shot = (page: Page, name: string) => page.screenshot({ path: `/tmp/web-reactions-${name}.png` });

describeInBrowser(browserSuite("reactions in the web page"), () => {
  const chromium = sharedBrowser();

  it("React opens a picker (pointer or keyboard); chips show on every page, pressed when one's own; a click toggles; a later page sees the counts", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);

    await say(ann, "pizza tonight?");
    await item(bob, "pizza tonight?").waitFor();

    // bob, on a phone, taps the message, then React, then 👍.
    await item(bob, "pizza tonight?").click();
    await item(bob, "pizza tonight?").getByRole("button", { name: "React" }).click();
    const picker = item(bob, "pizza tonight?").getByRole("group", { name: "Pick a reaction" });
    await picker.waitFor();
    await shot(bob, "picker-phone");
    await picker.getByRole("button", { name: "React with 👍" }).click();
    await waitChips(bob, "pizza tonight?", ["👍 1 reaction, you reacted [pressed]"]);
    await waitChips(ann, "pizza tonight?", ["👍 1 reaction"]);
    expect(await picker.count()).toBe(0);

    // ann adds hers by clicking the chip, then ❤️ from the keyboard: ↑ picks the message, + opens the picker, → moves, Enter picks.
    await item(ann, "pizza tonight?").getByRole("button", { name: "👍 1 reaction" }).click();
    await waitChips(ann, "pizza tonight?", ["👍 2 reactions, you reacted [pressed]"]);
    // Who reacted, on hover, in the order they did.
    expect(await item(ann, "pizza tonight?").getByRole("button", { name: "👍 2 reactions, you reacted" }).getAttribute("title")).toBe("bob, ann");
    await ann.locator('ol[data-room="lobby"]').focus();
    await ann.keyboard.press("ArrowUp");
    await ann.keyboard.press("+");
    const annPicker = item(ann, "pizza tonight?").getByRole("group", { name: "Pick a reaction" });
    await annPicker.waitFor();
    expect(await ann.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Remove your 👍 reaction");
    await ann.keyboard.press("ArrowRight");
    expect(await ann.evaluate(() => document.activeElement?.textContent)).toBe("❤️");
    await shot(ann, "picker-desktop");
    expect(await seriousViolations(ann)).toEqual([]);
    await ann.keyboard.press("Enter");
    await waitChips(ann, "pizza tonight?", ["👍 2 reactions, you reacted [pressed]", "❤️ 1 reaction, you reacted [pressed]"]);
    await waitChips(bob, "pizza tonight?", ["👍 2 reactions, you reacted [pressed]", "❤️ 1 reaction"]);
    // The keyboard is back on the message, and Escape closes a picker without a pick.
    expect(await ann.evaluate(() => document.activeElement?.classList.contains("msg"))).toBe(true);
    await ann.keyboard.press("+");
    await annPicker.waitFor();
    await ann.keyboard.press("Escape");
    await annPicker.waitFor({ state: "detached" });
    await item(ann, "pizza tonight?").hover();
    await shot(ann, "chips-desktop");
    await shot(bob, "chips-phone");
    expect(await seriousViolations(ann)).toEqual([]);

    // bob takes his 👍 off with a click on his pressed chip.
    await item(bob, "pizza tonight?").getByRole("button", { name: "👍 2 reactions, you reacted" }).click();
    await waitChips(bob, "pizza tonight?", ["👍 1 reaction", "❤️ 1 reaction"]);
    await waitChips(ann, "pizza tonight?", ["👍 1 reaction, you reacted [pressed]", "❤️ 1 reaction, you reacted [pressed]"]);

    // No reaction was ever shown as a message; a page joining now sees the counts, as its own.
    expect(await ann.locator('ol[data-room="lobby"] li[data-seq]').count()).toBe(1);
    const carol = await signedIn(chromium.browser, server.url, "carol");
    await waitChips(carol, "pizza tonight?", ["👍 1 reaction", "❤️ 1 reaction"]);
    expect(await carol.locator('ol[data-room="lobby"] li[data-seq]').count()).toBe(1);
  });

  it("a message loaded from older history (not among the join's recent ones) gets its chips live, and a click toggles them", async () => {
    const server = await startServer(false);
    // 55 messages before the page opens: more than a join brings (50).
    const bob = new ChatSession({ server: "test", transport: createGrpcSessionTransport(server.baseUrl), nickname: "bob" });
    sessions.push(bob);
    bob.join("lobby");
    void bob.start();
    for (let i = 1; i <= 55; i++) bob.send("lobby", `old ${i}`);
    await waitUntil(() => bob.unacknowledged === 0 || undefined, "bob's 55 messages", 20_000);

    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    await ann.locator('ol[data-room="lobby"] li[data-seq]').nth(49).waitFor();
    await ann.getByRole("button", { name: "Load older messages" }).click();
    await item(ann, "old 1").first().waitFor();
    const first = item(ann, "old 1").first();
    const seq = BigInt((await first.getAttribute("data-seq"))!);

    bob.react("lobby", seq, "🎉");
    await expect.poll(() => first.locator(".reactions button").evaluateAll((b) => b.map((x) => x.getAttribute("aria-label"))), { timeout: 10_000 }).toEqual(["🎉 1 reaction"]);
    await first.getByRole("button", { name: "🎉 1 reaction" }).click();
    await expect.poll(() => first.locator(".reactions button").evaluateAll((b) => b.map((x) => x.getAttribute("aria-label"))), { timeout: 10_000 }).toEqual(["🎉 2 reactions, you reacted"]);
    await waitUntil(() => bob.message("lobby", seq)?.reactions[0]?.count === 2 || undefined, "ann's 🎉 at bob's");
    await first.getByRole("button", { name: "🎉 2 reactions, you reacted" }).click();
    await expect.poll(() => first.locator(".reactions button").evaluateAll((b) => b.map((x) => x.getAttribute("aria-label"))), { timeout: 10_000 }).toEqual(["🎉 1 reaction"]);
    await shot(ann, "older-desktop");
    // The page of older messages came in above the day line of the join's: one line for the day.
    expect(await ann.locator('ol[data-room="lobby"] > li.day').count()).toBe(1);
  }, 60_000);
});
