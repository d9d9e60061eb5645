/**
 * What Redis replies mean to the room log: a stream entry as a log entry, a
 * page of entries within a byte budget, an entry as a stored message, and a
 * failure as the hub understands it (retry later, in plain words).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { ReplyError } from "ioredis";
import { ChatResponseSchema } from "../../../gen/chat/v1/chat_pb.js";
import type { StoredMessage } from "../message.js";
import { LogUnavailableError, type LogEntry } from "../room-log.js";

/** A cluster redirection (MOVED/ASK): the key's slot is served by another node. */
export function isRedirect(err: Error): boolean {
  return /^(MOVED|ASK) /.test(err.message);
}

/** Redis refused this node's credentials at start-up (the message names WRONGPASS/NOAUTH, never the password). */
export class RedisAuthError extends Error {
  override readonly name = "RedisAuthError";
}

/**
 * A failure to reach Redis as the hub understands it (retry later). A reply
 * error that is not about availability (a script bug, a wrong key type) stays
 * as it is: retrying would not help.
 */
export function unavailable(err: unknown): Error {
  if (err instanceof LogUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ReplyError && !/^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY|NOAUTH|WRONGPASS|NOREPLICAS)/.test(message)) return err as Error;
  // Plain words for clients: ioredis's own messages ("...maxRetriesPerRequest...") are not theirs to read.
  if (/timed out/i.test(message)) return new LogUnavailableError("the room log (Redis) did not answer in time");
  if (/^(NOAUTH|WRONGPASS)/.test(message)) return new LogUnavailableError("the room log (Redis) refused this node's credentials");
  if (/^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN)/.test(message)) return new LogUnavailableError("the room log (Redis Cluster) is not serving every room right now");
  if (/^NOREPLICAS/.test(message)) return new LogUnavailableError("the room log (Redis) has too few replicas in sync to confirm the message");
  if (/^(LOADING|BUSY)/.test(message)) return new LogUnavailableError("the room log (Redis) is busy");
  return new LogUnavailableError("the room log (Redis) is unreachable");
}

/** A stream entry [id, [field, value, ...]] (Buffers) as a log entry. */
export function toEntry(raw: [Buffer, Buffer[]]): LogEntry {
  const [id, fields] = raw;
  const seq = parseInt(id.toString("latin1"), 10);
  let event: Uint8Array = new Uint8Array(0);
  let action: Uint8Array | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i].length !== 1) continue;
    if (fields[i][0] === 0x65 /* e */) event = new Uint8Array(fields[i + 1]);
    else if (fields[i][0] === 0x61 /* a: a room action's RoomAction */) action = new Uint8Array(fields[i + 1]);
  }
  return action ? { seq, event, action } : { seq, event };
}

export function takeWithin(entries: LogEntry[], maxBytes: number): LogEntry[] {
  const out: LogEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (out.length > 0 && bytes + e.event.length > maxBytes) break;
    bytes += e.event.length;
    out.push(e);
  }
  return out;
}

export function toStoredMessage(entry: LogEntry): StoredMessage {
  const event = fromBinary(ChatResponseSchema, entry.event).events[0]?.event;
  if (event?.case !== "message") throw new Error(`history entry ${entry.seq} is not a message`);
  const m = event.value;
  const sentAtMs = m.sentAt ? Number(m.sentAt.seconds) * 1000 + Math.floor(m.sentAt.nanos / 1e6) : 0;
  const stored: StoredMessage = { room: m.room, seq: Number(m.seq), sender: m.sender, text: m.text, sentAtMs, clientMsgId: m.clientMsgId };
  if (m.senderId) stored.senderId = m.senderId;
  // The bytes as stored (the same as ChatMessage.action), not re-encoded.
  if (entry.action) stored.action = entry.action;
  if (m.replyTo) stored.replyTo = { seq: Number(m.replyTo.seq), sender: m.replyTo.sender, quote: m.replyTo.quote, deleted: m.replyTo.deleted };
  if (m.change) stored.change = { targetSeq: Number(m.change.targetSeq), kind: m.change.kind as 1 | 2 };
  if (m.editedAt) stored.editedAtMs = Number(m.editedAt.seconds) * 1000 + Math.floor(m.editedAt.nanos / 1e6);
  if (m.deleted) stored.deleted = true;
  if (m.mentions.length > 0) stored.mentions = m.mentions;
  if (m.reaction) stored.reaction = { targetSeq: Number(m.reaction.targetSeq), emoji: m.reaction.emoji, removed: m.reaction.removed };
  return stored;
}
