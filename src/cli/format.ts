/**
 * How events look on a terminal, as pure functions from data to lines, so the
 * interactive and piped front-ends print the same thing and tests can check
 * it without a terminal. Text from other people is sanitised: a message must
 * not be able to move the cursor or recolour the screen with escape codes.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { ErrorCode, LeaveReason, type ChatMessage, type Member, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import type { NoticeLevel } from "./chat-session.js";

export interface FormatOptions {
  /** ANSI colours (only when writing to a terminal, and NO_COLOR unset). */
  color: boolean;
  /** Omit the room tag for messages in this room (the interactive current room). */
  currentRoom?: string;
}

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

/** HH:MM in local time. */
export function clock(ts: Timestamp | undefined, now: () => Date = () => new Date()): string {
  const d = ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : now();
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function formatMessage(m: ChatMessage, opts: FormatOptions): string {
  const p = painter(opts.color);
  const room = m.room === opts.currentRoom ? "" : `${p("cyan", `#${m.room}`)} `;
  return `${p("dim", `[${clock(m.sentAt)}]`)} ${room}${p("bold", `<${sanitize(m.sender)}>`)} ${sanitize(m.text)}`;
}

const leaveReasons: Record<LeaveReason, string> = {
  [LeaveReason.UNSPECIFIED]: "",
  [LeaveReason.LEFT]: "",
  [LeaveReason.DISCONNECTED]: " (disconnected)",
  [LeaveReason.TOO_SLOW]: " (too slow, disconnected)",
  [LeaveReason.SHUTDOWN]: " (server shutting down)",
};

export function errorCodeName(code: ErrorCode): string {
  return (ErrorCode[code] ?? String(code)).toLowerCase().replace(/_/g, " ");
}

export function formatMembers(members: Member[]): string {
  return members.map((m) => sanitize(m.nickname)).join(", ");
}

/** The lines to print for one server event; empty for events not worth showing (heartbeats, typing). */
export function formatEvent(event: ServerEvent, opts: FormatOptions): string[] {
  const p = painter(opts.color);
  const info = (text: string) => p("green", `*** ${text}`);
  const e = event.event;
  switch (e.case) {
    case "message":
      return [formatMessage(e.value, opts)];
    case "joined": {
      const j = e.value;
      const n = j.members.length;
      const lines = [info(`${j.resumed ? "rejoined" : "joined"} #${j.room} as ${sanitize(j.nickname)} (${n} member${n === 1 ? "" : "s"}: ${formatMembers(j.members)})`)];
      return lines.concat(j.recent.map((m) => formatMessage(m, opts)));
    }
    case "memberJoined":
      return [info(`${sanitize(e.value.member?.nickname ?? "?")} joined #${e.value.room}`)];
    case "memberLeft":
      return [info(`${sanitize(e.value.nickname)} left #${e.value.room}${leaveReasons[e.value.reason] ?? ""}`)];
    case "left":
      return [info(`you left #${e.value.room}`)];
    case "error":
      return [p("red", `!!! error (${errorCodeName(e.value.code)}): ${sanitize(e.value.message)}`)];
    case "shutdown":
      return [p("yellow", `*** server is shutting down: ${sanitize(e.value.reason)}`)];
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
