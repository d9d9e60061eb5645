/**
 * Printing to a terminal that has a readline prompt on its last line and,
 * above it, an optional status line (reconnecting, who is typing). Events
 * arrive while the user is typing; written naively they would land in the
 * middle of the half-typed line. Instead: move to the start of the status
 * and input area (the input may wrap over several rows), clear it, print the
 * event, draw the status line again, and let readline redraw the prompt and
 * the partial input with the cursor where it was (`prompt(true)`). The typed
 * text is never touched, only redrawn; the status line is rewritten in place,
 * never scrolled into the history.
 */
import * as readline from "node:readline";

export class PromptScreen {
  private closed = false;
  private status: string | undefined;

  constructor(
    private readonly rl: readline.Interface,
    private readonly out: NodeJS.WriteStream,
  ) {}

  /** Print lines above the status line and the prompt. */
  print(...lines: string[]): void {
    if (lines.length === 0) return;
    if (this.closed) {
      this.out.write(`${lines.join("\n")}\n`);
      return;
    }
    this.clearArea();
    this.out.write(`${lines.join("\n")}\n`);
    this.drawStatus();
    this.redraw();
  }

  /** Show (or, with undefined, remove) the status line. */
  setStatus(text: string | undefined): void {
    if (text === this.status) return;
    if (this.closed) {
      this.status = text;
      return;
    }
    this.clearArea();
    this.status = text;
    this.drawStatus();
    this.redraw();
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
    if (this.closed) return;
    this.clearArea();
    this.drawStatus();
    this.redraw();
  }

  /**
   * The user pressed Enter: readline left the submitted line on screen below
   * the status line. Take both away and, unless `keep` is false (a message,
   * which reappears as the server's copy in its ordered place), print the
   * line back as history, then the status line: the prompt comes below.
   */
  submitted(prompt: string, line: string, keep: boolean): void {
    if (this.closed) return;
    const columns = this.out.columns || 80;
    const rows = Math.max(1, Math.ceil(displayWidth(prompt + line) / columns));
    readline.moveCursor(this.out, 0, -(rows + this.statusRows));
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
    if (keep) this.out.write(`${prompt}${line}\n`);
    this.drawStatus();
  }

  /** Take the prompt and status off the screen; from now on output is plain lines (call before rl.close()). */
  close(): void {
    if (this.closed) return;
    this.clearArea();
    this.closed = true;
  }

  private get statusRows(): number {
    return this.status === undefined ? 0 : 1;
  }

  private clearArea(): void {
    const { rows } = this.rl.getCursorPos(); // the cursor's row within the (wrapped) prompt + input
    readline.moveCursor(this.out, 0, -(rows + this.statusRows));
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
  }

  private drawStatus(): void {
    if (this.status === undefined) return;
    // One row, never wrapped: a wrapped status line would throw the row arithmetic off.
    this.out.write(`${truncate(this.status, (this.out.columns || 80) - 1)}\n`);
  }

  private redraw(): void {
    // readline's redraw first moves up by the rows it drew last time; we have
    // already cleared that area and printed below it, so tell it to start here.
    (this.rl as unknown as { prevRows?: number }).prevRows = 0;
    this.rl.prompt(true);
  }
}

/** Cut text to `width` terminal columns, ending with … when cut. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let out = "";
  for (const ch of text) {
    if (displayWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** Terminal columns a string takes, roughly: code points, with East Asian wide ones counted twice. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text.replace(/\x1b\[[0-9;]*m/g, "")) {
    const cp = ch.codePointAt(0)!;
    width += cp >= 0x1100 && /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u.test(ch) ? 2 : 1;
  }
  return width;
}
