/**
 * Compare several `npm run bench -- --json` outputs: the headline figures and
 * every target verdict of each run side by side, to show run-to-run variance.
 *
 *   npx tsx bench/runs-summary.ts run1.json run2.json run3.json
 */
import { readFileSync } from "node:fs";
import type { StepResult } from "./fleet.js";
import type { Reports, TargetVerdict } from "./targets.js";
import type { RoomsReport } from "./scenarios/rooms.js";
import { finalAttempts } from "./step-up.js";
import { fixed, table, type Cell } from "./table.js";

interface RunFile {
  reports: Reports & { rooms?: RoomsReport };
  targets: TargetVerdict[];
  seconds: number;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: tsx bench/runs-summary.ts <run.json>...");
  process.exit(2);
}
// Tolerate npm's banner ("> grpc-chat@... bench") before the JSON when run without -s.
const runs = files.map((f) => {
  const text = readFileSync(f, "utf8");
  return JSON.parse(text.slice(text.indexOf("\n{") + 1)) as RunFile;
});
const names = files.map((f) => f.replace(/^.*\//, "").replace(/\.json$/, ""));

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
const at = (steps: StepResult[] | undefined, rate: number | undefined) =>
  rate === undefined ? undefined : finalAttempts(steps ?? []).find((s) => s.offeredRate === rate);

const rows: [string, (r: RunFile) => Cell][] = [
  ["ours sustainable msg/s", (r) => r.reports.fanout?.sustainable.ours?.rate],
  ["ws sustainable msg/s", (r) => r.reports.fanout?.sustainable.ws?.rate],
  ["ours µs/delivery at 200 msg/s", (r) => fixed(at(r.reports.fanout?.runs.ours?.steps, 200)?.cpuPerDeliveryUs, 2)],
  ["ws µs/delivery at 200 msg/s", (r) => fixed(at(r.reports.fanout?.runs.ws?.steps, 200)?.cpuPerDeliveryUs, 2)],
  ["ours µs/delivery at its top step", (r) => fixed(r.reports.fanout?.sustainable.ours?.step?.cpuPerDeliveryUs, 2)],
  ["ws µs/delivery at its top step", (r) => fixed(r.reports.fanout?.sustainable.ws?.step?.cpuPerDeliveryUs, 2)],
  ["ours p99 ms at half sustainable", (r) => fixed(r.reports.fanout?.half.ours?.latency.p99Ms, 1)],
  ["ours KiB per idle stream", (r) => fixed((r.reports.idle?.runs.ours?.rssPerStreamBytes ?? NaN) / 1024, 1)],
  ["ws KiB per idle stream", (r) => fixed((r.reports.idle?.runs.ws?.rssPerStreamBytes ?? NaN) / 1024, 1)],
  ["ours stalled dropped after s", (r) => fixed(r.reports.stalled?.runs.ours?.droppedAfterSeconds, 2)],
  ["ours RSS growth MiB while stalled", (r) => fixed((r.reports.stalled?.runs.ours?.rssGrowthBytes ?? NaN) / 1048576, 2)],
  [
    "ours others' p99 ms: reading / stalled",
    (r) => {
      const s = r.reports.stalled?.runs.ours;
      return s ? `${fixed(s.reference.latency.p99Ms, 1)} / ${fixed(s.stalled.latency.p99Ms, 1)}` : undefined;
    },
  ],
  ["ours KiB per room of 5", (r) => fixed((r.reports.rooms?.runs.ours?.rssPerRoomBytes ?? NaN) / 1024, 1)],
  ["ws KiB per room of 5", (r) => fixed((r.reports.rooms?.runs.ws?.rssPerRoomBytes ?? NaN) / 1024, 1)],
  ["ours KiB per idle stream, a room each", (r) => fixed((r.reports.idle?.oursRoomEach?.rssPerStreamBytes ?? NaN) / 1024, 1)],
  [
    "ours in one room: clients: KiB per client, joins s",
    (r) =>
      r.reports.idleShared?.sizes
        .map((s) => `${s.clients}: ${fixed((s.runs.ours?.rssPerStreamBytes ?? NaN) / 1024, 1)}, ${fixed(s.runs.ours?.joinSeconds, 1)}`)
        .join("; "),
  ],
  ["storm: all joined after s", (r) => (r.reports.storm ? (fixed(r.reports.storm.joinSeconds, 2) ?? `> ${r.reports.storm.joinTimeoutSeconds}`) : undefined)],
  [
    "storm: all recovered after s (lost/dup)",
    (r) => {
      const st = r.reports.storm;
      if (!st) return undefined;
      const t = st.restarted ? (fixed(st.recoverSeconds, 2) ?? `> ${st.recoverTimeoutSeconds}`) : "not reached";
      return `${t} (${st.gaps}/${st.duplicates})`;
    },
  ],
  [
    "mean steal % over fan-out steps",
    (r) =>
      fixed(
        mean([...(r.reports.fanout?.runs.ours?.steps ?? []), ...(r.reports.fanout?.runs.ws?.steps ?? [])].map((s) => s.stealPct)),
        0,
      ),
  ],
  [
    "mean other-process CPU % over fan-out steps",
    (r) =>
      fixed(
        mean([...(r.reports.fanout?.runs.ours?.steps ?? []), ...(r.reports.fanout?.runs.ws?.steps ?? [])].map((s) => s.otherCpuPct)),
        0,
      ),
  ],
];

console.log(table("Headline figures per run", ["figure", ...names], rows.map(([label, get]) => [label, ...runs.map(get)])));
const targetNames = [...new Set(runs.flatMap((r) => r.targets.map((t) => t.target)))];
console.log(
  table(
    "Targets per run",
    ["target", ...names],
    targetNames.map((t) => [
      t,
      ...runs.map((r) => {
        const v = r.targets.find((x) => x.target === t);
        return v ? `${v.met === undefined ? "n/a" : v.met ? "met" : "MISSED"}: ${v.measured}` : undefined;
      }),
    ]),
  ),
);
