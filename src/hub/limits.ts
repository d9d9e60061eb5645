/** Every bound the hub enforces. Nothing in the hub grows past one of these. */
export interface HubLimits {
  /** Concurrent sessions (streams) the hub accepts. */
  maxSessions: number;
  /** Rooms one session may be a member of at once. */
  maxRoomsPerSession: number;
  /** Rooms that may exist at once (a room exists while it has members). */
  maxRooms: number;
  /** Members one room may hold. */
  maxMembersPerRoom: number;
  /** Bytes of encoded events queued for one subscriber before it is dropped as too slow. */
  maxQueuedBytes: number;
  /** How long a subscriber's transport may refuse writes while events keep arriving before it is dropped. */
  stallTimeoutMs: number;
  /** Upper bound of one outgoing frame when batching queued events. */
  maxFrameBytes: number;
  /** Messages carried in JoinedEvent.recent. */
  recentOnJoin: number;
  /** Messages read from history per replay step when resuming. */
  replayPageSize: number;
  /** Periodic heartbeat interval; 0 disables it. */
  heartbeatIntervalMs: number;
  /** Commands per second one client may send (token bucket refill rate); 0 disables the limit. */
  rateLimitPerSec: number;
  /** Commands a client may send in a burst above its rate. */
  rateBurst: number;
  /** Consecutive rate-limited commands after which the client is disconnected. */
  maxRateViolations: number;
}

export const defaultHubLimits: HubLimits = {
  maxSessions: 10_000,
  maxRoomsPerSession: 32,
  maxRooms: 10_000,
  maxMembersPerRoom: 5_000,
  maxQueuedBytes: 1024 * 1024,
  stallTimeoutMs: 3_000,
  maxFrameBytes: 64 * 1024,
  recentOnJoin: 50,
  replayPageSize: 256,
  heartbeatIntervalMs: 15_000,
  rateLimitPerSec: 50,
  rateBurst: 100,
  maxRateViolations: 200,
};
