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
 */
import { randomUUID } from "node:crypto";
import type { LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import type { HistoryStore } from "../store/history-store.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import { encodeMessageEvent } from "../wire/message-codec.js";
import type { RoomPosition, StoredMessage } from "./message.js";
import { MemberDirectory } from "./member-directory.js";
import type {
  ClaimOutcome,
  HistoryPage,
  HistoryQuery,
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
import type { RoomStateData } from "../rooms/room-state.js";
import { textHash } from "./text-hash.js";

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
}

interface Pending {
  message: StoredMessage;
  state: RoomState;
  textHash: string;
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
  private readonly inFlight = new Map<string, { text: string; outcome: Promise<PublishOutcome> }>();
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
    const state = this.roomOf(req.room);
    // Only a message with a key needs its text's fingerprint (to tell a resend from a reuse).
    const hash = req.clientMsgId ? textHash(req.text) : "";
    if (req.clientMsgId) {
      const key = `${req.room}\u0000${req.sender}\u0000${req.clientMsgId}`;
      const inFlight = this.inFlight.get(key);
      if (inFlight) {
        if (inFlight.text !== req.text) return Promise.resolve({ kind: "conflict" });
        return inFlight.outcome.then((o) => (o.kind === "stored" ? { kind: "duplicate", original: { ...req, seq: o.seq } } : o));
      }
      const sent = this.store.findSent(req.room, req.sender, req.clientMsgId);
      if (sent) {
        if (sent.textHash !== hash) return Promise.resolve({ kind: "conflict" });
        return Promise.resolve({ kind: "duplicate", original: { ...req, seq: sent.seq, sentAtMs: sent.sentAtMs } });
      }
      const outcome = this.enqueue(req, state, hash);
      this.inFlight.set(key, { text: req.text, outcome });
      return outcome;
    }
    return this.enqueue(req, state, hash);
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
    const entries = toEntries(this.store.before(room, upToSeq + 1, Math.max(limits.maxMessages, this.recentCache)));
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

  async claim(room: string, member: MemberRecord, maxMembers: number, resumeTokenHash?: string): Promise<ClaimOutcome> {
    const { oldTokenHash, ...outcome } = this.directory.claim(room, member, maxMembers, resumeTokenHash);
    if (outcome.kind !== "claimed") return outcome;
    const listener = this.roomStates.get(room)?.listener;
    if (outcome.replaced) {
      listener?.presence(room, { kind: "replaced", nickname: member.nickname, tokenHash: oldTokenHash ?? "", memberCount: outcome.memberCount });
    } else {
      listener?.presence(room, { kind: "joined", member: { ...member }, memberCount: outcome.memberCount });
    }
    return outcome;
  }

  async rename(room: string, member: MemberRecord, next: { nickname: string; skeleton: string }): Promise<RenameOutcome> {
    const outcome = this.directory.rename(room, member, next);
    if (outcome.kind === "renamed") {
      this.roomStates.get(room)?.listener?.presence(room, { kind: "renamed", from: member.nickname, to: next.nickname, memberCount: outcome.memberCount });
    }
    return outcome;
  }

  async release(room: string, member: MemberRecord, reason: LeaveReason): Promise<void> {
    const memberCount = this.directory.release(room, member);
    if (memberCount === undefined) return;
    this.roomStates.get(room)?.listener?.presence(room, { kind: "left", nickname: member.nickname, reason, memberCount });
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

  // Issue 18: room state, decided in the log (being built).
  act(_req: ActRequest): Promise<ActOutcome> {
    return Promise.reject(new Error("not implemented yet"));
  }

  state(_room: string): Promise<RoomStateData | undefined> {
    return Promise.resolve(undefined);
  }

  exists(_room: string): Promise<boolean> {
    return Promise.reject(new Error("not implemented yet"));
  }

  userRooms(_userId: string, _limit: number): Promise<UserRoom[]> {
    return Promise.resolve([]);
  }

  async close(): Promise<void> {
    this.commit();
    this.store.close();
  }

  private enqueue(req: PublishRequest, state: RoomState, hash: string): Promise<PublishOutcome> {
    const message: StoredMessage = { ...req, seq: ++state.lastAssigned };
    state.pending++;
    return new Promise<PublishOutcome>((resolve, reject) => {
      this.pending.push({ message, state, textHash: hash, resolve, reject });
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
      this.store.append(batch.map((p) => ({ message: p.message, epoch: p.state.epoch, textHash: p.textHash })));
    } catch (err) {
      this.reject(batch, err);
      return;
    }
    this.onCommit(batch.length, performance.now() - started);
    // Group by room, keeping each room's order; rooms are delivered in order of first appearance.
    const byRoom = new Map<RoomState, { room: string; entries: LogEntry[] }>();
    for (const p of batch) {
      let group = byRoom.get(p.state);
      if (!group) byRoom.set(p.state, (group = { room: p.message.room, entries: [] }));
      group.entries.push({ seq: p.message.seq, event: encodeMessageEvent(p.message) });
    }
    for (const [state, { room, entries }] of byRoom) {
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
      this.forgetIfIdle(room, state);
    }
    for (const p of batch) p.resolve({ kind: "stored", seq: p.message.seq });
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

function toEntries(messages: readonly StoredMessage[]): LogEntry[] {
  return messages.map((m) => ({ seq: m.seq, event: encodeMessageEvent(m) }));
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
    const event = encodeMessageEvent(m);
    if (out.length > 0 && bytes + event.length > maxBytes) break;
    bytes += event.length;
    out.push({ seq: m.seq, event });
  }
  return out;
}
