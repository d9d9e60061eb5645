/** A server that cannot start says why in one line and exits non-zero; it never loses data silently. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/server/config.js";
import { runScript, type ScriptRun } from "./support/run-script.js";
import { killServers, spawnServer } from "./support/server-process.js";

afterEach(killServers);


function runServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ScriptRun> {
  return runScript("src/server/main.ts", ["--port", "0", "--http-port", "0", ...args], { env });
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
    // It says what to do about it, not only what went wrong.
    expect(busy.stderr.trim()).toMatch(/cannot listen on 127.0.0.1:\d+: the port is in use; pick another with --port \(or PORT\)$/);
    const bad = await runServer(["--store", "postgres"]);
    expect(bad.code).toBe(2);
    oneLine(bad.stderr);
    expect(bad.stderr).toMatch(/--store \/ STORE must be one of sqlite, memory/);
  });

  it("the HTTP port already in use: names that port and the flag that moves it", async () => {
    // Another program holding the port: a plain listening socket is enough.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    try {
      const port = (holder.address() as AddressInfo).port;
      const busy = await runServer(["--http-port", String(port), "--store", "memory"]);
      expect(busy.code).toBe(1);
      oneLine(busy.stderr);
      expect(busy.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port} \\(HTTP port\\)`));
      expect(busy.stderr.trim()).toMatch(/\(HTTP port\): the port is in use; pick another with --http-port \(or HTTP_PORT\), or turn it off with --http-port 0$/);
    } finally {
      holder.close();
    }
  });
});

describe("bad flags and environment variables", () => {
  // What the user sees: one line on stderr naming what is wrong and pointing at --help (not the
  // whole help text, which would bury it), nothing on stdout, exit status 2, no server started.
  const processCases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ["a port above 65535", ["--port", "70000"], {}, /--port \/ PORT must be an integer from 0 to 65535 \(got "70000"\)/],
    ["a port that is not a number", ["--port", "abc"], {}, /--port \/ PORT must be an integer from 0 to 65535 \(got "abc"\)/],
    ["a metrics port from the environment out of range", [], { METRICS_PORT: "99999" }, /--metrics-port \/ METRICS_PORT must be an integer from 0 to 65535 \(got "99999"\)/],
    ["a misspelt flag", ["--prot", "1"], {}, /unknown flag --prot/],
  ];

  // Independent processes: run side by side rather than one after the other.
  it.concurrent.each(processCases)("%s: one line, exit 2", async (_what, args, env, message) => {
    // runServer passes --port 0 first and a later --port wins: were a bad value accepted, the server
    // would start on an ephemeral port (and this test time out), never on a fixed one.
    const { code, stderr, stdout } = await runServer(["--store", "memory", ...args], env);
    expect(code).toBe(2);
    oneLine(stderr);
    expect(stderr).toMatch(/^chat-server: /);
    expect(stderr).toMatch(message);
    expect(stderr.trim()).toMatch(/; see --help$/);
    expect(stdout).toBe("");
  });

  // The same parser without a process per case.
  const messageCases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ["a metrics port above 65535", ["--metrics-port", "70000"], {}, /^--metrics-port \/ METRICS_PORT must be an integer from 0 to 65535 \(got "70000"\)$/],
    ["PORT out of range", [], { PORT: "65536" }, /^--port \/ PORT must be an integer from 0 to 65535 \(got "65536"\)$/],
    ["a Redis command timeout too short to be one", ["--redis-command-timeout", "50"], {}, /^--redis-command-timeout \/ REDIS_COMMAND_TIMEOUT must be an integer >= 100 \(got "50"\)$/],
    ["a negative port", ["--port=-1"], {}, /^--port \/ PORT must be an integer from 0 to 65535 \(got "-1"\)$/],
    ["a value that looks like a flag", ["--port", "-1"], {}, /^--port needs a value \(write --port=-\.\.\. for one starting with "-"\)$/],
    ["a flag without its value", ["--port"], {}, /^--port needs a value$/],
    ["a value given to --help", ["--help=yes"], {}, /^--help takes no value$/],
    ["a stray argument", ["lobby"], {}, /^unexpected argument "lobby"/],
    ["an unknown log format", ["--log-format", "fancy"], {}, /^--log-format \/ LOG_FORMAT must be one of auto, pretty, json \(got "fancy"\)$/],
    ["--tls-cert without --tls-key", ["--tls-cert", "cert.pem"], {}, /^--tls-cert and --tls-key go together$/],
  ];

  it.each(messageCases)("%s", (_what, args, env, message) => {
    let error: unknown;
    try {
      parseConfig(args, env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });

  it("accepts the edges of the port range", () => {
    expect(parseConfig(["--port", "65535", "--metrics-port", "0"], {})).toMatchObject({ port: 65535, metricsPort: "0" });
    expect(parseConfig([], { PORT: "0", METRICS_PORT: "65535" })).toMatchObject({ port: 0, metricsPort: "65535" });
  });

  it("--help prints every option and exits 0", async () => {
    const { code, stdout, stderr } = await runServer(["--help"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toContain("Usage: chat-server [options]");
    expect(stdout).toContain("--log-format");
  });
});
