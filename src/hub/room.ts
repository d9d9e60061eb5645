/**
 * A room: its members and its position in history. A room exists while it has
 * members (or messages waiting to be stored); its history outlives it in the
 * store.
 */
import type { RoomHistoryState } from "../store/history-store.js";
import type { Session } from "./session.js";
import type { EncodedEvent } from "./wire.js";

export interface Membership {
  readonly room: Room;
  readonly session: Session;
  readonly nickname: string;
  readonly joinedAtMs: number;
  /** False while a resuming member is still being replayed stored messages. */
  live: boolean;
  /** Last sequence number replayed to this member (meaningful while !live). */
  replayCursor: number;
}

export class Room {
  readonly members = new Map<string, Membership>();
  readonly epoch: string;
  /** Highest sequence number handed out (may still be waiting to be stored). */
  lastAssignedSeq: number;
  /** Highest sequence number stored and fanned out: everything up to it is in the store. */
  lastDeliveredSeq: number;
  /** Messages accepted but not yet stored; the room is kept while any are pending. */
  pending = 0;

  constructor(
    readonly name: string,
    state: RoomHistoryState,
  ) {
    this.epoch = state.epoch;
    this.lastAssignedSeq = state.lastSeq;
    this.lastDeliveredSeq = state.lastSeq;
  }

  get isUnused(): boolean {
    return this.members.size === 0 && this.pending === 0;
  }

  /** Give the same encoded event to every live member, except one if given; returns how many got it. */
  broadcast(event: EncodedEvent, except?: Membership): number {
    let receivers = 0;
    for (const member of this.members.values()) {
      if (member !== except && member.live) {
        member.session.queue.push(event);
        receivers++;
      }
    }
    return receivers;
  }

  /** Presence events go to members being replayed too: they are not part of history. */
  broadcastPresence(event: EncodedEvent, except: Membership): void {
    for (const member of this.members.values()) {
      if (member !== except) member.session.queue.push(event);
    }
  }
}
