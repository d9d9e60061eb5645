/**
 * The client side of one chat identity, for every front end (the terminal
 * client; a browser page): the rooms it is in, where it is in each room's
 * history, the messages the server has not acknowledged yet, and who is
 * typing. It talks to the server through a SessionTransport (the gRPC Chat
 * stream, or OpenSession + Command) and keeps a connection open through
 * ConnectionLoop. No Node built-ins: it runs in a browser bundle.
 *
 * Durability model. The server acknowledges a message by broadcasting it back
 * with our client_msg_id, and deduplicates resends by (room, nickname,
 * client_msg_id). So every message stays in the outbox until its broadcast
 * copy arrives. When the connection drops, a new one rejoins every room with
 * after_seq/epoch from what we saw last (the server replays what we missed,
 * then goes live), and once a room has caught up its outbox goes out again
 * with the same ids. Replayed messages already seen are dropped by
 * (room, seq). Front ends call join/leave/send/typing/changeNickname/finish
 * and render the events this class emits. Edits and deletes (edit,
 * deleteMessage) go through the outbox like messages; the change entries
 * that come back are applied to the room's kept messages (message-changes.ts)
 * and announced with messageChanged. Reactions (react, unreact) go the same
 * way; reaction entries update the kept messages' counts (reactions.ts) and
 * are announced with reactionChanged. Rooms with state (create, moderate,
 * direct messages, a joined room's topic and our role) are room-admin.ts's,
 * wired in here.
 *
 * A room we are removed from (kicked, banned, deleted, or by the service) is
 * left for good: it is not rejoined, on this connection or the next.
 */
import {
  CommandKind,
  ErrorCode,
  LeaveReason,
  RoomVisibility,
  type ChatMessage,
  type ErrorEvent,
  type JoinedEvent,
  type RoomInfo,
  type ServerEvent,
} from "../../gen/chat/v1/chat_pb.js";
import { checkId, checkRoom, checkText } from "../hub/validate.js";
import { backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
import { clientIdGenerator } from "./client-ids.js";
import {
  ConnectionLoop,
  ListenerError,
  type Connection,
  type Disconnected,
  type LoopOptions,
  type Reconnecting,
  type SessionEnd,
} from "./connection-loop.js";
import { Emitter } from "./emitter.js";
import { MessageBook, type MessageChanged } from "./message-changes.js";
import { Outbox, type OutgoingMessage, type QueuedChange, type QueuedReaction } from "./outbox.js";
import { Pacer } from "./pacer.js";
import { applyReaction, checkEmoji, copyCounts, isReaction, type ReactionChanged } from "./reactions.js";
import {
  RoomAdmin,
  RoomCommandError,
  isMutedNow,
  type CreateRoomOptions,
  type RoomActionInit,
  type RoomLister,
  type RoomStateView,
} from "./room-admin.js";
import { ReadState, checkMentions, mentionOf, type Mention, type ReadPosition } from "./read-state.js";
import { ReceiptBook, type ReceiptView } from "./read-receipts.js";
import { RoomTracker, type RoomPhase } from "./room-tracker.js";
import { TypingTracker, unref, type TypingOptions } from "./typing.js";

export type { Disconnected, Mention, MessageChanged, QueuedChange, QueuedReaction, ReactionChanged, ReadPosition, Reconnecting, RoomPhase, SessionEnd };

export interface ChatSessionOptions extends LoopOptions {
  /** As typed; the server stores it prepared (RFC 8266), and the session adopts that form. */
  nickname: string;
  /** Unacknowledged messages held at most (default 1000). */
  outboxCapacity?: number;
  /** A resuming room whose replay makes no progress for this long is treated as caught up (default 3 s). */
  catchUpStallMs?: number;
  typing?: TypingOptions;
  /** For myRooms(): a client with ListRooms (default: the transport's own client, if it has one). */
  client?: RoomLister;
  /**
   * The transport carries a sign-in token: the server keeps read positions, so
   * markRead() tells it (without one the server refuses MarkReadCommand, and
   * the position is only kept in this session). Default false.
   */
  signedIn?: boolean;
}

export type NoticeLevel = "info" | "warn" | "error";
export interface Notice {
  level: NoticeLevel;
  text: string;
}

export type Result<T = object> = ({ ok: true } & T) | { ok: false; reason: string };

export interface ChatSessionEvents {
  /** Every event received from the server, except duplicates dropped by (room, seq). */
  event: [ServerEvent];
  /** An ErrorEvent the session did not turn into joinFailed, nicknameRefused or sendFailed. */
  commandError: [ErrorEvent];
  /** Things the session itself has to tell the user (history gaps, retries). */
  notice: [Notice];
  /** The first frame arrived on a connection; `attempts`: failed attempts before it. */
  connected: [{ reconnect: boolean; attempts: number; server: string }];
  /** An established connection was lost; reconnecting follows. */
  disconnected: [Disconnected];
  /** Waiting before the next connection attempt. */
  reconnecting: [Reconnecting];
  /** A room is joined and caught up on the current connection: its queued messages are going out. */
  roomLive: [string];
  /** A room we were in is gone (left, or it could not be rejoined). */
  roomLeft: [string];
  /** A join was refused for good. `initial`: the room had never been joined. */
  joinFailed: [{ room: string; code: ErrorCode; message: string; initial: boolean }];
  /**
   * The room refused our nickname (taken, or not acceptable). The room stays
   * in roomNames, not joined ("parked"), until changeNickname picks another.
   */
  nicknameRefused: [{ room: string; nickname: string; code: ErrorCode; message: string }];
  /** Our nickname as the server stored it changed (first join, or changeNickname). */
  nickname: [string];
  /**
   * changeNickname was refused (the name is taken or not acceptable in a
   * room, or the connection was lost before every room confirmed it): we keep
   * our nickname and our rooms (a room already renamed is renamed back).
   */
  nicknameChangeRefused: [{ nickname: string; room: string; message: string }];
  /** One of our messages was acknowledged (its broadcast copy arrived). */
  ack: [ChatMessage];
  /** One of our messages (or edits, deletes: `change`; reactions: `reaction`) was given up on. */
  sendFailed: [{ id: string; room: string; text: string; reason: string; change?: QueuedChange; reaction?: QueuedReaction }];
  /**
   * An edit or delete entry changed a message (see message-changes.ts): `message`
   * is it in its new state when it is one of the messages kept (the join's recent
   * ones and what came since), `replies` the kept replies whose quote followed.
   * The entry also comes as an "event", never to be shown as a message of its own.
   */
  messageChanged: [MessageChanged];
  /**
   * A message's reactions changed (a reaction entry, ours or anyone's; or the
   * server's answer to a reaction of ours that changed nothing): `reactions`
   * are its counts now, `mine` set on those we reacted with. The entry also
   * comes as an "event", never to be shown as a message of its own.
   */
  reactionChanged: [ReactionChanged];
  /** The outbox went from full to having room again, or a message left it. */
  outboxSpace: [];
  /** Who is typing in a room changed. */
  typing: [{ room: string; nicknames: string[] }];
  /**
   * Where the other members of a room have read it up to changed (read
   * receipts: the join's snapshot, a ReadReceiptsEvent, the setting changed);
   * empty when the room has them off. seenBy() answers per message.
   */
  receipts: [{ room: string; receipts: ReceiptView[] }];
  /** What we know of a joined room's state changed (joined, topic, our role, muted). */
  roomState: [{ room: string; state: RoomStateView }];
  /**
   * We were removed from a room (kicked, banned, the room deleted, or by the
   * service): it is left and will not be rejoined. `action`: the room's entry
   * saying who did it and why, when it arrived first. roomLeft follows.
   */
  removed: [{ room: string; reason: LeaveReason; action?: ChatMessage }];
  /**
   * A direct-message room was opened: `asked`, the answer to our openDirect;
   * otherwise the other user (`userId`) created it with us (the server tells
   * every open session of ours; a front end may join it to show what they say).
   */
  directOpened: [{ room: string; userId: string; asked: boolean }];
  /**
   * Where we stand in a joined room changed: the join's position and counts,
   * the server's ReadPositionEvent (our markRead's answer, or another session
   * of ours moving it), markRead() itself, or a message from someone else
   * (one more unread, an estimate until the server's next count).
   */
  readPosition: [ReadPosition];
  /** A message mentions us (MentionEvent), in any room we may see, joined or not. */
  mention: [Mention];
  closed: [SessionEnd];
}

/** Waits between resends of a message the server refused for a moment (unavailable, rate-limited). */
const SEND_RETRY_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 5_000 };
/** Refused rejoins of one room before it is given up on. */
const MAX_JOIN_REFUSALS = 5;
/** Join refusals that are about the nickname: the user can fix them by picking another. */
const NICKNAME_REFUSALS = new Set([ErrorCode.ALREADY_EXISTS, ErrorCode.INVALID_ARGUMENT, ErrorCode.PERMISSION_DENIED]);
/** LeftEvent reasons that take us out of a room for good: never rejoined by the session (the "removed" event says so). */
export const REMOVALS: ReadonlySet<LeaveReason> = new Set([LeaveReason.KICKED, LeaveReason.BANNED, LeaveReason.ROOM_DELETED, LeaveReason.DISCONNECTED_BY_ADMIN]);

/** A join refused because we are barred from the room (banned), not because of our nickname. */
const barred = (e: ErrorEvent) => e.code === ErrorCode.PERMISSION_DENIED && /\bbanned\b/.test(e.message);

type Timer = ReturnType<typeof setTimeout>;

/** A changeNickname under way: the rooms asked to rename, and what they answered. */
interface NicknameChange {
  to: string;
  /** Rooms whose answer has not come yet. */
  waiting: Set<string>;
  /** Rooms whose RenameCommand is out (a room waits until its messages are acknowledged). */
  asked: Set<string>;
  /** Rooms already renamed, with the nickname they had (to rename them back if another room refuses). */
  done: Map<string, string>;
  refusal?: { room: string; message: string };
}

export class ChatSession extends Emitter<ChatSessionEvents> {
  private wantedNickname: string;
  /**
   * A nickname asked for while disconnected from rooms we were in: the rooms
   * rejoin under the old one first (their resume tokens take the memberships
   * the server may still hold back at once), then the change is made.
   */
  private nicknameWhenBack: string | undefined;
  private storedNickname: string | undefined;
  private readonly rooms = new Map<string, RoomTracker>();
  private readonly outbox: Outbox;
  /** Each room's recent messages as they are now (edits and deletes applied). */
  private readonly book = new MessageBook();
  private readonly nextId: () => string;
  private readonly typists: TypingTracker;
  private readonly receiptBook: ReceiptBook;
  /** When held read marks go out (read-state.ts: at most one per room per MARK_INTERVAL_MS). */
  private readsTimer: Timer | undefined;
  private readonly admin: RoomAdmin;
  /** Read positions, unread and mention counts per joined room (read-state.ts). */
  private readonly reads: ReadState;
  private readonly lister: RoomLister | undefined;
  private readonly loop: ConnectionLoop;
  private readonly halfClose: boolean;
  private readonly backoff: BackoffPolicy;
  private readonly catchUpStallMs: number;
  private readonly random: () => number;
  private readonly timers = new Set<Timer>();
  /** Rooms replaying on the current connection, with the timer that stops waiting for them. */
  private readonly catchUpTimers = new Map<string, Timer>();
  private nicknameChange: NicknameChange | undefined;
  /** Spaces our messages under the server's rate limit. */
  private readonly pacer = new Pacer();
  /** When the send pump runs next (waiting for a retry time or the pacer), if it is waiting. */
  private pumpTimer: { at: number; timer: Timer } | undefined;
  /** Rooms whose oldest message the server is refusing for now: told once, until it goes through. */
  private readonly held = new Set<string>();
  private finishing = false;
  private stopped = false;
  private running: Promise<SessionEnd> | undefined;

  constructor(options: ChatSessionOptions) {
    super();
    this.wantedNickname = options.nickname;
    this.halfClose = options.transport.halfClose;
    this.backoff = options.backoff ?? defaultBackoff;
    this.catchUpStallMs = options.catchUpStallMs ?? 3_000;
    this.random = options.random ?? Math.random;
    this.outbox = new Outbox(options.outboxCapacity ?? 1000);
    this.nextId = clientIdGenerator(options.nickname);
    this.typists = new TypingTracker(options.typing ?? {}, (room, nicknames) => this.emit("typing", { room, nicknames }));
    this.receiptBook = new ReceiptBook((room, receipts) => this.emit("receipts", { room, receipts }));
    this.admin = new RoomAdmin(this.nextId, (room, state) => this.emit("roomState", { room, state }));
    this.reads = new ReadState(options.signedIn ?? false, (p) => this.emit("readPosition", p));
    this.lister = options.client ?? (options.transport as { client?: RoomLister }).client;
    const self = this;
    this.loop = new ConnectionLoop(options, {
      get stopped() {
        return self.stopped;
      },
      get done() {
        return self.finishing && self.outbox.size === 0 && self.admin.idle;
      },
      opened: (conn) => this.opened(conn),
      frame: (conn, events) => this.onFrame(conn, events),
      closed: (conn) => this.connectionClosed(conn),
      connected: (info) => this.emit("connected", info),
      disconnected: (info) => this.emit("disconnected", info),
      reconnecting: (info) => this.emit("reconnecting", info),
    });
  }

  // ---- what the front ends call --------------------------------------------

  /** Open a connection (and keep reopening it). Resolves when the session ends. */
  start(): Promise<SessionEnd> {
    this.running ??= this.loop.run().then(
      (end) => this.closed(end),
      (err) => {
        this.stopped = true;
        this.closed({ ok: false, message: "stopped" });
        throw err instanceof ListenerError ? err.original : err;
      },
    );
    return this.running;
  }

  /** Our nickname: as the server stored it once a room is joined, as given before. */
  get nickname(): string {
    return this.storedNickname ?? this.wantedNickname;
  }

  /** Rooms we are in, joining, or waiting for a nickname in, in join order (not those being left). */
  get roomNames(): string[] {
    return [...this.rooms.values()].filter((r) => r.wanted === "member").map((r) => r.name);
  }

  roomPhase(room: string): RoomPhase | undefined {
    return this.rooms.get(room)?.phase;
  }

  isLive(room: string): boolean {
    return this.rooms.get(room)?.isLive ?? false;
  }

  /** The newest entry number seen in a room (0 before any). */
  lastSeq(room: string): bigint {
    return this.rooms.get(room)?.lastSeq ?? 0n;
  }

  /** Messages not yet acknowledged (sent or waiting to be). */
  get unacknowledged(): number {
    return this.outbox.size;
  }

  /** The messages not yet acknowledged, oldest first: what a front end keeps to send again after a restart. */
  pending(): { id: string; room: string; text: string; replyTo?: bigint; mentions?: string[] }[] {
    // Edits, deletes and reactions are not carried over: queued again as messages, they would say something else.
    return this.outbox
      .all()
      .filter((e) => !e.change && !e.reaction)
      .map(({ id, room, text, replyTo, mentions }) => ({ id, room, text, ...(replyTo === undefined ? {} : { replyTo }), ...(mentions ? { mentions: [...mentions] } : {}) }));
  }

  /** A message of a room as it is now (edited, or a tombstone), if it is one of the recent ones kept. */
  message(room: string, seq: bigint): ChatMessage | undefined {
    return this.book.get(room, seq);
  }

  get outboxFull(): boolean {
    return this.outbox.isFull;
  }

  get connected(): boolean {
    return this.loop.connected;
  }

  /** Who is typing in a room now (not us). */
  typingIn(room: string): string[] {
    return this.typists.names(room);
  }

  /**
   * Join a room. `rejoin`: we were in it under this nickname in an earlier run (a reloaded
   * page); the old session may still hold the nickname for a moment, so a refusal of it is
   * retried for a while, as after a reconnect, instead of ending the join.
   */
  join(room: string, options: { rejoin?: boolean; resumeToken?: string } = {}): Result {
    const invalid = checkRoom(room);
    if (invalid) return { ok: false, reason: invalid };
    const tracker = this.rooms.get(room);
    if (tracker?.wanted === "member") return { ok: false, reason: `already in #${room}` };
    if (tracker) {
      // Undo a pending leave; if the LeaveCommand is already out, the LeftEvent handler rejoins.
      tracker.wanted = "member";
      return { ok: true };
    }
    const fresh = new RoomTracker(room);
    if (options.rejoin) fresh.joinedAs = this.wantedNickname;
    // Kept from an earlier run (a reloaded page): lets the rejoin take our old membership over.
    if (options.resumeToken) fresh.resumeToken = options.resumeToken;
    this.rooms.set(room, fresh);
    const conn = this.loop.current;
    if (conn) this.writeJoin(conn, fresh);
    return { ok: true };
  }

  /** Leave a room, after its queued messages have been acknowledged. */
  leave(room: string): Result {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted === "leaving") return { ok: false, reason: `not in #${room}` };
    if (tracker.phase === "parked") {
      this.rooms.delete(room);
      this.emit("roomLeft", room);
      this.maybeFinish();
      return { ok: true };
    }
    tracker.wanted = "leaving";
    this.leaveIfDone(tracker);
    return { ok: true };
  }

  /**
   * Queue a message for a room; it goes out as soon as the room is joined and caught up.
   * `id`: a message carried over from an earlier run of the client (see pending()) keeps
   * its client_msg_id, so the server stores it at most once under the same nickname.
   */
  send(room: string, text: string, options: { id?: string; replyTo?: bigint | number; mentions?: readonly string[] } = {}): Result<{ id: string }> {
    const replyTo = options.replyTo === undefined ? undefined : BigInt(options.replyTo);
    if (replyTo !== undefined && replyTo <= 0n) return { ok: false, reason: "a reply names a message by its number (1 or more)" };
    const mentions = options.mentions?.length ? [...options.mentions] : undefined;
    const badMentions = mentions && checkMentions(mentions);
    if (badMentions) return { ok: false, reason: badMentions };
    return this.queue(room, text, options.id, { ...(replyTo === undefined ? {} : { replyTo }), ...(mentions ? { mentions } : {}) });
  }

  /**
   * The user has seen a joined room up to message `seq`: moves the read
   * position forward (never back) and, signed in, tells the server, coalesced:
   * at most one MarkReadCommand per room on the wire, the latest position
   * winning. "readPosition" follows. Returns whether the position moved.
   */
  markRead(room: string, seq: bigint | number): boolean {
    const moved = this.reads.markRead(room, BigInt(seq));
    if (moved) this.flushReads();
    return moved;
  }

  /** Where we stand in a joined room (undefined before its first join). */
  readPosition(room: string): ReadPosition | undefined {
    return this.reads.position(room);
  }

  /**
   * Replace the text of one of our earlier messages (by sequence number). Queued
   * like a message (same outbox, order, resends after a reconnect with the same
   * id): the room's edit entry is the acknowledgement ("ack", then
   * "messageChanged"); a refusal (not ours, too old, deleted) is a "sendFailed"
   * with `change` set.
   */
  edit(room: string, seq: bigint | number, text: string, options: { id?: string } = {}): Result<{ id: string }> {
    return this.queueChange(room, { kind: "edit", seq: BigInt(seq) }, text, options.id);
  }

  /** Delete an earlier message (ours, or any as a moderator of the room); queued and answered as edit() is. */
  deleteMessage(room: string, seq: bigint | number, options: { id?: string } = {}): Result<{ id: string }> {
    return this.queueChange(room, { kind: "delete", seq: BigInt(seq) }, "", options.id);
  }

  /**
   * React to a message (by sequence number) with one emoji. Queued like a
   * message; the room's reaction entry is the acknowledgement ("ack", then
   * "reactionChanged"), and a refusal (deleted, too many reactions) a
   * "sendFailed" with `reaction` set. Reacting again with the same emoji
   * changes nothing (the server answers with the message as it is).
   */
  react(room: string, seq: bigint | number, emoji: string, options: { id?: string } = {}): Result<{ id: string }> {
    return this.queueReaction(room, { seq: BigInt(seq), emoji, remove: false }, options.id);
  }

  /** Take our reaction `emoji` off a message; queued and answered as react() is. */
  unreact(room: string, seq: bigint | number, emoji: string, options: { id?: string } = {}): Result<{ id: string }> {
    return this.queueReaction(room, { seq: BigInt(seq), emoji, remove: true }, options.id);
  }

  /** React, or take the reaction off if we have it (as the kept message's counts say): what a click on a reaction does. */
  toggleReaction(room: string, seq: bigint | number, emoji: string): Result<{ id: string; removed: boolean }> {
    const mine = this.book.get(room, BigInt(seq))?.reactions.some((c) => c.emoji === emoji && c.mine) ?? false;
    const done = mine ? this.unreact(room, seq, emoji) : this.react(room, seq, emoji);
    return done.ok ? { ok: true, id: done.id, removed: mine } : done;
  }

  private queueReaction(room: string, reaction: QueuedReaction, id: string | undefined): Result<{ id: string }> {
    if (reaction.seq <= 0n) return { ok: false, reason: "a message is named by its number (1 or more)" };
    const invalid = checkEmoji(reaction.emoji);
    if (invalid) return { ok: false, reason: invalid };
    if (this.book.get(room, reaction.seq)?.deleted) return { ok: false, reason: `message #${reaction.seq} was deleted` };
    return this.queue(room, "", id, { reaction });
  }

  private queueChange(room: string, change: QueuedChange, text: string, id: string | undefined): Result<{ id: string }> {
    if (change.seq <= 0n) return { ok: false, reason: "a message is named by its number (1 or more)" };
    const target = this.book.get(room, change.seq);
    if (target?.deleted) return { ok: false, reason: `message #${change.seq} was deleted` };
    return this.queue(room, text, id, { change });
  }

  private queue(room: string, text: string, id: string | undefined, extra: { replyTo?: bigint; change?: QueuedChange; reaction?: QueuedReaction; mentions?: string[] }): Result<{ id: string }> {
    const tracker = this.rooms.get(room);
    if (!tracker || tracker.wanted !== "member") return { ok: false, reason: `not in #${room}` };
    if (tracker.phase === "parked") return { ok: false, reason: `not in #${room}: it refused the nickname ${this.wantedNickname}` };
    // The server would refuse it: say so now, and keep it out of the outbox (a muted user may still delete).
    if (extra.change?.kind !== "delete" && isMutedNow(this.admin.state(room))) return { ok: false, reason: `you are muted in #${room}` };
    const invalid =
      (extra.change?.kind === "delete" || extra.reaction ? undefined : checkText(text)) ??
      (id === undefined ? undefined : id === "" ? "client_msg_id must not be empty" : checkId("client_msg_id", id));
    if (invalid) return { ok: false, reason: invalid };
    if (id !== undefined && this.outbox.get(id)) return { ok: true, id };
    const entry = this.outbox.add(id ?? this.nextId(), room, text, extra);
    if (!entry) {
      return {
        ok: false,
        reason: `outbox full: ${this.outbox.capacity} messages are still waiting for the server; this one was not queued`,
      };
    }
    if (tracker.isLive) this.pump();
    return { ok: true, id: entry.id };
  }

  /** The user is typing in a room: tell the others (at most once per typing interval). */
  typing(room: string): void {
    const conn = this.loop.current;
    if (!conn || !this.rooms.get(room)?.isLive) return;
    if (this.typists.shouldSend(room)) conn.send({ case: "typing", value: { room } });
  }

  /** Nicknames of the other members who have read the room up to `seq` (read receipts; empty when off). */
  seenBy(room: string, seq: bigint): string[] {
    return this.receiptBook.seenBy(room, seq);
  }

  /** Whether the room shows read receipts now (as far as this session knows: the join, the setting's entries, receipts arriving). */
  receiptsOn(room: string): boolean {
    return this.receiptBook.isOn(room);
  }

  /** Where the other members have read the room up to, furthest first (empty when receipts are off). */
  receipts(room: string): ReceiptView[] {
    return this.receiptBook.receipts(room);
  }

  /** Per room, the secret that lets a later run of the client take its membership over (see RoomTracker.resumeToken). */
  resumeTokens(): Record<string, string> {
    const tokens: Record<string, string> = {};
    for (const room of this.rooms.values()) if (room.wanted === "member" && room.resumeToken) tokens[room.name] = room.resumeToken;
    return tokens;
  }

  /**
   * Take another nickname in every room, as IRC's /nick does: each joined
   * room renames us in place (the others see a rename, not a leave and a
   * join). If any room refuses (taken there, or not acceptable), the change is
   * undone everywhere and nicknameChangeRefused says why: we keep our nickname
   * and our rooms. Rooms that refused the old nickname are joined under the new
   * one once it is ours. `nickname` fires when the change is done.
   */
  changeNickname(nickname: string): Result {
    if (nickname.trim() === "") return { ok: false, reason: "nickname must not be empty" };
    if (this.nicknameChange) return { ok: false, reason: `already changing nickname to ${this.nicknameChange.to}; wait for that first` };
    const conn = this.loop.current;
    const wanted = [...this.rooms.values()].filter((r) => r.wanted === "member");
    if (!conn && wanted.some((r) => r.phase !== "parked" && r.resumeToken !== undefined)) {
      // Renaming on the rejoin would leave the old name behind until the server noticed the lost connection.
      this.nicknameWhenBack = nickname;
      return { ok: true };
    }
    this.nicknameWhenBack = undefined;
    const unsettled = wanted.find((r) => r.phase === "joining" || r.phase === "leaving");
    if (conn && unsettled) return { ok: false, reason: `still joining #${unsettled.name}; try again in a moment` };
    const joined = conn ? wanted.filter((r) => r.phase === "live" || r.phase === "catching-up") : [];
    if (joined.length === 0) {
      // Not in any room now: the next joins use the new name.
      this.wantedNickname = nickname;
      this.joinParked();
      return { ok: true };
    }
    this.nicknameChange = { to: nickname, waiting: new Set(joined.map((r) => r.name)), asked: new Set(), done: new Map() };
    for (const room of joined) this.renameIfDone(room);
    return { ok: true };
  }

  // ---- rooms with state (room-admin.ts) --------------------------------------

  /**
   * Create a room with state and join it as its owner (under our nickname).
   * Resolves with its JoinedEvent; rejects with a RoomCommandError (the room
   * exists: ALREADY_EXISTS; or the connection was lost before the answer, when
   * it may or may not have been created). After that it is a joined room like
   * any other (rejoined after a reconnect).
   */
  createRoom(room: string, options: CreateRoomOptions = {}): Promise<JoinedEvent> {
    const invalid = checkRoom(room);
    if (invalid) return Promise.reject(new RoomCommandError(ErrorCode.INVALID_ARGUMENT, invalid, room));
    if (this.rooms.has(room)) return Promise.reject(new RoomCommandError(ErrorCode.ALREADY_EXISTS, `already in #${room}`, room));
    const tracker = new RoomTracker(room);
    tracker.create = {
      visibility: options.visibility === "private" ? RoomVisibility.PRIVATE : RoomVisibility.PUBLIC,
      topic: options.topic ?? "",
      invite: options.invite ?? [],
    };
    this.rooms.set(room, tracker);
    const created = this.admin.expectCreate(room);
    const conn = this.loop.current;
    if (conn) this.writeJoin(conn, tracker);
    return created;
  }

  /**
   * A moderation or room-state action (invite, kick, ban, mute, topic, role…)
   * in a room (joined or not). Resolves with the room's entry for it (the
   * acknowledgement); rejects with a RoomCommandError saying why the server
   * refused. Pending actions are sent again with the same id after a
   * reconnect, as queued messages are: the server applies each at most once.
   * `id`: an idempotency key of the caller's (default: a fresh one).
   */
  moderate(room: string, action: RoomActionInit, options: { id?: string } = {}): Promise<ChatMessage> {
    const invalid = checkRoom(room) ?? (options.id === undefined ? undefined : checkId("client_action_id", options.id));
    if (invalid) return Promise.reject(new RoomCommandError(ErrorCode.INVALID_ARGUMENT, invalid, room));
    if (this.finishing) return Promise.reject(new RoomCommandError(ErrorCode.FAILED_PRECONDITION, "the session is finishing", room));
    return this.admin.moderate(this.loop.current, room, action, options.id);
  }

  /**
   * Open (or find) the direct-message room with another user (by user id).
   * Resolves with the room's name; join it to talk there. Needs
   * authentication on the server.
   */
  openDirect(userId: string): Promise<string> {
    if (userId.length === 0 || userId.length > 256) return Promise.reject(new RoomCommandError(ErrorCode.INVALID_ARGUMENT, "a user id is 1 to 256 characters"));
    if (this.finishing) return Promise.reject(new RoomCommandError(ErrorCode.FAILED_PRECONDITION, "the session is finishing"));
    return this.admin.openDirect(this.loop.current, userId);
  }

  /** "My rooms" (ListRooms mine): rooms we are a member of and direct messages, each with its last message. */
  myRooms(): Promise<RoomInfo[]> {
    if (!this.lister) return Promise.reject(new Error("myRooms needs a client with ListRooms (ChatSessionOptions.client)"));
    return this.admin.myRooms(this.lister);
  }

  /** What we know of a joined room's state (undefined before its first join). */
  roomState(room: string): RoomStateView | undefined {
    return this.admin.state(room);
  }

  /** The other user of a direct-message room (from its state, openDirect or myRooms). */
  directUser(room: string): string | undefined {
    return this.admin.directUser(room);
  }

  /** Our user id as the server knows it (the token's subject), once a room is joined. */
  get userId(): string | undefined {
    return this.admin.userId;
  }

  /** The user id of a member of a room we heard of by nickname, or undefined. */
  userIdOf(room: string, nickname: string): string | undefined {
    return this.admin.userIdOf(room, nickname);
  }

  /**
   * Finish: once every room is answered and every message acknowledged, end
   * the connection cleanly (the others see us leave, not disconnect).
   * Keeps reconnecting while something is still owed.
   */
  finish(): Promise<SessionEnd> {
    this.finishing = true;
    // Without a half-close, leaving each room is how the others learn we left on purpose.
    if (!this.halfClose) for (const room of this.roomNames) this.leave(room);
    this.maybeFinish();
    // Disconnected and nothing owed: no reason to reconnect just to say goodbye.
    if (!this.loop.connected && this.outbox.size === 0) this.loop.wake();
    return this.start();
  }

  /** Stop now: cancel the connection; unacknowledged messages are abandoned. */
  abort(): Promise<SessionEnd> {
    this.stopped = true;
    this.loop.current?.abort.abort();
    this.loop.wake();
    return this.running ?? Promise.resolve({ ok: true });
  }

  // ---- connections -----------------------------------------------------------

  private opened(conn: Connection): void {
    for (const room of [...this.rooms.values()]) {
      if (room.wanted === "leaving" && this.outbox.countForRoom(room.name) === 0) {
        // The old connection's end took us out of the room already.
        this.rooms.delete(room.name);
        this.emit("roomLeft", room.name);
        continue;
      }
      if (room.phase !== "parked") this.writeJoin(conn, room);
    }
    // After the joins: the server runs a session's commands in order, and without authentication
    // an action is taken under our nickname in the room, so the room must be joined first.
    this.admin.opened(conn);
    this.maybeFinish();
  }

  private connectionClosed(conn: Connection): void {
    // A create whose answer is lost is not resent (see room-admin.ts): its room is not ours.
    for (const name of this.admin.connectionLost(conn.generation)) {
      const room = this.rooms.get(name);
      if (room && !room.everJoined) {
        this.rooms.delete(name);
        this.failQueued(name, `#${name} was not confirmed created`);
        this.emit("roomLeft", name);
      }
    }
    const change = this.nicknameChange;
    if (change && change.waiting.size > 0) {
      this.nicknameChange = undefined;
      const renamed = [...change.done.keys()].map((name) => this.rooms.get(name)?.nickname).find((n) => n !== undefined);
      if (!change.refusal && renamed !== undefined) {
        // Some rooms already call us by the new name: keep it, so every room rejoins under it
        // (where the server renamed us, the resume token takes that membership back).
        this.wantedNickname = change.to;
        for (const room of this.rooms.values()) room.joinedAs = change.to;
        this.storedNickname = renamed;
        this.emit("nickname", renamed);
      } else {
        // Answers lost with the connection: the rooms rejoin under the nickname we had.
        const room = [...change.waiting][0];
        this.emit("nicknameChangeRefused", { nickname: change.to, room, message: "the connection was lost before the change was confirmed" });
      }
    }
    for (const t of this.catchUpTimers.values()) clearTimeout(t);
    this.catchUpTimers.clear();
    for (const room of this.rooms.values()) room.connectionLost();
    this.typists.clear();
  }

  private closed(end: SessionEnd): SessionEnd {
    this.admin.closed(end.ok ? "the session ended" : end.message);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pumpTimer = undefined;
    this.readsTimer = undefined;
    this.typists.clear();
    this.emit("closed", end);
    return end;
  }

  // ---- incoming events -------------------------------------------------------

  private onFrame(conn: Connection, events: ServerEvent[]): void {
    for (const event of events) {
      if (this.loop.current !== conn) return; // a listener aborted
      this.onEvent(conn, event);
    }
  }

  private onEvent(conn: Connection, event: ServerEvent): void {
    const e = event.event;
    switch (e.case) {
      case "joined":
        this.onJoined(conn, event, e.value);
        return;
      case "message":
        this.onMessage(conn, event, e.value);
        return;
      case "left":
        if (e.value.reason === LeaveReason.REPLACED) this.onReplaced(e.value.room);
        else if (REMOVALS.has(e.value.reason)) this.onRemoved(e.value.room, e.value.reason);
        else this.onLeft(conn, e.value.room);
        this.emit("event", event);
        return;
      case "memberRenamed":
        this.onRenamed(conn, e.value.room, e.value.oldNickname, e.value.newNickname);
        break;
      case "error": {
        const handled = this.onCreateRefused(e.value) || this.admin.onError(e.value) || this.onError(conn, e.value);
        this.emit("event", event);
        if (!handled) this.emit("commandError", e.value);
        // A refused action may have been the last thing finish() waited for.
        this.maybeFinish();
        return;
      }
      case "typing":
        if (this.rooms.get(e.value.room)?.nickname !== e.value.nickname) this.typists.started(e.value.room, e.value.nickname);
        break;
      case "memberLeft":
        this.typists.stopped(e.value.room, e.value.nickname);
        break;
      case "memberJoined":
        this.admin.memberJoined(e.value.room, e.value.member);
        break;
      case "directOpened": {
        const asked = this.admin.onDirectOpened(e.value);
        this.emit("directOpened", { room: e.value.room, userId: e.value.userId, asked });
        this.maybeFinish();
        break;
      }
      case "readReceipts":
        this.receiptBook.onReceipts(e.value);
        break;
      case "presence":
        for (const nickname of e.value.left) this.typists.stopped(e.value.room, nickname);
        // Nickname → user id, for mentions typed by name in a big room.
        for (const member of e.value.joined) this.admin.memberJoined(e.value.room, member);
        break;
      case "readPosition":
        this.reads.onReadPosition(e.value);
        this.flushReads();
        break;
      case "mention":
        this.emit("event", event);
        this.emit("mention", mentionOf(e.value));
        return;
      case "shutdown":
        conn.shutdown = true;
        break;
    }
    this.emit("event", event);
  }

  private onJoined(conn: Connection, event: ServerEvent, j: JoinedEvent): void {
    const room = this.rooms.get(j.room);
    if (!room || room.phase !== "joining") {
      this.emit("event", event);
      return;
    }
    const resumedAfter = room.lastSeq;
    if (j.rateLimitPerSecond > 0) this.pacer.setRate(j.rateLimitPerSecond, j.rateLimitBurst);
    const outcome = room.onJoined(j);
    room.create = undefined;
    room.joinedAs = room.requestedNickname;
    // Before the event goes out: a front end rendering it may read the room's state.
    this.admin.onJoined(j);
    this.receiptBook.onJoined(j);
    // The recent messages come as they are now; their change entries, applied again in order, end the same.
    if (outcome.epochReset || !j.resumed) this.book.forget(j.room);
    for (const m of j.recent) this.book.add(m);
    this.reads.onJoined(j);
    if (j.nickname !== this.storedNickname && room.requestedNickname === this.wantedNickname) {
      this.storedNickname = j.nickname;
      this.emit("nickname", j.nickname);
    }
    this.emit("event", event);
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
    const room = this.rooms.get(m.room);
    // Acknowledgement first, even for a duplicate: a resend of something
    // already stored is acknowledged with its original (old) sequence number.
    // Our sender name is the one the server stored, which may differ from what was typed.
    let acked: OutgoingMessage | undefined;
    if (m.clientMsgId && (room ? room.isOurs(m.sender) : m.sender === this.nickname)) {
      const entry = this.outbox.get(m.clientMsgId);
      if (entry && entry.room === m.room) acked = this.outbox.remove(entry.id);
    }
    const wasCatchingUp = room?.phase === "catching-up";
    const fresh = room ? room.accept(m) : true;
    // A reaction that changed nothing is answered with the message reacted to (an old number).
    if (!acked && !fresh) acked = this.reactionAnswered(conn, m);
    this.admin.onMessage(m, fresh);
    if (fresh) this.receiptBook.onMessage(m);
    const changed = fresh ? this.book.add(m) : undefined;
    // Counts first: a front end printing the entry's "event" may read the message's counts.
    const reacted = fresh && isReaction(m) ? this.applyReaction(m) : acked?.reaction && !isReaction(m) ? this.refreshReactions(m) : undefined;
    if (fresh) {
      this.typists.stopped(m.room, m.sender);
      // Whoever speaks can be mentioned by the name they spoke under.
      if (m.senderId && !m.action) this.admin.memberJoined(m.room, { nickname: m.sender, userId: m.senderId });
      this.emit("event", event);
      this.reads.onMessage(m, this.admin.userId);
    }
    if (changed) this.emit("messageChanged", changed);
    if (reacted) this.emit("reactionChanged", reacted);
    if (acked) {
      if (this.held.delete(m.room)) this.notice("info", `messages to #${m.room} are going through again`);
      this.emit("ack", m);
      this.emit("outboxSpace");
      this.pump();
    }
    if (room && wasCatchingUp) {
      if (room.isLive) this.onLive(conn, room);
      else this.armCatchUpTimer(conn, room);
    }
    if (acked && room) {
      this.leaveIfDone(room);
      this.renameIfDone(room);
    }
    this.maybeFinish();
  }

  /**
   * The server's answer to a reaction of ours that changed nothing (already
   * there, or not there to remove) is the message reacted to as it is now, not
   * an entry: it acknowledges the reaction on the wire for that room.
   */
  private reactionAnswered(conn: Connection, m: ChatMessage): OutgoingMessage | undefined {
    if (m.action || isReaction(m) || m.change) return undefined;
    const entry = this.outbox.inFlight(conn.generation, m.room);
    if (!entry?.reaction || entry.reaction.seq !== m.seq) return undefined;
    return this.outbox.remove(entry.id);
  }

  /** A reaction entry: the kept message's counts follow (see reactions.ts for why by user). */
  private applyReaction(entry: ChatMessage): ReactionChanged {
    const r = entry.reaction!;
    const target = this.book.get(entry.room, r.targetSeq);
    const me = this.admin.userId;
    const mine = me !== undefined && entry.senderId !== "" ? entry.senderId === me : (this.rooms.get(entry.room)?.isOurs(entry.sender) ?? false);
    const who = entry.senderId || entry.sender;
    if (target && !target.deleted) target.reactions = applyReaction(target.reactions, r.emoji, r.removed, who, mine) ?? target.reactions;
    return {
      room: entry.room,
      seq: r.targetSeq,
      reactions: target?.reactions ?? [],
      message: target,
      change: { emoji: r.emoji, removed: r.removed, by: entry.sender, byId: entry.senderId, mine, entry },
    };
  }

  /** The message as the server has it now (the answer to a reaction that changed nothing): its counts replace ours. */
  private refreshReactions(m: ChatMessage): ReactionChanged {
    const target = this.book.get(m.room, m.seq);
    if (target) target.reactions = copyCounts(m.reactions);
    return { room: m.room, seq: m.seq, reactions: target?.reactions ?? copyCounts(m.reactions), message: target };
  }

  private onLeft(conn: Connection, name: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    if (room.wanted === "leaving") {
      this.rooms.delete(name);
      this.typists.clearRoom(name);
      this.book.forget(name);
      this.reads.forget(name);
      this.receiptBook.forget(name);
      this.emit("roomLeft", name);
      this.maybeFinish();
    } else {
      // The user asked to join again while the leave was on its way.
      this.writeJoin(conn, room);
    }
  }

  /** A CreateRoomCommand was refused: the room is not ours (createRoom's promise says why). */
  private onCreateRefused(e: ErrorEvent): boolean {
    if (e.command !== CommandKind.CREATE_ROOM) return false;
    const room = this.rooms.get(e.room);
    if (!this.admin.onError(e)) return false;
    if (room?.create && !room.everJoined) {
      this.rooms.delete(room.name);
      this.failQueued(room.name, `#${room.name} was not created`);
      this.emit("outboxSpace");
      this.maybeFinish();
    }
    return true;
  }

  /**
   * We were kicked or banned, the room was deleted, or the service took us
   * out: the room is gone for good. Unlike a drop, it is not rejoined (a
   * rejoin would be refused, or would undo a kick); what was queued for it is
   * given up on.
   */
  private onRemoved(name: string, reason: LeaveReason): void {
    const room = this.rooms.get(name);
    if (!room) return;
    this.rooms.delete(name);
    this.typists.clearRoom(name);
    this.book.forget(name);
    this.reads.forget(name);
    this.receiptBook.forget(name);
    const action = this.admin.removalOf(name);
    this.admin.forget(name);
    const why = reason === LeaveReason.BANNED ? "banned from" : reason === LeaveReason.KICKED ? "kicked from" : "removed from";
    this.failQueued(name, reason === LeaveReason.ROOM_DELETED ? `#${name} was deleted` : `you were ${why} #${name}`);
    this.emit("removed", { room: name, reason, action });
    this.emit("roomLeft", name);
    this.emit("outboxSpace");
    this.maybeFinish();
  }

  /**
   * Another connection took our membership over with our resume token (this
   * client reconnected elsewhere, or another copy of it joined): the room is
   * not ours on this connection any more. Rejoining would take it back, and
   * the two would take it from each other for ever: give it up.
   */
  private onReplaced(name: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    this.rooms.delete(name);
    this.typists.clearRoom(name);
    this.book.forget(name);
    this.reads.forget(name);
    this.receiptBook.forget(name);
    this.failQueued(name, `#${name} was joined again from another connection`);
    this.notice("warn", `#${name} was joined again from another connection with this identity; this one left it`);
    this.emit("roomLeft", name);
    this.emit("outboxSpace");
    this.maybeFinish();
  }

  /** A rename in a room: ours (the answer to changeNickname, or a rename back), or someone else's. */
  private onRenamed(conn: Connection, name: string, from: string, to: string): void {
    this.typists.stopped(name, from);
    const room = this.rooms.get(name);
    if (!room || !room.renamed(from, to)) return;
    const change = this.nicknameChange;
    if (!change || !change.waiting.delete(name)) return;
    if (change.refusal) this.renameBack(conn, name, from);
    else change.done.set(name, from);
    this.settleNicknameChange(to);
  }

  private renameRefused(conn: Connection, name: string, e: ErrorEvent): boolean {
    const change = this.nicknameChange;
    if (!change || !change.waiting.delete(name)) return false;
    change.refusal ??= { room: name, message: e.message };
    // Rooms not asked yet (waiting for acknowledgements) will not be.
    for (const room of [...change.waiting]) if (!change.asked.has(room)) change.waiting.delete(room);
    // Undo the rooms that already took the new name: the change is all or nothing.
    for (const [room, old] of change.done) this.renameBack(conn, room, old);
    change.done.clear();
    this.settleNicknameChange(undefined);
    return true;
  }

  private renameBack(conn: Connection, room: string, nickname: string): void {
    conn.send({ case: "rename", value: { room, nickname } });
  }

  /** Every room answered: the change is ours (`stored`: the name as the server stored it), or refused. */
  private settleNicknameChange(stored: string | undefined): void {
    const change = this.nicknameChange;
    if (!change || change.waiting.size > 0) return;
    this.nicknameChange = undefined;
    if (change.refusal) {
      this.emit("nicknameChangeRefused", { nickname: change.to, ...change.refusal });
      return;
    }
    this.wantedNickname = change.to;
    for (const room of this.rooms.values()) room.joinedAs = change.to;
    if (stored !== undefined && stored !== this.storedNickname) {
      this.storedNickname = stored;
      this.emit("nickname", stored);
    }
    this.joinParked();
  }

  /** Rooms that refused our nickname try again under the one we have now. */
  private joinParked(): void {
    const conn = this.loop.current;
    for (const room of this.rooms.values()) {
      if (room.wanted !== "member" || room.phase !== "parked") continue;
      room.phase = "idle";
      if (conn) this.writeJoin(conn, room);
    }
  }

  /** ErrorEvents name the command, room and client_msg_id they answer. Returns whether it was handled. */
  private onError(conn: Connection, e: ErrorEvent): boolean {
    if (e.command === CommandKind.SEND || e.command === CommandKind.EDIT_MESSAGE || e.command === CommandKind.DELETE_MESSAGE || e.command === CommandKind.REACT) {
      // A refusal that does not name its message (a rate limit, on older servers) is about
      // the one message of that room on the wire: only a room's oldest is ever sent.
      const entry = e.clientMsgId ? this.outbox.get(e.clientMsgId) : this.outbox.inFlight(conn.generation, e.room);
      if (entry) this.sendRefused(entry, e);
      return entry !== undefined;
    }
    if (e.command === CommandKind.JOIN && e.room) {
      const room = this.rooms.get(e.room);
      if (!room || room.phase !== "joining") return false;
      this.joinRefused(conn, room, e);
      return true;
    }
    if (e.command === CommandKind.RENAME && e.room) return this.renameRefused(conn, e.room, e);
    if (e.command === CommandKind.MARK_READ) {
      // Read positions are a convenience: a refusal is not worth a word to the user.
      this.reads.onRefused(e.room, e.code === ErrorCode.FAILED_PRECONDITION && /authentication|signed-in/.test(e.message));
      return true;
    }
    if (e.command === CommandKind.LEAVE && e.room && e.code === ErrorCode.NOT_FOUND) {
      // Not in the room after all: that is what we wanted.
      this.onLeft(conn, e.room);
      return true;
    }
    // Typing and pings are best effort: a refused one is not worth a word.
    return e.command === CommandKind.TYPING || e.command === CommandKind.PING;
  }

  /**
   * The server refused one of our messages. For a moment (its room log is
   * unavailable, we hit its rate limit): the message stays at the head of its
   * room and is sent again after a wait, for as long as the session runs, and
   * nothing behind it goes out first. For good (too long, invalid, a conflict):
   * it is dropped, said once, and the room's next message goes out.
   */
  private sendRefused(entry: OutgoingMessage, e: ErrorEvent): void {
    entry.sentOn = undefined;
    if (e.code === ErrorCode.UNAVAILABLE || e.code === ErrorCode.RESOURCE_EXHAUSTED) {
      entry.refusals++;
      const rateLimited = e.code === ErrorCode.RESOURCE_EXHAUSTED && /rate limit/.test(e.message);
      let delayMs = backoffDelay(entry.refusals, SEND_RETRY_BACKOFF, this.random);
      if (rateLimited) {
        const wasPacing = this.pacer.pacing;
        this.pacer.limited(e.message);
        if (!wasPacing) this.notice("warn", `the server's rate limit was reached (${e.message}); pacing messages to stay under it`);
        // A short wait is enough: the server's bucket refills continuously.
        delayMs = Math.min(delayMs, 100 * entry.refusals);
      } else if (!this.held.has(entry.room)) {
        this.held.add(entry.room);
        const waiting = this.outbox.countForRoom(entry.room);
        this.notice("warn", `#${entry.room}: the server did not accept a message for now (${e.message}); keeping ${waiting} message(s) and retrying in order`);
      }
      entry.retryAt = Date.now() + delayMs;
      this.pump();
      return;
    }
    this.outbox.remove(entry.id);
    this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason: e.message, change: entry.change, reaction: entry.reaction });
    this.emit("outboxSpace");
    const room = this.rooms.get(entry.room);
    if (room) {
      this.leaveIfDone(room);
      this.renameIfDone(room);
    }
    this.pump();
    this.maybeFinish();
  }

  private joinRefused(conn: Connection, room: RoomTracker, e: ErrorEvent): void {
    // Rejoining under the same name after a drop can race the server noticing
    // the old connection is gone (our nickname still held), or hit a
    // momentary limit: retry those.
    const sameName = room.joinedAs !== undefined && room.joinedAs === room.requestedNickname;
    const transient = e.code === ErrorCode.UNAVAILABLE || (sameName && (e.code === ErrorCode.ALREADY_EXISTS || e.code === ErrorCode.RESOURCE_EXHAUSTED));
    // Refused because the server cannot reach its room log for now: the room's queued messages are
    // kept and the join retried for as long as we run (as the outbox does for sends; a script's
    // stall limit still ends the wait).
    const waitForLog = e.code === ErrorCode.UNAVAILABLE;
    if (transient && (waitForLog || room.joinRefusals < MAX_JOIN_REFUSALS)) {
      room.joinRefusals++;
      room.phase = "idle";
      const delayMs = 500 + backoffDelay(room.joinRefusals + 1, this.backoff, this.random);
      // A rejoin: we were in the room on this run, or in an earlier one (a reloaded page).
      const again = room.everJoined || room.joinedAs !== undefined;
      this.notice("warn", `could not ${again ? "rejoin" : "join"} #${room.name} (${e.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
      this.later(delayMs, () => {
        if (this.loop.current === conn && this.rooms.get(room.name) === room && room.phase === "idle") this.writeJoin(conn, room);
      });
      return;
    }
    this.failQueued(room.name, `could not join #${room.name}`);
    if (NICKNAME_REFUSALS.has(e.code) && !barred(e) && room.wanted === "member") {
      room.phase = "parked";
      room.joinRefusals = 0;
      this.emit("nicknameRefused", { room: room.name, nickname: room.requestedNickname ?? this.wantedNickname, code: e.code, message: e.message });
    } else {
      this.rooms.delete(room.name);
      this.emit("joinFailed", { room: room.name, code: e.code, message: e.message, initial: !room.everJoined });
      if (room.everJoined) this.emit("roomLeft", room.name);
    }
    this.emit("outboxSpace");
    this.maybeFinish();
  }

  /** Give up on a room's queued messages. */
  private failQueued(room: string, reason: string): void {
    for (const entry of this.outbox.forRoom(room)) {
      this.outbox.remove(entry.id);
      this.emit("sendFailed", { id: entry.id, room: entry.room, text: entry.text, reason, change: entry.change, reaction: entry.reaction });
    }
  }

  /** Every room we were in is back: make the nickname change asked for while disconnected. */
  private renameWhenBack(conn: Connection): void {
    const to = this.nicknameWhenBack;
    if (to === undefined || this.loop.current !== conn) return;
    if ([...this.rooms.values()].some((r) => r.wanted === "member" && r.phase !== "parked" && r.phase !== "live")) return;
    this.nicknameWhenBack = undefined;
    const done = this.changeNickname(to);
    if (!done.ok) this.emit("nicknameChangeRefused", { nickname: to, room: "", message: done.reason });
  }

  // ---- outgoing --------------------------------------------------------------

  /** A room is joined and caught up on this connection: send what waits for it, in typing order. */
  private onLive(conn: Connection, room: RoomTracker): void {
    const timer = this.catchUpTimers.get(room.name);
    if (timer) clearTimeout(timer);
    this.catchUpTimers.delete(room.name);
    this.emit("roomLive", room.name);
    this.renameWhenBack(conn);
    this.pump();
    this.flushReads();
    this.leaveIfDone(room);
    this.maybeFinish();
  }

  /**
   * While a room replays, our resends wait: a resend of an already stored
   * message is acknowledged with its old sequence number, which must not
   * overtake the replay. If the replay stalls (the server lost its tail), go
   * live anyway rather than hold the messages forever.
   */
  private armCatchUpTimer(conn: Connection, room: RoomTracker): void {
    const old = this.catchUpTimers.get(room.name);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      this.catchUpTimers.delete(room.name);
      if (this.loop.current !== conn || this.rooms.get(room.name) !== room || room.phase !== "catching-up") return;
      room.forceLive();
      this.onLive(conn, room);
    }, this.catchUpStallMs);
    this.catchUpTimers.set(room.name, unref(timer));
  }

  /**
   * Ask a room to rename us once our messages there are acknowledged: a
   * message resent after a lost acknowledgement must go out under the name it
   * was stored with, or the server's de-duplication (by sender) would not
   * recognise it.
   */
  private renameIfDone(room: RoomTracker): void {
    const change = this.nicknameChange;
    const conn = this.loop.current;
    if (!conn || !change || !change.waiting.has(room.name) || change.asked.has(room.name) || change.refusal) return;
    if (this.outbox.countForRoom(room.name) > 0) return;
    change.asked.add(room.name);
    conn.send({ case: "rename", value: { room: room.name, nickname: change.to } });
  }

  /** Leave (for good, or to rejoin under a new nickname) once the room's messages are acknowledged. */
  private leaveIfDone(room: RoomTracker): void {
    const conn = this.loop.current;
    if (!conn || !room.isLive || room.wanted !== "leaving") return;
    if (this.outbox.countForRoom(room.name) > 0) return;
    room.phase = "leaving";
    conn.send({ case: "leave", value: { room: room.name } });
  }

  /** Finishing, nothing owed, every join and leave answered: end the connection cleanly. */
  private maybeFinish(): void {
    const conn = this.loop.current;
    if (!this.finishing || !conn || conn.finished || this.outbox.size > 0 || !this.admin.idle) return;
    for (const room of this.rooms.values()) {
      if (room.phase !== "live" && room.phase !== "idle" && room.phase !== "parked") return;
    }
    conn.finish();
  }

  private writeJoin(conn: Connection, room: RoomTracker): void {
    room.requestedNickname = this.wantedNickname;
    const join = room.joinCommand(this.wantedNickname);
    if (room.create) {
      conn.send({ case: "createRoom", value: { room: room.name, nickname: this.wantedNickname, ...room.create } });
      this.admin.createSent(room.name, conn.generation);
      return;
    }
    conn.send({ case: "join", value: join });
  }

  /**
   * Send what may go now: each live room's oldest message, unless it is
   * already on the wire, waiting after a refusal, or the pacer says wait. The
   * next one of a room follows its acknowledgement (head of line), so the
   * server stores a room's messages in the order they were typed.
   */
  private pump(): void {
    const conn = this.loop.current;
    if (!conn || conn.finished) return;
    let wakeAt = Infinity;
    for (const entry of this.outbox.heads()) {
      if (entry.sentOn === conn.generation || !this.rooms.get(entry.room)?.isLive) continue;
      const now = Date.now();
      const at = Math.max(entry.retryAt, now + this.pacer.delay(now));
      if (at > now) {
        wakeAt = Math.min(wakeAt, at);
        continue;
      }
      this.pacer.sent(now);
      entry.sentOn = conn.generation;
      this.write(conn, entry);
    }
    if (wakeAt !== Infinity) this.pumpAt(wakeAt);
  }

  private write(conn: Connection, entry: OutgoingMessage): void {
    const { room, text, id: clientMsgId, change, reaction } = entry;
    if (reaction) conn.send({ case: "react", value: { room, seq: reaction.seq, emoji: reaction.emoji, remove: reaction.remove, clientMsgId } });
    else if (change?.kind === "edit") conn.send({ case: "editMessage", value: { room, seq: change.seq, text, clientMsgId } });
    else if (change?.kind === "delete") conn.send({ case: "deleteMessage", value: { room, seq: change.seq, clientMsgId } });
    else conn.send({ case: "send", value: { room, text, clientMsgId, replyToSeq: entry.replyTo ?? 0n, mentions: entry.mentions ? [...entry.mentions] : [] } });
  }

  /** Send the read positions marked since (signed in only; see read-state.ts). */
  private flushReads(): void {
    const next = this.reads.flush(this.loop.current, (room) => this.isLive(room), Date.now());
    if (next === undefined || this.readsTimer) return;
    this.readsTimer = this.later(Math.max(0, next - Date.now()), () => {
      this.readsTimer = undefined;
      this.flushReads();
    });
  }

  private pumpAt(at: number): void {
    if (this.pumpTimer && this.pumpTimer.at <= at) return;
    if (this.pumpTimer) this.cancel(this.pumpTimer.timer);
    const timer = this.later(Math.max(0, at - Date.now()), () => {
      this.pumpTimer = undefined;
      this.pump();
    });
    this.pumpTimer = { at, timer };
  }

  private later(ms: number, fn: () => void): Timer {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private cancel(timer: Timer): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private notice(level: NoticeLevel, text: string): void {
    this.emit("notice", { level, text });
  }
}
