/**
 * Keeping our messages under the server's rate limit. The server counts every
 * command against a token bucket and refuses the excess with
 * RESOURCE_EXHAUSTED ("rate limit: at most N commands per second"), and it
 * disconnects a client that keeps going. Today a client learns the limit only
 * by hitting it: from then on it spaces its messages a little under the rate
 * the refusal named (or, if it named none, twice as far apart at each
 * refusal). A server that announces its limit up front can be honoured from
 * the start through setRate().
 */
export class Pacer {
  /** Minimum time between two messages; 0 until we know of a limit. */
  private intervalMs = 0;
  /** Earliest time the next message may go out. */
  private nextAt = 0;

  /** The server's limit in commands per second (0 or less: none). */
  setRate(perSecond: number): void {
    // Ten per cent under it: timers are late as often as early, and joins and pings count too.
    this.intervalMs = perSecond > 0 ? Math.ceil(1000 / (perSecond * 0.9)) : 0;
  }

  /** The server refused a command for its rate limit; `message` is what it said. */
  limited(message: string): void {
    const named = /at most (\d+) commands? per second/.exec(message);
    if (named && Number(named[1]) > 0) this.setRate(Number(named[1]));
    else this.intervalMs = Math.min(1000, Math.max(20, this.intervalMs * 2));
  }

  get pacing(): boolean {
    return this.intervalMs > 0;
  }

  /** How long to wait before the next message may go out. */
  delay(now: number): number {
    return Math.max(0, this.nextAt - now);
  }

  /** A message went out now. */
  sent(now: number): void {
    this.nextAt = Math.max(now, this.nextAt) + this.intervalMs;
  }
}
