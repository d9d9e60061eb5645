/**
 * client_msg_id values. The server deduplicates a resend by (room, nickname,
 * client_msg_id), so an id must never repeat for one nickname, even across
 * runs of a client: a random part per session plus a counter guarantees that,
 * and the nickname prefix makes ids readable in logs. The server accepts at
 * most 64 characters, so a long nickname is shortened. The randomness comes
 * from crypto.getRandomValues, a global in browsers and Node alike.
 */
import { ID_MAX_CHARS } from "../hub/validate.js";

export function clientIdGenerator(nickname: string): () => string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  // Whole code points only, and no characters the server would reject (controls).
  const prefix = [...nickname.trim().replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "")].slice(0, 16).join("");
  let counter = 0;
  return () => {
    counter++;
    const id = `${prefix}-${random}-${counter}`;
    return id.length <= ID_MAX_CHARS ? id : `${random}-${counter}`;
  };
}
