/** The CLI against a server that requires a token, and one that serves TLS. */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { makeCert } from "./support/certs.js";
import { spawnCli, stopCliProcesses } from "./support/cli-process.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(async () => {
  await stopCliProcesses();
  await stopTestServers();
});

const root = fileURLToPath(new URL("..", import.meta.url));
const secret = "cli-test-secret-that-is-at-least-32-bytes";

function mint(sub: string, extra: string[] = []): string {
  return execFileSync(process.execPath, ["--import", "tsx", "src/cli/mint-token.ts", "--sub", sub, "--secret", secret, ...extra], { cwd: root })
    .toString()
    .trim();
}

describe("CLI with authentication", () => {
  it("chats with a minted token, under the token's name", async () => {
    const server = await startTestServer({ authSecret: secret });
    const token = mint("alice");
    expect(token.split(".")).toHaveLength(3);
    const alice = spawnCli(["--server", server.baseUrl, "--name", "alice", "--token", token]);
    await alice.waitForStdout("joined #lobby as alice");
    alice.write("signed message");
    alice.end();
    expect(await alice.exitCode()).toBe(0);
    expect(alice.stdout).toMatch(/<alice> signed message/);
  });

  it("a user id that is not a nickname chats under a display name; others see its id on every message", async () => {
    const server = await startTestServer({ authSecret: secret });
    const id = "0d9e4b7c-5a41-4f63-9c1e-7a2b3c4d5e6f";
    const ann = spawnCli(["--server", server.baseUrl, "--name", "Ann", "--token", mint(id, ["--name", "Ann"]), "--json"]);
    await ann.waitForStdout('"joined"');
    ann.write("hello from a uuid");
    ann.end();
    expect(await ann.exitCode()).toBe(0);
    const stored = await server.hub.history("lobby", { limit: 10 });
    expect(stored.messages.map((m) => [m.sender, m.senderId, m.text])).toContainEqual(["Ann", id, "hello from a uuid"]);
  });

  it("without a token: one line saying so, non-zero exit", async () => {
    const server = await startTestServer({ authSecret: secret });
    const anon = spawnCli(["--server", server.baseUrl, "--name", "anon"]);
    anon.end();
    expect(await anon.exitCode()).not.toBe(0);
    expect(anon.stderrLines).toHaveLength(1);
    expect(anon.stderr).toMatch(/missing bearer token/);
  });
});

describe("CLI over TLS", () => {
  it("connects with --ca, and refuses an untrusted certificate in one line", async () => {
    const cert = makeCert();
    const server = await startTestServer({ tlsCert: cert.certFile, tlsKey: cert.keyFile });
    const url = `https://127.0.0.1:${server.port}`;
    const trusting = spawnCli(["--server", url, "--name", "tls", "--ca", cert.certFile]);
    await trusting.waitForStdout("joined #lobby as tls");
    trusting.write("over tls");
    trusting.end();
    expect(await trusting.exitCode()).toBe(0);

    const untrusting = spawnCli(["--server", url, "--name", "eve"]);
    untrusting.end();
    expect(await untrusting.exitCode()).not.toBe(0);
    expect(untrusting.stderrLines).toHaveLength(1);
    expect(untrusting.stderr).toMatch(/certificate/i);
  });
});
