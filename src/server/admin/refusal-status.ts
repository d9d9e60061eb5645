/** A room log's refusal (chat.v1.ErrorCode, rooms/room-state.ts) as the status of an admin call. */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode } from "../../../gen/chat/v1/chat_pb.js";

const codeFor: Record<ErrorCode, Code> = {
  [ErrorCode.UNSPECIFIED]: Code.Unknown,
  [ErrorCode.INVALID_ARGUMENT]: Code.InvalidArgument,
  [ErrorCode.ALREADY_EXISTS]: Code.AlreadyExists,
  [ErrorCode.NOT_FOUND]: Code.NotFound,
  [ErrorCode.RESOURCE_EXHAUSTED]: Code.ResourceExhausted,
  [ErrorCode.FAILED_PRECONDITION]: Code.FailedPrecondition,
  [ErrorCode.PERMISSION_DENIED]: Code.PermissionDenied,
  [ErrorCode.UNAVAILABLE]: Code.Unavailable,
};

export function refusalError(code: ErrorCode, message: string): ConnectError {
  return new ConnectError(message, codeFor[code] ?? Code.Unknown);
}
