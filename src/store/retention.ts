/** How much history each room keeps. Every bound applies; 0 disables an age bound. */
export interface Retention {
  /** Newest messages kept per room. */
  maxMessagesPerRoom: number;
  /** Messages older than this are dropped; 0 keeps them regardless of age. */
  maxAgeMs: number;
  /** Idempotency keys are remembered this long after their message was sent (0: as long as the message is kept). */
  idWindowMs: number;
  /** At most this many idempotency keys per room (the oldest are forgotten first). */
  maxIdsPerRoom: number;
}

export const defaultRetention: Retention = {
  maxMessagesPerRoom: 10_000,
  maxAgeMs: 0,
  idWindowMs: 24 * 60 * 60 * 1000,
  maxIdsPerRoom: 100_000,
};
