/**
 * Keeping our messages under the server's rate limit. The server counts every
 * command against a token bucket and refuses the excess with
 * RESOURCE_EXHAUSTED ("rate limit: at most N commands per second"), and it
 * disconnects a client that keeps going. A server that announces its limit
 * (JoinedEvent.rate_limit_per_second and rate_limit_burst) is honoured from the
 * start with a bucket of our own, a little smaller and slower than the
 * server's (joins, pings and typing draw from the same bucket there). A
 * server that announces nothing is learnt from its refusals: from then on
 * messages go a little under the rate the refusal named (or, if it named none,
 * twice as far apart at each refusal).
 */
export class Pacer {
  /** Minimum time between two messages once the bucket is empty; 0 while we know of no limit. */
  private intervalMs = 0;
  /** Messages that may still go out at once (our copy of the server's bucket). */
  private capacity = 1;
  private tokens = 1;
  /** When `tokens` was last brought up to date. */
  private at = 0;

  /** The server's limit: commands per second (0 or less: none) and the bucket's size. */
  setRate(perSecond: number, burst = 1): void {
    // Ten per cent under the rate: timers are late as often as early. Half the burst: other
    // commands (typing, pings, joins) draw from the server's bucket too.
    const known = this.intervalMs > 0;
    this.intervalMs = perSecond > 0 ? Math.ceil(1000 / (perSecond * 0.9)) : 0;
    this.capacity = Math.max(1, Math.floor(burst / 2));
    // A first announcement starts with a full bucket; a repeated one (every join) refills nothing.
    this.tokens = known ? Math.min(this.tokens, this.capacity) : this.capacity;
  }

  /** The server refused a command for its rate limit; `message` is what it said. */
  limited(message: string): void {
    const named = /at most (\d+) commands? per second/.exec(message);
    if (named && Number(named[1]) > 0) this.setRate(Number(named[1]), 1);
    else {
      this.intervalMs = Math.min(1000, Math.max(20, this.intervalMs * 2));
      this.capacity = 1;
    }
    this.tokens = 0; // the server's bucket is empty: ours is too
  }

  get pacing(): boolean {
    return this.intervalMs > 0;
  }

  /** How long to wait before the next message may go out. */
  delay(now: number): number {
    if (this.intervalMs === 0) return 0;
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) * this.intervalMs);
  }

  /** A message went out now. */
  sent(now: number): void {
    if (this.intervalMs === 0) return;
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - 1);
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.capacity, this.tokens + (now - this.at) / this.intervalMs);
    this.at = Math.max(this.at, now);
  }
}
