/**
 * Where a joined client's server memory goes: start our server, open N
 * grpc-js clients (one connection each) into one room, then have the server
 * write a heap snapshot (SIGUSR2) and print the retained size by constructor.
 *
 *   npx tsx bench/heap-probe.ts [--clients 2000] [--out /tmp/heap] [--target grpc] [--idle-cpu-seconds 20]
 *
 * --idle-cpu-seconds N: first print the server's CPU (ms per second) over N
 * seconds with every client joined and nothing said (timers, pings, digests).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { clockTicks, processCpuUs, processRssBytes, sleep } from "./proc.js";
import { encodeJoin } from "./wire.js";

const { values } = parseArgs({ options: { clients: { type: "string", default: "2000" }, out: { type: "string" }, target: { type: "string", default: "ours" }, "idle-cpu-seconds": { type: "string", default: "0" } } });
const n = Number(values.clients);
const out = values.out ?? mkdtempSync(join(tmpdir(), "heap-"));
mkdirSync(out, { recursive: true }); // --out may name a folder not made yet
const db = join(out, "h.db");
const script = values.target === "grpc" ? ["--import", "tsx", "bench/grpc-server.ts"] : ["dist/src/server/main.js", "--port", "0", "--http-port", "0", "--db", db, "--rate-limit", "0", "--max-connections", "20000", "--max-streams", "20000", "--max-members-per-room", "20000", "--log-format", "json"];
const server = spawn(process.execPath, [`--heapsnapshot-signal=SIGUSR2`, `--diagnostic-dir=${out}`, ...script], { stdio: ["ignore", "pipe", "inherit"] });
const address = await new Promise<string>((resolve) => {
  server.stdout!.on("data", (d: Buffer) => {
    const m = /"address":"([^"]+)"|listening[^\n]*?(127\.0\.0\.1:\d+)/.exec(d.toString());
    if (m) resolve(m[1] ?? m[2]);
  });
});
console.log("server", server.pid, address);
let joined = 0;
const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
await new Promise<void>((resolve) => {
  for (let i = 0; i < n; i++) {
    const c = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const call = c.makeBidiStreamRequest("/chat.v1.ChatService/Chat", (b: Buffer) => b, (b: Buffer) => b);
    let first = true;
    call.on("data", () => {
      if (first && ++joined === n) resolve();
      first = false;
    });
    call.on("error", () => {});
    call.write(encodeJoin("heap", `c${i}`));
    calls.push(call);
  }
});
console.log("joined", joined);
const rss = () => processRssBytes(server.pid!) / 1024;
console.log("server RSS KiB", rss());
const idleSeconds = Number(values["idle-cpu-seconds"]);
if (idleSeconds > 0) {
  const ticks = clockTicks();
  await sleep(3000); // let the joins' presence settle
  const before = processCpuUs(server.pid!, ticks);
  await sleep(idleSeconds * 1000);
  console.log("idle server CPU ms per s", ((processCpuUs(server.pid!, ticks) - before) / 1000 / idleSeconds).toFixed(1));
}
server.kill("SIGUSR2");
for (let i = 0; i < 600; i++) {
  await new Promise((r) => setTimeout(r, 500));
  const f = readdirSync(out).find((x) => x.endsWith(".heapsnapshot"));
  if (f) {
    // Written when its size stops changing.
    let size = -1;
    while (size <= 0 || size !== statSync(join(out, f)).size) {
      size = statSync(join(out, f)).size;
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log("snapshot", join(out, f));
    break;
  }
}
server.kill("SIGTERM");
process.exit(0);
