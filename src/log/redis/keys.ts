/**
 * Redis key names. Every key of one room carries the room in a hash tag
 * (`{room}`), so all of them live in one Redis Cluster slot: one script can
 * touch them atomically, and rooms spread over the cluster's masters. The
 * prefix keeps deployments (and test runs) sharing one Redis apart.
 */
export interface RoomKeys {
  /** HASH: epoch, seq (last number handed out), morder (last join order number). */
  meta: string;
  /**
   * STREAM: the history; entry ids are `<seq>-0`, fields e (encoded event), t
   * (sent at, ms) and, for a room action, a (its RoomAction); for a reply r,
   * for an edit or delete c (its target's number). Each entry holds
   * its message's current state: an edit or delete rewrites it (scripts.ts
   * CHANGE_SCRIPT).
   */
  log: string;
  /** STREAM, only inside CHANGE_SCRIPT: the history being rewritten, renamed over `log` before the script ends. */
  rewrite: string;
  /** HASH: idempotency key (sender NUL client_msg_id) -> "seq:sentAtMs:textHash". */
  ids: string;
  /** ZSET: idempotency key by sent-at time, to forget keys past their window. */
  idTimes: string;
  /** HASH: nickname skeleton -> member record (JSON). */
  members: string;
  /** ZSET: skeleton by join order number, for paging in join order. */
  order: string;
  /** SET: ids of the nodes that have members in the room. */
  nodes: string;
  /** HASH: user id -> skeleton of the user's shared membership (scripts.ts SHARED). */
  users: string;
  /** HASH: user id -> the seq the user has read the room up to. */
  reads: string;
  /**
   * HASH: a message's number -> its reactions (log/reactions.ts
   * reactionsToJson), written by REACT_SCRIPT with the reaction's entry;
   * a delete drops its target's field. It lives and expires with `log`.
   */
  reactions: string;
  /** The room's pub/sub channel (a shard channel in cluster mode). */
  channel: string;
  /** STRING: the room's state (rooms/room-state.ts RoomStateData as JSON); absent for a room without one. */
  state: string;
  /**
   * HASH derived from the state, for the scripts' access checks (one HMGET):
   * v (state version), p ("1": private), r:<user> (role), b:<user> and
   * m:<user> (ban, mute: "<untilMs> <reason>"). Absent with the state.
   */
  access: string;
  /** SET: skeletons of the members held by one node. */
  nodeMembers(nodeId: string): string;
}

export function roomKeys(prefix: string, room: string): RoomKeys {
  const base = `${prefix}:{${room}}`;
  return {
    meta: `${base}:meta`,
    log: `${base}:log`,
    rewrite: `${base}:log-rewrite`,
    ids: `${base}:ids`,
    idTimes: `${base}:idt`,
    members: `${base}:members`,
    order: `${base}:order`,
    nodes: `${base}:nodes`,
    users: `${base}:users`,
    reads: `${base}:reads`,
    reactions: `${base}:reactions`,
    channel: `${base}:ch`,
    state: `${base}:state`,
    access: `${base}:access`,
    nodeMembers: (nodeId) => `${base}:node:${nodeId}`,
  };
}

/** SET of the rooms that have (or recently had) members, for ListRooms. */
export const roomIndexKey = (prefix: string) => `${prefix}:rooms`;

/**
 * HASH of the rooms where a user holds a role: room -> "<role> <createdAtMs>
 * <version> <writtenAtMs>" (role 0: a tombstone). Another slot than the
 * rooms' keys in a cluster: see user-index.ts.
 */
export const userRoomsKey = (prefix: string, userId: string) => `${prefix}:userrooms:${userId}`;

/** A node's lease: present while the node is alive. */
export const leaseKey = (prefix: string, nodeId: string) => `${prefix}:node:${nodeId}`;

/** SET of the ids of the nodes that may hold members somewhere (survivors watch their leases). */
export const nodeRegistryKey = (prefix: string) => `${prefix}:nodes`;

/** SET of the rooms a node may hold members in: where survivors look when it dies. */
export const nodeRoomsKey = (prefix: string, nodeId: string) => `${prefix}:noderooms:${nodeId}`;

/** The room a channel name belongs to (the part inside the hash tag). */
export function roomOfChannel(prefix: string, channel: string): string | undefined {
  const start = prefix.length + 2;
  if (!channel.startsWith(`${prefix}:{`) || !channel.endsWith("}:ch")) return undefined;
  return channel.slice(start, channel.length - 4);
}
