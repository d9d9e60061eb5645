/**
 * Command-line flags of `npm run chat`. Parsing is separate from main.ts so it
 * can be unit-tested, and every failure is a UsageError with a one-line
 * message: main prints it with the usage text and exits 2, never a stack.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { checkRoom } from "../hub/validate.js";

export const DEFAULT_SERVER = "http://127.0.0.1:50051";
export const DEFAULT_ROOM = "lobby";
/** Non-interactive runs are usually scripts: give up after a bounded number of reconnects. */
export const DEFAULT_PIPED_MAX_RETRIES = 20;
/** The server sends at most this many recent messages with a join. */
export const JOIN_HISTORY_MAX = 50;

export interface CliOptions {
  /** Base URL of the server, or several separated by commas (tried in turn: failover). */
  server: string;
  name: string;
  room: string;
  json: boolean;
  /** Reconnect attempts in a row before giving up; undefined: the mode's default. */
  maxRetries: number | undefined;
  /** Recent messages shown on joining, 0 to JOIN_HISTORY_MAX; undefined: all the server sends. */
  history?: number;
  /** Bearer token (JWT) for a server that requires authentication. */
  token?: string;
  /** PEM CA certificate to trust for an https:// server, besides the system store. */
  ca?: Buffer;
}

export class UsageError extends Error {}

export function usage(program = "npm run chat --"): string {
  return [
    `Usage: ${program} --name <nickname> [--room <room>] [--server <url>[,<url>...]] [--token <jwt>] [--ca <file>] [--json] [--history <n>] [--max-retries <n>]`,
    "",
    `  --name <nickname>   your nickname (required)`,
    `  --room <room>       room to join first (default ${DEFAULT_ROOM})`,
    `  --server <urls>     server address, or several separated by commas, tried in turn when one fails;`,
    `                      host:port means http://host:port (default ${DEFAULT_SERVER}, or $CHAT_SERVER)`,
    `  --token <jwt>       bearer token for a server that requires one (or $CHAT_TOKEN)`,
    `  --ca <file>         PEM CA certificate to trust for an https:// server`,
    `  --json              non-interactive: print each received event as one JSON line`,
    `  --history <n>       recent messages to show on joining a room, 0 to ${JOIN_HISTORY_MAX} (default: all`,
    `                      the server sends, up to ${JOIN_HISTORY_MAX})`,
    `  --max-retries <n>   reconnect attempts before giving up (0: never reconnect;`,
    `                      default unlimited when interactive, ${DEFAULT_PIPED_MAX_RETRIES} when stdin is not a terminal)`,
    `  --help              show this help`,
    "",
    "With a terminal on stdin it is an interactive chat (type /help).",
    "Otherwise every line of stdin is sent as a message; it exits once input ends",
    "and every message has been acknowledged.",
    "",
  ].join("\n");
}

/** Parse argv (without node and script). Returns "help" for --help. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv): CliOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: "string" },
        name: { type: "string" },
        room: { type: "string" },
        json: { type: "boolean" },
        "max-retries": { type: "string" },
        history: { type: "string" },
        token: { type: "string" },
        ca: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    // parseArgs messages can span lines (they suggest "--" usage); keep the first.
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
  if (values.help) return "help";

  const name = values.name;
  if (name === undefined || name === "") throw new UsageError("--name is required");
  const room = (values.room ?? DEFAULT_ROOM).replace(/^#/, "");
  // The server's own rule, so a bad name is refused before connecting.
  const badRoom = checkRoom(room);
  if (badRoom) throw new UsageError(`--room "${room}": ${badRoom}`);

  const servers = parseServers(values.server ?? (env.CHAT_SERVER || DEFAULT_SERVER));

  let maxRetries: number | undefined;
  const raw = values["max-retries"];
  if (raw !== undefined) {
    if (raw === "unlimited" || raw === "inf") maxRetries = Infinity;
    else {
      maxRetries = Number(raw);
      if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
        throw new UsageError(`--max-retries must be an integer >= 0 or "unlimited" (got "${raw}")`);
      }
    }
  }

  let history: number | undefined;
  if (values.history !== undefined) {
    history = /^\d+$/.test(values.history) ? Number(values.history) : NaN;
    if (!(history <= JOIN_HISTORY_MAX)) {
      throw new UsageError(`--history must be an integer from 0 to ${JOIN_HISTORY_MAX} (got "${values.history}")`);
    }
  }

  const token = values.token ?? (env.CHAT_TOKEN || undefined);
  let ca: Buffer | undefined;
  if (values.ca !== undefined) {
    if (servers.some((s) => !s.startsWith("https:"))) throw new UsageError("--ca only makes sense with https:// servers");
    try {
      ca = readFileSync(values.ca);
    } catch (err) {
      throw new UsageError(`cannot read --ca file ${values.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  const options: CliOptions = { server: servers.join(","), name, room, json: values.json ?? false, maxRetries, token, ca };
  if (history !== undefined) options.history = history;
  return options;
}

/**
 * `--server`: one address or several separated by commas. Each is a URL
 * (http:// or https://) or host:port as the server prints it, which means
 * http://host:port. Returned as base URLs without a trailing slash.
 */
export function parseServers(value: string): string[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.some((s) => s === "")) throw new UsageError(`--server has an empty address (got "${value}")`);
  return parts.map((part) => {
    const bare = !/^[a-z][a-z0-9+.-]*:\/\//i.test(part);
    const withScheme = bare ? `http://${part}` : part;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new UsageError(`--server must be host:port or a URL like ${DEFAULT_SERVER} (got "${part}")`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UsageError(`--server must be host:port or start with http:// or https:// (got "${part}")`);
    }
    if (bare && !/:\d+$/.test(part)) throw new UsageError(`--server must be host:port or a URL like ${DEFAULT_SERVER} (got "${part}")`);
    if (url.hostname === "" || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
      throw new UsageError(`--server must be host:port or a URL like ${DEFAULT_SERVER}, without a path (got "${part}")`);
    }
    return withScheme.replace(/\/+$/, "");
  });
}
