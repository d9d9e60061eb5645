/**
 * The react command of one session: checked here (one emoji, a key, a
 * number), decided and numbered by the room log (log/reactions.ts has the
 * rules), and answered like an edit: by the reaction's entry, which every
 * member of the room (this one included) receives, by the target as it
 * stands when the reaction changes nothing, or by an error event carrying
 * the command's client_msg_id. It spends a rate-limit token like every
 * command (sends included), and holds the session's command order while
 * the log decides.
 */
import { ErrorCode, type ReactCommand } from "../../gen/chat/v1/chat_pb.js";
import type { ReactRequest } from "../log/reactions.js";
import type { RoomLog } from "../log/room-log.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import { eventFor } from "../wire/reaction-codec.js";
import { CommandError, invalid } from "./command-error.js";
import { answerRecorded, safeSeq, storedEntry, type ChangeAnswer, type MessageChangeSession } from "./message-changes.js";
import type { LocalRoom } from "./room.js";
import { checkEmoji, checkId } from "./validate.js";

type CommandReply = (answer: EncodedEvent | undefined) => void;

/** What the command needs from the hub. */
export interface ReactionHub {
  readonly closing: boolean;
  react(request: ReactRequest): Promise<CommandError | ChangeAnswer>;
}

export class Reactions {
  constructor(
    private readonly hub: ReactionHub,
    private readonly session: MessageChangeSession,
  ) {}

  react(command: ReactCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const member = this.session.membership(command.room);
    const problem = checkEmoji(command.emoji) ?? checkId("client_msg_id", command.clientMsgId);
    if (problem) throw invalid(problem);
    if (command.seq < 1n) throw invalid("seq must name a message of the room (1 or more)");
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; react again after reconnecting");
    const request: ReactRequest = {
      room: command.room,
      targetSeq: safeSeq(command.seq),
      emoji: command.emoji,
      remove: command.remove,
      sender: member.nickname,
      senderId: member.userId,
      ...(member.grant !== undefined ? { grant: member.grant } : {}),
      clientMsgId: command.clientMsgId,
      sentAtMs: Date.now(),
    };
    return answerRecorded(this.session, member, this.hub.react(request), "reaction", ctx, reply);
  }
}

/**
 * A reaction through the room log, as its command is answered: the entry as
 * every member receives it (from the fan-out on this node when the room is
 * open here, else read back), the target for a no-op (`duplicate`: answered
 * to this session only), or the refusal as a command error.
 */
export async function recordReaction(log: RoomLog, request: ReactRequest, localRoom: () => LocalRoom | undefined): Promise<CommandError | ChangeAnswer> {
  const outcome = await log.react(request);
  if (outcome.kind === "refused") return new CommandError(outcome.code, outcome.message);
  if (outcome.kind === "conflict") {
    return new CommandError(ErrorCode.ALREADY_EXISTS, `client_msg_id "${request.clientMsgId}" was already used for another message or change; use a new id`);
  }
  if (outcome.kind === "duplicate") return { event: events.messageEvent(outcome.original), duplicate: true };
  if (outcome.kind === "unchanged") return { event: eventFor(outcome.target, request.senderId), duplicate: true };
  const { room, sender, senderId, clientMsgId, sentAtMs, targetSeq, emoji, remove } = request;
  const event = await storedEntry(log, room, outcome.seq, localRoom, () =>
    events.messageEvent({ room, seq: outcome.seq, sender, senderId, clientMsgId, sentAtMs, text: "", reaction: { targetSeq, emoji, removed: remove } }),
  );
  return { event, duplicate: false };
}
