/**
 * The room-state commands of one session (moderate, create_room,
 * open_direct): each checked (room-actions.ts), decided by the room log
 * through the hub, and answered like any command (an event, or an error
 * event). They hold the session's command order while the log decides, as a
 * join does.
 */
import { ErrorCode, type CreateRoomCommand, type ModerateCommand, type OpenDirectCommand } from "../../gen/chat/v1/chat_pb.js";
import { LogUnavailableError, type ActRequest } from "../log/room-log.js";
import type { RoomStateData } from "../rooms/room-state.js";
import type { EncodedEvent } from "../wire/encoded-event.js";
import * as events from "../wire/events.js";
import type { SessionIdentity } from "./caller.js";
import { CommandError } from "./command-error.js";
import { Disconnect, type DisconnectReason } from "./disconnect.js";
import type { PreparedNickname } from "./nickname.js";
import type { DirectNotify } from "./direct-notices.js";
import { actorFor, createRequest, directRequest, moderateRequest, type ActAnswer } from "./room-actions.js";

type CommandReply = (answer: EncodedEvent | undefined) => void;

/** A JoinCommand's fields (also what a create_room joins with). */
export interface JoinRequest {
  room: string;
  nickname: string;
  afterSeq?: bigint;
  epoch: string;
  resumeToken: string;
}

/** What these commands need from the hub. */
export interface RoomCommandHub {
  readonly closing: boolean;
  act(request: ActRequest): Promise<CommandError | ActAnswer>;
  roomState(room: string): Promise<RoomStateData | undefined>;
  readonly directNotify: DirectNotify;
}

/** What they need from their session. */
export interface RoomCommandSession {
  /** The session itself (its other devices are told of a DM it opens; it is not). */
  readonly self: object;
  readonly identity: SessionIdentity | undefined;
  ended(): boolean;
  /** Queue the event for the client and give it to the command's reply. */
  answer(reply: CommandReply | undefined, event: EncodedEvent): void;
  /** The session's nickname in the room, if it is (being) joined. */
  nicknameIn(room: string): string | undefined;
  /** Check a join (throws a CommandError); returns the nickname to claim. */
  checkJoin(join: JoinRequest): PreparedNickname;
  startJoin(join: JoinRequest, prepared: PreparedNickname, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void>;
  abort(reason: DisconnectReason): void;
}

export class RoomCommands {
  constructor(
    private readonly hub: RoomCommandHub,
    private readonly session: RoomCommandSession,
  ) {}

  /**
   * A change of a room's state, decided by its log. Answered by the action's
   * entry (the members, this session among them, get it through the room;
   * otherwise it is queued here), or by an error event.
   */
  moderate(command: ModerateCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const request = moderateRequest(command, (room) => actorFor(this.session.identity, room, this.session.nicknameIn(room)), Date.now());
    if (this.hub.closing) throw new CommandError(ErrorCode.UNAVAILABLE, "server is shutting down; act again after reconnecting");
    return this.act(request, ctx, reply, (answer) => {
      // A member gets a new entry through the room (live, or in its replay); anyone else here.
      if (!answer.duplicate && this.session.nicknameIn(request.room) !== undefined) reply?.(answer.event);
      else this.session.answer(reply, answer.event);
    });
  }

  /** Create a room with state, then join it as a JoinCommand would (answered with the JoinedEvent). */
  createRoom(command: CreateRoomCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const join: JoinRequest = { room: command.room, nickname: command.nickname, epoch: "", resumeToken: "" };
    const prepared = this.session.checkJoin(join);
    const actor = actorFor(this.session.identity, command.room, prepared.nickname);
    const request = createRequest(command, actor, Date.now());
    return this.act(request, ctx, reply, () => {
      if (this.session.ended()) return undefined;
      // Checked again: nothing else ran meanwhile (this command held the session), but the server may be closing.
      let again: PreparedNickname;
      try {
        again = this.session.checkJoin(join);
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        this.session.answer(reply, events.errorEvent(err.code, err.message, ctx));
        return undefined;
      }
      return this.session.startJoin(join, again, ctx, reply);
    });
  }

  /**
   * Open (create, or find) the direct-message room of this user and another.
   * Created: the other user's sessions are told at once (the DM push), and so are
   * the opener's other sessions (their other devices), on every node.
   */
  openDirect(command: OpenDirectCommand, ctx: events.ErrorContext, reply: CommandReply | undefined): Promise<void> {
    const request = directRequest(command, this.session.identity, Date.now());
    const opened = (created: boolean) => this.session.answer(reply, events.directOpenedEvent(request.room, command.userId, created));
    return this.act(
      request,
      ctx,
      reply,
      () => {
        opened(true);
        const opener = request.actor.userId;
        this.hub.directNotify({ room: request.room, to: command.userId, from: opener });
        this.hub.directNotify({ room: request.room, to: opener, from: command.userId, skip: this.session.self });
      },
      async (refusal) => {
        if (refusal.code !== ErrorCode.ALREADY_EXISTS) return false;
        // Opened before (by either of the two): the same pair's room is the answer.
        const state = await this.hub.roomState(request.room);
        const pair = [...request.action.direct!].sort();
        if (state?.direct?.[0] !== pair[0] || state.direct[1] !== pair[1]) return false;
        opened(false);
        return true;
      },
    );
  }

  /**
   * Run an action through the hub: `done` with the recorded entry, or an
   * error event (unless `refused` handles the refusal). A failure that is not
   * a refusal is a bug: the session ends with an internal error.
   */
  private act(
    request: ActRequest,
    ctx: events.ErrorContext,
    reply: CommandReply | undefined,
    done: (answer: ActAnswer) => Promise<void> | void,
    refused?: (err: CommandError) => Promise<boolean>,
  ): Promise<void> {
    return this.hub
      .act(request)
      .then(async (outcome) => {
        if (!(outcome instanceof CommandError)) return done(outcome);
        if (refused && (await refused(outcome))) return;
        this.session.answer(reply, events.errorEvent(outcome.code, outcome.message, ctx));
      })
      .catch((err: unknown) => {
        if (err instanceof LogUnavailableError) {
          this.session.answer(reply, events.errorEvent(ErrorCode.UNAVAILABLE, `room ${request.room} cannot be changed now (${err.message}); retry`, ctx));
          return;
        }
        this.session.abort(Disconnect.internal());
      });
  }
}
