/**
 * Reactions on the Redis log (issue 19): decided in TypeScript with the
 * rules every log shares (log/reactions.ts decideReaction()) against the
 * room as read in one MULTI (position, state, the target with its reactions,
 * the idempotency key), then recorded by REACT_SCRIPT only if what the
 * decision rests on is unchanged (compare-and-set: scripts.ts), through the
 * log's append path (numbering, idempotency, replica WAIT, announcement).
 * The script writes the target's reactions in the room's reactions hash
 * (keys.ts) in the same step as the entry; reads count them from there
 * (withReactions()).
 */
import type { Cluster, Redis } from "ioredis";
import type { RoomStateData } from "../../rooms/room-state.js";
import { encodeMessageHalves } from "../../wire/message-codec.js";
import { withReactionCounts } from "../../wire/reaction-codec.js";
import type { RoomPosition, StoredMessage, StoredReaction } from "../message.js";
import { applyReaction, decideReaction, reactionEntry, reactionFingerprint, reactionsBefore, reactionsFromJson, reactionsToJson, type ReactRequest } from "../reactions.js";
import { LogUnavailableError, type LogEntry, type ReactOutcome } from "../room-log.js";
import { backOff, DECIDE_ATTEMPTS, execAll, originalEntry, usedKey, type DecidedAppendBackend, type UsedKey } from "./decided-append.js";
import type { RoomKeys } from "./keys.js";
import { toEntry, toStoredMessage } from "./replies.js";

type RawEntry = [Buffer, Buffer[]];

/** The room as a reaction is decided against it. */
interface RoomRead {
  position: RoomPosition;
  state: RoomStateData | undefined;
  /** The target's entry as stored (its bytes are what the script compares), and its reactions as stored. */
  raw: RawEntry | undefined;
  reactionsJson: string;
  version: string;
  used?: UsedKey;
}

export class ReactionsOnRedis {
  /**
   * The reactions to one message this node is deciding, one after the other:
   * decided at once, each would make the others stale (the target's
   * reactions changed), and a message everyone reacts to would make them
   * start over for ever. Across nodes they still race, a few at a time.
   */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly b: DecidedAppendBackend) {}

  react(req: ReactRequest): Promise<ReactOutcome> {
    const key = `${req.room}\u0000${req.targetSeq}`;
    const before = this.queues.get(key) ?? Promise.resolve();
    const mine = before.then(
      () => this.decideAndRecord(req),
      () => this.decideAndRecord(req),
    );
    const settled = mine.catch(() => {});
    this.queues.set(key, settled);
    // The last one out forgets the queue: the map holds only messages being reacted to now.
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return mine;
  }

  private async decideAndRecord(req: ReactRequest): Promise<ReactOutcome> {
    const k = this.b.keys(req.room);
    const fingerprint = reactionFingerprint(req);
    for (let attempt = 0; attempt < DECIDE_ATTEMPTS; attempt++) {
      const now = Date.now();
      const read = await this.read(k, req, fingerprint, now);
      if (read.used) return read.used.same ? { kind: "duplicate", original: await this.original(k, req, read.used.seq, read.used.sentAtMs) } : { kind: "conflict" };
      const reactions = reactionsFromJson(read.reactionsJson);
      const target: StoredMessage | undefined = read.raw && { ...toStoredMessage(toEntry(read.raw)), ...(reactions ? { reactions } : {}) };
      const decision = decideReaction(req, target, read.position, read.state, now);
      if (!decision.ok) return { kind: "refused", code: decision.code, message: decision.message };
      if (!decision.changed) return { kind: "unchanged", target: withReactions(toEntry(read.raw!), reactions) };
      const next = applyReaction(reactions, req.senderId, { targetSeq: req.targetSeq, emoji: req.emoji, removed: req.remove });
      const event = eventField(read.raw!);
      const result = await this.b.append(
        [k.meta, k.log, k.ids, k.idTimes, k.channel, k.reactions, k.access],
        this.b.appendArgs(req.room, req.sender, req.clientMsgId, fingerprint, encodeMessageHalves(reactionEntry(req)), req.sentAtMs, now),
        [read.position.epoch, req.targetSeq, event, read.reactionsJson, read.version, reactionsToJson(next)],
      );
      if (result[0] === "stale") {
        await backOff(attempt);
        continue;
      }
      if (result[0] === "conflict") return { kind: "conflict" };
      if (result[0] === "dup") return { kind: "duplicate", original: await this.original(k, req, Number(result[1]), Number(result[2])) };
      return { kind: "stored", seq: Number(result[1]) };
    }
    throw new LogUnavailableError(`message ${req.targetSeq} of room ${req.room} kept changing while this reaction was decided; try again`);
  }

  /** Position, state (and its version), the target with its reactions, and the idempotency key, in one atomic read. */
  private async read(k: RoomKeys, req: ReactRequest, fingerprint: string, now: number): Promise<RoomRead> {
    const id = `${req.targetSeq}-0`;
    const idKey = req.clientMsgId ? `${req.sender}\0${req.clientMsgId}` : "";
    const [meta, first, target, json, record, reactions, version] = (await execAll(
      this.b.commands
        .multi()
        .hmget(k.meta, "epoch", "seq")
        .xrange(k.log, "-", "+", "COUNT", 1)
        .xrangeBuffer(k.log, id, id)
        .get(k.state)
        .hget(k.ids, idKey)
        .hget(k.reactions, String(req.targetSeq))
        .hget(k.access, "v"),
    )) as [(string | null)[], [string, string[]][], RawEntry[], string | null, string | null, string | null, string | null];
    const out: RoomRead = {
      position: { epoch: meta[0] ?? "", lastSeq: Number(meta[1] ?? 0), firstSeq: first.length > 0 ? parseInt(first[0][0], 10) : 0 },
      state: json ? (JSON.parse(json) as RoomStateData) : undefined,
      raw: target.length > 0 ? target[0] : undefined,
      reactionsJson: reactions ?? "",
      version: version ?? "",
    };
    const used = idKey ? usedKey(record, fingerprint, now, this.b.idWindowMs()) : undefined;
    if (used) out.used = used;
    return out;
  }

  /** The entry a reaction's idempotency key was first used for, as stored (or as far as the request tells, when it is gone). */
  private original(k: RoomKeys, req: ReactRequest, seq: number, sentAtMs: number): Promise<StoredMessage> {
    return originalEntry(this.b.commands, k.log, req, { ...reactionEntry(req), seq, sentAtMs });
  }
}

/** The stream entry's encoded event (field e), as the script reads it to compare. */
function eventField(raw: RawEntry): Buffer {
  const fields = raw[1];
  for (let i = 0; i < fields.length; i += 2) if (fields[i].length === 1 && fields[i][0] === 0x65) return fields[i + 1];
  return Buffer.alloc(0);
}

/** An entry read from the stream with its reactions (from the hash) counted, as every reader but a reactor gets it. */
export function withReactions(entry: LogEntry, reactions: readonly StoredReaction[] | undefined): LogEntry {
  if (!reactions || reactions.length === 0) return entry;
  return { seq: entry.seq, event: withReactionCounts(entry.event, reactions), reactions };
}

/** Entries after the counted point that one read takes back out of the counts (more: the counts stay as read). */
const UNCOUNT_MAX = 256;

/**
 * Read stream entries and count their reactions: the stream read with a
 * check of the reactions hash in one MULTI (a room nobody reacted in pays
 * nothing more), then the reacted ones' fields.
 *
 * `asOf` (a join's recent messages): count them as of that number, the
 * position the joiner goes live from. The hash holds the reactions as of
 * now, and the ones numbered after `asOf` reach the joiner as entries: read
 * with the fields (in the same MULTI), they are taken back out, so none is
 * counted twice.
 */
export async function readWithReactions(
  commands: Redis | Cluster,
  k: RoomKeys,
  xread: (m: ReturnType<Redis["multi"]>) => unknown,
  asOf?: number,
): Promise<LogEntry[]> {
  const multi = commands.multi();
  xread(multi as ReturnType<Redis["multi"]>);
  multi.exists(k.reactions);
  const [raw, exists] = await execAll(multi);
  const entries = (raw as RawEntry[]).map(toEntry);
  if (Number(exists) === 0 || entries.length === 0) return entries;
  const fields = commands.multi().hmget(k.reactions, ...entries.map((e) => String(e.seq)));
  if (asOf !== undefined) fields.xrangeBuffer(k.log, `${asOf + 1}-0`, "+", "COUNT", UNCOUNT_MAX + 1);
  const [values, later] = (await execAll(fields)) as [(string | null)[], RawEntry[] | undefined];
  const after = later && later.length > 0 && later.length <= UNCOUNT_MAX ? later.map((r) => toStoredMessage(toEntry(r))) : [];
  return entries.map((e, i) => withReactions(e, reactionsBefore(e.seq, reactionsFromJson(values[i] ?? ""), after)));
}
