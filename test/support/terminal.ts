/**
 * The interactive CLI on a real pseudo-terminal (test/support/pty-run.py,
 * Python's pty module), its output fed to a headless terminal emulator
 * (xterm.js) so a test reads the screen as a person would see it: what is on
 * each row now, and everything that scrolled by. Keys are typed as a
 * terminal sends them ("\r" for Enter, "\x04" for Ctrl-D).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import xterm from "@xterm/headless";
import { waitUntil } from "./wait.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const ptyRun = fileURLToPath(new URL("./pty-run.py", import.meta.url));
const running = new Set<TerminalCli>();

export class TerminalCli {
  readonly exited: Promise<number | null>;
  /** Everything the program wrote, escape sequences included. */
  raw = "";
  stderr = "";
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly term: xterm.Terminal;
  private pending = 0;

  constructor(
    args: string[],
    readonly cols = 100,
    readonly rows = 30,
  ) {
    this.term = new xterm.Terminal({ cols, rows, scrollback: 5000, allowProposedApi: true });
    this.child = spawn("python3", [ptyRun, String(cols), String(rows), process.execPath, "--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1", TERM: "xterm-256color", CHAT_SERVER: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout.on("data", (d: Buffer) => {
      this.raw += d.toString("utf8");
      this.pending++;
      this.term.write(d, () => this.pending--);
    });
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** Send keys. */
  type(keys: string): void {
    this.child.stdin.write(keys);
  }

  /** Type a line and press Enter. */
  enter(line: string): void {
    this.type(`${line}\r`);
  }

  /**
   * Every line, scrollback included, as text: rows the terminal wrapped are
   * joined back into one line; trailing blanks trimmed, blank rows at the end dropped.
   */
  lines(): string[] {
    const buffer = this.term.buffer.active;
    const rows: string[] = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      const text = line?.translateToString(true) ?? "";
      if (line?.isWrapped && rows.length > 0) rows[rows.length - 1] += text;
      else rows.push(text);
    }
    while (rows.length > 0 && rows[rows.length - 1] === "") rows.pop();
    return rows;
  }

  /** The visible screen, row by row. */
  screen(): string[] {
    const buffer = this.term.buffer.active;
    const rows: string[] = [];
    for (let i = 0; i < this.rows; i++) rows.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? "");
    return rows;
  }

  /** The row the cursor is on (the prompt and what is typed). */
  cursorLine(): string {
    const buffer = this.term.buffer.active;
    return buffer.getLine(buffer.baseY + buffer.cursorY)?.translateToString(true) ?? "";
  }

  /** The row just above the prompt (the status line, when there is one). */
  aboveCursor(): string {
    const buffer = this.term.buffer.active;
    return buffer.getLine(buffer.baseY + buffer.cursorY - 1)?.translateToString(true) ?? "";
  }

  count(match: RegExp): number {
    return this.lines().filter((l) => match.test(l)).length;
  }

  async waitFor(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.pending === 0 && probe(), `${what}\n--- screen:\n${this.lines().join("\n")}\n--- stderr:\n${this.stderr}`, timeoutMs);
  }

  /** Wait until some row matches; the first row that does. */
  async waitForLine(match: string | RegExp, timeoutMs?: number): Promise<string> {
    const test = (l: string) => (typeof match === "string" ? l.includes(match) : match.test(l));
    await this.waitFor(() => this.lines().some(test), `a line matching ${match}`, timeoutMs);
    return this.lines().find(test) ?? "";
  }

  async exitCode(timeoutMs = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`CLI did not exit within ${timeoutMs} ms\n--- screen:\n${this.lines().join("\n")}\n--- stderr:\n${this.stderr}`)), timeoutMs);
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

export function spawnTerminalCli(args: string[], size?: { cols: number; rows: number }): TerminalCli {
  return new TerminalCli(args, size?.cols, size?.rows);
}

/** Kill every terminal CLI a test left running (call from afterEach). */
export async function stopTerminalClis(): Promise<void> {
  const all = [...running];
  for (const t of all) t.kill();
  await Promise.all(all.map((t) => t.exited));
}
