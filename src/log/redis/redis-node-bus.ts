/**
 * The node bus over Redis pub/sub: one channel under the deployment's prefix
 * (`<prefix>:nodebus`, a shard channel in a cluster) carries requests and
 * answers. A request names its node; every other node answers for the
 * sessions it holds, and the asking node answers itself in-process. PUBLISH
 * says how many subscribers got the request, so the asker knows how many
 * answers to wait for, and waits at most `waitMs` for the slow or dead.
 * A notice (a direct conversation opened) goes the same way and is not
 * answered: the node that sends it tells its own sessions in-process.
 */
import { randomBytes } from "node:crypto";
import { LogUnavailableError } from "../room-log.js";
import type { DirectNotice, MentionNotice, NodeBus, NodeBusAnswer, NodeSessions, ReadNotice, UserSessionInfo } from "../node-bus.js";
import { connectRedis, type RedisConnections, type RedisTarget } from "./connection.js";

export interface RedisNodeBusOptions extends RedisTarget {
  prefix: string;
  /** This node's id (the server's, which names its sessions). */
  nodeId: string;
  local: NodeSessions;
  /** How long to wait for the other nodes' answers (default 2000 ms). */
  waitMs?: number;
  onEvent?: (level: "warn" | "info", message: string, fields?: Record<string, unknown>) => void;
}

type Op = "disconnect" | "sessions";

interface Request {
  t: "q";
  id: string;
  from: string;
  op: Op;
  userId: string;
  reason: string;
}

type Notice =
  | { t: "n"; from: string; op: "direct"; room: string; to: string; by: string }
  | { t: "n"; from: string; op: "read"; room: string; to: string; seq: number; unread: number; mentions: number; nick?: string }
  | { t: "n"; from: string; op: "mention"; room: string; to: string[]; seq: number; by: string; byId: string; quote: string };

interface Answer {
  t: "a";
  id: string;
  to: string;
  node: string;
  count?: number;
  sessions?: UserSessionInfo[];
}

/** Requests of this node waiting for answers at once; more are refused (bounded). */
const MAX_PENDING = 64;
/** Sessions one node lists at most in an answer. */
const MAX_SESSIONS_PER_ANSWER = 1000;
/** Notices of this node being published at once; more are dropped (bounded: Redis may hang). */
const MAX_NOTICES_IN_FLIGHT = 256;
/** A notice's fields are at most this long (a user id is at most 256 characters). */
const MAX_NOTICE_FIELD_CHARS = 256;
/** Users one mention notice names at most (hub/mentions.ts MAX_MENTIONS). */
const MAX_MENTIONED = 20;

interface Pending {
  expected: number;
  answers: Answer[];
  done: () => void;
}

export class RedisNodeBus implements NodeBus {
  private readonly redis: RedisConnections;
  private readonly channel: string;
  private readonly pending = new Map<string, Pending>();
  private subscribed = false;
  private readonly waitMs: number;
  private noticesInFlight = 0;

  constructor(private readonly options: RedisNodeBusOptions) {
    this.channel = `${options.prefix}:nodebus`;
    this.waitMs = options.waitMs ?? 2000;
    this.redis = connectRedis(options, { nodeName: `${options.nodeId}-bus`, onChange: () => {}, onAuthFailure: () => {} });
    const onMessage = (channel: string, message: string) => {
      if (channel === this.channel) this.received(message);
    };
    this.redis.subscriber.on(this.redis.sharded ? "smessage" : "message", onMessage);
  }

  /** Connect and subscribe; a Redis not answering yet is retried by ioredis (questions fail until then). */
  async start(): Promise<void> {
    const clients = [...new Set([this.redis.commands, this.redis.subscriber])];
    await Promise.all(clients.map((c) => (c.status === "wait" ? c.connect().catch(() => {}) : undefined)));
    // The subscriber queues the subscription until it is connected, and renews it after reconnects.
    void this.redis.subscribe(this.channel).then(
      () => (this.subscribed = true),
      (err: Error) => this.options.onEvent?.("warn", "node bus: cannot subscribe", { err: err.message }),
    );
  }

  async disconnectUser(userId: string, reason: string): Promise<NodeBusAnswer<number>> {
    const here = this.options.local.disconnectUser(userId, reason);
    const { answers, silent } = await this.ask("disconnect", userId, reason);
    return { value: answers.reduce((n, a) => n + (a.count ?? 0), here), silent };
  }

  async userSessions(userId: string): Promise<NodeBusAnswer<UserSessionInfo[]>> {
    const here = this.options.local.userSessions(userId);
    const { answers, silent } = await this.ask("sessions", userId, "");
    return { value: [...here, ...answers.flatMap((a) => a.sessions ?? [])], silent };
  }

  directOpened(notice: DirectNotice): void {
    this.options.local.directOpened(notice);
    this.publishNotice({ t: "n", from: this.options.nodeId, op: "direct", room: notice.room, to: notice.to, by: notice.from });
  }

  readMoved(notice: ReadNotice): void {
    this.publishNotice({ t: "n", from: this.options.nodeId, op: "read", room: notice.room, to: notice.userId, seq: notice.readSeq, unread: notice.unread, mentions: notice.mentions, nick: notice.nickname });
  }

  mentioned(notice: MentionNotice): void {
    const { room, seq, sender, senderId, quote, users } = notice;
    this.publishNotice({ t: "n", from: this.options.nodeId, op: "mention", room, to: users, seq, by: sender, byId: senderId, quote });
  }

  private publishNotice(message: Notice): void {
    if (this.noticesInFlight >= MAX_NOTICES_IN_FLIGHT) {
      this.options.onEvent?.("warn", "node bus: too many notices in flight; one dropped", { room: message.room });
      return;
    }
    this.noticesInFlight++;
    // Bounded by the connection's command timeout.
    this.redis
      .publish(this.channel, Buffer.from(JSON.stringify(message)))
      .catch((err: Error) => this.options.onEvent?.("warn", "node bus: cannot send a notice", { err: err.message, room: message.room }))
      .finally(() => this.noticesInFlight--);
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) p.done();
    await this.redis.close();
  }

  private async ask(op: Op, userId: string, reason: string): Promise<{ answers: Answer[]; silent: number }> {
    if (this.pending.size >= MAX_PENDING) throw new LogUnavailableError(`more than ${MAX_PENDING} questions to the other nodes are waiting`);
    const request: Request = { t: "q", id: randomBytes(8).toString("hex"), from: this.options.nodeId, op, userId, reason };
    let receivers: number;
    const entry: Pending = { expected: Number.POSITIVE_INFINITY, answers: [], done: () => {} };
    const finished = new Promise<void>((resolve) => (entry.done = resolve));
    this.pending.set(request.id, entry);
    try {
      try {
        receivers = Number(await this.redis.publish(this.channel, Buffer.from(JSON.stringify(request))));
      } catch (err) {
        throw new LogUnavailableError(`the other nodes cannot be reached through Redis: ${(err as Error).message}`);
      }
      // Our own subscriber got it too (and ignores it).
      entry.expected = Math.max(0, receivers - (this.subscribed ? 1 : 0));
      if (entry.answers.length < entry.expected) {
        const timer = setTimeout(() => entry.done(), this.waitMs);
        await finished;
        clearTimeout(timer);
      }
      return { answers: entry.answers, silent: Math.max(0, entry.expected - entry.answers.length) };
    } finally {
      this.pending.delete(request.id);
    }
  }

  private received(message: string): void {
    let parsed: Request | Answer | Notice;
    try {
      parsed = JSON.parse(message) as Request | Answer | Notice;
    } catch {
      return;
    }
    if (parsed.t === "n") {
      if (parsed.from !== this.options.nodeId) this.noticed(parsed);
      return;
    }
    if (parsed.t === "a") {
      if (parsed.to !== this.options.nodeId) return;
      const p = this.pending.get(parsed.id);
      if (!p) return;
      p.answers.push(parsed);
      if (p.answers.length >= p.expected) p.done();
      return;
    }
    if (parsed.t !== "q" || parsed.from === this.options.nodeId) return;
    const answer: Answer = { t: "a", id: parsed.id, to: parsed.from, node: this.options.nodeId };
    if (parsed.op === "disconnect") answer.count = this.options.local.disconnectUser(String(parsed.userId), String(parsed.reason ?? ""));
    else if (parsed.op === "sessions") answer.sessions = this.options.local.userSessions(String(parsed.userId)).slice(0, MAX_SESSIONS_PER_ANSWER);
    else return;
    this.redis.publish(this.channel, Buffer.from(JSON.stringify(answer))).catch((err: Error) => {
      this.options.onEvent?.("warn", "node bus: cannot answer", { err: err.message, op: parsed.op });
    });
  }

  private noticed(notice: Notice): void {
    const text = (f: unknown) => typeof f === "string" && f.length > 0 && f.length <= MAX_NOTICE_FIELD_CHARS;
    const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (!text(notice.room)) return;
    if (notice.op === "mention") {
      const users = notice.to;
      if (!Array.isArray(users) || users.length > MAX_MENTIONED || !users.every(text) || !count(notice.seq) || !text(notice.by) || !text(notice.byId)) return;
      if (typeof notice.quote !== "string" || notice.quote.length > MAX_NOTICE_FIELD_CHARS) return;
      this.options.local.mentioned({ room: notice.room, seq: notice.seq, sender: notice.by, senderId: notice.byId, quote: notice.quote, users });
      return;
    }
    if (!text(notice.to)) return;
    if (notice.op === "direct" && text(notice.by)) this.options.local.directOpened({ room: notice.room, to: notice.to, from: notice.by });
    else if (notice.op === "read" && count(notice.seq) && count(notice.unread) && count(notice.mentions)) {
      const nickname = text(notice.nick) ? notice.nick : undefined;
      this.options.local.readMoved({ room: notice.room, userId: notice.to, readSeq: notice.seq, unread: notice.unread, mentions: notice.mentions, ...(nickname ? { nickname } : {}) });
    }
  }
}
