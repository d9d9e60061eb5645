/**
 * The benchmark's child processes. Every child is registered here and killed
 * when the benchmark exits, however it exits (normal end, error, SIGINT or
 * SIGTERM). Import this only from the orchestrator: it installs handlers.
 */
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "./proc.js";

const live = new Set<ChildProcess>();
let tmp: string | undefined;
/** Keep the servers' logs (and SQLite files) after the run, for debugging. */
let keepLogs = false;

export function keepServerLogs(): void {
  keepLogs = true;
}

function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
  if (tmp && keepLogs) console.error(`bench: server logs kept in ${tmp}`);
  else if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`bench: ${signal}, stopping children`);
    killAll();
    process.exit(130);
  });
}

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** The bench's temporary directory (server logs, SQLite files), removed at exit unless --keep-logs. */
export function tmpDir(): string {
  return (tmp ??= mkdtempSync(join(tmpdir(), "chat-bench-")));
}

/**
 * Who is measured: ours, and the peers it is compared with: "ws" (a ws
 * forwarder), "grpc" (a bare grpc-js batched broadcast server on chat.v1),
 * "sio" (a Socket.IO 4 room server).
 */
export type Target = "ours" | "ws" | "grpc" | "sio";

/** The peers, and the script each runs (under tsx). */
export const PEERS = ["ws", "grpc", "sio"] as const;
const PEER_SCRIPT: Record<Exclude<Target, "ours">, string> = {
  ws: "bench/ws-server.ts",
  grpc: "bench/grpc-server.ts",
  sio: "bench/sio-server.ts",
};

/** How tables name each target. */
export const TARGET_NAMES: Record<Target, string> = {
  ours: "ours (grpc-js chat server)",
  ws: "ws forwarder",
  grpc: "grpc-js batched broadcast",
  sio: "Socket.IO 4 rooms",
};

export interface ServerChild {
  target: Target;
  pid: number;
  address: string;
  /** Epoch ms just before the process was spawned (a --cpu-prof profile starts about then). */
  spawnedAtMs: number;
  /** Prometheus endpoint, when the server was started with one. */
  metricsUrl: string | undefined;
  /** Ours: its SQLite history file. */
  dbFile: string | undefined;
  child: ChildProcess;
  logFile: string;
  /** Set once the child has exited: how. */
  exited: string | undefined;
  /** Stop: SIGTERM, wait for a clean exit (a --cpu-prof profile is written then), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  target: Target;
  root: string;
  /** Extra node flags for the server (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Extra server flags (ours only); they come last, so they override the defaults. */
  serverArgs?: string[];
  /** Ours: this SQLite file instead of a fresh one (a restart on the same history). */
  dbFile?: string;
  /** Ours: listen on this port instead of a free one (a restart on the same address). */
  port?: number;
}

let help: string | undefined;

/** Whether our server has a flag (read once from its --help). */
export function oursHasFlag(root: string, flag: string): boolean {
  help ??= execFileSync(process.execPath, [OURS_ENTRY, "--help"], { cwd: root, encoding: "utf8" });
  return help.includes(`--${flag} `);
}

/**
 * The environment for our server: the bench's own, without any variable the
 * server reads as a setting (its --help names them), so only the bench's
 * flags decide. Otherwise e.g. a REDIS_URL in the environment (CI exports one)
 * would make every "embedded" server a node on that Redis.
 */
export function oursEnv(root: string): NodeJS.ProcessEnv {
  help ??= execFileSync(process.execPath, [OURS_ENTRY, "--help"], { cwd: root, encoding: "utf8" });
  const env = { ...process.env };
  for (const m of help.matchAll(/^\s+--\S+\s+([A-Z][A-Z0-9_]*)\s/gm)) delete env[m[1]];
  return env;
}

/**
 * Our server's flags for a benchmark: a fresh port, the real (default) SQLite
 * history in a file of its own, and limits lifted that would otherwise refuse
 * the load shape itself: the per-client rate limit (10 senders carry the whole
 * offered rate), the connection and stream limits (10,000 clients plus a few,
 * each on its own connection) and the members per room (10,000 in one room in
 * idle-shared and storm). Flags the server does not (yet) have are left out.
 */
export function oursArgs(root: string, dbFile: string): string[] {
  const has = (flag: string) => oursHasFlag(root, flag);
  return [
    "--port", "0",
    "--host", "127.0.0.1",
    "--log-level", "info",
    ...(has("store") ? ["--store", "sqlite"] : []),
    ...(has("db") ? ["--db", dbFile] : []),
    ...(has("rate-limit") ? ["--rate-limit", "0"] : []),
    ...(has("max-connections") ? ["--max-connections", "20000"] : []),
    ...(has("max-streams") ? ["--max-streams", "20000"] : []),
    ...(has("max-members-per-room") ? ["--max-members-per-room", "20000"] : []),
    ...(has("max-rooms") ? ["--max-rooms", "20000"] : []),
    // The HTTP port (web client) is not measured; its default 8080 may be taken.
    ...(has("http-port") ? ["--http-port", "0"] : []),
  ];
}

/**
 * Start a server as its own process (node itself, not a wrapper, so its pid
 * is the process that does the work) and wait for it to log its address.
 * Its output goes to a file, so nobody has to spend CPU reading a pipe.
 */
/**
 * Our server as installed users run it: the compiled JavaScript (what
 * `chat-server` runs), not the sources through tsx, so start-up and the code
 * measured are the real ones. ensureBuilt() brings dist/ up to date first.
 */
export const OURS_ENTRY = "dist/src/server/main.js";

/** Rebuild dist/ (npm run build) when a source under src/, gen/ or web/ is newer than it. */
export function ensureBuilt(root: string, log: (msg: string) => void): void {
  const built = join(root, OURS_ENTRY);
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const newer = (dir: string): boolean =>
    existsSync(dir) &&
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? newer(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs > builtAt,
    );
  if (builtAt > 0 && !["src", "gen", "web"].some((d) => newer(join(root, d)))) return;
  log("building dist/ (the bench runs the compiled server, as chat-server does)");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}

export async function startServer(opts: ServerOptions): Promise<ServerChild> {
  const logFile = join(tmpDir(), `${opts.target}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
  const fd = openSync(logFile, "w");
  const dbFile = opts.target === "ours" ? (opts.dbFile ?? logFile.replace(/\.log$/, ".db")) : undefined;
  const script =
    opts.target === "ours"
      ? [OURS_ENTRY, ...oursArgs(opts.root, dbFile!), ...(opts.serverArgs ?? []), ...(opts.port !== undefined ? ["--port", String(opts.port)] : [])]
      : [PEER_SCRIPT[opts.target]];
  const spawnedAtMs = Date.now();
  const child = track(
    spawn(process.execPath, [...(opts.target === "ours" ? [] : ["--import", "tsx"]), ...(opts.nodeFlags ?? []), ...script], {
      cwd: opts.root,
      env: opts.target === "ours" ? oursEnv(opts.root) : process.env,
      stdio: ["ignore", fd, fd, ...(opts.target !== "ours" ? (["ipc"] as const) : [])],
    }),
  );
  closeSync(fd);
  const server: ServerChild = {
    target: opts.target,
    pid: child.pid!,
    address: "",
    spawnedAtMs,
    metricsUrl: undefined,
    dbFile,
    child,
    logFile,
    exited: undefined,
    stop: (graceMs = 10_000) => stopChild(child, graceMs),
  };
  child.once("exit", (code, signal) => (server.exited = signal ? `killed by ${signal}` : `exit code ${code}`));
  const deadline = Date.now() + 30_000;
  while (!server.address) {
    if (server.exited) throw new Error(`${opts.target} server ${server.exited} before listening:\n${logTail(logFile)}`);
    if (Date.now() > deadline) {
      await server.stop(0);
      throw new Error(`${opts.target} server did not log its address within 30 s:\n${logTail(logFile)}`);
    }
    await sleep(50);
    const listening = findListening(logFile);
    server.address = listening?.address ?? "";
    server.metricsUrl = listening?.metrics;
  }
  return server;
}

function findListening(logFile: string): { address: string; metrics?: string } | undefined {
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes('"address"')) continue;
    try {
      const { address, metrics } = JSON.parse(line);
      if (typeof address === "string") return { address, metrics: typeof metrics === "string" ? metrics : undefined };
    } catch {
      // a partial line: try again later
    }
  }
  return undefined;
}

export function logTail(logFile: string, lines = 20): string {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
  const timer = setTimeout(() => child.kill("SIGKILL"), Math.max(graceMs, 1));
  await exited;
  clearTimeout(timer);
}


/** Fork a load generator process (bench/generator.ts) with an IPC channel; `nodeFlags` e.g. --cpu-prof. */
export function startGenerator(root: string, nodeFlags: string[] = []): ChildProcess {
  return track(
    fork(join(root, "bench/generator.ts"), [], {
      cwd: root,
      execArgv: [...nodeFlags, "--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
}
