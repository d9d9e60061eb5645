/**
 * The read-only RPCs (ListRooms, ListMembers, GetHistory) as plain functions
 * of the hub, with input checked like any command. Every failure is a
 * ConnectError with a code and a one-line message, never a stack trace; the
 * grpc-js handlers and the Connect routes both serve these, so the two ports
 * cannot answer differently.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  GetHistoryResponseSchema,
  ListMembersResponseSchema,
  ListRoomsResponseSchema,
  RoomVisibility,
  type GetHistoryRequest,
  type GetHistoryResponse,
  type ListMembersRequest,
  type ListMembersResponse,
  type ListRoomsRequest,
  type ListRoomsResponse,
} from "../../gen/chat/v1/chat_pb.js";
import type { Caller } from "../hub/caller.js";
import type { Hub } from "../hub/hub.js";
import type { RoomListing } from "../hub/room-queries.js";
import { checkRoom } from "../hub/validate.js";
import { InvalidPageTokenError, LogUnavailableError } from "../log/room-log.js";
import { toChatMessage, toMember } from "../wire/events.js";

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 500;
export const MEMBERS_DEFAULT_PAGE = 100;
export const MEMBERS_MAX_PAGE = 1000;

/**
 * Each query is asked by a caller (the token's identity; undefined without
 * authentication, a stranger to every private room): a private room answers
 * a stranger exactly as a room that does not exist.
 */
export interface ChatQueries {
  listRooms(req: ListRoomsRequest, caller: Caller): Promise<ListRoomsResponse>;
  listMembers(req: ListMembersRequest, caller: Caller): Promise<ListMembersResponse>;
  getHistory(req: GetHistoryRequest, caller: Caller): Promise<GetHistoryResponse>;
}

export function chatQueries(hub: Hub): ChatQueries {
  return {
    listRooms: (req, caller) =>
      guarded(async () => {
        if (req.mine && !caller) throw new ConnectError("mine: true lists the rooms of a signed-in user; this server runs without authentication", Code.FailedPrecondition);
        const rooms = req.mine ? await hub.myRooms(caller!) : await hub.listRooms(caller);
        return create(ListRoomsResponseSchema, { rooms: rooms.map(toRoomInfo) });
      }),
    listMembers: (req, caller) =>
      guarded(async () => {
        requireRoom(req.room);
        if (req.pageSize > MEMBERS_MAX_PAGE) throw invalid(`page_size must be at most ${MEMBERS_MAX_PAGE}`);
        const page = await hub.listMembers(req.room, req.pageToken, req.pageSize === 0 ? MEMBERS_DEFAULT_PAGE : req.pageSize, caller);
        return create(ListMembersResponseSchema, {
          members: page.members.map((m, i) => toMember(m, page.roles[i])),
          nextPageToken: page.nextPageToken,
          memberCount: page.memberCount,
        });
      }),
    getHistory: (req, caller) =>
      guarded(async () => {
        requireRoom(req.room);
        if (req.limit > HISTORY_MAX_LIMIT) throw invalid(`limit must be at most ${HISTORY_MAX_LIMIT}`);
        const query = {
          beforeSeq: req.beforeSeq === undefined ? undefined : safeNumber(req.beforeSeq),
          afterSeq: req.afterSeq === undefined ? undefined : safeNumber(req.afterSeq),
          limit: req.limit === 0 ? HISTORY_DEFAULT_LIMIT : req.limit,
        };
        const page = await hub.history(req.room, query, caller);
        return create(GetHistoryResponseSchema, {
          messages: page.messages.map((m) => toChatMessage(m, caller?.subject)),
          epoch: page.position.epoch,
          firstSeq: BigInt(page.position.firstSeq),
          lastSeq: BigInt(page.position.lastSeq),
          hasMore: page.hasMore,
        });
      }),
  };
}

function toRoomInfo(r: RoomListing) {
  return {
    name: r.name,
    memberCount: r.memberCount,
    lastSeq: BigInt(r.lastSeq),
    visibility: r.state?.visibility ?? RoomVisibility.PUBLIC,
    topic: r.state?.topic ?? "",
    yourRole: r.yourRole,
    directUserId: r.directUserId,
    lastMessage: r.last ? toChatMessage(r.last) : undefined,
    readSeq: BigInt(r.read?.readSeq ?? 0),
    unreadCount: r.read?.unread ?? 0,
    mentionCount: r.read?.mentions ?? 0,
  };
}

/** Known failures keep their meaning; anything else is a bug, reported only as internal. */
async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ConnectError) throw err;
    if (err instanceof InvalidPageTokenError) throw invalid(err.message);
    if (err instanceof LogUnavailableError) throw new ConnectError(err.message, Code.Unavailable);
    throw new ConnectError("internal server error", Code.Internal);
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function requireRoom(room: string): void {
  const problem = checkRoom(room);
  if (problem) throw invalid(problem);
}

function safeNumber(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}
