/**
 * The hub: this node's registry of sessions and of the rooms they are in, and
 * the fan-out of what the room log delivers. It knows nothing of gRPC, HTTP/2
 * or Redis: sessions reach their clients through a SessionTransport, and
 * rooms reach their history and their other members through the RoomLog.
 *
 * A message's life: Session.send -> Hub.publish -> RoomLog.publish, which
 * numbers and stores it and delivers it to every node in the room ->
 * LocalRoom.deliver pushes the same bytes to every live local member; the
 * sender's copy (it carries its client_msg_id) is its acknowledgement. The
 * log refuses, in the step that numbers it, a message whose sender the
 * room's state does not let post (banned, muted).
 *
 * A room's state changes only through the log (act), as a numbered entry
 * delivered like a message: when one arrives, the hub ends the local
 * memberships it removes (kicked, banned, deleted; each gets the entry first,
 * then its LeftEvent) and renews its copy of the state.
 *
 * A join's life: the session records the membership, then the hub subscribes
 * this node to the room (first local member), asks the log for the nickname
 * (the log also checks that the room's state lets this user in),
 * prepares the joined event (the first members, recent history or a resume
 * position, bounded in bytes), waits until the client's queue has room for it,
 * and sends it; a resuming member is then replayed stored messages, paced by
 * the room in its queue, until it has caught up with what this node has fanned
 * out, and becomes live in the same synchronous step.
 */
import { ErrorCode, LeaveReason, RoomActionKind, RoomRole } from "../../gen/chat/v1/chat_pb.js";
import {
  LogUnavailableError,
  type ActRequest,
  type HistoryPage,
  type HistoryQuery,
  type PresenceChange,
  type PublishOutcome,
  type RoomLog,
  type RoomPosition,
} from "../log/room-log.js";
import { hiddenRoom, mayJoin, type Access, type RoomStateData } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import { encodeJoinedEvent } from "../wire/joined-event.js";
import * as events from "../wire/events.js";
import { CommandError, exhausted } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import { FlushScheduler } from "./flush-scheduler.js";
import { defaultHubLimits, type HubLimits } from "./limits.js";
import type { Membership } from "./membership.js";
import { prepareNickname, type PreparedNickname } from "./nickname.js";
import { noObserver, type HubObserver } from "./observer.js";
import { LocalRoom } from "./room.js";
import type { Caller, SessionIdentity } from "./caller.js";
import { RoomQueries, type MemberListing, type RoomListing } from "./room-queries.js";
import { DIRECT_PREFIX, type ActAnswer } from "./room-actions.js";
import { directOpenedNotice, notifyNobody, type DirectNotice, type DirectNotify } from "./direct-notices.js";
import { recordAction } from "./record-action.js";
import { markRead, readNotifyNobody, type ReadNotice, type ReadNotify } from "./read-marks.js";
import { SignedInSessions } from "./signed-in-sessions.js";
import { mentionEventOf, mentionNotice, mentionNotifyNobody, type MentionNotice, type MentionNotify } from "./mentions.js";
import { recordChange, type ChangeAnswer } from "./message-changes.js";
import type { ChangeRequest } from "../log/message-changes.js";
import type { ReactRequest } from "../log/reactions.js";
import { recordReaction } from "./reactions.js";
import { eventFor, withoutCounts } from "../wire/reaction-codec.js";
import { actionOf, evictionAfter, immediateEviction, roomStateFor, storedRole, type Eviction } from "./room-rights.js";
import { Session, type JoinOptions, type SendExtras, type SessionHost, type SessionTransport } from "./session.js";

export interface HubOptions {
  log: RoomLog;
  limits?: Partial<HubLimits>;
  /** The process's turn scheduler (shared with the embedded log, whose commit runs before queues flush). */
  scheduler?: FlushScheduler;
  /** Counters for metrics. */
  observer?: HubObserver;
}

/** Upper bound of one Member entry in a joined event (a 32-character nickname of 4-byte characters, a timestamp). */
const MEMBER_ENTRY_MAX_BYTES = 160;
/** How long a replay waits before retrying a read the log could not serve. */
const REPLAY_RETRY_MS = 1000;

export class Hub implements SessionHost {
  readonly limits: HubLimits;
  readonly observer: HubObserver;
  readonly scheduler: FlushScheduler;
  private readonly log: RoomLog;
  private readonly queries: RoomQueries;
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly sessions = new Set<Session>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private nextSessionId = 1;
  private closed = false;
  /** When each open session opened (ListUserSessions). */
  private readonly openedAtMs = new WeakMap<Session, number>();
  /** Tells the other user of a direct conversation just created, on every node (the server sets it: direct-notices.ts). */
  directNotify: DirectNotify = notifyNobody;
  /** Tells the user's sessions on the other nodes that a read position moved (the server sets it: read-marks.ts). */
  readNotify: ReadNotify = readNotifyNobody;
  /** Tells mentioned users' sessions on the other nodes (the server sets it: mentions.ts). */
  mentionNotify: MentionNotify = mentionNotifyNobody;
  private readonly signedIn = new SignedInSessions<Session>();

  constructor(options: HubOptions) {
    this.limits = { ...defaultHubLimits, ...options.limits };
    this.log = options.log;
    this.queries = new RoomQueries(options.log, this.limits.maxRooms);
    this.scheduler = options.scheduler ?? new FlushScheduler();
    this.observer = options.observer ?? noObserver;
  }

  get closing(): boolean {
    return this.closed;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Local memberships (joins under way included). */
  get memberCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.members.size;
    return n;
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

  /** This node's members of a room, in join order. */
  localMembers(room: string): Membership[] {
    return [...(this.rooms.get(room)?.members ?? [])];
  }

  /**
   * Memberships that break the hub's invariant (for tests): every local member
   * belongs to a session that is still open and still counts it as its own.
   */
  strayMembers(): string[] {
    const open = new Set([...this.sessions].filter((s) => !s.isEnded));
    const stray: string[] = [];
    for (const room of this.rooms.values()) {
      for (const m of room.members) {
        const owner = m.owner as Session;
        if (m.state === "gone" || !open.has(owner)) stray.push(`${room.name}/${m.nickname} (${m.state})`);
      }
    }
    return stray;
  }

  /**
   * Open a session for a new stream, or say why not. With an identity (an
   * authenticated subject), the session may only join under that nickname,
   * and its subject is its user id in every room.
   */
  openSession(transport: SessionTransport, identity?: SessionIdentity | string): Session | DisconnectReason {
    if (this.closed) return Disconnect.shutdown();
    if (this.sessions.size >= this.limits.maxSessions) return Disconnect.serverFull(this.limits.maxSessions);
    const who = typeof identity === "string" ? { subject: identity } : identity;
    const session = new Session(this, this.nextSessionId++, transport, who);
    this.sessions.add(session);
    if (who) this.signedIn.add(who.subject, session);
    this.openedAtMs.set(session, Date.now());
    this.startHeartbeat();
    return session;
  }

  forget(session: Session): void {
    this.sessions.delete(session);
    if (session.identity) this.signedIn.delete(session.identity.subject, session);
    if (this.sessions.size === 0) this.stopHeartbeat();
  }

  async join(m: Membership, options: JoinOptions): Promise<CommandError | EncodedEvent | undefined> {
    let room: LocalRoom;
    try {
      room = this.openRoom(m.room);
    } catch (err) {
      if (err instanceof CommandError) return err;
      throw err;
    }
    room.pendingJoins++;
    try {
      await room.ready;
      if (m.isGone) return undefined;
      // "dm." names belong to direct-message rooms: a join never makes one.
      if (m.room.startsWith(DIRECT_PREFIX) && !(await this.log.state(m.room))?.direct) return refusal(hiddenRoom(m.room));
      if (m.isGone) return undefined;
      const access = { userId: m.userId, grant: m.grant };
      const outcome = await this.log.claim(m.room, m.record, this.limits.maxMembersPerRoom, options.resumeTokenHash, access);
      if (outcome.kind === "taken") return takenError(m.room, m.nickname, outcome.holder);
      if (outcome.kind === "full") return exhausted(`room ${m.room} is full (${outcome.limit} members)`);
      if (outcome.kind === "refused") return new CommandError(outcome.code, outcome.message);
      m.claimed = true;
      if (outcome.joinedAs) {
        // The user was in the room already (another session): this one shares that membership, under its name.
        Object.assign(m.record, outcome.joinedAs);
      }
      if (outcome.replaced) {
        // The membership keeps its join time; a stream of ours that still held it is gone
        // (the log's "replaced" change may come before or after this: either one drops it).
        m.record.joinedAtMs = outcome.replaced.joinedAtMs;
        const stale = [...room.members].find((x) => x.nickname === m.nickname && x !== m);
        if (stale) this.dropReplaced(room, stale);
      }
      if (m.isGone) {
        // The session ended while the log was deciding: give the nickname straight back.
        this.release(m, m.goneReason ?? LeaveReason.DISCONNECTED);
        return undefined;
      }
      m.state = "preparing";
      room.members.add(m);
      return await this.sendJoined(room, m, options, outcome.replaced !== undefined);
    } catch (err) {
      if (err instanceof LogUnavailableError) {
        if (!m.isGone) this.leave(m, LeaveReason.DISCONNECTED);
        return new CommandError(ErrorCode.UNAVAILABLE, `cannot join room ${m.room} now (${err.message}); retry`);
      }
      throw err;
    } finally {
      room.pendingJoins--;
      this.dropIfUnused(room);
    }
  }

  leave(m: Membership, reason: LeaveReason): void {
    if (m.isGone) return;
    m.state = "gone";
    m.goneReason = reason;
    const room = this.rooms.get(m.room);
    room?.members.delete(m);
    if (m.claimed) this.release(m, reason);
    if (room) this.dropIfUnused(room);
  }

  async rename(m: Membership, next: PreparedNickname): Promise<CommandError | EncodedEvent> {
    const from = m.nickname;
    const record = { ...m.record };
    let outcome;
    m.renamingTo = next.nickname;
    try {
      outcome = await this.log.rename(m.room, record, next);
    } catch (err) {
      if (err instanceof LogUnavailableError) return new CommandError(ErrorCode.UNAVAILABLE, `cannot rename in room ${m.room} now (${err.message}); retry`);
      throw err;
    } finally {
      m.renamingTo = undefined;
    }
    if (outcome.kind === "taken") return takenError(m.room, next.nickname, outcome.holder);
    if (outcome.kind === "gone") return new CommandError(ErrorCode.FAILED_PRECONDITION, `you are no longer in room ${m.room}; join it again`);
    const renamed = { ...record, nickname: next.nickname, skeleton: next.skeleton };
    if (m.isGone) {
      // It left while the log was renaming: its release named the old nickname, so give the new one back.
      if (m.goneReason !== LeaveReason.REPLACED) this.log.release(m.room, renamed, m.goneReason ?? LeaveReason.DISCONNECTED).catch(() => {});
      return events.memberRenamedEvent(m.room, from, next.nickname);
    }
    m.record.nickname = next.nickname;
    m.record.skeleton = next.skeleton;
    return events.memberRenamedEvent(m.room, from, next.nickname);
  }

  publish(m: Membership, text: string, clientMsgId: string, onDelivered?: (event: EncodedEvent) => void, extras: SendExtras = {}): Promise<PublishOutcome> {
    const sentAtMs = Date.now();
    const { replyToSeq, mentions } = extras;
    // The log refuses a sender the room's state does not let post (banned, muted), in the step that stores.
    const request = {
      room: m.room,
      sender: m.nickname,
      text,
      clientMsgId,
      sentAtMs,
      senderId: m.userId,
      grant: m.grant,
      ...(replyToSeq ? { replyToSeq } : {}),
      ...(mentions?.length ? { mentions } : {}),
    };
    return this.log.publish(request).then((outcome) => {
      if (outcome.kind === "stored" && mentions?.length) this.mention({ ...request, seq: outcome.seq, mentions });
      if (outcome.kind === "stored") {
        const acknowledge = (delivered?: EncodedEvent) => {
          this.observer.acknowledged(Date.now() - sentAtMs);
          m.owner.acknowledged();
          // Only a caller that asked gets the event: the bytes every member got (encoded again if not fanned out here).
          if (onDelivered) onDelivered(delivered ?? events.messageEvent({ room: m.room, sender: m.nickname, text, clientMsgId, sentAtMs, senderId: m.userId, seq: outcome.seq, replyTo: outcome.replyTo, ...(mentions?.length ? { mentions } : {}) }));
        };
        const room = this.rooms.get(m.room);
        if (room) room.expectAck(outcome.seq, acknowledge);
        else acknowledge();
      }
      return outcome;
    });
  }

  /**
   * Change a room's state through its log. Resolves with the action's entry
   * as every member receives it, or with the refusal.
   */
  act(request: ActRequest): Promise<CommandError | ActAnswer> {
    return recordAction(this.log, request, () => this.rooms.get(request.room));
  }

  /** Edit or delete a message through its room's log: the change's entry as every member receives it, or the refusal. */
  change(request: ChangeRequest): Promise<CommandError | ChangeAnswer> {
    return recordChange(this.log, request, () => this.rooms.get(request.room));
  }

  /** React to a message through its room's log: the reaction's entry, the target for a no-op, or the refusal. */
  react(request: ReactRequest): Promise<CommandError | ChangeAnswer> {
    return recordReaction(this.log, request, () => this.rooms.get(request.room));
  }

  /**
   * Move the member's read position forward; the answer goes to its session,
   * the same event to the user's other sessions on every node.
   */
  async markRead(m: Membership, seq: bigint): Promise<CommandError | EncodedEvent> {
    const outcome = await markRead(this.log, m, seq, this.rooms.get(m.room)?.position.lastSeq ?? 0);
    if (outcome instanceof CommandError) return outcome;
    this.signedIn.push(outcome.userId, events.readPositionEvent(outcome.room, outcome), m.owner as Session);
    this.readNotify(outcome);
    return events.readPositionEvent(outcome.room, outcome);
  }

  /** Tell the users a stored message mentions, here and on the other nodes. */
  private mention(message: Parameters<typeof mentionNotice>[0]): void {
    const notice = mentionNotice(message, this.rooms.get(message.room)?.state, Date.now());
    if (!notice) return;
    this.tellMention(notice);
    this.mentionNotify(notice);
  }

  /** A direct conversation was opened with a user: their sessions on this node hear of it. */
  tellDirectOpened(notice: DirectNotice): number {
    return this.signedIn.push(notice.to, directOpenedNotice(notice));
  }

  /** A message mentions users: their sessions on this node hear of it. */
  tellMention(notice: MentionNotice): number {
    const event = mentionEventOf(notice);
    let told = 0;
    for (const user of notice.users) told += this.signedIn.push(user, event);
    return told;
  }

  /** Another node's session of a user moved a read position: this node's sessions of the user hear of it. */
  tellReadPosition(notice: ReadNotice): number {
    return this.signedIn.push(notice.userId, events.readPositionEvent(notice.room, notice));
  }

  /** The room's state (undefined: none, a public room without roles). */
  roomState(room: string): Promise<RoomStateData | undefined> {
    return this.log.state(room);
  }

  typing(m: Membership): void {
    if (m.state !== "live" && m.state !== "catching-up") return;
    this.log.signal(m.room, events.typingEvent(m.room, m.nickname), m.nickname);
  }

  /** Rooms with members that the caller may see (private ones only to their members). */
  listRooms(caller?: Caller): Promise<RoomListing[]> {
    return this.queries.rooms(caller);
  }

  /** The rooms where the (authenticated) caller holds a role. */
  myRooms(caller: SessionIdentity): Promise<RoomListing[]> {
    return this.queries.mine(caller);
  }

  listMembers(room: string, pageToken: string, pageSize: number, caller?: Caller): Promise<MemberListing> {
    return this.queries.members(room, pageToken, pageSize, caller);
  }

  history(room: string, query: HistoryQuery, caller?: Caller): Promise<HistoryPage> {
    return this.queries.history(room, query, caller);
  }

  /**
   * Stop: refuse new work, store and fan out everything accepted, tell every
   * session, and end them once their notice is written.
   */
  async shutdown(reason = "server is shutting down"): Promise<void> {
    this.closed = true;
    await this.log.drain().catch(() => {});
    // Local senders whose messages were stored elsewhere wait for their copies (bounded).
    const deadline = Date.now() + 2000;
    while ([...this.rooms.values()].some((r) => r.acksPending) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const event = events.shutdownEvent(reason);
    for (const room of this.rooms.values()) room.silence();
    for (const session of [...this.sessions]) session.shutdown(event);
    this.stopHeartbeat();
  }

  private openRoom(name: string): LocalRoom {
    const existing = this.rooms.get(name);
    if (existing) return existing;
    if (this.rooms.size >= this.limits.maxRooms) throw exhausted(`server is at its limit of ${this.limits.maxRooms} rooms`);
    const room = new LocalRoom(name, this.limits, (receivers) => this.observer.fannedOut(receivers));
    room.onAction = (entry) => this.roomAction(room, entry.action!);
    this.rooms.set(name, room);
    room.ready = this.log
      .subscribe(name, {
        entries: (_room, entries) => room.deliver(entries),
        presence: (_room, change) => this.presence(room, change),
        signal: (_room, event, from) => room.signal(event, from),
        reset: (_room, position) => this.resetRoom(room, position),
      })
      .then(async (position) => {
        room.position = { ...position };
        // Read after subscribing: any change after this read comes as an entry and refreshes it.
        this.keepState(room, await this.log.state(name));
      });
    // A failed subscription fails the joins waiting on it; nothing else awaits it.
    room.ready.catch(() => {});
    return room;
  }

  private presence(room: LocalRoom, change: PresenceChange): void {
    if (change.kind === "replaced") {
      const stale = [...room.members].find((m) => m.nickname === change.nickname && m.record.tokenHash === change.tokenHash);
      if (stale) this.dropReplaced(room, stale);
    }
    room.presence(change);
    if (change.kind === "renamed") this.renamedElsewhere(room, change.from, change.to);
  }

  /** A shared membership was renamed (by any session of its user): every local session of it carries the new name. */
  private renamedElsewhere(room: LocalRoom, from: string, to: string): void {
    const prepared = prepareNickname(to);
    if (!prepared.ok) return; // the log only stores prepared names
    for (const m of room.members) {
      if (m.shared && m.nickname === from) {
        m.record.nickname = prepared.nickname;
        m.record.skeleton = prepared.skeleton;
      }
    }
  }

  /**
   * A local membership was taken over in the log by another stream: it is gone. Its release
   * names the old membership (its token), so the log removes nobody and announces nothing; it
   * only lets the log forget that this node held it.
   */
  private dropReplaced(room: LocalRoom, m: Membership): void {
    if (m.isGone) return;
    if (m.claimed) this.release(m, LeaveReason.REPLACED);
    m.state = "gone";
    m.goneReason = LeaveReason.REPLACED;
    room.members.delete(m);
    m.owner.membershipReplaced(m);
    this.dropIfUnused(room);
  }

  /**
   * An entry changed the room's state: its members got it; now the ones it
   * removes leave (every local session of a kicked or banned user, everyone
   * when the room is deleted), and this node's copy of the state is renewed.
   */
  private roomAction(room: LocalRoom, bytes: Uint8Array): void {
    let action;
    try {
      action = actionOf(bytes);
    } catch {
      return; // not a RoomAction this version can read: nothing to enforce here
    }
    const now = immediateEviction(action);
    if (now) this.evict(room, now);
    if (action.kind === RoomActionKind.DELETE) room.state = undefined;
    this.log.state(room.name).then(
      (state) => {
        if (this.rooms.get(room.name) !== room) return;
        this.keepState(room, state);
        const later = evictionAfter(action, state);
        if (later) this.evict(room, later);
      },
      () => {}, // kept as it was; the next entry renews it
    );
  }

  /** Keep the newer of the node's copy and a state just read (reads may cross). */
  private keepState(room: LocalRoom, state: RoomStateData | undefined): void {
    if (state && room.state && state.version < room.state.version) return;
    room.state = state;
  }

  private evict(room: LocalRoom, eviction: Eviction): void {
    for (const m of [...room.members]) {
      if ("user" in eviction) {
        if (m.userId !== eviction.user) continue;
        if (eviction.unlessGranted && (m.grant ?? RoomRole.UNSPECIFIED) >= RoomRole.MEMBER) continue;
      }
      if (m.isGone) continue;
      m.state = "gone";
      m.goneReason = eviction.reason;
      room.members.delete(m);
      // The log tells every node (and so the other members) why it left.
      if (m.claimed) this.release(m, eviction.reason);
      m.owner.membershipEnded(m, eviction.reason);
    }
    // Not inside the log's delivery: dropping the room unsubscribes it.
    queueMicrotask(() => this.dropIfUnused(room));
  }

  private dropIfUnused(room: LocalRoom): void {
    if (!room.isUnused || this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    room.close();
    this.log.unsubscribe(room.name);
  }

  private release(m: Membership, reason: LeaveReason): void {
    m.claimed = false;
    // An unreachable log forgets the member by itself (its node lease runs out).
    this.log.release(m.room, m.record, reason).catch(() => {});
  }

  /** Build the joined event, wait for room in the client's queue, send it, and start the replay; returns it once sent. */
  private async sendJoined(room: LocalRoom, m: Membership, options: JoinOptions, replaced: boolean): Promise<CommandError | EncodedEvent | undefined> {
    const queue = m.owner.queue;
    const pageSize = Math.max(1, Math.min(this.limits.membersOnJoin, Math.floor(this.limits.maxQueuedBytes / 4 / MEMBER_ENTRY_MAX_BYTES)));
    const [page, stored, state, read] = await Promise.all([
      this.log.members(room.name, "", pageSize),
      this.log.position(room.name),
      this.log.state(room.name),
      // Read positions are a signed-in user's (a shared membership's).
      m.shared ? this.log.readState(room.name, m.userId) : undefined,
    ]);
    if (m.isGone) return undefined;
    this.keepState(room, state);
    // A ban (or a removal) decided after the claim and delivered before it was known here.
    const access = mayJoin(room.name, state, m.userId, m.grant, Date.now());
    if (!access.ok) {
      this.leave(m, LeaveReason.DISCONNECTED);
      return refusal(access);
    }
    const resumed = options.afterSeq !== undefined;
    let recent: Uint8Array[] = [];
    let epochChanged = false;
    let truncated = false;
    let lastSeq: number;
    if (!resumed) {
      lastSeq = room.position.lastSeq;
      const entries = await this.log.recent(room.name, lastSeq, { maxMessages: this.limits.recentOnJoin, maxBytes: this.limits.maxQueuedBytes / 4 });
      // Shared bytes, except the messages this user reacted to (ReactionCount.mine).
      recent = entries.map((e) => eventFor(e, m.userId));
      m.replayCursor = lastSeq;
    } else {
      // A client that had seen nothing (after_seq 0) has lost nothing to a new epoch; a position
      // without its epoch cannot be trusted to belong to this history, so it counts as another one.
      epochChanged = options.afterSeq! > 0 && options.epoch !== room.position.epoch;
      m.replayCursor = epochChanged ? 0 : Math.min(options.afterSeq!, room.position.lastSeq);
      const firstSeq = stored.epoch === room.position.epoch ? stored.firstSeq : 0;
      // A gap between the client's position and the oldest kept message was lost to retention.
      truncated = firstSeq > m.replayCursor + 1 || (firstSeq === 0 && m.replayCursor < room.position.lastSeq);
      lastSeq = room.position.lastSeq;
    }
    if (m.isGone) return undefined;
    const joined = encodeJoinedEvent(
      {
        room: room.name,
        nickname: m.nickname,
        memberCount: page.memberCount,
        membersPageToken: page.nextPageToken,
        epoch: room.position.epoch,
        lastSeq: BigInt(lastSeq),
        firstSeq: BigInt(stored.firstSeq),
        resumed,
        historyTruncated: truncated,
        epochChanged,
        resumeToken: options.resumeToken,
        replaced,
        rateLimitPerSecond: this.limits.rateLimitPerSec,
        rateLimitBurst: this.limits.rateBurst,
        userId: m.userId,
        state: roomStateFor(state, m.userId, m.grant, Date.now()),
        readSeq: BigInt(read?.readSeq ?? 0),
        unreadCount: read?.unread ?? 0,
        mentionCount: read?.mentions ?? 0,
      },
      page.members,
      recent,
      (member) => storedRole(state, member.userId),
    );
    while (!queue.fits(joined.length) && !queue.isClosed) await new Promise<void>((resolve) => queue.whenWritable(resolve));
    if (m.isGone) return undefined;
    queue.push(joined);
    m.state = "catching-up";
    this.continueReplay(room, m);
    return joined;
  }

  /** Send a catching-up member its next stored messages, as many as its queue has room for; go live once caught up. */
  private continueReplay(room: LocalRoom, m: Membership): void {
    if (m.reading || m.state !== "catching-up") return;
    if (m.replayCursor >= room.position.lastSeq) {
      // Caught up with what this node has fanned out: from here on it gets live
      // deliveries, and nothing can have been delivered in between (synchronous).
      m.state = "live";
      return;
    }
    const queue = m.owner.queue;
    const budget = queue.room();
    if (budget <= 0) {
      queue.whenWritable(() => this.continueReplay(room, m));
      return;
    }
    m.reading = true;
    const release = queue.reserve(budget);
    this.log.read(room.name, m.replayCursor, { maxMessages: this.limits.replayPageSize, maxBytes: budget }).then(
      (entries) => {
        m.reading = false;
        release();
        if (m.state !== "catching-up") return;
        let pushed = false;
        for (const e of entries) {
          if (e.seq > room.position.lastSeq) break;
          if (e.seq <= m.replayCursor) continue;
          // Without counts: the reaction entries after it in this replay count them.
          queue.push(withoutCounts(e));
          m.replayCursor = e.seq;
          pushed = true;
        }
        // Nothing stored up to this node's position: retention dropped it; the member has all there is.
        if (!pushed) m.replayCursor = room.position.lastSeq;
        this.continueReplay(room, m);
      },
      (err) => {
        m.reading = false;
        release();
        if (err instanceof LogUnavailableError) setTimeout(() => this.continueReplay(room, m), REPLAY_RETRY_MS).unref();
        else m.owner.abort(Disconnect.internal());
      },
    );
  }

  /**
   * The log lost the room's history (e.g. its Redis restarted empty). Members
   * hold positions in the old epoch that mean nothing now: end their streams,
   * so their clients rejoin and are told the epoch changed.
   */
  private resetRoom(room: LocalRoom, position: RoomPosition): void {
    room.position = { ...position };
    for (const m of [...room.members]) m.owner.abort(Disconnect.historyReset(room.name));
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

  /**
   * This node's open sessions of a user: signed in as it (the token's
   * subject), or, without authentication, holding it as a nickname in some
   * room. Each with the rooms it is in and when it opened.
   */
  userSessions(userId: string): LocalUserSession[] {
    const rooms = new Map<Session, string[]>();
    const users = new Map<Session, Set<string>>();
    for (const room of this.rooms.values()) {
      for (const m of room.members) {
        if (m.isGone) continue;
        const owner = m.owner as Session;
        rooms.set(owner, [...(rooms.get(owner) ?? []), room.name]);
        // Without authentication a user is a nickname (records made before user ids have none).
        users.set(owner, (users.get(owner) ?? new Set<string>()).add(m.record.userId ?? m.nickname));
      }
    }
    const nickname = prepareNickname(userId);
    const hers = (s: Session): boolean => {
      const subject = subjectOf(s);
      if (subject !== undefined) return subject === userId;
      const held = users.get(s);
      return held !== undefined && (held.has(userId) || (nickname.ok && held.has(nickname.nickname)));
    };
    return [...this.sessions]
      .filter((s) => !s.isEnded && hers(s))
      .map((s) => ({ session: s, rooms: (rooms.get(s) ?? []).sort(), openedAtMs: this.openedAtMs.get(s) ?? 0 }));
  }

  /**
   * End every session of the user on this node (the admin API's
   * DisconnectUser): each gets a shutdown notice with the reason, its rooms
   * see it leave (DISCONNECTED_BY_ADMIN), and its stream ends with the
   * reason. Returns how many sessions ended.
   */
  disconnectUser(userId: string, reason: string): number {
    const found = this.userSessions(userId);
    const ending = Disconnect.byAdmin(reason);
    for (const { session } of found) {
      session.queue.push(events.shutdownEvent(ending.message));
      // Written now: the end closes the queue, and the notice must reach the client before its status.
      session.queue.flush();
      session.abort(ending);
    }
    return found.length;
  }
}

/** A session's authenticated user id: its identity is the subject, or an object carrying it. */
function subjectOf(s: Session): string | undefined {
  const identity = s.identity as unknown;
  if (typeof identity === "string") return identity;
  const subject = (identity as { subject?: unknown } | undefined)?.subject;
  return typeof subject === "string" ? subject : undefined;
}

/** One of this node's sessions of a user (Hub.userSessions). */
export interface LocalUserSession {
  session: Session;
  rooms: string[];
  openedAtMs: number;
}

/** A refusal by the room's rules as a command error. */
const refusal = (r: Access) => (r.ok ? new CommandError(ErrorCode.FAILED_PRECONDITION, "refused") : new CommandError(r.code, r.message));

/** A join or rename refused because the nickname (or a look-alike) is held. */
function takenError(room: string, nickname: string, holder: string): CommandError {
  return new CommandError(
    ErrorCode.ALREADY_EXISTS,
    holder === nickname
      ? `nickname "${nickname}" is already taken in room ${room}`
      : `nickname "${nickname}" is too much like "${holder}", who is already in room ${room}`,
  );
}
