/**
 * Nothing acknowledged is lost: the server is killed with SIGKILL in the
 * middle of a conversation and started again on the same database. Every
 * client reconnects by itself, and every message is then present exactly
 * once, in the same order, for every client and in the stored history.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createChatClient } from "../src/client/transport.js";
import { spawnCli, stopCliProcesses, type CliProcess } from "./support/cli-process.js";
import { killServers, spawnServer } from "./support/server-process.js";
import { waitUntil } from "./support/wait.js";

afterEach(async () => {
  await stopCliProcesses();
  killServers();
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Msg {
  seq: number;
  sender: string;
  text: string;
}

function messagesOf(cli: CliProcess): Msg[] {
  return cli.stdoutLines
    .map((l) => JSON.parse(l) as { message?: { seq: string; sender: string; text: string } })
    .filter((e) => e.message)
    .map((e) => ({ seq: Number(e.message!.seq), sender: e.message!.sender, text: e.message!.text }));
}

describe("a server crash", () => {
  it("loses no acknowledged message and duplicates none; clients resume by themselves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-crash-"));
    const port = await freePort();
    const args = ["--port", String(port), "--db", join(dir, "chat.db"), "--rate-limit", "0"];
    const first = await spawnServer(args);
    const names = ["ann", "ben", "cid"];
    const clients = names.map((n) => spawnCli(["--server", first.baseUrl, "--name", n, "--room", "lobby", "--json"]));
    for (const c of clients) await c.waitForStdout('"joined"');

    let written = 0;
    const say = (round: number, count: number) => {
      clients.forEach((c, i) => {
        for (let k = 0; k < count; k++) c.write(`${names[i]} ${round}.${k}`);
        written += count;
      });
    };
    say(1, 20);
    // Wait until the conversation is well under way, then keep talking and kill the server mid-stream.
    await waitUntil(() => clients.every((c) => messagesOf(c).length >= 30), "first messages acknowledged", 20_000);
    say(2, 20);
    first.child.kill("SIGKILL");
    const acknowledgedBeforeCrash = clients.map((c, i) => messagesOf(c).filter((m) => m.sender === names[i]));
    expect(acknowledgedBeforeCrash.every((a) => a.length > 0)).toBe(true);

    // Talk while the server is down, then bring it back on the same database.
    say(3, 10);
    await first.exited;
    const second = await spawnServer(args);
    for (const c of clients) await c.waitForStderr(/reconnected/, 30_000);
    say(4, 10);
    for (const c of clients) c.end();
    for (const c of clients) expect(await c.exitCode(60_000)).toBe(0);

    // The stored history is the reference: every line written, exactly once.
    const history: Msg[] = [];
    const client = createChatClient(second.baseUrl);
    for (let after = 0n; ; ) {
      const page = await client.getHistory({ room: "lobby", afterSeq: after, limit: 500 });
      history.push(...page.messages.map((m) => ({ seq: Number(m.seq), sender: m.sender, text: m.text })));
      if (!page.hasMore) break;
      after = page.messages[page.messages.length - 1].seq;
    }
    expect(history).toHaveLength(written);
    expect(new Set(history.map((m) => m.text)).size).toBe(written);
    history.forEach((m, i) => expect(m.seq).toBe(i + 1));
    // Everything acknowledged before the crash survived, with its sequence number.
    for (const acked of acknowledgedBeforeCrash) for (const m of acked) expect(history[m.seq - 1]).toEqual(m);
    // Each client saw history from the start, in order, each message once, at least up to all its own
    // messages and everything acknowledged before the crash. (A client exits once its own messages are
    // acknowledged, so it may leave before another client's last resends arrive.)
    const lastAckedBeforeCrash = Math.max(...acknowledgedBeforeCrash.flat().map((m) => m.seq));
    clients.forEach((c, i) => {
      const seen = messagesOf(c);
      expect(seen).toEqual(history.slice(0, seen.length));
      const lastOwn = Math.max(...history.filter((m) => m.sender === names[i]).map((m) => m.seq));
      expect(seen.length).toBeGreaterThanOrEqual(Math.max(lastOwn, lastAckedBeforeCrash));
    });
  });
});
