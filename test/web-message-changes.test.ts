/**
 * Messages that change (issue 19) in the web page, in Chromium, against a
 * server that requires sign-in tokens: a message's actions (Reply, Edit,
 * Delete) on hover and from the keyboard, as the user's rights allow (edit:
 * one's own; delete: one's own, or any as the room's owner); "(edited)",
 * tombstones and reply quotes that follow the message they quote, live on
 * every page and for a page that joins later. Screenshots at desktop and
 * phone sizes go to /tmp/web-changes-*.png.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { browserSuite, DESKTOP, haveBrowser, joined, newPage, openSignedIn, PHONE, say, seriousViolations, sharedBrowser } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;
const secret = "a-development-secret-of-at-least-32-bytes!";
const tokenFor = (sub: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));

async function startServer(options: { auth?: boolean; db?: string; ports?: { grpc: number; http: number } } = {}) {
  const db = options.db ?? join(mkdtempSync(join(tmpdir(), "chat-web-changes-")), "chat.db");
  const ports = options.ports ?? { grpc: await freePort(), http: await freePort() };
  const server = await spawnServer([
    ...["--store", "sqlite", "--db", db, "--port", String(ports.grpc), "--http-port", String(ports.http)],
    ...(options.auth === false ? [] : ["--auth-secret", secret]),
  ]);
  return { ...server, url: server.httpUrl!, db, ports };
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

async function openSide(page: Page): Promise<void> {
  if (!(await page.locator("#side").isVisible())) await page.getByRole("button", { name: /^Rooms and members/ }).click();
}

/** A message of #town by its text (a tombstone has none: by number then). */
const item = (page: Page, text: string, room = "town") =>
  page.locator(`ol[data-room="${room}"] li.msg[data-seq]`, { has: page.locator(":scope > .body > .text", { hasText: text }) });
const bySeq = (page: Page, seq: string) => page.locator(`ol[data-room="town"] li[data-seq="${seq}"]`);
/** The messages #town shows: "sender: quote | text", a change entry never among them. */
const shownTown = (page: Page, room = "town") =>
  page.$$eval(`ol[data-room="${room}"] li[data-seq]`, (items) =>
    items.map((li) => {
      const quote = li.querySelector(".reply-quote")?.textContent?.replace("In reply to ", "");
      return `${li.querySelector(".sender")!.textContent}: ${quote ? `[${quote}] ` : ""}${li.querySelector(".text")!.textContent}`;
    }),
  );
const actionsOf = async (page: Page, text: string) => {
  await item(page, text).hover();
  return item(page, text).locator(".msg-actions button").allTextContents();
};
const shot = (page: Page, name: string) => page.screenshot({ path: `/tmp/web-changes-${name}.png` });

describeInBrowser(browserSuite("messages that change in the web page"), () => {
  const chromium = sharedBrowser();

  it("reply, edit and delete from hover and keyboard; every page shows (edited), tombstones and quotes that follow; a later page sees the room as it is", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);

    // ann owns #town: she may delete anyone's message there.
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("town");
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#room-title", { hasText: "#town" }).waitFor();
    await openSide(bob);
    await bob.getByLabel("Join a room").fill("town");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#room-title", { hasText: "#town" }).waitFor();

    await say(bob, "helo from bob");
    await item(ann, "helo from bob").waitFor();
    await say(ann, "my frist message");
    await item(bob, "my frist message").waitFor();

    // What each may do, offered on hover.
    expect(await actionsOf(ann, "my frist message")).toEqual(["Reply", "React", "Edit", "Delete"]);
    expect(await actionsOf(ann, "helo from bob")).toEqual(["Reply", "React", "Delete"]);
    expect(await actionsOf(bob, "my frist message")).toEqual(["Reply", "React"]);
    await item(ann, "helo from bob").hover();
    await shot(ann, "actions-desktop");
    expect(await seriousViolations(ann)).toEqual([]);

    // ann edits from the keyboard: ↑ in the log picks her message, E edits it in the message box.
    await ann.locator('ol[data-room="town"]').focus();
    await ann.keyboard.press("ArrowUp");
    expect(await ann.evaluate(() => (document.activeElement as HTMLElement).querySelector(".text")?.textContent)).toBe("my frist message");
    await shot(ann, "keyboard-desktop");
    await ann.keyboard.press("e");
    await ann.locator("#composer-context", { hasText: "Editing your message" }).waitFor();
    await shot(ann, "editing-desktop");
    expect(await ann.locator("#composer-input").inputValue()).toBe("my frist message");
    expect(await ann.locator("#send").textContent()).toBe("Save");
    await ann.locator("#composer-input").fill("my first message");
    await ann.locator("#composer-input").press("Enter");
    for (const page of [ann, bob]) await item(page, "my first message (edited)").waitFor();
    expect(await ann.locator("#composer-context").isHidden()).toBe(true);
    expect(await ann.locator("#send").textContent()).toBe("Send");

    // bob, on a phone, taps ann's message and replies: the reply quotes it.
    await item(bob, "my first message").click();
    await item(bob, "my first message").getByRole("button", { name: "Reply" }).click();
    await bob.locator("#composer-context", { hasText: "Replying to ann: my first message" }).waitFor();
    await shot(bob, "reply-phone");
    await say(bob, "welcome!");
    for (const page of [ann, bob]) await item(page, "welcome!").locator(".reply-quote", { hasText: "↳ ann: my first message" }).waitFor();
    await shot(bob, "quote-phone");

    // ann, the owner, deletes bob's first message (asked first), then her own: tombstones, and bob's reply quotes the tombstone.
    const bobsSeq = (await item(ann, "helo from bob").getAttribute("data-seq"))!;
    await item(ann, "helo from bob").hover();
    await item(ann, "helo from bob").getByRole("button", { name: "Delete" }).click();
    const dialog = ann.getByRole("dialog");
    await dialog.getByText("Delete bob's message in #town? This cannot be undone.").waitFor();
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();
    for (const page of [ann, bob]) await bySeq(page, bobsSeq).locator(".text.tombstone", { hasText: "Message deleted" }).waitFor();

    const annsSeq = (await item(ann, "my first message").getAttribute("data-seq"))!;
    await item(ann, "my first message").hover();
    await item(ann, "my first message").getByRole("button", { name: "Delete" }).click();
    await dialog.getByText("Delete your message in #town? This cannot be undone.").waitFor();
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();
    for (const page of [ann, bob]) {
      await bySeq(page, annsSeq).locator(".text.tombstone").waitFor();
      await item(page, "welcome!").locator(".reply-quote.deleted", { hasText: "↳ ann: message deleted" }).waitFor();
    }
    // A tombstone offers nothing.
    await bySeq(ann, annsSeq).hover();
    expect(await bySeq(ann, annsSeq).locator(".msg-actions").count()).toBe(0);
    await shot(ann, "tombstones-desktop");
    await shot(bob, "tombstones-phone");

    // The change entries were never shown as messages; a page joining now sees the same room.
    const expected = ["bob: Message deleted", "ann: Message deleted", "bob: [↳ ann: message deleted] welcome!"];
    expect(await shownTown(ann)).toEqual(expected);
    expect(await shownTown(bob)).toEqual(expected);
    const carol = await signedIn(chromium.browser, server.url, "carol");
    await openSide(carol);
    await carol.getByLabel("Join a room").fill("town");
    await carol.getByLabel("Join a room").press("Enter");
    await item(carol, "welcome!").waitFor();
    expect(await shownTown(carol)).toEqual(expected);
  });

  it("a reply typed while the server is down shows its quote at once, survives a reload, and is delivered once as a reply", async () => {
    let server = await startServer({ auth: false });
    const { page: ann } = await openSignedIn(chromium.browser, server.url, "ann");
    const { page: bob } = await openSignedIn(chromium.browser, server.url, "bob", PHONE);
    await say(bob, "anyone here?");
    await item(ann, "anyone here?", "lobby").waitFor();

    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await ann.locator('#status[data-state="reconnecting"]').waitFor();
    await item(ann, "anyone here?", "lobby").hover();
    await item(ann, "anyone here?", "lobby").getByRole("button", { name: "Reply" }).click();
    await say(ann, "I am");
    await ann.locator("li.pending", { hasText: "I am" }).locator(".reply-quote", { hasText: "↳ bob: anyone here?" }).waitFor();
    await ann.reload().catch(() => {}); // the page's server is down: a browser error page
    server = await startServer({ auth: false, db: server.db, ports: server.ports });
    await ann.reload();
    for (const page of [ann, bob]) await page.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
    for (const page of [ann, bob]) await item(page, "I am", "lobby").locator(".reply-quote", { hasText: "↳ bob: anyone here?" }).waitFor();
    const expected = ["bob: anyone here?", "ann: [↳ bob: anyone here?] I am"];
    expect(await shownTown(ann, "lobby")).toEqual(expected);
    expect(await shownTown(bob, "lobby")).toEqual(expected);
    expect(await ann.locator("li.pending").count()).toBe(0);
  }, 120_000);
});
