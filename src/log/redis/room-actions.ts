/**
 * Room state on the Redis log (issue 18): an action is decided in TypeScript
 * (rooms/room-state.ts decide()) against the state read from Redis, then
 * recorded by ACT_SCRIPT only if that state is still current (its version:
 * compare-and-set), as the room's next entry, numbered, deduplicated and
 * announced like a message (the log's append path, with its replica WAIT and
 * counter checks). The state, whether a room exists, and "my rooms" are read
 * here too.
 */
import type { Cluster, Redis } from "ioredis";
import { RoomRole } from "../../../gen/chat/v1/chat_pb.js";
import { decide, type RoomStateData } from "../../rooms/room-state.js";
import { encodeMessageHalves, type MessageHalves } from "../../wire/message-codec.js";
import type { StoredMessage } from "../message.js";
import { LogUnavailableError, type ActOutcome, type ActRequest, type UserRoom } from "../room-log.js";
import { actionEntry, actionFingerprint } from "../room-states.js";
import type { RoomKeys } from "./keys.js";
import { toEntry, toStoredMessage } from "./replies.js";
import { accessChanges } from "./room-access.js";
import { indexChanges, type UserIndex } from "./user-index.js";

type Script = (...args: (string | Buffer | number)[]) => Promise<unknown>;
type Arg = string | Buffer | number;

/**
 * An action decided again this many times because the room's state kept
 * changing under it is refused as unavailable. Each failed attempt means
 * another action on the room was applied meanwhile, so this many attempts
 * succeed whenever fewer actions on one room are in flight at once.
 */
const ACT_ATTEMPTS = 32;
/** The most an attempt waits (random, growing) before deciding again: contenders spread out. */
const ACT_BACKOFF_MS = 20;

/** What the log lends: its connection, key names, and its append path. */
export interface ActionBackend {
  commands: Redis | Cluster;
  keys(room: string): RoomKeys;
  /** ROOM_READ_SCRIPT. */
  read: Script;
  /** The common ARGV of the append scripts (scripts.ts APPEND) for an entry of this room. */
  appendArgs(room: string, keyOwner: string, clientId: string, fingerprint: string, halves: MessageHalves, sentAtMs: number, now: number): Arg[];
  /** Run ACT_SCRIPT as the log runs its appends (replica WAIT, announcement); `confirms` false for a delete. */
  append(keys: string[], common: Arg[], extra: Arg[], confirms: boolean): Promise<string[]>;
  /** How long an empty room's history is kept (0: kept). */
  lifetimeMs(): number;
  idWindowMs(): number;
  newEpoch(): string;
  /** How long an epoch nobody joins is kept (a deleted room's new one). */
  unclaimedEpochTtlMs: number;
  userIndex: UserIndex;
  /** The room was deleted: it leaves the list of rooms. */
  forget(room: string): void;
  onTrouble(err: unknown): void;
}

export class RoomActions {
  constructor(private readonly b: ActionBackend) {}

  /**
   * Decide the action against the state in Redis, then record it if that
   * state is still current; when another node changed it meanwhile, decide
   * again, a bounded number of times.
   */
  async act(req: ActRequest): Promise<ActOutcome> {
    const { room, actor } = req;
    const k = this.b.keys(room);
    const fingerprint = actionFingerprint(req.action);
    // The same idempotency store as messages, keyed by the entry's sender as a message's is.
    const idKey = req.clientActionId ? `${actor.name}\0${req.clientActionId}` : "";
    for (let attempt = 0; attempt < ACT_ATTEMPTS; attempt++) {
      const now = Date.now();
      const read = await this.read(room, idKey, fingerprint, now);
      if (read.used === "conflict") return { kind: "conflict" };
      if (read.used === "dup") return { kind: "duplicate", original: await this.original(req, read.seq, read.sentAtMs) };
      const d = decide(room, read.state, read.exists, actor, req.action, now);
      if (!d.ok) return { kind: "refused", code: d.code, message: d.message };
      const entry = actionEntry(req, d);
      const changes = d.next ? accessChanges(read.state, d.next) : { set: [], del: [] };
      const result = await this.b.append(
        [k.meta, k.log, k.ids, k.idTimes, k.channel, k.state, k.access, k.members, k.order, k.nodes, k.users, k.reads, k.rewrite, k.reactions],
        this.b.appendArgs(room, actor.name, req.clientActionId, fingerprint, encodeMessageHalves(entry), req.sentAtMs, now),
        [
          Buffer.from(entry.action!),
          read.state ? String(read.state.version) : "",
          // What decide() was told of the room's existence must still hold (create, delete).
          read.exists ? "1" : "0",
          d.next ? JSON.stringify(d.next) : "",
          this.b.lifetimeMs(),
          k.nodeMembers(""),
          this.b.newEpoch(),
          this.b.unclaimedEpochTtlMs,
          changes.set.length / 2,
          ...changes.set,
          ...changes.del,
        ],
        d.next !== undefined,
      );
      if (result[0] === "stale") {
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(ACT_BACKOFF_MS, 2 ** attempt)));
        continue;
      }
      if (result[0] === "conflict") return { kind: "conflict" };
      if (result[0] === "dup") return { kind: "duplicate", original: await this.original(req, Number(result[1]), Number(result[2])) };
      // After the room's script: the user index is in another slot (see user-index.ts for why that is safe enough).
      await this.b.userIndex.record(room, indexChanges(read.state, d.next)).catch((err) => this.b.onTrouble(err));
      if (!d.next) this.b.forget(room);
      return { kind: "stored", seq: Number(result[1]), state: d.next };
    }
    throw new LogUnavailableError(`the state of room ${room} kept changing while this action was decided; try again`);
  }

  async state(room: string): Promise<RoomStateData | undefined> {
    const json = await this.b.commands.get(this.b.keys(room).state);
    return json ? (JSON.parse(json) as RoomStateData) : undefined;
  }

  async exists(room: string): Promise<boolean> {
    return (await this.read(room, "", "", Date.now())).exists;
  }

  userRooms(userId: string, limit: number): Promise<UserRoom[]> {
    return this.b.userIndex.rooms(userId, limit, (room) => this.describe(room, userId));
  }

  /** What an action needs to be decided: the room's state, whether it exists, whether the idempotency key was used. */
  private async read(room: string, idKey: string, fingerprint: string, now: number) {
    const k = this.b.keys(room);
    const [json, exists, used, seq, sentAtMs] = (await this.b.read(k.state, k.meta, k.members, k.log, k.ids, idKey, fingerprint, now, this.b.idWindowMs())) as string[];
    return {
      state: json ? (JSON.parse(json) as RoomStateData) : undefined,
      exists: exists === "1",
      used: used as "" | "dup" | "conflict",
      seq: Number(seq),
      sentAtMs: Number(sentAtMs),
    };
  }

  /** The entry an action's idempotency key was first used for, as stored (or as far as the request tells, when it is gone). */
  private async original(req: ActRequest, seq: number, sentAtMs: number): Promise<StoredMessage> {
    const raw = await this.b.commands.xrangeBuffer(this.b.keys(req.room).log, `${seq}-0`, `${seq}-0`);
    const stored = raw.length > 0 ? toStoredMessage(toEntry(raw[0])) : undefined;
    if (stored && stored.clientMsgId === req.clientActionId && stored.sender === req.actor.name) return stored;
    return { room: req.room, seq, sender: req.actor.name, text: "", sentAtMs, clientMsgId: req.clientActionId };
  }

  /** A room of the user's list, or undefined when its state does not give the user a role (the index was stale). */
  private async describe(room: string, userId: string): Promise<UserRoom | undefined> {
    const k = this.b.keys(room);
    const [[, json], [, seq], [, count], [, last]] = (await this.b.commands
      .multi()
      .get(k.state)
      .hget(k.meta, "seq")
      .hlen(k.members)
      .xrevrangeBuffer(k.log, "+", "-", "COUNT", 1)
      .exec()) as [[unknown, string | null], [unknown, string | null], [unknown, number], [unknown, [Buffer, Buffer[]][]]];
    const state = json ? (JSON.parse(json) as RoomStateData) : undefined;
    if (!state || (state.roles[userId] ?? RoomRole.UNSPECIFIED) < RoomRole.MEMBER) return undefined;
    const out: UserRoom = { name: room, state, lastSeq: Number(seq ?? 0), memberCount: count };
    if (last.length > 0) out.last = toStoredMessage(toEntry(last[0]));
    return out;
  }
}
