/** The unary RPCs: thin reads of the hub and its room log, with input checked like any command. */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  GetHistoryResponseSchema,
  ListMembersResponseSchema,
  ListRoomsResponseSchema,
  type GetHistoryRequest,
  type ListMembersRequest,
} from "../../gen/chat/v1/chat_pb.js";
import type { Hub } from "../hub/hub.js";
import { checkRoom } from "../hub/validate.js";
import { InvalidPageTokenError, LogUnavailableError } from "../log/room-log.js";
import { toChatMessage, toMember } from "../wire/events.js";
import { AuthError, type Authenticator } from "./auth.js";
import { MalformedRequest } from "./grpc-definition.js";

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 500;
export const MEMBERS_DEFAULT_PAGE = 100;
export const MEMBERS_MAX_PAGE = 1000;

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

class InvalidArgument extends Error {}

/**
 * Wrap a handler so authentication runs first, and bad input and thrown
 * errors become a status, never a crash or a stack trace.
 */
function unary<Req>(handle: (req: Req) => Promise<unknown>, authenticate: Authenticator | undefined): Unary {
  const run = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    if (call.request instanceof MalformedRequest) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: `request could not be decoded: ${call.request.reason}` });
    }
    handle(call.request as Req).then(
      (response) => callback(null, response),
      (err) => {
        if (err instanceof InvalidArgument || err instanceof InvalidPageTokenError) {
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        }
        if (err instanceof LogUnavailableError) return callback({ code: grpc.status.UNAVAILABLE, details: err.message });
        callback({ code: grpc.status.INTERNAL, details: "internal server error" });
      },
    );
  };
  if (!authenticate) return run;
  return (call, callback) => {
    authenticate(call.metadata.get("authorization")[0] as string | undefined).then(
      () => run(call, callback),
      (err) =>
        callback({ code: grpc.status.UNAUTHENTICATED, details: err instanceof AuthError ? err.message : "authentication failed" }),
    );
  };
}

function requireRoom(room: string): void {
  const problem = checkRoom(room);
  if (problem) throw new InvalidArgument(problem);
}

export function unaryHandlers(hub: Hub, authenticate?: Authenticator) {
  return {
    ListRooms: unary(async () => {
      const rooms = await hub.listRooms();
      return create(ListRoomsResponseSchema, {
        rooms: rooms.map((r) => ({ name: r.name, memberCount: r.memberCount, lastSeq: BigInt(r.lastSeq) })),
      });
    }, authenticate),
    ListMembers: unary(async (req: ListMembersRequest) => {
      requireRoom(req.room);
      if (req.pageSize > MEMBERS_MAX_PAGE) throw new InvalidArgument(`page_size must be at most ${MEMBERS_MAX_PAGE}`);
      const page = await hub.listMembers(req.room, req.pageToken, req.pageSize === 0 ? MEMBERS_DEFAULT_PAGE : req.pageSize);
      return create(ListMembersResponseSchema, {
        members: page.members.map(toMember),
        nextPageToken: page.nextPageToken,
        memberCount: page.memberCount,
      });
    }, authenticate),
    GetHistory: unary(async (req: GetHistoryRequest) => {
      requireRoom(req.room);
      if (req.limit > HISTORY_MAX_LIMIT) throw new InvalidArgument(`limit must be at most ${HISTORY_MAX_LIMIT}`);
      const page = await hub.history(req.room, {
        beforeSeq: req.beforeSeq === undefined ? undefined : safeNumber(req.beforeSeq),
        afterSeq: req.afterSeq === undefined ? undefined : safeNumber(req.afterSeq),
        limit: req.limit === 0 ? HISTORY_DEFAULT_LIMIT : req.limit,
      });
      return create(GetHistoryResponseSchema, {
        messages: page.messages.map(toChatMessage),
        epoch: page.position.epoch,
        firstSeq: BigInt(page.position.firstSeq),
        lastSeq: BigInt(page.position.lastSeq),
        hasMore: page.hasMore,
      });
    }, authenticate),
  };
}

function safeNumber(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}
