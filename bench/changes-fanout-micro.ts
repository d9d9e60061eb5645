/**
 * What an edit, a delete or a reaction costs the fan-out, next to a plain
 * message (issue 19 item 9). Our real server (dist/, SQLite history in a temp
 * file, no rate limit, no auth: a user id is the nickname, so a sender may
 * edit its own messages) runs as a child process; 100 clients join one room
 * (one grpc-js connection each, frames walked by bench/wire.ts, not decoded);
 * 10 of them send. Each round runs five phases, one kind of entry each, at a
 * fixed paced rate shared round-robin by the senders:
 *
 *   message      N messages per sender (their seqs, from the echoes, are the targets below)
 *   edit         one edit of each of those messages
 *   react add    a 👍 on each
 *   react remove the 👍 taken off again
 *   delete       each message deleted
 *
 * A phase ends when every client has received every entry of it (checked
 * per client; an error event or a dropped client stops that rate, and its
 * table says where). Its server CPU is the utime+stime delta
 * of the server pid (/proc) from the first command to then (+250 ms for
 * trailing work), per delivery = entries x clients. Round 1 only warms the
 * JIT; later rounds are summed per kind. A fresh server per rate.
 *
 *   npx tsx bench/changes-fanout-micro.ts [--rates 200,1000] [--seconds 3] [--rounds 3]
 *     [--clients 100] [--senders 10] [--cpu-prof DIR]
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatResponseSchema } from "../gen/chat/v1/chat_pb.js";
import { ensureBuilt, logTail, startServer } from "./children.js";
import { grpcConnector } from "./grpc-load.js";
import type { LoadClient } from "./load-client.js";
import { clockTicks, processCpuUs, sleep } from "./proc.js";
import { table, fixed, int, times } from "./table.js";
import { checkWire, encodeJoin, loadMessageId, walkFrame, type FrameVisitor } from "./wire.js";

const { values } = parseArgs({
  options: {
    rates: { type: "string", default: "200,1000" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    clients: { type: "string", default: "100" },
    senders: { type: "string", default: "10" },
    "cpu-prof": { type: "string" },
  },
});
const RATES = values.rates!.split(",").map(Number);
const SECONDS = Number(values.seconds);
const ROUNDS = Math.max(2, Number(values.rounds));
const CLIENTS = Number(values.clients);
const SENDERS = Number(values.senders);
const ROOM = "bench-changes";
const TEXT = "x".repeat(100);
const EMOJI = "👍";

const KINDS = ["message", "edit", "react add", "react remove", "delete"] as const;
type Kind = (typeof KINDS)[number];

/** The command of entry `i` of a sender in a phase; `target` is the room seq of that sender's i-th message. */
function command(kind: Kind, target: bigint, clientMsgId: string): MessageInitShape<typeof ChatRequestSchema>["command"] {
  const room = ROOM;
  switch (kind) {
    case "message": return { case: "send", value: { room, text: TEXT, clientMsgId } };
    case "edit": return { case: "editMessage", value: { room, seq: target, text: TEXT.replace("x", "y"), clientMsgId } };
    case "react add": return { case: "react", value: { room, seq: target, emoji: EMOJI, remove: false, clientMsgId } };
    case "react remove": return { case: "react", value: { room, seq: target, emoji: EMOJI, remove: true, clientMsgId } };
    case "delete": return { case: "deleteMessage", value: { room, seq: target, clientMsgId } };
  }
}

/** What the clients received in the current phase. The phase number is the `step` of every client_msg_id. */
let phase = 0;
let phaseKind: Kind = "message";
let received = new Int32Array(CLIENTS);
let eventBytes = 0;
let firstError: string | undefined;
/** Room seqs of each sender's messages of the current round, in order (from its own echoes). */
let targets: bigint[][] = [];

const visitor: FrameVisitor = {
  joined: () => joinedCount++,
  message(client, step, sender, seq, _sentUs, _nowUs, roomSeq) {
    if (step !== phase) return; // an entry of another phase: not counted (each phase waits for all of its own)
    received[client]++;
    if (client === 0) eventBytes += lastEventBytes;
    if (phaseKind === "message" && client === sender) targets[sender][seq] = BigInt(roomSeq);
  },
  memberLeft: () => {},
  error: () => (errorSeen = true),
  event: (_client, _field, bytes) => (lastEventBytes = bytes),
};
let joinedCount = 0;
let errorSeen = false;
let lastEventBytes = 0;

function onFrame(index: number, frame: Uint8Array): void {
  walkFrame(frame, index, 0, visitor);
  if (errorSeen && !firstError) {
    // Rare: decode the frame properly to say what was refused.
    const e = fromBinary(ChatResponseSchema, frame).events.find((ev) => ev.event.case === "error");
    firstError = e?.event.case === "error" ? `${e.event.value.message} (client ${index})` : "an error event";
  }
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (firstError) throw new Error(`server refused a command: ${firstError}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Sum { entries: number; deliveries: number; cpuUs: number; wallMs: number; bytes: number }

/** One phase: `perSender` commands of `kind` from each sender, paced at `rate`/s in all; returns its measures. */
async function runPhase(clients: LoadClient[], pid: number, ticks: number, kind: Kind, rate: number, perSender: number): Promise<Sum & { startMs: number }> {
  phase++;
  phaseKind = kind;
  received = new Int32Array(CLIENTS);
  eventBytes = 0;
  const total = perSender * SENDERS;
  const cpu0 = processCpuUs(pid, ticks);
  const startMs = Date.now();
  const t0 = performance.now();
  let sent = 0;
  // Paced by the clock, not by timers firing on time: each tick sends what is due by now, round-robin over the senders.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const sender = sent % SENDERS;
      const i = Math.floor(sent / SENDERS);
      const id = loadMessageId(phase, sender, i, 0);
      clients[sender].send(Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, { command: command(kind, targets[sender][i] ?? 0n, id) }))));
    }
    await sleep(2);
  }
  await waitFor(`every ${kind} at every client`, () => received.every((n) => n >= total), 60_000);
  const wallMs = performance.now() - t0;
  if (received.some((n) => n !== total)) throw new Error(`${kind}: a client received more entries than were sent`);
  await sleep(250); // trailing work of the last entries (flushes, writes) is the phase's
  return { entries: total, deliveries: total * CLIENTS, cpuUs: processCpuUs(pid, ticks) - cpu0, wallMs, bytes: eventBytes / total, startMs };
}

/** One rate on a fresh server: the sums of rounds 2 on, and why it stopped early if it did (e.g. clients dropped: the server fell behind). */
async function runRate(root: string, ticks: number, rate: number): Promise<{ sums: Map<Kind, Sum>; stopped?: string }> {
  const profDir = values["cpu-prof"] ? resolve(values["cpu-prof"]) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const server = await startServer({
    target: "ours",
    root,
    nodeFlags: profDir ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [],
    // Every round's targets must still be kept when the delete phase reaches them (default: the last 10,000 entries).
    serverArgs: ["--history-limit", "1000000"],
  });
  const connector = grpcConnector(server.address, {
    frame: onFrame,
    ended: (i, how) => (firstError ??= `client ${i} ended: ${how}`),
  });
  const sums = new Map<Kind, Sum>(KINDS.map((k) => [k, { entries: 0, deliveries: 0, cpuUs: 0, wallMs: 0, bytes: 0 }]));
  let at = "joining";
  try {
    joinedCount = 0;
    firstError = undefined;
    errorSeen = false;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connector.open(i)));
    clients.forEach((c, i) => c.send(encodeJoin(ROOM, `c${i}`)));
    await waitFor("every client to join", () => joinedCount >= CLIENTS, 30_000);
    await sleep(1000); // let the joins' member events drain before anything is measured
    const idle0 = processCpuUs(server.pid, ticks);
    await sleep(1000);
    console.error(`rate ${rate}/s: server pid ${server.pid}, idle CPU ${((processCpuUs(server.pid, ticks) - idle0) / 1000).toFixed(0)} ms/s`);

    const perSender = Math.max(1, Math.round((rate * SECONDS) / SENDERS));
    for (let round = 1; round <= ROUNDS; round++) {
      targets = Array.from({ length: SENDERS }, () => []);
      for (const kind of KINDS) {
        at = `${kind}, round ${round}`;
        const r = await runPhase(clients, server.pid, ticks, kind, rate, perSender);
        // The window in ms after the server's spawn, for bench/profile-summary.ts --from-ms/--to-ms on a --cpu-prof profile.
        const from = r.startMs - server.spawnedAtMs;
        const window = `${from}-${Math.round(from + r.wallMs)} ms`;
        console.error(`  round ${round}${round === 1 ? " (warm-up)" : ""} ${kind.padEnd(12)} ${(r.cpuUs / r.deliveries).toFixed(2)} µs/delivery, ${r.wallMs.toFixed(0)} ms (${window})`);
        if (round === 1) continue;
        const s = sums.get(kind)!;
        s.entries += r.entries;
        s.deliveries += r.deliveries;
        s.cpuUs += r.cpuUs;
        s.wallMs += r.wallMs;
        s.bytes = r.bytes;
      }
    }
    return { sums };
  } catch (err) {
    console.error(logTail(server.logFile, 3));
    return { sums, stopped: `${at}: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    connector.closeAll();
    await server.stop(); // SIGTERM: a --cpu-prof profile is written on a clean exit
  }
}

checkWire();
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
ensureBuilt(root, (m) => console.error(m));
const ticks = clockTicks();
const out: string[] = [];
for (const rate of RATES) {
  const { sums, stopped } = await runRate(root, ticks, rate);
  const base = sums.get("message")!;
  const perDelivery = (s: Sum) => s.cpuUs / s.deliveries;
  const rows = KINDS.map((k) => {
    const s = sums.get(k)!;
    return [k, int((s.entries / s.wallMs) * 1000), int(s.deliveries), int(s.bytes), fixed(s.cpuUs / 1000, 0), fixed(perDelivery(s), 2), times(perDelivery(s) / perDelivery(base))];
  });
  out.push(
    table(
      `${rate} entries/s offered: ${CLIENTS} clients in one room, ${SENDERS} senders, ${SECONDS} s phases, rounds 2-${ROUNDS} summed (node ${process.version})`,
      ["entry", "entries/s", "deliveries", "event bytes", "server CPU ms", "µs/delivery", "x message"],
      rows,
    ) + (stopped ? `\nStopped at ${stopped}\n` : ""),
  );
}
console.log(out.join("\n"));
