/**
 * The admin credential: the contents of --admin-key-file, sent as
 * `authorization: Bearer <key>`. Read once at start-up (a missing or short
 * file stops the start with one clear line); compared in constant time, so
 * the answer's timing says nothing about how much of a guess was right.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";

export const MIN_ADMIN_KEY_BYTES = 32;

/** The key as configured: its SHA-256 (what calls are compared with), never the key itself. */
export interface AdminKey {
  readonly digest: Buffer;
}

/** Read the key file; trailing newlines (an editor's, `echo`'s) are not part of the key. */
export function readAdminKey(file: string): AdminKey {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (code ?? (err as Error).message);
    throw new Error(`cannot read the admin key file ${file} (--admin-key-file): ${why}`);
  }
  const key = raw.replace(/[\r\n]+$/, "");
  const bytes = Buffer.byteLength(key);
  if (bytes < MIN_ADMIN_KEY_BYTES) {
    throw new Error(`the admin key in ${file} (--admin-key-file) is ${bytes} bytes; it must be at least ${MIN_ADMIN_KEY_BYTES} (e.g. openssl rand -hex 32 > ${file})`);
  }
  return { digest: digest(key) };
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Check a call's `authorization` header. Off (no key configured):
 * PERMISSION_DENIED. Missing, malformed or any other value (a user's token
 * included): UNAUTHENTICATED.
 */
export function checkAdminCredential(key: AdminKey | undefined, authorization: string | undefined): void {
  if (!key) throw new ConnectError("the admin API is off (start the server with --admin-key-file)", Code.PermissionDenied);
  if (!authorization) throw new ConnectError("the admin API needs the header authorization: Bearer <admin key>", Code.Unauthenticated);
  const match = /^Bearer +(.+)$/i.exec(authorization.trim());
  // Hashing both sides gives equal lengths, so the comparison itself is constant-time.
  if (!match || !timingSafeEqual(digest(match[1]), key.digest)) {
    throw new ConnectError("the admin credential is not valid (user tokens are not admin credentials)", Code.Unauthenticated);
  }
}
