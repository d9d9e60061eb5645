/**
 * Measuring what the process holds: open file descriptors and live heap.
 * The server under test runs in this process, so whatever it leaks shows up
 * here (as do the test's own clients, which the tests close before measuring).
 */
import { readdirSync } from "node:fs";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { waitUntil } from "./wait.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (options?: { type: "major" }) => void;

export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Live heap after full collections (twice: finalizers can free more on the second pass). */
export function settledHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export interface Resources {
  fds: number;
  heap: number;
}

export function measure(): Resources {
  return { fds: openFds(), heap: settledHeap() };
}

export interface Tolerance {
  /** File descriptors allowed above the baseline. */
  fds: number;
  /** Heap bytes allowed above the baseline. */
  heapBytes: number;
  /** How long sockets and heap get to settle. */
  timeoutMs?: number;
}

export interface Settled {
  baseline: Resources;
  after: Resources;
  /** Highest fd count seen while the hostile input ran, when the caller sampled it. */
  peakFds?: number;
}

/**
 * Wait until fds and heap are back within `tolerance` of `baseline` (sockets
 * close asynchronously, and a closed HTTP/2 session is freed a few turns
 * later), then return what was measured. Throws with the numbers if they do
 * not come back.
 */
export async function backToBaseline(baseline: Resources, tolerance: Tolerance): Promise<Resources> {
  const timeoutMs = tolerance.timeoutMs ?? 15_000;
  let last = baseline;
  try {
    await waitUntil(() => openFds() <= baseline.fds + tolerance.fds, "fds back to baseline", timeoutMs);
    // Heap: collecting is slow-ish, so probe it every 50 ms rather than every 5.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      last = measure();
      if (last.heap <= baseline.heap + tolerance.heapBytes) break;
      if (Date.now() > deadline) throw new Error("timed out waiting for the heap to come back");
      await new Promise((r) => setTimeout(r, 50));
    }
    return last;
  } catch (err) {
    const now = measure();
    throw new Error(
      `${(err as Error).message}: baseline ${fmt(baseline)}, now ${fmt(now)} (tolerance +${tolerance.fds} fds, +${mb(tolerance.heapBytes)})`,
    );
  }
}

export function fmt(r: Resources): string {
  return `${r.fds} fds, heap ${mb(r.heap)}`;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

/** Sample the fd count every few ms while `body` runs; returns the highest seen. */
export async function peakFdsDuring<T>(body: () => Promise<T>): Promise<{ result: T; peakFds: number }> {
  let peak = openFds();
  const timer = setInterval(() => (peak = Math.max(peak, openFds())), 5);
  try {
    const result = await body();
    return { result, peakFds: Math.max(peak, openFds()) };
  } finally {
    clearInterval(timer);
  }
}

/** Report line for the test log (numbers the issue asks to see). */
export function report(what: string, s: Settled): void {
  const peak = s.peakFds === undefined ? "" : `, peak ${s.peakFds} fds`;
  console.log(
    `[resources] ${what}: baseline ${fmt(s.baseline)}; after ${fmt(s.after)}${peak}; delta ${s.after.fds - s.baseline.fds} fds, ${mb(s.after.heap - s.baseline.heap)}`,
  );
}

/**
 * Live instances of the named classes, from a heap snapshot taken after a full
 * collection. Finer than heapUsed: a thousand retained closed sockets are only
 * about a megabyte, within the noise of heapUsed, but a thousand more Sockets.
 */
export async function liveInstances(names: readonly string[]): Promise<Record<string, number>> {
  gc();
  gc();
  const chunks: string[] = [];
  for await (const chunk of v8.getHeapSnapshot()) chunks.push(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
  const snapshot = JSON.parse(chunks.join("")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const objectType = snapshot.snapshot.meta.node_types[0].indexOf("object");
  const wanted = new Set(names);
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += stride) {
    if (nodes[i + typeAt] !== objectType) continue;
    const name = strings[nodes[i + nameAt]];
    if (wanted.has(name)) counts[name]++;
  }
  return counts;
}
