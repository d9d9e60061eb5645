/**
 * What the client remembers about one room across connections: where it is
 * in the room's history (epoch + last sequence number seen), which is what a
 * rejoin resumes from, and where the current connection is in joining it.
 * Pure bookkeeping, no I/O, so the resume and de-duplication rules can be
 * tested on their own.
 */
import type { ChatMessage, JoinedEvent, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";

export type RoomPhase =
  /** Nothing asked on the current connection (yet). */
  | "idle"
  /** JoinCommand written, JoinedEvent not yet received. */
  | "joining"
  /** Joined with a resume: the server is replaying missed messages. */
  | "catching-up"
  /** Joined and caught up: live traffic; queued sends may go out. */
  | "live"
  /** LeaveCommand written, LeftEvent not yet received. */
  | "leaving"
  /** Our nickname is taken in the room: not joined until the user picks another. */
  | "parked";

export interface JoinOutcome {
  /** This was a rejoin after a reconnect (or after a leave was undone). */
  rejoin: boolean;
  /** The room's history was reset on the server: sequence numbers start over. */
  epochReset: boolean;
  /** Messages we had not seen were dropped by the server's retention. */
  truncated: boolean;
}

export class RoomTracker {
  /** The user wants to stay in the room ("member") or asked to leave it. */
  wanted: "member" | "leaving" = "member";
  phase: RoomPhase = "idle";
  /** Epoch of the history lastSeq belongs to; undefined until the first JoinedEvent. */
  epoch: string | undefined;
  /** Highest sequence number seen in this room (in this epoch). */
  lastSeq = 0n;
  /** While catching up: the room's last sequence number when we rejoined. */
  private catchUpTarget = 0n;
  /** The furthest position we marked read (ChatSession.markRead sends only moves forward). */
  markedSeq = 0n;
  /** Consecutive refused rejoins (e.g. our old session still holds the nickname). */
  joinRefusals = 0;
  /** Our nickname in the room as the server stored it (RFC 8266 prepared); undefined until joined. */
  nickname: string | undefined;
  /** The nickname we had before the last rename: acknowledgements of messages sent before it carry it. */
  previousNickname: string | undefined;
  /**
   * The secret of our membership (JoinedEvent.resume_token), presented on
   * every rejoin: if the server still holds our old membership (the lost
   * connection not noticed yet, or its node died) the rejoin takes it over
   * instead of being refused as "taken".
   */
  resumeToken: string | undefined;
  /** The nickname (as typed) of the last JoinCommand, and of the last one that succeeded. */
  requestedNickname: string | undefined;
  joinedAs: string | undefined;
  /**
   * Set while the room is to be created (ChatSession.createRoom): the first
   * join is a CreateRoomCommand with this state; cleared once joined.
   */
  create: { visibility: RoomVisibility; topic: string; invite: string[] } | undefined;

  constructor(readonly name: string) {}

  get everJoined(): boolean {
    return this.epoch !== undefined;
  }

  get isLive(): boolean {
    return this.phase === "live";
  }

  /** The JoinCommand for the current connection: resume if we have a position. */
  joinCommand(nickname: string): { room: string; nickname: string; afterSeq?: bigint; epoch: string; resumeToken: string } {
    this.phase = "joining";
    const resumeToken = this.resumeToken ?? "";
    if (this.epoch === undefined) return { room: this.name, nickname, epoch: "", resumeToken };
    return { room: this.name, nickname, afterSeq: this.lastSeq, epoch: this.epoch, resumeToken };
  }

  /** Whether a message's sender is us (under our current or previous nickname in this room). */
  isOurs(sender: string): boolean {
    return sender === this.nickname || (this.previousNickname !== undefined && sender === this.previousNickname);
  }

  /** Someone in the room changed nickname: if it was us, remember the new one. Returns whether it was us. */
  renamed(from: string, to: string): boolean {
    if (this.nickname === undefined || from !== this.nickname) return false;
    if (from !== to) this.previousNickname = from;
    this.nickname = to;
    return true;
  }

  /** The connection is gone: the room has to be joined again on the next one. */
  connectionLost(): void {
    if (this.phase !== "parked") this.phase = "idle";
  }

  onJoined(j: JoinedEvent): JoinOutcome {
    const rejoin = this.everJoined;
    let epochReset = false;
    if (this.epoch !== undefined && (j.epochChanged || j.epoch !== this.epoch)) {
      // Another history: our sequence numbers mean nothing in it; the server replays all it has.
      epochReset = true;
      this.lastSeq = 0n;
    } else if (j.lastSeq < this.lastSeq) {
      // Same epoch but the room is behind what we saw: accept its numbering rather than drop its messages.
      this.lastSeq = j.lastSeq;
    }
    this.epoch = j.epoch;
    if (this.nickname !== j.nickname) this.previousNickname = this.nickname;
    this.nickname = j.nickname;
    if (j.resumeToken !== "") this.resumeToken = j.resumeToken;
    this.joinRefusals = 0;
    if (!j.resumed) {
      // A fresh join carries the recent messages in the event itself.
      if (j.lastSeq > this.lastSeq) this.lastSeq = j.lastSeq;
      this.phase = "live";
    } else {
      this.catchUpTarget = j.lastSeq;
      this.phase = this.lastSeq >= j.lastSeq ? "live" : "catching-up";
    }
    return { rejoin, epochReset, truncated: j.historyTruncated };
  }

  /**
   * A message for this room arrived. Returns false for a duplicate (a sequence
   * number already seen), which the caller drops. The server sends a room's
   * messages in sequence order, so the highest number seen is enough.
   */
  accept(m: ChatMessage): boolean {
    if (m.seq <= this.lastSeq) return false;
    this.lastSeq = m.seq;
    if (this.phase === "catching-up" && m.seq >= this.catchUpTarget) this.phase = "live";
    return true;
  }

  /** Replay made no progress for a while (e.g. the server lost its tail): stop waiting for it. */
  forceLive(): void {
    if (this.phase === "catching-up") this.phase = "live";
  }
}
