import { ErrorCode } from "../../gen/chat/v1/chat_pb.js";

/** A command the hub refused. The session turns it into an ErrorEvent; the stream stays usable. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

export const invalid = (message: string) => new CommandError(ErrorCode.INVALID_ARGUMENT, message);
export const exhausted = (message: string) => new CommandError(ErrorCode.RESOURCE_EXHAUSTED, message);
