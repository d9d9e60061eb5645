/**
 * The web client in a real browser (Debian's Chromium, driven by
 * playwright-core), against the server as a separate `node` process on a
 * SQLite file: two pages and a terminal client chat in one room; message text
 * is only ever text; the server restarts and the pages resume without losing
 * or repeating anything, including what was typed while it was down.
 * Screenshots at desktop and phone sizes go to test-artifacts/.
 *
 * Without /usr/bin/chromium these tests are skipped (say so in their name),
 * unless REQUIRE_BROWSER is set, as CI does after installing it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawnCli, stopCliProcesses, type CliProcess } from "./support/cli-process.js";
import { freePort } from "./support/free-port.js";
import { killServers, spawnServer, type ServerProcess } from "./support/server-process.js";
import { waitUntil } from "./support/wait.js";

const CHROMIUM = "/usr/bin/chromium";
const root = fileURLToPath(new URL("..", import.meta.url));
const artifacts = join(root, "test-artifacts");
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.REQUIRE_BROWSER) {
  throw new Error(`REQUIRE_BROWSER is set but ${CHROMIUM} is missing: apt-get install -y chromium`);
}
const describeInBrowser = haveBrowser ? describe : describe.skip;
const suiteName = haveBrowser ? "the web client in Chromium" : `the web client in Chromium (skipped: ${CHROMIUM} is missing; apt-get install chromium, or set REQUIRE_BROWSER=1 to fail instead)`;

/** A message as the page shows it: "seq sender: text". */
const shown = (page: Page, room = "lobby") =>
  page.$$eval(`ol[data-room="${room}"] li[data-seq]`, (items) =>
    items.map((li) => `${(li as HTMLElement).dataset.seq} ${li.querySelector(".sender")!.textContent}: ${li.querySelector(".text")!.textContent}`),
  );

const shownCount = async (page: Page, n: number, room = "lobby") => {
  await page.waitForFunction(([r, count]) => document.querySelectorAll(`ol[data-room="${r}"] li[data-seq]`).length >= (count as number), [room, n] as const);
};

/** The messages a terminal client printed with --json, as "seq sender: text". */
const printed = (cli: CliProcess) =>
  cli.stdoutLines
    .map((l) => JSON.parse(l) as { message?: { seq: string; sender: string; text: string } })
    .flatMap((e) => (e.message ? [`${e.message.seq} ${e.message.sender}: ${e.message.text}`] : []));

describeInBrowser(suiteName, () => {
  let browser: Browser;
  const dialogs: string[] = [];

  beforeAll(async () => {
    // The page the server serves is dist/web: build it from the current sources (esbuild, well under a second).
    execFileSync(process.execPath, ["scripts/build-web.mjs"], { cwd: root, stdio: "inherit" });
    mkdirSync(artifacts, { recursive: true });
    // playwright-core starts Chromium with a fresh temporary profile (user-data-dir) every launch.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Without the background-networking flags Chromium's own connections (refused on a closed network) slow it down.
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    for (const context of browser.contexts()) await context.close();
    await stopCliProcesses();
    killServers();
    dialogs.length = 0;
  });

  /** A page joined to #lobby; in its own browser context unless given one (tabs of one context share localStorage). */
  async function openPage(url: string, nickname: string, viewport = { width: 1280, height: 800 }, shared?: BrowserContext): Promise<Page> {
    const context = shared ?? (await browser.newContext({ viewport }));
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(url);
    await page.getByLabel("Nickname", { exact: true }).fill(nickname);
    await page.getByLabel("Room", { exact: true }).fill("lobby");
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.locator('#status[data-state="online"]').waitFor();
    // Joined (the sidebar that shows it is folded away on a phone, so only attached).
    await page.locator("#member-count", { hasText: "member" }).waitFor({ state: "attached" });
    return page;
  }

  const authSecret = "a-development-secret-of-at-least-32-bytes!";
  const tokenFor = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(authSecret));

  /** A new tab of `context` signed in with a token for `sub`, joined to #lobby. */
  async function signedInPage(context: BrowserContext, url: string, sub: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(url);
    await page.getByLabel("Room", { exact: true }).fill("lobby");
    await page.getByText("Sign-in token").click();
    await page.getByLabel("Token", { exact: true }).fill(await tokenFor(sub));
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.locator("#member-count", { hasText: "member" }).waitFor();
    return page;
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.getByLabel("Message #lobby").fill(text);
    await page.getByLabel("Message #lobby").press("Enter");
  }

  async function startServer(db: string, ports?: { grpc: number; http: number }, extra: string[] = []): Promise<ServerProcess & { grpc: number; http: number }> {
    const p = ports ?? { grpc: await freePort(), http: await freePort() };
    const server = await spawnServer(["--store", "sqlite", "--db", db, "--port", String(p.grpc), "--http-port", String(p.http), ...extra]);
    return { ...server, ...p };
  }

  it("two pages and a terminal client in one room see each other's messages in the same order", async () => {
    const server = await startServer(join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db"));
    const ann = await openPage(server.httpUrl!, "ann");
    const bob = await openPage(server.httpUrl!, "bob", { width: 390, height: 844 });
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    await cli.waitForStdout('"joined"');
    await ann.locator("#members li", { hasText: "cli" }).waitFor();

    await say(ann, "hello from the browser");
    await shownCount(bob, 1);
    cli.write("hello from the terminal");
    await shownCount(ann, 2);
    await say(bob, "and from a phone");
    await shownCount(ann, 3);
    await shownCount(bob, 3);
    await waitUntil(() => printed(cli).length >= 3 || undefined, "the terminal client to print 3 messages", 10_000);

    const expected = ["1 ann: hello from the browser", "2 cli: hello from the terminal", "3 bob: and from a phone"];
    expect(await shown(ann)).toEqual(expected);
    expect(await shown(bob)).toEqual(expected);
    expect(printed(cli)).toEqual(expected);
    // Members, as every page lists them.
    expect(await ann.locator("#members li").allTextContents()).toEqual(["ann (you)", "bob", "cli"]);

    await ann.screenshot({ path: join(artifacts, "web-desktop.png") });
    await bob.screenshot({ path: join(artifacts, "web-phone.png") });
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  }, 90_000);

  it("keyboard only: sign in, chat, join and switch rooms, page back through history, see who is typing", async () => {
    const server = await startServer(join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db"));
    // 60 messages in #big before anyone opens a page: more than a join brings (50).
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "big", "--json"]);
    cli.write(...Array.from({ length: 60 }, (_, i) => `old message ${i + 1}`));
    await waitUntil(() => printed(cli).length >= 60 || undefined, "the terminal client's 60 messages", 20_000);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(server.httpUrl!);
    // The nickname field has focus; Tab moves to the room; Enter submits; the message box then has focus.
    await page.keyboard.type("kim");
    await page.keyboard.press("Tab");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("lobby");
    await page.keyboard.press("Enter");
    await page.locator('#status[data-state="online"]').waitFor();
    await page.keyboard.type("typed without a mouse");
    await page.keyboard.press("Enter");
    await shownCount(page, 1);
    expect(await shown(page)).toEqual(["1 kim: typed without a mouse"]);

    // Join #big from the side panel's field, by keyboard.
    await page.getByLabel("Join a room").focus();
    await page.keyboard.type("big");
    await page.keyboard.press("Enter");
    await shownCount(page, 50, "big");
    expect(await page.getByRole("heading", { level: 2, name: "#big" }).count()).toBe(1);
    const older = page.getByRole("button", { name: "Load older messages" });
    await older.focus();
    await page.keyboard.press("Enter");
    await shownCount(page, 60, "big");
    const big = await shown(page, "big");
    expect(big).toEqual(Array.from({ length: 60 }, (_, i) => `${i + 1} cli: old message ${i + 1}`));
    await older.waitFor({ state: "hidden" });

    // Someone typing in #big shows under its messages; back in #lobby, nothing was lost.
    const bob = await openPage(server.httpUrl!, "bob");
    await bob.getByLabel("Join a room").fill("big");
    await bob.getByLabel("Join a room").press("Enter");
    // Typing is only announced in a room the page has joined: wait for the join to be answered.
    await bob.locator("#member-count", { hasText: /^\d+ members?$/ }).waitFor({ state: "attached" });
    await bob.getByLabel("Message #big").pressSequentially("hel");
    await page.locator("#typing", { hasText: "bob is typing…" }).waitFor();
    await page.getByRole("button", { name: /^#lobby/ }).focus();
    await page.keyboard.press("Enter");
    expect(await page.getByRole("heading", { level: 2, name: "#lobby" }).count()).toBe(1);
    expect(await shown(page)).toEqual(["1 kim: typed without a mouse"]);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  }, 90_000);

  it("message text is shown as text: markup in a message is neither rendered nor run", async () => {
    const server = await startServer(join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db"));
    const ann = await openPage(server.httpUrl!, "ann");
    const bob = await openPage(server.httpUrl!, "bob");
    const payload = "<img src=x onerror=alert(1)>";
    await say(ann, payload);
    const cli = spawnCli(["--server", server.baseUrl, "--name", "cli", "--room", "lobby", "--json"]);
    cli.write("<script>alert(2)</script><b>bold?</b>");
    await shownCount(bob, 2);
    for (const page of [ann, bob]) {
      expect((await shown(page)).map((s) => s.replace(/^\d+ \w+: /, ""))).toEqual([payload, "<script>alert(2)</script><b>bold?</b>"]);
      expect(await page.locator("#logs img, #logs script, #logs b").count()).toBe(0);
    }
    expect(dialogs).toEqual([]);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  }, 60_000);

  it("a reload keeps the rooms and what was typed but not yet sent, and sends it once", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
    let server = await startServer(db);
    const ann = await openPage(server.httpUrl!, "ann");
    await ann.getByLabel("Join a room").fill("second");
    await ann.getByLabel("Join a room").press("Enter");
    await ann.getByRole("button", { name: "#lobby" }).click();
    const bob = await openPage(server.httpUrl!, "bob");
    await say(ann, "before the reload");
    await shownCount(bob, 1);

    // Reloaded while online: straight back into both rooms, on the room that was on screen, history shown.
    await ann.reload();
    await ann.locator('#status[data-state="online"]').waitFor();
    await shownCount(ann, 1);
    expect(await ann.locator("#login").isHidden()).toBe(true);
    expect(await ann.locator("#room-title").textContent()).toBe("#lobby");
    expect(await ann.locator("#rooms button").allTextContents()).toEqual(["#lobby", "#second"]);

    // Typed while the server is down, then reloaded: the browser shows its error page until the
    // server is back, and the next load still has the message and sends it.
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await ann.locator('#status[data-state="reconnecting"]').waitFor();
    await say(ann, "typed offline, then reloaded");
    await ann.locator("li.pending", { hasText: "typed offline, then reloaded" }).waitFor();
    await ann.reload().catch(() => {}); // the page's server is down: a browser error page
    server = await startServer(db, { grpc: server.grpc, http: server.http });
    await ann.reload();
    await ann.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
    await bob.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
    for (const page of [ann, bob]) await shownCount(page, 2);
    const expected = ["1 ann: before the reload", "2 ann: typed offline, then reloaded"];
    expect(await shown(ann)).toEqual(expected);
    expect(await shown(bob)).toEqual(expected);
    expect(await ann.locator("li.pending").count()).toBe(0);
    // Once: a new member sees the history the server stored.
    const cli = spawnCli(["--server", server.baseUrl, "--name", "late", "--room", "lobby", "--json"]);
    cli.write("after");
    await shownCount(ann, 3);
    expect(await shown(ann)).toEqual([...expected, "3 late: after"]);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  }, 120_000);

  it("signed in, a reload asks for the token again, then sends what was typed before it", async () => {
    const token = await tokenFor("ann");
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
    const auth = ["--auth-secret", authSecret];
    let server = await startServer(db, undefined, auth);
    const ann = await signedInPage(await browser.newContext(), server.httpUrl!, "ann");

    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await ann.locator('#status[data-state="reconnecting"]').waitFor();
    await say(ann, "typed before signing in again");
    await ann.locator("li.pending").waitFor();
    await ann.reload().catch(() => {}); // the page's server is down: a browser error page
    server = await startServer(db, { grpc: server.grpc, http: server.http }, auth);
    await ann.reload();
    // The token was not kept: the form comes back, filled in, saying what is waiting.
    await ann.locator("#alert", { hasText: "Sign in again to send the message typed before the page was reloaded." }).waitFor();
    expect(await ann.getByLabel("Nickname", { exact: true }).inputValue()).toBe("ann");
    expect(await ann.getByLabel("Room", { exact: true }).inputValue()).toBe("lobby");
    await ann.getByLabel("Token", { exact: true }).fill(token);
    await ann.getByRole("button", { name: "Join", exact: true }).click();
    await shownCount(ann, 1);
    expect(await shown(ann)).toEqual(["1 ann: typed before signing in again"]);
    expect(await ann.locator("li.pending").count()).toBe(0);
  }, 120_000);

  it("a tab closed before its messages went out: the user's next tab sends them, once; another user's tab does not", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
    let server = await startServer(db);
    const browserProfile = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const first = await openPage(server.httpUrl!, "ann", undefined, browserProfile);
    const bob = await openPage(server.httpUrl!, "bob");
    await say(first, "sent before the server went away");
    await shownCount(bob, 1);

    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await first.locator('#status[data-state="reconnecting"]').waitFor();
    await say(first, "typed offline, then the tab was closed");
    await say(first, "and a second one");
    await first.locator("li.pending", { hasText: "and a second one" }).waitFor();
    await first.close();
    server = await startServer(db, { grpc: server.grpc, http: server.http });
    await bob.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });

    // Another user in the same browser: the stranded messages are not theirs to send.
    const carol = await openPage(server.httpUrl!, "carol", undefined, browserProfile);
    await say(carol, "carol here");
    await shownCount(bob, 2);
    expect(await carol.locator("li.pending").count()).toBe(0);
    expect(await carol.locator("#alert").isHidden()).toBe(true);
    // A tab of Ann's closed longer ago than the server remembers message ids: not resent (it could be stored twice).
    await carol.evaluate((savedAt) => {
      const pending = [{ id: "web-long-ago", room: "lobby", text: "typed long ago" }];
      localStorage.setItem("chat.outbox.v1.long-closed-tab", JSON.stringify({ nickname: "ann", signedIn: false, pending, savedAt }));
    }, Date.now() - 13 * 3600_000);

    // Ann's next tab: told, and the messages go out under their first ids.
    const next = await openPage(server.httpUrl!, "ann", undefined, browserProfile);
    await next.locator("#alert li.note", { hasText: "2 messages typed in a tab closed before they went out are sent from this one." }).waitFor();
    await shownCount(bob, 4);
    const expected = ["1 ann: sent before the server went away", "2 carol: carol here", "3 ann: typed offline, then the tab was closed", "4 ann: and a second one"];
    expect(await shown(bob)).toEqual(expected);
    await shownCount(next, 4);
    expect(await next.locator("li.pending").count()).toBe(0);
    await next.screenshot({ path: join(artifacts, "web-stranded-messages.png") });
    // Nothing is left for a later tab to send again.
    await next.waitForFunction(() => !Object.keys(localStorage).some((k) => k.startsWith("chat.outbox.")));
    const late = await openPage(server.httpUrl!, "dan", undefined, browserProfile);
    await shownCount(late, 4);
    expect(await shown(late)).toEqual(expected);
  }, 120_000);

  it("signed in: a closed tab's unsent message goes out from the same user's next tab, not from another user's", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
    const auth = ["--auth-secret", authSecret];
    let server = await startServer(db, undefined, auth);
    const profile = await browser.newContext();
    const signIn = (sub: string) => signedInPage(profile, server.httpUrl!, sub);
    const first = await signIn("ann");
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await first.locator('#status[data-state="reconnecting"]').waitFor();
    await say(first, "signed in, typed offline, tab closed");
    await first.locator("li.pending").waitFor();
    await first.close();
    server = await startServer(db, { grpc: server.grpc, http: server.http }, auth);

    const bob = await signIn("bob");
    await say(bob, "bob here");
    await shownCount(bob, 1);
    expect(await bob.locator("li.pending").count()).toBe(0);
    const next = await signIn("ann");
    await next.locator("#alert li.note", { hasText: "A message typed in a tab closed before it went out is sent from this one." }).waitFor();
    await shownCount(bob, 2);
    expect(await shown(bob)).toEqual(["1 bob: bob here", "2 ann: signed in, typed offline, tab closed"]);
  }, 120_000);

  it("the server restarts: the pages reconnect and resume, losing and repeating nothing, and send what was typed meanwhile", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "chat-web-")), "chat.db");
    let server = await startServer(db);
    const ann = await openPage(server.httpUrl!, "ann");
    const bob = await openPage(server.httpUrl!, "bob");
    await say(ann, "before the restart");
    await shownCount(bob, 1);

    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
    await ann.locator('#status[data-state="reconnecting"]').waitFor();
    await say(ann, "typed while the server was down");
    await say(bob, "bob typed too");
    // Shown as waiting, not lost.
    await ann.locator("li.pending", { hasText: "typed while the server was down" }).waitFor();
    await ann.screenshot({ path: join(artifacts, "web-reconnecting.png") });

    server = await startServer(db, { grpc: server.grpc, http: server.http });
    for (const page of [ann, bob]) {
      await page.locator('#status[data-state="online"]').waitFor({ timeout: 40_000 });
      await shownCount(page, 3);
    }
    // Anyone who joins now sees the same history: what the server stored, once each.
    const cli = spawnCli(["--server", server.baseUrl, "--name", "late", "--room", "lobby", "--json"]);
    cli.write("after the restart");
    for (const page of [ann, bob]) await shownCount(page, 4);
    const annSees = await shown(ann);
    expect(annSees).toHaveLength(4);
    expect(new Set(annSees.map((s) => s.split(" ")[0])).size).toBe(4);
    expect(annSees[0]).toBe("1 ann: before the restart");
    // The two messages typed offline, stored once each, in whichever order the pages came back.
    expect(annSees.slice(1, 3).map((s) => s.replace(/^[23] /, "")).sort()).toEqual(["ann: typed while the server was down", "bob: bob typed too"]);
    expect(annSees[3]).toBe("4 late: after the restart");
    expect(await shown(bob)).toEqual(annSees);
    expect(await ann.locator("li.pending").count()).toBe(0);
    cli.end();
    expect(await cli.exitCode()).toBe(0);
  }, 120_000);
});
