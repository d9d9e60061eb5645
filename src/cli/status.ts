/**
 * The interactive client's status line: one row above the prompt, rewritten
 * in place, for the states that change too often to be printed as lines:
 * reconnecting (attempt, a countdown to the next try, why the last one
 * failed) and who is typing in the current room. Empty when there is
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
    return parts.length > 0 ? parts.join(" · ") : undefined;
  }

  private render(): void {
    this.show(this.text());
  }
}
