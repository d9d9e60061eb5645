/**
 * The interactive client's status line: one row above the prompt, rewritten
 * in place, for the states that change too often to be printed as lines:
 * reconnecting (attempt, a countdown to the next try, why the last one
 * failed), who is typing in the current room, and who has read its last
 * message (read receipts: "seen by alice and bob"). Empty when there is
 * nothing to say.
 */
import { formatTyping } from "./format.js";

export interface Retry {
  attempt: number;
  /** When the next attempt starts (Date.now() clock). */
  at: number;
  /** Why the last attempt failed, if worth saying. */
  reason?: string;
}

export class StatusLine {
  private retry: Retry | undefined;
  private typing: string[] = [];
  private seen = "";
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly show: (text: string | undefined) => void,
    private readonly now: () => number = Date.now,
  ) {}

  reconnecting(retry: Retry): void {
    this.retry = retry;
    // Count down in place, once a second, until the attempt.
    this.ticker ??= setInterval(() => this.render(), 1000);
    this.render();
  }

  connected(): void {
    this.retry = undefined;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.render();
  }

  setTyping(names: string[]): void {
    this.typing = names;
    this.render();
  }

  /** "seen by …" for the current room's last message ("" for nothing). */
  setSeen(line: string): void {
    if (line === this.seen) return;
    this.seen = line;
    this.render();
  }

  close(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  text(): string | undefined {
    const parts: string[] = [];
    if (this.retry) {
      const seconds = Math.ceil((this.retry.at - this.now()) / 1000);
      const next = seconds > 0 ? `next try in ${seconds} s` : "trying now";
      parts.push(`reconnecting, attempt ${this.retry.attempt}, ${next}${this.retry.reason ? ` (${this.retry.reason})` : ""}`);
    }
    const typing = formatTyping(this.typing);
    if (typing) parts.push(typing);
    if (this.seen) parts.push(this.seen);
    return parts.length > 0 ? parts.join(" · ") : undefined;
  }

  private render(): void {
    this.show(this.text());
  }
}
