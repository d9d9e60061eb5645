/**
 * The client side of one chat identity, independent of any terminal: the
 * rooms it is in, where it is in each room's history, the messages the server
 * has not acknowledged yet, and the loop that keeps a Chat stream open.
 *
 * Durability model. The server acknowledges a message by broadcasting it back
 * with our client_msg_id, and deduplicates resends by (room, nickname,
 * client_msg_id). So every message stays in the outbox until its broadcast
 * copy arrives. When the stream drops for a transient reason, the loop waits
 * (exponential backoff, full jitter), opens a new stream, rejoins every room
 * with after_seq/epoch from what it saw last (the server replays what we
 * missed, then goes live), and once a room has caught up it sends that room's
 * outbox again with the same ids. Replayed messages already seen are dropped
 * by (room, seq). The terminal front-ends (interactive.ts, piped.ts) only
 * call join/leave/send/finish and render the events this class emits.
 */
import { EventEmitter } from "node:events";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  ChatRequestSchema,
  CommandKind,
  ErrorCode,
  type ChatMessage,
  type ChatRequest,
  type ErrorEvent,
  type JoinedEvent,
  type ServerEvent,
} from "../../gen/chat/v1/chat_pb.js";
import { RequestQueue } from "../client/request-queue.js";
import type { ChatClient } from "../client/transport.js";
import { backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
import { clientIdGenerator } from "./client-ids.js";
import { describeError, isRetryable } from "./errors.js";
import { Outbox, type OutgoingMessage } from "./outbox.js";
import { RoomTracker } from "./room-tracker.js";

export interface ChatSessionOptions {
  client: ChatClient;
  /** Server address, only for messages. */
  server: string;
  nickname: string;
  /** Consecutive failed reconnect attempts before giving up (default: unlimited). */
  maxRetries?: number;
  backoff?: BackoffPolicy;
  /** Unacknowledged messages held at most (default 1000). */
  outboxCapacity?: number;
  /** Ping the server after this much silence (default 15 s). */
  pingIntervalMs?: number;
  /** Treat the connection as dead after this much silence (default 45 s). */
  idleTimeoutMs?: number;
  /** A resuming room whose replay makes no progress for this long is treated as caught up (default 3 s). */
  catchUpStallMs?: number;
  random?: () => number;
}

export type NoticeLevel = "info" | "warn" | "error";
export interface Notice {
  level: NoticeLevel;
  text: string;
}

/** How the session ended: cleanly (finished or aborted by us) or by giving up. */
export type SessionEnd = { ok: true } | { ok: false; message: string };

export type Result<T = object> = ({ ok: true } & T) | { ok: false; reason: string };

export interface ChatSessionEvents {
  /** Every event received from the server, except duplicates dropped by (room, seq). */
  event: [ServerEvent];
  /** Things the session itself has to tell the user (reconnecting, history gaps, failures). */
  notice: [Notice];
  /** The first frame arrived on a stream. */
  connected: [{ reconnect: boolean }];
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  /** A room is joined and caught up on the current stream: its queued messages are going out. */
  roomLive: [string];
  /** A room we were in is gone (left, or it could not be rejoined). */
  roomLeft: [string];
  /** A join was refused for good. `initial`: the room had never been joined. */
  joinFailed: [{ room: string; code: ErrorCode; message: string; initial: boolean }];
  /** One of our messages was acknowledged (its broadcast copy arrived). */
  ack: [ChatMessage];
  /** One of our messages was given up on. */
  sendFailed: [{ id: string; room: string; text: string; reason: string }];
  /** The outbox went from full to having room again, or a message left it. */
  outboxSpace: [];
  closed: [SessionEnd];
}

/** Retryable refusals of one message before it is given up on. */
const MAX_SEND_REFUSALS = 5;
/** Refused rejoins of one room before it is given up on. */
const MAX_JOIN_REFUSALS = 5;
/** Longest message the server accepts, checked here so it never sits in the outbox. */
const TEXT_MAX_BYTES = 4096;
const KEEPALIVE_NONCE = "cli-keepalive";

interface Connection {
  readonly generation: number;
  readonly requests: RequestQueue<ChatRequest>;
  readonly abort: AbortController;
  /** A frame arrived on it. */
  established: boolean;
  lastReceivedAt: number;
  /** We ended the request side (finish) and expect a clean end. */
  halfClosed: boolean;
  /** Set when we drop the connection ourselves because it went silent. */
  dropReason: string | undefined;
  watchdog: NodeJS.Timeout | undefined;
  readonly catchUpTimers: Map<string, NodeJS.Timeout>;
}

/** A listener threw while handling an event: a bug in the caller, not a connection problem. */
class ListenerError extends Error {
  constructor(readonly original: unknown) {
    super("event listener failed");
  }
}

export class ChatSession extends EventEmitter<ChatSessionEvents> {
  readonly nickname: string;
  private readonly client: ChatClient;
  private readonly server: string;
  private readonly maxRetries: number;
  private readonly backoff: BackoffPolicy;
  private readonly pingIntervalMs: number;
  private readonly idleTimeoutMs: number;
  private readonly catchUpStallMs: number;
  private readonly random: () => number;
  private readonly rooms = new Map<string, RoomTracker>();
  private readonly outbox: Outbox;
  private readonly nextId: () => string;
  private readonly timers = new Set<NodeJS.Timeout>();
  private conn: Connection | undefined;
  private generation = 0;
  private everConnected = false;
  /** Consecutive failed attempts since the last established stream. */
  private failures = 0;
  private finishing = false;
  private stopped = false;
  private wakeSleep: (() => void) | undefined;
  private running: Promise<SessionEnd> | undefined;

  constructor(options: ChatSessionOptions) {
    super();
    this.client = options.client;
    this.server = options.server;
    this.nickname = options.nickname;
    this.maxRetries = options.maxRetries ?? Infinity;
    this.backoff = options.backoff ?? defaultBackoff;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    this.catchUpStallMs = options.catchUpStallMs ?? 3_000;
    this.random = options.random ?? Math.random;
    this.outbox = new Outbox(options.outboxCapacity ?? 1000);
    this.nextId = clientIdGenerator(options.nickname);
  }

  // ---- what the front-ends call ------------------------------------------

  /** Open the stream (and keep reopening it). Resolves when the session ends. */
  start(): Promise<SessionEnd> {
    this.running ??= this.run().then(
      (end) => this.closed(end),
      (err) => {
        this.closed({ ok: false, message: "stopped" });
        throw err instanceof ListenerError ? err.original : err;
      },
    );
    return this.running;
  }

  /** Rooms we are in or joining, in join order (not those being left). */
  get roomNames(): string[] {
    return [...this.rooms.values()].filter((r) => r.wanted === "member").map((r) => r.name);
  }

  isLive(room: string): boolean {
    return this.rooms.get(room)?.isLive ?? false;
  }

  /** Messages not yet acknowledged (sent or waiting to be). */
  get unacknowledged(): number {
    return this.outbox.size;
  }

  get outboxFull(): boolean {
    return this.outbox.isFull;
  }

  get connected(): boolean {
    return this.conn?.established ?? false;
  }

  join(room: string): Result {
    const tracker = this.rooms.get(room);
    if (tracker?.wanted === "member") return { ok: false, reason: `already in #${room}` };
    if (tracker) {
      // Undo a pending leave; if the LeaveCommand is already out, the LeftEvent handler rejoins.
      tracker.wanted = "member";
      return { ok: true };
    }
    const fresh = new RoomTracker(room);
    this.rooms.set(room, fresh);
    if (this.conn) this.write(this.conn, { case: "join", value: fresh.joinCommand(this.nickname) });
    return { ok: true };
  }

  /** Leave a room, after its queued messages have been acknowledged. */
  leave(room: string): Result {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted === "leaving") return { ok: false, reason: `not in #${room}` };
    tracker.wanted = "leaving";
    if (tracker.isLive) this.leaveIfDone(tracker);
    return { ok: true };
  }

  /** Queue a message for a room; it goes out as soon as the room is joined and caught up. */
  send(room: string, text: string): Result<{ id: string }> {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted !== "member") return { ok: false, reason: `not in #${room}; /join it first` };
    if (text.length === 0) return { ok: false, reason: "message is empty" };
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > TEXT_MAX_BYTES) return { ok: false, reason: `message is ${bytes} bytes; at most ${TEXT_MAX_BYTES} are allowed` };
    const entry = this.outbox.add(this.nextId(), room, text);
    if (!entry) {
      return {
        ok: false,
        reason: `outbox full: ${this.outbox.capacity} messages are still waiting for the server; this one was not queued`,
      };
    }
    if (this.conn && tracker.isLive) this.writeSend(this.conn, entry);
    return { ok: true, id: entry.id };
  }

  /**
   * Finish: once every joined room is confirmed and every message is
   * acknowledged, half-close the stream and let the server end it cleanly.
   * Keeps reconnecting while something is still owed.
   */
  finish(): Promise<SessionEnd> {
    this.finishing = true;
    this.maybeHalfClose();
    // Disconnected and nothing owed: no reason to reconnect just to say goodbye.
    if (!this.conn?.established && this.outbox.size === 0) this.wakeSleep?.();
    return this.start();
  }

  /** Stop now: cancel the stream; unacknowledged messages are abandoned. */
  abort(): Promise<SessionEnd> {
    this.stopped = true;
    this.conn?.abort.abort();
    this.wakeSleep?.();
    return this.running ?? Promise.resolve({ ok: true });
  }

  // ---- the connection loop -----------------------------------------------

  private async run(): Promise<SessionEnd> {
    for (;;) {
      if (this.stopped) return { ok: true };
      if (this.finishing && this.outbox.size === 0 && this.generation > 0) return { ok: true };
      const conn = this.open();
      let reason: string;
      let retryable: boolean;
      try {
        for await (const frame of this.client.chat(conn.requests, { signal: conn.abort.signal })) {
          try {
            this.onFrame(conn, frame.events);
          } catch (err) {
            this.stopped = true;
            throw new ListenerError(err);
          }
        }
        if (conn.halfClosed) return { ok: true };
        // The server only ends cleanly after our half-close; anything else is a drop.
        reason = "the server ended the stream";
        retryable = true;
      } catch (err) {
        if (err instanceof ListenerError) throw err;
        if (conn.dropReason) {
          reason = conn.dropReason;
          retryable = true;
        } else if (this.stopped) {
          return { ok: true };
        } else {
          reason = describeError(err, this.server);
          retryable = isRetryable(ConnectError.from(err).code);
        }
      } finally {
        this.closeConnection(conn);
      }

      // Never connected: fail fast, a wrong address should not look like a hang.
      if (!this.everConnected) return { ok: false, message: reason };
      if (!retryable) return { ok: false, message: `connection lost: ${reason}` };
      if (this.finishing && this.outbox.size === 0) return { ok: true };
      this.failures++;
      if (this.failures > this.maxRetries) {
        const gaveUp = this.maxRetries === 0 ? "not reconnecting (max retries is 0)" : `gave up after ${this.maxRetries} reconnect attempts`;
        return { ok: false, message: `connection lost: ${reason}; ${gaveUp}` };
      }
      const delayMs = backoffDelay(this.failures, this.backoff, this.random);
      this.emit("reconnecting", { attempt: this.failures, delayMs, reason });
      const next = `in ${(delayMs / 1000).toFixed(1)} s (attempt ${this.failures}${Number.isFinite(this.maxRetries) ? ` of ${this.maxRetries}` : ""})`;
      this.notice("warn", this.failures === 1 ? `connection lost (${reason}); reconnecting ${next}` : `reconnect failed (${reason}); retrying ${next}`);
      await this.sleep(delayMs);
    }
  }

  private open(): Connection {
    const conn: Connection = {
      generation: ++this.generation,
      requests: new RequestQueue<ChatRequest>(),
      abort: new AbortController(),
      established: false,
      lastReceivedAt: Date.now(),
      halfClosed: false,
      dropReason: undefined,
      watchdog: undefined,
      catchUpTimers: new Map(),
    };
    this.conn = conn;
    for (const room of [...this.rooms.values()]) {
      if (room.wanted === "leaving" && this.outbox.countForRoom(room.name) === 0) {
        // The old stream's end took us out of the room already.
        this.rooms.delete(room.name);
        this.emit("roomLeft", room.name);
        continue;
      }
      this.write(conn, { case: "join", value: room.joinCommand(this.nickname) });
    }
    conn.watchdog = setInterval(() => this.checkLiveness(conn), Math.max(10, Math.min(this.pingIntervalMs, this.idleTimeoutMs) / 2));
    conn.watchdog.unref();
    this.maybeHalfClose();
    return conn;
  }

  private closeConnection(conn: Connection): void {
    clearInterval(conn.watchdog);
    for (const t of conn.catchUpTimers.values()) clearTimeout(t);
    conn.catchUpTimers.clear();
    if (!conn.requests.isEnded) conn.requests.end();
    if (this.conn === conn) this.conn = undefined;
    for (const room of this.rooms.values()) room.connectionLost();
  }

  /** Ping when quiet; drop the stream when the server stays silent (a dead link sends no error). */
  private checkLiveness(conn: Connection): void {
    if (this.conn !== conn) return;
    const silentMs = Date.now() - conn.lastReceivedAt;
    if (silentMs >= this.idleTimeoutMs) {
      conn.dropReason = `no response from server ${this.server} for ${Math.round(silentMs / 1000)} s`;
      conn.abort.abort();
    } else if (silentMs >= this.pingIntervalMs && !conn.halfClosed) {
      this.write(conn, { case: "ping", value: { nonce: KEEPALIVE_NONCE } });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleep = done;
    });
  }

  private closed(end: SessionEnd): SessionEnd {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.emit("closed", end);
    return end;
  }

  // ---- incoming events -----------------------------------------------------

  private onFrame(conn: Connection, events: ServerEvent[]): void {
    if (this.conn !== conn) return;
    conn.lastReceivedAt = Date.now();
    if (!conn.established) {
      conn.established = true;
      this.failures = 0;
      const reconnect = this.everConnected;
      this.everConnected = true;
      this.emit("connected", { reconnect });
      if (reconnect) this.notice("info", `reconnected to ${this.server}`);
    }
    for (const event of events) {
      if (this.conn !== conn) return; // a listener aborted
      this.onEvent(conn, event);
    }
  }

  private onEvent(conn: Connection, event: ServerEvent): void {
    const e = event.event;
    switch (e.case) {
      case "joined":
        this.emit("event", event);
        this.onJoined(conn, e.value);
        return;
      case "message":
        this.onMessage(conn, event, e.value);
        return;
      case "left":
        this.emit("event", event);
        this.onLeft(conn, e.value.room);
        return;
      case "error":
        this.emit("event", event);
        this.onError(conn, e.value);
        return;
      default:
        this.emit("event", event);
    }
  }

  private onJoined(conn: Connection, j: JoinedEvent): void {
    const room = this.rooms.get(j.room);
    if (!room || room.phase !== "joining") return;
    const resumedAfter = room.lastSeq;
    const outcome = room.onJoined(j);
    if (outcome.epochReset) {
      this.notice("warn", `the history of #${j.room} was reset on the server (new epoch); earlier messages are gone`);
    }
    if (outcome.truncated) {
      this.notice("warn", `some messages in #${j.room} were dropped from the server's history before you could see them (it now starts at #${j.firstSeq})`);
    }
    if (outcome.rejoin && j.resumed && !outcome.epochReset && j.lastSeq > resumedAfter) {
      this.notice("info", `replaying what you missed in #${j.room} (after #${resumedAfter})`);
    }
    if (room.isLive) this.onLive(conn, room);
    else this.armCatchUpTimer(conn, room);
  }

  private onMessage(conn: Connection, event: ServerEvent, m: ChatMessage): void {
    // Acknowledgement first, even for a duplicate: a resend of something
    // already stored is acknowledged with its original (old) sequence number.
    let acked: OutgoingMessage | undefined;
    if (m.sender === this.nickname && m.clientMsgId) {
      const entry = this.outbox.get(m.clientMsgId);
      if (entry && entry.room === m.room) acked = this.outbox.remove(entry.id);
    }
    const room = this.rooms.get(m.room);
    const wasCatchingUp = room?.phase === "catching-up";
    const fresh = room ? room.accept(m) : true;
    if (fresh) this.emit("event", event);
    if (acked) {
      this.emit("ack", m);
      this.emit("outboxSpace");
    }
    if (room && wasCatchingUp) {
      if (room.isLive) this.onLive(conn, room);
      else this.armCatchUpTimer(conn, room);
    }
    if (acked && room) this.leaveIfDone(room);
    this.maybeHalfClose();
  }

  private onLeft(conn: Connection, name: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    if (room.wanted === "leaving") {
      this.rooms.delete(name);
      this.emit("roomLeft", name);
      this.maybeHalfClose();
    } else {
      // The user asked to join again while the leave was on its way.
      this.write(conn, { case: "join", value: room.joinCommand(this.nickname) });
    }
  }

  /** ErrorEvents name the command, room and client_msg_id they answer. */
  private onError(conn: Connection, e: ErrorEvent): void {
    if (e.command === CommandKind.SEND && e.clientMsgId) {
      const entry = this.outbox.get(e.clientMsgId);
      if (entry) this.sendRefused(conn, entry, e);
      return;
    }
    if (e.command === CommandKind.JOIN && e.room) {
      const room = this.rooms.get(e.room);
      if (room && room.phase === "joining") this.joinRefused(conn, room, e);
      return;
    }
    if (e.command === CommandKind.LEAVE && e.room && e.code === ErrorCode.NOT_FOUND) {
      // Not in the room after all: that is what we wanted.
      this.onLeft(conn, e.room);
    }
  }

  private sendRefused(conn: Connection, entry: OutgoingMessage, e: ErrorEvent): void {
    const transient = e.code === ErrorCode.UNAVAILABLE || e.code === ErrorCode.RESOURCE_EXHAUSTED;
    if (transient && entry.refusals < MAX_SEND_REFUSALS) {
      entry.refusals++;
      entry.sentOn = undefined;
      const delayMs = 250 + backoffDelay(entry.refusals, { baseMs: 500, maxMs: 5000 }, this.random);
      this.notice("warn", `message not accepted yet (${e.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
      this.later(delayMs, () => {
        if (this.conn === conn && this.outbox.get(entry.id) === entry && this.rooms.get(entry.room)?.isLive) this.writeSend(conn, entry);
      });
      return;
    }
    this.outbox.remove(entry.id);
    this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason: e.message });
    this.emit("outboxSpace");
    const room = this.rooms.get(entry.room);
    if (room) this.leaveIfDone(room);
    this.maybeHalfClose();
  }

  private joinRefused(conn: Connection, room: RoomTracker, e: ErrorEvent): void {
    // Rejoining after a drop can race the server noticing the old stream is
    // gone (our nickname still held), or hit a momentary limit: retry those.
    const transient =
      e.code === ErrorCode.UNAVAILABLE ||
      (room.everJoined && (e.code === ErrorCode.ALREADY_EXISTS || e.code === ErrorCode.RESOURCE_EXHAUSTED));
    if (transient && room.joinRefusals < MAX_JOIN_REFUSALS) {
      room.joinRefusals++;
      room.phase = "idle";
      const delayMs = 500 + backoffDelay(room.joinRefusals + 1, this.backoff, this.random);
      this.notice("warn", `could not rejoin #${room.name} (${e.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
      this.later(delayMs, () => {
        if (this.conn === conn && this.rooms.get(room.name) === room && room.phase === "idle") {
          this.write(conn, { case: "join", value: room.joinCommand(this.nickname) });
        }
      });
      return;
    }
    this.rooms.delete(room.name);
    for (const entry of this.outbox.forRoom(room.name)) {
      this.outbox.remove(entry.id);
      this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason: `could not join #${room.name}` });
    }
    this.emit("joinFailed", { room: room.name, code: e.code, message: e.message, initial: !room.everJoined });
    if (room.everJoined) this.emit("roomLeft", room.name);
    this.emit("outboxSpace");
    this.maybeHalfClose();
  }

  // ---- outgoing ------------------------------------------------------------

  /** A room is joined and caught up on this stream: send what waits for it, in typing order. */
  private onLive(conn: Connection, room: RoomTracker): void {
    const timer = conn.catchUpTimers.get(room.name);
    if (timer) clearTimeout(timer);
    conn.catchUpTimers.delete(room.name);
    this.emit("roomLive", room.name);
    for (const entry of this.outbox.forRoom(room.name)) {
      if (entry.sentOn !== conn.generation) this.writeSend(conn, entry);
    }
    this.leaveIfDone(room);
    this.maybeHalfClose();
  }

  /**
   * While a room replays, our resends wait: a resend of an already stored
   * message is acknowledged with its old sequence number, which must not
   * overtake the replay. If the replay stalls (the server lost its tail), go
   * live anyway rather than hold the messages forever.
   */
  private armCatchUpTimer(conn: Connection, room: RoomTracker): void {
    const old = conn.catchUpTimers.get(room.name);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      conn.catchUpTimers.delete(room.name);
      if (this.conn !== conn || this.rooms.get(room.name) !== room || room.phase !== "catching-up") return;
      room.forceLive();
      this.onLive(conn, room);
    }, this.catchUpStallMs);
    timer.unref();
    conn.catchUpTimers.set(room.name, timer);
  }

  private leaveIfDone(room: RoomTracker): void {
    if (!this.conn || room.wanted !== "leaving" || !room.isLive) return;
    if (this.outbox.countForRoom(room.name) > 0) return; // leave only after our messages are acknowledged
    room.phase = "leaving";
    this.write(this.conn, { case: "leave", value: { room: room.name } });
  }

  private maybeHalfClose(): void {
    const conn = this.conn;
    if (!this.finishing || !conn || conn.halfClosed || this.outbox.size > 0) return;
    for (const room of this.rooms.values()) {
      if (room.phase !== "live" && room.phase !== "idle") return; // wait for joins and leaves to be answered
    }
    conn.halfClosed = true;
    conn.requests.end();
  }

  private writeSend(conn: Connection, entry: OutgoingMessage): void {
    entry.sentOn = conn.generation;
    this.write(conn, { case: "send", value: { room: entry.room, text: entry.text, clientMsgId: entry.id } });
  }

  private write(conn: Connection, command: MessageInitShape<typeof ChatRequestSchema>["command"]): void {
    if (this.conn !== conn || conn.halfClosed || conn.requests.isEnded) return;
    conn.requests.push(create(ChatRequestSchema, { command }));
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private notice(level: NoticeLevel, text: string): void {
    this.emit("notice", { level, text });
  }
}
