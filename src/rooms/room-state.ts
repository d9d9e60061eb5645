/**
 * A room's state and the rules that change it: who may join, read, post and
 * act. Plain data (JSON-safe, so every log stores it as is) and pure
 * functions: the embedded log and the Redis log both decide with these, each
 * inside its own atomic step, so every node enforces the same thing.
 *
 * Rights (see chat.v1.RoomRole): an owner may do everything and set any
 * role; a moderator may invite, kick, ban, unban, mute, unmute and set the
 * topic, on users below moderator only; a member may read and post (in a
 * private room that is what membership gives); a user without a role may
 * read and post in a public room. The last owner cannot give up the role.
 * Owners and moderators set the room's read receipts (either user of a
 * direct-message room may, as with its topic: it has no moderators).
 * The admin API (actor.admin) may do everything; a token's grant for a room
 * counts as a role in that room only.
 */
import { createHash } from "node:crypto";
import { ErrorCode, ReadReceiptsSetting, RoomActionKind, RoomRole, RoomVisibility } from "../../gen/chat/v1/chat_pb.js";

export { ReadReceiptsSetting, RoomActionKind, RoomRole, RoomVisibility };

export interface Restriction {
  /** When it ends (ms since epoch); 0: until lifted. */
  untilMs: number;
  reason: string;
}

export interface RoomStateData {
  visibility: RoomVisibility.PUBLIC | RoomVisibility.PRIVATE;
  topic: string;
  /** User id of the creator ("" for a room created by a join). */
  creator: string;
  createdAtMs: number;
  /** For a direct-message room: its two users, sorted. */
  direct?: [string, string];
  /** Persistent membership: user id -> role (MEMBER, MODERATOR or OWNER). */
  roles: Record<string, RoomRole>;
  bans: Record<string, Restriction>;
  mutes: Record<string, Restriction>;
  /** Read receipts as set (absent: UNSPECIFIED, the server's default by room size; states stored before the setting have none). */
  readReceipts?: ReadReceiptsSetting;
  /** Incremented by every change: the Redis log's compare-and-set key. */
  version: number;
}

/** Who acts, as the server established it (never from a client's field). */
export interface Actor {
  userId: string;
  /** Display name at the time (for the entry's text). */
  name: string;
  /** The admin API. */
  admin?: boolean;
  /** The role the actor's token grants in this room (its "rooms" claim), if any. */
  grant?: RoomRole;
}

/** A requested change, as in chat.v1.RoomAction (untilMs 0: until lifted). */
export interface ActionInput {
  kind: RoomActionKind;
  targetUser?: string;
  targetName?: string;
  reason?: string;
  untilMs?: number;
  topic?: string;
  role?: RoomRole;
  visibility?: RoomVisibility;
  /** For create: the initial roles (owners, invited members), the creator's own included. */
  roles?: Record<string, RoomRole>;
  /** For create: a direct-message room of these two users. */
  direct?: [string, string];
  /** For set_read_receipts: the new setting. */
  readReceipts?: ReadReceiptsSetting;
}

export type Decision =
  | { ok: true; next: RoomStateData | undefined; action: ActionInput; text: string }
  | { ok: false; code: ErrorCode; message: string };

export const MAX_TOPIC_BYTES = 256;
export const MAX_REASON_BYTES = 256;
export const MAX_USER_ID_CHARS = 256;
export const MAX_INVITES = 100;

/** The state of a room nobody created with state (made by a join): public, no roles. */
export function defaultState(nowMs = 0): RoomStateData {
  return { visibility: RoomVisibility.PUBLIC, topic: "", creator: "", createdAtMs: nowMs, roles: {}, bans: {}, mutes: {}, version: 0 };
}

/** The canonical name of the direct-message room of two users (the same whoever asks). */
export function directRoomName(a: string, b: string): string {
  const [x, y] = [a, b].sort();
  return "dm." + createHash("sha256").update(`${x.length}:${x}${y}`).digest("hex").slice(0, 40);
}

function active(r: Restriction | undefined, nowMs: number): boolean {
  return r !== undefined && (r.untilMs === 0 || r.untilMs > nowMs);
}

export function isBanned(state: RoomStateData | undefined, userId: string, nowMs: number): boolean {
  return active(state?.bans[userId], nowMs);
}

export function isMuted(state: RoomStateData | undefined, userId: string, nowMs: number): boolean {
  return active(state?.mutes[userId], nowMs);
}

/** The user's role: the stored one or the token's grant, whichever is higher. */
export function roleOf(state: RoomStateData | undefined, userId: string, grant: RoomRole = RoomRole.UNSPECIFIED): RoomRole {
  return Math.max(state?.roles[userId] ?? RoomRole.UNSPECIFIED, grant) as RoomRole;
}

/** Whether the user may see the room at all (its history, members, its name in lists). */
export function maySee(state: RoomStateData | undefined, userId: string, grant: RoomRole | undefined, nowMs: number): boolean {
  if (!state || state.visibility !== RoomVisibility.PRIVATE) return true;
  return !isBanned(state, userId, nowMs) && roleOf(state, userId, grant) >= RoomRole.MEMBER;
}

export type Access = { ok: true } | { ok: false; code: ErrorCode; message: string };

/** Private rooms answer strangers as if they did not exist. */
export const hiddenRoom = (room: string): Access => ({ ok: false, code: ErrorCode.NOT_FOUND, message: `no room ${room} that you may join` });

export function mayJoin(room: string, state: RoomStateData | undefined, userId: string, grant: RoomRole | undefined, nowMs: number): Access {
  if (!maySee(state, userId, grant, nowMs)) return hiddenRoom(room);
  if (isBanned(state, userId, nowMs)) return { ok: false, code: ErrorCode.PERMISSION_DENIED, message: banMessage(room, state!.bans[userId]) };
  return { ok: true };
}

export function mayPost(room: string, state: RoomStateData | undefined, userId: string, grant: RoomRole | undefined, nowMs: number): Access {
  const join = mayJoin(room, state, userId, grant, nowMs);
  if (!join.ok) return join;
  if (isMuted(state, userId, nowMs)) {
    const m = state!.mutes[userId];
    return { ok: false, code: ErrorCode.PERMISSION_DENIED, message: `you are muted in room ${room}${until(m)}${m.reason ? `: ${m.reason}` : ""}` };
  }
  return { ok: true };
}

function banMessage(room: string, ban: Restriction): string {
  return `you are banned from room ${room}${until(ban)}${ban.reason ? `: ${ban.reason}` : ""}`;
}

const until = (r: Restriction) => (r.untilMs ? ` until ${new Date(r.untilMs).toISOString()}` : "");

const refuse = (code: ErrorCode, message: string): Decision => ({ ok: false, code, message });
const denied = (message: string) => refuse(ErrorCode.PERMISSION_DENIED, message);
const invalid = (message: string) => refuse(ErrorCode.INVALID_ARGUMENT, message);

const needsTarget = new Set([
  RoomActionKind.INVITE,
  RoomActionKind.KICK,
  RoomActionKind.BAN,
  RoomActionKind.UNBAN,
  RoomActionKind.MUTE,
  RoomActionKind.UNMUTE,
  RoomActionKind.SET_ROLE,
]);

/** What a moderator may do (an owner and the admin API may do everything). */
const moderatorMay = new Set([
  RoomActionKind.INVITE,
  RoomActionKind.KICK,
  RoomActionKind.BAN,
  RoomActionKind.UNBAN,
  RoomActionKind.MUTE,
  RoomActionKind.UNMUTE,
  RoomActionKind.SET_TOPIC,
]);

function checkInput(a: ActionInput, nowMs: number): string | undefined {
  if (a.kind === RoomActionKind.UNSPECIFIED || RoomActionKind[a.kind] === undefined) return "action kind is not set";
  if (needsTarget.has(a.kind)) {
    const t = a.targetUser ?? "";
    if (t.length === 0 || t.length > MAX_USER_ID_CHARS) return `target_user must be 1 to ${MAX_USER_ID_CHARS} characters`;
  }
  if (Buffer.byteLength(a.reason ?? "") > MAX_REASON_BYTES) return `reason is longer than ${MAX_REASON_BYTES} bytes`;
  if (Buffer.byteLength(a.topic ?? "") > MAX_TOPIC_BYTES) return `topic is longer than ${MAX_TOPIC_BYTES} bytes`;
  if (a.untilMs && a.untilMs <= nowMs) return "until is in the past";
  if (a.role !== undefined && RoomRole[a.role] === undefined) return "role is not one of chat.v1.RoomRole";
  if (a.visibility !== undefined && RoomVisibility[a.visibility] === undefined) return "visibility is not one of chat.v1.RoomVisibility";
  if (a.readReceipts !== undefined && ReadReceiptsSetting[a.readReceipts] === undefined) return "read_receipts is not one of chat.v1.ReadReceiptsSetting";
  if (a.roles) {
    // The creator's own role is added by decide(); it may also be listed here.
    if (Object.keys(a.roles).length > MAX_INVITES + 1) return `at most ${MAX_INVITES} users may be invited at creation`;
    for (const [user, role] of Object.entries(a.roles)) {
      if (user.length === 0 || user.length > MAX_USER_ID_CHARS) return `an invited user id must be 1 to ${MAX_USER_ID_CHARS} characters`;
      if (role !== RoomRole.MEMBER && role !== RoomRole.MODERATOR && role !== RoomRole.OWNER) return "an invited user's role must be member, moderator or owner";
    }
  }
  return undefined;
}

const ownersOf = (s: RoomStateData) => Object.keys(s.roles).filter((u) => s.roles[u] === RoomRole.OWNER);

function copy(s: RoomStateData): RoomStateData {
  return { ...s, roles: { ...s.roles }, bans: { ...s.bans }, mutes: { ...s.mutes }, version: s.version + 1 };
}

/**
 * Decide an action against the room's current state. `exists` says whether
 * the room exists in any form (state, members or history) — create needs it
 * free. Returns the next state and the entry's plain-text description, or
 * why not.
 */
export function decide(room: string, state: RoomStateData | undefined, exists: boolean, actor: Actor, input: ActionInput, nowMs: number): Decision {
  const bad = checkInput(input, nowMs);
  if (bad) return invalid(bad);
  const a: ActionInput = { ...input, reason: input.reason ?? "", targetName: input.targetName || input.targetUser };
  if (a.kind === RoomActionKind.CREATE) {
    if (exists) return refuse(ErrorCode.ALREADY_EXISTS, `room ${room} already exists`);
    const next = defaultState(nowMs);
    next.visibility = a.visibility === RoomVisibility.PRIVATE ? RoomVisibility.PRIVATE : RoomVisibility.PUBLIC;
    next.topic = a.topic ?? "";
    next.creator = actor.admin ? "" : actor.userId;
    next.roles = { ...(a.roles ?? {}) };
    // A direct-message room has no owner: its two users are members, and nobody moderates it.
    if (!actor.admin && !a.direct) next.roles[actor.userId] = RoomRole.OWNER;
    if (a.direct) next.direct = [...a.direct].sort() as [string, string];
    next.version = 1;
    return { ok: true, next, action: a, text: `${actor.name} created the room${next.topic ? `: ${next.topic}` : ""}` };
  }
  if (!maySee(state, actor.userId, actor.grant, nowMs) && !actor.admin) return refuse(ErrorCode.NOT_FOUND, `no room ${room} that you may join`);
  if (a.kind === RoomActionKind.DELETE) {
    if (!actor.admin) return denied("only the admin API may delete a room");
    if (!exists) return refuse(ErrorCode.NOT_FOUND, `no room ${room}`);
    return { ok: true, next: undefined, action: a, text: `the room was deleted${a.reason ? `: ${a.reason}` : ""}` };
  }
  const current = state ?? defaultState(nowMs);
  if (current.direct && !actor.admin && a.kind !== RoomActionKind.SET_TOPIC && a.kind !== RoomActionKind.SET_READ_RECEIPTS) return denied("a direct-message room has no moderation");
  const mine = actor.admin ? RoomRole.OWNER : roleOf(current, actor.userId, actor.grant);
  const target = a.targetUser ?? "";
  const theirs = roleOf(current, target);
  const next = copy(current);
  const who = a.targetName ?? target;
  const why = a.reason ? `: ${a.reason}` : "";

  if (a.kind === RoomActionKind.LEAVE_MEMBERSHIP) {
    if (mine < RoomRole.MEMBER || current.roles[actor.userId] === undefined) return refuse(ErrorCode.FAILED_PRECONDITION, `you are not a member of room ${room}`);
    if (lastOwner(current, actor.userId)) return refuse(ErrorCode.FAILED_PRECONDITION, lastOwnerMessage(room));
    delete next.roles[actor.userId];
    return { ok: true, next, action: { ...a, targetUser: actor.userId, targetName: actor.name }, text: `${actor.name} left the room's members` };
  }
  if (a.kind === RoomActionKind.SET_ROLE) {
    if (mine < RoomRole.OWNER) return denied("only an owner may set roles");
    const role = a.role ?? RoomRole.UNSPECIFIED;
    if (role < RoomRole.OWNER && lastOwner(current, target)) return refuse(ErrorCode.FAILED_PRECONDITION, lastOwnerMessage(room));
    if (role === RoomRole.UNSPECIFIED) delete next.roles[target];
    else next.roles[target] = role;
    return { ok: true, next, action: a, text: `${actor.name} made ${who} ${roleName(role)}` };
  }
  if (a.kind === RoomActionKind.SET_TOPIC) {
    if (mine < RoomRole.MODERATOR && !current.direct) return denied("only a moderator or an owner may set the topic");
    next.topic = a.topic ?? "";
    return { ok: true, next, action: a, text: next.topic ? `${actor.name} set the topic: ${next.topic}` : `${actor.name} cleared the topic` };
  }
  if (a.kind === RoomActionKind.SET_READ_RECEIPTS) {
    if (mine < RoomRole.MODERATOR && !current.direct) return denied("only a moderator or an owner may set read receipts");
    const setting = a.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED;
    if (setting === ReadReceiptsSetting.UNSPECIFIED) delete next.readReceipts;
    else next.readReceipts = setting;
    return { ok: true, next, action: { ...a, readReceipts: setting }, text: `${actor.name} ${receiptsText(setting)}` };
  }
  if (!moderatorMay.has(a.kind)) return invalid(`${RoomActionKind[a.kind].toLowerCase()} is not an action a command may take`);
  if (mine < RoomRole.MODERATOR) return denied(`only a moderator or an owner may ${verb(a.kind)}`);
  if (!actor.admin && target !== actor.userId && theirs >= RoomRole.MODERATOR && mine < RoomRole.OWNER) {
    return denied(`a moderator cannot ${verb(a.kind)} a moderator or an owner`);
  }
  if (!actor.admin && target === actor.userId && a.kind !== RoomActionKind.INVITE) return invalid(`you cannot ${verb(a.kind)} yourself`);
  if ((a.kind === RoomActionKind.KICK || a.kind === RoomActionKind.BAN) && lastOwner(current, target)) return refuse(ErrorCode.FAILED_PRECONDITION, lastOwnerMessage(room));
  switch (a.kind) {
    case RoomActionKind.INVITE: {
      const role = a.role && mine >= RoomRole.OWNER ? a.role : RoomRole.MEMBER;
      if (isBanned(current, target, nowMs)) return refuse(ErrorCode.FAILED_PRECONDITION, `${who} is banned from room ${room}; unban them first`);
      next.roles[target] = Math.max(current.roles[target] ?? RoomRole.UNSPECIFIED, role) as RoomRole;
      return { ok: true, next, action: { ...a, role }, text: `${actor.name} invited ${who}` };
    }
    case RoomActionKind.KICK:
      delete next.roles[target];
      return { ok: true, next, action: a, text: `${who} was kicked by ${actor.name}${why}` };
    case RoomActionKind.BAN:
      delete next.roles[target];
      next.bans[target] = { untilMs: a.untilMs ?? 0, reason: a.reason ?? "" };
      return { ok: true, next, action: a, text: `${who} was banned by ${actor.name}${a.untilMs ? ` until ${new Date(a.untilMs).toISOString()}` : ""}${why}` };
    case RoomActionKind.UNBAN:
      delete next.bans[target];
      return { ok: true, next, action: a, text: `${who} was unbanned by ${actor.name}` };
    case RoomActionKind.MUTE:
      next.mutes[target] = { untilMs: a.untilMs ?? 0, reason: a.reason ?? "" };
      return { ok: true, next, action: a, text: `${who} was muted by ${actor.name}${a.untilMs ? ` until ${new Date(a.untilMs).toISOString()}` : ""}${why}` };
    default:
      delete next.mutes[target];
      return { ok: true, next, action: a, text: `${who} was unmuted by ${actor.name}` };
  }
}

function receiptsText(setting: ReadReceiptsSetting): string {
  if (setting === ReadReceiptsSetting.ON) return "turned read receipts on";
  if (setting === ReadReceiptsSetting.OFF) return "turned read receipts off";
  return "set read receipts to the server's default";
}

/**
 * Whether the room's members see read receipts now: as set, or by default
 * while at most `maxMembers` members are joined (--read-receipts-max-members),
 * so a big room does not pay for them.
 */
export function receiptsOn(state: RoomStateData | undefined, joinedMembers: number, maxMembers: number): boolean {
  const setting = state?.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED;
  if (setting === ReadReceiptsSetting.ON) return true;
  if (setting === ReadReceiptsSetting.OFF) return false;
  return joinedMembers <= maxMembers;
}

function lastOwner(s: RoomStateData, userId: string): boolean {
  const owners = ownersOf(s);
  return owners.length === 1 && owners[0] === userId;
}

const lastOwnerMessage = (room: string) => `the last owner of room ${room} cannot give up the role: make someone else an owner first`;

function verb(kind: RoomActionKind): string {
  return RoomActionKind[kind].toLowerCase().replace(/_/g, " ");
}

export function roleName(role: RoomRole): string {
  switch (role) {
    case RoomRole.OWNER:
      return "an owner";
    case RoomRole.MODERATOR:
      return "a moderator";
    case RoomRole.MEMBER:
      return "a member";
    default:
      return "a visitor (no role)";
  }
}

/**
 * Which users must leave the room now because of this action: kicked or
 * banned users, everyone when the room is deleted, and in a private room a
 * user whose membership was removed (no grant can be known here: the hub
 * checks grants of its own sessions).
 */
export function evicts(action: ActionInput, next: RoomStateData | undefined): { all: true } | { user: string } | undefined {
  switch (action.kind) {
    case RoomActionKind.DELETE:
      return { all: true };
    case RoomActionKind.KICK:
    case RoomActionKind.BAN:
      return { user: action.targetUser! };
    case RoomActionKind.SET_ROLE:
    case RoomActionKind.LEAVE_MEMBERSHIP:
      return next?.visibility === RoomVisibility.PRIVATE && next.roles[action.targetUser!] === undefined ? { user: action.targetUser! } : undefined;
    default:
      return undefined;
  }
}
