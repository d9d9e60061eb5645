/**
 * The load generator process. The orchestrator forks it with an IPC channel
 * and sends one LoadPlan; it runs that scenario's load against the server,
 * sends back {type: "result"} (or {type: "error"}) and exits. Its CPU is its
 * own, so a saturated generator shows in the results rather than hiding in
 * the orchestrator's.
 */
import type { Connector } from "./load-client.js";
import { Inbox, loadContext, type LoadFn, type LoadPlan } from "./load-context.js";
import { loadFanout } from "./scenarios/fanout-load.js";
import { loadIdle } from "./scenarios/idle-load.js";
import { loadRooms } from "./scenarios/rooms-load.js";
import { loadStalled } from "./scenarios/stalled-load.js";
import { loadStorm } from "./scenarios/storm-load.js";
import { checkWire } from "./wire.js";

const LOADS: Record<string, LoadFn> = {
  fanout: loadFanout,
  idle: loadIdle,
  stalled: loadStalled,
  rooms: loadRooms,
  storm: loadStorm,
};

/** No run is allowed to take longer than this (unless its plan says otherwise), whatever happens. */
const WATCHDOG_MS = 15 * 60 * 1000;

function reply(message: unknown): Promise<void> {
  return new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
}

process.on("disconnect", () => process.exit(1)); // the orchestrator is gone
// The first message is the plan; phased loads (storm) get more, through the inbox.
const inbox = new Inbox();
let planned = false;
process.on("message", (m: Record<string, unknown>) => {
  if (planned) inbox.deliver(m);
  else {
    planned = true;
    void run(m as unknown as LoadPlan);
  }
});

async function run(plan: LoadPlan): Promise<void> {
  const watchdogMs = plan.watchdogMs ?? WATCHDOG_MS;
  const watchdog = setTimeout(async () => {
    await reply({ type: "error", message: `generator watchdog: ${plan.load} ran over ${watchdogMs / 1000} s` });
    process.exit(3);
  }, watchdogMs);
  const connectors: Connector[] = [];
  let code = 0;
  try {
    checkWire();
    const load = LOADS[plan.load];
    if (!load) throw new Error(`unknown load "${plan.load}"`);
    const ctx = loadContext(
      plan,
      (msg) => void reply({ type: "progress", message: msg }),
      connectors,
      inbox,
      (message) => void reply({ ...message, type: "phase" }),
    );
    const result = await load(ctx, plan.options);
    await reply({ type: "result", result });
  } catch (err) {
    code = 1;
    await reply({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    clearTimeout(watchdog);
    for (const c of connectors) c.closeAll();
    process.exit(code);
  }
}
