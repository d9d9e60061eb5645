/**
 * The client core, for every front end (the terminal client, a browser page):
 * the session with its outbox, acknowledgements, reconnect and resume, over a
 * SessionTransport. Everything exported here runs in a browser: no Node
 * built-ins. Node-only pieces are imported from their own modules:
 * grpc-transport.ts (the Chat stream over native gRPC) and transport.ts.
 *
 * In a browser:
 *
 *   import { createConnectTransport } from "@connectrpc/connect-web";
 *   const transport = commandTransport(createConnectTransport({ baseUrl }));
 *   const session = new ChatSession({ transport, server: baseUrl, nickname: "ann" });
 *   session.on("event", render);
 *   session.join("lobby");
 *   void session.start();
 *   session.send("lobby", "hello");
 *
 * A front end that can be restarted (a page reload) keeps session.pending() and,
 * on the next start, joins with { rejoin: true } and queues each kept message with
 * session.send(room, text, { id }): same ids, so the server stores each at most once.
 *
 * Rooms with state (room-admin.ts): createRoom(room, { visibility, topic, invite }),
 * moderate(room, { kind, targetUser, reason, until, topic, role }) (resolves with the
 * room's entry for it, rejects with a RoomCommandError), openDirect(userId) (the room's
 * name), myRooms() (pass ChatSessionOptions.client in a browser), roomState(room) and the
 * roomState and removed events (kicked, banned, deleted: not rejoined).
 *
 * Messages that change (message-changes.ts): edit(room, seq, text), deleteMessage(room, seq)
 * and send(room, text, { replyTo: seq }) are queued like messages; the messageChanged event
 * gives each edited or deleted message in its new state (and the replies whose quote followed),
 * message(room, seq) a kept message as it is now. Change entries also come as "event"s: never
 * show one as a message (isChange).
 *
 * Read positions and mentions (read-state.ts): pass { signedIn: true } with a token and call
 * markRead(room, seq) as messages are shown (coalesced; the server tells the user's other
 * sessions); readPosition(room) and the readPosition event give the position with its unread
 * and mention counts; the mention event says a message named us, in any room;
 * send(room, text, { mentions: [userId] }) names users.
 * Reactions (reactions.ts): react(room, seq, emoji), unreact(...) and toggleReaction(...) are
 * queued like messages; reactionChanged gives a message's counts after each reaction entry
 * (`mine` on ours), and kept messages carry them (message(room, seq).reactions). Reaction
 * entries also come as "event"s: never show one as a message (isReaction).
 */
export { backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
export {
  ChatSession,
  type ChatSessionEvents,
  type ChatSessionOptions,
  type Disconnected,
  type Mention,
  type Notice,
  type NoticeLevel,
  type ReadPosition,
  type Reconnecting,
  type Result,
  type RoomPhase,
  type SessionEnd,
} from "./chat-session.js";
/** Rooms with state: create, moderate, direct messages, my rooms (ChatSession's methods), and their types. */
export {
  RoomActionKind,
  RoomCommandError,
  RoomRole,
  RoomVisibility,
  isMutedNow,
  type CreateRoomOptions,
  type RoomActionInit,
  type RoomLister,
  type RoomStateView,
} from "./room-admin.js";
export { UNREAD_CAP, MENTIONS_MAX, mentionsIn } from "./read-state.js";
export { ReceiptBook, seenByLine, type ReceiptView } from "./read-receipts.js";
export { isChange, quoteOf, type ChangeKind, type MessageChanged } from "./message-changes.js";
export { applyReaction, checkEmoji, COMMON_EMOJI, emojiFromInput, isReaction, reactionLabel, type ReactionChanged } from "./reactions.js";
export { chatStreamTransport } from "./chat-stream-transport.js";
export { commandTransport, type CommandTransportOptions } from "./command-transport.js";
export { Emitter } from "./emitter.js";
/** Several servers for one session: each connection goes to one, the next after a failure. */
export { failoverTransport, type FailoverTransport, type ServerEndpoint } from "./failover.js";
/** Connect's error type and codes, as the session reports them (the same module instance as the transports'). */
export { Code, ConnectError } from "@connectrpc/connect";
export { describeError, isRetryable } from "./errors.js";
export type { SessionConnection, SessionTransport } from "./session-transport.js";
/** The same input rules as the server's, so a bad room or text is refused before it is sent. */
export { checkRoom, checkText, ROOM_MAX_CHARS, TEXT_MAX_BYTES } from "../hub/validate.js";
