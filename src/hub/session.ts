/**
 * One client stream's protocol state: which rooms it is in under which
 * nickname, what it still owes the client, and how it ends. It turns commands
 * into hub calls and refusals into error events; the transport only feeds it
 * decoded requests and carries its frames.
 */
import { CommandKind, ErrorCode, LeaveReason, type ChatRequest } from "../../gen/chat/v1/chat_pb.js";
import type { StoredMessage } from "../store/history-store.js";
import { CommandError, invalid, exhausted } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import * as events from "./events.js";
import type { Hub } from "./hub.js";
import type { Membership } from "./room.js";
import { TokenBucket } from "./token-bucket.js";
import { SubscriberQueue, type FrameSink, type QueueScheduler } from "./subscriber-queue.js";
import type { EncodedEvent } from "./wire.js";
import { checkId, checkNickname, checkRoom, checkText } from "./validate.js";

/** What a session needs from its transport: write frames, and end the stream once. */
export interface SessionTransport extends FrameSink {
  end(reason: DisconnectReason): void;
}

const leaveReasonFor: Record<DisconnectReason["kind"], LeaveReason> = {
  finished: LeaveReason.DISCONNECTED,
  "client-gone": LeaveReason.DISCONNECTED,
  "too-slow": LeaveReason.TOO_SLOW,
  "server-full": LeaveReason.DISCONNECTED,
  shutdown: LeaveReason.SHUTDOWN,
  "rate-limited": LeaveReason.DISCONNECTED,
  unauthenticated: LeaveReason.DISCONNECTED,
  internal: LeaveReason.DISCONNECTED,
};

export class Session {
  readonly queue: SubscriberQueue;
  /** Joined rooms by name. */
  private readonly memberships = new Map<string, Membership>();
  /** Messages accepted from this client and not yet acknowledged. */
  unacked = 0;
  private readonly bucket: TokenBucket;
  private rateViolations = 0;
  private inputEnded = false;
  private shuttingDown = false;
  private ended = false;

  constructor(
    private readonly hub: Hub,
    readonly id: number,
    private readonly transport: SessionTransport,
    scheduler: QueueScheduler,
    /** Authenticated subject: when set, the only nickname this client may use. */
    readonly identity?: string,
  ) {
    this.queue = new SubscriberQueue(transport, hub.limits, scheduler, (detail) => {
      hub.observer.droppedTooSlow();
      this.end(Disconnect.tooSlow(detail));
    });
    this.queue.onEmpty = () => this.onQueueEmpty();
    this.bucket = new TokenBucket(hub.limits.rateLimitPerSec, hub.limits.rateBurst);
  }

  get rooms(): ReadonlyMap<string, Membership> {
    return this.memberships;
  }

  /** Handle one client command. Never throws: refusals become error events. */
  handle(req: ChatRequest): void {
    if (this.ended || this.inputEnded) return;
    const command = req.command;
    const ctx: events.ErrorContext = { requestId: req.requestId, command: kindOf(command.case) };
    this.hub.observer.commandReceived();
    if (!this.withinRate()) {
      if (this.ended) return;
      ctx.room = "room" in (command.value ?? {}) ? (command.value as { room: string }).room : undefined;
      const limit = this.hub.limits.rateLimitPerSec;
      this.queue.push(events.errorEvent(ErrorCode.RESOURCE_EXHAUSTED, `rate limit: at most ${limit} commands per second; slow down`, ctx));
      return;
    }
    try {
      const idProblem = checkId("request_id", req.requestId);
      if (idProblem) throw invalid(idProblem);
      switch (command.case) {
        case "join":
          ctx.room = command.value.room;
          return this.join(command.value.room, command.value.nickname, command.value.afterSeq, command.value.epoch);
        case "leave":
          ctx.room = command.value.room;
          return this.leave(command.value.room);
        case "send":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientMsgId;
          return this.send(command.value.room, command.value.text, command.value.clientMsgId);
        case "ping":
          return this.ping(command.value.nonce);
        case "typing":
          ctx.room = command.value.room;
          return this.hub.typing(this.membership(command.value.room));
        default:
          throw invalid("request has no command set (expected one of join, leave, send, ping, typing)");
      }
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      this.queue.push(events.errorEvent(err.code, err.message, ctx));
    }
  }

  /** Take a token; a client that keeps hammering past the limit is disconnected. */
  private withinRate(): boolean {
    if (this.bucket.take()) {
      this.rateViolations = 0;
      return true;
    }
    this.hub.observer.rateLimited();
    if (++this.rateViolations > this.hub.limits.maxRateViolations) {
      this.end(Disconnect.rateLimited(this.hub.limits.rateLimitPerSec));
    }
    return false;
  }

  /** The client half-closed: send what it is still owed, then end with a clean status. */
  endInput(): void {
    this.inputEnded = true;
    this.finishIfDone();
  }

  /** The transport is gone: leave every room; nothing more can be written. */
  transportClosed(): void {
    this.end(Disconnect.clientGone());
  }

  /** End the session for a reason decided outside the hub (e.g. a server bug). */
  abort(reason: DisconnectReason): void {
    this.end(reason);
  }

  /** Hub is shutting down: say so, then end once the notice is written. */
  shutdown(notice: EncodedEvent): void {
    if (this.ended) return;
    this.shuttingDown = true;
    this.leaveAll(LeaveReason.SHUTDOWN);
    this.queue.push(notice);
  }

  /** One of this client's messages was stored and fanned out. */
  acknowledged(): void {
    this.unacked--;
    if (this.inputEnded && this.unacked === 0) this.finishIfDone();
  }

  /** One of this client's messages could not be stored. */
  rejected(message: StoredMessage, reason: string): void {
    this.unacked--;
    this.queue.push(
      events.errorEvent(ErrorCode.UNAVAILABLE, reason, {
        command: CommandKind.SEND,
        room: message.room,
        clientMsgId: message.clientMsgId,
      }),
    );
  }

  private join(room: string, requested: string, afterSeq: bigint | undefined, epoch: string): void {
    const nickname = this.nicknameFor(requested);
    const problem = checkRoom(room) ?? checkNickname(nickname) ?? checkId("epoch", epoch);
    if (problem) throw invalid(problem);
    if (this.memberships.has(room)) {
      throw new CommandError(ErrorCode.ALREADY_EXISTS, `already joined room ${room} on this stream`);
    }
    if (this.memberships.size >= this.hub.limits.maxRoomsPerSession) {
      throw exhausted(`at most ${this.hub.limits.maxRoomsPerSession} rooms per stream; leave one first`);
    }
    const after = afterSeq === undefined ? undefined : Number(afterSeq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : afterSeq);
    this.memberships.set(room, this.hub.join(this, { room, nickname, afterSeq: after, epoch }));
  }

  /** Signed-in clients are their token's subject; an empty nickname means "my identity". */
  private nicknameFor(requested: string): string {
    if (this.identity === undefined) return requested;
    if (requested !== "" && requested !== this.identity) {
      throw new CommandError(ErrorCode.PERMISSION_DENIED, `signed in as "${this.identity}": cannot join as "${requested}"`);
    }
    return this.identity;
  }

  private leave(room: string): void {
    const member = this.membership(room);
    this.memberships.delete(room);
    this.hub.leave(member, LeaveReason.LEFT);
    this.queue.push(events.leftEvent(room));
  }

  private send(room: string, text: string, clientMsgId: string): void {
    const member = this.membership(room);
    const problem = checkText(text) ?? checkId("client_msg_id", clientMsgId);
    if (problem) throw invalid(problem);
    this.hub.post(member, text, clientMsgId);
  }

  private ping(nonce: string): void {
    const problem = checkId("nonce", nonce);
    if (problem) throw invalid(problem);
    this.queue.push(events.heartbeatEvent(Date.now(), nonce));
  }

  private membership(room: string): Membership {
    const member = this.memberships.get(room);
    if (!member) {
      const problem = checkRoom(room);
      if (problem) throw invalid(problem);
      throw new CommandError(ErrorCode.NOT_FOUND, `not a member of room ${room}; join it first`);
    }
    return member;
  }

  private onQueueEmpty(): void {
    for (const member of this.memberships.values()) {
      if (!member.live) this.hub.continueReplay(member);
    }
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.ended) return;
    if (this.shuttingDown && this.queue.isIdle) return this.end(Disconnect.shutdown());
    if (this.inputEnded && this.unacked === 0 && this.queue.isIdle) this.end(Disconnect.finished());
  }

  private leaveAll(reason: LeaveReason): void {
    for (const member of this.memberships.values()) this.hub.leave(member, reason);
    this.memberships.clear();
  }

  private end(reason: DisconnectReason): void {
    if (this.ended) return;
    this.ended = true;
    this.leaveAll(leaveReasonFor[reason.kind]);
    this.queue.close();
    this.hub.forget(this);
    if (reason.kind !== "client-gone") this.transport.end(reason);
  }
}

function kindOf(c: ChatRequest["command"]["case"]): CommandKind {
  switch (c) {
    case "join":
      return CommandKind.JOIN;
    case "leave":
      return CommandKind.LEAVE;
    case "send":
      return CommandKind.SEND;
    case "ping":
      return CommandKind.PING;
    case "typing":
      return CommandKind.TYPING;
    default:
      return CommandKind.UNSPECIFIED;
  }
}
