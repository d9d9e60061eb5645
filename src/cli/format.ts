/**
 * How events look on a terminal, as pure functions from data to lines, so the
 * interactive and piped front ends print the same thing and tests can check
 * it without a terminal. Text from other people is sanitised: a message must
 * not be able to move the cursor or recolour the screen with escape codes.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ErrorCode,
  LeaveReason,
  MessageChangeKind,
  type ChatMessage,
  type ErrorEvent,
  type JoinedEvent,
  type Member,
  type PresenceEvent,
  type ReactionCount,
  RoomRole,
  RoomVisibility,
  type RoomInfo,
  type ServerEvent,
} from "../../gen/chat/v1/chat_pb.js";
import type { NoticeLevel } from "../client/chat-session.js";
import { isChange } from "../client/message-changes.js";
import { isReaction } from "../client/reactions.js";
import { truncate } from "./prompt-screen.js";
import { NEW_MESSAGES_LINE, newMessagesAt, unreadLabel } from "./read-marks.js";

export interface FormatOptions {
  /** ANSI colours (only when writing to a terminal, and NO_COLOR unset). */
  color: boolean;
  /** Omit the room tag for messages in this room (the interactive client's room, while it is in only one). */
  currentRoom?: string;
  /** Show at most this many of a joined event's recent messages (default: all of them). */
  history?: number;
  /** The current time, for telling today's messages from older ones. */
  now?: Date;
  /** How a room is named on screen (default "#room"; a direct-message room as "@user"). */
  roomLabel?: (room: string) => string;
  /** Show each message's number (`#12`, for /edit, /delete, /reply): the /seq toggle. */
  showSeq?: boolean;
  /** A room's message as it is now, if the client keeps it: lets a change line say whose message it was, a reaction line what it is now. */
  lookup?: (room: string, seq: bigint) => ChatMessage | undefined;
  /** Our user id: a message that mentions it is highlighted. */
  me?: string;
  /** A join draws NEW_MESSAGES_LINE after the last read of its recent messages (the interactive client). */
  newMessagesLine?: boolean;
}

/** A room's name on screen: "#lobby", or what the front end calls it (a direct-message room: "@bob"). */
export function roomLabel(room: string, opts: Pick<FormatOptions, "roomLabel">): string {
  return opts.roomLabel?.(room) ?? `#${room}`;
}

/** Names listed at most in a joined or presence line; the rest are counted. */
export const NAMES_SHOWN = 10;
const PRESENCE_NAMES_SHOWN = 5;

const ansi = {
  dim: "\x1b[2m",
  bold: "\x1b[1m",
  red: "\x1b[31m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
  green: "\x1b[32m",
  reset: "\x1b[0m",
};

type Paint = (code: keyof typeof ansi, text: string) => string;
const painter = (color: boolean): Paint => (color ? (code, text) => `${ansi[code]}${text}${ansi.reset}` : (_code, text) => text);

/** Should output to this stream be coloured? */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb";
}

/** Replace control characters (escape codes, newlines, bidi overrides) with visible placeholders. */
export function sanitize(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c === "\n" ? "⏎" : "�",
  );
}

/** 4,812: counts of big rooms are read at a glance. */
export const count = (n: number): string => n.toLocaleString("en-US");

const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

const pad2 = (n: number) => String(n).padStart(2, "0");

/** HH:MM in local time for today's messages; YYYY-MM-DD HH:MM for older ones. */
export function clock(ts: Timestamp | undefined, now: Date = new Date()): string {
  const d = ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : now;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return today ? time : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

/** Characters of a replied-to message quoted above the reply. */
export const QUOTE_WIDTH = 40;

/**
 * A message as one line (two for a reply: the quote of what it answers, then
 * the message): "(edited)" after an edited text, "(message deleted)" for a
 * tombstone, its reactions after it ("[👍 2 ❤️ 1*]"). An edit, delete or
 * reaction entry is a quiet line saying what changed (formatChange,
 * formatReactionEntry): a terminal cannot rewrite the line printed before.
 */
export function formatMessage(m: ChatMessage, opts: FormatOptions): string {
  return formatMessageLines(m, opts).join("\n");
}

export function formatMessageLines(m: ChatMessage, opts: FormatOptions): string[] {
  const p = painter(opts.color);
  const room = m.room === opts.currentRoom ? "" : `${p("cyan", roomLabel(m.room, opts))} `;
  const head = `${p("dim", `[${clock(m.sentAt, opts.now)}]`)} ${room}`;
  // A change of the room's state (a ban, the topic…) is a quiet line, not someone speaking.
  if (m.action) return [`${head}${p("dim", `* ${sanitize(m.text)}`)}`];
  if (isChange(m)) return [`${head}${p("dim", `* ${formatChange(m, opts.lookup?.(m.room, m.change!.targetSeq))}`)}`];
  if (isReaction(m)) return [`${head}${p("dim", `* ${formatReactionEntry(m, opts.lookup?.(m.room, m.reaction!.targetSeq))}`)}`];
  const seq = opts.showSeq ? `${p("dim", `#${m.seq}`)} ` : "";
  const text = m.deleted ? p("dim", "(message deleted)") : `${sanitize(m.text)}${m.editedAt ? ` ${p("dim", "(edited)")}` : ""}`;
  // A message that names us stands out: a marker (seen without colours too) and the text in yellow.
  const mentionsMe = opts.me !== undefined && !m.deleted && m.mentions.includes(opts.me);
  const reactions = m.deleted || m.reactions.length === 0 ? "" : ` ${p("dim", formatReactions(m.reactions))}`;
  const line = mentionsMe
    ? `${head}${seq}${p("yellow", "»")} ${p("bold", `<${sanitize(m.sender)}>`)} ${p("yellow", text)}${reactions}`
    : `${head}${seq}${p("bold", `<${sanitize(m.sender)}>`)} ${text}${reactions}`;
  return m.replyTo ? [p("dim", `    ${formatQuote(m.replyTo, opts)}`), line] : [line];
}

/** "↳ bob: what was said…" (or "↳ bob: message deleted"): what a reply answers, as it is now. */
export function formatQuote(to: { seq: bigint; sender: string; quote: string; deleted: boolean }, opts: Pick<FormatOptions, "showSeq">): string {
  const seq = opts.showSeq ? ` #${to.seq}` : "";
  return `↳ ${sanitize(to.sender)}${seq}: ${to.deleted ? "message deleted" : truncate(sanitize(to.quote), QUOTE_WIDTH)}`;
}

/**
 * What an edit or delete entry changed, in words: "bob edited #12: new text",
 * "bob deleted #12", "alice deleted bob's message #12" (a moderator; `target`,
 * the message as the client keeps it, says whose it was).
 */
export function formatChange(entry: ChatMessage, target?: ChatMessage): string {
  const seq = entry.change!.targetSeq;
  const by = sanitize(entry.sender);
  if (entry.change!.kind === MessageChangeKind.DELETE) {
    return target && target.sender !== entry.sender ? `${by} deleted ${sanitize(target.sender)}'s message #${seq}` : `${by} deleted #${seq}`;
  }
  return `${by} edited #${seq}: ${sanitize(entry.text)}`;
}

/** A message's reactions: "[👍 2 ❤️ 1*]", * on those you reacted with; "" for none. */
export function formatReactions(counts: readonly Pick<ReactionCount, "emoji" | "count" | "mine">[]): string {
  if (counts.length === 0) return "";
  return `[${counts.map((c) => `${sanitize(c.emoji)} ${count(c.count)}${c.mine ? "*" : ""}`).join(" ")}]`;
}

/**
 * What a reaction entry changed, in words: "bob reacted 👍 to #12", "bob
 * took 👍 off #12"; with the message as the client keeps it (`target`), whose
 * it is, a short quote and its reactions now: "bob reacted 👍 to #12
 * (alice: hello everyone) [👍 2 ❤️ 1*]".
 */
export function formatReactionEntry(entry: ChatMessage, target?: ChatMessage): string {
  const r = entry.reaction!;
  const what = r.removed ? `took ${sanitize(r.emoji)} off #${r.targetSeq}` : `reacted ${sanitize(r.emoji)} to #${r.targetSeq}`;
  const about = target && !target.deleted ? ` (${sanitize(target.sender)}: ${truncate(sanitize(target.text), QUOTE_WIDTH)})` : "";
  const now = target && !target.deleted && target.reactions.length > 0 ? ` ${formatReactions(target.reactions)}` : "";
  return `${sanitize(entry.sender)} ${what}${about}${now}`;
}

const leaveReasons: Record<LeaveReason, string> = {
  [LeaveReason.UNSPECIFIED]: "",
  [LeaveReason.LEFT]: "",
  [LeaveReason.DISCONNECTED]: " (disconnected)",
  [LeaveReason.TOO_SLOW]: " (too slow, disconnected)",
  [LeaveReason.SHUTDOWN]: " (server shutting down)",
  [LeaveReason.REPLACED]: " (joined again from another connection)",
  [LeaveReason.KICKED]: " (kicked)",
  [LeaveReason.BANNED]: " (banned)",
  [LeaveReason.ROOM_DELETED]: " (room deleted)",
  [LeaveReason.DISCONNECTED_BY_ADMIN]: " (disconnected by the service)",
};

export function errorCodeName(code: ErrorCode): string {
  return (ErrorCode[code] ?? String(code)).toLowerCase().replace(/_/g, " ");
}

/** "ann, bob, carol", or "ann, bob, … and 4,810 more" when only the first of `total` are shown. */
export function formatNames(names: string[], total = names.length, max = NAMES_SHOWN): string {
  const shown = names.slice(0, max).map(sanitize);
  const rest = total - shown.length;
  if (rest <= 0) return shown.join(", ");
  return `${shown.join(", ")}${shown.length > 0 ? ", " : ""}… and ${count(rest)} more`;
}

export function formatMembers(members: Member[], total = members.length, max = NAMES_SHOWN): string {
  return formatNames(
    members.map((m) => m.nickname),
    total,
    max,
  );
}

function formatJoined(j: JoinedEvent, opts: FormatOptions): string[] {
  const p = painter(opts.color);
  // member_count is the truth; a large room's event lists only the first members.
  const total = Math.max(j.memberCount, j.members.length);
  const more = total > NAMES_SHOWN ? `; /who ${j.room} lists them` : "";
  const kind = j.state?.directUserId ? "direct messages with " : j.state?.visibility === RoomVisibility.PRIVATE ? "private room " : "";
  const head = p("green", `*** ${j.resumed ? "rejoined" : "joined"} ${kind}${roomLabel(j.room, opts)} as ${sanitize(j.nickname)} (${plural(total, "member")}: ${formatMembers(j.members, total)}${more})`);
  const lines = [head];
  // The topic on a first join (a rejoin after a drop says nothing new).
  if (j.state?.topic && !j.resumed) lines.push(p("green", `*** topic: ${sanitize(j.state.topic)}`));
  if (j.state?.muted) lines.push(p("yellow", `*** you are muted in ${roomLabel(j.room, opts)}${j.state.mutedUntil ? ` until ${clock(j.state.mutedUntil, opts.now)}` : ""}: you may read, not post`));
  // The recent messages come as they are now: their edit, delete and reaction entries would only repeat it.
  const messages = j.recent.filter((m) => !isChange(m) && !isReaction(m));
  const recent = opts.history === undefined ? messages : opts.history <= 0 ? [] : messages.slice(-opts.history);
  const shown = recent.map((m) => formatMessageLines(m, opts));
  // Where we stopped reading (signed in: the server keeps the position), when unread messages are among these.
  const at = opts.newMessagesLine && !j.resumed ? newMessagesAt(recent, j.readSeq, j.unreadCount) : -1;
  if (at >= 0) shown.splice(at, 0, [p("yellow", NEW_MESSAGES_LINE)]);
  return [...lines, ...shown.flat()];
}

/** A large room's coalesced joins and leaves, as one line. */
export function formatPresence(e: PresenceEvent, color: boolean): string {
  const names = (list: string[], n: number) => formatNames(list, Math.max(n, list.length), PRESENCE_NAMES_SHOWN).replace(/ and [\d,]+ more$/, "");
  const counts: string[] = [];
  if (e.joinedCount > 0) counts.push(`${count(e.joinedCount)} joined`);
  if (e.leftCount > 0) counts.push(`${count(e.leftCount)} left`);
  const who: string[] = [];
  if (e.joinedCount > 0) who.push(`${names(e.joined.map((m) => m.nickname), e.joinedCount)}${e.leftCount > 0 ? " joined" : ""}`);
  if (e.leftCount > 0) who.push(`${names(e.left, e.leftCount)}${e.joinedCount > 0 ? " left" : ""}`);
  return painter(color)("green", `*** ${counts.join(", ")} #${e.room} (${plural(e.memberCount, "member")}): ${who.join("; ")}`);
}

export function formatError(e: ErrorEvent, color: boolean): string {
  return painter(color)("red", `!!! error (${errorCodeName(e.code)}): ${sanitize(e.message)}`);
}

const SHUTDOWN_DEFAULT = /^(the )?server is shutting down$/i;

/** The lines to print for one server event; empty for events not worth a line (heartbeats, typing). */
export function formatEvent(event: ServerEvent, opts: FormatOptions): string[] {
  const p = painter(opts.color);
  const info = (text: string) => p("green", `*** ${text}`);
  const e = event.event;
  switch (e.case) {
    case "message":
      return formatMessageLines(e.value, opts);
    case "joined":
      return formatJoined(e.value, opts);
    case "memberJoined":
      return [info(`${sanitize(e.value.member?.nickname ?? "?")} joined ${roomLabel(e.value.room, opts)}`)];
    case "memberLeft":
      return [info(`${sanitize(e.value.nickname)} left ${roomLabel(e.value.room, opts)}${leaveReasons[e.value.reason] ?? ""}`)];
    case "presence":
      return [formatPresence(e.value, opts.color)];
    case "left": {
      const room = roomLabel(e.value.room, opts);
      return [info(e.value.reason === LeaveReason.REPLACED ? `you left ${room}: you joined it again from another connection` : `you left ${room}`)];
    }
    case "memberRenamed": {
      const { room, oldNickname, newNickname } = e.value;
      return oldNickname === newNickname ? [] : [info(`${sanitize(oldNickname)} is now ${sanitize(newNickname)} in ${roomLabel(room, opts)}`)];
    }
    case "error":
      return [formatError(e.value, opts.color)];
    case "shutdown": {
      // One notice: the reason is worth adding only when it says more than the notice itself.
      const reason = sanitize(e.value.reason.trim());
      // The service ending this user's sessions sends the same notice: that is not the server going away.
      if (/^disconnected by /i.test(reason)) return [p("yellow", `*** ${reason}`)];
      const extra = reason === "" || SHUTDOWN_DEFAULT.test(reason) ? "" : ` (${reason})`;
      return [p("yellow", `*** the server is shutting down${extra}`)];
    }
    default:
      return [];
  }
}

export function formatNotice(level: NoticeLevel, text: string, color: boolean): string {
  const p = painter(color);
  if (level === "error") return p("red", `!!! ${text}`);
  if (level === "warn") return p("yellow", `*** ${text}`);
  return p("green", `*** ${text}`);
}

/** What /rooms knows of a room's last message: the message, or that asking for it failed. */
export type LastMessage = ChatMessage | "unavailable";

/** Characters of a last message shown in /rooms: a preview, not the message. */
export const PREVIEW_WIDTH = 40;

/**
 * /rooms as aligned columns: joined mark, name, members, and when and what was
 * last said (`[14:02] <bob> see you…`). A room missing from `last` has no
 * stored message to show (none yet, or none kept).
 */
export function formatRooms(rooms: RoomInfo[], joined: Set<string>, last: Map<string, LastMessage> = new Map(), now?: Date): string[] {
  const names = rooms.map((r) => `#${r.name}`);
  const counts = rooms.map((r) => count(r.memberCount));
  const nameWidth = Math.max(...names.map((n) => n.length));
  const countWidth = Math.max(...counts.map((c) => c.length));
  return rooms.map((r, i) => {
    const members = `${counts[i].padStart(countWidth)} ${(r.memberCount === 1 ? "member" : "members").padEnd(7)}`;
    return `    ${joined.has(r.name) ? "*" : " "} ${names[i].padEnd(nameWidth)}  ${members}  ${lastMessage(r, last.get(r.name), now)}`;
  });
}

function lastMessage(room: RoomInfo, last: LastMessage | undefined, now?: Date): string {
  if (room.lastSeq === 0n) return "no messages yet";
  if (last === "unavailable") return "last message unavailable";
  if (!last) return "no stored messages";
  return preview(last, now);
}

/** `[14:02] <bob> see you…`, or `[14:02] * bob was banned…` for a change of the room's state. */
function preview(last: ChatMessage, now?: Date): string {
  if (isChange(last)) return `[${clock(last.sentAt, now)}] * ${truncate(formatChange(last), PREVIEW_WIDTH)}`;
  if (isReaction(last)) return `[${clock(last.sentAt, now)}] * ${truncate(formatReactionEntry(last), PREVIEW_WIDTH)}`;
  const text = last.deleted ? "(message deleted)" : sanitize(last.text);
  return `[${clock(last.sentAt, now)}] ${last.action ? "* " : `<${sanitize(last.sender)}> `}${truncate(text, PREVIEW_WIDTH)}`;
}

/** "bob is typing…", "bob and carol are typing…", "4 people are typing…". */
export function formatTyping(names: string[]): string | undefined {
  const n = names.map(sanitize);
  if (n.length === 0) return undefined;
  if (n.length === 1) return `${n[0]} is typing…`;
  if (n.length === 2) return `${n[0]} and ${n[1]} are typing…`;
  if (n.length === 3) return `${n[0]}, ${n[1]} and ${n[2]} are typing…`;
  return `${n.length} people are typing…`;
}

/**
 * We were taken out of a room: who did it and why when the room's entry said
 * so ("you were banned from #lobby by alice: spam"), and that the client will
 * not rejoin it.
 */
export function formatRemoval(room: string, reason: LeaveReason, action: ChatMessage | undefined, opts: Pick<FormatOptions, "color" | "roomLabel">): string {
  const label = roomLabel(room, opts);
  const by = action && action.sender ? ` by ${sanitize(action.sender)}` : "";
  const why = action?.action?.reason ? `: ${sanitize(action.action.reason)}` : "";
  const until = action?.action?.until ? ` until ${clock(action.action.until)}` : "";
  let text: string;
  switch (reason) {
    case LeaveReason.BANNED:
      text = `you were banned from ${label}${by}${until}${why}; you cannot rejoin it`;
      break;
    case LeaveReason.KICKED:
      text = `you were kicked from ${label}${by}${why}`;
      break;
    case LeaveReason.ROOM_DELETED:
      text = `${label} was deleted${why}`;
      break;
    default:
      text = `the service took you out of ${label}${why}`;
  }
  return painter(opts.color)("red", `!!! ${text}`);
}

/**
 * "My rooms" as aligned columns: joined mark, name (a direct-message room as
 * @user), your role, and when and what was last said.
 */
export function formatMyRooms(rooms: RoomInfo[], joined: Set<string>, opts: Pick<FormatOptions, "roomLabel"> & { now?: Date } = {}): string[] {
  const names = rooms.map((r) => (r.directUserId ? `@${r.directUserId}` : roomLabel(r.name, opts)));
  const roles = rooms.map((r) => (r.directUserId ? "direct" : `${r.visibility === RoomVisibility.PRIVATE ? "private" : "public"}, ${ROLE_WORDS[r.yourRole] ?? "visitor"}`));
  // Signed in, the server counts what is unread in each of our rooms: a column when any has some.
  const unread = rooms.map((r) => unreadLabel(r.unreadCount, r.mentionCount));
  const unreadWidth = Math.max(...unread.map((u) => u.length));
  const nameWidth = Math.max(...names.map((n) => n.length));
  const roleWidth = Math.max(...roles.map((n) => n.length));
  return rooms.map((r, i) => {
    const last = r.lastMessage ? preview(r.lastMessage, opts.now) : r.lastSeq > 0n ? "no stored messages" : "no messages yet";
    const column = unreadWidth > 0 ? `${unread[i].padEnd(unreadWidth)}  ` : "";
    return `    ${joined.has(r.name) ? "*" : " "} ${names[i].padEnd(nameWidth)}  ${roles[i].padEnd(roleWidth)}  ${column}${last}`;
  });
}

const ROLE_WORDS: Partial<Record<RoomRole, string>> = {
  [RoomRole.OWNER]: "owner",
  [RoomRole.MODERATOR]: "moderator",
  [RoomRole.MEMBER]: "member",
};
