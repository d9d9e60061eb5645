/**
 * The chat server as a separate process, for what only a process can show:
 * signals, crashes, restarts on the same database.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitUntil } from "./wait.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  address: string;
  baseUrl: string;
  /** The HTTP port's URL (web client, Connect, gRPC-Web), when the test turned it on. */
  httpUrl?: string;
  logs: () => Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/**
 * Start `src/server/main.ts` with flags; resolves once it says where it listens.
 * The HTTP port is off unless `args` turns it on (a later flag wins).
 */
export async function spawnServer(args: string[], timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server/main.ts", "--log-level", "info", "--log-format", "json", "--http-port", "0", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  let partial = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split("\n");
    partial = parts.pop()!;
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const listening = await waitUntil(
    () => {
      if (gone) throw new Error(`server exited before listening: ${stderr}`);
      return lines.find((l) => typeof l.address === "string" && String(l.msg).includes("listening"));
    },
    "server to listen",
    timeoutMs,
  );
  const address = listening.address as string;
  const httpUrl = typeof listening.http === "string" ? listening.http : undefined;
  return { child, address, baseUrl: `http://${address}`, httpUrl, logs: () => lines, stderr: () => stderr, exited };
}

/** Kill every server process a test left running. */
export function killServers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
