/**
 * client_msg_id values. The server deduplicates a resend by (room, nickname,
 * client_msg_id), so an id must never repeat for one nickname, even across
 * runs of the CLI: a per-process random part plus a counter guarantees that,
 * and the nickname prefix makes ids readable in logs. The server accepts at
 * most 64 characters, so a long nickname is shortened.
 */
import { randomBytes } from "node:crypto";

const ID_MAX_CHARS = 64;

export function clientIdGenerator(nickname: string): () => string {
  const random = randomBytes(6).toString("hex");
  // Whole code points only, and no characters the server would reject (controls).
  const prefix = [...nickname.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "")].slice(0, 16).join("");
  let counter = 0;
  return () => {
    counter++;
    const id = `${prefix}-${random}-${counter}`;
    return id.length <= ID_MAX_CHARS ? id : `${random}-${counter}`;
  };
}
