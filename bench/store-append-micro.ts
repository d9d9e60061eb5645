/**
 * What one message costs the SQLite store when each is its own transaction
 * (a message per event-loop turn, as at low rates): CPU per append (user,
 * system) and the distribution of append times, whose tail is SQLite's
 * automatic WAL checkpoint (it copies the WAL into the database and fsyncs
 * both, on the calling thread).
 *
 *   npx tsx bench/store-append-micro.ts [--appends 6000] [--rate 1000] [--pragma wal_autocheckpoint=100]
 *
 * Without --rate the appends run back to back (far more commits a second than
 * the server makes); --rate N spaces them N a second, as a hub's turns would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SqliteHistoryStore } from "../src/store/sqlite-store.js";
import { clockTicks, threadCpuUs } from "./proc.js";

const { values } = parseArgs({ options: { appends: { type: "string", default: "6000" }, rate: { type: "string" }, pragma: { type: "string" } } });
const n = Number(values.appends);
const dir = mkdtempSync(join(tmpdir(), "store-append-"));
const store = new SqliteHistoryStore(join(dir, "h.db"));
// For experiments only: the store does not offer its connection.
if (values.pragma) (store as unknown as { db: { pragma(p: string): unknown } }).db.pragma(values.pragma);
let seq = 0;
const append = () => {
  seq++;
  const id = `id-${seq}`;
  store.findSent("r", "c1", id);
  store.append([{ message: { room: "r", seq, sender: "c1", text: "x".repeat(100), sentAtMs: Date.now(), clientMsgId: id }, epoch: "e", textHash: "h" }]);
};
for (let i = 0; i < 500; i++) append(); // warm up
// The main thread alone, beside the whole process: the store's checkpoints run in a worker.
const ticks = clockTicks();
const mainThreadCpuUs = () => threadCpuUs(process.pid, process.pid, ticks);
const times: number[] = [];
const mainCpu0 = mainThreadCpuUs();
const cpu0 = process.cpuUsage();
const rate = values.rate ? Number(values.rate) : 0;
const start = performance.now();
for (let i = 0; i < n; i++) {
  if (rate > 0) {
    const due = start + (i * 1000) / rate;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
  }
  const t = performance.now();
  append();
  times.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
const mainCpu = mainThreadCpuUs() - mainCpu0;
const sorted = [...times].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.floor(p * (sorted.length - 1))].toFixed(2);
console.log(`${n} appends: CPU per append ${((cpu.user + cpu.system) / n).toFixed(1)} µs (user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)}); main thread ${(mainCpu / n).toFixed(1)}`);
console.log(`append ms: p50 ${q(0.5)}, p99 ${q(0.99)}, p99.9 ${q(0.999)}, max ${sorted.at(-1)!.toFixed(2)}; over 3 ms: ${times.filter((t) => t > 3).length}; total ${times.reduce((a, b) => a + b, 0).toFixed(0)} ms`);
store.close();
rmSync(dir, { recursive: true, force: true });
