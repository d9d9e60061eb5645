/**
 * The status a stream ends with, for each reason the hub ends a session. One
 * table for every transport: gRPC status codes and Connect's `Code` share
 * their numbers, so grpc-js and connect-node handlers both read it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { DisconnectReason } from "../hub/disconnect.js";

const codeFor: Record<DisconnectReason["kind"], Code | "ok"> = {
  finished: "ok",
  "client-gone": Code.Canceled,
  "too-slow": Code.ResourceExhausted,
  "server-full": Code.ResourceExhausted,
  "rate-limited": Code.ResourceExhausted,
  malformed: Code.InvalidArgument,
  "history-reset": Code.Unavailable,
  unauthenticated: Code.Unauthenticated,
  "disconnected-by-admin": Code.PermissionDenied,
  shutdown: Code.Unavailable,
  internal: Code.Internal,
};

/** The status code for a reason; "ok" for a clean end. */
export function disconnectCode(reason: DisconnectReason): Code | "ok" {
  return codeFor[reason.kind];
}

/** The error a stream ends with, or undefined for a clean end. */
export function disconnectError(reason: DisconnectReason): ConnectError | undefined {
  const code = codeFor[reason.kind];
  return code === "ok" ? undefined : new ConnectError(reason.message, code);
}
