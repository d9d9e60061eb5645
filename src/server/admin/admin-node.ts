/**
 * The admin API's parts on one node: the key, the node
 * bus that reaches every node's sessions (in-process for the embedded log,
 * Redis pub/sub with --redis), and the calls both ports serve. The bus also
 * carries the hub's DM push (hub/direct-notices.ts).
 */
import type { Logger } from "pino";
import type { Hub } from "../../hub/hub.js";
import { LocalNodeBus, type NodeBus, type NodeSessions } from "../../log/node-bus.js";
import { RedisNodeBus } from "../../log/redis/redis-node-bus.js";
import type { RoomLog } from "../../log/room-log.js";
import type { ServerConfig } from "../config.js";
import type { AdminKey } from "./admin-key.js";
import { adminService, type AdminCalls } from "./admin-service.js";

export interface AdminNode {
  calls: AdminCalls;
  bus: NodeBus;
  /** Connect the bus (Redis); resolves once it is started, never fails the start. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** `key`: read at start-up (admin-key.ts readAdminKey); undefined turns the API off. */
export function createAdminNode(config: ServerConfig, key: AdminKey | undefined, hub: Hub, log: RoomLog, nodeId: string, logger: Logger): AdminNode {
  const local: NodeSessions = {
    disconnectUser: (userId, reason) => hub.disconnectUser(userId, reason),
    userSessions: (userId) =>
      hub.userSessions(userId).map((s) => ({ sessionId: `${nodeId}.${s.session.id}`, node: nodeId, rooms: s.rooms, openedAtMs: s.openedAtMs })),
    directOpened: (notice) => hub.tellDirectOpened(notice),
    readMoved: (notice) => hub.tellReadPosition(notice),
    mentioned: (notice) => hub.tellMention(notice),
  };
  const bus = config.redis
    ? new RedisNodeBus({
        url: config.redis,
        cluster: config.redisCluster,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        prefix: config.redisPrefix,
        nodeId,
        local,
        onEvent: (level, message, fields) => logger[level](fields ?? {}, message),
      })
    : new LocalNodeBus(local);
  // The DM push goes through the bus whether or not the admin API is on. Best effort: a failure
  // to tell is logged, never the opener's problem (their answer is already queued).
  hub.directNotify = (notice) => {
    try {
      bus.directOpened(notice);
    } catch (err) {
      logger.warn({ err: (err as Error).message, room: notice.room }, "cannot tell the other user of a direct conversation");
    }
  };
  hub.readNotify = (notice) => {
    try {
      bus.readMoved(notice);
    } catch (err) {
      logger.warn({ err: (err as Error).message, room: notice.room }, "cannot tell the user's other nodes of a read position");
    }
  };
  hub.mentionNotify = (notice) => {
    try {
      bus.mentioned(notice);
    } catch (err) {
      logger.warn({ err: (err as Error).message, room: notice.room }, "cannot tell mentioned users on other nodes");
    }
  };
  return {
    calls: adminService({ log, bus, key, logger }),
    bus,
    start: async () => {
      if (bus instanceof RedisNodeBus) await bus.start();
    },
    close: () => bus.close(),
  };
}
