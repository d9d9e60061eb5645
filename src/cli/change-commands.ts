/**
 * The slash commands about messages that change (issue 19): /edit, /delete,
 * /reply, /react, /unreact, and /seq, which shows message numbers (what the
 * others take).
 * Parsing is pure, so it is tested without a terminal; interactive.ts runs
 * them on the current room through the client core.
 */
import { checkEmoji, emojiFromInput } from "../client/reactions.js";

export type ChangeCommand =
  | { kind: "edit"; seq: bigint; text: string }
  | { kind: "delete"; seq: bigint }
  | { kind: "reply"; seq: bigint; text: string }
  /** /react adds, /unreact removes (remove: true). `emoji`: the emoji itself (a shortcode such as :+1: already turned into it). */
  | { kind: "react"; seq: bigint; emoji: string; remove: boolean }
  /** /seq toggles; /seq on|off sets. */
  | { kind: "seq"; on?: boolean };

export const CHANGE_COMMAND_HELP = [
  "/seq [on|off]     show message numbers (#12) on message lines, for the commands below (toggles)",
  "/edit <n> <text>  replace the text of your message number n (also /e)",
  "/delete <n>       delete message number n: yours, or any as a moderator (also /del)",
  "/reply <n> <text> answer message number n: your message shows a short quote of it (also /re)",
  "/react <n> <emoji>    react to message number n, e.g. /react 12 👍 or /react 12 :+1: (also :heart: :joy: :tada: :eyes:)",
  "/unreact <n> <emoji>  take your reaction off message number n",
];

/** "12" or "#12" → 12n; undefined when it is not a message number. */
export function parseSeq(text: string | undefined): bigint | undefined {
  const m = /^#?(\d{1,19})$/.exec(text ?? "");
  if (!m) return undefined;
  const n = BigInt(m[1]);
  return n > 0n && n < 2n ** 63n ? n : undefined;
}

/** Parse a change command; undefined when `name` is not one of them. `rest`: everything after the command word, as typed. */
export function parseChangeCommand(name: string, args: string[], rest: string): ChangeCommand | { kind: "invalid"; message: string } | undefined {
  const invalid = (message: string) => ({ kind: "invalid" as const, message });
  // The text after the number, as typed (its spacing kept).
  const textAfter = () => rest.slice(rest.indexOf(args[0]) + args[0].length).trim();
  switch (name) {
    case "edit":
    case "e": {
      const seq = parseSeq(args[0]);
      if (seq === undefined || args.length < 2) return invalid("usage: /edit <n> <new text> (n: the message's number; /seq shows them)");
      return { kind: "edit", seq, text: textAfter() };
    }
    case "delete":
    case "del":
    case "rm": {
      const seq = parseSeq(args[0]);
      if (seq === undefined || args.length !== 1) return invalid("usage: /delete <n> (n: the message's number; /seq shows them)");
      return { kind: "delete", seq };
    }
    case "reply":
    case "re": {
      const seq = parseSeq(args[0]);
      if (seq === undefined || args.length < 2) return invalid("usage: /reply <n> <text> (n: the message's number; /seq shows them)");
      return { kind: "reply", seq, text: textAfter() };
    }
    case "react":
    case "unreact": {
      const usage = `usage: /${name} <n> <emoji> (n: the message's number; /seq shows them)`;
      const seq = parseSeq(args[0]);
      if (seq === undefined || args.length !== 2) return invalid(usage);
      const emoji = emojiFromInput(args[1]);
      const bad = checkEmoji(emoji);
      if (bad) return invalid(`${bad}; ${usage}`);
      return { kind: "react", seq, emoji, remove: name === "unreact" };
    }
    case "seq": {
      const arg = args[0]?.toLowerCase();
      if (args.length > 1 || (arg !== undefined && arg !== "on" && arg !== "off")) return invalid("usage: /seq [on|off]");
      return { kind: "seq", on: arg === undefined ? undefined : arg === "on" };
    }
    default:
      return undefined;
  }
}
