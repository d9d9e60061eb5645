/**
 * What edits, deletes (message-changes.ts) and reactions (reactions.ts) on
 * the Redis log share: each is decided in TypeScript against the room as
 * read in one MULTI, then recorded by a compare-and-set script through the
 * log's append path; a script that finds the room moved answers "stale" and
 * the node decides again after a short random wait.
 */
import type { Cluster, Redis } from "ioredis";
import type { MessageHalves } from "../../wire/message-codec.js";
import type { StoredMessage } from "../message.js";
import type { RoomKeys } from "./keys.js";
import { LogUnavailableError } from "../room-log.js";
import { toEntry, toStoredMessage } from "./replies.js";

type Arg = string | Buffer | number;

/** A decision made again this many times because the room kept moving under it is refused as unavailable. */
export const DECIDE_ATTEMPTS = 32;
/** The most an attempt waits (random, growing) before deciding again. */
const DECIDE_BACKOFF_MS = 20;

/** What the log lends: its connection, key names, and its append path. */
export interface DecidedAppendBackend {
  commands: Redis | Cluster;
  keys(room: string): RoomKeys;
  appendArgs(room: string, keyOwner: string, clientId: string, fingerprint: string, halves: MessageHalves, sentAtMs: number, now: number): Arg[];
  /** Run the recording script as the log runs its appends (replica WAIT, announcement). */
  append(keys: string[], common: Arg[], extra: Arg[]): Promise<string[]>;
  idWindowMs(): number;
}

/** An idempotency key in use: the entry it numbered, and whether that was for the same request. */
export interface UsedKey {
  seq: number;
  sentAtMs: number;
  same: boolean;
}

/** Wait before deciding again (random, growing with the attempt). */
export const backOff = (attempt: number): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * Math.min(DECIDE_BACKOFF_MS, 2 ** attempt)));

/** Run a MULTI; its replies, or the first error. */
export async function execAll(multi: ReturnType<Redis["multi"]>): Promise<unknown[]> {
  const replies = (await multi.exec()) as [Error | null, unknown][] | null;
  if (!replies) throw new LogUnavailableError("the room log (Redis) did not answer");
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
  return replies.map(([, value]) => value);
}

/** The idempotency key's record ("seq:sentAtMs:fingerprint"), as scripts.ts checkKey() reads it: remembered for its window after the entry it numbered. */
export function usedKey(record: string | null, fingerprint: string, now: number, windowMs: number): UsedKey | undefined {
  const used = record ? /^(\d+):(\d+):([0-9a-f]+)$/.exec(record) : null;
  if (!used || Number(used[2]) < now - windowMs) return undefined;
  return { seq: Number(used[1]), sentAtMs: Number(used[2]), same: used[3] === fingerprint };
}

/** The entry an idempotency key was first used for, as stored (or `asRequested`, when it is gone). */
export async function originalEntry(commands: Redis | Cluster, logKey: string, req: { sender: string; clientMsgId: string }, asRequested: StoredMessage): Promise<StoredMessage> {
  const id = `${asRequested.seq}-0`;
  const raw = await commands.xrangeBuffer(logKey, id, id);
  const stored = raw.length > 0 ? toStoredMessage(toEntry(raw[0])) : undefined;
  if (stored && stored.clientMsgId === req.clientMsgId && stored.sender === req.sender) return stored;
  return asRequested;
}
