/**
 * The floor under a reconnect storm: what Node's own HTTP/2 costs the server
 * per connection, before grpc-js or the chat server do anything. A bare
 * `http2.createServer` (in this process) accepts `n` connections from a client
 * process that opens them in batches of 200 and sends nothing; printed: the
 * server's CPU (user + system) per connection, from its first session to its
 * n-th. Run with Node's defaults and with the options grpc-js sets
 * (maxSessionMemory, maxSendHeaderBlockLength, maxConcurrentStreams), to see
 * whether those matter.
 *
 *   npx tsx bench/h2-connection-micro.ts [--connections 3000] [--rounds 2]
 */
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

const CLIENT = `
const http2 = require("node:http2");
const [port, n] = process.argv.slice(1).map(Number);
const keep = [];
(async () => {
  for (let i = 0; i < n; i++) {
    keep.push(http2.connect("http://127.0.0.1:" + port).on("error", () => {}));
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
  }
})();
process.on("disconnect", () => process.exit(0));
setTimeout(() => process.exit(0), 60000);
`;

const GRPC_JS_OPTIONS: http2.ServerOptions = {
  maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  maxSessionMemory: Number.MAX_SAFE_INTEGER,
  settings: { maxConcurrentStreams: 100 },
};

async function measure(options: http2.ServerOptions, n: number): Promise<{ cpuUsPerConnection: number; wallMs: number }> {
  const server = http2.createServer(options);
  const sessions: http2.ServerHttp2Session[] = [];
  let startCpu: NodeJS.CpuUsage | undefined;
  let startWall = 0;
  const done = new Promise<{ cpuUsPerConnection: number; wallMs: number }>((resolve) =>
    server.on("session", (session) => {
      sessions.push(session);
      if (!startCpu) {
        startCpu = process.cpuUsage();
        startWall = performance.now();
      }
      if (sessions.length === n) {
        const used = process.cpuUsage(startCpu);
        resolve({ cpuUsPerConnection: (used.user + used.system) / (n - 1), wallMs: performance.now() - startWall });
      }
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const client = spawn(process.execPath, ["-e", CLIENT, String(port), String(n)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const result = await done;
  client.kill();
  for (const s of sessions) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  return result;
}

const { values } = parseArgs({ options: { connections: { type: "string" }, rounds: { type: "string" } } });
const n = Number(values.connections ?? 3000);
const rounds = Number(values.rounds ?? 2);
for (let r = 0; r < rounds; r++) {
  for (const [name, options] of [["node defaults", {}], ["grpc-js options", GRPC_JS_OPTIONS]] as const) {
    const { cpuUsPerConnection, wallMs } = await measure(options, n);
    console.log(`${name.padEnd(16)} ${n} connections: ${cpuUsPerConnection.toFixed(0)} µs of server CPU each (${wallMs.toFixed(0)} ms)`);
  }
}
