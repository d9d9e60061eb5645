/** A server that cannot start says why in one line and exits non-zero; it never loses data silently. */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { killServers, spawnServer } from "./support/server-process.js";

afterEach(killServers);

const root = fileURLToPath(new URL("..", import.meta.url));

function runServer(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/server/main.ts", "--port", "0", ...args], { cwd: root });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => (stdout += d));
    child.on("close", (code) => resolve({ code, stderr, stdout }));
  });
}

const oneLine = (text: string) => expect(text.trim().split("\n")).toHaveLength(1);

describe("startup errors", () => {
  it("a corrupt database file: names the file, exits non-zero, leaves the file as it was", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "chat-corrupt-")), "chat.db");
    const garbage = Buffer.from("this is not a database, but somebody's precious file\n".repeat(100));
    writeFileSync(file, garbage);
    const { code, stderr } = await runServer(["--db", file]);
    expect(code).not.toBe(0);
    oneLine(stderr);
    expect(stderr).toContain(file);
    expect(stderr).toMatch(/not a database/);
    expect(readFileSync(file)).toEqual(garbage);
  });

  it("a database another server is using", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "chat-locked-")), "chat.db");
    await spawnServer(["--port", "0", "--db", file]);
    const { code, stderr } = await runServer(["--db", file]);
    expect(code).not.toBe(0);
    oneLine(stderr);
    expect(stderr).toContain(file);
    expect(stderr).toMatch(/locked/);
  });

  it("a database path that cannot be created", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-unwritable-"));
    writeFileSync(join(dir, "a-file"), "");
    const file = join(dir, "a-file", "chat.db");
    const { code, stderr } = await runServer(["--db", file]);
    expect(code).not.toBe(0);
    oneLine(stderr);
    expect(stderr).toContain(file);
  });

  it("a port already in use, and a bad flag", async () => {
    const first = await spawnServer(["--port", "0", "--store", "memory"]);
    const port = first.address.split(":").pop()!;
    const busy = await runServer(["--port", port, "--store", "memory"]);
    expect(busy.code).not.toBe(0);
    oneLine(busy.stderr);
    expect(busy.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}`));
    const bad = await runServer(["--store", "postgres"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toMatch(/--store \/ STORE must be one of sqlite, memory/);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  });
});
