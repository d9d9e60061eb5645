/**
 * The web page in a real browser for tests: Debian's Chromium driven by
 * playwright-core, the page built from the current sources, and the helpers
 * the browser tests share (open a page and sign in, say something, read what
 * a room shows, run the axe-core accessibility checker).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { stopCliProcesses } from "./cli-process.js";
import { killServers } from "./server-process.js";
import { stopTerminalClis } from "./terminal.js";

export const CHROMIUM = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../..", import.meta.url));
export const artifacts = join(root, "test-artifacts");
export const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.REQUIRE_BROWSER) {
  throw new Error(`REQUIRE_BROWSER is set but ${CHROMIUM} is missing: apt-get install -y chromium`);
}
/** The name of a suite that skips without a browser, saying so. */
export const browserSuite = (name: string) =>
  haveBrowser ? name : `${name} (skipped: ${CHROMIUM} is missing; apt-get install chromium, or set REQUIRE_BROWSER=1 to fail instead)`;

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Build dist/web from the current sources (the server serves that) and start Chromium. */
export async function launchBrowser(): Promise<Browser> {
  execFileSync(process.execPath, ["scripts/build-web.mjs"], { cwd: root, stdio: "inherit" });
  mkdirSync(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium's own connections (refused on a closed network) slow it down.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/**
 * One Chromium for a suite: started before its tests, closed after them; after
 * each test its pages are closed and the servers and terminal clients it
 * started are stopped. Read `.browser` inside a test.
 */
export function sharedBrowser(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    for (const context of browser?.contexts() ?? []) await context.close();
    await stopCliProcesses();
    await stopTerminalClis();
    killServers();
  });
  return {
    get browser() {
      if (!browser) throw new Error("the browser is not started yet (use it inside a test)");
      return browser;
    },
  };
}

export interface OpenedPage {
  page: Page;
  /** Console errors and failed requests seen since the page opened. */
  problems: string[];
}

/** A fresh browser context (its own storage) at `url`, nothing typed yet. */
export async function newPage(browser: Browser, url: string, viewport = DESKTOP): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/** Fill the sign-in form and press Join (does not wait for the answer). */
export async function signIn(page: Page, nickname: string, room = "lobby"): Promise<void> {
  await page.getByLabel("Nickname", { exact: true }).fill(nickname);
  await page.getByLabel("Room", { exact: true }).fill(room);
  await page.getByRole("button", { name: "Join", exact: true }).click();
}

/** Wait until the page is online and the room on screen is joined. */
export async function joined(page: Page): Promise<void> {
  await page.locator('#status[data-state="online"]').waitFor();
  // The member count says "joining…" until the join is answered (folded away on a phone: attached only).
  await page.locator("#member-count", { hasText: /^\d+ members?$/ }).waitFor({ state: "attached" });
}

export async function openSignedIn(browser: Browser, url: string, nickname: string, viewport = DESKTOP, room = "lobby"): Promise<OpenedPage> {
  const opened = await newPage(browser, url, viewport);
  await signIn(opened.page, nickname, room);
  await joined(opened.page);
  return opened;
}

export async function say(page: Page, text: string): Promise<void> {
  const box = page.locator("#composer-input");
  await box.fill(text);
  await box.press("Enter");
}

/** The stored messages a room shows, as "seq sender: text". */
export const shown = (page: Page, room = "lobby") =>
  page.$$eval(`ol[data-room="${room}"] li[data-seq]`, (items) =>
    items.map((li) => `${(li as HTMLElement).dataset.seq} ${li.querySelector(".sender")!.textContent}: ${li.querySelector(".text")!.textContent}`),
  );

export const shownCount = async (page: Page, n: number, room = "lobby") => {
  await page.waitForFunction(([r, count]) => document.querySelectorAll(`ol[data-room="${r}"] li[data-seq]`).length >= (count as number), [room, n] as const);
};

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Run axe-core in the page and return its serious and critical violations.
 * Evaluated through the DevTools protocol, so the page's strict CSP (no inline
 * script) stays on while it runs.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}
