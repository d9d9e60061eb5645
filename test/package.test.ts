/**
 * The package as a user gets it: `npm pack` (which builds dist/ through the
 * prepare script), installed into an empty directory, and the two installed
 * commands run from node_modules/.bin with no TypeScript tooling anywhere:
 * the server serves (the web client's page too), the client sends in its scripted mode, and SIGTERM to
 * the server command drains and exits 0.
 */
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./support/free-port.js";
import { waitUntil } from "./support/wait.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

/** The environment for npm and for the installed commands. */
function cleanEnv(): NodeJS.ProcessEnv {
  // Under `npm test` the outer npm exports its configuration (npm_config_local_prefix is this
  // repository): a nested npm would take it for its own and install into the repository.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  // The installed commands start with `#!/usr/bin/env node`: make that the node running the tests,
  // whose ABI the reused addon below was built for.
  env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ""}`;
  return env;
}

/**
 * better-sqlite3's install script tries a prebuilt binary from GitHub and, where that cannot be
 * downloaded (as here), compiles SQLite from source: about two minutes on two cores. The
 * repository's node_modules already holds that addon, compiled by `npm ci` for this same Node
 * (same ABI) and better-sqlite3 version, so the install script gets it through prebuild-install's
 * documented local-prebuilds directory instead of compiling it again. The script still runs and
 * still loads the binary to check it; with another Node or version the file name does not match
 * and it compiles from source, as it would for a user.
 */
function localPrebuild(dir: string): { env: NodeJS.ProcessEnv; version: string } {
  const moduleDir = join(root, "node_modules", "better-sqlite3");
  const version = JSON.parse(readFileSync(join(moduleDir, "package.json"), "utf8")).version as string;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  const libc = process.platform === "linux" && !header?.glibcVersionRuntime ? "musl" : "";
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`;
  mkdirSync(dir, { recursive: true });
  if (existsSync(join(moduleDir, "build", "Release", "better_sqlite3.node"))) {
    execFileSync("tar", ["-czf", join(dir, name), "-C", moduleDir, "build/Release/better_sqlite3.node"]);
  }
  return { env: { npm_config_better_sqlite3_local_prebuilds: dir }, version };
}

/** A command with its output collected as it arrives, so a test waits for a line instead of sleeping. */
class Command {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly child: ChildProcessWithoutNullStreams;

  constructor(file: string, args: string[], cwd: string) {
    // Spawned as a program (not `node file`): the shebang and the executable bit are part of the test.
    this.child = spawn(file, args, { cwd, env: { ...cleanEnv(), NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) => this.child.on("close", (code, signal) => resolve({ code, signal })));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  jsonLines(): Record<string, any>[] {
    return this.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
  }

  async waitFor(probe: (lines: Record<string, any>[]) => unknown, what: string, timeoutMs = 15_000): Promise<void> {
    await waitUntil(() => probe(this.jsonLines()), `${what}\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`, timeoutMs);
  }

  async exit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void this.exited.then((r) => (done = r));
    return waitUntil(() => done, `exit\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`, timeoutMs);
  }
}

const running = new Set<Command>();
let work: string;
let app: string;
let packedFiles: string[];

describe("the npm package", () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "chat-package-"));
    // With --json the report is on stdout; the prepare script's output goes to stderr.
    const packed = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, env: cleanEnv(), maxBuffer: 16 << 20 });
    const [report] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    packedFiles = report.files.map((f) => f.path);

    app = join(work, "app");
    mkdirSync(app);
    // A user's project approving better-sqlite3's install script, as this repository does.
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, allowScripts: { "better-sqlite3": true, protobufjs: false } }));
    const prebuild = localPrebuild(join(work, "prebuilds"));
    // The registry is reachable, but what `npm ci` fetched is already in the npm cache: use it.
    // better-sqlite3 is pinned to the repository's version (within the package's own range) so the
    // addon above matches.
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, report.filename), `better-sqlite3@${prebuild.version}`], {
      cwd: app,
      env: { ...cleanEnv(), ...prebuild.env },
      maxBuffer: 16 << 20,
    });
  }, 600_000); // compiling better-sqlite3, when the addon cannot be reused, takes minutes

  afterEach(async () => {
    const all = [...running];
    for (const c of all) c.child.kill("SIGKILL");
    await Promise.all(all.map((c) => c.exited));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("contains the compiled commands, the compiled generated code, the schema and the README; no sources or tests", () => {
    for (const f of [
      "package.json",
      "README.md",
      "bin/chat-server.js",
      "bin/chat.js",
      "dist/src/server/main.js",
      "dist/src/cli/main.js",
      "dist/gen/chat/v1/chat_pb.js",
      "dist/web/index.html",
      "dist/web/app.js",
      "dist/web/style.css",
      "proto/chat/v1/chat.proto",
    ]) {
      expect(packedFiles).toContain(f);
    }
    expect(packedFiles.filter((f) => f.endsWith(".ts") || f.startsWith("src/") || f.startsWith("test/") || f.startsWith("gen/") || f.includes(".test."))).toEqual([]);
  });

  it("installs already built, without TypeScript tooling: no tsx, no typescript", () => {
    const installed = join(app, "node_modules");
    expect(existsSync(join(installed, "grpc-chat", "dist", "src", "server", "main.js"))).toBe(true);
    expect(existsSync(join(installed, "tsx"))).toBe(false);
    expect(existsSync(join(installed, "typescript"))).toBe(false);
  });

  it("chat-server serves, chat sends from a pipe, and SIGTERM to chat-server drains and exits 0", async () => {
    const bin = join(app, "node_modules", ".bin");
    const httpPort = await freePort();
    const server = new Command(join(bin, "chat-server"), ["--port", "0", "--http-port", String(httpPort), "--store", "memory", "--log-format", "json"], app);
    await server.waitFor((lines) => lines.find((l) => String(l.msg).includes("listening")), "the server to listen", 20_000);
    const listening = server.jsonLines().find((l) => String(l.msg).includes("listening"))!;
    // The pid we signal is the server itself, not a wrapper around it.
    expect(listening.pid).toBe(server.child.pid);
    const url = `http://${listening.address}`;

    // The web client comes with the package: its page and bundle are served on the HTTP port.
    expect(listening.http).toBe(`http://127.0.0.1:${httpPort}`);
    const page = await fetch(`${listening.http}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');
    const bundle = await fetch(`${listening.http}/app.js`);
    expect(bundle.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await bundle.text()).length).toBeGreaterThan(10_000);

    // A member that stays connected, to see the message and then the drain.
    const watcher = new Command(join(bin, "chat"), ["--server", url, "--name", "watcher", "--room", "lobby", "--json"], app);
    await watcher.waitFor((events) => events.find((e) => e.joined), "the watcher to join");

    const sender = new Command(join(bin, "chat"), ["--server", url, "--name", "bot", "--room", "lobby", "--json"], app);
    sender.child.stdin.end("hello from the package\n");
    expect(await sender.exit()).toEqual({ code: 0, signal: null });
    expect(sender.stderr).toBe("");
    const echoed = sender.jsonLines().find((e) => e.message)?.message;
    expect(echoed).toMatchObject({ room: "lobby", sender: "bot", text: "hello from the package" });
    expect(echoed.clientMsgId).toMatch(/^bot-/);
    await watcher.waitFor((events) => events.find((e) => e.message?.text === "hello from the package"), "the watcher to receive the message");

    server.child.kill("SIGTERM");
    expect(await server.exit()).toEqual({ code: 0, signal: null });
    expect(server.stderr).toBe("");
    expect(server.jsonLines().map((l) => l.msg)).toContain("chat server stopped");
    // Drained, not dropped: the connected member was told the server is shutting down.
    await watcher.waitFor((events) => events.find((e) => e.shutdown), "the watcher to get the shutdown event");
  });
});
