/**
 * The room-state commands of a session (moderate, create_room, open_direct)
 * turned into requests for the room log, with every field checked first.
 * The actor always comes from the session (its token's subject, or its
 * nickname in the room without authentication), never from the command.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ErrorCode,
  ReadReceiptsSetting,
  RoomActionKind,
  RoomRole,
  RoomVisibility,
  type CreateRoomCommand,
  type ModerateCommand,
  type OpenDirectCommand,
  type RoomAction,
} from "../../gen/chat/v1/chat_pb.js";
import type { ActRequest } from "../log/room-log.js";
import { directRoomName, MAX_INVITES, MAX_REASON_BYTES, MAX_TOPIC_BYTES, MAX_USER_ID_CHARS, type Actor } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import { grantIn, type SessionIdentity } from "./caller.js";
import { CommandError, invalid } from "./command-error.js";
import { checkId, checkRoom } from "./validate.js";

/** What a command may ask for (create and delete are not moderation). */
const MODERATION = [
  RoomActionKind.INVITE,
  RoomActionKind.KICK,
  RoomActionKind.BAN,
  RoomActionKind.UNBAN,
  RoomActionKind.MUTE,
  RoomActionKind.UNMUTE,
  RoomActionKind.SET_TOPIC,
  RoomActionKind.SET_ROLE,
  RoomActionKind.LEAVE_MEMBERSHIP,
  RoomActionKind.SET_READ_RECEIPTS,
];
const MODERATION_NAMES = MODERATION.map((k) => RoomActionKind[k].toLowerCase()).join(", ");
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const utf8 = new TextEncoder();

/** An action recorded: its entry's event; `duplicate`: recorded before (the same client_action_id), nothing delivered now. */
export interface ActAnswer {
  event: EncodedEvent;
  duplicate: boolean;
}

/** The prefix of direct-message rooms' names: no other room may take it. */
export const DIRECT_PREFIX = "dm.";

function checkUserId(what: string, id: string): void {
  if (id.length === 0 || id.length > MAX_USER_ID_CHARS) throw invalid(`${what} must be 1 to ${MAX_USER_ID_CHARS} characters`);
  if (CONTROL_CHARS.test(id)) throw invalid(`${what} must not contain control characters`);
}

function checkLine(what: string, value: string, maxBytes: number): void {
  const bytes = utf8.encode(value).length;
  if (bytes > maxBytes) throw invalid(`${what} must be at most ${maxBytes} bytes of UTF-8 (got ${bytes})`);
  if (CONTROL_CHARS.test(value)) throw invalid(`${what} must not contain control characters`);
}

function checkRoomName(room: string): void {
  const problem = checkRoom(room);
  if (problem) throw invalid(problem);
}

function checkVisibility(v: RoomVisibility): void {
  if (RoomVisibility[v] === undefined) throw invalid("visibility must be one of chat.v1.RoomVisibility (unspecified, public, private)");
}

/** Who acts in `room` for this session: its subject, or without authentication its nickname there (if joined). */
export function actorFor(identity: SessionIdentity | undefined, room: string, nicknameThere: string | undefined): Actor {
  if (identity) return { userId: identity.subject, name: nicknameThere ?? identity.subject, grant: grantIn(identity, room) };
  if (nicknameThere === undefined) {
    throw new CommandError(ErrorCode.FAILED_PRECONDITION, `without authentication you act under your nickname in a room: join room ${room} first`);
  }
  return { userId: nicknameThere, name: nicknameThere };
}

/** A ModerateCommand as a request for the log; throws INVALID_ARGUMENT on a bad field. */
export function moderateRequest(cmd: ModerateCommand, actorOf: (room: string) => Actor, nowMs: number): ActRequest {
  checkRoomName(cmd.room);
  const idProblem = checkId("client_action_id", cmd.clientActionId);
  if (idProblem) throw invalid(idProblem);
  const a: RoomAction | undefined = cmd.action;
  if (!a) throw invalid("action is not set");
  if (!MODERATION.includes(a.kind)) throw invalid(`action.kind must be one of ${MODERATION_NAMES}`);
  if (a.targetUser !== "") checkUserId("action.target_user", a.targetUser);
  checkLine("action.reason", a.reason, MAX_REASON_BYTES);
  checkLine("action.topic", a.topic, MAX_TOPIC_BYTES);
  if (RoomRole[a.role] === undefined) throw invalid("action.role must be one of chat.v1.RoomRole");
  checkVisibility(a.visibility);
  if (ReadReceiptsSetting[a.readReceipts] === undefined) throw invalid("action.read_receipts must be one of chat.v1.ReadReceiptsSetting (unspecified, on, off)");
  let untilMs = 0;
  if (a.until) {
    untilMs = timestampMs(a.until);
    if (!Number.isFinite(untilMs) || a.until.nanos < 0 || a.until.nanos > 999_999_999) throw invalid("action.until is not a valid time");
    if (untilMs <= nowMs) throw invalid("action.until is in the past");
  }
  return {
    room: cmd.room,
    actor: actorOf(cmd.room),
    // target_name is the server's to fill in; a command's is ignored.
    action: { kind: a.kind, targetUser: a.targetUser || undefined, reason: a.reason, untilMs, topic: a.topic, role: a.role, readReceipts: a.readReceipts },
    clientActionId: cmd.clientActionId,
    sentAtMs: nowMs,
  };
}

/** A CreateRoomCommand's create request (the join that follows is the session's). */
export function createRequest(cmd: CreateRoomCommand, actor: Actor, nowMs: number): ActRequest {
  checkRoomName(cmd.room);
  if (cmd.room.startsWith(DIRECT_PREFIX)) throw invalid(`room names starting with "${DIRECT_PREFIX}" are kept for direct messages (see OpenDirectCommand)`);
  checkVisibility(cmd.visibility);
  checkLine("topic", cmd.topic, MAX_TOPIC_BYTES);
  if (cmd.invite.length > MAX_INVITES) throw invalid(`invite may name at most ${MAX_INVITES} users`);
  const roles: Record<string, RoomRole> = {};
  for (const user of cmd.invite) {
    checkUserId("each invite", user);
    if (user !== actor.userId) roles[user] = RoomRole.MEMBER;
  }
  return {
    room: cmd.room,
    actor,
    action: { kind: RoomActionKind.CREATE, visibility: cmd.visibility || RoomVisibility.PUBLIC, topic: cmd.topic, roles },
    clientActionId: "",
    sentAtMs: nowMs,
  };
}

/** An OpenDirectCommand's create request for the two users' room. */
export function directRequest(cmd: OpenDirectCommand, identity: SessionIdentity | undefined, nowMs: number): ActRequest {
  if (!identity) throw new CommandError(ErrorCode.FAILED_PRECONDITION, "direct messages need authentication: this server runs without it");
  checkUserId("user_id", cmd.userId);
  const me = identity.subject;
  if (cmd.userId === me) throw invalid("user_id is your own id: a direct conversation needs another user");
  return {
    room: directRoomName(me, cmd.userId),
    actor: { userId: me, name: me },
    action: {
      kind: RoomActionKind.CREATE,
      visibility: RoomVisibility.PRIVATE,
      roles: { [me]: RoomRole.MEMBER, [cmd.userId]: RoomRole.MEMBER },
      direct: [me, cmd.userId],
    },
    clientActionId: "",
    sentAtMs: nowMs,
  };
}
