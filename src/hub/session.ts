/**
 * One client stream's protocol state: which rooms it is in under which
 * nickname, what it still owes the client, and how it ends. It turns commands
 * into hub calls and refusals into error events; the transport only feeds it
 * decoded requests and carries its frames.
 *
 * Commands run in the order they arrive. A join takes a moment (the room log
 * decides on the nickname, history is read): commands that arrive meanwhile
 * wait (a bounded number) and run after it, so "join, then send" works when
 * sent back to back.
 */
import {
  CommandKind,
  ErrorCode,
  LeaveReason,
  type ChatRequest,
  type SendCommand,
} from "../../gen/chat/v1/chat_pb.js";
import { LogUnavailableError, type ActRequest, type PublishOutcome } from "../log/room-log.js";
import type { RoomStateData } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import { grantIn, type SessionIdentity } from "./caller.js";
import { CommandError, exhausted, invalid } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import type { HubLimits } from "./limits.js";
import { Membership, type MemberOwner } from "./membership.js";
import { prepareNickname, type PreparedNickname } from "./nickname.js";
import type { ActAnswer } from "./room-actions.js";
import type { ChangeRequest } from "../log/message-changes.js";
import { MessageChanges, safeSeq, type ChangeAnswer } from "./message-changes.js";
import { RoomCommands, type JoinRequest } from "./room-commands.js";
import { Reactions } from "./reactions.js";
import type { ReactRequest } from "../log/reactions.js";
import type { DirectNotify } from "./direct-notices.js";
import type { HubObserver } from "./observer.js";
import { hashResumeToken, newResumeToken } from "./resume-token.js";
import { SubscriberQueue, type FrameSink, type QueueOwner, type QueueScheduler } from "./subscriber-queue.js";
import { TokenBucket } from "./token-bucket.js";
import { checkId, checkRoom, checkText } from "./validate.js";
import { checkMentions } from "./mentions.js";

/**
 * Told how one command was answered: with the event that answered it (it is
 * also queued for the stream), or with nothing (typing). Transports whose
 * commands arrive as separate calls (the browser gateway's Command RPC)
 * answer each call with it.
 */
export type CommandReply = (answer: EncodedEvent | undefined) => void;

interface PendingCommand {
  req: ChatRequest;
  reply: CommandReply | undefined;
}

/** What a session needs from its transport: write frames, and end the stream once. */
export interface SessionTransport extends FrameSink {
  end(reason: DisconnectReason): void;
}

export interface JoinOptions {
  /** Resume position: replay stored messages after this sequence number. */
  afterSeq?: number;
  /** The epoch afterSeq belongs to; empty when unknown. */
  epoch: string;
  /** The resume token issued to this membership (its hash is in the membership's record). */
  resumeToken: string;
  /** Hash of the resume token the client presented: take over the membership it proves, if it still holds the nickname. */
  resumeTokenHash?: string;
}

/** What a session needs from the hub (the hub implements it). */
/** What a send may carry besides its text. */
export interface SendExtras {
  /** The message it replies to. */
  replyToSeq?: number;
  /** User ids it mentions (checked: mentions.ts checkMentions). */
  mentions?: readonly string[];
}

export interface SessionHost {
  readonly limits: HubLimits;
  readonly observer: HubObserver;
  readonly scheduler: QueueScheduler;
  /** Refusing new work: the server is shutting down. */
  readonly closing: boolean;
  /** Join a room; resolves with the refusal or the joined event once it is queued (undefined if the session ended first). */
  join(membership: Membership, options: JoinOptions): Promise<CommandError | EncodedEvent | undefined>;
  leave(membership: Membership, reason: LeaveReason): void;
  /** Change a member's nickname; resolves with the refusal or the renamed event once it is queued for the others. */
  rename(membership: Membership, next: PreparedNickname): Promise<CommandError | EncodedEvent>;
  /** Publish; `onDelivered` is called with the message's event once it has been fanned out here. */
  publish(membership: Membership, text: string, clientMsgId: string, onDelivered?: (event: EncodedEvent) => void, extras?: SendExtras): Promise<PublishOutcome>;
  /** Move the member's read position (read-marks.ts); resolves with the answer's event or a refusal. */
  markRead(membership: Membership, seq: bigint): Promise<CommandError | EncodedEvent>;
  /** Edit or delete a message through its room's log: the change's entry, or the refusal. */
  change(request: ChangeRequest): Promise<CommandError | ChangeAnswer>;
  /** React to a message through its room's log: the reaction's entry (or the target, for a no-op), or the refusal. */
  react(request: ReactRequest): Promise<CommandError | ChangeAnswer>;
  typing(membership: Membership): void;
  /** Change a room's state through its log: the action's entry, or the refusal. */
  act(request: ActRequest): Promise<CommandError | ActAnswer>;
  roomState(room: string): Promise<RoomStateData | undefined>;
  /** Tell the other user that a direct conversation with them was created (direct-notices.ts). */
  readonly directNotify: DirectNotify;
  /** Called once the session has ended. */
  forget(session: Session): void;
}

const leaveReasonFor: Record<DisconnectReason["kind"], LeaveReason> = {
  // A stream that half-closed and was finished cleanly left on purpose.
  finished: LeaveReason.LEFT,
  "client-gone": LeaveReason.DISCONNECTED,
  "too-slow": LeaveReason.TOO_SLOW,
  "server-full": LeaveReason.DISCONNECTED,
  shutdown: LeaveReason.SHUTDOWN,
  "rate-limited": LeaveReason.DISCONNECTED,
  malformed: LeaveReason.DISCONNECTED,
  unauthenticated: LeaveReason.DISCONNECTED,
  "disconnected-by-admin": LeaveReason.DISCONNECTED_BY_ADMIN,
  "history-reset": LeaveReason.DISCONNECTED,
  internal: LeaveReason.DISCONNECTED,
};

export class Session implements MemberOwner, QueueOwner {
  readonly queue: SubscriberQueue;
  /** Rooms joined or being joined (at most maxRoomsPerSession: an array is smaller than a Map). */
  private memberships: Membership[] = [];
  /** Messages accepted from this client whose copy has not been fanned out yet. */
  private unacked = 0;
  private readonly bucket: TokenBucket;
  private rateViolations = 0;
  private malformedInARow = 0;
  /** A command (a join) is still running; later ones wait in `waiting`. */
  private busy = false;
  private waiting: PendingCommand[] | undefined;
  private inputEnded = false;
  /** Made at the session's first room command (moderate, create, open a DM), like `changes`. */
  private commands: RoomCommands | undefined;
  /** Made at a session's first edit, delete or reaction: most sessions never make one, and each session costs memory. */
  private changes: { messageChanges: MessageChanges; reactions: Reactions } | undefined;
  private roomsAtEnd: string[] | undefined;
  private shuttingDown = false;
  private ended = false;

  constructor(
    private readonly hub: SessionHost,
    readonly id: number,
    private readonly transport: SessionTransport,
    /** Authenticated subject (the only nickname this client may use, and its user id) and its room grants. */
    readonly identity?: SessionIdentity,
  ) {
    this.queue = new SubscriberQueue(transport, hub.limits, hub.scheduler, this);
    this.bucket = new TokenBucket(hub.limits.rateLimitPerSec, hub.limits.rateBurst);
  }

  private get roomCommands(): RoomCommands {
    return (this.commands ??= this.makeRoomCommands());
  }

  private makeRoomCommands(): RoomCommands {
    return new RoomCommands(this.hub, {
      self: this,
      identity: this.identity,
      ended: () => this.ended,
      answer: (reply, event) => this.answer(reply, event),
      nicknameIn: (room) => {
        const m = this.find(room);
        return m && !m.isGone ? m.nickname : undefined;
      },
      checkJoin: (join) => this.checkJoin(join),
      startJoin: (join, prepared, ctx, reply) => this.startJoin(join, prepared, ctx, reply),
      abort: (reason) => this.abort(reason),
    });
  }

  private get messageChanges(): MessageChanges {
    return (this.changes ??= this.makeChanges()).messageChanges;
  }

  private get reactions(): Reactions {
    return (this.changes ??= this.makeChanges()).reactions;
  }

  private makeChanges(): { messageChanges: MessageChanges; reactions: Reactions } {
    const changeSession = {
      membership: (room: string) => this.membership(room),
      answer: (reply: CommandReply | undefined, event: EncodedEvent) => this.answer(reply, event),
      abort: (reason: DisconnectReason) => this.abort(reason),
    };
    return { messageChanges: new MessageChanges(this.hub, changeSession), reactions: new Reactions(this.hub, changeSession) };
  }

  /** Rooms and nicknames ("room:nickname"), for logs; after the end, those it had when it ended. */
  describeRooms(): string[] {
    return this.roomsAtEnd ?? this.memberships.filter((m) => m.state !== "gone").map((m) => `${m.room}:${m.nickname}`);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Handle one client command. Never throws: refusals become error events (and replies). */
  handle(req: ChatRequest, reply?: CommandReply): void {
    if (this.ended || this.inputEnded) return;
    this.hub.observer.commandReceived();
    this.malformedInARow = 0;
    if (!this.withinRate()) {
      if (this.ended) return;
      const value = req.command.value as { room?: string; clientMsgId?: string } | undefined;
      const limit = this.hub.limits.rateLimitPerSec;
      // The send's id too, so the client knows which message to send again.
      const ctx = { requestId: req.requestId, command: kindOf(req.command.case), room: value?.room, clientMsgId: value?.clientMsgId };
      this.answer(reply, events.errorEvent(ErrorCode.RESOURCE_EXHAUSTED, `rate limit: at most ${limit} commands per second; slow down`, ctx));
      return;
    }
    if (this.busy) {
      if ((this.waiting?.length ?? 0) >= this.hub.limits.maxWaitingCommands) {
        const ctx = { requestId: req.requestId, command: kindOf(req.command.case) };
        this.answer(reply, events.errorEvent(ErrorCode.RESOURCE_EXHAUSTED, "too many commands waiting for a join to finish; slow down", ctx));
        return;
      }
      (this.waiting ??= []).push({ req, reply });
      return;
    }
    this.run(req, reply);
  }

  /** A request that could not be decoded: answered, counted like any command, and not tolerated for long. */
  handleMalformed(reason: string): void {
    if (this.ended || this.inputEnded) return;
    this.hub.observer.commandReceived();
    if (!this.withinRate() || this.ended) {
      if (!this.ended) {
        const limit = this.hub.limits.rateLimitPerSec;
        this.queue.push(events.errorEvent(ErrorCode.RESOURCE_EXHAUSTED, `rate limit: at most ${limit} commands per second; slow down`, {}));
      }
      return;
    }
    if (++this.malformedInARow > this.hub.limits.maxMalformedRequests) {
      return this.end(Disconnect.malformed(this.hub.limits.maxMalformedRequests));
    }
    this.queue.push(events.errorEvent(ErrorCode.INVALID_ARGUMENT, `request could not be decoded: ${reason}`, {}));
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

  /** End the session for a reason decided outside the hub (e.g. a server bug, an expired token). */
  abort(reason: DisconnectReason): void {
    this.end(reason);
  }

  /** Hub is shutting down: say so, then end once the notice is written. */
  shutdown(notice: EncodedEvent): void {
    if (this.ended) return;
    this.shuttingDown = true;
    this.waiting = undefined;
    this.roomsAtEnd = this.describeRooms();
    this.leaveAll(LeaveReason.SHUTDOWN);
    this.queue.push(notice);
    this.finishIfDone();
  }

  acknowledged(): void {
    this.unacked--;
    if (this.unacked === 0) this.finishIfDone();
  }

  /** Memberships not yet live (joins and replays under way). */
  private get settling(): boolean {
    for (const m of this.memberships) if (m.state !== "live" && m.state !== "gone") return true;
    return false;
  }

  /** Queue an event for the client, and give it to the command's reply if there is one. */
  private answer(reply: CommandReply | undefined, event: EncodedEvent): void {
    this.queue.push(event);
    reply?.(event);
  }

  private run(req: ChatRequest, reply: CommandReply | undefined): void {
    const pending = this.execute(req, reply);
    if (!pending) return;
    this.busy = true;
    void pending.then(() => {
      this.busy = false;
      while (!this.busy && !this.ended && this.waiting !== undefined && this.waiting.length > 0) {
        const next = this.waiting.shift()!;
        this.run(next.req, next.reply);
      }
      this.finishIfDone();
    });
  }

  /** Carry out one command; a join returns the promise of its end. */
  private execute(req: ChatRequest, reply: CommandReply | undefined): Promise<void> | undefined {
    const command = req.command;
    const ctx: events.ErrorContext = { requestId: req.requestId, command: kindOf(command.case) };
    try {
      const idProblem = checkId("request_id", req.requestId);
      if (idProblem) throw invalid(idProblem);
      switch (command.case) {
        case "join":
          ctx.room = command.value.room;
          return this.join(command.value, ctx, reply);
        case "rename":
          ctx.room = command.value.room;
          return this.rename(command.value.room, command.value.nickname, ctx, reply);
        case "leave":
          ctx.room = command.value.room;
          return this.leave(command.value.room, reply);
        case "send":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientMsgId;
          return this.send(command.value, ctx, reply);
        case "editMessage":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientMsgId;
          return this.messageChanges.edit(command.value, ctx, reply);
        case "deleteMessage":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientMsgId;
          return this.messageChanges.delete(command.value, ctx, reply);
        case "react":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientMsgId;
          return this.reactions.react(command.value, ctx, reply);
        case "ping":
          return this.ping(command.value.nonce, reply);
        case "typing":
          ctx.room = command.value.room;
          this.hub.typing(this.membership(command.value.room));
          reply?.(undefined);
          return undefined;
        case "moderate":
          ctx.room = command.value.room;
          ctx.clientMsgId = command.value.clientActionId;
          return this.roomCommands.moderate(command.value, ctx, reply);
        case "createRoom":
          ctx.room = command.value.room;
          return this.roomCommands.createRoom(command.value, ctx, reply);
        case "openDirect":
          return this.roomCommands.openDirect(command.value, ctx, reply);
        case "markRead":
          ctx.room = command.value.room;
          return this.markRead(command.value.room, command.value.seq, ctx, reply);
        default:
          throw invalid(
            "request has no command set (expected one of join, leave, send, ping, typing, rename, create_room, moderate, open_direct, edit_message, delete_message, mark_read, react)",
          );
      }
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      this.answer(reply, events.errorEvent(err.code, err.message, ctx));
      return undefined;
    }
  }

  /** Move this user's read position (signed in only); answered once the log has it, without holding later commands. */
  private markRead(room: string, seq: bigint, ctx: events.ErrorContext, reply: CommandReply | undefined): undefined {
    const member = this.membership(room);
    if (this.identity === undefined) {
      throw new CommandError(ErrorCode.FAILED_PRECONDITION, "read positions are kept for signed-in users, and this server runs without authentication");
    }
    this.hub.markRead(member, seq).then(
      (outcome) => this.answer(reply, outcome instanceof CommandError ? events.errorEvent(outcome.code, outcome.message, ctx) : outcome),
      () => this.abort(Disconnect.internal()),
    );
    return undefined;
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

  private join(command: JoinRequest, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    return this.startJoin(command, this.checkJoin(command), ctx, reply);
  }

  /** Check a join before anything happens; returns the nickname to claim. */
  private checkJoin(command: JoinRequest): PreparedNickname {
    const { room, epoch } = command;
    const roomProblem = checkRoom(room);
    if (roomProblem) throw invalid(roomProblem);
    const prepared = prepareNickname(this.nicknameFor(command.nickname));
    if (!prepared.ok) throw invalid(prepared.reason);
    const epochProblem = checkId("epoch", epoch) ?? checkId("resume_token", command.resumeToken);
    if (epochProblem) throw invalid(epochProblem);
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; join again after reconnecting");
    if (this.find(room)) throw new CommandError(ErrorCode.ALREADY_EXISTS, `already joined room ${room} on this stream`);
    if (this.memberships.length >= this.hub.limits.maxRoomsPerSession) {
      throw exhausted(`at most ${this.hub.limits.maxRoomsPerSession} rooms per stream; leave one first`);
    }
    return prepared;
  }

  private startJoin(command: JoinRequest, prepared: PreparedNickname, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const { room, afterSeq, epoch } = command;
    // Recorded before anything else: if this session ends from here on, end() finds it and undoes it.
    // Every join gets a fresh token; the log keeps its hash as part of the membership's identity.
    const resumeToken = newResumeToken();
    const userId = this.identity?.subject ?? prepared.nickname;
    // Signed in, the membership is the user's: every session of theirs shares it (MemberRecord.shared).
    const shared = this.identity !== undefined;
    const record = { nickname: prepared.nickname, skeleton: prepared.skeleton, joinedAtMs: Date.now(), tokenHash: hashResumeToken(resumeToken), userId, shared };
    const membership = new Membership(this, room, record, grantIn(this.identity, room));
    // The first room as a one-element array: a push onto an empty one reserves room for 17.
    if (this.memberships.length === 0) this.memberships = [membership];
    else this.memberships.push(membership);
    const after = afterSeq === undefined ? undefined : Number(afterSeq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : afterSeq);
    const resumeTokenHash = command.resumeToken === "" ? undefined : hashResumeToken(command.resumeToken);
    return this.hub.join(membership, { afterSeq: after, epoch, resumeToken, resumeTokenHash }).then((outcome) => {
      if (outcome === undefined) return;
      if (!(outcome instanceof CommandError)) {
        reply?.(outcome); // the joined event, already queued by the hub
        return;
      }
      this.forgetMembership(membership);
      this.answer(reply, events.errorEvent(outcome.code, outcome.message, ctx));
    });
  }

  /**
   * The display name to join (or rename) under. Without authentication the
   * nickname is the client's identity. Signed in, the user id is the token's
   * subject whatever the name, so a name is only a label: the one asked for,
   * else the token's name claim, else the subject when it is a usable nickname.
   */
  private nicknameFor(requested: string): string {
    if (this.identity === undefined || requested !== "") return requested;
    const fallback = this.identity.name ?? this.identity.subject;
    if (!prepareNickname(fallback).ok) {
      throw invalid(`signed in as a user id that is not a usable nickname and your token has no name claim: join with a nickname`);
    }
    return fallback;
  }

  /** Change nickname in one room; the log decides (uniqueness by look-alike key), atomically. */
  private rename(room: string, requested: string, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> | undefined {
    const member = this.membership(room);
    const prepared = prepareNickname(this.nicknameFor(requested));
    if (!prepared.ok) throw invalid(prepared.reason);
    if (prepared.nickname === member.nickname) {
      this.answer(reply, events.memberRenamedEvent(room, member.nickname, member.nickname));
      return undefined;
    }
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; rename after reconnecting");
    return this.hub.rename(member, prepared).then((outcome) => {
      if (outcome instanceof CommandError) this.answer(reply, events.errorEvent(outcome.code, outcome.message, ctx));
      // Gone meanwhile (left, replaced, ended): the rename is moot, but every command gets an answer.
      else if (member.isGone) this.answer(reply, events.errorEvent(ErrorCode.NOT_FOUND, `not a member of room ${room} any more`, ctx));
      else this.answer(reply, outcome);
    });
  }

  /** A moderation action (or the room's deletion) removed one of our memberships: it is gone here. */
  membershipEnded(membership: Membership, reason: LeaveReason): void {
    this.forgetMembership(membership);
    if (!this.ended) this.queue.push(events.leftEvent(membership.room, reason));
    this.finishIfDone();
  }

  /** Another stream took one of our memberships over (the same user, reconnected): it is gone here. */
  membershipReplaced(membership: Membership): void {
    this.forgetMembership(membership);
    if (!this.ended) this.queue.push(events.leftEvent(membership.room, LeaveReason.REPLACED));
  }

  private leave(room: string, reply: CommandReply | undefined): undefined {
    const member = this.membership(room);
    this.forgetMembership(member);
    this.hub.leave(member, LeaveReason.LEFT);
    this.answer(reply, events.leftEvent(room));
    return undefined;
  }

  private send(command: SendCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): undefined {
    const { room, text, clientMsgId, replyToSeq } = command;
    const member = this.membership(room);
    const problem = checkText(text) ?? checkId("client_msg_id", clientMsgId);
    if (problem) throw invalid(problem);
    const mentions = checkMentions(command.mentions);
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; the message was not stored, send it again after reconnecting");
    this.unacked++;
    this.hub.observer.messageAccepted();
    const extras = { ...(replyToSeq > 0n ? { replyToSeq: safeSeq(replyToSeq) } : {}), ...(mentions.length > 0 ? { mentions } : {}) };
    this.hub.publish(member, text, clientMsgId, reply, extras).then(
      (outcome) => {
        if (outcome.kind === "stored") return; // acknowledged when its copy is fanned out (the hub tells us)
        if (outcome.kind === "duplicate") this.answer(reply, events.messageEvent(outcome.original));
        // The room's state refused the sender (banned, muted, no longer a member of a private room).
        else if (outcome.kind === "refused") this.answer(reply, events.errorEvent(outcome.code, outcome.message, ctx));
        else this.answer(reply, events.errorEvent(ErrorCode.ALREADY_EXISTS, `client_msg_id "${clientMsgId}" was already used for another message; use a new id`, ctx));
        this.acknowledged();
      },
      (err) => {
        const why = err instanceof LogUnavailableError ? err.message : "storage error";
        // A timeout does not prove the message was not stored: the resend with the same id is what makes it safe.
        this.answer(reply, events.errorEvent(ErrorCode.UNAVAILABLE, `message not confirmed (${why}); resend it with the same client_msg_id (it is stored at most once)`, ctx));
        this.acknowledged();
      },
    );
    return undefined;
  }

  private ping(nonce: string, reply: CommandReply | undefined): undefined {
    const problem = checkId("nonce", nonce);
    if (problem) throw invalid(problem);
    this.answer(reply, events.heartbeatEvent(Date.now(), nonce));
    return undefined;
  }

  private membership(room: string): Membership {
    const member = this.find(room);
    if (!member || member.state === "gone") {
      const problem = checkRoom(room);
      if (problem) throw invalid(problem);
      throw new CommandError(ErrorCode.NOT_FOUND, `not a member of room ${room}; join it first`);
    }
    return member;
  }

  private find(room: string): Membership | undefined {
    for (const m of this.memberships) if (m.room === room) return m;
    return undefined;
  }

  private forgetMembership(membership: Membership): void {
    const i = this.memberships.indexOf(membership);
    if (i >= 0) this.memberships.splice(i, 1);
  }

  /** QueueOwner: the client reads too slowly (or not at all). */
  queueOverflowed(detail: string): void {
    this.hub.observer.droppedTooSlow();
    this.end(Disconnect.tooSlow(detail));
  }

  /** QueueOwner: everything queued is written. */
  queueIdle(): void {
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.ended) return;
    if (this.shuttingDown) {
      if (this.queue.isIdle) this.end(Disconnect.shutdown());
      return;
    }
    if (this.inputEnded && !this.busy && this.unacked === 0 && !this.settling && this.queue.isIdle) this.end(Disconnect.finished());
  }

  private leaveAll(reason: LeaveReason): void {
    const all = this.memberships;
    this.memberships = [];
    for (const member of all) this.hub.leave(member, reason);
  }

  private end(reason: DisconnectReason): void {
    if (this.ended) return;
    this.roomsAtEnd ??= this.describeRooms();
    this.ended = true;
    this.waiting = undefined;
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
    case "rename":
      return CommandKind.RENAME;
    case "createRoom":
      return CommandKind.CREATE_ROOM;
    case "moderate":
      return CommandKind.MODERATE;
    case "openDirect":
      return CommandKind.OPEN_DIRECT;
    case "editMessage":
      return CommandKind.EDIT_MESSAGE;
    case "deleteMessage":
      return CommandKind.DELETE_MESSAGE;
    case "markRead":
      return CommandKind.MARK_READ;
    case "react":
      return CommandKind.REACT;
    default:
      return CommandKind.UNSPECIFIED;
  }
}
