/**
 * A room as one node sees it: its local members, where its history stands
 * here (the last sequence number fanned out on this node), and the fan-out of
 * what the room log delivers. A room exists on a node while it has local
 * members (or joins under way); its history and its member list live in the
 * room log.
 */
import { LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import type { LogEntry, PresenceChange, RoomPosition } from "../log/room-log.js";
import { receiptsOn, ReadReceiptsSetting, type RoomStateData } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import type { Membership } from "./membership.js";
import { PresenceDigest, type PresenceLimits } from "./presence-digest.js";
import { ReceiptDigest, ReceiptFanOut, type ReceiptMove } from "./read-receipts.js";
import { storedRole } from "./room-rights.js";

/** What a room needs of the hub's limits. */
export interface RoomLimits extends PresenceLimits {
  readReceiptsMaxMembers: number;
}

/** Called with the delivered event of a local sender's entry (undefined: the room went away here first). */
export type Acknowledge = (event: EncodedEvent | undefined) => void;

export class LocalRoom {
  /**
   * Local members (any state but gone). A signed-in user's sessions share one
   * membership in the log, so several of them may carry the same nickname.
   */
  readonly members = new Set<Membership>();
  /** Where history stands on this node: lastSeq is the last entry fanned out here. */
  position: RoomPosition = { epoch: "", firstSeq: 0, lastSeq: 0 };
  /** Members in the whole room (all nodes), as the log last said. */
  memberCount = 0;
  /** Resolves once the room log delivers this room to this node. */
  ready: Promise<void> = Promise.resolve();
  /** Joins being handled: the room stays while any are. */
  pendingJoins = 0;
  /** The room's state as the log last said (undefined: none, a public room without roles). */
  state: RoomStateData | undefined;
  /** Told of each entry that changed the room's state, right after it was fanned out (before the next entry). */
  onAction: (entry: LogEntry) => void = () => {};
  /** Local senders waiting for their message to be fanned out here, by sequence number. */
  private readonly awaitingAck = new Map<number, Acknowledge>();
  private readonly digest: PresenceDigest;
  private readonly receipts: ReceiptDigest;
  /**
   * A read receipts setting delivered in an entry, until the state read
   * after it (a newer version than `version`) arrives: a mark read right
   * after the entry already follows it.
   */
  private receiptsSetting: { setting: ReadReceiptsSetting; version: number } | undefined;
  private silenced = false;

  constructor(
    readonly name: string,
    private readonly limits: RoomLimits,
    /** Counts deliveries for metrics: entries fanned out, receivers, ms since sent. */
    private readonly onFanOut: (receivers: number) => void,
  ) {
    this.digest = new PresenceDigest(name, limits, (event) => this.pushPresence(event, undefined));
    this.receipts = new ReceiptDigest(limits.presenceIntervalMs, (moves) => this.pushReceipts(moves));
  }

  /** Whether the members see read receipts now (the setting applied to the room's size). */
  get receiptsOn(): boolean {
    const pending = this.receiptsSetting;
    const state = pending && (this.state?.version ?? 0) <= pending.version ? { ...this.state!, readReceipts: pending.setting } : this.state;
    return receiptsOn(state, this.memberCount, this.limits.readReceiptsMaxMembers);
  }

  /** An entry set read receipts: it holds here until the state after it is read. */
  receiptsSet(setting: ReadReceiptsSetting): void {
    this.receiptsSetting = { setting, version: this.state?.version ?? 0 };
  }

  /** A member's read position moved (on any node): the others hear of it with the next digest, if receipts are on. */
  readMoved(move: ReceiptMove): void {
    if (this.silenced || !this.receiptsOn) return;
    this.receipts.add(move);
  }

  get isUnused(): boolean {
    return this.members.size === 0 && this.pendingJoins === 0;
  }

  /** New entries from the log, in order: each goes to every live member, the same bytes to all. */
  deliver(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      this.position.lastSeq = entry.seq;
      let receivers = 0;
      for (const member of this.members) {
        if (member.state === "live") {
          member.owner.queue.push(entry.event);
          receivers++;
        }
      }
      this.onFanOut(receivers);
      if (this.awaitingAck.size > 0) {
        const acknowledge = this.awaitingAck.get(entry.seq);
        if (acknowledge) {
          this.awaitingAck.delete(entry.seq);
          acknowledge(entry.event);
        }
      }
      // Its own receivers first got the entry; whoever it removes is told after it.
      if (entry.action) this.onAction(entry);
    }
  }

  /** A local sender's entry was stored as `seq`: call `acknowledge` once it has been fanned out here. */
  expectAck(seq: number, acknowledge: Acknowledge): void {
    if (seq <= this.position.lastSeq) acknowledge(undefined);
    else this.awaitingAck.set(seq, acknowledge);
  }

  /** Whether every local sender's message has been fanned out here. */
  get acksPending(): boolean {
    return this.awaitingAck.size > 0;
  }

  /** The room is going away on this node: nothing more will be fanned out here. */
  close(): void {
    this.digest.stop();
    this.receipts.stop();
    for (const acknowledge of this.awaitingAck.values()) acknowledge(undefined);
    this.awaitingAck.clear();
  }

  /**
   * Every local member is leaving (the server is shutting down): they are told
   * so by a shutdown event, so each one's leaving is not announced to the
   * others here (that would be N² events); other nodes are still told.
   */
  silence(): void {
    this.silenced = true;
    this.digest.stop();
    this.receipts.stop();
  }

  /**
   * Someone joined, left or changed nickname (anywhere). Small rooms get one
   * event per join or leave; large ones a digest. A rename is one event in any
   * room (it is rare, and a digest has no place for it); the renamer itself is
   * answered by its session. A takeover ("replaced") is the hub's business:
   * nobody is told.
   */
  presence(change: PresenceChange): void {
    this.memberCount = change.memberCount;
    if (this.silenced || change.kind === "replaced") return;
    if (change.kind === "renamed") {
      const event = events.memberRenamedEvent(this.name, change.from, change.to);
      for (const member of this.members) {
        // The renaming session is answered by its command; the user's other sessions learn their new name here.
        if (member.seesPresence && member.renamingTo !== change.to && (member.nickname !== change.from || member.shared) && member.nickname !== change.to) {
          member.owner.queue.push(event);
        }
      }
      return;
    }
    if (this.digest.takes(change)) return;
    const subject = change.kind === "joined" ? change.member.nickname : change.nickname;
    const event =
      change.kind === "joined"
        ? events.memberJoinedEvent(this.name, change.member, storedRole(this.state, change.member.userId))
        : events.memberLeftEvent(this.name, change.nickname, change.reason ?? LeaveReason.UNSPECIFIED);
    this.pushPresence(event, subject);
  }

  /** An ephemeral event (typing) for the live members except its author. */
  signal(event: EncodedEvent, from: string): void {
    for (const member of this.members) {
      if (member.state === "live" && member.nickname !== from) member.owner.queue.push(event);
    }
  }

  /** A digest of read moves, to every member that has its joined event (turned off meanwhile: dropped). */
  private pushReceipts(moves: ReceiptMove[]): void {
    if (this.silenced || !this.receiptsOn) return;
    const fanOut = new ReceiptFanOut(this.name, moves);
    for (const member of this.members) {
      if (!member.seesPresence) continue;
      // Only signed-in members have read positions (and so can be movers).
      const event = fanOut.eventFor(member.shared ? member.userId : undefined);
      if (event) member.owner.queue.push(event);
    }
  }

  private pushPresence(event: EncodedEvent, subject: string | undefined): void {
    for (const member of this.members) {
      if (member.seesPresence && member.nickname !== subject) member.owner.queue.push(event);
    }
  }
}
