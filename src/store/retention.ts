/** How much history each room keeps. Both bounds apply; 0 disables the age bound. */
export interface Retention {
  /** Newest messages kept per room. */
  maxMessagesPerRoom: number;
  /** Messages older than this are dropped; 0 keeps them regardless of age. */
  maxAgeMs: number;
}

export const defaultRetention: Retention = { maxMessagesPerRoom: 10_000, maxAgeMs: 0 };
