/**
 * One stream's membership in one room, from the moment its join is accepted
 * for handling to the moment it is gone. Recorded in its session before
 * anything else happens, so that a session ending at any point (even inside
 * the join itself) finds it and undoes it: nothing is left behind in the room
 * or in the room log.
 */
import type { LeaveReason, RoomRole } from "../../gen/chat/v1/chat_pb.js";
import type { MemberRecord } from "../log/room-log.js";
import type { DisconnectReason } from "./disconnect.js";
import type { SubscriberQueue } from "./subscriber-queue.js";

export type MembershipState =
  /** Asking the room log for the nickname. */
  | "claiming"
  /** Holds the nickname; its joined event is being prepared (history read, room in its queue). */
  | "preparing"
  /** Joined event sent; stored messages are being replayed. Gets presence, not live messages. */
  | "catching-up"
  /** Gets every new message as it is delivered. */
  | "live"
  /** Left, refused or ended; whatever is still in flight for it is dropped. */
  | "gone";

/** What a membership needs from the stream it belongs to. */
export interface MemberOwner {
  readonly queue: SubscriberQueue;
  /** One of this stream's messages has been delivered to it (or no longer needs to be). */
  acknowledged(): void;
  /** End the stream (a server-side failure, or a history reset that needs a rejoin). */
  abort(reason: DisconnectReason): void;
  /** Another stream took this membership over with its resume token: it is gone; tell the client. */
  membershipReplaced(membership: Membership): void;
  /** The room removed this membership (kicked, banned, room deleted): it is gone; tell the client why. */
  membershipEnded(membership: Membership, reason: LeaveReason): void;
}

export class Membership {
  state: MembershipState = "claiming";
  /** The room log holds our nickname: leaving must give it back. */
  claimed = false;
  /** Last sequence number sent to this member (meaningful while catching up). */
  replayCursor = 0;
  /** A history read for this member is in flight. */
  reading = false;
  /** Why it went, once gone (for a release that completes after the end). */
  goneReason: LeaveReason | undefined;
  /** The nickname this session is renaming the membership to, while the log decides. */
  renamingTo: string | undefined;

  constructor(
    readonly owner: MemberOwner,
    readonly room: string,
    readonly record: MemberRecord,
    /** The role the session's token grants in this room, if any. */
    readonly grant?: RoomRole,
  ) {}

  /** The member's user id: the token subject, or the nickname without authentication. */
  get userId(): string {
    return this.record.userId ?? this.record.nickname;
  }

  /** A fresh read of the state (TypeScript narrows `state` across awaits otherwise). */
  get isGone(): boolean {
    return this.state === "gone";
  }

  get nickname(): string {
    return this.record.nickname;
  }

  /** Held with the user's other sessions (signed in): see MemberRecord.shared. */
  get shared(): boolean {
    return this.record.shared === true;
  }

  /** Whether presence events (joins, leaves) go to it: once its joined event is out. */
  get seesPresence(): boolean {
    return this.state === "catching-up" || this.state === "live";
  }
}
