/** Every bound the hub enforces. Nothing in the hub grows past one of these. */
import { DEFAULT_EDIT_WINDOW_MS } from "../log/message-changes.js";
import type { PresenceLimits } from "./presence-digest.js";

export interface HubLimits extends PresenceLimits {
  /** Concurrent sessions (streams) the hub accepts. */
  maxSessions: number;
  /** Rooms one session may be a member of at once (joins under way included). */
  maxRoomsPerSession: number;
  /** Rooms that may exist at once on this node (a room exists while it has members). */
  maxRooms: number;
  /** Members one room may hold (across all nodes). */
  maxMembersPerRoom: number;
  /** Bytes of encoded events queued for one subscriber before it is dropped as too slow. */
  maxQueuedBytes: number;
  /** How long a subscriber's transport may refuse writes while events keep arriving before it is dropped. */
  stallTimeoutMs: number;
  /** Upper bound of one outgoing frame when batching queued events. */
  maxFrameBytes: number;
  /** Messages carried at most in JoinedEvent.recent (also bounded in bytes: a quarter of maxQueuedBytes). */
  recentOnJoin: number;
  /** Members listed at most in JoinedEvent.members (the rest through ListMembers). */
  membersOnJoin: number;
  /** Messages read from history at most per replay step (also bounded by the room in the queue). */
  replayPageSize: number;
  /** Periodic heartbeat interval; 0 disables it. */
  heartbeatIntervalMs: number;
  /** Commands per second one client may send (token bucket refill rate); 0 disables the limit. */
  rateLimitPerSec: number;
  /** Commands a client may send in a burst above its rate. */
  rateBurst: number;
  /** Consecutive rate-limited commands after which the client is disconnected. */
  maxRateViolations: number;
  /** Consecutive undecodable requests after which the client is disconnected. */
  maxMalformedRequests: number;
  /** Commands of one session waiting behind an unfinished one (a join); more are refused. */
  maxWaitingCommands: number;
  /** How long after sending it its author may still edit a message (EditMessageCommand); deletes have no window. */
  editWindowMs: number;
  /** Rooms with read receipts at the default setting show them while at most this many members are joined (ReadReceiptsSetting). */
  readReceiptsMaxMembers: number;
}

export const defaultHubLimits: HubLimits = {
  maxSessions: 10_000,
  maxRoomsPerSession: 32,
  maxRooms: 10_000,
  maxMembersPerRoom: 10_000,
  maxQueuedBytes: 1024 * 1024,
  stallTimeoutMs: 3_000,
  maxFrameBytes: 64 * 1024,
  recentOnJoin: 50,
  membersOnJoin: 100,
  replayPageSize: 256,
  heartbeatIntervalMs: 15_000,
  rateLimitPerSec: 50,
  rateBurst: 100,
  maxRateViolations: 200,
  maxMalformedRequests: 100,
  maxWaitingCommands: 256,
  editWindowMs: DEFAULT_EDIT_WINDOW_MS,
  presenceThreshold: 200,
  presenceIntervalMs: 1000,
  presenceMaxNames: 20,
  presenceMaxDeliveriesPerSec: 2_000,
  readReceiptsMaxMembers: 50,
};
