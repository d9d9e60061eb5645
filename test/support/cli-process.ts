/**
 * The CLI as a child process with piped stdin/stdout/stderr, the way a script
 * would run it. Output is collected as it arrives so a test can wait for a
 * line instead of sleeping.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitUntil } from "./wait.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const running = new Set<CliProcess>();

export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    // `node --import tsx` skips npm and the tsx wrapper process: faster and one pid to kill.
    this.child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1", CHAT_SERVER: "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.child.stdin.on("error", () => {}); // the CLI may exit before reading everything
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get stdoutLines(): string[] {
    return this.stdout.split("\n").filter((l) => l !== "");
  }

  get stderrLines(): string[] {
    return this.stderr.split("\n").filter((l) => l !== "");
  }

  write(...lines: string[]): void {
    this.child.stdin.write(lines.map((l) => `${l}\n`).join(""));
  }

  /** Close stdin: input is over. */
  end(): void {
    this.child.stdin.end();
  }

  async waitForStdout(match: string | RegExp, timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => matches(this.stdout, match), `stdout to contain ${match}\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`, timeoutMs);
  }

  async waitForStderr(match: string | RegExp, timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => matches(this.stderr, match), `stderr to contain ${match}\n--- stderr:\n${this.stderr}`, timeoutMs);
  }

  /** Exit status, failing the test (with the output) if it takes too long. */
  async exitCode(timeoutMs = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`CLI did not exit within ${timeoutMs} ms\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

function matches(text: string, match: string | RegExp): boolean {
  return typeof match === "string" ? text.includes(match) : match.test(text);
}

export function spawnCli(args: string[], env?: NodeJS.ProcessEnv): CliProcess {
  return new CliProcess(args, env);
}

/** Kill every CLI a test left running (call from afterEach). */
export async function stopCliProcesses(): Promise<void> {
  const all = [...running];
  for (const p of all) p.kill();
  await Promise.all(all.map((p) => p.exited));
}
