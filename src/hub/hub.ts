/**
 * The broadcast hub: the registry of rooms and members, the ordering of each
 * room's messages, and their fan-out. It knows nothing of gRPC or HTTP/2: a
 * session reaches the outside world only through its SessionTransport.
 *
 * A message's life: Session.send -> Hub.post assigns the room's next sequence
 * number and holds it as pending; at the end of the event-loop turn
 * commitPending stores every pending message in one store call, then fans
 * each one out (the broadcast copy is the sender's acknowledgement). So
 * nothing is acknowledged before it is stored, and every member sees a room's
 * messages in sequence order.
 */
import { ErrorCode, LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import type { HistoryStore, StoredMessage } from "../store/history-store.js";
import { MemoryHistoryStore } from "../store/memory-store.js";
import { CommandError, exhausted } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import * as events from "./events.js";
import { FlushScheduler } from "./flush-scheduler.js";
import { noObserver, type HubObserver } from "./observer.js";
import { defaultHubLimits, type HubLimits } from "./limits.js";
import { Room, type Membership } from "./room.js";
import { Session, type SessionTransport } from "./session.js";

export interface HubOptions {
  limits?: Partial<HubLimits>;
  store?: HistoryStore;
  /** Told when the store refuses a batch (the senders get an error event). */
  onStoreError?: (err: unknown) => void;
  /** Counters for metrics. */
  observer?: HubObserver;
}

export interface JoinRequest {
  room: string;
  nickname: string;
  /** Resume position: replay stored messages after this sequence number. */
  afterSeq?: number;
  /** The epoch afterSeq belongs to; empty when unknown. */
  epoch: string;
}

export interface RoomSummary {
  name: string;
  memberCount: number;
  lastSeq: number;
}

export interface HistoryPage {
  messages: StoredMessage[];
  epoch: string;
  firstSeq: number;
  lastSeq: number;
  hasMore: boolean;
}

interface PendingMessage {
  room: Room;
  sender: Session;
  message: StoredMessage;
}

export class Hub {
  readonly limits: HubLimits;
  readonly store: HistoryStore;
  readonly observer: HubObserver;
  private readonly rooms = new Map<string, Room>();
  private readonly sessions = new Set<Session>();
  private pending: PendingMessage[] = [];
  /** Sends of this turn by (room, sender, client id): a resend before the commit is a no-op. */
  private pendingIds = new Set<string>();
  private readonly scheduler = new FlushScheduler(() => this.commitPending());
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private nextSessionId = 1;
  private closed = false;
  private readonly onStoreError: (err: unknown) => void;

  constructor(options: HubOptions = {}) {
    this.limits = { ...defaultHubLimits, ...options.limits };
    this.store = options.store ?? new MemoryHistoryStore();
    this.onStoreError = options.onStoreError ?? (() => {});
    this.observer = options.observer ?? noObserver;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Bytes waiting in the fullest subscriber queue (bounded by limits.maxQueuedBytes). */
  get largestQueueBytes(): number {
    let max = 0;
    for (const s of this.sessions) max = Math.max(max, s.queue.bytes);
    return max;
  }

  /** Bytes waiting in all subscriber queues together. */
  get queuedBytes(): number {
    let sum = 0;
    for (const s of this.sessions) sum += s.queue.bytes;
    return sum;
  }

  get memberCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.members.size;
    return n;
  }

  /**
   * Open a session for a new stream, or say why not. With an identity (an
   * authenticated subject), the session may only join under that nickname.
   */
  openSession(transport: SessionTransport, identity?: string): Session | DisconnectReason {
    if (this.closed) return Disconnect.shutdown();
    if (this.sessions.size >= this.limits.maxSessions) return Disconnect.serverFull(this.limits.maxSessions);
    const session = new Session(this, this.nextSessionId++, transport, this.scheduler, identity);
    this.sessions.add(session);
    this.startHeartbeat();
    return session;
  }

  /** Called by a session once it has ended. */
  forget(session: Session): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.stopHeartbeat();
  }

  join(session: Session, req: JoinRequest): Membership {
    const room = this.roomFor(req.room);
    if (room.members.has(req.nickname)) {
      throw new CommandError(ErrorCode.ALREADY_EXISTS, `nickname "${req.nickname}" is already taken in room ${req.room}`);
    }
    if (room.members.size >= this.limits.maxMembersPerRoom) {
      this.dropIfUnused(room);
      throw exhausted(`room ${req.room} is full (${this.limits.maxMembersPerRoom} members)`);
    }
    const member: Membership = {
      room,
      session,
      nickname: req.nickname,
      joinedAtMs: Date.now(),
      live: req.afterSeq === undefined,
      replayCursor: 0,
    };
    room.members.set(req.nickname, member);
    room.broadcastPresence(events.memberJoinedEvent(member), member);
    session.queue.push(this.joinedEventFor(member, req));
    if (!member.live) this.continueReplay(member);
    return member;
  }

  leave(member: Membership, reason: LeaveReason): void {
    const room = member.room;
    if (room.members.get(member.nickname) !== member) return;
    room.members.delete(member.nickname);
    member.live = false;
    room.broadcastPresence(events.memberLeftEvent(member, reason), member);
    this.dropIfUnused(room);
  }

  /** Accept a message: it gets its sequence number now and is stored and fanned out at the end of this turn. */
  post(member: Membership, text: string, clientMsgId: string): void {
    const room = member.room;
    if (clientMsgId) {
      const key = `${room.name}\u0000${member.nickname}\u0000${clientMsgId}`;
      if (this.pendingIds.has(key)) return; // the pending original will acknowledge it
      const stored = this.store.findByClientMsgId(room.name, member.nickname, clientMsgId);
      if (stored) {
        // Already stored: acknowledge to this sender only, with the original sequence number.
        member.session.queue.push(events.messageEvent(stored));
        return;
      }
      this.pendingIds.add(key);
    }
    const message: StoredMessage = {
      room: room.name,
      seq: ++room.lastAssignedSeq,
      sender: member.nickname,
      text,
      sentAtMs: Date.now(),
      clientMsgId,
    };
    room.pending++;
    member.session.unacked++;
    this.observer.messageAccepted();
    this.pending.push({ room, sender: member.session, message });
    this.scheduler.schedule();
  }

  typing(member: Membership): void {
    member.room.broadcast(events.typingEvent(member), member);
  }

  /** Continue a resuming member's replay; switches it to live once it has caught up. */
  continueReplay(member: Membership): void {
    const room = member.room;
    const queue = member.session.queue;
    while (!member.live && room.members.get(member.nickname) === member) {
      const page = this.store.after(room.name, member.replayCursor, this.limits.replayPageSize);
      for (const m of page) {
        if (m.seq > room.lastDeliveredSeq) break;
        queue.push(events.messageEvent(m));
        member.replayCursor = m.seq;
      }
      if (member.replayCursor >= room.lastDeliveredSeq || page.length === 0) {
        // Caught up: from here on the member gets live broadcasts, and nothing
        // was committed in between (this runs synchronously).
        member.live = true;
        return;
      }
      // Let the client read what we queued before reading more from the store.
      if (queue.bytes > this.limits.maxQueuedBytes / 4) return;
    }
  }

  listRooms(): RoomSummary[] {
    return [...this.rooms.values()]
      .filter((r) => r.members.size > 0)
      .map((r) => ({ name: r.name, memberCount: r.members.size, lastSeq: r.lastDeliveredSeq }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  listMembers(room: string): Membership[] {
    return [...(this.rooms.get(room)?.members.values() ?? [])];
  }

  history(room: string, opts: { beforeSeq?: number; afterSeq?: number; limit: number }): HistoryPage {
    const state = this.store.peekState(room) ?? { epoch: "", lastSeq: 0, firstSeq: 0 };
    const live = this.rooms.get(room);
    // Only what has been fanned out is history; a pending message is not yet acknowledged.
    const lastSeq = live ? live.lastDeliveredSeq : state.lastSeq;
    let messages: StoredMessage[];
    let hasMore: boolean;
    if (opts.afterSeq !== undefined) {
      messages = this.store.after(room, opts.afterSeq, opts.limit + 1).filter((m) => m.seq <= lastSeq);
      if (opts.beforeSeq !== undefined) messages = messages.filter((m) => m.seq < opts.beforeSeq!);
      hasMore = messages.length > opts.limit;
      messages = messages.slice(0, opts.limit);
    } else {
      const before = Math.min(opts.beforeSeq ?? Number.MAX_SAFE_INTEGER, lastSeq + 1);
      messages = this.store.before(room, before, opts.limit + 1);
      hasMore = messages.length > opts.limit;
      messages = messages.slice(-opts.limit);
    }
    return { messages, epoch: state.epoch, firstSeq: state.firstSeq, lastSeq, hasMore };
  }

  /** Tell every session the server is going away, then end them. */
  shutdown(reason = "server is shutting down"): void {
    this.closed = true;
    this.commitPending();
    const event = events.shutdownEvent(reason);
    for (const session of [...this.sessions]) session.shutdown(event);
    this.stopHeartbeat();
  }

  private roomFor(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      if (this.rooms.size >= this.limits.maxRooms) throw exhausted(`server is at its limit of ${this.limits.maxRooms} rooms`);
      room = new Room(name, this.store.roomState(name));
      this.rooms.set(name, room);
    }
    return room;
  }

  private dropIfUnused(room: Room): void {
    if (room.isUnused && this.rooms.get(room.name) === room) this.rooms.delete(room.name);
  }

  private joinedEventFor(member: Membership, req: JoinRequest) {
    const room = member.room;
    const state = this.store.roomState(room.name);
    const resumed = req.afterSeq !== undefined;
    const epochChanged = resumed && req.epoch !== "" && req.epoch !== room.epoch;
    let truncated = false;
    if (resumed) {
      member.replayCursor = epochChanged ? 0 : Math.min(req.afterSeq!, room.lastDeliveredSeq);
      // A gap between the client's position and the oldest kept message was lost to retention.
      truncated = state.firstSeq > member.replayCursor + 1 || (state.firstSeq === 0 && member.replayCursor < room.lastDeliveredSeq);
    }
    return events.joinedEvent({
      room: room.name,
      nickname: member.nickname,
      members: [...room.members.values()].map(events.toMember),
      recent: resumed ? [] : this.store.recent(room.name, this.limits.recentOnJoin).map(events.toChatMessage),
      epoch: room.epoch,
      lastSeq: BigInt(room.lastDeliveredSeq),
      firstSeq: BigInt(state.firstSeq),
      resumed,
      historyTruncated: truncated,
      epochChanged,
    });
  }

  /** Store this turn's messages in one call, then fan each out in sequence order. */
  private commitPending(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingIds.clear();
    const started = performance.now();
    try {
      this.store.append(batch.map((p) => p.message));
    } catch (err) {
      this.rejectBatch(batch, err);
      return;
    }
    const now = Date.now();
    this.observer.committed(batch.length, performance.now() - started);
    for (const { room, sender, message } of batch) {
      room.lastDeliveredSeq = message.seq;
      room.pending--;
      const receivers = room.broadcast(events.messageEvent(message));
      this.observer.fannedOut(receivers, now - message.sentAtMs);
      sender.acknowledged();
      this.dropIfUnused(room);
    }
  }

  /** Nothing of the batch was stored: hand the sequence numbers back and tell each sender. */
  private rejectBatch(batch: PendingMessage[], err: unknown): void {
    this.onStoreError(err);
    for (const { room, sender, message } of batch) {
      room.lastAssignedSeq = room.lastDeliveredSeq;
      room.pending--;
      sender.rejected(message, "message was not stored (storage error); it was not delivered, retry");
      this.dropIfUnused(room);
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer || this.limits.heartbeatIntervalMs <= 0) return;
    this.heartbeatTimer = setInterval(() => {
      const event = events.heartbeatEvent(Date.now());
      for (const session of this.sessions) session.queue.push(event);
    }, this.limits.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}
