/**
 * A node's lease on Redis, and the survivors' watch over the others. Each
 * node renews a key with a time-to-live (the lease) every third of it, and at
 * once when Redis answers again after an outage; the members it holds are
 * recorded with its id, and it lists itself in a registry of nodes with the
 * rooms it holds members in. Every node regularly looks at the registered
 * nodes (and at the nodes holding members in the rooms it is subscribed to),
 * and removes the members of any node whose lease is gone from every room
 * that node listed (they are told member_left, disconnected), whether or not
 * a survivor has members there. So when a node dies, its members are reported
 * gone within about leaseMs plus a check interval.
 *
 * After Redis trouble (a renewal failed, or a renewal or a check took long:
 * Redis was down, paused or frozen) no node could renew, so a missing lease
 * says nothing until Redis has answered promptly for a whole lease: evictions
 * wait that long (a node that died during the outage goes a lease later).
 *
 * A node that finds its own lease gone (it was cut off from Redis for longer
 * than the lease, and the others may have removed its members) says so: the
 * log then makes the members that were removed rejoin.
 */
import type { Cluster, Redis } from "ioredis";
import { leaseKey, nodeRegistryKey, nodeRoomsKey, roomKeys } from "./keys.js";

export interface NodeLeaseOptions {
  commands: Redis | Cluster;
  prefix: string;
  nodeId: string;
  leaseMs: number;
  /** Rooms this node is subscribed to. */
  rooms(): string[];
  /** Rooms this node holds members in (listed again under its id when its lease had lapsed). */
  heldRooms(): string[];
  /** Remove a dead node's members from a room. */
  evict(room: string, deadNode: string): Promise<void>;
  /** This node's lease had lapsed when it was renewed. */
  lapsed(): Promise<void>;
  /** Age retention for a room nobody may be writing to. */
  trim(room: string): Promise<void>;
  /** Check every subscribed room for messages its channel lost (run every other check). */
  sweep(): Promise<void>;
  onError(err: unknown): void;
}

/** How often idle rooms are trimmed by age, in checks. */
const TRIM_EVERY = 20;

export class NodeLease {
  private renewTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private held = false;
  private checks = 0;
  private checking = false;
  /** A renewal failed: Redis is away; no eviction until it has answered well for a lease. */
  private troubled = false;
  /** No eviction before this time (Redis came back, or answered slowly, lately). */
  private quietUntil = 0;

  constructor(private readonly options: NodeLeaseOptions) {}

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /** Renew now (Redis answers again after an outage): the timer could come too late. */
  async renewNow(): Promise<void> {
    if (this.renewTimer) await this.renew();
  }

  /** Take the lease (before any member is recorded under this node), then keep it. */
  async start(): Promise<void> {
    if (this.renewTimer) return;
    const { leaseMs } = this.options;
    await this.renew();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(leaseMs / 3)));
    this.renewTimer.unref();
    this.checkTimer = setInterval(() => void this.check(), Math.max(100, Math.floor(leaseMs / 4)));
    this.checkTimer.unref();
  }

  /** Stop renewing and give the lease back (a clean stop is not a death). */
  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    clearInterval(this.checkTimer);
    this.renewTimer = this.checkTimer = undefined;
    if (this.held) await this.options.commands.del(leaseKey(this.options.prefix, this.options.nodeId)).catch(() => {});
  }

  private async renew(): Promise<void> {
    const { commands, prefix, nodeId, leaseMs } = this.options;
    const started = Date.now();
    try {
      const previous = await commands.set(leaseKey(prefix, nodeId), String(Date.now()), "PX", leaseMs, "GET");
      if (this.troubled || Date.now() - started > this.slowMs) this.quiet();
      this.troubled = false;
      const lapsed = this.held && previous === null;
      this.held = true;
      if (lapsed) await this.relist();
      if (lapsed) await this.options.lapsed();
    } catch (err) {
      this.troubled = true;
      this.options.onError(err);
    }
  }

  /** A Redis round trip longer than this means it was frozen or paused meanwhile. */
  private get slowMs(): number {
    return Math.max(250, Math.floor(this.options.leaseMs / 4));
  }

  /** Other nodes could not renew lately: hold evictions for a lease. */
  private quiet(): void {
    this.quietUntil = Math.max(this.quietUntil, Date.now() + this.options.leaseMs);
  }

  /**
   * Whether a missing lease may be believed now: Redis has answered promptly
   * for a lease, and this check's own view is fresh (a check that spanned a
   * freeze saw leases expire that their holders are renewing right now).
   */
  private mayEvict(checkStarted: number): boolean {
    if (Date.now() - checkStarted > this.slowMs) this.quiet();
    return !this.troubled && Date.now() >= this.quietUntil;
  }

  /** List this node and its rooms again: survivors that saw its lease gone may have removed them. */
  private async relist(): Promise<void> {
    const { commands, prefix, nodeId } = this.options;
    await commands.sadd(nodeRegistryKey(prefix), nodeId);
    const rooms = this.options.heldRooms();
    if (rooms.length > 0) await commands.sadd(nodeRoomsKey(prefix, nodeId), ...rooms);
  }

  /** Find the nodes with members in our rooms whose lease is gone, and remove their members. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const { commands, prefix, nodeId } = this.options;
    const started = Date.now();
    try {
      await this.evictDeadNodes(started);
      const rooms = this.options.rooms();
      if (rooms.length === 0) return;
      const nodesPerRoom = await Promise.all(rooms.map((room) => commands.smembers(roomKeys(prefix, room).nodes)));
      const others = new Set(nodesPerRoom.flat().filter((n) => n !== nodeId));
      const dead = new Set<string>();
      for (const other of others) {
        if ((await commands.exists(leaseKey(prefix, other))) === 0) dead.add(other);
      }
      for (let i = 0; i < rooms.length && this.mayEvict(started); i++) {
        for (const node of nodesPerRoom[i]) if (dead.has(node)) await this.options.evict(rooms[i], node);
      }
      if (++this.checks % 2 === 0) await this.options.sweep();
      if (this.checks % TRIM_EVERY === 0) for (const room of rooms) await this.options.trim(room);
    } catch (err) {
      // Part of Redis did not answer (a master failing over?): other nodes may not have renewed either.
      this.troubled = true;
      this.options.onError(err);
    } finally {
      this.checking = false;
    }
  }

  /**
   * Every registered node whose lease is gone: its members leave every room it
   * listed, then it leaves the registry. Several survivors may do this at once;
   * each step is idempotent.
   */
  private async evictDeadNodes(checkStarted: number): Promise<void> {
    const { commands, prefix, nodeId } = this.options;
    const registry = nodeRegistryKey(prefix);
    const others = (await commands.smembers(registry)).filter((n) => n !== nodeId);
    for (const other of others) {
      if ((await commands.exists(leaseKey(prefix, other))) === 1) continue;
      if (!this.mayEvict(checkStarted)) return;
      const roomsKey = nodeRoomsKey(prefix, other);
      for (const room of await commands.smembers(roomsKey)) {
        await this.options.evict(room, other);
        await commands.srem(roomsKey, room);
      }
      // Only once its list is empty: a node renewing meanwhile lists itself again.
      if ((await commands.scard(roomsKey)) === 0 && (await commands.exists(leaseKey(prefix, other))) === 0) await commands.srem(registry, other);
    }
  }
}
