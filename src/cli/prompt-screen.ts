/**
 * Printing to a terminal that has a readline prompt on its last line. Events
 * arrive while the user is typing; written naively they would land in the
 * middle of the half-typed line. Instead: move to the start of the input area
 * (it may wrap over several rows), clear it, print the event, and let
 * readline redraw the prompt and the partial input with the cursor where it
 * was (`prompt(true)`). The typed text is never touched, only redrawn.
 */
import * as readline from "node:readline";

export class PromptScreen {
  private closed = false;

  constructor(
    private readonly rl: readline.Interface,
    private readonly out: NodeJS.WriteStream,
  ) {}

  /** Print lines above the prompt. */
  print(...lines: string[]): void {
    if (lines.length === 0) return;
    if (this.closed) {
      this.out.write(`${lines.join("\n")}\n`);
      return;
    }
    this.clearInput();
    this.out.write(`${lines.join("\n")}\n`);
    this.redraw();
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
    if (this.closed) return;
    this.clearInput();
    this.redraw();
  }

  /**
   * Remove the line the user just submitted (readline leaves it on screen):
   * a message reappears as the server's broadcast copy, in its ordered place.
   */
  eraseSubmitted(prompt: string, line: string): void {
    if (this.closed) return;
    const columns = this.out.columns || 80;
    const rows = Math.max(1, Math.ceil(displayWidth(prompt + line) / columns));
    readline.moveCursor(this.out, 0, -rows);
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
  }

  /** Take the prompt off the screen; from now on output is plain lines (call before rl.close()). */
  close(): void {
    if (this.closed) return;
    this.clearInput();
    this.closed = true;
  }

  private clearInput(): void {
    const { rows } = this.rl.getCursorPos(); // the cursor's row within the (wrapped) prompt + input
    readline.moveCursor(this.out, 0, -rows);
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
  }

  private redraw(): void {
    // readline's redraw first moves up by the rows it drew last time; we have
    // already cleared that area and printed below it, so tell it to start here.
    (this.rl as unknown as { prevRows?: number }).prevRows = 0;
    this.rl.prompt(true);
  }
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
