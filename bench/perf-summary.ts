/**
 * Summarise a `perf record` of our servers (started with
 * `--server-node-flag=--perf-basic-prof`, so JavaScript frames have names) and
 * of redis-server: CPU samples per process, split by category (kernel, GC, V8,
 * malloc, nghttp2 and node's C++, SQLite, and JavaScript by where it comes
 * from: hub, room log, ioredis, grpc-js, node's streams...). Unlike a
 * `--cpu-prof` profile, whose samples are wall-clock intervals (on a busy
 * machine a descheduled process keeps "spending" time), perf counts CPU
 * samples, so the shares are shares of CPU actually used.
 *
 *   perf record -F 499 -p <pid>[,<pid>...] -o perf.data -- sleep 12
 *   npx tsx bench/perf-summary.ts perf.data [--top 15]
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";

const CATEGORIES: [string, (sym: string, dso: string) => boolean][] = [
  ["kernel (syscalls, TCP loopback, scheduling)", (_s, d) => d.includes("kernel")],
  ["V8 GC", (s) => /^v8::internal::.*(Mark|Sweep|Scaveng|Heap|Evacuat|Compact|GC|Remembered|Slot)/.test(s)],
  ["malloc/free (libc, jemalloc)", (s, d) => d.includes("jemalloc") || /^(malloc|_int_malloc|_int_free|cfree|free|malloc_consolidate|realloc|calloc|tcache|unlink_chunk)/.test(s)],
  ["SQLite (better-sqlite3)", (_s, d) => d.includes("better_sqlite3")],
  ["nghttp2 + node http2 C++", (s) => /^nghttp2_|^node::http2::/.test(s)],
  ["JS: hub (src/hub)", (s) => s.startsWith("JS:") && s.includes("/src/hub/")],
  ["JS: room log on Redis (src/log/redis)", (s) => s.startsWith("JS:") && s.includes("/src/log/redis/")],
  ["JS: embedded room log + store (src/log, src/store)", (s) => s.startsWith("JS:") && /\/src\/(log|store)\//.test(s)],
  ["JS: wire + server adapter (src/wire, src/server)", (s) => s.startsWith("JS:") && /\/src\/(wire|server)\//.test(s)],
  ["JS: ioredis", (s) => s.startsWith("JS:") && /ioredis|redis-parser|denque|cluster-key-slot/.test(s)],
  ["JS: grpc-js", (s) => s.startsWith("JS:") && s.includes("@grpc/grpc-js")],
  ["JS: protobuf-es", (s) => s.startsWith("JS:") && s.includes("@bufbuild")],
  ["JS: node streams/net/buffer", (s) => s.startsWith("JS:") && /node:(internal\/)?(streams?|net|stream_base_commons|buffer|internal\/buffer)/.test(s)],
  ["JS: node http2", (s) => s.startsWith("JS:") && /node:internal\/http2|node:http2/.test(s)],
  ["JS: other", (s) => s.startsWith("JS:")],
  ["V8 builtins, runtime, JIT", (s, d) => s.startsWith("Builtins_") || s.startsWith("v8::") || s.startsWith("Stub:") || d.includes("perf-") || d.includes("[JIT]")],
  ["node + libuv C++ (streams, buffers)", (s, d) => d.endsWith("/node") || d === "node" || s.startsWith("node::") || s.startsWith("uv_")],
  ["redis-server", (_s, d) => d.includes("redis")],
  ["other native (libc, libstdc++...)", () => true],
];

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string" } } });
const file = positionals[0] ?? "perf.data";
const top = Number(values.top ?? 15);
const text = execFileSync("perf", ["script", "-i", file, "-F", "pid,comm,ip,sym,dso"], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] });

interface Proc {
  comm: string;
  samples: number;
  byCategory: Map<string, number>;
  bySymbol: Map<string, number>;
}
const procs = new Map<number, Proc>();
let total = 0;
for (const line of text.split("\n")) {
  // "  comm pid  ip sym (dso)"; sym may be empty or hold spaces.
  const m = /^\s*(\S+)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s*\(([^()]*)\)\s*$/.exec(line);
  if (!m) continue;
  const pid = Number(m[2]);
  const sym = m[3].replace(/\+0x[0-9a-f]+$/, "") || "[unknown]";
  const dso = m[4];
  const p = procs.get(pid) ?? { comm: m[1], samples: 0, byCategory: new Map(), bySymbol: new Map() };
  procs.set(pid, p);
  const category = CATEGORIES.find(([, test]) => test(sym, dso))![0];
  p.samples++;
  total++;
  p.byCategory.set(category, (p.byCategory.get(category) ?? 0) + 1);
  p.bySymbol.set(sym, (p.bySymbol.get(sym) ?? 0) + 1);
}
const pct = (n: number, of: number) => ((n / of) * 100).toFixed(1);
console.log(`${file}: ${total} samples`);
for (const [pid, p] of [...procs].sort((a, b) => b[1].samples - a[1].samples)) {
  console.log(`\n### pid ${pid} (${p.comm}, all threads): ${p.samples} samples, ${pct(p.samples, total)}% of the recording\n`);
  console.log("| category | % of this process |\n|---|---:|");
  for (const [c, n] of [...p.byCategory].sort((a, b) => b[1] - a[1])) console.log(`| ${c} | ${pct(n, p.samples)} |`);
  console.log("\n| symbol | % of this process |\n|---|---:|");
  for (const [s, n] of [...p.bySymbol].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${s.replace(/\|/g, "\\|").slice(0, 110)} | ${pct(n, p.samples)} |`);
}
