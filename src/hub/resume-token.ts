/**
 * Resume tokens: the secret a JoinedEvent hands a client so that its next
 * join (after a lost connection, on any node) can prove it is the same
 * membership and take it over at once. The room log keeps only the token's
 * SHA-256, never the token: reading the log (or its pub/sub traffic) gives
 * nobody a token to present.
 */
import { createHash, randomBytes } from "node:crypto";

/** 32 random bytes, base64url (43 characters): unguessable, printable, within the 64-character id limit. */
export function newResumeToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashResumeToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
