/**
 * Read positions as the hub handles them: a MarkReadCommand moves the
 * user's position in the room log, its answer goes to the marking session,
 * and the same event to every other session of the user, here and (through
 * the node bus the server wires to ReadNotify) on every other node, so a
 * room read on the phone shows read on the laptop.
 */
import { ErrorCode, type ReadReceipt } from "../../gen/chat/v1/chat_pb.js";
import type { ReadNotice } from "../log/node-bus.js";
import { LogUnavailableError, type MemberRecord, type RoomLog } from "../log/room-log.js";
import { CommandError } from "./command-error.js";
import type { Membership } from "./membership.js";
import { toReceipt } from "./read-receipts.js";

export type { ReadNotice };

/** Where the hub sends a notice for the other nodes (set by the server; by default nowhere). */
export type ReadNotify = (notice: ReadNotice) => void;

export const readNotifyNobody: ReadNotify = () => {};

/**
 * Move the member's read position to `seq` (never beyond what this node has
 * delivered of the room: the client cannot have read further). Resolves with
 * the notice of where it stands now, or a refusal.
 */
export async function markRead(log: RoomLog, m: Membership, seq: bigint, lastDelivered: number): Promise<CommandError | ReadNotice> {
  if (seq > BigInt(lastDelivered)) {
    return new CommandError(ErrorCode.INVALID_ARGUMENT, `seq ${seq} is beyond the last message of room ${m.room} (${lastDelivered})`);
  }
  try {
    await log.markRead(m.room, m.userId, Number(seq));
    const state = await log.readState(m.room, m.userId);
    return { room: m.room, userId: m.userId, ...state };
  } catch (err) {
    if (err instanceof LogUnavailableError) return new CommandError(ErrorCode.UNAVAILABLE, `cannot mark room ${m.room} read now (${err.message}); retry`);
    throw err;
  }
}

/**
 * JoinedEvent.read_receipts: where the signed-in members the joined event
 * lists (a bounded page) have read the room up to, the joining user left out.
 */
export async function receiptSnapshot(log: RoomLog, room: string, joiningUser: string, members: readonly MemberRecord[]): Promise<ReadReceipt[]> {
  const others = members.filter((r) => r.shared && r.userId !== undefined && r.userId !== joiningUser);
  const positions = await log.readPositions(room, [...new Set(others.map((r) => r.userId!))]);
  const listed = new Set<string>();
  const receipts: ReadReceipt[] = [];
  for (const r of others) {
    const readSeq = positions.get(r.userId!);
    if (readSeq === undefined || listed.has(r.userId!)) continue;
    listed.add(r.userId!);
    receipts.push(toReceipt({ userId: r.userId!, nickname: r.nickname, readSeq }));
  }
  return receipts;
}
