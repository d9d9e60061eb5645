/**
 * Rooms with state in the web page, in Chromium, against a server that
 * requires sign-in tokens: a room created from the page (public or private,
 * with a topic shown under its title, set live from the page); a moderator bans a member from the
 * members menu (the banned page says so and loses the room for good, the
 * others see the room's line for it) and lifts the ban with Unban…; a room
 * deleted by the admin API (every page in it says so); direct messages between two pages and
 * between a page and the terminal client, listed by the other user's id, the
 * other page told at once (not by its poll of "my rooms"); and
 * "my rooms" bringing a private room and a direct message back on a new
 * device. Screenshots at desktop and phone sizes go to /tmp/web-rooms-*.png.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { directRoomName } from "../src/rooms/room-state.js";
import { spawnCli } from "./support/cli-process.js";
import { freePort } from "./support/free-port.js";
import { spawnServer } from "./support/server-process.js";
import { browserSuite, DESKTOP, haveBrowser, joined, newPage, PHONE, say, seriousViolations, sharedBrowser } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;
const secret = "a-development-secret-of-at-least-32-bytes!";

const tokenFor = (sub: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));

const ADMIN_KEY = randomBytes(32).toString("hex");

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "chat-web-rooms-"));
  // The admin API on too (DeleteRoom).
  writeFileSync(join(dir, "admin.key"), `${ADMIN_KEY}\n`);
  const server = await spawnServer([
    ...["--store", "sqlite", "--db", join(dir, "chat.db"), "--port", String(await freePort()), "--http-port", String(await freePort())],
    ...["--auth-secret", secret, "--admin-key-file", join(dir, "admin.key")],
  ]);
  return { ...server, url: server.httpUrl! };
}

/** One admin API call over Connect JSON (as curl would), expecting success. */
async function adminCall(url: string, method: string, body: object): Promise<void> {
  const res = await fetch(`${url}/chat.v1.AdminService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${method}: ${res.status} ${await res.text()}`);
}

/** A page signed in with a token for `user` (the nickname is the token's), in `room`. */
async function signedIn(browser: Browser, url: string, user: string, viewport = DESKTOP, room = "lobby"): Promise<Page> {
  const { page } = await newPage(browser, url, viewport);
  await page.getByLabel("Room", { exact: true }).fill(room);
  await page.getByText("Sign-in token").click();
  await page.getByLabel("Token", { exact: true }).fill(await tokenFor(user));
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await joined(page);
  return page;
}

/** Open the side panel if the layout folds it away (a phone). */
async function openSide(page: Page): Promise<void> {
  if (!(await page.locator("#side").isVisible())) await page.getByRole("button", { name: /^Rooms and members/ }).click();
}

/** The text of the messages (not quiet lines) a room shows, as "sender: text". */
const messages = (page: Page, room: string) =>
  page.$$eval(`ol[data-room="${room}"] li[data-seq]`, (items) => items.map((li) => `${li.querySelector(".sender")!.textContent}: ${li.querySelector(".text")!.textContent}`));

const shot = (page: Page, name: string) => page.screenshot({ path: `/tmp/web-rooms-${name}.png` });

describeInBrowser(browserSuite("rooms with state in the web page"), () => {
  const chromium = sharedBrowser();

  it("a moderator bans a member from the members menu: the banned page says so and loses the room; the others see the line", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);

    // ann creates a public room with a topic: she owns it, the topic shows under its title.
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("town");
    await ann.getByLabel("Topic (optional)").fill("Everything about the town");
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#room-title", { hasText: "#town" }).waitFor();
    await ann.locator("#room-topic", { hasText: "Everything about the town" }).waitFor();
    await ann.locator('ol[data-room="town"] li.action', { hasText: "ann created the room: Everything about the town" }).waitFor();

    await openSide(bob);
    await bob.getByLabel("Join a room").fill("town");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#room-topic", { hasText: "Everything about the town" }).waitFor();
    // The topic changes live on every page, from the room's entry for it; only a moderator or owner is offered it.
    expect(await bob.locator("#edit-topic").isHidden()).toBe(true);
    expect(await bob.locator("#unban").isHidden()).toBe(true);
    await ann.getByRole("button", { name: "Set topic" }).click();
    await ann.getByLabel("Topic (empty clears it)").fill("Market day on Friday");
    await ann.getByRole("dialog").getByRole("button", { name: "Set topic" }).click();
    await bob.locator("#room-topic", { hasText: "Market day on Friday" }).waitFor();
    await ann.locator("#room-topic", { hasText: "Market day on Friday" }).waitFor();
    await ann.locator('ol[data-room="town"] li.action', { hasText: "ann set the topic: Market day on Friday" }).waitFor();
    await say(bob, "buy cheap watches");
    await ann.locator('ol[data-room="town"] li[data-seq]', { hasText: "buy cheap watches" }).waitFor();

    // bob has no role: his members list offers ann no moderation (only a direct message).
    await openSide(bob);
    await bob.locator('#members button[data-member="ann"]').click();
    expect(await bob.locator("#member-menu [role=menuitem]").allTextContents()).toEqual(["Message ann"]);
    await shot(bob, "menu-phone");
    await bob.keyboard.press("Escape");
    expect(await bob.locator("#member-menu").isHidden()).toBe(true);
    // Escape closed only the menu (the phone's panel stays open), focus back on ann's entry.
    expect(await bob.locator("#side").isVisible()).toBe(true);
    expect(await bob.evaluate(() => (document.activeElement as HTMLElement).dataset.member)).toBe("ann");

    // ann, the owner, opens bob's menu by keyboard: the first item has focus.
    const bobButton = ann.locator('#members button[data-member="bob"]');
    await bobButton.waitFor();
    expect(await ann.locator("#members li", { hasText: "ann (you)" }).textContent()).toContain("owner");
    await bobButton.focus();
    await ann.keyboard.press("Enter");
    expect(await ann.locator("#member-menu [role=menuitem]").allTextContents()).toEqual([
      "Message bob",
      "Kick bob…",
      "Ban bob…",
      "Mute bob…",
      "Make moderator",
      "Make owner",
      "Make member (no moderation rights)",
    ]);
    expect(await ann.evaluate(() => document.activeElement?.textContent)).toBe("Message bob");
    expect(await bobButton.getAttribute("aria-expanded")).toBe("true");
    await ann.keyboard.press("ArrowDown");
    await ann.keyboard.press("ArrowDown");
    expect(await ann.evaluate(() => document.activeElement?.textContent)).toBe("Ban bob…");
    await shot(ann, "menu-desktop");
    expect(await seriousViolations(ann)).toEqual([]);
    await ann.keyboard.press("Enter");

    // The dialog asks for a reason and a duration.
    const dialog = ann.getByRole("dialog", { name: "Ban bob from #town" });
    await dialog.waitFor();
    await ann.getByLabel("Reason (shown to the room)").fill("spam");
    await ann.getByLabel("For how long").selectOption({ label: "1 day" });
    await shot(ann, "ban-dialog-desktop");
    expect(await seriousViolations(ann)).toEqual([]);
    await dialog.getByRole("button", { name: "Ban", exact: true }).click();

    // ann's page: the room's line for it, bob gone from the members.
    const line = ann.locator('ol[data-room="town"] li.action', { hasText: /bob was banned by ann until .*: spam/ });
    await line.waitFor();
    await ann.locator('#members button[data-member="bob"]').waitFor({ state: "detached" });
    // The ban's own line says it: no "bob disconnected" beside it.
    expect(await ann.locator('ol[data-room="town"] li.presence span').allTextContents()).toEqual(["bob joined"]);
    await shot(ann, "banned-line-desktop");

    // bob's page: a notice that stays, and #town is gone from his rooms (he is back in #lobby).
    await bob.locator("#alert", { hasText: /You were banned from #town \(bob was banned by ann until .*: spam\)\./ }).waitFor();
    await bob.locator("#room-title", { hasText: "#lobby" }).waitFor();
    await openSide(bob);
    expect(await bob.locator("#rooms button").allTextContents()).toEqual(["#lobby"]);
    await shot(bob, "banned-phone");
    // Joining again is refused, in the server's words; the room does not come back.
    await bob.getByLabel("Join a room").fill("town");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#alert", { hasText: "Could not join #town" }).waitFor();
    expect(await bob.locator("#alert").textContent()).toMatch(/banned/);
    expect(await bob.locator("#rooms button").allTextContents()).toEqual(["#lobby"]);
    expect(await messages(ann, "town")).toEqual(["bob: buy cheap watches"]);

    // bob is no member now (no menu has him): ann lifts the ban from the room's Unban dialog, which offers him.
    await ann.getByRole("button", { name: "Unban…" }).click();
    const unban = ann.getByRole("dialog", { name: "Unban from #town" });
    await unban.waitFor();
    expect(await ann.getByLabel("User id").inputValue()).toBe("bob");
    expect(await ann.locator("#action-suggestions option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["bob"]);
    expect(await seriousViolations(ann)).toEqual([]);
    await shot(ann, "unban-dialog-desktop");
    await unban.getByRole("button", { name: "Unban", exact: true }).click();
    await ann.locator('ol[data-room="town"] li.action', { hasText: "bob was unbanned by ann" }).waitFor();
    // bob may join again.
    await openSide(bob);
    await bob.getByLabel("Join a room").fill("town");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#room-title", { hasText: "#town" }).waitFor();
    await joined(bob);
    await ann.locator('#members button[data-member="bob"]').waitFor();
    // Unbanned since: the dialog offers nobody now.
    await ann.getByRole("button", { name: "Unban…" }).click();
    expect(await ann.getByLabel("User id").inputValue()).toBe("");
    await ann.keyboard.press("Escape");
    await unban.waitFor({ state: "hidden" });
  }, 120_000);

  it("two users exchange direct messages page to page, and a page with the terminal client; DMs are named by user, never dm.…", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);
    // bob's page asks for "my rooms" no more (each request from now on is held unanswered): what
    // brings him the conversation below is the server telling his open page, not the 10 s poll.
    let held = 0;
    await bob.route("**/chat.v1.ChatService/ListRooms", () => void held++);

    // ann starts one from bob's entry in the members list.
    await ann.locator('#members button[data-member="bob"]').click();
    await ann.getByRole("menuitem", { name: "Message bob" }).click();
    await ann.locator("#room-title", { hasText: "@bob" }).waitFor();
    await ann.locator("#member-count", { hasText: /^\d+ members?$/ }).waitFor();
    expect(await ann.locator("#composer-label").textContent()).toBe("Message @bob");
    expect(await ann.locator("#directs button").allTextContents()).toEqual(["@bob"]);
    await say(ann, "hi bob, just between us");

    // bob's page is told at once and joins it by itself: unread under Direct messages, well within the poll's 10 s.
    await openSide(bob);
    const dm = bob.locator("#directs button", { hasText: "@ann" });
    await dm.locator(".unread").waitFor({ timeout: 5_000 });
    await shot(bob, "dm-unread-phone");
    await dm.click();
    await bob.locator("#room-title", { hasText: "@ann" }).waitFor();
    const room = directRoomName("ann", "bob");
    await bob.locator(`ol[data-room="${room}"] li[data-seq]`, { hasText: "hi bob, just between us" }).waitFor();
    await say(bob, "hi ann!");
    await ann.locator(`ol[data-room="${room}"] li[data-seq]`, { hasText: "hi ann!" }).waitFor();
    expect(await messages(ann, room)).toEqual(["ann: hi bob, just between us", "bob: hi ann!"]);
    // No moderation in a direct-message room, and its dm.… name shows nowhere.
    expect(await ann.locator('#members button[data-member="bob"]').count()).toBe(0);
    for (const page of [ann, bob]) expect(await page.locator("body").innerText()).not.toContain("dm.");
    await shot(ann, "dm-desktop");
    await shot(bob, "dm-phone");

    // Not with oneself: the server's refusal is said, the field keeps what was typed.
    await ann.getByLabel("Message a user (their id)").fill("ann");
    await ann.getByRole("button", { name: "Open", exact: true }).click();
    await ann.locator("#alert", { hasText: "Could not open a conversation with ann: user_id is your own id" }).waitFor();
    expect(await ann.getByLabel("Message a user (their id)").inputValue()).toBe("ann");

    // A page and the terminal: ann opens one with carl by his id, carl is in it from the terminal.
    await ann.getByLabel("Message a user (their id)").fill("carl");
    await ann.getByRole("button", { name: "Open", exact: true }).click();
    await ann.locator("#room-title", { hasText: "@carl" }).waitFor();
    const carlRoom = directRoomName("ann", "carl");
    const carl = spawnCli(["--server", server.baseUrl, "--name", "carl", "--token", await tokenFor("carl"), "--room", carlRoom, "--json"]);
    await carl.waitForStdout('"joined"');
    carl.write("hello from the terminal");
    await ann.locator(`ol[data-room="${carlRoom}"] li[data-seq]`, { hasText: "hello from the terminal" }).waitFor();
    await say(ann, "hello terminal");
    await carl.waitForStdout("hello terminal");
    expect(await ann.locator("#directs button").allTextContents()).toEqual(["@bob", "@carl"]);
    expect(await seriousViolations(ann)).toEqual([]);
    carl.end();
    expect(await carl.exitCode()).toBe(0);
  }, 120_000);

  it("a private room created from the page: topic under the title, invisible to others, back with the DMs on a new device", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann", PHONE);
    await openSide(ann);
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("secret");
    await ann.getByLabel("Private: invited members only").check();
    await ann.getByLabel("Topic (optional)").fill("Plans for the surprise party");
    await shot(ann, "create-form-phone");
    expect(await seriousViolations(ann)).toEqual([]);
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#room-title", { hasText: "#secret" }).waitFor();
    await ann.locator("#room-topic", { hasText: "Plans for the surprise party" }).waitFor();
    expect(await ann.locator("#side").isVisible()).toBe(false); // the phone's panel folded back
    // Only the room's "created" line so far: it still invites the first message.
    await ann.locator('ol[data-room="secret"] li.empty', { hasText: "No messages yet" }).waitFor();
    await shot(ann, "private-room-new-phone");
    await say(ann, "only for the invited");
    await ann.locator('ol[data-room="secret"] li[data-seq]').waitFor();
    await shot(ann, "private-room-phone");

    // Someone else cannot tell it from a missing room.
    const bob = await signedIn(chromium.browser, server.url, "bob");
    await bob.getByLabel("Join a room").fill("secret");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#alert", { hasText: "Could not join #secret" }).waitFor();
    expect(await bob.locator("#rooms button").allTextContents()).toEqual(["#lobby"]);
    await bob.locator('#members button[data-member="ann"]').click();
    await bob.getByRole("menuitem", { name: "Message ann" }).click();
    await bob.locator("#room-title", { hasText: "@ann" }).waitFor();
    await bob.getByLabel("Join a room").fill("plaza");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#room-title", { hasText: "#plaza" }).waitFor();

    // A room that exists already is refused in the server's words.
    await openSide(ann);
    expect(await ann.locator("#create-room").getAttribute("open")).toBeNull(); // folded again after it worked
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("plaza");
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#alert", { hasText: "Could not create #plaza" }).waitFor();
    expect(await ann.locator("#alert").textContent()).toMatch(/already exists/);
    expect(await ann.locator("#rooms button").allTextContents()).toEqual(["#lobby", "#secret"]);
    await ann.locator("#room-title", { hasText: "#secret" }).waitFor(); // still on the room she was in
    await shot(ann, "create-refused-phone");

    // Invited, bob finds it among his rooms and joins it.
    await ann.getByRole("button", { name: "Invite" }).click();
    await ann.getByLabel("User id").fill("bob");
    await ann.getByRole("dialog").getByRole("button", { name: "Invite" }).click();
    await ann.locator('ol[data-room="secret"] li.action', { hasText: "ann invited bob" }).waitFor();
    const offered = bob.locator("#rooms button.not-joined", { hasText: "#secret" });
    await offered.waitFor({ timeout: 30_000 });
    await shot(bob, "invited-desktop");
    await offered.click();
    await bob.locator("#room-topic", { hasText: "Plans for the surprise party" }).waitFor();
    await bob.locator('ol[data-room="secret"] li[data-seq]', { hasText: "only for the invited" }).waitFor();
    await ann.locator('#members button[data-member="bob"]').waitFor();

    // ann on a new device: her private room and the DM are listed from "my rooms". (The phone is closed
    // first: the hub does not take one user on two devices in one room yet.)
    await ann.context().close();
    const laptop = await signedIn(chromium.browser, server.url, "ann");
    await laptop.locator("#rooms button", { hasText: "#secret" }).waitFor();
    await laptop.locator("#directs button", { hasText: "@bob" }).waitFor();
    await laptop.locator("#rooms button", { hasText: "#secret" }).click();
    await laptop.locator("#room-topic", { hasText: "Plans for the surprise party" }).waitFor();
    await laptop.locator('ol[data-room="secret"] li[data-seq]', { hasText: "only for the invited" }).waitFor();
    await shot(laptop, "my-rooms-desktop");
  }, 120_000);

  it("the room a page is in is deleted (admin API): every page in it says so, and is back in another room", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("attic");
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#room-title", { hasText: "#attic" }).waitFor();
    await openSide(bob);
    await bob.getByLabel("Join a room").fill("attic");
    await bob.getByLabel("Join a room").press("Enter");
    await bob.locator("#room-title", { hasText: "#attic" }).waitFor();
    await say(bob, "dusty up here");
    await ann.locator('ol[data-room="attic"] li[data-seq]', { hasText: "dusty up here" }).waitFor();
    // ann is looking at the lobby: the deleted room is not on her screen, the notice is still hers.
    await ann.locator("#rooms button", { hasText: "#lobby" }).click();
    await ann.locator("#room-title", { hasText: "#lobby" }).waitFor();

    await adminCall(server.url, "DeleteRoom", { room: "attic", reason: "spring cleaning" });
    for (const page of [ann, bob]) {
      await page.locator("#alert", { hasText: "#attic was deleted: spring cleaning." }).waitFor({ timeout: 5_000 });
      await page.locator("#room-title", { hasText: "#lobby" }).waitFor();
      await openSide(page);
      expect(await page.locator("#rooms button").allTextContents()).toEqual(["#lobby"]);
    }
    await shot(bob, "deleted-phone");
    expect(await seriousViolations(bob)).toEqual([]);
    // The notice stays until dismissed; the page does not join the room again by itself.
    await say(ann, "still here");
    await bob.locator('ol[data-room="lobby"] li[data-seq]', { hasText: "still here" }).waitFor();
    expect(await ann.locator("#alert").textContent()).toContain("#attic was deleted");
    expect(await ann.locator("#rooms button").allTextContents()).toEqual(["#lobby"]);
  }, 120_000);

  it("roles and mutes from the members menu; an action the server refuses shows its words in the alert area", async () => {
    const server = await startServer();
    const ann = await signedIn(chromium.browser, server.url, "ann");
    const dora = await signedIn(chromium.browser, server.url, "dora");
    const bob = await signedIn(chromium.browser, server.url, "bob", PHONE);
    await ann.getByText("Create a room").click();
    await ann.getByLabel("Name", { exact: true }).fill("club");
    await ann.getByRole("button", { name: "Create", exact: true }).click();
    await ann.locator("#room-title", { hasText: "#club" }).waitFor();
    for (const page of [dora, bob]) {
      await openSide(page);
      await page.getByLabel("Join a room").fill("club");
      await page.getByLabel("Join a room").press("Enter");
      await page.locator("#room-title", { hasText: "#club" }).waitFor();
    }
    const menuOf = async (page: Page, nickname: string) => {
      await page.locator(`#members button[data-member="${nickname}"]`).click();
      return page.locator("#member-menu [role=menuitem]").allTextContents();
    };

    // The owner makes dora a moderator: everyone sees the line, dora's menu grows.
    await ann.locator('#members button[data-member="dora"]').waitFor();
    await menuOf(ann, "dora");
    await ann.getByRole("menuitem", { name: "Make moderator" }).click();
    await dora.locator('ol[data-room="club"] li.action', { hasText: "ann made dora a moderator" }).waitFor();
    await ann.locator("#members li", { hasText: "dora" }).locator(".role", { hasText: "moderator" }).waitFor();
    await bob.locator('ol[data-room="club"] li.action', { hasText: "ann made dora a moderator" }).waitFor();
    expect(await menuOf(dora, "bob")).toEqual(["Message bob", "Kick bob…", "Ban bob…", "Mute bob…"]);

    // A dialog cancelled with Escape sends nothing and gives focus back to the member.
    await dora.getByRole("menuitem", { name: "Kick bob…" }).click();
    await dora.getByRole("dialog").waitFor();
    await dora.keyboard.press("Escape");
    await dora.getByRole("dialog").waitFor({ state: "hidden" });
    expect(await dora.evaluate(() => (document.activeElement as HTMLElement).dataset.member)).toBe("bob");
    await menuOf(dora, "bob");

    // dora mutes bob: bob's sends are refused, and the menu offers to unmute him.
    await dora.getByRole("menuitem", { name: "Mute bob…" }).click();
    await dora.getByLabel("Reason (shown to the room)").fill("calm down");
    await dora.getByRole("dialog").getByRole("button", { name: "Mute", exact: true }).click();
    await bob.locator('ol[data-room="club"] li.action', { hasText: "bob was muted by dora: calm down" }).waitFor();
    await say(bob, "but why");
    await bob.locator("#alert", { hasText: "you are muted in #club" }).waitFor();
    expect(await bob.locator("#composer-muted").textContent()).toBe("You are muted in #club: you can read, not post.");
    await shot(bob, "muted-phone");
    expect(await menuOf(dora, "bob")).toEqual(["Message bob", "Kick bob…", "Ban bob…", "Unmute bob"]);
    await dora.getByRole("menuitem", { name: "Unmute bob" }).click();
    await bob.locator('ol[data-room="club"] li.action', { hasText: "bob was unmuted by dora" }).waitFor();
    await bob.locator("#composer-muted").waitFor({ state: "hidden" });
    await say(bob, "thanks");
    await ann.locator('ol[data-room="club"] li[data-seq]', { hasText: "thanks" }).waitFor();

    // A moderator's menu a moment out of date: bob became an owner meanwhile, the kick is refused in the server's words.
    await menuOf(dora, "bob");
    await menuOf(ann, "bob");
    await ann.getByRole("menuitem", { name: "Make owner" }).click();
    await dora.locator('ol[data-room="club"] li.action', { hasText: "ann made bob an owner" }).waitFor();
    await dora.getByRole("menuitem", { name: "Kick bob…" }).click();
    await dora.getByRole("dialog").getByRole("button", { name: "Kick", exact: true }).click();
    await dora.locator("#alert", { hasText: "Could not kick bob: a moderator cannot kick a moderator or an owner" }).waitFor();
    await shot(dora, "refused-desktop");
    // Now that he is an owner, her menu offers nothing against him.
    expect(await menuOf(dora, "bob")).toEqual(["Message bob"]);
    expect(await bob.locator("#rooms button").allTextContents()).toEqual(["#lobby", "#club"]);
  }, 120_000);
});
