/**
 * The message-change commands of one session (edit_message, delete_message):
 * checked here, decided and numbered by the room log (log/message-changes.ts
 * has the rules), and answered like a moderation action: by the change's
 * entry, which every member of the room (this one included) receives, or by
 * an error event carrying the command's client_msg_id. They hold the
 * session's command order while the log decides.
 */
import { ErrorCode, MessageChangeKind, type DeleteMessageCommand, type EditMessageCommand } from "../../gen/chat/v1/chat_pb.js";
import type { ChangeRequest } from "../log/message-changes.js";
import { LogUnavailableError, type RoomLog } from "../log/room-log.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import { CommandError, invalid } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import type { Membership } from "./membership.js";
import type { LocalRoom } from "./room.js";
import { checkId, checkText } from "./validate.js";

type CommandReply = (answer: EncodedEvent | undefined) => void;

/** A recorded change as its command is answered: the entry's event, and whether it was a retry of an earlier one. */
export interface ChangeAnswer {
  event: EncodedEvent;
  duplicate: boolean;
}

/** What these commands need from the hub. */
export interface MessageChangeHub {
  readonly closing: boolean;
  readonly limits: { readonly editWindowMs: number };
  change(request: ChangeRequest): Promise<CommandError | ChangeAnswer>;
}

/** What they need from their session. */
export interface MessageChangeSession {
  /** The session's membership of the room (throws a CommandError when it is not joined). */
  membership(room: string): Membership;
  /** Queue the event for the client and give it to the command's reply. */
  answer(reply: CommandReply | undefined, event: EncodedEvent): void;
  abort(reason: DisconnectReason): void;
}

export class MessageChanges {
  constructor(
    private readonly hub: MessageChangeHub,
    private readonly session: MessageChangeSession,
  ) {}

  edit(command: EditMessageCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const problem = checkText(command.text);
    if (problem) throw invalid(problem);
    return this.run(MessageChangeKind.EDIT, command.room, command.seq, command.text, command.clientMsgId, ctx, reply);
  }

  delete(command: DeleteMessageCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    return this.run(MessageChangeKind.DELETE, command.room, command.seq, "", command.clientMsgId, ctx, reply);
  }

  private run(
    kind: ChangeRequest["kind"],
    room: string,
    seq: bigint,
    text: string,
    clientMsgId: string,
    ctx: events.ErrorContext,
    reply: CommandReply | undefined,
  ): Promise<void> {
    const member = this.session.membership(room);
    const idProblem = checkId("client_msg_id", clientMsgId);
    if (idProblem) throw invalid(idProblem);
    if (seq < 1n) throw invalid("seq must name a message of the room (1 or more)");
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; send the change again after reconnecting");
    const request: ChangeRequest = {
      room,
      kind,
      targetSeq: safeSeq(seq),
      text,
      sender: member.nickname,
      senderId: member.userId,
      ...(member.grant !== undefined ? { grant: member.grant } : {}),
      clientMsgId,
      sentAtMs: Date.now(),
      editWindowMs: this.hub.limits.editWindowMs,
    };
    return answerRecorded(this.session, member, this.hub.change(request), "change", ctx, reply);
  }
}

/**
 * Answer a command the room log records as an entry (an edit, a delete, a
 * reaction): a member gets a new entry through the room (live, or in its
 * replay), so only the reply is given it here; a retry's original, a no-op's
 * answer, or one who left the room, is queued here too. A log that cannot
 * confirm it is an error event saying to send it again; anything else ends
 * the session.
 */
export function answerRecorded(
  session: MessageChangeSession,
  member: Membership,
  recorded: Promise<CommandError | ChangeAnswer>,
  what: string,
  ctx: events.ErrorContext,
  reply: CommandReply | undefined,
): Promise<void> {
  return recorded
    .then((outcome) => {
      if (outcome instanceof CommandError) session.answer(reply, events.errorEvent(outcome.code, outcome.message, ctx));
      else if (!outcome.duplicate && !member.isGone) reply?.(outcome.event);
      else session.answer(reply, outcome.event);
    })
    .catch((err: unknown) => {
      if (err instanceof LogUnavailableError) {
        const why = `${what} not confirmed in room ${member.room} (${err.message}); send it again with the same client_msg_id (it is made at most once)`;
        session.answer(reply, events.errorEvent(ErrorCode.UNAVAILABLE, why, ctx));
        return;
      }
      session.abort(Disconnect.internal());
    });
}

/**
 * A change through the room log, as its command is answered: the entry as
 * every member receives it (from the fan-out on this node when the room is
 * open here, else read back), or the refusal as a command error.
 */
export async function recordChange(log: RoomLog, request: ChangeRequest, localRoom: () => LocalRoom | undefined): Promise<CommandError | ChangeAnswer> {
  const outcome = await log.change(request);
  if (outcome.kind === "refused") return new CommandError(outcome.code, outcome.message);
  if (outcome.kind === "conflict") {
    return new CommandError(ErrorCode.ALREADY_EXISTS, `client_msg_id "${request.clientMsgId}" was already used for another message or change; use a new id`);
  }
  if (outcome.kind === "duplicate") return { event: events.messageEvent(outcome.original), duplicate: true };
  const { room, sender, senderId, clientMsgId, sentAtMs, targetSeq, kind, text } = request;
  const event = await storedEntry(log, room, outcome.seq, localRoom, () =>
    events.messageEvent({ room, seq: outcome.seq, sender, senderId, clientMsgId, sentAtMs, text, change: { targetSeq, kind } }),
  );
  return { event, duplicate: false };
}

/**
 * The event of entry `seq` as every member receives it: from the fan-out on
 * this node when the room is open here, else read back from the log; gone
 * already (retention, or the room was deleted), `asRequested()`, an entry
 * with its number to acknowledge by.
 */
export async function storedEntry(log: RoomLog, room: string, seq: number, localRoom: () => LocalRoom | undefined, asRequested: () => EncodedEvent): Promise<EncodedEvent> {
  const local = localRoom();
  if (local && seq > local.position.lastSeq) {
    const delivered = await new Promise<EncodedEvent | undefined>((resolve) => local.expectAck(seq, resolve));
    if (delivered) return delivered;
  }
  const [entry] = await log.read(room, seq - 1, { maxMessages: 1, maxBytes: 1 });
  return entry?.seq === seq ? entry.event : asRequested();
}

/** A sequence number from the wire, as a safe integer (larger ones name no message). */
export function safeSeq(seq: bigint): number {
  return seq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(seq);
}
