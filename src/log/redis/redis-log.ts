/**
 * The room log on Redis (or Redis Cluster): any number of nodes, one chat.
 *
 * Each room is a handful of keys sharing a hash tag (keys.ts): a meta hash
 * (epoch, last sequence number), a stream holding the history (entry ids follow
 * the sequence numbers), idempotency keys, and the members. A publish is one
 * script (scripts.ts): idempotency check, next number, append, publish the
 * encoded event on the room's channel. Every node subscribed to the room gets
 * it and delivers it through a RoomFeed, which repairs any gap from the stream
 * before anything later goes out, so every member on every node sees the same
 * gap-free sequence.
 *
 * A room's state (issue 18) sits beside its log under the same hash tag: the
 * publish and claim scripts check it (one HMGET of the derived access hash)
 * in the step that stores or admits, so a ban holds on every node at once;
 * actions are decided and recorded by room-actions.ts through the same append
 * path as messages. So are edits and deletes (issue 19, message-changes.ts),
 * whose script also rewrites the stream so that every entry holds its
 * message's current state; a reply's script checks that the target it quotes
 * is still as the node read it.
 *
 * Redis trouble is not fatal: while it is unreachable, publishes and joins are
 * refused with LogUnavailableError (the client keeps its message and retries),
 * streams stay open, and availability listeners are told (health reports
 * NOT_SERVING). When it is back, every room is checked against what Redis
 * holds: a gap is repaired, an epoch that changed (Redis restarted empty) resets
 * the room, so its members rejoin and are told epoch_changed.
 *
 * Nodes hold leases (node-lease.ts): a node that stops renewing is declared
 * dead by the survivors, which remove its members (reason DISCONNECTED) from
 * every room it listed itself in.
 *
 * Failover: a number is never handed out twice in one epoch. Each node knows
 * the highest number it delivered per room; when Redis's counter is behind it
 * (a lagging replica promoted, an older snapshot restored), found by a publish
 * (the script is told that number) or a check, the room starts a new epoch and
 * every node resets it, loudly. With minReplicas, a message is confirmed by
 * WAIT before it is acknowledged or shown to anyone.
 */
import { randomUUID } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorCode, LeaveReason, RoomActionKind, RoomActionSchema, RoomRole } from "../../../gen/chat/v1/chat_pb.js";
import type { Retention } from "../../store/retention.js";
import type { EncodedEvent } from "../../wire/encoded-event.js";
import { encodeMessageHalves } from "../../wire/message-codec.js";
import type { ReplyRef, RoomPosition } from "../message.js";
import { decideReply, replyRef, sendFingerprint } from "../message-changes.js";
import {
  InvalidPageTokenError,
  LogUnavailableError,
  type ClaimOutcome,
  type HistoryPage,
  type HistoryQuery,
  type LogEntry,
  type MemberPage,
  type MemberRecord,
  type PublishOutcome,
  type PublishRequest,
  type ReadLimits,
  type RenameOutcome,
  type RoomListener,
  type RoomLog,
  type RoomSummary,
  type ActOutcome,
  type ActRequest,
  type ChangeOutcome,
  type ChangeRequest,
  type JoinAccess,
  type ReactOutcome,
  type ReactRequest,
  type UserRoom,
} from "../room-log.js";
import { countUnread, UNREAD_CAP, type ReadState } from "../read-positions.js";
import type { RoomStateData } from "../../rooms/room-state.js";
import { parseChannelMessage, typingPayload } from "./channel-message.js";
import { connectRedis, type RedisConnections, type RedisTarget } from "./connection.js";
import { nodeRegistryKey, nodeRoomsKey, roomIndexKey, roomKeys, roomOfChannel, type RoomKeys } from "./keys.js";
import { NodeLease } from "./node-lease.js";
import { isRedirect, RedisAuthError, takeWithin, toEntry, toStoredMessage, unavailable } from "./replies.js";
import { refusalOf } from "./room-access.js";
import { MessageChangesOnRedis } from "./message-changes.js";
import { ReactionsOnRedis, readWithReactions } from "./reactions.js";
import type { DecidedAppendBackend } from "./decided-append.js";
import { RoomActions } from "./room-actions.js";
import { RoomFeed } from "./room-feed.js";
import {
  ACT_SCRIPT,
  CHANGE_SCRIPT,
  REACT_SCRIPT,
  CLAIM_SCRIPT,
  MARK_READ_SCRIPT,
  CONFIRM_SCRIPT,
  ENSURE_SCRIPT,
  EVICT_SCRIPT,
  PUBLISH_SCRIPT,
  REBASE_SCRIPT,
  RELEASE_SCRIPT,
  RENAME_SCRIPT,
  ROOM_READ_SCRIPT,
  TRIM_SCRIPT,
  USER_INDEX_SCRIPT,
  USER_PRUNE_SCRIPT,
} from "./scripts.js";
import { UserIndex } from "./user-index.js";

export interface RedisLogOptions extends RedisTarget {
  /** Key prefix; deployments (and test runs) sharing a Redis use different ones. */
  prefix: string;
  /** This node's id (random per process unless given). */
  nodeId?: string;
  /** The node's name in its Redis connections' names (CLIENT LIST: chat-<name>-cmd, chat-<name>-sub); its id when not given. */
  nodeName?: string;
  retention: Retention;
  /** A node that has not renewed its lease for this long is dead; its members are removed. */
  leaseMs: number;
  /**
   * Acknowledge a message only once this many replicas of the room's master
   * confirm it (WAIT); 0 does not wait. See docs/scaling.md for what it buys.
   */
  minReplicas?: number;
  /** How long a publish waits for those replicas before it is refused as unavailable. */
  replicaWaitMs?: number;
  /** A room's counter was found behind a number already delivered (counted by the server's metrics). */
  onCounterBehind?: (room: string) => void;
  /** Told of connection trouble and recoveries, for the server's log. */
  onEvent?: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

type Script = (...args: (string | Buffer | number)[]) => Promise<unknown>;

/** Entries read from the stream per command. */
const READ_PAGE = 512;
/** A subscribed room whose join never came lets its fresh epoch go after this long. */
const UNCLAIMED_EPOCH_TTL_MS = 60_000;
/** A new subscription checks once more, this long after it is set up, for a message it might have missed. */
const SUBSCRIBE_RECHECK_MS = 1000;
/** Members removed per eviction script call (bounds how long one call holds Redis). */
const EVICT_BATCH = 500;
/** How long an entry this node appended may take to come back through the room's channel before the feed reads it. */
const DELIVERY_GRACE_MS = 500;
/** Default of RedisLogOptions.replicaWaitMs. */
const REPLICA_WAIT_MS = 1000;
/** A reply whose target changed under it this many times in a row is refused as unavailable. */
const REPLY_ATTEMPTS = 8;

export class RedisRoomLog implements RoomLog {
  readonly nodeId: string;
  private readonly redis: RedisConnections;
  /**
   * With --redis-min-replicas, publishes and their WAITs go on a connection of
   * their own: a WAIT holds its connection up to replicaWaitMs, and a slow
   * replica must not delay lease renewals, joins and reads behind it.
   */
  private readonly publisher: Redis | Cluster;
  private readonly prefix: string;
  private readonly retention: Retention;
  private readonly feeds = new Map<string, RoomFeed>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Releases that could not reach Redis; sent again once it is back. */
  private readonly pendingReleases: { room: string; member: MemberRecord; reason: LeaveReason }[] = [];
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private readonly lease: NodeLease;
  private readonly scripts: Record<
    "publish" | "act" | "change" | "react" | "read" | "claim" | "release" | "rename" | "evict" | "trim" | "ensure" | "rebase" | "confirm" | "userIndex" | "userPrune" | "markRead",
    Script
  >;
  /** Room state: act, state, exists, userRooms (room-actions.ts). */
  private readonly actions: RoomActions;
  /** Edits and deletes (message-changes.ts). */
  private readonly changes: MessageChangesOnRedis;
  /** Reactions (reactions.ts). */
  private readonly reactions: ReactionsOnRedis;
  private readonly onEvent: NonNullable<RedisLogOptions["onEvent"]>;
  private readonly onCounterBehind: NonNullable<RedisLogOptions["onCounterBehind"]>;
  private readonly minReplicas: number;
  private readonly replicaWaitMs: number;
  /** --redis-command-timeout: also the bound of an append as a whole (see appendScript). */
  private readonly commandTimeoutMs: number;
  /** The members this node holds, by room and skeleton: what to check when its lease lapsed. */
  private readonly held = new Map<string, Map<string, MemberRecord>>();
  /** Rooms with a counter check already scheduled (a stale entry arrived). */
  private readonly staleChecks = new Set<string>();
  private wasAvailable = false;
  private closed = false;
  /**
   * Past connect()'s credential check. Before it, a refusal is start-up's to
   * report (one fatal line, exit 1); logging it as well would say it twice.
   */
  private started = false;

  constructor(options: RedisLogOptions) {
    this.prefix = options.prefix;
    this.retention = options.retention;
    this.nodeId = options.nodeId ?? randomUUID().replace(/-/g, "").slice(0, 12);
    this.onEvent = options.onEvent ?? (() => {});
    this.onCounterBehind = options.onCounterBehind ?? (() => {});
    this.minReplicas = options.minReplicas ?? 0;
    // WAIT runs on a connection with the command timeout: it must give up before the timeout cuts it off.
    this.commandTimeoutMs = options.commandTimeoutMs ?? 3000;
    this.replicaWaitMs = options.replicaWaitMs ?? Math.min(REPLICA_WAIT_MS, Math.max(50, Math.floor((options.commandTimeoutMs ?? 3000) / 2)));
    this.redis = connectRedis(options, {
      nodeName: options.nodeName ?? this.nodeId,
      onChange: () => this.checkAvailability(),
      onAuthFailure: (message) => {
        if (this.started) this.onEvent("error", message);
      },
    });
    this.publisher = this.minReplicas > 0 ? ownConnection(this.redis.commands) : this.redis.commands;
    this.scripts = {
      publish: this.define("chatPublish", 6, PUBLISH_SCRIPT),
      act: this.define("chatAct", 14, ACT_SCRIPT),
      change: this.define("chatChange", 7, CHANGE_SCRIPT),
      react: this.define("chatReact", 7, REACT_SCRIPT),
      markRead: this.define("chatMarkRead", 1, MARK_READ_SCRIPT),
      read: this.define("chatRead", 5, ROOM_READ_SCRIPT),
      claim: this.define("chatClaim", 12, CLAIM_SCRIPT),
      release: this.define("chatRelease", 11, RELEASE_SCRIPT),
      rename: this.define("chatRename", 5, RENAME_SCRIPT),
      evict: this.define("chatEvict", 11, EVICT_SCRIPT),
      trim: this.define("chatTrim", 3, TRIM_SCRIPT),
      ensure: this.define("chatEnsure", 2, ENSURE_SCRIPT),
      rebase: this.define("chatRebase", 1, REBASE_SCRIPT),
      confirm: this.define("chatConfirm", 1, CONFIRM_SCRIPT),
      userIndex: this.define("chatUserIndex", 1, USER_INDEX_SCRIPT),
      userPrune: this.define("chatUserPrune", 1, USER_PRUNE_SCRIPT),
    };
    this.actions = new RoomActions({
      commands: this.redis.commands,
      keys: (room) => this.keys(room),
      read: this.scripts.read,
      appendArgs: (...a) => this.appendArgs(...a),
      append: (keys, common, extra, confirms) => this.appendScript("chatAct", keys, common, extra, confirms),
      lifetimeMs: () => this.roomLifetimeMs(),
      idWindowMs: () => this.retention.idWindowMs,
      newEpoch,
      unclaimedEpochTtlMs: UNCLAIMED_EPOCH_TTL_MS,
      userIndex: new UserIndex(this.redis.commands, this.prefix, this.scripts.userIndex, this.scripts.userPrune),
      forget: (room) => void this.redis.commands.srem(roomIndexKey(this.prefix), room).catch(() => {}),
      onTrouble: (err) => this.connectionTrouble(err),
    });
    // Edits, deletes and reactions are decided the same way (decided-append.ts), each recorded by its own script.
    const decidedBy = (script: "chatChange" | "chatReact"): DecidedAppendBackend => ({
      commands: this.redis.commands,
      keys: (room) => this.keys(room),
      appendArgs: (...a) => this.appendArgs(...a),
      append: (keys, common, extra) => this.appendScript(script, keys, common, extra),
      idWindowMs: () => this.retention.idWindowMs,
    });
    this.changes = new MessageChangesOnRedis(decidedBy("chatChange"));
    this.reactions = new ReactionsOnRedis(decidedBy("chatReact"));
    this.lease = new NodeLease({
      commands: this.redis.commands,
      prefix: this.prefix,
      nodeId: this.nodeId,
      leaseMs: options.leaseMs,
      rooms: () => [...this.feeds.keys()],
      evict: (room, deadNode) => this.evictNode(room, deadNode),
      lapsed: () => this.recoverLapsedLease(),
      heldRooms: () => [...this.held.keys()],
      trim: (room) => this.trimRoom(room),
      sweep: () => this.catchUpAll(),
      onError: (err) => this.connectionTrouble(err),
    });
    const onMessage = (channel: Buffer, payload: Buffer) => this.onChannelMessage(channel, payload);
    if (this.redis.sharded) this.redis.subscriber.on("smessageBuffer", onMessage);
    else this.redis.subscriber.on("messageBuffer", onMessage);
    for (const client of new Set([this.redis.commands, this.redis.subscriber])) {
      client.on("ready", () => this.checkAvailability());
      client.on("close", () => this.checkAvailability());
      client.on("end", () => this.checkAvailability());
      // ioredis reports connection errors as events; reconnecting is its job (and ours to notice).
      client.on("error", () => this.checkAvailability());
    }
  }

  get available(): boolean {
    return !this.closed && this.redis.ready();
  }

  /** Connect, waiting at most `timeoutMs` for Redis (the server starts either way, NOT_SERVING until it answers). */
  async connect(timeoutMs = 5000): Promise<boolean> {
    const connecting = [...new Set([this.redis.commands, this.redis.subscriber, this.publisher])].map((c) => (c.status === "wait" ? c.connect().catch(() => {}) : Promise.resolve()));
    await Promise.race([Promise.all(connecting), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    // Wrong credentials will not fix themselves by waiting: say so, and do not start.
    const refused = this.redis.authFailure();
    if (refused !== undefined) {
      await this.close();
      throw new RedisAuthError(refused);
    }
    this.started = true;
    await this.lease.start();
    this.checkAvailability();
    return this.available;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  async subscribe(room: string, listener: RoomListener): Promise<RoomPosition> {
    const keys = this.keys(room);
    const feed = new RoomFeed(
      room,
      listener,
      (r, after, upTo) => this.readRange(r, after, upTo),
      (f) => void this.checkEpoch(f),
      (err) => this.connectionTrouble(err),
      (f) => this.checkCounterSoon(f),
      (f, entry) => this.afterAction(f, entry),
    );
    this.feeds.get(room)?.close();
    this.feeds.set(room, feed);
    try {
      this.requireAvailable();
      await this.redis.subscribe(keys.channel);
      // Read the position after the subscription is in place: whatever is published from
      // here on arrives on the channel, and the feed drops what the position already covers.
      const [epoch, seq] = (await this.scripts.ensure(keys.meta, keys.members, newEpoch(), UNCLAIMED_EPOCH_TTL_MS)) as [string, string];
      const position = { epoch, lastSeq: Number(seq), firstSeq: await this.firstSeq(keys) };
      if (this.feeds.get(room) === feed) feed.start(position);
      void this.redis.commands.sadd(roomIndexKey(this.prefix), room).catch(() => {});
      // A message published while the subscription was being set up on its shard
      // (a topology refresh can redo it) would otherwise wait for the next one.
      setTimeout(() => void this.catchUp([feed]), SUBSCRIBE_RECHECK_MS).unref();
      return position;
    } catch (err) {
      if (this.feeds.get(room) === feed) this.feeds.delete(room);
      feed.close();
      throw unavailable(err);
    }
  }

  unsubscribe(room: string): void {
    const feed = this.feeds.get(room);
    if (!feed) return;
    feed.close();
    this.feeds.delete(room);
    void this.redis.unsubscribe(this.keys(room).channel).catch(() => {});
    // No member here any more (the hub unsubscribes a room it has none in): nothing to evict if this node dies.
    if (!this.held.has(room)) void this.redis.commands.srem(nodeRoomsKey(this.prefix, this.nodeId), room).catch(() => {});
  }

  publish(req: PublishRequest): Promise<PublishOutcome> {
    const outcome = this.publishNow(req);
    this.inFlight.add(outcome);
    void outcome.finally(() => this.inFlight.delete(outcome)).catch(() => {});
    return outcome;
  }

  signal(room: string, event: EncodedEvent, from: string): void {
    if (!this.available) return; // typing is ephemeral: lost while Redis is away
    void this.redis.publish(this.keys(room).channel, typingPayload(from, event)).catch(() => {});
  }

  async read(room: string, afterSeq: number, limits: ReadLimits): Promise<LogEntry[]> {
    this.requireAvailable();
    const k = this.keys(room);
    const entries = await this.command(() => readWithReactions(this.redis.commands, k, (m) => m.xrangeBuffer(k.log, `${afterSeq + 1}-0`, "+", "COUNT", limits.maxMessages)));
    return takeWithin(entries, limits.maxBytes);
  }

  async recent(room: string, upToSeq: number, limits: ReadLimits): Promise<LogEntry[]> {
    if (upToSeq <= 0) return [];
    this.requireAvailable();
    const k = this.keys(room);
    // Counted as of upToSeq: the joiner gets the reactions numbered after it as entries.
    const entries = await this.command(() =>
      readWithReactions(this.redis.commands, k, (m) => m.xrevrangeBuffer(k.log, `${upToSeq}-0`, "-", "COUNT", limits.maxMessages), upToSeq),
    );
    return takeWithin(entries, limits.maxBytes).reverse();
  }

  async history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    this.requireAvailable();
    const keys = this.keys(room);
    const position = await this.position(room);
    let entries: LogEntry[];
    let hasMore: boolean;
    // Stream ids are "<seq>-0": bounds are written inclusive (seq + 1, seq - 1), which every Redis 5+ takes.
    if (query.beforeSeq !== undefined && query.beforeSeq <= 1) {
      entries = [];
      hasMore = false;
    } else if (query.afterSeq !== undefined) {
      const end = query.beforeSeq !== undefined ? `${query.beforeSeq - 1}-0` : "+";
      entries = await this.command(() => readWithReactions(this.redis.commands, keys, (m) => m.xrangeBuffer(keys.log, `${query.afterSeq! + 1}-0`, end, "COUNT", query.limit + 1)));
      hasMore = entries.length > query.limit;
      entries = entries.slice(0, query.limit);
    } else {
      const start = query.beforeSeq !== undefined ? `${query.beforeSeq - 1}-0` : "+";
      entries = await this.command(() => readWithReactions(this.redis.commands, keys, (m) => m.xrevrangeBuffer(keys.log, start, "-", "COUNT", query.limit + 1)));
      hasMore = entries.length > query.limit;
      entries = entries.slice(0, query.limit).reverse();
    }
    return { messages: entries.map((e) => (e.reactions ? { ...toStoredMessage(e), reactions: e.reactions } : toStoredMessage(e))), position, hasMore };
  }

  async position(room: string): Promise<RoomPosition> {
    this.requireAvailable();
    const keys = this.keys(room);
    const [[, meta], [, first]] = (await this.command(() =>
      this.redis.commands.multi().hmget(keys.meta, "epoch", "seq").xrange(keys.log, "-", "+", "COUNT", 1).exec(),
    )) as [[unknown, (string | null)[]], [unknown, [string, string[]][]]];
    return { epoch: meta[0] ?? "", lastSeq: Number(meta[1] ?? 0), firstSeq: first.length > 0 ? parseInt(first[0][0], 10) : 0 };
  }

  async claim(room: string, member: MemberRecord, maxMembers: number, resumeTokenHash = "", access?: JoinAccess): Promise<ClaimOutcome> {
    this.requireAvailable();
    const k = this.keys(room);
    const now = Date.now();
    // Recorded before the member is: if this node dies, survivors find every room it may hold members in.
    await this.command(() => this.register(room));
    const result = (await this.command(() =>
      this.scripts.claim(
        ...this.presenceKeys(k, this.nodeId),
        k.access,
        k.users,
        k.reactions,
        member.skeleton,
        member.nickname,
        String(member.joinedAtMs),
        this.nodeId,
        maxMembers,
        newEpoch(),
        this.sharded,
        "1",
        member.tokenHash ?? "",
        resumeTokenHash,
        access?.userId ?? "",
        access?.grant ?? RoomRole.UNSPECIFIED,
        now,
        sharedBy(member) === "" ? "0" : "1",
      ),
    )) as [string, string | number, string?, string?, string?];
    if (result[0] === "refused") return refusalOf(room, result.map(String), access!.userId, access?.grant, now, false);
    if (result[0] === "claimed" || result[0] === "replaced" || result[0] === "shared") this.hold(room, member);
    if (result[0] === "claimed") return { kind: "claimed", memberCount: Number(result[1]) };
    if (result[0] === "shared") {
      const joinedAs = { nickname: String(result[2]), skeleton: String(result[3]), joinedAtMs: Number(result[4]) };
      return { kind: "claimed", memberCount: Number(result[1]), joinedAs };
    }
    if (result[0] === "replaced") return { kind: "claimed", memberCount: Number(result[1]), replaced: { joinedAtMs: Number(result[2]) } };
    if (result[0] === "taken") return { kind: "taken", holder: String(result[1]) };
    return { kind: "full", limit: maxMembers };
  }

  async release(room: string, member: MemberRecord, reason: LeaveReason): Promise<void> {
    this.unhold(room, member);
    if (!this.available) {
      this.pendingReleases.push({ room, member, reason });
      return;
    }
    try {
      await this.releaseNow(room, member, reason);
    } catch (err) {
      this.pendingReleases.push({ room, member, reason });
      throw unavailable(err);
    }
  }

  async rename(room: string, member: MemberRecord, next: { nickname: string; skeleton: string }): Promise<RenameOutcome> {
    this.requireAvailable();
    const k = this.keys(room);
    const result = (await this.command(() =>
      this.scripts.rename(
        k.members,
        k.order,
        k.nodeMembers(this.nodeId),
        k.channel,
        k.users,
        member.skeleton,
        member.nickname,
        String(member.joinedAtMs),
        this.nodeId,
        member.tokenHash ?? "",
        next.skeleton,
        next.nickname,
        this.sharded,
        sharedBy(member),
        k.nodeMembers(""),
      ),
    )) as [string, string | number];
    if (result[0] === "renamed") {
      // The lapsed-lease check looks our members up by skeleton: it must know the new one.
      this.unhold(room, member);
      this.hold(room, { ...member, ...next });
      return { kind: "renamed", memberCount: Number(result[1]) };
    }
    if (result[0] === "taken") return { kind: "taken", holder: String(result[1]) };
    return { kind: "gone" };
  }

  async markRead(room: string, userId: string, seq: number): Promise<number> {
    this.requireAvailable();
    return Number(await this.command(() => this.scripts.markRead(this.keys(room).reads, userId, seq)));
  }

  async readState(room: string, userId: string): Promise<ReadState> {
    this.requireAvailable();
    const k = this.keys(room);
    const readSeq = Number((await this.command(() => this.redis.commands.hget(k.reads, userId))) ?? 0);
    const raw = await this.command(() => this.redis.commands.xrangeBuffer(k.log, `${readSeq + 1}-0`, "+", "COUNT", UNREAD_CAP));
    return { readSeq, ...countUnread(raw.map((r) => toStoredMessage(toEntry(r))), userId) };
  }

  async readPositions(room: string, userIds: readonly string[]): Promise<Map<string, number>> {
    const positions = new Map<string, number>();
    if (userIds.length === 0) return positions;
    this.requireAvailable();
    const seqs = await this.command(() => this.redis.commands.hmget(this.keys(room).reads, ...userIds));
    seqs.forEach((seq, i) => {
      if (seq !== null && Number(seq) > 0) positions.set(userIds[i], Number(seq));
    });
    return positions;
  }

  async members(room: string, pageToken: string, pageSize: number): Promise<MemberPage> {
    if (pageToken !== "" && !/^\d{1,15}$/.test(pageToken)) throw new InvalidPageTokenError();
    this.requireAvailable();
    const k = this.keys(room);
    const after = pageToken === "" ? 0 : Number(pageToken);
    const [[, ranked], [, count]] = (await this.command(() =>
      this.redis.commands.multi().zrange(k.order, `(${after}`, "+inf", "BYSCORE", "LIMIT", 0, pageSize + 1, "WITHSCORES").hlen(k.members).exec(),
    )) as [[unknown, string[]], [unknown, number]];
    const skeletons: string[] = [];
    const orders: number[] = [];
    for (let i = 0; i < ranked.length; i += 2) {
      skeletons.push(ranked[i]);
      orders.push(Number(ranked[i + 1]));
    }
    const more = skeletons.length > pageSize;
    if (more) {
      skeletons.length = pageSize;
      orders.length = pageSize;
    }
    const records = skeletons.length > 0 ? await this.command(() => this.redis.commands.hmget(k.members, ...skeletons)) : [];
    const members: MemberRecord[] = [];
    records.forEach((raw, i) => {
      if (!raw) return; // left between the two reads
      const m = JSON.parse(raw) as { n: string; j: string; u?: string };
      members.push({ nickname: m.n, skeleton: skeletons[i], joinedAtMs: Number(m.j), ...(m.u !== undefined ? { userId: m.u } : {}) });
    });
    return { members, memberCount: count, nextPageToken: more ? String(orders[orders.length - 1]) : "" };
  }

  async rooms(limit: number): Promise<RoomSummary[]> {
    this.requireAvailable();
    const index = roomIndexKey(this.prefix);
    // Bounded: a room is in the index while it has members somewhere (each node holds at most --max-rooms).
    const names = await this.command(() => this.redis.commands.smembers(index));
    const counts = await Promise.all(
      names.map(async (name) => {
        const k = this.keys(name);
        const [[, count], [, seq]] = (await this.command(() => this.redis.commands.multi().hlen(k.members).hget(k.meta, "seq").exec())) as [[unknown, number], [unknown, string | null]];
        return { name, memberCount: count, lastSeq: Number(seq ?? 0) };
      }),
    );
    const empty = counts.filter((r) => r.memberCount === 0).map((r) => r.name);
    if (empty.length > 0) void this.redis.commands.srem(index, ...empty).catch(() => {});
    return counts
      .filter((r) => r.memberCount > 0)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, limit);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  change(req: ChangeRequest): Promise<ChangeOutcome> {
    const outcome = (async () => {
      this.requireAvailable();
      return this.command(() => this.changes.change(req));
    })();
    this.inFlight.add(outcome);
    void outcome.finally(() => this.inFlight.delete(outcome)).catch(() => {});
    return outcome;
  }

  react(req: ReactRequest): Promise<ReactOutcome> {
    const outcome = (async () => {
      this.requireAvailable();
      return this.command(() => this.reactions.react(req));
    })();
    this.inFlight.add(outcome);
    void outcome.finally(() => this.inFlight.delete(outcome)).catch(() => {});
    return outcome;
  }

  act(req: ActRequest): Promise<ActOutcome> {
    const outcome = (async () => {
      this.requireAvailable();
      return this.command(() => this.actions.act(req));
    })();
    this.inFlight.add(outcome);
    void outcome.finally(() => this.inFlight.delete(outcome)).catch(() => {});
    return outcome;
  }

  async state(room: string): Promise<RoomStateData | undefined> {
    this.requireAvailable();
    return this.command(() => this.actions.state(room));
  }

  async exists(room: string): Promise<boolean> {
    this.requireAvailable();
    return this.command(() => this.actions.exists(room));
  }

  async userRooms(userId: string, limit: number): Promise<UserRoom[]> {
    this.requireAvailable();
    return this.command(() => this.actions.userRooms(userId, limit));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    await this.flushPendingReleases();
    this.closed = true;
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
    await this.lease.stop();
    if (this.publisher !== this.redis.commands) this.publisher.disconnect();
    await this.redis.close();
  }

  // ---- internals -----------------------------------------------------------

  private get sharded(): string {
    return this.redis.sharded ? "1" : "0";
  }

  private keys(room: string): RoomKeys {
    return roomKeys(this.prefix, room);
  }

  /** The keys the presence scripts take, in their order. */
  private presenceKeys(k: RoomKeys, nodeId: string): string[] {
    return [k.meta, k.members, k.order, k.nodeMembers(nodeId), k.nodes, k.channel, k.log, k.ids, k.idTimes];
  }

  private define(name: string, numberOfKeys: number, lua: string): Script {
    type Definer = Record<string, Script> & { defineCommand(n: string, d: { numberOfKeys: number; lua: string }): void };
    const client = this.redis.commands as unknown as Definer;
    client.defineCommand(name, { numberOfKeys, lua });
    if (this.publisher !== this.redis.commands) (this.publisher as unknown as Definer).defineCommand(name, { numberOfKeys, lua });
    return (...args) => client[name](...args);
  }

  private requireAvailable(): void {
    if (!this.available) throw new LogUnavailableError("the room log (Redis) is unreachable");
  }

  /** Run a command; a connection failure becomes LogUnavailableError. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async publishNow(req: PublishRequest): Promise<PublishOutcome> {
    this.requireAvailable();
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.publishOnce(req);
      if (outcome !== "stale") return outcome;
      // The target was edited or deleted after it was read for its quote: quote it again.
      if (attempt >= REPLY_ATTEMPTS) throw new LogUnavailableError(`message ${req.replyToSeq} of room ${req.room} kept changing while a reply to it was sent; try again`);
    }
  }

  private async publishOnce(req: PublishRequest): Promise<PublishOutcome | "stale"> {
    const k = this.keys(req.room);
    // A reply quotes its target as read here; the script stores it only if the target is still that (else "stale").
    const reply = req.replyToSeq ? await this.replyTo(req.room, req.replyToSeq) : undefined;
    if (reply?.kind === "refused") return reply;
    const halves = encodeMessageHalves(reply ? { ...req, replyTo: reply.ref } : req);
    const now = Date.now();
    const result = await this.command(() =>
      this.appendScript(
        "chatPublish",
        [k.meta, k.log, k.ids, k.idTimes, k.channel, k.access],
        this.appendArgs(req.room, req.sender, req.clientMsgId, sendFingerprint(req.text, req.replyToSeq), halves, req.sentAtMs, now),
        [req.senderId ?? "", req.grant ?? RoomRole.UNSPECIFIED, reply ? req.replyToSeq! : 0, reply ? reply.event : ""],
      ),
    );
    if (result[0] === "stale") return "stale";
    if (result[0] === "ok") return { kind: "stored", seq: Number(result[1]), ...(reply ? { replyTo: reply.ref } : {}) };
    if (result[0] === "dup") return { kind: "duplicate", original: { ...req, seq: Number(result[1]), sentAtMs: Number(result[2]) } };
    if (result[0] === "refused") return refusalOf(req.room, result, req.senderId!, req.grant, now, true);
    return { kind: "conflict" };
  }

  /** What a reply to `seq` quotes, or why it may not be made (log/message-changes.ts decideReply()). */
  private async replyTo(room: string, seq: number): Promise<{ kind: "ok"; ref: ReplyRef; event: Buffer } | { kind: "refused"; code: ErrorCode; message: string }> {
    const [raw] = await this.command(() => this.redis.commands.xrangeBuffer(this.keys(room).log, `${seq}-0`, `${seq}-0`));
    const entry = raw ? toEntry(raw) : undefined;
    const target = entry ? toStoredMessage(entry) : undefined;
    // Not kept and never numbered are both NOT_FOUND for a reply ("room R has no message N"): no position to read.
    const decision = decideReply(room, seq, target, { epoch: "", firstSeq: 0, lastSeq: 0 });
    return decision.ok ? { kind: "ok", ref: replyRef(target!), event: Buffer.from(entry!.event) } : { kind: "refused", code: decision.code, message: decision.message };
  }

  /** The common ARGV of the publish and act scripts (scripts.ts APPEND), in order. */
  private appendArgs(
    room: string,
    keyOwner: string,
    clientId: string,
    fingerprint: string,
    halves: { head: Buffer; tail: Buffer },
    sentAtMs: number,
    now: number,
  ): (string | Buffer | number)[] {
    const { maxMessagesPerRoom, maxAgeMs, idWindowMs, maxIdsPerRoom } = this.retention;
    const feed = this.feeds.get(room);
    return [
      keyOwner,
      clientId,
      fingerprint,
      halves.head,
      halves.tail,
      sentAtMs,
      maxMessagesPerRoom,
      maxAgeMs,
      idWindowMs,
      maxIdsPerRoom,
      newEpoch(),
      this.sharded,
      now,
      feed?.currentEpoch ?? "",
      feed?.highestSeen ?? 0,
      this.minReplicas > 0 ? "1" : "0",
    ];
  }

  /**
   * Run a script that appends an entry (publish, act); with
   * --redis-min-replicas, follow it on the same connection with WAIT (it
   * counts the replicas that have this connection's writes so far), and
   * refuse the send when too few confirm in time: the client retries under
   * the same client_msg_id, and an entry that was in fact stored is then
   * answered as a duplicate with its number. The reply comes back as
   * strings, without the channel payload. `confirms`: false when the entry
   * ends the room (a delete: no meta left to record the confirmation in).
   */
  private async appendScript(name: "chatPublish" | "chatAct" | "chatChange" | "chatReact", keys: string[], common: (string | Buffer | number)[], extra: (string | Buffer | number)[], confirms = true): Promise<string[]> {
    const channel = keys[4];
    const args = [...keys, ...common, ...extra];
    const strings = (raw: unknown[]) => raw.map((b) => (Buffer.isBuffer(b) ? b.toString("utf8") : String(b))); // numbers come as integers
    // A cluster connection queues commands while it re-learns the slots (after a failover), and a
    // queued command has no timeout of its own: bound the whole append, so a send is refused (and
    // resent by its client under the same id) instead of hanging.
    const deadline = this.commandTimeoutMs + (this.minReplicas > 0 ? this.replicaWaitMs : 0);
    const script = { chatPublish: this.scripts.publish, chatAct: this.scripts.act, chatChange: this.scripts.change, chatReact: this.scripts.react }[name];
    if (this.minReplicas <= 0) return this.watched(keys, strings((await within(script(...args) as Promise<unknown[]>, deadline)) as unknown[]));
    const pipeline = this.publisher.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & {
      wait(n: number, ms: number): unknown;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    // Buffer replies: the payload to announce is the encoded event, binary.
    pipeline[`${name}Buffer`](...args);
    pipeline.wait(this.minReplicas, this.replicaWaitMs);
    const replies = await within(pipeline.exec(), deadline);
    if (!replies) throw new LogUnavailableError("the room log (Redis) did not answer");
    const [[scriptErr, raw], [waitErr, confirmed]] = replies;
    if (scriptErr && isRedirect(scriptErr)) throw this.slotMoved();
    if (scriptErr) throw scriptErr;
    if (waitErr) throw waitErr;
    const result = raw as (Buffer | number)[];
    const kind = String(result[0]);
    if (Number(confirmed) < this.minReplicas) {
      // Stored on the master but not announced: nodes find it later by the counter, if it survives.
      throw new LogUnavailableError(
        `only ${Number(confirmed)} of ${this.minReplicas} Redis replica(s) confirmed it within ${this.replicaWaitMs} ms; resend it with the same client_msg_id`,
      );
    }
    const reply = strings(kind === "ok" ? result.slice(0, 3) : result);
    // Confirmed up to here: nodes may catch up to it (a duplicate's original too, now it is on the replicas).
    if ((kind === "ok" || kind === "dup") && confirms) void this.scripts.confirm(keys[0], reply[1]).catch((err) => this.connectionTrouble(err));
    // Announced only now, so nobody (the sender included) sees an entry no replica has.
    if (kind === "ok" && Buffer.isBuffer(result[3])) void this.redis.publish(channel, result[3]).catch((err) => this.connectionTrouble(err));
    return this.watched(keys, reply);
  }

  /**
   * An entry this node appended (or found stored) must reach this node's
   * subscribers, its sender's acknowledgement included, even when its
   * announcement is lost (a failover moves the room's sharded channel) or
   * the confirmation write after WAIT failed: if it has not arrived shortly,
   * the room's feed reads it from the stream. One timer per room at a time.
   */
  private watched(keys: string[], reply: string[]): string[] {
    if (reply[0] !== "ok" && reply[0] !== "dup") return reply;
    // keys[0] is the room's meta key, `${prefix}:{room}:meta` (room names have no braces).
    const room = keys[0].slice(this.prefix.length + 2, -"}:meta".length);
    // {'ok', seq, epoch} | {'dup', seq, sentAtMs, epoch}
    const epoch = reply[0] === "ok" ? reply[2] : reply[3];
    this.feeds.get(room)?.expect(Number(reply[1]), epoch ?? "", DELIVERY_GRACE_MS);
    return reply;
  }

  /**
   * The room's slot is served elsewhere now (a failover; the old master answers
   * as a replica). ioredis follows MOVED by itself for single commands but not
   * for this pipeline (its WAIT fails differently on a replica), and without
   * a slot refresh the publish connection would keep asking the old master:
   * every send in its rooms refused, for good. Refresh, and refuse this send
   * (the script did not run): the client's resend goes to the new master.
   */
  private slotMoved(): LogUnavailableError {
    if (this.publisher instanceof Cluster) this.publisher.refreshSlotsCache();
    return new LogUnavailableError("the room log (Redis Cluster) moved this room to another master");
  }

  /**
   * How far a node may catch up on its own: the counter, or with
   * --redis-min-replicas what replicas confirmed (a message stored but not
   * confirmed goes out once a later one is, or its resend is).
   */
  private deliverableUpTo(seq: string | null, confirmed: string | null): number {
    if (this.minReplicas <= 0 || confirmed === null) return Number(seq ?? 0);
    return Math.min(Number(seq ?? 0), Number(confirmed));
  }

  /** Record that this node may hold members in the room (survivors look here when it dies). */
  private async register(room: string): Promise<void> {
    await Promise.all([
      this.redis.commands.sadd(nodeRegistryKey(this.prefix), this.nodeId),
      this.redis.commands.sadd(nodeRoomsKey(this.prefix, this.nodeId), room),
    ]);
  }

  private hold(room: string, member: MemberRecord): void {
    let members = this.held.get(room);
    if (!members) this.held.set(room, (members = new Map()));
    members.set(heldKey(member), { ...member });
  }

  /** Another session (maybe on another node) renamed a shared membership: this node's sessions of it follow. */
  private renamedShared(room: string, from: string, to: { nickname: string; skeleton: string }): void {
    for (const member of this.held.get(room)?.values() ?? []) {
      if (member.shared && member.nickname === from) Object.assign(member, to);
    }
  }

  private unhold(room: string, member: MemberRecord): void {
    const members = this.held.get(room);
    if (members?.get(heldKey(member))?.joinedAtMs !== member.joinedAtMs) return;
    members.delete(heldKey(member));
    if (members.size === 0) this.held.delete(room);
  }

  private async releaseNow(room: string, member: MemberRecord, reason: LeaveReason): Promise<void> {
    const k = this.keys(room);
    await this.scripts.release(
      ...this.presenceKeys(k, this.nodeId),
      k.users,
      k.reactions,
      member.skeleton,
      member.nickname,
      String(member.joinedAtMs),
      this.nodeId,
      reason,
      this.sharded,
      this.roomLifetimeMs(),
      member.tokenHash ?? "",
      sharedBy(member),
    );
  }

  /** How long a room's history outlives its last member: 0 keeps it (no age bound). */
  private roomLifetimeMs(): number {
    return this.retention.maxAgeMs > 0 ? this.retention.maxAgeMs + this.retention.idWindowMs : 0;
  }

  private async firstSeq(k: RoomKeys): Promise<number> {
    const first = await this.redis.commands.xrange(k.log, "-", "+", "COUNT", 1);
    return first.length > 0 ? parseInt(first[0][0], 10) : 0;
  }

  /** Every stored entry with afterSeq < seq <= upToSeq, read a page at a time. */
  private async readRange(room: string, afterSeq: number, upToSeq: number): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    let from = afterSeq;
    while (from < upToSeq) {
      const page = (await this.redis.commands.xrangeBuffer(this.keys(room).log, `${from + 1}-0`, `${upToSeq}-0`, "COUNT", READ_PAGE)).map(toEntry);
      out.push(...page);
      if (page.length < READ_PAGE) break;
      from = page[page.length - 1].seq;
    }
    return out;
  }

  private onChannelMessage(channel: Buffer, payload: Buffer): void {
    const room = roomOfChannel(this.prefix, channel.toString("utf8"));
    const feed = room === undefined ? undefined : this.feeds.get(room);
    if (!feed || room === undefined) return;
    const m = parseChannelMessage(payload);
    if (!m) return;
    switch (m.kind) {
      case "message":
        return feed.onEntry(m.epoch, m.seq, m.event, m.action);
      case "joined":
        return feed.listener.presence(room, {
          kind: "joined",
          member: { nickname: m.nickname, skeleton: "", joinedAtMs: m.joinedAtMs, ...(m.userId !== undefined ? { userId: m.userId } : {}) },
          memberCount: m.memberCount,
        });
      case "left":
        return feed.listener.presence(room, { kind: "left", nickname: m.nickname, reason: m.reason, memberCount: m.memberCount });
      case "replaced":
        return feed.listener.presence(room, { kind: "replaced", nickname: m.nickname, tokenHash: m.tokenHash, memberCount: m.memberCount });
      case "renamed":
        if (m.skeleton !== undefined) this.renamedShared(room, m.from, { nickname: m.to, skeleton: m.skeleton });
        return feed.listener.presence(room, { kind: "renamed", from: m.from, to: m.to, memberCount: m.memberCount });
      case "typing":
        return feed.listener.signal(room, m.event, m.from);
    }
  }


  /** An entry of another epoch arrived: if Redis really holds another history now, reset the room. */
  private async checkEpoch(feed: RoomFeed): Promise<void> {
    try {
      const position = await this.position(feed.room);
      if (this.feeds.get(feed.room) !== feed) return;
      if (position.epoch !== feed.currentEpoch) await this.resetFeed(feed, position, "room history was reset in Redis (new epoch); its members rejoin");
    } catch (err) {
      this.connectionTrouble(err);
    }
  }

  /**
   * Reset a room to Redis's new epoch. When the epoch was started because the
   * counter was behind what was delivered in this node's epoch (by this node
   * or another one), say so with both numbers: messages were lost in Redis.
   */
  private async resetFeed(feed: RoomFeed, position: RoomPosition, why: string): Promise<void> {
    const [behindEpoch, behindAt, behindOf] = await this.redis.commands.hmget(this.keys(feed.room).meta, "behindEpoch", "behindAt", "behindOf");
    if (this.feeds.get(feed.room) !== feed || feed.currentEpoch === position.epoch) return;
    if (behindEpoch !== null && behindEpoch === feed.currentEpoch) {
      this.onCounterBehind(feed.room);
      this.onEvent(
        "warn",
        `room ${feed.room}: its Redis counter was at ${behindAt} but ${behindOf} had been delivered (a failover to a lagging replica, or a restore of an older snapshot); the messages after ${behindAt} are lost, so the room starts a new epoch and its members rejoin`,
        { room: feed.room, counter: Number(behindAt), delivered: Number(behindOf), deliveredHere: feed.highestSeen, epoch: position.epoch },
      );
    } else {
      this.onEvent("warn", why, { room: feed.room });
    }
    feed.reset(position);
  }

  /**
   * A room action was delivered: after a delete, the room starts a new
   * history (the delete script made its epoch), and the subscription resets
   * to it once the delete's entry went out.
   */
  private afterAction(feed: RoomFeed, entry: LogEntry): void {
    if (fromBinary(RoomActionSchema, entry.action!).kind !== RoomActionKind.DELETE) return;
    void (async () => {
      const position = await this.position(feed.room);
      if (this.feeds.get(feed.room) !== feed || position.epoch === feed.currentEpoch) return;
      this.onEvent("info", "room deleted; its history starts again", { room: feed.room, epoch: position.epoch });
      feed.reset(position);
    })().catch((err) => this.connectionTrouble(err));
  }

  /** A number came again on the channel: check (once at a time) whether the counter went back. */
  private checkCounterSoon(feed: RoomFeed): void {
    if (this.staleChecks.has(feed.room)) return;
    this.staleChecks.add(feed.room);
    void this.catchUp([feed]).finally(() => this.staleChecks.delete(feed.room));
  }

  /**
   * Redis's counter for a room is behind what this node delivered in the same
   * epoch: start a new epoch in Redis (unless another node did first), then reset.
   */
  private async counterBehind(feed: RoomFeed): Promise<void> {
    const known = feed.highestSeen;
    await this.scripts.rebase(this.keys(feed.room).meta, feed.currentEpoch, known, newEpoch());
    await this.checkEpoch(feed);
  }

  /** Every subscribed room against its last number in Redis: a lost tail message is repaired. */
  private async catchUpAll(): Promise<void> {
    await this.catchUp([...this.feeds.values()]);
  }

  private async catchUp(feeds: RoomFeed[]): Promise<void> {
    if (!this.available || feeds.length === 0) return;
    try {
      const metas = await Promise.all(feeds.map((f) => this.redis.commands.hmget(this.keys(f.room).meta, "epoch", "seq", "confirmed")));
      feeds.forEach((feed, i) => {
        const [epoch, seq, confirmed] = metas[i];
        if (this.feeds.get(feed.room) !== feed || epoch === null) return;
        if (epoch !== feed.currentEpoch) void this.checkEpoch(feed);
        else if (Number(seq ?? 0) < feed.highestSeen) void this.counterBehind(feed).catch((err) => this.connectionTrouble(err));
        else feed.catchUpTo(this.deliverableUpTo(seq, confirmed));
      });
    } catch (err) {
      this.connectionTrouble(err);
    }
  }

  /** After a reconnect: every room against what Redis holds now. */
  private async reconcile(): Promise<void> {
    await this.flushPendingReleases();
    for (const feed of [...this.feeds.values()]) {
      try {
        const position = await this.position(feed.room);
        if (this.feeds.get(feed.room) !== feed) continue;
        if (position.epoch !== feed.currentEpoch) {
          await this.resetFeed(feed, position, "room history is gone from Redis (restarted without persistence?); its members rejoin");
        } else if (position.lastSeq < feed.highestSeen) {
          await this.counterBehind(feed);
        } else {
          await this.catchUp([feed]);
        }
      } catch (err) {
        this.connectionTrouble(err);
        return;
      }
    }
  }

  private async flushPendingReleases(): Promise<void> {
    while (this.pendingReleases.length > 0 && this.available) {
      const next = this.pendingReleases[0];
      try {
        await this.releaseNow(next.room, next.member, next.reason);
        this.pendingReleases.shift();
      } catch {
        return;
      }
    }
  }

  /**
   * This node's lease had lapsed (Redis was away or frozen for longer than
   * it): survivors may have removed some of its members. Only the rooms where
   * that happened are reset (their members rejoin); a lapse nobody acted on
   * costs nothing. A survivor that saw the lease gone just before it was
   * renewed may still be evicting, so the rooms are checked once more later.
   */
  private async recoverLapsedLease(): Promise<void> {
    this.onEvent("warn", "this node's lease in Redis had lapsed; checking whether other nodes removed its members", { rooms: this.held.size });
    await this.resetEvictedRooms();
    setTimeout(() => void this.resetEvictedRooms(), Math.max(500, Math.floor(this.lease.leaseMs / 2))).unref();
  }

  private async resetEvictedRooms(): Promise<void> {
    if (this.closed) return;
    for (const [room, members] of [...this.held]) {
      try {
        await this.register(room);
        const skeletons = [...new Set([...members.values()].map((m) => m.skeleton))];
        const present = (await this.redis.commands.smismember(this.keys(room).nodeMembers(this.nodeId), ...skeletons)) as number[];
        if (present.every((p) => p === 1)) continue;
        this.held.delete(room); // the members rejoin: their claims are new
        const feed = this.feeds.get(room);
        this.onEvent("warn", "members of this node were removed by another node while its lease had lapsed; they rejoin", { room });
        if (feed) feed.reset(await this.position(room));
      } catch (err) {
        this.connectionTrouble(err);
        return;
      }
    }
  }

  private async evictNode(room: string, deadNode: string): Promise<void> {
    const k = this.keys(room);
    for (;;) {
      const removed = Number(
        await this.scripts.evict(...this.presenceKeys(k, deadNode), k.users, k.reactions, deadNode, LeaveReason.DISCONNECTED, this.sharded, this.roomLifetimeMs(), EVICT_BATCH),
      );
      if (removed < EVICT_BATCH) return;
    }
  }

  private async trimRoom(room: string): Promise<void> {
    const k = this.keys(room);
    const now = Date.now();
    const cutoff = this.retention.maxAgeMs > 0 ? now - this.retention.maxAgeMs : 0;
    await this.scripts.trim(k.log, k.ids, k.idTimes, cutoff, now - this.retention.idWindowMs);
  }

  private connectionTrouble(err: unknown): void {
    if (this.closed) return;
    this.checkAvailability();
    if (this.available) this.onEvent("warn", "room log command failed", { err: err instanceof Error ? err.message : String(err) });
  }

  private checkAvailability(): void {
    const now = this.available;
    if (now === this.wasAvailable) return;
    this.wasAvailable = now;
    this.onEvent(now ? "info" : "warn", now ? "room log (Redis) reachable" : "room log (Redis) unreachable: refusing sends and joins until it is back");
    for (const listener of this.availabilityListeners) listener(now);
    if (now) {
      // Renew at once: waiting for the timer could let a lease lapse that Redis's return could have kept.
      void this.lease.renewNow();
      void this.reconcile();
    }
  }
}

/** The user id of a shared membership (MemberRecord.shared), "" for one held by one session. */
function sharedBy(member: MemberRecord): string {
  return member.shared && member.userId !== undefined ? member.userId : "";
}

/** This node's sessions of one shared membership are held apart (by token); others by skeleton, as the log keys them. */
function heldKey(member: MemberRecord): string {
  return member.shared ? `t:${member.tokenHash ?? ""}` : member.skeleton;
}

/** Another connection to the same deployment (no sharded subscribers: it only runs commands). */
function ownConnection(commands: Redis | Cluster): Redis | Cluster {
  const copy = commands instanceof Cluster ? commands.duplicate(undefined, { shardedSubscribers: false }) : commands.duplicate();
  copy.on("error", () => {}); // reconnecting is ioredis's job; a failed publish says unavailable
  return copy;
}

/** The promise's outcome, or LogUnavailableError once `ms` have passed without one. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LogUnavailableError(`the room log (Redis) did not answer within ${ms} ms`)), ms);
  });
  promise.catch(() => {}); // settles after the deadline: nobody is waiting for it any more
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function newEpoch(): string {
  return randomUUID();
}
