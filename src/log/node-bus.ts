/**
 * Questions for every node of a deployment at once: end a user's sessions,
 * list them; and notices for them (a direct conversation opened with the
 * user), told without waiting for answers. The admin API asks through this; each node answers for the
 * sessions it holds. Embedded (one process): the node answers itself. Redis:
 * a request on a pub/sub channel under the deployment's prefix, answered by
 * every node on the same channel, gathered for a bounded time
 * (redis/redis-node-bus.ts).
 */

/** One open session of a user, as its node describes it. */
export interface UserSessionInfo {
  /** `<node>.<number>`: names its node; not an OpenSession id (that one is a credential). */
  sessionId: string;
  node: string;
  rooms: string[];
  openedAtMs: number;
}

/** Another user created the direct-message room `room` with user `to` (the DM push). */
export interface DirectNotice {
  room: string;
  /** Whose sessions are told. */
  to: string;
  /** The other user of the room: for the other user, who opened it; for the opener's other devices, whom it is with. */
  from: string;
  /** A session on this node not to tell (the opening one: it has its answer). Never sent to other nodes. */
  skip?: object;
}

/** A user's read position in a room moved (hub/read-marks.ts): their sessions hear of it. */
export interface ReadNotice {
  room: string;
  userId: string;
  readSeq: number;
  unread: number;
  mentions: number;
  /** The user's nickname in the room: members see it with the receipt (read receipts); absent from nodes before receipts. */
  nickname?: string;
}

/** A stored message mentions users (hub/mentions.ts): their sessions are told. */
export interface MentionNotice {
  room: string;
  seq: number;
  sender: string;
  senderId: string;
  /** The start of the message's text. */
  quote: string;
  /** Whose sessions are told. */
  users: string[];
}

/** What one node does for the bus: the sessions it holds. */
export interface NodeSessions {
  disconnectUser(userId: string, reason: string): number;
  userSessions(userId: string): UserSessionInfo[];
  /** Tell the user's sessions on this node; how many were told. */
  directOpened(notice: DirectNotice): number;
  /** Tell the user's sessions on this node where they have read a room up to (and the room's members here, when it has read receipts on); how many sessions of the user were told. */
  readMoved(notice: ReadNotice): number;
  /** Tell the mentioned users' sessions on this node; how many were told. */
  mentioned(notice: MentionNotice): number;
}

export interface NodeBusAnswer<T> {
  value: T;
  /** Nodes that were asked but did not answer in time (their sessions are not counted). */
  silent: number;
}

export interface NodeBus {
  /** End every session of the user on every node; how many ended. */
  disconnectUser(userId: string, reason: string): Promise<NodeBusAnswer<number>>;
  /** The user's sessions on every node. */
  userSessions(userId: string): Promise<NodeBusAnswer<UserSessionInfo[]>>;
  /**
   * Tell the user's sessions on every node (this one at once). Fire and
   * forget: a notice that is lost costs only the wait for the client's next
   * look at its rooms.
   */
  directOpened(notice: DirectNotice): void;
  /** Tell the user's sessions on the other nodes (this node's hub tells its own); fire and forget like directOpened. */
  readMoved(notice: ReadNotice): void;
  /** Tell the mentioned users' sessions on the other nodes (this node's hub tells its own). */
  mentioned(notice: MentionNotice): void;
  close(): Promise<void>;
}

/** One process: this node is every node. */
export class LocalNodeBus implements NodeBus {
  constructor(private readonly local: NodeSessions) {}

  async disconnectUser(userId: string, reason: string): Promise<NodeBusAnswer<number>> {
    return { value: this.local.disconnectUser(userId, reason), silent: 0 };
  }

  async userSessions(userId: string): Promise<NodeBusAnswer<UserSessionInfo[]>> {
    return { value: this.local.userSessions(userId), silent: 0 };
  }

  directOpened(notice: DirectNotice): void {
    this.local.directOpened(notice);
  }

  readMoved(): void {
    // No other node.
  }

  mentioned(): void {
    // No other node.
  }

  async close(): Promise<void> {}
}
