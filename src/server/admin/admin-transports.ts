/**
 * AdminService on both ports: grpc-js handlers for the native gRPC port, and
 * a Connect router registration for the HTTP port (Connect JSON for curl,
 * gRPC-Web, gRPC). Both hand the request and its `authorization` header to
 * the same calls (admin-service.ts); a failure becomes its status, never a
 * stack trace.
 */
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { AdminService } from "../../../gen/chat/v1/admin_pb.js";
import { MalformedRequest } from "../grpc-definition.js";
import { streamControlKey } from "../stream-control.js";
import type { AdminCall, AdminCalls } from "./admin-service.js";

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;
type AnyCall = AdminCall<unknown, unknown>;

function callOf(calls: AdminCalls, localName: string): AnyCall {
  const found = (calls as unknown as Record<string, AnyCall | undefined>)[localName];
  if (!found) throw new Error(`AdminService.${localName} has no handler`);
  return found;
}

/** grpc-js handlers keyed by the proto method name (what grpcServiceDefinition(AdminService) keys by). */
export function adminGrpcHandlers(calls: AdminCalls): Record<string, Unary> {
  const handlers: Record<string, Unary> = {};
  for (const method of AdminService.methods) {
    const run = callOf(calls, method.localName);
    handlers[method.name] = (call, callback) => {
      const authorization = call.metadata.get("authorization")[0] as string | undefined;
      const request = call.request;
      // An undecodable request is answered after the credential check: a stranger learns nothing from it.
      const answer =
        request instanceof MalformedRequest
          ? calls.refuseMalformed(method.name, authorization, request.reason, call.getPeer())
          : run(request, authorization, call.getPeer());
      answer.then(
        (response) => callback(null, response),
        (err: unknown) => {
          const e = err instanceof ConnectError ? err : new ConnectError("internal server error", Code.Internal);
          callback({ code: e.code as number as grpc.status, details: e.rawMessage });
        },
      );
    };
  }
  return handlers;
}

/** Register AdminService on a Connect router. */
export function adminRoutes(calls: AdminCalls): (router: ConnectRouter) => void {
  return (router) => {
    const impl: Record<string, (req: unknown, ctx: HandlerContext) => Promise<unknown>> = {};
    for (const method of AdminService.methods) {
      const run = callOf(calls, method.localName);
      impl[method.localName] = (req, ctx) => run(req, ctx.requestHeader.get("authorization") ?? undefined, ctx.values.get(streamControlKey)?.peer);
    }
    router.service(AdminService, impl as never);
  };
}
