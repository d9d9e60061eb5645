/**
 * Server configuration from flags and environment variables (flags win).
 * Every option is listed once in OPTIONS, which drives parsing, validation
 * and --help, so the three cannot drift apart.
 */
import { parseArgs } from "node:util";
import { defaultHubLimits } from "../hub/limits.js";

export interface ServerConfig {
  host: string;
  port: number;
  logLevel: string;
  maxStreams: number;
  maxRoomsPerClient: number;
  maxRooms: number;
  maxMembersPerRoom: number;
  maxQueuedBytes: number;
  stallTimeoutMs: number;
  heartbeatMs: number;
  historyLimit: number;
  maxRequestBytes: number;
  rateLimit: number;
  rateBurst: number;
}

type Kind = "string" | "int";

interface OptionSpec {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: Kind;
  default: string | number;
  help: string;
  min?: number;
}

export const OPTIONS: OptionSpec[] = [
  { key: "host", flag: "host", env: "HOST", kind: "string", default: "127.0.0.1", help: "address to listen on" },
  { key: "port", flag: "port", env: "PORT", kind: "int", default: 50051, min: 0, help: "gRPC port (0 picks a free one)" },
  { key: "logLevel", flag: "log-level", env: "LOG_LEVEL", kind: "string", default: "info", help: "pino log level: fatal, error, warn, info, debug, trace, silent" },
  { key: "maxStreams", flag: "max-streams", env: "MAX_STREAMS", kind: "int", default: defaultHubLimits.maxSessions, min: 1, help: "concurrent Chat streams accepted" },
  { key: "maxRoomsPerClient", flag: "max-rooms-per-client", env: "MAX_ROOMS_PER_CLIENT", kind: "int", default: defaultHubLimits.maxRoomsPerSession, min: 1, help: "rooms one stream may join at once" },
  { key: "maxRooms", flag: "max-rooms", env: "MAX_ROOMS", kind: "int", default: defaultHubLimits.maxRooms, min: 1, help: "rooms that may exist at once" },
  { key: "maxMembersPerRoom", flag: "max-members-per-room", env: "MAX_MEMBERS_PER_ROOM", kind: "int", default: defaultHubLimits.maxMembersPerRoom, min: 1, help: "members one room may hold" },
  { key: "maxQueuedBytes", flag: "max-queued-bytes", env: "MAX_QUEUED_BYTES", kind: "int", default: defaultHubLimits.maxQueuedBytes, min: 1024, help: "bytes queued for one slow client before it is dropped" },
  { key: "stallTimeoutMs", flag: "stall-timeout-ms", env: "STALL_TIMEOUT_MS", kind: "int", default: defaultHubLimits.stallTimeoutMs, min: 1, help: "a client not reading for this long while messages arrive is dropped" },
  { key: "heartbeatMs", flag: "heartbeat-ms", env: "HEARTBEAT_MS", kind: "int", default: defaultHubLimits.heartbeatIntervalMs, min: 0, help: "heartbeat event interval (0: off)" },
  { key: "historyLimit", flag: "history-limit", env: "HISTORY_LIMIT", kind: "int", default: 10_000, min: 1, help: "messages of history kept per room" },
  { key: "rateLimit", flag: "rate-limit", env: "RATE_LIMIT", kind: "int", default: defaultHubLimits.rateLimitPerSec, min: 0, help: "commands per second per client (0: unlimited); excess gets an error event" },
  { key: "rateBurst", flag: "rate-burst", env: "RATE_BURST", kind: "int", default: defaultHubLimits.rateBurst, min: 1, help: "commands a client may send in a burst above its rate" },
  { key: "maxRequestBytes", flag: "max-request-bytes", env: "MAX_REQUEST_BYTES", kind: "int", default: 64 * 1024, min: 8192, help: "largest request message the transport accepts" },
];

export class ConfigError extends Error {}

export function helpText(program: string): string {
  const rows = OPTIONS.map((o) => `  --${o.flag.padEnd(22)} ${o.env.padEnd(22)} ${o.help} (default ${o.default})`);
  return [`Usage: ${program} [options]`, "", "  flag                     environment", ...rows, "  --help                   show this help", ""].join("\n");
}

/** Parse flags over environment over defaults. Throws ConfigError with a readable message. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: Object.fromEntries([
        ...OPTIONS.map((o) => [o.flag, { type: "string" as const }]),
        ["help", { type: "boolean" as const, short: "h" }],
      ]),
      allowPositionals: false,
      strict: true,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return "help";
  const config: Record<string, string | number> = {};
  for (const o of OPTIONS) {
    const raw = (values[o.flag] as string | undefined) ?? env[o.env];
    config[o.key] = raw === undefined || raw === "" ? o.default : convert(o, raw);
  }
  return config as unknown as ServerConfig;
}

function convert(o: OptionSpec, raw: string): string | number {
  if (o.kind === "string") return raw;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || (o.min !== undefined && n < o.min)) {
    throw new ConfigError(`--${o.flag} / ${o.env} must be an integer${o.min !== undefined ? ` >= ${o.min}` : ""} (got "${raw}")`);
  }
  return n;
}

export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return { ...(parseConfig([], {}) as ServerConfig), ...overrides };
}
