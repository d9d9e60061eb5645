/**
 * Reconnect delays: exponential backoff with "full jitter" (a uniformly random
 * delay between 0 and the exponential ceiling). The randomness matters when a
 * server restarts: every client was dropped at the same instant, and without
 * jitter they would all come back in synchronised waves.
 */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay. */
  baseMs: number;
  /** The ceiling stops doubling here. */
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 250, maxMs: 10_000 };

/** Delay before retry number `attempt` (1 for the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultBackoff, random: () => number = Math.random): number {
  // Cap the exponent so 2 ** n cannot overflow into Infinity on long outages.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.floor(random() * ceiling);
}
