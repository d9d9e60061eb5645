/**
 * The room log: the source of truth of a room's messages and members. A log
 * assigns each message its sequence number, stores it, and delivers it to
 * every node that subscribed to the room, in sequence order, each exactly
 * once (a gap is repaired from stored history before anything later is
 * delivered). It also decides who is in a room (nickname uniqueness by
 * confusable skeleton, the member limit) and tells every subscribed node of
 * joins and leaves.
 *
 * Two implementations keep this contract (one shared test suite runs against
 * both): the embedded log (one process; history in memory or SQLite) and the
 * Redis log (any number of nodes; Redis or Redis Cluster). The hub talks to
 * this interface only.
 */
import type { ErrorCode, LeaveReason, RoomRole } from "../../gen/chat/v1/chat_pb.js";
import type { ActionInput, Actor, RoomStateData } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import type { ReplyRef, RoomPosition, StoredMessage } from "./message.js";
import type { ChangeRequest } from "./message-changes.js";
import type { ReactRequest } from "./reactions.js";
import type { StoredReaction } from "./message.js";
import type { ReadState } from "./read-positions.js";

export type { ChangeRequest, ReactRequest, RoomPosition, StoredMessage };

/** One stored message as the log delivers it: its number and its encoded ServerEvent. */
export interface LogEntry {
  readonly seq: number;
  /** A ChatResponse.events element carrying the ChatMessage: forwarded as is, never re-encoded. */
  readonly event: EncodedEvent;
  /**
   * For an entry that changed the room's state: the encoded chat.v1.RoomAction
   * (the same bytes as ChatMessage.action), so a node can act on it (drop a
   * kicked user's sessions, refresh its copy of the state) without decoding
   * every entry.
   */
  readonly action?: Uint8Array;
  /**
   * For a message with reactions: what `event` counts (with every
   * ReactionCount.mine false), so a reader who reacted gets theirs
   * (wire/reaction-codec.ts eventFor()).
   */
  readonly reactions?: readonly StoredReaction[];
}

export interface PublishRequest {
  room: string;
  sender: string;
  text: string;
  /** Idempotency key; empty for none. */
  clientMsgId: string;
  sentAtMs: number;
  /**
   * The sender's user id: the log refuses the message, in the same atomic
   * step that stores it, when the room's state says this user may not post
   * (banned, muted, not a member of a private room). Absent: not checked
   * (trusted senders: the admin API's Publish).
   */
  senderId?: string;
  /** The role the sender's token grants in this room (counts for a private room's membership). */
  grant?: RoomRole;
  /**
   * The message this one replies to (0 or absent: none): the log checks it,
   * in the step that numbers the message, and stores its quote with it
   * (log/message-changes.ts decideReply()).
   */
  replyToSeq?: number;
  /** User ids the message mentions (checked by the session: at most 20, no repeats). */
  mentions?: readonly string[];
}

/** Refused by the room's state (rooms/room-state.ts says why). */
export interface Refusal {
  kind: "refused";
  code: ErrorCode;
  message: string;
}

export type PublishOutcome =
  /** Stored with this number; the entry is (or will be) delivered through the room's subscription. `replyTo`: what a reply quotes, as stored. */
  | { kind: "stored"; seq: number; replyTo?: ReplyRef }
  /** The key was used before for the same text: nothing stored; this is the original. */
  | { kind: "duplicate"; original: StoredMessage }
  /** The key was used before for another text: nothing stored. */
  | { kind: "conflict" }
  | Refusal;

/** A change of a room's state, decided by the log against the state it holds (rooms/room-state.ts decide()). */
export interface ActRequest {
  room: string;
  /** Established by the server (token, admin credential), never taken from a client's field. */
  actor: Actor;
  action: ActionInput;
  /** Idempotency key, as PublishRequest.clientMsgId; empty for none. */
  clientActionId: string;
  sentAtMs: number;
}

export type ActOutcome =
  /** Recorded as the room's entry `seq` (delivered like a message); `state` is the room's state after it (undefined: deleted). */
  | { kind: "stored"; seq: number; state: RoomStateData | undefined }
  /** The key was used before for the same action: nothing changed; this is the original entry. */
  | { kind: "duplicate"; original: StoredMessage }
  | { kind: "conflict" }
  | Refusal;

/** What an edit or delete (ChangeRequest) came to; as ActOutcome, without a state. */
export type ChangeOutcome =
  /** Recorded as the room's entry `seq` (delivered like a message) and applied to its target. */
  | { kind: "stored"; seq: number }
  /** The key was used before for the same change: nothing changed; this is the original entry. */
  | { kind: "duplicate"; original: StoredMessage }
  | { kind: "conflict" }
  | Refusal;

/** What a reaction (ReactRequest) came to: as ChangeOutcome, or nothing to change. */
export type ReactOutcome =
  | ChangeOutcome
  /** The user already has (or, removing, has not) this reaction: nothing recorded; the target as it stands. */
  | { kind: "unchanged"; target: LogEntry };

/** A room in a user's list ("my rooms"). */
export interface UserRoom {
  name: string;
  state: RoomStateData;
  lastSeq: number;
  memberCount: number;
  /** The newest entry, if any is kept. */
  last?: StoredMessage;
}

/** Who is joining, for the log's access check (rooms/room-state.ts mayJoin()). */
export interface JoinAccess {
  userId: string;
  grant?: RoomRole;
}

/** A member as the log records it. */
export interface MemberRecord {
  nickname: string;
  /** Uniqueness key: the nickname's confusable skeleton. */
  skeleton: string;
  joinedAtMs: number;
  /** The member's user id (the token subject; the nickname without authentication). Absent in records made before users had ids. */
  userId?: string;
  /**
   * SHA-256 (hex) of the membership's resume token: what a later claim
   * presents to take this membership over, and part of its identity (a
   * release or rename only acts on the membership with this hash). "" or
   * absent: none.
   */
  tokenHash?: string;
  /**
   * The membership is the user's, not the session's (signed-in users): a
   * later claim by the same userId, from any session on any node, shares it
   * under the nickname it holds instead of being refused, and it leaves the
   * room after its last session. Each session is told apart by its tokenHash
   * (release, rename). Without it (development mode) one session holds a
   * nickname, as before.
   */
  shared?: boolean;
}

export type ClaimOutcome =
  /**
   * The nickname is ours. `replaced`: it was held by the membership whose
   * token the claim presented, which it took over (the joinedAtMs it keeps;
   * subscribed nodes are told with a "replaced" change, not a join).
   */
  | { kind: "claimed"; memberCount: number; replaced?: { joinedAtMs: number }; joinedAs?: SharedMembership }
  /** Someone holds this nickname or one that looks the same. */
  | { kind: "taken"; holder: string }
  | { kind: "full"; limit: number }
  /** The room's state does not let this user in (banned; a private room they are not a member of: NOT_FOUND). */
  | Refusal;

/**
 * A shared claim found the user already in the room (another session of
 * theirs): this session joins that membership, under its nickname; nobody is
 * told of a join.
 */
export interface SharedMembership {
  nickname: string;
  skeleton: string;
  joinedAtMs: number;
}

export type PresenceChange =
  | { kind: "joined"; member: MemberRecord; memberCount: number }
  | { kind: "left"; nickname: string; reason: LeaveReason; memberCount: number }
  /** A claim took over the membership whose token hash is `tokenHash`: its stream (wherever it is) no longer holds it. */
  | { kind: "replaced"; nickname: string; tokenHash: string; memberCount: number }
  /** A member changed nickname (keeping its membership). */
  | { kind: "renamed"; from: string; to: string; memberCount: number };

export type RenameOutcome =
  | { kind: "renamed"; memberCount: number }
  /** Someone else holds the new nickname or one that looks the same. */
  | { kind: "taken"; holder: string }
  /** The membership is not in the room any more (it left, was evicted or replaced). */
  | { kind: "gone" };

/** What a node gives the log when it subscribes to a room. */
export interface RoomListener {
  /** The room's next entries, in sequence order, none skipped, none twice. */
  entries(room: string, entries: readonly LogEntry[]): void;
  /** Someone joined or left the room (on any node). */
  presence(room: string, change: PresenceChange): void;
  /** An ephemeral event for the room's live members except `from` (typing): not stored, not numbered. */
  signal(room: string, event: EncodedEvent, from: string): void;
  /**
   * The log lost track of the room (e.g. its Redis restarted empty): `position`
   * is the room's new position; entries after it follow.
   */
  reset(room: string, position: RoomPosition): void;
}

export interface ReadLimits {
  maxMessages: number;
  /** Stop before this many bytes of events (but always return at least one entry when any exists). */
  maxBytes: number;
}

export interface HistoryQuery {
  beforeSeq?: number;
  afterSeq?: number;
  limit: number;
}

export interface HistoryPage {
  messages: StoredMessage[];
  position: RoomPosition;
  hasMore: boolean;
}

export interface MemberPage {
  members: MemberRecord[];
  memberCount: number;
  /** Empty when this page ends the list. */
  nextPageToken: string;
}

export interface RoomSummary {
  name: string;
  memberCount: number;
  lastSeq: number;
}

/** Thrown by a log operation that could not reach its backend: the caller may retry later. */
export class LogUnavailableError extends Error {
  override readonly name = "LogUnavailableError";
}

/** A ListMembers page token this log did not issue. */
export class InvalidPageTokenError extends Error {
  override readonly name = "InvalidPageTokenError";
  constructor() {
    super("page_token is not one this server issued; start again with an empty token");
  }
}

export interface RoomLog {
  /** Start delivering the room's entries after the returned position, and its presence changes. */
  subscribe(room: string, listener: RoomListener): Promise<RoomPosition>;
  /** Stop delivering the room to this node. */
  unsubscribe(room: string): void;
  publish(req: PublishRequest): Promise<PublishOutcome>;
  /** Send an ephemeral event to the room's members on every node. */
  signal(room: string, event: EncodedEvent, from: string): void;
  /** Stored entries with seq > afterSeq, oldest first, within the limits. */
  read(room: string, afterSeq: number, limits: ReadLimits): Promise<LogEntry[]>;
  /** The newest stored entries with seq <= upToSeq, oldest first, within the limits. */
  recent(room: string, upToSeq: number, limits: ReadLimits): Promise<LogEntry[]>;
  /** A page of history for GetHistory. */
  history(room: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Where the room's stored history stands now. */
  position(room: string): Promise<RoomPosition>;
  /**
   * Take a nickname in a room; on success every subscribed node is told.
   * `resumeTokenHash`: the hash of a resume token the joiner presented; if
   * the membership holding the nickname (same nickname) has that hash, the
   * claim takes it over in the same atomic step.
   */
  claim(room: string, member: MemberRecord, maxMembers: number, resumeTokenHash?: string, access?: JoinAccess): Promise<ClaimOutcome>;
  /**
   * Decide a change of the room's state and record it as the room's next
   * entry, in one atomic step (see ActRequest); every subscribed node gets
   * the entry, with LogEntry.action set.
   */
  act(req: ActRequest): Promise<ActOutcome>;
  /**
   * Decide an edit or delete of an earlier message (log/message-changes.ts
   * decideChange()) and record it as the room's next entry, applied to its
   * target, in one atomic step; every subscribed node gets the entry. From
   * then on reads give the target in its new state.
   */
  change(req: ChangeRequest): Promise<ChangeOutcome>;
  /**
   * Decide a reaction to an earlier message (log/reactions.ts
   * decideReaction()) and, if it changes anything, record it as the room's
   * next entry, applied to its target's reactions, in one atomic step; every
   * subscribed node gets the entry. From then on reads give the target with
   * its reactions counted.
   */
  react(req: ReactRequest): Promise<ReactOutcome>;
  /** The room's state; undefined for a room without one (public, no roles) or no room at all. */
  state(room: string): Promise<RoomStateData | undefined>;
  /** Whether the room exists in any form (state, members or history): what a create must find free. */
  exists(room: string): Promise<boolean>;
  /** The rooms where the user holds a role (member, moderator, owner), by name, at most `limit`. */
  userRooms(userId: string, limit: number): Promise<UserRoom[]>;
  /**
   * Change a member's nickname (and look-alike key), keeping its place and
   * token, in one atomic step; every subscribed node is told.
   */
  rename(room: string, member: MemberRecord, next: { nickname: string; skeleton: string }): Promise<RenameOutcome>;
  /**
   * Give a nickname back; every subscribed node is told why the member left.
   * A shared membership only loses this session (its tokenHash); it leaves
   * once no session holds it.
   */
  release(room: string, member: MemberRecord, reason: LeaveReason): Promise<void>;
  members(room: string, pageToken: string, pageSize: number): Promise<MemberPage>;
  /** Rooms that have members, by name, at most `limit`. */
  rooms(limit: number): Promise<RoomSummary[]>;
  /** Move the user's read position in the room forward to `seq` (never back); returns the position now stored. */
  markRead(room: string, userId: string, seq: number): Promise<number>;
  /** Where the user has read the room up to, and the messages from others after it (at most UNREAD_CAP). */
  readState(room: string, userId: string): Promise<ReadState>;
  /** Whether the backend answers now (health and metrics). */
  readonly available: boolean;
  /** Told whenever availability changes. */
  onAvailability(listener: (available: boolean) => void): void;
  /** Resolves once every publish issued so far has settled (stored and delivered, or failed). */
  drain(): Promise<void>;
  close(): Promise<void>;
}
