/**
 * The slash commands about rooms with state: /create, moderation (/invite,
 * /kick, /ban, /unban, /mute, /unmute, /topic, /op, /receipts) and /msg. Parsing is
 * pure (durations, roles, visibility), so it is tested without a terminal;
 * interactive.ts resolves the user (a nickname seen in the room, or a user id
 * as typed) and sends the action through the client core.
 */
import { ReadReceiptsSetting, RoomActionKind, RoomRole } from "../../gen/chat/v1/chat_pb.js";
import { checkRoom } from "../hub/validate.js";

/** A moderation command as typed: acts on the current room. `durationMs` becomes `until` when sent. */
export interface ActionSpec {
  kind: RoomActionKind;
  /** As typed: a nickname of someone in the room, or a user id. */
  user?: string;
  reason?: string;
  durationMs?: number;
  topic?: string;
  role?: RoomRole;
  readReceipts?: ReadReceiptsSetting;
}

export type RoomCommand =
  | { kind: "create"; room: string; visibility: "public" | "private"; topic: string }
  | { kind: "act"; action: ActionSpec }
  /** /topic without text: show the current room's topic. */
  | { kind: "showTopic" }
  /** /receipts without a setting: show where the others have read the current room up to. */
  | { kind: "showReceipts" }
  | { kind: "msg"; user: string; text?: string };

export const ROOM_COMMAND_HELP = [
  "/create <room> [private] [topic]  create a room you own (public unless 'private') and join it",
  "/invite <user>    make someone a member of the current room (what lets them join a private room)",
  "/kick <user> [reason]             remove someone from the current room",
  "/ban <user> [duration] [reason]   ban someone (duration like 30s, 10m, 2h, 1d, 1w; default: until /unban)",
  "/unban <user>     lift a ban",
  "/mute <user> [duration] [reason]  let someone read but not post",
  "/unmute <user>    let them post again",
  "/topic [text]     show or set the current room's topic (/topic - clears it)",
  "/op <user> [owner|moderator|member|none]  set someone's role (default moderator; owners only)",
  "/receipts [on|off|default]  show who has read how far in the current room, or set its read receipts",
  "/msg <user> [text]  open the direct conversation with a user, and say text there if given",
];

/** Longest ban or mute a duration may give: a year (longer is "until lifted": leave the duration out). */
export const DURATION_MAX_MS = 366 * 24 * 3600_000;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "10m" → 600000; undefined when it is not a duration (so it can start the reason instead). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,6})(s|m|h|d|w)$/i.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2].toLowerCase()];
}

const ROLES: Record<string, RoomRole> = {
  owner: RoomRole.OWNER,
  moderator: RoomRole.MODERATOR,
  mod: RoomRole.MODERATOR,
  op: RoomRole.MODERATOR,
  member: RoomRole.MEMBER,
  none: RoomRole.UNSPECIFIED,
  visitor: RoomRole.UNSPECIFIED,
};

export function parseRole(text: string): RoomRole | undefined {
  return ROLES[text.toLowerCase()];
}

/** Parse a room command; undefined when `name` is not one of them. `args`: the words after it; `rest`: everything after it as typed. */
export function parseRoomCommand(name: string, args: string[], rest: string): RoomCommand | { kind: "invalid"; message: string } | undefined {
  const user = args[0];
  // What follows the user, as typed (a reason keeps its spacing).
  const afterUser = user === undefined ? "" : rest.slice(rest.indexOf(user) + user.length).trim();
  const invalid = (message: string) => ({ kind: "invalid" as const, message });
  switch (name) {
    case "create": {
      if (!user) return invalid("usage: /create <room> [private] [topic]");
      const room = user.startsWith("#") ? user.slice(1) : user;
      const bad = checkRoom(room);
      if (bad) return invalid(`cannot create "${room}": ${bad}`);
      const second = args[1]?.toLowerCase();
      const visibility = second === "private" ? "private" : "public";
      const topic = second === "private" || second === "public" ? afterUser.slice(args[1].length).trim() : afterUser;
      return { kind: "create", room, visibility, topic };
    }
    case "invite":
    case "unban":
    case "unmute":
      if (!user || args.length > 1) return invalid(`usage: /${name} <user>`);
      return { kind: "act", action: { kind: SIMPLE[name], user } };
    case "kick":
      if (!user) return invalid("usage: /kick <user> [reason]");
      return { kind: "act", action: { kind: RoomActionKind.KICK, user, reason: afterUser } };
    case "ban":
    case "mute": {
      if (!user) return invalid(`usage: /${name} <user> [duration] [reason]`);
      const durationMs = args[1] === undefined ? undefined : parseDuration(args[1]);
      if (durationMs !== undefined && (durationMs <= 0 || durationMs > DURATION_MAX_MS)) {
        return invalid(`/${name}: a duration is from 1s to 366d (leave it out for "until lifted")`);
      }
      const reason = durationMs === undefined ? afterUser : afterUser.slice(args[1].length).trim();
      return { kind: "act", action: { kind: name === "ban" ? RoomActionKind.BAN : RoomActionKind.MUTE, user, reason, durationMs } };
    }
    case "topic":
      if (rest === "") return { kind: "showTopic" };
      return { kind: "act", action: { kind: RoomActionKind.SET_TOPIC, topic: rest === "-" ? "" : rest } };
    case "receipts": {
      if (!user) return { kind: "showReceipts" };
      const setting = RECEIPT_SETTINGS[user.toLowerCase()];
      if (setting === undefined || args.length > 1) return invalid("usage: /receipts [on|off|default]");
      return { kind: "act", action: { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: setting } };
    }
    case "op":
    case "role": {
      if (!user || args.length > 2) return invalid("usage: /op <user> [owner|moderator|member|none]");
      const role = args[1] === undefined ? RoomRole.MODERATOR : parseRole(args[1]);
      if (role === undefined) return invalid(`/op: the role is owner, moderator, member or none (got "${args[1]}")`);
      return { kind: "act", action: { kind: RoomActionKind.SET_ROLE, user, role } };
    }
    case "msg":
    case "query":
    case "dm": {
      if (!user) return invalid("usage: /msg <user> [text]");
      return afterUser === "" ? { kind: "msg", user } : { kind: "msg", user, text: afterUser };
    }
    default:
      return undefined;
  }
}

const RECEIPT_SETTINGS: Record<string, ReadReceiptsSetting> = {
  on: ReadReceiptsSetting.ON,
  off: ReadReceiptsSetting.OFF,
  default: ReadReceiptsSetting.UNSPECIFIED,
};

const SIMPLE: Record<string, RoomActionKind> = {
  invite: RoomActionKind.INVITE,
  unban: RoomActionKind.UNBAN,
  unmute: RoomActionKind.UNMUTE,
};

/** "banned", "muted"…: what the command does, for the line that confirms it or says it was refused. */
export function actionVerb(kind: RoomActionKind): string {
  switch (kind) {
    case RoomActionKind.INVITE:
      return "invite";
    case RoomActionKind.KICK:
      return "kick";
    case RoomActionKind.BAN:
      return "ban";
    case RoomActionKind.UNBAN:
      return "unban";
    case RoomActionKind.MUTE:
      return "mute";
    case RoomActionKind.UNMUTE:
      return "unmute";
    case RoomActionKind.SET_TOPIC:
      return "set the topic";
    case RoomActionKind.SET_ROLE:
      return "set the role";
    case RoomActionKind.SET_READ_RECEIPTS:
      return "set read receipts";
    default:
      return "act";
  }
}
