/**
 * Resume tokens: the secret a JoinedEvent hands a client so that its next
 * join (after a lost connection, on any node) can prove it is the same
 * membership and take it over at once. The room log keeps only the token's
 * SHA-256, never the token: reading the log (or its pub/sub traffic) gives
 * nobody a token to present.
 */
import { createHash, randomBytes } from "node:crypto";

const TOKEN_BYTES = 32;
/** Random bytes drawn 128 tokens at a time: one call into the CSPRNG per 128 joins, not one per join (a join storm's cost). */
const POOL_BYTES = TOKEN_BYTES * 128;
let pool = Buffer.alloc(0);
let used = 0;

/** 32 random bytes, base64url (43 characters): unguessable, printable, within the 64-character id limit. */
export function newResumeToken(): string {
  if (used + TOKEN_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const token = pool.toString("base64url", used, used + TOKEN_BYTES);
  used += TOKEN_BYTES;
  return token;
}

export function hashResumeToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
