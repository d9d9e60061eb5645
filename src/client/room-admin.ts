/**
 * Rooms with state, for the client core: creating a room, moderation actions,
 * direct messages, "my rooms", and what the client knows of each joined
 * room's state (topic, our role, whether we are muted, the other user of a
 * direct-message room). ChatSession owns the connection and the rooms; it
 * hands this class the events that concern it. No Node built-ins (it runs in
 * a browser bundle).
 *
 * Delivery of moderation actions, decided as for sends: an action carries an
 * idempotency key (client_action_id; also its request_id, so a refusal names
 * it), stays pending until the server's copy of it arrives (a ChatMessage
 * with `action` set and our key: the acknowledgement) or an ErrorEvent
 * refuses it, and is sent again with the same key on every new connection
 * until then (the server stores it at most once). createRoom is not resent:
 * a create whose answer was lost with the connection may or may not have
 * happened, so it is refused, saying so, and the user decides (a /join
 * finds out). openDirect is resent: opening a direct-message room twice gives
 * the same room.
 */
import {
  CommandKind,
  ErrorCode,
  ReadReceiptsSetting,
  RoomActionKind,
  RoomRole,
  RoomVisibility,
  type ChatMessage,
  type DirectOpenedEvent,
  type ErrorEvent,
  type JoinedEvent,
  type ListRoomsRequest,
  type ListRoomsResponse,
  type Member,
  type RoomAction,
  type RoomInfo,
} from "../../gen/chat/v1/chat_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RoomActionSchema } from "../../gen/chat/v1/chat_pb.js";
import type { Connection } from "./connection-loop.js";

export { RoomActionKind, RoomRole, RoomVisibility };

/** A moderation action as a front end asks for it (see chat.v1.RoomAction). */
export type RoomActionInit = MessageInitShape<typeof RoomActionSchema>;

/** What the client knows of a joined room's state (JoinedEvent.state, then the room's action entries). */
export interface RoomStateView {
  visibility: RoomVisibility;
  topic: string;
  /** The creator's user id ("" for a room made by a join). */
  creator: string;
  /** Our role in the room. */
  yourRole: RoomRole;
  /** We may read but not post. */
  muted: boolean;
  /** When the mute ends (undefined: until lifted, or not muted). */
  mutedUntil?: Date;
  /** For a direct-message room: the other user's id ("" otherwise). */
  directUserId: string;
  /** The room's read receipts setting as set (UNSPECIFIED: the server's default by room size). */
  readReceipts: ReadReceiptsSetting;
}

export interface CreateRoomOptions {
  visibility?: "public" | "private";
  topic?: string;
  /** User ids invited as members from the start. */
  invite?: string[];
}

/** What ListRooms needs: the generated Connect client has it (transport.ts, or createClient in a browser). */
export interface RoomLister {
  listRooms(request: Partial<ListRoomsRequest>, options?: { timeoutMs?: number }): Promise<ListRoomsResponse>;
}

/** A refusal of a createRoom, moderate or openDirect, as the server said it (or the session, for a lost connection). */
export class RoomCommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly room = "",
  ) {
    super(message);
    this.name = "RoomCommandError";
  }

  static from(e: ErrorEvent): RoomCommandError {
    return new RoomCommandError(e.code, e.message, e.room);
  }
}

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: RoomCommandError): void;
}

interface PendingAction extends Deferred<ChatMessage> {
  id: string;
  room: string;
  action: RoomActionInit;
  /** The connection generation it was last sent on. */
  sentOn?: number;
}

interface PendingDirect extends Deferred<string> {
  requestId: string;
  userId: string;
  sentOn?: number;
}

/** Members remembered per room for nickname → user id (the first ones of a big room are enough for a name typed by hand). */
const MEMBERS_KEPT = 1000;
/** Actions and direct openings waiting for an answer, at most (a runaway front end must not grow them without end). */
export const PENDING_MAX = 100;
const UNARY_TIMEOUT_MS = 5000;

export class RoomAdmin {
  private readonly actions = new Map<string, PendingAction>();
  private readonly directs: PendingDirect[] = [];
  private readonly creates = new Map<string, Deferred<JoinedEvent> & { sentOn?: number }>();
  private readonly states = new Map<string, RoomStateView>();
  /** Per room: the sequence number the JoinedEvent's state is as of (older action entries are already in it). */
  private readonly stateSeq = new Map<string, bigint>();
  /** Our user id, as the server told it (JoinedEvent.user_id). */
  private me: string | undefined;
  /** Direct-message room → the other user's id. */
  private readonly directRooms = new Map<string, string>();
  /** Per room: nickname → user id, of the members we have heard of. */
  private readonly members = new Map<string, Map<string, string>>();
  /** Per room: the last action entry about us (why we were kicked or banned). */
  private readonly aboutMe = new Map<string, ChatMessage>();

  constructor(
    private readonly nextId: () => string,
    private readonly onStateChange: (room: string, state: RoomStateView) => void,
  ) {}

  /** Our user id, once a room was joined. */
  get userId(): string | undefined {
    return this.me;
  }

  /** Nothing is waiting for an answer. */
  get idle(): boolean {
    return this.actions.size === 0 && this.directs.length === 0 && this.creates.size === 0;
  }

  state(room: string): RoomStateView | undefined {
    return this.states.get(room);
  }

  /** The other user of a direct-message room we know of. */
  directUser(room: string): string | undefined {
    return this.directRooms.get(room);
  }

  /** The user id of a member we heard of by this nickname in a room, if any. */
  userIdOf(room: string, nickname: string): string | undefined {
    return this.members.get(room)?.get(nickname);
  }

  /** The action entry that removed us from a room, if it arrived. */
  removalOf(room: string): ChatMessage | undefined {
    return this.aboutMe.get(room);
  }

  // ---- what ChatSession calls on behalf of front ends ----------------------

  /** Wait for the JoinedEvent of a CreateRoomCommand the session is about to write (or writes on connecting). */
  expectCreate(room: string): Promise<JoinedEvent> {
    return new Promise((resolve, reject) => this.creates.set(room, { resolve, reject }));
  }

  createSent(room: string, generation: number): void {
    const c = this.creates.get(room);
    if (c) c.sentOn = generation;
  }

  moderate(conn: Connection | undefined, room: string, action: RoomActionInit, id?: string): Promise<ChatMessage> {
    const key = id ?? this.nextId();
    const existing = this.actions.get(key);
    if (existing) return new Promise((resolve, reject) => this.chain(existing, resolve, reject));
    if (this.actions.size >= PENDING_MAX) {
      return Promise.reject(new RoomCommandError(ErrorCode.RESOURCE_EXHAUSTED, `${PENDING_MAX} actions are still waiting for the server; try again in a moment`, room));
    }
    return new Promise((resolve, reject) => {
      const pending: PendingAction = { id: key, room, action, resolve, reject };
      this.actions.set(key, pending);
      if (conn) this.sendAction(conn, pending);
    });
  }

  openDirect(conn: Connection | undefined, userId: string): Promise<string> {
    if (this.directs.length >= PENDING_MAX) {
      return Promise.reject(new RoomCommandError(ErrorCode.RESOURCE_EXHAUSTED, `${PENDING_MAX} direct messages are still being opened; try again in a moment`));
    }
    return new Promise((resolve, reject) => {
      const pending: PendingDirect = { requestId: this.nextId(), userId, resolve, reject };
      this.directs.push(pending);
      if (conn) this.sendDirect(conn, pending);
    });
  }

  /** "My rooms": the rooms we are a member of (public ones with a role, private ones, direct messages), with their last message. */
  async myRooms(lister: RoomLister): Promise<RoomInfo[]> {
    const { rooms } = await lister.listRooms({ mine: true }, { timeoutMs: UNARY_TIMEOUT_MS });
    for (const r of rooms) if (r.directUserId) this.directRooms.set(r.name, r.directUserId);
    return rooms;
  }

  // ---- connections -----------------------------------------------------------

  /** A new connection: what is still waiting goes out again, with the same keys. */
  opened(conn: Connection): void {
    for (const a of this.actions.values()) this.sendAction(conn, a);
    for (const d of this.directs) this.sendDirect(conn, d);
  }

  /** The connection is gone: creates already sent may or may not have happened. Returns the rooms given up on. */
  connectionLost(generation: number): string[] {
    const lost: string[] = [];
    for (const [room, c] of this.creates) {
      if (c.sentOn !== generation) continue;
      this.creates.delete(room);
      lost.push(room);
      c.reject(
        new RoomCommandError(
          ErrorCode.UNAVAILABLE,
          `the connection was lost before the server answered: #${room} may or may not have been created (joining it tells)`,
          room,
        ),
      );
    }
    return lost;
  }

  /** The session ends: nothing will answer what is still waiting. */
  closed(reason: string): void {
    const err = (room = "") => new RoomCommandError(ErrorCode.UNAVAILABLE, `not answered: ${reason}`, room);
    for (const a of this.actions.values()) a.reject(err(a.room));
    this.actions.clear();
    for (const d of this.directs.splice(0)) d.reject(err());
    for (const [room, c] of this.creates) c.reject(err(room));
    this.creates.clear();
  }

  // ---- incoming --------------------------------------------------------------

  onJoined(j: JoinedEvent): void {
    if (j.userId) this.me = j.userId;
    const created = this.creates.get(j.room);
    this.creates.delete(j.room);
    const s = j.state;
    const view: RoomStateView = {
      visibility: s?.visibility ?? RoomVisibility.UNSPECIFIED,
      topic: s?.topic ?? "",
      creator: s?.creator ?? "",
      yourRole: s?.yourRole ?? RoomRole.UNSPECIFIED,
      muted: s?.muted ?? false,
      mutedUntil: s?.mutedUntil ? new Date(Number(s.mutedUntil.seconds) * 1000) : undefined,
      directUserId: s?.directUserId ?? "",
      readReceipts: s?.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED,
    };
    if (view.directUserId) this.directRooms.set(j.room, view.directUserId);
    this.states.set(j.room, view);
    this.stateSeq.set(j.room, j.lastSeq);
    this.aboutMe.delete(j.room);
    const known = new Map<string, string>();
    this.members.set(j.room, known);
    for (const m of j.members) this.remember(j.room, m);
    this.onStateChange(j.room, view);
    created?.resolve(j);
  }

  memberJoined(room: string, m: Pick<Member, "nickname" | "userId"> | undefined): void {
    if (m) this.remember(room, m);
  }

  /**
   * A message arrived. `fresh`: not seen before (a duplicate is still looked
   * at: an action resent after a lost acknowledgement comes back with its
   * original, already seen, number). Returns whether it acknowledged one of ours.
   */
  onMessage(m: ChatMessage, fresh: boolean): boolean {
    const action = m.action;
    if (!action) return false;
    if (fresh) {
      if (m.senderId) this.remember(m.room, { nickname: m.sender, userId: m.senderId });
      this.apply(m, action);
    }
    const pending = m.clientMsgId ? this.actions.get(m.clientMsgId) : undefined;
    if (!pending || pending.room !== m.room) return false;
    this.actions.delete(pending.id);
    pending.resolve(m);
    return true;
  }

  /** Returns whether we asked for it (openDirect); otherwise the other user opened it. */
  onDirectOpened(d: DirectOpenedEvent): boolean {
    this.directRooms.set(d.room, d.userId);
    let asked = false;
    for (let i = this.directs.length - 1; i >= 0; i--) {
      if (this.directs[i].userId !== d.userId) continue;
      const [pending] = this.directs.splice(i, 1);
      pending.resolve(d.room);
      asked = true;
    }
    return asked;
  }

  /** An ErrorEvent: returns whether it answered one of ours (createRoom, moderate, openDirect). */
  onError(e: ErrorEvent): boolean {
    switch (e.command) {
      case CommandKind.MODERATE: {
        const key = [e.requestId, e.clientMsgId].find((k) => k && this.actions.has(k));
        // A refusal that names no key answers the oldest action sent to that room.
        const pending = key ? this.actions.get(key) : [...this.actions.values()].find((a) => a.room === e.room && a.sentOn !== undefined);
        if (!pending) return false;
        this.actions.delete(pending.id);
        pending.reject(RoomCommandError.from(e));
        return true;
      }
      case CommandKind.OPEN_DIRECT: {
        const i = this.directs.findIndex((d) => d.requestId === e.requestId);
        const at = i >= 0 ? i : this.directs.findIndex((d) => d.sentOn !== undefined);
        if (at < 0) return false;
        const [pending] = this.directs.splice(at, 1);
        pending.reject(RoomCommandError.from(e));
        return true;
      }
      case CommandKind.CREATE_ROOM: {
        const c = this.creates.get(e.room);
        if (!c) return false;
        this.creates.delete(e.room);
        c.reject(RoomCommandError.from(e));
        return true;
      }
      default:
        return false;
    }
  }

  /** We are out of a room for good: forget its state. */
  forget(room: string): void {
    this.states.delete(room);
    this.stateSeq.delete(room);
    this.members.delete(room);
  }

  // ---- internals -------------------------------------------------------------

  private chain(existing: PendingAction, resolve: (m: ChatMessage) => void, reject: (e: RoomCommandError) => void): void {
    const { resolve: r1, reject: j1 } = existing;
    existing.resolve = (m) => (r1(m), resolve(m));
    existing.reject = (e) => (j1(e), reject(e));
  }

  private sendAction(conn: Connection, a: PendingAction): void {
    a.sentOn = conn.generation;
    conn.send({ case: "moderate", value: { room: a.room, action: a.action, clientActionId: a.id } }, a.id);
  }

  private sendDirect(conn: Connection, d: PendingDirect): void {
    d.sentOn = conn.generation;
    conn.send({ case: "openDirect", value: { userId: d.userId } }, d.requestId);
  }

  private remember(room: string, m: Pick<Member, "nickname" | "userId">): void {
    if (!m.userId) return;
    let known = this.members.get(room);
    if (!known) this.members.set(room, (known = new Map()));
    if (known.size >= MEMBERS_KEPT && !known.has(m.nickname)) return;
    known.set(m.nickname, m.userId);
  }

  /** An action entry newer than the joined state: bring our view of the room up to date. */
  private apply(m: ChatMessage, a: RoomAction): void {
    const view = this.states.get(m.room);
    if (!view || m.seq <= (this.stateSeq.get(m.room) ?? 0n)) return;
    const aboutMe = this.me !== undefined && a.targetUser === this.me;
    let changed = true;
    switch (a.kind) {
      case RoomActionKind.SET_TOPIC:
        view.topic = a.topic;
        break;
      case RoomActionKind.SET_READ_RECEIPTS:
        view.readReceipts = a.readReceipts;
        break;
      case RoomActionKind.INVITE:
      case RoomActionKind.SET_ROLE:
        if (aboutMe) view.yourRole = a.kind === RoomActionKind.INVITE ? Math.max(view.yourRole, a.role || RoomRole.MEMBER) : a.role;
        else changed = false;
        break;
      case RoomActionKind.KICK:
      case RoomActionKind.BAN:
        if (aboutMe) {
          view.yourRole = RoomRole.UNSPECIFIED;
          this.aboutMe.set(m.room, m);
        } else changed = false;
        break;
      case RoomActionKind.LEAVE_MEMBERSHIP:
        if (m.senderId === this.me) view.yourRole = RoomRole.UNSPECIFIED;
        else changed = false;
        break;
      case RoomActionKind.MUTE:
        if (aboutMe) {
          view.muted = true;
          view.mutedUntil = a.until ? new Date(Number(a.until.seconds) * 1000) : undefined;
        } else changed = false;
        break;
      case RoomActionKind.UNMUTE:
        if (aboutMe) {
          view.muted = false;
          view.mutedUntil = undefined;
        } else changed = false;
        break;
      case RoomActionKind.DELETE:
        this.aboutMe.set(m.room, m);
        changed = false;
        break;
      default:
        changed = false;
    }
    if (changed) this.onStateChange(m.room, view);
  }
}

/** Whether a mute in this view holds now (a timed one ends by itself). */
export function isMutedNow(view: RoomStateView | undefined, now = Date.now()): boolean {
  return view !== undefined && view.muted && (view.mutedUntil === undefined || view.mutedUntil.getTime() > now);
}
