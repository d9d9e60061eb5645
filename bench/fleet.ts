/**
 * A fleet of load clients in rooms, and the step runner: send at an offered
 * rate for a while, wait for the deliveries, and say what happened. Every
 * delivery is checked for loss, duplication and order (per receiver and
 * sender, sequence numbers must increase) and its latency recorded.
 */
import { Histogram, type LatencySummary } from "./stats.js";
import type { ClientEvents, Connector, LoadClient } from "./load-client.js";
import { EVENT_FIELD, encodeJoin, isPresenceField, loadMessageId, SendEncoder, walkFrame, type FrameVisitor } from "./wire.js";
import type { LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { sleep, type MachineCpu } from "./proc.js";

/** Wall clock in integer µs since the epoch, comparable across processes. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** What the fleet can learn about the server process. */
export interface ServerProbe {
  cpuUs(): number;
  rssBytes(): number;
  /** CPU time of the whole machine, by kind. */
  machineCpuUs(): MachineCpu;
}

export interface StepSpec {
  rate: number;
  seconds: number;
  drainMs: number;
  /** Client index of the k-th message's sender. */
  sender(k: number): number;
  /** Called every ~100 ms during the step (e.g. to sample memory). */
  onTick?: () => void;
}

export interface StepResult {
  /** Wall clock (epoch ms) when the step began sending and when it was judged. */
  startedAtMs: number;
  endedAtMs: number;
  offeredRate: number;
  sentRate: number;
  sent: number;
  expected: number;
  received: number;
  lost: number;
  duplicated: number;
  errors: number;
  deliveriesPerSec: number;
  /** Deliveries per server frame: how much the server batched (1 for the ws baseline). */
  eventsPerFrame: number;
  latency: LatencySummary;
  serverCpuUs: number;
  cpuPerDeliveryUs: number;
  serverRssBytes: number;
  serverRssMaxBytes: number;
  genCpuPct: number;
  /** CPU used by other processes on the machine during the step, % of one core (noise from other work). */
  otherCpuPct: number;
  /** CPU the hypervisor gave to others while this VM wanted it, % of one core. */
  stealPct: number;
  /** Kernel softirq time (mostly loopback networking, ours included), % of one core. */
  softirqPct: number;
  dropped: number;
  wallSeconds: number;
  /** 1 for the first try of a rate, 2 for its retry (see step-up.ts). */
  attempt: number;
  pass: boolean;
  why: string;
}

class StepCounters {
  readonly hist = new Histogram();
  expected = 0;
  received = 0;
  duplicated = 0;
  lastUs = 0;
}

export interface LeftSeen {
  client: number;
  nickname: string;
  reason: LeaveReason;
  atUs: number;
}

export const P99_LIMIT_MS = 100;

/** What a set of clients received, per client: frames, bytes, and how much of it was presence. */
export interface ReceivedSummary {
  clients: number;
  framesMean: number;
  bytesMean: number;
  bytesMax: number;
  /** member_joined / member_left events and events the bench does not know (e.g. a presence digest). */
  presenceEventsMean: number;
  presenceBytesMean: number;
  presenceBytesMax: number;
  /** Joined events (they carry the room's member list). */
  joinedBytesMean: number;
  joinedBytesMax: number;
  /** Events with a ServerEvent field the bench does not know, all clients together. */
  unknownEvents: number;
}

/** Per-client receive counters (typed arrays: cheap for 10,000 clients). */
export class ReceiveCounters {
  readonly frames: Float64Array;
  readonly bytes: Float64Array;
  readonly presenceEvents: Float64Array;
  readonly presenceBytes: Float64Array;
  readonly joinedBytes: Float64Array;
  unknownEvents = 0;

  constructor(count: number) {
    this.frames = new Float64Array(count);
    this.bytes = new Float64Array(count);
    this.presenceEvents = new Float64Array(count);
    this.presenceBytes = new Float64Array(count);
    this.joinedBytes = new Float64Array(count);
  }

  frame(client: number, bytes: number): void {
    this.frames[client]++;
    this.bytes[client] += bytes;
  }

  event(client: number, field: number, bytes: number): void {
    if (field === EVENT_FIELD.joined) {
      this.joinedBytes[client] += bytes;
    } else if (isPresenceField(field)) {
      this.presenceEvents[client]++;
      this.presenceBytes[client] += bytes;
      if (field > EVENT_FIELD.shutdown || field === 0) this.unknownEvents++;
    }
  }

  /** Per-client figures over clients [from, to), counted since `since` (a snapshot) or from the start. */
  summary(from: number, to: number, since?: ReceiveCounters): ReceivedSummary {
    const n = Math.max(0, to - from);
    const acc = { frames: 0, bytes: 0, bytesMax: 0, pe: 0, pb: 0, pbMax: 0, jb: 0, jbMax: 0 };
    for (let i = from; i < to; i++) {
      const d = (a: Float64Array, b: Float64Array | undefined) => a[i] - (b ? b[i] : 0);
      const bytes = d(this.bytes, since?.bytes);
      const pb = d(this.presenceBytes, since?.presenceBytes);
      const jb = d(this.joinedBytes, since?.joinedBytes);
      acc.frames += d(this.frames, since?.frames);
      acc.bytes += bytes;
      acc.bytesMax = Math.max(acc.bytesMax, bytes);
      acc.pe += d(this.presenceEvents, since?.presenceEvents);
      acc.pb += pb;
      acc.pbMax = Math.max(acc.pbMax, pb);
      acc.jb += jb;
      acc.jbMax = Math.max(acc.jbMax, jb);
    }
    const mean = (x: number) => (n > 0 ? x / n : 0);
    return {
      clients: n,
      framesMean: mean(acc.frames),
      bytesMean: mean(acc.bytes),
      bytesMax: acc.bytesMax,
      presenceEventsMean: mean(acc.pe),
      presenceBytesMean: mean(acc.pb),
      presenceBytesMax: acc.pbMax,
      joinedBytesMean: mean(acc.jb),
      joinedBytesMax: acc.jbMax,
      unknownEvents: this.unknownEvents - (since?.unknownEvents ?? 0),
    };
  }

  snapshot(): ReceiveCounters {
    const c = new ReceiveCounters(0);
    for (const k of ["frames", "bytes", "presenceEvents", "presenceBytes", "joinedBytes"] as const) {
      (c as unknown as Record<string, Float64Array>)[k] = this[k].slice();
    }
    c.unknownEvents = this.unknownEvents;
    return c;
  }
}

/** CPU of the server, this generator, and the rest of the machine over a window of wall time. */
export interface CpuShares {
  wallSeconds: number;
  /** % of one core. */
  serverPct: number;
  genPct: number;
  otherPct: number;
  stealPct: number;
  serverCpuUs: number;
}

export function cpuWindow(probe: ServerProbe): { stop(): CpuShares } {
  const t0 = performance.now();
  const cpu0 = probe.cpuUs();
  const gen0 = process.cpuUsage();
  const m0 = probe.machineCpuUs();
  return {
    stop() {
      const wallSeconds = (performance.now() - t0) / 1000;
      const cpu = probe.cpuUs() - cpu0;
      const gen = process.cpuUsage(gen0);
      const m1 = probe.machineCpuUs();
      const pct = (us: number) => Math.max(0, (us / 1e6 / Math.max(wallSeconds, 1e-3)) * 100);
      return {
        wallSeconds,
        serverPct: pct(cpu),
        genPct: pct(gen.user + gen.system),
        otherPct: pct(m1.processes - m0.processes - cpu - gen.user - gen.system),
        stealPct: pct(m1.steal - m0.steal),
        serverCpuUs: cpu,
      };
    },
  };
}

export class Fleet implements FrameVisitor, ClientEvents {
  readonly clients: (LoadClient | undefined)[];
  private readonly joinedFlags: Uint8Array;
  joinedCount = 0;
  /** Clients whose deliveries are not expected nor counted (e.g. a stalled one). */
  readonly excluded: Uint8Array;
  readonly endedHow: (string | undefined)[];
  readonly endedAtUs: Float64Array;
  endedCount = 0;
  /** Ended clients that are not excluded: each one fails the step it ends in. */
  private endedCounted = 0;
  errors = 0;
  /** Server frames received by all clients (a frame may carry several events). */
  frames = 0;
  /** Frames, bytes and presence received, per client. */
  readonly received: ReceiveCounters;
  readonly left: LeftSeen[] = [];
  private readonly roomOf: Int32Array;
  /** Room name -> index into encoders (and the values of roomOf). */
  private readonly roomIds = new Map<string, number>();
  private readonly encoders: SendEncoder[] = [];
  private readonly lastSeq: Map<number, number>[];
  private readonly sendSeq: Float64Array;
  private readonly steps: StepCounters[] = [];
  private nextStep = 0;

  constructor(
    readonly count: number,
    private readonly probe: ServerProbe,
    private readonly payload: string,
  ) {
    this.clients = new Array(count);
    this.joinedFlags = new Uint8Array(count);
    this.excluded = new Uint8Array(count);
    this.endedHow = new Array(count);
    this.endedAtUs = new Float64Array(count);
    this.roomOf = new Int32Array(count).fill(-1);
    this.lastSeq = Array.from({ length: count }, () => new Map());
    this.sendSeq = new Float64Array(count);
    this.received = new ReceiveCounters(count);
  }

  // ClientEvents
  frame(index: number, bytes: Uint8Array): void {
    this.frames++;
    this.received.frame(index, bytes.length);
    walkFrame(bytes, index, nowUs(), this);
  }

  ended(index: number, how: string): void {
    if (this.endedHow[index] !== undefined) return;
    this.endedHow[index] = how;
    this.endedAtUs[index] = nowUs();
    this.endedCount++;
    if (!this.excluded[index]) this.endedCounted++;
  }

  // FrameVisitor
  joined(client: number): void {
    if (this.joinedFlags[client]) return;
    this.joinedFlags[client] = 1;
    this.joinedCount++;
  }

  message(client: number, step: number, sender: number, seq: number, sentUs: number, atUs: number): void {
    if (this.excluded[client]) return;
    const st = this.steps[step];
    if (!st) return;
    const seen = this.lastSeq[client];
    if (seq <= (seen.get(sender) ?? 0)) {
      st.duplicated++;
      return;
    }
    seen.set(sender, seq);
    st.received++;
    st.hist.record(atUs - sentUs);
    st.lastUs = atUs;
  }

  event(client: number, field: number, bytes: number): void {
    this.received.event(client, field, bytes);
  }

  memberLeft(client: number, nickname: string, reason: LeaveReason): void {
    if (this.left.length < 1000) this.left.push({ client, nickname, reason, atUs: nowUs() });
  }

  error(): void {
    this.errors++;
  }

  /** Whether client `i` has received its joined event. */
  isJoined(i: number): boolean {
    return this.joinedFlags[i] === 1;
  }

  /**
   * Open clients [from, to) (default: all) and join each to room(i) as nickname(i), `batch` at a time.
   * A client that ends first throws, unless `tolerateEnded` (then it counts as done, and the caller
   * reports it). Past `timeoutMs` it throws, unless `stopAtTimeout` (then it returns false).
   */
  async openAndJoin(
    connector: Connector,
    room: (i: number) => string,
    nickname: (i: number) => string,
    opts: {
      from?: number;
      to?: number;
      batch?: number;
      timeoutMs?: number;
      progress?: (msg: string) => void;
      tolerateEnded?: boolean;
      stopAtTimeout?: boolean;
    } = {},
  ): Promise<boolean> {
    const batch = opts.batch ?? 200;
    const from = opts.from ?? 0;
    const to = opts.to ?? this.count;
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    let lastReport = Date.now();
    // Joined or ended: done waiting for it.
    const settled = (end: number) => {
      if (!opts.tolerateEnded) return this.joinedCount >= end;
      let n = 0;
      for (let i = from; i < end; i++) if (this.joinedFlags[i] || this.endedHow[i] !== undefined) n++;
      return n >= end - from;
    };
    for (let start = from; start < to; start += batch) {
      const end = Math.min(to, start + batch);
      const opened = await Promise.all(
        Array.from({ length: end - start }, (_, k) => connector.open(start + k)),
      );
      for (let k = 0; k < opened.length; k++) {
        const i = start + k;
        this.clients[i] = opened[k];
        this.roomOf[i] = this.roomIndex(room(i));
        opened[k].send(encodeJoin(room(i), nickname(i)));
      }
      while (!settled(end)) {
        if (this.endedCount > 0 && !opts.tolerateEnded) throw new Error(`a client ended while joining: ${this.endedHow.find((h) => h)}`);
        if (Date.now() > deadline) {
          if (opts.stopAtTimeout) return false;
          throw new Error(`only ${this.joinedCount} of ${end} clients joined in time`);
        }
        await sleep(opts.tolerateEnded ? 20 : 5);
      }
      if (opts.progress && Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        opts.progress(`${end} of ${to} joined${this.endedCount > 0 ? ` (${this.endedCount} ended)` : ""}`);
      }
    }
    return true;
  }

  private roomIndex(name: string): number {
    let r = this.roomIds.get(name);
    if (r === undefined) {
      r = this.encoders.length;
      this.roomIds.set(name, r);
      this.encoders.push(new SendEncoder(name, this.payload));
    }
    return r;
  }


  /** Offer `rate` messages/s for `seconds`, wait up to `drainMs` for every delivery, and judge the step. */
  async runStep(spec: StepSpec): Promise<StepResult> {
    const step = this.nextStep++;
    const st = (this.steps[step] = new StepCounters());
    // Deliveries expected per message, by room: its members that are counted.
    const counted = new Int32Array(this.encoders.length);
    for (let i = 0; i < this.count; i++) if (!this.excluded[i] && this.roomOf[i] >= 0) counted[this.roomOf[i]]++;
    const endedBefore = this.endedCounted;
    const errorsBefore = this.errors;
    const framesBefore = this.frames;
    const cpu0 = this.probe.cpuUs();
    const gen0 = process.cpuUsage();
    const machine0 = this.probe.machineCpuUs();
    let rssMax = this.probe.rssBytes();
    const t0 = performance.now();
    let lastTick = t0;
    const tick = () => {
      rssMax = Math.max(rssMax, this.probe.rssBytes());
      spec.onTick?.();
    };

    const total = Math.max(1, Math.round(spec.rate * spec.seconds));
    const maxBurst = Math.max(1, Math.ceil(spec.rate / 20));
    const hardStop = t0 + spec.seconds * 2000 + 5000;
    let sent = 0;
    while (sent < total) {
      const now = performance.now();
      if (now > hardStop) break;
      if (now - lastTick >= 100) {
        lastTick = now;
        tick();
      }
      const due = Math.min(total, Math.floor((spec.rate * (now - t0)) / 1000) + 1, sent + maxBurst);
      while (sent < due) {
        const sender = spec.sender(sent);
        const client = this.clients[sender];
        const room = this.roomOf[sender];
        const id = loadMessageId(step, sender, ++this.sendSeq[sender], nowUs());
        client!.send(this.encoders[room].encode(id));
        st.expected += counted[room];
        sent++;
      }
      await sleep(1);
    }
    const sendSeconds = (performance.now() - t0) / 1000;
    const drainUntil = performance.now() + spec.drainMs;
    while (st.received < st.expected && performance.now() < drainUntil) {
      if (performance.now() - lastTick >= 100) {
        lastTick = performance.now();
        tick();
      }
      await sleep(10);
    }
    tick();
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = this.probe.cpuUs() - cpu0;
    const gen = process.cpuUsage(gen0);
    const machine1 = this.probe.machineCpuUs();
    const pctOfWall = (us: number) => Math.max(0, (us / 1e6 / wallSeconds) * 100);
    const latency = st.hist.summary();
    const lost = Math.max(0, st.expected - st.received);
    const dropped = this.endedCounted - endedBefore;
    const sentRate = sent / sendSeconds;
    const activeSeconds = st.lastUs > 0 ? Math.max(sendSeconds, st.lastUs / 1e6 - (performance.timeOrigin + t0) / 1000) : sendSeconds;
    const why =
      dropped > 0
        ? `${dropped} client(s) dropped (${this.endedHow.filter((h, i) => h && !this.excluded[i]).slice(-1)[0]})`
        : lost > 0
          ? `${lost} lost`
          : st.duplicated > 0
            ? `${st.duplicated} duplicated`
            : latency.p99Ms > P99_LIMIT_MS
              ? `p99 ${latency.p99Ms.toFixed(0)} ms > ${P99_LIMIT_MS} ms`
              : sentRate < spec.rate * 0.95
                ? `generator offered only ${sentRate.toFixed(0)}/s`
                : "";
    return {
      startedAtMs: performance.timeOrigin + t0,
      endedAtMs: performance.timeOrigin + performance.now(),
      offeredRate: spec.rate,
      sentRate,
      sent,
      expected: st.expected,
      received: st.received,
      lost,
      duplicated: st.duplicated,
      errors: this.errors - errorsBefore,
      deliveriesPerSec: st.received / activeSeconds,
      eventsPerFrame: this.frames > framesBefore ? st.received / (this.frames - framesBefore) : 0,
      latency,
      serverCpuUs: cpu,
      cpuPerDeliveryUs: st.received > 0 ? cpu / st.received : 0,
      serverRssBytes: this.probe.rssBytes(),
      serverRssMaxBytes: rssMax,
      genCpuPct: ((gen.user + gen.system) / 1e6 / wallSeconds) * 100,
      otherCpuPct: pctOfWall(machine1.processes - machine0.processes - cpu - gen.user - gen.system),
      stealPct: pctOfWall(machine1.steal - machine0.steal),
      softirqPct: pctOfWall(machine1.softirq - machine0.softirq),
      dropped,
      wallSeconds,
      attempt: 1,
      pass: why === "",
      why,
    };
  }
}
