/**
 * The page's chat session over OpenSession + Command, on any Connect
 * Transport (connect-web's createConnectTransport in the page).
 *
 * A thin layer meant to be swapped: the platform-neutral client core (outbox,
 * acknowledgements, reconnect, resume, shared with the terminal client) is
 * being moved into src/client on another branch. This file keeps the same
 * event names and calls as that core's ChatSession, and reuses the terminal
 * client's own room tracker, outbox and backoff, so the page can switch to
 * the core by changing its import.
 *
 * The rules it follows are the CLI's: every message stays in the outbox until
 * its copy comes back (the acknowledgement); after a drop it reconnects with
 * backoff and full jitter, rejoins every room with after_seq/epoch (the
 * server replays what was missed), drops replayed duplicates by (room, seq),
 * and once a room has caught up resends its outbox with the same ids (the
 * server stores each id once). Commands go out one at a time, in order, each
 * naming the session in a header a load balancer can route on.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  ChatRequestSchema,
  ChatService,
  CommandKind,
  ErrorCode,
  type ChatMessage,
  type ChatRequest,
  type ErrorEvent,
  type JoinedEvent,
  type ServerEvent,
} from "../../../gen/chat/v1/chat_pb.js";
import { checkRoom, TEXT_MAX_BYTES } from "../../../src/hub/validate.js";
import { backoffDelay, defaultBackoff, type BackoffPolicy } from "../../../src/client/backoff.js";
import { Outbox, type OutgoingMessage } from "../../../src/client/outbox.js";
import { RoomTracker } from "../../../src/client/room-tracker.js";
import { Emitter } from "./emitter.js";

/** The header naming the session on every Command (see the README, "Scaling"). */
export const SESSION_HEADER = "chat-session-id";

export interface WebSessionOptions {
  transport: Transport;
  nickname: string;
  backoff?: BackoffPolicy;
  outboxCapacity?: number;
  /** A Command (ping) at least this often: the server takes a session silent for 40 s for gone. */
  pingIntervalMs?: number;
  /** No frame (heartbeats come every 15 s) for this long: the connection is dead. */
  idleTimeoutMs?: number;
  /** A resuming room whose replay makes no progress for this long is treated as caught up. */
  catchUpStallMs?: number;
  /** How long someone shows as typing after their last typing event. */
  typingShowMs?: number;
  random?: () => number;
}

export type Result<T = object> = ({ ok: true } & T) | { ok: false; reason: string };
export interface Notice {
  level: "info" | "warn" | "error";
  text: string;
}
export type SessionEnd = { ok: true } | { ok: false; message: string };

export interface WebSessionEvents {
  /** Every event from the server, except duplicates dropped by (room, seq) and command errors (see the others). */
  event: [ServerEvent];
  notice: [Notice];
  connected: [{ reconnect: boolean }];
  disconnected: [{ reason: string }];
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  roomLeft: [string];
  joinFailed: [{ room: string; code: ErrorCode; message: string; initial: boolean }];
  ack: [ChatMessage];
  sendFailed: [{ id: string; room: string; text: string; reason: string }];
  /** An ErrorEvent answering something other than a join or a send (e.g. a leave, the rate limit). */
  commandError: [ErrorEvent];
  typing: [{ room: string; nicknames: string[] }];
  closed: [SessionEnd];
}

const MAX_SEND_REFUSALS = 5;
const MAX_JOIN_REFUSALS = 5;
const TYPING_SEND_INTERVAL_MS = 3000;
const COMMAND_TIMEOUT_MS = 30_000;

interface Connection {
  readonly generation: number;
  readonly abort: AbortController;
  sessionId: string | undefined;
  readonly queue: ChatRequest[];
  sending: boolean;
  established: boolean;
  lastReceivedAt: number;
  lastCommandAt: number;
  /** Why we broke it ourselves (a failed Command, silence). */
  failure: string | undefined;
  watchdog: ReturnType<typeof setInterval> | undefined;
  readonly catchUpTimers: Map<string, ReturnType<typeof setTimeout>>;
}

export class WebChatSession extends Emitter<WebSessionEvents> {
  private readonly client: Client<typeof ChatService>;
  private readonly rooms = new Map<string, RoomTracker>();
  private readonly outbox: Outbox;
  private readonly typists = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();
  private readonly lastTypingSent = new Map<string, number>();
  private readonly nextId: () => string;
  private conn: Connection | undefined;
  private generation = 0;
  private everConnected = false;
  private failures = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private running: Promise<SessionEnd> | undefined;
  /** The nickname as the server stored it (after RFC 8266 preparation), once a room told us. */
  private stored: string | undefined;

  constructor(private readonly options: WebSessionOptions) {
    super();
    this.client = createClient(ChatService, options.transport);
    this.outbox = new Outbox(options.outboxCapacity ?? 1000);
    this.nextId = clientIds(options.nickname);
  }

  get nickname(): string {
    return this.stored ?? this.options.nickname;
  }

  get connected(): boolean {
    return this.conn?.established ?? false;
  }

  /** Rooms we are in or joining, in join order. */
  get roomNames(): string[] {
    return [...this.rooms.values()].filter((r) => r.wanted === "member").map((r) => r.name);
  }

  /** Messages not yet acknowledged, oldest first. */
  pending(room: string): OutgoingMessage[] {
    return this.outbox.forRoom(room);
  }

  start(): Promise<SessionEnd> {
    this.running ??= this.run().then((end) => {
      this.emit("closed", end);
      return end;
    });
    return this.running;
  }

  abort(): void {
    this.stopped = true;
    this.conn?.abort.abort();
    this.wake?.();
  }

  join(room: string): Result {
    const problem = checkRoom(room);
    if (problem) return { ok: false, reason: problem };
    const tracker = this.rooms.get(room);
    if (tracker?.wanted === "member") return { ok: false, reason: `already in #${room}` };
    if (tracker) {
      tracker.wanted = "member";
      return { ok: true };
    }
    const fresh = new RoomTracker(room);
    this.rooms.set(room, fresh);
    if (this.conn?.established) this.write(this.conn, { case: "join", value: fresh.joinCommand(this.options.nickname) });
    return { ok: true };
  }

  /** Leave a room once its queued messages are acknowledged. */
  leave(room: string): Result {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted === "leaving") return { ok: false, reason: `not in #${room}` };
    tracker.wanted = "leaving";
    this.leaveIfDone(tracker);
    return { ok: true };
  }

  /** Queue a message; it goes out as soon as the room is joined and caught up. */
  send(room: string, text: string): Result<{ id: string }> {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted !== "member") return { ok: false, reason: `not in #${room}; join it first` };
    if (text.trim().length === 0) return { ok: false, reason: "the message is empty" };
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > TEXT_MAX_BYTES) return { ok: false, reason: `the message is ${bytes} bytes; at most ${TEXT_MAX_BYTES} are allowed` };
    const entry = this.outbox.add(this.nextId(), room, text);
    if (!entry) return { ok: false, reason: `${this.outbox.capacity} messages are still waiting for the server; this one was not queued` };
    if (this.conn && tracker.isLive) this.writeSend(this.conn, entry);
    return { ok: true, id: entry.id };
  }

  /** The user is typing in a room: tell the others, at most every few seconds. */
  typing(room: string): void {
    const now = Date.now();
    if (!this.conn || !this.rooms.get(room)?.isLive || now - (this.lastTypingSent.get(room) ?? 0) < TYPING_SEND_INTERVAL_MS) return;
    this.lastTypingSent.set(room, now);
    this.write(this.conn, { case: "typing", value: { room } });
  }

  // ---- the connection loop -------------------------------------------------

  private async run(): Promise<SessionEnd> {
    for (;;) {
      if (this.stopped) return { ok: true };
      const conn = this.open();
      let reason: string;
      let retryable = true;
      try {
        for await (const frame of this.client.openSession({}, { signal: conn.abort.signal })) this.onFrame(conn, frame.events);
        reason = "the server ended the session";
      } catch (err) {
        if (this.stopped) return { ok: true };
        const e = ConnectError.from(err);
        reason = conn.failure ?? describeError(e);
        retryable = conn.failure !== undefined || isRetryable(e.code);
      } finally {
        this.closeConnection(conn);
      }
      if (!retryable) return { ok: false, message: reason };
      if (conn.established) this.emit("disconnected", { reason });
      this.failures++;
      const delayMs = backoffDelay(this.failures, this.options.backoff ?? defaultBackoff, this.options.random);
      this.emit("reconnecting", { attempt: this.failures, delayMs, reason });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private open(): Connection {
    const conn: Connection = {
      generation: ++this.generation,
      abort: new AbortController(),
      sessionId: undefined,
      queue: [],
      sending: false,
      established: false,
      lastReceivedAt: Date.now(),
      lastCommandAt: Date.now(),
      failure: undefined,
      watchdog: undefined,
      catchUpTimers: new Map(),
    };
    this.conn = conn;
    const idle = this.options.idleTimeoutMs ?? 45_000;
    const ping = this.options.pingIntervalMs ?? 15_000;
    conn.watchdog = setInterval(() => {
      const silent = Date.now() - conn.lastReceivedAt;
      if (silent >= idle) return this.fail(conn, `no word from the server for ${Math.round(silent / 1000)} s`);
      if (conn.established && Date.now() - conn.lastCommandAt >= ping) this.write(conn, { case: "ping", value: { nonce: "web-keepalive" } });
    }, Math.max(50, Math.min(idle, ping) / 3));
    return conn;
  }

  private closeConnection(conn: Connection): void {
    clearInterval(conn.watchdog);
    for (const timer of conn.catchUpTimers.values()) clearTimeout(timer);
    conn.abort.abort();
    if (this.conn === conn) this.conn = undefined;
    for (const room of this.rooms.values()) room.connectionLost();
    for (const room of this.typists.keys()) this.clearTyping(room);
  }

  private fail(conn: Connection, reason: string): void {
    if (conn.abort.signal.aborted) return;
    conn.failure = reason;
    conn.abort.abort();
  }

  // ---- incoming ------------------------------------------------------------

  private onFrame(conn: Connection, events: ServerEvent[]): void {
    if (this.conn !== conn) return;
    conn.lastReceivedAt = Date.now();
    for (const event of events) {
      if (this.conn !== conn) return;
      if (!conn.established) {
        if (event.event.case !== "session") return this.fail(conn, "the server did not start the session with its id");
        conn.sessionId = event.event.value.sessionId;
        conn.established = true;
        this.failures = 0;
        const reconnect = this.everConnected;
        this.everConnected = true;
        this.emit("connected", { reconnect });
        for (const room of [...this.rooms.values()]) {
          if (room.wanted === "leaving" && this.outbox.countForRoom(room.name) === 0) {
            this.rooms.delete(room.name); // the old session's end took us out already
            this.emit("roomLeft", room.name);
          } else {
            this.write(conn, { case: "join", value: room.joinCommand(this.options.nickname) });
          }
        }
        continue;
      }
      this.onEvent(conn, event);
    }
  }

  private onEvent(conn: Connection, event: ServerEvent): void {
    const e = event.event;
    switch (e.case) {
      case "joined":
        return this.onJoined(conn, event, e.value);
      case "message":
        return this.onMessage(conn, event, e.value);
      case "left": {
        const room = this.rooms.get(e.value.room);
        if (room?.wanted === "leaving") {
          this.rooms.delete(room.name);
          this.emit("event", event);
          this.emit("roomLeft", room.name);
        } else if (room) {
          this.write(conn, { case: "join", value: room.joinCommand(this.options.nickname) }); // asked to join again meanwhile
        }
        return;
      }
      case "error":
        return; // answered through the Command call that caused it
      case "typing":
        this.showTyping(e.value.room, e.value.nickname);
        return this.emit("event", event);
      default:
        if (e.case === "memberLeft") this.hideTyping(e.value.room, e.value.nickname);
        this.emit("event", event);
    }
  }

  private onJoined(conn: Connection, event: ServerEvent, j: JoinedEvent): void {
    const room = this.rooms.get(j.room);
    if (!room || room.phase !== "joining") return;
    this.stored = j.nickname;
    const outcome = room.onJoined(j);
    this.emit("event", event);
    if (outcome.epochReset) this.emit("notice", { level: "warn", text: `The history of #${j.room} was reset on the server; earlier messages are gone.` });
    if (outcome.truncated) this.emit("notice", { level: "warn", text: `Some messages in #${j.room} expired on the server before you could see them.` });
    if (room.isLive) this.onLive(conn, room);
    else this.armCatchUp(conn, room);
  }

  private onMessage(conn: Connection, event: ServerEvent, m: ChatMessage): void {
    const acked = this.ack(m);
    const room = this.rooms.get(m.room);
    const wasCatchingUp = room?.phase === "catching-up";
    if (!room || room.accept(m)) this.emit("event", event);
    if (m.sender !== "") this.hideTyping(m.room, m.sender);
    if (room && wasCatchingUp) {
      if (room.isLive) this.onLive(conn, room);
      else this.armCatchUp(conn, room);
    }
    if (acked && room) this.leaveIfDone(room);
  }

  /** Our message's copy (on the stream, or as the Command's answer): it is stored. */
  private ack(m: ChatMessage): boolean {
    if (!m.clientMsgId) return false;
    const entry = this.outbox.get(m.clientMsgId);
    if (!entry || entry.room !== m.room) return false;
    this.outbox.remove(entry.id);
    this.emit("ack", m);
    return true;
  }

  // ---- Command answers -----------------------------------------------------

  private onAnswer(conn: Connection, request: ChatRequest, answer: ServerEvent | undefined): void {
    const a = answer?.event;
    if (a?.case === "message") {
      const room = this.rooms.get(a.value.room);
      if (this.ack(a.value) && room) this.leaveIfDone(room);
      return;
    }
    if (a?.case !== "error") return;
    const e = a.value;
    if (e.command === CommandKind.SEND && e.clientMsgId) {
      const entry = this.outbox.get(e.clientMsgId);
      if (entry) this.sendRefused(conn, entry, e);
    } else if (e.command === CommandKind.JOIN && request.command.case === "join") {
      const room = this.rooms.get(request.command.value.room);
      if (room && room.phase === "joining") this.joinRefused(conn, room, e);
    } else if (e.command === CommandKind.LEAVE && e.code === ErrorCode.NOT_FOUND && e.room) {
      const room = this.rooms.get(e.room);
      if (room?.wanted === "leaving") {
        this.rooms.delete(room.name);
        this.emit("roomLeft", room.name);
      }
    } else if (e.command !== CommandKind.PING && e.command !== CommandKind.TYPING) {
      this.emit("commandError", e);
    }
  }

  private sendRefused(conn: Connection, entry: OutgoingMessage, e: ErrorEvent): void {
    const transient = e.code === ErrorCode.UNAVAILABLE || e.code === ErrorCode.RESOURCE_EXHAUSTED;
    if (transient && entry.refusals < MAX_SEND_REFUSALS) {
      entry.refusals++;
      entry.sentOn = undefined;
      const delayMs = 250 + backoffDelay(entry.refusals, { baseMs: 500, maxMs: 5000 }, this.options.random);
      this.emit("notice", { level: "warn", text: `Not accepted yet (${e.message}); retrying.` });
      setTimeout(() => {
        if (this.conn === conn && this.outbox.get(entry.id) === entry && this.rooms.get(entry.room)?.isLive) this.writeSend(conn, entry);
      }, delayMs);
      return;
    }
    this.outbox.remove(entry.id);
    this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason: e.message });
  }

  private joinRefused(conn: Connection, room: RoomTracker, e: ErrorEvent): void {
    // A rejoin can race the server noticing that our old session is gone (our nickname still held).
    const transient = e.code === ErrorCode.UNAVAILABLE || (room.everJoined && (e.code === ErrorCode.ALREADY_EXISTS || e.code === ErrorCode.RESOURCE_EXHAUSTED));
    if (transient && room.joinRefusals < MAX_JOIN_REFUSALS) {
      room.joinRefusals++;
      room.phase = "idle";
      setTimeout(() => {
        if (this.conn === conn && this.rooms.get(room.name) === room && room.phase === "idle") {
          this.write(conn, { case: "join", value: room.joinCommand(this.options.nickname) });
        }
      }, 500 + backoffDelay(room.joinRefusals + 1, this.options.backoff ?? defaultBackoff, this.options.random));
      return;
    }
    this.rooms.delete(room.name);
    for (const entry of this.outbox.forRoom(room.name)) {
      this.outbox.remove(entry.id);
      this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason: `could not join #${room.name}` });
    }
    this.emit("joinFailed", { room: room.name, code: e.code, message: e.message, initial: !room.everJoined });
  }

  // ---- outgoing --------------------------------------------------------------

  private onLive(conn: Connection, room: RoomTracker): void {
    clearTimeout(conn.catchUpTimers.get(room.name));
    conn.catchUpTimers.delete(room.name);
    for (const entry of this.outbox.forRoom(room.name)) if (entry.sentOn !== conn.generation) this.writeSend(conn, entry);
    this.leaveIfDone(room);
  }

  /** While a room replays, resends wait (their answers must not overtake the replay); a stalled replay is given up on. */
  private armCatchUp(conn: Connection, room: RoomTracker): void {
    clearTimeout(conn.catchUpTimers.get(room.name));
    conn.catchUpTimers.set(
      room.name,
      setTimeout(() => {
        conn.catchUpTimers.delete(room.name);
        if (this.conn !== conn || this.rooms.get(room.name) !== room || room.phase !== "catching-up") return;
        room.forceLive();
        this.onLive(conn, room);
      }, this.options.catchUpStallMs ?? 3000),
    );
  }

  private leaveIfDone(room: RoomTracker): void {
    if (!this.conn || room.wanted !== "leaving" || !room.isLive || this.outbox.countForRoom(room.name) > 0) return;
    room.phase = "leaving";
    this.write(this.conn, { case: "leave", value: { room: room.name } });
  }

  private writeSend(conn: Connection, entry: OutgoingMessage): void {
    entry.sentOn = conn.generation;
    this.write(conn, { case: "send", value: { room: entry.room, text: entry.text, clientMsgId: entry.id } });
  }

  private write(conn: Connection, command: MessageInitShape<typeof ChatRequestSchema>["command"]): void {
    if (this.conn !== conn) return;
    conn.queue.push(create(ChatRequestSchema, { command }));
    this.pump(conn);
  }

  /** One Command at a time: separate calls could overtake each other on the way. */
  private pump(conn: Connection): void {
    if (conn.sending || conn.sessionId === undefined || conn.abort.signal.aborted) return;
    const request = conn.queue.shift();
    if (!request) return;
    conn.sending = true;
    conn.lastCommandAt = Date.now();
    this.client
      .command(
        { sessionId: conn.sessionId, request },
        { signal: conn.abort.signal, timeoutMs: COMMAND_TIMEOUT_MS, headers: { [SESSION_HEADER]: conn.sessionId } },
      )
      .then(
        (res) => {
          conn.sending = false;
          if (this.conn !== conn) return;
          this.onAnswer(conn, request, res.event);
          this.pump(conn);
        },
        (err: unknown) => {
          conn.sending = false;
          // The session is gone or unreachable: reconnect, rejoin, resend.
          this.fail(conn, describeError(ConnectError.from(err)));
        },
      );
  }

  // ---- who is typing ---------------------------------------------------------

  private showTyping(room: string, nickname: string): void {
    let typists = this.typists.get(room);
    if (!typists) this.typists.set(room, (typists = new Map()));
    clearTimeout(typists.get(nickname));
    typists.set(nickname, setTimeout(() => this.hideTyping(room, nickname), this.options.typingShowMs ?? 5000));
    this.emitTyping(room);
  }

  private hideTyping(room: string, nickname: string): void {
    const typists = this.typists.get(room);
    if (!typists?.has(nickname)) return;
    clearTimeout(typists.get(nickname));
    typists.delete(nickname);
    this.emitTyping(room);
  }

  private clearTyping(room: string): void {
    for (const timer of this.typists.get(room)?.values() ?? []) clearTimeout(timer);
    this.typists.delete(room);
    this.emitTyping(room);
  }

  private emitTyping(room: string): void {
    this.emit("typing", { room, nicknames: [...(this.typists.get(room)?.keys() ?? [])] });
  }
}

/** Ids the server deduplicates by: a random part per page load, and a counter. */
function clientIds(nickname: string): () => string {
  const random = [...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const prefix = [...nickname.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "")].slice(0, 16).join("");
  let counter = 0;
  return () => {
    const id = `${prefix}-${random}-${++counter}`;
    return id.length <= 64 ? id : `${random}-${counter}`;
  };
}

/** Failures worth a reconnect: the server or the network, not a refusal of what we asked. */
function isRetryable(code: Code): boolean {
  return ![Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented, Code.FailedPrecondition].includes(code);
}

/** One line a person can read. */
export function describeError(e: ConnectError): string {
  const detail = e.rawMessage.split("\n")[0].trim();
  if (e.code === Code.Unavailable || /fetch|network|NetworkError|Load failed/i.test(detail)) return "the server cannot be reached";
  if (e.code === Code.Canceled) return "the connection was closed";
  if (e.code === Code.ResourceExhausted && /too slow/.test(detail)) return "the server dropped us for reading too slowly";
  return detail || `error ${Code[e.code] ?? e.code}`;
}
