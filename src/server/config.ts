/**
 * Server configuration from flags and environment variables (flags win).
 * Every option is listed once in OPTIONS, which drives parsing, validation
 * and --help, so the three cannot drift apart.
 */
import { parseArgs } from "node:util";
import { defaultHubLimits } from "../hub/limits.js";
import { DEFAULT_HISTORY_DB_PATH } from "../store/open-store.js";
import { defaultRetention } from "../store/retention.js";
import { LOG_FORMATS, type LogFormat } from "./logger.js";
import { NODE_ID_PATTERN } from "./session-id.js";

export interface ServerConfig {
  host: string;
  port: number;
  httpHost: string;
  httpPort: number;
  corsOrigins: string;
  nodeId: string;
  logLevel: string;
  logFormat: LogFormat;
  store: string;
  db: string;
  historyLimit: number;
  historyMaxAgeSec: number;
  idempotencyWindowSec: number;
  editWindowSec: number;
  redis: string;
  redisCluster: boolean;
  redisPrefix: string;
  nodeLeaseMs: number;
  redisCommandTimeoutMs: number;
  redisMinReplicas: number;
  memoryStoreMaxBytes: number;
  maxConnections: number;
  maxStreams: number;
  maxStreamsPerConnection: number;
  maxRoomsPerClient: number;
  maxRooms: number;
  maxMembersPerRoom: number;
  membersOnJoin: number;
  presenceThreshold: number;
  presenceIntervalMs: number;
  readReceiptsMaxMembers: number;
  maxQueuedBytes: number;
  stallTimeoutMs: number;
  maxRequestBytes: number;
  rateLimit: number;
  rateBurst: number;
  heartbeatMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  idleTimeoutMs: number;
  authSecret: string;
  authPublicKey: string;
  authIssuer: string;
  authAudience: string;
  authMaxTokenAge: number;
  adminKeyFile: string;
  tlsCert: string;
  tlsKey: string;
  metricsHost: string;
  metricsPort: string;
  shutdownDeadlineMs: number;
}

type Kind = "string" | "int" | "bool";

interface OptionSpec {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: Kind;
  default: string | number | boolean;
  help: string;
  min?: number;
  max?: number;
  choices?: string[];
}

const opt = (key: keyof ServerConfig, flag: string, env: string, kind: Kind, dflt: string | number | boolean, help: string, extra: Partial<OptionSpec> = {}): OptionSpec => ({
  key, flag, env, kind, default: dflt, help, ...extra,
});

export const OPTIONS: OptionSpec[] = [
  opt("host", "host", "HOST", "string", "127.0.0.1", "address to listen on"),
  opt("port", "port", "PORT", "int", 50051, "gRPC port (0 picks a free one)", { min: 0, max: 65535 }),
  opt("httpHost", "http-host", "HTTP_HOST", "string", "", "address for the HTTP port (empty: the same as --host)"),
  opt("httpPort", "http-port", "HTTP_PORT", "int", 8080, "HTTP port: the web client, and the API over Connect, gRPC-Web and gRPC (HTTP/1.1 and h2c; HTTPS with --tls-cert); 0 turns it off", { min: 0, max: 65535 }),
  opt("corsOrigins", "cors-origins", "CORS_ORIGINS", "string", "", "comma-separated origins whose pages may call the HTTP port, e.g. https://chat.example.com (* for any; empty: same origin only)"),
  opt("nodeId", "node-id", "NODE_ID", "string", "", "this node's id: the prefix of its session ids, which a load balancer routes Command calls by (empty: random at start)"),
  opt("logLevel", "log-level", "LOG_LEVEL", "string", "info", "log level", { choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] }),
  opt("logFormat", "log-format", "LOG_FORMAT", "string", "auto", "log lines: pretty (coloured, for people) or json; auto is pretty on a terminal", { choices: [...LOG_FORMATS] }),
  opt("store", "store", "STORE", "string", "sqlite", "history store: sqlite (durable) or memory (throwaway)", { choices: ["sqlite", "memory"] }),
  opt("db", "db", "DB_PATH", "string", DEFAULT_HISTORY_DB_PATH, "SQLite history file (created on first start)"),
  opt("historyLimit", "history-limit", "HISTORY_LIMIT", "int", 10_000, "messages of history kept per room", { min: 1 }),
  opt("historyMaxAgeSec", "history-max-age", "HISTORY_MAX_AGE", "int", 0, "seconds of history kept (0: no age limit)", { min: 0 }),
  opt("redis", "redis", "REDIS_URL", "string", "", "run as one node of many: rooms live in Redis at this redis:// or rediss:// URL (empty: embedded, one process)"),
  opt("redisCluster", "redis-cluster", "REDIS_CLUSTER", "bool", false, "--redis is a Redis Cluster: a comma-separated list of seed nodes; rooms are sharded over its masters"),
  opt("redisPrefix", "redis-prefix", "REDIS_PREFIX", "string", "chat", "prefix of every Redis key and channel (deployments sharing a Redis use different ones)"),
  opt("nodeLeaseMs", "node-lease-ms", "NODE_LEASE_MS", "int", 10_000, "with --redis: a node silent for this long is dead, and its members are reported gone", { min: 1000 }),
  opt("redisCommandTimeoutMs", "redis-command-timeout", "REDIS_COMMAND_TIMEOUT", "int", 3000, "with --redis: milliseconds a Redis command may take; a Redis that does not answer within it (frozen, overloaded) makes sends, joins and queries fail as UNAVAILABLE and health NOT_SERVING until it answers", { min: 100 }),
  opt("redisMinReplicas", "redis-min-replicas", "REDIS_MIN_REPLICAS", "int", 0, "with --redis: acknowledge a message only once this many replicas of its Redis master have it (WAIT, 1 s; else UNAVAILABLE and the client resends); 0 does not wait. Set 1 when masters have replicas", { min: 0 }),
  opt("idempotencyWindowSec", "idempotency-window", "IDEMPOTENCY_WINDOW", "int", defaultRetention.idWindowMs / 1000, "seconds a client_msg_id is remembered after its send, however long history is kept", { min: 1 }),
  opt("editWindowSec", "edit-window", "EDIT_WINDOW", "int", defaultHubLimits.editWindowMs / 1000, "seconds after sending it that its author may still edit a message (0: no edits; deletes have no window)", { min: 0 }),
  opt("memoryStoreMaxBytes", "memory-store-max-bytes", "MEMORY_STORE_MAX_BYTES", "int", 256 * 1024 * 1024, "with --store memory: bytes of history kept in all (idle rooms are forgotten first)", { min: 1024 * 1024 }),
  opt("maxConnections", "max-connections", "MAX_CONNECTIONS", "int", 5_000, "TCP connections accepted at once; more are refused", { min: 1 }),
  opt("maxStreams", "max-streams", "MAX_STREAMS", "int", defaultHubLimits.maxSessions, "concurrent Chat streams accepted in total", { min: 1 }),
  opt("maxStreamsPerConnection", "max-streams-per-connection", "MAX_STREAMS_PER_CONNECTION", "int", 100, "concurrent streams (calls) on one connection", { min: 1 }),
  opt("maxRoomsPerClient", "max-rooms-per-client", "MAX_ROOMS_PER_CLIENT", "int", defaultHubLimits.maxRoomsPerSession, "rooms one stream may join at once", { min: 1 }),
  opt("maxRooms", "max-rooms", "MAX_ROOMS", "int", defaultHubLimits.maxRooms, "rooms that may exist at once", { min: 1 }),
  opt("maxMembersPerRoom", "max-members-per-room", "MAX_MEMBERS_PER_ROOM", "int", defaultHubLimits.maxMembersPerRoom, "members one room may hold", { min: 1 }),
  opt("membersOnJoin", "members-on-join", "MEMBERS_ON_JOIN", "int", defaultHubLimits.membersOnJoin, "members listed in a joined event at most (the rest through ListMembers)", { min: 1 }),
  opt("presenceThreshold", "presence-threshold", "PRESENCE_THRESHOLD", "int", defaultHubLimits.presenceThreshold, "rooms with more members get joins and leaves as one presence digest per interval", { min: 1 }),
  opt("presenceIntervalMs", "presence-interval-ms", "PRESENCE_INTERVAL_MS", "int", defaultHubLimits.presenceIntervalMs, "how often a large room's presence digest goes out", { min: 50 }),
  opt("readReceiptsMaxMembers", "read-receipts-max-members", "READ_RECEIPTS_MAX_MEMBERS", "int", defaultHubLimits.readReceiptsMaxMembers, "rooms with read receipts at the default setting show them while at most this many members are joined (0: never by default)", { min: 0 }),
  opt("maxQueuedBytes", "max-queued-bytes", "MAX_QUEUED_BYTES", "int", defaultHubLimits.maxQueuedBytes, "bytes queued for one slow client before it is dropped", { min: 1024 }),
  opt("stallTimeoutMs", "stall-timeout-ms", "STALL_TIMEOUT_MS", "int", defaultHubLimits.stallTimeoutMs, "a client not reading for this long while messages arrive is dropped", { min: 1 }),
  opt("maxRequestBytes", "max-request-bytes", "MAX_REQUEST_BYTES", "int", 64 * 1024, "largest request message the transport accepts", { min: 8192 }),
  opt("rateLimit", "rate-limit", "RATE_LIMIT", "int", defaultHubLimits.rateLimitPerSec, "commands per second per client (0: unlimited); excess gets an error event", { min: 0 }),
  opt("rateBurst", "rate-burst", "RATE_BURST", "int", defaultHubLimits.rateBurst, "commands a client may send in a burst above its rate", { min: 1 }),
  opt("heartbeatMs", "heartbeat-ms", "HEARTBEAT_MS", "int", defaultHubLimits.heartbeatIntervalMs, "heartbeat event interval (0: off)", { min: 0 }),
  opt("keepaliveMs", "keepalive-ms", "KEEPALIVE_MS", "int", 30_000, "HTTP/2 ping interval to detect vanished peers", { min: 1000 }),
  opt("keepaliveTimeoutMs", "keepalive-timeout-ms", "KEEPALIVE_TIMEOUT_MS", "int", 10_000, "a peer not answering a ping within this is dropped", { min: 100 }),
  opt("idleTimeoutMs", "idle-timeout-ms", "IDLE_TIMEOUT_MS", "int", 300_000, "a connection with no open call for this long is closed", { min: 1000 }),
  opt("authSecret", "auth-secret", "AUTH_SECRET", "string", "", "require JWTs signed with this HMAC secret (HS256/384/512; at least 32 bytes)"),
  opt("authPublicKey", "auth-public-key", "AUTH_PUBLIC_KEY_FILE", "string", "", "require JWTs verified by this PEM public key (RS256, ES256, EdDSA, ...)"),
  opt("authIssuer", "auth-issuer", "AUTH_ISSUER", "string", "", "when set, tokens must have this issuer (iss)"),
  opt("authAudience", "auth-audience", "AUTH_AUDIENCE", "string", "", "when set, tokens must have this audience (aud)"),
  opt("authMaxTokenAge", "auth-max-token-age", "AUTH_MAX_TOKEN_AGE", "int", 0, "accept tokens without an expiry, for this many seconds after their iat (0: tokens must have exp)", { min: 0 }),
  opt("adminKeyFile", "admin-key-file", "ADMIN_KEY_FILE", "string", "", "turn the admin API (chat.v1.AdminService) on: callers send authorization: Bearer <the file's contents>, at least 32 bytes (empty: the API answers PERMISSION_DENIED)"),
  opt("tlsCert", "tls-cert", "TLS_CERT_FILE", "string", "", "serve TLS with this PEM certificate chain (needs --tls-key)"),
  opt("tlsKey", "tls-key", "TLS_KEY_FILE", "string", "", "PEM private key for --tls-cert"),
  opt("metricsHost", "metrics-host", "METRICS_HOST", "string", "127.0.0.1", "address for the metrics endpoint"),
  opt("metricsPort", "metrics-port", "METRICS_PORT", "string", "", "serve Prometheus metrics at /metrics on this port (empty: off)", { min: 0, max: 65535 }),
  opt("shutdownDeadlineMs", "shutdown-deadline-ms", "SHUTDOWN_DEADLINE_MS", "int", 10_000, "on SIGINT/SIGTERM, streams still open after this are cut", { min: 0 }),
];

export class ConfigError extends Error {}

export function helpText(program: string): string {
  const rows = OPTIONS.map((o) => {
    const dflt = o.default === "" ? "" : ` (default ${o.default})`;
    return `  --${o.flag.padEnd(28)} ${o.env.padEnd(28)} ${o.help}${dflt}`;
  });
  return [`Usage: ${program} [options]`, "", `  ${"flag".padEnd(30)} ${"environment".padEnd(28)}`, ...rows, "  --help                         show this help", ""].join("\n");
}

/** Parse flags over environment over defaults. Throws ConfigError with a readable message. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: Object.fromEntries([
        ...OPTIONS.map((o) => [o.flag, { type: o.kind === "bool" ? ("boolean" as const) : ("string" as const) }]),
        ["help", { type: "boolean" as const, short: "h" }],
      ]),
      allowPositionals: false,
      strict: true,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError(argumentError(err as Error & { code?: string }));
  }
  if (values.help) return "help";
  const config: Record<string, string | number | boolean> = {};
  for (const o of OPTIONS) {
    const raw = values[o.flag] ?? env[o.env];
    if (o.kind === "bool") config[o.key] = typeof raw === "boolean" ? raw : raw === undefined || raw === "" ? o.default : flag(o, raw);
    else config[o.key] = raw === undefined || raw === "" ? o.default : convert(o, raw as string);
  }
  return checkCombinations(config as unknown as ServerConfig);
}

/** node:util's parseArgs messages, reworded to name the flag the way the rest of the errors do. */
function argumentError(err: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? "";
  const flag = quoted.replace(/ <value>$/, "").split(", ").pop(); // "-h, --help" -> "--help"
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (err.message.includes("argument missing")) return `${flag} needs a value`;
      // `--port -1`: parseArgs will not guess whether -1 is a value or another flag.
      if (err.message.includes("ambiguous")) return `${flag} needs a value (write ${flag}=-... for one starting with "-")`;
      return `${flag} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${quoted}" (every option is a --flag)`;
    default:
      return err.message.split("\n")[0];
  }
}

/** A yes/no option from the environment: 1/true/yes or 0/false/no. */
function flag(o: OptionSpec, raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${o.env} must be true or false (got "${raw}")`);
}

function convert(o: OptionSpec, raw: string): string | number {
  if (o.choices && !o.choices.includes(raw)) {
    throw new ConfigError(`--${o.flag} / ${o.env} must be one of ${o.choices.join(", ")} (got "${raw}")`);
  }
  // A string option with bounds is a number that may be left empty (off), e.g. --metrics-port.
  if (o.kind === "string" && o.min === undefined && o.max === undefined) return raw;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw new ConfigError(`--${o.flag} / ${o.env} must be ${range(o)} (got "${raw}")`);
  }
  return o.kind === "int" ? n : String(n);
}

function range(o: OptionSpec): string {
  if (o.min !== undefined && o.max !== undefined) return `an integer from ${o.min} to ${o.max}`;
  if (o.min !== undefined) return `an integer >= ${o.min}`;
  if (o.max !== undefined) return `an integer <= ${o.max}`;
  return "an integer";
}

function checkCombinations(c: ServerConfig): ServerConfig {
  if ((c.tlsCert === "") !== (c.tlsKey === "")) throw new ConfigError("--tls-cert and --tls-key go together");
  if (c.authSecret && c.authPublicKey) throw new ConfigError("give --auth-secret or --auth-public-key, not both");
  if (c.redisCluster && !c.redis) throw new ConfigError("--redis-cluster needs --redis with the cluster's seed nodes; see --help");
  if (c.nodeId !== "" && !NODE_ID_PATTERN.test(c.nodeId)) {
    throw new ConfigError(`--node-id / NODE_ID must be 1 to 32 letters, digits, '-' or '_' (got "${c.nodeId}")`);
  }
  const badOrigin = corsOriginList(c.corsOrigins).find((o) => o !== "*" && !/^https?:\/\/[^/\s]+$/i.test(o));
  if (badOrigin !== undefined) throw new ConfigError(`--cors-origins / CORS_ORIGINS: "${badOrigin}" is not an origin like https://chat.example.com (or *)`);
  return c;
}

/** The --cors-origins list, split and trimmed. */
export function corsOriginList(value: string): string[] {
  return value
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
}

export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return { ...(parseConfig([], {}) as ServerConfig), ...overrides };
}
