/**
 * `npm run bench -- --generator-cpu-prof DIR` (issue 20): the load generator
 * runs under node --cpu-prof and is given the time to write its profile
 * before the bench kills it, so a run leaves a profile of the generator's own
 * code (what a target's frames cost the clients) beside the server's.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { runScript } from "./support/run-script.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it("writes a CPU profile of the load generator's own code", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gen-prof-"));
  dirs.push(dir);
  const { code, stdout, stderr } = await runScript("bench/main.ts", [
    "--scenario", "fanout", "--target", "ours", "--clients", "4", "--senders", "2",
    "--rates", "100", "--step-seconds", "1", "--retries", "0", "--drain-ms", "500",
    "--generator-cpu-prof", dir,
  ], { killAfterMs: 90_000 });
  expect(code, stdout + stderr).toBe(0);
  const profiles = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  expect(profiles.length).toBeGreaterThan(0);
  const urls = profiles.flatMap((f) =>
    (JSON.parse(readFileSync(join(dir, f), "utf8")) as { nodes: { callFrame: { url: string } }[] }).nodes.map((n) => n.callFrame.url),
  );
  // The generator's fleet (not only Node's start-up) ran while it was profiled.
  expect(urls.some((u) => u.endsWith("bench/fleet.ts"))).toBe(true);
}, 120_000);
