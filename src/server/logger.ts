/**
 * The server's logger. JSON lines (pino) for log collectors and programs;
 * pino-pretty's coloured one-line form for a person watching a terminal.
 * "auto" picks by whether the output is a terminal.
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export const LOG_FORMATS = ["auto", "pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level: string;
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a stream. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger({ level, format = "auto", destination }: LoggerOptions): Logger {
  const isTTY = (destination ?? process.stdout).isTTY === true;
  if (format === "json" || (format === "auto" && !isTTY)) {
    return destination ? pino({ level }, destination) : pino({ level });
  }
  return pino(
    { level },
    pretty({
      destination: destination ?? 1,
      // main.ts exits as soon as the server has stopped: the last lines must already be written.
      sync: true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
      // Fields (peer, session, reason, and whoever-it-is fields added to a log call or a child
      // logger) stay on the event's own line, so one event is one line to read or grep.
      singleLine: true,
    }),
  );
}
