/**
 * The server's logger. JSON lines (pino) for log collectors and programs;
 * pino-pretty's coloured one-line form for a person watching a terminal.
 * "auto" picks by whether the output is a terminal.
 */
import pino, { type Logger, type LoggerOptions as PinoOptions } from "pino";
import pretty from "pino-pretty";

export const LOG_FORMATS = ["auto", "pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level: string;
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a stream. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Credentials in a URL (scheme://user:password@host) with the password replaced by ***. */
export function redactCredentials(text: string): string {
  return text.includes("@") ? text.replace(/(\w+:\/\/[^:@/,\s]*:)[^@/,\s]*@/g, "$1***@") : text;
}

/**
 * The last line of defence for secrets: whatever a log call was handed (an
 * error message naming a URL, a field holding one), a password in a URL is
 * never written. Callers redact at the source too (the Redis URL is logged
 * redacted); this catches what one of them forgets.
 */
const secretSafe: PinoOptions = {
  formatters: {
    log(fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (typeof value === "string") fields[key] = redactCredentials(value);
        // (A copy: the error object belongs to the caller.)
        else if (value instanceof Error && value.message.includes("@")) fields[key] = { type: value.name, message: redactCredentials(value.message) };
      }
      return fields;
    },
  },
  hooks: {
    logMethod(args, method) {
      method.apply(this, args.map((a) => (typeof a === "string" ? redactCredentials(a) : a)) as Parameters<typeof method>);
    },
  },
};

export function createLogger({ level, format = "auto", destination }: LoggerOptions): Logger {
  const isTTY = (destination ?? process.stdout).isTTY === true;
  if (format === "json" || (format === "auto" && !isTTY)) {
    if (destination) return pino({ level, ...secretSafe }, destination);
    const stdout = pino.destination({ dest: 1, sync: false });
    const logger = pino({ level, ...secretSafe }, stdout);
    asyncStdout.set(logger, stdout);
    return logger;
  }
  return pino(
    { level, ...secretSafe },
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

type AsyncDestination = ReturnType<typeof pino.destination>;

/** JSON loggers on stdout, written asynchronously: endLog finishes them. */
const asyncStdout = new WeakMap<Logger, AsyncDestination>();

/**
 * Finish writing the log before the process exits, waiting at most
 * `timeoutMs`. Without this, pino's exit hook writes what is left
 * synchronously, and its writer (sonic-boom) retries that forever once the
 * reader of the pipe has gone (EPIPE): a server logging into a log shipper
 * that died could not be stopped. Ended here, the stream either writes
 * everything and closes (the hook then skips it) or meets the EPIPE
 * asynchronously (pino then turns its writes, the hook's too, into no-ops).
 */
export function endLog(logger: Logger, timeoutMs = 2000): Promise<void> {
  const stdout = asyncStdout.get(logger);
  if (!stdout) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    stdout.once("close", done);
    stdout.once("error", done);
    try {
      stdout.end();
    } catch {
      done(); // ended already
    }
  });
}
