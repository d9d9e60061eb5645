/**
 * chat.v1.AdminService, transport-free: each call checks the admin
 * credential, checks its input, acts through the room log (room actions as
 * the actor "admin", Publish as a trusted system sender) or the node bus
 * (sessions on every node), and is written to the server's log with its
 * outcome. Refusals are ConnectErrors with a code and a plain message; the
 * grpc-js and Connect adapters (admin-transports.ts) only carry them.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  AddMemberResponseSchema,
  BanResponseSchema,
  CreateRoomResponseSchema,
  DeleteRoomResponseSchema,
  DisconnectUserResponseSchema,
  ListUserSessionsResponseSchema,
  PublishResponseSchema,
  RemoveMemberResponseSchema,
  SetRoleResponseSchema,
  UnbanResponseSchema,
  type AddMemberRequest,
  type BanRequest,
  type CreateRoomRequest,
  type DeleteRoomRequest,
  type DisconnectUserRequest,
  type ListUserSessionsRequest,
  type PublishRequest,
  type RemoveMemberRequest,
  type SetRoleRequest,
  type UnbanRequest,
} from "../../../gen/chat/v1/admin_pb.js";
import { ChatMessageSchema, RoomStateSchema, type RoomState } from "../../../gen/chat/v1/chat_pb.js";
import { prepareNickname } from "../../hub/nickname.js";
import { checkId, checkRoom, checkText } from "../../hub/validate.js";
import type { NodeBus } from "../../log/node-bus.js";
import { LogUnavailableError, type ActOutcome, type RoomLog } from "../../log/room-log.js";
import { MAX_INVITES, MAX_USER_ID_CHARS, RoomActionKind, RoomRole, RoomVisibility, type ActionInput, type Actor, type RoomStateData } from "../../rooms/room-state.js";
import { toChatMessage } from "../../wire/events.js";
import { checkAdminCredential, type AdminKey } from "./admin-key.js";
import { refusalError } from "./refusal-status.js";

/** Who the admin API is in room logs and entries. */
export const ADMIN_ACTOR: Actor = { userId: "admin", name: "admin", admin: true };
/** A Publish sender's user id is this prefix and its name: it cannot be a token's subject by accident of display. */
export const SYSTEM_SENDER_PREFIX = "system:";

export interface AdminServiceOptions {
  log: RoomLog;
  bus: NodeBus;
  /** Undefined: the admin API is off. */
  key: AdminKey | undefined;
  logger: Logger;
}

/** What the audit line says about a call. */
interface Audit {
  room?: string;
  user?: string;
}

/** A call as either transport hands it over: the request and its `authorization` header. */
export type AdminCall<Req, Res> = (req: Req, authorization: string | undefined, peer?: string) => Promise<Res>;

export function adminService({ log, bus, key, logger }: AdminServiceOptions) {
  /** Check the credential, run, audit the outcome (who, what, room, user, when: the log line's time). */
  function call<Req, Res>(what: string, audit: (req: Req) => Audit, run: (req: Req) => Promise<Res>): AdminCall<Req, Res> {
    return async (req, authorization, peer) => {
      const fields = { ...safeAudit(audit, req), what, peer };
      try {
        checkAdminCredential(key, authorization);
      } catch (err) {
        const e = err as ConnectError;
        logger.warn({ who: "unknown", ...fields, outcome: Code[e.code] }, `admin call refused: ${e.rawMessage}`);
        throw err;
      }
      try {
        const res = await run(req);
        logger.info({ who: "admin", ...fields, outcome: "ok" }, `admin ${what}`);
        return res;
      } catch (err) {
        const e = asConnectError(err);
        if (e.code === Code.Internal) logger.error({ who: "admin", ...fields, err }, `admin ${what} failed`);
        logger.info({ who: "admin", ...fields, outcome: Code[e.code], detail: e.rawMessage }, `admin ${what} refused`);
        throw e;
      }
    };
  }

  async function existing(room: string): Promise<void> {
    checkRoomName(room);
    if (!(await log.exists(room))) throw new ConnectError(`no room ${room}`, Code.NotFound);
  }

  async function act(room: string, action: ActionInput): Promise<Extract<ActOutcome, { kind: "stored" | "duplicate" }>> {
    const outcome = await log.act({ room, actor: ADMIN_ACTOR, action, clientActionId: "", sentAtMs: Date.now() });
    if (outcome.kind === "refused") throw refusalError(outcome.code, outcome.message);
    if (outcome.kind === "conflict") throw new ConnectError("the action's key was used before for another action", Code.AlreadyExists);
    return outcome;
  }

  const seqOf = (o: Extract<ActOutcome, { kind: "stored" | "duplicate" }>) => BigInt(o.kind === "stored" ? o.seq : o.original.seq);

  return {
    /** A request that could not be decoded (grpc-js): the credential first, then INVALID_ARGUMENT. */
    refuseMalformed: (what: string, authorization: string | undefined, reason: string, peer?: string): Promise<never> =>
      call(what, () => ({}), async () => {
        throw invalid(`request could not be decoded: ${reason}`);
      })(undefined, authorization, peer),
    createRoom: call(
      "CreateRoom",
      (r: CreateRoomRequest) => ({ room: r.room }),
      async (r) => {
        checkRoomName(r.room);
        const roles: Record<string, RoomRole> = {};
        for (const u of r.members) roles[checkUser(u, "members")] = RoomRole.MEMBER;
        for (const u of r.owners) roles[checkUser(u, "owners")] = RoomRole.OWNER;
        if (Object.keys(roles).length > MAX_INVITES) throw invalid(`at most ${MAX_INVITES} owners and members at creation; add more with AddMember`);
        const visibility = r.visibility === RoomVisibility.PRIVATE ? RoomVisibility.PRIVATE : RoomVisibility.PUBLIC;
        const outcome = await act(r.room, { kind: RoomActionKind.CREATE, visibility, topic: r.topic, roles });
        const state = outcome.kind === "stored" ? outcome.state : await log.state(r.room);
        return create(CreateRoomResponseSchema, { state: state && roomState(state) });
      },
    ),
    deleteRoom: call(
      "DeleteRoom",
      (r: DeleteRoomRequest) => ({ room: r.room }),
      async (r) => {
        await existing(r.room);
        await act(r.room, { kind: RoomActionKind.DELETE, reason: r.reason });
        return create(DeleteRoomResponseSchema, {});
      },
    ),
    addMember: call(
      "AddMember",
      (r: AddMemberRequest) => ({ room: r.room, user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        await existing(r.room);
        const role = r.role === RoomRole.UNSPECIFIED ? RoomRole.MEMBER : r.role;
        return create(AddMemberResponseSchema, { seq: seqOf(await act(r.room, { kind: RoomActionKind.INVITE, targetUser: user, role })) });
      },
    ),
    removeMember: call(
      "RemoveMember",
      (r: RemoveMemberRequest) => ({ room: r.room, user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        await existing(r.room);
        return create(RemoveMemberResponseSchema, { seq: seqOf(await act(r.room, { kind: RoomActionKind.KICK, targetUser: user, reason: r.reason })) });
      },
    ),
    setRole: call(
      "SetRole",
      (r: SetRoleRequest) => ({ room: r.room, user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        await existing(r.room);
        return create(SetRoleResponseSchema, { seq: seqOf(await act(r.room, { kind: RoomActionKind.SET_ROLE, targetUser: user, role: r.role })) });
      },
    ),
    ban: call(
      "Ban",
      (r: BanRequest) => ({ room: r.room, user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        await existing(r.room);
        const untilMs = r.until ? untilOf(r.until) : 0;
        return create(BanResponseSchema, { seq: seqOf(await act(r.room, { kind: RoomActionKind.BAN, targetUser: user, reason: r.reason, untilMs })) });
      },
    ),
    unban: call(
      "Unban",
      (r: UnbanRequest) => ({ room: r.room, user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        await existing(r.room);
        return create(UnbanResponseSchema, { seq: seqOf(await act(r.room, { kind: RoomActionKind.UNBAN, targetUser: user })) });
      },
    ),
    publish: call(
      "Publish",
      (r: PublishRequest) => ({ room: r.room, user: SYSTEM_SENDER_PREFIX + r.sender }),
      async (r) => {
        const sender = prepareNickname(r.sender);
        if (!sender.ok) throw invalid(`sender: ${sender.reason}`);
        const problem = checkText(r.text) ?? checkId("idempotency_key", r.idempotencyKey);
        if (problem) throw invalid(problem);
        await existing(r.room);
        const request = {
          room: r.room,
          sender: sender.nickname,
          text: r.text,
          clientMsgId: r.idempotencyKey,
          sentAtMs: Date.now(),
          // Recorded as the message's sender_id; the owner's grant makes the log's post check pass in any room
          // (a trusted sender) while a ban of this system sender would still hold.
          senderId: SYSTEM_SENDER_PREFIX + sender.nickname,
          grant: RoomRole.OWNER,
        };
        const outcome = await log.publish(request);
        switch (outcome.kind) {
          case "stored":
            return create(PublishResponseSchema, {
              message: create(ChatMessageSchema, {
                room: request.room,
                seq: BigInt(outcome.seq),
                sender: request.sender,
                text: request.text,
                sentAt: timestampFromMs(request.sentAtMs),
                clientMsgId: request.clientMsgId,
                senderId: request.senderId,
              }),
            });
          case "duplicate":
            return create(PublishResponseSchema, { message: toChatMessage(outcome.original), duplicate: true });
          case "conflict":
            throw new ConnectError(`idempotency_key "${r.idempotencyKey}" was already used for another text; use a new key`, Code.AlreadyExists);
          default:
            throw refusalError(outcome.code, outcome.message);
        }
      },
    ),
    disconnectUser: call(
      "DisconnectUser",
      (r: DisconnectUserRequest) => ({ user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        if (Buffer.byteLength(r.reason) > 256) throw invalid("reason is longer than 256 bytes");
        const { value, silent } = await bus.disconnectUser(user, r.reason);
        if (silent > 0) logger.warn({ who: "admin", what: "DisconnectUser", user, silent }, "some nodes did not answer: their sessions of the user may still be open");
        return create(DisconnectUserResponseSchema, { sessions: value });
      },
    ),
    listUserSessions: call(
      "ListUserSessions",
      (r: ListUserSessionsRequest) => ({ user: r.userId }),
      async (r) => {
        const user = checkUser(r.userId, "user_id");
        const { value } = await bus.userSessions(user);
        return create(ListUserSessionsResponseSchema, {
          sessions: value.map((s) => ({ sessionId: s.sessionId, node: s.node, rooms: s.rooms, openedAt: timestampFromMs(s.openedAtMs) })),
        });
      },
    ),
  };
}

export type AdminCalls = ReturnType<typeof adminService>;

function roomState(s: RoomStateData): RoomState {
  const init: MessageInitShape<typeof RoomStateSchema> = { visibility: s.visibility, topic: s.topic, creator: s.creator };
  return create(RoomStateSchema, init);
}

function untilOf(t: Timestamp): number {
  const ms = timestampDate(t).getTime();
  if (!Number.isFinite(ms) || ms <= Date.now()) throw invalid("until is in the past");
  return ms;
}

const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);

function checkRoomName(room: string): void {
  const problem = checkRoom(room);
  if (problem) throw invalid(problem);
}

function checkUser(userId: string, field: string): string {
  if (userId.length === 0 || userId.length > MAX_USER_ID_CHARS) throw invalid(`${field}: a user id is 1 to ${MAX_USER_ID_CHARS} characters`);
  if (/[\u0000-\u001f\u007f]/.test(userId)) throw invalid(`${field}: a user id has no control characters`);
  return userId;
}

function safeAudit<Req>(audit: (req: Req) => Audit, req: Req): Audit {
  try {
    return audit(req);
  } catch {
    return {};
  }
}

function asConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof LogUnavailableError) return new ConnectError(`${err.message}; retry`, Code.Unavailable);
  return new ConnectError("internal server error", Code.Internal);
}
