/**
 * What a typed line means: a message for the current room or a slash
 * command. Parsing is pure so it is tested without a terminal; the
 * interactive front-end only executes the result. Room names are checked
 * with the server's own rule (src/hub/validate.ts), so a bad one is
 * explained before anything is sent.
 */
import { prepareNickname } from "../hub/nickname.js";
import { checkRoom } from "../hub/validate.js";
import { CHANGE_COMMAND_HELP, parseChangeCommand, type ChangeCommand } from "./change-commands.js";
import { parseRoomCommand, ROOM_COMMAND_HELP, type RoomCommand } from "./room-commands.js";

export const HISTORY_DEFAULT = 20;
export const HISTORY_MAX = 500;

export type Command =
  | { kind: "none" }
  | { kind: "say"; text: string }
  | { kind: "join"; room: string }
  | { kind: "leave"; room?: string }
  | { kind: "switch"; room: string }
  | { kind: "rooms" }
  | { kind: "who"; room?: string; more: boolean }
  | { kind: "nick"; nickname: string }
  | { kind: "history"; count: number }
  | { kind: "help" }
  | { kind: "quit" }
  | RoomCommand
  | ChangeCommand
  | { kind: "invalid"; message: string }
  /** A nickname the server's rules refuse: the front-end says why, and who we still are (parsing does not know). */
  | { kind: "badNick"; nickname: string; reason: string };

export const COMMAND_HELP = [
  "/join <room>      join a room and make it the current one",
  "/leave [room]     leave a room (default: the current one)",
  "/switch <room>    send to another joined room (also /s)",
  "/rooms            list your rooms and direct messages (signed in), and rooms that have members, with when and what was last said",
  "/who [room]       list members of a room (default: the current one), a page at a time",
  "/who [room] more  the next page of members",
  "/nick <name>      change your nickname in every room you are in (refused if taken in any: you keep yours)",
  `/history [n]      show the last n messages of the current room (default ${HISTORY_DEFAULT})`,
  ...CHANGE_COMMAND_HELP,
  ...ROOM_COMMAND_HELP,
  "/quit             leave (waits briefly for unsent messages); also Ctrl+D, or Ctrl+C on an empty line",
  "/help             this list",
  "//text            send a message that starts with /",
  "@name in a message  mentions that member of the room: they are told, and their client highlights it",
];

export function parseLine(line: string): Command {
  const trimmed = line.trim();
  if (trimmed === "") return { kind: "none" };
  // A leading "//" escapes the slash.
  if (line.startsWith("//")) return { kind: "say", text: line.slice(1) };
  if (!trimmed.startsWith("/")) return { kind: "say", text: line };

  const [name, ...args] = trimmed.slice(1).split(/\s+/);
  const arg = args[0];
  // Everything after the command word, as typed (room names are checked whole, nicknames may hold spaces).
  const rest = trimmed.slice(1 + name.length).trim();
  const tooMany = (max: number) => args.length > max;
  switch (name.toLowerCase()) {
    case "join":
    case "j": {
      if (!rest) return { kind: "invalid", message: "usage: /join <room>" };
      const room = stripHash(rest);
      const invalid = checkRoom(room);
      if (invalid) return { kind: "invalid", message: `cannot join "${room}": ${invalid}` };
      return { kind: "join", room };
    }
    case "nick":
    case "name": {
      if (!rest) return { kind: "invalid", message: "usage: /nick <name>" };
      // The server's own rules (RFC 8266): a name it would refuse is explained before anything is sent.
      const prepared = prepareNickname(rest);
      if (!prepared.ok) return { kind: "badNick", nickname: rest, reason: prepared.reason };
      return { kind: "nick", nickname: rest };
    }
    case "leave":
    case "part":
      if (tooMany(1)) return { kind: "invalid", message: "usage: /leave [room]" };
      return { kind: "leave", room: arg === undefined ? undefined : stripHash(arg) };
    case "switch":
    case "s":
    case "room":
      if (!arg || tooMany(1)) return { kind: "invalid", message: "usage: /switch <room>" };
      return { kind: "switch", room: stripHash(arg) };
    case "rooms":
    case "list":
      return tooMany(0) ? { kind: "invalid", message: "usage: /rooms" } : { kind: "rooms" };
    case "who":
    case "members": {
      const more = args[args.length - 1]?.toLowerCase() === "more";
      const rooms = more ? args.slice(0, -1) : args;
      if (rooms.length > 1) return { kind: "invalid", message: "usage: /who [room] [more]" };
      return { kind: "who", room: rooms[0] === undefined ? undefined : stripHash(rooms[0]), more };
    }
    case "history":
    case "h": {
      if (tooMany(1)) return { kind: "invalid", message: "usage: /history [n]" };
      if (arg === undefined) return { kind: "history", count: HISTORY_DEFAULT };
      const count = Number(arg);
      if (!Number.isInteger(count) || count < 1 || count > HISTORY_MAX) {
        return { kind: "invalid", message: `usage: /history [n], n from 1 to ${HISTORY_MAX}` };
      }
      return { kind: "history", count };
    }
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
    case "q":
      return { kind: "quit" };
    default:
      return parseChangeCommand(name.toLowerCase(), args, rest) ?? parseRoomCommand(name.toLowerCase(), args, rest) ?? { kind: "invalid", message: `unknown command /${name} (try /help)` };
  }
}

/** People type "#lobby" as often as "lobby". */
function stripHash(room: string): string {
  return room.startsWith("#") ? room.slice(1) : room;
}
