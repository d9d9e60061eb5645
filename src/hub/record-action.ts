/**
 * An action through the room log, as a command is answered: the entry as
 * every member receives it (taken from the fan-out on this node when the room
 * is open here, else read back), or the refusal as a command error. A room
 * that does not exist refuses as a private room does, so that nobody learns
 * which of the two it is.
 */
import { ErrorCode, RoomActionKind } from "../../gen/chat/v1/chat_pb.js";
import { LogUnavailableError, type ActRequest, type RoomLog } from "../log/room-log.js";
import { hiddenRoom } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import { CommandError } from "./command-error.js";
import type { ActAnswer } from "./room-actions.js";
import type { LocalRoom } from "./room.js";

export async function recordAction(log: RoomLog, request: ActRequest, localRoom: () => LocalRoom | undefined): Promise<CommandError | ActAnswer> {
  try {
    const outcome = await log.act(request);
    if (outcome.kind === "refused") {
      const create = request.action.kind === RoomActionKind.CREATE;
      if (!create && outcome.code !== ErrorCode.NOT_FOUND && !(await log.exists(request.room))) {
        const hidden = hiddenRoom(request.room);
        return new CommandError(ErrorCode.NOT_FOUND, hidden.ok ? "" : hidden.message);
      }
      return new CommandError(outcome.code, outcome.message);
    }
    if (outcome.kind === "conflict") {
      return new CommandError(ErrorCode.ALREADY_EXISTS, `client_action_id "${request.clientActionId}" was already used for another action; use a new id`);
    }
    if (outcome.kind === "duplicate") return { event: events.messageEvent(outcome.original), duplicate: true };
    return { event: await entryEvent(log, request, outcome.seq, localRoom()), duplicate: false };
  } catch (err) {
    if (err instanceof LogUnavailableError) {
      return new CommandError(ErrorCode.UNAVAILABLE, `action not confirmed in room ${request.room} (${err.message}); retry with the same client_action_id`);
    }
    throw err;
  }
}

/** The event of the entry `seq` the actor recorded: from the fan-out here, or read back from the log. */
async function entryEvent(log: RoomLog, request: ActRequest, seq: number, local: LocalRoom | undefined): Promise<EncodedEvent> {
  if (local && seq > local.position.lastSeq) {
    const delivered = await new Promise<EncodedEvent | undefined>((resolve) => local.expectAck(seq, resolve));
    if (delivered) return delivered;
  }
  const [entry] = await log.read(request.room, seq - 1, { maxMessages: 1, maxBytes: 1 });
  if (entry?.seq === seq) return entry.event;
  // Gone already (the room was deleted, or retention dropped it): an entry with its number, to acknowledge by.
  const { room, actor, clientActionId, sentAtMs } = request;
  return events.messageEvent({ room, seq, sender: actor.name, text: "", clientMsgId: clientActionId, sentAtMs, senderId: actor.userId });
}
