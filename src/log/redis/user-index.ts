/**
 * "My rooms" on Redis: per user, the rooms where they hold a role (keys.ts
 * userRoomsKey).
 *
 * The index lives in the user's key, not the room's, so in a cluster it sits
 * in another slot and cannot be written by the room's script. It is written
 * just after it, and that is safe enough because:
 * - every write carries the state it comes from (createdAtMs, version) and
 *   applies only if newer (USER_INDEX_SCRIPT), so retries and two nodes'
 *   writes arriving in either order end at the latest state's role;
 * - the room's state stays the truth: a listed room is shown only if its
 *   state (read at listing time) gives the user a role, so a stale entry
 *   never shows a room the user is no longer in.
 * What it can lose: the write, when the node dies (or Redis fails) between
 * the two steps; the room is then missing from the user's list until the
 * next action about them in that room. Nothing is enforced from the index.
 */
import type { Cluster, Redis } from "ioredis";
import { RoomRole } from "../../../gen/chat/v1/chat_pb.js";
import type { RoomStateData } from "../../rooms/room-state.js";
import type { UserRoom } from "../room-log.js";
import { userRoomsKey } from "./keys.js";

type Script = (...args: (string | number)[]) => Promise<unknown>;

/** A removed role is remembered this long (to beat a late write of an older state), then forgotten. */
const TOMBSTONE_MS = 10 * 60_000;
/** Rooms described at once while listing. */
const BATCH = 32;

export interface IndexChange {
  userId: string;
  /** UNSPECIFIED: the user no longer holds a role there. */
  role: RoomRole;
  createdAtMs: number;
  version: number;
}

/** Whose index an action changes: users whose role differs between the two states. */
export function indexChanges(prev: RoomStateData | undefined, next: RoomStateData | undefined): IndexChange[] {
  if (!next) {
    // Deleted: one past the last version, so it beats any late write of the room's last state.
    return Object.keys(prev?.roles ?? {}).map((userId) => ({ userId, role: RoomRole.UNSPECIFIED, createdAtMs: prev!.createdAtMs, version: prev!.version + 1 }));
  }
  const users = new Set([...Object.keys(prev?.roles ?? {}), ...Object.keys(next.roles)]);
  const changes: IndexChange[] = [];
  for (const userId of users) {
    const role = next.roles[userId] ?? RoomRole.UNSPECIFIED;
    if (role !== (prev?.roles[userId] ?? RoomRole.UNSPECIFIED) || prev?.createdAtMs !== next.createdAtMs) {
      changes.push({ userId, role, createdAtMs: next.createdAtMs, version: next.version });
    }
  }
  return changes;
}

export class UserIndex {
  constructor(
    private readonly commands: Redis | Cluster,
    private readonly prefix: string,
    private readonly update: Script,
    private readonly prune: Script,
  ) {}

  async record(room: string, changes: readonly IndexChange[]): Promise<void> {
    const now = Date.now();
    await Promise.all(changes.map((c) => this.update(userRoomsKey(this.prefix, c.userId), room, c.role, c.createdAtMs, c.version, now)));
  }

  /**
   * The user's rooms by name, at most `limit`, each described by `describe`
   * (undefined: the room's state does not give this user a role any more).
   */
  async rooms(userId: string, limit: number, describe: (room: string) => Promise<UserRoom | undefined>): Promise<UserRoom[]> {
    const key = userRoomsKey(this.prefix, userId);
    const entries = await this.commands.hgetall(key);
    const now = Date.now();
    const names: string[] = [];
    const forget: string[] = [];
    for (const [room, value] of Object.entries(entries)) {
      const [role, , , writtenAt] = value.split(" ").map(Number);
      if (role > RoomRole.UNSPECIFIED) names.push(room);
      else if (now - writtenAt > TOMBSTONE_MS) forget.push(room, value);
    }
    if (forget.length > 0) void this.prune(key, ...forget).catch(() => {});
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: UserRoom[] = [];
    for (let i = 0; i < names.length && out.length < limit; i += BATCH) {
      const described = await Promise.all(names.slice(i, i + BATCH).map(describe));
      for (const r of described) if (r && out.length < limit) out.push(r);
    }
    return out;
  }
}
