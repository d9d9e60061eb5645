/**
 * The unary RPCs on grpc-js: the queries (chat-queries.ts) and Command
 * (session-registry.ts), behind authentication, with every failure turned
 * into a status, never a crash or a stack trace.
 */
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import type { CommandRequest, GetHistoryRequest, ListMembersRequest, ListRoomsRequest } from "../../gen/chat/v1/chat_pb.js";
import type { Hub } from "../hub/hub.js";
import type { Authenticator, Identity } from "./auth.js";
import { authenticateCall } from "./call-auth.js";
import { chatQueries } from "./chat-queries.js";
import { MalformedRequest } from "./grpc-definition.js";
import type { SessionRegistry } from "./session-registry.js";

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

/** Authenticate, decode-check, run; a ConnectError's code is the gRPC status (the numbers are the same). */
function unary<Req>(handle: (req: Req, identity: Identity | undefined) => Promise<unknown>, authenticate: Authenticator | undefined): Unary {
  return (call, callback) => {
    authenticateCall(authenticate, call.metadata.get("authorization")[0] as string | undefined)
      .then((identity) => {
        if (call.request instanceof MalformedRequest) {
          throw new ConnectError(`request could not be decoded: ${call.request.reason}`, grpc.status.INVALID_ARGUMENT as number);
        }
        return handle(call.request as Req, identity);
      })
      .then(
        (response) => callback(null, response),
        (err) => {
          const e = err instanceof ConnectError ? err : new ConnectError("internal server error", grpc.status.INTERNAL as number);
          callback({ code: e.code as number as grpc.status, details: e.rawMessage });
        },
      );
  };
}

export function unaryHandlers(hub: Hub, authenticate?: Authenticator, registry?: SessionRegistry) {
  const queries = chatQueries(hub);
  return {
    ListRooms: unary((req: ListRoomsRequest, identity) => queries.listRooms(req, identity), authenticate),
    ListMembers: unary((req: ListMembersRequest, identity) => queries.listMembers(req, identity), authenticate),
    GetHistory: unary((req: GetHistoryRequest, identity) => queries.getHistory(req, identity), authenticate),
    // The answer is already the encoding of a CommandResponse: it goes to the wire as it is.
    ...(registry ? { Command: unary((req: CommandRequest, identity) => registry.commandBytes(req, identity), authenticate) } : {}),
  };
}
