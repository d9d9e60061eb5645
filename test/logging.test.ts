/**
 * Logs: JSON lines for programs, pino-pretty's one-line form for people;
 * "auto" decides by whether the output is a terminal.
 */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, type LogFormat } from "../src/server/logger.js";
import { waitUntil } from "./support/wait.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const stripColours = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

function capture(format: LogFormat, isTTY = false) {
  const out = Object.assign(new PassThrough(), { isTTY });
  let text = "";
  out.setEncoding("utf8").on("data", (d: string) => (text += d));
  const log = createLogger({ level: "info", format, destination: out });
  return { log, text: () => stripColours(text) };
}

describe("createLogger", () => {
  it("json: one JSON object per line, with the fields given", async () => {
    const { log, text } = capture("json");
    log.info({ peer: "ipv4:127.0.0.1:5000" }, "stream opened");
    const line = await waitUntil(() => text().split("\n")[0] || undefined, "a log line");
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: "stream opened", peer: "ipv4:127.0.0.1:5000" });
  });

  it.each(["json", "pretty"] as const)("%s: a password in a URL is never written, wherever it is", async (format) => {
    const { log, text } = capture(format);
    const url = "redis://app:s3cr3t@10.0.0.5:6379/0";
    log.warn({ redis: url, err: new Error(`cannot reach ${url}`) }, `Redis at ${url} is not answering`);
    const line = await waitUntil(() => text().split("\n")[0] || undefined, "a log line");
    expect(line).not.toContain("s3cr3t");
    expect(line).toContain("redis://app:***@10.0.0.5:6379/0");
  });

  it("pretty: time, level and message, with who it is about on the same line", async () => {
    const { log, text } = capture("pretty");
    // The fields the stream open/close lines carry (or a child logger binds) say who it is.
    log.child({ nickname: "alice", rooms: ["lobby"] }).info({ peer: "ipv4:127.0.0.1:5000", reason: "client-gone" }, "stream closed");
    const line = await waitUntil(() => text().split("\n")[0] || undefined, "a log line");
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stream closed /);
    expect(line).toContain('"nickname":"alice"');
    expect(line).toContain('"rooms":["lobby"]');
    expect(line).toContain('"peer":"ipv4:127.0.0.1:5000"');
    expect(line).not.toContain("hostname");
  });

  it("auto: pretty on a terminal, JSON otherwise", async () => {
    const piped = capture("auto", false);
    const terminal = capture("auto", true);
    piped.log.info("hello");
    terminal.log.info("hello");
    const pipedLine = await waitUntil(() => piped.text().split("\n")[0] || undefined, "a piped line");
    const terminalLine = await waitUntil(() => terminal.text().split("\n")[0] || undefined, "a terminal line");
    expect(JSON.parse(pipedLine)).toMatchObject({ msg: "hello" });
    expect(terminalLine).toMatch(/INFO: hello$/);
  });
});

describe("the server's --log-format", () => {
  const children = new Set<ReturnType<typeof spawn>>();
  afterEach(() => {
    for (const c of children) c.kill("SIGKILL");
    children.clear();
  });

  /** The server as its users start it, logging in `format` into a pipe; resolves once it listens. */
  async function serverLogging(format: string) {
    const child = spawn(process.execPath, ["--import", "tsx", "src/server/main.ts", "--port", "0", "--http-port", "0", "--store", "memory"], {
      cwd: root,
      env: { ...process.env, LOG_FORMAT: format },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let stdout = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    // "close" waits for the output too; "exit" only for the process.
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await waitUntil(() => stdout.includes("chat server listening"), "the listening line", 20_000);
    return { child, closed, exited, stdout: () => stdout };
  }

  it("LOG_FORMAT=pretty on a pipe: readable lines to the last one, and a clean exit on SIGTERM", async () => {
    const { child, closed, stdout } = await serverLogging("pretty");
    child.kill("SIGTERM");
    expect(await closed).toBe(0);
    const lines = stripColours(stdout()).trim().split("\n");
    expect(lines[0]).toMatch(/INFO: chat server listening on 127\.0\.0\.1:\d+ .*\{"address":/);
    // The line written just before process.exit is there: the pretty output is synchronous.
    expect(lines.at(-1)).toMatch(/INFO: chat server stopped \{"ms":\d+\}$/);
    for (const l of lines) expect(l.startsWith("{")).toBe(false);
  });

  it("LOG_FORMAT=json on a pipe: JSON lines to the last one, and a clean exit on SIGTERM", async () => {
    const { child, closed, stdout } = await serverLogging("json");
    child.kill("SIGTERM");
    expect(await closed).toBe(0);
    const lines = stdout().trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
    // Written asynchronously, yet the line logged just before the exit is there.
    expect(lines.at(-1)!.msg).toBe("chat server stopped");
  });

  for (const format of ["json", "pretty"]) {
    it(`${format} lines on a pipe nobody reads any more (a log shipper died): SIGTERM still stops the server`, async () => {
      const { child, exited } = await serverLogging(format);
      // The reader goes away: every later write of the server's to its stdout fails (EPIPE).
      child.stdout!.destroy();
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running 10 s after SIGTERM"), 10_000))]);
      expect(code).toBe(0);
    });
  }
});
