/**
 * The reconnect storm, generator side (one of `--storm-generators` processes,
 * each with its share of the clients). Clients behave as real ones do: one
 * HTTP/2 connection each; when the stream ends for any reason they reconnect
 * after a jittered backoff (uniform in [0, ceiling): the ceiling starts at
 * --storm-jitter-ms and doubles per failed attempt up to
 * --storm-backoff-max-ms; by default both are 1 s, so every attempt waits
 * 0-1 s), with a fresh connection, and rejoin resuming from the last sequence number they saw
 * (after_seq + epoch from their joined event). Senders keep an outbox: a
 * message stays in it until its broadcast copy (the acknowledgement) arrives,
 * and everything in it is sent again with the same client_msg_id once the
 * client has rejoined and caught up on the replay.
 *
 * Phases, each started by the orchestrator (bench/scenarios/storm.ts):
 *   go       every client connects and joins the one room at once; stop at the deadline
 *   chat     the senders send --storm-messages each; every client must see every seq
 *   restart  the server is being restarted: senders make --storm-outage-messages each
 *            (0, 250, 500 ms ... after the SIGTERM), everybody reconnects and resumes; done when
 *            every client has rejoined and holds every seq, contiguous, exactly once
 * Every seq each client saw is recorded, so loss (a hole), duplicates (a seq twice,
 * except the acknowledgement of a resend of an already stored message) and a message
 * stored twice (one client_msg_id under two seqs) are counted, not guessed.
 */
import * as grpc from "@grpc/grpc-js";
import { nowUs, ReceiveCounters, type ReceivedSummary } from "../fleet.js";
import { payloadText, type LoadContext } from "../load-context.js";
import type { BenchOptions } from "../options.js";
import { sleep } from "../proc.js";
import { encodeJoin, loadMessageId, SendEncoder, walkFrame, type FrameVisitor, type JoinedInfo } from "../wire.js";
import type { LeaveReason } from "../../gen/chat/v1/chat_pb.js";

const CHAT = "/chat.v1.ChatService/Chat";
const ROOM = "storm";
const passBytes = (b: Buffer): Buffer => b;
/** Message ids: the step part says when the message was made. */
const STEP_BEFORE = 1;
const STEP_OUTAGE = 2;

/** Percentiles of a list of seconds (small lists: sorted copy). */
export interface Spread {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] : NaN);
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: s.length ? s[s.length - 1] : NaN };
}

export interface StormShardResult {
  shard: number;
  from: number;
  to: number;
  // --- the initial joins
  allJoined: boolean;
  joined: number;
  /** Epoch µs of the last client's first joined event (0 if none). */
  lastJoinedUs: number;
  /** Seconds from go to each client's first joined event. */
  joinSpread: Spread;
  /** Streams that ended before the restart (each client reconnects and resumes), and how they ended. */
  joinReconnects: number;
  joinEnds: Record<string, number>;
  joinReceived: ReceivedSummary;
  // --- the messages before the restart
  chatted: boolean;
  chatSeconds: number;
  // --- the restart
  restarted: boolean;
  rejoined: number;
  recovered: number;
  /** Epoch µs when the last client had rejoined and held every message (0 unless all did). */
  lastRecoveredUs: number;
  /** Seconds from the restart to each client's rejoin, and to its having every message. */
  rejoinSpread: Spread;
  recoverSpread: Spread;
  /** Connection attempts after the restart, all clients, and the most one client needed. */
  reconnectAttempts: number;
  maxAttempts: number;
  restartEnds: Record<string, number>;
  recoverReceived: ReceivedSummary | undefined;
  // --- integrity, over everything
  messagesMade: number;
  messagesAcked: number;
  /** Outbox entries still unacknowledged at the end. */
  unacked: number;
  /** Sends written more than once (resends after a reconnect). */
  resends: number;
  /** A resend of an already stored message acknowledged again with its seq (expected, not a duplicate). */
  reacks: number;
  duplicates: number;
  /** Seqs missing below the highest one a client saw (lost deliveries). */
  gaps: number;
  /** Seqs a client had not received by the end (all of them, gaps included). */
  missing: number;
  /** Client_msg_ids seen under two different seqs (stored twice). */
  storedTwice: number;
  /** Seqs above the number of messages made (only possible if something was stored twice). */
  beyondTotal: number;
  errorsBefore: number;
  errorsAfterRestart: number;
  epochChanged: number;
  historyTruncated: number;
  shutdownNotices: number;
}

interface Outgoing {
  k: number;
  id: string;
  sentGen: number;
  resent: boolean;
}

export async function loadStorm(ctx: LoadContext, o: BenchOptions): Promise<StormShardResult> {
  if (ctx.target !== "ours") throw new Error("the storm scenario runs against our server only");
  const N = o.stormClients;
  const from = Math.floor((ctx.shard.index * N) / ctx.shard.count);
  const to = Math.floor(((ctx.shard.index + 1) * N) / ctx.shard.count);
  const n = to - from;
  const S = o.stormSenders;
  const totalBefore = S * o.stormMessages;
  const total = S * (o.stormMessages + o.stormOutageMessages);
  const cap = total * 2 + 16; // room for seqs beyond the total (stored twice) without growing
  const address = ctx.address;
  const encoder = new SendEncoder(ROOM, payloadText(o.payload));

  // Per-client state, by local index j (global index from + j).
  const gen = new Int32Array(n);
  const channel: (grpc.Client | undefined)[] = new Array(n);
  const call: (grpc.ClientDuplexStream<Buffer, Buffer> | undefined)[] = new Array(n);
  const connected = new Uint8Array(n); // stream open and joined on it
  const everJoined = new Uint8Array(n);
  const epoch: string[] = new Array(n).fill("");
  const base = new Int32Array(n); // last_seq of the first join: messages after it are expected
  const contig = new Int32Array(n); // every seq in (base, contig] seen
  const maxSeen = new Int32Array(n);
  const catchUpTo = new Int32Array(n); // last_seq of the latest joined event
  const seen = new Uint8Array(n * (cap + 1));
  const failures = new Int32Array(n);
  const attemptsAfterRestart = new Int32Array(n);
  const joinedAtUs = new Float64Array(n);
  const rejoinedAtUs = new Float64Array(n);
  const doneAtUs = new Float64Array(n);
  const outbox: Outgoing[][] = Array.from({ length: n }, () => []);
  const made = new Int32Array(n);
  const seqOfId = new Map<number, number>(); // sender * 10_000 + k -> seq
  const received = new ReceiveCounters(n);
  const ends = { join: {} as Record<string, number>, restart: {} as Record<string, number> };
  const counts = {
    joined: 0,
    rejoined: 0,
    recovered: 0,
    joinReconnects: 0,
    acked: 0,
    resends: 0,
    reacks: 0,
    duplicates: 0,
    storedTwice: 0,
    beyondTotal: 0,
    errorsBefore: 0,
    errorsAfterRestart: 0,
    epochChanged: 0,
    historyTruncated: 0,
    shutdownNotices: 0,
  };
  let restartUs = 0; // set when the restart begins
  let stopping = false;
  let goUs = 0;
  const isSender = (j: number) => from + j < S;

  const caughtUp = (j: number) => connected[j] === 1 && contig[j] >= catchUpTo[j];

  const flushOutbox = (j: number) => {
    if (!caughtUp(j)) return;
    for (const m of outbox[j]) {
      if (m.sentGen === gen[j]) continue;
      if (m.sentGen !== 0) {
        m.resent = true;
        counts.resends++;
      }
      m.sentGen = gen[j];
      call[j]!.write(encoder.encode(m.id));
    }
  };

  const checkDone = (j: number) => {
    if (restartUs === 0 || doneAtUs[j] !== 0 || rejoinedAtUs[j] === 0) return;
    if (contig[j] >= total && outbox[j].length === 0) {
      doneAtUs[j] = nowUs();
      counts.recovered++;
    }
  };

  const visitor: FrameVisitor = {
    joined() {},
    joinedEvent(client: number, info: JoinedInfo) {
      const j = client;
      connected[j] = 1;
      failures[j] = 0;
      catchUpTo[j] = info.lastSeq;
      if (info.epochChanged) counts.epochChanged++;
      if (info.historyTruncated) counts.historyTruncated++;
      if (!everJoined[j]) {
        everJoined[j] = 1;
        epoch[j] = info.epoch;
        base[j] = info.lastSeq;
        contig[j] = info.lastSeq;
        maxSeen[j] = info.lastSeq;
        joinedAtUs[j] = nowUs();
        counts.joined++;
      } else {
        epoch[j] = info.epoch;
        if (restartUs !== 0 && rejoinedAtUs[j] === 0) {
          rejoinedAtUs[j] = nowUs();
          counts.rejoined++;
        }
      }
      flushOutbox(j);
      checkDone(j);
    },
    message(client: number, step: number, sender: number, k: number, _sentUs: number, _now: number, seq: number) {
      const j = client;
      if (seq <= base[j]) return;
      // Acknowledgement first, even for a seq already seen (a resend of a stored message).
      let reack = false;
      if (sender === from + j && (step === STEP_BEFORE || step === STEP_OUTAGE)) {
        const box = outbox[j];
        const at = box.findIndex((m) => m.k === k);
        if (at >= 0) {
          reack = box[at].resent && seq <= cap && seen[j * (cap + 1) + seq] > 0;
          box.splice(at, 1);
          counts.acked++;
        }
      }
      const key = sender * 10_000 + k;
      const known = seqOfId.get(key);
      if (known === undefined) seqOfId.set(key, seq);
      else if (known !== seq) {
        counts.storedTwice++;
        seqOfId.set(key, seq); // count each further copy once
      }
      if (seq > cap) {
        counts.beyondTotal++;
        return;
      }
      if (seq > total) counts.beyondTotal++;
      const at = j * (cap + 1) + seq;
      if (seen[at] > 0) {
        if (reack) counts.reacks++;
        else counts.duplicates++;
        return;
      }
      seen[at] = 1;
      if (seq > maxSeen[j]) maxSeen[j] = seq;
      while (contig[j] < cap && seen[j * (cap + 1) + contig[j] + 1] > 0) contig[j]++;
      flushOutbox(j);
      checkDone(j);
    },
    memberLeft(_client: number, _nickname: string, _reason: LeaveReason) {},
    error() {
      if (restartUs === 0) counts.errorsBefore++;
      else counts.errorsAfterRestart++;
    },
    event(client: number, field: number, bytes: number) {
      received.event(client, field, bytes);
      if (field === 9) counts.shutdownNotices++;
    },
  };

  const connect = (j: number) => {
    const g = ++gen[j];
    connected[j] = 0;
    channel[j]?.close();
    const ch = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": -1,
    });
    channel[j] = ch;
    const c = ch.makeBidiStreamRequest(CHAT, passBytes, passBytes);
    call[j] = c;
    if (restartUs !== 0) attemptsAfterRestart[j]++;
    c.on("data", (frame: Buffer) => {
      if (gen[j] !== g) return;
      received.frame(j, frame.length);
      walkFrame(frame, j, nowUs(), visitor);
    });
    c.on("error", () => {}); // reported once, with its code, by "status"
    c.on("status", (s: grpc.StatusObject) => {
      if (gen[j] !== g) return;
      ended(j, `${grpc.status[s.code]}${s.details ? `: ${shortDetails(s.details)}` : ""}`);
    });
    const resume = everJoined[j] ? { afterSeq: contig[j], epoch: epoch[j] } : undefined;
    c.write(encodeJoin(ROOM, `s${from + j}`, resume));
  };

  const ended = (j: number, how: string) => {
    connected[j] = 0;
    gen[j]++; // whatever the old call still says is ignored
    if (stopping) return;
    const bucket = restartUs === 0 ? ends.join : ends.restart;
    bucket[how] = (bucket[how] ?? 0) + 1;
    if (restartUs === 0) counts.joinReconnects++;
    failures[j]++;
    const ceiling = Math.min(o.stormBackoffMaxMs, Math.max(1, o.stormJitterMs) * 2 ** Math.min(failures[j] - 1, 20));
    const delay = Math.random() * ceiling;
    const g = gen[j];
    setTimeout(() => {
      if (!stopping && gen[j] === g) connect(j);
    }, delay);
  };

  const makeMessage = (j: number, step: number) => {
    const k = ++made[j];
    const m: Outgoing = { k, id: loadMessageId(step, from + j, k, nowUs()), sentGen: 0, resent: false };
    outbox[j].push(m);
    flushOutbox(j);
  };

  const progressEvery = (label: string, what: () => string) => {
    let last = performance.now();
    return () => {
      if (performance.now() - last < 5000) return;
      last = performance.now();
      ctx.progress(`shard ${ctx.shard.index}: ${label}: ${what()}`);
    };
  };

  const result = (): StormShardResult => {
    let gaps = 0;
    let missing = 0;
    for (let j = 0; j < n; j++) {
      for (let s = base[j] + 1; s <= total; s++) {
        if (seen[j * (cap + 1) + s] > 0) continue;
        missing++;
        if (s < maxSeen[j]) gaps++;
      }
    }
    const rel = (us: Float64Array, from0: number) => {
      const xs: number[] = [];
      for (let j = 0; j < n; j++) if (us[j] > 0) xs.push((us[j] - from0) / 1e6);
      return xs;
    };
    let unacked = 0;
    for (const box of outbox) unacked += box.length;
    let attempts = 0;
    let maxAttempts = 0;
    for (let j = 0; j < n; j++) {
      attempts += attemptsAfterRestart[j];
      maxAttempts = Math.max(maxAttempts, attemptsAfterRestart[j]);
    }
    let lastJoinedUs = 0;
    for (let j = 0; j < n; j++) lastJoinedUs = Math.max(lastJoinedUs, joinedAtUs[j]);
    let lastRecoveredUs = 0;
    if (counts.recovered === n) for (let j = 0; j < n; j++) lastRecoveredUs = Math.max(lastRecoveredUs, doneAtUs[j]);
    let madeTotal = 0;
    for (let j = 0; j < n; j++) madeTotal += made[j];
    return {
      shard: ctx.shard.index,
      from,
      to,
      allJoined: counts.joined === n,
      joined: counts.joined,
      lastJoinedUs,
      joinSpread: spread(rel(joinedAtUs, goUs)),
      joinReconnects: counts.joinReconnects,
      joinEnds: ends.join,
      joinReceived: joinReceived!,
      chatted,
      chatSeconds,
      restarted: restartUs !== 0,
      rejoined: counts.rejoined,
      recovered: counts.recovered,
      lastRecoveredUs,
      rejoinSpread: spread(rel(rejoinedAtUs, restartUs)),
      recoverSpread: spread(rel(doneAtUs, restartUs)),
      reconnectAttempts: attempts,
      maxAttempts,
      restartEnds: ends.restart,
      recoverReceived,
      messagesMade: madeTotal,
      messagesAcked: counts.acked,
      unacked,
      resends: counts.resends,
      reacks: counts.reacks,
      duplicates: counts.duplicates,
      gaps,
      missing: restartUs !== 0 || chatted ? missing : 0,
      storedTwice: counts.storedTwice,
      beyondTotal: counts.beyondTotal,
      errorsBefore: counts.errorsBefore,
      errorsAfterRestart: counts.errorsAfterRestart,
      epochChanged: counts.epochChanged,
      historyTruncated: counts.historyTruncated,
      shutdownNotices: counts.shutdownNotices,
    };
  };

  let joinReceived: ReceivedSummary | undefined;
  let chatted = false;
  let chatSeconds = NaN;
  let recoverReceived: ReceivedSummary | undefined;
  const finish = () => {
    stopping = true;
    const r = result();
    for (const ch of channel) ch?.close();
    return r;
  };

  // --- go: everybody connects and joins at once.
  ctx.tell({ phase: "ready" });
  const go = await ctx.next<{ atUs: number; deadlineUs: number }>("go");
  while (nowUs() < go.atUs) await sleep(1);
  goUs = go.atUs;
  for (let j = 0; j < n; j++) {
    connect(j);
    // Let frames in while the rest connect: a real storm's clients do not wait for each other.
    if (j % 250 === 249) await new Promise((r) => setImmediate(r));
  }
  const joinProgress = progressEvery("joins", () => `${counts.joined} of ${n} joined, ${counts.joinReconnects} reconnects`);
  while (counts.joined < n && nowUs() < go.deadlineUs) {
    joinProgress();
    await sleep(10);
  }
  joinReceived = received.summary(0, n);
  ctx.tell({ phase: "joined", allJoined: counts.joined === n, joined: counts.joined });
  const next = await ctx.next<{ type: string }>(["chat", "stop"]);
  if (next.type === "stop") return finish();

  // --- chat: the senders send, everybody must see every message.
  const chatStart = performance.now();
  const senders: number[] = [];
  for (let j = 0; j < n; j++) if (isSender(j)) senders.push(j);
  for (let round = 0; round < o.stormMessages; round++) {
    for (const j of senders) makeMessage(j, STEP_BEFORE);
    await sleep(100);
  }
  const allHave = (seq: number) => {
    for (let j = 0; j < n; j++) if (contig[j] < seq) return false;
    return true;
  };
  const chatDeadline = performance.now() + 60_000;
  while (!allHave(totalBefore) && performance.now() < chatDeadline) await sleep(20);
  chatted = allHave(totalBefore) && senders.every((j) => outbox[j].length === 0);
  chatSeconds = (performance.now() - chatStart) / 1000;
  ctx.tell({ phase: "chatted", ok: chatted });
  const next2 = await ctx.next<{ type: string; atUs: number }>(["restart", "stop"]);
  if (next2.type === "stop") return finish();

  // --- restart: the orchestrator stops the server and starts it again on the same history and port.
  restartUs = next2.atUs;
  const restartSnap = received.snapshot();
  for (let q = 0; q < o.stormOutageMessages; q++) {
    // The first as the SIGTERM lands (stored and acknowledged, refused, or lost with the stream: the outbox
    // resends it), the others during the outage, while the client has no stream: queued, sent on rejoin.
    const atMs = 250 * q;
    setTimeout(() => {
      if (!stopping) for (const j of senders) makeMessage(j, STEP_OUTAGE);
    }, Math.max(0, atMs - (nowUs() - restartUs) / 1000));
  }
  const recoverDeadlineUs = restartUs + o.stormRecoverTimeoutSeconds * 1e6;
  const recoverProgress = progressEvery("recovery", () => `${counts.rejoined} of ${n} rejoined, ${counts.recovered} have every message`);
  // Outage messages are made during the first second: not done before they exist.
  const outageMadeUs = restartUs + 250 * o.stormOutageMessages * 1000;
  while ((counts.recovered < n || nowUs() < outageMadeUs) && nowUs() < recoverDeadlineUs) {
    recoverProgress();
    await sleep(10);
  }
  recoverReceived = received.summary(0, n, restartSnap);
  ctx.tell({ phase: "recovered", ok: counts.recovered === n });
  await ctx.next(["finish", "stop"]);
  return finish();
}

/** A status detail short enough to group by: no addresses, times or grpc-js notes. */
export function shortDetails(details: string): string {
  return details
    .replace(/^No connection established\. Last error: (Error: )?/, "")
    .replace(/\s*Resolution note:.*$/s, "")
    .replace(/\s*\([^)]*\)/g, "")
    .replace(/\s*\[?[\d.:a-f]+\]?:\d+/g, "")
    .replace(/\.$/, "")
    .slice(0, 60);
}
