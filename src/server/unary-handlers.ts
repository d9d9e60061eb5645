/** The unary RPCs: thin reads of hub state, with input checked like any command. */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  GetHistoryResponseSchema,
  ListMembersResponseSchema,
  ListRoomsResponseSchema,
  type GetHistoryRequest,
  type ListMembersRequest,
} from "../../gen/chat/v1/chat_pb.js";
import { toChatMessage, toMember } from "../hub/events.js";
import type { Hub } from "../hub/hub.js";
import { checkRoom } from "../hub/validate.js";
import { AuthError, type Authenticator } from "./auth.js";
import { MalformedRequest } from "./grpc-definition.js";

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 500;

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

/**
 * Wrap a handler so authentication runs first, and bad input and thrown
 * errors become a status, never a crash or a stack trace.
 */
function unary<Req>(handle: (req: Req) => unknown, authenticate: Authenticator | undefined): Unary {
  const run = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    if (call.request instanceof MalformedRequest) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: `request could not be decoded: ${call.request.reason}` });
    }
    try {
      callback(null, handle(call.request as Req));
    } catch (err) {
      if (err instanceof InvalidArgument) return callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
      callback({ code: grpc.status.INTERNAL, details: "internal server error" });
    }
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

class InvalidArgument extends Error {}

function requireRoom(room: string): void {
  const problem = checkRoom(room);
  if (problem) throw new InvalidArgument(problem);
}

export function unaryHandlers(hub: Hub, authenticate?: Authenticator) {
  return {
    ListRooms: unary(() =>
      create(ListRoomsResponseSchema, {
        rooms: hub.listRooms().map((r) => ({ name: r.name, memberCount: r.memberCount, lastSeq: BigInt(r.lastSeq) })),
      }),
      authenticate,
    ),
    ListMembers: unary((req: ListMembersRequest) => {
      requireRoom(req.room);
      return create(ListMembersResponseSchema, { members: hub.listMembers(req.room).map(toMember) });
    }, authenticate),
    GetHistory: unary((req: GetHistoryRequest) => {
      requireRoom(req.room);
      if (req.limit > HISTORY_MAX_LIMIT) throw new InvalidArgument(`limit must be at most ${HISTORY_MAX_LIMIT}`);
      const page = hub.history(req.room, {
        beforeSeq: req.beforeSeq === undefined ? undefined : safeNumber(req.beforeSeq),
        afterSeq: req.afterSeq === undefined ? undefined : safeNumber(req.afterSeq),
        limit: req.limit === 0 ? HISTORY_DEFAULT_LIMIT : req.limit,
      });
      return create(GetHistoryResponseSchema, {
        messages: page.messages.map(toChatMessage),
        epoch: page.epoch,
        firstSeq: BigInt(page.firstSeq),
        lastSeq: BigInt(page.lastSeq),
        hasMore: page.hasMore,
      });
    }, authenticate),
  };
}

function safeNumber(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}
