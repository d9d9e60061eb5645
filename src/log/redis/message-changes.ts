/**
 * Edits and deletes on the Redis log (issue 19): decided in TypeScript with
 * the rules every log shares (log/message-changes.ts decideChange()) against
 * the room as read from Redis in one MULTI (its position, state, the target,
 * the idempotency key), then recorded by CHANGE_SCRIPT only if the room is
 * still as read (compare-and-set on its epoch and last number), through the
 * log's append path (numbering, idempotency, replica WAIT, announcement), as
 * room-actions.ts records actions. The script also rewrites the history with
 * the entries the change touches in their new state, so every read (history,
 * a join's recent messages, a resume's replay, a feed's gap repair) gives
 * them as they are now, and a deleted text is gone from Redis.
 */
import type { RoomStateData } from "../../rooms/room-state.js";
import { encodeMessageEvent, encodeMessageHalves } from "../../wire/message-codec.js";
import type { RoomPosition, StoredMessage } from "../message.js";
import { changeEntry, changeFingerprint, decideChange, MessageChangeKind, quoteOf, type ChangeRequest } from "../message-changes.js";
import { LogUnavailableError, type ChangeOutcome } from "../room-log.js";
import { backOff, DECIDE_ATTEMPTS, execAll, originalEntry, usedKey, type DecidedAppendBackend, type UsedKey } from "./decided-append.js";
import type { RoomKeys } from "./keys.js";
import { toEntry, toStoredMessage } from "./replies.js";

type RawEntry = [Buffer, Buffer[]];

/** Entries read per command when collecting what a change rewrites. */
const READ_PAGE = 512;

/** The room as a change is decided against it. */
interface RoomRead {
  position: RoomPosition;
  state: RoomStateData | undefined;
  target: StoredMessage | undefined;
  /** The change's idempotency key, when used within its window: the entry it numbered and whether it was for the same change. */
  used?: UsedKey;
}

export class MessageChangesOnRedis {
  constructor(private readonly b: DecidedAppendBackend) {}

  async change(req: ChangeRequest): Promise<ChangeOutcome> {
    const k = this.b.keys(req.room);
    const fingerprint = changeFingerprint(req);
    for (let attempt = 0; attempt < DECIDE_ATTEMPTS; attempt++) {
      const now = Date.now();
      const read = await this.read(k, req, fingerprint, now);
      // A retry is answered before the rules: the message it deleted is deleted now.
      if (read.used) return read.used.same ? { kind: "duplicate", original: await this.original(k, req, read.used.seq, read.used.sentAtMs) } : { kind: "conflict" };
      const decision = decideChange(req, read.target, read.position, read.state, now);
      if (!decision.ok) return { kind: "refused", code: decision.code, message: decision.message };
      const rewritten = await this.rewritten(k, req, read.target!, read.position.lastSeq);
      const result = await this.b.append(
        [k.meta, k.log, k.ids, k.idTimes, k.channel, k.rewrite, k.reactions],
        this.b.appendArgs(req.room, req.sender, req.clientMsgId, fingerprint, encodeMessageHalves(changeEntry(req)), req.sentAtMs, now),
        [
          read.position.epoch,
          read.position.lastSeq,
          req.targetSeq,
          rewritten.length,
          ...rewritten.flatMap((m) => [m.seq, encodeMessageEvent(m) as Buffer]),
          // A delete drops the target's reactions with its text.
          req.kind === MessageChangeKind.DELETE ? "1" : "0",
        ],
      );
      if (result[0] === "stale") {
        await backOff(attempt);
        continue;
      }
      if (result[0] === "conflict") return { kind: "conflict" };
      if (result[0] === "dup") return { kind: "duplicate", original: await this.original(k, req, Number(result[1]), Number(result[2])) };
      return { kind: "stored", seq: Number(result[1]) };
    }
    throw new LogUnavailableError(`room ${req.room} kept changing while this edit or delete was decided; try again`);
  }

  /** Position, state, target and idempotency key, in one atomic read (what the script compares against comes with it). */
  private async read(k: RoomKeys, req: ChangeRequest, fingerprint: string, now: number): Promise<RoomRead> {
    const id = `${req.targetSeq}-0`;
    const idKey = req.clientMsgId ? `${req.sender}\0${req.clientMsgId}` : "";
    const [meta, first, target, json, record] = (await execAll(
      this.b.commands.multi().hmget(k.meta, "epoch", "seq").xrange(k.log, "-", "+", "COUNT", 1).xrangeBuffer(k.log, id, id).get(k.state).hget(k.ids, idKey),
    )) as [(string | null)[], [string, string[]][], RawEntry[], string | null, string | null];
    const position = { epoch: meta[0] ?? "", lastSeq: Number(meta[1] ?? 0), firstSeq: first.length > 0 ? parseInt(first[0][0], 10) : 0 };
    const out: RoomRead = {
      position,
      state: json ? (JSON.parse(json) as RoomStateData) : undefined,
      target: target.length > 0 ? toStoredMessage(toEntry(target[0])) : undefined,
    };
    const used = idKey ? usedKey(record, fingerprint, now, this.b.idWindowMs()) : undefined;
    if (used) out.used = used;
    return out;
  }

  /**
   * The entries the change rewrites, in their new state (as the embedded
   * stores apply it): the target; for a delete the texts of the edits made
   * to it; the quotes of the replies to it. All of them come after the target.
   */
  private async rewritten(k: RoomKeys, req: ChangeRequest, target: StoredMessage, lastSeq: number): Promise<StoredMessage[]> {
    const seq = req.targetSeq;
    const edit = req.kind === MessageChangeKind.EDIT;
    const out: StoredMessage[] = [edit ? { ...target, text: req.text, editedAtMs: req.sentAtMs } : { ...target, text: "", deleted: true }];
    const quote = edit ? { quote: quoteOf(req.text), deleted: false } : { quote: "", deleted: true };
    for (const m of await this.entriesAfter(k, seq, lastSeq)) {
      if (!edit && m.change?.targetSeq === seq && m.change.kind === MessageChangeKind.EDIT && m.text !== "") out.push({ ...m, text: "" });
      else if (m.replyTo?.seq === seq) out.push({ ...m, replyTo: { ...m.replyTo, ...quote } });
    }
    return out;
  }

  /** The stored messages with afterSeq < seq <= upToSeq (room actions skipped: nothing of theirs changes). */
  private async entriesAfter(k: RoomKeys, afterSeq: number, upToSeq: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let from = afterSeq;
    while (from < upToSeq) {
      const page = await this.b.commands.xrangeBuffer(k.log, `${from + 1}-0`, `${upToSeq}-0`, "COUNT", READ_PAGE);
      for (const raw of page) {
        const entry = toEntry(raw);
        if (!entry.action) out.push(toStoredMessage(entry));
      }
      if (page.length < READ_PAGE) break;
      from = parseInt(page[page.length - 1][0].toString("latin1"), 10);
    }
    return out;
  }

  /** The entry a change's idempotency key was first used for, as stored (or as far as the request tells, when it is gone). */
  private original(k: RoomKeys, req: ChangeRequest, seq: number, sentAtMs: number): Promise<StoredMessage> {
    return originalEntry(this.b.commands, k.log, req, { ...changeEntry(req), seq, sentAtMs });
  }
}
