/**
 * Summarise a `node --cpu-prof` profile of the server: self time by category
 * (grpc-js, node's http2/stream/net write path, protobuf, hub, store, GC...)
 * and the top functions by self time. A native frame without a script (e.g.
 * `writev`) is charged to the category of its nearest JavaScript caller.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--from-ms A --to-ms B] [--json]
 *
 * --from-ms/--to-ms keep only the samples in that window (ms after the
 * profile started, which is about when the process was spawned); the bench
 * prints the window of every step it ran under --cpu-prof.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const CATEGORIES: [string, (url: string, name: string) => boolean][] = [
  ["GC", (_u, n) => n === "(garbage collector)"],
  ["idle", (_u, n) => n === "(idle)"],
  ["program (native, unattributed)", (_u, n) => n === "(program)"],
  ["hub (src/hub)", (u) => u.includes("/src/hub/")],
  ["server adapter (src/server)", (u) => u.includes("/src/server/")],
  ["history store (src/store, better-sqlite3)", (u) => u.includes("/src/store/") || u.includes("better-sqlite3")],
  ["room log on Redis (src/log/redis)", (u) => u.includes("/src/log/redis/")],
  ["room log (src/log, embedded)", (u) => u.includes("/src/log/")],
  ["ioredis (+ redis-parser)", (u) => u.includes("/ioredis/") || u.includes("redis-parser") || u.includes("/denque/") || u.includes("cluster-key-slot")],
  ["protobuf-es", (u) => u.includes("@bufbuild/protobuf")],
  ["grpc-js", (u) => u.includes("@grpc/grpc-js")],
  ["node http2", (u) => u.startsWith("node:internal/http2") || u === "node:http2"],
  ["node streams/net/buffer (write path)", (u) => /^node:(internal\/)?(streams?|net|stream_base_commons|buffer|internal\/buffer)/.test(u)],
  ["node timers/event loop", (u) => /^node:internal\/(timers|process\/task_queues)/.test(u)],
  ["logging (pino)", (u) => u.includes("/pino") || u.includes("sonic-boom")],
  ["metrics (prom-client)", (u) => u.includes("prom-client")],
  ["other node internals", (u) => u.startsWith("node:")],
  ["other", () => true],
];

function categoryOf(url: string, name: string): string {
  return CATEGORIES.find(([, test]) => test(url, name))![0];
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  categories: { category: string; ms: number; pctOfBusy: number }[];
  functions: { name: string; where: string; category: string; ms: number; pctOfBusy: number }[];
}

/** Summarise the samples taken between `fromMs` and `toMs` after the profile started (default: all). */
export function summarise(profile: Profile, top = 30, fromMs = 0, toMs = Infinity): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryCache = new Map<number, string>();
  const category = (id: number): string => {
    const cached = categoryCache.get(id);
    if (cached) return cached;
    const n = byId.get(id)!;
    const { url, functionName } = n.callFrame;
    let c: string;
    if (url || functionName.startsWith("(")) c = categoryOf(url, functionName);
    else c = parent.has(id) ? category(parent.get(id)!) : "other";
    categoryCache.set(id, c);
    return c;
  };
  const selfUs = new Map<number, number>();
  let at = 0; // µs since the profile started
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (at < fromMs * 1000 || at > toMs * 1000) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next one
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  const cats = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; category: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const c = category(id);
    total += us;
    if (c === "idle") idle += us;
    cats.set(c, (cats.get(c) ?? 0) + us);
    const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*?\/(src|bench)\//, "$1/")}:${n.callFrame.lineNumber + 1}` : "(native)";
    const key = `${n.callFrame.functionName}@${where}@${c}`;
    const f = fns.get(key) ?? { name: n.callFrame.functionName || "(anonymous)", where, category: c, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  const busy = total - idle;
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    categories: [...cats]
      .filter(([c]) => c !== "idle")
      .map(([category, us]) => ({ category, ms: us / 1000, pctOfBusy: (us / busy) * 100 }))
      .sort((a, b) => b.ms - a.ms),
    functions: [...fns.values()]
      .filter((f) => f.category !== "idle")
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, category: f.category, ms: f.us / 1000, pctOfBusy: (f.us / busy) * 100 })),
  };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string" }, json: { type: "boolean" }, "from-ms": { type: "string" }, "to-ms": { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error("usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--from-ms A --to-ms B] [--json]");
    process.exit(2);
  }
  const s = summarise(
    JSON.parse(readFileSync(positionals[0], "utf8")) as Profile,
    Number(values.top ?? 30),
    Number(values["from-ms"] ?? 0),
    Number(values["to-ms"] ?? Infinity),
  );
  if (values.json) {
    console.log(JSON.stringify(s, null, 2));
    return;
  }
  console.log(`profile: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms not idle\n`);
  console.log("| category | self ms | % of busy |\n|---|---:|---:|");
  for (const c of s.categories) console.log(`| ${c.category} | ${c.ms.toFixed(0)} | ${c.pctOfBusy.toFixed(1)} |`);
  console.log("\n| function | where | category | self ms | % of busy |\n|---|---|---|---:|---:|");
  for (const f of s.functions) {
    console.log(`| ${f.name} | ${f.where} | ${f.category} | ${f.ms.toFixed(0)} | ${f.pctOfBusy.toFixed(1)} |`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) main();
