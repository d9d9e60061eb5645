/**
 * Read receipts in the web page, in Chromium, against a server that requires
 * sign-in tokens: a page in sight marks the shown room read, and the other
 * page shows "seen by …" under the last message; when a moderator turns
 * receipts off from the page's Read receipts dialog the line goes, and the
 * dialog then offers Off as the current setting. Screenshots at
 * /tmp/web-read-receipts.png and /tmp/web-read-receipts-dialog.png.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { ReadReceiptsSetting, RoomActionKind, RoomRole } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { freePort } from "./support/free-port.js";
import { moderate } from "./support/rooms.js";
import { spawnServer } from "./support/server-process.js";
import { browserSuite, DESKTOP, haveBrowser, joined, newPage, say, sharedBrowser } from "./support/browser.js";

const describeInBrowser = haveBrowser ? describe : describe.skip;
const secret = "a-development-secret-of-at-least-32-bytes!";

const tokenFor = (sub: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(secret));

async function signedIn(browser: Browser, url: string, user: string, room: string): Promise<Page> {
  const { page } = await newPage(browser, url, DESKTOP);
  await page.getByLabel("Room", { exact: true }).fill(room);
  await page.getByText("Sign-in token").click();
  await page.getByLabel("Token", { exact: true }).fill(await tokenFor(user));
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await joined(page);
  return page;
}

describeInBrowser(browserSuite("read receipts in the web page"), () => {
  const shared = sharedBrowser();

  it("the other page shows 'seen by' under the last message once it is read in sight; a moderator turns them off in the page, and the line goes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-web-receipts-"));
    const server = await spawnServer([
      ...["--store", "sqlite", "--db", join(dir, "chat.db"), "--port", String(await freePort()), "--http-port", String(await freePort())],
      ...["--auth-secret", secret, "--presence-interval-ms", "200"],
    ]);
    // The owner (a stream client) makes the room: the pages join it.
    const owner = ChatTester.connect(server.baseUrl, "olga", { token: await tokenFor("olga") });
    owner.request({ command: { case: "createRoom", value: { room: "team", nickname: "", invite: [] } } });
    await owner.joined("team");
    const alice = await signedIn(shared.browser, server.httpUrl!, "alice", "team");
    const bob = await signedIn(shared.browser, server.httpUrl!, "bob", "team");
    await say(alice, "did you see this?");
    await bob.locator('ol[data-room="team"] li[data-seq] .text', { hasText: "did you see this?" }).waitFor();
    // Bob's page is in sight: it marked the room read; Alice's page (and the owner) learn it.
    await alice.locator("#seen", { hasText: /^seen by bob$/ }).waitFor();
    await owner.waitFor("readReceipts", (e) => e.receipts.some((r) => r.userId === "bob"));
    await alice.screenshot({ path: "/tmp/web-read-receipts.png" });

    // Only moderators and owners may set them: a member's page offers no control.
    const button = alice.getByRole("button", { name: "Read receipts…" });
    expect(await button.isHidden()).toBe(true);
    const promoted = moderate(owner, "team", RoomActionKind.SET_ROLE, { targetUser: "alice", role: RoomRole.MODERATOR });
    await owner.waitFor("message", (m) => m.clientMsgId === promoted);
    await button.waitFor();
    expect(await bob.getByRole("button", { name: "Read receipts…" }).isHidden()).toBe(true);

    await button.click();
    const dialog = alice.getByRole("dialog", { name: "Read receipts in #team" });
    const setting = dialog.getByLabel("Members see who has read how far");
    expect(await setting.inputValue()).toBe(String(ReadReceiptsSetting.UNSPECIFIED));
    await setting.selectOption({ label: "Off" });
    await alice.screenshot({ path: "/tmp/web-read-receipts-dialog.png" });
    await dialog.getByRole("button", { name: "Save" }).click();
    const off = await owner.waitFor("message", (m) => m.action?.kind === RoomActionKind.SET_READ_RECEIPTS);
    expect(off).toMatchObject({ senderId: "alice", action: { readReceipts: ReadReceiptsSetting.OFF } });
    await alice.locator("#seen").waitFor({ state: "hidden" });
    expect(await alice.locator("#seen").textContent()).toBe("");
    // Opened again, the dialog starts from the setting now in force.
    await button.click();
    expect(await setting.inputValue()).toBe(String(ReadReceiptsSetting.OFF));
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    owner.end();
  });
});
