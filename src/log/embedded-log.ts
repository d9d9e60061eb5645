/**
 * The embedded room log: one process, history in a HistoryStore (memory or
 * SQLite), members in memory. It is the single sequencer of every room.
 *
 * A message's life: publish() gives it the room's next sequence number and
 * holds it as pending; at the end of the event-loop turn (a hook of the
 * process's turn scheduler, run before subscriber queues flush) commit()
 * stores every pending message in one store call, then delivers each room's
 * new entries to its listener, then settles the publishers' promises. So
 * nothing is delivered (and so acknowledged) before it is stored, and a
 * refused batch is delivered to nobody: its numbers are handed back.
 *
 * A room action (act()) is decided against the room's state and stored the
 * same way, with the new state in the same store call; it commits at once
 * (with whatever else is pending), so every later publish, claim and act is
 * checked against the state it made. Publishes and claims check the state
 * (rooms/room-state.ts) synchronously, in the step that numbers or admits
 * them: a send that comes after a ban's entry is refused, none is stored.
 *
 * An edit or delete (change()) stores what is pending first, then decides
 * against the target as stored and commits at once, like an action: so a
 * delete racing an edit is decided one after the other (the later of the two
 * sees the earlier's result). A reply is checked against its target (stored,
 * or pending in this turn) when it is numbered.
 */
import { randomUUID } from "node:crypto";
import type { LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import { decide, mayJoin, mayPost, type RoomStateData } from "../rooms/room-state.js";
import type { HistoryStore } from "../store/history-store.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import { encodeMessageEvent } from "../wire/message-codec.js";
import type { RoomPosition, StoredMessage } from "./message.js";
import { MemberDirectory } from "./member-directory.js";
import { countUnread, UNREAD_CAP, type ReadState } from "./read-positions.js";
import type {
  ClaimOutcome,
  HistoryPage,
  HistoryQuery,
  JoinAccess,
  LogEntry,
  MemberPage,
  MemberRecord,
  PublishOutcome,
  PublishRequest,
  ReadLimits,
  RenameOutcome,
  RoomListener,
  RoomLog,
  RoomSummary,
  ActOutcome,
  ActRequest,
  UserRoom,
} from "./room-log.js";
import { changeEntry, changeFingerprint, decideChange, decideReply, replyRef, sendFingerprint, type ChangeRequest } from "./message-changes.js";
import type { ChangeOutcome, ReactOutcome } from "./room-log.js";
import { decideReaction, reactionEntry, reactionFingerprint, reactionsBefore, type ReactRequest } from "./reactions.js";

/** Entries after a recent() read's point whose reactions it takes back out of the counts (more: counted as they are). */
const RECOUNT_MAX = 256;
import { actionEntry, actionFingerprint, frozenState } from "./room-states.js";

/** What the log needs from the process's turn scheduler. */
export interface TurnHooks {
  /** Run `hook` at the end of every scheduled turn, before queues flush. */
  addHook(hook: () => void): void;
  /** Make sure the end of this turn is scheduled. */
  schedule(): void;
}

export interface EmbeddedLogOptions {
  store: HistoryStore;
  turn: TurnHooks;
  /** Told after each commit: how many messages and how long the store took. */
  onCommit?: (messages: number, storeMs: number) => void;
  /** Told when the store refuses a batch (its publishers get an error). */
  onStoreError?: (err: unknown) => void;
  /**
   * Newest entries kept in memory per subscribed room (default 50, what a
   * joined event carries): a join storm into a busy room then reads and
   * encodes nothing. 0 turns the cache off.
   */
  recentCache?: number;
}

/** The log's view of one room it is sequencing (subscribed, or with messages pending). */
interface RoomState {
  epoch: string;
  /** Highest number handed out (may still be pending). */
  lastAssigned: number;
  /** Highest number stored and delivered. */
  lastCommitted: number;
  listener: RoomListener | undefined;
  pending: number;
  /** The newest committed entries, contiguous and ending at lastCommitted, while subscribed; undefined until filled. */
  recent: LogEntry[] | undefined;
  /** `recent` holds every stored entry of the room (there are fewer than the cache size). */
  recentComplete: boolean;
  /** The room's state as stored, read once while the log tracks the room (only the log changes it). */
  data: { value: RoomStateData | undefined } | undefined;
}

interface Pending {
  message: StoredMessage;
  state: RoomState;
  textHash: string;
  /** For a room action: the state it leaves (null: the room is deleted). */
  roomState?: RoomStateData | null;
  resolve: (outcome: PublishOutcome) => void;
  reject: (err: unknown) => void;
}

export class EmbeddedRoomLog implements RoomLog {
  readonly available = true;
  private readonly store: HistoryStore;
  private readonly turn: TurnHooks;
  private readonly roomStates = new Map<string, RoomState>();
  private readonly directory = new MemberDirectory();
  private pending: Pending[] = [];
  /** Sends of this turn by key: a resend within the turn waits for the original. */
  private readonly inFlight = new Map<string, { hash: string; outcome: Promise<PublishOutcome> }>();
  private readonly onCommit: (messages: number, storeMs: number) => void;
  private readonly onStoreError: (err: unknown) => void;
  private readonly recentCache: number;

  constructor(options: EmbeddedLogOptions) {
    this.store = options.store;
    this.turn = options.turn;
    this.onCommit = options.onCommit ?? (() => {});
    this.onStoreError = options.onStoreError ?? (() => {});
    this.recentCache = options.recentCache ?? 50;
    this.turn.addHook(() => this.commit());
  }

  async subscribe(room: string, listener: RoomListener): Promise<RoomPosition> {
    const state = this.roomOf(room);
    state.listener = listener;
    this.store.setInUse(room, true);
    return this.positionOf(room, state);
  }

  unsubscribe(room: string): void {
    const state = this.roomStates.get(room);
    if (!state) return;
    state.listener = undefined;
    state.recent = undefined;
    this.store.setInUse(room, false);
    this.forgetIfIdle(room, state);
  }

  publish(req: PublishRequest): Promise<PublishOutcome> {
    const message: Omit<StoredMessage, "seq"> = {
      room: req.room,
      sender: req.sender,
      text: req.text,
      sentAtMs: req.sentAtMs,
      clientMsgId: req.clientMsgId,
      ...(req.senderId ? { senderId: req.senderId } : {}),
      ...(req.mentions?.length ? { mentions: req.mentions } : {}),
    };
    // Only a message with a key needs its text's fingerprint (to tell a resend from a reuse).
    const hash = req.clientMsgId ? sendFingerprint(req.text, req.replyToSeq) : "";
    const key = req.clientMsgId ? `${req.room}\u0000${req.sender}\u0000${req.clientMsgId}` : "";
    if (key) {
      const inFlight = this.inFlight.get(key);
      if (inFlight) {
        if (inFlight.hash !== hash) return Promise.resolve({ kind: "conflict" });
        return inFlight.outcome.then((o) => (o.kind === "stored" ? { kind: "duplicate", original: { ...message, seq: o.seq } } : o));
      }
      const sent = this.store.findSent(req.room, req.sender, req.clientMsgId);
      if (sent) {
        if (sent.textHash !== hash) return Promise.resolve({ kind: "conflict" });
        return Promise.resolve({ kind: "duplicate", original: { ...message, seq: sent.seq, sentAtMs: sent.sentAtMs } });
      }
    }
    // Checked in the same step that numbers the message: nothing sent after a ban's entry gets a number.
    if (req.senderId !== undefined) {
      const access = mayPost(req.room, this.stateOf(req.room), req.senderId, req.grant, Date.now());
      if (!access.ok) return Promise.resolve({ kind: "refused", code: access.code, message: access.message });
    }
    const state = this.roomOf(req.room);
    if (req.replyToSeq) {
      const target = this.entryOf(req.room, req.replyToSeq, state);
      const reply = decideReply(req.room, req.replyToSeq, target, this.positionOf(req.room, state));
      if (!reply.ok) {
        this.forgetIfIdle(req.room, state);
        return Promise.resolve({ kind: "refused", code: reply.code, message: reply.message });
      }
      message.replyTo = replyRef(target!);
    }
    const outcome = this.enqueue(message, state, hash);
    if (key) this.inFlight.set(key, { hash, outcome });
    return outcome;
  }

  async change(req: ChangeRequest): Promise<ChangeOutcome> {
    // Everything numbered before this change is stored first: it is decided against the room as it stands.
    this.commit();
    const fingerprint = changeFingerprint(req);
    if (req.clientMsgId) {
      const sent = this.store.findSent(req.room, req.sender, req.clientMsgId);
      if (sent) {
        if (sent.textHash !== fingerprint) return { kind: "conflict" };
        const original = this.store.get(req.room, sent.seq);
        return { kind: "duplicate", original: original ?? { ...changeEntry(req), seq: sent.seq, sentAtMs: sent.sentAtMs } };
      }
    }
    const state = this.roomOf(req.room);
    const target = this.store.get(req.room, req.targetSeq);
    const decision = decideChange(req, target, this.positionOf(req.room, state), this.stateOf(req.room), Date.now());
    if (!decision.ok) {
      this.forgetIfIdle(req.room, state);
      return { kind: "refused", code: decision.code, message: decision.message };
    }
    const outcome = this.enqueue(changeEntry(req), state, fingerprint);
    this.commit();
    // The cached tail holds entries as they were encoded before the change: the target, the replies
    // quoting it and (a delete empties them) its edits are encoded again; the rest stays as it is.
    this.refreshCached(req.room, state, req.targetSeq);
    const stored = await outcome;
    if (stored.kind !== "stored") throw new Error(`message change not stored: ${stored.kind}`);
    return { kind: "stored", seq: stored.seq };
  }

  async react(req: ReactRequest): Promise<ReactOutcome> {
    // As a change: decided against the room as it stands, everything numbered before it stored first.
    this.commit();
    const fingerprint = reactionFingerprint(req);
    if (req.clientMsgId) {
      const sent = this.store.findSent(req.room, req.sender, req.clientMsgId);
      if (sent) {
        if (sent.textHash !== fingerprint) return { kind: "conflict" };
        const original = this.store.get(req.room, sent.seq);
        return { kind: "duplicate", original: original ?? { ...reactionEntry(req), seq: sent.seq, sentAtMs: sent.sentAtMs } };
      }
    }
    const state = this.roomOf(req.room);
    const target = this.store.get(req.room, req.targetSeq);
    const decision = decideReaction(req, target, this.positionOf(req.room, state), this.stateOf(req.room), Date.now());
    if (!decision.ok || !decision.changed) this.forgetIfIdle(req.room, state);
    if (!decision.ok) return { kind: "refused", code: decision.code, message: decision.message };
    if (!decision.changed) return { kind: "unchanged", target: toEntry(target!) };
    const outcome = this.enqueue(reactionEntry(req), state, fingerprint);
    this.commit();
    this.refreshCached(req.room, state, req.targetSeq);
    const stored = await outcome;
    if (stored.kind !== "stored") throw new Error(`reaction not stored: ${stored.kind}`);
    return { kind: "stored", seq: stored.seq };
  }

  /**
   * The cached tail's entries a change of message `seq` touched are encoded
   * again from the store: the message itself (its text, tombstone or
   * reactions) and the entries that refer to it (replies quoting it, its
   * edits). Cheaper than reading the whole tail again after every change.
   */
  private refreshCached(room: string, state: RoomState, seq: number): void {
    const recent = state.recent;
    if (!recent) return;
    for (let i = 0; i < recent.length; i++) {
      const entry = recent[i];
      if (entry.seq !== seq && refersTo.get(entry) !== seq) continue;
      const message = this.store.get(room, entry.seq);
      if (!message) {
        state.recent = undefined;
        return;
      }
      recent[i] = toEntry(message);
    }
  }

  /** The entry `seq` of the room: stored, or numbered and pending in this turn. */
  private entryOf(room: string, seq: number, state: RoomState): StoredMessage | undefined {
    if (seq > state.lastCommitted) return this.pending.find((p) => p.state === state && p.message.seq === seq)?.message;
    return this.store.get(room, seq);
  }

  signal(room: string, event: EncodedEvent, from: string): void {
    this.roomStates.get(room)?.listener?.signal(room, event, from);
  }

  async read(room: string, afterSeq: number, limits: ReadLimits): Promise<LogEntry[]> {
    const state = this.roomStates.get(room);
    // A resume usually misses only the last few messages: after a restart thousands of
    // clients ask for the same tail, served encoded once from memory, not queried and encoded per client.
    const cached = state && this.cachedTail(room, state);
    if (cached && ((cached.length > 0 && cached[0].seq <= afterSeq + 1) || state.recentComplete)) {
      // Retention may have dropped the oldest cached entries from the store: they are gone for everyone.
      const firstKept = this.store.peek(room)?.firstSeq ?? 0;
      return takeAfterWithin(cached, Math.max(afterSeq, firstKept - 1), limits);
    }
    const upTo = state?.lastCommitted ?? Infinity;
    return takeWithin(this.store.after(room, afterSeq, limits.maxMessages), limits.maxBytes, upTo);
  }

  /** The subscribed room's newest committed entries (loaded once, then kept up to date by commit()). */
  private cachedTail(room: string, state: RoomState): LogEntry[] | undefined {
    if (!this.cachesTail(state)) return undefined;
    if (!state.recent) this.keepTail(state, toEntries(this.store.before(room, state.lastCommitted + 1, this.recentCache)));
    return state.recent;
  }

  /** Only subscribed rooms keep a tail: commit() keeps it current only for them. */
  private cachesTail(state: RoomState): boolean {
    return state.listener !== undefined && this.recentCache > 0;
  }

  /** Keep `entries`, the room's newest committed entries (oldest first), as its cached tail. */
  private keepTail(state: RoomState, entries: LogEntry[]): void {
    state.recent = entries.slice(-this.recentCache);
    state.recentComplete = entries.length < this.recentCache;
  }

  async recent(room: string, upToSeq: number, limits: ReadLimits): Promise<LogEntry[]> {
    const state = this.roomStates.get(room);
    const cached = state?.recent;
    if (state && cached && upToSeq === state.lastCommitted && (cached.length >= limits.maxMessages || state.recentComplete)) {
      return takeNewestWithin(cached, limits);
    }
    const messages = this.store.before(room, upToSeq + 1, Math.max(limits.maxMessages, this.recentCache));
    const last = state?.lastCommitted ?? this.store.peek(room)?.lastSeq ?? 0;
    if (upToSeq < last && messages.some((m) => m.reactions)) {
      // Counted as of upToSeq, as the Redis log does: the reactions after it come to the reader as entries.
      const later = this.store.after(room, upToSeq, RECOUNT_MAX + 1);
      if (later.length <= RECOUNT_MAX) {
        const counted = messages.map((m) => (m.reactions ? { ...m, reactions: reactionsBefore(m.seq, m.reactions, later) } : m));
        return takeNewestWithin(toEntries(counted), limits);
      }
    }
    const entries = toEntries(messages);
    if (state && this.cachesTail(state) && upToSeq === state.lastCommitted) this.keepTail(state, entries);
    return takeNewestWithin(entries, limits);
  }

  async history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    const state = this.roomStates.get(room);
    const position = state ? this.positionOf(room, state) : (this.store.peek(room) ?? { epoch: "", firstSeq: 0, lastSeq: 0 });
    let messages: StoredMessage[];
    let hasMore: boolean;
    if (query.afterSeq !== undefined) {
      messages = this.store.after(room, query.afterSeq, query.limit + 1).filter((m) => m.seq <= position.lastSeq);
      if (query.beforeSeq !== undefined) messages = messages.filter((m) => m.seq < query.beforeSeq!);
      hasMore = messages.length > query.limit;
      messages = messages.slice(0, query.limit);
    } else {
      const before = Math.min(query.beforeSeq ?? Number.MAX_SAFE_INTEGER, position.lastSeq + 1);
      messages = this.store.before(room, before, query.limit + 1);
      hasMore = messages.length > query.limit;
      messages = messages.slice(-query.limit);
    }
    return { messages, position, hasMore };
  }

  async position(room: string): Promise<RoomPosition> {
    const state = this.roomStates.get(room);
    return state ? this.positionOf(room, state) : (this.store.peek(room) ?? { epoch: "", firstSeq: 0, lastSeq: 0 });
  }

  async claim(room: string, member: MemberRecord, maxMembers: number, resumeTokenHash?: string, access?: JoinAccess): Promise<ClaimOutcome> {
    if (access) {
      const may = mayJoin(room, this.stateOf(room), access.userId, access.grant, Date.now());
      if (!may.ok) return { kind: "refused", code: may.code, message: may.message };
    }
    const { oldTokenHash, ...outcome } = this.directory.claim(room, member, maxMembers, resumeTokenHash);
    if (outcome.kind !== "claimed") return outcome;
    const listener = this.roomStates.get(room)?.listener;
    if (outcome.joinedAs) {
      // Another session of the same user: nobody is told.
    } else if (outcome.replaced) {
      listener?.presence(room, { kind: "replaced", nickname: member.nickname, tokenHash: oldTokenHash ?? "", memberCount: outcome.memberCount });
    } else {
      listener?.presence(room, { kind: "joined", member: { ...member }, memberCount: outcome.memberCount });
    }
    return outcome;
  }

  async rename(room: string, member: MemberRecord, next: { nickname: string; skeleton: string }): Promise<RenameOutcome> {
    const { from, ...outcome } = this.directory.rename(room, member, next);
    if (outcome.kind === "renamed") {
      this.roomStates.get(room)?.listener?.presence(room, { kind: "renamed", from: from!, to: next.nickname, memberCount: outcome.memberCount });
    }
    return outcome;
  }

  async release(room: string, member: MemberRecord, reason: LeaveReason): Promise<void> {
    const released = this.directory.release(room, member);
    if (!released?.left) return;
    this.roomStates.get(room)?.listener?.presence(room, { kind: "left", nickname: released.nickname, reason, memberCount: released.memberCount });
  }

  async markRead(room: string, userId: string, seq: number): Promise<number> {
    this.commit(); // a position may name an entry of this turn: store it first
    return this.store.markRead(room, userId, seq);
  }

  async readState(room: string, userId: string): Promise<ReadState> {
    const readSeq = this.store.readPosition(room, userId);
    return { readSeq, ...countUnread(this.store.after(room, readSeq, UNREAD_CAP), userId) };
  }

  async readPositions(room: string, userIds: readonly string[]): Promise<Map<string, number>> {
    const positions = new Map<string, number>();
    for (const user of userIds) {
      const seq = this.store.readPosition(room, user);
      if (seq > 0) positions.set(user, seq);
    }
    return positions;
  }

  async members(room: string, pageToken: string, pageSize: number): Promise<MemberPage> {
    return this.directory.page(room, pageToken, pageSize);
  }

  async rooms(limit: number): Promise<RoomSummary[]> {
    return this.directory.rooms(limit).map(({ name, memberCount }) => ({
      name,
      memberCount,
      lastSeq: this.roomStates.get(name)?.lastCommitted ?? this.store.peek(name)?.lastSeq ?? 0,
    }));
  }

  onAvailability(): void {
    // Always available: there is no backend to lose.
  }

  /** Store and deliver what is pending now, without waiting for the end of the turn. */
  async drain(): Promise<void> {
    this.commit();
  }

  async act(req: ActRequest): Promise<ActOutcome> {
    const { room, actor, action } = req;
    const fingerprint = actionFingerprint(action);
    if (req.clientActionId) {
      // Acts commit at once, so a retry always finds its original stored (no in-flight window as for publish).
      const sent = this.store.findSent(room, actor.name, req.clientActionId);
      if (sent) {
        if (sent.textHash !== fingerprint) return { kind: "conflict" };
        const original = this.store.after(room, sent.seq - 1, 1)[0];
        return {
          kind: "duplicate",
          original: original?.seq === sent.seq ? original : { room, seq: sent.seq, sender: actor.name, text: "", sentAtMs: sent.sentAtMs, clientMsgId: req.clientActionId },
        };
      }
    }
    const decision = decide(room, this.stateOf(room), this.existsNow(room), actor, action, Date.now());
    if (!decision.ok) return { kind: "refused", code: decision.code, message: decision.message };
    const outcome = this.enqueue(actionEntry(req, decision), this.roomOf(room), fingerprint, decision.next ?? null);
    this.commit();
    const stored = await outcome;
    if (stored.kind !== "stored") throw new Error(`room action not stored: ${stored.kind}`);
    return { kind: "stored", seq: stored.seq, state: decision.next };
  }

  async state(room: string): Promise<RoomStateData | undefined> {
    return this.stateOf(room);
  }

  async exists(room: string): Promise<boolean> {
    return this.existsNow(room);
  }

  async userRooms(userId: string, limit: number): Promise<UserRoom[]> {
    return this.store.roomsOf(userId, limit).map(({ name, state: stored }) => {
      const state = frozenState(stored);
      const lastSeq = this.roomStates.get(name)?.lastCommitted ?? this.store.peek(name)?.lastSeq ?? 0;
      const last = this.store.before(name, lastSeq + 1, 1)[0];
      return { name, state, lastSeq, memberCount: this.directory.count(name), ...(last ? { last } : {}) };
    });
  }

  /** The room's state: cached while the log tracks the room, else read from the store. */
  private stateOf(room: string): RoomStateData | undefined {
    const tracked = this.roomStates.get(room);
    if (tracked?.data) return tracked.data.value;
    const stored = this.store.state(room);
    const value = stored && frozenState(stored);
    if (tracked) tracked.data = { value };
    return value;
  }

  /** Whether the room exists in any form: state, members, history, or messages being stored. */
  private existsNow(room: string): boolean {
    return (
      this.stateOf(room) !== undefined ||
      this.directory.count(room) > 0 ||
      this.store.peek(room) !== undefined ||
      (this.roomStates.get(room)?.lastAssigned ?? 0) > 0
    );
  }

  async close(): Promise<void> {
    this.commit();
    this.store.close();
  }

  private enqueue(unnumbered: Omit<StoredMessage, "seq">, state: RoomState, hash: string, roomState?: RoomStateData | null): Promise<PublishOutcome> {
    const message: StoredMessage = { ...unnumbered, seq: ++state.lastAssigned };
    state.pending++;
    return new Promise<PublishOutcome>((resolve, reject) => {
      this.pending.push({ message, state, textHash: hash, roomState, resolve, reject });
      this.turn.schedule();
    });
  }

  /** Store this turn's messages in one call, then deliver each room's new entries in order. */
  private commit(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.inFlight.clear();
    const started = performance.now();
    try {
      this.store.append(
        batch.map((p) => ({ message: p.message, epoch: p.state.epoch, textHash: p.textHash, ...(p.roomState !== undefined ? { state: p.roomState } : {}) })),
      );
    } catch (err) {
      this.reject(batch, err);
      return;
    }
    this.onCommit(batch.length, performance.now() - started);
    // Group by room, keeping each room's order; rooms are delivered in order of first appearance.
    const byRoom = new Map<RoomState, { room: string; entries: LogEntry[]; deleted: boolean }>();
    for (const p of batch) {
      let group = byRoom.get(p.state);
      if (!group) byRoom.set(p.state, (group = { room: p.message.room, entries: [], deleted: false }));
      group.entries.push(toEntry(p.message));
      if (p.roomState !== undefined) p.state.data = { value: p.roomState ? frozenState(p.roomState) : undefined };
      if (p.roomState === null) group.deleted = true;
    }
    for (const [state, { room, entries, deleted }] of byRoom) {
      state.lastCommitted = entries[entries.length - 1].seq;
      if (state.recent) {
        state.recent.push(...entries);
        if (state.recent.length > this.recentCache) {
          state.recent.splice(0, state.recent.length - this.recentCache);
          state.recentComplete = false;
        }
      }
      state.pending -= entries.length;
      state.listener?.entries(room, entries);
      if (deleted) this.restart(room, state);
      this.forgetIfIdle(room, state);
    }
    for (const p of batch) p.resolve({ kind: "stored", seq: p.message.seq, ...(p.message.replyTo ? { replyTo: p.message.replyTo } : {}) });
  }

  /**
   * The room was deleted (its entry delivered first, so subscribers know
   * why): its members go, and it starts again empty under a new epoch, which
   * its subscriber is told as a reset.
   */
  private restart(room: string, state: RoomState): void {
    this.directory.drop(room);
    state.epoch = randomUUID();
    state.lastAssigned = state.lastCommitted = 0;
    state.recent = state.recent ? [] : undefined;
    state.recentComplete = true;
    state.listener?.reset(room, this.positionOf(room, state));
  }

  /** Nothing of the batch was stored: hand the numbers back and fail every publisher. */
  private reject(batch: Pending[], err: unknown): void {
    this.onStoreError(err);
    for (const p of batch) {
      p.state.lastAssigned = p.state.lastCommitted;
      p.state.pending--;
      this.forgetIfIdle(p.message.room, p.state);
      p.reject(err);
    }
  }

  private roomOf(room: string): RoomState {
    let state = this.roomStates.get(room);
    if (!state) {
      // A room the store has never seen gets its epoch now; the store records
      // it with the room's first message (a mere join leaves nothing behind).
      const stored = this.store.peek(room);
      const lastSeq = stored?.lastSeq ?? 0;
      state = {
        epoch: stored?.epoch ?? randomUUID(),
        lastAssigned: lastSeq,
        lastCommitted: lastSeq,
        listener: undefined,
        pending: 0,
        recent: undefined,
        recentComplete: false,
        data: undefined,
      };
      this.roomStates.set(room, state);
    }
    return state;
  }

  private positionOf(room: string, state: RoomState): RoomPosition {
    return { epoch: state.epoch, lastSeq: state.lastCommitted, firstSeq: this.store.peek(room)?.firstSeq ?? 0 };
  }

  private forgetIfIdle(room: string, state: RoomState): void {
    if (!state.listener && state.pending === 0 && this.roomStates.get(room) === state) this.roomStates.delete(room);
  }
}

/** The message a cached entry's bytes quote or change (a reply's target, an edit's or delete's): a change of it encodes the entry again. */
const refersTo = new WeakMap<LogEntry, number>();

/** A stored message as the log delivers it (with its action, if it is one, for nodes to act on). */
function toEntry(m: StoredMessage): LogEntry {
  const event = encodeMessageEvent(m);
  const entry: LogEntry = m.reactions?.length ? { seq: m.seq, event, reactions: m.reactions } : m.action ? { seq: m.seq, event, action: m.action } : { seq: m.seq, event };
  const about = m.change?.targetSeq ?? m.replyTo?.seq;
  if (about) refersTo.set(entry, about);
  return entry;
}

function toEntries(messages: readonly StoredMessage[]): LogEntry[] {
  return messages.map(toEntry);
}

/** The newest entries (oldest first) within the limits, at least one when any exists. */
function takeNewestWithin(entries: readonly LogEntry[], limits: ReadLimits): LogEntry[] {
  let bytes = 0;
  let start = entries.length;
  while (start > 0 && entries.length - start < limits.maxMessages) {
    const size = entries[start - 1].event.length;
    if (start < entries.length && bytes + size > limits.maxBytes) break;
    bytes += size;
    start--;
  }
  return entries.slice(start);
}

/** The entries after `afterSeq` (oldest first) within the limits, at least one when any exists. */
function takeAfterWithin(entries: readonly LogEntry[], afterSeq: number, limits: ReadLimits): LogEntry[] {
  let start = 0;
  while (start < entries.length && entries[start].seq <= afterSeq) start++;
  let end = start;
  let bytes = 0;
  while (end < entries.length && end - start < limits.maxMessages) {
    const size = entries[end].event.length;
    if (end > start && bytes + size > limits.maxBytes) break;
    bytes += size;
    end++;
  }
  return entries.slice(start, end);
}

/** Entries for `messages` up to `upTo`, stopping before maxBytes (but at least one). */
function takeWithin(messages: readonly StoredMessage[], maxBytes: number, upTo: number): LogEntry[] {
  const out: LogEntry[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (m.seq > upTo) break;
    const entry = toEntry(m);
    if (out.length > 0 && bytes + entry.event.length > maxBytes) break;
    bytes += entry.event.length;
    out.push(entry);
  }
  return out;
}
