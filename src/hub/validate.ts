/**
 * Input rules for client-supplied values. Each returns a human-readable reason
 * when the value is not acceptable, or undefined when it is. Shared by the
 * server and the clients (which check before sending). Nicknames have their
 * own module (nickname.ts: RFC 8266 and look-alikes).
 */
export const ROOM_MAX_CHARS = 64;
export const TEXT_MAX_BYTES = 4096;
export const ID_MAX_CHARS = 64;

const ROOM_PATTERN = /^[A-Za-z0-9._-]+$/;
// C0 and C1 controls, DEL, and the Unicode line/paragraph separators: none of
// them belong in a name that is printed on one line of someone's terminal.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function checkRoom(room: string): string | undefined {
  if (room.length === 0) return "room name must not be empty";
  if (room.length > ROOM_MAX_CHARS) return `room name must be at most ${ROOM_MAX_CHARS} characters (got ${room.length})`;
  if (!ROOM_PATTERN.test(room)) return "room name may contain only letters, digits, '.', '_' and '-'";
  return undefined;
}

// TextEncoder, not Buffer: the browser client checks text with this module too.
const utf8 = new TextEncoder();

export function checkText(text: string): string | undefined {
  if (text.length === 0) return "message text must not be empty";
  // A UTF-16 unit is at most 3 bytes of UTF-8, so short texts need no encoding (no allocation).
  const bytes = text.length * 3 <= TEXT_MAX_BYTES ? text.length : utf8.encode(text).length;
  if (bytes > TEXT_MAX_BYTES) return `message text must be at most ${TEXT_MAX_BYTES} bytes of UTF-8 (got ${bytes})`;
  return undefined;
}

/** Client-chosen ids (client_msg_id, request_id, ping nonce): short and printable. */
export function checkId(what: string, id: string): string | undefined {
  if (id.length > ID_MAX_CHARS) return `${what} must be at most ${ID_MAX_CHARS} characters`;
  if (CONTROL_CHARS.test(id)) return `${what} must not contain control characters`;
  return undefined;
}

export const EMOJI_MAX_BYTES = 32;

// Built at run time: a browser without the `v` flag falls back to a looser test (below).
const RGI_EMOJI = (() => {
  try {
    return new RegExp("^\\p{RGI_Emoji}$", "v");
  } catch {
    return undefined;
  }
})();
/** A pictograph written bare (e.g. "❤" without its emoji variation selector): what terminals often send. */
const PICTOGRAPH = /^\p{Extended_Pictographic}\uFE0F?$/u;
const EMOJI_PART = /[\p{Extended_Pictographic}\p{Regional_Indicator}\u20E3]/u;
const graphemes = typeof Intl.Segmenter === "function" ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : undefined;

/** A reaction's emoji (ReactCommand.emoji): one emoji, i.e. one grapheme cluster of emoji, at most 32 bytes. */
export function checkEmoji(emoji: string): string | undefined {
  if (emoji.length === 0) return "emoji must not be empty";
  const bytes = utf8.encode(emoji).length;
  if (bytes > EMOJI_MAX_BYTES) return `emoji must be at most ${EMOJI_MAX_BYTES} bytes of UTF-8 (got ${bytes})`;
  let count = 0;
  if (graphemes) for (const _ of graphemes.segment(emoji)) count++;
  const one = graphemes ? count === 1 : true;
  const emojiLike = RGI_EMOJI ? RGI_EMOJI.test(emoji) || PICTOGRAPH.test(emoji) : EMOJI_PART.test(emoji);
  if (!one || !emojiLike) return "emoji must be one emoji (e.g. 👍), not text or several";
  return undefined;
}
