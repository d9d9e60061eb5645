import { createHash } from "node:crypto";

/**
 * The fingerprint an idempotency key keeps of its message's text: a resend
 * must carry the same text, a different text under the same key is refused.
 * SHA-1 because Redis scripts have it built in (redis.sha1hex), so every log
 * computes the same value.
 */
export function textHash(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}
