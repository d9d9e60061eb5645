/**
 * HAProxy (from Debian: `apt-get install haproxy`) in front of chat nodes, as
 * docs/scaling.md sets it up: gRPC over cleartext HTTP/2 (h2c) on both sides,
 * balanced per call, each node health-checked with grpc.health.v1.Health/Check
 * for chat.v1.ChatService. Started in the foreground on a free port; the test
 * kills it by pid. Tests that need it fail (they do not skip) when it is
 * missing: .ci/run installs it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { waitUntilAsync } from "./wait.js";

export interface HaproxyProcess {
  /** host:port to give clients. */
  address: string;
  child: ChildProcess;
  config: string;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * The health check, byte by byte: HTTP/2 preface, empty SETTINGS, one HEADERS
 * frame (HPACK without Huffman or indexing, so it can be read below) and one
 * DATA frame carrying a gRPC-framed HealthCheckRequest{service: "chat.v1.ChatService"}.
 * HAProxy's http-check cannot send a body with NUL bytes, which every gRPC frame has.
 */
export function grpcHealthCheckBytes(service = "chat.v1.ChatService"): string {
  const hex = (b: Buffer) => b.toString("hex");
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  const str = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
  const headers = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
    Buffer.from([0x04]), str("/grpc.health.v1.Health/Check"), // :path, literal value
    Buffer.from([0x01]), str("localhost"), // :authority
    Buffer.from([0x0f, 0x10]), str("application/grpc"), // content-type (static index 31)
    Buffer.from([0x00]), str("te"), str("trailers"),
  ]);
  const message = Buffer.concat([Buffer.from([0x0a]), str(service)]); // field 1, length-delimited
  const grpcFrame = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), message]);
  grpcFrame.writeUInt32BE(message.length, 1);
  return hex(
    Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      frame(0x4, 0, 0, Buffer.alloc(0)), // SETTINGS
      frame(0x1, 0x4, 1, headers), // HEADERS, END_HEADERS
      frame(0x0, 0x1, 1, grpcFrame), // DATA, END_STREAM
    ]),
  );
}

/** The answer that means SERVING: a gRPC frame holding HealthCheckResponse{status: SERVING (1)}. */
export const SERVING_RESPONSE_HEX = "00000000020801";

export function haproxyConfig(port: number, nodes: string[]): string {
  return [
    "global",
    "  maxconn 1000",
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    // Chat streams live long: the server's heartbeat keeps them from idling, these only bound a dead peer.
    "  timeout client 1h",
    "  timeout server 1h",
    "  retries 3",
    "  option redispatch 1",
    "frontend chat",
    `  bind 127.0.0.1:${port} proto h2`,
    "  default_backend nodes",
    "backend nodes",
    "  balance roundrobin",
    "  option tcp-check",
    "  tcp-check connect",
    `  tcp-check send-binary ${grpcHealthCheckBytes()}`,
    `  tcp-check expect binary ${SERVING_RESPONSE_HEX}`,
    "  default-server proto h2 check inter 500ms fall 2 rise 1",
    ...nodes.map((address, i) => `  server node${i + 1} ${address}`),
    "",
  ].join("\n");
}

export function haproxyInstalled(): boolean {
  return spawnSync("haproxy", ["-v"], { encoding: "utf8" }).status === 0;
}

export async function startHaproxy(nodes: string[]): Promise<HaproxyProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "haproxy-"));
  const config = join(dir, "haproxy.cfg");
  writeFileSync(config, haproxyConfig(port, nodes));
  const check = spawnSync("haproxy", ["-c", "-f", config], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`haproxy refused its configuration: ${check.stdout}${check.stderr}`);
  // -db: stay in the foreground, so the child's pid is haproxy's.
  const child = spawn("haproxy", ["-db", "-f", config], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  await waitUntilAsync(() => canConnect(port), `haproxy on ${port}`, 10_000);
  return {
    address: `127.0.0.1:${port}`,
    child,
    config,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
